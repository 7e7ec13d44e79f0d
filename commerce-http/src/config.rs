//! The server's configuration: every variable of the API's configuration
//! table, each also a command-line flag of the same name (`--bind`,
//! `--database-url`, ...). Flags win over the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use commerce_core::money::Currency;
use rust_decimal::Decimal;
use secrecy::SecretString;

/// The embedded default database: a SQLite file in the working folder.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://commerce.db?mode=rwc";

/// Where the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Environment {
    /// A laptop: a random JWT secret is accepted (with a warning), the sandbox
    /// gateway is on.
    #[default]
    Development,
    /// Production: refuses to start without `COMMERCE_JWT_SECRET`, and with
    /// the sandbox gateway on unless `COMMERCE_ALLOW_SANDBOX_IN_PRODUCTION` says so.
    Production,
}

/// On or off, as `COMMERCE_SANDBOX` takes it (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Switch {
    /// On.
    #[default]
    On,
    /// Off.
    Off,
}

/// Everything the server reads at start.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "COMMERCE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// `sqlite://...` (embedded) or `postgres://...` (production).
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// Redis for jobs and rate limits shared by several servers; unset: in-process.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// The prefix of every Redis key (several shops can share one Redis).
    #[arg(long, env = "COMMERCE_REDIS_PREFIX", default_value = "commerce:jobs")]
    pub redis_prefix: String,

    /// `development` or `production`.
    #[arg(long = "env", env = "COMMERCE_ENV", value_enum, ignore_case = true,
        default_value_t = Environment::Development)]
    pub environment: Environment,

    /// The HMAC key of access tokens (at least 32 bytes). Unset in
    /// development: a random one per start.
    #[arg(long, env = "COMMERCE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,

    /// How long an access token lives (`15m`, `900s`, `1h`).
    #[arg(long, env = "COMMERCE_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = parse_duration)]
    pub access_token_ttl: Duration,

    /// The shop's currency (ISO 4217).
    #[arg(long, env = "COMMERCE_CURRENCY", default_value = "USD", value_parser = parse_currency)]
    pub currency: Currency,

    /// How long checkout holds stock for payment.
    #[arg(long, env = "COMMERCE_RESERVATION_TTL", default_value = "15m", value_parser = parse_duration)]
    pub reservation_ttl: Duration,

    /// Available units at or below which a store owner is mailed.
    #[arg(long, env = "COMMERCE_LOW_STOCK_THRESHOLD", default_value_t = 3)]
    pub low_stock_threshold: u32,

    /// SMTP server; unset: mails are `.eml` files under `--mail-dir`.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Where mails are written when `SMTP_URL` is unset.
    #[arg(long, env = "COMMERCE_MAIL_DIR", default_value = "./mail")]
    pub mail_dir: PathBuf,

    /// The sandbox gateway's webhook secret (`whsec_sandbox` outside production).
    #[arg(long, env = "COMMERCE_SANDBOX_WEBHOOK_SECRET", hide_env_values = true)]
    pub sandbox_webhook_secret: Option<SecretString>,

    /// The sandbox gateway: `on` or `off`.
    #[arg(long, env = "COMMERCE_SANDBOX", value_enum, ignore_case = true, default_value_t = Switch::On)]
    pub sandbox: Switch,

    /// Lets a production server start with the sandbox gateway on.
    #[arg(long, env = "COMMERCE_ALLOW_SANDBOX_IN_PRODUCTION", value_parser = parse_flag,
        default_value = "false", num_args = 0..=1, default_missing_value = "true")]
    pub allow_sandbox_in_production: bool,

    /// The base of links in mails; default `http://<COMMERCE_BIND>`.
    #[arg(long, env = "COMMERCE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The tax rate, a decimal fraction (`0.2` for 20 %).
    #[arg(long, env = "COMMERCE_TAX_RATE", default_value = "0")]
    pub tax_rate: Decimal,

    /// Whether prices already include tax.
    #[arg(long, env = "COMMERCE_PRICES_INCLUDE_TAX", value_parser = parse_flag,
        default_value = "false", num_args = 0..=1, default_missing_value = "true")]
    pub prices_include_tax: bool,

    /// Seeds a demo catalog into an empty database (`1`/`0`); default on for
    /// the embedded SQLite default, off otherwise.
    #[arg(long, env = "COMMERCE_DEMO", value_parser = parse_flag)]
    pub demo: Option<bool>,

    /// An admin account created (or promoted) at start, with
    /// `COMMERCE_ADMIN_PASSWORD`.
    #[arg(long, env = "COMMERCE_ADMIN_EMAIL")]
    pub admin_email: Option<String>,

    /// The password of `COMMERCE_ADMIN_EMAIL`.
    #[arg(long, env = "COMMERCE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<SecretString>,

    /// Database connections per server (PostgreSQL): the pool for
    /// transactions, and as many again kept warm for single statements.
    #[arg(long, env = "COMMERCE_DB_CONNECTIONS", default_value_t = 16)]
    pub db_connections: u32,

    /// How long categories, promotions and shipping methods are kept in
    /// memory (`0` reads them for every cart). A change made through this
    /// server is seen at once; one made by another server within this time.
    #[arg(long, env = "COMMERCE_RULES_CACHE_TTL", default_value = "1s", value_parser = parse_duration)]
    pub rules_cache_ttl: Duration,

    /// How long shutdown waits for requests and jobs in flight.
    #[arg(long, env = "COMMERCE_SHUTDOWN_GRACE", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Accounts and auth: rate limits, proxies, sessions, password hashing.
    #[command(flatten)]
    pub auth: crate::auth::settings::AuthConfig,
}

impl Config {
    /// Whether this is a production server.
    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// Whether the database is the embedded default (SQLite).
    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    /// Whether the demo catalog is seeded into an empty database.
    pub fn demo_enabled(&self) -> bool {
        self.demo
            .unwrap_or(self.is_sqlite() && !self.is_production())
    }

    /// The base of links in mails and gateway returns, without a trailing slash.
    pub fn public_url(&self) -> String {
        self.public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| format!("http://{}", self.bind))
    }

    /// A configuration with every default, for tests and embedding
    /// (nothing is read from the environment).
    pub fn defaults() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            redis_url: None,
            redis_prefix: "commerce:jobs".to_owned(),
            environment: Environment::Development,
            jwt_secret: None,
            access_token_ttl: Duration::from_secs(15 * 60),
            currency: Currency::USD,
            reservation_ttl: Duration::from_secs(15 * 60),
            low_stock_threshold: 3,
            smtp_url: None,
            mail_dir: PathBuf::from("./mail"),
            sandbox_webhook_secret: None,
            sandbox: Switch::On,
            allow_sandbox_in_production: false,
            public_url: None,
            tax_rate: Decimal::ZERO,
            prices_include_tax: false,
            demo: None,
            admin_email: None,
            admin_password: None,
            db_connections: 16,
            rules_cache_ttl: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(20),
            auth: crate::auth::settings::AuthConfig::default(),
        }
    }

    /// Checks what must hold before the server starts.
    ///
    /// # Errors
    /// A message for the operator: production without a JWT secret, with the
    /// sandbox on (unless allowed), a short secret, a negative tax rate.
    pub fn check(&self) -> Result<(), String> {
        use secrecy::ExposeSecret;
        if let Some(secret) = &self.jwt_secret
            && secret.expose_secret().len() < 32
        {
            return Err("COMMERCE_JWT_SECRET must be at least 32 bytes".into());
        }
        if self.is_production() {
            if self.jwt_secret.is_none() {
                return Err("COMMERCE_ENV=production needs COMMERCE_JWT_SECRET".into());
            }
            if self.sandbox == Switch::On && !self.allow_sandbox_in_production {
                return Err("COMMERCE_ENV=production with the sandbox gateway on: set \
                     COMMERCE_SANDBOX=off, or COMMERCE_ALLOW_SANDBOX_IN_PRODUCTION=true \
                     to keep it on deliberately"
                    .into());
            }
            if self.sandbox == Switch::On && self.sandbox_webhook_secret.is_none() {
                return Err(
                    "the sandbox gateway in production needs COMMERCE_SANDBOX_WEBHOOK_SECRET"
                        .into(),
                );
            }
        }
        if self.tax_rate < Decimal::ZERO || self.tax_rate >= Decimal::ONE {
            return Err("COMMERCE_TAX_RATE must be a fraction in [0, 1)".into());
        }
        if self.access_token_ttl < Duration::from_secs(10) {
            return Err("COMMERCE_ACCESS_TOKEN_TTL must be at least 10s".into());
        }
        self.auth.check(self.is_production())
    }
}

/// Parses a duration: a number with an optional unit `ms`, `s`, `m`, `h`
/// (`15m`, `90s`, `1h`; a bare number is seconds).
///
/// # Errors
/// A message naming what is wrong.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}`: expected a number with ms, s, m or h"))?;
    let secs = match unit.trim() {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        other => return Err(format!("`{text}`: unknown unit `{other}` (ms, s, m, h)")),
    };
    secs.map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}`: too long"))
}

fn parse_currency(text: &str) -> Result<Currency, String> {
    Currency::from_code(text.trim()).map_err(|_| format!("`{text}` is not an ISO 4217 currency"))
}

fn parse_flag(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(format!("`{other}`: expected 1 or 0")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn production_refuses_a_missing_secret_and_the_sandbox() {
        let mut c = Config::defaults();
        c.environment = Environment::Production;
        assert!(c.check().unwrap_err().contains("COMMERCE_JWT_SECRET"));
        c.jwt_secret = Some(SecretString::from("x".repeat(32)));
        assert!(c.check().unwrap_err().contains("sandbox"));
        c.sandbox = Switch::Off;
        assert_eq!(c.check(), Ok(()));
        c.jwt_secret = Some(SecretString::from("short"));
        assert!(c.check().is_err());
    }

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn flags_take_the_usual_spellings() {
        use clap::Parser;
        let c = Cli::try_parse_from([
            "x",
            "--allow-sandbox-in-production",
            "1",
            "--prices-include-tax",
            "--sandbox",
            "OFF",
            "--env",
            "Production",
        ])
        .unwrap()
        .config;
        assert!(c.allow_sandbox_in_production && c.prices_include_tax);
        assert_eq!(
            (c.sandbox, c.environment),
            (Switch::Off, Environment::Production)
        );
        let c = Cli::try_parse_from(["x", "--allow-sandbox-in-production", "no"])
            .unwrap()
            .config;
        assert!(!c.allow_sandbox_in_production);
        assert!(Cli::try_parse_from(["x", "--prices-include-tax", "maybe"]).is_err());
    }

    #[test]
    fn demo_defaults_to_the_embedded_database_only() {
        let mut c = Config::defaults();
        assert!(c.demo_enabled());
        c.database_url = "postgres://db/shop".into();
        assert!(!c.demo_enabled());
        c.demo = Some(true);
        assert!(c.demo_enabled());
    }
}
