//! Reviews: `GET /api/v1/products/{id}/reviews` (anyone) and
//! `POST /api/v1/products/{id}/reviews` (a signed-in user; one per product).

use commerce_core::ids::ProductId;
use commerce_core::storage::Store;
use uuid::Uuid;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{Route, json, respond, with_state};
use crate::auth::{self, Principal};
use crate::dto::{NewReview, ReviewBody, ReviewPage};
use crate::error::{ApiError, Problem};
use crate::extract::{self, Paging};
use crate::state::AppState;

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    let list = warp::path!("api" / "v1" / "products" / Uuid / "reviews")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(extract::query::<Paging>())
        .then(list_reviews::<S>)
        .map(respond);
    let post = warp::path!("api" / "v1" / "products" / Uuid / "reviews")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(auth::required(state))
        .and(extract::json::<NewReview>())
        .then(post_review::<S>)
        .map(respond);
    list.or(post).unify().boxed()
}

/// A product's reviews, newest first, with its rating.
#[utoipa::path(get, path = "/api/v1/products/{id}/reviews", tag = "reviews",
    params(("id" = Uuid, Path, description = "The product"), Paging),
    responses(
        (status = 200, description = "A page of reviews", body = ReviewPage),
        (status = 404, description = "Unknown or withdrawn product", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_reviews<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
    paging: Paging,
) -> Result<Response, ApiError> {
    let (page, per_page) = paging.resolve()?;
    let product = ProductId::from_uuid(id);
    // Not found for an unknown or withdrawn product, rather than an empty page.
    state.commerce.product_detail(product).await?;
    let (p, rating) = state.commerce.reviews(product, page, per_page).await?;
    Ok(json(
        StatusCode::OK,
        &ReviewPage {
            items: p.items.into_iter().map(ReviewBody::from).collect(),
            page: p.page,
            per_page: p.per_page,
            total: p.total,
            rating: rating.into(),
        },
    ))
}

/// Reviews a product: rating 1 to 5; once per user and product;
/// `verified_purchase` when the user has a paid order with it.
#[utoipa::path(post, path = "/api/v1/products/{id}/reviews", tag = "reviews",
    params(("id" = Uuid, Path, description = "The product")),
    request_body = NewReview,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Posted", body = ReviewBody),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or withdrawn product", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already reviewed (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn post_review<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
    who: Principal,
    body: NewReview,
) -> Result<Response, ApiError> {
    let review = state
        .commerce
        .post_review(
            who.customer_id,
            ProductId::from_uuid(id),
            body.rating,
            body.title,
            &body.body,
        )
        .await?;
    Ok(json(StatusCode::CREATED, &ReviewBody::from(review)))
}
