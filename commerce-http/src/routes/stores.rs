//! Sellers' stores: `POST /api/v1/stores`, `GET /api/v1/stores`,
//! `GET /api/v1/stores/{id}`.

use commerce_core::ids::StoreId;
use commerce_core::storage::Store;
use uuid::Uuid;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{Route, json, respond, with_state};
use crate::auth::{self, Principal};
use crate::dto::{NewStore, StoreBody, StorePage};
use crate::error::{ApiError, Problem};
use crate::extract::{self, Paging};
use crate::state::AppState;

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    let create = warp::path!("api" / "v1" / "stores")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(auth::required(state.clone()))
        .and(extract::json::<NewStore>())
        .then(create_store::<S>)
        .map(respond);
    let list = warp::path!("api" / "v1" / "stores")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(extract::query::<Paging>())
        .then(list_stores::<S>)
        .map(respond);
    let one = warp::path!("api" / "v1" / "stores" / Uuid)
        .and(warp::get())
        .and(with_state(state))
        .then(get_store::<S>)
        .map(respond);
    create.or(list).unify().or(one).unify().boxed()
}

/// Opens a store: the caller (with a verified email) becomes its owner and a seller.
#[utoipa::path(post, path = "/api/v1/stores", tag = "stores",
    request_body = NewStore,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Opened", body = StoreBody),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`email_not_verified`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The slug is taken (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_store<S: Store + 'static>(
    state: AppState<S>,
    who: Principal,
    body: NewStore,
) -> Result<Response, ApiError> {
    let store = state
        .commerce
        .create_seller_store(who.customer_id, &body.name, &body.slug)
        .await?;
    Ok(json(StatusCode::CREATED, &StoreBody::from(store)))
}

/// Stores, oldest first.
#[utoipa::path(get, path = "/api/v1/stores", tag = "stores",
    params(Paging),
    responses(
        (status = 200, description = "A page of stores", body = StorePage),
        (status = 422, description = "Bad paging", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_stores<S: Store + 'static>(
    state: AppState<S>,
    paging: Paging,
) -> Result<Response, ApiError> {
    let (page, per_page) = paging.resolve()?;
    let p = state.commerce.seller_stores(page, per_page).await?;
    Ok(json(
        StatusCode::OK,
        &StorePage {
            items: p.items.into_iter().map(StoreBody::from).collect(),
            page: p.page,
            per_page: p.per_page,
            total: p.total,
        },
    ))
}

/// A store.
#[utoipa::path(get, path = "/api/v1/stores/{id}", tag = "stores",
    params(("id" = Uuid, Path, description = "The store")),
    responses(
        (status = 200, description = "The store", body = StoreBody),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_store<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
) -> Result<Response, ApiError> {
    let store = state.commerce.seller_store(StoreId::from_uuid(id)).await?;
    Ok(json(StatusCode::OK, &StoreBody::from(store)))
}
