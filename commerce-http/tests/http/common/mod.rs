//! The test harness every HTTP test uses: a server on a port-0 listener,
//! serving exactly the router the binary serves (`commerce_http::router`
//! over a `DynStore`), on a fresh SQLite file or a fresh PostgreSQL schema,
//! with the job worker, relay and sweeps running and mails recorded; a
//! small HTTP/1 client over a real socket; and accounts with tokens.
//!
//! `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`):
//! without PostgreSQL the PostgreSQL variant prints `SKIPPED` and passes,
//! unless `CI=true`, where it fails.

#![allow(dead_code, unreachable_pub)]

pub mod cart;
#[macro_use]
pub mod orders;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use commerce_core::account::{Account, Role};
use commerce_core::clock::{Clock, FixedClock, SystemClock};
use commerce_core::ids::{ProductId, VariantId};
use commerce_core::storage::DynStore;
use commerce_http::auth::password::Passwords;
use commerce_http::config::Config;
use commerce_http::{AppState, server, telemetry};
use commerce_jobs::handlers::{ACCOUNT_MAIL, AccountMail, AccountMailKind};
use commerce_jobs::mail::RecordingMailer;
use commerce_jobs::{AnyQueue, JobQueue};
use commerce_sqlx::{PgStore, SqliteStore};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::HeaderMap;
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use tokio::sync::oneshot;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    /// A new SQLite file.
    Sqlite,
    /// A new schema in `TEST_DATABASE_URL`.
    Postgres,
}

/// Runs an async test body on SQLite and on PostgreSQL, as two tests.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(s) = $crate::common::TestServer::start($crate::common::Db::Sqlite).await {
                        super::$name(&s).await;
                        s.stop().await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(s) = $crate::common::TestServer::start($crate::common::Db::Postgres).await {
                        super::$name(&s).await;
                        s.stop().await;
                    }
                }
            )*
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

async fn pg_schema() -> Option<PgConnectOptions> {
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
    let schema = format!("h_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot create schema {schema}: {e}"));
    admin.close().await;
    Some(base.options([("search_path", schema.as_str())]))
}

/// A store on a fresh database; `None` when PostgreSQL is missing outside CI.
pub async fn open(db: Db) -> Option<DynStore> {
    match db {
        Db::Sqlite => {
            let options = commerce_sqlx::sqlite::options(
                SqliteConnectOptions::new()
                    .filename(sqlite_path())
                    .create_if_missing(true),
            );
            let store = SqliteStore::connect_with(options, 8)
                .await
                .unwrap_or_else(|e| panic!("cannot open SQLite: {e}"));
            Some(DynStore::new(store))
        }
        Db::Postgres => {
            let options = pg_schema().await?;
            let store = PgStore::connect_with(options, 8)
                .await
                .unwrap_or_else(|e| panic!("cannot connect or migrate: {e}"));
            Some(DynStore::new(store))
        }
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Resp {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem's `code` (asserting problem+json).
    pub fn code(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "status {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }

    /// `(status, code)`, for asserting refusals.
    pub fn refusal(&self) -> (u16, String) {
        (self.status, self.code())
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }
}

/// One HTTP/1.1 request over a new connection.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Resp {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .unwrap_or_else(|e| panic!("handshake: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|e| panic!("request: {e}"));
    let res = sender
        .send_request(req)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}

/// A signed-in test account.
#[derive(Debug, Clone)]
pub struct User {
    /// The account.
    pub account: Account,
    /// A valid access token.
    pub token: String,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.signal_shutdown();
    }
}

/// A change to a server's state before it is served.
pub type StateTweak = Box<dyn FnOnce(&mut AppState<DynStore>) + Send>;

/// How a test server is put together, before it starts.
pub struct Setup {
    /// The configuration (rate limits, TTLs...).
    pub config: Config,
    /// A clock the test moves ([`TestServer::advance_clock`]); `false`: the system clock.
    pub fixed_clock: bool,
    /// Run the job worker, the outbox relay and the sweeps. Off, jobs stay
    /// in the queue, where [`TestServer::mail_to`] reads the account mails.
    pub background: bool,
    /// Changes the state before it is served (a shared rate limiter, say).
    pub tweak: Option<StateTweak>,
}

impl Setup {
    /// The default: system clock, background work running.
    pub fn new(config: Config) -> Setup {
        Setup {
            config,
            fixed_clock: false,
            background: true,
            tweak: None,
        }
    }

    /// For the account tests: a clock the test moves, and no job worker, so
    /// the account mails (and the secrets in them) wait in the queue.
    pub fn quiet(config: Config) -> Setup {
        Setup {
            fixed_clock: true,
            background: false,
            ..Setup::new(config)
        }
    }
}

/// A running server.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state (the engine, the token keys...).
    pub state: AppState<DynStore>,
    /// Mails sent by the job worker.
    pub mailer: RecordingMailer,
    /// The job queue.
    pub queue: Arc<AnyQueue>,
    clock: Option<FixedClock>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    background: Option<server::Background>,
}

impl TestServer {
    /// Starts a server on a fresh database of that kind.
    pub async fn start(db: Db) -> Option<TestServer> {
        let store = open(db).await?;
        Some(TestServer::start_on(store, Config::defaults()).await)
    }

    /// A [`Setup::quiet`] server on a fresh database, its configuration
    /// changed by `configure`.
    pub async fn quiet(db: Db, configure: impl FnOnce(&mut Config)) -> Option<TestServer> {
        let store = open(db).await?;
        let mut config = Config::defaults();
        configure(&mut config);
        Some(TestServer::launch(store, Setup::quiet(config)).await)
    }

    /// Starts a server on `store` with `config`.
    pub async fn start_on(store: DynStore, config: Config) -> TestServer {
        TestServer::launch(store, Setup::new(config)).await
    }

    /// Starts a server on `store` as `setup` says.
    pub async fn launch(store: DynStore, setup: Setup) -> TestServer {
        let Setup {
            mut config,
            fixed_clock,
            background,
            tweak,
        } = setup;
        let store = Arc::new(store);
        let fixed = fixed_clock.then(|| {
            // Whole microseconds, as the databases keep them.
            let now = chrono::Utc::now();
            FixedClock::new(
                chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now),
            )
        });
        let clock: Arc<dyn Clock> = match &fixed {
            Some(f) => Arc::new(f.clone()),
            None => Arc::new(SystemClock),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("cannot listen: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        config.bind = addr;
        let settings = server::engine_config(&config).unwrap_or_else(|e| panic!("{e}"));
        let commerce = server::engine(Arc::clone(&store), Arc::clone(&clock), &config, settings);
        let queue = Arc::new(
            server::queue(&config, Arc::clone(&clock))
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let mailer = RecordingMailer::new();
        let background = background.then(|| {
            server::Background::start(
                &commerce,
                Arc::clone(&store),
                Arc::clone(&queue),
                Arc::new(mailer.clone()),
                server::mail_settings(&config),
                clock,
            )
        });
        let tokens = server::token_keys(&config).unwrap_or_else(|e| panic!("{e}"));
        let mut state = AppState::new(
            commerce,
            config,
            tokens,
            Passwords::for_tests(),
            Arc::clone(&queue),
        );
        state.relay_nudge = background.as_ref().map(server::Background::nudger);
        state.metrics = Some(telemetry::install_prometheus().unwrap_or_else(|e| panic!("{e}")));
        if let Some(tweak) = tweak {
            tweak(&mut state);
        }
        let (tx, rx) = oneshot::channel::<()>();
        let router = commerce_http::router(state.clone());
        let grace = state.config.shutdown_grace;
        let task = tokio::spawn(server::serve(
            router,
            listener,
            async {
                let _ = rx.await;
            },
            grace,
        ));
        TestServer {
            addr,
            state,
            mailer,
            queue,
            clock: fixed,
            shutdown: Some(tx),
            task: Some(task),
            background,
        }
    }

    /// Moves the server's clock (a [`Setup::quiet`] server's).
    pub fn advance_clock(&self, by: chrono::Duration) {
        match &self.clock {
            Some(c) => c.advance(by),
            None => panic!("this server runs on the system clock"),
        }
    }

    /// Signals shutdown (as SIGTERM does) without waiting for it.
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Stops the server and its background work.
    pub async fn stop(mut self) {
        self.signal_shutdown();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(bg) = self.background.take() {
            bg.stop().await;
        }
    }

    /// Sends a request with any headers and body.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        http(self.addr, method, path, headers, body).await
    }

    /// Sends a JSON request (`body` `None`: no body), with a bearer token.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        let bytes = match &body {
            Some(v) => {
                headers.push(("content-type", "application/json"));
                serde_json::to_vec(v).unwrap_or_default()
            }
            None => Vec::new(),
        };
        self.raw(method, path, &headers, bytes).await
    }

    /// `GET` without a token.
    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None, None).await
    }

    /// An account (email verified or not) with extra roles, and a token.
    pub async fn user(&self, email: &str, verified: bool, roles: &[Role]) -> User {
        let c = &self.state.commerce;
        let mut account = c
            .register(email, None, None)
            .await
            .unwrap_or_else(|e| panic!("register {email}: {e}"));
        if verified {
            account = c
                .mark_email_verified(account.id)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for role in roles {
            account = c
                .grant_role(account.id, *role)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let token = self.token_for(&account);
        User { account, token }
    }

    /// A fresh token for an account (with its current roles).
    pub fn token_for(&self, account: &Account) -> String {
        self.state
            .tokens
            .issue(
                account.id,
                &account.roles,
                None,
                chrono::Utc::now().timestamp(),
            )
            .unwrap_or_else(|e| panic!("{e}"))
            .token
    }

    /// A verified seller with a store (`slug`); returns the user (token
    /// with the seller role) and the store's id.
    pub async fn seller(&self, email: &str, slug: &str) -> (User, String) {
        let user = self.user(email, true, &[]).await;
        let res = self
            .call(
                "POST",
                "/api/v1/stores",
                Some(&user.token),
                Some(serde_json::json!({"name": slug, "slug": slug})),
            )
            .await;
        res.expect(201);
        let store = res.json()["id"].as_str().unwrap_or_default().to_owned();
        let account = self
            .state
            .commerce
            .account(user.account.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let token = self.token_for(&account);
        (User { account, token }, store)
    }

    /// An admin.
    pub async fn admin(&self, email: &str) -> User {
        self.user(email, true, &[Role::Admin]).await
    }

    /// Adds a product with one variant per `(sku, price, stock)` to `store`.
    pub async fn product(
        &self,
        seller: &User,
        store: &str,
        name: &str,
        variants: &[(&str, &str, u32)],
    ) -> Value {
        let variants: Vec<Value> = variants
            .iter()
            .map(|(sku, price, stock)| {
                serde_json::json!({
                    "sku": sku,
                    "attributes": {"size": "M"},
                    "price": {"amount": price, "currency": "USD"},
                    "stock": stock,
                })
            })
            .collect();
        let res = self
            .call(
                "POST",
                "/api/v1/products",
                Some(&seller.token),
                Some(serde_json::json!({
                    "store_id": store,
                    "name": name,
                    "description": format!("{name}, for tests"),
                    "variants": variants,
                })),
            )
            .await;
        res.expect(201);
        res.json()
    }

    /// Buys one unit of a variant as `buyer` and pays for it through the
    /// sandbox's signed webhook; the order is paid afterwards.
    pub async fn buy_and_pay(&self, buyer: &User, variant: &str) {
        use commerce_core::cart::CartOwner;
        use commerce_core::idempotency::IdempotencyKey;
        use commerce_core::ids::VariantId;
        use commerce_core::payment::SandboxGateway;
        use commerce_core::service::CheckoutRequest;
        let c = &self.state.commerce;
        let owner = CartOwner::Account(buyer.account.id);
        let variant = VariantId::from_uuid(variant.parse().unwrap_or_else(|e| panic!("{e}")));
        let one = commerce_core::Quantity::new(1).unwrap_or_else(|e| panic!("{e}"));
        c.add_to_cart(&owner, variant, one)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let key = || {
            IdempotencyKey::parse(&uuid::Uuid::now_v7().to_string())
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let order = c
            .checkout(CheckoutRequest {
                owner,
                customer: Some(buyer.account.id),
                email: buyer.account.email.to_string(),
                shipping_address: None,
                idempotency_key: key(),
            })
            .await
            .unwrap_or_else(|e| panic!("checkout: {e}"));
        let payment = c
            .start_payment(order.id, "sandbox", &key())
            .await
            .unwrap_or_else(|e| panic!("start_payment: {e}"));
        let hook = SandboxGateway::new(server::DEV_SANDBOX_SECRET.as_bytes().to_vec(), "http://x")
            .webhook(
                &format!("evt_{}", uuid::Uuid::now_v7().simple()),
                &payment.reference,
                payment.amount,
                true,
                chrono::Utc::now(),
            );
        c.handle_webhook("sandbox", &hook.headers, &hook.body)
            .await
            .unwrap_or_else(|e| panic!("webhook: {e}"));
    }

    /// Waits (bounded) until `f` holds, polling; for work the job worker does.
    pub async fn eventually<F: Fn() -> bool>(&self, what: &str, f: F) {
        for _ in 0..600 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

/// The account flows, over HTTP as a client would, and the account mails
/// read from the queue (a [`Setup::quiet`] server: no worker takes them).
impl TestServer {
    /// `GET` with an optional bearer token.
    pub async fn get_as(&self, path: &str, token: Option<&str>) -> Resp {
        self.call("GET", path, token, None).await
    }

    /// `POST` with a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.call("POST", path, token, Some(body.clone())).await
    }

    /// `PATCH` with a JSON body.
    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        self.call("PATCH", path, token, Some(body.clone())).await
    }

    /// `PUT` without a body.
    pub async fn put(&self, path: &str, token: Option<&str>) -> Resp {
        self.call("PUT", path, token, None).await
    }

    /// `DELETE` without a body.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
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
                .unwrap_or_else(|e| panic!("reserve: {e}"));
            let mut found = None;
            for job in jobs {
                let lease = job.lease();
                if job.kind == ACCOUNT_MAIL {
                    let mail: AccountMail = job
                        .payload()
                        .unwrap_or_else(|e| panic!("account mail payload: {e}"));
                    if found.is_none() && mail.to.as_str() == email.to_lowercase() {
                        found = Some(mail);
                        self.queue
                            .ack(&[lease])
                            .await
                            .unwrap_or_else(|e| panic!("ack: {e}"));
                        continue;
                    }
                }
                // Not the one: back in the queue at once.
                self.queue
                    .retry_after(lease, Duration::ZERO, "not this test's mail")
                    .await
                    .unwrap_or_else(|e| panic!("release: {e}"));
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
        self.queue
            .stats()
            .await
            .unwrap_or_else(|e| panic!("stats: {e}"))
            .ready
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
        assert_eq!(res.status, 201, "register {email}: {:?}", res.body);
        let _ = self.mail_to(email).await;
        res.json()["user"].clone()
    }

    /// `POST /auth/login` with this email and password, whatever the answer.
    pub async fn attempt_login(&self, email: &str, password: &str) -> Resp {
        self.post(
            "/api/v1/auth/login",
            None,
            &serde_json::json!({"email": email, "password": password}),
        )
        .await
    }

    /// Signs in; the token answer.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let res = self.attempt_login(email, password).await;
        assert_eq!(res.status, 200, "login {email}: {:?}", res.body);
        res.json()
    }

    /// Registers and signs in; the access token.
    pub async fn customer(&self, email: &str) -> String {
        self.register(email, "correct horse battery").await;
        s(
            &self.login(email, "correct horse battery").await,
            "access_token",
        )
    }

    /// Makes an account an admin (as `create-admin` does) and signs it in;
    /// the access token.
    pub async fn signed_in_admin(&self, email: &str) -> String {
        let account = commerce_http::admin::ensure_admin(
            &self.state.commerce,
            &self.state.passwords,
            email,
            secrecy::SecretString::from("admin password 1"),
        )
        .await
        .unwrap_or_else(|e| panic!("admin: {e}"));
        assert!(account.has_role(Role::Admin));
        s(&self.login(email, "admin password 1").await, "access_token")
    }

    /// A product with one variant (`stock` units at 25.00 USD) in a new
    /// seller's store, made through the engine; its product and variant ids.
    pub async fn seed_product(&self, stock: u32) -> (ProductId, VariantId) {
        use commerce_core::money::{Currency, Money};
        use commerce_core::service::{Actor, NewProduct, NewVariant};
        let c = &self.state.commerce;
        let n = uuid::Uuid::new_v4().simple().to_string();
        let seller = c
            .register(&format!("seller-{n}@example.com"), None, None)
            .await
            .unwrap_or_else(|e| panic!("seller: {e}"));
        c.mark_email_verified(seller.id)
            .await
            .unwrap_or_else(|e| panic!("verify seller: {e}"));
        let store = c
            .create_seller_store(seller.id, "Seller", &format!("s-{}", &n[..12]))
            .await
            .unwrap_or_else(|e| panic!("store: {e}"));
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
            .unwrap_or_else(|e| panic!("product: {e}"));
        (product.id, variants[0].id)
    }
}

/// A JSON string field.
pub fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
        .to_owned()
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

/// Runs `async fn $name(db: Db)` on both databases, as two tests (for
/// scenarios that build their own server).
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Db::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Db::Postgres).await;
            }
        }
    };
}

/// Insta settings that redact ids and times.
pub fn redactions() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_sort_maps(true);
    for path in [
        ".id",
        ".**.id",
        ".**.store_id",
        ".**.product_id",
        ".**.variant_id",
        ".**.category_id",
        ".**.parent_id",
        ".**.created_at",
    ] {
        s.add_redaction(
            path,
            insta::dynamic_redaction(|value, _| {
                if value.is_nil() {
                    value
                } else {
                    "[redacted]".into()
                }
            }),
        );
    }
    s
}
