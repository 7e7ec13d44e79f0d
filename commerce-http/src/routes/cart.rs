//! The cart: `GET /api/v1/cart`, `POST /api/v1/cart/items`,
//! `PATCH`/`DELETE /api/v1/cart/items/{line_id}`,
//! `POST /api/v1/cart/discount-codes`, `DELETE /api/v1/cart/discount-codes/{code}`,
//! `DELETE /api/v1/cart`, `PUT /api/v1/cart/shipping-method`. Every answer
//! is the cart, priced now.
//!
//! Whose cart: a signed-in caller's is the account's (found by the access
//! token; an `X-Cart-Token` is then ignored: a guest cart joins the account
//! cart at sign-in). A guest's is found by `X-Cart-Token`; a guest without
//! one, or with a token no cart has, gets a new empty cart with a new token
//! (core's [`Commerce::guest_cart_owner`](commerce_core::service::Commerce::guest_cart_owner)).
//! Every answer to a guest, errors included, carries the token in the
//! `X-Cart-Token` header, and successful ones also in the body's `token`.
//! Another buyer's cart cannot be named at all, so a line id of another
//! cart is simply not found (404).

use commerce_core::Quantity;
use commerce_core::cart::{CartOwner, CartToken};
use commerce_core::ids::{CustomerId, LineId, VariantId};
use commerce_core::service::{CartRead, CartView};
use commerce_core::storage::Store;
use warp::Filter;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Rejection, Reply};

use super::{Route, json, with_state};
use crate::auth::{self, Principal};
use crate::dto::cart::{AddItem, CartBody, EnterCode, SetQuantity};
use crate::dto::shipping::ChooseShipping;
use crate::error::{ApiError, Problem};
use crate::extract;
use crate::state::AppState;

/// The header carrying a guest's cart token.
pub const CART_TOKEN: &str = "x-cart-token";

/// Whose cart a request reaches.
#[derive(Debug, Clone)]
pub struct CartCaller {
    /// The cart's owner.
    pub owner: CartOwner,
    /// The signed-in account, if any (for per-customer promotion rules).
    pub customer: Option<CustomerId>,
    /// What checking a guest's token read (the cart and its variants), for
    /// the route's first read (see `Commerce::guest_cart`).
    pub read: Option<CartRead>,
}

impl CartCaller {
    /// A guest's token.
    pub fn token(&self) -> Option<&CartToken> {
        match &self.owner {
            CartOwner::Guest(t) => Some(t),
            CartOwner::Account(_) => None,
        }
    }
}

/// Who calls, before a guest's token is checked: the signed-in account, or
/// the `X-Cart-Token` as sent.
#[derive(Debug, Clone)]
pub struct Presented {
    principal: Option<Principal>,
    token: Option<String>,
}

/// The caller as presented (an access token is checked; a cart token not yet).
fn presented<S: Store + 'static>(
    state: AppState<S>,
) -> impl Filter<Extract = (Presented,), Error = Rejection> + Clone {
    auth::optional(state)
        .and(warp::header::optional::<String>(CART_TOKEN))
        .map(|principal, token| Presented { principal, token })
}

/// Resolves whose cart `who` reaches: the account's, or a guest's by its
/// token, checked by reading the cart with its variants' records and
/// `also`'s (the variant the request adds) in one read.
async fn resolve<S: Store + 'static>(
    state: &AppState<S>,
    who: Presented,
    also: Option<VariantId>,
) -> Result<CartCaller, ApiError> {
    if let Some(p) = who.principal {
        return Ok(CartCaller {
            owner: CartOwner::Account(p.customer_id),
            customer: Some(p.customer_id),
            read: None,
        });
    }
    let (read, _) = state
        .commerce
        .guest_cart(who.token.as_deref(), also)
        .await?;
    Ok(CartCaller {
        owner: read.owner().clone(),
        customer: None,
        read: Some(read),
    })
}

/// Resolves the caller's cart: the account's, or a guest's by `X-Cart-Token`.
pub fn caller<S: Store + 'static>(
    state: AppState<S>,
) -> impl Filter<Extract = (CartCaller,), Error = Rejection> + Clone {
    presented(state.clone()).and_then(move |who: Presented| {
        let state = state.clone();
        async move {
            resolve(&state, who, None)
                .await
                .map_err(warp::reject::custom)
        }
    })
}

/// The answer: the cart as JSON, or the problem; a guest's token in the header.
fn answer(caller: &CartCaller, result: Result<CartView, ApiError>) -> Response {
    let mut res = match result {
        Ok(view) => json(StatusCode::OK, &CartBody::new(&view, caller.token())),
        Err(e) => e.into_response(),
    };
    if let Some(t) = caller.token()
        && let Ok(v) = HeaderValue::from_str(t.as_str())
    {
        res.headers_mut().insert(CART_TOKEN, v);
    }
    res
}

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    let get = warp::path!("api" / "v1" / "cart")
        .and(warp::get())
        .and(caller(state.clone()))
        .and(with_state(state.clone()))
        .then(get_cart::<S>);
    let clear = warp::path!("api" / "v1" / "cart")
        .and(warp::delete())
        .and(caller(state.clone()))
        .and(with_state(state.clone()))
        .then(clear_cart::<S>);
    // Adding checks a guest's token once it knows the variant, so that one
    // read brings the cart, its lines' variants and the added one.
    let add = warp::path!("api" / "v1" / "cart" / "items")
        .and(warp::post())
        .and(presented(state.clone()))
        .and(with_state(state.clone()))
        .and(extract::json::<AddItem>())
        .then(add_item::<S>);
    let set = warp::path!("api" / "v1" / "cart" / "items" / String)
        .and(warp::patch())
        .and(caller(state.clone()))
        .and(with_state(state.clone()))
        .and(extract::json::<SetQuantity>())
        .then(set_quantity::<S>);
    let remove = warp::path!("api" / "v1" / "cart" / "items" / String)
        .and(warp::delete())
        .and(caller(state.clone()))
        .and(with_state(state.clone()))
        .then(remove_line::<S>);
    let enter = warp::path!("api" / "v1" / "cart" / "discount-codes")
        .and(warp::post())
        .and(caller(state.clone()))
        .and(with_state(state.clone()))
        .and(extract::json::<EnterCode>())
        .then(enter_code::<S>);
    let drop_code = warp::path!("api" / "v1" / "cart" / "discount-codes" / String)
        .and(warp::delete())
        .and(caller(state.clone()))
        .and(with_state(state.clone()))
        .then(remove_code::<S>);
    let shipping = warp::path!("api" / "v1" / "cart" / "shipping-method")
        .and(warp::put())
        .and(caller(state.clone()))
        .and(with_state(state))
        .and(extract::json::<ChooseShipping>())
        .then(choose_shipping::<S>);
    get.or(clear)
        .unify()
        .or(add)
        .unify()
        .or(set)
        .unify()
        .or(remove)
        .unify()
        .or(enter)
        .unify()
        .or(drop_code)
        .unify()
        .or(shipping)
        .unify()
        .boxed()
}

fn line_id(s: &str) -> Result<LineId, ApiError> {
    s.parse().map_err(|_| ApiError::not_found("cart line"))
}

async fn view_of<S: Store + 'static>(
    state: &AppState<S>,
    caller: &CartCaller,
) -> Result<CartView, ApiError> {
    Ok(state
        .commerce
        .cart_view(&caller.owner, caller.customer)
        .await?)
}

/// The caller's cart, priced now.
#[utoipa::path(get, path = "/api/v1/cart", tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token; without it (or with a token no cart has) a guest gets a new empty cart")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart, priced now", body = CartBody,
            headers(("X-Cart-Token" = String, description = "The guest's cart token (guests only)"))),
        (status = 401, description = "`invalid_token`: a bearer token was sent and refused", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_cart<S: Store + 'static>(mut caller: CartCaller, state: AppState<S>) -> Response {
    let read = caller.read.take();
    let result = state
        .commerce
        .cart_view_from(&caller.owner, read, caller.customer)
        .await
        .map_err(ApiError::from);
    answer(&caller, result)
}

/// Adds units of a variant; a variant already in the cart gets its line's
/// quantity raised (at most 999, and never above what is available).
#[utoipa::path(post, path = "/api/v1/cart/items", tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token")),
    request_body = AddItem,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart with the line", body = CartBody),
        (status = 409, description = "`insufficient_stock` (`lines`: what is available) or `product_unavailable` (unknown variant or withdrawn product)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: quantity outside 1..=999, or the line would exceed 999", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_item<S: Store + 'static>(
    who: Presented,
    state: AppState<S>,
    body: AddItem,
) -> Response {
    let variant = VariantId::from_uuid(body.variant_id);
    let mut caller = match resolve(&state, who, Some(variant)).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let read = caller.read.take();
    let result = async {
        let quantity = Quantity::new(i64::from(body.quantity))
            .map_err(|e| ApiError::validation("quantity", e.to_string()))?;
        Ok(state
            .commerce
            .add_to_cart_and_view_from(&caller.owner, read, variant, quantity, caller.customer)
            .await?)
    }
    .await;
    answer(&caller, result)
}

/// Sets a line's quantity; 0 removes the line.
#[utoipa::path(patch, path = "/api/v1/cart/items/{line_id}", tag = "cart",
    params(
        ("line_id" = uuid::Uuid, Path, description = "A line of the caller's cart"),
        ("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token"),
    ),
    request_body = SetQuantity,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart", body = CartBody),
        (status = 404, description = "No such line in the caller's cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`insufficient_stock` or `product_unavailable`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: above 999", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_quantity<S: Store + 'static>(
    line: String,
    caller: CartCaller,
    state: AppState<S>,
    body: SetQuantity,
) -> Response {
    let result = async {
        let line = line_id(&line)?;
        state
            .commerce
            .set_quantity(&caller.owner, line, body.quantity)
            .await?;
        view_of(&state, &caller).await
    }
    .await;
    answer(&caller, result)
}

/// Removes a line.
#[utoipa::path(delete, path = "/api/v1/cart/items/{line_id}", tag = "cart",
    params(
        ("line_id" = uuid::Uuid, Path, description = "A line of the caller's cart"),
        ("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart without the line", body = CartBody),
        (status = 404, description = "No such line in the caller's cart", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_line<S: Store + 'static>(
    line: String,
    caller: CartCaller,
    state: AppState<S>,
) -> Response {
    let result = async {
        let line = line_id(&line)?;
        state.commerce.remove_line(&caller.owner, line).await?;
        view_of(&state, &caller).await
    }
    .await;
    answer(&caller, result)
}

/// Empties the cart: lines and codes.
#[utoipa::path(delete, path = "/api/v1/cart", tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The empty cart", body = CartBody)))]
pub async fn clear_cart<S: Store + 'static>(caller: CartCaller, state: AppState<S>) -> Response {
    let result = async {
        state.commerce.clear_cart(&caller.owner).await?;
        view_of(&state, &caller).await
    }
    .await;
    answer(&caller, result)
}

/// Enters a discount code (any case). It is kept only when it applies now.
#[utoipa::path(post, path = "/api/v1/cart/discount-codes", tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token")),
    request_body = EnterCode,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart with the code applied", body = CartBody),
        (status = 422, description = "`discount_code_invalid` (no promotion has it), `discount_not_applicable` (`reason`: why, as in the cart's `promotions`), `discount_usage_exceeded` (used up, in all or by this customer)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn enter_code<S: Store + 'static>(
    caller: CartCaller,
    state: AppState<S>,
    body: EnterCode,
) -> Response {
    let result = state
        .commerce
        .apply_code(&caller.owner, caller.customer, &body.code)
        .await
        .map_err(ApiError::from);
    answer(&caller, result)
}

/// Removes a code from the cart (any case); a code the cart does not hold leaves it unchanged.
#[utoipa::path(delete, path = "/api/v1/cart/discount-codes/{code}", tag = "cart",
    params(
        ("code" = String, Path, description = "The code"),
        ("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart without the code", body = CartBody),
        (status = 404, description = "Not a well-formed code", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_code<S: Store + 'static>(
    code: String,
    caller: CartCaller,
    state: AppState<S>,
) -> Response {
    let result = async {
        state.commerce.remove_code(&caller.owner, &code).await?;
        view_of(&state, &caller).await
    }
    .await;
    answer(&caller, result)
}

/// Chooses the cart's shipping method; `null` goes back to the default (the
/// cheapest offered). A chosen method that is later deleted gives way to the
/// cheapest one left.
#[utoipa::path(put, path = "/api/v1/cart/shipping-method", tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token")),
    request_body = ChooseShipping,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The cart with the method and its cost (`shipping_method`, `shipping_total`)", body = CartBody),
        (status = 422, description = "`validation_failed` (`code`): no such method is offered", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn choose_shipping<S: Store + 'static>(
    caller: CartCaller,
    state: AppState<S>,
    body: ChooseShipping,
) -> Response {
    let result = async {
        state
            .commerce
            .choose_shipping_method(&caller.owner, body.code.as_deref())
            .await?;
        view_of(&state, &caller).await
    }
    .await;
    answer(&caller, result)
}
