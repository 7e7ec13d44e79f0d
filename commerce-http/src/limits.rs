//! Rate limits: the slot the server checks before costly or guessable calls.
//!
//! A [`RateLimiter`] answers, for a bucket (`login`, `otp`, `ip`, ...) and a
//! key (an account, an address), whether one more call may go now, or how
//! long to wait. The server holds one `Arc<dyn RateLimiter>` in its state;
//! [`Unlimited`] lets everything through.

use std::future::Future;
use std::pin::Pin;

/// A boxed future, so the limiter can be picked at run time.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The caller must wait this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited for {retry_after_secs} s")]
pub struct Limited {
    /// Seconds until one more call is allowed (at least 1).
    pub retry_after_secs: u64,
}

/// Decides whether a call may go.
pub trait RateLimiter: Send + Sync + std::fmt::Debug {
    /// Counts one call in `bucket` for `key`; `Err` when over the limit.
    fn check<'a>(&'a self, bucket: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), Limited>>;
}

/// No limits at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

impl RateLimiter for Unlimited {
    fn check<'a>(&'a self, _bucket: &'a str, _key: &'a str) -> BoxFuture<'a, Result<(), Limited>> {
        Box::pin(async { Ok(()) })
    }
}
