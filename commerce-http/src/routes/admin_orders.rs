//! The back office's orders (admins only): `GET /api/v1/admin/orders`, and
//! `POST /api/v1/admin/orders/{id}/ship`, `/deliver` and `/refund`, each
//! answering 200 with the order. The lifecycle (core's
//! `OrderStatus::transition`) refuses every other move with 409
//! `invalid_transition`; refunds never exceed what was captured (409
//! `refund_exceeds_captured`).

use commerce_core::ids::OrderId;
use commerce_core::storage::{OrderFilter, Store};
use uuid::Uuid;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::orders::{StatusQuery, order_body, order_page};
use super::{Route, json, replay, respond, with_state};
use crate::auth::{self, Principal};
use crate::dto::order::{OrderBody, OrderPage, RefundRequest, ShipBody};
use crate::error::{ApiError, Problem};
use crate::extract;
use crate::state::AppState;
use bytes::Bytes;

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    let list = warp::path!("api" / "v1" / "admin" / "orders")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(
            auth::required(state.clone())
                .and_then(
                    |p: Principal| async move { p.require_admin().map_err(warp::reject::custom) },
                )
                .untuple_one(),
        )
        .and(extract::query::<StatusQuery>())
        .then(list_orders::<S>)
        .map(respond);
    let ship = warp::path!("api" / "v1" / "admin" / "orders" / Uuid / "ship")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(replay::admin_guard(state.clone()))
        .and(extract::optional_json_and_raw::<ShipBody>())
        .then(
            |id, state: AppState<S>, guard: replay::Guard, (body, raw): (_, Bytes)| async move {
                let route = ship(id, state.clone(), body);
                guard.run(&state, &raw, route).await
            },
        )
        .map(respond);
    let deliver = warp::path!("api" / "v1" / "admin" / "orders" / Uuid / "deliver")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(replay::admin_guard(state.clone()))
        .then(|id, state: AppState<S>, guard: replay::Guard| async move {
            let route = deliver(id, state.clone());
            guard.run(&state, b"", route).await
        })
        .map(respond);
    let refund = warp::path!("api" / "v1" / "admin" / "orders" / Uuid / "refund")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(replay::admin_guard(state))
        .and(extract::optional_json_and_raw::<RefundRequest>())
        .then(
            |id, state: AppState<S>, guard: replay::Guard, (body, raw): (_, Bytes)| async move {
                let route = refund(id, state.clone(), body);
                guard.run(&state, &raw, route).await
            },
        )
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
