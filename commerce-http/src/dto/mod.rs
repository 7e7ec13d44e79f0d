//! What goes over the wire: request bodies (unknown fields refused) and
//! response bodies, with their OpenAPI schemas. Conversions from core types
//! only rename and select fields; they decide nothing.

pub mod cart;
pub mod order;
pub mod payment;
pub mod promotion;
pub mod shipping;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use commerce_core::account::{Rating, Review};
use commerce_core::browse::ProductListing;
use commerce_core::inventory::Stock;
use commerce_core::money::Money;
use commerce_core::seller::{Category, Product, SellerStore, Variant};
use commerce_core::service::ProductDetail;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Money on the wire: a decimal string with exactly the currency's minor
/// digits, and the ISO 4217 code.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"amount": "12.50", "currency": "USD"}))]
pub struct MoneySchema {
    /// `"12.50"` (USD), `"1200"` (JPY), `"1.250"` (KWD); never a number.
    pub amount: String,
    /// ISO 4217.
    pub currency: String,
}

/// Reads `null` as `Some(None)` and absence (with `#[serde(default)]`) as
/// `None`, so a PATCH can clear a field.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

// ---------------------------------------------------------------- stores

/// A seller's store, as anyone sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoreBody {
    /// The store.
    pub id: Uuid,
    /// Public name.
    pub name: String,
    /// URL slug, unique.
    pub slug: String,
    /// Opened.
    pub created_at: DateTime<Utc>,
}

impl From<SellerStore> for StoreBody {
    fn from(s: SellerStore) -> Self {
        StoreBody {
            id: s.id.as_uuid(),
            name: s.name,
            slug: s.slug,
            created_at: s.created_at,
        }
    }
}

/// A page of stores.
#[derive(Debug, Serialize, ToSchema)]
pub struct StorePage {
    /// The stores, oldest first.
    pub items: Vec<StoreBody>,
    /// 1-based page.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Stores in all.
    pub total: u64,
}

/// `POST /api/v1/stores`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStore {
    /// 1 to 200 characters.
    pub name: String,
    /// 1 to 64 of `a-z`, `0-9` and inner `-`; unique.
    pub slug: String,
}

// ---------------------------------------------------------------- categories

/// A category.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryBody {
    /// The category.
    pub id: Uuid,
    /// Its parent; `null` for a root.
    pub parent_id: Option<Uuid>,
    /// Name.
    pub name: String,
    /// URL slug, unique.
    pub slug: String,
}

impl From<Category> for CategoryBody {
    fn from(c: Category) -> Self {
        CategoryBody {
            id: c.id.as_uuid(),
            parent_id: c.parent_id.map(|p| p.as_uuid()),
            name: c.name,
            slug: c.slug,
        }
    }
}

/// A category with its subcategories.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryNode {
    /// The category.
    pub id: Uuid,
    /// Its parent; `null` for a root.
    pub parent_id: Option<Uuid>,
    /// Name.
    pub name: String,
    /// URL slug.
    pub slug: String,
    /// Subcategories, by name.
    #[schema(no_recursion)]
    pub children: Vec<CategoryNode>,
}

/// Builds the tree: roots and each level by name (then id).
pub fn category_tree(all: Vec<Category>) -> Vec<CategoryNode> {
    fn level(all: &[Category], parent: Option<Uuid>) -> Vec<CategoryNode> {
        let mut nodes: Vec<CategoryNode> = all
            .iter()
            .filter(|c| c.parent_id.map(|p| p.as_uuid()) == parent)
            .map(|c| CategoryNode {
                id: c.id.as_uuid(),
                parent_id: parent,
                name: c.name.clone(),
                slug: c.slug.clone(),
                children: level(all, Some(c.id.as_uuid())),
            })
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        nodes
    }
    level(&all, None)
}

/// `POST /api/v1/categories`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    /// 1 to 100 characters.
    pub name: String,
    /// Made from the name when absent.
    #[serde(default)]
    pub slug: Option<String>,
    /// The parent; absent or `null` for a root.
    #[serde(default)]
    pub parent_id: Option<Uuid>,
}

/// `PATCH /api/v1/categories/{id}`: absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New slug.
    #[serde(default)]
    pub slug: Option<String>,
    /// New parent; `null` makes it a root. Never itself or a descendant.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub parent_id: Option<Option<Uuid>>,
}

// ---------------------------------------------------------------- products

/// A variant as shoppers see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VariantBody {
    /// The variant (what a cart line names).
    pub id: Uuid,
    /// SKU.
    pub sku: String,
    /// Attributes such as `size: M`.
    pub attributes: BTreeMap<String, String>,
    /// The selling price.
    #[schema(value_type = MoneySchema)]
    pub price: Money,
    /// The compare-at ("was") price, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<MoneySchema>)]
    pub compare_at_price: Option<Money>,
    /// Units available to buy now (on hand less reserved).
    pub available: u32,
}

impl From<Variant> for VariantBody {
    fn from(v: Variant) -> Self {
        VariantBody {
            id: v.id.as_uuid(),
            sku: v.sku.as_str().to_owned(),
            attributes: v.attributes,
            price: v.price.price(),
            compare_at_price: v.price.compare_at(),
            available: v.stock.available(),
        }
    }
}

/// A product's rating.
#[derive(Debug, Serialize, ToSchema)]
pub struct RatingBody {
    /// The mean of the ratings, to two decimals; 0 without reviews.
    pub average: f64,
    /// Reviews.
    pub count: u32,
}

impl From<Rating> for RatingBody {
    fn from(r: Rating) -> Self {
        RatingBody {
            average: (r.average * 100.0).round() / 100.0,
            count: r.count,
        }
    }
}

/// A product in a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductSummary {
    /// The product.
    pub id: Uuid,
    /// The seller's store.
    pub store_id: Uuid,
    /// Its category.
    pub category_id: Option<Uuid>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Image URLs.
    pub images: Vec<String>,
    /// The lowest variant price.
    #[schema(value_type = Option<MoneySchema>)]
    pub price_from: Option<Money>,
    /// Its variants, by SKU.
    pub variants: Vec<VariantBody>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

fn lowest(variants: &[Variant]) -> Option<Money> {
    variants
        .iter()
        .map(|v| v.price.price())
        .min_by_key(|m| m.minor())
}

impl From<ProductListing> for ProductSummary {
    fn from(l: ProductListing) -> Self {
        let price_from = lowest(&l.variants);
        let p = l.product;
        ProductSummary {
            id: p.id.as_uuid(),
            store_id: p.store_id.as_uuid(),
            category_id: p.category_id.map(|c| c.as_uuid()),
            name: p.name,
            description: p.description,
            images: p.images,
            price_from,
            variants: l.variants.into_iter().map(VariantBody::from).collect(),
            created_at: p.created_at,
        }
    }
}

/// A page of products.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    /// The products.
    pub items: Vec<ProductSummary>,
    /// 1-based page.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Products matching, in all.
    pub total: u64,
}

/// A product with its variants and rating.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductBody {
    /// The product.
    pub id: Uuid,
    /// The seller's store.
    pub store_id: Uuid,
    /// Its category.
    pub category_id: Option<Uuid>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Image URLs.
    pub images: Vec<String>,
    /// The lowest variant price.
    #[schema(value_type = Option<MoneySchema>)]
    pub price_from: Option<Money>,
    /// Its variants, by SKU, with what is available.
    pub variants: Vec<VariantBody>,
    /// Its reviews' average and count.
    pub rating: RatingBody,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl From<ProductDetail> for ProductBody {
    fn from(d: ProductDetail) -> Self {
        let price_from = lowest(&d.variants);
        let p: Product = d.product;
        ProductBody {
            id: p.id.as_uuid(),
            store_id: p.store_id.as_uuid(),
            category_id: p.category_id.map(|c| c.as_uuid()),
            name: p.name,
            description: p.description,
            images: p.images,
            price_from,
            variants: d.variants.into_iter().map(VariantBody::from).collect(),
            rating: d.rating.into(),
            created_at: p.created_at,
        }
    }
}

/// A variant of `POST /api/v1/products`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVariant {
    /// SKU, unique across the shop.
    pub sku: String,
    /// Attributes such as `size: M` (at most 20).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The selling price, in the shop's currency.
    #[schema(value_type = MoneySchema)]
    pub price: Money,
    /// A compare-at ("was") price above the price.
    #[serde(default)]
    #[schema(value_type = Option<MoneySchema>)]
    pub compare_at_price: Option<Money>,
    /// Units on hand.
    pub stock: u32,
}

/// `POST /api/v1/products`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    /// A store the caller owns.
    pub store_id: Uuid,
    /// Its category.
    #[serde(default)]
    pub category_id: Option<Uuid>,
    /// 1 to 200 characters.
    pub name: String,
    /// Up to 20,000 characters.
    #[serde(default)]
    pub description: String,
    /// Up to 10 http(s) URLs.
    #[serde(default)]
    pub images: Vec<String>,
    /// 1 to 100 variants.
    pub variants: Vec<NewVariant>,
}

/// `PATCH /api/v1/products/{id}`: absent fields stay; the store never changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New category; `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub category_id: Option<Option<Uuid>>,
    /// New images.
    #[serde(default)]
    pub images: Option<Vec<String>>,
}

/// `PUT /api/v1/variants/{id}/stock`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetStock {
    /// Units on hand; never below the units reserved by pending orders.
    pub on_hand: u32,
}

/// A variant's stock.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockBody {
    /// The variant.
    pub variant_id: Uuid,
    /// Units on hand.
    pub on_hand: u32,
    /// Units reserved by orders awaiting payment.
    pub reserved: u32,
    /// On hand less reserved.
    pub available: u32,
}

impl StockBody {
    /// The stock of a variant.
    pub fn new(variant: Uuid, s: Stock) -> Self {
        StockBody {
            variant_id: variant,
            on_hand: s.on_hand,
            reserved: s.reserved,
            available: s.available(),
        }
    }
}

// ---------------------------------------------------------------- reviews

/// A review.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewBody {
    /// The review.
    pub id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// 1 to 5.
    pub rating: u8,
    /// Title.
    pub title: Option<String>,
    /// Text.
    pub body: String,
    /// The author had a paid order with this product when posting.
    pub verified_purchase: bool,
    /// Posted.
    pub created_at: DateTime<Utc>,
}

impl From<Review> for ReviewBody {
    fn from(r: Review) -> Self {
        ReviewBody {
            id: r.id.as_uuid(),
            product_id: r.product_id.as_uuid(),
            rating: r.rating,
            title: r.title,
            body: r.body,
            verified_purchase: r.verified_purchase,
            created_at: r.created_at,
        }
    }
}

/// A page of reviews, newest first, with the product's rating.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewPage {
    /// The reviews.
    pub items: Vec<ReviewBody>,
    /// 1-based page.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Reviews in all.
    pub total: u64,
    /// Average and count.
    pub rating: RatingBody,
}

/// `POST /api/v1/products/{id}/reviews`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    /// 1 to 5.
    pub rating: u8,
    /// Up to 200 characters.
    #[serde(default)]
    pub title: Option<String>,
    /// 1 to 5,000 characters.
    pub body: String,
}
