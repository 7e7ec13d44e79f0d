//! The metrics of sign-ins: refused logins are counted in
//! `commerce_login_failures_total{reason}`. Alone in its test binary, since
//! the Prometheus recorder is global to the process.

mod auth_common;

use auth_common::{Backend, Shop};
use commerce_http::ratelimit::{Limits, Quota, bucket};
use serde_json::json;

async fn wrong_login(shop: &Shop, email: &str) -> auth_common::Res {
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
    let Some(mut parts) = auth_common::parts(Backend::Sqlite, |c| {
        c.auth.rate_limits = Limits::off().with(bucket::LOGIN_ACCOUNT, Quota::per_minute(2));
    })
    .await
    else {
        return;
    };
    parts.state.metrics = Some(commerce_http::telemetry::install_prometheus().expect("recorder"));
    let shop = parts.serve().await;
    for _ in 0..3 {
        wrong_login(&shop, "ada@example.com").await;
    }
    let text = String::from_utf8(shop.get("/metrics", None).await.body).unwrap();
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
