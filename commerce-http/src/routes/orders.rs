//! Orders: a buyer's own (`GET /api/v1/orders`, `GET /api/v1/orders/{id}`,
//! `POST /api/v1/orders/{id}/cancel`) and a seller's view of its store's
//! (`GET /api/v1/stores/{id}/orders`).
//!
//! Who may see an order is decided here, in [`visible_order`], and nowhere
//! else: its buyer (a signed-in account, or a guest holding the order's
//! `X-Order-Token`) and admins. Anyone else gets 404, never 403, so order
//! ids cannot be probed.

use std::sync::OnceLock;

use commerce_core::ids::{OrderId, StoreId};
use commerce_core::order::{Order, OrderStatus};
use commerce_core::storage::{OrderFilter, Store};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::Sha256;
use uuid::Uuid;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::{Route, json, respond, with_state};
use crate::auth::{self, Principal};
use crate::dto::order::{OrderBody, OrderPage, SellerOrderBody, SellerOrderPage};
use crate::error::{ApiError, Problem};
use crate::extract::{self, Paging, opt_num};
use crate::state::AppState;

/// The header a guest proves an order is theirs with.
pub const ORDER_TOKEN: &str = "x-order-token";

/// Who calls an order route.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A signed-in account.
    User(Principal),
    /// A guest, with the `X-Order-Token` it presented.
    Guest(String),
}

/// How the caller relates to an order it may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The buyer.
    Owner,
    /// An admin who is not the buyer.
    Admin,
}

/// The caller: a valid access token, or else an `X-Order-Token`; neither is
/// 401 `unauthorized`, a bad access token 401 `invalid_token`.
pub fn caller<S: Store + 'static>(
    state: AppState<S>,
) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    auth::optional(state)
        .and(warp::header::optional::<String>(ORDER_TOKEN))
        .and_then(|p: Option<Principal>, token: Option<String>| async move {
            match (p, token) {
                (Some(p), _) => Ok(Caller::User(p)),
                (None, Some(t)) => Ok(Caller::Guest(t)),
                (None, None) => Err(warp::reject::custom(ApiError::unauthorized())),
            }
        })
}

type HmacSha256 = Hmac<Sha256>;

/// The key of guest order tokens: derived from `COMMERCE_JWT_SECRET` (so
/// servers sharing it accept each other's tokens), or random per process.
fn guest_key<S>(state: &AppState<S>) -> [u8; 32] {
    static RANDOM: OnceLock<[u8; 32]> = OnceLock::new();
    match &state.config.jwt_secret {
        Some(secret) => {
            let mut mac =
                <HmacSha256 as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
                    .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(b"commerce-http guest order tokens v1");
            mac.finalize().into_bytes().into()
        }
        None => *RANDOM.get_or_init(|| {
            let mut k = [0u8; 32];
            if crate::auth::secret::random_bytes(&mut k).is_err() {
                // No OS randomness: fall back on v4 UUIDs (also random).
                k[..16].copy_from_slice(Uuid::new_v4().as_bytes());
                k[16..].copy_from_slice(Uuid::new_v4().as_bytes());
            }
            k
        }),
    }
}

fn order_mac<S>(state: &AppState<S>, order: OrderId) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&guest_key(state))
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(order.as_uuid().as_bytes());
    mac
}

/// The secret a guest reads, pays and cancels its order with.
pub fn order_token<S>(state: &AppState<S>, order: OrderId) -> String {
    hex::encode(order_mac(state, order).finalize().into_bytes())
}

fn token_matches<S>(state: &AppState<S>, order: OrderId, presented: &str) -> bool {
    hex::decode(presented.trim())
        .is_ok_and(|sig| order_mac(state, order).verify_slice(&sig).is_ok())
}

/// The order, if the caller may see it: its buyer, or an admin. Anyone else
/// (and a guest token for another order) gets 404.
///
/// # Errors
/// 404 `not_found`.
pub async fn visible_order<S: Store + 'static>(
    state: &AppState<S>,
    caller: &Caller,
    id: OrderId,
) -> Result<(Order, Access), ApiError> {
    let order = state.commerce.order(id).await?;
    let access = match caller {
        Caller::User(p) if order.customer_id == Some(p.customer_id) => Some(Access::Owner),
        Caller::User(p) if p.is_admin() => Some(Access::Admin),
        Caller::Guest(t) if order.customer_id.is_none() && token_matches(state, id, t) => {
            Some(Access::Owner)
        }
        _ => None,
    };
    access
        .map(|a| (order, a))
        .ok_or_else(|| ApiError::not_found("order"))
}

/// An order with its payments, as its buyer sees it.
pub async fn order_body<S: Store + 'static>(
    state: &AppState<S>,
    order: &Order,
) -> Result<OrderBody, ApiError> {
    let payments = state.commerce.payments_of(order.id).await?;
    Ok(OrderBody::new(order, &payments))
}

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    let list = warp::path!("api" / "v1" / "orders")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(auth::required(state.clone()))
        .and(extract::query::<Paging>())
        .then(list_orders::<S>)
        .map(respond);
    let one = warp::path!("api" / "v1" / "orders" / Uuid)
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(caller(state.clone()))
        .then(get_order::<S>)
        .map(respond);
    let cancel = warp::path!("api" / "v1" / "orders" / Uuid / "cancel")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(caller(state.clone()))
        .then(cancel_order::<S>)
        .map(respond);
    let store = warp::path!("api" / "v1" / "stores" / Uuid / "orders")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(auth::required(state))
        .and(extract::query::<StatusQuery>())
        .then(store_orders::<S>)
        .map(respond);
    list.or(one)
        .unify()
        .or(cancel)
        .unify()
        .or(store)
        .unify()
        .boxed()
}

/// `?status=&page=&per_page=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Only orders in this status (`pending_payment`, `paid`, `shipped`,
    /// `delivered`, `cancelled`, `expired`, `refunded`).
    #[serde(default)]
    pub status: Option<String>,
    /// The page, from 1.
    #[serde(default, deserialize_with = "opt_num")]
    pub page: Option<u32>,
    /// 1 to 100 (default 20).
    #[serde(default, deserialize_with = "opt_num")]
    pub per_page: Option<u32>,
}

impl StatusQuery {
    /// The status, page and page size, checked.
    ///
    /// # Errors
    /// 422 `validation_failed` naming the parameter.
    pub fn resolve(&self) -> Result<(Option<OrderStatus>, u32, u32), ApiError> {
        let status = match self.status.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(OrderStatus::parse(s).ok_or_else(|| {
                ApiError::validation(
                    "status",
                    "one of pending_payment, paid, shipped, delivered, cancelled, expired, refunded",
                )
            })?),
        };
        let (page, per_page) = Paging {
            page: self.page,
            per_page: self.per_page,
        }
        .resolve()?;
        Ok((status, page, per_page))
    }
}

/// A page of orders as their buyer (or an admin) sees them.
pub async fn order_page<S: Store + 'static>(
    state: &AppState<S>,
    filter: OrderFilter,
    page: u32,
    per_page: u32,
) -> Result<Response, ApiError> {
    let found = state.commerce.orders(filter, page, per_page).await?;
    // The page's payments in one read, then each order takes its own.
    let ids: Vec<OrderId> = found.items.iter().map(|o| o.id).collect();
    let mut payments = state.commerce.payments_of_orders(&ids).await?;
    let items = found
        .items
        .iter()
        .map(|order| {
            let mine: Vec<_> = payments
                .extract_if(.., |p| p.order_id == order.id)
                .collect();
            OrderBody::new(order, &mine)
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &OrderPage {
            items,
            page: found.page,
            per_page: found.per_page,
            total: found.total,
        },
    ))
}

/// The caller's own orders, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])),
    params(Paging),
    responses(
        (status = 200, description = "A page of the caller's orders, newest first", body = OrderPage),
        (status = 401, description = "`unauthorized` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad paging parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_orders<S: Store + 'static>(
    state: AppState<S>,
    who: Principal,
    paging: Paging,
) -> Result<Response, ApiError> {
    let (page, per_page) = paging.resolve()?;
    let filter = OrderFilter {
        customer_id: Some(who.customer_id),
        ..OrderFilter::default()
    };
    order_page(&state, filter, page, per_page).await
}

/// An order: the caller's own (a guest's with its `X-Order-Token`), or any
/// for an admin.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders",
    params(
        ("id" = Uuid, Path, description = "The order"),
        ("X-Order-Token" = Option<String>, Header, description = "A guest order's token (from the checkout answer)"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The order, lines as sold, with its payments and refunds", body = OrderBody),
        (status = 401, description = "Neither a token nor an `X-Order-Token`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order, or not the caller's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_order<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let (order, _) = visible_order(&state, &caller, OrderId::from_uuid(id)).await?;
    Ok(json(StatusCode::OK, &order_body(&state, &order).await?))
}

/// Cancels an order: its buyer while it is pending or paid and not shipped,
/// or an admin. Reserved stock is released (a paid order's is restocked and
/// the captured amount refunded); pending payments are voided.
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders",
    params(
        ("id" = Uuid, Path, description = "The order"),
        ("X-Order-Token" = Option<String>, Header, description = "A guest order's token"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled", body = OrderBody),
        (status = 401, description = "Neither a token nor an `X-Order-Token`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_transition`: shipped, delivered, cancelled, expired or refunded", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel_order<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let (order, access) = visible_order(&state, &caller, OrderId::from_uuid(id)).await?;
    let reason = match access {
        Access::Owner => "cancelled by the buyer",
        Access::Admin => "cancelled by an admin",
    };
    let order = state.commerce.cancel_order(order.id, reason).await?;
    state.nudge_relay();
    Ok(json(StatusCode::OK, &order_body(&state, &order).await?))
}

/// The orders holding a store's lines, for its owner (or an admin): only
/// that store's lines, no payment details.
#[utoipa::path(get, path = "/api/v1/stores/{id}/orders", tag = "orders", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The store"), StatusQuery),
    responses(
        (status = 200, description = "A page of orders, newest first, with the store's lines only", body = SellerOrderPage),
        (status = 401, description = "`unauthorized` or `invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the store's owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such store", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad status or paging parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn store_orders<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
    who: Principal,
    query: StatusQuery,
) -> Result<Response, ApiError> {
    let (status, page, per_page) = query.resolve()?;
    let found = state
        .commerce
        .store_orders(who.actor(), StoreId::from_uuid(id), status, page, per_page)
        .await?;
    Ok(json(
        StatusCode::OK,
        &SellerOrderPage {
            items: found.items.iter().map(SellerOrderBody::from).collect(),
            page: found.page,
            per_page: found.per_page,
            total: found.total,
        },
    ))
}
