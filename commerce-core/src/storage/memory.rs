//! [`InMemoryStore`]: the reference backend. One mutex guards the whole state,
//! so every operation is atomic and concurrent calls are serialised; each
//! operation checks everything before it changes anything.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};

use super::{
    AccountStore, AlreadyReviewed, ApplyPayment, AuditSnapshot, AuditStore, BelowReserved,
    CartChanged, CartStore, CatalogStore, CredentialStore, EmailTaken, IdempotencyStore,
    InventoryStore, LimitBelowUsage, OrderFilter, OrderStore, OutboxStore, Page, PaymentOutcome,
    PlaceOrder, PlaceRejection, PromotionStore, RefundRejection, Reservation, ShippingStore,
    StoreError, UnknownPayment, UsageRecord, UsageState, VariantRecord,
};
use crate::account::{Account, Email, Rating, Review, SavedAddress};
use crate::browse::{ProductListing, ProductQuery, ProductSort, name_key};
use crate::cart::{Cart, CartOwner};
use crate::catalog::Sku;
use crate::credentials::{
    CodeCheck, OneTimeSecret, RefreshSession, Rotation, SecretDigest, SecretPurpose, SessionRenewal,
};
use crate::idempotency::{Begin, Fingerprint, IdempotencyKey, IdempotencyRecord};
use crate::ids::{
    AddressId, CartId, CategoryId, CustomerId, EventId, OrderId, PaymentId, ProductId, PromotionId,
    SessionFamilyId, StoreId, VariantId,
};
use crate::inventory::{Shortage, Stock, crossed_low_threshold};
use crate::money::Money;
use crate::order::{InvalidTransition, Order, OrderEvent, OrderStatus, RefundRecord};
use crate::outbox::{EventKind, OutboxEvent};
use crate::payment::{Payment, PaymentAttempt, PaymentStatus};
use crate::pricing::{Usage, UsageCounts};
use crate::promotion::Promotion;
use crate::seller::{Category, Product, SellerStore, Variant};
use crate::shipping::ShippingMethod;

/// The first order number a new store gives.
const FIRST_ORDER_NUMBER: u64 = 1001;

#[derive(Debug, Default, Clone)]
struct State {
    seller_stores: HashMap<StoreId, SellerStore>,
    categories: HashMap<CategoryId, Category>,
    products: HashMap<ProductId, Product>,
    variants: HashMap<VariantId, Variant>,
    carts: HashMap<CartId, Cart>,
    cart_by_owner: HashMap<CartOwner, CartId>,
    promotions: BTreeMap<PromotionId, Promotion>,
    shipping_methods: BTreeMap<String, ShippingMethod>,
    usage: Vec<UsageRecord>,
    orders: HashMap<OrderId, Order>,
    next_number: u64,
    reservations: BTreeMap<(OrderId, VariantId), Reservation>,
    payments: HashMap<PaymentId, Payment>,
    payment_refs: HashMap<(String, String), PaymentId>,
    inbox: HashSet<(String, String)>,
    outbox: Vec<OutboxEvent>,
    idempotency: HashMap<(String, IdempotencyKey), IdempotencyRecord>,
    accounts: HashMap<CustomerId, Account>,
    account_by_email: HashMap<Email, CustomerId>,
    addresses: Vec<SavedAddress>,
    wishlist: Vec<(CustomerId, ProductId)>,
    reviews: Vec<Review>,
    sessions: Vec<StoredSession>,
    secrets: Vec<OneTimeSecret>,
}

#[derive(Debug, Clone)]
struct StoredSession {
    session: RefreshSession,
    spent: bool,
    revoked: bool,
}

/// The reference storage backend, in memory. Atomic and safe to share across
/// threads; fine for tests, demos and embedded use where nothing must survive
/// a restart.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut guard: MutexGuard<'_, State> =
            self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }
}

/// One page of `all` (already in order): `page` from 1, `per_page` 1 to 100.
fn paginate<T: Clone>(all: &[&T], page: u32, per_page: u32) -> Page<T> {
    let per_page = per_page.clamp(1, 100);
    let page = page.max(1);
    let skip = usize::try_from(u64::from(page - 1) * u64::from(per_page)).unwrap_or(usize::MAX);
    let items = all
        .iter()
        .skip(skip)
        .take(per_page as usize)
        .map(|x| (*x).clone())
        .collect();
    Page {
        items,
        page,
        per_page,
        total: all.len() as u64,
    }
}

/// Runs `f` under the lock when the future is first polled (futures stay lazy).
async fn op<T>(store: &InMemoryStore, f: impl FnOnce(&mut State) -> T) -> Result<T, StoreError> {
    Ok(store.with(f))
}

impl State {
    /// Inserts or replaces a promotion (see `PromotionStore::put_promotion`).
    fn put_promotion(
        &mut self,
        promotion: Promotion,
    ) -> Result<Result<(), LimitBelowUsage>, StoreError> {
        if let Some(code) = promotion.code()
            && self
                .promotions
                .values()
                .any(|p| p.code() == Some(code) && p.id() != promotion.id())
        {
            return Err(StoreError::Duplicate {
                what: "promotion code",
            });
        }
        let held = self.live_usage(promotion.id(), None).total;
        if let Some(limit) = promotion.usage_limit()
            && limit < held
        {
            return Ok(Err(LimitBelowUsage { limit, held }));
        }
        self.promotions.insert(promotion.id(), promotion);
        Ok(Ok(()))
    }

    /// The category and its descendants.
    fn category_subtree(&self, root: CategoryId) -> HashSet<CategoryId> {
        let mut tree = HashSet::from([root]);
        let mut grew = true;
        while grew {
            grew = false;
            for c in self.categories.values() {
                if c.parent_id.is_some_and(|p| tree.contains(&p)) && tree.insert(c.id) {
                    grew = true;
                }
            }
        }
        tree
    }

    fn search(&self, query: &ProductQuery) -> Page<ProductListing> {
        let subtree = query.category.map(|c| self.category_subtree(c));
        let mut variants_of: HashMap<ProductId, Vec<&Variant>> = HashMap::new();
        for v in self.variants.values() {
            variants_of.entry(v.product_id).or_default().push(v);
        }
        let mut hits: Vec<ProductListing> = self
            .products
            .values()
            .filter(|p| query.product_matches(p))
            .filter(|p| {
                subtree
                    .as_ref()
                    .is_none_or(|t| p.category_id.is_some_and(|c| t.contains(&c)))
            })
            .filter_map(|p| {
                let vs = variants_of.get(&p.id)?;
                if !vs.iter().any(|v| query.variant_matches(v)) {
                    return None;
                }
                let mut variants: Vec<Variant> = vs.iter().map(|v| (*v).clone()).collect();
                variants.sort_by(|a, b| a.sku.cmp(&b.sku));
                Some(ProductListing {
                    product: p.clone(),
                    variants,
                })
            })
            .collect();
        let by_id = |a: &ProductListing, b: &ProductListing| a.product.id.cmp(&b.product.id);
        match query.sort {
            ProductSort::Newest => hits.sort_by(|a, b| {
                b.product
                    .created_at
                    .cmp(&a.product.created_at)
                    .then(b.product.id.cmp(&a.product.id))
            }),
            ProductSort::Name => hits.sort_by(|a, b| {
                name_key(&a.product.name)
                    .cmp(&name_key(&b.product.name))
                    .then(by_id(a, b))
            }),
            ProductSort::PriceAsc => hits.sort_by(|a, b| {
                a.lowest_price_minor()
                    .cmp(&b.lowest_price_minor())
                    .then(by_id(a, b))
            }),
            ProductSort::PriceDesc => hits.sort_by(|a, b| {
                b.lowest_price_minor()
                    .cmp(&a.lowest_price_minor())
                    .then(by_id(a, b))
            }),
        }
        let total = hits.len() as u64;
        let skip = usize::try_from(query.offset()).unwrap_or(usize::MAX);
        let items = hits
            .into_iter()
            .skip(skip)
            .take(query.per_page() as usize)
            .collect();
        Page {
            items,
            page: query.page(),
            per_page: query.per_page(),
            total,
        }
    }

    fn emit(&mut self, kind: EventKind, now: DateTime<Utc>) {
        self.outbox.push(OutboxEvent::new(kind, now));
    }

    fn live_usage(&self, promotion: PromotionId, customer: Option<CustomerId>) -> Usage {
        let mut usage = Usage::default();
        for r in self
            .usage
            .iter()
            .filter(|r| r.promotion_id == promotion && r.state != UsageState::Released)
        {
            usage.total += 1;
            if customer.is_some() && r.customer_id == customer {
                usage.by_customer += 1;
            }
        }
        usage
    }

    fn set_usage(&mut self, order: OrderId, from: UsageState, to: UsageState) {
        for r in self
            .usage
            .iter_mut()
            .filter(|r| r.order_id == order && r.state == from)
        {
            r.state = to;
        }
    }

    /// A `LowStock` event when available stock crosses the threshold downward.
    fn low_stock_check(
        &mut self,
        variant: VariantId,
        before: u32,
        after: u32,
        threshold: u32,
        now: DateTime<Utc>,
    ) {
        if !crossed_low_threshold(before, after, threshold) {
            return;
        }
        let Some(v) = self.variants.get(&variant) else {
            return;
        };
        let Some(p) = self.products.get(&v.product_id) else {
            return;
        };
        let Some(s) = self.seller_stores.get(&p.store_id) else {
            return;
        };
        let kind = EventKind::LowStock {
            variant_id: variant,
            store_id: s.id,
            owner_id: s.owner_id,
            on_hand: after,
            threshold,
        };
        self.emit(kind, now);
    }

    /// Checks that every unit can be reserved; the shortages otherwise.
    fn shortages(&self, units: &[(VariantId, u32)]) -> Result<Vec<Shortage>, PlaceRejection> {
        let mut short = Vec::new();
        for &(variant_id, requested) in units {
            let v = self
                .variants
                .get(&variant_id)
                .ok_or(PlaceRejection::Gone("variant"))?;
            let available = v.stock.available();
            if available < requested {
                short.push(Shortage {
                    variant_id,
                    requested,
                    available,
                });
            }
        }
        Ok(short)
    }

    /// Checks each promotion's limits for a new hold by `order`.
    fn usage_check(&self, order: &Order) -> Result<(), PlaceRejection> {
        for held in &order.promotions {
            let promo = self
                .promotions
                .get(&held.promotion_id)
                .ok_or(PlaceRejection::Gone("promotion"))?;
            let usage = self.live_usage(held.promotion_id, order.customer_id);
            if promo
                .usage_limit()
                .is_some_and(|limit| usage.total >= limit)
            {
                return Err(PlaceRejection::UsageExhausted(held.promotion_id));
            }
            if order.customer_id.is_some()
                && promo
                    .per_customer_limit()
                    .is_some_and(|limit| usage.by_customer >= limit)
            {
                return Err(PlaceRejection::CustomerLimitReached(held.promotion_id));
            }
        }
        Ok(())
    }

    fn place(&mut self, place: PlaceOrder) -> Result<Order, PlaceRejection> {
        let PlaceOrder {
            mut order,
            cart,
            idempotency,
            low_stock_threshold,
        } = place;
        if let Some((cart_id, version)) = cart
            && self
                .carts
                .get(&cart_id)
                .is_none_or(|c| c.version != version)
        {
            return Err(PlaceRejection::CartChanged);
        }
        let units = order.units();
        let short = self.shortages(&units)?;
        if !short.is_empty() {
            return Err(PlaceRejection::InsufficientStock(short));
        }
        self.usage_check(&order)?;

        // Every check passed: change everything.
        let now = order.created_at;
        for &(variant_id, n) in &units {
            let (before, after) = match self.variants.get_mut(&variant_id) {
                Some(v) => {
                    let before = v.stock.available();
                    v.stock.reserved += n;
                    (before, v.stock.available())
                }
                None => continue,
            };
            self.reservations.insert(
                (order.id, variant_id),
                Reservation {
                    order_id: order.id,
                    variant_id,
                    quantity: n,
                    expires_at: order.reservation_expires_at,
                },
            );
            self.low_stock_check(variant_id, before, after, low_stock_threshold, now);
        }
        for held in &order.promotions {
            self.usage.push(UsageRecord {
                promotion_id: held.promotion_id,
                order_id: order.id,
                customer_id: order.customer_id,
                state: UsageState::Reserved,
            });
        }
        self.next_number = self.next_number.max(FIRST_ORDER_NUMBER - 1) + 1;
        order.number = self.next_number;
        order.status = OrderStatus::PendingPayment;
        if let Some((cart_id, _)) = cart
            && let Some(c) = self.carts.get_mut(&cart_id)
        {
            c.lines.clear();
            c.codes.clear();
            c.version += 1;
            c.updated_at = now;
        }
        if let Some((scope, key)) = idempotency
            && let Some(rec) = self.idempotency.get_mut(&(scope, key))
        {
            rec.response = Some(order.id.to_string());
        }
        self.emit(EventKind::OrderPlaced { order_id: order.id }, now);
        self.orders.insert(order.id, order.clone());
        Ok(order)
    }

    fn release_reservations(&mut self, order: OrderId) {
        let keys: Vec<_> = self
            .reservations
            .range((order, VariantId::from_u128(0))..)
            .take_while(|(k, _)| k.0 == order)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            if let Some(r) = self.reservations.remove(&key)
                && let Some(v) = self.variants.get_mut(&r.variant_id)
            {
                v.stock.reserved -= r.quantity;
            }
        }
    }

    /// Sells the reserved units: `on_hand -= n`, `reserved -= n`.
    fn commit_reservations(&mut self, order: OrderId) {
        let keys: Vec<_> = self
            .reservations
            .range((order, VariantId::from_u128(0))..)
            .take_while(|(k, _)| k.0 == order)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            if let Some(r) = self.reservations.remove(&key)
                && let Some(v) = self.variants.get_mut(&r.variant_id)
            {
                v.stock.reserved -= r.quantity;
                v.stock.on_hand -= r.quantity;
            }
        }
    }

    fn log(&mut self, payment: PaymentId, at: DateTime<Utc>, kind: &str, detail: String) {
        if let Some(p) = self.payments.get_mut(&payment) {
            p.attempts.push(PaymentAttempt {
                at,
                kind: kind.to_owned(),
                detail,
            });
            p.updated_at = at;
        }
    }

    fn refund_required(
        &mut self,
        payment: &Payment,
        now: DateTime<Utc>,
        source: &str,
    ) -> PaymentOutcome {
        if let Some(p) = self.payments.get_mut(&payment.id) {
            p.status = PaymentStatus::RefundRequired;
        }
        self.log(
            payment.id,
            now,
            source,
            "captured but the order cannot take it: refund required".into(),
        );
        let kind = EventKind::PaymentRefundRequired {
            order_id: payment.order_id,
            payment_id: payment.id,
            amount: payment.amount,
        };
        self.emit(kind, now);
        PaymentOutcome::RefundRequired
    }

    fn apply(&mut self, apply: ApplyPayment) -> Result<PaymentOutcome, UnknownPayment> {
        let ApplyPayment {
            event_id,
            verified,
            source,
            low_stock_threshold,
            now,
        } = apply;
        let gateway = verified.gateway().to_owned();
        if let Some(id) = &event_id
            && self.inbox.contains(&(gateway.clone(), id.clone()))
        {
            return Ok(PaymentOutcome::AlreadyApplied);
        }
        let payment_id = *self
            .payment_refs
            .get(&(gateway.clone(), verified.reference().to_owned()))
            .ok_or(UnknownPayment)?;
        let payment = self
            .payments
            .get(&payment_id)
            .cloned()
            .ok_or(UnknownPayment)?;
        if let Some(id) = event_id {
            self.inbox.insert((gateway, id));
        }
        let Some(order) = self.orders.get(&payment.order_id).cloned() else {
            return Err(UnknownPayment);
        };

        match (payment.status, verified.succeeded()) {
            (
                PaymentStatus::Succeeded | PaymentStatus::RefundRequired | PaymentStatus::Mismatch,
                _,
            )
            | (PaymentStatus::Failed | PaymentStatus::Voided, false) => {
                return Ok(PaymentOutcome::AlreadyApplied);
            }
            (PaymentStatus::Pending, false) => {
                if let Some(p) = self.payments.get_mut(&payment_id) {
                    p.status = PaymentStatus::Failed;
                }
                self.log(payment_id, now, source, "declined".into());
                return Ok(PaymentOutcome::Declined);
            }
            (PaymentStatus::Pending | PaymentStatus::Failed | PaymentStatus::Voided, true) => {}
        }

        if verified.amount() != order.total {
            if let Some(p) = self.payments.get_mut(&payment_id) {
                p.status = PaymentStatus::Mismatch;
            }
            let detail = format!(
                "gateway reported {}, order total is {}",
                verified.amount(),
                order.total
            );
            self.log(payment_id, now, source, detail);
            return Ok(PaymentOutcome::AmountMismatch {
                expected: order.total,
                received: verified.amount(),
            });
        }
        if payment.status == PaymentStatus::Voided {
            // The order was cancelled or paid otherwise: give back what was captured.
            return Ok(self.refund_required(&payment, now, source));
        }

        match order.status {
            OrderStatus::PendingPayment => self.commit_reservations(order.id),
            OrderStatus::Expired => {
                // A late payment: sell again if the stock and the promotion limits allow.
                let units = order.units();
                let can_reserve = matches!(self.shortages(&units), Ok(s) if s.is_empty())
                    && self.usage_check(&order).is_ok();
                if !can_reserve {
                    return Ok(self.refund_required(&payment, now, source));
                }
                for &(variant_id, n) in &units {
                    if let Some(v) = self.variants.get_mut(&variant_id) {
                        let before = v.stock.available();
                        v.stock.on_hand -= n;
                        let after = v.stock.available();
                        self.low_stock_check(variant_id, before, after, low_stock_threshold, now);
                    }
                }
                self.set_usage(order.id, UsageState::Released, UsageState::Committed);
            }
            _ => return Ok(self.refund_required(&payment, now, source)),
        }
        self.set_usage(order.id, UsageState::Reserved, UsageState::Committed);
        let Some(o) = self.orders.get_mut(&order.id) else {
            return Err(UnknownPayment);
        };
        o.status = OrderStatus::Paid;
        o.paid_by = Some(payment_id);
        o.captured = order.total;
        o.updated_at = now;
        let paid = o.clone();
        if let Some(p) = self.payments.get_mut(&payment_id) {
            p.status = PaymentStatus::Succeeded;
        }
        self.log(payment_id, now, source, "captured; order paid".into());
        let others: Vec<PaymentId> = self
            .payments
            .values()
            .filter(|p| {
                p.order_id == order.id && p.id != payment_id && p.status == PaymentStatus::Pending
            })
            .map(|p| p.id)
            .collect();
        for other in others {
            if let Some(p) = self.payments.get_mut(&other) {
                p.status = PaymentStatus::Voided;
            }
            self.log(
                other,
                now,
                source,
                "voided: the order was paid by another payment".into(),
            );
        }
        self.emit(
            EventKind::OrderPaid {
                order_id: order.id,
                payment_id,
            },
            now,
        );
        Ok(PaymentOutcome::Paid(Box::new(paid)))
    }

    fn cancel(
        &mut self,
        id: OrderId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Order, InvalidTransition>, StoreError> {
        let order = self
            .orders
            .get(&id)
            .cloned()
            .ok_or(StoreError::NotFound("order"))?;
        let next = match order.status.transition(OrderEvent::Cancel) {
            Ok(next) => next,
            Err(e) => return Ok(Err(e)),
        };
        let mut refund = None;
        if order.status == OrderStatus::PendingPayment {
            self.release_reservations(id);
            self.set_usage(id, UsageState::Reserved, UsageState::Released);
            let pending: Vec<PaymentId> = self
                .payments
                .values()
                .filter(|p| p.order_id == id && p.status == PaymentStatus::Pending)
                .map(|p| p.id)
                .collect();
            for p in pending {
                if let Some(pay) = self.payments.get_mut(&p) {
                    pay.status = PaymentStatus::Voided;
                }
                self.log(p, now, "cancel", "voided: the order was cancelled".into());
            }
        } else {
            for (variant_id, n) in order.units() {
                if let Some(v) = self.variants.get_mut(&variant_id) {
                    v.stock.on_hand += n;
                }
            }
            self.set_usage(id, UsageState::Committed, UsageState::Released);
            let left = order.refundable().map_err(|e| StoreError::Backend {
                message: e.to_string(),
                retryable: false,
            })?;
            if left.is_positive()
                && let Some(payment_id) = order.paid_by
            {
                refund = Some(left);
                if let Some(o) = self.orders.get_mut(&id) {
                    o.refunds.push(RefundRecord {
                        amount: left,
                        payment_id,
                        reason: reason.to_owned(),
                        created_at: now,
                    });
                }
            }
        }
        let Some(o) = self.orders.get_mut(&id) else {
            return Err(StoreError::NotFound("order"));
        };
        o.status = next;
        o.updated_at = now;
        let cancelled = o.clone();
        self.emit(
            EventKind::OrderCancelled {
                order_id: id,
                refund,
            },
            now,
        );
        Ok(Ok(cancelled))
    }

    fn expire(&mut self, now: DateTime<Utc>, limit: u32) -> Vec<OrderId> {
        let mut due: Vec<(DateTime<Utc>, OrderId)> = self
            .orders
            .values()
            .filter(|o| o.status == OrderStatus::PendingPayment && o.reservation_expires_at <= now)
            .map(|o| (o.reservation_expires_at, o.id))
            .collect();
        due.sort();
        due.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        for &(_, id) in &due {
            self.release_reservations(id);
            self.set_usage(id, UsageState::Reserved, UsageState::Released);
            if let Some(o) = self.orders.get_mut(&id) {
                o.status = OrderStatus::Expired;
                o.updated_at = now;
            }
            self.emit(EventKind::OrderExpired { order_id: id }, now);
        }
        due.into_iter().map(|(_, id)| id).collect()
    }

    fn step(
        &mut self,
        id: OrderId,
        event: OrderEvent,
        now: DateTime<Utc>,
        tracking: Option<String>,
    ) -> Result<Result<Order, InvalidTransition>, StoreError> {
        let o = self
            .orders
            .get_mut(&id)
            .ok_or(StoreError::NotFound("order"))?;
        let next = match o.status.transition(event) {
            Ok(next) => next,
            Err(e) => return Ok(Err(e)),
        };
        o.status = next;
        o.updated_at = now;
        if tracking.is_some() {
            o.tracking = tracking;
        }
        let order = o.clone();
        let kind = match event {
            OrderEvent::Ship => EventKind::OrderShipped { order_id: id },
            _ => EventKind::OrderDelivered { order_id: id },
        };
        self.emit(kind, now);
        Ok(Ok(order))
    }

    fn refund(
        &mut self,
        id: OrderId,
        amount: Money,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Order, RefundRejection>, StoreError> {
        let order = self
            .orders
            .get(&id)
            .cloned()
            .ok_or(StoreError::NotFound("order"))?;
        if !amount.is_positive() || amount.currency() != order.currency {
            return Ok(Err(RefundRejection::InvalidAmount));
        }
        let refundable = order.refundable().map_err(|e| StoreError::Backend {
            message: e.to_string(),
            retryable: false,
        })?;
        let event = if amount == refundable {
            OrderEvent::RefundFull
        } else {
            OrderEvent::RefundPartial
        };
        let next = match order.status.transition(event) {
            Ok(next) => next,
            Err(e) => return Ok(Err(e.into())),
        };
        if amount > refundable {
            return Ok(Err(RefundRejection::ExceedsCaptured {
                requested: amount,
                refundable,
            }));
        }
        let Some(payment_id) = order.paid_by else {
            return Ok(Err(RefundRejection::InvalidTransition(InvalidTransition {
                from: order.status,
                event,
            })));
        };
        let Some(o) = self.orders.get_mut(&id) else {
            return Err(StoreError::NotFound("order"));
        };
        o.refunds.push(RefundRecord {
            amount,
            payment_id,
            reason: reason.to_owned(),
            created_at: now,
        });
        o.status = next;
        o.updated_at = now;
        let refunded = o.clone();
        self.emit(
            EventKind::OrderRefunded {
                order_id: id,
                amount,
            },
            now,
        );
        Ok(Ok(refunded))
    }
}

impl CatalogStore for InMemoryStore {
    async fn put_seller_store(&self, store: SellerStore) -> Result<(), StoreError> {
        self.with(|s| {
            if s.seller_stores
                .values()
                .any(|o| o.slug == store.slug && o.id != store.id)
            {
                return Err(StoreError::Duplicate { what: "store slug" });
            }
            s.seller_stores.insert(store.id, store);
            Ok(())
        })
    }

    fn seller_store(
        &self,
        id: StoreId,
    ) -> impl Future<Output = Result<Option<SellerStore>, StoreError>> + Send {
        op(self, move |s| s.seller_stores.get(&id).cloned())
    }

    fn seller_stores(
        &self,
        page: u32,
        per_page: u32,
    ) -> impl Future<Output = Result<Page<SellerStore>, StoreError>> + Send {
        op(self, move |s| {
            let mut all: Vec<&SellerStore> = s.seller_stores.values().collect();
            all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            paginate(&all, page, per_page)
        })
    }

    async fn put_category(&self, category: Category) -> Result<(), StoreError> {
        self.with(|s| {
            if s.categories
                .values()
                .any(|o| o.slug == category.slug && o.id != category.id)
            {
                return Err(StoreError::Duplicate {
                    what: "category slug",
                });
            }
            s.categories.insert(category.id, category);
            Ok(())
        })
    }

    async fn delete_category(&self, id: CategoryId) -> Result<bool, StoreError> {
        op(self, move |s| {
            let in_use = s.categories.values().any(|c| c.parent_id == Some(id))
                || s.products.values().any(|p| p.category_id == Some(id));
            !in_use && s.categories.remove(&id).is_some()
        })
        .await
    }

    fn categories(&self) -> impl Future<Output = Result<Vec<Category>, StoreError>> + Send {
        op(self, |s| {
            let mut all: Vec<Category> = s.categories.values().cloned().collect();
            all.sort_by_key(|c| c.id);
            all
        })
    }

    async fn put_product(
        &self,
        product: Product,
        variants: Vec<Variant>,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            let mut skus: HashSet<&Sku> = HashSet::new();
            for v in &variants {
                if !skus.insert(&v.sku)
                    || s.variants.values().any(|o| o.sku == v.sku && o.id != v.id)
                {
                    return Err(StoreError::Duplicate { what: "sku" });
                }
            }
            for mut v in variants {
                if let Some(existing) = s.variants.get(&v.id) {
                    v.stock = existing.stock;
                }
                v.product_id = product.id;
                s.variants.insert(v.id, v);
            }
            s.products.insert(product.id, product);
            Ok(())
        })
    }

    fn product(
        &self,
        id: ProductId,
    ) -> impl Future<Output = Result<Option<(Product, Vec<Variant>)>, StoreError>> + Send {
        op(self, move |s| {
            s.products.get(&id).map(|p| {
                let mut vs: Vec<Variant> = s
                    .variants
                    .values()
                    .filter(|v| v.product_id == id)
                    .cloned()
                    .collect();
                vs.sort_by(|a, b| a.sku.cmp(&b.sku));
                (p.clone(), vs)
            })
        })
    }

    fn variants(
        &self,
        ids: &[VariantId],
    ) -> impl Future<Output = Result<Vec<VariantRecord>, StoreError>> + Send {
        let ids = ids.to_vec();
        op(self, move |s| {
            ids.iter()
                .filter_map(|id| {
                    let variant = s.variants.get(id)?.clone();
                    let product = s.products.get(&variant.product_id)?.clone();
                    Some(VariantRecord { variant, product })
                })
                .collect()
        })
    }

    fn search_products(
        &self,
        query: &ProductQuery,
    ) -> impl Future<Output = Result<Page<ProductListing>, StoreError>> + Send {
        let query = query.clone();
        op(self, move |s| s.search(&query))
    }
}

impl InventoryStore for InMemoryStore {
    fn stock(
        &self,
        variant: VariantId,
    ) -> impl Future<Output = Result<Option<Stock>, StoreError>> + Send {
        op(self, move |s| s.variants.get(&variant).map(|v| v.stock))
    }

    async fn set_on_hand(
        &self,
        variant: VariantId,
        on_hand: u32,
        low_threshold: u32,
        now: DateTime<Utc>,
    ) -> Result<Result<(Stock, Stock), BelowReserved>, StoreError> {
        self.with(|s| {
            let v = s
                .variants
                .get_mut(&variant)
                .ok_or(StoreError::NotFound("variant"))?;
            let before = v.stock;
            if on_hand < before.reserved {
                return Ok(Err(BelowReserved {
                    reserved: before.reserved,
                }));
            }
            v.stock.on_hand = on_hand;
            let after = v.stock;
            s.low_stock_check(
                variant,
                before.available(),
                after.available(),
                low_threshold,
                now,
            );
            Ok(Ok((before, after)))
        })
    }
}

impl CartStore for InMemoryStore {
    fn cart_of(
        &self,
        owner: &CartOwner,
    ) -> impl Future<Output = Result<Option<Cart>, StoreError>> + Send {
        let owner = owner.clone();
        op(self, move |s| {
            s.cart_by_owner
                .get(&owner)
                .and_then(|id| s.carts.get(id))
                .cloned()
        })
    }

    fn save_cart(
        &self,
        cart: Cart,
    ) -> impl Future<Output = Result<Result<Cart, CartChanged>, StoreError>> + Send {
        op(self, move |s| save(s, cart))
    }

    fn merge_carts(
        &self,
        into: Cart,
        guest: CartId,
        guest_version: u64,
    ) -> impl Future<Output = Result<Result<Cart, CartChanged>, StoreError>> + Send {
        op(self, move |s| {
            if s.carts
                .get(&guest)
                .is_none_or(|g| g.version != guest_version)
            {
                return Err(CartChanged);
            }
            let saved = save(s, into)?;
            if let Some(g) = s.carts.remove(&guest) {
                s.cart_by_owner.remove(&g.owner);
            }
            Ok(saved)
        })
    }
}

fn save(s: &mut State, mut cart: Cart) -> Result<Cart, CartChanged> {
    match s.carts.get(&cart.id) {
        Some(stored) if stored.version != cart.version || stored.owner != cart.owner => {
            return Err(CartChanged);
        }
        Some(_) => {}
        None if s.cart_by_owner.contains_key(&cart.owner) => return Err(CartChanged),
        None => {}
    }
    cart.version += 1;
    s.cart_by_owner.insert(cart.owner.clone(), cart.id);
    s.carts.insert(cart.id, cart.clone());
    Ok(cart)
}

impl PromotionStore for InMemoryStore {
    async fn put_promotion(
        &self,
        promotion: Promotion,
    ) -> Result<Result<(), LimitBelowUsage>, StoreError> {
        self.with(|s| s.put_promotion(promotion))
    }

    async fn replace_promotion(
        &self,
        promotion: Promotion,
    ) -> Result<Option<Result<(), LimitBelowUsage>>, StoreError> {
        // One lock for the check and the write: a delete cannot slip between.
        self.with(|s| {
            if s.promotions.contains_key(&promotion.id()) {
                s.put_promotion(promotion).map(Some)
            } else {
                Ok(None)
            }
        })
    }

    fn delete_promotion(
        &self,
        id: PromotionId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        op(self, move |s| s.promotions.remove(&id).is_some())
    }

    fn promotions(&self) -> impl Future<Output = Result<Vec<Promotion>, StoreError>> + Send {
        op(self, |s| s.promotions.values().cloned().collect())
    }

    fn usage(
        &self,
        promotions: &[PromotionId],
        customer: Option<CustomerId>,
    ) -> impl Future<Output = Result<UsageCounts, StoreError>> + Send {
        let ids = promotions.to_vec();
        op(self, move |s| {
            let mut counts = UsageCounts::new();
            for id in ids {
                counts.insert(id, s.live_usage(id, customer));
            }
            counts
        })
    }
}

impl ShippingStore for InMemoryStore {
    fn insert_shipping_method(
        &self,
        method: ShippingMethod,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let store = self;
        async move {
            store.with(|s| {
                if s.shipping_methods.contains_key(method.code()) {
                    return Err(StoreError::Duplicate {
                        what: "shipping method code",
                    });
                }
                s.shipping_methods.insert(method.code().to_owned(), method);
                Ok(())
            })
        }
    }

    fn replace_shipping_method(
        &self,
        method: ShippingMethod,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        op(self, move |s| {
            match s.shipping_methods.get_mut(method.code()) {
                Some(stored) => {
                    *stored = method;
                    true
                }
                None => false,
            }
        })
    }

    fn delete_shipping_method(
        &self,
        code: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        let code = code.to_owned();
        op(self, move |s| s.shipping_methods.remove(&code).is_some())
    }

    fn shipping_methods(
        &self,
    ) -> impl Future<Output = Result<Vec<ShippingMethod>, StoreError>> + Send {
        op(self, |s| s.shipping_methods.values().cloned().collect())
    }
}

impl OrderStore for InMemoryStore {
    fn place_order(
        &self,
        place: PlaceOrder,
    ) -> impl Future<Output = Result<Result<Order, PlaceRejection>, StoreError>> + Send {
        op(self, move |s| s.place(place))
    }

    fn order(&self, id: OrderId) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send {
        op(self, move |s| s.orders.get(&id).cloned())
    }

    fn orders(
        &self,
        filter: OrderFilter,
        page: u32,
        per_page: u32,
    ) -> impl Future<Output = Result<Page<Order>, StoreError>> + Send {
        op(self, move |s| {
            let mut all: Vec<&Order> = s
                .orders
                .values()
                .filter(|o| filter.customer_id.is_none_or(|c| o.customer_id == Some(c)))
                .filter(|o| filter.status.is_none_or(|st| o.status == st))
                .filter(|o| {
                    filter
                        .store_id
                        .is_none_or(|st| o.lines.iter().any(|l| l.store_id == st))
                })
                .collect();
            all.sort_by(|a, b| {
                b.created_at
                    .cmp(&a.created_at)
                    .then(b.number.cmp(&a.number))
            });
            paginate(&all, page, per_page)
        })
    }

    async fn insert_payment(&self, payment: Payment) -> Result<(), StoreError> {
        self.with(|s| {
            let key = (payment.gateway.clone(), payment.reference.clone());
            if s.payment_refs.get(&key).is_some_and(|id| *id != payment.id) {
                return Err(StoreError::Duplicate {
                    what: "payment reference",
                });
            }
            s.payment_refs.insert(key, payment.id);
            s.payments.insert(payment.id, payment);
            Ok(())
        })
    }

    fn payment(
        &self,
        id: PaymentId,
    ) -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send {
        op(self, move |s| s.payments.get(&id).cloned())
    }

    fn payment_by_reference(
        &self,
        gateway: &str,
        reference: &str,
    ) -> impl Future<Output = Result<Option<Payment>, StoreError>> + Send {
        let key = (gateway.to_owned(), reference.to_owned());
        op(self, move |s| {
            s.payment_refs
                .get(&key)
                .and_then(|id| s.payments.get(id))
                .cloned()
        })
    }

    fn pending_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Payment>, StoreError>> + Send {
        op(self, move |s| {
            let mut due: Vec<Payment> = s
                .payments
                .values()
                .filter(|p| p.status == PaymentStatus::Pending && p.created_at < created_before)
                .cloned()
                .collect();
            due.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            due.truncate(limit as usize);
            due
        })
    }

    fn payments_of(
        &self,
        order: OrderId,
    ) -> impl Future<Output = Result<Vec<Payment>, StoreError>> + Send {
        op(self, move |s| {
            let mut all: Vec<Payment> = s
                .payments
                .values()
                .filter(|p| p.order_id == order)
                .cloned()
                .collect();
            all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            all
        })
    }

    fn payments_of_orders(
        &self,
        orders: &[OrderId],
    ) -> impl Future<Output = Result<Vec<Payment>, StoreError>> + Send {
        let wanted: std::collections::HashSet<OrderId> = orders.iter().copied().collect();
        op(self, move |s| {
            let mut all: Vec<Payment> = s
                .payments
                .values()
                .filter(|p| wanted.contains(&p.order_id))
                .cloned()
                .collect();
            all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            all
        })
    }

    async fn record_attempt(
        &self,
        payment: PaymentId,
        attempt: PaymentAttempt,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            let p = s
                .payments
                .get_mut(&payment)
                .ok_or(StoreError::NotFound("payment"))?;
            p.updated_at = attempt.at;
            p.attempts.push(attempt);
            Ok(())
        })
    }

    fn apply_payment(
        &self,
        apply: ApplyPayment,
    ) -> impl Future<Output = Result<Result<PaymentOutcome, UnknownPayment>, StoreError>> + Send
    {
        op(self, move |s| s.apply(apply))
    }

    async fn cancel_order(
        &self,
        id: OrderId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Order, InvalidTransition>, StoreError> {
        let reason = reason.to_owned();
        self.with(|s| s.cancel(id, &reason, now))
    }

    fn expire_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OrderId>, StoreError>> + Send {
        op(self, move |s| s.expire(now, limit))
    }

    async fn ship(
        &self,
        id: OrderId,
        tracking: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Result<Order, InvalidTransition>, StoreError> {
        self.with(|s| s.step(id, OrderEvent::Ship, now, tracking))
    }

    async fn deliver(
        &self,
        id: OrderId,
        now: DateTime<Utc>,
    ) -> Result<Result<Order, InvalidTransition>, StoreError> {
        self.with(|s| s.step(id, OrderEvent::Deliver, now, None))
    }

    async fn refund(
        &self,
        id: OrderId,
        amount: Money,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Order, RefundRejection>, StoreError> {
        let reason = reason.to_owned();
        self.with(|s| s.refund(id, amount, &reason, now))
    }
}

impl OutboxStore for InMemoryStore {
    fn pending_events(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OutboxEvent>, StoreError>> + Send {
        op(self, move |s| {
            s.outbox
                .iter()
                .filter(|e| e.relayed_at.is_none())
                .take(limit as usize)
                .cloned()
                .collect()
        })
    }

    fn pending_events_after(
        &self,
        after: crate::ids::EventId,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OutboxEvent>, StoreError>> + Send {
        op(self, move |s| {
            let start = s
                .outbox
                .iter()
                .position(|e| e.id == after)
                .map_or(0, |i| i + 1);
            s.outbox[start..]
                .iter()
                .filter(|e| e.relayed_at.is_none())
                .take(limit as usize)
                .cloned()
                .collect()
        })
    }

    fn mark_relayed(
        &self,
        ids: &[EventId],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let ids: HashSet<EventId> = ids.iter().copied().collect();
        op(self, move |s| {
            for e in s
                .outbox
                .iter_mut()
                .filter(|e| ids.contains(&e.id) && e.relayed_at.is_none())
            {
                e.relayed_at = Some(now);
            }
        })
    }
}

impl IdempotencyStore for InMemoryStore {
    fn begin(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Begin, StoreError>> + Send {
        let id = (scope.to_owned(), key.clone());
        op(self, move |s| match s.idempotency.get_mut(&id) {
            Some(rec) => {
                let begin = rec.begin(fingerprint, now);
                if begin == Begin::Started {
                    rec.locked_until = lock_until;
                }
                begin
            }
            None => {
                let rec = IdempotencyRecord {
                    scope: id.0.clone(),
                    key: id.1.clone(),
                    fingerprint,
                    response: None,
                    locked_until: lock_until,
                    created_at: now,
                };
                s.idempotency.insert(id, rec);
                Begin::Started
            }
        })
    }

    fn complete(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        response: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let id = (scope.to_owned(), key.clone());
        op(self, move |s| {
            if let Some(rec) = s.idempotency.get_mut(&id) {
                rec.response = Some(response);
            }
        })
    }

    fn release(
        &self,
        scope: &str,
        key: &IdempotencyKey,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let id = (scope.to_owned(), key.clone());
        op(self, move |s| {
            if s.idempotency.get(&id).is_some_and(|r| r.response.is_none()) {
                s.idempotency.remove(&id);
            }
        })
    }

    fn prune(&self, before: DateTime<Utc>) -> impl Future<Output = Result<u64, StoreError>> + Send {
        op(self, move |s| {
            let n = s.idempotency.len();
            s.idempotency.retain(|_, r| r.created_at >= before);
            (n - s.idempotency.len()) as u64
        })
    }
}

impl AuditStore for InMemoryStore {
    fn audit(&self) -> impl Future<Output = Result<AuditSnapshot, StoreError>> + Send {
        op(self, |s| AuditSnapshot {
            stock: s.variants.values().map(|v| (v.id, v.stock)).collect(),
            reservations: s.reservations.values().cloned().collect(),
            orders: s.orders.values().cloned().collect(),
            payments: s.payments.values().cloned().collect(),
            usage: s.usage.clone(),
            promotions: s.promotions.values().cloned().collect(),
            events: s.outbox.clone(),
        })
    }
}

impl AccountStore for InMemoryStore {
    async fn create_account(
        &self,
        account: Account,
    ) -> Result<Result<Account, EmailTaken>, StoreError> {
        op(self, move |s| {
            if s.account_by_email.contains_key(&account.email)
                || s.accounts.contains_key(&account.id)
            {
                return Err(EmailTaken);
            }
            s.account_by_email.insert(account.email.clone(), account.id);
            s.accounts.insert(account.id, account.clone());
            Ok(account)
        })
        .await
    }

    async fn update_account(
        &self,
        account: Account,
    ) -> Result<Result<Account, EmailTaken>, StoreError> {
        self.with(|s| {
            let old = s
                .accounts
                .get(&account.id)
                .ok_or(StoreError::NotFound("account"))?
                .email
                .clone();
            if old != account.email {
                if s.account_by_email.contains_key(&account.email) {
                    return Ok(Err(EmailTaken));
                }
                s.account_by_email.remove(&old);
                s.account_by_email.insert(account.email.clone(), account.id);
            }
            s.accounts.insert(account.id, account.clone());
            Ok(Ok(account))
        })
    }

    async fn account(&self, id: CustomerId) -> Result<Option<Account>, StoreError> {
        op(self, move |s| s.accounts.get(&id).cloned()).await
    }

    async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        op(self, |s| {
            s.account_by_email
                .get(email)
                .and_then(|id| s.accounts.get(id))
                .cloned()
        })
        .await
    }

    async fn save_address(&self, mut address: SavedAddress) -> Result<SavedAddress, StoreError> {
        op(self, move |s| {
            let others = s
                .addresses
                .iter()
                .filter(|a| a.account_id == address.account_id && a.id != address.id);
            if others.clone().count() == 0 {
                address.is_default = true;
            }
            if address.is_default {
                for a in s
                    .addresses
                    .iter_mut()
                    .filter(|a| a.account_id == address.account_id)
                {
                    a.is_default = false;
                }
            }
            match s.addresses.iter_mut().find(|a| a.id == address.id) {
                Some(existing) => *existing = address.clone(),
                None => s.addresses.push(address.clone()),
            }
            address
        })
        .await
    }

    async fn delete_address(&self, account: CustomerId, id: AddressId) -> Result<bool, StoreError> {
        op(self, move |s| {
            let before = s.addresses.len();
            s.addresses
                .retain(|a| !(a.id == id && a.account_id == account));
            s.addresses.len() != before
        })
        .await
    }

    async fn addresses(&self, account: CustomerId) -> Result<Vec<SavedAddress>, StoreError> {
        op(self, move |s| {
            let mut book: Vec<SavedAddress> = s
                .addresses
                .iter()
                .filter(|a| a.account_id == account)
                .cloned()
                .collect();
            book.sort_by_key(|a| (!a.is_default, a.id));
            book
        })
        .await
    }

    async fn wishlist_add(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> Result<bool, StoreError> {
        op(self, move |s| {
            if s.wishlist.contains(&(account, product)) {
                return false;
            }
            s.wishlist.push((account, product));
            true
        })
        .await
    }

    async fn wishlist_remove(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> Result<bool, StoreError> {
        op(self, move |s| {
            let before = s.wishlist.len();
            s.wishlist.retain(|w| *w != (account, product));
            s.wishlist.len() != before
        })
        .await
    }

    async fn wishlist(&self, account: CustomerId) -> Result<Vec<ProductId>, StoreError> {
        op(self, move |s| {
            s.wishlist
                .iter()
                .filter(|(a, _)| *a == account)
                .map(|(_, p)| *p)
                .collect()
        })
        .await
    }

    async fn add_review(
        &self,
        review: Review,
    ) -> Result<Result<Review, AlreadyReviewed>, StoreError> {
        op(self, move |s| {
            if s.reviews
                .iter()
                .any(|r| r.product_id == review.product_id && r.account_id == review.account_id)
            {
                return Err(AlreadyReviewed);
            }
            s.reviews.push(review.clone());
            Ok(review)
        })
        .await
    }

    async fn reviews(
        &self,
        product: ProductId,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Review>, StoreError> {
        op(self, move |s| {
            let mut all: Vec<&Review> = s
                .reviews
                .iter()
                .filter(|r| r.product_id == product)
                .collect();
            all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
            paginate(&all, page, per_page)
        })
        .await
    }

    async fn rating(&self, product: ProductId) -> Result<Rating, StoreError> {
        op(self, move |s| {
            let (sum, count) = s
                .reviews
                .iter()
                .filter(|r| r.product_id == product)
                .fold((0_u32, 0_u32), |(sum, n), r| {
                    (sum + u32::from(r.rating), n + 1)
                });
            let average = if count == 0 {
                0.0
            } else {
                f64::from(sum) / f64::from(count)
            };
            Rating { average, count }
        })
        .await
    }

    async fn has_purchased(
        &self,
        account: CustomerId,
        product: ProductId,
    ) -> Result<bool, StoreError> {
        op(self, move |s| {
            s.orders.values().any(|o| {
                o.customer_id == Some(account)
                    && (o.status.is_captured() || o.status == OrderStatus::Refunded)
                    && o.lines.iter().any(|l| l.product_id == product)
            })
        })
        .await
    }
}

impl CredentialStore for InMemoryStore {
    async fn create_session(&self, session: RefreshSession) -> Result<(), StoreError> {
        op(self, move |s| {
            s.sessions.push(StoredSession {
                session,
                spent: false,
                revoked: false,
            });
        })
        .await
    }

    async fn rotate_session(
        &self,
        presented: SecretDigest,
        renewal: SessionRenewal,
        now: DateTime<Utc>,
    ) -> Result<Rotation, StoreError> {
        op(self, move |s| {
            let Some(found) = s
                .sessions
                .iter()
                .position(|t| t.session.digest == presented)
            else {
                return Rotation::Invalid;
            };
            let t = s.sessions[found].clone();
            if t.revoked || t.session.expires_at <= now {
                return Rotation::Invalid;
            }
            let (account_id, family) = (t.session.account_id, t.session.family);
            if t.spent {
                for other in s.sessions.iter_mut().filter(|o| o.session.family == family) {
                    other.revoked = true;
                }
                return Rotation::Reused { account_id, family };
            }
            s.sessions[found].spent = true;
            s.sessions.push(StoredSession {
                session: RefreshSession {
                    id: renewal.id,
                    family,
                    account_id,
                    digest: renewal.digest,
                    expires_at: renewal.expires_at,
                    created_at: now,
                },
                spent: false,
                revoked: false,
            });
            Rotation::Rotated { account_id, family }
        })
        .await
    }

    async fn revoke_family(
        &self,
        presented: SecretDigest,
        account: CustomerId,
    ) -> Result<Option<SessionFamilyId>, StoreError> {
        op(self, move |s| {
            let family = s
                .sessions
                .iter()
                .find(|t| t.session.digest == presented && t.session.account_id == account)
                .map(|t| t.session.family)?;
            for t in s.sessions.iter_mut().filter(|t| t.session.family == family) {
                t.revoked = true;
            }
            Some(family)
        })
        .await
    }

    async fn revoke_sessions(
        &self,
        account: CustomerId,
        keep: Option<SessionFamilyId>,
    ) -> Result<u64, StoreError> {
        op(self, move |s| {
            let mut families = HashSet::new();
            for t in s.sessions.iter_mut().filter(|t| {
                t.session.account_id == account && Some(t.session.family) != keep && !t.revoked
            }) {
                t.revoked = true;
                families.insert(t.session.family);
            }
            families.len() as u64
        })
        .await
    }

    async fn put_secret(&self, secret: OneTimeSecret) -> Result<(), StoreError> {
        op(self, move |s| {
            s.secrets
                .retain(|o| !(o.account_id == secret.account_id && o.purpose == secret.purpose));
            s.secrets.push(secret);
        })
        .await
    }

    async fn check_code(
        &self,
        account: CustomerId,
        purpose: SecretPurpose,
        digest: SecretDigest,
        now: DateTime<Utc>,
    ) -> Result<CodeCheck, StoreError> {
        op(self, move |s| {
            let Some(i) = s
                .secrets
                .iter()
                .position(|o| o.account_id == account && o.purpose == purpose)
            else {
                return CodeCheck::Missing;
            };
            let secret = &mut s.secrets[i];
            if secret.expires_at <= now || secret.attempts_left == 0 {
                return CodeCheck::Expired;
            }
            if secret.digest == digest {
                s.secrets.remove(i);
                return CodeCheck::Accepted;
            }
            secret.attempts_left -= 1;
            CodeCheck::Wrong {
                attempts_left: secret.attempts_left,
            }
        })
        .await
    }

    async fn take_token(
        &self,
        purpose: SecretPurpose,
        digest: SecretDigest,
        now: DateTime<Utc>,
    ) -> Result<Option<CustomerId>, StoreError> {
        op(self, move |s| {
            let i = s
                .secrets
                .iter()
                .position(|o| o.purpose == purpose && o.digest == digest)?;
            let secret = s.secrets.remove(i);
            (secret.expires_at > now).then_some(secret.account_id)
        })
        .await
    }

    async fn prune_credentials(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        op(self, move |s| {
            let before = s.secrets.len() + s.sessions.len();
            s.secrets.retain(|o| o.expires_at > now);
            s.sessions.retain(|t| t.session.expires_at > now);
            (before - s.secrets.len() - s.sessions.len()) as u64
        })
        .await
    }
}
