//! Payments and the `OrderStore` trait.
//!
//! Applying a verified payment locks the order row first (the same lock a
//! cancel or an expiry sweep takes), then the payment row: a cancel and a
//! payment arriving together end in exactly one of the two (I4). Webhook
//! events go through `payment_inbox`, whose primary key makes a second
//! delivery of one event a no-op even when both arrive at once.

use chrono::{DateTime, Utc};
use commerce_core::idempotency::{Begin, Fingerprint, IdempotencyKey};
use commerce_core::ids::{OrderId, PaymentId, VariantId};
use commerce_core::money::Money;
use commerce_core::order::{InvalidTransition, Order, OrderEvent, OrderStatus};
use commerce_core::outbox::EventKind;
use commerce_core::payment::{Payment, PaymentAttempt, PaymentStatus};
use commerce_core::storage::{
    ApplyPayment, OrderFilter, OrderStore, Page, PaymentOutcome, PlaceOrder, PlaceRejection,
    RefundRejection, StoreError, UnknownPayment, UsageState,
};
use uuid::Uuid;

use super::orders::{log_attempt, void_pending};
use super::{
    Done, Fail, SqlStore, TxResult, emit, load_order, low_stock, placeholders, set_usage,
    settle_reservations, write_tx,
};
use crate::backend::{Backend, Q, locking, q};
use crate::error::{backend, corrupt, is_unique};
use crate::rows::{AttemptRow, PaymentRow, count, payment_columns, payment_status_str};

async fn attempts_of<B: Backend>(
    tx: &mut B::Tx,
    rows: Vec<PaymentRow>,
) -> Result<Vec<Payment>, Fail> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT payment_id, at, kind, detail FROM payment_attempts WHERE payment_id IN ({}) \
         ORDER BY seq",
        placeholders(1, rows.len())
    );
    let args = rows.iter().map(|r| r.id.into()).collect();
    let mut attempts: Vec<AttemptRow> = B::fetch_all(tx, Q::assembled(sql, args)).await?;
    rows.into_iter()
        .map(|row| {
            let mine: Vec<PaymentAttempt> = attempts
                .extract_if(.., |a| a.payment_id == row.id)
                .map(AttemptRow::into_domain)
                .collect();
            Ok(row.into_domain(mine)?)
        })
        .collect()
}

async fn set_payment_status<B: Backend>(
    tx: &mut B::Tx,
    payment: Uuid,
    status: PaymentStatus,
) -> Result<(), Fail> {
    B::execute(
        tx,
        q!(
            "UPDATE payments SET status = $2 WHERE id = $1",
            payment,
            payment_status_str(status)
        ),
    )
    .await?;
    Ok(())
}

async fn refund_required<B: Backend>(
    tx: &mut B::Tx,
    payment: &PaymentRow,
    now: DateTime<Utc>,
    source: &str,
) -> TxResult<Result<PaymentOutcome, UnknownPayment>> {
    set_payment_status::<B>(tx, payment.id, PaymentStatus::RefundRequired).await?;
    log_attempt::<B>(
        tx,
        payment.id,
        now,
        source,
        "captured but the order cannot take it: refund required",
    )
    .await?;
    let kind = EventKind::PaymentRefundRequired {
        order_id: OrderId::from_uuid(payment.order_id),
        payment_id: PaymentId::from_uuid(payment.id),
        amount: payment.amount()?,
    };
    emit::<B>(tx, kind, now).await?;
    Ok(Done::Commit(Ok(PaymentOutcome::RefundRequired)))
}

/// Whether a late payment can sell an expired order again: its stock is
/// available and its promotions' limits allow it. Locks what it reads.
async fn can_resell<B: Backend>(
    tx: &mut B::Tx,
    order: &Order,
    units: &[(VariantId, u32)],
) -> Result<bool, Fail> {
    for &(variant, n) in units {
        let row: Option<(i64,)> = B::fetch_optional(
            tx,
            q!(
                locking!(
                    B::DIALECT,
                    "SELECT on_hand - reserved FROM variants WHERE id = $1"
                ),
                variant.as_uuid()
            ),
        )
        .await?;
        match row {
            Some((available,)) if available >= i64::from(n) => {}
            _ => return Ok(false),
        }
    }
    let mut promotions: Vec<Uuid> = order
        .promotions
        .iter()
        .map(|p| p.promotion_id.as_uuid())
        .collect();
    promotions.sort();
    promotions.dedup();
    for promotion in promotions {
        let row: Option<(i64, Option<i64>, Option<i64>)> = B::fetch_optional(
            tx,
            q!(
                locking!(
                    B::DIALECT,
                    "SELECT used, usage_limit, per_customer_limit FROM promotions WHERE id = $1"
                ),
                promotion
            ),
        )
        .await?;
        let Some((used, limit, per_customer)) = row else {
            return Ok(false);
        };
        if limit.is_some_and(|l| used >= l) {
            return Ok(false);
        }
        if let (Some(customer), Some(per_customer)) = (order.customer_id, per_customer) {
            let mine: Option<(i64,)> = B::fetch_optional(
                tx,
                q!(
                    locking!(
                        B::DIALECT,
                        "SELECT used FROM promotion_customer_usage \
                         WHERE promotion_id = $1 AND customer_id = $2"
                    ),
                    promotion,
                    customer.as_uuid()
                ),
            )
            .await?;
            if mine.is_some_and(|(m,)| m >= per_customer) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

async fn apply_tx<B: Backend>(
    tx: &mut B::Tx,
    apply: &ApplyPayment,
) -> TxResult<Result<PaymentOutcome, UnknownPayment>> {
    let verified = &apply.verified;
    let (source, now) = (apply.source, apply.now);
    let gateway = verified.gateway();
    if let Some(event) = &apply.event_id {
        let seen: Option<(i64,)> = B::fetch_optional(
            tx,
            q!(
                "SELECT CAST(1 AS BIGINT) FROM payment_inbox WHERE gateway = $1 AND event_id = $2",
                gateway,
                event.as_str()
            ),
        )
        .await?;
        if seen.is_some() {
            return Ok(Done::Rollback(Ok(PaymentOutcome::AlreadyApplied)));
        }
    }
    let found: Option<PaymentRow> = B::fetch_optional(
        tx,
        q!(
            concat!(
                "SELECT ",
                payment_columns!(),
                " FROM payments p WHERE p.gateway = $1 AND p.reference = $2"
            ),
            gateway,
            verified.reference()
        ),
    )
    .await?;
    let Some(found) = found else {
        return Ok(Done::Rollback(Err(UnknownPayment)));
    };
    if let Some(event) = &apply.event_id {
        // A concurrent delivery of the same event waits here for the first
        // to commit, then finds it recorded.
        let recorded = B::execute(
            tx,
            q!(
                "INSERT INTO payment_inbox (gateway, event_id, received_at) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                gateway,
                event.as_str(),
                now
            ),
        )
        .await?;
        if recorded == 0 {
            return Ok(Done::Rollback(Ok(PaymentOutcome::AlreadyApplied)));
        }
    }
    let order_id = OrderId::from_uuid(found.order_id);
    let Some(order) = load_order::<B>(tx, order_id, true).await? else {
        return Ok(Done::Rollback(Err(UnknownPayment)));
    };
    // Read again under the order's lock: every change to a payment's status
    // happens under it.
    let payment: PaymentRow = B::fetch_optional(
        tx,
        q!(
            concat!(
                "SELECT ",
                payment_columns!(),
                " FROM payments p WHERE p.id = $1"
            ),
            found.id
        ),
    )
    .await?
    .ok_or(Fail::Store(StoreError::NotFound("payment")))?;

    match (payment.status()?, verified.succeeded()) {
        (PaymentStatus::Succeeded | PaymentStatus::RefundRequired | PaymentStatus::Mismatch, _)
        | (PaymentStatus::Failed | PaymentStatus::Voided, false) => {
            return Ok(Done::Commit(Ok(PaymentOutcome::AlreadyApplied)));
        }
        (PaymentStatus::Pending, false) => {
            set_payment_status::<B>(tx, payment.id, PaymentStatus::Failed).await?;
            log_attempt::<B>(tx, payment.id, now, source, "declined").await?;
            return Ok(Done::Commit(Ok(PaymentOutcome::Declined)));
        }
        (PaymentStatus::Pending | PaymentStatus::Failed | PaymentStatus::Voided, true) => {}
    }

    if verified.amount() != order.total {
        set_payment_status::<B>(tx, payment.id, PaymentStatus::Mismatch).await?;
        let detail = format!(
            "gateway reported {}, order total is {}",
            verified.amount(),
            order.total
        );
        log_attempt::<B>(tx, payment.id, now, source, &detail).await?;
        return Ok(Done::Commit(Ok(PaymentOutcome::AmountMismatch {
            expected: order.total,
            received: verified.amount(),
        })));
    }
    if payment.status()? == PaymentStatus::Voided {
        // The order was cancelled or paid otherwise: give back what was captured.
        return refund_required::<B>(tx, &payment, now, source).await;
    }

    match order.status {
        OrderStatus::PendingPayment => settle_reservations::<B>(tx, &[order.id], true).await?,
        OrderStatus::Expired => {
            // A late payment: sell again if the stock and the limits allow.
            let mut units = order.units();
            units.sort_by_key(|(v, _)| *v);
            if !can_resell::<B>(tx, &order, &units).await? {
                return refund_required::<B>(tx, &payment, now, source).await;
            }
            let mut crossed = Vec::new();
            for &(variant, n) in &units {
                let after: Option<(i64, i64)> = B::fetch_optional(
                    tx,
                    q!(
                        "UPDATE variants SET on_hand = on_hand - $2 WHERE id = $1 \
                         RETURNING on_hand, reserved",
                        variant.as_uuid(),
                        n
                    ),
                )
                .await?;
                if let Some((on_hand, reserved)) = after {
                    let available = count("available", on_hand - reserved)?;
                    crossed.push((variant, available + n, available));
                }
            }
            for (variant, _) in order.units() {
                if let Some(&(_, before, after)) = crossed.iter().find(|(v, _, _)| *v == variant) {
                    low_stock::<B>(tx, variant, before, after, apply.low_stock_threshold, now)
                        .await?;
                }
            }
            set_usage::<B>(tx, order.id, UsageState::Released, UsageState::Committed).await?;
        }
        _ => return refund_required::<B>(tx, &payment, now, source).await,
    }
    set_usage::<B>(tx, order.id, UsageState::Reserved, UsageState::Committed).await?;
    let paid = B::execute(
        tx,
        q!(
            "UPDATE orders SET status = 'paid', paid_by = $2, captured_minor = total_minor, \
             updated_at = $3 WHERE id = $1 AND status = $4",
            order.id.as_uuid(),
            payment.id,
            now,
            order.status.as_str()
        ),
    )
    .await?;
    if paid != 1 {
        return Err(Fail::Store(corrupt(
            "order status",
            "changed under its lock",
        )));
    }
    set_payment_status::<B>(tx, payment.id, PaymentStatus::Succeeded).await?;
    log_attempt::<B>(tx, payment.id, now, source, "captured; order paid").await?;
    void_pending::<B>(
        tx,
        order.id,
        Some(payment.id),
        now,
        source,
        "voided: the order was paid by another payment",
    )
    .await?;
    emit::<B>(
        tx,
        EventKind::OrderPaid {
            order_id: order.id,
            payment_id: PaymentId::from_uuid(payment.id),
        },
        now,
    )
    .await?;
    let order = load_order::<B>(tx, order.id, false)
        .await?
        .ok_or(Fail::Store(StoreError::NotFound("order")))?;
    Ok(Done::Commit(Ok(PaymentOutcome::Paid(Box::new(order)))))
}

async fn insert_payment_tx<B: Backend>(tx: &mut B::Tx, payment: &Payment) -> TxResult<()> {
    B::execute(
        tx,
        q!(
            "INSERT INTO payments (id, order_id, gateway, reference, amount_minor, currency, \
             status, redirect_url, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET order_id = excluded.order_id, \
             gateway = excluded.gateway, reference = excluded.reference, \
             amount_minor = excluded.amount_minor, currency = excluded.currency, \
             status = excluded.status, redirect_url = excluded.redirect_url, \
             created_at = excluded.created_at, updated_at = excluded.updated_at",
            payment.id.as_uuid(),
            payment.order_id.as_uuid(),
            payment.gateway.as_str(),
            payment.reference.as_str(),
            payment.amount.minor(),
            payment.amount.currency().code(),
            payment_status_str(payment.status),
            payment.redirect_url.as_str(),
            payment.created_at,
            payment.updated_at
        ),
    )
    .await
    .map_err(|e| {
        if is_unique(&e, Some("payments_reference_key")) {
            Fail::Store(StoreError::Duplicate {
                what: "payment reference",
            })
        } else {
            Fail::Db(e)
        }
    })?;
    B::execute(
        tx,
        q!(
            "DELETE FROM payment_attempts WHERE payment_id = $1",
            payment.id.as_uuid()
        ),
    )
    .await?;
    for a in &payment.attempts {
        B::execute(
            tx,
            q!(
                "INSERT INTO payment_attempts (payment_id, at, kind, detail) \
                 VALUES ($1, $2, $3, $4)",
                payment.id.as_uuid(),
                a.at,
                a.kind.as_str(),
                a.detail.as_str()
            ),
        )
        .await?;
    }
    Ok(Done::Commit(()))
}

async fn record_attempt_tx<B: Backend>(
    tx: &mut B::Tx,
    payment: PaymentId,
    attempt: &PaymentAttempt,
) -> TxResult<()> {
    let exists: Option<(i64,)> = B::fetch_optional(
        tx,
        q!(
            "SELECT CAST(1 AS BIGINT) FROM payments WHERE id = $1",
            payment.as_uuid()
        ),
    )
    .await?;
    if exists.is_none() {
        return Err(Fail::Store(StoreError::NotFound("payment")));
    }
    log_attempt::<B>(
        tx,
        payment.as_uuid(),
        attempt.at,
        &attempt.kind,
        &attempt.detail,
    )
    .await?;
    Ok(Done::Commit(()))
}

impl<B: Backend> SqlStore<B> {
    /// Payments matching a condition, with their histories, read consistently.
    async fn payments_where(&self, q: Q) -> Result<Vec<Payment>, StoreError> {
        let mut tx = B::begin(&self.db, crate::backend::TxMode::Snapshot)
            .await
            .map_err(backend)?;
        let rows: Vec<PaymentRow> = B::fetch_all(&mut tx, q).await.map_err(backend)?;
        let payments = attempts_of::<B>(&mut tx, rows)
            .await
            .map_err(Fail::into_store)?;
        drop(tx);
        Ok(payments)
    }
}

impl<B: Backend> OrderStore for SqlStore<B> {
    async fn place_order(
        &self,
        place: PlaceOrder,
    ) -> Result<Result<Order, PlaceRejection>, StoreError> {
        self.place(place).await
    }

    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.read_order(id).await
    }

    async fn begin_with_order(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        fingerprint: Fingerprint,
        now: DateTime<Utc>,
        lock_until: DateTime<Utc>,
        order: OrderId,
    ) -> Result<Result<Option<Order>, Begin>, StoreError> {
        self.claim_and_read_order(scope, key, fingerprint, now, lock_until, order)
            .await
    }

    async fn orders(
        &self,
        filter: OrderFilter,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Order>, StoreError> {
        self.orders_page(filter, page, per_page).await
    }

    async fn insert_payment(&self, payment: Payment) -> Result<(), StoreError> {
        write_tx!(self, |tx| insert_payment_tx::<B>(tx, &payment))
    }

    async fn payment(&self, id: PaymentId) -> Result<Option<Payment>, StoreError> {
        let mut found = self
            .payments_where(q!(
                concat!(
                    "SELECT ",
                    payment_columns!(),
                    " FROM payments p WHERE p.id = $1"
                ),
                id.as_uuid()
            ))
            .await?;
        Ok(found.pop())
    }

    async fn payment_by_reference(
        &self,
        gateway: &str,
        reference: &str,
    ) -> Result<Option<Payment>, StoreError> {
        let mut found = self
            .payments_where(q!(
                concat!(
                    "SELECT ",
                    payment_columns!(),
                    " FROM payments p WHERE p.gateway = $1 AND p.reference = $2"
                ),
                gateway,
                reference
            ))
            .await?;
        Ok(found.pop())
    }

    async fn pending_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Payment>, StoreError> {
        self.payments_where(q!(
            concat!(
                "SELECT ",
                payment_columns!(),
                " FROM payments p WHERE p.status = 'pending' AND p.created_at < $1 \
                 ORDER BY p.created_at, p.id LIMIT $2"
            ),
            created_before,
            limit
        ))
        .await
    }

    async fn payments_of(&self, order: OrderId) -> Result<Vec<Payment>, StoreError> {
        self.payments_where(q!(
            concat!(
                "SELECT ",
                payment_columns!(),
                " FROM payments p WHERE p.order_id = $1 ORDER BY p.created_at, p.id"
            ),
            order.as_uuid()
        ))
        .await
    }

    async fn payments_of_orders(&self, orders: &[OrderId]) -> Result<Vec<Payment>, StoreError> {
        if orders.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            concat!(
                "SELECT ",
                payment_columns!(),
                " FROM payments p WHERE p.order_id IN ({}) ORDER BY p.created_at, p.id"
            ),
            placeholders(1, orders.len())
        );
        let args = orders.iter().map(|id| id.as_uuid().into()).collect();
        self.payments_where(Q::assembled(sql, args)).await
    }

    async fn record_attempt(
        &self,
        payment: PaymentId,
        attempt: PaymentAttempt,
    ) -> Result<(), StoreError> {
        write_tx!(self, |tx| record_attempt_tx::<B>(tx, payment, &attempt))
    }

    async fn apply_payment(
        &self,
        apply: ApplyPayment,
    ) -> Result<Result<PaymentOutcome, UnknownPayment>, StoreError> {
        write_tx!(self, |tx| apply_tx::<B>(tx, &apply))
    }

    async fn cancel_order(
        &self,
        id: OrderId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Order, InvalidTransition>, StoreError> {
        self.cancel(id, reason, now).await
    }

    async fn expire_due(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<OrderId>, StoreError> {
        self.expire(now, limit).await
    }

    async fn ship(
        &self,
        id: OrderId,
        tracking: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Result<Order, InvalidTransition>, StoreError> {
        self.step(id, OrderEvent::Ship, tracking, now).await
    }

    async fn deliver(
        &self,
        id: OrderId,
        now: DateTime<Utc>,
    ) -> Result<Result<Order, InvalidTransition>, StoreError> {
        self.step(id, OrderEvent::Deliver, None, now).await
    }

    async fn refund(
        &self,
        id: OrderId,
        amount: Money,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Order, RefundRejection>, StoreError> {
        self.refund_order(id, amount, reason, now).await
    }
}
