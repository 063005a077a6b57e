//! Everything that knows Flickr.

pub mod signing;
