//! The Flickr routes: authorizing an account (`/flickr/auth/`) and the
//! verbs on photos and favorites (`/flickr/v1/`). Like the Imgur routes,
//! each handler parses its input, calls one
//! [`Gateway`](crate::gateway::Gateway) operation and maps the result;
//! without `FLICKR_API_KEY` every one answers 404 `provider-not-configured`.

pub mod auth;
pub mod photos;

/// The path prefix of every Flickr route.
pub const PREFIX: &str = "/flickr/";
