//! Staging: putting a saved JPEG at a URL Instagram's servers can fetch.

pub mod s3;
pub mod serve;

use futures_util::future::BoxFuture;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Worth retrying: network trouble, a 5xx, a timeout.
    #[error("media host unreachable: {0}")]
    Transient(String),
    /// Needs a person: bad credentials, missing bucket, bad settings.
    #[error("media host refused: {0}")]
    Refused(String),
    #[error("cannot read the photo file: {0}")]
    Io(#[from] std::io::Error),
}

/// Where staged photos live. Narrow on purpose: stage, hand out a URL, clean up.
pub trait MediaHost: Send + Sync {
    /// Puts the JPEG at `path` where Instagram can fetch it, under `key` (its sha256).
    /// Idempotent: staging the same key twice is harmless.
    fn stage<'a>(&'a self, key: &'a str, path: &'a Path) -> BoxFuture<'a, Result<(), MediaError>>;
    /// The URL to hand Instagram for `key`, valid for at least the next few minutes.
    fn public_url<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<String, MediaError>>;
    /// Removes `key` once its photo is published. Best effort.
    fn unstage<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), MediaError>>;
}

/// Keys are sha256 hex digests; accepting nothing else keeps them safe as file and object names.
pub(crate) fn is_valid_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
