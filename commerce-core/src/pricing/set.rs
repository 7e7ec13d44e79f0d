//! A set of promotions, sorted and indexed once so that each pricing run
//! only meets the promotions that can touch its lines.

use std::collections::HashSet;

use rustc_hash::FxHashMap;

use crate::ids::{CategoryId, ProductId, PromotionId};
use crate::promotion::{Action, Condition, DiscountCode, Promotion};

/// Two promotions with one id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("promotion {0} is in the set twice")]
pub struct DuplicatePromotion(pub PromotionId);

/// The promotions a shop runs, in evaluation order — priority (highest
/// first), then id — whatever order they were given in, with an index from
/// product and category to the promotions that target them.
///
/// Build it once and reuse it across pricing runs; it is immutable and `Sync`.
#[derive(Debug, Clone, Default)]
pub struct PromotionSet {
    promotions: Vec<Promotion>,
    /// Promotions whose action applies to every line.
    pub(super) everywhere: Vec<u32>,
    pub(super) by_product: FxHashMap<ProductId, Vec<u32>>,
    pub(super) by_category: FxHashMap<CategoryId, Vec<u32>>,
    /// For `contains` conditions: from each product and category they name
    /// to the promotions naming it.
    pub(super) contains_by_product: FxHashMap<ProductId, Vec<u32>>,
    pub(super) contains_by_category: FxHashMap<CategoryId, Vec<u32>>,
}

impl PromotionSet {
    /// Sorts and indexes promotions.
    ///
    /// # Errors
    /// [`DuplicatePromotion`] when two share an id.
    pub fn new(mut promotions: Vec<Promotion>) -> Result<Self, DuplicatePromotion> {
        promotions.sort_by(|a, b| b.priority().cmp(&a.priority()).then(a.id().cmp(&b.id())));
        let mut ids = HashSet::with_capacity(promotions.len());
        if let Some(p) = promotions.iter().find(|p| !ids.insert(p.id())) {
            return Err(DuplicatePromotion(p.id()));
        }

        let mut set = PromotionSet {
            promotions: Vec::new(),
            ..Default::default()
        };
        for (i, p) in promotions.iter().enumerate() {
            // A set holds far fewer than 2^32 promotions.
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let target = p.action().applies_to();
            if target.is_everything() {
                set.everywhere.push(i);
            }
            for product in unique(&target.products) {
                set.by_product.entry(product).or_default().push(i);
            }
            for category in unique(&target.categories) {
                set.by_category.entry(category).or_default().push(i);
            }
            let mut products = Vec::new();
            let mut categories = Vec::new();
            for c in p.conditions() {
                if let Condition::Contains {
                    products: ps,
                    categories: cs,
                } = c
                {
                    products.extend_from_slice(ps);
                    categories.extend_from_slice(cs);
                }
            }
            for product in unique(&products) {
                set.contains_by_product.entry(product).or_default().push(i);
            }
            for category in unique(&categories) {
                set.contains_by_category
                    .entry(category)
                    .or_default()
                    .push(i);
            }
        }
        set.promotions = promotions;
        Ok(set)
    }

    /// The promotions, in evaluation order.
    pub fn promotions(&self) -> &[Promotion] {
        &self.promotions
    }

    /// The number of promotions.
    pub fn len(&self) -> usize {
        self.promotions.len()
    }

    /// `true` when there is none.
    pub fn is_empty(&self) -> bool {
        self.promotions.is_empty()
    }

    /// The promotion with this id.
    pub fn get(&self, id: PromotionId) -> Option<&Promotion> {
        self.promotions.iter().find(|p| p.id() == id)
    }

    /// The promotions that a code unlocks.
    pub fn by_code<'a>(
        &'a self,
        code: &'a DiscountCode,
    ) -> impl Iterator<Item = &'a Promotion> + 'a {
        self.promotions
            .iter()
            .filter(move |p| p.code() == Some(code))
    }

    /// `true` when the promotion's action is free shipping.
    pub(super) fn is_free_shipping(&self, i: usize) -> bool {
        matches!(self.promotions[i].action(), Action::FreeShipping)
    }
}

fn unique<T: Copy + Eq + std::hash::Hash>(items: &[T]) -> impl Iterator<Item = T> + '_ {
    let mut seen = HashSet::new();
    items.iter().copied().filter(move |x| seen.insert(*x))
}
