//! Pricing: one pure, deterministic function from a cart, a catalog snapshot,
//! the shop's promotions and a context to a [`PricedCart`] with every amount
//! explained.
//!
//! # How promotions combine
//!
//! 1. A promotion whose gates or conditions fail is dropped; the trace says why.
//! 2. The *combinable* ones stack: in evaluation order (priority, highest
//!    first, then id), each is computed on the line amounts the ones before it
//!    left; a line never goes below zero.
//! 3. Each *non-combinable* one is computed alone, on the undiscounted lines.
//! 4. The outcome with the largest total discount (lines plus shipping) wins.
//!    Ties go to the stack, then to the higher priority, then to the lower id.
//!    The losers are traced as [`NotApplied::NotCombinable`].
//!
//! Each order-level discount is computed exactly, rounded once (with the
//! context's [`RoundingPolicy`], half-up by default), and split across its
//! lines by largest remainder, so line discounts always add up to the total.
//! Conditions (`min_subtotal`, `min_quantity`, tiers) are measured on the
//! lines the action applies to, before any discount. Shipping's `free_over`
//! is compared with the discounted subtotal. Tax is computed on discounted
//! amounts, once per rate, and split the same way. See `docs/pricing.md`.
//!
//! ```
//! use chrono::Utc;
//! use commerce_core::catalog::{CatalogSnapshot, CategoryTree, Sku, VariantPrice, VariantSnapshot};
//! use commerce_core::ids::{LineId, ProductId, PromotionId, VariantId};
//! use commerce_core::money::{Currency, Money};
//! use commerce_core::pricing::{price, CartInput, LineInput, PricingContext, PromotionSet};
//! use commerce_core::promotion::{Promotion, PromotionSpec};
//! use commerce_core::tax::SingleRateTax;
//! use commerce_core::Quantity;
//!
//! let mug = VariantId::new();
//! let mut catalog = CatalogSnapshot::new(CategoryTree::new());
//! catalog.insert(VariantSnapshot {
//!     id: mug,
//!     product_id: ProductId::new(),
//!     category_id: None,
//!     sku: Sku::parse("MUG-1")?,
//!     name: "Mug".into(),
//!     price: VariantPrice::fixed(Money::parse("33.33", Currency::USD)?)?,
//! });
//! let ten_off: PromotionSpec = serde_json::from_str(
//!     r#"{"name": "10% off", "action": {"type": "percentage", "percent": "10"}}"#,
//! )?;
//! let promotions = PromotionSet::new(vec![Promotion::new(PromotionId::new(), ten_off)?])?;
//! let cart = CartInput {
//!     currency: Currency::USD,
//!     lines: vec![LineInput { id: LineId::new(), variant_id: mug, quantity: Quantity::new(3)? }],
//!     codes: vec![],
//!     shipping: None,
//! };
//! let tax = SingleRateTax::none();
//! let priced = price(&cart, &catalog, &promotions, &PricingContext::new(Utc::now(), &tax))?;
//! assert_eq!(priced.subtotal.amount_string(), "99.99");
//! assert_eq!(priced.discount_total.amount_string(), "10.00");
//! assert_eq!(priced.total.amount_string(), "89.99");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod engine;
mod result;
mod set;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

pub use engine::price;
pub use result::{
    LineDiscount, NotApplied, Outcome, PricedCart, PricedLine, PricedShipping, PromotionTrace,
};
pub use set::{DuplicatePromotion, PromotionSet};

use crate::ids::{CustomerId, LineId, PromotionId, VariantId};
use crate::money::{Currency, MoneyError, RoundingPolicy};
use crate::promotion::DiscountCode;
use crate::quantity::Quantity;
use crate::shipping::ShippingMethod;
use crate::tax::TaxPolicy;

/// The cart to price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartInput {
    /// The currency every price must be in.
    pub currency: Currency,
    /// The lines; each a variant and a quantity (prices come from the catalog,
    /// never from the client).
    pub lines: Vec<LineInput>,
    /// Codes the buyer entered.
    pub codes: Vec<DiscountCode>,
    /// The chosen shipping method, if the cart ships.
    pub shipping: Option<ShippingMethod>,
}

/// One cart line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInput {
    /// The line.
    pub id: LineId,
    /// Its variant.
    pub variant_id: VariantId,
    /// Units.
    pub quantity: Quantity,
}

/// How often a promotion has been used: by live orders in all, and by this
/// customer. Counted by the store; pricing only reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Live orders holding the promotion.
    pub total: u32,
    /// Live orders of the current customer holding it.
    pub by_customer: u32,
}

/// Usage counts per promotion; a promotion that is absent has never been used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageCounts(BTreeMap<PromotionId, Usage>);

impl UsageCounts {
    /// No usage at all.
    pub const fn new() -> Self {
        UsageCounts(BTreeMap::new())
    }

    /// Sets a promotion's counts.
    pub fn insert(&mut self, promotion: PromotionId, usage: Usage) {
        self.0.insert(promotion, usage);
    }

    /// A promotion's counts.
    pub fn get(&self, promotion: PromotionId) -> Usage {
        self.0.get(&promotion).copied().unwrap_or_default()
    }
}

static NO_USAGE: UsageCounts = UsageCounts::new();

/// Everything pricing reads besides the cart, the catalog and the promotions.
#[derive(Debug, Clone, Copy)]
pub struct PricingContext<'a> {
    /// The instant promotion windows are checked against.
    pub now: DateTime<Utc>,
    /// The signed-in customer, if any.
    pub customer: Option<CustomerId>,
    /// `true` when the signed-in customer has no earlier order.
    pub first_order: bool,
    /// Promotion usage.
    pub usage: &'a UsageCounts,
    /// The tax policy.
    pub tax: &'a dyn TaxPolicy,
    /// How discounts and tax are rounded (half-up by default).
    pub rounding: RoundingPolicy,
}

impl<'a> PricingContext<'a> {
    /// A guest's context at `now`: no usage, half-up rounding.
    pub fn new(now: DateTime<Utc>, tax: &'a dyn TaxPolicy) -> Self {
        PricingContext {
            now,
            customer: None,
            first_order: false,
            usage: &NO_USAGE,
            tax,
            rounding: RoundingPolicy::default(),
        }
    }

    /// The same context for a signed-in customer.
    #[must_use]
    pub fn for_customer(mut self, customer: CustomerId, first_order: bool) -> Self {
        self.customer = Some(customer);
        self.first_order = first_order;
        self
    }

    /// The same context with usage counts.
    #[must_use]
    pub fn with_usage(mut self, usage: &'a UsageCounts) -> Self {
        self.usage = usage;
        self
    }
}

/// Why a cart could not be priced. Promotions that do not apply are not
/// errors; they are explained in the trace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PricingError {
    /// A line names a variant the catalog snapshot does not have.
    #[error("line {line_id}: unknown variant {variant_id}")]
    UnknownVariant {
        /// The line.
        line_id: LineId,
        /// The variant.
        variant_id: VariantId,
    },
    /// Two lines share an id.
    #[error("line {0} appears twice")]
    DuplicateLine(LineId),
    /// A price or the shipping method is in another currency than the cart.
    #[error("the cart is in {expected} but {what} is in {found}")]
    CurrencyMismatch {
        /// The cart's currency.
        expected: Currency,
        /// The other currency.
        found: Currency,
        /// What was in it.
        what: &'static str,
    },
    /// The tax policy returned a rate outside `0..=1`.
    #[error("tax rate {0} is outside 0..=1")]
    InvalidTaxRate(rust_decimal::Decimal),
    /// An amount left the representable range.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

#[cfg(test)]
mod tests;
