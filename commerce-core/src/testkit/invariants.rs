//! The invariants I1–I7 of DESIGN.md, checked over a whole store.

use rustc_hash::FxHashMap as HashMap;

use crate::ids::{OrderId, PaymentId, VariantId};
use crate::money::Money;
use crate::order::OrderStatus;
use crate::outbox::EventKind;
use crate::payment::PaymentStatus;
use crate::storage::{AuditSnapshot, AuditStore, UsageState};

/// Reads the store and returns every invariant violation found (empty when
/// all hold).
///
/// # Panics
/// When the store cannot be read.
pub async fn violations<S: AuditStore>(store: &S) -> Vec<String> {
    match store.audit().await {
        Ok(snapshot) => check(&snapshot),
        Err(e) => panic!("audit failed: {e}"),
    }
}

/// Panics with a readable report when an invariant is broken.
pub async fn assert_invariants<S: AuditStore>(store: &S) {
    let found = violations(store).await;
    assert!(
        found.is_empty(),
        "invariants violated:\n  {}",
        found.join("\n  ")
    );
}

/// Checks a snapshot; returns the violations.
pub fn check(a: &AuditSnapshot) -> Vec<String> {
    let mut bad = Vec::new();
    let orders: HashMap<OrderId, &crate::order::Order> =
        a.orders.iter().map(|o| (o.id, o)).collect();

    // I1: 0 <= reserved <= on_hand.
    for (v, s) in &a.stock {
        if s.reserved > s.on_hand {
            bad.push(format!(
                "I1: variant {v}: reserved {} > on_hand {}",
                s.reserved, s.on_hand
            ));
        }
    }

    // I2: active reservations belong to pending orders and add up to `reserved`.
    let mut reserved: HashMap<VariantId, u64> = HashMap::default();
    for r in &a.reservations {
        *reserved.entry(r.variant_id).or_default() += u64::from(r.quantity);
        match orders.get(&r.order_id) {
            Some(o) if o.status == OrderStatus::PendingPayment => {}
            Some(o) => bad.push(format!(
                "I2: reservation of order {} which is {}",
                o.number, o.status
            )),
            None => bad.push(format!("I2: reservation of unknown order {}", r.order_id)),
        }
    }
    for (v, s) in &a.stock {
        let sum = reserved.get(v).copied().unwrap_or(0);
        if sum != u64::from(s.reserved) {
            bad.push(format!(
                "I2: variant {v}: reservations sum to {sum}, reserved is {}",
                s.reserved
            ));
        }
    }
    let mut held: HashMap<(OrderId, VariantId), u64> = HashMap::default();
    for r in &a.reservations {
        *held.entry((r.order_id, r.variant_id)).or_default() += u64::from(r.quantity);
    }
    for o in a
        .orders
        .iter()
        .filter(|o| o.status == OrderStatus::PendingPayment)
    {
        for (variant, n) in o.units() {
            let held = held.get(&(o.id, variant)).copied().unwrap_or(0);
            if held != u64::from(n) {
                bad.push(format!(
                    "I2: pending order {} holds {held} of {n} units of {variant}",
                    o.number
                ));
            }
        }
    }

    // I3: live usage within limits; reserved usage only on pending orders,
    // committed usage only on orders that captured money.
    for p in &a.promotions {
        let live: Vec<_> = a
            .usage
            .iter()
            .filter(|u| u.promotion_id == p.id() && u.state != UsageState::Released)
            .collect();
        if let Some(limit) = p.usage_limit()
            && live.len() > limit as usize
        {
            bad.push(format!(
                "I3: promotion {:?} held by {} orders, limit {limit}",
                p.name(),
                live.len()
            ));
        }
        if let Some(limit) = p.per_customer_limit() {
            let mut per: HashMap<_, usize> = HashMap::default();
            for u in live.iter().filter(|u| u.customer_id.is_some()) {
                *per.entry(u.customer_id).or_default() += 1;
            }
            for (c, n) in per.into_iter().filter(|&(_, n)| n > limit as usize) {
                bad.push(format!(
                    "I3: promotion {:?} held {n} times by {c:?}, limit {limit}",
                    p.name()
                ));
            }
        }
    }
    for u in &a.usage {
        let Some(o) = orders.get(&u.order_id) else {
            bad.push(format!("I3: usage of unknown order {}", u.order_id));
            continue;
        };
        let ok = match u.state {
            UsageState::Reserved => o.status == OrderStatus::PendingPayment,
            UsageState::Committed => o.paid_by.is_some() && o.status != OrderStatus::Cancelled,
            UsageState::Released => {
                matches!(o.status, OrderStatus::Cancelled | OrderStatus::Expired)
            }
        };
        if !ok {
            bad.push(format!(
                "I3: usage {:?} on order {} which is {}",
                u.state, o.number, o.status
            ));
        }
    }

    // I4: paid at most once, by a payment of exactly the total.
    let payments: HashMap<PaymentId, &crate::payment::Payment> =
        a.payments.iter().map(|p| (p.id, p)).collect();
    let mut succeeded_of: HashMap<OrderId, usize> = HashMap::default();
    for p in a
        .payments
        .iter()
        .filter(|p| p.status == PaymentStatus::Succeeded)
    {
        *succeeded_of.entry(p.order_id).or_default() += 1;
    }
    for o in &a.orders {
        let succeeded = succeeded_of.get(&o.id).copied().unwrap_or(0);
        if succeeded > 1 {
            bad.push(format!(
                "I4: order {} has {succeeded} succeeded payments",
                o.number
            ));
        }
        match o.paid_by {
            Some(pid) => match payments.get(&pid) {
                Some(p)
                    if p.status == PaymentStatus::Succeeded
                        && p.amount == o.total
                        && o.captured == o.total => {}
                Some(p) => bad.push(format!(
                    "I4: order {} paid by payment {:?} of {} (total {})",
                    o.number, p.status, p.amount, o.total
                )),
                None => bad.push(format!("I4: order {} paid by unknown payment", o.number)),
            },
            None => {
                if o.status.is_captured() || o.status == OrderStatus::Refunded {
                    bad.push(format!(
                        "I4: order {} is {} without a payment",
                        o.number, o.status
                    ));
                }
                if !o.captured.is_zero() {
                    bad.push(format!(
                        "I4: order {} captured {} without a payment",
                        o.number, o.captured
                    ));
                }
                if succeeded == 1 {
                    bad.push(format!(
                        "I4: order {} has a succeeded payment but is not paid",
                        o.number
                    ));
                }
            }
        }
    }

    // I5: one event per announced change.
    #[derive(Default)]
    struct Announced {
        placed: usize,
        paid: usize,
        expired: usize,
        cancelled: usize,
    }
    let mut announced: HashMap<OrderId, Announced> = HashMap::default();
    let mut refund_required: HashMap<PaymentId, usize> = HashMap::default();
    for e in &a.events {
        match e.kind {
            EventKind::OrderPlaced { order_id } => {
                announced.entry(order_id).or_default().placed += 1;
            }
            EventKind::OrderPaid { order_id, .. } => {
                announced.entry(order_id).or_default().paid += 1;
            }
            EventKind::OrderExpired { order_id } => {
                announced.entry(order_id).or_default().expired += 1;
            }
            EventKind::OrderCancelled { order_id, .. } => {
                announced.entry(order_id).or_default().cancelled += 1;
            }
            EventKind::PaymentRefundRequired { payment_id, .. } => {
                *refund_required.entry(payment_id).or_default() += 1;
            }
            _ => {}
        }
    }
    let none = Announced::default();
    for o in &a.orders {
        let &Announced {
            placed,
            paid,
            expired,
            cancelled,
        } = announced.get(&o.id).unwrap_or(&none);
        let expect_paid = usize::from(o.paid_by.is_some());
        let expect_cancelled = usize::from(o.status == OrderStatus::Cancelled);
        if placed != 1
            || paid != expect_paid
            || cancelled != expect_cancelled
            || expired > 1
            || (o.status == OrderStatus::Expired && expired != 1)
        {
            bad.push(format!(
                "I5: order {} ({}) has placed={placed} paid={paid} expired={expired} cancelled={cancelled} events",
                o.number, o.status
            ));
        }
    }
    for p in &a.payments {
        let events = refund_required.get(&p.id).copied().unwrap_or(0);
        let expected = usize::from(p.status == PaymentStatus::RefundRequired);
        if events != expected {
            bad.push(format!(
                "I5: payment {} ({:?}) has {events} refund-required events",
                p.id, p.status
            ));
        }
    }

    // I6: an order is a consistent snapshot.
    for o in &a.orders {
        let mut problems = Vec::new();
        let sum = |f: fn(&crate::order::OrderLine) -> Money| {
            o.lines
                .iter()
                .try_fold(Money::zero(o.currency), |acc, l| acc.checked_add(f(l)))
                .ok()
        };
        if sum(|l| l.subtotal) != Some(o.subtotal) {
            problems.push("subtotal");
        }
        if sum(|l| l.discount_total) != Some(o.discount_total) {
            problems.push("discount_total");
        }
        for l in &o.lines {
            let d = l
                .discounts
                .iter()
                .try_fold(Money::zero(o.currency), |acc, d| acc.checked_add(d.amount))
                .ok();
            if l.unit_price.times(l.quantity.get()).ok() != Some(l.subtotal)
                || d != Some(l.discount_total)
                || l.subtotal.checked_sub(l.discount_total).ok() != Some(l.total)
            {
                problems.push("line arithmetic");
            }
        }
        let mut total = o
            .subtotal
            .checked_sub(o.discount_total)
            .and_then(|t| t.checked_add(o.shipping_total));
        if !o.prices_include_tax {
            total = total.and_then(|t| t.checked_add(o.tax_total));
        }
        if total.ok() != Some(o.total) {
            problems.push("total");
        }
        if !problems.is_empty() {
            bad.push(format!(
                "I6: order {} is inconsistent: {}",
                o.number,
                problems.join(", ")
            ));
        }
    }

    // I7: refunds never exceed what was captured.
    for o in &a.orders {
        match o.refunded() {
            Ok(r) if r <= o.captured => {}
            Ok(r) => bad.push(format!(
                "I7: order {} refunded {r} of {} captured",
                o.number, o.captured
            )),
            Err(e) => bad.push(format!("I7: order {}: {e}", o.number)),
        }
    }
    bad
}
