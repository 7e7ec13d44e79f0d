//! What the simulation expects the store to hold: kept in step with every
//! operation from what the contract says it must do, and compared with the
//! store's audit after every step.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use chrono::{DateTime, Utc};

use crate::cart::CartOwner;
use crate::idempotency::IdempotencyKey;
use crate::ids::{CustomerId, LineId, OrderId, PaymentId, ProductId, PromotionId, VariantId};
use crate::inventory::{Shortage, crossed_low_threshold};
use crate::money::{Currency, Money};
use crate::order::{Order as PlacedOrder, OrderStatus};
use crate::outbox::EventKind;
use crate::payment::{PaymentStatus, SignedWebhook};
use crate::pricing::NotApplied;
use crate::promotion::DiscountCode;
use crate::service::CommerceError;
use crate::storage::{AuditSnapshot, UsageState};

/// The simulation's shop sells in dollars.
pub(super) const USD: Currency = Currency::USD;
/// Available stock at or below which the owner is told (the default config's).
pub(super) const LOW_STOCK: u32 = 3;
/// The shipping method's price and the discounted subtotal from which it is free.
pub(super) const SHIPPING: i64 = 499;
/// See [`SHIPPING`].
pub(super) const FREE_SHIPPING_OVER: i64 = 5000;

/// Dollars from cents.
pub(super) fn usd(minor: i64) -> Money {
    Money::from_minor(minor, USD)
}

/// A variant: its price now and its stock.
#[derive(Debug)]
pub(super) struct Variant {
    pub(super) id: VariantId,
    pub(super) product: usize,
    pub(super) price: i64,
    pub(super) on_hand: u32,
    pub(super) reserved: u32,
}

impl Variant {
    pub(super) fn available(&self) -> u32 {
        self.on_hand.saturating_sub(self.reserved)
    }
}

/// A product: withdrawn or not.
#[derive(Debug)]
pub(super) struct Product {
    pub(super) id: ProductId,
    pub(super) withdrawn: bool,
}

/// A promotion, reduced to what decides whether its code applies.
#[derive(Debug)]
pub(super) struct Promo {
    pub(super) id: PromotionId,
    pub(super) code: Option<&'static str>,
    pub(super) limit: Option<u32>,
    pub(super) per_customer: Option<u32>,
    pub(super) min_subtotal: Option<i64>,
    pub(super) free_shipping: bool,
}

/// A cart line.
#[derive(Debug)]
pub(super) struct Line {
    pub(super) id: LineId,
    pub(super) variant: usize,
    pub(super) qty: u32,
    pub(super) price_when_added: i64,
}

/// A buyer (guest or account) and their cart.
#[derive(Debug)]
pub(super) struct Owner {
    pub(super) owner: CartOwner,
    pub(super) customer: Option<CustomerId>,
    pub(super) lines: Vec<Line>,
    pub(super) codes: Vec<String>,
}

/// An order: the snapshot taken at checkout, and what may change.
#[derive(Debug)]
pub(super) struct Order {
    pub(super) placed: PlacedOrder,
    pub(super) status: OrderStatus,
    pub(super) captured: i64,
    pub(super) refunds: Vec<i64>,
    pub(super) paid_by: Option<usize>,
    pub(super) units: Vec<(usize, u32)>,
    pub(super) promos: Vec<usize>,
    pub(super) tracking: Option<String>,
}

impl Order {
    pub(super) fn id(&self) -> OrderId {
        self.placed.id
    }

    pub(super) fn total(&self) -> i64 {
        self.placed.total.minor()
    }

    pub(super) fn refundable(&self) -> i64 {
        self.captured - self.refunds.iter().sum::<i64>()
    }

    /// How its promotion usage stands (I3), which follows from its status.
    pub(super) fn usage_state(&self) -> UsageState {
        match self.status {
            OrderStatus::PendingPayment => UsageState::Reserved,
            OrderStatus::Cancelled | OrderStatus::Expired => UsageState::Released,
            _ => UsageState::Committed,
        }
    }
}

/// The sandbox's side of a payment (its hosted page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gateway {
    Pending,
    Paid,
    Declined,
}

/// A payment.
#[derive(Debug)]
pub(super) struct Payment {
    pub(super) id: PaymentId,
    pub(super) order: usize,
    pub(super) reference: String,
    pub(super) amount: i64,
    pub(super) status: PaymentStatus,
    pub(super) gateway: Gateway,
}

/// A webhook the gateway sent or will (re)send.
#[derive(Debug)]
pub(super) struct Delivery {
    pub(super) event_id: String,
    pub(super) payment: usize,
    pub(super) amount: Money,
    pub(super) paid: bool,
    pub(super) hook: SignedWebhook,
    pub(super) signed_at: DateTime<Utc>,
}

/// A checkout idempotency key a buyer used; `order` once it placed one.
#[derive(Debug)]
pub(super) struct CheckoutKey {
    pub(super) owner: usize,
    pub(super) key: IdempotencyKey,
    pub(super) email: String,
    pub(super) order: Option<usize>,
    /// The final refusal the key answered with, replayed to the same request.
    pub(super) refused: Option<CommerceError>,
}

/// A payment idempotency key.
#[derive(Debug)]
pub(super) struct PaymentKey {
    pub(super) order: usize,
    pub(super) key: IdempotencyKey,
    pub(super) payment: usize,
}

/// Outbox events written so far, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Announced {
    pub(super) placed: u64,
    pub(super) paid: u64,
    pub(super) cancelled: u64,
    pub(super) cancelled_with_refund: u64,
    pub(super) expired: u64,
    pub(super) shipped: u64,
    pub(super) delivered: u64,
    pub(super) refunded: u64,
    pub(super) refund_required: u64,
    pub(super) low_stock: u64,
}

impl Announced {
    fn of(events: &[crate::outbox::OutboxEvent]) -> Self {
        let mut n = Announced::default();
        for e in events {
            match &e.kind {
                EventKind::OrderPlaced { .. } => n.placed += 1,
                EventKind::OrderPaid { .. } => n.paid += 1,
                EventKind::OrderCancelled { refund, .. } => {
                    n.cancelled += 1;
                    n.cancelled_with_refund += u64::from(refund.is_some());
                }
                EventKind::OrderExpired { .. } => n.expired += 1,
                EventKind::OrderShipped { .. } => n.shipped += 1,
                EventKind::OrderDelivered { .. } => n.delivered += 1,
                EventKind::OrderRefunded { .. } => n.refunded += 1,
                EventKind::PaymentRefundRequired { .. } => n.refund_required += 1,
                EventKind::LowStock { .. } => n.low_stock += 1,
            }
        }
        n
    }
}

/// What applying a verified payment must do (the `apply_payment` contract).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Plan {
    /// No payment has the reference: refused, nothing recorded.
    Unknown,
    /// The event, or the payment, was applied before: nothing changes.
    AlreadyApplied,
    /// A decline of a pending payment.
    Declined,
    /// Amount or currency differ from the order's total.
    Mismatch { expected: Money, received: Money },
    /// Captured, but the order cannot take it.
    RefundRequired,
    /// Pays the order; `late` when it had expired and is sold again.
    Pay { late: bool },
}

/// The whole model.
#[derive(Debug, Default)]
pub(super) struct Model {
    pub(super) variants: Vec<Variant>,
    pub(super) products: Vec<Product>,
    pub(super) promos: Vec<Promo>,
    pub(super) owners: Vec<Owner>,
    pub(super) orders: Vec<Order>,
    pub(super) payments: Vec<Payment>,
    pub(super) deliveries: Vec<Delivery>,
    pub(super) inbox: HashSet<String>,
    pub(super) checkout_keys: Vec<CheckoutKey>,
    pub(super) payment_keys: Vec<PaymentKey>,
    pub(super) announced: Announced,
    pub(super) order_index: HashMap<OrderId, usize>,
    pub(super) payment_index: HashMap<PaymentId, usize>,
    pub(super) numbers: HashSet<u64>,
}

impl Model {
    /// Live holds of a promotion (reserved or committed): in all, and by `customer`.
    pub(super) fn live_usage(&self, promo: usize, customer: Option<CustomerId>) -> (u32, u32) {
        let mut total = 0;
        let mut mine = 0;
        for o in self
            .orders
            .iter()
            .filter(|o| o.promos.contains(&promo) && o.usage_state() != UsageState::Released)
        {
            total += 1;
            if customer.is_some() && o.placed.customer_id == customer {
                mine += 1;
            }
        }
        (total, mine)
    }

    /// Whether the promotion can take one more hold by `customer`.
    pub(super) fn has_room(&self, promo: usize, customer: Option<CustomerId>) -> bool {
        let p = &self.promos[promo];
        let (total, mine) = self.live_usage(promo, customer);
        p.limit.is_none_or(|l| total < l)
            && (customer.is_none() || p.per_customer.is_none_or(|l| mine < l))
    }

    /// The undiscounted subtotal of the owner's lines that can be priced.
    pub(super) fn subtotal(&self, owner: usize) -> i64 {
        self.owners[owner]
            .lines
            .iter()
            .filter(|l| !self.withdrawn(l.variant))
            .map(|l| i64::from(l.qty) * self.variants[l.variant].price)
            .sum()
    }

    pub(super) fn withdrawn(&self, variant: usize) -> bool {
        self.products[self.variants[variant].product].withdrawn
    }

    /// The answer `apply_code` (and checkout, for each code in the cart) must
    /// give. The simulation's coded promotions have no window, no currency and
    /// at most a minimum subtotal, and its prices are high enough that no
    /// discount rounds to nothing, so the verdict is exact.
    pub(super) fn code_verdict(&self, owner: usize, code: &str) -> Result<(), CommerceError> {
        let Some(promo) = self.promos.iter().position(|p| p.code == Some(code)) else {
            return Err(CommerceError::DiscountCodeInvalid);
        };
        let p = &self.promos[promo];
        if !self.has_room(promo, self.owners[owner].customer) {
            return Err(CommerceError::DiscountUsageExceeded);
        }
        let priced = self.owners[owner]
            .lines
            .iter()
            .any(|l| !self.withdrawn(l.variant));
        if !priced {
            return Err(CommerceError::DiscountNotApplicable(
                NotApplied::NoEligibleLines,
            ));
        }
        let have = self.subtotal(owner);
        if let Some(needed) = p.min_subtotal
            && have < needed
        {
            return Err(CommerceError::DiscountNotApplicable(
                NotApplied::MinSubtotal {
                    needed: usd(needed),
                    have: usd(have),
                },
            ));
        }
        // Exclusive free shipping is worth the shipping of the undiscounted subtotal.
        if p.free_shipping && have >= FREE_SHIPPING_OVER {
            return Err(CommerceError::DiscountNotApplicable(
                NotApplied::NoShippingCost,
            ));
        }
        Ok(())
    }

    /// What checkout of the owner's cart must answer when its key is new.
    pub(super) fn place_verdict(&self, owner: usize) -> Result<(), CommerceError> {
        let o = &self.owners[owner];
        if o.lines.is_empty() {
            return Err(CommerceError::CartEmpty);
        }
        if let Some(l) = o.lines.iter().find(|l| self.withdrawn(l.variant)) {
            return Err(CommerceError::ProductUnavailable(
                self.variants[l.variant].id,
            ));
        }
        let short: Vec<Shortage> = o
            .lines
            .iter()
            .filter(|l| l.qty > self.variants[l.variant].available())
            .map(|l| Shortage {
                variant_id: self.variants[l.variant].id,
                requested: l.qty,
                available: self.variants[l.variant].available(),
            })
            .collect();
        if !short.is_empty() {
            return Err(CommerceError::InsufficientStock(short));
        }
        if o.lines
            .iter()
            .any(|l| l.price_when_added != self.variants[l.variant].price)
        {
            return Err(CommerceError::PriceChanged);
        }
        for code in &o.codes {
            self.code_verdict(owner, code)?;
        }
        Ok(())
    }

    /// Whether an expired order's stock and promotions can be held again.
    fn can_sell_again(&self, order: usize) -> bool {
        let o = &self.orders[order];
        o.units
            .iter()
            .all(|&(v, n)| self.variants[v].available() >= n)
            && o.promos
                .iter()
                .all(|&p| self.has_room(p, o.placed.customer_id))
    }

    /// What applying a verified payment must do.
    pub(super) fn plan(
        &self,
        event_id: Option<&str>,
        payment: Option<usize>,
        amount: Money,
        succeeded: bool,
    ) -> Plan {
        if event_id.is_some_and(|id| self.inbox.contains(id)) {
            return Plan::AlreadyApplied;
        }
        let Some(p) = payment else {
            return Plan::Unknown;
        };
        let pay = &self.payments[p];
        let order = &self.orders[pay.order];
        use PaymentStatus as P;
        match (pay.status, succeeded) {
            (P::Succeeded | P::RefundRequired | P::Mismatch, _)
            | (P::Failed | P::Voided, false) => Plan::AlreadyApplied,
            (P::Pending, false) => Plan::Declined,
            (P::Pending | P::Failed | P::Voided, true) => {
                if amount != order.placed.total {
                    return Plan::Mismatch {
                        expected: order.placed.total,
                        received: amount,
                    };
                }
                if pay.status == P::Voided {
                    return Plan::RefundRequired;
                }
                match order.status {
                    OrderStatus::PendingPayment => Plan::Pay { late: false },
                    OrderStatus::Expired if self.can_sell_again(pay.order) => {
                        Plan::Pay { late: true }
                    }
                    _ => Plan::RefundRequired,
                }
            }
        }
    }

    /// Counts a `LowStock` event if available stock crossed the threshold.
    pub(super) fn low_stock(&mut self, before: u32, after: u32) {
        if crossed_low_threshold(before, after, LOW_STOCK) {
            self.announced.low_stock += 1;
        }
    }

    /// Every difference between the model and the store's audit.
    pub(super) fn compare(&self, a: &AuditSnapshot) -> Vec<String> {
        let mut bad = Vec::new();

        // Stock per variant.
        if a.stock.len() != self.variants.len() {
            bad.push(format!(
                "model: the store has {} variants, the simulation made {}",
                a.stock.len(),
                self.variants.len()
            ));
        }
        let stock: HashMap<VariantId, crate::inventory::Stock> = a.stock.iter().copied().collect();
        for (i, v) in self.variants.iter().enumerate() {
            match stock.get(&v.id) {
                Some(s) if s.on_hand == v.on_hand && s.reserved == v.reserved => {}
                Some(s) => bad.push(format!(
                    "model: variant #{i} has on_hand {} reserved {}, expected on_hand {} reserved {}",
                    s.on_hand, s.reserved, v.on_hand, v.reserved
                )),
                None => bad.push(format!("model: variant #{i} is missing")),
            }
        }

        // Reservations: exactly the units of pending orders, until their expiry.
        let mut expected: HashMap<(OrderId, VariantId), (u32, DateTime<Utc>)> = HashMap::default();
        for o in self
            .orders
            .iter()
            .filter(|o| o.status == OrderStatus::PendingPayment)
        {
            for &(v, n) in &o.units {
                expected.insert(
                    (o.id(), self.variants[v].id),
                    (n, o.placed.reservation_expires_at),
                );
            }
        }
        let actual: HashMap<(OrderId, VariantId), (u32, DateTime<Utc>)> = a
            .reservations
            .iter()
            .map(|r| ((r.order_id, r.variant_id), (r.quantity, r.expires_at)))
            .collect();
        if actual != expected || a.reservations.len() != expected.len() {
            bad.push(format!(
                "model: {} reservations in the store, expected {} (of the pending orders' units)",
                a.reservations.len(),
                expected.len()
            ));
        }

        // Orders: status and money as the operations left them; the snapshot untouched (I6).
        if a.orders.len() != self.orders.len() {
            bad.push(format!(
                "model: the store has {} orders, expected {}",
                a.orders.len(),
                self.orders.len()
            ));
        }
        for actual in &a.orders {
            let Some(&i) = self.order_index.get(&actual.id) else {
                bad.push(format!("model: unknown order {}", actual.number));
                continue;
            };
            let m = &self.orders[i];
            let refunds: Vec<i64> = actual.refunds.iter().map(|r| r.amount.minor()).collect();
            let paid_by = m.paid_by.map(|p| self.payments[p].id);
            if actual.status != m.status
                || actual.captured != usd(m.captured)
                || refunds != m.refunds
                || actual
                    .refunds
                    .iter()
                    .any(|r| r.amount.currency() != USD || Some(r.payment_id) != paid_by)
                || actual.paid_by != paid_by
                || actual.tracking != m.tracking
            {
                bad.push(format!(
                    "model: order #{i} ({}) is {} captured {} refunds {:?} paid_by {:?} tracking {:?}; \
                     expected {} captured {} refunds {:?} paid_by {:?} tracking {:?}",
                    actual.number,
                    actual.status,
                    actual.captured,
                    refunds,
                    actual.paid_by,
                    actual.tracking,
                    m.status,
                    usd(m.captured),
                    m.refunds,
                    paid_by,
                    m.tracking
                ));
            }
            if let Some(field) = snapshot_change(&m.placed, actual) {
                bad.push(format!(
                    "I6/model: order #{i} ({}) changed its {field} since checkout",
                    actual.number
                ));
            }
        }

        // Payments.
        if a.payments.len() != self.payments.len() {
            bad.push(format!(
                "model: the store has {} payments, expected {}",
                a.payments.len(),
                self.payments.len()
            ));
        }
        for actual in &a.payments {
            let Some(&i) = self.payment_index.get(&actual.id) else {
                bad.push(format!("model: unknown payment {}", actual.id));
                continue;
            };
            let m = &self.payments[i];
            if actual.status != m.status
                || actual.amount != usd(m.amount)
                || actual.order_id != self.orders[m.order].id()
                || actual.reference != m.reference
            {
                bad.push(format!(
                    "model: payment #{i} is {:?} of {} for order {}; expected {:?} of {} for order #{}",
                    actual.status,
                    actual.amount,
                    actual.order_id,
                    m.status,
                    usd(m.amount),
                    m.order
                ));
            }
        }

        // Promotion usage (I3): one record per order and promotion, in the state its status implies.
        let mut expected: HashMap<(PromotionId, OrderId), (Option<CustomerId>, UsageState)> =
            HashMap::default();
        for o in &self.orders {
            for &p in &o.promos {
                expected.insert(
                    (self.promos[p].id, o.id()),
                    (o.placed.customer_id, o.usage_state()),
                );
            }
        }
        let actual: HashMap<(PromotionId, OrderId), (Option<CustomerId>, UsageState)> = a
            .usage
            .iter()
            .map(|u| ((u.promotion_id, u.order_id), (u.customer_id, u.state)))
            .collect();
        if actual != expected || a.usage.len() != expected.len() {
            let mut diff: Vec<String> = expected
                .iter()
                .filter(|(k, v)| actual.get(k) != Some(v))
                .map(|((p, o), (_, s))| {
                    let found = actual.get(&(*p, *o)).map(|(_, s)| *s);
                    format!("order {o} promotion {p}: expected {s:?}, found {found:?}")
                })
                .collect();
            diff.sort();
            bad.push(format!(
                "model: {} usage records, expected {}: {}",
                a.usage.len(),
                expected.len(),
                diff.join("; ")
            ));
        }

        if a.promotions.len() != self.promos.len() {
            bad.push(format!(
                "model: the store has {} promotions, expected {}",
                a.promotions.len(),
                self.promos.len()
            ));
        }

        // Outbox (I5): exactly the announcements the operations made.
        let announced = Announced::of(&a.events);
        if announced != self.announced {
            bad.push(format!(
                "model: outbox holds {announced:?}, expected {:?}",
                self.announced
            ));
        }
        bad
    }
}

/// The first snapshot field of a placed order that differs, if any.
fn snapshot_change(placed: &PlacedOrder, now: &PlacedOrder) -> Option<&'static str> {
    let fields: [(&'static str, bool); 16] = [
        ("number", placed.number == now.number),
        ("customer", placed.customer_id == now.customer_id),
        ("email", placed.email == now.email),
        ("currency", placed.currency == now.currency),
        ("lines", placed.lines == now.lines),
        ("subtotal", placed.subtotal == now.subtotal),
        (
            "discount_total",
            placed.discount_total == now.discount_total,
        ),
        (
            "shipping_total",
            placed.shipping_total == now.shipping_total,
        ),
        ("tax_total", placed.tax_total == now.tax_total),
        (
            "prices_include_tax",
            placed.prices_include_tax == now.prices_include_tax,
        ),
        ("total", placed.total == now.total),
        ("shipping", placed.shipping == now.shipping),
        (
            "shipping_address",
            placed.shipping_address == now.shipping_address,
        ),
        ("promotions", placed.promotions == now.promotions),
        (
            "reservation_expires_at",
            placed.reservation_expires_at == now.reservation_expires_at,
        ),
        ("created_at", placed.created_at == now.created_at),
    ];
    fields.iter().find(|(_, same)| !same).map(|(f, _)| *f)
}

/// The normalised code a buyer's input stands for, if it parses.
pub(super) fn normalise(code: &str) -> Option<String> {
    DiscountCode::parse(code)
        .ok()
        .map(|c| c.as_str().to_owned())
}
