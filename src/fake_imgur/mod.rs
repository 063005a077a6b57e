//! A fake Imgur API server for integration tests and `--demo` mode.
//!
//! [`FakeImgur::start`] binds `127.0.0.1:0` and serves, on one actix worker, the
//! part of Imgur that pixgate talks to, in Imgur's real wire format (see
//! `imgur-api.md` in the shared reference notes):
//!
//! | Route | [`Endpoint`] |
//! |---|---|
//! | `POST /oauth2/token` (grants `refresh_token`, `authorization_code`, `pin`) | `Token` |
//! | `GET`/`POST /oauth2/authorize` (the consent page and its form) | `Authorize` |
//! | `GET /3/account/{username\|me}` | `Account` |
//! | `GET /3/account/{username\|me}/favorites[/{page}[/{newest\|oldest}]]` | `Favorites` |
//! | `POST /3/image`, `POST /3/upload` (multipart, urlencoded, raw `image/*`) | `Upload` |
//! | `GET /3/image/{id}` | `GetImage` |
//! | `POST`/`PUT /3/image/{id\|deletehash}` | `UpdateImage` |
//! | `DELETE /3/image/{id\|deletehash}` | `DeleteImage` |
//! | `POST /3/image/{id}/favorite` (a toggle) | `Favorite` |
//! | `GET /3/credits` | `Credits` |
//! | `POST /3/album` (`ids[]`/`ids`, `deletehashes[]`, `title`, `description`, `privacy`, `cover`) | `CreateAlbum` |
//! | `GET /3/album/{id}`, `GET /3/album/{id}/images` | `GetAlbum` |
//! | `PUT /3/album/{id\|deletehash}` (fields), `POST` (fields; `ids` replace the images) | `UpdateAlbum` |
//! | `DELETE /3/album/{id\|deletehash}` | `DeleteAlbum` |
//! | `POST /3/album/{id\|deletehash}/add` | `AddAlbumImages` |
//! | `POST`/`DELETE /3/album/{id\|deletehash}/remove_images` | `RemoveAlbumImages` |
//! | `POST /3/album/{id}/favorite` (a toggle) | `AlbumFavorite` |
//! | `GET /3/account/{username\|me}/images[/{page}]?perPage=`, `.../images/count` | `AccountImages` |
//! | `GET /3/account/{username\|me}/albums[/{page}]?perPage=` | `AccountAlbums` |
//!
//! Everything else answers 404 in the `{data,success,status}` envelope.
//!
//! # What it emulates
//! - OAuth2 with refresh-token rotation: every refresh issues a new access token and a
//!   new refresh token; by default the old refresh token is then rejected with
//!   Imgur's 400 `Invalid refresh token`.
//! - Access tokens that expire after their lifetime (or on demand) and are then
//!   answered with Imgur's 403 `The access token provided is invalid.`.
//! - Rate-limit headers on every `/3` answer and the `/3/credits` body.
//! - The authorize page of the three login flows (`response_type=code|token|pin`):
//!   a plain HTML consent page with no script, whose Allow and Deny buttons post a
//!   form; the answer redirects to the app's registered callback
//!   ([`FakeImgur::set_redirect_url`]) with a single-use code in the query, tokens in
//!   the fragment, or `error=access_denied`, or shows a single-use PIN. Element ids
//!   (for browser tests): `allow`, `deny`, `account` on the consent page, `pin` on
//!   the PIN page.
//! - Uploads that are streamed: a file part is hashed (SHA-256) as it arrives and only
//!   its hash, size and first bytes are kept, so even a 200 MiB video costs no memory.
//! - One account (`FakeConfig::account_username`) whose favorites are seeded with
//!   images owned by another account, `someone`.
//! - Albums owned by the account, by `someone`, or anonymous (changed by their
//!   deletehash): images go in only when the caller proves they are theirs (`ids`
//!   of the account's images with its bearer token, or `deletehashes`); others are
//!   skipped silently, as Imgur does. Optionally (ShareX #4737) a video uploaded
//!   with `album` is not put into the album ([`FakeImgur::set_video_album_bug`]).
//!
//! # Controls
//! Tokens: [`FakeImgur::expire_access_tokens`], [`FakeImgur::revoke_refresh_tokens`],
//! [`FakeImgur::set_access_token_lifetime`], [`FakeImgur::set_token_delay`],
//! [`FakeImgur::set_rotation_invalidates_old`], [`FakeImgur::set_refresh_grace`], [`FakeImgur::issue_code`],
//! [`FakeImgur::issue_pin`]. Login: [`FakeImgur::set_redirect_url`],
//! [`FakeImgur::set_consent`]. Failures: [`FakeImgur::inject`] queues a [`Fault`]
//! (every error shape Imgur has been seen to send, the regional block included;
//! `Late` and `Held` answer one after a while or once a [`Gate`] is released).
//! Budget: [`FakeImgur::set_rate_remaining`]. Data: [`FakeImgur::seed_images`],
//! [`FakeImgur::seed_album`], [`FakeImgur::set_video_album_bug`]. Inspection:
//! [`FakeImgur::calls`], [`FakeImgur::begun`], [`FakeImgur::wait_for_begun`],
//! [`FakeImgur::requests`], [`FakeImgur::image`], [`FakeImgur::album`],
//! [`FakeImgur::favorite_ids`], [`FakeImgur::issued_access_tokens`].

mod albums;
mod authorize;
mod body;
mod server;
mod state;
mod wire;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;

use state::Shared;

/// A running fake Imgur. Dropping the handle does not stop the server; call
/// [`FakeImgur::stop`] for that.
pub struct FakeImgur {
    shared: Arc<Shared>,
    addr: SocketAddr,
    workers: usize,
    /// Replaced by [`FakeImgur::restart`].
    handle: std::sync::Mutex<ServerHandle>,
}

/// The fake's fixed identity and seed data.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// The only client id accepted (`Authorization: Client-ID …` and the token endpoint).
    pub client_id: String,
    /// The client secret the token endpoint expects.
    pub client_secret: String,
    /// The refresh token that is valid at start.
    pub refresh_token: String,
    /// The one account that tokens belong to.
    pub account_username: String,
    /// That account's numeric id.
    pub account_id: u64,
    /// Lifetime of issued access tokens (and the `expires_in` the token endpoint sends).
    pub access_token_lifetime: Duration,
    /// How many images are seeded as favorites of the account.
    pub favorites: usize,
    /// How many favorites one page of `/favorites/{page}` holds.
    pub favorites_page_size: usize,
    /// The app's registered callback URL, where the authorize page sends the user
    /// back (Imgur fixes it at app registration; the authorize request carries no
    /// `redirect_uri`). `None`: the `code` and `token` flows answer a 400 page.
    /// [`FakeImgur::set_redirect_url`] changes it after start.
    pub redirect_url: Option<String>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            client_id: "fake-client-id".to_owned(),
            client_secret: "fake-client-secret".to_owned(),
            refresh_token: "fake-refresh-token-0".to_owned(),
            account_username: "demo".to_owned(),
            account_id: 4242,
            access_token_lifetime: Duration::from_secs(3600),
            favorites: 12,
            favorites_page_size: 10,
            redirect_url: None,
        }
    }
}

/// Which fake route a request hit; used by [`FakeImgur::calls`] and [`Fault::endpoint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /oauth2/token`
    Token,
    /// `GET|POST /oauth2/authorize`
    Authorize,
    /// `GET /3/account/{username|me}`
    Account,
    /// `GET /3/account/{username|me}/favorites/...`
    Favorites,
    /// `POST /3/image` or `POST /3/upload`
    Upload,
    /// `GET /3/image/{id}`
    GetImage,
    /// `POST|PUT /3/image/{id|deletehash}`
    UpdateImage,
    /// `DELETE /3/image/{id|deletehash}`
    DeleteImage,
    /// `POST /3/image/{id}/favorite`
    Favorite,
    /// `GET /3/credits`
    Credits,
    /// `POST /3/album`
    CreateAlbum,
    /// `GET /3/album/{id}[/images]`
    GetAlbum,
    /// `PUT|POST /3/album/{id|deletehash}`
    UpdateAlbum,
    /// `DELETE /3/album/{id|deletehash}`
    DeleteAlbum,
    /// `POST /3/album/{id|deletehash}/add`
    AddAlbumImages,
    /// `POST|DELETE /3/album/{id|deletehash}/remove_images`
    RemoveAlbumImages,
    /// `POST /3/album/{id}/favorite`
    AlbumFavorite,
    /// `GET /3/account/{username|me}/images[/{page}|/count]`
    AccountImages,
    /// `GET /3/account/{username|me}/albums[/{page}]`
    AccountAlbums,
    /// Any other path or method.
    Other,
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The route it matched.
    pub endpoint: Endpoint,
    /// The HTTP method, e.g. `POST`.
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// The raw `Authorization` header value.
    pub authorization: Option<String>,
    /// The `Content-Length` header; `None` for a chunked body.
    pub content_length: Option<u64>,
    /// Every request header (names lower-case; `Host` included).
    pub headers: BTreeMap<String, String>,
    /// Form, multipart and JSON text fields, and the query parameters of a `GET
    /// /oauth2/authorize`. A file part is recorded as
    /// `"<file: N bytes>"`; a text value over 4096 bytes as `"<text: N bytes>"`.
    pub fields: BTreeMap<String, String>,
}

/// An image as the fake stores it.
#[derive(Clone, Debug)]
pub struct StoredImage {
    /// 7 alphanumerics for uploads, 8 for seeded favorites.
    pub id: String,
    /// 15 alphanumerics; lets anyone update or delete the image.
    pub deletehash: String,
    /// The owning account's username; `None` for an anonymous upload.
    pub owner: Option<String>,
    /// `None` when unset or set to an empty string.
    pub title: Option<String>,
    /// `None` when unset or set to an empty string.
    pub description: Option<String>,
    /// The part's content type, else sniffed, else `application/octet-stream`.
    pub mime: String,
    /// Bytes received (0 for a URL upload).
    pub size: u64,
    /// Lowercase hex SHA-256 of the uploaded bytes.
    pub sha256: String,
    /// A `video/*` type or the `video` field.
    pub is_video: bool,
    /// The URL given for a `type=url` upload (never fetched).
    pub source_url: Option<String>,
    /// Whether the configured account has favorited it.
    pub favorite: bool,
}

/// An album as the fake stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAlbum {
    /// 7 alphanumerics.
    pub id: String,
    /// 15 alphanumerics; lets anyone change or delete the album.
    pub deletehash: String,
    /// The owning account's username; `None` for an anonymous album.
    pub owner: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    /// `public`, `hidden` or `secret`.
    pub privacy: String,
    pub cover: Option<String>,
    /// Image ids, in album order.
    pub images: Vec<String>,
    /// Whether the configured account has favorited it.
    pub favorite: bool,
}

/// What the authorize page does when the browser first loads it (`GET`); the
/// form's `POST` always carries the user's own decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Consent {
    /// Show the consent page with its Allow and Deny buttons.
    #[default]
    Ask,
    /// Answer as if the user had clicked Allow at once.
    Allow,
    /// Answer as if the user had clicked Deny at once.
    Deny,
}

/// A failure to serve instead of (or, for `Delay`, before) the normal answer.
#[derive(Clone, Debug)]
pub struct Fault {
    /// The endpoint it applies to; `None` means any endpoint.
    pub endpoint: Option<Endpoint>,
    /// What to answer.
    pub kind: FaultKind,
    /// How many of the next matching requests get it.
    pub times: usize,
}

/// The shapes of failure Imgur has been seen to send.
#[derive(Clone, Debug)]
pub enum FaultKind {
    /// HTTP N, `{"data":{"error":"Internal server error","request":..,"method":..},"success":false,"status":N}`.
    ServerError(u16),
    /// HTTP N, `{"data":"An error occurred","success":false,"status":N}`.
    BareStringError(u16),
    /// HTTP N, `data.error` is `{"code":1003,"message":..,"type":"Exception_UploadError","exception":[]}`.
    ObjectError(u16),
    /// HTTP 429, `application/vnd.imgur.v1+json`, `{"errors":[{"id":"legacy-api-…","code":"429",…}]}`.
    ErrorsArray429,
    /// HTTP 429 "You are uploading too fast…" with `X-RateLimit-UserRemaining: 0`,
    /// `X-RateLimit-UserReset: user_reset_secs` (seconds) and `Retry-After` when `Some`.
    RateLimited {
        /// The `Retry-After` value in seconds; no header when `None`.
        retry_after: Option<u64>,
        /// The `X-RateLimit-UserReset` value, in seconds from now.
        user_reset_secs: u64,
    },
    /// HTTP N (403 or 500), `"Imgur is temporarily over capacity. Please try again later."`.
    OverCapacityJson(u16),
    /// HTTP 503 HTML "Imgur is over capacity!" page.
    OverCapacityHtml,
    /// HTTP N, an unrelated HTML error page.
    Html(u16),
    /// HTTP 503 with `Content-Length: 0`.
    Empty503,
    /// HTTP 200 `application/json` with a truncated body.
    InvalidJson,
    /// Sleep this long, then answer normally.
    Delay(Duration),
    /// The 403 invalid-token answer even for a valid token.
    InvalidToken,
    /// A 200 JSON answer of this many bytes (a body no client should buffer).
    HugeBody(u64),
    /// A 200 JSON answer that announces its length, sends part of it, then
    /// drops the connection (a reset mid-body).
    TruncatedBody,
    /// A 200 answer whose headers come at once and whose body never does.
    StallBody,
    /// HTTP `status` (400 or 403) `{"data":{"error":"These actions are forbidden."},..}`,
    /// what Imgur answers networks and regions it blocks, with `CDN-Error: yes`
    /// when `cdn_error`.
    Blocked { status: u16, cdn_error: bool },
    /// Wait this long, then answer the inner fault: "Imgur fails every call
    /// after N ms" is `Late(n, Box::new(ServerError(503)))` with
    /// `times: usize::MAX`.
    Late(Duration, Box<FaultKind>),
    /// Hold the request until the gate is released (or at once if it was
    /// released already), then answer the inner fault, or normally when
    /// `None`. The request counts in [`FakeImgur::begun`] and
    /// [`FakeImgur::calls`] while it is held, so a test can await its
    /// arrival; if the client goes away meanwhile, nothing is answered and
    /// nothing changes.
    Held(Gate, Option<Box<FaultKind>>),
}

/// Holds the requests of a [`FaultKind::Held`] fault until a test calls
/// [`Gate::release`]. Clones share the gate.
#[derive(Clone, Debug)]
pub struct Gate {
    open: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self {
            open: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }

    /// Lets every held request, and every later one, through.
    pub fn release(&self) {
        self.open.send_replace(true);
    }

    /// Waits until the gate is released.
    pub(crate) async fn passed(&self) {
        let mut open = self.open.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = open.wait_for(|open| *open).await;
    }
}

impl FakeImgur {
    /// Starts the fake on `127.0.0.1:0` with its own actix `HttpServer` (one worker),
    /// spawned with `tokio::spawn`. Works inside `#[tokio::test]` (any flavor) and
    /// inside `#[actix_web::main]`.
    pub async fn start(config: FakeConfig) -> std::io::Result<FakeImgur> {
        Self::start_on("127.0.0.1:0", 1, config).await
    }

    /// Starts the fake on `listen` with `workers` worker threads (the
    /// benchmarks give it more than one, so it is not the bottleneck).
    pub async fn start_on(
        listen: &str,
        workers: usize,
        config: FakeConfig,
    ) -> std::io::Result<FakeImgur> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let handle = server::spawn(listener, workers.max(1), Arc::clone(&shared))?;
        tracing::info!(%addr, "fake Imgur listening");
        Ok(FakeImgur {
            shared,
            addr,
            workers: workers.max(1),
            handle: std::sync::Mutex::new(handle),
        })
    }

    /// `http://127.0.0.1:PORT`: the base of both `/3/...` and `/oauth2/...`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &FakeConfig {
        &self.shared.config
    }

    /// The most recently issued refresh token (the one valid right now, unless
    /// [`FakeImgur::revoke_refresh_tokens`] was called since).
    pub fn current_refresh_token(&self) -> String {
        self.shared.state().current_refresh.clone()
    }

    /// Every refresh token the token endpoint accepts right now, oldest first.
    pub fn valid_refresh_tokens(&self) -> Vec<String> {
        self.shared.state().valid_refresh.clone()
    }

    /// Every access token ever issued, oldest first.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.shared.state().issued_access.clone()
    }

    /// Makes every access token issued so far invalid (403 invalid-token).
    pub fn expire_access_tokens(&self) {
        self.shared.state().expire_access_tokens();
    }

    /// Makes every refresh token issued so far invalid (400 `Invalid refresh token`).
    /// Tokens issued later (via a code or pin) are valid.
    pub fn revoke_refresh_tokens(&self) {
        let mut state = self.shared.state();
        state.valid_refresh.clear();
        state.graced_refresh.clear();
    }

    /// Lifetime of access tokens issued from now on.
    pub fn set_access_token_lifetime(&self, d: Duration) {
        self.shared.state().access_token_lifetime = d;
    }

    /// The token endpoint sleeps this long before it looks at the request.
    pub fn set_token_delay(&self, d: Duration) {
        self.shared.state().token_delay = d;
    }

    /// Whether a refresh makes the refresh token it used invalid (default `true`).
    pub fn set_rotation_invalidates_old(&self, yes: bool) {
        self.shared.state().rotation_invalidates_old = yes;
    }

    /// With strict rotation, lets a rotated-out refresh token be used once
    /// more within `grace` (as many OAuth servers allow, so a client that
    /// crashed before storing the new token recovers); `None` (the default)
    /// rejects it at once.
    pub fn set_refresh_grace(&self, grace: Option<Duration>) {
        self.shared.state().refresh_grace = grace;
    }

    /// A single-use code for `grant_type=authorization_code`.
    pub fn issue_code(&self) -> String {
        self.shared.state().issue_code()
    }

    /// A single-use pin for `grant_type=pin`.
    pub fn issue_pin(&self) -> String {
        self.shared.state().issue_pin()
    }

    /// Sets the app's registered callback URL (see [`FakeConfig::redirect_url`]).
    /// Tests and the demo call it once the gateway has bound its port.
    pub fn set_redirect_url(&self, url: &str) {
        self.shared.state().redirect_url = Some(url.to_owned());
    }

    /// The app's registered callback URL right now.
    pub fn redirect_url(&self) -> Option<String> {
        self.shared.state().redirect_url.clone()
    }

    /// What the authorize page does on `GET` (default [`Consent::Ask`]).
    pub fn set_consent(&self, consent: Consent) {
        self.shared.state().consent = consent;
    }

    /// Queues a fault. Faults are consumed in FIFO order among those matching the endpoint.
    pub fn inject(&self, fault: Fault) {
        if fault.times > 0 {
            self.shared.state().faults.push_back(fault);
        }
    }

    /// Requests received for `endpoint`, counted before faults and auth are applied.
    pub fn calls(&self, endpoint: Endpoint) -> usize {
        self.shared
            .state()
            .calls
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// Requests for `endpoint` whose head arrived, counted before the body
    /// is read: unlike [`FakeImgur::calls`], this counts a request whose
    /// body was cut off (an aborted upload) too.
    pub fn begun(&self, endpoint: Endpoint) -> usize {
        self.shared
            .state()
            .begun
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// Waits until at least `count` requests for `endpoint` have begun.
    pub async fn wait_for_begun(&self, endpoint: Endpoint, count: usize) {
        loop {
            let notified = self.shared.request_begun.notified();
            tokio::pin!(notified);
            // Registered before the check, so a request beginning between
            // the check and the wait still wakes it.
            notified.as_mut().enable();
            if self.begun(endpoint) >= count {
                return;
            }
            notified.await;
        }
    }

    /// Whether every request is kept for [`FakeImgur::requests`] (on at
    /// start; [`FakeImgur::calls`] counts either way). Long load runs turn
    /// it off: the log grows without bound, and growing a log of millions
    /// of entries stalls the fake while it holds its state lock.
    pub fn set_request_log(&self, enabled: bool) {
        let mut state = self.shared.state();
        state.request_log = enabled;
        if !enabled {
            state.requests = Vec::new();
        }
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// The stored image with this id (not deletehash), if it exists.
    pub fn image(&self, id: &str) -> Option<StoredImage> {
        self.shared
            .state()
            .images
            .get(id)
            .map(|image| image.stored.clone())
    }

    /// The stored album with this id (not deletehash), if it exists.
    pub fn album(&self, id: &str) -> Option<StoredAlbum> {
        self.shared
            .state()
            .albums
            .get(id)
            .map(|album| album.stored.clone())
    }

    /// Adds `count` images owned by `owner` (the configured account, another
    /// user, or `None` for anonymous), newest last; returns their ids.
    pub fn seed_images(&self, owner: Option<&str>, count: usize) -> Vec<String> {
        let account_id = match owner {
            Some(owner) if owner == self.shared.config.account_username => {
                self.shared.config.account_id
            }
            Some(_) => state::SOMEONE_ID,
            None => 0,
        };
        self.shared.state().seed_images(owner, account_id, count)
    }

    /// Adds an album owned by `owner` (`None`: anonymous) holding `images`.
    pub fn seed_album(&self, owner: Option<&str>, title: &str, images: &[String]) -> StoredAlbum {
        self.shared.state().seed_album(owner, title, images)
    }

    /// Whether a video uploaded with `album` is left out of the album, as
    /// Imgur has been seen to do (ShareX #4737). Off at start.
    pub fn set_video_album_bug(&self, on: bool) {
        self.shared.state().video_album_bug = on;
    }

    /// Sets the remaining counts the rate-limit headers report (this window).
    pub fn set_rate_remaining(&self, user: u64, client: u64, post: u64) {
        self.shared.state().set_rate_remaining(user, client, post);
    }

    /// The account's favorites, newest first.
    pub fn favorite_ids(&self) -> Vec<String> {
        self.shared.state().favorites.clone()
    }

    /// Stops the server gracefully (open connections get up to one second).
    pub async fn stop(&self) {
        let handle = self.server_handle();
        handle.stop(true).await;
    }

    /// What a restart of Imgur's front end looks like to a client: every
    /// open connection is cut, the port refuses connections for `down`, then
    /// the fake listens again on the same address with the same state
    /// (accounts, tokens, images).
    pub async fn restart(&self, down: Duration) -> std::io::Result<()> {
        self.server_handle().stop(false).await;
        tokio::time::sleep(down).await; // the outage being simulated
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(listener) => break listener,
                Err(e) if std::time::Instant::now() > deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let handle = server::spawn(listener, self.workers, Arc::clone(&self.shared))?;
        *self.handle.lock().unwrap_or_else(|e| e.into_inner()) = handle;
        Ok(())
    }

    fn server_handle(&self) -> ServerHandle {
        self.handle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
