//! What the Flickr client needs to know: the app's key and secret, and
//! where Flickr is (three hosts, each configurable so tests and `--demo`
//! point them at the fake). Clap wiring (`FLICKR_API_KEY`,
//! `FLICKR_API_SECRET`, `FLICKR_API_URL`, `FLICKR_UPLOAD_URL`,
//! `FLICKR_OAUTH_URL`) comes with the `/flickr/` routes.

use crate::secret::Secret;
use std::time::Duration;

/// The Flickr client's configuration.
#[derive(Clone, Debug)]
pub struct FlickrConfig {
    /// The app's API key (the OAuth consumer key).
    pub api_key: Secret,
    /// The app's API secret (the OAuth consumer secret).
    pub api_secret: Secret,
    /// `FLICKR_API_URL`: the REST API's host (`/services/rest`).
    pub api_url: String,
    /// `FLICKR_UPLOAD_URL`: the upload host (`/services/upload/`).
    pub upload_url: String,
    /// `FLICKR_OAUTH_URL`: the OAuth host (`/services/oauth/…`).
    pub oauth_url: String,
    /// Time limit of one call.
    pub timeout: Duration,
    /// Time limit of one upload, body included. Flickr refuses a timestamp
    /// that is too old by the time the upload ends (`timestamp_refused`
    /// after 35 minutes has been seen), so this stays well below that.
    pub upload_timeout: Duration,
}

impl FlickrConfig {
    pub const DEFAULT_API_URL: &'static str = "https://api.flickr.com";
    pub const DEFAULT_UPLOAD_URL: &'static str = "https://up.flickr.com";
    pub const DEFAULT_OAUTH_URL: &'static str = "https://www.flickr.com";

    /// The real Flickr, with default time limits.
    pub fn new(api_key: Secret, api_secret: Secret) -> Self {
        Self {
            api_key,
            api_secret,
            api_url: Self::DEFAULT_API_URL.into(),
            upload_url: Self::DEFAULT_UPLOAD_URL.into(),
            oauth_url: Self::DEFAULT_OAUTH_URL.into(),
            timeout: Duration::from_secs(30),
            upload_timeout: Duration::from_secs(15 * 60),
        }
    }

    /// All three hosts at `base` (the fake serves every path on one port).
    pub fn with_base_url(mut self, base: &str) -> Self {
        let base = base.trim_end_matches('/');
        self.api_url = base.into();
        self.upload_url = base.into();
        self.oauth_url = base.into();
        self
    }
}
