//! Rate limits over a real socket: 40 wrong passwords on one account within
//! a minute meet a 429 with `Retry-After`; limits hold per address too; and
//! two servers sharing one Redis share every limit.

use crate::common;

use std::sync::Arc;

use commerce_http::config::Config;
use commerce_http::limits::RateLimiter;
use commerce_http::ratelimit::{Limits, Quota, RedisLimiter, bucket};
use common::{Db, Setup, TestServer};
use serde_json::json;

const PW: &str = "correct horse battery";

async fn wrong_login(shop: &TestServer, email: &str) -> common::Resp {
    shop.attempt_login(email, "not the password").await
}

async fn forty_wrong_passwords_meet_a_429(backend: Db) {
    // The default limits: the rule must hold as shipped.
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    shop.register("ada@example.com", PW).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..40 {
        let res = wrong_login(&shop, "ada@example.com").await;
        if res.status == 429 {
            assert_eq!(res.code(), "rate_limited");
            retry_after = res.header("retry-after").map(str::to_owned);
        }
        statuses.push(res.status);
    }
    let first_429 = statuses.iter().position(|s| *s == 429);
    assert!(first_429.is_some(), "{statuses:?}");
    assert!(
        statuses[..first_429.unwrap()].iter().all(|s| *s == 401),
        "{statuses:?}"
    );
    let secs: u64 = retry_after
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&secs), "{secs}");
    // Even the right password waits: the account is the key, not the guess.
    let right = shop
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "ADA@example.com", "password": PW}),
        )
        .await;
    assert_eq!(right.refusal(), (429, "rate_limited".into()));
    // Another account from the same address is not held back.
    shop.register("bob@example.com", PW).await;
    shop.login("bob@example.com", PW).await;
}
both!(forty_wrong_passwords_meet_a_429);

/// Unknown emails are limited exactly like known ones (a limit must not
/// tell which accounts exist).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_accounts_are_limited_alike() {
    let Some(shop) = TestServer::quiet(Db::Sqlite, |c| {
        c.auth.rate_limits = Limits::off().with(bucket::LOGIN_ACCOUNT, Quota::per_minute(3));
    })
    .await
    else {
        return;
    };
    shop.register("ada@example.com", PW).await;
    for email in ["ada@example.com", "nobody@example.com"] {
        let statuses: Vec<u16> = {
            let mut v = Vec::new();
            for _ in 0..4 {
                v.push(wrong_login(&shop, email).await.status);
            }
            v
        };
        assert_eq!(statuses, vec![401, 401, 401, 429], "{email}");
    }
}

/// The per-address limits: logins from one address, one-time codes and
/// reset mails per account, and the general limit on every API route (but
/// not on the ops endpoints).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_address_and_per_account_buckets() {
    let Some(shop) = TestServer::quiet(Db::Sqlite, |c| {
        c.auth.rate_limits = Limits::off()
            .with(bucket::LOGIN_IP, Quota::per_minute(3))
            .with(bucket::OTP_ACCOUNT, Quota::per_minute(2))
            .with(bucket::RESET_ACCOUNT, Quota::per_minute(2));
    })
    .await
    else {
        return;
    };
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(
                wrong_login(&shop, &format!("user{i}@example.com"))
                    .await
                    .status,
            );
        }
        v
    };
    assert_eq!(
        statuses,
        vec![401, 401, 401, 429],
        "per address, across accounts"
    );

    for (path, body) in [
        (
            "/api/v1/auth/otp/request",
            json!({"email": "ada@example.com", "purpose": "login"}),
        ),
        (
            "/api/v1/auth/password/forgot",
            json!({"email": "ada@example.com"}),
        ),
    ] {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(shop.post(path, None, &body).await.status);
        }
        assert_eq!(v, vec![202, 202, 429], "{path}");
    }

    let Some(general) = TestServer::quiet(Db::Sqlite, |c| {
        c.auth.rate_limits = Limits::off().with(bucket::IP, Quota::per_minute(2));
    })
    .await
    else {
        return;
    };
    let mut v = Vec::new();
    for _ in 0..3 {
        v.push(general.get_as("/api/v1/me", None).await.status);
    }
    assert_eq!(v, vec![401, 401, 429]);
    let limited = general.get_as("/api/v1/me", None).await;
    assert!(limited.header("retry-after").is_some());
    assert_eq!(
        general.get_as("/healthz", None).await.status,
        200,
        "ops are not limited"
    );
}

/// Two servers (two routers, two processes' worth of state) behind one load
/// balancer share the limit through Redis: 6 wrong passwords on each stay
/// under a per-server limit of 10, yet together they meet the 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_redis() {
    let Some(url) = common::redis_url().await else {
        return;
    };
    let prefix = format!("test:{}", uuid::Uuid::new_v4().simple());
    let limits = Limits::off().with(bucket::LOGIN_ACCOUNT, Quota::per_minute(10));
    let mut shops = Vec::new();
    for _ in 0..2 {
        let Some(store) = common::open(Db::Sqlite).await else {
            return;
        };
        let limiter: Arc<dyn RateLimiter> = Arc::new(
            RedisLimiter::connect(&url, &prefix, limits.clone())
                .await
                .expect("redis limiter"),
        );
        let setup = Setup {
            tweak: Some(Box::new(move |state| state.limiter = limiter)),
            ..Setup::quiet(Config::defaults())
        };
        shops.push(TestServer::launch(store, setup).await);
    }
    let mut statuses = Vec::new();
    for i in 0..12 {
        let shop = &shops[i % 2];
        statuses.push(wrong_login(shop, "ada@example.com").await.status);
    }
    assert_eq!(&statuses[..10], &[401; 10], "{statuses:?}");
    assert_eq!(&statuses[10..], &[429, 429], "{statuses:?}");
    let limited = wrong_login(&shops[0], "ada@example.com").await;
    let secs: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=6).contains(&secs), "{secs}");
}

/// The Redis limiter on its own: a burst, then refusals with the wait; keys
/// and buckets apart; an unlimited bucket passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_limiter_counts_atomically() {
    let Some(url) = common::redis_url().await else {
        return;
    };
    let prefix = format!("test:{}", uuid::Uuid::new_v4().simple());
    let limits = Limits::off().with(bucket::OTP_ACCOUNT, Quota::per_minute(5));
    let a = RedisLimiter::connect(&url, &prefix, limits.clone())
        .await
        .unwrap();
    let b = RedisLimiter::connect(&url, &prefix, limits).await.unwrap();
    // 20 calls at once from two "servers": exactly 5 pass.
    let mut calls = Vec::new();
    for i in 0..20 {
        let l = if i % 2 == 0 { a.clone() } else { b.clone() };
        calls.push(tokio::spawn(async move {
            l.check(bucket::OTP_ACCOUNT, "ada@example.com")
                .await
                .is_ok()
        }));
    }
    let mut passed = 0;
    for c in calls {
        if c.await.unwrap() {
            passed += 1;
        }
    }
    assert_eq!(passed, 5);
    let wait = a
        .check(bucket::OTP_ACCOUNT, "ada@example.com")
        .await
        .unwrap_err();
    assert!((1..=12).contains(&wait.retry_after_secs), "{wait:?}");
    assert!(
        a.check(bucket::OTP_ACCOUNT, "bob@example.com")
            .await
            .is_ok()
    );
    for _ in 0..50 {
        assert!(a.check(bucket::IP, "127.0.0.1").await.is_ok());
    }
}

/// A Redis that stops answering: the limits keep holding in the process.
/// The limiter reaches Redis through a small TCP relay that the test cuts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_falls_back_to_local_limits() {
    let Some(url) = common::redis_url().await else {
        return;
    };
    let target = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_addr = relay.local_addr().unwrap();
    let (cut, cut_rx) = tokio::sync::watch::channel(false);
    let links = Arc::new(std::sync::Mutex::new(Vec::new()));
    let relay_links = Arc::clone(&links);
    let relay_task = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = relay.accept().await {
            let target = target.clone();
            let mut cut_rx = cut_rx.clone();
            let link = tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = cut_rx.wait_for(|c| *c) => {}
                }
            });
            relay_links.lock().unwrap().push(link);
        }
    });
    let limits = Limits::off().with(bucket::LOGIN_ACCOUNT, Quota::per_minute(2));
    let prefix = format!("test:{}", uuid::Uuid::new_v4().simple());
    let l = RedisLimiter::connect(&format!("redis://{relay_addr}"), &prefix, limits)
        .await
        .unwrap();
    assert!(
        l.check(bucket::LOGIN_ACCOUNT, "a").await.is_ok(),
        "through Redis"
    );
    relay_task.abort();
    cut.send(true).unwrap();
    let open: Vec<_> = links.lock().unwrap().drain(..).collect();
    for link in open {
        let _ = link.await;
    }
    // Redis is gone: the process counts on its own, from zero.
    assert!(l.check(bucket::LOGIN_ACCOUNT, "a").await.is_ok());
    assert!(l.check(bucket::LOGIN_ACCOUNT, "a").await.is_ok());
    assert!(l.check(bucket::LOGIN_ACCOUNT, "a").await.is_err());
}
