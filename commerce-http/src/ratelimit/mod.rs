//! Rate limits: how many calls a key (an account, an address) may make in a
//! bucket (`login_account`, `otp_ip`, the general `ip`, ...), and the warp
//! filters that apply them.
//!
//! Every bucket has a [`Quota`]: `burst` calls at once, refilled evenly over
//! `period` (the generic cell rate algorithm, GCRA: one timestamp per key,
//! the "theoretical arrival time" of the next call). Both backends run the
//! same algorithm:
//!
//! - [`LocalLimiter`]: in the process (the embedded default);
//! - [`RedisLimiter`]: one Lua script per call, atomic, on Redis's own
//!   clock, so several servers behind a load balancer share every limit.
//!   When Redis fails, it falls back to its own [`LocalLimiter`] and logs
//!   the failure: limits keep holding per server instead of vanishing.
//!
//! Keys are hashed (SHA-256, truncated) before they are stored, so neither
//! the process nor Redis holds a list of emails or addresses. IPv6
//! addresses count per /64 (what one subscriber usually gets).
//!
//! The defaults ([`Limits::default`]) are generous for many honest users
//! behind one NAT and tight for guessing: 40 wrong passwords on one account
//! within a minute meet a 429 after the tenth.

mod local;
mod redis;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use sha2::{Digest, Sha256};
use warp::{Filter, Rejection};

pub use local::LocalLimiter;
pub use redis::RedisLimiter;

use crate::error::ApiError;
use crate::limits::Limited;

/// A rate: `burst` calls at once, refilled evenly over `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Calls allowed at once (at least 1).
    pub burst: u32,
    /// The time over which `burst` calls are refilled.
    pub period: Duration,
}

impl Quota {
    /// `burst` calls per `period`.
    pub const fn new(burst: u32, period: Duration) -> Self {
        Quota { burst, period }
    }

    /// `n` calls per minute.
    pub const fn per_minute(n: u32) -> Self {
        Quota::new(n, Duration::from_secs(60))
    }

    /// The time one call takes to refill, in milliseconds (at least 1).
    pub fn interval_ms(&self) -> u64 {
        let period = u64::try_from(self.period.as_millis()).unwrap_or(u64::MAX);
        (period / u64::from(self.burst.max(1))).max(1)
    }

    /// The period in milliseconds (at least one interval).
    pub fn period_ms(&self) -> u64 {
        u64::try_from(self.period.as_millis())
            .unwrap_or(u64::MAX)
            .max(self.interval_ms())
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.burst, self.period.as_secs())
    }
}

/// A quota that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate limits are `off` or `bucket=N/PERIOD,...` (PERIOD like 30s, 1m, 1h): {0}")]
pub struct LimitsError(String);

impl FromStr for Quota {
    type Err = LimitsError;

    /// `10/1m`, `100/60s`, `5/15m`, `1000/1h`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || LimitsError(s.to_owned());
        let (n, period) = s.trim().split_once('/').ok_or_else(bad)?;
        let burst: u32 = n.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let split = period
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(period.len());
        let (num, unit) = period.split_at(split);
        let num: u64 = if num.is_empty() {
            1
        } else {
            num.parse().map_err(|_| bad())?
        };
        let secs = match unit {
            "s" => num,
            "m" | "" => num.checked_mul(60).ok_or_else(bad)?,
            "h" => num.checked_mul(3600).ok_or_else(bad)?,
            _ => return Err(bad()),
        };
        if burst == 0 || secs == 0 {
            return Err(bad());
        }
        Ok(Quota::new(burst, Duration::from_secs(secs)))
    }
}

/// The buckets the server checks. Each is limited per account (`*_account`,
/// keyed by the normalised email) or per client address (`*_ip`).
pub mod bucket {
    /// Every request but the ops endpoints, per address.
    pub const IP: &str = "ip";
    /// Password logins and password changes, per account.
    pub const LOGIN_ACCOUNT: &str = "login_account";
    /// Password logins, per address.
    pub const LOGIN_IP: &str = "login_ip";
    /// Registrations, per address.
    pub const REGISTER_IP: &str = "register_ip";
    /// One-time codes asked for or tried, per account.
    pub const OTP_ACCOUNT: &str = "otp_account";
    /// One-time codes asked for or tried, per address.
    pub const OTP_IP: &str = "otp_ip";
    /// Password-reset mails asked for, per account.
    pub const RESET_ACCOUNT: &str = "reset_account";
    /// Password-reset mails asked for and reset tokens tried, per address.
    pub const RESET_IP: &str = "reset_ip";
}

/// The quota of every bucket. A bucket with no quota is not limited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    quotas: BTreeMap<String, Quota>,
}

impl Default for Limits {
    /// | bucket | quota |
    /// | --- | --- |
    /// | `ip` | 1200 per minute |
    /// | `login_account` | 10 per minute |
    /// | `login_ip` | 100 per minute |
    /// | `register_ip` | 30 per minute |
    /// | `otp_account` | 10 per 15 minutes |
    /// | `otp_ip` | 60 per minute |
    /// | `reset_account` | 5 per 15 minutes |
    /// | `reset_ip` | 30 per minute |
    fn default() -> Self {
        let m = |n| Quota::new(n, Duration::from_secs(15 * 60));
        let quotas = [
            (bucket::IP, Quota::per_minute(1200)),
            (bucket::LOGIN_ACCOUNT, Quota::per_minute(10)),
            (bucket::LOGIN_IP, Quota::per_minute(100)),
            (bucket::REGISTER_IP, Quota::per_minute(30)),
            (bucket::OTP_ACCOUNT, m(10)),
            (bucket::OTP_IP, Quota::per_minute(60)),
            (bucket::RESET_ACCOUNT, m(5)),
            (bucket::RESET_IP, Quota::per_minute(30)),
        ]
        .into_iter()
        .map(|(b, q)| (b.to_owned(), q))
        .collect();
        Limits { quotas }
    }
}

impl Limits {
    /// No limits at all.
    pub fn off() -> Self {
        Limits {
            quotas: BTreeMap::new(),
        }
    }

    /// Sets one bucket's quota.
    #[must_use]
    pub fn with(mut self, bucket: &str, quota: Quota) -> Self {
        self.quotas.insert(bucket.to_owned(), quota);
        self
    }

    /// A bucket's quota.
    pub fn quota(&self, bucket: &str) -> Option<Quota> {
        self.quotas.get(bucket).copied()
    }

    /// Every bucket and its quota.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Quota)> {
        self.quotas.iter().map(|(b, q)| (b.as_str(), *q))
    }
}

impl FromStr for Limits {
    type Err = LimitsError;

    /// `off`, or overrides of the defaults: `login_account=5/1m,ip=off`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Limits::off());
        }
        let mut limits = Limits::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| LimitsError(part.to_owned()))?;
            let name = name.trim();
            if !limits.quotas.contains_key(name) {
                return Err(LimitsError(format!("unknown bucket {name}")));
            }
            if value.trim().eq_ignore_ascii_case("off") {
                limits.quotas.remove(name);
            } else {
                limits.quotas.insert(name.to_owned(), value.parse()?);
            }
        }
        Ok(limits)
    }
}

/// The stored form of a key: a digest, never the email or address itself.
pub(crate) fn key_digest(bucket: &str, key: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(bucket.as_bytes());
    h.update([0u8]);
    h.update(key.as_bytes());
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// What one GCRA step decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Allowed; the key's new arrival time (ms).
    Allow(u64),
    /// Refused; milliseconds until the next call may go.
    Wait(u64),
}

/// One GCRA step: the key's arrival time `tat` (ms; `None` for a new key) at `now`.
pub(crate) fn gcra(tat: Option<u64>, now: u64, quota: Quota) -> Step {
    let tat = tat.unwrap_or(now).max(now);
    let next = tat.saturating_add(quota.interval_ms());
    let allow_at = next.saturating_sub(quota.period_ms());
    if allow_at > now {
        Step::Wait(allow_at - now)
    } else {
        Step::Allow(next)
    }
}

/// Milliseconds as whole seconds for `Retry-After` (rounded up, at least 1).
pub(crate) fn retry_after(wait_ms: u64) -> Limited {
    Limited {
        retry_after_secs: wait_ms.div_ceil(1000).max(1),
    }
}

/// The key of a client address: the address, or its /64 for IPv6.
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The key of an account: its email as the account would store it (trimmed,
/// lower case), whether or not such an account exists, so that limits say
/// nothing about which accounts exist.
pub fn account_key(email: &str) -> String {
    let t = email.trim();
    // Bound what a client can make us hash.
    let t = t.char_indices().nth(320).map_or(t, |(i, _)| &t[..i]);
    t.to_lowercase()
}

/// The client's address: the socket's peer, or, behind `trusted_proxies`
/// proxies, the address the outermost trusted proxy saw (the
/// `trusted_proxies`-th entry from the right of `X-Forwarded-For`).
pub fn client_ip(
    trusted_proxies: usize,
) -> impl Filter<Extract = (Option<IpAddr>,), Error = Rejection> + Clone {
    warp::addr::remote()
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .map(move |peer: Option<SocketAddr>, xff: Option<String>| {
            resolve_ip(peer.map(|p| p.ip()), xff.as_deref(), trusted_proxies)
        })
}

fn resolve_ip(peer: Option<IpAddr>, xff: Option<&str>, trusted_proxies: usize) -> Option<IpAddr> {
    if trusted_proxies == 0 {
        return peer;
    }
    let hops: Vec<&str> = xff
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    // The last proxy appended the address it saw; each trusted one before it likewise.
    hops.len()
        .checked_sub(trusted_proxies)
        .and_then(|i| hops.get(i))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .or(peer)
}

/// The label of an unknown client address (tests without a socket).
const UNKNOWN_IP: &str = "unknown";

/// The key of an optional client address.
pub fn ip_key_of(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| UNKNOWN_IP.to_owned(), ip_key)
}

/// 429 `rate_limited` with `Retry-After`.
pub fn refused(limited: Limited) -> ApiError {
    ApiError::rate_limited(limited.retry_after_secs)
}

/// The general per-address limit, as a filter to put in front of routes.
pub fn per_ip<S: commerce_core::storage::Store + 'static>(
    state: crate::state::AppState<S>,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let trusted = state.config.auth.trusted_proxies;
    client_ip(trusted)
        .and_then(move |ip: Option<IpAddr>| {
            let state = state.clone();
            async move {
                state
                    .limiter
                    .check(bucket::IP, &ip_key_of(ip))
                    .await
                    .map_err(|l| warp::reject::custom(refused(l)))
            }
        })
        .untuple_one()
}

/// The prefix of rate-limit keys in Redis.
pub const REDIS_PREFIX: &str = "commerce:ratelimit";

/// The limiter a server runs with: in Redis when `REDIS_URL` is set (so
/// every server behind a load balancer shares the limits), else in process.
///
/// # Errors
/// Redis cannot be reached at start.
pub async fn from_config(
    config: &crate::config::Config,
) -> Result<std::sync::Arc<dyn crate::limits::RateLimiter>, String> {
    let limits = config.auth.rate_limits.clone();
    match config
        .redis_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        Some(url) => RedisLimiter::connect(url, REDIS_PREFIX, limits)
            .await
            .map(|l| std::sync::Arc::new(l) as std::sync::Arc<dyn crate::limits::RateLimiter>)
            .map_err(|e| format!("REDIS_URL (rate limits): {e}")),
        None => Ok(std::sync::Arc::new(LocalLimiter::new(limits))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse() {
        assert_eq!("10/1m".parse::<Quota>().unwrap(), Quota::per_minute(10));
        assert_eq!(
            "5/15m".parse::<Quota>().unwrap(),
            Quota::new(5, Duration::from_secs(900))
        );
        assert_eq!(
            "100/30s".parse::<Quota>().unwrap(),
            Quota::new(100, Duration::from_secs(30))
        );
        assert_eq!(
            "7/h".parse::<Quota>().unwrap(),
            Quota::new(7, Duration::from_secs(3600))
        );
        for bad in ["", "10", "0/1m", "10/0s", "x/1m", "10/1d", "-1/1m"] {
            assert!(bad.parse::<Quota>().is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_override_the_defaults() {
        let l: Limits = "login_account=3/1m, ip=off".parse().unwrap();
        assert_eq!(l.quota(bucket::LOGIN_ACCOUNT), Some(Quota::per_minute(3)));
        assert_eq!(l.quota(bucket::IP), None);
        assert_eq!(
            l.quota(bucket::LOGIN_IP),
            Limits::default().quota(bucket::LOGIN_IP)
        );
        assert_eq!("OFF".parse::<Limits>().unwrap(), Limits::off());
        assert!("nope=1/1m".parse::<Limits>().is_err());
        assert!("login_ip".parse::<Limits>().is_err());
    }

    #[test]
    fn gcra_allows_a_burst_then_one_call_per_interval() {
        let q = Quota::per_minute(10); // one call per 6 s
        let mut tat = None;
        for _ in 0..10 {
            match gcra(tat, 0, q) {
                Step::Allow(t) => tat = Some(t),
                Step::Wait(_) => panic!("refused within the burst"),
            }
        }
        assert_eq!(gcra(tat, 0, q), Step::Wait(6_000));
        assert_eq!(gcra(tat, 5_999, q), Step::Wait(1));
        assert!(matches!(gcra(tat, 6_000, q), Step::Allow(_)));
        // After a whole period of silence, the full burst is back.
        assert_eq!(gcra(tat, 60_000, q), Step::Allow(66_000));
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after(1).retry_after_secs, 1);
        assert_eq!(retry_after(1_000).retry_after_secs, 1);
        assert_eq!(retry_after(1_001).retry_after_secs, 2);
    }

    #[test]
    fn keys_group_ipv6_by_64_and_normalise_emails() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_eq!(ip_key("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
        assert_eq!(account_key(" Ada@Example.com "), "ada@example.com");
        assert_eq!(account_key(&"x".repeat(10_000)).len(), 320);
    }

    #[test]
    fn forwarded_for_is_read_only_behind_trusted_proxies() {
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let xff = Some("203.0.113.9, 198.51.100.7");
        assert_eq!(resolve_ip(Some(peer), xff, 0), Some(peer));
        assert_eq!(
            resolve_ip(Some(peer), xff, 1),
            Some("198.51.100.7".parse().unwrap())
        );
        assert_eq!(
            resolve_ip(Some(peer), xff, 2),
            Some("203.0.113.9".parse().unwrap())
        );
        // Fewer hops than trusted proxies: the header was not written by them.
        assert_eq!(resolve_ip(Some(peer), xff, 3), Some(peer));
        assert_eq!(resolve_ip(Some(peer), Some("not-an-ip"), 1), Some(peer));
    }
}
