//! pixgate: a local REST gateway to Imgur.
//!
//! A request passes the edge checks first ([`api::edge`]: `Host`,
//! cross-origin, framing; then the API key), then flows `api` (route table,
//! parsing, problem+json) → [`gateway::Gateway`] (one operation per
//! endpoint) → [`cache`] (favorites), [`ledger`] (what was uploaded) and
//! [`imgur::ImgurClient`] (the only code that knows Imgur's wire format,
//! with the token owner (one task for the tokens), the token store and the credit guard
//! beside it).
//! [`startup`] builds the server the same way for `main`, `--demo` and the
//! tests; [`fake_imgur`] is the fake upstream both of those use.
//!
//! | module | what it is |
//! |---|---|
//! | [`config`] | command line and environment |
//! | [`cli`] | `pixgate login`, `logout`, `status`, `import`, `uploads` |
//! | [`startup`] | server construction and listening |
//! | [`api`] | edge checks, routes, handlers, OpenAPI, errors |
//! | [`gateway`] | the operations the API offers (albums in `gateway/albums.rs`) |
//! | [`cache`] | the favorites cache |
//! | [`fleet`] | state shared by replicas through Redis (`PIXGATE_REDIS_URL`): the connection and notifications, the token record and refresh lock, the ledger, the credit budget, the favorites tier |
//! | [`flight`] | single flight: one shared run, success or failure, per key |
//! | [`imgur`] | Imgur client, token owner (`tokens.rs`), token store (`token_store.rs`), wire format, credit guard |
//! | [`ledger`] | the upload ledger (SQLite): every upload and album made |
//! | [`metrics`] | Prometheus metrics |
//! | [`login`] | pending browser logins (OAuth `state`) |
//! | [`upload`] | the one upload type: spool, live stream and multipart encoder, limits, the upload budget |
//! | [`model`] | validated input types |
//! | [`fake_imgur`] | a fake Imgur speaking the real wire format |
//! | [`demo`] | `--demo`: the gateway in front of the fake |

pub mod api;
pub mod cache;
pub mod cli;
pub mod config;
pub mod demo;
pub mod fake_flickr;
pub mod fake_imgur;
pub mod fleet;
pub mod flickr;
pub mod flight;
pub mod gateway;
pub mod imgur;
pub mod ledger;
pub mod login;
pub mod metrics;
pub mod model;
pub mod secret;
pub mod startup;
pub mod upload;
