//! Everything that knows Flickr: OAuth 1.0a signing ([`signing`]), its
//! wire format (`wire.rs`, the only code that reads or writes Flickr's
//! JSON, XML and form answers), its errors ([`Error`]), the key's call
//! budget ([`CallBudget`]) and the client ([`FlickrClient`]). Nothing
//! outside this module sees Flickr's formats.
//!
//! A call flows: a [`FlickrClient`] method builds the arguments → its one
//! private `send` signs the URL it sends ([`signing::sign`]), counts the
//! call, sends it and sorts the answer → `wire.rs` parses the body into a
//! [`Photo`], [`FavoritesPage`], [`TokenCheck`], … or an [`Error`].

mod budget;
mod client;
mod config;
mod credentials;
mod error;
mod photo;
pub mod signing;
mod upload;
mod wire;

pub use budget::{BudgetSnapshot, CallBudget};
pub use client::{FavoriteChange, FlickrClient};
pub use config::FlickrConfig;
pub use credentials::{
    stored_perms, Authorization, LoginUser, Perms, RequestToken, Token, TokenCheck, UnknownPerms,
};
pub use error::{redact_base_string, Error};
pub use photo::{image_url, FavoritesPage, MetaUpdate, PageRequest, Photo, PhotoId};
pub use upload::{PhotoStream, PhotoUpload, SafetyLevel, UploadFields};
