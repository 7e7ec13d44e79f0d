//! # pricing-tour
//!
//! A short tour of `commerce-core` pricing: a small clothing shop with a
//! category tree, a shipping method that is free over 60.00 EUR, prices that
//! include 20 % VAT, and five promotions written in the HTTP API's JSON
//! shape. Four carts are priced and each one is printed as a receipt: the
//! lines with their discounts, the totals, and why every promotion did or did
//! not apply.
//!
//! Run with: `cargo run -p pricing-tour`
//!
//! Everything is fixed (ids, prices, and the instant promotions are checked
//! against), so the output is the same on every run.

use std::error::Error;

use chrono::{DateTime, Utc};
use commerce_core::Quantity;
use commerce_core::catalog::{CatalogSnapshot, CategoryTree, Sku, VariantPrice, VariantSnapshot};
use commerce_core::ids::{CategoryId, LineId, ProductId, PromotionId, VariantId};
use commerce_core::money::{Currency, Money};
use commerce_core::pricing::{
    CartInput, LineInput, NotApplied, Outcome, PricedCart, PricingContext, PromotionSet, price,
};
use commerce_core::promotion::{DiscountCode, Promotion, PromotionSpec};
use commerce_core::shipping::ShippingMethod;
use commerce_core::tax::SingleRateTax;
use rust_decimal::Decimal;
use serde_json::json;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const EUR: Currency = Currency::EUR;

/// Receipt width, in characters.
const WIDTH: usize = 64;

/// The shop's categories.
struct Categories {
    clothing: CategoryId,
    socks: CategoryId,
}

/// The variants the carts use.
struct Products {
    tee: VariantId,
    jeans: VariantId,
    socks: VariantId,
    mug: VariantId,
}

fn eur(amount: &str) -> Result<Money> {
    Ok(Money::parse(amount, EUR)?)
}

/// Clothing (tops › t-shirts, bottoms › jeans, accessories › socks) and
/// home (mugs), one variant per product.
fn catalog() -> Result<(CatalogSnapshot, Categories, Products)> {
    let id = CategoryId::from_u128;
    let (clothing, tops, tees, bottoms, jeans, accessories, socks, home, mugs) = (
        id(1),
        id(11),
        id(111),
        id(12),
        id(121),
        id(13),
        id(131),
        id(2),
        id(21),
    );
    let mut tree = CategoryTree::new();
    for (category, parent) in [
        (clothing, None),
        (tops, Some(clothing)),
        (tees, Some(tops)),
        (bottoms, Some(clothing)),
        (jeans, Some(bottoms)),
        (accessories, Some(clothing)),
        (socks, Some(accessories)),
        (home, None),
        (mugs, Some(home)),
    ] {
        tree.add(category, parent)?;
    }

    let mut catalog = CatalogSnapshot::new(tree);
    let mut add = |n: u128, category, sku: &str, name: &str, price: &str, was: Option<&str>| {
        let variant = VariantId::from_u128(1_000 + n);
        let was = was.map(eur).transpose()?;
        catalog.insert(VariantSnapshot {
            id: variant,
            product_id: ProductId::from_u128(100 + n),
            category_id: Some(category),
            sku: Sku::parse(sku)?,
            name: name.into(),
            price: VariantPrice::new(eur(price)?, was)?,
        });
        Ok::<_, Box<dyn Error>>(variant)
    };
    let products = Products {
        tee: add(1, tees, "TEE-ORG-M", "Organic tee, M", "25.00", None)?,
        jeans: add(
            2,
            jeans,
            "JNS-SLIM-32",
            "Slim jeans, 32",
            "79.90",
            Some("99.90"),
        )?,
        socks: add(3, socks, "SCK-WOOL", "Wool socks", "9.00", None)?,
        mug: add(4, mugs, "MUG-ENAMEL", "Enamel mug", "14.50", None)?,
    };
    Ok((catalog, Categories { clothing, socks }, products))
}

/// The shop's promotions, as the HTTP API receives them.
fn promotions(categories: &Categories) -> Result<PromotionSet> {
    let clothing = categories.clothing.to_string();
    let socks = categories.socks.to_string();
    let specs = [
        json!({
            "name": "SAVE10: 10% off everything",
            "code": "SAVE10",
            "combinable": true,
            "action": {"type": "percentage", "percent": "10"}
        }),
        json!({
            "name": "Socks: buy 2, get 1 free",
            "combinable": true,
            "priority": 10,
            "action": {
                "type": "buy_x_get_y", "buy": 2, "get": 1, "percent": "100",
                "applies_to": {"categories": [socks]}
            }
        }),
        json!({
            "name": "25% off clothing over 100.00",
            "combinable": false,
            "priority": 5,
            "conditions": [
                {"type": "min_subtotal", "amount": {"amount": "100.00", "currency": "EUR"}}
            ],
            "action": {
                "type": "percentage", "percent": "25",
                "applies_to": {"categories": [clothing]}
            }
        }),
        json!({
            "name": "Free shipping from 40.00",
            "combinable": true,
            "conditions": [
                {"type": "min_subtotal", "amount": {"amount": "40.00", "currency": "EUR"}}
            ],
            "action": {"type": "free_shipping"}
        }),
        json!({
            "name": "Summer sale: 30% off",
            "combinable": true,
            "starts_at": "2025-06-01T00:00:00Z",
            "ends_at": "2025-09-01T00:00:00Z",
            "action": {"type": "percentage", "percent": "30"}
        }),
    ];
    let mut promotions = Vec::with_capacity(specs.len());
    for (n, spec) in (1_u128..).zip(specs) {
        let spec: PromotionSpec = serde_json::from_value(spec)?;
        promotions.push(Promotion::new(PromotionId::from_u128(n), spec)?);
    }
    Ok(PromotionSet::new(promotions)?)
}

/// A cart of `(variant, units)` lines with the codes the buyer typed.
fn cart(
    lines: &[(VariantId, i64)],
    codes: &[&str],
    shipping: &ShippingMethod,
) -> Result<CartInput> {
    let mut inputs = Vec::with_capacity(lines.len());
    for (n, &(variant_id, units)) in (1_u128..).zip(lines) {
        inputs.push(LineInput {
            id: LineId::from_u128(n),
            variant_id,
            quantity: Quantity::new(units)?,
        });
    }
    let codes = codes
        .iter()
        .map(|c| DiscountCode::parse(c))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(CartInput {
        currency: EUR,
        lines: inputs,
        codes,
        shipping: Some(shipping.clone()),
    })
}

/// `-12.50 EUR` for a discount, or an empty string for none.
fn minus(amount: Money) -> String {
    if amount.is_zero() {
        String::new()
    } else {
        format!("-{amount}")
    }
}

/// A left label and a right-aligned amount on one receipt line.
fn row(indent: usize, label: &str, amount: &str) {
    let pad = " ".repeat(indent);
    let room = WIDTH.saturating_sub(indent + amount.chars().count() + 1);
    println!("{pad}{label:<room$} {amount}");
}

fn receipt(title: &str, priced: &PricedCart, catalog: &CatalogSnapshot, promotions: &PromotionSet) {
    println!("{}", "═".repeat(WIDTH));
    println!("{title}");
    println!("{}", "─".repeat(WIDTH));
    for line in &priced.lines {
        let was = line
            .compare_at_price
            .map(|was| format!(" (was {})", was.amount_string()))
            .unwrap_or_default();
        let label = format!(
            "{} × {}{was} @ {}",
            line.quantity,
            catalog.variant(line.variant_id).map_or("?", |v| &*v.name),
            line.unit_price.amount_string()
        );
        row(0, &label, &line.subtotal.to_string());
        for discount in &line.discounts {
            row(
                4,
                priced.label_of(discount.promotion_id).unwrap_or("discount"),
                &minus(discount.amount),
            );
        }
    }
    println!("{}", "─".repeat(WIDTH));
    row(0, "Subtotal", &priced.subtotal.to_string());
    if !priced.discount_total.is_zero() {
        row(0, "Discounts", &minus(priced.discount_total));
    }
    if let Some(shipping) = &priced.shipping {
        let note = if shipping.price.is_zero() {
            " (free from 60.00)"
        } else if !shipping.discount.is_zero() {
            " (free by promotion)"
        } else {
            ""
        };
        let label = format!("Shipping: {}{note}", shipping.name);
        row(0, &label, &shipping.total.to_string());
    }
    if priced.prices_include_tax {
        row(0, "Total", &priced.total.to_string());
        row(2, "of which VAT", &priced.tax_total.to_string());
    } else {
        row(0, "Tax", &priced.tax_total.to_string());
        row(0, "Total", &priced.total.to_string());
    }

    println!();
    println!("Promotions, in evaluation order:");
    for trace in &priced.promotions {
        let code = trace
            .code
            .as_ref()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        match &trace.outcome {
            Outcome::Applied { amount } => {
                println!("  ✓ {}{code}: applied, {}", trace.label, minus(*amount));
            }
            Outcome::NotApplied(reason) => {
                let mut why = reason.to_string();
                if let NotApplied::NotCombinable { beaten_by } = reason {
                    let names: Vec<&str> = beaten_by
                        .iter()
                        .filter_map(|id| promotions.get(*id).map(Promotion::name))
                        .collect();
                    why = format!("{why} ({})", names.join(" + "));
                }
                println!("  ✗ {}{code}: {why}", trace.label);
            }
        }
    }
    if !priced.unknown_codes.is_empty() {
        let codes: Vec<&str> = priced.unknown_codes.iter().map(|c| c.as_str()).collect();
        println!("  ? unknown code(s): {}", codes.join(", "));
    }
    println!();
}

fn main() -> Result<()> {
    let (catalog, categories, p) = catalog()?;
    let promotions = promotions(&categories)?;
    let shipping = ShippingMethod::new("standard", "Standard", eur("4.90")?, Some(eur("60.00")?))?;
    let vat = SingleRateTax::new(Decimal::new(20, 2), true)?;
    let now: DateTime<Utc> = "2026-03-10T12:00:00Z".parse()?;
    let ctx = PricingContext::new(now, &vat);

    let carts = [
        (
            "1. Jeans and a tee, code SAVE10: the exclusive 25% gives more",
            cart(&[(p.jeans, 1), (p.tee, 1)], &["SAVE10"], &shipping)?,
        ),
        (
            "2. Three pairs of socks and a mug: one pair free, free shipping",
            cart(&[(p.socks, 3), (p.mug, 1)], &[], &shipping)?,
        ),
        (
            "3. One tee, codes \"save10\" and \"WELCOME5\": small cart, paid shipping",
            cart(&[(p.tee, 1)], &["save10", "WELCOME5"], &shipping)?,
        ),
        (
            "4. Nine pairs of socks and a tee, code SAVE10: the stack wins",
            cart(&[(p.socks, 9), (p.tee, 1)], &["SAVE10"], &shipping)?,
        ),
    ];

    println!("Prices include 20% VAT; promotions are checked at {now}.");
    println!();
    for (title, cart) in &carts {
        let priced = price(cart, &catalog, &promotions, &ctx)?;
        receipt(title, &priced, &catalog, &promotions);
    }
    Ok(())
}
