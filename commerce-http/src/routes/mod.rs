//! The routes, one module per group, combined in [`all`].
//!
//! Each group is `pub fn routes(state) -> Route` (a boxed filter answering a
//! [`Response`]). A handler parses, calls `commerce-core`, and maps the
//! result: `Ok` to its status and JSON body, `Err` through
//! [`ApiError`] to problem+json.
//!
//! Filters match the path first, then the method, then credentials and the
//! body, so an unknown path is 404, a known path with another method 405,
//! and a missing token on a known route 401.

pub mod admin_orders;
pub mod auth;
pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod me;
pub mod ops;
pub mod orders;
pub mod payments;
pub mod products;
pub mod promotions;
pub mod replay;
pub mod reviews;
pub mod shipping;
pub mod stores;

use std::convert::Infallible;

use commerce_core::storage::Store;
use serde::Serialize;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::error::ApiError;
use crate::state::AppState;

/// A route group: a boxed filter producing a response.
pub type Route = BoxedFilter<(Response,)>;

/// Every route of the server. The ops endpoints answer load balancers and
/// scrapers unlimited; every other route is behind the general per-address
/// rate limit ([`crate::ratelimit::per_ip`]).
pub fn all<S: Store + 'static>(state: AppState<S>) -> Route {
    let api = auth::routes(state.clone())
        .or(me::routes(state.clone()))
        .unify()
        .or(stores::routes(state.clone()))
        .unify()
        .or(catalog::routes(state.clone()))
        .unify()
        .or(products::routes(state.clone()))
        .unify()
        .or(reviews::routes(state.clone()))
        .unify()
        .or(checkout::routes(state.clone()))
        .unify()
        .or(orders::routes(state.clone()))
        .unify()
        .or(payments::routes(state.clone()))
        .unify()
        .or(admin_orders::routes(state.clone()))
        .unify()
        .or(cart::routes(state.clone()))
        .unify()
        .or(shipping::routes(state.clone()))
        .unify()
        .or(promotions::routes(state.clone()))
        .unify();
    ops::routes(state.clone())
        .or(crate::ratelimit::per_ip(state).and(api))
        .unify()
        .boxed()
}

/// Passes the state to a handler.
pub fn with_state<S: Store + 'static>(
    state: AppState<S>,
) -> impl Filter<Extract = (AppState<S>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// A handler's result as a response.
pub fn respond<T: Reply>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(reply) => reply.into_response(),
        Err(e) => e.into_response(),
    }
}

/// A JSON body with a status.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// 204 No Content.
pub fn no_content() -> Response {
    warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT).into_response()
}

/// A group with no routes yet: every request passes through to the others.
pub fn empty() -> Route {
    warp::any()
        .and_then(|| async { Err::<Response, _>(warp::reject::not_found()) })
        .boxed()
}
