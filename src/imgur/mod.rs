//! Everything that knows Imgur: its wire format (`wire.rs`), its errors
//! ([`Error`]), the token manager ([`TokenManager`]) with its durable file
//! ([`TokenStore`]), and the client ([`ImgurClient`]). Another photo service
//! would get a sibling module; nothing outside this one sees Imgur's JSON.

mod client;
mod error;
mod token_store;
mod tokens;
mod wire;

pub use client::{ImgurClient, LiveAttempt, Reply};
pub use error::{Error, ErrorKind, RateLimits};
pub use token_store::{StoreError, StoredTokens, TokenStore};
pub use tokens::{Account, AuthStatus, Grant, Mode, TokenManager};
pub(crate) use wire::{image_deletehash, image_id, image_is_favorite};
