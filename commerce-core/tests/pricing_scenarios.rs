//! Worked pricing scenarios: small carts priced by `pricing::price`, each with
//! its key figures asserted by hand and the whole `PricedCart` kept as an insta
//! JSON snapshot (`tests/snapshots/`).
//!
//! Promotions and shipping methods are written in the JSON shape of the HTTP
//! API (`POST /admin/promotions`, `POST /admin/shipping-methods`), so every
//! scenario also documents how to express an offer. `docs/pricing.md` walks
//! through each scenario with its numbers.
//!
//! Ids are fixed (`from_u128` with hex literals, so `0x101` prints as
//! `…-000000000101`) and the clock is a fixed instant, so the snapshots need no
//! redactions. Every scenario also checks the invariants of a priced cart:
//! line discounts add up to the discount total, and the total is
//! `subtotal - discount_total + shipping_total (+ tax_total with net prices)`.

use chrono::{DateTime, TimeZone, Utc};
use commerce_core::Quantity;
use commerce_core::catalog::{CatalogSnapshot, CategoryTree, Sku, VariantPrice, VariantSnapshot};
use commerce_core::ids::{CategoryId, CustomerId, LineId, ProductId, PromotionId, VariantId};
use commerce_core::money::{Currency, Money};
use commerce_core::pricing::{
    CartInput, LineInput, NotApplied, Outcome, PricedCart, PricingContext, PromotionSet, Usage,
    UsageCounts, price,
};
use commerce_core::promotion::{DiscountCode, Promotion, PromotionSpec};
use commerce_core::shipping::ShippingMethod;
use commerce_core::tax::{SingleRateTax, TaxPolicy, TaxableLine};
use rust_decimal::{Decimal, dec};

// ---------------------------------------------------------------------------
// The shop every scenario draws from
// ---------------------------------------------------------------------------

/// Clothing (`…0c1`), with Shirts (`…0c2`) and Socks (`…0c3`) below it.
const CLOTHING: u128 = 0xC1;
const SHIRTS: u128 = 0xC2;
const SOCKS: u128 = 0xC3;
/// Kitchen (`…0c4`) and Books (`…0c5`): roots of their own.
const KITCHEN: u128 = 0xC4;
const BOOKS: u128 = 0xC5;

/// The instant every scenario is priced at.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

fn money(amount: &str, currency: Currency) -> Money {
    Money::parse(amount, currency).unwrap()
}

fn usd(amount: &str) -> Money {
    money(amount, Currency::USD)
}

fn eur(amount: &str) -> Money {
    money(amount, Currency::EUR)
}

fn gbp(amount: &str) -> Money {
    money(amount, Currency::GBP)
}

fn jpy(amount: &str) -> Money {
    money(amount, Currency::JPY)
}

/// A catalog over the fixed category tree.
struct Shop {
    catalog: CatalogSnapshot,
}

impl Shop {
    fn new() -> Self {
        let mut tree = CategoryTree::new();
        let c = CategoryId::from_u128;
        tree.add(c(CLOTHING), None).unwrap();
        tree.add(c(SHIRTS), Some(c(CLOTHING))).unwrap();
        tree.add(c(SOCKS), Some(c(CLOTHING))).unwrap();
        tree.add(c(KITCHEN), None).unwrap();
        tree.add(c(BOOKS), None).unwrap();
        Shop {
            catalog: CatalogSnapshot::new(tree),
        }
    }

    /// Adds a variant whose product and variant ids are both `id`.
    fn add(
        &mut self,
        id: u128,
        sku: &str,
        name: &str,
        price: Money,
        category: Option<u128>,
    ) -> VariantId {
        let variant = VariantId::from_u128(id);
        self.catalog.insert(VariantSnapshot {
            id: variant,
            product_id: ProductId::from_u128(id),
            category_id: category.map(CategoryId::from_u128),
            sku: Sku::parse(sku).unwrap(),
            name: name.into(),
            price: VariantPrice::fixed(price).unwrap(),
        });
        variant
    }

    /// Prices `cart` with `promotions` under `ctx`, checks the invariants
    /// every priced cart keeps, and returns it.
    fn price(
        &self,
        cart: &CartInput,
        promotions: Vec<Promotion>,
        ctx: &PricingContext<'_>,
    ) -> PricedCart {
        let set = PromotionSet::new(promotions).unwrap();
        let priced = price(cart, &self.catalog, &set, ctx).unwrap();
        check_invariants(&priced);
        priced
    }
}

/// A cart of `(variant, quantity)` lines; line ids are `…a1`, `…a2`, ….
fn cart(currency: Currency, lines: &[(VariantId, i64)]) -> CartInput {
    CartInput {
        currency,
        lines: (0xA1_u128..)
            .zip(lines)
            .map(|(id, &(variant_id, quantity))| LineInput {
                id: LineId::from_u128(id),
                variant_id,
                quantity: Quantity::new(quantity).unwrap(),
            })
            .collect(),
        codes: vec![],
        shipping: None,
    }
}

/// A promotion from the API's JSON.
fn promotion(id: u128, json: &str) -> Promotion {
    let spec: PromotionSpec =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e} in {json}"));
    Promotion::new(PromotionId::from_u128(id), spec).unwrap()
}

/// A shipping method from the API's JSON.
fn shipping(json: &str) -> ShippingMethod {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e} in {json}"))
}

fn code(c: &str) -> DiscountCode {
    DiscountCode::parse(c).unwrap()
}

fn check_invariants(p: &PricedCart) {
    let zero = Money::zero(p.currency);
    let mut line_discounts = zero;
    for line in &p.lines {
        let mut own = zero;
        for d in &line.discounts {
            own = own.checked_add(d.amount).unwrap();
        }
        assert_eq!(own, line.discount_total, "line {}", line.line_id);
        assert_eq!(
            line.subtotal.checked_sub(line.discount_total).unwrap(),
            line.total
        );
        assert!(!line.total.is_negative());
        line_discounts = line_discounts.checked_add(line.discount_total).unwrap();
    }
    assert_eq!(line_discounts, p.discount_total);
    let mut total = p
        .subtotal
        .checked_sub(p.discount_total)
        .unwrap()
        .checked_add(p.shipping_total)
        .unwrap();
    if !p.prices_include_tax {
        total = total.checked_add(p.tax_total).unwrap();
    }
    assert_eq!(total, p.total);
    assert!(!p.total.is_negative());
}

/// Each line's discount total, as the wire shows it.
fn line_discounts(p: &PricedCart) -> Vec<String> {
    p.lines
        .iter()
        .map(|l| l.discount_total.amount_string())
        .collect()
}

/// Each line's tax, as the wire shows it.
fn line_taxes(p: &PricedCart) -> Vec<String> {
    p.lines.iter().map(|l| l.tax.amount_string()).collect()
}

/// The trace, in evaluation order: `(promotion id, outcome)`.
fn trace(p: &PricedCart) -> Vec<(u128, Outcome)> {
    p.promotions
        .iter()
        .map(|t| (t.promotion_id.as_uuid().as_u128(), t.outcome.clone()))
        .collect()
}

fn applied(amount: Money) -> Outcome {
    Outcome::Applied { amount }
}

fn beaten_by(ids: &[u128]) -> Outcome {
    Outcome::NotApplied(NotApplied::NotCombinable {
        beaten_by: ids.iter().map(|&i| PromotionId::from_u128(i)).collect(),
    })
}

fn no(reason: NotApplied) -> Outcome {
    Outcome::NotApplied(reason)
}

// ---------------------------------------------------------------------------
// One scenario per action
// ---------------------------------------------------------------------------

/// Percentage on a category: 25 % off Clothing reaches Shirts below it and
/// leaves the mug alone. 25 % of 99.99 is 24.9975, rounded once to 25.00, and
/// split 40.00 : 59.99 by largest remainder (10.0010 and 14.9990 → 10.00, 15.00).
#[test]
fn percentage_off_a_category() {
    let mut shop = Shop::new();
    let shirt = shop.add(
        0x101,
        "SHIRT-OXF",
        "Oxford shirt",
        usd("40.00"),
        Some(SHIRTS),
    );
    let jeans = shop.add(0x102, "JEANS-32", "Jeans", usd("59.99"), Some(CLOTHING));
    let mug = shop.add(0x103, "MUG-BLUE", "Blue mug", usd("12.00"), Some(KITCHEN));
    let promos = vec![promotion(
        0x01,
        r#"{
            "name": "25% off clothing",
            "action": {
                "type": "percentage", "percent": "25",
                "applies_to": {"categories": ["00000000-0000-0000-0000-0000000000c1"]}
            }
        }"#,
    )];
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(
        &cart(Currency::USD, &[(shirt, 1), (jeans, 1), (mug, 2)]),
        promos,
        &ctx,
    );

    assert_eq!(priced.subtotal, usd("123.99"));
    assert_eq!(priced.discount_total, usd("25.00"));
    assert_eq!(line_discounts(&priced), ["10.00", "15.00", "0.00"]);
    assert_eq!(priced.total, usd("98.99"));
    assert_eq!(trace(&priced), [(0x01, applied(usd("25.00")))]);
    insta::assert_json_snapshot!(priced);
}

/// A fixed amount is taken once per cart from the lines it applies to, split
/// by their amounts: 15.00 over 12.00 : 15.98 is 6.4332 and 8.5668, floored to
/// 6.43 and 8.56; the cent left goes to the larger remainder (the plates).
#[test]
fn fixed_amount_split_across_its_lines() {
    let mut shop = Shop::new();
    let mug = shop.add(0x103, "MUG-BLUE", "Blue mug", usd("12.00"), Some(KITCHEN));
    let plate = shop.add(0x104, "PLATE-W", "White plate", usd("7.99"), Some(KITCHEN));
    let shirt = shop.add(
        0x101,
        "SHIRT-OXF",
        "Oxford shirt",
        usd("40.00"),
        Some(SHIRTS),
    );
    let promos = vec![promotion(
        0x01,
        r#"{
            "name": "15.00 off kitchen",
            "action": {
                "type": "fixed_amount",
                "amount": {"amount": "15.00", "currency": "USD"},
                "applies_to": {"categories": ["00000000-0000-0000-0000-0000000000c4"]}
            }
        }"#,
    )];
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(
        &cart(Currency::USD, &[(mug, 1), (plate, 2), (shirt, 1)]),
        promos,
        &ctx,
    );

    assert_eq!(priced.subtotal, usd("67.98"));
    assert_eq!(priced.discount_total, usd("15.00"));
    assert_eq!(line_discounts(&priced), ["6.43", "8.57", "0.00"]);
    assert_eq!(priced.total, usd("52.98"));
    assert_eq!(trace(&priced), [(0x01, applied(usd("15.00")))]);
    insta::assert_json_snapshot!(priced);
}

/// A fixed amount never takes more than its lines cost: 20.00 off kitchen on
/// 19.99 of kitchen items takes 19.99, and the shirt is untouched.
#[test]
fn fixed_amount_stops_at_what_its_lines_cost() {
    let mut shop = Shop::new();
    let mug = shop.add(0x103, "MUG-BLUE", "Blue mug", usd("12.00"), Some(KITCHEN));
    let plate = shop.add(0x104, "PLATE-W", "White plate", usd("7.99"), Some(KITCHEN));
    let shirt = shop.add(
        0x101,
        "SHIRT-OXF",
        "Oxford shirt",
        usd("40.00"),
        Some(SHIRTS),
    );
    let promos = vec![promotion(
        0x01,
        r#"{
            "name": "20.00 off kitchen",
            "action": {
                "type": "fixed_amount",
                "amount": {"amount": "20.00", "currency": "USD"},
                "applies_to": {"categories": ["00000000-0000-0000-0000-0000000000c4"]}
            }
        }"#,
    )];
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(
        &cart(Currency::USD, &[(mug, 1), (plate, 1), (shirt, 1)]),
        promos,
        &ctx,
    );

    assert_eq!(priced.subtotal, usd("59.99"));
    assert_eq!(priced.discount_total, usd("19.99"));
    assert_eq!(line_discounts(&priced), ["12.00", "7.99", "0.00"]);
    assert_eq!(priced.total, usd("40.00"));
    assert_eq!(trace(&priced), [(0x01, applied(usd("19.99")))]);
    insta::assert_json_snapshot!(priced);
}

/// Buy 2, get 1 free on socks: six qualifying units make two groups of three,
/// so two units are free — the two cheapest (5.00 and one 7.50), wherever they
/// sit in the cart. The mug does not qualify and does not count.
#[test]
fn buy_x_get_y_takes_the_cheapest_units() {
    let mut shop = Shop::new();
    let wool = shop.add(0x105, "SOCK-WOOL", "Wool socks", usd("9.00"), Some(SOCKS));
    let ankle = shop.add(0x106, "SOCK-ANKLE", "Ankle socks", usd("5.00"), Some(SOCKS));
    let sport = shop.add(0x107, "SOCK-SPORT", "Sport socks", usd("7.50"), Some(SOCKS));
    let mug = shop.add(0x103, "MUG-BLUE", "Blue mug", usd("12.00"), Some(KITCHEN));
    let promos = vec![promotion(
        0x01,
        r#"{
            "name": "Socks: buy 2, get 1 free",
            "action": {
                "type": "buy_x_get_y", "buy": 2, "get": 1, "percent": "100",
                "applies_to": {"categories": ["00000000-0000-0000-0000-0000000000c3"]}
            }
        }"#,
    )];
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(
        &cart(
            Currency::USD,
            &[(wool, 2), (ankle, 1), (sport, 3), (mug, 1)],
        ),
        promos,
        &ctx,
    );

    assert_eq!(priced.subtotal, usd("57.50"));
    assert_eq!(priced.discount_total, usd("12.50"));
    assert_eq!(line_discounts(&priced), ["0.00", "5.00", "7.50", "0.00"]);
    assert_eq!(priced.total, usd("45.00"));
    assert_eq!(trace(&priced), [(0x01, applied(usd("12.50")))]);
    insta::assert_json_snapshot!(priced);
}

/// Free shipping above 30.00: the promotion takes the 4.95 of shipping. Its
/// trace amount is 4.95, but `discount_total` (the sum of line discounts)
/// stays 0.00: the saving shows in `shipping.discount` and `shipping_total`.
#[test]
fn free_shipping_takes_the_shipping_price() {
    let mut shop = Shop::new();
    let mug = shop.add(0x103, "MUG-BLUE", "Blue mug", usd("12.00"), Some(KITCHEN));
    let promos = vec![promotion(
        0x01,
        r#"{
            "name": "Free shipping over 30",
            "conditions": [
                {"type": "min_subtotal", "amount": {"amount": "30.00", "currency": "USD"}}
            ],
            "action": {"type": "free_shipping"}
        }"#,
    )];
    let mut c = cart(Currency::USD, &[(mug, 3)]);
    c.shipping = Some(shipping(
        r#"{"code": "standard", "name": "Standard", "price": {"amount": "4.95", "currency": "USD"}}"#,
    ));
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(&c, promos, &ctx);

    assert_eq!(priced.subtotal, usd("36.00"));
    assert_eq!(priced.discount_total, usd("0.00"));
    let ship = priced.shipping.as_ref().unwrap();
    assert_eq!(
        (ship.price, ship.discount, ship.total),
        (usd("4.95"), usd("4.95"), usd("0.00"))
    );
    assert_eq!(priced.shipping_total, usd("0.00"));
    assert_eq!(priced.total, usd("36.00"));
    assert_eq!(trace(&priced), [(0x01, applied(usd("4.95")))]);
    assert_eq!(
        priced.discount_of(PromotionId::from_u128(0x01)),
        usd("4.95")
    );
    insta::assert_json_snapshot!(priced);
}

/// Tiered: 5 % from 50.00, 10 % from 100.00, 15 % from 200.00. The cart's
/// 150.00 reaches the 10 % tier (the highest reached), 15.00 split as
/// 7.999, 4.55, 2.451 → 7.99, 4.55, 2.45 plus the cent left to the largest
/// remainder (the coat).
#[test]
fn tiered_applies_the_highest_tier_reached() {
    let mut shop = Shop::new();
    let coat = shop.add(
        0x108,
        "COAT-NAVY",
        "Navy coat",
        usd("79.99"),
        Some(CLOTHING),
    );
    let scarf = shop.add(
        0x109,
        "SCARF-RED",
        "Red scarf",
        usd("22.75"),
        Some(CLOTHING),
    );
    let gloves = shop.add(0x10A, "GLOVES-M", "Gloves", usd("24.51"), Some(CLOTHING));
    let promos = vec![promotion(
        0x01,
        r#"{
            "name": "Spend more, save more",
            "action": {"type": "tiered", "tiers": [
                {"min_subtotal": {"amount": "50.00", "currency": "USD"}, "percent": "5"},
                {"min_subtotal": {"amount": "100.00", "currency": "USD"}, "percent": "10"},
                {"min_subtotal": {"amount": "200.00", "currency": "USD"}, "percent": "15"}
            ]}
        }"#,
    )];
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(
        &cart(Currency::USD, &[(coat, 1), (scarf, 2), (gloves, 1)]),
        promos,
        &ctx,
    );

    assert_eq!(priced.subtotal, usd("150.00"));
    assert_eq!(priced.discount_total, usd("15.00"));
    assert_eq!(line_discounts(&priced), ["8.00", "4.55", "2.45"]);
    assert_eq!(priced.total, usd("135.00"));
    assert_eq!(trace(&priced), [(0x01, applied(usd("15.00")))]);
    insta::assert_json_snapshot!(priced);
}

// ---------------------------------------------------------------------------
// Combining promotions
// ---------------------------------------------------------------------------

/// Two combinable promotions stack in priority order: 10 % (priority 10) first,
/// then 5.00 off on what it left. 10 % of 80.00 is 8.00 (5.00 + 3.00); the
/// 5.00 then splits 45.00 : 27.00 into 3.125 and 1.875, a tie of remainders,
/// so the earlier line (the jacket) takes the extra cent: 3.13 and 1.87.
#[test]
fn two_combinable_promotions_stack_in_priority_order() {
    let mut shop = Shop::new();
    let jacket = shop.add(
        0x10B,
        "JACKET-R",
        "Rain jacket",
        usd("50.00"),
        Some(CLOTHING),
    );
    let cap = shop.add(0x10C, "CAP-B", "Cap", usd("30.00"), Some(CLOTHING));
    let promos = vec![
        promotion(
            0x01,
            r#"{
                "name": "5.00 off", "combinable": true,
                "action": {"type": "fixed_amount", "amount": {"amount": "5.00", "currency": "USD"}}
            }"#,
        ),
        promotion(
            0x02,
            r#"{
                "name": "10% off", "combinable": true, "priority": 10,
                "action": {"type": "percentage", "percent": "10"}
            }"#,
        ),
    ];
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(&cart(Currency::USD, &[(jacket, 1), (cap, 1)]), promos, &ctx);

    assert_eq!(priced.subtotal, usd("80.00"));
    assert_eq!(priced.discount_total, usd("13.00"));
    let per_promotion: Vec<Vec<String>> = priced
        .lines
        .iter()
        .map(|l| {
            l.discounts
                .iter()
                .map(|d| d.amount.amount_string())
                .collect()
        })
        .collect();
    assert_eq!(per_promotion, [["5.00", "3.13"], ["3.00", "1.87"]]);
    assert_eq!(line_discounts(&priced), ["8.13", "4.87"]);
    assert_eq!(priced.total, usd("67.00"));
    // Evaluation order: priority 10 before priority 0, whatever the ids.
    assert_eq!(
        trace(&priced),
        [(0x02, applied(usd("8.00"))), (0x01, applied(usd("5.00")))]
    );
    insta::assert_json_snapshot!(priced);
}

/// An exclusive promotion beats a stack when it gives more: the stack of 10 %
/// and 5 % gives 10.00 + 4.50 = 14.50 on 100.00; the exclusive 20 % gives
/// 20.00 and wins. The exclusive 15.00 off beats the stack too, but not the
/// 20 %. Every loser is traced `not_combinable`, naming the winner.
#[test]
fn an_exclusive_promotion_beats_a_smaller_stack() {
    let mut shop = Shop::new();
    let jacket = shop.add(0x10D, "JACKET-W", "Winter jacket", usd("100.00"), None);
    let promos = vec![
        promotion(
            0x01,
            r#"{"name": "10% off", "combinable": true,
                "action": {"type": "percentage", "percent": "10"}}"#,
        ),
        promotion(
            0x02,
            r#"{"name": "5% off", "combinable": true,
                "action": {"type": "percentage", "percent": "5"}}"#,
        ),
        promotion(
            0x03,
            r#"{"name": "20% off, not with other offers", "combinable": false,
                "action": {"type": "percentage", "percent": "20"}}"#,
        ),
        promotion(
            0x04,
            r#"{"name": "15.00 off, not with other offers",
                "action": {"type": "fixed_amount", "amount": {"amount": "15.00", "currency": "USD"}}}"#,
        ),
    ];
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(&cart(Currency::USD, &[(jacket, 1)]), promos, &ctx);

    assert_eq!(priced.discount_total, usd("20.00"));
    assert_eq!(line_discounts(&priced), ["20.00"]);
    assert_eq!(priced.total, usd("80.00"));
    assert_eq!(
        trace(&priced),
        [
            (0x01, beaten_by(&[0x03])),
            (0x02, beaten_by(&[0x03])),
            (0x03, applied(usd("20.00"))),
            (0x04, beaten_by(&[0x03])),
        ]
    );
    insta::assert_json_snapshot!(priced);
}

/// A tie between the stack and an exclusive promotion goes to the stack, even
/// when the exclusive one has the higher priority: both give 10.00.
#[test]
fn a_tie_goes_to_the_stack() {
    let mut shop = Shop::new();
    let jacket = shop.add(0x10D, "JACKET-W", "Winter jacket", usd("100.00"), None);
    let promos = vec![
        promotion(
            0x01,
            r#"{"name": "10% off", "combinable": true,
                "action": {"type": "percentage", "percent": "10"}}"#,
        ),
        promotion(
            0x02,
            r#"{"name": "10.00 off, not with other offers", "priority": 100,
                "action": {"type": "fixed_amount", "amount": {"amount": "10.00", "currency": "USD"}}}"#,
        ),
    ];
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(&cart(Currency::USD, &[(jacket, 1)]), promos, &ctx);

    assert_eq!(priced.discount_total, usd("10.00"));
    assert_eq!(priced.total, usd("90.00"));
    assert_eq!(
        trace(&priced),
        [(0x02, beaten_by(&[0x01])), (0x01, applied(usd("10.00")))]
    );
    insta::assert_json_snapshot!(priced);
}

/// Between exclusive promotions the largest discount wins; among equal ones
/// the higher priority, then the lower id. 0x04 (priority 9) gives only 9.99;
/// 0x01, 0x02 and 0x03 all give 10.00; 0x02 and 0x03 share priority 5, above
/// 0x01's priority 1, and 0x02 has the lower id: 0x02 wins.
#[test]
fn exclusive_ties_go_to_priority_then_id() {
    let mut shop = Shop::new();
    let jacket = shop.add(0x10D, "JACKET-W", "Winter jacket", usd("100.00"), None);
    let promos = vec![
        promotion(
            0x01,
            r#"{"name": "A: 10.00 off", "priority": 1,
                "action": {"type": "fixed_amount", "amount": {"amount": "10.00", "currency": "USD"}}}"#,
        ),
        promotion(
            0x02,
            r#"{"name": "B: 10.00 off", "priority": 5,
                "action": {"type": "fixed_amount", "amount": {"amount": "10.00", "currency": "USD"}}}"#,
        ),
        promotion(
            0x03,
            r#"{"name": "C: 10% off", "priority": 5,
                "action": {"type": "percentage", "percent": "10"}}"#,
        ),
        promotion(
            0x04,
            r#"{"name": "D: 9.99 off", "priority": 9,
                "action": {"type": "fixed_amount", "amount": {"amount": "9.99", "currency": "USD"}}}"#,
        ),
    ];
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(&cart(Currency::USD, &[(jacket, 1)]), promos, &ctx);

    assert_eq!(priced.discount_total, usd("10.00"));
    assert_eq!(
        trace(&priced),
        [
            (0x04, beaten_by(&[0x02])),
            (0x02, applied(usd("10.00"))),
            (0x03, beaten_by(&[0x02])),
            (0x01, beaten_by(&[0x02])),
        ]
    );
    insta::assert_json_snapshot!(priced);
}

/// `max_discount` caps a percentage: 20 % of 180.00 is 36.00, capped at
/// 25.00, split 120 : 60 into 16.666… and 8.333… → 16.67 and 8.33.
#[test]
fn max_discount_caps_a_percentage() {
    let mut shop = Shop::new();
    let boots = shop.add(0x10E, "BOOTS-43", "Boots", usd("120.00"), None);
    let belt = shop.add(0x10F, "BELT-L", "Belt", usd("60.00"), None);
    let promos = vec![promotion(
        0x01,
        r#"{
            "name": "20% off, up to 25.00",
            "action": {
                "type": "percentage", "percent": "20",
                "max_discount": {"amount": "25.00", "currency": "USD"}
            }
        }"#,
    )];
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(&cart(Currency::USD, &[(boots, 1), (belt, 1)]), promos, &ctx);

    assert_eq!(priced.subtotal, usd("180.00"));
    assert_eq!(priced.discount_total, usd("25.00"));
    assert_eq!(line_discounts(&priced), ["16.67", "8.33"]);
    assert_eq!(priced.total, usd("155.00"));
    assert_eq!(trace(&priced), [(0x01, applied(usd("25.00")))]);
    insta::assert_json_snapshot!(priced);
}

// ---------------------------------------------------------------------------
// Shipping
// ---------------------------------------------------------------------------

/// `free_over` is compared with the discounted subtotal: 52.00 would ship
/// free (threshold 50.00), but after 10 % off the cart is 46.80, so shipping
/// costs 5.00 and the buyer pays 51.80.
#[test]
fn free_over_is_compared_with_the_discounted_subtotal() {
    let mut shop = Shop::new();
    let shirt = shop.add(
        0x110,
        "SHIRT-LIN",
        "Linen shirt",
        usd("26.00"),
        Some(SHIRTS),
    );
    let promos = vec![promotion(
        0x01,
        r#"{"name": "10% off", "combinable": true,
            "action": {"type": "percentage", "percent": "10"}}"#,
    )];
    let mut c = cart(Currency::USD, &[(shirt, 2)]);
    c.shipping = Some(shipping(
        r#"{"code": "standard", "name": "Standard",
            "price": {"amount": "5.00", "currency": "USD"},
            "free_over": {"amount": "50.00", "currency": "USD"}}"#,
    ));
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(&c, promos, &ctx);

    assert_eq!(priced.subtotal, usd("52.00"));
    assert_eq!(priced.discount_total, usd("5.20"));
    assert_eq!(priced.shipping_total, usd("5.00"));
    assert_eq!(priced.total, usd("51.80"));
    assert_eq!(trace(&priced), [(0x01, applied(usd("5.20")))]);
    insta::assert_json_snapshot!(priced);
}

/// Free shipping is evaluated after the line discounts: its `min_subtotal`
/// (50.00) is measured before discount and holds on 52.00; the 10 % brings
/// the cart to 46.80, below `free_over`, so shipping costs 5.00 — and the
/// free-shipping promotion takes exactly that. The stack's total discount is
/// 5.20 + 5.00 = 10.20, of which only the 5.20 is in `discount_total`.
#[test]
fn free_shipping_is_evaluated_after_line_discounts() {
    let mut shop = Shop::new();
    let shirt = shop.add(
        0x110,
        "SHIRT-LIN",
        "Linen shirt",
        usd("26.00"),
        Some(SHIRTS),
    );
    let promos = vec![
        promotion(
            0x01,
            r#"{"name": "10% off", "combinable": true,
                "action": {"type": "percentage", "percent": "10"}}"#,
        ),
        promotion(
            0x02,
            r#"{"name": "Free shipping over 50", "combinable": true, "priority": 10,
                "conditions": [
                    {"type": "min_subtotal", "amount": {"amount": "50.00", "currency": "USD"}}
                ],
                "action": {"type": "free_shipping"}}"#,
        ),
    ];
    let mut c = cart(Currency::USD, &[(shirt, 2)]);
    c.shipping = Some(shipping(
        r#"{"code": "standard", "name": "Standard",
            "price": {"amount": "5.00", "currency": "USD"},
            "free_over": {"amount": "50.00", "currency": "USD"}}"#,
    ));
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(&c, promos, &ctx);

    assert_eq!(priced.discount_total, usd("5.20"));
    let ship = priced.shipping.as_ref().unwrap();
    assert_eq!(
        (ship.price, ship.discount, ship.total),
        (usd("5.00"), usd("5.00"), usd("0.00"))
    );
    assert_eq!(priced.total, usd("46.80"));
    // Higher priority comes first in the trace, but free shipping is still
    // computed last, on the discounted subtotal.
    assert_eq!(
        trace(&priced),
        [(0x02, applied(usd("5.00"))), (0x01, applied(usd("5.20")))]
    );
    insta::assert_json_snapshot!(priced);
}

/// A consequence of the rules worth knowing: the winning outcome is the one
/// with the largest discount, and `free_over` is compared with the discounted
/// subtotal, so a small discount can push a cart below the threshold. 2 % of
/// 50.50 is 1.01; the cart drops to 49.49, below 50.00, and the 10.00 of
/// shipping comes back: the buyer pays 59.49, where without the promotion
/// they would pay 50.50.
#[test]
fn a_small_discount_can_cost_free_shipping() {
    let mut shop = Shop::new();
    let lamp = shop.add(0x11F, "LAMP-F", "Floor lamp", usd("50.50"), None);
    let promos = vec![promotion(
        0x01,
        r#"{"name": "2% off", "combinable": true,
            "action": {"type": "percentage", "percent": "2"}}"#,
    )];
    let mut c = cart(Currency::USD, &[(lamp, 1)]);
    c.shipping = Some(shipping(
        r#"{"code": "standard", "name": "Standard",
            "price": {"amount": "10.00", "currency": "USD"},
            "free_over": {"amount": "50.00", "currency": "USD"}}"#,
    ));
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);

    let without = shop.price(&c, vec![], &ctx);
    assert_eq!(without.shipping_total, usd("0.00"));
    assert_eq!(without.total, usd("50.50"));

    let priced = shop.price(&c, promos, &ctx);
    assert_eq!(priced.discount_total, usd("1.01"));
    assert_eq!(priced.shipping_total, usd("10.00"));
    assert_eq!(priced.total, usd("59.49"));
    assert_eq!(trace(&priced), [(0x01, applied(usd("1.01")))]);
    insta::assert_json_snapshot!(priced);
}

// ---------------------------------------------------------------------------
// Rounding and currencies
// ---------------------------------------------------------------------------

/// 3 × 33.33 with 10 % off is exactly 10.00 (9.999 rounded once), not
/// 3 × 3.33 = 9.99. Split over three equal lines each share is 3.333…; the
/// remainders tie, so the cent left over goes to the earliest line:
/// 3.34, 3.33, 3.33.
#[test]
fn ten_percent_of_three_times_33_33_is_exactly_10_00() {
    let mut shop = Shop::new();
    let blue = shop.add(0x111, "MUG-B", "Mug, blue", usd("33.33"), Some(KITCHEN));
    let red = shop.add(0x112, "MUG-R", "Mug, red", usd("33.33"), Some(KITCHEN));
    let green = shop.add(0x113, "MUG-G", "Mug, green", usd("33.33"), Some(KITCHEN));
    let promos = vec![promotion(
        0x01,
        r#"{"name": "10% off", "action": {"type": "percentage", "percent": "10"}}"#,
    )];
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(
        &cart(Currency::USD, &[(blue, 1), (red, 1), (green, 1)]),
        promos,
        &ctx,
    );

    assert_eq!(priced.subtotal, usd("99.99"));
    assert_eq!(priced.discount_total, usd("10.00"));
    assert_eq!(line_discounts(&priced), ["3.34", "3.33", "3.33"]);
    assert_eq!(priced.total, usd("89.99"));
    insta::assert_json_snapshot!(priced);
}

/// Yen have no minor digits: 15 % of ¥4,630 is ¥694.5, rounded half-up to
/// ¥695 (half-even would give ¥694), and split by largest remainder as
/// 297.21, 337.74, 60.04 → 297, 338, 60.
#[test]
fn yen_are_rounded_to_whole_yen() {
    let mut shop = Shop::new();
    let teapot = shop.add(0x114, "TEAPOT", "Teapot", jpy("1980"), Some(KITCHEN));
    let cup = shop.add(0x115, "CUP", "Tea cup", jpy("750"), Some(KITCHEN));
    let chopsticks = shop.add(0x116, "HASHI", "Chopsticks", jpy("400"), Some(KITCHEN));
    let promos = vec![promotion(
        0x01,
        r#"{"name": "15% off", "action": {"type": "percentage", "percent": "15"}}"#,
    )];
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(
        &cart(Currency::JPY, &[(teapot, 1), (cup, 3), (chopsticks, 1)]),
        promos,
        &ctx,
    );

    assert_eq!(priced.subtotal, jpy("4630"));
    assert_eq!(priced.discount_total, jpy("695"));
    assert_eq!(line_discounts(&priced), ["297", "338", "60"]);
    assert_eq!(priced.total, jpy("3935"));
    assert_eq!(trace(&priced), [(0x01, applied(jpy("695")))]);
    insta::assert_json_snapshot!(priced);
}

/// The Iranian rial has exponent 0 here (ISO 4217 says 2): amounts are whole
/// rials, as Iranian gateways expect. 10 % of 1,234,567 rials is 123,456.7,
/// rounded to 123,457.
#[test]
fn rials_are_whole_rials() {
    let mut shop = Shop::new();
    let rug = shop.add(0x117, "RUG", "Rug", money("1234567", Currency::IRR), None);
    let promos = vec![promotion(
        0x01,
        r#"{"name": "10% off", "action": {"type": "percentage", "percent": "10"}}"#,
    )];
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(&cart(Currency::IRR, &[(rug, 1)]), promos, &ctx);

    assert_eq!(Currency::IRR.exponent(), 0);
    assert_eq!(priced.discount_total, money("123457", Currency::IRR));
    assert_eq!(priced.total, money("1111110", Currency::IRR));
    insta::assert_json_snapshot!(priced);
}

// ---------------------------------------------------------------------------
// Tax
// ---------------------------------------------------------------------------

/// Gross (tax-inclusive) prices, 20 % VAT. 10 % of 169.97 is 16.997 → 17.00,
/// split 12.00 / 5.00. The VAT inside the discounted 152.97 is
/// 152.97 × 0.2 / 1.2 = 25.495 → 25.50, split 18.00 / 7.50; the VAT inside
/// the 4.99 of shipping is 0.8316… → 0.83. The buyer pays
/// 152.97 + 4.99 = 157.96, of which 26.33 is tax (not added again).
#[test]
fn gross_prices_include_tax() {
    let mut shop = Shop::new();
    let jacket = shop.add(0x118, "JACKET-EU", "Jacket", eur("119.99"), Some(CLOTHING));
    let scarf = shop.add(0x119, "SCARF-EU", "Scarf", eur("24.99"), Some(CLOTHING));
    let promos = vec![promotion(
        0x01,
        r#"{"name": "10% off", "combinable": true,
            "action": {"type": "percentage", "percent": "10"}}"#,
    )];
    let mut c = cart(Currency::EUR, &[(jacket, 1), (scarf, 2)]);
    c.shipping = Some(shipping(
        r#"{"code": "standard", "name": "Standard", "price": {"amount": "4.99", "currency": "EUR"}}"#,
    ));
    let vat = SingleRateTax::new(dec!(0.20), true).unwrap();
    let ctx = PricingContext::new(now(), &vat);
    let priced = shop.price(&c, promos, &ctx);

    assert!(priced.prices_include_tax);
    assert_eq!(priced.subtotal, eur("169.97"));
    assert_eq!(priced.discount_total, eur("17.00"));
    assert_eq!(line_discounts(&priced), ["12.00", "5.00"]);
    assert_eq!(line_taxes(&priced), ["18.00", "7.50"]);
    assert_eq!(priced.shipping.as_ref().unwrap().tax, eur("0.83"));
    assert_eq!(priced.tax_total, eur("26.33"));
    assert_eq!(priced.total, eur("157.96"));
    insta::assert_json_snapshot!(priced);
}

/// A tax policy with two rates: 20 % by default and for shipping, 5 % on books.
#[derive(Debug)]
struct ReducedRateOnBooks;

impl TaxPolicy for ReducedRateOnBooks {
    fn prices_include_tax(&self) -> bool {
        false
    }

    fn line_rate(&self, line: &TaxableLine) -> Decimal {
        if line.category_id == Some(CategoryId::from_u128(BOOKS)) {
            dec!(0.05)
        } else {
            dec!(0.20)
        }
    }

    fn shipping_rate(&self) -> Decimal {
        dec!(0.20)
    }
}

/// Net prices: tax is added on top, computed on the discounted amounts, once
/// per rate. The three 10.02 lines at 20 % make 30.06 → 6.012 → 6.01, split
/// 2.01 / 2.00 / 2.00 (rounding each line would give 2.00 × 3 = 6.00). The
/// novels, 10 % off (1.798 → 1.80), leave 16.18 at 5 % → 0.809 → 0.81.
/// Shipping 4.50 at 20 % → 0.90. Total 48.04 − 1.80 + 4.50 + 7.72 = 58.46.
#[test]
fn net_prices_add_tax_once_per_rate() {
    let mut shop = Shop::new();
    let lamp = shop.add(0x11A, "LAMP", "Desk lamp", gbp("10.02"), None);
    let pens = shop.add(0x11B, "PENS", "Pen set", gbp("10.02"), None);
    let tidy = shop.add(0x11C, "TIDY", "Desk tidy", gbp("10.02"), None);
    let novel = shop.add(0x11D, "NOVEL", "Novel", gbp("8.99"), Some(BOOKS));
    let promos = vec![promotion(
        0x01,
        r#"{"name": "10% off books",
            "action": {"type": "percentage", "percent": "10",
                       "applies_to": {"categories": ["00000000-0000-0000-0000-0000000000c5"]}}}"#,
    )];
    let mut c = cart(
        Currency::GBP,
        &[(lamp, 1), (pens, 1), (tidy, 1), (novel, 2)],
    );
    c.shipping = Some(shipping(
        r#"{"code": "standard", "name": "Standard", "price": {"amount": "4.50", "currency": "GBP"}}"#,
    ));
    let tax = ReducedRateOnBooks;
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(&c, promos, &ctx);

    assert!(!priced.prices_include_tax);
    assert_eq!(priced.subtotal, gbp("48.04"));
    assert_eq!(priced.discount_total, gbp("1.80"));
    assert_eq!(line_discounts(&priced), ["0.00", "0.00", "0.00", "1.80"]);
    assert_eq!(line_taxes(&priced), ["2.01", "2.00", "2.00", "0.81"]);
    assert_eq!(priced.shipping.as_ref().unwrap().tax, gbp("0.90"));
    assert_eq!(priced.tax_total, gbp("7.72"));
    assert_eq!(priced.total, gbp("58.46"));
    insta::assert_json_snapshot!(priced);
}

// ---------------------------------------------------------------------------
// The trace
// ---------------------------------------------------------------------------

/// One cart, sixteen promotions: one applies, and each of the others shows a
/// different reason why not. A signed-in customer (not on a first order)
/// entered `welcome` and `nope`; the cart has no shipping. The applied
/// promotion takes 10 % of 37.00 = 3.70 (2.50 + 1.20; the free sticker gets
/// nothing). The shopper's view of the trace hides the code promotion whose
/// code was not entered.
#[test]
fn the_trace_explains_every_rejection() {
    let mut shop = Shop::new();
    let shirt = shop.add(
        0x101,
        "SHIRT-OXF",
        "Oxford shirt",
        usd("25.00"),
        Some(SHIRTS),
    );
    let mug = shop.add(0x103, "MUG-BLUE", "Blue mug", usd("12.00"), Some(KITCHEN));
    let sticker = shop.add(0x11E, "STICKER", "Sticker (gift)", usd("0.00"), None);
    // Products that are not in the cart: shoes (0x1f0) and a kettle (0x1f1).
    let promos = vec![
        promotion(
            0x01,
            r#"{"name": "Winter sale", "starts_at": "2026-12-01T00:00:00Z",
                "action": {"type": "percentage", "percent": "30"}}"#,
        ),
        promotion(
            0x02,
            r#"{"name": "Autumn sale", "starts_at": "2026-10-01T00:00:00Z",
                "ends_at": "2026-11-01T12:00:00Z",
                "action": {"type": "percentage", "percent": "30"}}"#,
        ),
        promotion(
            0x03,
            r#"{"name": "Secret 50% off", "code": "VIP50",
                "action": {"type": "percentage", "percent": "50"}}"#,
        ),
        promotion(
            0x04,
            r#"{"name": "5 EUR off",
                "action": {"type": "fixed_amount", "amount": {"amount": "5.00", "currency": "EUR"}}}"#,
        ),
        promotion(
            0x05,
            r#"{"name": "Launch offer", "usage_limit": 100,
                "action": {"type": "percentage", "percent": "20"}}"#,
        ),
        promotion(
            0x06,
            r#"{"name": "Once per customer", "per_customer_limit": 1,
                "action": {"type": "percentage", "percent": "20"}}"#,
        ),
        promotion(
            0x07,
            r#"{"name": "15% off your first order",
                "conditions": [{"type": "first_order"}],
                "action": {"type": "percentage", "percent": "15"}}"#,
        ),
        promotion(
            0x08,
            r#"{"name": "20% off shoes",
                "action": {"type": "percentage", "percent": "20",
                           "applies_to": {"products": ["00000000-0000-0000-0000-0000000001f0"]}}}"#,
        ),
        promotion(
            0x09,
            r#"{"name": "10% off over 100",
                "conditions": [
                    {"type": "min_subtotal", "amount": {"amount": "100.00", "currency": "USD"}}
                ],
                "action": {"type": "percentage", "percent": "10"}}"#,
        ),
        promotion(
            0x10,
            r#"{"name": "Buy 5 items, save 10%",
                "conditions": [{"type": "min_quantity", "quantity": 5}],
                "action": {"type": "percentage", "percent": "10"}}"#,
        ),
        promotion(
            0x11,
            r#"{"name": "With a kettle, 10% off mugs",
                "conditions": [
                    {"type": "contains", "products": ["00000000-0000-0000-0000-0000000001f1"]}
                ],
                "action": {"type": "percentage", "percent": "10",
                           "applies_to": {"products": ["00000000-0000-0000-0000-000000000103"]}}}"#,
        ),
        promotion(
            0x12,
            r#"{"name": "Mugs: 3 for 2",
                "action": {"type": "buy_x_get_y", "buy": 2, "get": 1, "percent": "100",
                           "applies_to": {"products": ["00000000-0000-0000-0000-000000000103"]}}}"#,
        ),
        promotion(
            0x13,
            r#"{"name": "Free shipping", "action": {"type": "free_shipping"}}"#,
        ),
        promotion(
            0x14,
            r#"{"name": "Half-price stickers", "combinable": true,
                "action": {"type": "percentage", "percent": "50",
                           "applies_to": {"products": ["00000000-0000-0000-0000-00000000011e"]}}}"#,
        ),
        promotion(
            0x15,
            r#"{"name": "Welcome 10%", "code": "welcome", "combinable": true,
                "action": {"type": "percentage", "percent": "10"}}"#,
        ),
        promotion(
            0x16,
            r#"{"name": "5% off, not with other offers",
                "action": {"type": "percentage", "percent": "5"}}"#,
        ),
    ];
    let mut c = cart(Currency::USD, &[(shirt, 1), (mug, 1), (sticker, 1)]);
    c.codes = vec![code("welcome"), code("nope")];
    let mut usage = UsageCounts::new();
    usage.insert(
        PromotionId::from_u128(0x05),
        Usage {
            total: 100,
            by_customer: 0,
        },
    );
    usage.insert(
        PromotionId::from_u128(0x06),
        Usage {
            total: 40,
            by_customer: 1,
        },
    );
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax)
        .for_customer(CustomerId::from_u128(0x7), false)
        .with_usage(&usage);
    let priced = shop.price(&c, promos, &ctx);

    assert_eq!(priced.subtotal, usd("37.00"));
    assert_eq!(priced.discount_total, usd("3.70"));
    assert_eq!(line_discounts(&priced), ["2.50", "1.20", "0.00"]);
    assert_eq!(priced.total, usd("33.30"));
    let start = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    assert_eq!(
        trace(&priced),
        [
            (0x01, no(NotApplied::NotStarted { starts_at: start })),
            (0x02, no(NotApplied::Expired { ended_at: now() })),
            (0x03, no(NotApplied::CodeNotEntered)),
            (
                0x04,
                no(NotApplied::CurrencyNotSupported {
                    currency: Currency::EUR
                })
            ),
            (0x05, no(NotApplied::UsageExhausted { limit: 100 })),
            (0x06, no(NotApplied::CustomerLimitReached { limit: 1 })),
            (0x07, no(NotApplied::NotFirstOrder)),
            (0x08, no(NotApplied::NoEligibleLines)),
            (
                0x09,
                no(NotApplied::MinSubtotal {
                    needed: usd("100.00"),
                    have: usd("37.00")
                })
            ),
            (0x10, no(NotApplied::MinQuantity { needed: 5, have: 3 })),
            (0x11, no(NotApplied::RequiredItemsMissing)),
            (0x12, no(NotApplied::NotEnoughUnits { needed: 3, have: 1 })),
            (0x13, no(NotApplied::NoShippingCost)),
            (0x14, no(NotApplied::NothingToDiscount)),
            (0x15, applied(usd("3.70"))),
            (0x16, beaten_by(&[0x15])),
        ]
    );
    assert_eq!(priced.unknown_codes, [code("NOPE")]);

    // What the shopper may see: everything but the secret code's promotion.
    let shown: Vec<u128> = priced
        .shopper_trace()
        .map(|t| t.promotion_id.as_uuid().as_u128())
        .collect();
    assert_eq!(shown.len(), 15);
    assert!(!shown.contains(&0x03));
    let shopper_json = serde_json::to_string(&priced.shopper_trace().collect::<Vec<_>>()).unwrap();
    assert!(!shopper_json.contains("VIP50"));
    assert!(!shopper_json.contains("Secret"));

    insta::assert_json_snapshot!(priced);
}

/// A promotion whose code was not entered must stay out of the shopper's
/// trace whatever else is wrong with it, or its code leaks. The engine checks
/// the window before the code, so a secret promotion that has expired, or has
/// not started yet, is traced `expired` / `not_started` (with its `code`)
/// instead of `code_not_entered`, and `shopper_trace()` shows it.
///
/// No snapshot: the expected output is not what the engine gives today.
#[test]

fn secret_codes_outside_their_window_stay_hidden() {
    let mut shop = Shop::new();
    let mug = shop.add(0x103, "MUG-BLUE", "Blue mug", usd("12.00"), Some(KITCHEN));
    let promos = vec![
        promotion(
            0x01,
            r#"{"name": "Staff 50% (old)", "code": "STAFF-2025",
                "ends_at": "2026-01-01T00:00:00Z",
                "action": {"type": "percentage", "percent": "50"}}"#,
        ),
        promotion(
            0x02,
            r#"{"name": "Black Friday preview", "code": "BF-EARLY",
                "starts_at": "2026-11-27T00:00:00Z",
                "action": {"type": "percentage", "percent": "40"}}"#,
        ),
    ];
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);
    let priced = shop.price(&cart(Currency::USD, &[(mug, 1)]), promos, &ctx);

    let shown = serde_json::to_string(&priced.shopper_trace().collect::<Vec<_>>()).unwrap();
    assert!(!shown.contains("STAFF-2025"), "{shown}");
    assert!(!shown.contains("BF-EARLY"), "{shown}");
    assert_eq!(priced.shopper_trace().count(), 0, "{shown}");
}

/// Every condition must hold: with two `contains` conditions, a cart that
/// holds what one of them names but not the other gets nothing.
#[test]
fn two_contains_conditions_must_both_hold() {
    let mut shop = Shop::new();
    let shirt = shop.add(0x131, "SHIRT", "Shirt", usd("40.00"), Some(SHIRTS));
    let mug = shop.add(0x132, "MUG", "Mug", usd("12.00"), Some(KITCHEN));
    let book = shop.add(0x133, "BOOK", "Book", usd("20.00"), Some(BOOKS));
    // Needs something from Clothing AND the mug.
    let promos = || {
        vec![promotion(
            0x01,
            r#"{"name": "Shirt and mug: 10% off",
                "conditions": [
                    {"type": "contains", "categories": ["00000000-0000-0000-0000-0000000000c1"]},
                    {"type": "contains", "products": ["00000000-0000-0000-0000-000000000132"]}
                ],
                "action": {"type": "percentage", "percent": "10"}}"#,
        )]
    };
    let tax = SingleRateTax::none();
    let ctx = PricingContext::new(now(), &tax);

    for lines in [vec![(shirt, 1), (book, 1)], vec![(mug, 1), (book, 1)]] {
        let priced = shop.price(&cart(Currency::USD, &lines), promos(), &ctx);
        assert_eq!(priced.discount_total, usd("0.00"), "{lines:?}");
        assert_eq!(
            trace(&priced),
            [(0x01, no(NotApplied::RequiredItemsMissing))]
        );
    }
    let priced = shop.price(
        &cart(Currency::USD, &[(shirt, 1), (mug, 1), (book, 1)]),
        promos(),
        &ctx,
    );
    assert_eq!(priced.discount_total, usd("7.20"));
    assert_eq!(trace(&priced), [(0x01, applied(usd("7.20")))]);
}
