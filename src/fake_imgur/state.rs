//! The fake's shared state: tokens, images, favorites, faults and the request log.
//!
//! One `std::sync::Mutex` guards all of it. Every critical section is a few map
//! operations and none spans an `.await` (handlers copy what they need out, sleep
//! or stream without the lock, then lock again), so a blocking mutex is both
//! correct and simpler than an async one. The test thread and the actix worker
//! thread share it through an `Arc`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

use super::{
    Consent, Endpoint, FakeConfig, Fault, FaultKind, RecordedRequest, StoredAlbum, StoredImage,
};

/// Owner of the seeded favorites.
pub(crate) const SOMEONE: &str = "someone";
pub(crate) const SOMEONE_ID: u64 = 1001;

pub(crate) const USER_LIMIT: u64 = 2000;
pub(crate) const CLIENT_LIMIT: u64 = 12500;
pub(crate) const POST_LIMIT: u64 = 1250;
/// Length of a rate-limit window.
const WINDOW_SECS: u64 = 3600;

/// Seconds since the Unix epoch.
pub(crate) fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn random_alnum(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// Random lowercase hex, `bytes` random bytes long.
pub(crate) fn random_hex(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex(&raw)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The state behind the [`super::FakeImgur`] handle and the server.
pub(crate) struct Shared {
    pub(crate) config: FakeConfig,
    state: Mutex<State>,
    /// Woken whenever a request begins (see [`super::FakeImgur::begun`]).
    pub(crate) request_begun: tokio::sync::Notify,
}

impl Shared {
    pub(crate) fn new(config: FakeConfig) -> Shared {
        let state = State::new(&config);
        Shared {
            config,
            state: Mutex::new(state),
            request_begun: tokio::sync::Notify::new(),
        }
    }

    /// Counts a request whose head arrived, before its body is read.
    pub(crate) fn begin(&self, endpoint: Endpoint) {
        *self.state().begun.entry(endpoint).or_insert(0) += 1;
        self.request_begun.notify_waiters();
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("fake Imgur state mutex poisoned")
    }
}

/// An issued access token.
struct AccessToken {
    /// `None` when the lifetime is too long to represent.
    expires_at: Option<Instant>,
    revoked: bool,
}

/// An image with the fields the wire format needs beyond [`StoredImage`].
#[derive(Clone, Debug)]
pub(crate) struct Image {
    pub(crate) stored: StoredImage,
    pub(crate) account_id: u64,
    pub(crate) datetime: u64,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) views: u64,
    pub(crate) name: String,
    /// Creation order, for listing images of the same second.
    pub(crate) seq: u64,
}

/// An album with the fields the wire format needs beyond [`StoredAlbum`].
#[derive(Clone, Debug)]
pub(crate) struct Album {
    pub(crate) stored: StoredAlbum,
    pub(crate) datetime: u64,
    pub(crate) seq: u64,
}

/// The rate-limit counters as one response reports them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RateSnapshot {
    pub(crate) user_remaining: u64,
    pub(crate) client_remaining: u64,
    pub(crate) post_remaining: u64,
    /// Unix epoch at which the window resets.
    pub(crate) reset_epoch: u64,
    /// Seconds until the window resets.
    pub(crate) reset_in: u64,
}

struct RateState {
    window: u64,
    user_remaining: u64,
    client_remaining: u64,
    post_remaining: u64,
}

/// Who a request authenticated as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// `Client-ID` with the configured client id.
    Anonymous,
    /// A valid bearer token of the configured account.
    User,
}

/// Why a bearer or client id was refused.
pub(crate) enum AuthFailure {
    /// No or unknown `Client-ID`, or no usable header: 401.
    Missing,
    /// Unknown, expired or revoked bearer token: 403.
    InvalidToken,
}

/// What a successful grant returns.
pub(crate) struct Grant {
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    pub(crate) expires_in: u64,
}

pub(crate) struct State {
    access_tokens: HashMap<String, AccessToken>,
    pub(crate) issued_access: Vec<String>,
    /// Refresh tokens accepted now, oldest first.
    pub(crate) valid_refresh: Vec<String>,
    pub(crate) current_refresh: String,
    codes: HashSet<String>,
    pins: HashSet<String>,
    pub(crate) access_token_lifetime: Duration,
    pub(crate) token_delay: Duration,
    pub(crate) rotation_invalidates_old: bool,
    /// How long a rotated-out refresh token stays good for one more use.
    pub(crate) refresh_grace: Option<Duration>,
    /// Rotated-out refresh tokens within their grace, with its end.
    pub(crate) graced_refresh: HashMap<String, Instant>,
    /// The app's registered callback URL for the authorize page.
    pub(crate) redirect_url: Option<String>,
    /// What the authorize page does on `GET`.
    pub(crate) consent: Consent,
    pub(crate) faults: VecDeque<Fault>,
    pub(crate) calls: HashMap<Endpoint, usize>,
    /// Requests whose head arrived, by endpoint, their bodies complete or not.
    pub(crate) begun: HashMap<Endpoint, usize>,
    pub(crate) requests: Vec<RecordedRequest>,
    /// Whether `requests` keeps every request (see [`super::FakeImgur::set_request_log`]).
    pub(crate) request_log: bool,
    pub(crate) images: HashMap<String, Image>,
    /// The account's favorites, newest first.
    pub(crate) favorites: Vec<String>,
    pub(crate) albums: HashMap<String, Album>,
    /// Reproduce ShareX #4737: a video uploaded with `album` is created but
    /// not put into the album.
    pub(crate) video_album_bug: bool,
    next_seq: u64,
    rate: RateState,
}

impl State {
    fn new(config: &FakeConfig) -> State {
        let mut state = State {
            access_tokens: HashMap::new(),
            issued_access: Vec::new(),
            valid_refresh: vec![config.refresh_token.clone()],
            current_refresh: config.refresh_token.clone(),
            codes: HashSet::new(),
            pins: HashSet::new(),
            access_token_lifetime: config.access_token_lifetime,
            token_delay: Duration::ZERO,
            rotation_invalidates_old: true,
            refresh_grace: None,
            graced_refresh: HashMap::new(),
            redirect_url: config.redirect_url.clone(),
            consent: Consent::Ask,
            faults: VecDeque::new(),
            calls: HashMap::new(),
            begun: HashMap::new(),
            requests: Vec::new(),
            request_log: true,
            images: HashMap::new(),
            favorites: Vec::new(),
            albums: HashMap::new(),
            video_album_bug: false,
            next_seq: 0,
            rate: RateState {
                window: now_epoch() / WINDOW_SECS,
                user_remaining: USER_LIMIT,
                client_remaining: CLIENT_LIMIT,
                post_remaining: POST_LIMIT,
            },
        };
        state.seed_favorites(config.favorites);
        state
    }

    /// Seeds `count` favorites owned by [`SOMEONE`], newest first, one hour apart.
    fn seed_favorites(&mut self, count: usize) {
        let now = now_epoch();
        for i in 0..count {
            let id = self.fresh_id(8);
            let (mime, animated_gif) = match i % 3 {
                0 => ("image/png", false),
                1 => ("image/jpeg", false),
                _ => ("image/gif", true),
            };
            let sha256 = hex(&Sha256::digest(id.as_bytes()));
            let image = Image {
                stored: StoredImage {
                    id: id.clone(),
                    deletehash: random_alnum(15),
                    owner: Some(SOMEONE.to_owned()),
                    title: Some(format!("Favorite #{}", i + 1)),
                    description: None,
                    mime: mime.to_owned(),
                    size: 50_000 + 1_000 * i as u64,
                    sha256,
                    is_video: false,
                    source_url: None,
                    favorite: true,
                },
                account_id: SOMEONE_ID,
                datetime: now.saturating_sub(3600 * (i as u64 + 1)),
                width: if animated_gif { 320 } else { 640 },
                height: if animated_gif { 240 } else { 480 },
                views: 100 * (i as u64 + 1),
                name: String::new(),
                seq: self.seq(),
            };
            self.images.insert(id.clone(), image);
            self.favorites.push(id);
        }
    }

    /// A random alphanumeric id of `len` characters not used by any image
    /// or album.
    pub(crate) fn fresh_id(&self, len: usize) -> String {
        loop {
            let id = random_alnum(len);
            if !self.images.contains_key(&id) && !self.albums.contains_key(&id) {
                return id;
            }
        }
    }

    /// The next creation number.
    pub(crate) fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Adds `count` PNG images owned by `owner` (`None`: anonymous), one
    /// second apart, newest last; returns their ids.
    pub(crate) fn seed_images(
        &mut self,
        owner: Option<&str>,
        account_id: u64,
        count: usize,
    ) -> Vec<String> {
        let now = now_epoch();
        (0..count)
            .map(|i| {
                let id = self.fresh_id(7);
                let image = Image {
                    stored: StoredImage {
                        id: id.clone(),
                        deletehash: random_alnum(15),
                        owner: owner.map(str::to_owned),
                        title: Some(format!("Seeded #{}", i + 1)),
                        description: None,
                        mime: "image/png".to_owned(),
                        size: 40_000 + i as u64,
                        sha256: hex(&Sha256::digest(id.as_bytes())),
                        is_video: false,
                        source_url: None,
                        favorite: false,
                    },
                    account_id,
                    datetime: now.saturating_sub((count - i) as u64),
                    width: 640,
                    height: 480,
                    views: 0,
                    name: format!("seeded-{}.png", i + 1),
                    seq: self.seq(),
                };
                self.images.insert(id.clone(), image);
                id
            })
            .collect()
    }

    /// Adds an album owned by `owner` (`None`: anonymous) holding `images`.
    pub(crate) fn seed_album(
        &mut self,
        owner: Option<&str>,
        title: &str,
        images: &[String],
    ) -> StoredAlbum {
        let album = Album {
            stored: StoredAlbum {
                id: self.fresh_id(7),
                deletehash: random_alnum(15),
                owner: owner.map(str::to_owned),
                title: Some(title.to_owned()),
                description: None,
                privacy: "hidden".to_owned(),
                cover: images.first().cloned(),
                images: images.to_vec(),
                favorite: false,
            },
            datetime: now_epoch(),
            seq: self.seq(),
        };
        let stored = album.stored.clone();
        self.albums.insert(stored.id.clone(), album);
        stored
    }

    /// Finds an album by id or deletehash; the flag says whether the deletehash matched.
    pub(crate) fn find_album(&self, key: &str) -> Option<(String, bool)> {
        if let Some(album) = self.albums.get(key) {
            return Some((album.stored.id.clone(), false));
        }
        self.albums
            .values()
            .find(|album| album.stored.deletehash == key)
            .map(|album| (album.stored.id.clone(), true))
    }

    /// Sets the rate-limit counters of the current window.
    pub(crate) fn set_rate_remaining(&mut self, user: u64, client: u64, post: u64) {
        self.roll_rate_window();
        self.rate.user_remaining = user;
        self.rate.client_remaining = client;
        self.rate.post_remaining = post;
    }

    /// Logs a request and counts it; for `/3` requests also spends rate-limit
    /// credits (an upload 10, any other call 1; a POST one of the POST limit).
    pub(crate) fn record(&mut self, request: RecordedRequest, api: bool) -> RateSnapshot {
        *self.calls.entry(request.endpoint).or_insert(0) += 1;
        let post = request.method == "POST";
        let credits = if request.endpoint == Endpoint::Upload {
            10
        } else {
            1
        };
        if self.request_log {
            self.requests.push(request);
        }
        self.roll_rate_window();
        if api {
            self.rate.user_remaining = self.rate.user_remaining.saturating_sub(credits);
            self.rate.client_remaining = self.rate.client_remaining.saturating_sub(credits);
            if post {
                self.rate.post_remaining = self.rate.post_remaining.saturating_sub(1);
            }
        }
        self.rate_snapshot()
    }

    fn roll_rate_window(&mut self) {
        let window = now_epoch() / WINDOW_SECS;
        if window != self.rate.window {
            self.rate = RateState {
                window,
                user_remaining: USER_LIMIT,
                client_remaining: CLIENT_LIMIT,
                post_remaining: POST_LIMIT,
            };
        }
    }

    pub(crate) fn rate_snapshot(&self) -> RateSnapshot {
        let reset_epoch = (self.rate.window + 1) * WINDOW_SECS;
        RateSnapshot {
            user_remaining: self.rate.user_remaining,
            client_remaining: self.rate.client_remaining,
            post_remaining: self.rate.post_remaining,
            reset_epoch,
            reset_in: reset_epoch.saturating_sub(now_epoch()),
        }
    }

    /// Takes one use of the first queued fault that matches `endpoint`.
    pub(crate) fn take_fault(&mut self, endpoint: Endpoint) -> Option<FaultKind> {
        let index = self
            .faults
            .iter()
            .position(|f| f.endpoint.is_none_or(|e| e == endpoint))?;
        let fault = self.faults.get_mut(index)?;
        let kind = fault.kind.clone();
        fault.times = fault.times.saturating_sub(1);
        if fault.times == 0 {
            self.faults.remove(index);
        }
        Some(kind)
    }

    /// Resolves an `Authorization` header value.
    pub(crate) fn authenticate(
        &self,
        config: &FakeConfig,
        header: Option<&str>,
    ) -> Result<Caller, AuthFailure> {
        let header = header.map(str::trim).ok_or(AuthFailure::Missing)?;
        let (scheme, value) = header.split_once(' ').ok_or(AuthFailure::Missing)?;
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("client-id") {
            if value == config.client_id {
                Ok(Caller::Anonymous)
            } else {
                Err(AuthFailure::Missing)
            }
        } else if scheme.eq_ignore_ascii_case("bearer") {
            match self.access_tokens.get(value) {
                Some(token)
                    if !token.revoked && token.expires_at.is_none_or(|t| Instant::now() < t) =>
                {
                    Ok(Caller::User)
                }
                _ => Err(AuthFailure::InvalidToken),
            }
        } else {
            Err(AuthFailure::Missing)
        }
    }

    pub(crate) fn expire_access_tokens(&mut self) {
        for token in self.access_tokens.values_mut() {
            token.revoked = true;
        }
    }

    pub(crate) fn issue_code(&mut self) -> String {
        let code = random_hex(16);
        self.codes.insert(code.clone());
        code
    }

    pub(crate) fn issue_pin(&mut self) -> String {
        let pin = random_hex(5);
        self.pins.insert(pin.clone());
        pin
    }

    /// Spends a refresh token; `false` if it is not valid.
    pub(crate) fn use_refresh_token(&mut self, token: &str) -> bool {
        if !self.valid_refresh.iter().any(|t| t == token) {
            // One more use within the grace, then never again.
            return self
                .graced_refresh
                .remove(token)
                .is_some_and(|until| Instant::now() < until);
        }
        if self.rotation_invalidates_old {
            self.valid_refresh.retain(|t| t != token);
            if let Some(grace) = self.refresh_grace {
                self.graced_refresh
                    .insert(token.to_owned(), Instant::now() + grace);
            }
        }
        true
    }

    /// Spends a single-use authorization code.
    pub(crate) fn use_code(&mut self, code: &str) -> bool {
        self.codes.remove(code)
    }

    /// Spends a single-use pin.
    pub(crate) fn use_pin(&mut self, pin: &str) -> bool {
        self.pins.remove(pin)
    }

    /// Issues a fresh access token and a fresh refresh token.
    pub(crate) fn grant(&mut self) -> Grant {
        let access_token = random_hex(20);
        let refresh_token = random_hex(20);
        let lifetime = self.access_token_lifetime;
        self.access_tokens.insert(
            access_token.clone(),
            AccessToken {
                expires_at: Instant::now().checked_add(lifetime),
                revoked: false,
            },
        );
        self.issued_access.push(access_token.clone());
        self.valid_refresh.push(refresh_token.clone());
        self.current_refresh = refresh_token.clone();
        Grant {
            access_token,
            refresh_token,
            expires_in: lifetime.as_secs(),
        }
    }

    /// Finds an image by id or deletehash; the flag says whether the deletehash matched.
    pub(crate) fn find_for_change(&self, key: &str) -> Option<(String, bool)> {
        if let Some(image) = self.images.get(key) {
            return Some((image.stored.id.clone(), false));
        }
        self.images
            .values()
            .find(|image| image.stored.deletehash == key)
            .map(|image| (image.stored.id.clone(), true))
    }

    /// Removes an image, and it from the favorites and the albums.
    pub(crate) fn remove_image(&mut self, id: &str) {
        self.images.remove(id);
        self.favorites.retain(|f| f != id);
        for album in self.albums.values_mut() {
            album.stored.images.retain(|i| i != id);
        }
    }

    /// Toggles the account's favorite on `id`; returns whether it is now a favorite.
    pub(crate) fn toggle_favorite(&mut self, id: &str) -> Option<bool> {
        let image = self.images.get_mut(id)?;
        image.stored.favorite = !image.stored.favorite;
        let now_favorite = image.stored.favorite;
        if now_favorite {
            self.favorites.retain(|f| f != id);
            self.favorites.insert(0, id.to_owned());
        } else {
            self.favorites.retain(|f| f != id);
        }
        Some(now_favorite)
    }
}
