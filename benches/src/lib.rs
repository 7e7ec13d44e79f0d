//! Shared fixtures for the `commerce-core` benchmarks.
//!
//! [`Shop::new`] builds a deterministic, realistic catalog: a category tree
//! three levels deep (4 departments × 4 sections × 4 aisles), products in the
//! leaf categories, two variants per product, prices from 1.00 to 200.00 USD.
//! [`Shop::promotions`] makes any number of promotions shaped like a real
//! shop's: 80 % target specific products or categories, 20 % apply to the
//! whole cart; the actions mix percentages (some capped), fixed amounts,
//! buy-X-get-Y, tiers and free shipping; about 60 % stack; some need a code
//! the buyer did not enter, some have conditions, a few have an expired or
//! future window. [`Shop::cart`] makes a cart of distinct variants with a
//! shipping method and one entered code.
//!
//! Everything is seeded, so every run of the benchmarks prices the same carts.
//!
//! ```
//! use commerce_benches::{Shop, context_tax, now};
//! use commerce_core::pricing::{price, PricingContext, PromotionSet};
//!
//! let shop = Shop::new(1_000);
//! let set = PromotionSet::new(shop.promotions(10))?;
//! let cart = shop.cart(20);
//! let tax = context_tax();
//! let priced = price(&cart, shop.catalog(), &set, &PricingContext::new(now(), &tax))?;
//! assert_eq!(priced.lines.len(), 20);
//! assert_eq!(priced.promotions.len(), 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use chrono::{DateTime, Duration, TimeZone, Utc};
use commerce_core::Quantity;
use commerce_core::catalog::{CatalogSnapshot, CategoryTree, Sku, VariantPrice, VariantSnapshot};
use commerce_core::ids::{CategoryId, LineId, ProductId, PromotionId, VariantId};
use commerce_core::money::{Currency, Money};
use commerce_core::pricing::{CartInput, LineInput, NotApplied, Outcome, PricedCart};
use commerce_core::promotion::{
    Action, AppliesTo, Condition, DiscountCode, Promotion, PromotionSpec, Tier,
};
use commerce_core::shipping::ShippingMethod;
use commerce_core::tax::SingleRateTax;
use rust_decimal::Decimal;

/// The currency of every fixture.
pub const CURRENCY: Currency = Currency::USD;

/// The code every fixture cart enters. One promotion of every set of at least
/// two carries it; every other code is never entered.
pub const ENTERED_CODE: &str = "SPRING";

/// Departments (roots), sections per department, aisles per section.
const FANOUT: u128 = 4;

/// The instant every fixture prices at (2026-06-15 12:00 UTC).
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 15, 12, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// The tax policy of the fixtures: 20 % added on top of net prices.
pub fn context_tax() -> SingleRateTax {
    SingleRateTax::new(Decimal::new(2, 1), false).unwrap_or_default()
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, CURRENCY)
}

/// A small, fast, seeded generator (SplitMix64), so that fixtures are the
/// same on every run without a `rand` dependency.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from a seed.
    pub const fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` above zero).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// An index in `0..len` (`len` above zero).
    pub fn index(&mut self, len: usize) -> usize {
        let len64 = u64::try_from(len).unwrap_or(u64::MAX);
        usize::try_from(self.below(len64)).unwrap_or(0)
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        let span = hi.abs_diff(lo).saturating_add(1);
        lo.saturating_add_unsigned(self.below(span))
    }

    /// `true` with probability `percent / 100`.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A catalog to benchmark against, with the ids needed to build promotions
/// and carts over it.
#[derive(Debug, Clone)]
pub struct Shop {
    catalog: CatalogSnapshot,
    roots: Vec<CategoryId>,
    sections: Vec<CategoryId>,
    aisles: Vec<CategoryId>,
    products: Vec<ProductId>,
    variants: Vec<VariantId>,
}

impl Shop {
    /// A shop of `products` products (at least one), two variants each, spread
    /// over the 64 aisles of a 4 × 4 × 4 category tree.
    ///
    /// # Panics
    /// Never for the fixed data it builds (ids and SKUs are always valid).
    pub fn new(products: usize) -> Self {
        let mut tree = CategoryTree::new();
        let (mut roots, mut sections, mut aisles) = (Vec::new(), Vec::new(), Vec::new());
        for r in 0..FANOUT {
            let root = CategoryId::from_u128(1_000 + r);
            tree.add(root, None).expect("fresh root");
            roots.push(root);
            for s in 0..FANOUT {
                let section = CategoryId::from_u128(2_000 + r * FANOUT + s);
                tree.add(section, Some(root)).expect("fresh section");
                sections.push(section);
                for a in 0..FANOUT {
                    let aisle = CategoryId::from_u128(3_000 + (r * FANOUT + s) * FANOUT + a);
                    tree.add(aisle, Some(section)).expect("fresh aisle");
                    aisles.push(aisle);
                }
            }
        }

        let mut rng = SplitMix::new(0xC0FF_EE00);
        let mut catalog = CatalogSnapshot::new(tree);
        let mut product_ids = Vec::with_capacity(products);
        let mut variants = Vec::with_capacity(products * 2);
        for p in 0..products.max(1) {
            let n = u128::try_from(p).unwrap_or(u128::MAX);
            let product = ProductId::from_u128(100_000 + n);
            let aisle = aisles[rng.index(aisles.len())];
            let base = rng.between(100, 20_000);
            for (v, size) in ["M", "L"].iter().enumerate() {
                let id = VariantId::from_u128(1_000_000 + n * 2 + u128::from(v == 1));
                // Larger sizes cost a little more; a third of products are on sale.
                let minor = base + if v == 1 { 200 } else { 0 };
                let was = rng.chance(33).then(|| usd(minor * 5 / 4 + 100));
                catalog.insert(VariantSnapshot {
                    id,
                    product_id: product,
                    category_id: Some(aisle),
                    sku: Sku::parse(&format!("P{p:05}-{size}")).expect("valid SKU"),
                    name: format!("Product {p} ({size})").into(),
                    price: VariantPrice::new(usd(minor), was).expect("compare-at above price"),
                });
                variants.push(id);
            }
            product_ids.push(product);
        }
        Shop {
            catalog,
            roots,
            sections,
            aisles,
            products: product_ids,
            variants,
        }
    }

    /// The catalog snapshot.
    pub fn catalog(&self) -> &CatalogSnapshot {
        &self.catalog
    }

    /// The number of variants.
    pub fn variant_count(&self) -> usize {
        self.variants.len()
    }

    /// A cart of `lines` distinct variants (at most [`Shop::variant_count`]),
    /// 1 to 4 units each, standard shipping (5.99, free over 150.00) and the
    /// code [`ENTERED_CODE`].
    ///
    /// # Panics
    /// Never for the fixed data it builds.
    pub fn cart(&self, lines: usize) -> CartInput {
        let mut rng = SplitMix::new(0x5EED_CA27 ^ u64::try_from(lines).unwrap_or(0));
        // A partial Fisher–Yates shuffle picks distinct variants.
        let mut pool = self.variants.clone();
        let lines = lines.min(pool.len());
        for i in 0..lines {
            let j = i + rng.index(pool.len() - i);
            pool.swap(i, j);
        }
        let lines = pool[..lines]
            .iter()
            .enumerate()
            .map(|(i, &variant_id)| LineInput {
                id: LineId::from_u128(u128::try_from(i).unwrap_or(0) + 1),
                variant_id,
                quantity: Quantity::new(rng.between(1, 4)).expect("1 to 4 units"),
            })
            .collect();
        let shipping = ShippingMethod::new("standard", "Standard", usd(599), Some(usd(15_000)))
            .expect("valid shipping method");
        CartInput {
            currency: CURRENCY,
            lines,
            codes: vec![DiscountCode::parse(ENTERED_CODE).expect("valid code")],
            shipping: Some(shipping),
        }
    }

    /// `count` promotions over this shop's catalog (see the crate docs for
    /// their mix), in no particular order.
    ///
    /// # Panics
    /// Never for the fixed data it builds (every spec is valid).
    pub fn promotions(&self, count: usize) -> Vec<Promotion> {
        let mut rng = SplitMix::new(0x9A0_0F1E5);
        (0..count)
            .map(|i| {
                let spec = self.promotion_spec(i, &mut rng);
                let id = PromotionId::from_u128(500_000 + u128::try_from(i).unwrap_or(0));
                Promotion::new(id, spec).expect("fixture promotions are valid")
            })
            .collect()
    }

    fn target(&self, i: usize, rng: &mut SplitMix) -> AppliesTo {
        match i % 10 {
            // 20 %: the whole cart.
            0 | 1 => AppliesTo::everything(),
            // 40 %: a handful of products.
            2..=5 => AppliesTo {
                products: (0..rng.between(1, 8))
                    .map(|_| self.products[rng.index(self.products.len())])
                    .collect(),
                categories: Vec::new(),
            },
            // 40 %: one or two categories, mostly aisles, some sections, few departments.
            _ => AppliesTo {
                products: Vec::new(),
                categories: (0..rng.between(1, 2))
                    .map(|_| match rng.below(10) {
                        0 => self.roots[rng.index(self.roots.len())],
                        1..=3 => self.sections[rng.index(self.sections.len())],
                        _ => self.aisles[rng.index(self.aisles.len())],
                    })
                    .collect(),
            },
        }
    }

    fn action(applies_to: AppliesTo, rng: &mut SplitMix) -> Action {
        let global = applies_to.is_everything();
        match rng.below(100) {
            0..=34 => Action::Percentage {
                percent: Decimal::from(rng.between(5, 30)),
                max_discount: rng.chance(30).then(|| usd(rng.between(10, 50) * 100)),
                applies_to,
            },
            35..=54 => Action::FixedAmount {
                amount: usd(rng.between(2, 20) * 100),
                applies_to,
            },
            55..=74 => {
                let (buy, get, percent) = if rng.chance(50) {
                    (2, 1, Decimal::ONE_HUNDRED)
                } else {
                    (1, 1, Decimal::from(50))
                };
                Action::BuyXGetY {
                    buy,
                    get,
                    percent,
                    applies_to,
                }
            }
            75..=89 => Action::Tiered {
                tiers: vec![
                    Tier {
                        min_subtotal: usd(5_000),
                        percent: Decimal::from(5),
                    },
                    Tier {
                        min_subtotal: usd(20_000),
                        percent: Decimal::from(10),
                    },
                    Tier {
                        min_subtotal: usd(50_000),
                        percent: Decimal::from(15),
                    },
                ],
                applies_to,
            },
            _ if global => Action::FreeShipping,
            _ => Action::Percentage {
                percent: Decimal::from(15),
                max_discount: None,
                applies_to,
            },
        }
    }

    fn promotion_spec(&self, i: usize, rng: &mut SplitMix) -> PromotionSpec {
        let applies_to = self.target(i, rng);
        let action = Self::action(applies_to, rng);
        let code = if i == 1 {
            Some(ENTERED_CODE.to_owned())
        } else {
            rng.chance(20).then(|| format!("HIDDEN{i}"))
        };
        let now = now();
        let (starts_at, ends_at) = match rng.below(100) {
            // Expired last month.
            0..=7 => (
                Some(now - Duration::days(60)),
                Some(now - Duration::days(30)),
            ),
            // Opens next week.
            8..=11 => (Some(now + Duration::days(7)), None),
            // Running, with a window around now.
            12..=49 => (
                Some(now - Duration::days(10)),
                Some(now + Duration::days(10)),
            ),
            _ => (None, None),
        };
        let mut conditions = Vec::new();
        match rng.below(100) {
            0..=11 => conditions.push(Condition::MinSubtotal {
                amount: usd(rng.between(25, 200) * 100),
            }),
            12..=19 => conditions.push(Condition::MinQuantity {
                quantity: u32::try_from(rng.between(2, 6)).unwrap_or(2),
            }),
            20..=25 => conditions.push(Condition::Contains {
                products: Vec::new(),
                categories: vec![self.sections[rng.index(self.sections.len())]],
            }),
            26..=27 => conditions.push(Condition::FirstOrder),
            _ => {}
        }
        PromotionSpec {
            name: format!("Promotion {i}"),
            code,
            priority: i32::try_from(rng.below(11)).unwrap_or(0),
            combinable: rng.chance(60),
            starts_at,
            ends_at,
            usage_limit: rng.chance(10).then_some(1_000),
            per_customer_limit: None,
            conditions,
            action,
        }
    }
}

/// Counts of a priced cart's promotion outcomes, to show what a fixture
/// exercises: `(applied, not combinable, code not entered, other reasons)`.
pub fn outcome_counts(priced: &PricedCart) -> (usize, usize, usize, usize) {
    let mut counts = (0, 0, 0, 0);
    for trace in &priced.promotions {
        match &trace.outcome {
            Outcome::Applied { .. } => counts.0 += 1,
            Outcome::NotApplied(NotApplied::NotCombinable { .. }) => counts.1 += 1,
            Outcome::NotApplied(NotApplied::CodeNotEntered) => counts.2 += 1,
            Outcome::NotApplied(_) => counts.3 += 1,
        }
    }
    counts
}

/// `n` allocation weights between 1 and 10,000, seeded by `n`.
pub fn weights(n: usize) -> Vec<u64> {
    let mut rng = SplitMix::new(0xA110_CA7E ^ u64::try_from(n).unwrap_or(0));
    (0..n).map(|_| 1 + rng.below(10_000)).collect()
}
