//! The order lifecycle: one enum, one [`OrderStatus::transition`] function.
//!
//! ```text
//!  pending_payment ──pay──▶ paid ──ship──▶ shipped ──deliver──▶ delivered
//!     │    │   ▲              │                │                    │
//!     │    │   └─pay (late,   │ cancel         └──── refund (full) ─┴──▶ refunded
//!     │    │      re-reserved)▼                                          ▲
//!     │    └──expire──▶ expired            cancelled ◀── cancel          │
//!     └──cancel──▶ cancelled                   paid ── refund (full) ────┘
//! ```
//!
//! A partial refund keeps the status (the refund is recorded on the order).
//! Stores apply a transition with a conditional update on the expected
//! status, so two racing transitions cannot both win.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed; stock and promotion usage reserved until the reservation expires.
    PendingPayment,
    /// A verified payment covered the total; stock is sold.
    Paid,
    /// Handed to the carrier.
    Shipped,
    /// Received by the buyer.
    Delivered,
    /// Cancelled before shipping (a paid order is refunded).
    Cancelled,
    /// Not paid before its reservation expired; stock and usage released.
    Expired,
    /// Refunded in full.
    Refunded,
}

impl OrderStatus {
    /// Every status, for tables and tests.
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Expired,
        OrderStatus::Refunded,
    ];

    /// The wire name (`pending_payment`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Expired => "expired",
            OrderStatus::Refunded => "refunded",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// `true` while the order holds reserved stock (only `pending_payment`).
    pub fn holds_reservations(self) -> bool {
        self == OrderStatus::PendingPayment
    }

    /// `true` when stock was sold to this order (captured money, not given back).
    pub fn is_captured(self) -> bool {
        matches!(
            self,
            OrderStatus::Paid | OrderStatus::Shipped | OrderStatus::Delivered
        )
    }

    /// The status after `event`, or why the lifecycle forbids it.
    ///
    /// # Errors
    /// [`InvalidTransition`] for every move not drawn in the module diagram.
    pub fn transition(self, event: OrderEvent) -> Result<OrderStatus, InvalidTransition> {
        use OrderEvent as E;
        use OrderStatus as S;
        let next = match (self, event) {
            (S::PendingPayment | S::Expired, E::Pay) => S::Paid,
            (S::PendingPayment, E::Expire) => S::Expired,
            (S::PendingPayment | S::Paid, E::Cancel) => S::Cancelled,
            (S::Paid, E::Ship) => S::Shipped,
            (S::Shipped, E::Deliver) => S::Delivered,
            (S::Paid | S::Shipped | S::Delivered, E::RefundPartial) => self,
            (S::Paid | S::Shipped | S::Delivered, E::RefundFull) => S::Refunded,
            _ => return Err(InvalidTransition { from: self, event }),
        };
        Ok(next)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happens to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderEvent {
    /// A verified payment of the full total (late ones re-reserve stock first).
    Pay,
    /// The reservation ran out unpaid.
    Expire,
    /// The buyer or an admin cancelled.
    Cancel,
    /// Handed to the carrier.
    Ship,
    /// Received.
    Deliver,
    /// Part of the captured amount was refunded; the status stays.
    RefundPartial,
    /// The rest of the captured amount was refunded.
    RefundFull,
}

impl fmt::Display for OrderEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            OrderEvent::Pay => "pay",
            OrderEvent::Expire => "expire",
            OrderEvent::Cancel => "cancel",
            OrderEvent::Ship => "ship",
            OrderEvent::Deliver => "deliver",
            OrderEvent::RefundPartial => "refund_partial",
            OrderEvent::RefundFull => "refund_full",
        };
        f.write_str(s)
    }
}

/// A move the lifecycle forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order that is {from} cannot {event}")]
pub struct InvalidTransition {
    /// The status the order is in.
    pub from: OrderStatus,
    /// The refused event.
    pub event: OrderEvent,
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderEvent as E;
    use OrderStatus as S;

    const EVENTS: [OrderEvent; 7] = [
        E::Pay,
        E::Expire,
        E::Cancel,
        E::Ship,
        E::Deliver,
        E::RefundPartial,
        E::RefundFull,
    ];

    /// The whole table: every status × every event, written out by hand.
    /// `None` means the move is refused.
    fn expected(from: OrderStatus, event: OrderEvent) -> Option<OrderStatus> {
        let row: [Option<OrderStatus>; 7] = match from {
            //                   Pay            Expire          Cancel             Ship             Deliver             RefundPartial      RefundFull
            S::PendingPayment => [
                Some(S::Paid),
                Some(S::Expired),
                Some(S::Cancelled),
                None,
                None,
                None,
                None,
            ],
            S::Paid => [
                None,
                None,
                Some(S::Cancelled),
                Some(S::Shipped),
                None,
                Some(S::Paid),
                Some(S::Refunded),
            ],
            S::Shipped => [
                None,
                None,
                None,
                None,
                Some(S::Delivered),
                Some(S::Shipped),
                Some(S::Refunded),
            ],
            S::Delivered => [
                None,
                None,
                None,
                None,
                None,
                Some(S::Delivered),
                Some(S::Refunded),
            ],
            S::Cancelled => [None; 7],
            S::Expired => [Some(S::Paid), None, None, None, None, None, None],
            S::Refunded => [None; 7],
        };
        let i = EVENTS
            .iter()
            .position(|e| *e == event)
            .unwrap_or(usize::MAX);
        row[i]
    }

    #[test]
    fn transition_table_is_exactly_the_lifecycle() {
        let mut allowed = 0;
        for from in S::ALL {
            for event in EVENTS {
                let got = from.transition(event);
                match expected(from, event) {
                    Some(to) => {
                        assert_eq!(got, Ok(to), "{from} --{event}-->");
                        allowed += 1;
                    }
                    None => assert_eq!(
                        got,
                        Err(InvalidTransition { from, event }),
                        "{from} --{event}--> must fail"
                    ),
                }
            }
        }
        assert_eq!(allowed, 13);
    }

    #[test]
    fn forbidden_moves_from_the_scenarios() {
        // pending → delivered and delivered → pending are impossible by any event.
        assert!(
            EVENTS
                .iter()
                .all(|&e| S::PendingPayment.transition(e) != Ok(S::Delivered))
        );
        assert!(S::ALL.iter().all(|&s| {
            EVENTS
                .iter()
                .all(|&e| s.transition(e) != Ok(S::PendingPayment))
        }));
        // A shipped order cannot be cancelled.
        assert!(S::Shipped.transition(E::Cancel).is_err());
    }

    #[test]
    fn wire_names_round_trip() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(S::parse("PAID"), None);
    }
}
