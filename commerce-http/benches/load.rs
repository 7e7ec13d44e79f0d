//! The load harness: the `commerce-server` binary, started as it is
//! deployed (a separate process, demo catalog, default logging), driven
//! over keep-alive HTTP/1.1 connections by a closed-loop load generator.
//!
//! ```text
//! cargo bench -p commerce-http --bench load
//! ```
//!
//! For each database (SQLite in a fresh file; PostgreSQL in a fresh database
//! on `BENCH_DATABASE_URL`, else the local server over its Unix socket, else
//! `TEST_DATABASE_URL`) and each number of connections (16 and 64), it
//! measures:
//!
//! - `detail`: `GET /api/v1/products/{id}`, over the demo's 50 products;
//! - `list`: `GET /api/v1/products?page=..&per_page=20`;
//! - `add`: `POST /api/v1/cart/items` into guest carts of up to 3 lines;
//! - `checkout`: `POST /api/v1/checkout` of a 3-line guest cart (the carts
//!   are filled before the clock starts);
//! - `login`: `POST /api/v1/auth/login` at OWASP argon2id parameters;
//! - `checkout+flood`: checkouts at 16 connections while 16 more
//!   connections send logins, next to a run of the same checkouts alone.
//!
//! and prints, per cell: requests per second, p50 and p99 latency, the
//! server's CPU time per request (user + system, from `/proc/<pid>/stat`),
//! PostgreSQL's CPU time per request (every `postgres` process), and the
//! ratio to the reference shop of the issue (a Django REST Framework shop on
//! PostgreSQL on this machine, at 16 connections).
//!
//! Knobs (environment): `LOAD_SECONDS` (measured seconds per cell, default
//! 5; one more second of warm-up is not counted), `LOAD_FLOOD_ROUNDS` (how
//! many times the flood scenario alternates its two cells, default 1; with
//! more, the p99 of each kind pooled over the rounds is printed too),
//! `LOAD_CONNECTIONS`
//! (default `16,64`), `LOAD_DATABASES` (`sqlite,postgres`),
//! `LOAD_SCENARIOS` (`detail,list,add,checkout,login,flood`),
//! `LOAD_CHECKOUT_CARTS` (carts filled before each checkout cell; by
//! default 2,500 per second of the cell for the first, then twice the best
//! rate measured so far on the same server). Every
//! `COMMERCE_*` variable of the harness's environment is passed on to the
//! server (which starts with an otherwise empty environment).
//!
//! The shop sends its mails (one per order) over SMTP to a mail sink in
//! this process, on a thread of its own whose CPU time is not counted as
//! the generator's: as a deployed shop hands them to its mail relay. (Mails
//! written as files instead made the server's CPU per checkout swing
//! between runs with the file system's state: see docs/PERFORMANCE.md.)
//!
//! The generator is closed-loop (each connection sends its next request
//! when the previous answer arrives), as `wrk` and the reference figures
//! are, so latencies are those of a saturated server, without coordinated-
//! omission correction. It runs on one thread of the same 2-vCPU machine;
//! its own CPU time is printed too.

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use commerce_jobs::testkit::smtp::serve_smtp;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "load-harness-admin-password";
const SHOPPER_PASSWORD: &str = "correct horse battery staple";
/// Accounts the login scenario signs in, in turn.
const SHOPPERS: usize = 64;

/// The reference shop's figures at 16 connections (requests per second),
/// from the issue: Django REST Framework on PostgreSQL, this machine.
fn reference(scenario: &str) -> Option<f64> {
    match scenario {
        "detail" => Some(184.0),
        "list" => Some(53.0),
        "add" => Some(127.0),
        "checkout" | "checkout alone" | "checkout+flood" => Some(115.0),
        "login" => Some(9.0),
        _ => None,
    }
}

// ---------------------------------------------------------------- client

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    tx: SendRequest<Full<Bytes>>,
    host: String,
}

/// An answer: its status and body.
struct Answer {
    status: u16,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Result<Value, Error> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// One request of a scenario.
#[derive(Clone)]
struct Req {
    method: hyper::Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Bytes>,
    expect: u16,
}

impl Req {
    fn get(path: String) -> Req {
        Req {
            method: hyper::Method::GET,
            path,
            headers: Vec::new(),
            body: None,
            expect: 200,
        }
    }

    fn post(path: &str, body: &Value, expect: u16) -> Req {
        Req {
            method: hyper::Method::POST,
            path: path.to_owned(),
            headers: vec![("content-type", "application/json".to_owned())],
            body: Some(Bytes::from(body.to_string())),
            expect,
        }
    }

    fn put(path: String, body: &Value) -> Req {
        Req {
            method: hyper::Method::PUT,
            ..Req::post(&path, body, 200)
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Req {
        self.headers.push((name, value.into()));
        self
    }
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (tx, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            tx,
            host: addr.to_string(),
        })
    }

    async fn send(&mut self, req: &Req) -> Result<Answer, Error> {
        self.tx.ready().await?;
        let mut b = Request::builder()
            .method(req.method.clone())
            .uri(req.path.as_str())
            .header("host", self.host.as_str());
        for (name, value) in &req.headers {
            b = b.header(*name, value.as_str());
        }
        let request = b.body(Full::new(req.body.clone().unwrap_or_default()))?;
        let res = self.tx.send_request(request).await?;
        let status = res.status().as_u16();
        let body = res.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body })
    }

    /// Sends and checks the status (set-up requests: any other is fatal).
    async fn expect(&mut self, req: &Req) -> Result<Value, Error> {
        let a = self.send(req).await?;
        if a.status != req.expect {
            return Err(format!(
                "{} {}: {} (expected {}): {}",
                req.method,
                req.path,
                a.status,
                req.expect,
                String::from_utf8_lossy(&a.body)
            )
            .into());
        }
        if a.body.is_empty() {
            Ok(Value::Null)
        } else {
            a.json()
        }
    }
}

// ---------------------------------------------------------------- CPU time

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ: 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// One process's (or thread's) `/proc/.../stat`: its command, its parent
/// and its user + system CPU ticks.
struct Stat {
    comm: String,
    ppid: u32,
    ticks: u64,
}

fn parse_stat(stat: &str) -> Option<Stat> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // After the command: state (3), ppid (4), ..., utime (14), stime (15).
    let ppid: u32 = rest.get(1)?.parse().ok()?;
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some(Stat {
        comm,
        ppid,
        ticks: utime + stime,
    })
}

fn process_ticks(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| parse_stat(&s))
        .map_or(0, |s| s.ticks)
}

/// Every process on the machine.
fn processes() -> Vec<Stat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|s| parse_stat(&s))
        .collect()
}

#[derive(Clone, Copy)]
struct Cpu {
    server: u64,
    postgres: u64,
    generator: u64,
}

impl Cpu {
    fn now(server: u32) -> Cpu {
        let sink = thread_ticks(SINK_THREAD.load(Ordering::Relaxed));
        let all = processes();
        // The server's children are its password workers.
        let workers: u64 = all
            .iter()
            .filter(|p| p.ppid == server)
            .map(|p| p.ticks)
            .sum();
        Cpu {
            server: process_ticks(server) + workers,
            postgres: all
                .iter()
                .filter(|p| p.comm == "postgres")
                .map(|p| p.ticks)
                .sum(),
            // The mail sink's thread is not the generator's work.
            generator: process_ticks(std::process::id()).saturating_sub(sink),
        }
    }
}

/// CPU ticks of one thread of this process (0 for tid 0 or a missing one).
fn thread_ticks(tid: u32) -> u64 {
    if tid == 0 {
        return 0;
    }
    fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
        .ok()
        .and_then(|s| parse_stat(&s))
        .map_or(0, |s| s.ticks)
}

// ---------------------------------------------------------------- mail sink

/// The mail sink's thread id, once it runs.
static SINK_THREAD: AtomicU32 = AtomicU32::new(0);
/// Messages the mail sink accepted.
static MAILS: AtomicU64 = AtomicU64::new(0);

/// Starts the mail server the shop sends its mails to, as a deployed shop
/// sends them to its mail relay: the jobs testkit's SMTP server on a thread
/// of its own, counting messages and keeping none. Returns its `SMTP_URL`.
fn mail_sink() -> Result<String, Error> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("smtp://{}", listener.local_addr()?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("mail-sink".into())
        .spawn(move || {
            // `/proc/thread-self` links to `<pid>/task/<tid>`.
            let tid = fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|p| p.file_name()?.to_str()?.parse().ok())
                .unwrap_or(0);
            SINK_THREAD.store(tid, Ordering::Relaxed);
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                serve_smtp(listener, |_| {
                    MAILS.fetch_add(1, Ordering::Relaxed);
                })
                .await;
            });
        })?;
    Ok(url)
}

// ---------------------------------------------------------------- server

struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

/// A folder removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<SocketAddr, Error> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

impl Server {
    async fn start(database_url: &str, smtp_url: &str, dir: TempDir) -> Result<Server, Error> {
        let addr = free_port()?;
        let log = fs::File::create(dir.0.join("server.log"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_commerce-server"))
            .env_clear()
            .env("COMMERCE_BIND", addr.to_string())
            .env("DATABASE_URL", database_url)
            .env("COMMERCE_DEMO", "1")
            .env("COMMERCE_RATE_LIMITS", "off")
            .env("COMMERCE_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("COMMERCE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("SMTP_URL", smtp_url)
            // The caller's own settings (say `COMMERCE_HASHING_SHARE_WHEN_BUSY`)
            // reach the server too.
            .envs(std::env::vars().filter(|(k, _)| k.starts_with("COMMERCE_")))
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut server = Server {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.try_wait()? {
                let log = fs::read_to_string(server._dir.0.join("server.log")).unwrap_or_default();
                return Err(format!("the server exited ({status}):\n{log}").into());
            }
            if let Ok(mut c) = Conn::open(addr).await
                && let Ok(a) = c.send(&Req::get("/readyz".into())).await
                && a.status == 200
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err("the server did not become ready in 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

// ---------------------------------------------------------------- the shop

/// What the scenarios need to know about the running shop.
struct Shop {
    products: Vec<String>,
    variants: Vec<String>,
    /// The most checkouts a second a cell on this server has made so far
    /// (0 before the first): what the next cell's carts are filled for.
    checkout_rate: AtomicU64,
}

fn text(v: &Value, key: &str) -> Result<String, Error> {
    v[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no `{key}` in {v}").into())
}

/// Reads the demo catalog, gives every variant ample stock, registers the
/// shoppers the login scenario signs in.
async fn prepare(addr: SocketAddr) -> Result<Shop, Error> {
    let mut c = Conn::open(addr).await?;
    let login = c
        .expect(&Req::post(
            "/api/v1/auth/login",
            &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
            200,
        ))
        .await?;
    let bearer = format!("Bearer {}", text(&login, "access_token")?);
    let mut products = Vec::new();
    let mut variants = Vec::new();
    for page in 1.. {
        let list = c
            .expect(&Req::get(format!(
                "/api/v1/products?per_page=50&page={page}"
            )))
            .await?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        for item in items {
            let id = text(&item, "id")?;
            let detail = c
                .expect(&Req::get(format!("/api/v1/products/{id}")))
                .await?;
            for v in detail["variants"].as_array().into_iter().flatten() {
                let vid = text(v, "id")?;
                c.expect(
                    &Req::put(
                        format!("/api/v1/variants/{vid}/stock"),
                        &json!({"on_hand": 100_000_000}),
                    )
                    .header("authorization", bearer.clone()),
                )
                .await?;
                variants.push(vid);
            }
            products.push(id);
        }
    }
    if products.len() < 20 || variants.len() < 3 {
        return Err(format!("the demo catalog is too small: {} products", products.len()).into());
    }
    for i in 0..SHOPPERS {
        c.expect(&Req::post(
            "/api/v1/auth/register",
            &json!({"email": shopper(i), "password": SHOPPER_PASSWORD}),
            201,
        ))
        .await?;
    }
    Ok(Shop {
        products,
        variants,
        checkout_rate: AtomicU64::new(0),
    })
}

fn shopper(i: usize) -> String {
    format!("shopper{i}@example.com")
}

/// A new guest cart: its token.
async fn guest_cart(c: &mut Conn) -> Result<String, Error> {
    let cart = c.expect(&Req::get("/api/v1/cart".into())).await?;
    text(&cart, "token")
}

fn add_item(token: &str, variant: &str, expect: u16) -> Req {
    Req::post(
        "/api/v1/cart/items",
        &json!({"variant_id": variant, "quantity": 1}),
        expect,
    )
    .header("x-cart-token", token)
}

/// `n` guest carts of 3 lines each, filled over `conns` connections.
async fn filled_carts(
    addr: SocketAddr,
    shop: &Arc<Shop>,
    n: usize,
    conns: usize,
) -> Result<Vec<String>, Error> {
    let mut tasks = Vec::new();
    for k in 0..conns {
        let shop = Arc::clone(shop);
        let mine = n / conns + usize::from(k < n % conns);
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(addr).await?;
            let mut tokens = Vec::with_capacity(mine);
            for i in 0..mine {
                let token = guest_cart(&mut c).await?;
                let seed = k * 7919 + i * 31;
                for j in 0..3 {
                    let v = &shop.variants[(seed + j * 13) % shop.variants.len()];
                    c.expect(&add_item(&token, v, 200)).await?;
                }
                tokens.push(token);
            }
            Ok::<_, Error>(tokens)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

fn address() -> Value {
    json!({"full_name": "Load Tester", "line1": "1 Main St", "city": "Springfield",
           "postal_code": "12345", "country": "US"})
}

// ---------------------------------------------------------------- runs

/// What a connection sends next (`None`: it has nothing left to send).
type Next = Box<dyn FnMut() -> Option<Req> + Send>;

/// What a group of connections measured.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    /// Unexpected statuses (0: a transport error), with one body each.
    unexpected: BTreeMap<u16, (u64, String)>,
    /// When the first connection ran out of requests, if one did.
    exhausted_at: Option<Instant>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        for (k, (n, body)) in other.unexpected {
            let e = self.unexpected.entry(k).or_insert((0, body));
            e.0 += n;
        }
        self.exhausted_at = match (self.exhausted_at, other.exhausted_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Runs `nexts.len()` connections until `end`, counting what completes
/// between `from` and `end`.
fn spawn_group(
    addr: SocketAddr,
    nexts: Vec<Next>,
    from: Instant,
    end: Instant,
) -> Vec<tokio::task::JoinHandle<Result<Tally, Error>>> {
    nexts
        .into_iter()
        .map(|mut next| {
            tokio::spawn(async move {
                let mut c = Conn::open(addr).await?;
                let mut t = Tally::default();
                while Instant::now() < end {
                    let Some(req) = next() else {
                        t.exhausted_at = Some(Instant::now());
                        break;
                    };
                    let start = Instant::now();
                    let answer = c.send(&req).await;
                    let done = Instant::now();
                    let status = match &answer {
                        Ok(a) => a.status,
                        Err(_) => 0,
                    };
                    if start >= from && done <= end {
                        let us = u32::try_from((done - start).as_micros()).unwrap_or(u32::MAX);
                        t.latencies_us.push(us);
                        if status != req.expect {
                            let body = match &answer {
                                Ok(a) => String::from_utf8_lossy(&a.body).into_owned(),
                                Err(e) => e.to_string(),
                            };
                            let e = t.unexpected.entry(status).or_insert((0, body));
                            e.0 += 1;
                        }
                    }
                    if answer.is_err() {
                        c = Conn::open(addr).await?;
                    }
                }
                Ok(t)
            })
        })
        .collect()
}

async fn join(handles: Vec<tokio::task::JoinHandle<Result<Tally, Error>>>) -> Result<Tally, Error> {
    let mut all = Tally::default();
    for h in handles {
        all.merge(h.await??);
    }
    Ok(all)
}

/// One printed row.
struct Row {
    database: &'static str,
    scenario: String,
    conns: usize,
    requests: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    server_cpu_ms: f64,
    postgres_cpu_ms: f64,
    generator_cpu_ms: f64,
    unexpected: BTreeMap<u16, (u64, String)>,
}

impl Row {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// The nearest-rank percentile (`per_mille`: 500 for p50, 990 for p99), in ms.
fn percentile(sorted: &[u32], per_mille: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let n = sorted.len();
    let rank = (per_mille.min(1000) * n).div_ceil(1000);
    f64::from(sorted[rank.clamp(1, n) - 1]) / 1000.0
}

fn row(
    database: &'static str,
    scenario: &str,
    conns: usize,
    mut tally: Tally,
    from: Instant,
    end: Instant,
    cpu: (Cpu, Cpu),
) -> Row {
    let end = tally.exhausted_at.map_or(end, |e| e.min(end));
    if tally.exhausted_at.is_some() {
        eprintln!("  note: {scenario} ran out of prepared requests; measured until then");
    }
    tally.latencies_us.sort_unstable();
    let n = tally.latencies_us.len();
    let per = |ticks: u64| ticks as f64 * 1000.0 / TICKS_PER_SECOND / n.max(1) as f64;
    let (a, b) = cpu;
    Row {
        database,
        scenario: scenario.to_owned(),
        conns,
        requests: n,
        seconds: (end - from).as_secs_f64(),
        p50_ms: percentile(&tally.latencies_us, 500),
        p99_ms: percentile(&tally.latencies_us, 990),
        server_cpu_ms: per(b.server.saturating_sub(a.server)),
        postgres_cpu_ms: per(b.postgres.saturating_sub(a.postgres)),
        generator_cpu_ms: per(b.generator.saturating_sub(a.generator)),
        unexpected: tally.unexpected,
    }
}

struct Knobs {
    warm: Duration,
    measure: Duration,
    /// How many times the flood scenario alternates its two cells.
    flood_rounds: usize,
}

/// Runs groups of connections (each `Next` one connection) in one window:
/// warm-up, then the measured time; what each group completed in it, the
/// window, and the CPU counters at its two ends.
async fn window(
    server: &Server,
    knobs: &Knobs,
    groups: Vec<Vec<Next>>,
) -> Result<(Vec<Tally>, Instant, Instant, (Cpu, Cpu)), Error> {
    let from = Instant::now() + knobs.warm;
    let end = from + knobs.measure;
    let handles: Vec<_> = groups
        .into_iter()
        .map(|nexts| spawn_group(server.addr, nexts, from, end))
        .collect();
    tokio::time::sleep_until(from.into()).await;
    let before = Cpu::now(server.pid());
    let mails = MAILS.load(Ordering::Relaxed);
    tokio::time::sleep_until(end.into()).await;
    let after = Cpu::now(server.pid());
    let mails = MAILS.load(Ordering::Relaxed) - mails;
    if mails > 0 {
        eprintln!("  the mail sink received {mails} mails in the measured window");
    }
    let mut tallies = Vec::with_capacity(handles.len());
    for h in handles {
        tallies.push(join(h).await?);
    }
    Ok((tallies, from, end, (before, after)))
}

/// Runs one scenario, one connection per `Next`.
async fn measure(
    database: &'static str,
    scenario: &str,
    server: &Server,
    knobs: &Knobs,
    nexts: Vec<Next>,
) -> Result<Row, Error> {
    let conns = nexts.len();
    let (mut tallies, from, end, cpu) = window(server, knobs, vec![nexts]).await?;
    let tally = tallies.pop().unwrap_or_default();
    Ok(row(database, scenario, conns, tally, from, end, cpu))
}

fn detail(shop: &Arc<Shop>) -> impl Fn(usize) -> Next {
    let shop = Arc::clone(shop);
    move |k| {
        let shop = Arc::clone(&shop);
        let mut i = k * 17;
        Box::new(move || {
            i += 1;
            Some(Req::get(format!(
                "/api/v1/products/{}",
                shop.products[i % shop.products.len()]
            )))
        })
    }
}

fn list(k: usize) -> Next {
    let mut i = k;
    Box::new(move || {
        i += 1;
        Some(Req::get(format!(
            "/api/v1/products?per_page=20&page={}",
            1 + i % 2
        )))
    })
}

/// Add-to-cart: each connection fills 8 guest carts in turn, each with 3
/// variants (so a cart stays a shopper's size, and no line nears the
/// 999-unit cap within a run).
async fn add_to_cart(addr: SocketAddr, shop: &Arc<Shop>, conns: usize) -> Result<Vec<Next>, Error> {
    let mut c = Conn::open(addr).await?;
    let mut nexts: Vec<Next> = Vec::new();
    for k in 0..conns {
        let mut carts = Vec::new();
        for _ in 0..8 {
            carts.push(guest_cart(&mut c).await?);
        }
        let shop = Arc::clone(shop);
        let mut i = 0usize;
        nexts.push(Box::new(move || {
            i += 1;
            let cart = &carts[i % carts.len()];
            let v = &shop.variants[(k * 7 + (i / carts.len()) % 3 * 11) % shop.variants.len()];
            Some(add_item(cart, v, 200))
        }));
    }
    Ok(nexts)
}

fn checkouts(carts: Vec<String>, conns: usize) -> Vec<Next> {
    let mut per: Vec<Vec<String>> = vec![Vec::new(); conns];
    for (i, c) in carts.into_iter().enumerate() {
        per[i % conns].push(c);
    }
    per.into_iter()
        .map(|mut mine| {
            let next: Next = Box::new(move || {
                let token = mine.pop()?;
                Some(
                    Req::post(
                        "/api/v1/checkout",
                        &json!({"email": "buyer@example.com", "shipping_address": address()}),
                        201,
                    )
                    .header("x-cart-token", token)
                    .header("idempotency-key", uuid::Uuid::new_v4().to_string()),
                )
            });
            next
        })
        .collect()
}

fn logins(k: usize) -> Next {
    let mut i = k;
    Box::new(move || {
        i += 1;
        Some(Req::post(
            "/api/v1/auth/login",
            &json!({"email": shopper(i % SHOPPERS), "password": SHOPPER_PASSWORD}),
            200,
        ))
    })
}

/// How many carts to fill for a cell of checkouts (`LOAD_CHECKOUT_CARTS`
/// when set): for the first cell on a server, enough for 2,500 a second;
/// after that, for twice the best rate a cell on it has made (at least
/// 500 a second), so that a slow machine does not spend most of a run
/// filling carts nobody checks out. The harness says so when a cell ran
/// out.
fn carts_for(knobs: &Knobs, shop: &Shop) -> usize {
    let secs = usize::try_from((knobs.warm + knobs.measure).as_secs() + 1).unwrap_or(10);
    let seen = usize::try_from(shop.checkout_rate.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
    let per_second = if seen == 0 {
        2500
    } else {
        seen.saturating_mul(2).max(500)
    };
    env_parse("LOAD_CHECKOUT_CARTS").unwrap_or_else(|| per_second.saturating_mul(secs))
}

async fn run_database(
    database: &'static str,
    url: &str,
    smtp: &str,
    knobs: &Knobs,
    connections: &[usize],
    scenarios: &[String],
    rows: &mut Vec<Row>,
) -> Result<(), Error> {
    let dir = TempDir(
        std::env::temp_dir().join(format!("commerce-load-{}-{database}", std::process::id())),
    );
    fs::create_dir_all(&dir.0)?;
    let url = url.replace("{dir}", &dir.0.to_string_lossy());
    eprintln!("{database}: starting the server");
    let server = Server::start(&url, smtp, dir).await?;
    let shop = Arc::new(prepare(server.addr).await?);
    let wants = |s: &str| scenarios.iter().any(|x| x == s);
    for &conns in connections {
        if wants("detail") {
            eprintln!("{database}: detail × {conns}");
            let nexts = (0..conns).map(detail(&shop)).collect();
            rows.push(measure(database, "detail", &server, knobs, nexts).await?);
        }
        if wants("list") {
            eprintln!("{database}: list × {conns}");
            let nexts = (0..conns).map(list).collect();
            rows.push(measure(database, "list", &server, knobs, nexts).await?);
        }
        if wants("add") {
            eprintln!("{database}: add × {conns}");
            let nexts = add_to_cart(server.addr, &shop, conns).await?;
            rows.push(measure(database, "add", &server, knobs, nexts).await?);
        }
        if wants("checkout") {
            eprintln!("{database}: checkout × {conns} (filling carts)");
            let (row, _) =
                checkout_run(database, "checkout", &server, &shop, conns, knobs, 0).await?;
            rows.push(row);
        }
        if wants("login") {
            eprintln!("{database}: login × {conns}");
            let nexts = (0..conns).map(logins).collect();
            rows.push(measure(database, "login", &server, knobs, nexts).await?);
        }
    }
    if wants("flood") {
        flood_rounds(database, &server, &shop, knobs, rows).await?;
    }
    Ok(())
}

/// Checkouts on 16 connections alone, then with 16 connections of logins,
/// `knobs.flood_rounds` times over one server; with more than one round,
/// also the p99 of each kind pooled over the rounds, so that the rise is
/// not one pair of cells against the machine's drift between runs.
async fn flood_rounds(
    database: &'static str,
    server: &Server,
    shop: &Arc<Shop>,
    knobs: &Knobs,
    rows: &mut Vec<Row>,
) -> Result<(), Error> {
    let (mut alone, mut flooded) = (Vec::new(), Vec::new());
    for round in 1..=knobs.flood_rounds {
        eprintln!(
            "{database}: checkout × 16 alone, then with 16 connections of logins (round {round} of {})",
            knobs.flood_rounds
        );
        let (row, latencies) =
            checkout_run(database, "checkout alone", server, shop, 16, knobs, 0).await?;
        alone.extend(latencies);
        rows.push(row);
        let (row, latencies) =
            checkout_run(database, "checkout+flood", server, shop, 16, knobs, 16).await?;
        flooded.extend(latencies);
        rows.push(row);
    }
    if knobs.flood_rounds > 1 {
        alone.sort_unstable();
        flooded.sort_unstable();
        let (a, f) = (percentile(&alone, 990), percentile(&flooded, 990));
        println!(
            "{database}: checkout p99 over {} rounds: alone {a:.2} ms, with the login flood {f:.2} ms ({:.2}×)",
            knobs.flood_rounds,
            f / a
        );
    }
    Ok(())
}

/// Checkouts over `conns` connections, with `flood` more connections
/// sending logins in the same window (their row is printed as `login
/// flood`).
async fn checkout_run(
    database: &'static str,
    scenario: &str,
    server: &Server,
    shop: &Arc<Shop>,
    conns: usize,
    knobs: &Knobs,
    flood: usize,
) -> Result<(Row, Vec<u32>), Error> {
    let carts = filled_carts(server.addr, shop, carts_for(knobs, shop), 16).await?;
    let groups = vec![checkouts(carts, conns), (0..flood).map(logins).collect()];
    let (mut tallies, from, end, cpu) = window(server, knobs, groups).await?;
    let floods = tallies.pop().unwrap_or_default();
    let buys = tallies.pop().unwrap_or_default();
    if flood > 0 {
        let n = floods.latencies_us.len();
        let mut sorted = floods.latencies_us.clone();
        sorted.sort_unstable();
        eprintln!(
            "  login flood alongside: {n} logins, {:.1}/s, p50 {:.1} ms, p99 {:.1} ms, unexpected {:?}",
            n as f64 / knobs.measure.as_secs_f64(),
            percentile(&sorted, 500),
            percentile(&sorted, 990),
            floods.unexpected.keys().collect::<Vec<_>>()
        );
    }
    let latencies = buys.latencies_us.clone();
    let row = row(database, scenario, conns, buys, from, end, cpu);
    // Whole checkouts a second over the measured window, rounded up.
    let millis = u64::try_from(knobs.measure.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let rate = u64::try_from(row.requests)
        .unwrap_or(u64::MAX)
        .saturating_mul(1000)
        .div_ceil(millis);
    shop.checkout_rate.fetch_max(rate, Ordering::Relaxed);
    Ok((row, latencies))
}

/// `BENCH_DATABASE_URL`; else, when the local server's socket exists, the
/// local server over its Unix socket (see docs/PERFORMANCE.md: sqlx 0.9.0
/// does not set `TCP_NODELAY`, which stalls transactions over TCP); else
/// `TEST_DATABASE_URL` or the local default over TCP.
fn postgres_url() -> String {
    if let Ok(url) = std::env::var("BENCH_DATABASE_URL") {
        return url;
    }
    if std::path::Path::new("/var/run/postgresql/.s.PGSQL.5432").exists() {
        return "postgres://postgres@localhost/test?host=/var/run/postgresql".to_owned();
    }
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

async fn fresh_postgres(base: &str) -> Result<(String, String), Error> {
    // Our own name (digits only): safe to put in the statement.
    let name = format!("commerce_load_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(base).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut admin)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    // `postgres://user@host:port/db?params`: the same with our database.
    let (path, params) = base.split_once('?').unwrap_or((base, ""));
    let url = match path.rfind('/') {
        Some(i) if path[..i].contains("//") && !path[..i].ends_with('/') => {
            let params = if params.is_empty() {
                String::new()
            } else {
                format!("?{params}")
            };
            format!("{}/{name}{params}", &path[..i])
        }
        _ => return Err(format!("cannot derive a database URL from {base}").into()),
    };
    Ok((url, name))
}

async fn drop_postgres(base: &str, name: &str) {
    if let Ok(mut admin) = sqlx::PgConnection::connect(base).await {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await;
    }
}

/// The variable `name` parsed, if it is set and parses.
fn env_parse<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn list_env(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn print(rows: &[Row]) {
    println!(
        "\n| database | scenario | conns | requests | req/s | p50 ms | p99 ms | server CPU-ms/req | PostgreSQL CPU-ms/req | generator CPU-ms/req | × reference |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        let times = reference(&r.scenario)
            .filter(|_| r.conns == 16)
            .map_or(String::new(), |x| format!("{:.1}×", r.rate() / x));
        let pg = if r.database == "PostgreSQL" {
            format!("{:.3}", r.postgres_cpu_ms)
        } else {
            String::new()
        };
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.3} | {} | {:.3} | {} |",
            r.database,
            r.scenario,
            r.conns,
            r.requests,
            r.rate(),
            r.p50_ms,
            r.p99_ms,
            r.server_cpu_ms,
            pg,
            r.generator_cpu_ms,
            times
        );
    }
    for r in rows.iter().filter(|r| !r.unexpected.is_empty()) {
        for (status, (n, body)) in &r.unexpected {
            let body: String = body.chars().take(300).collect();
            println!(
                "unexpected: {} {} × {}: {n} answers {status}: {body}",
                r.database, r.scenario, r.conns
            );
        }
    }
}

async fn main_async() -> Result<(), Error> {
    let secs: f64 = env_parse("LOAD_SECONDS").unwrap_or(5.0);
    let knobs = Knobs {
        warm: Duration::from_secs(1),
        measure: Duration::from_secs_f64(secs),
        flood_rounds: env_parse("LOAD_FLOOD_ROUNDS").unwrap_or(1usize).max(1),
    };
    let connections: Vec<usize> = list_env("LOAD_CONNECTIONS", "16,64")
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect();
    let scenarios = list_env("LOAD_SCENARIOS", "detail,list,add,checkout,login,flood");
    if let Ok(v) = fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled") {
        // With autogroups, each PostgreSQL backend (a session of its own)
        // weighs as much as the whole server, hashing threads included.
        eprintln!(
            "kernel.sched_autogroup_enabled = {} (the login flood depends on it: docs/PERFORMANCE.md)",
            v.trim()
        );
    }
    let databases = list_env("LOAD_DATABASES", "sqlite,postgres");
    let smtp = mail_sink()?;
    let mut rows = Vec::new();
    for db in &databases {
        match db.as_str() {
            "sqlite" => {
                run_database(
                    "SQLite",
                    "sqlite://{dir}/load.db?mode=rwc",
                    &smtp,
                    &knobs,
                    &connections,
                    &scenarios,
                    &mut rows,
                )
                .await?;
            }
            "postgres" => {
                let base = postgres_url();
                eprintln!("PostgreSQL at {base}");
                let (url, name) = match fresh_postgres(&base).await {
                    Ok(x) => x,
                    Err(e) => {
                        eprintln!("PostgreSQL skipped: {base}: {e}");
                        continue;
                    }
                };
                let r = run_database(
                    "PostgreSQL",
                    &url,
                    &smtp,
                    &knobs,
                    &connections,
                    &scenarios,
                    &mut rows,
                )
                .await;
                drop_postgres(&base, &name).await;
                r?;
            }
            other => return Err(format!("LOAD_DATABASES: unknown `{other}`").into()),
        }
    }
    print(&rows);
    Ok(())
}

fn main() -> Result<(), Error> {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // must not start an expensive run.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    // One thread: the generator shares the machine's two vCPUs with the
    // server and the database.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(main_async())
}
