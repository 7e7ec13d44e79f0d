//! Payments on the wire: starting one, a payment with its history, and what
//! a webhook or a browser return did.

use chrono::{DateTime, Utc};
use commerce_core::money::Money;
use commerce_core::order::OrderStatus;
use commerce_core::payment::{Payment, PaymentStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::MoneySchema;

/// `POST /api/v1/orders/{id}/payments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    /// The gateway's name (`sandbox`).
    pub gateway: String,
}

/// A payment as `POST /orders/{id}/payments` answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentBody {
    /// The payment.
    pub id: Uuid,
    /// Its order.
    pub order_id: Uuid,
    /// `pending`, `succeeded`, `failed`, `mismatch`, `voided` or `refund_required`.
    #[schema(value_type = String)]
    pub status: PaymentStatus,
    /// The gateway.
    pub gateway: String,
    /// The gateway's reference.
    pub reference: String,
    /// Where to send the buyer to pay.
    pub redirect_url: String,
    /// What it asks for: the order's total.
    #[schema(value_type = MoneySchema)]
    pub amount: Money,
    /// Started.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&Payment> for PaymentBody {
    fn from(p: &Payment) -> Self {
        PaymentBody {
            id: p.id.as_uuid(),
            order_id: p.order_id.as_uuid(),
            status: p.status,
            gateway: p.gateway.clone(),
            reference: p.reference.clone(),
            redirect_url: p.redirect_url.clone(),
            amount: p.amount,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// One thing that happened to a payment.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptBody {
    /// When.
    pub at: DateTime<Utc>,
    /// What: `created`, `webhook`, `return`, `reconcile`, `refund`, ...
    pub kind: String,
    /// The outcome, for people.
    pub detail: String,
}

/// A payment with its history (`GET /api/v1/payments/{id}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentDetail {
    /// The payment.
    #[serde(flatten)]
    pub payment: PaymentBody,
    /// Its history, oldest first.
    pub attempts: Vec<AttemptBody>,
}

impl From<&Payment> for PaymentDetail {
    fn from(p: &Payment) -> Self {
        PaymentDetail {
            payment: PaymentBody::from(p),
            attempts: p
                .attempts
                .iter()
                .map(|a| AttemptBody {
                    at: a.at,
                    kind: a.kind.clone(),
                    detail: a.detail.clone(),
                })
                .collect(),
        }
    }
}

/// What a webhook did (`POST /api/v1/payments/{gateway}/webhook`).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAnswer {
    /// Always `true`: the event was verified and recorded.
    pub received: bool,
    /// `paid`, `already_applied` (a replay: nothing changed), `declined`,
    /// `amount_mismatch` or `refund_required`.
    pub outcome: &'static str,
    /// `payment_amount_mismatch` when the amount or currency differ from
    /// the payment's: the payment is flagged `mismatch`, the order stays unpaid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// With `amount_mismatch`: the order's total.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<MoneySchema>)]
    pub expected: Option<Money>,
    /// With `amount_mismatch`: what the gateway reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<MoneySchema>)]
    pub reported: Option<Money>,
}

/// Where a payment stands after the buyer came back from the gateway
/// (`GET /api/v1/payments/{gateway}/return`), as the gateway confirmed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReturnAnswer {
    /// The payment.
    pub payment_id: Uuid,
    /// Its order.
    pub order_id: Uuid,
    /// The payment's status after asking the gateway.
    #[schema(value_type = String)]
    pub payment_status: PaymentStatus,
    /// The order's status after asking the gateway.
    #[schema(value_type = String)]
    pub order_status: OrderStatus,
    /// `true` while the gateway has no result yet.
    pub pending: bool,
}
