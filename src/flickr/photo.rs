//! The gateway's view of a Flickr photo: one schema for every route,
//! whatever Flickr method it came from, plus the validated inputs that name
//! photos and pages. Only `wire.rs` builds a [`Photo`] from Flickr's JSON.

use crate::model::InvalidInput;
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

/// A Flickr photo.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"id": "53012345678", "title": "Harbour at dusk", "description": "Taken from the pier", "owner": "12345678@N00", "username": "demo", "datetime": 1700000000, "link": "https://www.flickr.com/photos/12345678@N00/53012345678/", "image_url": "https://live.staticflickr.com/65535/53012345678_1a2b3c4d5e.jpg", "is_public": true, "favorite": false}))]
pub struct Photo {
    /// Flickr's photo id (digits).
    pub id: String,
    /// `null` when the photo has no title.
    pub title: Option<String>,
    /// `null` when it has none; Flickr allows limited HTML.
    pub description: Option<String>,
    /// The owner's NSID, e.g. `12345678@N00`.
    pub owner: String,
    /// The owner's username, when Flickr sent it.
    pub username: Option<String>,
    /// When the photo was posted, Unix seconds (as Imgur's `datetime`).
    pub datetime: Option<u64>,
    /// The photo's page on Flickr.
    pub link: String,
    /// The 500-pixel image, built from server, id and secret as Flickr
    /// documents (`https://live.staticflickr.com/{server}/{id}_{secret}.jpg`).
    pub image_url: String,
    /// Whether anyone may see it.
    pub is_public: bool,
    /// Whether the authorized user has favorited it, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub favorite: Option<bool>,
}

/// One page of the user's favorites, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FavoritesPage {
    /// This page's number, from 1.
    pub page: u64,
    /// How many pages there are.
    pub pages: u64,
    /// Photos per page.
    pub per_page: u64,
    /// Favorites in all.
    pub total: u64,
    pub photos: Vec<Photo>,
}

/// A Flickr photo id: 1 to 20 ASCII digits. Anything else never reaches Flickr.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PhotoId(String);

impl PhotoId {
    pub const MAX_LEN: usize = 20;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if !raw.is_empty() && raw.len() <= Self::MAX_LEN && raw.bytes().all(|b| b.is_ascii_digit())
        {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidInput(format!(
                "a Flickr photo id is 1 to {} digits",
                Self::MAX_LEN
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhotoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A change of a photo's title and/or description (`flickr.photos.setMeta`):
/// at least one is set; one left out is not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaUpdate {
    title: Option<String>,
    description: Option<String>,
}

impl MetaUpdate {
    pub fn new(title: Option<String>, description: Option<String>) -> Result<Self, InvalidInput> {
        if title.is_none() && description.is_none() {
            return Err(InvalidInput(
                "set at least one of title and description".into(),
            ));
        }
        Ok(Self { title, description })
    }

    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
}

/// A page of a Flickr list: `page` from 1, `per_page` 1 to 500 (Flickr's maximum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageRequest {
    page: u32,
    per_page: u32,
}

impl PageRequest {
    /// Flickr's largest page.
    pub const MAX_PER_PAGE: u32 = 500;
    /// Flickr's default page size.
    pub const DEFAULT_PER_PAGE: u32 = 100;

    pub fn new(page: u32, per_page: u32) -> Result<Self, InvalidInput> {
        if page == 0 {
            return Err(InvalidInput("page starts at 1".into()));
        }
        if per_page == 0 || per_page > Self::MAX_PER_PAGE {
            return Err(InvalidInput(format!(
                "per_page must be 1 to {}",
                Self::MAX_PER_PAGE
            )));
        }
        Ok(Self { page, per_page })
    }

    pub fn page(self) -> u32 {
        self.page
    }

    pub fn per_page(self) -> u32 {
        self.per_page
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            page: 1,
            per_page: Self::DEFAULT_PER_PAGE,
        }
    }
}

/// A photo's 500-pixel image URL (Flickr's "Building image URLs": no
/// suffix is the one size every photo has with its own `secret`; the
/// larger `b` size exists only for some photos before May 2010).
pub fn image_url(server: &str, id: &str, secret: &str) -> String {
    format!("https://live.staticflickr.com/{server}/{id}_{secret}.jpg")
}

/// A photo's page when Flickr does not send one: `/photos/{owner}/{id}/`.
pub fn photo_page_url(owner: &str, id: &str) -> String {
    format!("https://www.flickr.com/photos/{owner}/{id}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_ids_are_digits_only() {
        assert!(PhotoId::parse("53012345678").is_ok());
        for bad in ["", "12a", "../1", "1 2", "%31", "１２", &"9".repeat(21)] {
            assert!(PhotoId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn page_requests_stay_within_flickrs_limits() {
        assert!(PageRequest::new(1, 500).is_ok());
        assert!(PageRequest::new(0, 10).is_err(), "page 0");
        assert!(PageRequest::new(1, 0).is_err(), "per_page 0");
        assert!(PageRequest::new(1, 501).is_err(), "per_page 501");
    }

    #[test]
    fn a_meta_update_needs_a_title_or_a_description() {
        assert!(MetaUpdate::new(None, None).is_err());
        assert!(
            MetaUpdate::new(Some(String::new()), None).is_ok(),
            "an empty title clears it"
        );
    }

    #[test]
    fn image_url_follows_flickrs_pattern() {
        assert_eq!(
            image_url("65535", "53012345678", "1a2b3c4d5e"),
            "https://live.staticflickr.com/65535/53012345678_1a2b3c4d5e.jpg"
        );
    }
}
