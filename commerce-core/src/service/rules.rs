//! The shop's rules that every cart reads and that rarely change — the
//! category tree, the promotions, the shipping methods — kept in memory for
//! [`Config::rules_cache_ttl`](super::Config::rules_cache_ttl).
//!
//! Pricing a cart reads all three; without the cache that is three store
//! reads per cart view, add to cart and checkout. With it:
//!
//! - a change made through this engine (`create_promotion`,
//!   `update_category`, ...) empties the cache at once, so this process
//!   never prices with rules older than its own last change;
//! - a change made elsewhere (another server on the same database, a
//!   direct store write) is seen within the TTL.
//!
//! What must be exact is never cached: stock, promotion usage and limits
//! are read fresh, and `place_order` re-checks them atomically (I1, I2).
//! A zero TTL turns the cache off.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::promotion::Promotion;
use crate::seller::Category;
use crate::shipping::ShippingMethod;
use crate::storage::{CatalogStore, PromotionStore, ShippingStore, StoreError};

/// One cached list: its value, when it was read, and a generation that
/// every invalidation bumps (a read that raced an invalidation does not
/// store what it read).
#[derive(Debug)]
struct Slot<T> {
    value: Option<(Instant, Arc<Vec<T>>)>,
    generation: u64,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            value: None,
            generation: 0,
        }
    }
}

#[derive(Debug, Default)]
struct Slots {
    categories: Slot<Category>,
    promotions: Slot<Promotion>,
    shipping: Slot<ShippingMethod>,
}

/// The cache, shared by the clones of one engine.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    slots: Mutex<Slots>,
}

/// Which list.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    Categories,
    Promotions,
    Shipping,
}

impl Rules {
    fn with<R>(&self, f: impl FnOnce(&mut Slots) -> R) -> R {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut slots)
    }

    /// Forgets one list (after a change made through this engine).
    pub(crate) fn invalidate(&self, rule: Rule) {
        self.with(|s| {
            fn bump<T>(slot: &mut Slot<T>) {
                slot.value = None;
                slot.generation += 1;
            }
            match rule {
                Rule::Categories => bump(&mut s.categories),
                Rule::Promotions => bump(&mut s.promotions),
                Rule::Shipping => bump(&mut s.shipping),
            }
        });
    }
}

/// Reads through one slot.
async fn through<T, F, Fut>(
    rules: &Rules,
    ttl: std::time::Duration,
    slot: fn(&mut Slots) -> &mut Slot<T>,
    read: F,
) -> Result<Arc<Vec<T>>, StoreError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Vec<T>, StoreError>>,
{
    if ttl.is_zero() {
        return Ok(Arc::new(read().await?));
    }
    let (hit, generation) = rules.with(|s| {
        let slot = slot(s);
        let hit = slot
            .value
            .as_ref()
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, v)| Arc::clone(v));
        (hit, slot.generation)
    });
    if let Some(v) = hit {
        return Ok(v);
    }
    let started = Instant::now();
    let fresh = Arc::new(read().await?);
    rules.with(|s| {
        let slot = slot(s);
        if slot.generation == generation {
            slot.value = Some((started, Arc::clone(&fresh)));
        }
    });
    Ok(fresh)
}

impl<S: CatalogStore + PromotionStore + ShippingStore> super::Commerce<S> {
    /// Every category (cached, see the module).
    pub(crate) async fn rules_categories(&self) -> Result<Arc<Vec<Category>>, StoreError> {
        through(
            &self.rules,
            self.config.rules_cache_ttl,
            |s| &mut s.categories,
            || self.store.categories(),
        )
        .await
    }

    /// Every promotion (cached, see the module).
    pub(crate) async fn rules_promotions(&self) -> Result<Arc<Vec<Promotion>>, StoreError> {
        through(
            &self.rules,
            self.config.rules_cache_ttl,
            |s| &mut s.promotions,
            || self.store.promotions(),
        )
        .await
    }

    /// Every shipping method (cached, see the module).
    pub(crate) async fn rules_shipping(&self) -> Result<Arc<Vec<ShippingMethod>>, StoreError> {
        through(
            &self.rules,
            self.config.rules_cache_ttl,
            |s| &mut s.shipping,
            || self.store.shipping_methods(),
        )
        .await
    }

    /// Forgets a cached list after a change through this engine.
    pub(crate) fn rules_changed(&self, rule: Rule) {
        self.rules.invalidate(rule);
    }

    /// Forgets every cached rule: for code that writes categories,
    /// promotions or shipping methods to the store directly, not through
    /// this engine.
    pub fn forget_cached_rules(&self) {
        for rule in [Rule::Categories, Rule::Promotions, Rule::Shipping] {
            self.rules.invalidate(rule);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    fn categories(s: &mut Slots) -> &mut Slot<Category> {
        &mut s.categories
    }

    async fn get(rules: &Rules, ttl: Duration, reads: &AtomicU32) -> Arc<Vec<Category>> {
        through(rules, ttl, categories, || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok(Vec::new())
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_list_is_read_once_until_invalidated() {
        let rules = Rules::default();
        let reads = AtomicU32::new(0);
        let ttl = Duration::from_secs(3600);
        get(&rules, ttl, &reads).await;
        get(&rules, ttl, &reads).await;
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "the second read is served from memory"
        );
        rules.invalidate(Rule::Promotions);
        get(&rules, ttl, &reads).await;
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "another list's change keeps this one"
        );
        rules.invalidate(Rule::Categories);
        get(&rules, ttl, &reads).await;
        assert_eq!(reads.load(Ordering::SeqCst), 2, "a change empties it");
    }

    #[tokio::test]
    async fn a_zero_ttl_reads_every_time() {
        let rules = Rules::default();
        let reads = AtomicU32::new(0);
        for _ in 0..3 {
            get(&rules, Duration::ZERO, &reads).await;
        }
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_read_that_raced_a_change_is_not_kept() {
        let rules = Rules::default();
        let ttl = Duration::from_secs(3600);
        // The change lands while the read is in flight.
        through(&rules, ttl, categories, || async {
            rules.invalidate(Rule::Categories);
            Ok(Vec::new())
        })
        .await
        .unwrap();
        let reads = AtomicU32::new(0);
        get(&rules, ttl, &reads).await;
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "read again, not served stale"
        );
    }
}
