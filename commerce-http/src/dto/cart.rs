//! The cart on the wire: the priced cart every cart call answers, and the
//! request bodies of the cart routes. Built from core's
//! [`CartView`]; nothing here decides a
//! price, a discount or an issue.

use commerce_core::cart::CartToken;
use commerce_core::money::Money;
use commerce_core::pricing::{NotApplied, Outcome, PricedCart, PricedShipping};
use commerce_core::service::{CartIssue, CartView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One discount on a line.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineDiscountBody {
    /// The promotion that gave it.
    pub promotion_id: Uuid,
    /// The promotion's label.
    pub label: String,
    /// Taken off this line.
    #[schema(value_type = super::MoneySchema)]
    pub amount: Money,
}

/// A priced cart line.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartLineBody {
    /// The line (what `PATCH`/`DELETE /cart/items/{line_id}` name).
    pub id: Uuid,
    /// Its variant.
    pub variant_id: Uuid,
    /// The variant's product.
    pub product_id: Uuid,
    /// The variant's SKU.
    pub sku: String,
    /// The product's name with the variant's attributes.
    pub name: String,
    /// Units, 1 to 999.
    pub quantity: u32,
    /// The price of one unit now (what an order keeps).
    #[schema(value_type = super::MoneySchema)]
    pub unit_price: Money,
    /// The compare-at ("was") price of one unit, when the variant is on offer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::MoneySchema>)]
    pub compare_at_price: Option<Money>,
    /// `unit_price × quantity`.
    #[schema(value_type = super::MoneySchema)]
    pub subtotal: Money,
    /// Every discount the line gets; across lines they add up to the cart's `discount_total`.
    pub discounts: Vec<LineDiscountBody>,
    /// `subtotal` less the line's discounts.
    #[schema(value_type = super::MoneySchema)]
    pub total: Money,
}

/// The cart's shipping method and its cost.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartShippingBody {
    /// The method's code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its price for this cart (zero once `free_over` is reached).
    #[schema(value_type = super::MoneySchema)]
    pub price: Money,
    /// Taken off by a free-shipping promotion.
    #[schema(value_type = super::MoneySchema)]
    pub discount: Money,
    /// `price - discount`: the cart's `shipping_total`.
    #[schema(value_type = super::MoneySchema)]
    pub total: Money,
}

impl From<&PricedShipping> for CartShippingBody {
    fn from(s: &PricedShipping) -> Self {
        CartShippingBody {
            code: s.code.clone(),
            name: s.name.clone(),
            price: s.price,
            discount: s.discount,
            total: s.total,
        }
    }
}

/// A promotion the cart was priced with: applied, or why not.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartPromotionBody {
    /// The promotion.
    pub id: Uuid,
    /// Its label.
    pub label: String,
    /// Its code, for a code the cart entered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The discount it gave (lines and shipping); zero when not applied.
    #[schema(value_type = super::MoneySchema)]
    pub amount: Money,
    /// Whether it applied.
    pub applied: bool,
    /// Why not, as a stable code (`min_subtotal`, `expired`, `usage_exhausted`,
    /// `not_combinable`, ...); `null` when applied.
    pub reason: Option<String>,
    /// The reason in words (`needs a subtotal of 50.00 USD, cart has 20.00 USD`); `null` when applied.
    pub detail: Option<String>,
}

/// Something that blocks checkout.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartIssueBody {
    /// `product_unavailable` (withdrawn: the line is not priced),
    /// `insufficient_stock` (fewer available than the line asks),
    /// `price_changed` (the unit price changed since the line was added or last changed).
    pub code: String,
    /// The line.
    pub line_id: Option<Uuid>,
    /// What happened, in words.
    pub detail: String,
}

/// A cart, priced now.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartBody {
    /// The cart.
    pub id: Uuid,
    /// A guest's cart token (also in the `X-Cart-Token` header); absent for an account's cart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// ISO 4217.
    pub currency: String,
    /// The priced lines, in the order added. A line whose product was
    /// withdrawn is not priced: it is only named in `issues`.
    pub lines: Vec<CartLineBody>,
    /// Codes entered (upper case).
    pub discount_codes: Vec<String>,
    /// Sum of the lines' subtotals.
    #[schema(value_type = super::MoneySchema)]
    pub subtotal: Money,
    /// Sum of every line discount.
    #[schema(value_type = super::MoneySchema)]
    pub discount_total: Money,
    /// The shipping method the cart uses (the one chosen, else the cheapest); `null` when none is offered.
    pub shipping_method: Option<CartShippingBody>,
    /// What shipping costs.
    #[schema(value_type = super::MoneySchema)]
    pub shipping_total: Money,
    /// Tax: added with net prices, already included with gross prices.
    #[schema(value_type = super::MoneySchema)]
    pub tax_total: Money,
    /// `true` when prices include tax (`tax_total` is then not added to `total`).
    pub prices_include_tax: bool,
    /// What the buyer pays: `subtotal - discount_total + shipping_total` (`+ tax_total` with net prices).
    #[schema(value_type = super::MoneySchema)]
    pub total: Money,
    /// Every promotion considered, applied or why not (code promotions only once their code is entered).
    pub promotions: Vec<CartPromotionBody>,
    /// What blocks checkout.
    pub issues: Vec<CartIssueBody>,
}

fn reason_code(reason: &NotApplied) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "not_applied".to_owned())
}

fn promotions(priced: &PricedCart) -> Vec<CartPromotionBody> {
    let zero = Money::zero(priced.currency);
    priced
        .shopper_trace()
        .map(|t| {
            let (amount, applied, reason, detail) = match &t.outcome {
                Outcome::Applied { amount } => (*amount, true, None, None),
                Outcome::NotApplied(why) => {
                    (zero, false, Some(reason_code(why)), Some(why.to_string()))
                }
            };
            CartPromotionBody {
                id: t.promotion_id.as_uuid(),
                label: t.label.to_string(),
                code: t.code.as_ref().map(|c| c.as_str().to_owned()),
                amount,
                applied,
                reason,
                detail,
            }
        })
        .collect()
}

fn issue(view: &CartView, issue: &CartIssue) -> CartIssueBody {
    let what = |line| {
        view.label(line).map_or_else(
            || "an item".to_owned(),
            |l| format!("{} (SKU {})", l.name, l.sku),
        )
    };
    let quantity = |line| {
        view.cart
            .lines
            .iter()
            .find(|l| l.id == line)
            .map_or(0, |l| l.quantity.get())
    };
    let (code, line_id, detail) = match issue {
        CartIssue::ProductUnavailable { line_id } => (
            "product_unavailable",
            *line_id,
            format!(
                "{} is no longer sold; remove it to check out",
                what(*line_id)
            ),
        ),
        CartIssue::InsufficientStock { line_id, available } => (
            "insufficient_stock",
            *line_id,
            format!(
                "{}: {available} available, the cart asks for {}",
                what(*line_id),
                quantity(*line_id)
            ),
        ),
        CartIssue::PriceChanged { line_id, was, now } => (
            "price_changed",
            *line_id,
            format!("{} now costs {now} (was {was})", what(*line_id)),
        ),
    };
    CartIssueBody {
        code: code.to_owned(),
        line_id: Some(line_id.as_uuid()),
        detail,
    }
}

impl CartBody {
    /// The answer for a cart view; `token` for a guest's cart.
    pub fn new(view: &CartView, token: Option<&CartToken>) -> Self {
        let p = &view.priced;
        let lines = p
            .lines
            .iter()
            .map(|l| {
                let label = view.label(l.line_id);
                CartLineBody {
                    id: l.line_id.as_uuid(),
                    variant_id: l.variant_id.as_uuid(),
                    product_id: l.product_id.as_uuid(),
                    sku: label.map(|x| x.sku.clone()).unwrap_or_default(),
                    name: label.map(|x| x.name.clone()).unwrap_or_default(),
                    quantity: l.quantity.get(),
                    unit_price: l.unit_price,
                    compare_at_price: l.compare_at_price,
                    subtotal: l.subtotal,
                    discounts: l
                        .discounts
                        .iter()
                        .map(|d| LineDiscountBody {
                            promotion_id: d.promotion_id.as_uuid(),
                            label: p.label_of(d.promotion_id).unwrap_or_default().to_owned(),
                            amount: d.amount,
                        })
                        .collect(),
                    total: l.total,
                }
            })
            .collect();
        CartBody {
            id: view.cart.id.as_uuid(),
            token: token.map(|t| t.as_str().to_owned()),
            currency: p.currency.code().to_owned(),
            lines,
            discount_codes: view
                .cart
                .codes
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            subtotal: p.subtotal,
            discount_total: p.discount_total,
            shipping_method: p.shipping.as_ref().map(CartShippingBody::from),
            shipping_total: p.shipping_total,
            tax_total: p.tax_total,
            prices_include_tax: p.prices_include_tax,
            total: p.total,
            promotions: promotions(p),
            issues: view.issues.iter().map(|i| issue(view, i)).collect(),
        }
    }
}

/// `POST /api/v1/cart/items`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    /// The variant (a product's id is refused).
    pub variant_id: Uuid,
    /// Units to add, 1 to 999; the line's total stays within 999 and what is available.
    pub quantity: u32,
}

/// `PATCH /api/v1/cart/items/{line_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuantity {
    /// The line's new quantity, 0 to 999; 0 removes the line.
    pub quantity: u32,
}

/// `POST /api/v1/cart/discount-codes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterCode {
    /// The code, any case (`save10` is `SAVE10`).
    pub code: String,
}
