//! Flickr's OAuth 1.0a credentials and what the three legs answer. Every
//! token and token secret is a [`Secret`]: `Debug` never shows one.

use crate::imgur::FlickrTokens;
use crate::secret::Secret;
use std::fmt;
use std::str::FromStr;

/// A token's permission level. `delete` includes `write`, which includes `read`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Perms {
    Read,
    Write,
    Delete,
}

impl Perms {
    /// The word Flickr uses (`perms=` on the authorize page, checkToken's `perms`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Delete => "delete",
        }
    }

    /// Whether a token with these perms may call a method needing `needed`.
    pub fn allows(self, needed: Perms) -> bool {
        self >= needed
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not one of `read`, `write`, `delete`.
#[derive(Debug, thiserror::Error)]
#[error("perms must be read, write or delete")]
pub struct UnknownPerms;

impl FromStr for Perms {
    type Err = UnknownPerms;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "delete" => Ok(Self::Delete),
            _ => Err(UnknownPerms),
        }
    }
}

/// A token and its secret: the request token of legs 1–3, or the user's
/// access token that signs every API call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub token: Secret,
    pub secret: Secret,
}

impl Token {
    pub fn new(token: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            token: Secret::new(token),
            secret: Secret::new(secret),
        }
    }
}

impl Token {
    /// The stored access token, to sign calls with.
    pub fn of(stored: &FlickrTokens) -> Self {
        Self {
            token: stored.token.clone(),
            secret: stored.token_secret.clone(),
        }
    }
}

/// The perms a stored token has, when they are a level Flickr knows.
pub fn stored_perms(stored: &FlickrTokens) -> Option<Perms> {
    stored.perms.as_deref().and_then(|p| p.parse().ok())
}

/// Leg 1's answer: the request token, to send the user to the authorize
/// page with, then to exchange once (it is single use). Its token appears
/// in the authorize URL; its secret never leaves the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestToken(pub Token);

/// Leg 3's answer: the user's access token and who the user is. It carries
/// no perms (Flickr's answer has none): they are the ones asked for, or
/// what [`TokenCheck`] says.
#[derive(Clone, Debug)]
pub struct Authorization {
    pub token: Token,
    pub user_nsid: String,
    pub username: String,
    pub fullname: String,
}

impl Authorization {
    /// What to store, with the perms that were asked for (Flickr's answer
    /// names none, and grants exactly what the authorize page asked).
    pub fn into_stored(self, asked: Perms) -> FlickrTokens {
        FlickrTokens {
            token: self.token.token,
            token_secret: self.token.secret,
            username: Some(self.username),
            user_nsid: Some(self.user_nsid),
            perms: Some(asked.as_str().to_owned()),
        }
    }
}

/// `flickr.auth.oauth.checkToken`'s answer: the token's perms and user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenCheck {
    pub perms: Perms,
    pub user_nsid: String,
    pub username: String,
    pub fullname: String,
}

impl TokenCheck {
    /// What to store for `token`, which this check is of.
    pub fn into_stored(self, token: Token) -> FlickrTokens {
        FlickrTokens {
            token: token.token,
            token_secret: token.secret,
            username: Some(self.username),
            user_nsid: Some(self.user_nsid),
            perms: Some(self.perms.as_str().to_owned()),
        }
    }
}

/// `flickr.test.login`'s answer: who the token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginUser {
    pub user_nsid: String,
    pub username: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perms_are_ordered_delete_over_write_over_read() {
        assert!(Perms::Delete.allows(Perms::Write));
        assert!(Perms::Write.allows(Perms::Read));
        assert!(!Perms::Write.allows(Perms::Delete));
        assert!(!Perms::Read.allows(Perms::Write));
        assert_eq!("delete".parse::<Perms>().ok(), Some(Perms::Delete));
        assert!("admin".parse::<Perms>().is_err());
    }

    #[test]
    fn tokens_never_show_in_debug() {
        let token = Token::new("72157626737672178-022bbd2f4c2f3432", "fccb68c4e6103197");
        let shown = format!("{token:?}");
        assert!(!shown.contains("72157626737672178"), "{shown}");
        assert!(!shown.contains("fccb68c4e6103197"), "{shown}");
    }
}
