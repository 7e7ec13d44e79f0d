//! What pricing returns: the priced cart and its explanation.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{LineId, ProductId, PromotionId, VariantId};
use crate::money::{Currency, Money};
use crate::promotion::DiscountCode;
use crate::quantity::Quantity;

/// A cart with every amount computed and explained.
///
/// These always hold exactly:
/// - `discount_total` is the sum of every line's discounts;
/// - with net prices, `total == subtotal - discount_total + shipping_total + tax_total`;
/// - with gross prices (`prices_include_tax`), `tax_total` is the tax already
///   inside the prices and `total == subtotal - discount_total + shipping_total`;
/// - no amount is negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PricedCart {
    /// The cart's currency.
    pub currency: Currency,
    /// The lines, in cart order.
    pub lines: Vec<PricedLine>,
    /// Sum of line subtotals (unit price × quantity).
    pub subtotal: Money,
    /// Sum of all line discounts.
    pub discount_total: Money,
    /// The chosen shipping method and its cost, when the cart has one.
    pub shipping: Option<PricedShipping>,
    /// What shipping costs after thresholds and promotions.
    pub shipping_total: Money,
    /// Tax: added on top with net prices, included with gross prices.
    pub tax_total: Money,
    /// `true` when prices include tax (then `tax_total` is not added).
    pub prices_include_tax: bool,
    /// What the buyer pays.
    pub total: Money,
    /// Every promotion considered: applied (and how much) or why not, in
    /// evaluation order. Use [`PricedCart::shopper_trace`] for what a buyer may see.
    pub promotions: Vec<PromotionTrace>,
    /// Entered codes that match no promotion.
    pub unknown_codes: Vec<DiscountCode>,
}

impl PricedCart {
    /// The promotions that applied.
    pub fn applied(&self) -> impl Iterator<Item = &PromotionTrace> {
        self.promotions.iter().filter(|t| t.outcome.is_applied())
    }

    /// The trace without code promotions whose code was not entered, so that a
    /// shopper's cart never reveals codes (or the names of private offers).
    pub fn shopper_trace(&self) -> impl Iterator<Item = &PromotionTrace> {
        self.promotions
            .iter()
            .filter(|t| !matches!(t.outcome, Outcome::NotApplied(NotApplied::CodeNotEntered)))
    }

    /// The label of a promotion in this result (for showing line discounts).
    pub fn label_of(&self, promotion: PromotionId) -> Option<&str> {
        self.promotions
            .iter()
            .find(|t| t.promotion_id == promotion)
            .map(|t| &*t.label)
    }

    /// The total discount a promotion gave (lines and shipping), zero if none.
    pub fn discount_of(&self, promotion: PromotionId) -> Money {
        self.promotions
            .iter()
            .find(|t| t.promotion_id == promotion)
            .and_then(|t| match t.outcome {
                Outcome::Applied { amount } => Some(amount),
                Outcome::NotApplied(_) => None,
            })
            .unwrap_or(Money::zero(self.currency))
    }
}

/// One priced line: amounts and ids. Names and SKUs are in the catalog
/// snapshot the cart was priced with (`catalog.variant(line.variant_id)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PricedLine {
    /// The cart line.
    pub line_id: LineId,
    /// Its variant.
    pub variant_id: VariantId,
    /// The variant's product.
    pub product_id: ProductId,
    /// Units.
    pub quantity: Quantity,
    /// The selling price of one unit (what an order keeps).
    pub unit_price: Money,
    /// The compare-at ("was") price, for display.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare_at_price: Option<Money>,
    /// `unit_price × quantity`.
    pub subtotal: Money,
    /// Each discount this line received, in the order applied.
    pub discounts: Vec<LineDiscount>,
    /// Sum of `discounts`.
    pub discount_total: Money,
    /// `subtotal - discount_total`: what the line costs before added tax.
    pub total: Money,
    /// This line's share of the tax (included in `total` with gross prices).
    pub tax: Money,
}

impl PricedLine {
    /// What each unit of the line costs after discounts: the line's discount
    /// spread over its units by largest remainder, the earlier units taking
    /// the extra minor unit. At most two groups: `(units, price per unit)`.
    /// Refunds of single units use this split.
    pub fn unit_totals(&self) -> Vec<(u32, Money)> {
        let q = i64::from(self.quantity.get());
        let total = self.total.minor();
        let base = total.div_euclid(q);
        let extra = total.rem_euclid(q);
        let currency = self.total.currency();
        let mut groups = Vec::with_capacity(2);
        // `extra` is below `q` <= 999, so it fits in u32.
        let extra_units = u32::try_from(extra).unwrap_or(0);
        if extra_units > 0 {
            groups.push((extra_units, Money::from_minor(base + 1, currency)));
        }
        let rest = self.quantity.get() - extra_units;
        if rest > 0 {
            groups.push((rest, Money::from_minor(base, currency)));
        }
        groups
    }
}

/// One promotion's discount on one line. The promotion's label is in the
/// trace, once: [`PricedCart::label_of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LineDiscount {
    /// The promotion.
    pub promotion_id: PromotionId,
    /// The amount taken off this line.
    pub amount: Money,
}

/// The shipping of a priced cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PricedShipping {
    /// The method's code.
    pub code: String,
    /// The method's name.
    pub name: String,
    /// The method's price for this cart (zero when `free_over` is reached).
    pub price: Money,
    /// Taken off by a free-shipping promotion.
    pub discount: Money,
    /// `price - discount`.
    pub total: Money,
    /// Shipping's share of the tax.
    pub tax: Money,
}

/// One promotion in the explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromotionTrace {
    /// The promotion.
    pub promotion_id: PromotionId,
    /// Its label.
    pub label: Arc<str>,
    /// Its code, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<DiscountCode>,
    /// Applied, or why not.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What happened to a promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// It applied and took this much off (lines and shipping).
    Applied {
        /// The discount it gave.
        amount: Money,
    },
    /// It did not apply.
    NotApplied(NotApplied),
}

impl Outcome {
    /// `true` for [`Outcome::Applied`].
    pub fn is_applied(&self) -> bool {
        matches!(self, Outcome::Applied { .. })
    }
}

/// Why a promotion did not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotApplied {
    /// Its window has not opened.
    NotStarted {
        /// When it opens.
        starts_at: DateTime<Utc>,
    },
    /// Its window has closed.
    Expired {
        /// When it closed.
        ended_at: DateTime<Utc>,
    },
    /// It needs a code and the cart did not enter it.
    CodeNotEntered,
    /// Its amounts are in another currency than the cart.
    CurrencyNotSupported {
        /// The promotion's currency.
        currency: Currency,
    },
    /// It has been used `limit` times.
    UsageExhausted {
        /// The limit.
        limit: u32,
    },
    /// This customer has used it `limit` times.
    CustomerLimitReached {
        /// The limit.
        limit: u32,
    },
    /// Only for a signed-in customer's first order.
    NotFirstOrder,
    /// No line is among the products or categories it applies to.
    NoEligibleLines,
    /// The subtotal of its lines is below the minimum (or the lowest tier).
    MinSubtotal {
        /// The minimum.
        needed: Money,
        /// The subtotal.
        have: Money,
    },
    /// Too few units.
    MinQuantity {
        /// The minimum.
        needed: u32,
        /// The units in the cart's qualifying lines.
        have: u32,
    },
    /// The cart holds none of the products or categories it requires.
    RequiredItemsMissing,
    /// Buy X get Y: fewer than `buy + get` qualifying units.
    NotEnoughUnits {
        /// Units needed for one group.
        needed: u32,
        /// Qualifying units in the cart.
        have: u32,
    },
    /// Free shipping, but the cart has no shipping cost to take off.
    NoShippingCost,
    /// Its lines cost nothing, or promotions applied before it already took everything.
    NothingToDiscount,
    /// A better outcome excludes it: the promotions that applied instead.
    NotCombinable {
        /// The promotions that applied.
        beaten_by: Arc<[PromotionId]>,
    },
}

impl fmt::Display for NotApplied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotApplied::NotStarted { starts_at } => {
                write!(f, "starts at {}", starts_at.to_rfc3339())
            }
            NotApplied::Expired { ended_at } => write!(f, "ended at {}", ended_at.to_rfc3339()),
            NotApplied::CodeNotEntered => f.write_str("needs its code"),
            NotApplied::CurrencyNotSupported { currency } => write!(f, "only for {currency} carts"),
            NotApplied::UsageExhausted { limit } => write!(f, "used up (limit {limit})"),
            NotApplied::CustomerLimitReached { limit } => {
                write!(f, "already used {limit} time(s) by this customer")
            }
            NotApplied::NotFirstOrder => f.write_str("only for a first order"),
            NotApplied::NoEligibleLines => f.write_str("no item in the cart qualifies"),
            NotApplied::MinSubtotal { needed, have } => {
                write!(f, "needs a subtotal of {needed}, cart has {have}")
            }
            NotApplied::MinQuantity { needed, have } => {
                write!(f, "needs {needed} item(s), cart has {have}")
            }
            NotApplied::RequiredItemsMissing => f.write_str("the cart lacks a required item"),
            NotApplied::NotEnoughUnits { needed, have } => {
                write!(f, "needs {needed} qualifying item(s), cart has {have}")
            }
            NotApplied::NoShippingCost => f.write_str("no shipping cost to take off"),
            NotApplied::NothingToDiscount => f.write_str("nothing left to discount on its items"),
            NotApplied::NotCombinable { .. } => f.write_str("does not combine with a better offer"),
        }
    }
}
