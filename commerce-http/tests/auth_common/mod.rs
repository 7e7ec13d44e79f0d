//! A shop for the accounts and auth tests: the router the binary serves, on
//! a port-0 socket, over a fresh SQLite file or a fresh PostgreSQL schema,
//! with cheap password hashing, a clock the test moves, and the account
//! mails read straight from the job queue (the secret travels only there).
//!
//! [`both!`] runs a scenario on SQLite and on PostgreSQL (in
//! `TEST_DATABASE_URL`; skipped with a message when it is unreachable,
//! a failure with `CI=true`).

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use commerce_core::clock::{Clock, FixedClock};
use commerce_core::storage::DynStore;
use commerce_http::AppState;
use commerce_http::auth::jwt::TokenKeys;
use commerce_http::auth::password::Passwords;
use commerce_http::config::Config;
use commerce_jobs::handlers::{ACCOUNT_MAIL, AccountMail, AccountMailKind};
use commerce_jobs::{AnyQueue, InProcessQueue, JobQueue};
use commerce_sqlx::{PgStore, SqliteStore};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// The database under the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A new SQLite file.
    Sqlite,
    /// A new schema in `TEST_DATABASE_URL`.
    Postgres,
}

/// Runs `async fn $name(backend: Backend)` on both backends.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::auth_common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::auth_common::Backend::Postgres).await;
            }
        }
    };
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn sqlite_path() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("commerce-http");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    dir.join(format!("{}.db", uuid::Uuid::new_v4().simple()))
}

async fn sqlite() -> DynStore {
    use sqlx::sqlite::SqliteConnectOptions;
    let options = commerce_sqlx::sqlite::options(
        SqliteConnectOptions::new()
            .filename(sqlite_path())
            .create_if_missing(true),
    );
    match SqliteStore::connect_with(options, 8).await {
        Ok(s) => DynStore::new(s),
        Err(e) => panic!("cannot open SQLite: {e}"),
    }
}

async fn postgres() -> Option<DynStore> {
    use sqlx::postgres::PgConnectOptions;
    use std::str::FromStr;
    let url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let base = PgConnectOptions::from_str(&url)
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL {url:?} is malformed: {e}"));
    let admin = match sqlx::PgPool::connect_with(base.clone()).await {
        Ok(pool) => pool,
        Err(e) if ci() => panic!("CI=true and PostgreSQL at {url} is unreachable: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: PostgreSQL at {url} is unreachable ({e}); set TEST_DATABASE_URL");
            return None;
        }
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let create = format!("CREATE SCHEMA {schema}");
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(create))
        .execute(&admin)
        .await
    {
        panic!("cannot create schema {schema}: {e}");
    }
    admin.close().await;
    let options = base.options([("search_path", schema.as_str())]);
    match PgStore::connect_with(options, 8).await {
        Ok(s) => Some(DynStore::new(s)),
        Err(e) => panic!("cannot connect or migrate: {e}"),
    }
}

/// `TEST_REDIS_URL`, or `None` (after saying so) when Redis is unreachable;
/// a failure with `CI=true`.
pub async fn redis_url() -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let reachable = match redis::Client::open(url.as_str()) {
        Ok(c) => tokio::time::timeout(Duration::from_secs(2), c.get_multiplexed_async_connection())
            .await
            .is_ok_and(|r| r.is_ok()),
        Err(_) => false,
    };
    if reachable {
        Some(url)
    } else if ci() {
        panic!("CI=true and Redis at {url} is unreachable");
    } else {
        eprintln!("SKIPPED: Redis at {url} is unreachable; set TEST_REDIS_URL");
        None
    }
}

/// A running shop.
pub struct Shop {
    /// `127.0.0.1:<port>`.
    pub addr: SocketAddr,
    /// The state the router was built from.
    pub state: AppState<DynStore>,
    /// The engine's clock (starts at the real now).
    pub clock: FixedClock,
    queue: Arc<AnyQueue>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Shop {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The parts of a shop before it is served, for tests that change them.
pub struct Parts {
    /// The state to serve.
    pub state: AppState<DynStore>,
    /// Its clock.
    pub clock: FixedClock,
    /// Its queue.
    pub queue: Arc<AnyQueue>,
}

/// Builds a shop's state on `backend` (`None`: skipped), with `config` changed by `configure`.
pub async fn parts(backend: Backend, configure: impl FnOnce(&mut Config)) -> Option<Parts> {
    let store = match backend {
        Backend::Sqlite => sqlite().await,
        Backend::Postgres => postgres().await?,
    };
    let mut config = Config::defaults();
    configure(&mut config);
    let now = Utc::now();
    let clock = FixedClock::new(
        chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now),
    );
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let settings = commerce_http::server::engine_config(&config).expect("engine config");
    let commerce =
        commerce_http::server::engine(Arc::new(store), Arc::clone(&shared), &config, settings);
    let queue = Arc::new(AnyQueue::InProcess(InProcessQueue::new(shared)));
    let tokens = TokenKeys::random(config.access_token_ttl);
    let state = AppState::new(
        commerce,
        config,
        tokens,
        Passwords::for_tests(),
        Arc::clone(&queue),
    );
    Some(Parts {
        state,
        clock,
        queue,
    })
}

impl Parts {
    /// Serves the router on a port-0 socket.
    pub async fn serve(self) -> Shop {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a port");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let filter = commerce_http::router(self.state.clone());
        tokio::spawn(async move {
            warp::serve(filter)
                .incoming(listener)
                .graceful(async {
                    let _ = stopped.await;
                })
                .run()
                .await;
        });
        Shop {
            addr,
            state: self.state,
            clock: self.clock,
            queue: self.queue,
            stop: Some(stop),
        }
    }
}

/// A shop with the default configuration (`None`: the backend is skipped).
pub async fn shop(backend: Backend) -> Option<Shop> {
    Some(parts(backend, |_| {}).await?.serve().await)
}

/// A shop with its configuration changed.
pub async fn shop_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Option<Shop> {
    Some(parts(backend, configure).await?.serve().await)
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Res {
    /// The status code.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Res {
    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The problem document's `code`.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }

    /// `(status, code)`, for asserting refusals.
    pub fn refusal(&self) -> (u16, String) {
        (self.status, self.code())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(body, b"\r\n") {
        let size = std::str::from_utf8(&body[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&body[start..(start + size).min(body.len())]);
        body = &body[(start + size + 2).min(body.len())..];
    }
    out
}

/// One HTTP/1.1 request over a new connection (`Connection: close`).
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Res {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write head");
    if let Some(b) = body {
        // A server may answer (413) and close before reading a large body.
        let _ = stream.write_all(b).await;
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let split = find(&raw, b"\r\n\r\n").unwrap_or_else(|| panic!("no answer head in {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Res {
        status,
        headers,
        body,
    }
}

impl Shop {
    /// A request with a JSON body (or none) and an optional bearer token.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Res {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        let bytes = body.map(|b| serde_json::to_vec(b).expect("json"));
        if bytes.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        send(self.addr, method, path, &headers, bytes.as_deref()).await
    }

    /// `GET`.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Res {
        self.call("GET", path, token, None).await
    }

    /// `POST` with a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Res {
        self.call("POST", path, token, Some(body)).await
    }

    /// `PATCH` with a JSON body.
    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Res {
        self.call("PATCH", path, token, Some(body)).await
    }

    /// `PUT` without a body.
    pub async fn put(&self, path: &str, token: Option<&str>) -> Res {
        self.call("PUT", path, token, None).await
    }

    /// `DELETE` without a body.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Res {
        self.call("DELETE", path, token, None).await
    }

    /// The next account mail to `email` in the queue (waits up to 10 s for
    /// it: some are enqueued by a task after the answer), acknowledged.
    pub async fn mail_to(&self, email: &str) -> AccountMail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let jobs = self
                .queue
                .reserve(16, Duration::from_secs(60), Duration::from_millis(200))
                .await
                .expect("reserve");
            let mut found = None;
            for job in jobs {
                let lease = job.lease();
                if job.kind == ACCOUNT_MAIL {
                    let mail: AccountMail = job.payload().expect("account mail payload");
                    if found.is_none() && mail.to.as_str() == email.to_lowercase() {
                        found = Some(mail);
                        self.queue.ack(&[lease]).await.expect("ack");
                        continue;
                    }
                }
                // Not the one: back in the queue at once.
                self.queue
                    .retry_after(lease, Duration::ZERO, "not this test's mail")
                    .await
                    .expect("release");
            }
            if let Some(mail) = found {
                return mail;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no account mail to {email}"
            );
        }
    }

    /// How many jobs wait in the queue.
    pub async fn queued(&self) -> u64 {
        self.queue.stats().await.expect("stats").ready
    }

    /// The token of the next verification or reset mail to `email`.
    pub async fn token_mailed_to(&self, email: &str) -> String {
        match self.mail_to(email).await.kind {
            AccountMailKind::Verify { token } | AccountMailKind::Reset { token } => token,
            other => panic!("expected a token mail, got {other:?}"),
        }
    }

    /// The code of the next sign-in mail to `email`.
    pub async fn code_mailed_to(&self, email: &str) -> String {
        match self.mail_to(email).await.kind {
            AccountMailKind::Otp { code } => code,
            other => panic!("expected a code mail, got {other:?}"),
        }
    }

    /// Registers an account (its verification mail is consumed); its profile.
    pub async fn register(&self, email: &str, password: &str) -> Value {
        let res = self
            .post(
                "/api/v1/auth/register",
                None,
                &serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(res.status, 201, "register {email}: {:?}", res.json());
        let _ = self.mail_to(email).await;
        res.json()["user"].clone()
    }

    /// Signs in; the token answer.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let res = self
            .post(
                "/api/v1/auth/login",
                None,
                &serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(res.status, 200, "login {email}: {:?}", res.json());
        res.json()
    }

    /// Registers and signs in; the access token.
    pub async fn customer(&self, email: &str) -> String {
        self.register(email, "correct horse battery").await;
        self.login(email, "correct horse battery").await["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// Makes an account an admin (as `create-admin` does) and signs it in;
    /// the access token.
    pub async fn admin(&self, email: &str) -> String {
        let account = commerce_http::admin::ensure_admin(
            &self.state.commerce,
            &self.state.passwords,
            email,
            secrecy::SecretString::from("admin password 1"),
        )
        .await
        .expect("admin");
        assert!(account.has_role(commerce_core::account::Role::Admin));
        self.login(email, "admin password 1").await["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }
}

/// A JSON string field.
pub fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
        .to_owned()
}

/// A product with one variant (`stock` units at 25.00 USD) in a new
/// seller's store, made through the engine; its product and variant ids.
pub async fn seed_product(
    shop: &Shop,
    stock: u32,
) -> (commerce_core::ids::ProductId, commerce_core::ids::VariantId) {
    use commerce_core::money::{Currency, Money};
    use commerce_core::service::{Actor, NewProduct, NewVariant};
    let c = &shop.state.commerce;
    let n = uuid::Uuid::new_v4().simple().to_string();
    let seller = c
        .register(&format!("seller-{n}@example.com"), None, None)
        .await
        .expect("seller");
    c.mark_email_verified(seller.id)
        .await
        .expect("verify seller");
    let store = c
        .create_seller_store(seller.id, "Seller", &format!("s-{}", &n[..12]))
        .await
        .expect("store");
    let (product, variants) = c
        .create_product(
            Actor {
                id: seller.id,
                admin: false,
            },
            NewProduct {
                store_id: store.id,
                category_id: None,
                name: "Linen shirt".into(),
                description: "A shirt".into(),
                images: vec![],
                variants: vec![NewVariant {
                    sku: format!("SKU-{}", &n[..10]),
                    attributes: Default::default(),
                    price: Money::from_minor(2500, Currency::USD),
                    compare_at: None,
                    stock,
                }],
            },
        )
        .await
        .expect("product");
    (product.id, variants[0].id)
}
