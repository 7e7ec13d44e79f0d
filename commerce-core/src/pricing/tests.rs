//! Unit tests of the engine's rules; worked scenarios with snapshots live in
//! `tests/pricing_scenarios.rs`, invariants in `tests/pricing_properties.rs`.

use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::dec;

use super::*;
use crate::catalog::{CatalogSnapshot, CategoryTree, Sku, VariantPrice, VariantSnapshot};
use crate::ids::{CategoryId, ProductId};
use crate::money::Money;
use crate::promotion::{Action, AppliesTo, Condition, Promotion, PromotionSpec, Tier};
use crate::tax::SingleRateTax;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

struct Shop {
    catalog: CatalogSnapshot,
    next: u128,
}

impl Shop {
    fn new() -> Self {
        let mut tree = CategoryTree::new();
        tree.add(CategoryId::from_u128(1), None).unwrap(); // clothing
        tree.add(CategoryId::from_u128(2), Some(CategoryId::from_u128(1)))
            .unwrap(); // shirts
        Shop {
            catalog: CatalogSnapshot::new(tree),
            next: 100,
        }
    }

    fn variant(&mut self, price: Money, category: Option<u128>) -> VariantId {
        self.next += 1;
        let id = VariantId::from_u128(self.next);
        self.catalog.insert(VariantSnapshot {
            id,
            product_id: ProductId::from_u128(self.next),
            category_id: category.map(CategoryId::from_u128),
            sku: Sku::parse(&format!("SKU-{}", self.next)).unwrap(),
            name: format!("Item {}", self.next).into(),
            price: VariantPrice::fixed(price).unwrap(),
        });
        id
    }
}

fn cart(currency: Currency, lines: &[(VariantId, i64)]) -> CartInput {
    CartInput {
        currency,
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, &(variant_id, q))| LineInput {
                id: LineId::from_u128(1000 + i as u128),
                variant_id,
                quantity: Quantity::new(q).unwrap(),
            })
            .collect(),
        codes: vec![],
        shipping: None,
    }
}

fn promo(id: u128, combinable: bool, priority: i32, action: Action) -> Promotion {
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
            conditions: vec![],
            action,
        },
    )
    .unwrap()
}

fn pct(p: rust_decimal::Decimal) -> Action {
    Action::Percentage {
        percent: p,
        applies_to: AppliesTo::everything(),
        max_discount: None,
    }
}

fn run(shop: &Shop, cart: &CartInput, promos: Vec<Promotion>) -> PricedCart {
    let tax = SingleRateTax::none();
    price(
        cart,
        &shop.catalog,
        &PromotionSet::new(promos).unwrap(),
        &PricingContext::new(now(), &tax),
    )
    .unwrap()
}

fn line_amounts(p: &PricedCart) -> Vec<i64> {
    p.lines.iter().map(|l| l.discount_total.minor()).collect()
}

#[test]
fn ten_percent_of_three_times_33_33_is_exactly_ten_split_by_largest_remainder() {
    let mut shop = Shop::new();
    let a = shop.variant(usd(3333), None);
    let b = shop.variant(usd(3333), None);
    let c = shop.variant(usd(3333), None);
    let priced = run(
        &shop,
        &cart(Currency::USD, &[(a, 1), (b, 1), (c, 1)]),
        vec![promo(1, true, 0, pct(dec!(10)))],
    );
    assert_eq!(priced.discount_total, usd(1000));
    // 3.333 each: the remainders tie, so the extra cent goes to the earliest line.
    assert_eq!(line_amounts(&priced), vec![334, 333, 333]);
    assert_eq!(priced.total, usd(8999));
}

#[test]
fn stack_applies_on_what_the_earlier_promotion_left() {
    let mut shop = Shop::new();
    let a = shop.variant(usd(10000), None);
    let first = promo(1, true, 10, pct(dec!(10))); // 100 → 90
    let second = promo(
        2,
        true,
        5,
        Action::FixedAmount {
            amount: usd(1000),
            applies_to: AppliesTo::everything(),
        },
    );
    let priced = run(
        &shop,
        &cart(Currency::USD, &[(a, 1)]),
        vec![second.clone(), first.clone()],
    );
    assert_eq!(priced.discount_total, usd(2000));
    let order: Vec<_> = priced.lines[0]
        .discounts
        .iter()
        .map(|d| d.promotion_id)
        .collect();
    assert_eq!(
        order,
        vec![first.id(), second.id()],
        "higher priority applies first"
    );

    // Percentage after the fixed amount gives a different result: order matters.
    let first = promo(1, true, 1, pct(dec!(10)));
    let second = promo(
        2,
        true,
        5,
        Action::FixedAmount {
            amount: usd(1000),
            applies_to: AppliesTo::everything(),
        },
    );
    let priced = run(&shop, &cart(Currency::USD, &[(a, 1)]), vec![first, second]);
    assert_eq!(priced.discount_total, usd(1900)); // 10 off, then 10 % of 90
}

#[test]
fn exclusive_wins_only_when_it_gives_more_and_ties_go_to_the_stack() {
    let mut shop = Shop::new();
    let a = shop.variant(usd(10000), None);
    let stack = vec![
        promo(1, true, 0, pct(dec!(10))),
        promo(2, true, 0, pct(dec!(5))),
    ]; // 10 + 4.50
    let mut promos = stack.clone();
    promos.push(promo(3, false, 0, pct(dec!(14))));
    let priced = run(&shop, &cart(Currency::USD, &[(a, 1)]), promos);
    assert_eq!(priced.discount_total, usd(1450));
    assert_eq!(
        priced
            .promotions
            .iter()
            .find(|t| t.promotion_id == PromotionId::from_u128(3))
            .unwrap()
            .outcome,
        Outcome::NotApplied(NotApplied::NotCombinable {
            beaten_by: vec![PromotionId::from_u128(1), PromotionId::from_u128(2)].into()
        })
    );

    let mut promos = stack.clone();
    promos.push(promo(3, false, 0, pct(dec!(20))));
    let priced = run(&shop, &cart(Currency::USD, &[(a, 1)]), promos);
    assert_eq!(priced.discount_total, usd(2000));
    assert_eq!(priced.applied().count(), 1);

    // A tie: 14.50 exclusive against 14.50 stacked → the stack.
    let mut promos = stack;
    promos.push(promo(3, false, 0, pct(dec!(14.5))));
    let priced = run(&shop, &cart(Currency::USD, &[(a, 1)]), promos);
    assert_eq!(priced.applied().count(), 2);
}

#[test]
fn fixed_discount_larger_than_the_cart_stops_at_zero() {
    let mut shop = Shop::new();
    let a = shop.variant(usd(500), None);
    let priced = run(
        &shop,
        &cart(Currency::USD, &[(a, 2)]),
        vec![promo(
            1,
            true,
            0,
            Action::FixedAmount {
                amount: usd(5000),
                applies_to: AppliesTo::everything(),
            },
        )],
    );
    assert_eq!(priced.discount_total, usd(1000));
    assert_eq!(priced.total, usd(0));
}

#[test]
fn category_target_reaches_subcategories_only() {
    let mut shop = Shop::new();
    let shirt = shop.variant(usd(2000), Some(2));
    let mug = shop.variant(usd(1000), None);
    let clothing = Action::Percentage {
        percent: dec!(50),
        applies_to: AppliesTo {
            products: vec![],
            categories: vec![CategoryId::from_u128(1)],
        },
        max_discount: None,
    };
    let priced = run(
        &shop,
        &cart(Currency::USD, &[(shirt, 1), (mug, 1)]),
        vec![promo(1, true, 0, clothing)],
    );
    assert_eq!(line_amounts(&priced), vec![1000, 0]);
}

#[test]
fn buy_two_get_one_takes_the_cheapest_units() {
    let mut shop = Shop::new();
    let dear = shop.variant(usd(3000), None);
    let cheap = shop.variant(usd(1000), None);
    let mid = shop.variant(usd(2000), None);
    let bxgy = Action::BuyXGetY {
        buy: 2,
        get: 1,
        percent: dec!(100),
        applies_to: AppliesTo::everything(),
    };
    // 6 units → 2 free: the cheapest two are 10.00 and 20.00.
    let priced = run(
        &shop,
        &cart(Currency::USD, &[(dear, 2), (cheap, 1), (mid, 3)]),
        vec![promo(1, true, 0, bxgy)],
    );
    assert_eq!(line_amounts(&priced), vec![0, 1000, 2000]);
}

#[test]
fn tiers_pick_the_highest_reached() {
    let mut shop = Shop::new();
    let a = shop.variant(usd(6000), None);
    let tiered = Action::Tiered {
        tiers: vec![
            Tier {
                min_subtotal: usd(5000),
                percent: dec!(5),
            },
            Tier {
                min_subtotal: usd(10000),
                percent: dec!(10),
            },
        ],
        applies_to: AppliesTo::everything(),
    };
    let p = vec![promo(1, true, 0, tiered)];
    assert_eq!(
        run(&shop, &cart(Currency::USD, &[(a, 1)]), p.clone()).discount_total,
        usd(300)
    );
    assert_eq!(
        run(&shop, &cart(Currency::USD, &[(a, 2)]), p.clone()).discount_total,
        usd(1200)
    );
    let small = shop.variant(usd(100), None);
    let priced = run(&shop, &cart(Currency::USD, &[(small, 1)]), p);
    assert_eq!(
        priced.promotions[0].outcome,
        Outcome::NotApplied(NotApplied::MinSubtotal {
            needed: usd(5000),
            have: usd(100)
        })
    );
}

#[test]
fn gates_explain_themselves() {
    let mut shop = Shop::new();
    let a = shop.variant(usd(1000), None);
    let mut spec = promo(1, true, 0, pct(dec!(10))).spec().clone();
    spec.ends_at = Some(now());
    let expired = Promotion::new(PromotionId::from_u128(1), spec.clone()).unwrap();
    spec.ends_at = None;
    spec.starts_at = Some(now() + chrono::Duration::hours(1));
    let later = Promotion::new(PromotionId::from_u128(2), spec.clone()).unwrap();
    spec.starts_at = None;
    spec.code = Some("secret".into());
    let coded = Promotion::new(PromotionId::from_u128(3), spec.clone()).unwrap();
    spec.code = None;
    spec.conditions = vec![Condition::MinQuantity { quantity: 2 }];
    let min_q = Promotion::new(PromotionId::from_u128(4), spec.clone()).unwrap();
    spec.conditions = vec![Condition::FirstOrder];
    let first = Promotion::new(PromotionId::from_u128(5), spec.clone()).unwrap();
    spec.conditions = vec![];
    spec.usage_limit = Some(3);
    let used = Promotion::new(PromotionId::from_u128(6), spec).unwrap();
    let mut usage = UsageCounts::new();
    usage.insert(
        PromotionId::from_u128(6),
        Usage {
            total: 3,
            by_customer: 0,
        },
    );

    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax).with_usage(&usage);
    let set = PromotionSet::new(vec![used, first, min_q, coded, later, expired]).unwrap();
    let priced = price(&cart(Currency::USD, &[(a, 1)]), &shop.catalog, &set, &ctx).unwrap();
    let reasons: Vec<_> = priced
        .promotions
        .iter()
        .map(|t| t.outcome.clone())
        .collect();
    assert_eq!(
        reasons,
        vec![
            Outcome::NotApplied(NotApplied::Expired { ended_at: now() }),
            Outcome::NotApplied(NotApplied::NotStarted {
                starts_at: now() + chrono::Duration::hours(1)
            }),
            Outcome::NotApplied(NotApplied::CodeNotEntered),
            Outcome::NotApplied(NotApplied::MinQuantity { needed: 2, have: 1 }),
            Outcome::NotApplied(NotApplied::NotFirstOrder),
            Outcome::NotApplied(NotApplied::UsageExhausted { limit: 3 }),
        ]
    );
    assert_eq!(
        priced.shopper_trace().count(),
        5,
        "unentered codes stay hidden"
    );
    assert_eq!(priced.discount_total, usd(0));
}

#[test]
fn bad_carts_are_typed_errors() {
    let mut shop = Shop::new();
    let a = shop.variant(usd(1000), None);
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let set = PromotionSet::default();

    let unknown = cart(Currency::USD, &[(VariantId::from_u128(9), 1)]);
    assert!(matches!(
        price(&unknown, &shop.catalog, &set, &ctx),
        Err(PricingError::UnknownVariant { .. })
    ));

    let mixed = cart(Currency::EUR, &[(a, 1)]);
    assert!(matches!(
        price(&mixed, &shop.catalog, &set, &ctx),
        Err(PricingError::CurrencyMismatch { .. })
    ));

    let mut dup = cart(Currency::USD, &[(a, 1), (a, 2)]);
    dup.lines[1].id = dup.lines[0].id;
    assert!(matches!(
        price(&dup, &shop.catalog, &set, &ctx),
        Err(PricingError::DuplicateLine(_))
    ));

    let huge = shop.variant(usd(i64::MAX / 500), None);
    let overflow = cart(Currency::USD, &[(huge, 999)]);
    assert!(matches!(
        price(&overflow, &shop.catalog, &set, &ctx),
        Err(PricingError::Money(crate::money::MoneyError::Overflow))
    ));

    let mut ship_eur = cart(Currency::USD, &[(a, 1)]);
    ship_eur.shipping = Some(
        crate::shipping::ShippingMethod::new(
            "std",
            "Std",
            Money::from_minor(5, Currency::EUR),
            None,
        )
        .unwrap(),
    );
    assert!(matches!(
        price(&ship_eur, &shop.catalog, &set, &ctx),
        Err(PricingError::CurrencyMismatch { .. })
    ));
}

#[test]
fn net_and_gross_tax() {
    let mut shop = Shop::new();
    let a = shop.variant(usd(1000), None);
    let b = shop.variant(usd(2000), None);
    let set = PromotionSet::default();
    let c = cart(Currency::USD, &[(a, 1), (b, 1)]);

    let net = SingleRateTax::new(dec!(0.2), false).unwrap();
    let priced = price(&c, &shop.catalog, &set, &PricingContext::new(now(), &net)).unwrap();
    assert_eq!(priced.tax_total, usd(600));
    assert_eq!(priced.total, usd(3600));

    let gross = SingleRateTax::new(dec!(0.2), true).unwrap();
    let priced = price(&c, &shop.catalog, &set, &PricingContext::new(now(), &gross)).unwrap();
    assert_eq!(priced.tax_total, usd(500)); // 30.00 / 1.2 * 0.2
    assert_eq!(priced.total, usd(3000));
    assert_eq!(priced.lines.iter().map(|l| l.tax.minor()).sum::<i64>(), 500);
}

#[test]
fn an_outcome_that_gives_nothing_keeps_its_own_reason() {
    let mut shop = Shop::new();
    let free = shop.variant(usd(0), None);
    let paid = shop.variant(usd(1000), None);
    // An exclusive promotion on the free item gives nothing: it is not "beaten".
    let on_free = Action::Percentage {
        percent: dec!(50),
        applies_to: AppliesTo {
            products: vec![ProductId::from_u128(101)],
            categories: vec![],
        },
        max_discount: None,
    };
    let priced = run(
        &shop,
        &cart(Currency::USD, &[(free, 1), (paid, 1)]),
        vec![
            promo(1, false, 0, on_free),
            promo(2, true, 0, pct(dec!(10))),
        ],
    );
    assert_eq!(priced.discount_total, usd(100));
    let outcome = |id| {
        priced
            .promotions
            .iter()
            .find(|t| t.promotion_id == PromotionId::from_u128(id))
            .map(|t| t.outcome.clone())
    };
    assert_eq!(
        outcome(1),
        Some(Outcome::NotApplied(NotApplied::NothingToDiscount))
    );
    assert_eq!(outcome(2), Some(Outcome::Applied { amount: usd(100) }));
}

#[test]
fn an_unentered_code_is_hidden_even_outside_its_window() {
    let mut shop = Shop::new();
    let a = shop.variant(usd(1000), None);
    let mut spec = promo(1, true, 0, pct(dec!(10))).spec().clone();
    spec.code = Some("STAFF".into());
    spec.ends_at = Some(now());
    let staff = Promotion::new(PromotionId::from_u128(1), spec).unwrap();
    let mut entered = cart(Currency::USD, &[(a, 1)]);
    let priced = run(&shop, &entered, vec![staff.clone()]);
    assert_eq!(
        priced.promotions[0].outcome,
        Outcome::NotApplied(NotApplied::CodeNotEntered)
    );
    assert_eq!(priced.shopper_trace().count(), 0);
    entered.codes = vec![crate::promotion::DiscountCode::parse("staff").unwrap()];
    let priced = run(&shop, &entered, vec![staff]);
    assert_eq!(
        priced.promotions[0].outcome,
        Outcome::NotApplied(NotApplied::Expired { ended_at: now() })
    );
}
