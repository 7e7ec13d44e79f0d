//! Checkout and orders on the wire: the checkout request, an order as its
//! buyer (or an admin) sees it, and as a seller sees it.

use chrono::{DateTime, Utc};
use commerce_core::address::{Address, AddressInput};
use commerce_core::money::Money;
use commerce_core::order::{Order, OrderLine, OrderStatus};
use commerce_core::payment::{Payment, PaymentStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::MoneySchema;

/// A postal address (`POST /checkout`'s `shipping_address`, and an order's).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    /// Recipient.
    pub full_name: String,
    /// Street and number.
    pub line1: String,
    /// More.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// State, province or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl AddressBody {
    /// What core checks.
    pub fn input(&self) -> AddressInput {
        AddressInput {
            full_name: self.full_name.clone(),
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
            phone: self.phone.clone(),
        }
    }
}

impl From<&Address> for AddressBody {
    fn from(a: &Address) -> Self {
        let a = a.to_input();
        AddressBody {
            full_name: a.full_name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
            phone: a.phone,
        }
    }
}

/// `POST /api/v1/checkout`. Prices come from the cart, never from here.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    /// An address of the signed-in buyer's address book.
    #[serde(default)]
    pub shipping_address_id: Option<Uuid>,
    /// An address given in full (instead of `shipping_address_id`).
    #[serde(default)]
    pub shipping_address: Option<AddressBody>,
    /// The code of an offered shipping method; default: the cart's choice,
    /// else the cheapest.
    #[serde(default)]
    pub shipping_method: Option<String>,
    /// Where the order's mails go: required for guests; a signed-in
    /// buyer's account email when absent.
    #[serde(default)]
    pub email: Option<String>,
}

/// One discount on an order line, as it was at checkout.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineDiscountBody {
    /// The promotion.
    pub promotion_id: Uuid,
    /// Its label at the time.
    pub label: String,
    /// Taken off the line.
    #[schema(value_type = MoneySchema)]
    pub amount: Money,
}

/// An order line: a snapshot taken at checkout that catalog and promotion
/// edits never change.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLineBody {
    /// The line.
    pub id: Uuid,
    /// The variant sold.
    pub variant_id: Uuid,
    /// Its product.
    pub product_id: Uuid,
    /// The seller's store.
    pub store_id: Uuid,
    /// SKU at the time.
    pub sku: String,
    /// Name at the time.
    pub name: String,
    /// Units.
    pub quantity: u32,
    /// Unit price at the time.
    #[schema(value_type = MoneySchema)]
    pub unit_price: Money,
    /// `unit_price × quantity`.
    #[schema(value_type = MoneySchema)]
    pub subtotal: Money,
    /// Every discount the line got.
    pub discounts: Vec<LineDiscountBody>,
    /// Their sum.
    #[schema(value_type = MoneySchema)]
    pub discount_total: Money,
    /// The line's tax.
    #[schema(value_type = MoneySchema)]
    pub tax: Money,
    /// `subtotal - discount_total`.
    #[schema(value_type = MoneySchema)]
    pub total: Money,
}

impl From<&OrderLine> for OrderLineBody {
    fn from(l: &OrderLine) -> Self {
        OrderLineBody {
            id: l.id.as_uuid(),
            variant_id: l.variant_id.as_uuid(),
            product_id: l.product_id.as_uuid(),
            store_id: l.store_id.as_uuid(),
            sku: l.sku.as_str().to_owned(),
            name: l.name.clone(),
            quantity: l.quantity.get(),
            unit_price: l.unit_price,
            subtotal: l.subtotal,
            discounts: l
                .discounts
                .iter()
                .map(|d| LineDiscountBody {
                    promotion_id: d.promotion_id.as_uuid(),
                    label: d.label.clone(),
                    amount: d.amount,
                })
                .collect(),
            discount_total: l.discount_total,
            tax: l.tax,
            total: l.total,
        }
    }
}

/// Shipping as chosen at checkout.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShippingBody {
    /// Method code.
    pub code: String,
    /// Method name.
    pub name: String,
    /// Its price before promotions.
    #[schema(value_type = MoneySchema)]
    pub price: Money,
    /// Taken off by promotions.
    #[schema(value_type = MoneySchema)]
    pub discount: Money,
    /// `price - discount`.
    #[schema(value_type = MoneySchema)]
    pub total: Money,
}

/// A promotion the order holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPromotionBody {
    /// The promotion.
    pub promotion_id: Uuid,
    /// Its label at the time.
    pub label: String,
    /// The code entered, if any.
    pub code: Option<String>,
    /// What it took off.
    #[schema(value_type = MoneySchema)]
    pub amount: Money,
}

/// A refund given on the order.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundBody {
    /// The amount.
    #[schema(value_type = MoneySchema)]
    pub amount: Money,
    /// The payment it goes back to.
    pub payment_id: Uuid,
    /// Why (`cancelled`, `admin`, ...).
    pub reason: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A payment of the order, in short (`GET /payments/{id}` has the rest).
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentSummary {
    /// The payment.
    pub id: Uuid,
    /// The gateway.
    pub gateway: String,
    /// `pending`, `succeeded`, `failed`, `mismatch`, `voided` or `refund_required`.
    #[schema(value_type = String)]
    pub status: PaymentStatus,
    /// What it asks for.
    #[schema(value_type = MoneySchema)]
    pub amount: Money,
    /// Started.
    pub created_at: DateTime<Utc>,
}

impl From<&Payment> for PaymentSummary {
    fn from(p: &Payment) -> Self {
        PaymentSummary {
            id: p.id.as_uuid(),
            gateway: p.gateway.clone(),
            status: p.status,
            amount: p.amount,
            created_at: p.created_at,
        }
    }
}

/// An order as its buyer (or an admin) sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderBody {
    /// The order.
    pub id: Uuid,
    /// A short number for people, unique in the shop.
    pub number: u64,
    /// `pending_payment`, `paid`, `shipped`, `delivered`, `cancelled`, `expired` or `refunded`.
    #[schema(value_type = String)]
    pub status: OrderStatus,
    /// Where the order's mails go.
    pub email: String,
    /// The buyer's account; `null` for a guest.
    pub customer_id: Option<Uuid>,
    /// The currency of every amount.
    pub currency: String,
    /// The lines as sold.
    pub lines: Vec<OrderLineBody>,
    /// Sum of the line subtotals.
    #[schema(value_type = MoneySchema)]
    pub subtotal: Money,
    /// Sum of the line discounts.
    #[schema(value_type = MoneySchema)]
    pub discount_total: Money,
    /// Shipping after promotions.
    #[schema(value_type = MoneySchema)]
    pub shipping_total: Money,
    /// Tax (included in the prices when `prices_include_tax`).
    #[schema(value_type = MoneySchema)]
    pub tax_total: Money,
    /// Whether prices included tax.
    pub prices_include_tax: bool,
    /// What the buyer pays.
    #[schema(value_type = MoneySchema)]
    pub total: Money,
    /// Shipping as chosen.
    pub shipping: Option<ShippingBody>,
    /// The address as given at checkout.
    pub shipping_address: Option<AddressBody>,
    /// Promotions the order holds.
    pub promotions: Vec<OrderPromotionBody>,
    /// Until when stock is held for payment (meaningful while `pending_payment`).
    pub reservation_expires_at: DateTime<Utc>,
    /// What was captured.
    #[schema(value_type = MoneySchema)]
    pub captured: Money,
    /// What was refunded, in all.
    #[schema(value_type = MoneySchema)]
    pub refunded: Money,
    /// Each refund.
    pub refunds: Vec<RefundBody>,
    /// The payments started for it, oldest first.
    pub payments: Vec<PaymentSummary>,
    /// The carrier's tracking reference, once shipped.
    pub tracking: Option<String>,
    /// Placed.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Guest orders only, and only in the checkout answer: the secret a guest
    /// sends as `X-Order-Token` to read, pay or cancel this order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_token: Option<String>,
}

impl OrderBody {
    /// An order with its payments.
    pub fn new(o: &Order, payments: &[Payment]) -> Self {
        OrderBody {
            id: o.id.as_uuid(),
            number: o.number,
            status: o.status,
            email: o.email.clone(),
            customer_id: o.customer_id.map(|c| c.as_uuid()),
            currency: o.currency.code().to_owned(),
            lines: o.lines.iter().map(OrderLineBody::from).collect(),
            subtotal: o.subtotal,
            discount_total: o.discount_total,
            shipping_total: o.shipping_total,
            tax_total: o.tax_total,
            prices_include_tax: o.prices_include_tax,
            total: o.total,
            shipping: o.shipping.as_ref().map(|s| ShippingBody {
                code: s.code.clone(),
                name: s.name.clone(),
                price: s.price,
                discount: s.discount,
                total: s.total,
            }),
            shipping_address: o.shipping_address.as_ref().map(AddressBody::from),
            promotions: o
                .promotions
                .iter()
                .map(|p| OrderPromotionBody {
                    promotion_id: p.promotion_id.as_uuid(),
                    label: p.label.clone(),
                    code: p.code.as_ref().map(|c| c.as_str().to_owned()),
                    amount: p.amount,
                })
                .collect(),
            reservation_expires_at: o.reservation_expires_at,
            captured: o.captured,
            refunded: o.refunded().unwrap_or(o.captured),
            refunds: o
                .refunds
                .iter()
                .map(|r| RefundBody {
                    amount: r.amount,
                    payment_id: r.payment_id.as_uuid(),
                    reason: r.reason.clone(),
                    created_at: r.created_at,
                })
                .collect(),
            payments: payments.iter().map(PaymentSummary::from).collect(),
            tracking: o.tracking.clone(),
            created_at: o.created_at,
            updated_at: o.updated_at,
            order_token: None,
        }
    }
}

/// A page of orders, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    /// The orders.
    pub items: Vec<OrderBody>,
    /// 1-based page.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Orders in all.
    pub total: u64,
}

/// An order as a seller sees it: only its own store's lines, where to ship
/// them, and where the order stands; never the buyer's email, the other
/// stores' lines, the order's totals or its payments.
#[derive(Debug, Serialize, ToSchema)]
pub struct SellerOrderBody {
    /// The order.
    pub id: Uuid,
    /// Its number.
    pub number: u64,
    /// Where the order stands.
    #[schema(value_type = String)]
    pub status: OrderStatus,
    /// The store's lines.
    pub lines: Vec<OrderLineBody>,
    /// Where to ship.
    pub shipping_address: Option<AddressBody>,
    /// The carrier's reference, once shipped.
    pub tracking: Option<String>,
    /// Placed.
    pub created_at: DateTime<Utc>,
}

impl From<&Order> for SellerOrderBody {
    fn from(o: &Order) -> Self {
        SellerOrderBody {
            id: o.id.as_uuid(),
            number: o.number,
            status: o.status,
            lines: o.lines.iter().map(OrderLineBody::from).collect(),
            shipping_address: o.shipping_address.as_ref().map(AddressBody::from),
            tracking: o.tracking.clone(),
            created_at: o.created_at,
        }
    }
}

/// A page of a store's orders, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SellerOrderPage {
    /// The orders.
    pub items: Vec<SellerOrderBody>,
    /// 1-based page.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Orders in all.
    pub total: u64,
}

/// `POST /api/v1/admin/orders/{id}/ship`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipBody {
    /// The carrier's tracking reference (at most 100 characters).
    #[serde(default)]
    pub tracking: Option<String>,
}

/// `POST /api/v1/admin/orders/{id}/refund`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// How much to give back; everything still refundable when absent.
    #[serde(default)]
    #[schema(value_type = Option<MoneySchema>)]
    pub amount: Option<Money>,
}
