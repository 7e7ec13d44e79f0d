//! The `me` route group (`/api/v1/me...`): the signed-in account's profile,
//! address book and wishlist. Every route needs an access token and only
//! ever reaches the caller's own records: another account's address is
//! simply not found (404).

use chrono::{DateTime, Utc};
use commerce_core::account::{Account, Role, SavedAddress};
use commerce_core::address::AddressInput;
use commerce_core::ids::{AddressId, ProductId};
use commerce_core::seller::Product;
use commerce_core::storage::Store;
use serde::{Deserialize, Deserializer, Serialize};
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{Route, json, no_content, respond, with_state};
use crate::auth::{self as principal, Principal};
use crate::error::ApiError;
use crate::extract::{self, PageBody, Paging};
use crate::state::AppState;

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    let me = || {
        warp::path("api")
            .and(warp::path("v1"))
            .and(warp::path("me"))
    };
    let user = || principal::required(state.clone());

    let get_me = me()
        .and(warp::path::end())
        .and(warp::get())
        .and(user())
        .and(with_state(state.clone()))
        .then(get_profile::<S>)
        .map(respond);
    let patch_me = me()
        .and(warp::path::end())
        .and(warp::patch())
        .and(user())
        .and(with_state(state.clone()))
        .and(extract::json::<ProfilePatch>())
        .then(patch_profile::<S>)
        .map(respond);
    let list_addresses = me()
        .and(warp::path!("addresses"))
        .and(warp::get())
        .and(user())
        .and(with_state(state.clone()))
        .and(extract::query::<Paging>())
        .then(list_addresses::<S>)
        .map(respond);
    let add_address = me()
        .and(warp::path!("addresses"))
        .and(warp::post())
        .and(user())
        .and(with_state(state.clone()))
        .and(extract::json::<AddressBody>())
        .then(add_address::<S>)
        .map(respond);
    let patch_address = me()
        .and(warp::path!("addresses" / String))
        .and(warp::patch())
        .and(user())
        .and(with_state(state.clone()))
        .and(extract::json::<AddressPatch>())
        .then(patch_address::<S>)
        .map(respond);
    let delete_address = me()
        .and(warp::path!("addresses" / String))
        .and(warp::delete())
        .and(user())
        .and(with_state(state.clone()))
        .then(delete_address::<S>)
        .map(respond);
    let wishlist = me()
        .and(warp::path!("wishlist"))
        .and(warp::get())
        .and(user())
        .and(with_state(state.clone()))
        .and(extract::query::<Paging>())
        .then(wishlist::<S>)
        .map(respond);
    let wish = me()
        .and(warp::path!("wishlist" / String))
        .and(warp::put())
        .and(user())
        .and(with_state(state.clone()))
        .then(wishlist_put::<S>)
        .map(respond);
    let unwish = me()
        .and(warp::path!("wishlist" / String))
        .and(warp::delete())
        .and(user())
        .and(with_state(state))
        .then(wishlist_delete::<S>)
        .map(respond);

    get_me
        .or(patch_me)
        .unify()
        .or(list_addresses)
        .unify()
        .or(add_address)
        .unify()
        .or(patch_address)
        .unify()
        .or(delete_address)
        .unify()
        .or(wishlist)
        .unify()
        .or(wish)
        .unify()
        .or(unwish)
        .unify()
        .boxed()
}

// ---- bodies ----

/// An account as its owner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Profile {
    /// The account.
    pub id: uuid::Uuid,
    /// Its email (lower case).
    pub email: String,
    /// Display name.
    pub full_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// `customer`, and `seller` or `admin` when they apply.
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
    /// Whether the email was verified.
    pub email_verified: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl From<Account> for Profile {
    fn from(a: Account) -> Self {
        Profile {
            id: a.id.as_uuid(),
            email: a.email.as_str().to_owned(),
            full_name: a.full_name,
            phone: a.phone,
            roles: a.roles,
            email_verified: a.email_verified,
            created_at: a.created_at,
        }
    }
}

/// `PATCH /me`: the fields a user may change. Absent or `null` keeps a
/// field; `""` clears it. Roles, email and verification are not among them
/// (sending them is 422).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// Display name.
    #[serde(default)]
    pub full_name: Option<String>,
    /// Phone: digits, spaces and `+ - ( ) .`.
    #[serde(default)]
    pub phone: Option<String>,
}

/// An address to save (`POST /me/addresses`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    /// Recipient.
    pub full_name: String,
    /// Street and number.
    pub line1: String,
    /// More.
    #[serde(default)]
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// State, province or region.
    #[serde(default)]
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Make it the default (the only one); an account's first address is.
    #[serde(default)]
    pub is_default: bool,
}

impl AddressBody {
    fn input(&self) -> AddressInput {
        AddressInput {
            full_name: self.full_name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
            phone: self.phone.clone(),
        }
    }
}

/// `Some(None)` for an explicit `null`, so a patch can clear a field.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /me/addresses/{id}`: absent fields are kept; `null` clears an
/// optional one. `is_default: true` makes it the default; the default
/// cannot be unset (set another one instead).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressPatch {
    /// Recipient.
    #[serde(default)]
    pub full_name: Option<String>,
    /// Street and number.
    #[serde(default)]
    pub line1: Option<String>,
    /// More (`null` clears).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub line2: Option<Option<String>>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// Region (`null` clears).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub region: Option<Option<String>>,
    /// Postal code.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(default)]
    pub country: Option<String>,
    /// Phone (`null` clears).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// `true` makes it the default.
    #[serde(default)]
    pub is_default: Option<bool>,
}

impl AddressPatch {
    fn apply(self, mut to: AddressInput) -> AddressInput {
        if let Some(v) = self.full_name {
            to.full_name = v;
        }
        if let Some(v) = self.line1 {
            to.line1 = v;
        }
        if let Some(v) = self.line2 {
            to.line2 = v;
        }
        if let Some(v) = self.city {
            to.city = v;
        }
        if let Some(v) = self.region {
            to.region = v;
        }
        if let Some(v) = self.postal_code {
            to.postal_code = v;
        }
        if let Some(v) = self.country {
            to.country = v;
        }
        if let Some(v) = self.phone {
            to.phone = v;
        }
        to
    }
}

/// A saved address.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AddressView {
    /// The entry.
    pub id: uuid::Uuid,
    /// Recipient.
    pub full_name: String,
    /// Street and number.
    pub line1: String,
    /// More.
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// Region.
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Phone.
    pub phone: Option<String>,
    /// At most one address is the default.
    pub is_default: bool,
}

impl From<SavedAddress> for AddressView {
    fn from(s: SavedAddress) -> Self {
        let a = s.address.to_input();
        AddressView {
            id: s.id.as_uuid(),
            full_name: a.full_name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
            phone: a.phone,
            is_default: s.is_default,
        }
    }
}

/// A wishlist entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WishlistItem {
    /// The product.
    pub product_id: uuid::Uuid,
    /// Its name.
    pub name: String,
    /// Its first image.
    pub image: Option<String>,
    /// `false` once the product is withdrawn from the catalog.
    pub available: bool,
}

impl From<Product> for WishlistItem {
    fn from(p: Product) -> Self {
        WishlistItem {
            product_id: p.id.as_uuid(),
            name: p.name,
            image: p.images.into_iter().next(),
            available: p.deleted_at.is_none(),
        }
    }
}

fn address_id(s: &str) -> Result<AddressId, ApiError> {
    s.parse().map_err(|_| ApiError::not_found("address"))
}

fn product_id(s: &str) -> Result<ProductId, ApiError> {
    s.parse().map_err(|_| ApiError::not_found("product"))
}

// ---- handlers ----

/// `GET /api/v1/me`.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile", body = Profile),
        (status = 401, description = "`unauthorized` or `invalid_token`", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_profile<S: Store + 'static>(
    p: Principal,
    state: AppState<S>,
) -> Result<Response, ApiError> {
    let account = state.commerce.account(p.customer_id).await?;
    Ok(json(StatusCode::OK, &Profile::from(account)))
}

/// `PATCH /api/v1/me`.
#[utoipa::path(patch, path = "/api/v1/me", tag = "me", security(("bearer" = [])), request_body = ProfilePatch,
    responses(
        (status = 200, description = "The profile, changed", body = Profile),
        (status = 422, description = "`validation_failed` (also for `roles`, `email`, `email_verified`)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch_profile<S: Store + 'static>(
    p: Principal,
    state: AppState<S>,
    body: ProfilePatch,
) -> Result<Response, ApiError> {
    let account = state
        .commerce
        .update_profile(p.customer_id, body.full_name, body.phone)
        .await?;
    Ok(json(StatusCode::OK, &Profile::from(account)))
}

/// `GET /api/v1/me/addresses`.
#[utoipa::path(get, path = "/api/v1/me/addresses", tag = "me", security(("bearer" = [])), params(Paging),
    responses((status = 200, description = "The address book, default first", body = Vec<AddressView>)))]
pub async fn list_addresses<S: Store + 'static>(
    p: Principal,
    state: AppState<S>,
    paging: Paging,
) -> Result<Response, ApiError> {
    let (page, per_page) = paging.resolve()?;
    let all = state.commerce.addresses(p.customer_id).await?;
    Ok(json(
        StatusCode::OK,
        &extract::page_of::<_, AddressView>(all, page, per_page),
    ))
}

/// `POST /api/v1/me/addresses`.
#[utoipa::path(post, path = "/api/v1/me/addresses", tag = "me", security(("bearer" = [])), request_body = AddressBody,
    responses(
        (status = 201, description = "Saved", body = AddressView),
        (status = 422, description = "`validation_failed` naming the field", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_address<S: Store + 'static>(
    p: Principal,
    state: AppState<S>,
    body: AddressBody,
) -> Result<Response, ApiError> {
    let saved = state
        .commerce
        .add_address(p.customer_id, &body.input(), body.is_default)
        .await?;
    Ok(json(StatusCode::CREATED, &AddressView::from(saved)))
}

/// `PATCH /api/v1/me/addresses/{id}`.
#[utoipa::path(patch, path = "/api/v1/me/addresses/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The address")), request_body = AddressPatch,
    responses(
        (status = 200, description = "Saved", body = AddressView),
        (status = 404, description = "Not the caller's address", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch_address<S: Store + 'static>(
    id: String,
    p: Principal,
    state: AppState<S>,
    body: AddressPatch,
) -> Result<Response, ApiError> {
    let id = address_id(&id)?;
    let existing = state
        .commerce
        .addresses(p.customer_id)
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or_else(|| ApiError::not_found("address"))?;
    let make_default = body.is_default == Some(true);
    let input = body.apply(existing.address.to_input());
    let saved = state
        .commerce
        .update_address(p.customer_id, id, &input, make_default)
        .await?;
    Ok(json(StatusCode::OK, &AddressView::from(saved)))
}

/// `DELETE /api/v1/me/addresses/{id}`.
#[utoipa::path(delete, path = "/api/v1/me/addresses/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The address")),
    responses(
        (status = 204, description = "Deleted; orders keep their own copy"),
        (status = 404, description = "Not the caller's address", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_address<S: Store + 'static>(
    id: String,
    p: Principal,
    state: AppState<S>,
) -> Result<Response, ApiError> {
    let id = address_id(&id)?;
    state.commerce.delete_address(p.customer_id, id).await?;
    Ok(no_content())
}

/// `GET /api/v1/me/wishlist`.
#[utoipa::path(get, path = "/api/v1/me/wishlist", tag = "me", security(("bearer" = [])), params(Paging),
    responses((status = 200, description = "The wishlist, oldest first", body = Vec<WishlistItem>)))]
pub async fn wishlist<S: Store + 'static>(
    p: Principal,
    state: AppState<S>,
    paging: Paging,
) -> Result<Response, ApiError> {
    let (page, per_page) = paging.resolve()?;
    let found = state
        .commerce
        .wishlist(p.customer_id, page, per_page)
        .await?;
    Ok(json(
        StatusCode::OK,
        &PageBody {
            items: found.items.into_iter().map(WishlistItem::from).collect(),
            page: found.page,
            per_page: found.per_page,
            total: found.total,
        },
    ))
}

/// `PUT /api/v1/me/wishlist/{product_id}`.
#[utoipa::path(put, path = "/api/v1/me/wishlist/{product_id}", tag = "me", security(("bearer" = [])),
    params(("product_id" = uuid::Uuid, Path, description = "The product")),
    responses(
        (status = 204, description = "On the wishlist (idempotent)"),
        (status = 404, description = "No such product in the catalog", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn wishlist_put<S: Store + 'static>(
    product: String,
    p: Principal,
    state: AppState<S>,
) -> Result<Response, ApiError> {
    let product = product_id(&product)?;
    state.commerce.wishlist_add(p.customer_id, product).await?;
    Ok(no_content())
}

/// `DELETE /api/v1/me/wishlist/{product_id}`.
#[utoipa::path(delete, path = "/api/v1/me/wishlist/{product_id}", tag = "me", security(("bearer" = [])),
    params(("product_id" = uuid::Uuid, Path, description = "The product")),
    responses((status = 204, description = "Not on the wishlist (idempotent)")))]
pub async fn wishlist_delete<S: Store + 'static>(
    product: String,
    p: Principal,
    state: AppState<S>,
) -> Result<Response, ApiError> {
    let product = product_id(&product)?;
    state
        .commerce
        .wishlist_remove(p.customer_id, product)
        .await?;
    Ok(no_content())
}
