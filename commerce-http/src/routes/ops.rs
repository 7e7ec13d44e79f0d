//! Operations: `/healthz`, `/readyz`, `/metrics`, the OpenAPI document and
//! Swagger UI.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use commerce_core::ids::StoreId;
use commerce_core::storage::Store;
use commerce_jobs::{AnyQueue, JobQueue};
use serde::Serialize;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{Route, json, respond, with_state};
use crate::error::ApiError;
use crate::state::AppState;

/// How long a readiness check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    let healthz = warp::path!("healthz")
        .and(warp::get())
        .map(|| json(StatusCode::OK, &Health { status: "ok" }));
    let readyz = warp::path!("readyz")
        .and(warp::get())
        .and(with_state(state.clone()))
        .then(readyz::<S>);
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_state(state))
        .then(metrics::<S>)
        .map(respond);
    let openapi = warp::path!("api" / "openapi.json")
        .and(warp::get())
        .map(openapi_json);
    let docs = warp::path("api")
        .and(warp::path("docs"))
        .and(warp::get())
        .and(warp::path::full())
        .and(warp::path::tail())
        .map(|full: warp::path::FullPath, tail: warp::path::Tail| {
            swagger_file(full.as_str() == "/api/docs", tail.as_str())
        });
    healthz
        .or(readyz)
        .unify()
        .or(metrics)
        .unify()
        .or(openapi)
        .unify()
        .or(docs)
        .unify()
        .boxed()
}

/// `GET /healthz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// `GET /readyz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// Each dependency: `ok`, `failed`, `timeout`, or `not_configured`.
    pub checks: ReadinessChecks,
}

/// The dependencies `/readyz` asks.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadinessChecks {
    /// The database.
    pub database: &'static str,
    /// Redis (only when `REDIS_URL` is set).
    pub redis: &'static str,
}

/// The process lives.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "The process lives", body = Health)))]
pub async fn healthz_doc() {}

async fn check<F: Future<Output = bool>>(f: F) -> &'static str {
    match tokio::time::timeout(CHECK_TIMEOUT, f).await {
        Ok(true) => "ok",
        Ok(false) => "failed",
        Err(_) => "timeout",
    }
}

use std::future::Future;

/// Whether the database and Redis (if configured) answer.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "A dependency does not answer", body = crate::error::Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn readyz<S: Store + 'static>(state: AppState<S>) -> Response {
    // A primary-key lookup of a store that does not exist: one round trip.
    let database = check(async {
        let r = state
            .commerce
            .store()
            .seller_store(StoreId::from_u128(0))
            .await;
        if let Err(e) = &r {
            tracing::warn!(error = %e, "readiness: database failed");
        }
        r.is_ok()
    })
    .await;
    let redis = match state.queue.as_ref() {
        AnyQueue::InProcess(_) => "not_configured",
        queue => {
            check(async {
                let r = queue.stats().await;
                if let Err(e) = &r {
                    tracing::warn!(error = %e, "readiness: redis failed");
                }
                r.is_ok()
            })
            .await
        }
    };
    let ready = database == "ok" && (redis == "ok" || redis == "not_configured");
    let checks = ReadinessChecks { database, redis };
    if ready {
        json(
            StatusCode::OK,
            &Readiness {
                status: "ready",
                checks,
            },
        )
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a dependency does not answer",
        )
        .with_extra("checks", serde_json::to_value(&checks).unwrap_or_default())
        .into_response()
    }
}

/// Prometheus text.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text exposition", body = String,
        content_type = "text/plain")))]
pub async fn metrics<S: Store + 'static>(state: AppState<S>) -> Result<Response, ApiError> {
    let handle = state
        .metrics
        .as_ref()
        .ok_or_else(|| ApiError::not_found("metrics"))?;
    // The worker refreshes the depth too; a scrape makes it current.
    if let Ok(Ok(stats)) = tokio::time::timeout(CHECK_TIMEOUT, state.queue.stats()).await {
        for (s, n) in [
            ("ready", stats.ready),
            ("scheduled", stats.scheduled),
            ("in_flight", stats.in_flight),
            ("dead", stats.dead),
        ] {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("commerce_jobs_queue_depth", "state" => s).set(n as f64);
        }
    }
    let mut res = Response::new(handle.render().into());
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(res)
}

/// The OpenAPI document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "ops",
    responses((status = 200, description = "This document", body = Object)))]
pub async fn openapi_doc() {}

fn openapi_json() -> Response {
    static DOC: OnceLock<String> = OnceLock::new();
    let body = DOC.get_or_init(|| crate::openapi::document().to_json().unwrap_or_default());
    let mut res = Response::new(body.clone().into());
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// Swagger UI, served from files compiled into the binary.
#[utoipa::path(get, path = "/api/docs", tag = "ops",
    responses((status = 200, description = "Swagger UI", body = String, content_type = "text/html")))]
pub async fn docs_doc() {}

fn swagger_file(bare: bool, tail: &str) -> Response {
    static CONFIG: OnceLock<Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    let config =
        CONFIG.get_or_init(|| Arc::new(utoipa_swagger_ui::Config::from("/api/openapi.json")));
    // `/api/docs` must end in a slash for the page's relative links.
    if bare {
        let mut res = Response::new(Default::default());
        *res.status_mut() = StatusCode::FOUND;
        res.headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/api/docs/"));
        return res;
    }
    match utoipa_swagger_ui::serve(tail, Arc::clone(config)) {
        Ok(Some(file)) => {
            let mut res = Response::new(file.bytes.into_owned().into());
            if let Ok(ct) = HeaderValue::from_str(&file.content_type) {
                res.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            res
        }
        Ok(None) => ApiError::not_found("documentation file").into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}
