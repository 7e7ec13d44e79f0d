//! Limits shared through Redis: one Lua script per call.
//!
//! The script reads the key's arrival time, runs the same GCRA step as
//! [`LocalLimiter`](super::LocalLimiter) on Redis's clock (`TIME`, so
//! servers with skewed clocks agree), and writes the new arrival time with
//! an expiry at that time: an idle key costs nothing. Being one script, the
//! step is atomic across any number of servers.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Client, Script};

use super::{Limits, LocalLimiter, key_digest, retry_after};
use crate::limits::{BoxFuture, Limited, RateLimiter};

/// GCRA on Redis's clock. KEYS[1]: the key; ARGV[1]: the interval (ms);
/// ARGV[2]: the period (ms). Returns 0 when allowed, else the wait in ms.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local nxt = tat + interval
local allow_at = nxt - period
if allow_at > now then
  return allow_at - now
end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', string.format('%.0f', nxt - now))
return 0
";

/// How long a call waits for Redis before the local fallback decides.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// Rate limits in Redis (see the [module](super) docs).
#[derive(Clone)]
pub struct RedisLimiter {
    conn: ConnectionManager,
    script: Arc<Script>,
    prefix: String,
    fallback: LocalLimiter,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.prefix)
            .field("limits", self.fallback.limits())
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// Connects to `url`; keys are `<prefix>:<bucket>:<digest>`.
    ///
    /// # Errors
    /// The URL is invalid or Redis does not answer.
    pub async fn connect(
        url: &str,
        prefix: &str,
        limits: Limits,
    ) -> Result<Self, redis::RedisError> {
        let client = Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(RedisLimiter {
            conn,
            script: Arc::new(Script::new(GCRA)),
            prefix: prefix.to_owned(),
            fallback: LocalLimiter::new(limits),
        })
    }

    async fn step(&self, bucket: &str, key: &str) -> Result<u64, redis::RedisError> {
        let Some(quota) = self.fallback.limits().quota(bucket) else {
            return Ok(0);
        };
        let redis_key = format!(
            "{}:{}:{}",
            self.prefix,
            bucket,
            hex::encode(key_digest(bucket, key))
        );
        let mut conn = self.conn.clone();
        self.script
            .key(redis_key)
            .arg(quota.interval_ms())
            .arg(quota.period_ms())
            .invoke_async(&mut conn)
            .await
    }

    /// Counts one call.
    ///
    /// # Errors
    /// [`Limited`] when the key is over its bucket's quota.
    pub async fn check_shared(&self, bucket: &str, key: &str) -> Result<(), Limited> {
        match tokio::time::timeout(REDIS_TIMEOUT, self.step(bucket, key)).await {
            Ok(Ok(0)) => Ok(()),
            Ok(Ok(wait_ms)) => Err(retry_after(wait_ms)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, bucket, "rate limit in Redis failed; limiting in process");
                self.fallback.check_now(bucket, key)
            }
            Err(_) => {
                tracing::warn!(bucket, "rate limit in Redis timed out; limiting in process");
                self.fallback.check_now(bucket, key)
            }
        }
    }
}

impl RateLimiter for RedisLimiter {
    fn check<'a>(&'a self, bucket: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), Limited>> {
        Box::pin(self.check_shared(bucket, key))
    }
}
