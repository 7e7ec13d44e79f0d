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
    /// From each product that promotions name (by [`key`]) to what they do
    /// with it.
    pub(super) by_product: FxHashMap<u128, Reach>,
    /// From each category that promotions name (by [`key`]) to what they do
    /// with it (the engine walks a line's category and its ancestors).
    pub(super) by_category: FxHashMap<u128, Reach>,
    /// The promotion lists the [`Reach`]es point into.
    pub(super) reach: Vec<u32>,
}

/// What the promotions of a set do with one product or category: the
/// promotions whose action targets it (`reach[targets.0..targets.1]`) and
/// those whose `contains` condition names it (`reach[contains.0..contains.1]`),
/// each in evaluation order, without repeats. One lookup answers both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Reach {
    pub(super) targets: (u32, u32),
    pub(super) contains: (u32, u32),
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

        let mut everywhere = Vec::new();
        let mut product_lists: FxHashMap<u128, (Vec<u32>, Vec<u32>)> = FxHashMap::default();
        let mut category_lists: FxHashMap<u128, (Vec<u32>, Vec<u32>)> = FxHashMap::default();
        for (i, p) in promotions.iter().enumerate() {
            // A set holds far fewer than 2^32 promotions.
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let target = p.action().applies_to();
            if target.is_everything() {
                everywhere.push(i);
            }
            for product in unique(&target.products) {
                product_lists.entry(key(product)).or_default().0.push(i);
            }
            for category in unique(&target.categories) {
                category_lists.entry(key(category)).or_default().0.push(i);
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
                product_lists.entry(key(product)).or_default().1.push(i);
            }
            for category in unique(&categories) {
                category_lists.entry(key(category)).or_default().1.push(i);
            }
        }
        let mut reach = Vec::new();
        let by_product = flatten(product_lists, &mut reach);
        let by_category = flatten(category_lists, &mut reach);
        Ok(PromotionSet {
            promotions,
            everywhere,
            by_product,
            by_category,
            reach,
        })
    }

    /// The promotions a [`Reach`] targets and those it satisfies a
    /// `contains` condition of.
    pub(super) fn reached(&self, r: Reach) -> (&[u32], &[u32]) {
        let slice = |(from, to): (u32, u32)| &self.reach[from as usize..to as usize];
        (slice(r.targets), slice(r.contains))
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

/// Moves each key's two promotion lists into `reach`, keeping their ranges.
fn flatten<K: Eq + std::hash::Hash>(
    lists: FxHashMap<K, (Vec<u32>, Vec<u32>)>,
    reach: &mut Vec<u32>,
) -> FxHashMap<K, Reach> {
    let range = |ps: &[u32], reach: &mut Vec<u32>| {
        let from = u32::try_from(reach.len()).unwrap_or(u32::MAX);
        reach.extend_from_slice(ps);
        (from, u32::try_from(reach.len()).unwrap_or(u32::MAX))
    };
    lists
        .into_iter()
        .map(|(key, (targets, contains))| {
            let targets = range(&targets, reach);
            let contains = range(&contains, reach);
            (key, Reach { targets, contains })
        })
        .collect()
}

/// An id as the integer the pricing indexes are keyed by: FxHash takes a
/// u128 in two multiplications, where the ids' derived `Hash` hashes the
/// UUID's bytes as a slice.
pub(super) trait Key {
    /// The id's 128 bits.
    fn key(self) -> u128;
}

macro_rules! key {
    ($($id:ty),*) => {$(
        impl Key for $id {
            fn key(self) -> u128 {
                self.as_uuid().as_u128()
            }
        }
    )*};
}

key!(ProductId, CategoryId, crate::ids::LineId);

/// [`Key::key`] as a function.
pub(super) fn key(id: impl Key) -> u128 {
    id.key()
}
