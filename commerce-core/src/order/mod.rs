//! Orders: immutable snapshots of what was sold, at what price, to whom
//! (invariant I6), and their lifecycle.

mod status;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use status::{InvalidTransition, OrderEvent, OrderStatus};

use crate::address::Address;
use crate::catalog::Sku;
use crate::ids::{
    CustomerId, LineId, OrderId, PaymentId, ProductId, PromotionId, StoreId, VariantId,
};
use crate::money::{Currency, Money, MoneyError};
use crate::promotion::DiscountCode;
use crate::quantity::Quantity;

/// One line as sold: copied from the catalog and the priced cart at checkout;
/// later catalog or promotion edits never change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The cart line it came from.
    pub id: LineId,
    /// The variant.
    pub variant_id: VariantId,
    /// Its product.
    pub product_id: ProductId,
    /// The seller's store.
    pub store_id: StoreId,
    /// SKU at the time.
    pub sku: Sku,
    /// Name at the time.
    pub name: String,
    /// Units.
    pub quantity: Quantity,
    /// Unit price at the time.
    pub unit_price: Money,
    /// `unit_price × quantity`.
    pub subtotal: Money,
    /// Each discount, with its promotion and label.
    pub discounts: Vec<OrderDiscount>,
    /// Sum of discounts.
    pub discount_total: Money,
    /// The line's tax.
    pub tax: Money,
    /// `subtotal - discount_total`.
    pub total: Money,
}

/// One promotion's discount on one order line, as it was at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDiscount {
    /// The promotion.
    pub promotion_id: PromotionId,
    /// Its label at the time.
    pub label: String,
    /// The amount taken off the line.
    pub amount: Money,
}

/// A promotion an order holds (its usage is reserved, then committed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedPromotion {
    /// The promotion.
    pub promotion_id: PromotionId,
    /// Its label at the time.
    pub label: String,
    /// The code entered, if any.
    pub code: Option<DiscountCode>,
    /// What it took off.
    pub amount: Money,
}

/// Shipping as chosen at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingSnapshot {
    /// Method code.
    pub code: String,
    /// Method name.
    pub name: String,
    /// What it cost before promotions.
    pub price: Money,
    /// Taken off by promotions.
    pub discount: Money,
    /// `price - discount`.
    pub total: Money,
}

/// A refund given on an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecord {
    /// The amount.
    pub amount: Money,
    /// The payment it goes back to.
    pub payment_id: PaymentId,
    /// Why (`cancelled`, `admin`, ...).
    pub reason: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order.
    pub id: OrderId,
    /// A short human number, unique per shop, given by the store at placement.
    pub number: u64,
    /// The account, or `None` for a guest.
    pub customer_id: Option<CustomerId>,
    /// Where mails go.
    pub email: String,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// Currency of every amount.
    pub currency: Currency,
    /// The lines as sold.
    pub lines: Vec<OrderLine>,
    /// Sum of line subtotals.
    pub subtotal: Money,
    /// Sum of line discounts.
    pub discount_total: Money,
    /// Shipping after promotions.
    pub shipping_total: Money,
    /// Tax (added, or included when `prices_include_tax`).
    pub tax_total: Money,
    /// Whether prices included tax.
    pub prices_include_tax: bool,
    /// What the buyer pays.
    pub total: Money,
    /// Shipping as chosen.
    pub shipping: Option<ShippingSnapshot>,
    /// The address as given.
    pub shipping_address: Option<Address>,
    /// Promotions held.
    pub promotions: Vec<AppliedPromotion>,
    /// Until when stock is held for payment.
    pub reservation_expires_at: DateTime<Utc>,
    /// The payment that paid it.
    pub paid_by: Option<PaymentId>,
    /// What was captured.
    pub captured: Money,
    /// Refunds given, in order.
    pub refunds: Vec<RefundRecord>,
    /// The carrier's tracking reference.
    pub tracking: Option<String>,
    /// Placed.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// Sum of refunds.
    ///
    /// # Errors
    /// [`MoneyError`] on overflow (impossible when I7 holds).
    pub fn refunded(&self) -> Result<Money, MoneyError> {
        self.refunds
            .iter()
            .try_fold(Money::zero(self.currency), |acc, r| {
                acc.checked_add(r.amount)
            })
    }

    /// What can still be refunded: captured minus refunded (I7).
    ///
    /// # Errors
    /// [`MoneyError`] on overflow.
    pub fn refundable(&self) -> Result<Money, MoneyError> {
        self.captured.checked_sub(self.refunded()?)
    }

    /// Units per variant, summed over lines.
    pub fn units(&self) -> Vec<(VariantId, u32)> {
        let mut out: Vec<(VariantId, u32)> = Vec::new();
        for line in &self.lines {
            match out.iter_mut().find(|(v, _)| *v == line.variant_id) {
                Some((_, n)) => *n += line.quantity.get(),
                None => out.push((line.variant_id, line.quantity.get())),
            }
        }
        out
    }
}
