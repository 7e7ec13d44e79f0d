//! # commerce-http
//!
//! The reference HTTP server of commerce-rs: warp routes over
//! [`commerce_core`]'s services, with the conventions of the API contract
//! (`docs/http.md`): problem+json errors with stable codes ([`error`]), JSON
//! bodies with unknown fields refused and a 1 MiB limit ([`extract`]),
//! bearer access tokens ([`auth`]), an OpenAPI 3.1 document ([`openapi`]),
//! a request id, a JSON log line and Prometheus series for every request
//! ([`telemetry`]).
//!
//! Handlers parse, call core, and map the result; no business rule lives
//! here. The library is generic over core's [`Store`]; the binary
//! `commerce-server` picks SQLite or PostgreSQL at run time (through
//! [`commerce_core::storage::DynStore`]) and serves [`router`].
//!
//! ```no_run
//! # async fn run(state: commerce_http::AppState<commerce_core::storage::InMemoryStore>) {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! warp::serve(commerce_http::router(state)).incoming(listener).run().await;
//! # }
//! ```

pub mod admin;
pub mod auth;
pub mod config;
pub mod demo;
pub mod dto;
pub mod error;
pub mod extract;
pub mod limits;
pub mod openapi;
pub mod ratelimit;
pub mod routes;
pub mod server;
pub mod state;
pub mod telemetry;

use std::convert::Infallible;
use std::time::Instant;

use commerce_core::storage::Store;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

pub use config::Config;
pub use error::ApiError;
pub use state::AppState;

/// The whole server: every route, the rejection handler (problem+json for
/// unknown paths, wrong methods and refused input), and per-request
/// telemetry (request id, log line, metrics).
///
/// Every request is counted as served until its answer is ready, so that
/// password hashes yield while the server is busy
/// ([`auth::password::Yielding`]).
pub fn router<S: Store + 'static>(state: AppState<S>) -> BoxedFilter<(Response,)> {
    let foreground = std::sync::Arc::clone(state.passwords.foreground());
    let routes = routes::all(state).recover(handle_rejection).unify();
    warp::any()
        .map(move || (Instant::now(), foreground.enter()))
        .and(warp::method())
        .and(warp::path::full())
        .and(extract::request_id())
        .and(routes)
        .map(
            |(start, serving): (Instant, auth::password::Serving),
             method: Method,
             path: warp::path::FullPath,
             request_id: String,
             mut res: Response| {
                drop(serving);
                finish(&mut res, start, &method, path.as_str(), &request_id);
                res
            },
        )
        .boxed()
}

fn finish(res: &mut Response, start: Instant, method: &Method, path: &str, request_id: &str) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        res.headers_mut().insert(extract::REQUEST_ID, v);
    }
    let status = res.status().as_u16();
    let elapsed = start.elapsed();
    let route = telemetry::route_label(path);
    telemetry::record_request(method.as_str(), &route, status, elapsed);
    tracing::info!(
        target: "commerce_http::access",
        request_id,
        method = method.as_str(),
        route = route.as_str(),
        status,
        micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "request"
    );
}

/// Turns every rejection into problem+json.
async fn handle_rejection(r: Rejection) -> Result<Response, Infallible> {
    use warp::reject;
    let e = if let Some(api) = r.find::<ApiError>() {
        api.clone()
    } else if r.is_not_found() {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    } else if r.find::<reject::MethodNotAllowed>().is_some() {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path does not take this method",
        )
    } else if r.find::<reject::PayloadTooLarge>().is_some() {
        extract::too_large()
    } else if r.find::<reject::UnsupportedMediaType>().is_some() {
        extract::unsupported_media_type()
    } else if let Some(h) = r.find::<reject::InvalidHeader>() {
        ApiError::bad_request(format!("invalid header {}", h.name()))
    } else if let Some(h) = r.find::<reject::MissingHeader>() {
        ApiError::bad_request(format!("missing header {}", h.name()))
    } else if r.find::<reject::InvalidQuery>().is_some() {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "the query string is invalid",
        )
    } else {
        ApiError::internal(format!("unhandled rejection: {r:?}"))
    };
    Ok(e.into_response())
}
