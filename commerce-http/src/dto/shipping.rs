//! Shipping methods on the wire.

use commerce_core::money::Money;
use commerce_core::shipping::ShippingMethod;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A shipping method.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShippingMethodBody {
    /// Its code (`standard`): 1 to 32 of `a-z 0-9 - _`.
    pub code: String,
    /// The name buyers see.
    pub name: String,
    /// The price.
    #[schema(value_type = super::MoneySchema)]
    pub price: Money,
    /// The discounted subtotal from which it is free; `null`: never free.
    #[schema(value_type = Option<super::MoneySchema>)]
    pub free_over: Option<Money>,
}

impl From<ShippingMethod> for ShippingMethodBody {
    fn from(m: ShippingMethod) -> Self {
        ShippingMethodBody {
            code: m.code().to_owned(),
            name: m.name().to_owned(),
            price: m.price(),
            free_over: m.free_over(),
        }
    }
}

/// A page of shipping methods.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShippingMethodPage {
    /// The methods, cheapest first (ties by code): the first is a cart's default.
    pub items: Vec<ShippingMethodBody>,
    /// 1-based page.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Methods in all.
    pub total: u64,
}

/// `POST /api/v1/admin/shipping-methods`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShippingMethod {
    /// 1 to 32 of `a-z 0-9 - _`; unique.
    pub code: String,
    /// 1 to 100 characters.
    pub name: String,
    /// In the shop's currency; zero or more.
    #[schema(value_type = super::MoneySchema)]
    pub price: Money,
    /// The discounted subtotal from which it is free (positive, the shop's currency).
    #[serde(default)]
    #[schema(value_type = Option<super::MoneySchema>)]
    pub free_over: Option<Money>,
}

/// `PATCH /api/v1/admin/shipping-methods/{code}`: absent fields stay; the code never changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingMethodPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New price.
    #[serde(default)]
    #[schema(value_type = Option<super::MoneySchema>)]
    pub price: Option<Money>,
    /// New threshold; `null` removes it.
    #[serde(default, deserialize_with = "super::double_option")]
    #[schema(value_type = Option<super::MoneySchema>)]
    pub free_over: Option<Option<Money>>,
}

/// `PUT /api/v1/cart/shipping-method`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChooseShipping {
    /// A method's code; `null` goes back to the default (the cheapest).
    pub code: Option<String>,
}
