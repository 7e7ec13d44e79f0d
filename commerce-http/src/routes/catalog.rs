//! Categories: `GET /api/v1/categories` (the tree), and for admins
//! `POST /api/v1/categories`, `PATCH` and `DELETE /api/v1/categories/{id}`.

use commerce_core::ids::CategoryId;
use commerce_core::service::slugify;
use commerce_core::storage::Store;
use uuid::Uuid;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{Route, json, no_content, respond, with_state};
use crate::auth::{self, Principal};
use crate::dto::{CategoryBody, CategoryNode, CategoryPatch, NewCategory, category_tree};
use crate::error::{ApiError, Problem};
use crate::extract;
use crate::state::AppState;

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    let tree = warp::path!("api" / "v1" / "categories")
        .and(warp::get())
        .and(with_state(state.clone()))
        .then(list_categories::<S>)
        .map(respond);
    let create = warp::path!("api" / "v1" / "categories")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(auth::required(state.clone()))
        .and(extract::json::<NewCategory>())
        .then(create_category::<S>)
        .map(respond);
    let update = warp::path!("api" / "v1" / "categories" / Uuid)
        .and(warp::patch())
        .and(with_state(state.clone()))
        .and(auth::required(state.clone()))
        .and(extract::json::<CategoryPatch>())
        .then(update_category::<S>)
        .map(respond);
    let delete = warp::path!("api" / "v1" / "categories" / Uuid)
        .and(warp::delete())
        .and(with_state(state.clone()))
        .and(auth::required(state))
        .then(delete_category::<S>)
        .map(respond);
    tree.or(create)
        .unify()
        .or(update)
        .unify()
        .or(delete)
        .unify()
        .boxed()
}

/// The category tree: roots, each with its `children`, by name.
#[utoipa::path(get, path = "/api/v1/categories", tag = "catalog",
    responses((status = 200, description = "The tree", body = Vec<CategoryNode>)))]
pub async fn list_categories<S: Store + 'static>(state: AppState<S>) -> Result<Response, ApiError> {
    let all = state.commerce.categories().await?;
    Ok(json(StatusCode::OK, &category_tree(all)))
}

/// Adds a category (admins).
#[utoipa::path(post, path = "/api/v1/categories", tag = "catalog",
    request_body = NewCategory,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = CategoryBody),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown parent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Slug taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_category<S: Store + 'static>(
    state: AppState<S>,
    who: Principal,
    body: NewCategory,
) -> Result<Response, ApiError> {
    who.require_admin()?;
    let slug = body.slug.unwrap_or_else(|| slugify(&body.name));
    let category = state
        .commerce
        .create_category(&body.name, &slug, body.parent_id.map(CategoryId::from_uuid))
        .await?;
    Ok(json(StatusCode::CREATED, &CategoryBody::from(category)))
}

/// Renames or moves a category (admins); never under itself or a descendant.
#[utoipa::path(patch, path = "/api/v1/categories/{id}", tag = "catalog",
    params(("id" = Uuid, Path, description = "The category")),
    request_body = CategoryPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = CategoryBody),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown category or parent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Slug taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A cycle, or bad fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_category<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
    who: Principal,
    body: CategoryPatch,
) -> Result<Response, ApiError> {
    who.require_admin()?;
    let category = state
        .commerce
        .update_category(
            CategoryId::from_uuid(id),
            body.name.as_deref(),
            body.slug.as_deref(),
            body.parent_id.map(|p| p.map(CategoryId::from_uuid)),
        )
        .await?;
    Ok(json(StatusCode::OK, &CategoryBody::from(category)))
}

/// Deletes an empty category (admins).
#[utoipa::path(delete, path = "/api/v1/categories/{id}", tag = "catalog",
    params(("id" = Uuid, Path, description = "The category")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It has products or subcategories", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_category<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
    who: Principal,
) -> Result<Response, ApiError> {
    who.require_admin()?;
    state
        .commerce
        .delete_category(CategoryId::from_uuid(id))
        .await?;
    Ok(no_content())
}
