//! Albums and the account's own lists, on Imgur's wire (reference §6):
//! `/3/album/...` (an anonymous album is changed with `Client-ID` and its
//! deletehash in place of the id), `/3/account/me/albums/{page}` and
//! `/3/account/me/images/{page}` (`perPage` up to 100), and the images count.

use super::client::{toggled, Auth, ImgurClient, Reply};
use super::error::{Error, ErrorKind};
use super::wire;
use crate::model::{AlbumFields, AlbumId, ImageId, Paging};
use bytes::Bytes;
use reqwest::Method;

/// How a change names an image: by id (the account's own images) or by
/// deletehash (anonymous ones, which only their deletehash proves yours).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRef {
    Id(ImageId),
    Deletehash(String),
}

impl ImageRef {
    /// The form fields Imgur takes for a list of images: `ids[]` and
    /// `deletehashes[]`, repeated.
    fn fields(images: &[ImageRef]) -> Vec<(&'static str, String)> {
        images
            .iter()
            .map(|image| match image {
                ImageRef::Id(id) => ("ids[]", id.to_string()),
                ImageRef::Deletehash(hash) => ("deletehashes[]", hash.clone()),
            })
            .collect()
    }
}

/// The album's text fields as Imgur's form takes them.
fn album_form(fields: &AlbumFields) -> Vec<(&'static str, String)> {
    let mut form = Vec::new();
    if let Some(title) = &fields.title {
        form.push(("title", title.clone()));
    }
    if let Some(description) = &fields.description {
        form.push(("description", description.clone()));
    }
    if let Some(privacy) = fields.privacy {
        form.push(("privacy", privacy.as_str().to_owned()));
    }
    if let Some(cover) = &fields.cover {
        form.push(("cover", cover.to_string()));
    }
    form
}

fn no_data<T>(reply: Reply<T>) -> Reply<()> {
    Reply {
        data: (),
        rate_limits: reply.rate_limits,
    }
}

impl ImgurClient {
    /// `POST /3/album`: as the user in user mode, else an anonymous album
    /// (addressed later by its deletehash). Answers `{id, deletehash}`.
    pub async fn create_album(
        &self,
        fields: &AlbumFields,
        images: &[ImageRef],
    ) -> Result<Reply<Bytes>, Error> {
        let url = format!("{}/album", self.api_base());
        let mut form = album_form(fields);
        form.extend(ImageRef::fields(images));
        self.send(
            "create_album",
            Auth::Either,
            self.call_timeout(),
            || async { Ok(self.http().post(&url).form(&form)) },
        )
        .await
    }

    /// `GET /3/album/{id}`: the album with its images.
    pub async fn album(&self, id: &AlbumId) -> Result<Reply<Bytes>, Error> {
        let url = format!("{}/album/{id}", self.api_base());
        self.send("album", Auth::Either, self.call_timeout(), || {
            self.plain(Method::GET, &url)
        })
        .await
    }

    /// `PUT /3/album/{id or deletehash}` with the fields to change (not the
    /// images: `POST` there would replace them all).
    pub async fn update_album(
        &self,
        key: &AlbumId,
        fields: &AlbumFields,
    ) -> Result<Reply<()>, Error> {
        let url = format!("{}/album/{key}", self.api_base());
        let form = album_form(fields);
        self.send(
            "update_album",
            Auth::Either,
            self.call_timeout(),
            || async { Ok(self.http().put(&url).form(&form)) },
        )
        .await
        .map(no_data)
    }

    /// `DELETE /3/album/{id or deletehash}`.
    pub async fn delete_album(&self, key: &AlbumId) -> Result<Reply<()>, Error> {
        let url = format!("{}/album/{key}", self.api_base());
        self.send("delete_album", Auth::Either, self.call_timeout(), || {
            self.plain(Method::DELETE, &url)
        })
        .await
        .map(no_data)
    }

    /// `POST /3/album/{id or deletehash}/add`. Imgur skips, silently, images
    /// the caller cannot prove are theirs.
    pub async fn add_album_images(
        &self,
        key: &AlbumId,
        images: &[ImageRef],
    ) -> Result<Reply<()>, Error> {
        let url = format!("{}/album/{key}/add", self.api_base());
        let form = ImageRef::fields(images);
        self.send("album_add", Auth::Either, self.call_timeout(), || async {
            Ok(self.http().post(&url).form(&form))
        })
        .await
        .map(no_data)
    }

    /// `POST /3/album/{id or deletehash}/remove_images` with `ids[]`.
    pub async fn remove_album_images(
        &self,
        key: &AlbumId,
        ids: &[ImageId],
    ) -> Result<Reply<()>, Error> {
        let url = format!("{}/album/{key}/remove_images", self.api_base());
        let form: Vec<(&str, String)> = ids.iter().map(|id| ("ids[]", id.to_string())).collect();
        self.send(
            "album_remove",
            Auth::Either,
            self.call_timeout(),
            || async { Ok(self.http().post(&url).form(&form)) },
        )
        .await
        .map(no_data)
    }

    /// `POST /3/album/{id}/favorite`, Imgur's toggle; returns the new state.
    pub async fn toggle_album_favorite(&self, id: &AlbumId) -> Result<Reply<bool>, Error> {
        let url = format!("{}/album/{id}/favorite", self.api_base());
        let reply = self
            .send("album_favorite", Auth::User, self.call_timeout(), || {
                self.plain(Method::POST, &url)
            })
            .await?;
        toggled(reply)
    }

    /// `GET /3/account/me/albums/{page}?perPage=`: the account's albums.
    pub async fn account_albums(&self, paging: Paging) -> Result<Reply<Bytes>, Error> {
        self.account_list("albums", paging).await
    }

    /// `GET /3/account/me/images/{page}?perPage=`: the account's images.
    pub async fn account_images(&self, paging: Paging) -> Result<Reply<Bytes>, Error> {
        self.account_list("images", paging).await
    }

    async fn account_list(
        &self,
        what: &'static str,
        paging: Paging,
    ) -> Result<Reply<Bytes>, Error> {
        let url = format!(
            "{}/account/me/{what}/{}?perPage={}",
            self.api_base(),
            paging.page,
            paging.per_page
        );
        let endpoint = if what == "albums" {
            "account_albums"
        } else {
            "account_images"
        };
        self.send(endpoint, Auth::User, self.call_timeout(), || {
            self.plain(Method::GET, &url)
        })
        .await
    }

    /// `GET /3/account/me/images/count`.
    pub async fn account_images_count(&self) -> Result<Reply<u64>, Error> {
        let url = format!("{}/account/me/images/count", self.api_base());
        let reply = self
            .send(
                "account_images_count",
                Auth::User,
                self.call_timeout(),
                || self.plain(Method::GET, &url),
            )
            .await?;
        let count = wire::count(&reply.data).ok_or_else(|| Error {
            kind: ErrorKind::InvalidResponse {
                detail: "Imgur's image count was not a number".into(),
            },
            upstream_status: Some(200),
            rate_limits: reply.rate_limits.clone(),
        })?;
        Ok(Reply {
            data: count,
            rate_limits: reply.rate_limits,
        })
    }
}
