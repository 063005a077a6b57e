//! Validated input: what a request may ask for, checked once at the edge.

use serde::Deserialize;
use std::fmt;
use utoipa::ToSchema;

/// An Imgur image id or deletehash: 1 to 32 ASCII letters and digits. Anything
/// else (dots, slashes, percent signs, look-alike letters) never reaches Imgur.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageId(String);

/// Why an input was refused; the text is shown to the client.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

impl ImageId {
    pub const MAX_LEN: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.bytes().all(|b| b.is_ascii_alphanumeric());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidInput(format!(
                "image id must be 1 to {} ASCII letters and digits",
                Self::MAX_LEN
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Order of a favorites page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FavoritesSort {
    #[default]
    Newest,
    Oldest,
}

impl FavoritesSort {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Newest => "newest",
            Self::Oldest => "oldest",
        }
    }
}

/// How Imgur's authorize page answers: `token` (in the URL fragment; the
/// one Imgur recommends), `code` (in the query), or `pin` (shown to the user).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResponseType {
    #[default]
    Token,
    Code,
    Pin,
}

impl ResponseType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Code => "code",
            Self::Pin => "pin",
        }
    }
}

/// A title and/or description change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageUpdate {
    pub title: Option<String>,
    pub description: Option<String>,
}

impl ImageUpdate {
    /// Longest title or description accepted, in characters.
    pub const MAX_FIELD_LEN: usize = 64 * 1024;

    pub fn new(title: Option<String>, description: Option<String>) -> Result<Self, InvalidInput> {
        if title.is_none() && description.is_none() {
            return Err(InvalidInput(
                "send at least one of \"title\" and \"description\"".into(),
            ));
        }
        check_text_fields(&title, &description)?;
        Ok(Self { title, description })
    }
}

/// Refuses a title or description longer than [`ImageUpdate::MAX_FIELD_LEN`]
/// characters. Characters, not bytes: the OpenAPI `maxLength` a client
/// validates against counts characters.
fn check_text_fields(
    title: &Option<String>,
    description: &Option<String>,
) -> Result<(), InvalidInput> {
    for (name, value) in [("title", title), ("description", description)] {
        if value
            .as_ref()
            .is_some_and(|v| v.chars().count() > ImageUpdate::MAX_FIELD_LEN)
        {
            return Err(InvalidInput(format!(
                "\"{name}\" is longer than {} characters",
                ImageUpdate::MAX_FIELD_LEN
            )));
        }
    }
    Ok(())
}

/// An Imgur album id or an anonymous album's deletehash: the same rules as
/// [`ImageId`] (1 to 32 ASCII letters and digits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlbumId(String);

impl AlbumId {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        ImageId::parse(raw).map(|id| Self(id.0)).map_err(|_| {
            InvalidInput(format!(
                "album id must be 1 to {} ASCII letters and digits",
                ImageId::MAX_LEN
            ))
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AlbumId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who may see an album: Imgur's `privacy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Privacy {
    /// Listed on the account.
    Public,
    /// Unlisted: anyone with the link.
    Hidden,
    /// Only the owner.
    Secret,
}

impl Privacy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Hidden => "hidden",
            Self::Secret => "secret",
        }
    }
}

/// An album's fields for a create or an update; `None` leaves a field as
/// it is. `image_ids`, when sent, is the album's whole image list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlbumFields {
    pub title: Option<String>,
    pub description: Option<String>,
    pub privacy: Option<Privacy>,
    pub cover: Option<ImageId>,
    pub image_ids: Option<Vec<ImageId>>,
}

impl AlbumFields {
    /// Most images one request may name.
    pub const MAX_IMAGES: usize = 500;

    /// Validates raw fields: lengths, ids (duplicates are dropped, order kept).
    pub fn new(
        title: Option<String>,
        description: Option<String>,
        privacy: Option<Privacy>,
        cover: Option<String>,
        image_ids: Option<Vec<String>>,
    ) -> Result<Self, InvalidInput> {
        check_text_fields(&title, &description)?;
        let cover = cover
            .map(|c| {
                ImageId::parse(&c).map_err(|_| {
                    InvalidInput(
                        "\"cover\" must be an image id: 1 to 32 ASCII letters and digits".into(),
                    )
                })
            })
            .transpose()?;
        let image_ids = image_ids.map(image_list).transpose()?;
        Ok(Self {
            title,
            description,
            privacy,
            cover,
            image_ids,
        })
    }

    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.privacy.is_none()
            && self.cover.is_none()
            && self.image_ids.is_none()
    }
}

/// Validates a list of image ids: at most [`AlbumFields::MAX_IMAGES`], each
/// an [`ImageId`], duplicates dropped (the first one kept).
pub fn image_list(raw: Vec<String>) -> Result<Vec<ImageId>, InvalidInput> {
    if raw.len() > AlbumFields::MAX_IMAGES {
        return Err(InvalidInput(format!(
            "\"image_ids\" may name at most {} images",
            AlbumFields::MAX_IMAGES
        )));
    }
    let mut ids: Vec<ImageId> = Vec::with_capacity(raw.len());
    for id in raw {
        let id = ImageId::parse(&id).map_err(|_| {
            InvalidInput(format!(
                "\"image_ids\" holds {id:?}, which is not an image id (1 to 32 ASCII letters and digits)"
            ))
        })?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// One page of a list: `page` from 0, `per_page` items (1 to 100).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    pub page: u32,
    pub per_page: u32,
}

impl Paging {
    /// The last page number accepted.
    pub const MAX_PAGE: u32 = 100_000;
    /// Imgur's default page size.
    pub const DEFAULT_PER_PAGE: u32 = 50;
    /// Imgur's largest page size.
    pub const MAX_PER_PAGE: u32 = 100;

    pub fn new(page: Option<u32>, per_page: Option<u32>) -> Result<Self, InvalidInput> {
        let page = page.unwrap_or(0);
        let per_page = per_page.unwrap_or(Self::DEFAULT_PER_PAGE);
        if page > Self::MAX_PAGE {
            return Err(InvalidInput(format!(
                "\"page\" must be at most {}",
                Self::MAX_PAGE
            )));
        }
        if !(1..=Self::MAX_PER_PAGE).contains(&per_page) {
            return Err(InvalidInput(format!(
                "\"per_page\" must be 1 to {}",
                Self::MAX_PER_PAGE
            )));
        }
        Ok(Self { page, per_page })
    }

    /// The page after this one.
    pub fn next(self) -> Self {
        Self {
            page: self.page.saturating_add(1),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids_are_letters_and_digits_only() {
        for good in ["a", "AbC123", &"x".repeat(32)] {
            assert!(ImageId::parse(good).is_ok(), "{good:?} should be accepted");
        }
        let bad = [
            ("empty", ""),
            ("too long", &"x".repeat(33)),
            ("dot-dot", ".."),
            ("encoded dot-dot", "%2e%2e"),
            ("slash", "a/b"),
            ("encoded slash", "a%2Fb"),
            ("cyrillic look-alike", "аbc"),
            ("space", "a b"),
            ("query", "a?b=c"),
        ];
        for (case, raw) in bad {
            assert!(ImageId::parse(raw).is_err(), "{case} should be refused");
        }
    }

    #[test]
    fn album_fields_are_validated_and_image_ids_deduplicated() {
        let fields = AlbumFields::new(
            Some("t".into()),
            None,
            Some(Privacy::Hidden),
            Some("abc".into()),
            Some(vec!["a1".into(), "b2".into(), "a1".into()]),
        )
        .expect("valid");
        let ids: Vec<&str> = fields
            .image_ids
            .iter()
            .flatten()
            .map(ImageId::as_str)
            .collect();
        assert_eq!(ids, ["a1", "b2"]);
        assert!(AlbumFields::default().is_empty());
        let bad = [
            (
                "bad cover",
                AlbumFields::new(None, None, None, Some("a/b".into()), None),
            ),
            (
                "bad image id",
                AlbumFields::new(None, None, None, None, Some(vec!["..".into()])),
            ),
            (
                "too many images",
                AlbumFields::new(
                    None,
                    None,
                    None,
                    None,
                    Some(vec!["a".into(); AlbumFields::MAX_IMAGES + 1]),
                ),
            ),
            (
                "long title",
                AlbumFields::new(
                    Some("x".repeat(ImageUpdate::MAX_FIELD_LEN + 1)),
                    None,
                    None,
                    None,
                    None,
                ),
            ),
        ];
        for (case, result) in bad {
            assert!(result.is_err(), "{case} should be refused");
        }
    }

    #[test]
    fn paging_takes_pages_from_0_and_1_to_100_per_page() {
        assert_eq!(
            Paging::new(None, None).expect("defaults"),
            Paging {
                page: 0,
                per_page: 50
            }
        );
        assert_eq!(
            Paging::new(Some(2), Some(10)).expect("valid").next().page,
            3
        );
        for (case, page, per_page) in [
            ("0 per page", None, Some(0)),
            ("101 per page", None, Some(101)),
            ("page too far", Some(100_001), None),
        ] {
            assert!(
                Paging::new(page, per_page).is_err(),
                "{case} should be refused"
            );
        }
    }

    #[test]
    fn an_update_needs_a_field() {
        assert!(ImageUpdate::new(None, None).is_err());
        assert!(ImageUpdate::new(Some("t".into()), None).is_ok());
        assert!(ImageUpdate::new(None, Some("x".repeat(ImageUpdate::MAX_FIELD_LEN + 1))).is_err());
    }

    #[test]
    fn a_text_field_is_measured_in_characters_as_its_schema_says() {
        // Two bytes each in UTF-8: within maxLength, over it in bytes.
        let accented = "\u{e9}".repeat(ImageUpdate::MAX_FIELD_LEN);
        assert!(ImageUpdate::new(Some(accented.clone()), None).is_ok());
        assert!(AlbumFields::new(Some(accented), None, None, None, None).is_ok());
        let over = "\u{e9}".repeat(ImageUpdate::MAX_FIELD_LEN + 1);
        assert!(ImageUpdate::new(Some(over), None).is_err());
    }

    proptest::proptest! {
        #[test]
        fn an_id_is_accepted_exactly_when_it_is_1_to_32_letters_and_digits(raw in ".{0,40}") {
            let expected = (1..=32).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric());
            proptest::prop_assert_eq!(ImageId::parse(&raw).is_ok(), expected);
        }

        #[test]
        fn valid_ids_round_trip(raw in "[A-Za-z0-9]{1,32}") {
            proptest::prop_assert_eq!(ImageId::parse(&raw).map(|id| id.to_string()).ok(), Some(raw));
        }
    }
}
