//! What pricing needs to know about the catalog: variants with their prices,
//! and the category tree (so that a promotion on "Clothing" reaches "Shirts").

use std::fmt;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::ids::{CategoryId, ProductId, VariantId};
use crate::money::{Currency, Money};

/// Invalid catalog input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// A SKU must be 1–64 characters of `A-Z a-z 0-9 - _ . /`.
    #[error("invalid SKU {0:?}: use 1 to 64 of A-Z, a-z, 0-9, '-', '_', '.', '/'")]
    InvalidSku(String),
    /// Prices are zero or more.
    #[error("price must not be negative, got {0}")]
    NegativePrice(Money),
    /// A compare-at ("was") price is shown only when it is above the price.
    #[error("compare-at price {compare_at} must be above the price {price}")]
    CompareAtNotAbovePrice {
        /// The selling price.
        price: Money,
        /// The refused compare-at price.
        compare_at: Money,
    },
    /// The price and compare-at price are in different currencies.
    #[error("price and compare-at price are in different currencies ({0} and {1})")]
    CurrencyMismatch(Currency, Currency),
    /// A category's parent must be added before the category.
    #[error("unknown parent category {0}")]
    UnknownParentCategory(CategoryId),
    /// The category is already in the tree.
    #[error("category {0} is already in the tree")]
    DuplicateCategory(CategoryId),
}

/// A stock-keeping unit code: 1–64 characters of `A-Z a-z 0-9 - _ . /`.
/// Cheap to clone (shared).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sku(Arc<str>);

impl Serialize for Sku {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl Sku {
    /// Checks the text.
    ///
    /// # Errors
    /// [`CatalogError::InvalidSku`].
    pub fn parse(s: &str) -> Result<Self, CatalogError> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
        if ok {
            Ok(Sku(Arc::from(s)))
        } else {
            Err(CatalogError::InvalidSku(s.chars().take(80).collect()))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sku {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Sku::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A variant's selling price and optional compare-at ("was") price.
///
/// The selling price is what the buyer pays and what an order keeps; the
/// compare-at price is only shown next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VariantPrice {
    price: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    compare_at: Option<Money>,
}

impl<'de> Deserialize<'de> for VariantPrice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            price: Money,
            #[serde(default)]
            compare_at: Option<Money>,
        }
        let w = Wire::deserialize(deserializer)?;
        VariantPrice::new(w.price, w.compare_at).map_err(serde::de::Error::custom)
    }
}

impl VariantPrice {
    /// Checks that the price is not negative and that a compare-at price is
    /// above it, in the same currency.
    ///
    /// # Errors
    /// [`CatalogError::NegativePrice`], [`CatalogError::CurrencyMismatch`],
    /// [`CatalogError::CompareAtNotAbovePrice`].
    pub fn new(price: Money, compare_at: Option<Money>) -> Result<Self, CatalogError> {
        if price.is_negative() {
            return Err(CatalogError::NegativePrice(price));
        }
        if let Some(was) = compare_at {
            if was.currency() != price.currency() {
                return Err(CatalogError::CurrencyMismatch(
                    price.currency(),
                    was.currency(),
                ));
            }
            if was.minor() <= price.minor() {
                return Err(CatalogError::CompareAtNotAbovePrice {
                    price,
                    compare_at: was,
                });
            }
        }
        Ok(VariantPrice { price, compare_at })
    }

    /// A plain price without a compare-at price.
    ///
    /// # Errors
    /// [`CatalogError::NegativePrice`].
    pub fn fixed(price: Money) -> Result<Self, CatalogError> {
        Self::new(price, None)
    }

    /// The selling price.
    pub fn price(&self) -> Money {
        self.price
    }

    /// The compare-at price, when there is one.
    pub fn compare_at(&self) -> Option<Money> {
        self.compare_at
    }
}

/// What pricing reads of one variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariantSnapshot {
    /// The variant.
    pub id: VariantId,
    /// Its product.
    pub product_id: ProductId,
    /// The product's category, if it has one.
    pub category_id: Option<CategoryId>,
    /// The variant's SKU.
    pub sku: Sku,
    /// The name shown to buyers (product name and variant attributes);
    /// shared, so pricing copies a pointer, not the text.
    pub name: Arc<str>,
    /// Its price.
    pub price: VariantPrice,
}

/// The category tree, as parent links. Cycles cannot be built: a parent must
/// be in the tree before its children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryTree {
    parent: FxHashMap<CategoryId, Option<CategoryId>>,
}

impl CategoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a category under `parent` (or as a root).
    ///
    /// # Errors
    /// [`CatalogError::DuplicateCategory`], [`CatalogError::UnknownParentCategory`].
    pub fn add(&mut self, id: CategoryId, parent: Option<CategoryId>) -> Result<(), CatalogError> {
        if self.parent.contains_key(&id) {
            return Err(CatalogError::DuplicateCategory(id));
        }
        if let Some(p) = parent
            && !self.parent.contains_key(&p)
        {
            return Err(CatalogError::UnknownParentCategory(p));
        }
        self.parent.insert(id, parent);
        Ok(())
    }

    /// The category itself, then its parent, and so on up to the root.
    /// An id that is not in the tree yields only itself.
    pub fn lineage(&self, id: CategoryId) -> impl Iterator<Item = CategoryId> + '_ {
        std::iter::successors(Some(id), move |c| self.parent.get(c).copied().flatten())
    }

    /// `true` when `id` is `ancestor` or lies below it.
    pub fn is_within(&self, id: CategoryId, ancestor: CategoryId) -> bool {
        self.lineage(id).any(|c| c == ancestor)
    }

    /// The number of categories.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// `true` when the tree has no category.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }
}

/// The part of the catalog a pricing run reads: the cart's variants and the
/// category tree. Built by the caller (a store) for one cart, or kept for many.
#[derive(Debug, Clone, Default)]
pub struct CatalogSnapshot {
    variants: FxHashMap<VariantId, VariantSnapshot>,
    categories: CategoryTree,
}

impl CatalogSnapshot {
    /// A snapshot over a category tree, with no variants yet.
    pub fn new(categories: CategoryTree) -> Self {
        CatalogSnapshot {
            variants: FxHashMap::default(),
            categories,
        }
    }

    /// Adds or replaces a variant.
    pub fn insert(&mut self, variant: VariantSnapshot) {
        self.variants.insert(variant.id, variant);
    }

    /// A variant, if the snapshot has it.
    pub fn variant(&self, id: VariantId) -> Option<&VariantSnapshot> {
        self.variants.get(&id)
    }

    /// The category tree.
    pub fn categories(&self) -> &CategoryTree {
        &self.categories
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::USD)
    }

    #[test]
    fn sku_rules() {
        assert!(Sku::parse("TSHIRT-RED/XL_2.0").is_ok());
        for bad in ["", "has space", "ünï", "x'; DROP", &"A".repeat(65)] {
            assert!(
                matches!(Sku::parse(bad), Err(CatalogError::InvalidSku(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn variant_price_rules() {
        assert!(VariantPrice::new(usd(1000), Some(usd(1500))).is_ok());
        assert!(VariantPrice::fixed(usd(0)).is_ok());
        assert_eq!(
            VariantPrice::fixed(usd(-1)),
            Err(CatalogError::NegativePrice(usd(-1)))
        );
        assert!(matches!(
            VariantPrice::new(usd(1000), Some(usd(1000))),
            Err(CatalogError::CompareAtNotAbovePrice { .. })
        ));
        assert!(matches!(
            VariantPrice::new(usd(1000), Some(Money::from_minor(2000, Currency::EUR))),
            Err(CatalogError::CurrencyMismatch(..))
        ));
    }

    #[test]
    fn category_lineage_reaches_the_root() {
        let clothing = CategoryId::from_u128(1);
        let shirts = CategoryId::from_u128(2);
        let polos = CategoryId::from_u128(3);
        let toys = CategoryId::from_u128(4);
        let mut tree = CategoryTree::new();
        tree.add(clothing, None).unwrap();
        tree.add(shirts, Some(clothing)).unwrap();
        tree.add(polos, Some(shirts)).unwrap();
        tree.add(toys, None).unwrap();
        assert_eq!(
            tree.lineage(polos).collect::<Vec<_>>(),
            vec![polos, shirts, clothing]
        );
        assert!(tree.is_within(polos, clothing));
        assert!(!tree.is_within(toys, clothing));
        assert!(!tree.is_within(clothing, shirts));
        assert_eq!(
            tree.add(shirts, None),
            Err(CatalogError::DuplicateCategory(shirts))
        );
        let orphan = CategoryId::from_u128(9);
        assert_eq!(
            tree.add(CategoryId::from_u128(10), Some(orphan)),
            Err(CatalogError::UnknownParentCategory(orphan))
        );
    }
}
