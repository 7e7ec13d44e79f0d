//! Promotions for admins: `GET`/`POST /api/v1/admin/promotions`,
//! `GET`/`PATCH`/`DELETE /api/v1/admin/promotions/{id}`. Core checks every
//! spec (`Commerce::create_promotion`, `update_promotion`); a refused one is
//! 422 naming the field, a code in use 409, a `usage_limit` below what live
//! orders hold 409.

use commerce_core::ids::PromotionId;
use commerce_core::promotion::PromotionSpec;
use commerce_core::storage::Store;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{Route, json, no_content, replay, respond, with_state};
use crate::auth::{self, Principal};
use crate::dto::promotion::{NewPromotion, PromotionBody, PromotionPage, PromotionPatch};
use crate::error::{ApiError, Problem};
use crate::extract::{self, Paging};
use crate::state::AppState;
use bytes::Bytes;

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    let list = warp::path!("api" / "v1" / "admin" / "promotions")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(auth::required(state.clone()))
        .and(extract::query::<Paging>())
        .then(list_promotions::<S>)
        .map(respond);
    let create = warp::path!("api" / "v1" / "admin" / "promotions")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(replay::admin_guard(state.clone()))
        .and(extract::json_and_raw::<NewPromotion>())
        .then(
            |state: AppState<S>, guard: replay::Guard, (body, raw): (_, Bytes)| async move {
                let who = guard.who().clone();
                let route = create_promotion(state.clone(), who, body);
                guard.run(&state, &raw, route).await
            },
        )
        .map(respond);
    let one = warp::path!("api" / "v1" / "admin" / "promotions" / String)
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(auth::required(state.clone()))
        .then(get_promotion::<S>)
        .map(respond);
    let update = warp::path!("api" / "v1" / "admin" / "promotions" / String)
        .and(warp::patch())
        .and(with_state(state.clone()))
        .and(auth::required(state.clone()))
        .and(extract::json::<PromotionPatch>())
        .then(update_promotion::<S>)
        .map(respond);
    let delete = warp::path!("api" / "v1" / "admin" / "promotions" / String)
        .and(warp::delete())
        .and(with_state(state.clone()))
        .and(auth::required(state))
        .then(delete_promotion::<S>)
        .map(respond);
    list.or(create)
        .unify()
        .or(one)
        .unify()
        .or(update)
        .unify()
        .or(delete)
        .unify()
        .boxed()
}

fn promotion_id(s: &str) -> Result<PromotionId, ApiError> {
    s.parse().map_err(|_| ApiError::not_found("promotion"))
}

/// Every promotion with its live usage, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/promotions", tag = "promotions",
    params(Paging),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of promotions", body = PromotionPage),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_promotions<S: Store + 'static>(
    state: AppState<S>,
    who: Principal,
    paging: Paging,
) -> Result<Response, ApiError> {
    who.require_admin()?;
    let (page, per_page) = paging.resolve()?;
    let all = state.commerce.managed_promotions().await?;
    Ok(json(
        StatusCode::OK,
        &extract::page_of::<_, PromotionBody>(all, page, per_page),
    ))
}

/// Adds a promotion.
#[utoipa::path(post, path = "/api/v1/admin/promotions", tag = "promotions",
    request_body = NewPromotion,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = PromotionBody),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: another promotion has the code", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` naming the field (`name`, `code`, `ends_at`, `action.percent`, `conditions.min_subtotal`, ...)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_promotion<S: Store + 'static>(
    state: AppState<S>,
    who: Principal,
    body: NewPromotion,
) -> Result<Response, ApiError> {
    who.require_admin()?;
    let created = state
        .commerce
        .create_promotion(PromotionSpec::from(body))
        .await?;
    let managed = state.commerce.managed_promotion(created.id()).await?;
    Ok(json(StatusCode::CREATED, &PromotionBody::from(managed)))
}

/// A promotion with its live usage.
#[utoipa::path(get, path = "/api/v1/admin/promotions/{id}", tag = "promotions",
    params(("id" = uuid::Uuid, Path, description = "The promotion")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The promotion", body = PromotionBody),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such promotion", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_promotion<S: Store + 'static>(
    id: String,
    state: AppState<S>,
    who: Principal,
) -> Result<Response, ApiError> {
    who.require_admin()?;
    let managed = state.commerce.managed_promotion(promotion_id(&id)?).await?;
    Ok(json(StatusCode::OK, &PromotionBody::from(managed)))
}

/// Changes a promotion; orders placed with it keep what they got.
#[utoipa::path(patch, path = "/api/v1/admin/promotions/{id}", tag = "promotions",
    params(("id" = uuid::Uuid, Path, description = "The promotion")),
    request_body = PromotionPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = PromotionBody),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such promotion", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the code is taken, or `usage_limit` is below what live orders hold (`held`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` naming the field", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_promotion<S: Store + 'static>(
    id: String,
    state: AppState<S>,
    who: Principal,
    body: PromotionPatch,
) -> Result<Response, ApiError> {
    who.require_admin()?;
    let id = promotion_id(&id)?;
    let current = state.commerce.managed_promotion(id).await?;
    let spec = body.apply(current.promotion.spec().clone());
    state.commerce.update_promotion(id, spec).await?;
    let managed = state.commerce.managed_promotion(id).await?;
    Ok(json(StatusCode::OK, &PromotionBody::from(managed)))
}

/// Deletes a promotion; orders placed with it keep what they got.
#[utoipa::path(delete, path = "/api/v1/admin/promotions/{id}", tag = "promotions",
    params(("id" = uuid::Uuid, Path, description = "The promotion")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such promotion", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_promotion<S: Store + 'static>(
    id: String,
    state: AppState<S>,
    who: Principal,
) -> Result<Response, ApiError> {
    who.require_admin()?;
    state.commerce.delete_promotion(promotion_id(&id)?).await?;
    Ok(no_content())
}
