//! Payments: the [`PaymentGateway`] trait, verified results, and the built-in
//! [`SandboxGateway`].
//!
//! Nothing a browser says is trusted: a payment counts only as a
//! [`VerifiedPayment`], which a gateway produces from a signed webhook or a
//! server-to-server verification. The order's amount and currency are checked
//! against it before anything changes.

pub mod sandbox;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use sandbox::{SandboxGateway, SignedWebhook};

use crate::ids::{OrderId, PaymentId};
use crate::money::Money;

/// A boxed, `Send` future: gateways are chosen at run time by name, so their
/// trait is object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A gateway failed to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("gateway {gateway}: {message}")]
pub struct GatewayError {
    /// The gateway.
    pub gateway: String,
    /// What went wrong (never shown to buyers).
    pub message: String,
    /// `true` when trying again later may work (time-outs, 5xx).
    pub retryable: bool,
}

/// A webhook that cannot be trusted or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// No signature, a wrong one, or a timestamp outside the tolerance.
    #[error("signature invalid: {0}")]
    SignatureInvalid(&'static str),
    /// Signed, but not an event this engine understands.
    #[error("malformed event: {0}")]
    Malformed(String),
}

/// What the shop asks a gateway to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// The payment being started.
    pub payment_id: PaymentId,
    /// Its order.
    pub order_id: OrderId,
    /// The amount (the order's total).
    pub amount: Money,
    /// Sent to the gateway so that a retried call creates nothing twice.
    pub idempotency_key: String,
    /// Where the gateway sends the buyer back.
    pub return_url: String,
}

/// The gateway's answer to [`PaymentGateway::create_payment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySession {
    /// The gateway's reference for this payment.
    pub reference: String,
    /// Where to send the buyer to pay.
    pub redirect_url: String,
}

/// A payment result confirmed by the gateway itself (a verified signature or
/// a server-to-server answer), never by the buyer's browser.
///
/// Only gateway implementations make these, through
/// [`VerifiedPayment::confirmed_by_gateway`]; the HTTP layer never does. It
/// deliberately cannot be deserialized, so no request body can become one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedPayment {
    gateway: String,
    reference: String,
    amount: Money,
    succeeded: bool,
}

impl VerifiedPayment {
    /// What a gateway reports after verifying a payment with its own
    /// credentials. For gateway implementations only.
    pub fn confirmed_by_gateway(
        gateway: &str,
        reference: &str,
        amount: Money,
        succeeded: bool,
    ) -> Self {
        VerifiedPayment {
            gateway: gateway.to_owned(),
            reference: reference.to_owned(),
            amount,
            succeeded,
        }
    }

    /// The gateway.
    pub fn gateway(&self) -> &str {
        &self.gateway
    }

    /// The gateway's reference.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The amount and currency the gateway collected.
    pub fn amount(&self) -> Money {
        self.amount
    }

    /// `true` when money was captured, `false` for a declined payment.
    pub fn succeeded(&self) -> bool {
        self.succeeded
    }
}

/// A verified webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The gateway's event id: an event is applied at most once.
    pub event_id: String,
    /// The result it reports.
    pub payment: VerifiedPayment,
}

/// The gateway's receipt for a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundReceipt {
    /// The gateway's refund reference.
    pub reference: String,
}

/// A payment gateway. Implementations talk to the provider; the engine does
/// the bookkeeping.
///
/// # Contract
/// - `create_payment` is idempotent by `idempotency_key`: a retry returns the
///   same session.
/// - `verify` asks the provider (server to server) about a payment; the
///   browser's return parameters only say which payment to ask about.
/// - `parse_webhook` accepts only a correctly signed, fresh event; anything
///   else is a [`WebhookError`] and changes nothing.
/// - `refund` is idempotent by `idempotency_key`.
pub trait PaymentGateway: Send + Sync + std::fmt::Debug {
    /// The gateway's name in URLs and records (`sandbox`, `stripe`).
    fn name(&self) -> &str;

    /// Starts collecting a payment.
    fn create_payment(
        &self,
        request: PaymentRequest,
    ) -> BoxFuture<'_, Result<GatewaySession, GatewayError>>;

    /// Asks the provider for the state of a payment named by the return parameters.
    fn verify<'a>(
        &'a self,
        params: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Option<VerifiedPayment>, GatewayError>>;

    /// Verifies and parses a webhook from its headers (lower-case names) and raw body.
    ///
    /// # Errors
    /// [`WebhookError`].
    fn parse_webhook(
        &self,
        headers: &BTreeMap<String, String>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookError>;

    /// Gives money back on a captured payment.
    fn refund<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<RefundReceipt, GatewayError>>;

    /// The built-in [`SandboxGateway`], when this is it (its test page
    /// settles payments through it); `None` for every real gateway.
    fn as_sandbox(&self) -> Option<&SandboxGateway> {
        None
    }
}

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Started; waiting for the buyer and the gateway.
    Pending,
    /// Money captured and applied to the order.
    Succeeded,
    /// Declined.
    Failed,
    /// The gateway reported another amount or currency than the order's: not
    /// applied; needs a person.
    Mismatch,
    /// Abandoned because the order was cancelled or paid by another payment.
    Voided,
    /// Captured but the order could not take it (expired without stock,
    /// cancelled, paid twice): to be refunded.
    RefundRequired,
}

/// One thing that happened to a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAttempt {
    /// When.
    pub at: DateTime<Utc>,
    /// What (`created`, `webhook`, `return`, `reconcile`).
    pub kind: String,
    /// The outcome, for people.
    pub detail: String,
}

/// A payment of an order through one gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The payment.
    pub id: PaymentId,
    /// Its order.
    pub order_id: OrderId,
    /// The gateway's name.
    pub gateway: String,
    /// The gateway's reference.
    pub reference: String,
    /// What was asked for (the order total).
    pub amount: Money,
    /// Where it stands.
    pub status: PaymentStatus,
    /// Where the buyer pays.
    pub redirect_url: String,
    /// History.
    pub attempts: Vec<PaymentAttempt>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}
