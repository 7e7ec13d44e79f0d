//! The in-process limiter: one arrival time per bucket and key, in a map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use commerce_core::clock::{Clock, SystemClock};

use super::{Limits, Step, gcra, key_digest, retry_after};
use crate::limits::{BoxFuture, Limited, RateLimiter};

/// Past this many keys, a check first drops the keys whose arrival time has
/// passed (they are back to a full burst, as if never seen).
const PRUNE_AT: usize = 100_000;

/// Rate limits held in this process (see the [module](super) docs).
#[derive(Debug, Clone)]
pub struct LocalLimiter {
    limits: Arc<Limits>,
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<HashMap<[u8; 16], u64>>>,
}

impl LocalLimiter {
    /// A limiter with these quotas, on the system clock.
    pub fn new(limits: Limits) -> Self {
        LocalLimiter::with_clock(limits, Arc::new(SystemClock))
    }

    /// A limiter telling time by `clock` (tests move a `FixedClock`).
    pub fn with_clock(limits: Limits, clock: Arc<dyn Clock>) -> Self {
        LocalLimiter {
            limits: Arc::new(limits),
            clock,
            state: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The quotas.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.now().timestamp_millis()).unwrap_or(0)
    }

    /// Counts one call (synchronously).
    ///
    /// # Errors
    /// [`Limited`] when the key is over its bucket's quota.
    pub fn check_now(&self, bucket: &str, key: &str) -> Result<(), Limited> {
        let Some(quota) = self.limits.quota(bucket) else {
            return Ok(());
        };
        let now = self.now_ms();
        let digest = key_digest(bucket, key);
        let mut map = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= PRUNE_AT {
            map.retain(|_, tat| *tat > now);
        }
        match gcra(map.get(&digest).copied(), now, quota) {
            Step::Allow(tat) => {
                map.insert(digest, tat);
                Ok(())
            }
            Step::Wait(ms) => Err(retry_after(ms)),
        }
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RateLimiter for LocalLimiter {
    fn check<'a>(&'a self, bucket: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), Limited>> {
        let result = self.check_now(bucket, key);
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{TimeZone, Utc};
    use commerce_core::clock::FixedClock;

    use super::super::{Quota, bucket};
    use super::*;

    fn limiter() -> (LocalLimiter, FixedClock) {
        let clock = FixedClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let limits = Limits::off().with(bucket::LOGIN_ACCOUNT, Quota::per_minute(10));
        (
            LocalLimiter::with_clock(limits, Arc::new(clock.clone())),
            clock,
        )
    }

    #[test]
    fn forty_tries_in_a_minute_meet_a_429_with_retry_after() {
        let (l, clock) = limiter();
        let mut refused = Vec::new();
        for i in 0..40 {
            if let Err(e) = l.check_now(bucket::LOGIN_ACCOUNT, "ada@example.com") {
                refused.push((i, e.retry_after_secs));
            }
            clock.advance(chrono::Duration::milliseconds(1_500));
        }
        // A burst of 10 plus one per 6 s: 58.5 s of tries let 19 through;
        // the burst runs out at the 14th try.
        assert_eq!(refused.first().map(|r| r.0), Some(13));
        assert_eq!(refused.len(), 40 - 19);
        assert!(
            refused.iter().all(|r| (1..=6).contains(&r.1)),
            "{refused:?}"
        );
    }

    #[test]
    fn keys_and_buckets_are_apart_and_unlimited_buckets_pass() {
        let (l, _clock) = limiter();
        for _ in 0..10 {
            l.check_now(bucket::LOGIN_ACCOUNT, "a@example.com").unwrap();
        }
        assert!(l.check_now(bucket::LOGIN_ACCOUNT, "a@example.com").is_err());
        assert!(l.check_now(bucket::LOGIN_ACCOUNT, "b@example.com").is_ok());
        for _ in 0..100 {
            l.check_now(bucket::IP, "127.0.0.1").unwrap();
        }
    }

    #[test]
    fn a_quiet_key_gets_its_burst_back() {
        let (l, clock) = limiter();
        for _ in 0..10 {
            l.check_now(bucket::LOGIN_ACCOUNT, "a@example.com").unwrap();
        }
        assert!(l.check_now(bucket::LOGIN_ACCOUNT, "a@example.com").is_err());
        clock.advance(chrono::Duration::from_std(Duration::from_secs(60)).unwrap());
        for _ in 0..10 {
            l.check_now(bucket::LOGIN_ACCOUNT, "a@example.com").unwrap();
        }
    }
}
