//! The user's Flickr tokens, held durably: the one type every read and
//! change of them goes through.
//!
//! Interim: the token owner of the issue "The refresh token is never lost"
//! will offer this same API (`flickr_tokens`, `save_flickr`,
//! `remove_flickr`); until it lands, the tokens live in the `flickr`
//! section of the Imgur token file ([`TokenStore::save_flickr_section`]),
//! written atomically with mode 0600 like the rest of it.
//!
//! Concurrency: the current tokens sit behind a `std::sync::Mutex` held
//! only to clone or replace them (never across an `.await`), so a read
//! costs one uncontended lock and one `stat`. Writes are serialized by a
//! `tokio::sync::Mutex` and, across processes (`pixgate login --provider
//! flickr` in a terminal, the Imgur token manager), by the token file's
//! advisory lock; a write reaches the disk before the memory, so what the
//! gateway uses is always what a restart would load. Another process's
//! write changes the file's stamp, and the next read reloads the section.
//!
//! Crash safety: Flickr's tokens never rotate, so the only window is
//! between Flickr's access-token answer and the rename of the new file
//! (milliseconds); the token is then lost and the user authorizes again.

use super::credentials::{Authorization, Perms, Token, TokenCheck};
use crate::imgur::{FileStamp, StoreError, TokenStore};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::sync::{Mutex, MutexGuard};

/// The user's Flickr access token and what is known about it. `Debug`
/// never shows the token or its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlickrTokens {
    pub token: Secret,
    pub token_secret: Secret,
    pub username: Option<String>,
    pub user_nsid: Option<String>,
    /// `read`, `write` or `delete`, as checkToken (or the login) said.
    pub perms: Option<String>,
}

impl FlickrTokens {
    /// What leg 3 gave, with the perms that were asked for (Flickr's
    /// answer names none, and grants exactly what the authorize page asked).
    pub fn authorized(authorization: Authorization, asked: Perms) -> Self {
        Self {
            token: authorization.token.token,
            token_secret: authorization.token.secret,
            username: Some(authorization.username),
            user_nsid: Some(authorization.user_nsid),
            perms: Some(asked.as_str().to_owned()),
        }
    }

    /// An existing token, with what checkToken said of it.
    pub fn checked(token: Token, check: TokenCheck) -> Self {
        Self {
            token: token.token,
            token_secret: token.secret,
            username: Some(check.username),
            user_nsid: Some(check.user_nsid),
            perms: Some(check.perms.as_str().to_owned()),
        }
    }

    /// The token to sign calls with.
    pub fn signing_token(&self) -> Token {
        Token {
            token: self.token.clone(),
            secret: self.token_secret.clone(),
        }
    }

    /// The perms as a level, when they are one Flickr knows.
    pub fn perms_level(&self) -> Option<Perms> {
        self.perms.as_deref().and_then(|p| p.parse().ok())
    }
}

/// The on-disk form of the `flickr` section.
#[derive(Serialize, Deserialize)]
struct Section {
    token: String,
    token_secret: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    user_nsid: Option<String>,
    #[serde(default)]
    perms: Option<String>,
}

/// Holds the Flickr tokens (see the module docs for why no other lock is needed).
pub struct FlickrSession {
    store: TokenStore,
    current: Mutex<Current>,
    writes: tokio::sync::Mutex<()>,
}

struct Current {
    tokens: Option<FlickrTokens>,
    /// The file version `tokens` was read from or written to.
    stamp: Option<FileStamp>,
}

impl FlickrSession {
    /// Loads the section from the token file (a missing file is fine; a
    /// corrupt one is reported, never overwritten).
    pub fn open(store: TokenStore) -> Result<Self, StoreError> {
        let stamp = store.stamp();
        let tokens = read_section(&store)?;
        Ok(Self {
            store,
            current: Mutex::new(Current { tokens, stamp }),
            writes: tokio::sync::Mutex::new(()),
        })
    }

    /// The tokens, reloaded first when another process changed the file.
    pub fn flickr_tokens(&self) -> Option<FlickrTokens> {
        let stamp = self.store.stamp();
        let mut current = self.lock();
        if stamp != current.stamp {
            match read_section(&self.store) {
                Ok(tokens) => {
                    current.tokens = tokens;
                    current.stamp = stamp;
                }
                // Keep what was loaded: a half-written file never shows
                // (writes are atomic), so this is a broken file, reported here.
                Err(e) => tracing::error!(error = %e, "cannot reload the Flickr tokens"),
            }
        }
        current.tokens.clone()
    }

    /// Stores `tokens` durably, then makes them current.
    pub async fn save_flickr(&self, tokens: FlickrTokens) -> Result<(), StoreError> {
        let section = Section {
            token: tokens.token.expose().to_owned(),
            token_secret: tokens.token_secret.expose().to_owned(),
            username: tokens.username.clone(),
            user_nsid: tokens.user_nsid.clone(),
            perms: tokens.perms.clone(),
        };
        let value = serde_json::to_value(section).map_err(|e| StoreError::Write {
            path: self.store.path().to_owned(),
            source: e.into(),
        })?;
        self.write(Some(value), Some(tokens)).await
    }

    /// Forgets the tokens, on disk first.
    pub async fn remove_flickr(&self) -> Result<(), StoreError> {
        self.write(None, None).await
    }

    async fn write(
        &self,
        section: Option<serde_json::Value>,
        tokens: Option<FlickrTokens>,
    ) -> Result<(), StoreError> {
        let _one_writer = self.writes.lock().await;
        let store = self.store.clone();
        // Its own task: a client that disconnects cannot stop it halfway.
        let stamp = tokio::task::spawn_blocking(move || {
            let _other_processes = store.lock()?;
            store.save_flickr_section(section)?;
            Ok::<_, StoreError>(store.stamp())
        })
        .await
        .map_err(|e| StoreError::Write {
            path: self.store.path().to_owned(),
            source: std::io::Error::other(e.to_string()),
        })??;
        *self.lock() = Current { tokens, stamp };
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Current> {
        // Replaced whole under the lock: a panic cannot leave it half-changed.
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn read_section(store: &TokenStore) -> Result<Option<FlickrTokens>, StoreError> {
    let Some(value) = store.flickr_section()? else {
        return Ok(None);
    };
    let section: Section = serde_json::from_value(value).map_err(|_| StoreError::Corrupt {
        path: store.path().to_owned(),
        line: 0,
        column: 0,
    })?;
    Ok(Some(FlickrTokens {
        token: Secret::new(section.token),
        token_secret: Secret::new(section.token_secret),
        username: section.username,
        user_nsid: section.user_nsid,
        perms: section.perms,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> FlickrTokens {
        FlickrTokens {
            token: Secret::new("72157-flickr-token"),
            token_secret: Secret::new("flickr-token-secret"),
            username: Some("demo".into()),
            user_nsid: Some("12345678@N00".into()),
            perms: Some("delete".into()),
        }
    }

    #[tokio::test]
    async fn saved_tokens_reach_the_file_and_another_session_sees_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path().join("tokens.json"));
        let session = FlickrSession::open(store.clone()).expect("opens");
        let other = FlickrSession::open(store.clone()).expect("opens");
        assert_eq!(session.flickr_tokens(), None);
        session.save_flickr(tokens()).await.expect("saved");
        assert_eq!(session.flickr_tokens(), Some(tokens()));
        assert_eq!(other.flickr_tokens(), Some(tokens()), "reloaded");
        assert_eq!(
            FlickrSession::open(store.clone())
                .expect("opens")
                .flickr_tokens(),
            Some(tokens())
        );
        assert!(!format!("{:?}", tokens()).contains("flickr-token"));
        other.remove_flickr().await.expect("removed");
        assert_eq!(session.flickr_tokens(), None);
        assert_eq!(store.flickr_section().expect("readable"), None);
    }
}
