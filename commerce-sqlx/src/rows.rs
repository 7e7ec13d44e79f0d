//! Rows as both databases return them, and their conversion to and from the
//! domain. Money is `BIGINT` minor units beside a currency code; what an
//! order snapshots (lines, shipping, address, promotions) is one JSON
//! document, written once at checkout and never updated (I6).

use std::collections::BTreeMap;

use commerce_core::account::{Account, Email, Review, Role, SavedAddress};
use commerce_core::address::Address;
use commerce_core::cart::{Cart, CartLine, CartOwner};
use commerce_core::catalog::{Sku, VariantPrice};
use commerce_core::ids::{
    AddressId, CartId, CategoryId, CustomerId, EventId, OrderId, PaymentId, ProductId, PromotionId,
    ReviewId, StoreId, VariantId,
};
use commerce_core::inventory::Stock;
use commerce_core::money::{Currency, Money};
use commerce_core::order::{
    AppliedPromotion, Order, OrderLine, OrderStatus, RefundRecord, ShippingSnapshot,
};
use commerce_core::outbox::{EventKind, OutboxEvent};
use commerce_core::payment::{Payment, PaymentAttempt, PaymentStatus};
use commerce_core::promotion::{DiscountCode, Promotion, PromotionSpec};
use commerce_core::seller::{Category, Product, SellerStore, Variant};
use commerce_core::storage::{Reservation, StoreError, UsageRecord, UsageState};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sqlx::types::Json;
use uuid::Uuid;

use crate::backend::Ts;
use crate::error::corrupt;

/// A value as a JSON argument.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<Box<RawValue>, StoreError> {
    serde_json::value::to_raw_value(value).map_err(|e| corrupt("document", e))
}

pub(crate) fn currency(code: &str) -> Result<Currency, StoreError> {
    Currency::from_code(code).map_err(|e| corrupt("currency", e))
}

pub(crate) fn money(minor: i64, code: &str) -> Result<Money, StoreError> {
    Ok(Money::from_minor(minor, currency(code)?))
}

/// A stored count that must fit a `u32` (stock, quantities, limits).
pub(crate) fn count(what: &str, n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| corrupt(what, n))
}

/// The key a cart is found by: the account, or a digest of the guest's
/// token (the token itself, a bearer secret, is never stored).
pub(crate) fn owner_key(owner: &CartOwner) -> String {
    use sha2::{Digest, Sha256};
    match owner {
        CartOwner::Account(id) => format!("account:{id}"),
        CartOwner::Guest(token) => format!(
            "guest:{}",
            hex::encode(Sha256::digest(token.as_str().as_bytes()))
        ),
    }
}

pub(crate) fn payment_status_str(s: PaymentStatus) -> &'static str {
    match s {
        PaymentStatus::Pending => "pending",
        PaymentStatus::Succeeded => "succeeded",
        PaymentStatus::Failed => "failed",
        PaymentStatus::Mismatch => "mismatch",
        PaymentStatus::Voided => "voided",
        PaymentStatus::RefundRequired => "refund_required",
    }
}

fn payment_status(s: &str) -> Result<PaymentStatus, StoreError> {
    Ok(match s {
        "pending" => PaymentStatus::Pending,
        "succeeded" => PaymentStatus::Succeeded,
        "failed" => PaymentStatus::Failed,
        "mismatch" => PaymentStatus::Mismatch,
        "voided" => PaymentStatus::Voided,
        "refund_required" => PaymentStatus::RefundRequired,
        other => return Err(corrupt("payment status", other)),
    })
}

pub(crate) fn usage_state_str(s: UsageState) -> &'static str {
    match s {
        UsageState::Reserved => "reserved",
        UsageState::Committed => "committed",
        UsageState::Released => "released",
    }
}

fn usage_state(s: &str) -> Result<UsageState, StoreError> {
    Ok(match s {
        "reserved" => UsageState::Reserved,
        "committed" => UsageState::Committed,
        "released" => UsageState::Released,
        other => return Err(corrupt("usage state", other)),
    })
}

pub(crate) fn order_status(s: &str) -> Result<OrderStatus, StoreError> {
    OrderStatus::parse(s).ok_or_else(|| corrupt("order status", s))
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StoreRow {
    id: Uuid,
    owner_id: Uuid,
    name: String,
    slug: String,
    created_at: Ts,
}

impl StoreRow {
    pub(crate) fn into_domain(self) -> SellerStore {
        SellerStore {
            id: StoreId::from_uuid(self.id),
            owner_id: CustomerId::from_uuid(self.owner_id),
            name: self.name,
            slug: self.slug,
            created_at: self.created_at.0,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CategoryRow {
    id: Uuid,
    parent_id: Option<Uuid>,
    name: String,
    slug: String,
}

impl CategoryRow {
    pub(crate) fn into_domain(self) -> Category {
        Category {
            id: CategoryId::from_uuid(self.id),
            parent_id: self.parent_id.map(CategoryId::from_uuid),
            name: self.name,
            slug: self.slug,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ProductRow {
    pub(crate) id: Uuid,
    store_id: Uuid,
    category_id: Option<Uuid>,
    name: String,
    description: String,
    images: Json<Vec<String>>,
    created_at: Ts,
    deleted_at: Option<Ts>,
}

/// A product of a catalog page, with how many products match the whole
/// query (`COUNT(*) OVER ()`): the page and its total in one statement.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CountedProductRow {
    #[sqlx(flatten)]
    pub(crate) product: ProductRow,
    pub(crate) total_count: i64,
}

impl ProductRow {
    pub(crate) fn into_domain(self) -> Product {
        Product {
            id: ProductId::from_uuid(self.id),
            store_id: StoreId::from_uuid(self.store_id),
            category_id: self.category_id.map(CategoryId::from_uuid),
            name: self.name,
            description: self.description,
            images: self.images.0,
            created_at: self.created_at.0,
            deleted_at: self.deleted_at.map(|t| t.0),
        }
    }
}

/// The columns of `variants v`, in the order [`VariantRow`] reads them.
macro_rules! variant_columns {
    () => {
        "v.id, v.product_id, v.sku, v.attributes, v.price_minor, v.currency, \
         v.compare_at_minor, v.on_hand, v.reserved"
    };
}
pub(crate) use variant_columns;

/// The columns of `products p`, in the order [`ProductRow`] reads them.
macro_rules! product_columns {
    () => {
        "p.id, p.store_id, p.category_id, p.name, p.description, p.images, p.created_at, \
         p.deleted_at"
    };
}
pub(crate) use product_columns;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct VariantRow {
    id: Uuid,
    pub(crate) product_id: Uuid,
    sku: String,
    attributes: Json<BTreeMap<String, String>>,
    price_minor: i64,
    currency: String,
    compare_at_minor: Option<i64>,
    on_hand: i64,
    reserved: i64,
}

impl VariantRow {
    pub(crate) fn into_domain(self) -> Result<Variant, StoreError> {
        let currency = currency(&self.currency)?;
        let price = VariantPrice::new(
            Money::from_minor(self.price_minor, currency),
            self.compare_at_minor
                .map(|m| Money::from_minor(m, currency)),
        )
        .map_err(|e| corrupt("variant price", e))?;
        Ok(Variant {
            id: VariantId::from_uuid(self.id),
            product_id: ProductId::from_uuid(self.product_id),
            sku: Sku::parse(&self.sku).map_err(|e| corrupt("sku", e))?,
            attributes: self.attributes.0,
            price,
            stock: Stock {
                on_hand: count("on_hand", self.on_hand)?,
                reserved: count("reserved", self.reserved)?,
            },
        })
    }
}

/// A variant with its product's columns, for cart and checkout reads.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct VariantProductRow {
    #[sqlx(flatten)]
    pub(crate) variant: VariantRow,
    p_store_id: Uuid,
    p_category_id: Option<Uuid>,
    p_name: String,
    p_description: String,
    p_images: Json<Vec<String>>,
    p_created_at: Ts,
    p_deleted_at: Option<Ts>,
}

impl VariantProductRow {
    pub(crate) fn into_domain(self) -> Result<(Variant, Product), StoreError> {
        let product = Product {
            id: ProductId::from_uuid(self.variant.product_id),
            store_id: StoreId::from_uuid(self.p_store_id),
            category_id: self.p_category_id.map(CategoryId::from_uuid),
            name: self.p_name,
            description: self.p_description,
            images: self.p_images.0,
            created_at: self.p_created_at.0,
            deleted_at: self.p_deleted_at.map(|t| t.0),
        };
        Ok((self.variant.into_domain()?, product))
    }
}

/// A cart's columns named `c_*`, beside a variant's and its product's in
/// one row ([`CartVariantRow`]).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PrefixedCartRow {
    c_id: Uuid,
    c_currency: String,
    c_lines: Json<Vec<CartLine>>,
    c_codes: Json<Vec<DiscountCode>>,
    c_shipping_method: Option<String>,
    c_version: i64,
    c_created_at: Ts,
    c_updated_at: Ts,
}

impl From<PrefixedCartRow> for CartRow {
    fn from(r: PrefixedCartRow) -> Self {
        CartRow {
            id: r.c_id,
            currency: r.c_currency,
            lines: r.c_lines,
            codes: r.c_codes,
            shipping_method: r.c_shipping_method,
            version: r.c_version,
            created_at: r.c_created_at,
            updated_at: r.c_updated_at,
        }
    }
}

/// A cart and one variant with its product, from a statement that reads
/// both: the cart's columns are NULL when the owner has no cart, the
/// variant's for a cart without lines and for a variant that is gone.
#[derive(Debug)]
pub(crate) struct CartVariantRow {
    pub(crate) cart: Option<PrefixedCartRow>,
    pub(crate) variant: Option<VariantProductRow>,
}

impl<'r, R> sqlx::FromRow<'r, R> for CartVariantRow
where
    R: sqlx::Row,
    PrefixedCartRow: sqlx::FromRow<'r, R>,
    VariantProductRow: sqlx::FromRow<'r, R>,
    Option<Uuid>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'r str: sqlx::ColumnIndex<R>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        let cart = match row.try_get::<Option<Uuid>, _>("c_id")? {
            Some(_) => Some(PrefixedCartRow::from_row(row)?),
            None => None,
        };
        let variant = match row.try_get::<Option<Uuid>, _>("id")? {
            Some(_) => Some(VariantProductRow::from_row(row)?),
            None => None,
        };
        Ok(CartVariantRow { cart, variant })
    }
}

/// An order's row, if there is one, read by the statement that also
/// claimed an idempotency key (`claimed`: 1 when the claim was taken); the
/// order's columns are NULL when there is no such order.
#[derive(Debug)]
pub(crate) struct ClaimedOrderRow {
    pub(crate) claimed: bool,
    pub(crate) order: Option<OrderRow>,
}

impl<'r, R> sqlx::FromRow<'r, R> for ClaimedOrderRow
where
    R: sqlx::Row,
    OrderRow: sqlx::FromRow<'r, R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<Uuid>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'r str: sqlx::ColumnIndex<R>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        let order = match row.try_get::<Option<Uuid>, _>("id")? {
            Some(_) => Some(OrderRow::from_row(row)?),
            None => None,
        };
        Ok(ClaimedOrderRow {
            claimed: row.try_get::<i64, _>("claimed")? > 0,
            order,
        })
    }
}

/// A [`CartVariantRow`] read by the statement that also claimed an
/// idempotency key: `claimed` is 1 on every row when the claim was taken.
#[derive(Debug)]
pub(crate) struct ClaimedCartVariantRow {
    pub(crate) claimed: bool,
    pub(crate) row: CartVariantRow,
}

impl<'r, R> sqlx::FromRow<'r, R> for ClaimedCartVariantRow
where
    R: sqlx::Row,
    CartVariantRow: sqlx::FromRow<'r, R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'r str: sqlx::ColumnIndex<R>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(ClaimedCartVariantRow {
            claimed: row.try_get::<i64, _>("claimed")? > 0,
            row: CartVariantRow::from_row(row)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CartRow {
    id: Uuid,
    currency: String,
    lines: Json<Vec<CartLine>>,
    codes: Json<Vec<DiscountCode>>,
    shipping_method: Option<String>,
    version: i64,
    created_at: Ts,
    updated_at: Ts,
}

impl CartRow {
    pub(crate) fn into_domain(self, owner: CartOwner) -> Result<Cart, StoreError> {
        Ok(Cart {
            id: CartId::from_uuid(self.id),
            owner,
            currency: currency(&self.currency)?,
            lines: self.lines.0,
            codes: self.codes.0,
            shipping_method: self.shipping_method,
            version: u64::try_from(self.version)
                .map_err(|_| corrupt("cart version", self.version))?,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PromotionRow {
    id: Uuid,
    spec: Json<PromotionSpec>,
}

impl PromotionRow {
    pub(crate) fn into_domain(self) -> Result<Promotion, StoreError> {
        Promotion::new(PromotionId::from_uuid(self.id), self.spec.0)
            .map_err(|e| corrupt("promotion", e))
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UsageRow {
    promotion_id: Uuid,
    order_id: Uuid,
    customer_id: Option<Uuid>,
    state: String,
}

impl UsageRow {
    pub(crate) fn into_domain(self) -> Result<UsageRecord, StoreError> {
        Ok(UsageRecord {
            promotion_id: PromotionId::from_uuid(self.promotion_id),
            order_id: OrderId::from_uuid(self.order_id),
            customer_id: self.customer_id.map(CustomerId::from_uuid),
            state: usage_state(&self.state)?,
        })
    }
}

/// What an order keeps as it was sold (I6), as stored.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct OrderSnapshot {
    lines: Vec<OrderLine>,
    shipping: Option<ShippingSnapshot>,
    shipping_address: Option<Address>,
    promotions: Vec<AppliedPromotion>,
}

/// The same, borrowed from an order being written.
#[derive(Debug, Serialize)]
pub(crate) struct OrderSnapshotRef<'a> {
    lines: &'a [OrderLine],
    shipping: &'a Option<ShippingSnapshot>,
    shipping_address: &'a Option<Address>,
    promotions: &'a [AppliedPromotion],
}

impl<'a> OrderSnapshotRef<'a> {
    pub(crate) fn of(order: &'a Order) -> Self {
        OrderSnapshotRef {
            lines: &order.lines,
            shipping: &order.shipping,
            shipping_address: &order.shipping_address,
            promotions: &order.promotions,
        }
    }
}

/// The columns of `orders o`, in the order [`OrderRow`] reads them.
macro_rules! order_columns {
    () => {
        "o.id, o.number, o.customer_id, o.email, o.status, o.currency, o.subtotal_minor, \
         o.discount_total_minor, o.shipping_total_minor, o.tax_total_minor, o.total_minor, \
         o.prices_include_tax, o.captured_minor, o.refunded_minor, o.paid_by, o.tracking, \
         o.reservation_expires_at, o.snapshot, o.created_at, o.updated_at"
    };
}
pub(crate) use order_columns;

/// One order's row by id (`$1`).
macro_rules! order_by_id {
    () => {
        concat!(
            "SELECT ",
            $crate::rows::order_columns!(),
            " FROM orders o WHERE o.id = $1"
        )
    };
}
pub(crate) use order_by_id;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OrderRow {
    pub(crate) id: Uuid,
    number: i64,
    customer_id: Option<Uuid>,
    email: String,
    status: String,
    currency: String,
    subtotal_minor: i64,
    discount_total_minor: i64,
    shipping_total_minor: i64,
    tax_total_minor: i64,
    total_minor: i64,
    prices_include_tax: bool,
    captured_minor: i64,
    refunded_minor: i64,
    paid_by: Option<Uuid>,
    tracking: Option<String>,
    reservation_expires_at: Ts,
    snapshot: Json<OrderSnapshot>,
    created_at: Ts,
    updated_at: Ts,
}

impl OrderRow {
    /// Whether the order has refund rows: `refunded_minor` is their sum,
    /// written with each of them, and each is more than zero.
    pub(crate) fn has_refunds(&self) -> bool {
        self.refunded_minor != 0
    }

    pub(crate) fn into_domain(self, refunds: Vec<RefundRecord>) -> Result<Order, StoreError> {
        let c = currency(&self.currency)?;
        let m = |minor| Money::from_minor(minor, c);
        let snapshot = self.snapshot.0;
        Ok(Order {
            id: OrderId::from_uuid(self.id),
            number: u64::try_from(self.number).map_err(|_| corrupt("order number", self.number))?,
            customer_id: self.customer_id.map(CustomerId::from_uuid),
            email: self.email,
            status: order_status(&self.status)?,
            currency: c,
            lines: snapshot.lines,
            subtotal: m(self.subtotal_minor),
            discount_total: m(self.discount_total_minor),
            shipping_total: m(self.shipping_total_minor),
            tax_total: m(self.tax_total_minor),
            prices_include_tax: self.prices_include_tax,
            total: m(self.total_minor),
            shipping: snapshot.shipping,
            shipping_address: snapshot.shipping_address,
            promotions: snapshot.promotions,
            reservation_expires_at: self.reservation_expires_at.0,
            paid_by: self.paid_by.map(PaymentId::from_uuid),
            captured: m(self.captured_minor),
            refunds,
            tracking: self.tracking,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RefundRow {
    pub(crate) order_id: Uuid,
    amount_minor: i64,
    currency: String,
    payment_id: Uuid,
    reason: String,
    created_at: Ts,
}

impl RefundRow {
    pub(crate) fn into_domain(self) -> Result<RefundRecord, StoreError> {
        Ok(RefundRecord {
            amount: money(self.amount_minor, &self.currency)?,
            payment_id: PaymentId::from_uuid(self.payment_id),
            reason: self.reason,
            created_at: self.created_at.0,
        })
    }
}

/// The columns of `payments p`, in the order [`PaymentRow`] reads them.
macro_rules! payment_columns {
    () => {
        "p.id, p.order_id, p.gateway, p.reference, p.amount_minor, p.currency, p.status, \
         p.redirect_url, p.created_at, p.updated_at"
    };
}
pub(crate) use payment_columns;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PaymentRow {
    pub(crate) id: Uuid,
    pub(crate) order_id: Uuid,
    gateway: String,
    reference: String,
    amount_minor: i64,
    currency: String,
    pub(crate) status: String,
    redirect_url: String,
    created_at: Ts,
    updated_at: Ts,
}

impl PaymentRow {
    pub(crate) fn into_domain(self, attempts: Vec<PaymentAttempt>) -> Result<Payment, StoreError> {
        Ok(Payment {
            id: PaymentId::from_uuid(self.id),
            order_id: OrderId::from_uuid(self.order_id),
            gateway: self.gateway,
            reference: self.reference,
            amount: money(self.amount_minor, &self.currency)?,
            status: payment_status(&self.status)?,
            redirect_url: self.redirect_url,
            attempts,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }

    pub(crate) fn status(&self) -> Result<PaymentStatus, StoreError> {
        payment_status(&self.status)
    }

    pub(crate) fn amount(&self) -> Result<Money, StoreError> {
        money(self.amount_minor, &self.currency)
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AttemptRow {
    pub(crate) payment_id: Uuid,
    at: Ts,
    kind: String,
    detail: String,
}

impl AttemptRow {
    pub(crate) fn into_domain(self) -> PaymentAttempt {
        PaymentAttempt {
            at: self.at.0,
            kind: self.kind,
            detail: self.detail,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    id: Uuid,
    payload: Json<EventKind>,
    created_at: Ts,
    relayed_at: Option<Ts>,
}

impl EventRow {
    pub(crate) fn into_domain(self) -> OutboxEvent {
        OutboxEvent {
            id: EventId::from_uuid(self.id),
            kind: self.payload.0,
            created_at: self.created_at.0,
            relayed_at: self.relayed_at.map(|t| t.0),
        }
    }
}

/// The kind of an event, as its own column (for operators' queries).
pub(crate) fn event_type(kind: &EventKind) -> &'static str {
    match kind {
        EventKind::OrderPlaced { .. } => "order_placed",
        EventKind::OrderPaid { .. } => "order_paid",
        EventKind::OrderCancelled { .. } => "order_cancelled",
        EventKind::OrderExpired { .. } => "order_expired",
        EventKind::OrderShipped { .. } => "order_shipped",
        EventKind::OrderDelivered { .. } => "order_delivered",
        EventKind::OrderRefunded { .. } => "order_refunded",
        EventKind::PaymentRefundRequired { .. } => "payment_refund_required",
        EventKind::LowStock { .. } => "low_stock",
        _ => "other",
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct IdempotencyRow {
    pub(crate) fingerprint: Vec<u8>,
    pub(crate) response: Option<String>,
    pub(crate) locked_until: Ts,
    pub(crate) created_at: Ts,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AccountRow {
    id: Uuid,
    email: String,
    full_name: Option<String>,
    phone: Option<String>,
    roles: Json<Vec<Role>>,
    email_verified: bool,
    password_hash: Option<String>,
    created_at: Ts,
}

impl AccountRow {
    pub(crate) fn into_domain(self) -> Result<Account, StoreError> {
        Ok(Account {
            id: CustomerId::from_uuid(self.id),
            email: Email::parse(&self.email).map_err(|e| corrupt("email", e))?,
            full_name: self.full_name,
            phone: self.phone,
            roles: self.roles.0,
            email_verified: self.email_verified,
            password_hash: self.password_hash,
            created_at: self.created_at.0,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AddressRow {
    id: Uuid,
    account_id: Uuid,
    address: Json<Address>,
    is_default: bool,
}

impl AddressRow {
    pub(crate) fn into_domain(self) -> SavedAddress {
        SavedAddress {
            id: AddressId::from_uuid(self.id),
            account_id: CustomerId::from_uuid(self.account_id),
            address: self.address.0,
            is_default: self.is_default,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ReviewRow {
    id: Uuid,
    product_id: Uuid,
    account_id: Uuid,
    rating: i64,
    title: Option<String>,
    body: String,
    verified_purchase: bool,
    created_at: Ts,
}

impl ReviewRow {
    pub(crate) fn into_domain(self) -> Result<Review, StoreError> {
        Ok(Review {
            id: ReviewId::from_uuid(self.id),
            product_id: ProductId::from_uuid(self.product_id),
            account_id: CustomerId::from_uuid(self.account_id),
            rating: u8::try_from(self.rating).map_err(|_| corrupt("rating", self.rating))?,
            title: self.title,
            body: self.body,
            verified_purchase: self.verified_purchase,
            created_at: self.created_at.0,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ReservationRow {
    order_id: Uuid,
    pub(crate) variant_id: Uuid,
    pub(crate) quantity: i64,
    expires_at: Ts,
}

impl ReservationRow {
    pub(crate) fn into_domain(self) -> Result<Reservation, StoreError> {
        Ok(Reservation {
            order_id: OrderId::from_uuid(self.order_id),
            variant_id: VariantId::from_uuid(self.variant_id),
            quantity: count("reservation quantity", self.quantity)?,
            expires_at: self.expires_at.0,
        })
    }
}
