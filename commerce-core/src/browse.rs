//! Browsing the catalog: what a shopper's product listing asks for, and the
//! exact meaning every backend gives it.
//!
//! One [`ProductQuery`] filters by text, category (descendants included),
//! seller store, price range and availability, sorts, and pages. Its
//! semantics are defined here, as plain functions, so that `InMemoryStore`,
//! SQLite and PostgreSQL give the same answers (the conformance suite checks):
//!
//! - **Text** is literal, case-insensitive substring search: the query is
//!   lower-cased and split on whitespace into at most [`MAX_TERMS`] terms, and
//!   a product matches when *every* term occurs in its [`search_text`] (its
//!   name and description, lower-cased). No character is special: `%`, `_`,
//!   `\` and quotes are searched for as themselves.
//! - **Listed products** are those not soft-deleted with at least one variant
//!   that passes the variant filters (price range and in-stock) *together*, so
//!   "in stock between 10 and 20" means one variant that is both.
//! - **Price** is the variant's selling price, in the query's currency; the
//!   range is inclusive at both ends.
//! - **Sorts** break ties by product id (time-ordered), so pages never
//!   overlap: `newest` (created, then id, both newest first), `name` (by
//!   [`name_key`], A→Z, then id), `price` / `-price` (by the product's lowest
//!   variant price, then id ascending).

use serde::{Deserialize, Serialize};

use crate::ids::{CategoryId, StoreId};
use crate::money::Money;
use crate::seller::{Product, Variant};

/// The most terms a text query keeps; more are ignored.
pub const MAX_TERMS: usize = 8;
/// The longest term kept, in characters; longer ones are cut.
pub const MAX_TERM_CHARS: usize = 64;
/// The largest page.
pub const MAX_PER_PAGE: u32 = 100;

/// A text query, normalised: lower-case terms, each searched for literally.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SearchTerms(Vec<String>);

impl SearchTerms {
    /// Normalises what a shopper typed; `None` when it holds no term.
    pub fn parse(text: &str) -> Option<Self> {
        let terms: Vec<String> = text
            .split_whitespace()
            .take(MAX_TERMS)
            .map(|t| t.to_lowercase().chars().take(MAX_TERM_CHARS).collect())
            .collect();
        if terms.is_empty() {
            None
        } else {
            Some(SearchTerms(terms))
        }
    }

    /// The terms, lower-cased.
    pub fn terms(&self) -> &[String] {
        &self.0
    }

    /// Whether every term occurs in `search_text`.
    pub fn matches(&self, search_text: &str) -> bool {
        self.0.iter().all(|t| search_text.contains(t.as_str()))
    }
}

/// The text a product is searched by: its name and description, lower-cased.
/// SQL backends store it in a column when the product is written.
pub fn search_text(name: &str, description: &str) -> String {
    let mut s = name.to_lowercase();
    s.push('\n');
    s.push_str(&description.to_lowercase());
    s
}

/// The key products sort by name with: the name, lower-cased (compared byte
/// by byte, the same in every backend and locale).
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// How a listing is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductSort {
    /// Newest first (the default).
    #[default]
    Newest,
    /// By name, A to Z.
    Name,
    /// Cheapest first, by the lowest variant price.
    PriceAsc,
    /// Dearest first, by the lowest variant price.
    PriceDesc,
}

impl ProductSort {
    /// Parses the API's `sort` parameter: `newest`, `name`, `price`, `-price`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "newest" => Some(ProductSort::Newest),
            "name" => Some(ProductSort::Name),
            "price" => Some(ProductSort::PriceAsc),
            "-price" => Some(ProductSort::PriceDesc),
            _ => None,
        }
    }
}

/// A catalog browse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductQuery {
    /// Text to find in names and descriptions.
    pub text: Option<SearchTerms>,
    /// Only this category and its descendants.
    pub category: Option<CategoryId>,
    /// Only this seller store's products.
    pub store: Option<StoreId>,
    /// Lowest variant price accepted (inclusive).
    pub min_price: Option<Money>,
    /// Highest variant price accepted (inclusive).
    pub max_price: Option<Money>,
    /// Only variants with stock available.
    pub in_stock: bool,
    /// The order.
    pub sort: ProductSort,
    /// 1-based page (0 is read as 1).
    pub page: u32,
    /// Products per page, 1 to [`MAX_PER_PAGE`] (others are clamped).
    pub per_page: u32,
}

impl Default for ProductQuery {
    fn default() -> Self {
        ProductQuery {
            text: None,
            category: None,
            store: None,
            min_price: None,
            max_price: None,
            in_stock: false,
            sort: ProductSort::Newest,
            page: 1,
            per_page: 20,
        }
    }
}

impl ProductQuery {
    /// The page, at least 1.
    pub fn page(&self) -> u32 {
        self.page.max(1)
    }

    /// The page size, clamped to 1..=[`MAX_PER_PAGE`].
    pub fn per_page(&self) -> u32 {
        self.per_page.clamp(1, MAX_PER_PAGE)
    }

    /// How many products to skip for the page.
    pub fn offset(&self) -> u64 {
        u64::from(self.page() - 1) * u64::from(self.per_page())
    }

    /// Whether a variant passes the variant filters (price range, in stock).
    pub fn variant_matches(&self, variant: &Variant) -> bool {
        let price = variant.price.price();
        let in_range = |bound: Option<Money>, ok: fn(i64, i64) -> bool| {
            bound.is_none_or(|b| b.currency() == price.currency() && ok(price.minor(), b.minor()))
        };
        in_range(self.min_price, |p, b| p >= b)
            && in_range(self.max_price, |p, b| p <= b)
            && (!self.in_stock || variant.stock.available() > 0)
    }

    /// Whether a product passes the product filters other than the category
    /// (which needs the tree): not deleted, store, text.
    pub fn product_matches(&self, product: &Product) -> bool {
        product.deleted_at.is_none()
            && self.store.is_none_or(|s| product.store_id == s)
            && self
                .text
                .as_ref()
                .is_none_or(|t| t.matches(&search_text(&product.name, &product.description)))
    }
}

/// One product in a listing, with all its variants (by SKU).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductListing {
    /// The product.
    pub product: Product,
    /// Its variants, by SKU.
    pub variants: Vec<Variant>,
}

impl ProductListing {
    /// The lowest selling price among the variants, in minor units.
    pub fn lowest_price_minor(&self) -> Option<i64> {
        self.variants.iter().map(|v| v.price.price().minor()).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_lowercased_split_and_bounded() {
        let t = SearchTerms::parse("  Blue  MUG ").unwrap();
        assert_eq!(t.terms(), ["blue", "mug"]);
        assert!(SearchTerms::parse(" \t ").is_none());
        let many = "a ".repeat(20);
        assert_eq!(SearchTerms::parse(&many).unwrap().terms().len(), MAX_TERMS);
        let long = "x".repeat(100);
        assert_eq!(
            SearchTerms::parse(&long).unwrap().terms()[0]
                .chars()
                .count(),
            MAX_TERM_CHARS
        );
    }

    #[test]
    fn every_term_must_occur_literally() {
        let text = search_text("Blue Mug", "Holds 100% of your tea_time");
        assert!(SearchTerms::parse("mug blue").unwrap().matches(&text));
        assert!(SearchTerms::parse("100%").unwrap().matches(&text));
        assert!(SearchTerms::parse("tea_time").unwrap().matches(&text));
        assert!(!SearchTerms::parse("mug red").unwrap().matches(&text));
        assert!(!SearchTerms::parse("%").unwrap().matches("no percent"));
        assert!(!SearchTerms::parse("' OR 1=1 --").unwrap().matches(&text));
    }

    #[test]
    fn sort_names_follow_the_api() {
        assert_eq!(ProductSort::parse("price"), Some(ProductSort::PriceAsc));
        assert_eq!(ProductSort::parse("-price"), Some(ProductSort::PriceDesc));
        assert_eq!(ProductSort::parse("newest"), Some(ProductSort::Newest));
        assert_eq!(ProductSort::parse("name"), Some(ProductSort::Name));
        assert_eq!(ProductSort::parse("rating"), None);
    }

    #[test]
    fn paging_is_clamped() {
        let q = ProductQuery {
            page: 0,
            per_page: 1000,
            ..ProductQuery::default()
        };
        assert_eq!((q.page(), q.per_page(), q.offset()), (1, 100, 0));
        let q = ProductQuery {
            page: 3,
            per_page: 20,
            ..ProductQuery::default()
        };
        assert_eq!(q.offset(), 40);
    }
}
