//! Everything that knows Imgur: its wire format (`wire.rs`), its errors
//! ([`Error`]), the token owner ([`TokenOwner`]) with its store
//! ([`TokenStore`], the file: [`FileStore`]), the client ([`ImgurClient`]; albums and the account's
//! lists in `albums.rs`) and the credit guard (`credits.rs`). Another photo service
//! would get a sibling module; nothing outside this one sees Imgur's JSON.

mod albums;
mod client;
pub(crate) mod credits;
mod error;
pub(crate) mod token_store;
mod tokens;
mod wire;

pub use albums::ImageRef;
pub use client::{ImgurClient, LiveAttempt, Reply};
pub use credits::{BudgetView, CreditBudget, Reserve};
pub use error::{Error, ErrorKind, RateLimits};
pub use token_store::{
    FileStore, FlickrTokens, StoreError, StoreLock, StoreWatch, StoredTokens, TokenStore,
};
pub use tokens::{logout_stored, save_flickr_stored, Account, AuthStatus, Grant, Mode, TokenOwner};
pub(crate) use wire::{
    album_created, album_summary, image_is_favorite, image_summary, list_len, with_deletehash,
};
