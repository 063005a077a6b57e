//! Everything that knows Flickr: OAuth 1.0a signing ([`signing`]), its
//! wire format (`wire.rs`, the only code that reads Flickr's JSON, XML and
//! form answers) and its errors ([`Error`]).

mod credentials;
mod error;
mod photo;
pub mod signing;
mod wire;

pub use credentials::{
    Authorization, LoginUser, Perms, RequestToken, Token, TokenCheck, UnknownPerms,
};
pub use error::{redact_base_string, Error};
pub use photo::{image_url, FavoritesPage, MetaUpdate, PageRequest, Photo, PhotoId};
