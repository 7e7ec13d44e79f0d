//! Property tests of `pricing::price` over random carts, catalogs and
//! promotion sets in USD, JPY and KWD: the amounts of a priced cart always add
//! up exactly, nothing is negative, and the result depends neither on the
//! order the promotions are given in nor on the run.

use chrono::{DateTime, TimeZone, Utc};
use commerce_core::Quantity;
use commerce_core::catalog::{CatalogSnapshot, CategoryTree, Sku, VariantPrice, VariantSnapshot};
use commerce_core::ids::{CategoryId, LineId, ProductId, PromotionId, VariantId};
use commerce_core::money::{Currency, Money};
use commerce_core::pricing::{
    CartInput, LineInput, PricedCart, PricingContext, PromotionSet, price,
};
use commerce_core::promotion::{Action, AppliesTo, Condition, Promotion, PromotionSpec, Tier};
use commerce_core::shipping::ShippingMethod;
use commerce_core::tax::SingleRateTax;
use proptest::prelude::*;
use rust_decimal::Decimal;

/// At least 2,000 cases; `PROPTEST_CASES` may ask for more.
const CASES: u32 = 2000;

fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: default.cases.max(CASES),
        ..default
    }
}

/// Products lines may belong to (several variants can share one).
const PRODUCTS: u128 = 12;

/// The category tree: `(id, parent)`. Two levels below 1, one below 4, and a
/// lone root 6.
const CATEGORIES: [(u128, Option<u128>); 6] = [
    (1, None),
    (2, Some(1)),
    (3, Some(2)),
    (4, None),
    (5, Some(4)),
    (6, None),
];

fn product(i: u128) -> ProductId {
    ProductId::from_u128(1_000 + i)
}

fn category(i: u128) -> CategoryId {
    CategoryId::from_u128(i)
}

/// One cart line: a variant of its own with this price, product and category.
#[derive(Debug, Clone)]
struct LineSpec {
    unit_minor: i64,
    quantity: i64,
    product: u128,
    category: Option<u128>,
}

#[derive(Debug, Clone)]
struct ShippingSpec {
    price_minor: i64,
    free_over_minor: Option<i64>,
}

/// Everything one pricing run needs, in a form that prints well on failure.
#[derive(Debug, Clone)]
struct Scenario {
    currency: Currency,
    lines: Vec<LineSpec>,
    promotions: Vec<Promotion>,
    shipping: Option<ShippingSpec>,
    tax_rate: Decimal,
    gross: bool,
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

impl Scenario {
    fn catalog(&self) -> CatalogSnapshot {
        let mut tree = CategoryTree::new();
        for (id, parent) in CATEGORIES {
            tree.add(category(id), parent.map(category)).unwrap();
        }
        let mut catalog = CatalogSnapshot::new(tree);
        for (i, line) in (1_u128..).zip(&self.lines) {
            catalog.insert(VariantSnapshot {
                id: VariantId::from_u128(i),
                product_id: product(line.product),
                category_id: line.category.map(category),
                sku: Sku::parse(&format!("SKU-{i}")).unwrap(),
                name: format!("Item {i}").into(),
                price: VariantPrice::fixed(Money::from_minor(line.unit_minor, self.currency))
                    .unwrap(),
            });
        }
        catalog
    }

    fn cart(&self) -> CartInput {
        CartInput {
            currency: self.currency,
            lines: (1_u128..)
                .zip(&self.lines)
                .map(|(i, line)| LineInput {
                    id: LineId::from_u128(i),
                    variant_id: VariantId::from_u128(i),
                    quantity: Quantity::new(line.quantity).unwrap(),
                })
                .collect(),
            codes: vec![],
            shipping: self.shipping.as_ref().map(|s| {
                ShippingMethod::new(
                    "standard",
                    "Standard",
                    Money::from_minor(s.price_minor, self.currency),
                    s.free_over_minor
                        .map(|m| Money::from_minor(m, self.currency)),
                )
                .unwrap()
            }),
        }
    }

    fn tax(&self) -> SingleRateTax {
        SingleRateTax::new(self.tax_rate, self.gross).unwrap()
    }

    /// Prices the cart with the promotions in the given order.
    fn price_with(&self, promotions: Vec<Promotion>) -> Result<PricedCart, TestCaseError> {
        let set = PromotionSet::new(promotions)
            .map_err(|e| TestCaseError::fail(format!("promotion set: {e}")))?;
        let tax = self.tax();
        let ctx = PricingContext::new(now(), &tax);
        price(&self.cart(), &self.catalog(), &set, &ctx)
            .map_err(|e| TestCaseError::fail(format!("price failed: {e}")))
    }

    fn price(&self) -> Result<PricedCart, TestCaseError> {
        self.price_with(self.promotions.clone())
    }
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn currency() -> impl Strategy<Value = Currency> {
    prop_oneof![
        Just(Currency::USD),
        Just(Currency::JPY),
        Just(Currency::KWD)
    ]
}

/// Minor units per major unit.
fn scale(currency: Currency) -> i64 {
    currency.minor_per_major()
}

/// A positive amount spread over orders of magnitude: `1..=10^k` minor units
/// for a random `k` up to `max_digits`, so that both small and large
/// thresholds are common.
fn log_amount(max_digits: u32) -> impl Strategy<Value = i64> {
    (0..=max_digits).prop_flat_map(|k| 1_i64..=10_i64.pow(k))
}

/// A percent in `(0, 100]`: whole numbers, two decimals, or exactly 100.
fn percent() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        3 => (1_i64..=100).prop_map(Decimal::from),
        3 => (1_i64..=10_000).prop_map(|n| Decimal::new(n, 2)),
        1 => Just(Decimal::ONE_HUNDRED),
    ]
}

fn line(scale: i64) -> impl Strategy<Value = LineSpec> {
    let unit = prop_oneof![
        1 => 1..=100 * scale,
        2 => 1..=10_000 * scale,
    ];
    let quantity = prop_oneof![
        2 => 1_i64..=5,
        1 => 1_i64..=999,
    ];
    let category = proptest::option::of(1_u128..=6);
    (unit, quantity, 0..PRODUCTS, category).prop_map(|(unit_minor, quantity, product, category)| {
        LineSpec {
            unit_minor,
            quantity,
            product,
            category,
        }
    })
}

/// 1–200 lines, mostly few so that 2,000 cases stay quick, sometimes many.
fn lines(scale: i64) -> impl Strategy<Value = Vec<LineSpec>> {
    let len = prop_oneof![
        8 => 1_usize..=8,
        3 => 1_usize..=40,
        1 => 1_usize..=200,
        1 => 150_usize..=200,
    ];
    len.prop_flat_map(move |n| prop::collection::vec(line(scale), n))
}

/// Everything, or some products and/or categories.
fn applies_to() -> impl Strategy<Value = AppliesTo> {
    prop_oneof![
        1 => Just(AppliesTo::everything()),
        1 => (
            prop::collection::vec((0..PRODUCTS).prop_map(product), 0..=3),
            prop::collection::vec((1_u128..=6).prop_map(category), 0..=2),
        )
            .prop_map(|(products, categories)| AppliesTo {
                products,
                categories,
            }),
    ]
}

fn money(minor: i64, currency: Currency) -> Money {
    Money::from_minor(minor, currency)
}

fn action(currency: Currency) -> impl Strategy<Value = Action> {
    let s = scale(currency);
    let digits = u32::from(currency.exponent());
    prop_oneof![
        // Percentage, with or without a cap.
        (
            percent(),
            applies_to(),
            proptest::option::of(log_amount(4 + digits)),
        )
            .prop_map(move |(percent, applies_to, cap)| Action::Percentage {
                percent,
                applies_to,
                max_discount: cap.map(|m| money(m, currency)),
            }),
        // Fixed amount, from one minor unit to 1,000 major units.
        (1..=1_000 * s, applies_to()).prop_map(move |(m, applies_to)| {
            Action::FixedAmount {
                amount: money(m, currency),
                applies_to,
            }
        }),
        // Buy X get Y.
        (1_u32..=5, 1_u32..=3, percent(), applies_to()).prop_map(
            |(buy, get, percent, applies_to)| Action::BuyXGetY {
                buy,
                get,
                percent,
                applies_to,
            }
        ),
        Just(Action::FreeShipping),
        // Tiered: strictly increasing thresholds from a non-negative start.
        (
            prop_oneof![Just(0_i64), log_amount(5 + digits)],
            prop::collection::vec((log_amount(6 + digits), percent()), 1..=4),
            applies_to(),
        )
            .prop_map(move |(start, steps, applies_to)| {
                let mut at = start;
                let tiers = steps
                    .into_iter()
                    .enumerate()
                    .map(|(i, (step, percent))| {
                        if i > 0 {
                            at += step;
                        }
                        Tier {
                            min_subtotal: money(at, currency),
                            percent,
                        }
                    })
                    .collect();
                Action::Tiered { tiers, applies_to }
            }),
    ]
}

fn conditions(currency: Currency) -> impl Strategy<Value = Vec<Condition>> {
    let digits = u32::from(currency.exponent());
    (
        proptest::option::of(log_amount(6 + digits)),
        proptest::option::of(prop_oneof![1_u32..=10, 1_u32..=2_000]),
    )
        .prop_map(move |(min_subtotal, min_quantity)| {
            let mut conditions = Vec::new();
            if let Some(m) = min_subtotal {
                conditions.push(Condition::MinSubtotal {
                    amount: money(m, currency),
                });
            }
            if let Some(quantity) = min_quantity {
                conditions.push(Condition::MinQuantity { quantity });
            }
            conditions
        })
}

/// The parts of one promotion; its id is given by its place in the set.
fn promotion_parts(
    currency: Currency,
) -> impl Strategy<Value = (i32, bool, Vec<Condition>, Action)> {
    (
        -3_i32..=3,
        any::<bool>(),
        conditions(currency),
        action(currency),
    )
}

/// 0–50 valid promotions with distinct (but not ordered) ids.
fn promotions(currency: Currency) -> impl Strategy<Value = Vec<Promotion>> {
    let len = prop_oneof![
        3 => 0_usize..=6,
        2 => 0_usize..=50,
    ];
    len.prop_flat_map(move |n| {
        (
            prop::collection::vec(promotion_parts(currency), n),
            // Ids: a random permutation, so that id order and input order differ.
            Just((1..=u128::try_from(n).unwrap_or(0)).collect::<Vec<u128>>()).prop_shuffle(),
        )
    })
    .prop_map(|(parts, ids)| {
        parts
            .into_iter()
            .zip(ids)
            .map(|((priority, combinable, conditions, action), id)| {
                Promotion::new(
                    PromotionId::from_u128(id),
                    PromotionSpec {
                        name: format!("promo {id}"),
                        code: None,
                        priority,
                        combinable,
                        starts_at: None,
                        ends_at: None,
                        usage_limit: None,
                        per_customer_limit: None,
                        conditions,
                        action,
                    },
                )
                .unwrap()
            })
            .collect()
    })
}

fn shipping(currency: Currency) -> impl Strategy<Value = Option<ShippingSpec>> {
    let s = scale(currency);
    let digits = u32::from(currency.exponent());
    proptest::option::of(
        (
            prop_oneof![1 => Just(0_i64), 4 => 0..=100 * s],
            proptest::option::of(log_amount(6 + digits)),
        )
            .prop_map(|(price_minor, free_over_minor)| ShippingSpec {
                price_minor,
                free_over_minor,
            }),
    )
}

/// A tax rate in `0..=0.25`.
fn tax_rate() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        1 => Just(Decimal::ZERO),
        1 => (0_i64..=25).prop_map(|n| Decimal::new(n, 2)),
        2 => (0_i64..=2_500).prop_map(|n| Decimal::new(n, 4)),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    currency().prop_flat_map(|currency| {
        (
            lines(scale(currency)),
            promotions(currency),
            shipping(currency),
            tax_rate(),
            any::<bool>(),
        )
            .prop_map(
                move |(lines, promotions, shipping, tax_rate, gross)| Scenario {
                    currency,
                    lines,
                    promotions,
                    shipping,
                    tax_rate,
                    gross,
                },
            )
    })
}

/// A scenario and the same promotions in another order.
fn scenario_and_shuffle() -> impl Strategy<Value = (Scenario, Vec<Promotion>)> {
    scenario().prop_flat_map(|s| {
        let shuffled = Just(s.promotions.clone()).prop_shuffle();
        (Just(s), shuffled)
    })
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn sum(amounts: impl IntoIterator<Item = Money>) -> i128 {
    amounts.into_iter().map(|m| i128::from(m.minor())).sum()
}

fn wide(m: Money) -> i128 {
    i128::from(m.minor())
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// 1. The lines' discounts add up to `discount_total`, and each line's
    ///    `discount_total` is the sum of its `discounts`.
    #[test]
    fn line_discounts_add_up(s in scenario()) {
        let priced = s.price()?;
        prop_assert_eq!(
            sum(priced.lines.iter().map(|l| l.discount_total)),
            wide(priced.discount_total)
        );
        for line in &priced.lines {
            prop_assert_eq!(
                sum(line.discounts.iter().map(|d| d.amount)),
                wide(line.discount_total),
                "line {:?}",
                line.line_id
            );
        }
    }

    /// 2. `total = subtotal - discount_total + shipping_total (+ tax_total
    ///    with net prices)`, and line tax plus shipping tax is `tax_total`.
    #[test]
    fn totals_add_up(s in scenario()) {
        let priced = s.price()?;
        prop_assert_eq!(priced.prices_include_tax, s.gross);
        let mut expected = wide(priced.subtotal) - wide(priced.discount_total)
            + wide(priced.shipping_total);
        if !priced.prices_include_tax {
            expected += wide(priced.tax_total);
        }
        prop_assert_eq!(wide(priced.total), expected);

        let shipping_tax = priced.shipping.as_ref().map_or(0, |s| wide(s.tax));
        prop_assert_eq!(
            sum(priced.lines.iter().map(|l| l.tax)) + shipping_tax,
            wide(priced.tax_total)
        );
    }

    /// 3. No line amount and no total is below zero.
    #[test]
    fn nothing_is_negative(s in scenario()) {
        let priced = s.price()?;
        for line in &priced.lines {
            prop_assert!(!line.total.is_negative(), "line total {}", line.total);
            prop_assert!(
                !line.discount_total.is_negative(),
                "line discount {}",
                line.discount_total
            );
            for d in &line.discounts {
                prop_assert!(!d.amount.is_negative(), "line discount {:?}", d);
            }
            prop_assert!(!line.tax.is_negative(), "line tax {}", line.tax);
        }
        for (what, amount) in [
            ("subtotal", priced.subtotal),
            ("discount_total", priced.discount_total),
            ("shipping_total", priced.shipping_total),
            ("tax_total", priced.tax_total),
            ("total", priced.total),
        ] {
            prop_assert!(!amount.is_negative(), "{} = {}", what, amount);
        }
    }

    /// 4. The order promotions are given in does not matter.
    #[test]
    fn promotion_order_does_not_matter((s, shuffled) in scenario_and_shuffle()) {
        let given = s.price()?;
        let reordered = s.price_with(shuffled)?;
        prop_assert_eq!(given, reordered);
    }

    /// 5. Pricing is deterministic.
    #[test]
    fn pricing_is_deterministic(s in scenario()) {
        let set = PromotionSet::new(s.promotions.clone())
            .map_err(|e| TestCaseError::fail(format!("promotion set: {e}")))?;
        let (cart, catalog, tax) = (s.cart(), s.catalog(), s.tax());
        let ctx = PricingContext::new(now(), &tax);
        let first = price(&cart, &catalog, &set, &ctx);
        let second = price(&cart, &catalog, &set, &ctx);
        prop_assert!(first.is_ok(), "price failed: {:?}", first);
        prop_assert_eq!(first, second);
    }
}
