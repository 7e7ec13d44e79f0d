//! Logs and metrics: JSON log lines through `tracing`, and Prometheus
//! series through the `metrics` facade.
//!
//! | series | labels |
//! | --- | --- |
//! | `http_requests_total` | `method`, `route` (the documented path template), `status` |
//! | `http_request_duration_seconds` (histogram) | `method`, `route`, `status` |
//! | `commerce_login_failures_total` | `reason` (incremented by the auth routes) |
//! | `commerce_jobs_queue_depth` | `state` (refreshed by the job worker) |
//!
//! Routes are labelled with their template (`/api/v1/products/{id}`), never
//! the raw path, and unknown paths share the label `unmatched`, so the
//! number of series stays bounded whatever clients send.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests, by method, route and status.
pub const REQUESTS_TOTAL: &str = "http_requests_total";
/// Request latency in seconds, by method, route and status.
pub const REQUEST_DURATION: &str = "http_request_duration_seconds";
/// Failed sign-ins, by reason.
pub const LOGIN_FAILURES: &str = "commerce_login_failures_total";

/// Latency buckets, in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the Prometheus recorder as the global `metrics` recorder (once
/// per process; later calls get the same handle).
///
/// # Errors
/// Another global recorder was installed first.
pub fn install_prometheus() -> Result<PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("wait_seconds".into()), BUCKETS)
                })
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())
                .inspect(|_| describe())
        })
        .clone()
}

/// Describes the server's series, and starts the login-failure counter at
/// zero so dashboards and alerts see it before the first failure.
fn describe() {
    metrics::describe_counter!(REQUESTS_TOTAL, "HTTP requests, by method, route and status");
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency, by method, route and status"
    );
    metrics::describe_counter!(LOGIN_FAILURES, "Failed sign-ins, by reason");
    metrics::counter!(LOGIN_FAILURES, "reason" => "invalid_credentials").absolute(0);
}

/// JSON log lines on stdout, filtered by `RUST_LOG` (default `info`).
/// Calling it twice is harmless.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .try_init();
}

/// The route templates the server serves (from the OpenAPI document, plus
/// the documentation pages).
fn templates() -> &'static [Vec<String>] {
    static T: OnceLock<Vec<Vec<String>>> = OnceLock::new();
    T.get_or_init(|| {
        crate::openapi::documented_paths()
            .into_iter()
            .chain(["/api/docs".to_owned()])
            .map(|p| p.split('/').map(str::to_owned).collect())
            .collect()
    })
}

/// The label of a request path: its template, or `unmatched`.
pub fn route_label(path: &str) -> String {
    if path.starts_with("/api/docs/") {
        return "/api/docs/{file}".to_owned();
    }
    let segments: Vec<&str> = path.split('/').collect();
    for t in templates() {
        if t.len() == segments.len()
            && t.iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty()))
        {
            return t.join("/");
        }
    }
    "unmatched".to_owned()
}

/// Records one finished request.
pub fn record_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(REQUEST_DURATION, &labels).record(elapsed.as_secs_f64());
}

/// Counts a failed sign-in (`reason`: `invalid_credentials`, `rate_limited`, ...).
pub fn record_login_failure(reason: &'static str) {
    metrics::counter!(LOGIN_FAILURES, "reason" => reason).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_templates_or_unmatched() {
        assert_eq!(route_label("/healthz"), "/healthz");
        assert_eq!(
            route_label("/api/v1/products/0190c7a4-0000-7000-8000-000000000000"),
            "/api/v1/products/{id}"
        );
        assert_eq!(route_label("/api/v1/nope/../x"), "unmatched");
        assert_eq!(route_label("/api/docs/index.css"), "/api/docs/{file}");
    }
}
