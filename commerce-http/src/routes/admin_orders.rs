//! The back office's orders (admins only): `GET /api/v1/admin/orders`, and
//! `POST /api/v1/admin/orders/{id}/ship`, `/deliver` and `/refund`, each
//! answering 200 with the order. The lifecycle (core's
//! `OrderStatus::transition`) refuses every other move with 409
//! `invalid_transition`; refunds never exceed what was captured (409
//! `refund_exceeds_captured`).

use commerce_core::ids::OrderId;
use commerce_core::storage::{OrderFilter, Store};
use serde::de::DeserializeOwned;
use uuid::Uuid;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::orders::{StatusQuery, order_body, order_page};
use super::{Route, json, respond, with_state};
use crate::auth::{self, Principal};
use crate::dto::order::{OrderBody, OrderPage, RefundRequest, ShipBody};
use crate::error::{ApiError, Problem};
use crate::extract;
use crate::state::AppState;

/// An optional JSON body: none (or an empty one) is `T::default()`;
/// otherwise as [`extract::json`].
fn optional_json<T: DeserializeOwned + Default + Send + 'static>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and(extract::limited_body())
        .and_then(|ct: Option<String>, body: bytes::Bytes| async move {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(T::default());
            }
            let json = ct.as_deref().is_some_and(|ct| {
                let essence = ct.split(';').next().unwrap_or("").trim();
                essence.eq_ignore_ascii_case("application/json")
            });
            if !json {
                return Err(warp::reject::custom(extract::unsupported_media_type()));
            }
            extract::parse_json::<T>(&body).map_err(warp::reject::custom)
        })
}

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    let admin = || {
        auth::required(state.clone())
            .and_then(|p: Principal| async move { p.require_admin().map_err(warp::reject::custom) })
            .untuple_one()
    };
    let list = warp::path!("api" / "v1" / "admin" / "orders")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(admin())
        .and(extract::query::<StatusQuery>())
        .then(list_orders::<S>)
        .map(respond);
    let ship = warp::path!("api" / "v1" / "admin" / "orders" / Uuid / "ship")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(admin())
        .and(optional_json::<ShipBody>())
        .then(ship::<S>)
        .map(respond);
    let deliver = warp::path!("api" / "v1" / "admin" / "orders" / Uuid / "deliver")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(admin())
        .then(deliver::<S>)
        .map(respond);
    let refund = warp::path!("api" / "v1" / "admin" / "orders" / Uuid / "refund")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(admin())
        .and(optional_json::<RefundRequest>())
        .then(refund::<S>)
        .map(respond);
    list.or(ship)
        .unify()
        .or(deliver)
        .unify()
        .or(refund)
        .unify()
        .boxed()
}

/// Every order, newest first, optionally in one status.
#[utoipa::path(get, path = "/api/v1/admin/orders", tag = "admin", security(("bearer" = [])),
    params(StatusQuery),
    responses(
        (status = 200, description = "A page of orders, newest first", body = OrderPage),
        (status = 401, description = "`unauthorized` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad status or paging parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_orders<S: Store + 'static>(
    state: AppState<S>,
    query: StatusQuery,
) -> Result<Response, ApiError> {
    let (status, page, per_page) = query.resolve()?;
    let filter = OrderFilter {
        status,
        ..OrderFilter::default()
    };
    order_page(&state, filter, page, per_page).await
}

async fn answer<S: Store + 'static>(
    state: &AppState<S>,
    order: &commerce_core::order::Order,
) -> Result<Response, ApiError> {
    state.nudge_relay();
    Ok(json(StatusCode::OK, &order_body(state, order).await?))
}

/// Marks a paid order shipped.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/ship", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order")),
    request_body(content = Option<ShipBody>, description = "Optional"),
    responses(
        (status = 200, description = "Shipped", body = OrderBody),
        (status = 401, description = "`unauthorized` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: only a paid order ships", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (tracking over 100 characters)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn ship<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
    body: ShipBody,
) -> Result<Response, ApiError> {
    let order = state
        .commerce
        .ship_order(OrderId::from_uuid(id), body.tracking)
        .await?;
    answer(&state, &order).await
}

/// Marks a shipped order delivered.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/deliver", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order")),
    responses(
        (status = 200, description = "Delivered", body = OrderBody),
        (status = 401, description = "`unauthorized` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: only a shipped order is delivered", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deliver<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
) -> Result<Response, ApiError> {
    let order = state.commerce.deliver_order(OrderId::from_uuid(id)).await?;
    answer(&state, &order).await
}

/// Refunds part or all of what was captured; a full refund makes the
/// order `refunded`, a partial one keeps its status and records the refund.
#[utoipa::path(post, path = "/api/v1/admin/orders/{id}/refund", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order")),
    request_body(content = Option<RefundRequest>, description = "Optional: without `amount`, everything still refundable"),
    responses(
        (status = 200, description = "Refunded (the refund is in `refunds`)", body = OrderBody),
        (status = 401, description = "`unauthorized` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`refund_exceeds_captured` (more than is left to refund), `invalid_transition` (nothing captured, or nothing left)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: not a positive amount in the order's currency", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refund<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
    body: RefundRequest,
) -> Result<Response, ApiError> {
    let order = state
        .commerce
        .refund_order(OrderId::from_uuid(id), body.amount, "refunded by an admin")
        .await?;
    answer(&state, &order).await
}
