//! Storage: small traits, one per aggregate, whose methods are whole
//! operations with a stated contract — never transaction handles.
//!
//! Every method returns `impl Future<Output = Result<T, StoreError>> + Send`.
//! [`StoreError`] is for infrastructure failures only; an operation that can
//! be refused for a domain reason (not enough stock, a used-up coupon, a
//! forbidden transition) returns `Result<Result<T, Rejection>, StoreError>`,
//! so callers can never confuse "the database is down" with "sold out".
//!
//! [`InMemoryStore`] is the reference backend; `commerce-sqlx` provides
//! SQLite and PostgreSQL. The conformance suite (feature `testkit`) runs the
//! same tests, races included, against each of them.

mod dyn_store;
mod memory;

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use dyn_store::{DynStore, ErasedStore};
pub use memory::InMemoryStore;

use crate::account::{Account, Email, Rating, Review, SavedAddress};
use crate::browse::{ProductListing, ProductQuery};
use crate::cart::{Cart, CartOwner};
use crate::credentials::{
    CodeCheck, OneTimeSecret, RefreshSession, Rotation, SecretDigest, SecretPurpose, SessionRenewal,
};
use crate::idempotency::{Begin, Fingerprint, IdempotencyKey};
use crate::ids::{
    AddressId, CartId, CategoryId, CustomerId, OrderId, PaymentId, ProductId, PromotionId,
    SessionFamilyId, StoreId, VariantId,
};
use crate::inventory::{Shortage, Stock};
use crate::money::Money;
use crate::order::{InvalidTransition, Order, OrderStatus};
use crate::outbox::OutboxEvent;
use crate::payment::{Payment, PaymentAttempt, VerifiedPayment};
use crate::pricing::UsageCounts;
use crate::promotion::Promotion;
use crate::seller::{Category, Product, SellerStore, Variant};
use crate::shipping::ShippingMethod;

/// An infrastructure failure: the backend could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A record the operation needs does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule refused the write (`what` names the rule: `email`, `sku`, ...).
    #[error("{what} already exists")]
    Duplicate {
        /// The rule.
        what: &'static str,
    },
    /// The backend failed; `retryable` when trying again may work (lost
    /// connection, serialization failure, busy database).
    #[error("storage backend: {message}")]
    Backend {
        /// For logs, never for users.
        message: String,
        /// Whether a retry may succeed.
        retryable: bool,
    },
}

/// A page of results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// 1-based page number.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Items across all pages.
    pub total: u64,
}

/// A variant with what a cart and checkout need from its product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantRecord {
    /// The variant, with its stock.
    pub variant: Variant,
    /// Its product.
    pub product: Product,
}

/// Catalog: seller stores, categories, products and variants.
///
/// # Contract
/// - `put_*` insert or replace whole records; `put_product` writes a product
///   and all its variants at once (variants not listed are left alone).
/// - SKUs and store/category slugs are unique: a clash is
///   [`StoreError::Duplicate`] and writes nothing.
/// - `put_product` sets a new variant's stock as given, but never changes the
///   stock of an existing variant (stock moves only through
///   [`InventoryStore`] and orders).
/// - `search_products` answers exactly as [`crate::browse`] defines: the same
///   products in the same order on every backend.
pub trait CatalogStore: Send + Sync {
    /// Inserts or replaces a seller store.
    fn put_seller_store(
        &self,
        store: SellerStore,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A seller store.
    fn seller_store(
        &self,
        id: StoreId,
    ) -> impl Future<Output = Result<Option<SellerStore>, StoreError>> + Send;
    /// A page of seller stores, oldest first (ties by id), with the total.
    /// `page` is 1-based (0 reads as 1); `per_page` is clamped to 1..=100.
    fn seller_stores(
        &self,
        page: u32,
        per_page: u32,
    ) -> impl Future<Output = Result<Page<SellerStore>, StoreError>> + Send;
    /// Inserts or replaces a category.
    fn put_category(
        &self,
        category: Category,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Every category.
    fn categories(&self) -> impl Future<Output = Result<Vec<Category>, StoreError>> + Send;
    /// Inserts or replaces a product and its listed variants.
    fn put_product(
        &self,
        product: Product,
        variants: Vec<Variant>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A product (soft-deleted ones too) with its variants.
    fn product(
        &self,
        id: ProductId,
    ) -> impl Future<Output = Result<Option<(Product, Vec<Variant>)>, StoreError>> + Send;
    /// Deletes a category that has no subcategory and no product (soft-deleted
    /// ones count); `false` when it is absent or still in use.
    fn delete_category(
        &self,
        id: CategoryId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Variants with their products; unknown ids are left out.
    fn variants(
        &self,
        ids: &[VariantId],
    ) -> impl Future<Output = Result<Vec<VariantRecord>, StoreError>> + Send;
    /// A page of the catalog as [`crate::browse`] defines it: filters,
    /// sort with ties broken by product id, and the total across pages.
    fn search_products(
        &self,
        query: &ProductQuery,
    ) -> impl Future<Output = Result<Page<ProductListing>, StoreError>> + Send;
}

/// A refused stock change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("on hand cannot go below the {reserved} units reserved by pending orders")]
pub struct BelowReserved {
    /// Units reserved now.
    pub reserved: u32,
}

/// Stock levels.
///
/// # Contract
/// - `set_on_hand` is atomic: it refuses a level below `reserved`
///   ([`BelowReserved`]) and, when the change takes the *available* stock
///   across `low_threshold` downward (from above it to at or below it),
///   writes one `LowStock` outbox event in the same operation (I5).
///   Checkout does the same for the stock it reserves.
pub trait InventoryStore: Send + Sync {
    /// A variant's stock.
    fn stock(
        &self,
        variant: VariantId,
    ) -> impl Future<Output = Result<Option<Stock>, StoreError>> + Send;
    /// Sets `on_hand`; returns the stock before and after.
    fn set_on_hand(
        &self,
        variant: VariantId,
        on_hand: u32,
        low_threshold: u32,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Result<(Stock, Stock), BelowReserved>, StoreError>> + Send;
}

/// A cart changed since it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the cart changed meanwhile; read it again")]
pub struct CartChanged;

/// Carts.
///
/// # Contract
/// - An owner has at most one cart.
/// - `save_cart` is a compare-and-set on `version`: it succeeds only when the
///   stored cart has the given cart's `version` (or, for a new cart, there is
///   none), and stores it with `version + 1`. Otherwise [`CartChanged`].
/// - `merge_carts` saves the account cart and deletes the guest cart in one
///   atomic step, with the same check on both versions.
pub trait CartStore: Send + Sync {
    /// The owner's cart.
    fn cart_of(
        &self,
        owner: &CartOwner,
    ) -> impl Future<Output = Result<Option<Cart>, StoreError>> + Send;
    /// Saves a cart (compare-and-set on `version`); returns it as stored.
    fn save_cart(
        &self,
        cart: Cart,
    ) -> impl Future<Output = Result<Result<Cart, CartChanged>, StoreError>> + Send;
    /// Saves `into` and deletes `guest` (at `guest_version`) atomically.
    fn merge_carts(
        &self,
        into: Cart,
        guest: CartId,
        guest_version: u64,
    ) -> impl Future<Output = Result<Result<Cart, CartChanged>, StoreError>> + Send;
    /// The owner's cart (`None` when there is none) with the records of its
    /// lines' variants and of `also` (the variant a change is about to
    /// add), as [`CartStore::cart_of`] then [`CatalogStore::variants`]
    /// answer them: a variant that no longer exists has no record; each
    /// record appears once, in any order. A store that can read both in one
    /// round trip overrides it; the default is those two reads,
    /// [`cart_and_variants`].
    fn cart_with_variants(
        &self,
        owner: &CartOwner,
        also: Option<VariantId>,
    ) -> impl Future<Output = Result<(Option<Cart>, Vec<VariantRecord>), StoreError>> + Send
    where
        Self: CatalogStore + Sized,
    {
        cart_and_variants(self, owner, also)
    }

    /// Checkout's first two steps: claims `key` in `scope` as
    /// [`IdempotencyStore::begin`] does and, only when the claim is this
    /// call's ([`Begin::Started`]), reads the owner's cart with its lines'
    /// variants as [`CartStore::cart_with_variants`] answers it (no `also`),
    /// as it is once the claim is taken. `Ok(Err(begin))` is the claim's
    /// answer when it is not `Started`; nothing is read then. A store that
    /// can do both in one round trip overrides it; the default is the two
    /// calls, [`begin_then`].
    fn begin_with_cart(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
        owner: &CartOwner,
    ) -> impl Future<Output = Result<Result<CartWithVariants, Begin>, StoreError>> + Send
    where
        Self: CatalogStore + IdempotencyStore + Sized,
    {
        begin_then(
            self,
            scope,
            key,
            fingerprint,
            now,
            lock_until,
            self.cart_with_variants(owner, None),
        )
    }
}

/// A claim, then a read only when the claim is taken: `begin_with_cart`
/// and `begin_with_order` ([`CartStore::begin_with_cart`],
/// [`OrderStore::begin_with_order`]) by two calls, for stores that override
/// them only where they can do better. `read` is not started unless the
/// claim is `Started` (a future does nothing until awaited).
///
/// # Errors
/// What either call returns.
pub async fn begin_then<S: IdempotencyStore, T>(
    store: &S,
    scope: &str,
    key: &IdempotencyKey,
    fingerprint: Fingerprint,
    now: DateTime<Utc>,
    lock_until: DateTime<Utc>,
    read: impl Future<Output = Result<T, StoreError>>,
) -> Result<Result<T, Begin>, StoreError> {
    match store
        .begin(scope, key, fingerprint, now, lock_until)
        .await?
    {
        Begin::Started => Ok(Ok(read.await?)),
        other => Ok(Err(other)),
    }
}

/// A cart (`None` when the owner has none) with the records of its lines'
/// variants, as [`CartStore::cart_with_variants`] answers it.
pub type CartWithVariants = (Option<Cart>, Vec<VariantRecord>);

/// [`CartStore::cart_with_variants`] by two reads: the cart, then the
/// variants of its lines and `also` (none read when there are none). For
/// stores that override it only where they can do better (one backend of
/// several).
///
/// # Errors
/// What either read returns.
pub async fn cart_and_variants<S: CartStore + CatalogStore>(
    store: &S,
    owner: &CartOwner,
    also: Option<VariantId>,
) -> Result<(Option<Cart>, Vec<VariantRecord>), StoreError> {
    let cart = store.cart_of(owner).await?;
    let mut ids: Vec<VariantId> = cart
        .iter()
        .flat_map(|c| c.lines.iter().map(|l| l.variant_id))
        .collect();
    if let Some(v) = also
        && !ids.contains(&v)
    {
        ids.push(v);
    }
    let records = if ids.is_empty() {
        Vec::new()
    } else {
        store.variants(&ids).await?
    };
    Ok((cart, records))
}

/// How a promotion is held by an order (I3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageState {
    /// Held by a pending order.
    Reserved,
    /// Held by a paid order.
    Committed,
    /// Given back (cancel, expiry).
    Released,
}

/// One order's hold on one promotion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// The promotion.
    pub promotion_id: PromotionId,
    /// The order.
    pub order_id: OrderId,
    /// The customer, when signed in.
    pub customer_id: Option<CustomerId>,
    /// Held or released.
    pub state: UsageState,
}

/// A promotion's `usage_limit` cannot go below what live orders already hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("usage limit {limit} is below the {held} redemptions live orders hold")]
pub struct LimitBelowUsage {
    /// The limit asked for.
    pub limit: u32,
    /// Live holds (reserved or committed).
    pub held: u32,
}

/// Promotions and their usage.
///
/// # Contract
/// - `usage` counts live holds (reserved or committed), in all and by the customer.
/// - Codes are unique: a clash is [`StoreError::Duplicate`] and writes nothing.
/// - `put_promotion` refuses a `usage_limit` below the live holds
///   ([`LimitBelowUsage`]), so a promotion is never over its limit (I3), and
///   keeps the holds of a replaced promotion. A lower `per_customer_limit`
///   applies to new redemptions only.
/// - `replace_promotion` is `put_promotion` for a promotion that exists,
///   checked in the same atomic step: one deleted meanwhile stays deleted.
pub trait PromotionStore: Send + Sync {
    /// Inserts or replaces a promotion.
    fn put_promotion(
        &self,
        promotion: Promotion,
    ) -> impl Future<Output = Result<Result<(), LimitBelowUsage>, StoreError>> + Send;
    /// Replaces a promotion that exists, as [`PromotionStore::put_promotion`]
    /// does; `Ok(None)` when there is none with its id (nothing written).
    fn replace_promotion(
        &self,
        promotion: Promotion,
    ) -> impl Future<Output = Result<Option<Result<(), LimitBelowUsage>>, StoreError>> + Send;
    /// Deletes a promotion (orders keep their snapshots); `false` if absent.
    fn delete_promotion(
        &self,
        id: PromotionId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Every promotion.
    fn promotions(&self) -> impl Future<Output = Result<Vec<Promotion>, StoreError>> + Send;
    /// Live usage of the given promotions.
    fn usage(
        &self,
        promotions: &[PromotionId],
        customer: Option<CustomerId>,
    ) -> impl Future<Output = Result<UsageCounts, StoreError>> + Send;
}

/// The shipping methods a shop offers.
///
/// # Contract
/// - A method is known by its `code`. `insert_shipping_method` refuses a
///   code in use with [`StoreError::Duplicate`] (`shipping method code`) and
///   writes nothing; of several concurrent inserts of one code, one wins.
/// - `replace_shipping_method` replaces the method with the same code
///   (name, price, threshold) and answers `false`, writing nothing, when
///   there is none.
/// - `delete_shipping_method` answers whether a method was deleted. Orders
///   keep their own snapshot of the method they shipped with.
/// - `shipping_methods` lists every method, in any order; each reads back
///   exactly as written.
pub trait ShippingStore: Send + Sync {
    /// Adds a method under a new code.
    fn insert_shipping_method(
        &self,
        method: ShippingMethod,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Replaces the method with the same code; `false` when there is none.
    fn replace_shipping_method(
        &self,
        method: ShippingMethod,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Deletes a method; `false` when there is none.
    fn delete_shipping_method(
        &self,
        code: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Every method.
    fn shipping_methods(
        &self,
    ) -> impl Future<Output = Result<Vec<ShippingMethod>, StoreError>> + Send;
}

/// What checkout asks the store to do in one atomic operation.
#[derive(Debug, Clone)]
pub struct PlaceOrder {
    /// The order to write (status `pending_payment`; its `number` is given by the store).
    pub order: Order,
    /// The cart to empty, at the version that was priced.
    pub cart: Option<(CartId, u64)>,
    /// The idempotency key to complete with the order id.
    pub idempotency: Option<(String, IdempotencyKey)>,
    /// A `LowStock` event is written for each variant whose available stock
    /// this order takes from above the threshold to at or below it.
    pub low_stock_threshold: u32,
}

/// Why a checkout was refused by the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlaceRejection {
    /// Not enough stock for these lines; nothing was reserved.
    #[error("insufficient stock")]
    InsufficientStock(Vec<Shortage>),
    /// The promotion reached its usage limit.
    #[error("promotion {0} is used up")]
    UsageExhausted(PromotionId),
    /// The customer reached the promotion's per-customer limit.
    #[error("promotion {0} already used by this customer")]
    CustomerLimitReached(PromotionId),
    /// The cart changed after it was priced.
    #[error("the cart changed during checkout")]
    CartChanged,
    /// A promotion or variant of the order no longer exists.
    #[error("{0} no longer exists")]
    Gone(&'static str),
}

/// What applying a verified payment did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PaymentOutcome {
    /// The order is now paid.
    Paid(Box<Order>),
    /// This event or this payment was already applied; nothing changed.
    AlreadyApplied,
    /// The payment was declined; the order stays payable.
    Declined,
    /// Amount or currency differ from the order: the payment is flagged
    /// `mismatch`, the order is unchanged.
    AmountMismatch {
        /// The order's total.
        expected: Money,
        /// What the gateway reported.
        received: Money,
    },
    /// Captured, but the order cannot take it (cancelled, paid by another
    /// payment, or expired with its stock gone): recorded, and a
    /// `PaymentRefundRequired` event written.
    RefundRequired,
}

/// No payment of this gateway has the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no payment has this gateway reference")]
pub struct UnknownPayment;

/// A verified payment to apply.
#[derive(Debug, Clone)]
pub struct ApplyPayment {
    /// The gateway's event id, for the inbox (webhooks); `None` for returns
    /// and reconciliation, which are idempotent by payment state.
    pub event_id: Option<String>,
    /// The result from the gateway.
    pub verified: VerifiedPayment,
    /// Where it came from, for the attempt log (`webhook`, `return`, `reconcile`).
    pub source: &'static str,
    /// Low-stock threshold, for the stock a late payment reserves again.
    pub low_stock_threshold: u32,
    /// When.
    pub now: DateTime<Utc>,
}

/// Why a refund was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefundRejection {
    /// The order has not captured money (or is not in a refundable status).
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// More than what is left to refund (I7).
    #[error("refund of {requested} exceeds the {refundable} left to refund")]
    ExceedsCaptured {
        /// Asked.
        requested: Money,
        /// Left.
        refundable: Money,
    },
    /// Zero, negative, or in another currency.
    #[error("a refund must be a positive amount in the order's currency")]
    InvalidAmount,
}

/// Which orders to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Only this customer's.
    pub customer_id: Option<CustomerId>,
    /// Only in this status.
    pub status: Option<OrderStatus>,
    /// Only orders with lines of this store.
    pub store_id: Option<StoreId>,
}

/// Orders, reservations and payments: the operations that move stock and money.
///
/// # Contract
/// Each method is one atomic operation: it happens entirely or not at all,
/// and concurrent calls behave as if run one after the other.
/// - `place_order` reserves every line (all-or-nothing; a shortage names every
///   short line), reserves each promotion's usage within its limits, gives the
///   order its number, writes it, empties the cart (if still at the priced
///   version), completes the idempotency key, and writes `OrderPlaced` (I1–I3, I5).
/// - `apply_payment`: an event id already in the inbox, or a payment already
///   applied, changes nothing (`AlreadyApplied`). A success whose amount and
///   currency equal the order's total pays a pending order (reservations and
///   usage committed, `on_hand -= n`, `reserved -= n`), or an expired one if
///   its stock can be reserved again and its promotions' usage limits (I3)
///   still have room; otherwise it is recorded as
///   `RefundRequired` with an event. A different amount flags the payment
///   `mismatch` and leaves the order unpaid (I4), whatever the payment's
///   state (a voided one too: a refund event must never name an amount
///   other than the one captured).
/// - `cancel_order` from `pending_payment` releases reservations and usage and
///   voids pending payments; from `paid` it restocks, releases usage, and
///   records a full refund (I7). Other statuses: [`InvalidTransition`].
/// - `expire_due` expires pending orders whose reservation ended at or before
///   `now`, at most `limit`, releasing stock and usage once each, even when
///   several sweeps run at once.
/// - `ship`, `deliver` and `refund` move the status by [`OrderStatus::transition`];
///   `refund` never lets refunds exceed the captured amount (I7).
/// - Every status change writes its outbox event in the same operation (I5).
pub trait OrderStore: Send + Sync {
    /// Places an order (see the trait contract).
    fn place_order(
        &self,
        place: PlaceOrder,
    ) -> impl Future<Output = Result<Result<Order, PlaceRejection>, StoreError>> + Send;
    /// An order.
    fn order(&self, id: OrderId) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;
    /// An effect's first two steps (a mail about an order, say): claims
    /// `key` in `scope` as [`IdempotencyStore::begin`] does and, only when
    /// the claim is this call's ([`Begin::Started`]), reads the order as
    /// [`OrderStore::order`] does (`None` when there is none; the claim is
    /// taken all the same). `Ok(Err(begin))` is the claim's answer when it
    /// is not `Started`; nothing is read then. A store that can do both in
    /// one round trip overrides it; the default is the two calls,
    /// [`begin_then`].
    fn begin_with_order(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
        order: OrderId,
    ) -> impl Future<Output = Result<Result<Option<Order>, Begin>, StoreError>> + Send
    where
        Self: IdempotencyStore + Sized,
    {
        begin_then(
            self,
            scope,
            key,
            fingerprint,
            now,
            lock_until,
            self.order(order),
        )
    }
    /// Orders matching a filter, newest first.
    fn orders(
        &self,
        filter: OrderFilter,
        page: u32,
        per_page: u32,
    ) -> impl Future<Output = Result<Page<Order>, StoreError>> + Send;
    /// Records a new payment for an order.
    fn insert_payment(
        &self,
        payment: Payment,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A payment.
    fn payment(
        &self,
        id: PaymentId,
    ) -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send;
    /// A payment by its gateway reference.
    fn payment_by_reference(
        &self,
        gateway: &str,
        reference: &str,
    ) -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send;
    /// Payments still `pending` that were created before `created_before`,
    /// oldest first, at most `limit`: what a reconciliation asks the gateways about.
    fn pending_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Payment>, StoreError>> + Send;
    /// An order's payments, oldest first.
    fn payments_of(
        &self,
        order: OrderId,
    ) -> impl Future<Output = Result<Vec<Payment>, StoreError>> + Send;
    /// The payments of several orders in one read (a page of orders), each
    /// order's oldest first; unknown ids have none.
    fn payments_of_orders(
        &self,
        orders: &[OrderId],
    ) -> impl Future<Output = Result<Vec<Payment>, StoreError>> + Send;
    /// Adds an entry to a payment's history.
    fn record_attempt(
        &self,
        payment: PaymentId,
        attempt: PaymentAttempt,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Applies a verified payment (see the trait contract).
    fn apply_payment(
        &self,
        apply: ApplyPayment,
    ) -> impl Future<Output = Result<Result<PaymentOutcome, UnknownPayment>, StoreError>> + Send;
    /// Cancels an order.
    fn cancel_order(
        &self,
        id: OrderId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Result<Order, InvalidTransition>, StoreError>> + Send;
    /// Expires due orders; returns those it expired.
    fn expire_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OrderId>, StoreError>> + Send;
    /// Marks an order shipped.
    fn ship(
        &self,
        id: OrderId,
        tracking: Option<String>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Result<Order, InvalidTransition>, StoreError>> + Send;
    /// Marks an order delivered.
    fn deliver(
        &self,
        id: OrderId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Result<Order, InvalidTransition>, StoreError>> + Send;
    /// Refunds part or all of what was captured.
    fn refund(
        &self,
        id: OrderId,
        amount: Money,
        reason: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Result<Order, RefundRejection>, StoreError>> + Send;
}

/// The outbox (I5).
///
/// # Contract
/// - Events are written only by the operations that cause them.
/// - `pending_events` lists unrelayed events, oldest first; `mark_relayed` is
///   idempotent.
/// - `pending_events_after` lists unrelayed events written after a given
///   one, oldest first. An event whose transaction commits late may sort
///   before events already listed: a reader that must see every event reads
///   from the start (`pending_events`) now and then.
pub trait OutboxStore: Send + Sync {
    /// Unrelayed events, oldest first.
    fn pending_events(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OutboxEvent>, StoreError>> + Send;
    /// Unrelayed events written after `after` (relayed or not), oldest
    /// first; every unrelayed event when the store does not know `after`.
    ///
    /// The default reads every pending event and skips through `after`
    /// (all of them when `after` was relayed); a store with an order of its
    /// own reads only the newer ones.
    fn pending_events_after(
        &self,
        after: crate::ids::EventId,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OutboxEvent>, StoreError>> + Send {
        async move {
            let pending = self.pending_events(u32::MAX).await?;
            let start = pending
                .iter()
                .position(|e| e.id == after)
                .map_or(0, |i| i + 1);
            Ok(pending
                .into_iter()
                .skip(start)
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .collect())
        }
    }
    /// Marks events relayed.
    fn mark_relayed(
        &self,
        ids: &[crate::ids::EventId],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Idempotency keys, scoped to a caller.
///
/// # Contract
/// - `begin` is atomic: of several concurrent calls with a new key, exactly
///   one gets [`Begin::Started`]; the others get `InProgress` (or `Replay` once
///   completed). A key held past `lock_until` may be taken over.
/// - `complete` stores the response; `release` forgets an unfinished key so a
///   retry can run.
/// - `prune` forgets keys created before a time.
pub trait IdempotencyStore: Send + Sync {
    /// Claims a key.
    fn begin(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Begin, StoreError>> + Send;
    /// Stores the response of a finished request.
    fn complete(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        response: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Gives up an unfinished key.
    fn release(
        &self,
        scope: &str,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Forgets keys created before `before`; returns how many.
    fn prune(&self, before: DateTime<Utc>) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// A reservation: units of a variant held by a pending order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The order.
    pub order_id: OrderId,
    /// The variant.
    pub variant_id: VariantId,
    /// Units.
    pub quantity: u32,
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
}

/// Everything the invariant checker reads.
#[derive(Debug, Clone, Default)]
pub struct AuditSnapshot {
    /// Stock per variant.
    pub stock: Vec<(VariantId, Stock)>,
    /// Active reservations.
    pub reservations: Vec<Reservation>,
    /// Every order.
    pub orders: Vec<Order>,
    /// Every payment.
    pub payments: Vec<Payment>,
    /// Every usage record.
    pub usage: Vec<UsageRecord>,
    /// Every promotion.
    pub promotions: Vec<Promotion>,
    /// Every outbox event.
    pub events: Vec<OutboxEvent>,
}

/// A consistent read of the whole store, for invariant checks and operations
/// tooling; never on a request path.
pub trait AuditStore: Send + Sync {
    /// Reads everything in one consistent snapshot.
    fn audit(&self) -> impl Future<Output = Result<AuditSnapshot, StoreError>> + Send;
}

/// The email belongs to another account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("email already taken")]
pub struct EmailTaken;

/// The account has already reviewed this product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("already reviewed")]
pub struct AlreadyReviewed;

/// Accounts, address books, wishlists and reviews.
///
/// # Contract
/// - Emails are unique (they are stored normalised to lower case): a clash
///   is [`EmailTaken`] and writes nothing.
/// - `save_address` inserts or replaces an entry atomically: an account's
///   first address becomes its default, and saving one with `is_default`
///   clears the flag on the others, so an account has at most one default.
/// - Wishlist adds and removes are idempotent; they answer whether anything changed.
/// - One review per account and product ([`AlreadyReviewed`] otherwise).
/// - `has_purchased` is true when the account has an order that captured
///   money (paid, shipped, delivered or refunded) with a line of the product.
pub trait AccountStore: Send + Sync {
    /// Creates an account.
    fn create_account(
        &self,
        account: Account,
    ) -> impl Future<Output = Result<Result<Account, EmailTaken>, StoreError>> + Send;
    /// Replaces an account (profile, roles, verification, hash).
    fn update_account(
        &self,
        account: Account,
    ) -> impl Future<Output = Result<Result<Account, EmailTaken>, StoreError>> + Send;
    /// An account.
    fn account(
        &self,
        id: CustomerId,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;
    /// An account by email.
    fn account_by_email(
        &self,
        email: &Email,
    ) -> impl Future<Output = Result<Option<Account>, StoreError>> + Send;
    /// Inserts or replaces an address-book entry (see the contract).
    fn save_address(
        &self,
        address: SavedAddress,
    ) -> impl Future<Output = Result<SavedAddress, StoreError>> + Send;
    /// Deletes an account's entry; `false` when it has none with this id.
    fn delete_address(
        &self,
        account: CustomerId,
        id: AddressId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// An account's address book, default first, then oldest first.
    fn addresses(
        &self,
        account: CustomerId,
    ) -> impl Future<Output = Result<Vec<SavedAddress>, StoreError>> + Send;
    /// Adds a product to a wishlist; `false` when it was there already.
    fn wishlist_add(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Removes a product from a wishlist; `false` when it was not there.
    fn wishlist_remove(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// An account's wishlist, oldest first.
    fn wishlist(
        &self,
        account: CustomerId,
    ) -> impl Future<Output = Result<Vec<ProductId>, StoreError>> + Send;
    /// Adds a review.
    fn add_review(
        &self,
        review: Review,
    ) -> impl Future<Output = Result<Result<Review, AlreadyReviewed>, StoreError>> + Send;
    /// A product's reviews, newest first.
    fn reviews(
        &self,
        product: ProductId,
        page: u32,
        per_page: u32,
    ) -> impl Future<Output = Result<Page<Review>, StoreError>> + Send;
    /// A product's rating.
    fn rating(&self, product: ProductId)
    -> impl Future<Output = Result<Rating, StoreError>> + Send;
    /// Whether the account bought the product (see the contract).
    fn has_purchased(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Refresh-token sessions and one-time secrets (see [`crate::credentials`]).
///
/// # Contract
/// - `rotate_session` is atomic: of several presentations of one live token
///   at once, exactly one rotates it; the others find it spent, which revokes
///   its whole family ([`Rotation::Reused`]). An unknown, expired or revoked
///   token is [`Rotation::Invalid`] and changes nothing.
/// - `revoke_family` (by any token of it, only for the token's own account)
///   and `revoke_sessions` take effect at once: no token of a revoked family
///   rotates afterwards.
/// - `put_secret` replaces the account's live secret of that purpose: a new
///   code or token voids the old one.
/// - `check_code` is atomic: the right code is accepted once and deleted; each
///   wrong try uses one attempt; at no attempts left, or past its expiry, the
///   code is dead ([`CodeCheck::Expired`]).
/// - `take_token` returns the account of a live token of that purpose and
///   deletes the token: it works once, even when presented twice at once.
/// - `prune_credentials` deletes secrets and sessions that expired before `now`.
pub trait CredentialStore: Send + Sync {
    /// Stores the first token of a new sign-in.
    fn create_session(
        &self,
        session: RefreshSession,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Spends a presented refresh token and stores its renewal.
    fn rotate_session(
        &self,
        presented: SecretDigest,
        renewal: SessionRenewal,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Rotation, StoreError>> + Send;
    /// Revokes the family of a presented token of `account`'s (sign-out);
    /// its family, or `None` (nothing revoked) when no token of that
    /// account has this digest.
    fn revoke_family(
        &self,
        presented: SecretDigest,
        account: CustomerId,
    ) -> impl Future<Output = Result<Option<SessionFamilyId>, StoreError>> + Send;
    /// Revokes every session of an account but `keep`; how many families.
    fn revoke_sessions(
        &self,
        account: CustomerId,
        keep: Option<SessionFamilyId>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Stores a one-time secret, voiding the account's earlier one of that purpose.
    fn put_secret(
        &self,
        secret: OneTimeSecret,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Checks a code against the account's live secret of that purpose.
    fn check_code(
        &self,
        account: CustomerId,
        purpose: SecretPurpose,
        digest: SecretDigest,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<CodeCheck, StoreError>> + Send;
    /// Uses a single-use token: its account, once.
    fn take_token(
        &self,
        purpose: SecretPurpose,
        digest: SecretDigest,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<CustomerId>, StoreError>> + Send;
    /// Deletes what expired before `now`; how many records.
    fn prune_credentials(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// Every storage trait: what services need from a backend.
pub trait Store:
    CatalogStore
    + InventoryStore
    + CartStore
    + PromotionStore
    + ShippingStore
    + OrderStore
    + OutboxStore
    + IdempotencyStore
    + AccountStore
    + CredentialStore
    + AuditStore
{
}

impl<T> Store for T where
    T: CatalogStore
        + InventoryStore
        + CartStore
        + PromotionStore
        + ShippingStore
        + OrderStore
        + OutboxStore
        + IdempotencyStore
        + AccountStore
        + CredentialStore
        + AuditStore
{
}
