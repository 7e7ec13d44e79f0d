//! Shipping methods: `GET /api/v1/shipping-methods` for anyone, and for
//! admins `POST /api/v1/admin/shipping-methods`,
//! `PATCH`/`DELETE /api/v1/admin/shipping-methods/{code}`. The methods are
//! stored (core's `ShippingStore`), so every server over the database offers
//! the same ones, and a change reaches the next priced cart.

use commerce_core::service;
use commerce_core::shipping::ShippingMethodSpec;
use commerce_core::storage::Store;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{Route, json, no_content, replay, respond, with_state};
use crate::auth::{self, Principal};
use crate::dto::shipping::{
    NewShippingMethod, ShippingMethodBody, ShippingMethodPage, ShippingMethodPatch,
};
use crate::error::{ApiError, Problem};
use crate::extract::{self, Paging};
use crate::state::AppState;
use bytes::Bytes;

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    let list = warp::path!("api" / "v1" / "shipping-methods")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(extract::query::<Paging>())
        .then(list_shipping_methods::<S>)
        .map(respond);
    let create = warp::path!("api" / "v1" / "admin" / "shipping-methods")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(replay::admin_guard(state.clone()))
        .and(extract::json_and_raw::<NewShippingMethod>())
        .then(
            |state: AppState<S>, guard: replay::Guard, (body, raw): (_, Bytes)| async move {
                let who = guard.who().clone();
                let route = create_shipping_method(state.clone(), who, body);
                guard.run(&state, &raw, route).await
            },
        )
        .map(respond);
    let update = warp::path!("api" / "v1" / "admin" / "shipping-methods" / String)
        .and(warp::patch())
        .and(with_state(state.clone()))
        .and(auth::required(state.clone()))
        .and(extract::json::<ShippingMethodPatch>())
        .then(update_shipping_method::<S>)
        .map(respond);
    let delete = warp::path!("api" / "v1" / "admin" / "shipping-methods" / String)
        .and(warp::delete())
        .and(with_state(state.clone()))
        .and(auth::required(state))
        .then(delete_shipping_method::<S>)
        .map(respond);
    list.or(create)
        .unify()
        .or(update)
        .unify()
        .or(delete)
        .unify()
        .boxed()
}

/// The shipping methods offered, cheapest first: the first is what a cart
/// uses until the buyer chooses another.
#[utoipa::path(get, path = "/api/v1/shipping-methods", tag = "shipping",
    params(Paging),
    responses(
        (status = 200, description = "A page of methods", body = ShippingMethodPage),
        (status = 422, description = "A bad paging parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_shipping_methods<S: Store + 'static>(
    state: AppState<S>,
    paging: Paging,
) -> Result<Response, ApiError> {
    let (page, per_page) = paging.resolve()?;
    let all = state.commerce.shipping_methods().await?;
    Ok(json(
        StatusCode::OK,
        &extract::page_of::<_, ShippingMethodBody>(all, page, per_page),
    ))
}

/// Adds a shipping method (admins).
#[utoipa::path(post, path = "/api/v1/admin/shipping-methods", tag = "shipping",
    request_body = NewShippingMethod,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = ShippingMethodBody),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the code is in use", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (`code`, `name`, `price`, `free_over`; amounts in the shop's currency)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_shipping_method<S: Store + 'static>(
    state: AppState<S>,
    who: Principal,
    body: NewShippingMethod,
) -> Result<Response, ApiError> {
    who.require_admin()?;
    let method = state
        .commerce
        .add_shipping_method(ShippingMethodSpec {
            code: body.code,
            name: body.name,
            price: body.price,
            free_over: body.free_over,
        })
        .await?;
    Ok(json(StatusCode::CREATED, &ShippingMethodBody::from(method)))
}

/// Changes a shipping method's name, price or threshold (admins); carts see
/// the change at once.
#[utoipa::path(patch, path = "/api/v1/admin/shipping-methods/{code}", tag = "shipping",
    params(("code" = String, Path, description = "The method's code")),
    request_body = ShippingMethodPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = ShippingMethodBody),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such method", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (`code` is not a field)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_shipping_method<S: Store + 'static>(
    code: String,
    state: AppState<S>,
    who: Principal,
    body: ShippingMethodPatch,
) -> Result<Response, ApiError> {
    who.require_admin()?;
    let method = state
        .commerce
        .update_shipping_method(
            &code,
            service::ShippingMethodPatch {
                name: body.name,
                price: body.price,
                free_over: body.free_over,
            },
        )
        .await?;
    Ok(json(StatusCode::OK, &ShippingMethodBody::from(method)))
}

/// Deletes a shipping method (admins). Orders keep their copy; carts that
/// chose it use the cheapest method left.
#[utoipa::path(delete, path = "/api/v1/admin/shipping-methods/{code}", tag = "shipping",
    params(("code" = String, Path, description = "The method's code")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such method", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_shipping_method<S: Store + 'static>(
    code: String,
    state: AppState<S>,
    who: Principal,
) -> Result<Response, ApiError> {
    who.require_admin()?;
    state.commerce.delete_shipping_method(&code).await?;
    Ok(no_content())
}
