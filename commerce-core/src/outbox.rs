//! Outbox events: what must be announced (mails, webhooks, alerts), written
//! in the same atomic operation as the change it announces (invariant I5), and
//! relayed to a job queue afterwards, so a crash loses nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{CustomerId, EventId, OrderId, PaymentId, StoreId, VariantId};
use crate::money::Money;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// An order was placed and waits for payment.
    OrderPlaced {
        /// The order.
        order_id: OrderId,
    },
    /// An order was paid.
    OrderPaid {
        /// The order.
        order_id: OrderId,
        /// The payment.
        payment_id: PaymentId,
    },
    /// An order was cancelled (a paid one is refunded: see `refund`).
    OrderCancelled {
        /// The order.
        order_id: OrderId,
        /// The amount to give back, when it had been paid.
        refund: Option<Money>,
    },
    /// An order's reservation ran out unpaid.
    OrderExpired {
        /// The order.
        order_id: OrderId,
    },
    /// An order was handed to the carrier.
    OrderShipped {
        /// The order.
        order_id: OrderId,
    },
    /// An order was delivered.
    OrderDelivered {
        /// The order.
        order_id: OrderId,
    },
    /// Money was refunded on an order.
    OrderRefunded {
        /// The order.
        order_id: OrderId,
        /// The amount of this refund.
        amount: Money,
    },
    /// A payment arrived that cannot complete its order (already paid,
    /// cancelled, or expired with the stock gone): it is recorded and must be
    /// refunded through its gateway.
    PaymentRefundRequired {
        /// The order.
        order_id: OrderId,
        /// The payment.
        payment_id: PaymentId,
        /// The amount to give back.
        amount: Money,
    },
    /// A variant's stock crossed its low-stock threshold downward.
    LowStock {
        /// The variant.
        variant_id: VariantId,
        /// Its store.
        store_id: StoreId,
        /// The store's owner, who is told.
        owner_id: CustomerId,
        /// Units left to sell: the *available* stock (`on_hand - reserved`)
        /// after the change, which is what the threshold is compared with.
        on_hand: u32,
        /// The threshold.
        threshold: u32,
    },
}

/// One event in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// Unique; consumers use it to absorb duplicates.
    pub id: EventId,
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When the relay handed it to the job queue.
    pub relayed_at: Option<DateTime<Utc>>,
}

impl OutboxEvent {
    /// A new, unrelayed event.
    pub fn new(kind: EventKind, now: DateTime<Utc>) -> Self {
        OutboxEvent {
            id: EventId::new(),
            kind,
            created_at: now,
            relayed_at: None,
        }
    }

    /// The order this event is about, if any.
    pub fn order_id(&self) -> Option<OrderId> {
        match &self.kind {
            EventKind::OrderPlaced { order_id }
            | EventKind::OrderPaid { order_id, .. }
            | EventKind::OrderCancelled { order_id, .. }
            | EventKind::OrderExpired { order_id }
            | EventKind::OrderShipped { order_id }
            | EventKind::OrderDelivered { order_id }
            | EventKind::OrderRefunded { order_id, .. }
            | EventKind::PaymentRefundRequired { order_id, .. } => Some(*order_id),
            EventKind::LowStock { .. } => None,
        }
    }
}
