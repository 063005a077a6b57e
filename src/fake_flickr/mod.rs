//! A fake Flickr for integration tests (and, later, `--demo`).
//!
//! [`FakeFlickr::start`] binds `127.0.0.1:0` and serves, on one actix worker,
//! the part of Flickr that pixgate talks to, in Flickr's real wire format
//! (see `flickr-api.md` in the shared reference notes). All three hosts
//! (`api.`, `up.`, `www.flickr.com`) are this one server:
//!
//! | Route | [`Endpoint`] | answers |
//! |---|---|---|
//! | `GET`/`POST /services/oauth/request_token` | `RequestToken` | `oauth_callback_confirmed=true&oauth_token=…&oauth_token_secret=…` |
//! | `GET`/`POST /services/oauth/authorize` (not signed) | `Authorize` | the consent page; a redirect to the callback, or the `oob` verifier |
//! | `GET`/`POST /services/oauth/access_token` | `AccessToken` | `fullname=…&oauth_token=…&oauth_token_secret=…&user_nsid=…&username=…` |
//! | `GET`/`POST /services/rest` and `/services/rest/` | `Rest` | JSON (`format=json`, JSONP unless `nojsoncallback=1`) |
//! | `POST /services/upload/` (and without the slash) | `Upload` | XML `<rsp stat="ok"><photoid>…</photoid></rsp>` |
//!
//! REST methods: `flickr.test.login`, `flickr.auth.oauth.checkToken`,
//! `flickr.photos.getInfo`, `flickr.photos.setMeta`, `flickr.photos.delete`,
//! `flickr.favorites.add`, `flickr.favorites.remove`,
//! `flickr.favorites.getList`; any other is 112 "Method not found". Setters
//! sent with `GET` get 116; a token whose perms are too low gets 99.
//!
//! # What it checks
//! - **Every signature**, recomputed from the request exactly as received
//!   (see `oauth.rs`): method, `http://{Host}{path}`, query, OAuth header
//!   (or `oauth_*` query/form params), and the urlencoded body or the
//!   multipart text fields (a file part is never signed; a `photo` sent as a
//!   text field is). A mismatch is HTTP 401 `text/plain`
//!   `oauth_problem=signature_invalid&debug_sbs=<the fake's base string>`.
//! - The timestamp within [`FakeFlickrConfig::timestamp_window`]
//!   (`timestamp_refused`), a nonce used once (`nonce_used`), the consumer key
//!   (100 on REST and upload, `consumer_key_unknown` on the OAuth endpoints),
//!   the token (98 for an unknown or revoked one).
//! - Request tokens are single use: a second exchange, or one after Deny, is
//!   401 `oauth_problem=token_rejected`; a wrong verifier is `verifier_invalid`.
//!
//! # Seeded account
//! One account ([`FakeFlickrConfig::user_nsid`], `12345678@N00`, username
//! `demo`) holding [`FakeFlickrConfig::own_photos`] photos and
//! [`FakeFlickrConfig::favorites`] favorites owned by another account
//! (`87654321@N00`, `someone`); one access token valid at start with
//! [`FakeFlickrConfig::access_perms`].
//!
//! # Controls
//! Tokens: [`FakeFlickr::issue_access_token`] (any perms),
//! [`FakeFlickr::revoke_access_token`]. Login: [`FakeFlickr::set_consent`].
//! Failures: [`FakeFlickr::inject`] queues a [`Fault`]. Inspection:
//! [`FakeFlickr::calls`], [`FakeFlickr::method_calls`],
//! [`FakeFlickr::requests`] (with each request's [`Verification`] and the
//! base string the fake computed), [`FakeFlickr::photo`],
//! [`FakeFlickr::favorite_ids`], [`FakeFlickr::own_photo_ids`].
//!
//! Uploaded photo parts are hashed (SHA-256) as they stream; only their size
//! and hash are kept.

mod authorize;
mod body;
mod oauth;
mod rest;
mod server;
mod state;
mod wire;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;

/// What the authorize page does on `GET`: the same choice as the fake
/// Imgur's consent page.
pub use crate::fake_imgur::Consent;
use crate::flickr::Perms;
use state::Shared;

/// A running fake Flickr. Dropping the handle does not stop the server;
/// call [`FakeFlickr::stop`] for that.
pub struct FakeFlickr {
    shared: Arc<Shared>,
    addr: SocketAddr,
    handle: ServerHandle,
}

/// The fake's fixed identity and seed data.
#[derive(Clone, Debug)]
pub struct FakeFlickrConfig {
    /// The app's API key (OAuth consumer key) the fake accepts.
    pub api_key: String,
    /// The app's API secret (OAuth consumer secret).
    pub api_secret: String,
    /// The one account tokens belong to.
    pub user_nsid: String,
    pub username: String,
    pub fullname: String,
    /// An access token valid at start, and its secret.
    pub access_token: String,
    pub access_token_secret: String,
    /// That token's perms.
    pub access_perms: Perms,
    /// Photos the account owns at start.
    pub own_photos: usize,
    /// Favorites of the account at start (photos of another account).
    pub favorites: usize,
    /// How far a request's `oauth_timestamp` may be from the fake's clock.
    pub timestamp_window: Duration,
}

impl Default for FakeFlickrConfig {
    fn default() -> Self {
        FakeFlickrConfig {
            api_key: "fake-flickr-api-key".to_owned(),
            api_secret: "fake-flickr-api-secret".to_owned(),
            user_nsid: "12345678@N00".to_owned(),
            username: "demo".to_owned(),
            fullname: "Demo User".to_owned(),
            access_token: "72157600000000000-fakeaccess".to_owned(),
            access_token_secret: "fake-token-secret".to_owned(),
            access_perms: Perms::Delete,
            own_photos: 3,
            favorites: 12,
            timestamp_window: Duration::from_secs(600),
        }
    }
}

/// Which fake route a request hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `/services/oauth/request_token`
    RequestToken,
    /// `/services/oauth/authorize`
    Authorize,
    /// `/services/oauth/access_token`
    AccessToken,
    /// `/services/rest`
    Rest,
    /// `/services/upload/`
    Upload,
    /// Any other path or method.
    Other,
}

/// What the fake made of a request's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Not a signed endpoint (the authorize page, unknown paths).
    NotSigned,
    /// Signature, timestamp, nonce, key and token all accepted.
    Verified,
    /// Refused: the `oauth_problem` (`signature_invalid`, …) or `stat N`.
    Refused(String),
}

/// A file part as received: everything but its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedFile {
    pub field: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub endpoint: Endpoint,
    /// `GET` or `POST`.
    pub http_method: String,
    /// The path without the query.
    pub path: String,
    /// The REST `method` argument.
    pub flickr_method: Option<String>,
    /// The raw `Authorization` header.
    pub authorization: Option<String>,
    /// The query's pairs, then the body's (urlencoded or multipart text), decoded.
    pub params: Vec<(String, String)>,
    /// File parts.
    pub files: Vec<ReceivedFile>,
    pub verification: Verification,
    /// The base string the fake computed, when it got that far.
    pub base_string: Option<String>,
}

impl RecordedRequest {
    /// The first parameter named `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A photo as the fake stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPhoto {
    /// 11 digits.
    pub id: String,
    /// The owner's NSID.
    pub owner: String,
    pub secret: String,
    pub server: String,
    /// Empty when unset.
    pub title: String,
    pub description: String,
    /// As sent, space-separated.
    pub tags: String,
    pub is_public: bool,
    pub is_friend: bool,
    pub is_family: bool,
    /// 1 safe, 2 moderate, 3 restricted.
    pub safety_level: u8,
    /// 1 shown in public searches, 2 hidden.
    pub hidden: u8,
    /// Bytes received.
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes received.
    pub sha256: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    /// Unix seconds.
    pub posted: u64,
    /// Whether the account has favorited it.
    pub favorite: bool,
}

/// A failure to serve instead of (or, for `Delay`, before) the normal answer.
#[derive(Clone, Debug)]
pub struct Fault {
    /// The endpoint it applies to; `None` means any.
    pub endpoint: Option<Endpoint>,
    /// The REST method it applies to; `None` means any.
    pub flickr_method: Option<String>,
    pub kind: FaultKind,
    /// How many of the next matching requests get it.
    pub times: usize,
}

impl Fault {
    /// `kind`, once, for any request to `endpoint`.
    pub fn once(endpoint: Endpoint, kind: FaultKind) -> Fault {
        Fault {
            endpoint: Some(endpoint),
            flickr_method: None,
            kind,
            times: 1,
        }
    }
}

/// The shapes of failure Flickr has been seen to send.
#[derive(Clone, Debug)]
pub enum FaultKind {
    /// HTTP 200 `stat: fail` with this code (105 service unavailable, 106
    /// write failed, 100 key expired, …): JSON on REST, XML on upload.
    Stat { code: u32, message: String },
    /// HTTP 401 `oauth_problem=…`.
    OAuthProblem(String),
    /// HTTP N with an HTML error page (5xx).
    Http(u16),
    /// HTTP 429, with `Retry-After` when `Some`.
    RateLimited { retry_after: Option<u64> },
    /// HTTP 200 with a cut-off JSON (or XML) body.
    TruncatedBody,
    /// Sleep this long, then answer normally.
    Delay(Duration),
}

impl FakeFlickr {
    /// Starts the fake on `127.0.0.1:0` with its own actix `HttpServer` (one
    /// worker), spawned with `tokio::spawn`.
    pub async fn start(config: FakeFlickrConfig) -> std::io::Result<FakeFlickr> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let handle = server::spawn(listener, Arc::clone(&shared))?;
        tracing::info!(%addr, "fake Flickr listening");
        Ok(FakeFlickr {
            shared,
            addr,
            handle,
        })
    }

    /// `http://127.0.0.1:PORT`: the base of every Flickr host.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &FakeFlickrConfig {
        &self.shared.config
    }

    /// Issues a new access token with `perms`; returns it and its secret.
    pub fn issue_access_token(&self, perms: Perms) -> (String, String) {
        self.shared.state().issue_access_token(perms)
    }

    /// Revokes an access token (Flickr then answers 98 Invalid auth token).
    pub fn revoke_access_token(&self, token: &str) {
        if let Some(access) = self.shared.state().access_tokens.get_mut(token) {
            access.revoked = true;
        }
    }

    /// What the authorize page does on `GET` (default [`Consent::Ask`]).
    pub fn set_consent(&self, consent: Consent) {
        self.shared.state().consent = consent;
    }

    /// Queues a fault. Faults are consumed in FIFO order among those matching.
    pub fn inject(&self, fault: Fault) {
        if fault.times > 0 {
            self.shared.state().faults.push_back(fault);
        }
    }

    /// Requests received for `endpoint`, whatever their outcome.
    pub fn calls(&self, endpoint: Endpoint) -> usize {
        self.shared
            .state()
            .calls
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// REST requests received with `method=name`.
    pub fn method_calls(&self, name: &str) -> usize {
        self.shared
            .state()
            .method_calls
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// The stored photo with this id, if it exists.
    pub fn photo(&self, id: &str) -> Option<StoredPhoto> {
        self.shared.state().photos.get(id).cloned()
    }

    /// The account's favorites, newest first.
    pub fn favorite_ids(&self) -> Vec<String> {
        self.shared
            .state()
            .favorites
            .iter()
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The account's own photos, newest first.
    pub fn own_photo_ids(&self) -> Vec<String> {
        let state = self.shared.state();
        let mut own: Vec<&StoredPhoto> = state
            .photos
            .values()
            .filter(|p| p.owner == self.shared.config.user_nsid)
            .collect();
        own.sort_by(|a, b| b.posted.cmp(&a.posted).then(b.id.cmp(&a.id)));
        own.into_iter().map(|p| p.id.clone()).collect()
    }

    /// Stops the server gracefully (open connections get up to one second).
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }
}
