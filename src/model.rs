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
    /// Longest title or description accepted, in bytes.
    pub const MAX_FIELD_LEN: usize = 64 * 1024;

    pub fn new(title: Option<String>, description: Option<String>) -> Result<Self, InvalidInput> {
        if title.is_none() && description.is_none() {
            return Err(InvalidInput(
                "send at least one of \"title\" and \"description\"".into(),
            ));
        }
        for (name, value) in [("title", &title), ("description", &description)] {
            if value
                .as_ref()
                .is_some_and(|v| v.len() > Self::MAX_FIELD_LEN)
            {
                return Err(InvalidInput(format!(
                    "\"{name}\" is longer than {} bytes",
                    Self::MAX_FIELD_LEN
                )));
            }
        }
        Ok(Self { title, description })
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
    fn an_update_needs_a_field() {
        assert!(ImageUpdate::new(None, None).is_err());
        assert!(ImageUpdate::new(Some("t".into()), None).is_ok());
        assert!(ImageUpdate::new(None, Some("x".repeat(ImageUpdate::MAX_FIELD_LEN + 1))).is_err());
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
