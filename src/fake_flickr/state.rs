//! The fake's shared state: tokens, photos, favorites, nonces, faults and
//! the request log.
//!
//! One `std::sync::Mutex` guards all of it. Every critical section is a few
//! map operations and none spans an `.await` (handlers stream and sleep
//! without the lock, then lock again), so a blocking mutex is both correct
//! and simpler than an async one. The test thread and the actix worker
//! thread share it through an `Arc`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use super::{Consent, Endpoint, FakeFlickrConfig, Fault, FaultKind, RecordedRequest, StoredPhoto};
use crate::flickr::signing::unix_time;
use crate::flickr::Perms;

/// The other account, owner of the seeded favorites.
pub(crate) const OTHER_NSID: &str = "87654321@N00";
pub(crate) const OTHER_USERNAME: &str = "someone";
pub(crate) const OTHER_FULLNAME: &str = "Someone Else";
/// Flickr's current image server number.
pub(crate) const SERVER: &str = "65535";

/// `digits` random lowercase hex digits (at most 32).
pub(crate) fn random_hex(digits: usize) -> String {
    let hex = format!("{:032x}", rand::random::<u128>());
    hex[..digits.min(32)].to_owned()
}

/// The state behind the [`super::FakeFlickr`] handle and the server.
pub(crate) struct Shared {
    pub(crate) config: FakeFlickrConfig,
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(config: FakeFlickrConfig) -> Shared {
        let state = State::new(&config);
        Shared {
            config,
            state: Mutex::new(state),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("fake Flickr state mutex poisoned")
    }
}

/// An access token the fake issued.
pub(crate) struct AccessToken {
    pub(crate) secret: String,
    pub(crate) perms: Perms,
    pub(crate) revoked: bool,
}

/// Where a request token is in the three legs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Leg {
    /// Issued; the user has not answered the authorize page.
    Issued,
    /// The user allowed `perms`; the exchange needs `verifier`.
    Allowed { verifier: String, perms: Perms },
    /// The user said no.
    Denied,
    /// Exchanged once; it is rejected from now on.
    Used,
}

/// A request token the fake issued.
pub(crate) struct RequestToken {
    pub(crate) secret: String,
    pub(crate) callback: String,
    pub(crate) leg: Leg,
}

pub(crate) struct State {
    pub(crate) access_tokens: HashMap<String, AccessToken>,
    pub(crate) request_tokens: HashMap<String, RequestToken>,
    /// `(consumer key, token, timestamp, nonce)` of accepted requests within the window.
    nonces: HashSet<(String, String, u64, String)>,
    pub(crate) consent: Consent,
    pub(crate) faults: VecDeque<Fault>,
    pub(crate) calls: HashMap<Endpoint, usize>,
    pub(crate) method_calls: HashMap<String, usize>,
    pub(crate) requests: Vec<RecordedRequest>,
    /// Photos by id.
    pub(crate) photos: HashMap<String, StoredPhoto>,
    /// The account's favorites, newest first, with the time each was added.
    pub(crate) favorites: Vec<(String, u64)>,
}

impl State {
    fn new(config: &FakeFlickrConfig) -> State {
        let mut state = State {
            access_tokens: HashMap::new(),
            request_tokens: HashMap::new(),
            nonces: HashSet::new(),
            consent: Consent::Ask,
            faults: VecDeque::new(),
            calls: HashMap::new(),
            method_calls: HashMap::new(),
            requests: Vec::new(),
            photos: HashMap::new(),
            favorites: Vec::new(),
        };
        state.access_tokens.insert(
            config.access_token.clone(),
            AccessToken {
                secret: config.access_token_secret.clone(),
                perms: config.access_perms,
                revoked: false,
            },
        );
        state.seed(config);
        state
    }

    /// The account's own photos, then favorites owned by the other account,
    /// newest first, one hour apart.
    fn seed(&mut self, config: &FakeFlickrConfig) {
        let now = unix_time();
        for i in 0..config.own_photos {
            let id = self.fresh_id();
            let photo = StoredPhoto {
                title: format!("My photo #{}", i + 1),
                description: "Seeded by the fake Flickr".to_owned(),
                posted: now.saturating_sub(7200 * (i as u64 + 1)),
                ..seed_photo(&id, &config.user_nsid)
            };
            self.photos.insert(id, photo);
        }
        for i in 0..config.favorites {
            let id = self.fresh_id();
            let posted = now.saturating_sub(86_400 * (i as u64 + 1));
            let photo = StoredPhoto {
                title: format!("Favorite #{}", i + 1),
                posted,
                favorite: true,
                ..seed_photo(&id, OTHER_NSID)
            };
            self.photos.insert(id.clone(), photo);
            self.favorites
                .push((id, now.saturating_sub(3600 * (i as u64 + 1))));
        }
    }

    /// A random 11-digit photo id not yet used.
    pub(crate) fn fresh_id(&self) -> String {
        loop {
            let id = format!("5{:010}", rand::random::<u64>() % 10_000_000_000);
            if !self.photos.contains_key(&id) {
                return id;
            }
        }
    }

    /// Counts and (unless it is an `Other` request) logs a request.
    pub(crate) fn record(&mut self, request: RecordedRequest) {
        *self.calls.entry(request.endpoint).or_insert(0) += 1;
        if let Some(method) = &request.flickr_method {
            *self.method_calls.entry(method.clone()).or_insert(0) += 1;
        }
        self.requests.push(request);
    }

    /// Takes one use of the first queued fault that matches.
    pub(crate) fn take_fault(
        &mut self,
        endpoint: Endpoint,
        flickr_method: Option<&str>,
    ) -> Option<FaultKind> {
        let index = self.faults.iter().position(|f| {
            f.endpoint.is_none_or(|e| e == endpoint)
                && f.flickr_method
                    .as_deref()
                    .is_none_or(|m| Some(m) == flickr_method)
        })?;
        let fault = self.faults.get_mut(index)?;
        let kind = fault.kind.clone();
        fault.times = fault.times.saturating_sub(1);
        if fault.times == 0 {
            self.faults.remove(index);
        }
        Some(kind)
    }

    /// Accepts a nonce once per (key, token, timestamp); `false` on reuse.
    /// Nonces older than the timestamp window are forgotten: a request
    /// that old is refused for its timestamp anyway.
    pub(crate) fn use_nonce(
        &mut self,
        key: (String, String, u64, String),
        now: u64,
        window: u64,
    ) -> bool {
        self.nonces
            .retain(|(_, _, ts, _)| ts.saturating_add(window) >= now);
        self.nonces.insert(key)
    }

    /// Issues an access token with `perms`.
    pub(crate) fn issue_access_token(&mut self, perms: Perms) -> (String, String) {
        let token = format!("72157{}-{}", random_digits(12), random_hex(16));
        let secret = random_hex(16);
        self.access_tokens.insert(
            token.clone(),
            AccessToken {
                secret: secret.clone(),
                perms,
                revoked: false,
            },
        );
        (token, secret)
    }

    /// Issues a request token for `callback`.
    pub(crate) fn issue_request_token(&mut self, callback: &str) -> (String, String) {
        let token = format!("72157{}-{}", random_digits(12), random_hex(16));
        let secret = random_hex(16);
        self.request_tokens.insert(
            token.clone(),
            RequestToken {
                secret: secret.clone(),
                callback: callback.to_owned(),
                leg: Leg::Issued,
            },
        );
        (token, secret)
    }

    /// Whether `id` is among the account's favorites.
    pub(crate) fn is_favorite(&self, id: &str) -> bool {
        self.favorites.iter().any(|(f, _)| f == id)
    }

    /// Adds or removes `id` from the favorites, keeping the photo's flag in step.
    pub(crate) fn set_favorite(&mut self, id: &str, favorite: bool, now: u64) {
        self.favorites.retain(|(f, _)| f != id);
        if favorite {
            self.favorites.insert(0, (id.to_owned(), now));
        }
        if let Some(photo) = self.photos.get_mut(id) {
            photo.favorite = favorite;
        }
    }

    /// Removes a photo, and it from the favorites.
    pub(crate) fn remove_photo(&mut self, id: &str) {
        self.photos.remove(id);
        self.favorites.retain(|(f, _)| f != id);
    }
}

fn random_digits(n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rand::random::<u8>() % 10))
        .collect()
}

/// A seeded photo of `owner`, public, with made-up bytes.
fn seed_photo(id: &str, owner: &str) -> StoredPhoto {
    StoredPhoto {
        id: id.to_owned(),
        owner: owner.to_owned(),
        secret: random_hex(10),
        server: SERVER.to_owned(),
        title: String::new(),
        description: String::new(),
        tags: String::new(),
        is_public: true,
        is_friend: false,
        is_family: false,
        safety_level: 1,
        hidden: 1,
        size: 50_000,
        sha256: format!("{:x}", Sha256::digest(id.as_bytes())),
        file_name: None,
        content_type: Some("image/jpeg".to_owned()),
        posted: 0,
        favorite: false,
    }
}
