//! The metrics of sign-ins: refused logins are counted in
//! `commerce_login_failures_total{reason}`. Alone in its test binary, since
//! the Prometheus recorder is global to the process.

#[path = "http/common/mod.rs"]
mod common;

use commerce_http::ratelimit::{Limits, Quota, bucket};
use common::{Db, TestServer};
use serde_json::json;

async fn wrong_login(shop: &TestServer, email: &str) -> common::Resp {
    shop.post(
        "/api/v1/auth/login",
        None,
        &json!({"email": email, "password": "not the password"}),
    )
    .await
}

/// Refused logins are counted in `commerce_login_failures_total`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_are_counted() {
    let Some(shop) = TestServer::quiet(Db::Sqlite, |c| {
        c.auth.rate_limits = Limits::off().with(bucket::LOGIN_ACCOUNT, Quota::per_minute(2));
    })
    .await
    else {
        return;
    };
    for _ in 0..3 {
        wrong_login(&shop, "ada@example.com").await;
    }
    let text = String::from_utf8(shop.get_as("/metrics", None).await.body.to_vec()).unwrap();
    let line = |reason: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("commerce_login_failures_total")
                    && l.contains(&format!("reason=\"{reason}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<f64>().ok())
    };
    assert_eq!(line("invalid_credentials"), Some(2.0), "{text}");
    assert_eq!(line("rate_limited"), Some(1.0), "{text}");
}
