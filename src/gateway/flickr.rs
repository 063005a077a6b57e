//! The Flickr operations of the local API: one per verb, on top of the
//! Flickr client, the token owner (which holds Flickr's tokens beside
//! Imgur's, in the same durable store) and the favorites cache shared with
//! Imgur (keyed by provider). Handlers call exactly one.

use super::{FavoritesPage, Gateway};
use crate::cache::{CachedPage, Provider};
use crate::flickr::{
    self, stored_perms, FavoriteChange, FlickrClient, MetaUpdate, PageRequest, Perms, Photo,
    PhotoId, PhotoUpload, RequestToken, Token, UploadFields,
};
use crate::imgur::{self, ErrorKind, FlickrTokens, RateLimits};
use crate::login::{PendingFlickrLogins, Refused, UnknownRequestToken};
use crate::upload::Upload;
use bytes::Bytes;
use serde::Serialize;
use utoipa::ToSchema;

/// Flickr, when `FLICKR_API_KEY` is set.
pub struct Flickr {
    client: FlickrClient,
    logins: PendingFlickrLogins,
    /// The Flickr error of each favorites page's last failed fill: the
    /// cache speaks Imgur's error type and hands the fill's one error to
    /// every caller waiting on it, so each looks the Flickr error up here.
    fill_failures: moka::sync::Cache<(String, u32, u32), flickr::Error>,
}

impl Flickr {
    pub fn new(client: FlickrClient) -> Self {
        Self {
            client,
            logins: PendingFlickrLogins::default(),
            fill_failures: moka::sync::Cache::builder()
                .max_capacity(1024)
                .time_to_live(std::time::Duration::from_secs(60))
                .build(),
        }
    }

    /// Keeps its pending logins in Redis, shared by every replica.
    pub fn with_fleet(mut self, fleet: crate::fleet::Fleet) -> Self {
        self.logins = std::mem::take(&mut self.logins).with_fleet(fleet);
        self
    }
}

/// Why a Flickr operation failed (mapped to HTTP in `api/problem.rs`).
#[derive(Debug, thiserror::Error)]
pub enum FlickrFailure {
    /// No `FLICKR_API_KEY`: every `/flickr/` route is off.
    #[error("Flickr is not configured")]
    NotConfigured,
    /// No Flickr tokens are stored.
    #[error("pixgate has no Flickr authorization")]
    NotAuthorized,
    #[error(transparent)]
    UnknownRequestToken(#[from] UnknownRequestToken),
    #[error(transparent)]
    Flickr(#[from] flickr::Error),
    /// The token owner could not store the change.
    #[error(transparent)]
    Tokens(#[from] imgur::Error),
    /// The spooled photo could not be read back.
    #[error("could not read the spooled photo: {0}")]
    Spool(std::io::Error),
}

/// Whether a Flickr account is authorized, and which; never a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"authorized": true, "username": "demo", "user_nsid": "12345678@N00", "perms": "delete"}))]
pub struct FlickrAuthStatus {
    pub authorized: bool,
    pub username: Option<String>,
    pub user_nsid: Option<String>,
    /// `read`, `write` or `delete`.
    pub perms: Option<String>,
}

impl FlickrAuthStatus {
    fn of(tokens: Option<&FlickrTokens>) -> Self {
        Self {
            authorized: tokens.is_some(),
            username: tokens.and_then(|t| t.username.clone()),
            user_nsid: tokens.and_then(|t| t.user_nsid.clone()),
            perms: tokens.and_then(|t| t.perms.clone()),
        }
    }
}

/// A photo to upload: its fields and the file, spooled whole.
///
/// A Flickr photo does not stream live as a large Imgur video does: the
/// OAuth signature covers every text field, and it travels in the
/// `Authorization` header, which goes out before the body's first byte,
/// while a client's form may send `title`, `tags` and the rest after the
/// photo. Only a form read to its end gives the fields to sign, so the
/// photo is spooled within the upload budget and sent from the spool with
/// its `Content-Length`. (Streaming live only when every field comes
/// first would be a second path for the forms that happen to be so
/// ordered, and a field after the photo could no longer be refused before
/// Flickr saw the upload begin.)
pub struct FlickrUpload {
    pub fields: UploadFields,
    pub photo: Upload,
}

/// The perms pixgate asks for: its API deletes photos.
pub const WANTED_PERMS: Perms = Perms::Delete;

impl Gateway {
    fn flickr(&self) -> Result<&Flickr, FlickrFailure> {
        self.flickr.as_ref().ok_or(FlickrFailure::NotConfigured)
    }

    /// The stored tokens, refusing locally what their perms cannot do (a
    /// known-bad request never reaches Flickr).
    fn flickr_tokens(&self, needed: Perms) -> Result<(&Flickr, FlickrTokens), FlickrFailure> {
        let flickr = self.flickr()?;
        let tokens = self
            .imgur
            .tokens()
            .flickr_tokens()
            .ok_or(FlickrFailure::NotAuthorized)?;
        if stored_perms(&tokens).is_some_and(|held| !held.allows(needed)) {
            return Err(flickr::Error::InsufficientPermissions {
                needed,
                message: format!(
                    "the stored token has {} permission",
                    tokens.perms.as_deref().unwrap_or("unknown")
                ),
            }
            .into());
        }
        Ok((flickr, tokens))
    }

    /// Starts a browser login: a request token for `callback`, remembered
    /// for the callback; returns Flickr's authorize URL.
    pub async fn begin_flickr_login(&self, callback: &str) -> Result<String, FlickrFailure> {
        let flickr = self.flickr()?;
        let request_token = flickr.client.request_token(callback).await?;
        let url = flickr.client.authorize_url(&request_token, WANTED_PERMS);
        flickr
            .logins
            .begin(request_token)
            .await
            .map_err(|e| FlickrFailure::Tokens(super::store_unavailable(e)))?;
        Ok(url)
    }

    /// Finishes a browser login: the request token must be pending (used
    /// once, within ten minutes); the exchange is never retried.
    pub async fn finish_flickr_login(
        &self,
        oauth_token: &str,
        verifier: &str,
    ) -> Result<FlickrAuthStatus, FlickrFailure> {
        let flickr = self.flickr()?;
        let request_token = match flickr.logins.finish(oauth_token).await {
            Ok(request_token) => request_token,
            Err(Refused::Unknown(unknown)) => return Err(unknown.into()),
            Err(Refused::Store(error)) => {
                return Err(FlickrFailure::Tokens(super::store_unavailable(error)))
            }
        };
        self.exchange_flickr_verifier(&request_token, verifier)
            .await
    }

    /// Leg 3 for a request token (browser or terminal): the access token,
    /// stored with the perms asked for (Flickr's answer names none).
    pub async fn exchange_flickr_verifier(
        &self,
        request_token: &RequestToken,
        verifier: &str,
    ) -> Result<FlickrAuthStatus, FlickrFailure> {
        let flickr = self.flickr()?;
        let authorization = flickr.client.access_token(request_token, verifier).await?;
        self.install_flickr(authorization.into_stored(WANTED_PERMS))
            .await
    }

    /// Brings an existing token: checks it with `flickr.auth.oauth.checkToken`
    /// (which also tells its perms and user), then stores it.
    pub async fn flickr_login_with_token(
        &self,
        token: Token,
    ) -> Result<FlickrAuthStatus, FlickrFailure> {
        let flickr = self.flickr()?;
        let check = flickr.client.check_token(&token).await?;
        self.install_flickr(check.into_stored(token)).await
    }

    async fn install_flickr(
        &self,
        tokens: FlickrTokens,
    ) -> Result<FlickrAuthStatus, FlickrFailure> {
        let status = FlickrAuthStatus::of(Some(&tokens));
        self.changing_favorites_of(Provider::Flickr, self.imgur.tokens().save_flickr(tokens))
            .await?;
        tracing::info!(user_nsid = ?status.user_nsid, "authorized a Flickr account");
        Ok(status)
    }

    /// Forgets the Flickr tokens.
    pub async fn flickr_logout(&self) -> Result<FlickrAuthStatus, FlickrFailure> {
        self.flickr()?;
        self.changing_favorites_of(Provider::Flickr, self.imgur.tokens().remove_flickr())
            .await?;
        Ok(FlickrAuthStatus::of(None))
    }

    /// The Flickr authorization state, without tokens.
    pub fn flickr_auth_status(&self) -> Result<FlickrAuthStatus, FlickrFailure> {
        self.flickr()?;
        Ok(FlickrAuthStatus::of(
            self.imgur.tokens().flickr_tokens().as_ref(),
        ))
    }

    /// The Flickr key's call budget, when Flickr is configured.
    pub fn flickr_budget(&self) -> Option<flickr::BudgetSnapshot> {
        self.flickr.as_ref().map(|f| f.client.budget())
    }

    /// Uploads a photo, streamed from its spool; returns it as Flickr has it.
    pub async fn flickr_upload(&self, upload: FlickrUpload) -> Result<Photo, FlickrFailure> {
        let (flickr, tokens) = self.flickr_tokens(Perms::Write)?;
        let token = Token::of(&tokens);
        let FlickrUpload { fields, photo } = upload;
        let body = photo.stream().await.map_err(FlickrFailure::Spool)?;
        let head = photo.head();
        let id = flickr
            .client
            .upload(
                &token,
                PhotoUpload {
                    fields,
                    file_name: head.file_name.clone(),
                    content_type: head.content_type.clone(),
                    length: Some(photo.len()),
                    body,
                },
            )
            .await?;
        // Sent: its budget and spool file need not wait for the read-back.
        drop(photo);
        Ok(flickr.client.photo(&token, &id).await?)
    }

    /// One photo (`flickr.photos.getInfo`).
    pub async fn flickr_photo(&self, id: &PhotoId) -> Result<Photo, FlickrFailure> {
        let (flickr, tokens) = self.flickr_tokens(Perms::Read)?;
        Ok(flickr.client.photo(&Token::of(&tokens), id).await?)
    }

    /// Sets the title and/or description; returns the photo afterwards.
    pub async fn update_flickr_photo(
        &self,
        id: &PhotoId,
        update: &MetaUpdate,
    ) -> Result<Photo, FlickrFailure> {
        let (flickr, tokens) = self.flickr_tokens(Perms::Write)?;
        let token = Token::of(&tokens);
        self.changing_favorites_of(Provider::Flickr, flickr.client.set_meta(&token, id, update))
            .await?;
        Ok(flickr.client.photo(&token, id).await?)
    }

    /// Deletes a photo (needs `delete` perms).
    pub async fn delete_flickr_photo(&self, id: &PhotoId) -> Result<(), FlickrFailure> {
        let (flickr, tokens) = self.flickr_tokens(Perms::Delete)?;
        let (client, token, id) = (flickr.client.clone(), Token::of(&tokens), id.clone());
        self.flickr_change_to_the_end(async move { client.delete(&token, &id).await })
            .await
    }

    /// Makes the photo a favorite (`favorited`) or not, whatever it was.
    pub async fn set_flickr_favorite(
        &self,
        id: &PhotoId,
        favorited: bool,
    ) -> Result<FavoriteChange, FlickrFailure> {
        let (flickr, tokens) = self.flickr_tokens(Perms::Write)?;
        let (client, token, id) = (flickr.client.clone(), Token::of(&tokens), id.clone());
        self.flickr_change_to_the_end(async move {
            if favorited {
                client.add_favorite(&token, &id).await
            } else {
                client.remove_favorite(&token, &id).await
            }
        })
        .await
    }

    /// Runs a change of Flickr's favorites (or a delete) in a task of its
    /// own, as [`Gateway::changing_favorites_to_the_end`] does for Imgur's: a
    /// client that goes away drops only the wait, and the cache is
    /// invalidated before the change and when the task ends.
    async fn flickr_change_to_the_end<T: Send + 'static>(
        &self,
        change: impl std::future::Future<Output = Result<T, flickr::Error>> + Send + 'static,
    ) -> Result<T, FlickrFailure> {
        let outcome = self
            .in_a_change_task(Provider::Flickr, change)
            .await
            .unwrap_or_else(|crashed| {
                tracing::error!(error = %crashed, "a Flickr change failed unexpectedly");
                Err(flickr::Error::Transport(
                    "the change failed unexpectedly".into(),
                ))
            });
        Ok(outcome?)
    }

    /// A page of the user's Flickr favorites, from the cache when fresh
    /// (`refresh` bypasses it), with the same semantics as Imgur's.
    pub async fn flickr_favorites(
        &self,
        page: PageRequest,
        refresh: bool,
    ) -> Result<FavoritesPage, FlickrFailure> {
        let (flickr, tokens) = self.flickr_tokens(Perms::Read)?;
        let account = tokens.user_nsid.clone().unwrap_or_else(|| "me".to_owned());
        let key = self
            .favorites
            .flickr_key(&account, page.page(), page.per_page());
        // The cache speaks Imgur's error type: the Flickr error travels
        // beside it (see `fill_failures`), and the cache sees only whether
        // Flickr is failing and whether it answered (which decide whether a
        // stale page may be served instead).
        let failure_key = (account, page.page(), page.per_page());
        let failures = flickr.fill_failures.clone();
        let (client, token, slot) = (
            flickr.client.clone(),
            Token::of(&tokens),
            failure_key.clone(),
        );
        let fetched = self
            .favorites
            .get_or_fetch(key, refresh, move || async move {
                match client.favorites(&token, page).await {
                    Ok(page) => {
                        let body = serde_json::to_vec(&page).map_err(|e| {
                            imgur::Error::local(ErrorKind::InvalidResponse {
                                detail: e.to_string(),
                            })
                        })?;
                        Ok(CachedPage::new(Bytes::from(body), RateLimits::default()))
                    }
                    Err(e) => {
                        let answered =
                            !matches!(e, flickr::Error::Transport(_) | flickr::Error::Timeout);
                        let kind = if e.is_upstream_failure() {
                            ErrorKind::Unreachable(e.to_string())
                        } else {
                            ErrorKind::Rejected {
                                message: e.to_string(),
                            }
                        };
                        failures.insert(slot, e);
                        let mut error = imgur::Error::local(kind);
                        error.upstream_status = answered.then_some(200);
                        Err(error)
                    }
                }
            })
            .await;
        match fetched {
            Ok((page, status)) => Ok(FavoritesPage { page, status }),
            Err(e) => Err(flickr
                .fill_failures
                .get(&failure_key)
                .unwrap_or(flickr::Error::Transport(e.to_string()))
                .into()),
        }
    }
}
