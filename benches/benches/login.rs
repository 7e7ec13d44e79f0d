//! What a sign-in costs: argon2id hashing and verifying at the server's
//! parameters (m = 19 MiB, t = 2, p = 1), and whole logins through the
//! server's router over a loopback socket, one and two at a time.
//!
//! Run with:
//! `cargo bench -p commerce-benches --bench login`

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use commerce_core::clock::SystemClock;
use commerce_core::service::{Commerce, Config as EngineConfig};
use commerce_core::storage::InMemoryStore;
use commerce_http::AppState;
use commerce_http::auth::jwt::TokenKeys;
use commerce_http::auth::password::Passwords;
use commerce_http::config::Config;
use commerce_http::ratelimit::Limits;
use commerce_jobs::{AnyQueue, InProcessQueue};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PASSWORD: &str = "correct horse battery staple";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn argon2(c: &mut Criterion) {
    let rt = runtime();
    let passwords = Passwords::owasp(2);
    let hash = rt
        .block_on(passwords.hash_password(SecretString::from(PASSWORD)))
        .expect("hash");
    assert!(hash.contains("m=19456,t=2,p=1"), "{hash}");
    let mut g = c.benchmark_group("argon2id_m19456_t2_p1");
    g.sample_size(20);
    g.bench_function("hash", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                passwords
                    .hash_password(SecretString::from(PASSWORD))
                    .await
                    .expect("hash"),
            )
        });
    });
    g.bench_function("verify", |b| {
        b.to_async(&rt).iter(|| async {
            let ok = passwords
                .verify_password(SecretString::from(PASSWORD), hash.clone())
                .await
                .expect("verify");
            assert!(ok);
        });
    });
    g.finish();
}

/// One `POST /api/v1/auth/login` over a new connection; the status.
async fn login(addr: SocketAddr, body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(body).await.expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    std::str::from_utf8(&raw[..12.min(raw.len())])
        .ok()
        .and_then(|l| l.get(9..12))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn logins(c: &mut Criterion) {
    let rt = runtime();
    let addr = rt.block_on(async {
        let store = Arc::new(InMemoryStore::new());
        let commerce = Commerce::new(store, Arc::new(SystemClock), EngineConfig::default());
        let mut config = Config::defaults();
        config.auth.rate_limits = Limits::off();
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let state = AppState::new(
            commerce,
            config,
            TokenKeys::random(Duration::from_secs(900)),
            Passwords::owasp(cores),
            Arc::new(AnyQueue::InProcess(InProcessQueue::default())),
        );
        let hash = state
            .passwords
            .hash_password(SecretString::from(PASSWORD))
            .await
            .expect("hash");
        state
            .commerce
            .register("ada@example.com", None, Some(hash))
            .await
            .expect("account");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(
            warp::serve(commerce_http::router(state))
                .incoming(listener)
                .run(),
        );
        addr
    });
    let body = serde_json::to_vec(&serde_json::json!({
        "email": "ada@example.com",
        "password": PASSWORD,
    }))
    .expect("json");
    assert_eq!(rt.block_on(login(addr, &body)), 200);

    let mut g = c.benchmark_group("login_through_router");
    g.sample_size(20);
    g.throughput(Throughput::Elements(1));
    for concurrent in [1usize, 2] {
        g.bench_function(format!("concurrent_{concurrent}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let body = body.clone();
                async move {
                    let start = Instant::now();
                    let per_task = iters.div_ceil(concurrent as u64);
                    let mut tasks = Vec::new();
                    for _ in 0..concurrent {
                        let body = body.clone();
                        tasks.push(tokio::spawn(async move {
                            for _ in 0..per_task {
                                assert_eq!(login(addr, &body).await, 200);
                            }
                        }));
                    }
                    for t in tasks {
                        t.await.expect("task");
                    }
                    // Time per login, so criterion's throughput is logins/s.
                    start
                        .elapsed()
                        .mul_f64(iters as f64 / (per_task * concurrent as u64) as f64)
                }
            });
        });
    }
    g.finish();
}

criterion_group!(benches, argon2, logins);
criterion_main!(benches);
