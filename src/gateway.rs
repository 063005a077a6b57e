//! The operations the local API offers, on top of the Imgur client, the
//! favorites cache and the upload ledger. Handlers call exactly one of
//! these. Albums and the account's lists are in `gateway/albums.rs`, the
//! Flickr operations in `gateway/flickr.rs`.

mod albums;
mod flickr;

pub use albums::{AlbumReply, ListPage};
pub use flickr::{Flickr, FlickrAuthStatus, FlickrFailure, FlickrUpload, WANTED_PERMS};

use crate::cache::{CacheStatus, CachedPage, FavoritesCache, Provider, Scope};
use crate::fleet::Fleet;
use crate::imgur::{
    self, AuthStatus, BudgetView, Error, ErrorKind, Grant, ImgurClient, LiveAttempt, Mode, Reply,
};
use crate::ledger::{Entry, ItemKind, Ledger, Recording};
use crate::login::{PendingLogins, Refused, UnknownState};
use crate::model::{FavoritesSort, ImageId, ImageUpdate, ResponseType};
use crate::upload::{ImageUpload, Live};
use bytes::Bytes;
use std::sync::Arc;
use tracing::Instrument;

/// A favorites page and how the cache produced it.
pub struct FavoritesPage {
    pub page: Arc<CachedPage>,
    pub status: CacheStatus,
}

/// A new image: its id, Imgur's image object, and whether the ledger has it.
pub struct Uploaded {
    pub id: String,
    pub image: Reply<Bytes>,
    pub ledger: Recording,
}

/// A deleted image or album, and whether the ledger recorded the deletion
/// (`None`: the ledger does not know the item).
pub struct Deleted {
    pub reply: Reply<()>,
    pub ledger: Option<Recording>,
}

/// Why a browser login could not be finished.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    UnknownState(#[from] UnknownState),
    #[error(transparent)]
    Imgur(#[from] Error),
}

/// The gateway's operations.
pub struct Gateway {
    imgur: ImgurClient,
    /// Shared with the task that drops its pages whenever the authorization
    /// changes (see [`Gateway::new`]).
    favorites: Arc<FavoritesCache>,
    /// Every upload and album made through the gateway, with its
    /// deletehash: Imgur cannot look an image up by deletehash, and an
    /// anonymous item can only be changed or deleted by it.
    ledger: Ledger,
    logins: PendingLogins,
    /// `None` without `FLICKR_API_KEY` (the `/flickr/` routes answer 404).
    flickr: Option<Flickr>,
    /// `None` without `PIXGATE_REDIS_URL`: nothing is shared.
    fleet: Option<Fleet>,
}

impl Gateway {
    /// Also starts the task that clears the local favorites cache whenever
    /// the token owner reports a new authorization (a login or logout, here
    /// or in another process): it lives outside any request, so a client
    /// that disconnects mid-login cannot skip it. (The shared tier's
    /// generations are bumped by the login or logout itself, on whichever
    /// replica ran it.) Needs a Tokio runtime.
    pub fn new(imgur: ImgurClient, favorites: FavoritesCache, ledger: Ledger) -> Self {
        let favorites = Arc::new(favorites);
        let mut changes = imgur.tokens().authorization_changes();
        let cache = Arc::downgrade(&favorites);
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                match cache.upgrade() {
                    Some(cache) => cache.clear_local(),
                    None => break,
                }
            }
        });
        Self {
            imgur,
            favorites,
            ledger,
            logins: PendingLogins::default(),
            flickr: None,
            fleet: None,
        }
    }

    /// Shares state with other replicas through Redis; `/readyz` then
    /// also needs Redis to answer. The favorites cache must have been given
    /// the same fleet ([`FavoritesCache::with_fleet`]).
    pub fn with_fleet(mut self, fleet: Fleet) -> Self {
        self.logins = std::mem::take(&mut self.logins).with_fleet(fleet.clone());
        if let Some(flickr) = self.flickr.take() {
            self.flickr = Some(flickr.with_fleet(fleet.clone()));
        }
        self.fleet = Some(fleet);
        self
    }

    /// Offers Flickr too.
    pub fn with_flickr(mut self, flickr: Flickr) -> Self {
        self.flickr = Some(match &self.fleet {
            Some(fleet) => flickr.with_fleet(fleet.clone()),
            None => flickr,
        });
        self
    }

    /// Ready when a user access token can be had, or in anonymous mode.
    pub async fn readiness(&self) -> Result<Mode, Error> {
        if let Some(fleet) = &self.fleet {
            fleet
                .check()
                .await
                .map_err(|e| Error::local(ErrorKind::StoreUnavailable(e.to_string())))?;
        }
        if let Some(rejected) = self.imgur.tokens().credentials_rejected() {
            return Err(rejected);
        }
        let token = self.imgur.tokens().access_token_if_user().await?;
        Ok(if token.is_some() {
            Mode::User
        } else {
            Mode::Anonymous
        })
    }

    /// Starts a browser login: the Imgur authorize URL to send the user to.
    pub async fn begin_login(&self, response_type: ResponseType) -> Result<String, Error> {
        let state = self
            .logins
            .begin(response_type)
            .await
            .map_err(store_unavailable)?;
        Ok(self.imgur.authorize_url(response_type, &state))
    }

    /// Finishes a browser login started with `state`: exchanges the code
    /// (code flow) or checks the refresh token (token flow) and switches to
    /// the new account.
    pub async fn finish_login(
        &self,
        state: &str,
        response_type: ResponseType,
        grant: Grant,
    ) -> Result<AuthStatus, LoginError> {
        match self.logins.finish(state, response_type).await {
            Ok(()) => {}
            Err(Refused::Unknown(unknown)) => return Err(unknown.into()),
            Err(Refused::Store(error)) => return Err(store_unavailable(error).into()),
        }
        Ok(self.login(grant).await?)
    }

    /// Authorizes with a PIN or an existing refresh token and switches to
    /// that account at once.
    pub async fn login(&self, grant: Grant) -> Result<AuthStatus, Error> {
        let tokens = self.imgur.tokens();
        self.changing_favorites(tokens.authorize(grant)).await?;
        Ok(tokens.status())
    }

    /// Deletes the stored tokens; the gateway continues in anonymous mode.
    pub async fn logout(&self) -> Result<AuthStatus, Error> {
        let tokens = self.imgur.tokens();
        self.changing_favorites(tokens.logout()).await?;
        Ok(tokens.status())
    }

    /// The authorization state, without tokens.
    pub fn auth_status(&self) -> AuthStatus {
        self.imgur.tokens().status()
    }

    /// The authorized account.
    pub async fn account(&self) -> Result<Reply<Bytes>, Error> {
        self.imgur.account().await
    }

    /// A page of the account's favorites, from the cache when fresh.
    /// `refresh` (a `Cache-Control: no-cache` request) bypasses the cache and
    /// stores what it fetched.
    pub async fn favorites(
        &self,
        page: u32,
        sort: FavoritesSort,
        refresh: bool,
    ) -> Result<FavoritesPage, Error> {
        let account = self.imgur.tokens().user_account().await?;
        let username = account.username.unwrap_or_else(|| "me".to_owned());
        let key = self.favorites.key(&username, page, sort);
        let imgur = self.imgur.clone();
        let (page, status) = self
            .favorites
            .get_or_fetch(key, refresh, move || async move {
                let reply = imgur.favorites(&username, page, sort).await?;
                Ok(CachedPage::new(reply.data, reply.rate_limits))
            })
            .await?;
        Ok(FavoritesPage { page, status })
    }

    /// Uploads an image or video, as the user in user mode, else
    /// anonymously, while `form` reads and checks the client's request: a
    /// video that outgrows memory already goes to Imgur through `live` (the
    /// form's intake feeds it), and the rest (nothing, a replay after a
    /// refresh, or the whole upload from the spool) follows once the form
    /// is read. A form that fails aborts the live attempt, so Imgur never
    /// receives a refused upload whole; its error is answered.
    pub async fn upload<E: From<Error>>(
        &self,
        live: Live,
        form: impl std::future::Future<Output = Result<ImageUpload, E>>,
    ) -> Result<Uploaded, E> {
        let (upload, first_attempt) =
            futures_util::future::join(form, self.imgur.upload_live(live)).await;
        Ok(self.finish_upload(&upload?, first_attempt).await?)
    }

    /// The upload from the spool if still needed, then the ledger record
    /// (and the album of a video).
    async fn finish_upload(
        &self,
        upload: &ImageUpload,
        first_attempt: LiveAttempt,
    ) -> Result<Uploaded, Error> {
        let image = self.imgur.upload(upload, first_attempt).await?;
        // After the call: its refresh may have told the account's name.
        let account = self.acting_account();
        let summary = imgur::image_summary(&image.data);
        let id = summary.id.clone().ok_or_else(|| Error {
            kind: ErrorKind::InvalidResponse {
                detail: "Imgur's upload answer has no image id".into(),
            },
            upstream_status: Some(200),
            rate_limits: image.rate_limits.clone(),
        })?;
        let mut entry = Entry::new(ItemKind::Image, &id, account);
        entry.deletehash = summary.deletehash.clone();
        entry.link = summary.link.clone();
        entry.media_type = summary.media_type.clone();
        entry.size = summary.size;
        entry.album = upload.fields.album.clone();
        let anonymous = entry.anonymous;
        let ledger = self.ledger.record(entry).await;
        if let (Some(album), true) = (&upload.fields.album, summary.is_video()) {
            let image = match (&summary.deletehash, anonymous) {
                (Some(hash), true) => imgur::ImageRef::Deletehash(hash.clone()),
                _ => match ImageId::parse(&id) {
                    Ok(id) => imgur::ImageRef::Id(id),
                    Err(_) => return Ok(Uploaded { id, image, ledger }),
                },
            };
            self.keep_video_in_album(album, &id, image).await;
        }
        Ok(Uploaded { id, image, ledger })
    }

    /// One image.
    pub async fn image(&self, id: &ImageId) -> Result<Reply<Bytes>, Error> {
        self.imgur.image(id).await
    }

    /// Changes title and/or description; returns the image as it is
    /// afterwards. `id` may be an image id, or a deletehash; the ledger
    /// supplies the deletehash of an anonymous upload named by its id, and
    /// the id of an upload named by its deletehash to read it back. For any
    /// other deletehash Imgur has no way to read the image back, and the
    /// answer holds the deletehash and the changed fields.
    pub async fn update_image(
        &self,
        id: &ImageId,
        update: &ImageUpdate,
    ) -> Result<Reply<Bytes>, Error> {
        let (target, entry) = self.change_key(ItemKind::Image, id.as_str()).await;
        let target = ImageId::parse(&target).unwrap_or_else(|_| id.clone());
        let updated = self.imgur.update_image(&target, update).await?;
        let image_id = entry
            .and_then(|e| ImageId::parse(&e.id).ok())
            .unwrap_or_else(|| id.clone());
        match self.imgur.image(&image_id).await {
            Err(Error {
                kind: ErrorKind::NotFound { .. },
                ..
            }) => {
                let mut partial = serde_json::json!({ "deletehash": id.as_str() });
                if let Some(title) = &update.title {
                    partial["title"] = title.as_str().into();
                }
                if let Some(description) = &update.description {
                    partial["description"] = description.as_str().into();
                }
                Ok(Reply {
                    data: Bytes::from(partial.to_string()),
                    rate_limits: updated.rate_limits,
                })
            }
            other => other,
        }
    }

    /// Deletes by id (user mode, or an anonymous upload the ledger knows) or
    /// deletehash, and records the deletion in the ledger. Both finish, and
    /// the favorites cache is invalidated, even if the client goes away.
    pub async fn delete_image(&self, id: &ImageId) -> Result<Deleted, Error> {
        let (target, entry) = self.change_key(ItemKind::Image, id.as_str()).await;
        let target = ImageId::parse(&target).unwrap_or_else(|_| id.clone());
        let (imgur, ledger) = (self.imgur.clone(), self.ledger.clone());
        self.changing_favorites_to_the_end(async move {
            let reply = imgur.delete_image(&target).await?;
            let ledger = match entry {
                Some(entry) => Some(ledger.mark_deleted(ItemKind::Image, &entry.id).await),
                None => None,
            };
            Ok(Deleted { reply, ledger })
        })
        .await
    }

    /// Makes the favorite state `favorited`, whatever it was: reads it as
    /// the user, and toggles only when it differs (Imgur only offers a
    /// toggle). In anonymous mode nothing reaches Imgur.
    pub async fn set_favorite(&self, id: &ImageId, favorited: bool) -> Result<Reply<bool>, Error> {
        let (imgur, id) = (self.imgur.clone(), id.clone());
        self.changing_favorites_to_the_end(async move {
            let image = imgur.image_as_user(&id).await?;
            if imgur::image_is_favorite(&image.data) == Some(favorited) {
                return Ok(Reply {
                    data: favorited,
                    rate_limits: image.rate_limits,
                });
            }
            let toggled = imgur.toggle_favorite(&id).await?;
            if toggled.data == favorited {
                return Ok(toggled);
            }
            // The state changed under us between the read and the toggle.
            imgur.toggle_favorite(&id).await
        })
        .await
    }

    /// Imgur's native toggle; returns the new state.
    pub async fn toggle_favorite(&self, id: &ImageId) -> Result<Reply<bool>, Error> {
        let (imgur, id) = (self.imgur.clone(), id.clone());
        self.changing_favorites_to_the_end(async move { imgur.toggle_favorite(&id).await })
            .await
    }

    /// Imgur's credit budget as pixgate tracks it.
    pub async fn rate_limits(&self) -> Result<BudgetView, Error> {
        self.imgur.credits().await
    }

    /// The account calls are made as: its username (`me` before the first
    /// refresh tells it) in user mode, `None` when anonymous.
    fn acting_account(&self) -> Option<String> {
        let status = self.imgur.tokens().status();
        status
            .authorized
            .then(|| status.account_username.unwrap_or_else(|| "me".into()))
    }

    /// What to send Imgur to change or delete the item `key` names: its
    /// deletehash when the ledger knows one and the id alone cannot do (an
    /// anonymous item, or the gateway runs anonymously), else `key`; and the
    /// ledger's entry.
    async fn change_key(&self, kind: ItemKind, key: &str) -> (String, Option<Entry>) {
        let entry = self.ledger.find(kind, key).await;
        let deletehash = entry.as_ref().and_then(|e| {
            let by_id = e.id == key;
            let id_will_not_do = e.anonymous || self.acting_account().is_none();
            e.deletehash.clone().filter(|_| by_id && id_will_not_do)
        });
        (deletehash.unwrap_or_else(|| key.to_owned()), entry)
    }

    /// Runs a change to Imgur's favorites in a task of its own and
    /// invalidates the cache before it and when the task ends (however it
    /// ends: a guard in the task does it). A client that goes away drops
    /// only the wait: the change reaches Imgur or fails, and no page a
    /// concurrent fill read before it stays cached (issue 11, problem 11).
    /// The answer waits for the second invalidation, so every replica's
    /// next read after it sees the change.
    async fn changing_favorites_to_the_end<T>(
        &self,
        change: impl std::future::Future<Output = Result<T, Error>> + Send + 'static,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
    {
        self.in_a_change_task(Provider::Imgur, change)
            .await
            .unwrap_or_else(|crashed| {
                tracing::error!(error = %crashed, "a favorites change failed unexpectedly");
                Err(Error::local(ErrorKind::Unreachable(
                    "the change failed unexpectedly".into(),
                )))
            })
    }

    /// Runs `change` of `provider`'s favorites in a task of its own, with
    /// the cache invalidated before it and when the task ends.
    async fn in_a_change_task<T: Send + 'static>(
        &self,
        provider: Provider,
        change: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        self.favorites
            .invalidate(&favorites_scope(&self.imgur, provider))
            .await;
        let mut after = InvalidateOnDrop {
            cache: Arc::clone(&self.favorites),
            imgur: self.imgur.clone(),
            provider,
            done: false,
        };
        tokio::spawn(
            async move {
                let outcome = change.await;
                after.now().await;
                outcome
            }
            .instrument(tracing::Span::current()),
        )
        .await
    }

    /// Runs a change to Imgur's favorites and invalidates the cache before
    /// and after it, so a concurrent fill leaves no old page behind; a
    /// request cancelled midway skips the second invalidation. Login and
    /// logout use it: the task started in [`Gateway::new`] clears the local
    /// tier again when the token owner reports the new authorization,
    /// whatever the request does. Changes of favorites use
    /// [`Gateway::changing_favorites_to_the_end`].
    async fn changing_favorites<T>(&self, change: impl std::future::Future<Output = T>) -> T {
        self.changing_favorites_of(Provider::Imgur, change).await
    }

    /// [`Gateway::changing_favorites`] for `provider`'s favorites. The
    /// scope is read before and after the change: a login bumps the old
    /// account's generation and the new one's.
    async fn changing_favorites_of<T>(
        &self,
        provider: Provider,
        change: impl std::future::Future<Output = T>,
    ) -> T {
        self.favorites
            .invalidate(&favorites_scope(&self.imgur, provider))
            .await;
        let result = change.await;
        self.favorites
            .invalidate(&favorites_scope(&self.imgur, provider))
            .await;
        result
    }
}

/// Whose favorites of `provider` a change touches: the account the cache
/// keys its pages by (`me` while the username is not known yet), as the
/// token owner knows it now.
fn favorites_scope(imgur: &ImgurClient, provider: Provider) -> Scope {
    let tokens = imgur.tokens();
    let account = match provider {
        Provider::Imgur => tokens.status().account_username,
        Provider::Flickr => tokens.flickr_tokens().and_then(|t| t.user_nsid),
    };
    Scope::new(provider, account.as_deref().unwrap_or("me"))
}

/// Invalidates the favorites cache at the end of a favorites change's
/// task: awaited by [`InvalidateOnDrop::now`] when the change finished, or
/// in the background when it is dropped first (the change panicked, or the
/// task was dropped).
struct InvalidateOnDrop {
    cache: Arc<FavoritesCache>,
    imgur: ImgurClient,
    provider: Provider,
    done: bool,
}

impl InvalidateOnDrop {
    async fn now(&mut self) {
        self.cache
            .invalidate(&favorites_scope(&self.imgur, self.provider))
            .await;
        self.done = true;
    }
}

impl Drop for InvalidateOnDrop {
    fn drop(&mut self) {
        if !self.done {
            self.cache
                .invalidate_soon(favorites_scope(&self.imgur, self.provider));
        }
    }
}

/// Redis could not be reached for what needed it: 503 `store-unavailable`.
pub(crate) fn store_unavailable(error: crate::fleet::FleetError) -> Error {
    Error::local(ErrorKind::StoreUnavailable(error.to_string()))
}
