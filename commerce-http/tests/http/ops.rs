//! Operations: health, readiness, metrics, request ids, the documentation
//! pages, and what unknown paths and methods answer.

use crate::common;

use commerce_core::storage::DynStore;
use commerce_http::config::Config;
use common::TestServer;

async fn healthz_and_readyz_answer(s: &TestServer) {
    let res = s.get("/healthz").await;
    res.expect(200);
    assert_eq!(res.json()["status"], "ok");
    let res = s.get("/readyz").await;
    res.expect(200);
    let v = res.json();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["checks"]["database"], "ok");
    assert_eq!(v["checks"]["redis"], "not_configured");
}

async fn every_response_has_a_request_id(s: &TestServer) {
    let echoed = s
        .raw(
            "GET",
            "/healthz",
            &[("x-request-id", "trace-abc.123")],
            Vec::new(),
        )
        .await;
    assert_eq!(echoed.header("x-request-id"), Some("trace-abc.123"));
    // An unsafe incoming id is replaced, on errors too.
    let replaced = s
        .raw(
            "GET",
            "/nowhere",
            &[("x-request-id", "<script>")],
            Vec::new(),
        )
        .await;
    let id = replaced.header("x-request-id").unwrap_or_default();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let a = s.get("/healthz").await;
    let b = s.get("/healthz").await;
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
}

async fn unknown_paths_and_methods_are_problems(s: &TestServer) {
    let res = s.get("/api/v1/no-such-thing").await;
    res.expect(404);
    assert_eq!(res.code(), "not_found");
    let res = s.call("DELETE", "/api/v1/stores", None, None).await;
    res.expect(405);
    assert_eq!(res.code(), "method_not_allowed");
    // A malformed id is no resource at all.
    let res = s.get("/api/v1/products/not-a-uuid").await;
    res.expect(404);
    assert_eq!(res.code(), "not_found");
}

async fn metrics_count_requests_by_route_and_status(s: &TestServer) {
    let id = uuid::Uuid::now_v7();
    s.get(&format!("/api/v1/products/{id}")).await.expect(404);
    let res = s.get("/metrics").await;
    res.expect(200);
    let text = String::from_utf8_lossy(&res.body).into_owned();
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total")
            && l.contains(r#"route="/api/v1/products/{id}""#)
            && l.contains(r#"status="404""#)),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("commerce_jobs_queue_depth"), "{text}");
    assert!(text.contains("commerce_login_failures_total"), "{text}");
    // Raw paths never become labels.
    assert!(!text.contains(&id.to_string()));
}

async fn docs_are_served_locally(s: &TestServer) {
    let res = s.get("/api/docs").await;
    res.expect(302);
    assert_eq!(res.header("location"), Some("/api/docs/"));
    let res = s.get("/api/docs/").await;
    res.expect(200);
    assert!(
        res.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    assert!(String::from_utf8_lossy(&res.body).contains("swagger-ui"));
    let init = s.get("/api/docs/swagger-initializer.js").await;
    init.expect(200);
    assert!(String::from_utf8_lossy(&init.body).contains("/api/openapi.json"));
    let doc = s.get("/api/openapi.json").await;
    doc.expect(200);
    let v = doc.json();
    assert!(
        v["openapi"].as_str().unwrap_or_default().starts_with("3.1"),
        "{}",
        v["openapi"]
    );
    s.get("/api/docs/nope.js").await.expect(404);
}

on_both!(
    healthz_and_readyz_answer,
    every_response_has_a_request_id,
    unknown_paths_and_methods_are_problems,
    metrics_count_requests_by_route_and_status,
    docs_are_served_locally,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_when_the_database_is_gone() {
    let path = std::env::temp_dir().join(format!("ready-{}.db", uuid::Uuid::new_v4().simple()));
    let store = commerce_sqlx::SqliteStore::open(&path)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pool = store.pool().clone();
    let s = TestServer::start_on(DynStore::new(store), Config::defaults()).await;
    s.get("/readyz").await.expect(200);
    pool.close().await;
    let res = s.get("/readyz").await;
    res.expect(503);
    assert_eq!(res.code(), "unavailable");
    assert_eq!(res.json()["checks"]["database"], "failed");
    s.stop().await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_the_queue_is_shared_and_readyz_asks_redis() {
    let url =
        std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let reachable = match redis::Client::open(url.as_str()) {
        Ok(c) => c.get_multiplexed_async_connection().await.is_ok(),
        Err(_) => false,
    };
    if !reachable {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
            "CI=true and Redis at {url} is unreachable"
        );
        eprintln!("SKIPPED: Redis at {url} is unreachable; set TEST_REDIS_URL");
        return;
    }
    let Some(store) = common::open(common::Db::Sqlite).await else {
        return;
    };
    let mut config = Config::defaults();
    config.redis_url = Some(url);
    config.redis_prefix = format!("test:http:{}", uuid::Uuid::new_v4().simple());
    let s = TestServer::start_on(store, config).await;
    assert!(matches!(
        s.state.queue.as_ref(),
        commerce_jobs::AnyQueue::Redis(_)
    ));
    let res = s.get("/readyz").await;
    res.expect(200);
    assert_eq!(res.json()["checks"]["redis"], "ok");
    s.stop().await;
}
