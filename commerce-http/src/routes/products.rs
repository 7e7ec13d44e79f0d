//! Products and stock: `GET /api/v1/products` (search, filters, sorts,
//! paging), `GET /api/v1/products/{id}`, and for the store's owner (or an
//! admin) `POST /api/v1/products`, `PATCH`/`DELETE /api/v1/products/{id}`
//! and `PUT /api/v1/variants/{id}/stock`.

use commerce_core::browse::{ProductQuery, ProductSort, SearchTerms};
use commerce_core::ids::{CategoryId, ProductId, StoreId, VariantId};
use commerce_core::money::{Currency, Money};
use commerce_core::service::{self, Actor};
use commerce_core::storage::Store;
use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{Route, json, no_content, respond, with_state};
use crate::auth::{self, Principal};
use crate::dto::{
    NewProduct, ProductBody, ProductPage, ProductPatch, ProductSummary, SetStock, StockBody,
};
use crate::error::{ApiError, Problem};
use crate::extract::{self, Paging, opt_num};
use crate::state::AppState;

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    let list = warp::path!("api" / "v1" / "products")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(extract::query::<ProductsQuery>())
        .then(list_products::<S>)
        .map(respond);
    let create = warp::path!("api" / "v1" / "products")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(auth::required(state.clone()))
        .and(extract::json::<NewProduct>())
        .then(create_product::<S>)
        .map(respond);
    let one = warp::path!("api" / "v1" / "products" / Uuid)
        .and(warp::get())
        .and(with_state(state.clone()))
        .then(get_product::<S>)
        .map(respond);
    let update = warp::path!("api" / "v1" / "products" / Uuid)
        .and(warp::patch())
        .and(with_state(state.clone()))
        .and(auth::required(state.clone()))
        .and(extract::json::<ProductPatch>())
        .then(update_product::<S>)
        .map(respond);
    let delete = warp::path!("api" / "v1" / "products" / Uuid)
        .and(warp::delete())
        .and(with_state(state.clone()))
        .and(auth::required(state.clone()))
        .then(delete_product::<S>)
        .map(respond);
    let stock = warp::path!("api" / "v1" / "variants" / Uuid / "stock")
        .and(warp::put())
        .and(with_state(state.clone()))
        .and(auth::required(state))
        .and(extract::json::<SetStock>())
        .then(set_stock::<S>)
        .map(respond);
    list.or(create)
        .unify()
        .or(one)
        .unify()
        .or(update)
        .unify()
        .or(delete)
        .unify()
        .or(stock)
        .unify()
        .boxed()
}

/// `GET /api/v1/products` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductsQuery {
    /// Words that must all occur in the name or description (case-insensitive, literal).
    #[serde(default)]
    pub q: Option<String>,
    /// A category; its descendants are included.
    #[serde(default, deserialize_with = "opt_num")]
    #[param(value_type = Option<Uuid>)]
    pub category: Option<Uuid>,
    /// A seller store.
    #[serde(default, deserialize_with = "opt_num")]
    #[param(value_type = Option<Uuid>)]
    pub store: Option<Uuid>,
    /// Lowest variant price accepted, in the shop's currency (`10` or `10.00`).
    #[serde(default, deserialize_with = "opt_num")]
    #[param(value_type = Option<String>)]
    pub min_price: Option<Decimal>,
    /// Highest variant price accepted (inclusive).
    #[serde(default, deserialize_with = "opt_num")]
    #[param(value_type = Option<String>)]
    pub max_price: Option<Decimal>,
    /// `true`: only products with a variant in stock (in the price range).
    #[serde(default, deserialize_with = "opt_num")]
    pub in_stock: Option<bool>,
    /// `newest` (default), `name`, `price` or `-price`.
    #[serde(default)]
    pub sort: Option<String>,
    /// The page, from 1.
    #[serde(default, deserialize_with = "opt_num")]
    pub page: Option<u32>,
    /// 1 to 100 (default 20).
    #[serde(default, deserialize_with = "opt_num")]
    pub per_page: Option<u32>,
}

fn price_bound(
    field: &'static str,
    value: Option<Decimal>,
    currency: Currency,
) -> Result<Option<Money>, ApiError> {
    value
        .map(|d| {
            Money::from_decimal(d, currency).map_err(|e| ApiError::validation(field, e.to_string()))
        })
        .transpose()
}

impl ProductsQuery {
    fn into_query(self, currency: Currency) -> Result<ProductQuery, ApiError> {
        let (page, per_page) = Paging {
            page: self.page,
            per_page: self.per_page,
        }
        .resolve()?;
        let sort = match self.sort.as_deref().map(str::trim) {
            None | Some("") => ProductSort::Newest,
            Some(s) => ProductSort::parse(s).ok_or_else(|| {
                ApiError::validation("sort", "one of newest, name, price, -price")
            })?,
        };
        Ok(ProductQuery {
            text: self.q.as_deref().and_then(SearchTerms::parse),
            category: self.category.map(CategoryId::from_uuid),
            store: self.store.map(StoreId::from_uuid),
            min_price: price_bound("min_price", self.min_price, currency)?,
            max_price: price_bound("max_price", self.max_price, currency)?,
            in_stock: self.in_stock.unwrap_or(false),
            sort,
            page,
            per_page,
        })
    }
}

/// Browses the catalog.
#[utoipa::path(get, path = "/api/v1/products", tag = "products",
    params(ProductsQuery),
    responses(
        (status = 200, description = "A page of products", body = ProductPage),
        (status = 404, description = "Unknown category", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_products<S: Store + 'static>(
    state: AppState<S>,
    query: ProductsQuery,
) -> Result<Response, ApiError> {
    let query = query.into_query(state.commerce.config().currency)?;
    let p = state.commerce.browse(&query).await?;
    Ok(json(
        StatusCode::OK,
        &ProductPage {
            items: p.items.into_iter().map(ProductSummary::from).collect(),
            page: p.page,
            per_page: p.per_page,
            total: p.total,
        },
    ))
}

/// A product with its variants (each with what is available) and rating.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = Uuid, Path, description = "The product")),
    responses(
        (status = 200, description = "The product", body = ProductBody),
        (status = 404, description = "Unknown or withdrawn", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_product<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
) -> Result<Response, ApiError> {
    let detail = state
        .commerce
        .product_detail(ProductId::from_uuid(id))
        .await?;
    Ok(json(StatusCode::OK, &ProductBody::from(detail)))
}

/// Adds a product with its variants to a store the caller owns.
#[utoipa::path(post, path = "/api/v1/products", tag = "products",
    request_body = NewProduct,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Added", body = ProductBody),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the store's owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown store or category", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A SKU in use", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_product<S: Store + 'static>(
    state: AppState<S>,
    who: Principal,
    body: NewProduct,
) -> Result<Response, ApiError> {
    let new = service::NewProduct {
        store_id: StoreId::from_uuid(body.store_id),
        category_id: body.category_id.map(CategoryId::from_uuid),
        name: body.name,
        description: body.description,
        images: body.images,
        variants: body
            .variants
            .into_iter()
            .map(|v| service::NewVariant {
                sku: v.sku,
                attributes: v.attributes,
                price: v.price,
                compare_at: v.compare_at_price,
                stock: v.stock,
            })
            .collect(),
    };
    let (product, _) = state.commerce.create_product(who.actor(), new).await?;
    let detail = state.commerce.product_detail(product.id).await?;
    Ok(json(StatusCode::CREATED, &ProductBody::from(detail)))
}

/// Edits a product (the store's owner or an admin); never its store.
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = Uuid, Path, description = "The product")),
    request_body = ProductPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = ProductBody),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the store's owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or withdrawn", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` (`store_id` is not a field)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_product<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
    who: Principal,
    body: ProductPatch,
) -> Result<Response, ApiError> {
    let patch = service::ProductPatch {
        name: body.name,
        description: body.description,
        category_id: body.category_id.map(|c| c.map(CategoryId::from_uuid)),
        images: body.images,
    };
    let product = state
        .commerce
        .update_product(who.actor(), ProductId::from_uuid(id), patch)
        .await?;
    let detail = state.commerce.product_detail(product.id).await?;
    Ok(json(StatusCode::OK, &ProductBody::from(detail)))
}

/// Withdraws a product (soft delete: orders keep their snapshots).
#[utoipa::path(delete, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = Uuid, Path, description = "The product")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the store's owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown or already withdrawn", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_product<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
    who: Principal,
) -> Result<Response, ApiError> {
    state
        .commerce
        .delete_product(who.actor(), ProductId::from_uuid(id))
        .await?;
    Ok(no_content())
}

/// Sets a variant's stock on hand; falling to the low-stock threshold mails
/// the store's owner once.
#[utoipa::path(put, path = "/api/v1/variants/{id}/stock", tag = "products",
    params(("id" = Uuid, Path, description = "The variant")),
    request_body = SetStock,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new stock", body = StockBody),
        (status = 401, description = "No or bad token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the store's owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`stock_below_reserved`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_stock<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
    who: Principal,
    body: SetStock,
) -> Result<Response, ApiError> {
    let actor: Actor = who.actor();
    let stock = state
        .commerce
        .set_stock_as(actor, VariantId::from_uuid(id), body.on_hand)
        .await?;
    state.nudge_relay();
    Ok(json(StatusCode::OK, &StockBody::new(id, stock)))
}
