//! `POST /api/v1/checkout`: turns the caller's cart (a signed-in account's,
//! or a guest's by `X-Cart-Token`) into an order awaiting payment.
//!
//! An `Idempotency-Key` is required. Core keeps Stripe's contract with it
//! (scoped to the caller: the account, or the guest cart): the same key and
//! the same body replay the first answer — the order (201), or a final
//! refusal such as `insufficient_stock` (409) — the same key with another
//! body is 422 `idempotency_key_reused`, and while the first request still
//! runs a duplicate gets 409 `conflict` with `Retry-After`.

use commerce_core::address::Address;
use commerce_core::cart::{CartOwner, CartToken};
use commerce_core::idempotency::IdempotencyKey;
use commerce_core::ids::AddressId;
use commerce_core::service::CheckoutRequest;
use commerce_core::storage::Store;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::orders::{order_body, order_token};
use super::{Route, json, respond, with_state};
use crate::auth::{self, Principal};
use crate::dto::order::{CheckoutBody, OrderBody};
use crate::error::{ApiError, Problem};
use crate::extract;
use crate::state::AppState;

/// The header naming a guest's cart.
pub const CART_TOKEN: &str = "x-cart-token";
/// The header carrying a client's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// A required `Idempotency-Key`: missing is 400 `idempotency_key_required`;
/// not 1 to 255 visible ASCII characters is 422 `validation_failed`.
pub fn idempotency_key() -> impl Filter<Extract = (IdempotencyKey,), Error = Rejection> + Clone {
    warp::header::optional::<String>(IDEMPOTENCY_KEY).and_then(|h: Option<String>| async move {
        match h {
            None => Err(warp::reject::custom(ApiError::new(
                StatusCode::BAD_REQUEST,
                "idempotency_key_required",
                "this call needs an Idempotency-Key header (1 to 255 visible ASCII characters)",
            ))),
            Some(k) => IdempotencyKey::parse(&k).map_err(|e| {
                warp::reject::custom(ApiError::validation("Idempotency-Key", e.to_string()))
            }),
        }
    })
}

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    warp::path!("api" / "v1" / "checkout")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(auth::optional(state))
        .and(warp::header::optional::<String>(CART_TOKEN))
        .and(idempotency_key())
        .and(extract::json::<CheckoutBody>())
        .then(checkout::<S>)
        .map(respond)
        .boxed()
}

/// Whose cart, and the email the order is for.
async fn buyer<S: Store + 'static>(
    state: &AppState<S>,
    who: Option<&Principal>,
    cart_token: Option<&str>,
    email: Option<&str>,
) -> Result<(CartOwner, Option<commerce_core::ids::CustomerId>, String), ApiError> {
    let email = email.map(str::trim).filter(|e| !e.is_empty());
    match who {
        Some(p) => {
            let email = match email {
                Some(e) => e.to_owned(),
                None => state
                    .commerce
                    .account(p.customer_id)
                    .await?
                    .email
                    .to_string(),
            };
            Ok((
                CartOwner::Account(p.customer_id),
                Some(p.customer_id),
                email,
            ))
        }
        None => {
            let token = cart_token.ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "sign in, or send the guest cart's X-Cart-Token",
                )
            })?;
            let token = CartToken::parse(token.trim())
                .map_err(|_| ApiError::validation("X-Cart-Token", "not a cart token"))?;
            let email =
                email.ok_or_else(|| ApiError::validation("email", "a guest must give an email"))?;
            Ok((CartOwner::Guest(token), None, email.to_owned()))
        }
    }
}

/// Where to ship: an address-book entry of the signed-in buyer, or an
/// address given in full, or none.
async fn shipping_address<S: Store + 'static>(
    state: &AppState<S>,
    who: Option<&Principal>,
    body: &CheckoutBody,
) -> Result<Option<Address>, ApiError> {
    match (&body.shipping_address_id, &body.shipping_address) {
        (Some(_), Some(_)) => Err(ApiError::validation(
            "shipping_address",
            "give shipping_address_id or shipping_address, not both",
        )),
        (Some(id), None) => {
            let Some(p) = who else {
                return Err(ApiError::validation(
                    "shipping_address_id",
                    "guests give the address in full",
                ));
            };
            let id = AddressId::from_uuid(*id);
            state
                .commerce
                .addresses(p.customer_id)
                .await?
                .into_iter()
                .find(|a| a.id == id)
                .map(|a| Some(a.address))
                .ok_or_else(|| {
                    ApiError::validation("shipping_address_id", "not in your address book")
                })
        }
        (None, Some(given)) => Address::new(&given.input())
            .map(Some)
            .map_err(|e| ApiError::validation(format!("shipping_address.{}", e.field), e.message)),
        (None, None) => Ok(None),
    }
}

/// Places an order from the caller's cart.
#[utoipa::path(post, path = "/api/v1/checkout", tag = "orders",
    request_body = CheckoutBody,
    params(
        ("Idempotency-Key" = String, Header, description = "Required: 1 to 255 visible ASCII characters, one per checkout attempt"),
        ("X-Cart-Token" = Option<String>, Header, description = "A guest's cart (without an access token)"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "The order, `pending_payment` until `reservation_expires_at`; the cart is emptied. A replay of the key answers the same (the order as it is now). A guest's order carries `order_token`.", body = OrderBody),
        (status = 400, description = "`idempotency_key_required`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Neither an access token nor an `X-Cart-Token` (`unauthorized`), or a bad token (`invalid_token`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`insufficient_stock` (with `lines`: each short line's `variant_id`, `requested`, `available`), `cart_empty`, `product_unavailable`, `price_changed`, `currency_mismatch`, or `conflict` while a request with this key still runs (with `Retry-After`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (email, address, shipping method, a malformed key), `idempotency_key_reused`, or a refused discount code (`discount_code_invalid`, `discount_not_applicable`, `discount_usage_exceeded`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn checkout<S: Store + 'static>(
    state: AppState<S>,
    who: Option<Principal>,
    cart_token: Option<String>,
    key: IdempotencyKey,
    body: CheckoutBody,
) -> Result<Response, ApiError> {
    let (owner, customer, email) = buyer(
        &state,
        who.as_ref(),
        cart_token.as_deref(),
        body.email.as_deref(),
    )
    .await?;
    let address = shipping_address(&state, who.as_ref(), &body).await?;
    let method = body
        .shipping_method
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let placed = state
        .commerce
        .checkout_placed(
            CheckoutRequest {
                owner,
                customer,
                email,
                shipping_address: address,
                idempotency_key: key,
            },
            method,
        )
        .await?;
    state.nudge_relay();
    let order = placed.order;
    // A fresh order has no payments yet; a replay shows them as they are now.
    let mut body = if placed.replayed {
        order_body(&state, &order).await?
    } else {
        OrderBody::new(&order, &[])
    };
    if order.customer_id.is_none() {
        body.order_token = Some(order_token(&state, order.id));
    }
    Ok(json(StatusCode::CREATED, &body))
}
