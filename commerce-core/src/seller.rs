//! Sellers' stores and the catalog entities they own.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{Sku, VariantPrice};
use crate::ids::{CategoryId, CustomerId, ProductId, StoreId, VariantId};
use crate::inventory::Stock;

/// A seller's store, owned by one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SellerStore {
    /// The store.
    pub id: StoreId,
    /// Its owner.
    pub owner_id: CustomerId,
    /// Public name.
    pub name: String,
    /// URL slug, unique.
    pub slug: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A catalog category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// The category.
    pub id: CategoryId,
    /// Its parent; `None` for a root.
    pub parent_id: Option<CategoryId>,
    /// Name.
    pub name: String,
    /// URL slug, unique.
    pub slug: String,
}

/// A product: what the catalog shows. Deleting one is soft: it disappears from
/// the catalog and carts, and orders keep their snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// The product.
    pub id: ProductId,
    /// The seller's store.
    pub store_id: StoreId,
    /// Its category.
    pub category_id: Option<CategoryId>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Image URLs.
    pub images: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Set when withdrawn.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A variant: one sellable SKU of a product, with its price and stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// The variant.
    pub id: VariantId,
    /// Its product.
    pub product_id: ProductId,
    /// SKU, unique across the shop.
    pub sku: Sku,
    /// Attributes such as `size: M`, `colour: red`.
    pub attributes: BTreeMap<String, String>,
    /// Price and compare-at price.
    pub price: VariantPrice,
    /// Stock.
    pub stock: Stock,
}

impl Variant {
    /// The name buyers see: the product's name and the attributes.
    pub fn display_name(&self, product_name: &str) -> String {
        if self.attributes.is_empty() {
            product_name.to_owned()
        } else {
            let attrs: Vec<&str> = self.attributes.values().map(String::as_str).collect();
            format!("{product_name} ({})", attrs.join(", "))
        }
    }
}
