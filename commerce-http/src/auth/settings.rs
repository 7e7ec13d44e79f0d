//! The accounts-and-auth part of the configuration: rate limits, the client
//! address behind proxies, session lifetimes and password hashing. Each is
//! an environment variable and a flag of the same name, like the rest of
//! [`Config`].

use std::time::Duration;

use clap::{Args, ValueEnum};
use secrecy::ExposeSecret;

use super::credentials::{Credentials, Lifetimes};
use super::otp::OtpKey;
use super::password::{Isolation, Passwords, Yielding};
use crate::config::{Config, parse_duration};
use crate::ratelimit::Limits;

/// How passwords are hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PasswordHashing {
    /// argon2id with OWASP's parameters: m = 19 MiB, t = 2, p = 1.
    #[default]
    Owasp,
    /// argon2id at m = 1 MiB, t = 1: for test suites only; a production
    /// server refuses to start with it.
    Test,
}

/// Where password hashes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum HashingIsolation {
    /// In worker processes of this program, each (on Linux) in a
    /// scheduling group of its own at `nice` 19, so that hashes take only
    /// the CPU that the shop and its database leave even where the kernel
    /// groups processes by session (autogroups). Needs
    /// [`serve_if_worker`](super::password::serve_if_worker) first in
    /// `main`, as `commerce-server` has; without it, threads.
    #[default]
    Process,
    /// On threads of the server's own process.
    Thread,
}

/// Accounts and auth settings.
#[derive(Debug, Clone, Args)]
pub struct AuthConfig {
    /// Rate limits: `off`, or overrides of the defaults such as
    /// `login_account=10/1m,login_ip=100/1m,ip=1200/1m` (see docs/auth.md
    /// for every bucket).
    #[arg(long, env = "COMMERCE_RATE_LIMITS", default_value = "", value_parser = parse_limits)]
    pub rate_limits: Limits,

    /// How many proxies in front of the server append to `X-Forwarded-For`
    /// (0: the socket's peer is the client).
    #[arg(long, env = "COMMERCE_TRUSTED_PROXIES", default_value_t = 0)]
    pub trusted_proxies: usize,

    /// How long a refresh token lives unused (each rotation renews it).
    #[arg(long, env = "COMMERCE_REFRESH_TOKEN_TTL", default_value = "30d", value_parser = parse_days)]
    pub refresh_token_ttl: Duration,

    /// `owasp` (argon2id m=19 MiB, t=2, p=1) or `test` (cheap; refused in production).
    #[arg(long, env = "COMMERCE_PASSWORD_HASHING", value_enum, default_value_t = PasswordHashing::Owasp)]
    pub password_hashing: PasswordHashing,

    /// The server is busy while more requests than this are in flight
    /// (those waiting for a password hash aside); while it is, password
    /// hashes yield. Default: one per core.
    #[arg(long, env = "COMMERCE_HASHING_BUSY_ABOVE")]
    pub hashing_busy_above: Option<usize>,

    /// While the server is busy, password hashes take at most this share of
    /// one thread, in percent (1–100; 100: they never yield).
    #[arg(long, env = "COMMERCE_HASHING_SHARE_WHEN_BUSY", default_value_t = 10,
        value_parser = clap::value_parser!(u8).range(1..=100))]
    pub hashing_share_when_busy: u8,

    /// Where password hashes run: `process` (worker processes at the lowest
    /// scheduling weight) or `thread` (inside the server).
    #[arg(long, env = "COMMERCE_HASHING_ISOLATION", value_enum, default_value_t = HashingIsolation::Process)]
    pub hashing_isolation: HashingIsolation,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            rate_limits: Limits::default(),
            trusted_proxies: 0,
            refresh_token_ttl: Lifetimes::default().refresh,
            password_hashing: PasswordHashing::Owasp,
            hashing_busy_above: None,
            hashing_share_when_busy: 10,
            hashing_isolation: HashingIsolation::Process,
        }
    }
}

impl AuthConfig {
    /// The password hasher, at most `concurrent` hashes at once (one per
    /// core), yielding as configured.
    pub fn passwords(&self, concurrent: usize) -> Passwords {
        match self.password_hashing {
            PasswordHashing::Owasp => Passwords::isolated(
                Passwords::owasp_params(),
                concurrent,
                self.yielding(concurrent),
                &self.isolation(),
            ),
            PasswordHashing::Test => Passwords::for_tests(),
        }
    }

    /// Where hashes run.
    pub fn isolation(&self) -> Isolation {
        match self.hashing_isolation {
            HashingIsolation::Process => Isolation::this_program(),
            HashingIsolation::Thread => Isolation::Threads,
        }
    }

    /// How hashes yield on a server of `cores` cores.
    pub fn yielding(&self, cores: usize) -> Yielding {
        let default = Yielding::for_cores(cores);
        Yielding {
            busy_above: self.hashing_busy_above.unwrap_or(default.busy_above),
            share_percent: self.hashing_share_when_busy,
            ..default
        }
    }

    /// Checks what must hold before a production server starts.
    ///
    /// # Errors
    /// A message for the operator.
    pub fn check(&self, production: bool) -> Result<(), String> {
        if production && self.password_hashing == PasswordHashing::Test {
            return Err("COMMERCE_PASSWORD_HASHING=test is refused in production".into());
        }
        if self.refresh_token_ttl < Duration::from_secs(60) {
            return Err("COMMERCE_REFRESH_TOKEN_TTL must be at least 1m".into());
        }
        Ok(())
    }
}

/// The credential rules' settings for a server: the code key derives from
/// `COMMERCE_JWT_SECRET` (so every server sharing it verifies the others'
/// codes), or is random when it is unset (development).
pub fn credentials(config: &Config) -> Credentials {
    let key = match &config.jwt_secret {
        Some(secret) => OtpKey::derive(secret.expose_secret().as_bytes()),
        None => OtpKey::random().unwrap_or_else(|_| {
            // No system randomness: fall back on a per-process UUID v4
            // (itself random); codes still never outlive the process.
            OtpKey::derive(uuid::Uuid::new_v4().as_bytes())
        }),
    };
    Credentials::new(
        key,
        Lifetimes {
            refresh: config.auth.refresh_token_ttl,
            ..Lifetimes::default()
        },
    )
}

fn parse_limits(text: &str) -> Result<Limits, String> {
    text.parse()
        .map_err(|e: crate::ratelimit::LimitsError| e.to_string())
}

/// A duration that also takes days (`30d`).
fn parse_days(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    match t.strip_suffix('d') {
        Some(days) => days
            .parse::<u64>()
            .ok()
            .and_then(|d| d.checked_mul(24 * 3600))
            .map(Duration::from_secs)
            .ok_or_else(|| format!("`{text}`: expected a number of days")),
        None => parse_duration(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::{Quota, bucket};

    #[test]
    fn settings_parse_and_production_refuses_cheap_hashing() {
        assert_eq!(parse_days("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_days("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_days("xd").is_err());
        let limits = parse_limits("login_account=3/1m").unwrap();
        assert_eq!(
            limits.quota(bucket::LOGIN_ACCOUNT),
            Some(Quota::per_minute(3))
        );
        assert_eq!(parse_limits("").unwrap(), Limits::default());
        let mut a = AuthConfig::default();
        assert_eq!(a.check(true), Ok(()));
        a.password_hashing = PasswordHashing::Test;
        assert!(a.check(true).is_err());
        assert_eq!(a.check(false), Ok(()));
    }
}
