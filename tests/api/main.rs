//! Integration tests: the real gateway over HTTP against the fake Imgur.

mod helpers;
mod redis_server;

mod albums;
mod auth;
mod bench_properties;
mod browser;
mod cli;
mod crash;
mod credits;
mod docs;
mod edge;
mod errors;
mod fake_imgur;
mod faults;
mod favorites;
mod fleet_credits;
mod fleet_favorites;
mod fleet_ledger;
mod fleet_logins;
mod fleet_soak;
mod fleet_tokens;
mod flickr;
mod flickr_client;
mod images;
mod input;
mod ledger;
mod operations;
mod secrets;
mod soak;
mod token_owner;
mod tokens;
mod upload_budget;
