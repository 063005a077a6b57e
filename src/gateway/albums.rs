//! Albums, the account's own lists, and the upload ledger's list.
//!
//! Imgur skips, silently, images a caller cannot prove are theirs when they
//! go into an album; so every change to an album's images reads the album
//! back and reports what Imgur skipped. An anonymous album is changed by its
//! deletehash, and images go into it by theirs; the ledger supplies both
//! for items made through pixgate.

use super::Gateway;
use crate::imgur::{self, Error, ErrorKind, ImageRef, RateLimits, Reply};
use crate::ledger::{Entry, ItemKind, LedgerError, ListQuery, Listed};
use crate::model::{AlbumFields, AlbumId, ImageId, Paging};
use bytes::Bytes;

/// An album as Imgur has it after a create or an update, the requested
/// images Imgur skipped (not the caller's), and the ledger's outcome.
pub struct AlbumReply {
    pub id: String,
    pub album: Reply<Bytes>,
    pub skipped: Vec<String>,
    pub ledger: Option<crate::ledger::Recording>,
}

/// What adding images to an album did.
pub struct ImagesAdded {
    pub album: String,
    /// Put into the album now.
    pub added: Vec<String>,
    /// In the album already; not sent again.
    pub already_present: Vec<String>,
    /// Sent, and skipped by Imgur: not the caller's images (or none such).
    pub skipped: Vec<String>,
    /// Sent, but the album could not be read back to check (an anonymous
    /// album the ledger does not know, named by its deletehash).
    pub unverified: Vec<String>,
    pub rate_limits: RateLimits,
}

/// A page of a list, and whether it was full (so more may follow).
pub struct ListPage {
    pub reply: Reply<Bytes>,
    pub full: bool,
}

fn invalid(detail: &str) -> Error {
    Error {
        kind: ErrorKind::InvalidResponse {
            detail: detail.to_owned(),
        },
        upstream_status: Some(200),
        rate_limits: RateLimits::default(),
    }
}

/// The ids in `wanted` that `album` (an album object) does not hold.
fn missing_from(album: &[u8], wanted: &[ImageId]) -> Vec<String> {
    let held = imgur::album_summary(album)
        .map(|a| a.image_ids())
        .unwrap_or_default();
    wanted
        .iter()
        .map(ImageId::to_string)
        .filter(|id| !held.contains(id))
        .collect()
}

impl Gateway {
    /// Creates an album (anonymous in anonymous mode), records it in the
    /// ledger, and answers it as Imgur then has it, with its deletehash.
    pub async fn create_album(&self, fields: &AlbumFields) -> Result<AlbumReply, Error> {
        let wanted = fields.image_ids.clone().unwrap_or_default();
        let images = self.image_refs(&wanted).await;
        let created = self.imgur.create_album(fields, &images).await?;
        let account = self.acting_account();
        let (id, deletehash) = imgur::album_created(&created.data)
            .ok_or_else(|| invalid("Imgur's album answer has no album id"))?;
        let mut entry = Entry::new(ItemKind::Album, &id, account);
        entry.deletehash = deletehash.clone();
        entry.link = Some(format!("https://imgur.com/a/{id}"));
        let ledger = Some(self.ledger.record(entry).await);
        let read = match AlbumId::parse(&id) {
            Ok(album_id) => self.imgur.album(&album_id).await,
            Err(e) => Err(invalid(&e.0)),
        };
        let (album, skipped) = match read {
            Ok(read) => {
                let skipped = missing_from(&read.data, &wanted);
                let data = deletehash
                    .as_deref()
                    .and_then(|hash| imgur::with_deletehash(&read.data, hash))
                    .unwrap_or(read.data);
                (
                    Reply {
                        data,
                        rate_limits: read.rate_limits,
                    },
                    skipped,
                )
            }
            Err(error) => {
                // The album exists; answer what Imgur said at creation.
                tracing::warn!(%error, album = %id, "could not read a new album back");
                (created, Vec::new())
            }
        };
        Ok(AlbumReply {
            id,
            album,
            skipped,
            ledger,
        })
    }

    /// An album with its images. `key` may also be the deletehash of an
    /// album the ledger knows.
    pub async fn album(&self, key: &AlbumId) -> Result<Reply<Bytes>, Error> {
        self.imgur.album(&self.album_id(key).await).await
    }

    /// Changes the fields `fields` holds; `image_ids` makes the album hold
    /// exactly those images. Answers the album afterwards and what Imgur
    /// skipped.
    pub async fn update_album(
        &self,
        key: &AlbumId,
        fields: &AlbumFields,
    ) -> Result<AlbumReply, Error> {
        let target = self.album_target(key).await;
        let album_id = self.album_id(key).await;
        let text_fields = AlbumFields {
            image_ids: None,
            ..fields.clone()
        };
        if !text_fields.is_empty() {
            self.imgur.update_album(&target, &text_fields).await?;
        }
        let mut skipped = Vec::new();
        if let Some(wanted) = &fields.image_ids {
            let before = self.imgur.album(&album_id).await?;
            let held = imgur::album_summary(&before.data)
                .map(|a| a.image_ids())
                .unwrap_or_default();
            let to_add: Vec<ImageId> = wanted
                .iter()
                .filter(|id| !held.contains(&id.to_string()))
                .cloned()
                .collect();
            let to_remove: Vec<ImageId> = held
                .iter()
                .filter(|id| !wanted.iter().any(|w| w.as_str() == id.as_str()))
                .filter_map(|id| ImageId::parse(id).ok())
                .collect();
            if !to_add.is_empty() {
                let images = self.image_refs(&to_add).await;
                self.imgur.add_album_images(&target, &images).await?;
            }
            if !to_remove.is_empty() {
                self.imgur.remove_album_images(&target, &to_remove).await?;
            }
            let after = self.imgur.album(&album_id).await?;
            skipped = missing_from(&after.data, &to_add);
            return Ok(AlbumReply {
                id: album_id.to_string(),
                album: after,
                skipped,
                ledger: None,
            });
        }
        let album = self.imgur.album(&album_id).await?;
        Ok(AlbumReply {
            id: album_id.to_string(),
            album,
            skipped,
            ledger: None,
        })
    }

    /// Deletes an album (by id, by deletehash, or by id for an anonymous
    /// album the ledger knows) and records it; its images stay.
    pub async fn delete_album(&self, key: &AlbumId) -> Result<super::Deleted, Error> {
        let (target, entry) = self.change_key(ItemKind::Album, key.as_str()).await;
        let target = AlbumId::parse(&target).unwrap_or_else(|_| key.clone());
        let reply = self
            .changing_favorites(self.imgur.delete_album(&target))
            .await?;
        let ledger = match entry {
            Some(entry) => Some(self.ledger.mark_deleted(ItemKind::Album, &entry.id).await),
            None => None,
        };
        Ok(super::Deleted { reply, ledger })
    }

    /// Puts `images` into the album; those already in it are not sent.
    pub async fn add_album_images(
        &self,
        key: &AlbumId,
        images: &[ImageId],
    ) -> Result<ImagesAdded, Error> {
        let target = self.album_target(key).await;
        let album_id = self.album_id(key).await;
        let before = match self.imgur.album(&album_id).await {
            Ok(before) => Some(before),
            // An anonymous album named by a deletehash the ledger does not
            // know cannot be read; Imgur still takes the images.
            Err(Error {
                kind: ErrorKind::NotFound { .. },
                ..
            }) if target == album_id => None,
            Err(error) => return Err(error),
        };
        let missing: Vec<ImageId> = match &before {
            Some(before) => missing_from(&before.data, images)
                .iter()
                .filter_map(|id| ImageId::parse(id).ok())
                .collect(),
            None => images.to_vec(),
        };
        let already_present: Vec<String> = images
            .iter()
            .filter(|id| !missing.contains(id))
            .map(ImageId::to_string)
            .collect();
        let mut result = ImagesAdded {
            album: album_id.to_string(),
            added: Vec::new(),
            already_present,
            skipped: Vec::new(),
            unverified: Vec::new(),
            rate_limits: before.map(|b| b.rate_limits).unwrap_or_default(),
        };
        if missing.is_empty() {
            return Ok(result);
        }
        let refs = self.image_refs(&missing).await;
        let added = self.imgur.add_album_images(&target, &refs).await?;
        result.rate_limits = added.rate_limits;
        let after = match self.imgur.album(&album_id).await {
            Ok(after) => after,
            Err(_) => {
                result.unverified = missing.iter().map(ImageId::to_string).collect();
                return Ok(result);
            }
        };
        result.skipped = missing_from(&after.data, &missing);
        result.added = missing
            .iter()
            .map(ImageId::to_string)
            .filter(|id| !result.skipped.contains(id))
            .collect();
        result.rate_limits = after.rate_limits;
        Ok(result)
    }

    /// Takes one image out of the album (nothing if it is not in it).
    pub async fn remove_album_image(
        &self,
        key: &AlbumId,
        image: &ImageId,
    ) -> Result<Reply<()>, Error> {
        let target = self.album_target(key).await;
        self.imgur
            .remove_album_images(&target, std::slice::from_ref(image))
            .await
    }

    /// Makes the album's favorite state `favorited`, whatever it was: reads
    /// it, and toggles only when it differs (Imgur only offers a toggle).
    pub async fn set_album_favorite(
        &self,
        key: &AlbumId,
        favorited: bool,
    ) -> Result<Reply<bool>, Error> {
        // Favorites are the account's: anonymous mode is refused before the read.
        self.imgur.tokens().access_token().await?;
        let id = self.album_id(key).await;
        self.changing_favorites(async {
            let album = self.imgur.album(&id).await?;
            let current = imgur::album_summary(&album.data).and_then(|a| a.favorite);
            if current == Some(favorited) {
                return Ok(Reply {
                    data: favorited,
                    rate_limits: album.rate_limits,
                });
            }
            let toggled = self.imgur.toggle_album_favorite(&id).await?;
            if toggled.data == favorited {
                return Ok(toggled);
            }
            // The state changed under us between the read and the toggle.
            self.imgur.toggle_album_favorite(&id).await
        })
        .await
    }

    /// A page of the account's albums.
    pub async fn account_albums(&self, paging: Paging) -> Result<ListPage, Error> {
        let reply = self.imgur.account_albums(paging).await?;
        Ok(page_of(reply, paging))
    }

    /// A page of the account's images.
    pub async fn account_images(&self, paging: Paging) -> Result<ListPage, Error> {
        let reply = self.imgur.account_images(paging).await?;
        Ok(page_of(reply, paging))
    }

    /// How many images the account has.
    pub async fn account_images_count(&self) -> Result<Reply<u64>, Error> {
        self.imgur.account_images_count().await
    }

    /// A page of the ledger, newest first.
    pub async fn uploads(
        &self,
        anonymous: Option<bool>,
        paging: Paging,
    ) -> Result<Listed, LedgerError> {
        self.ledger
            .list(ListQuery {
                anonymous,
                offset: u64::from(paging.page) * u64::from(paging.per_page),
                limit: paging.per_page,
            })
            .await
    }

    /// After a video upload into `album`: Imgur has been seen to create the
    /// video without putting it in the album (ShareX #4737), so check and
    /// add it. Never fails the upload, which Imgur accepted.
    pub(super) async fn keep_video_in_album(&self, album: &str, id: &str, image: ImageRef) {
        let Ok(key) = AlbumId::parse(album) else {
            return;
        };
        let album_id = self.album_id(&key).await;
        if let Ok(read) = self.imgur.album(&album_id).await {
            let held = imgur::album_summary(&read.data)
                .map(|a| a.image_ids())
                .unwrap_or_default();
            if held.iter().any(|held| held == id) {
                return;
            }
        }
        let target = self.album_target(&key).await;
        match self.imgur.add_album_images(&target, &[image]).await {
            Ok(_) => {
                tracing::info!(album = %album_id, video = id, "Imgur did not put the uploaded video into its album; pixgate added it")
            }
            Err(error) => {
                tracing::warn!(%error, album = %album_id, video = id, "Imgur did not put the uploaded video into its album, and adding it failed")
            }
        }
    }

    /// How an album change names the album: its deletehash for an anonymous
    /// album the ledger knows by id, else `key`.
    async fn album_target(&self, key: &AlbumId) -> AlbumId {
        let (target, _) = self.change_key(ItemKind::Album, key.as_str()).await;
        AlbumId::parse(&target).unwrap_or_else(|_| key.clone())
    }

    /// The album's id: the ledger's, when `key` is a deletehash it knows.
    async fn album_id(&self, key: &AlbumId) -> AlbumId {
        self.ledger
            .find(ItemKind::Album, key.as_str())
            .await
            .and_then(|entry| AlbumId::parse(&entry.id).ok())
            .unwrap_or_else(|| key.clone())
    }

    /// How to name each image in an album change: by its deletehash when
    /// the ledger knows one and the id would not do, else by id.
    async fn image_refs(&self, ids: &[ImageId]) -> Vec<ImageRef> {
        let mut refs = Vec::with_capacity(ids.len());
        for id in ids {
            let (target, _) = self.change_key(ItemKind::Image, id.as_str()).await;
            refs.push(if target == id.as_str() {
                ImageRef::Id(id.clone())
            } else {
                ImageRef::Deletehash(target)
            });
        }
        refs
    }
}

fn page_of(reply: Reply<Bytes>, paging: Paging) -> ListPage {
    let full = imgur::list_len(&reply.data).is_some_and(|n| n >= paging.per_page as usize);
    ListPage { reply, full }
}
