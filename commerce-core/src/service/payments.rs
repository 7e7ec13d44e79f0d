//! Payments: start one (idempotent), apply gateway webhooks and verified
//! browser returns, and send refunds.

use std::collections::BTreeMap;

use super::{Commerce, CommerceError};
use crate::idempotency::{Begin, Fingerprint, IdempotencyKey};
use crate::ids::{OrderId, PaymentId};
use crate::money::Money;
use crate::order::{OrderEvent, OrderStatus};
use crate::payment::{Payment, PaymentAttempt, PaymentRequest, PaymentStatus, RefundReceipt};
use crate::storage::{ApplyPayment, PaymentOutcome, Store, UnknownPayment};

impl<S: Store> Commerce<S> {
    /// Starts paying an order through a gateway. Idempotent: the same key for
    /// the same order and gateway returns the same payment, even after the
    /// order was paid, or the same final refusal (an expired order, one not
    /// awaiting payment).
    ///
    /// # Errors
    /// [`CommerceError::NotFound`] (order or gateway), [`CommerceError::OrderExpired`],
    /// [`CommerceError::InvalidTransition`] when the order is not awaiting payment,
    /// the idempotency errors, [`CommerceError::Gateway`].
    pub async fn start_payment(
        &self,
        order_id: OrderId,
        gateway: &str,
        key: &IdempotencyKey,
    ) -> Result<Payment, CommerceError> {
        let gw = std::sync::Arc::clone(self.gateway(gateway)?);
        let order = self
            .store
            .order(order_id)
            .await?
            .ok_or(CommerceError::NotFound("order"))?;
        let now = self.clock.now();
        let scope = format!("payment:{order_id}");
        let fingerprint = Fingerprint::of(&[gateway.as_bytes()]);
        match self
            .store
            .begin(
                &scope,
                key,
                fingerprint,
                now,
                now + self.config.idempotency_lock,
            )
            .await?
        {
            Begin::Started => {}
            Begin::Replay(stored) => {
                if let Some(refusal) = super::replay::decode(&stored) {
                    return Err(refusal);
                }
                let id: PaymentId = stored
                    .parse()
                    .map_err(|_| CommerceError::NotFound("payment"))?;
                return self
                    .store
                    .payment(id)
                    .await?
                    .ok_or(CommerceError::NotFound("payment"));
            }
            Begin::InProgress => return Err(CommerceError::IdempotencyInProgress),
            Begin::Mismatch => return Err(CommerceError::IdempotencyKeyReused),
        }
        let result = async {
            // Checked with the key held, so that a replay after the order
            // moved on still answers with the payment it started.
            match order.status {
                OrderStatus::PendingPayment => {}
                OrderStatus::Expired => return Err(CommerceError::OrderExpired),
                from => {
                    return Err(CommerceError::InvalidTransition(
                        crate::order::InvalidTransition {
                            from,
                            event: OrderEvent::Pay,
                        },
                    ));
                }
            }
            let payment_id = PaymentId::new();
            let session = gw
                .create_payment(PaymentRequest {
                    payment_id,
                    order_id,
                    amount: order.total,
                    idempotency_key: format!("{order_id}:{}", key.as_str()),
                    return_url: format!(
                        "{}/payments/{gateway}/return",
                        self.config.return_base.trim_end_matches('/')
                    ),
                })
                .await?;
            let payment = Payment {
                id: payment_id,
                order_id,
                gateway: gateway.to_owned(),
                reference: session.reference,
                amount: order.total,
                status: PaymentStatus::Pending,
                redirect_url: session.redirect_url,
                attempts: vec![PaymentAttempt {
                    at: now,
                    kind: "created".into(),
                    detail: "payment started".into(),
                }],
                created_at: now,
                updated_at: now,
            };
            let payment = match self.store.insert_payment(payment.clone()).await {
                Ok(()) => payment,
                // The gateway answered a retry of this key with the session it
                // made before: the payment was stored by an earlier try whose
                // key could not be completed. That payment is the answer.
                Err(crate::storage::StoreError::Duplicate { .. }) => self
                    .store
                    .payment_by_reference(gateway, &payment.reference)
                    .await?
                    .filter(|p| p.order_id == order_id)
                    .ok_or(CommerceError::Conflict)?,
                Err(e) => return Err(e.into()),
            };
            self.store
                .complete(&scope, key, payment.id.to_string())
                .await?;
            Ok::<_, CommerceError>(payment)
        }
        .await;
        if let Err(e) = &result {
            super::replay::settle_refused(self.store.as_ref(), &scope, key, e).await;
        }
        result
    }

    /// A payment, with its history.
    ///
    /// # Errors
    /// [`CommerceError::NotFound`].
    pub async fn payment(&self, id: PaymentId) -> Result<Payment, CommerceError> {
        self.store
            .payment(id)
            .await?
            .ok_or(CommerceError::NotFound("payment"))
    }

    /// A payment by its gateway's reference.
    ///
    /// # Errors
    /// [`CommerceError::UnknownPaymentReference`].
    pub async fn payment_by_reference(
        &self,
        gateway: &str,
        reference: &str,
    ) -> Result<Payment, CommerceError> {
        self.store
            .payment_by_reference(gateway, reference)
            .await?
            .ok_or(CommerceError::UnknownPaymentReference)
    }

    /// An order's payments, oldest first.
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn payments_of(&self, order: OrderId) -> Result<Vec<Payment>, CommerceError> {
        Ok(self.store.payments_of(order).await?)
    }

    /// The payments of several orders (a page of them) in one read, each
    /// order's oldest first.
    ///
    /// # Errors
    /// [`CommerceError::Store`].
    pub async fn payments_of_orders(
        &self,
        orders: &[OrderId],
    ) -> Result<Vec<Payment>, CommerceError> {
        Ok(self.store.payments_of_orders(orders).await?)
    }

    /// The built-in sandbox gateway, when the engine has it: what its hosted
    /// test page settles payments with.
    pub fn sandbox(&self) -> Option<&crate::payment::SandboxGateway> {
        self.gateways
            .get(crate::payment::sandbox::NAME)
            .and_then(|g| g.as_sandbox())
    }

    /// Applies a gateway webhook: the signature and timestamp are checked by
    /// the gateway, then the event goes through the inbox (each event id at
    /// most once) and the atomic payment operation.
    ///
    /// # Errors
    /// [`CommerceError::Webhook`] for a bad, missing or stale signature,
    /// [`CommerceError::UnknownPaymentReference`]; nothing changes.
    pub async fn handle_webhook(
        &self,
        gateway: &str,
        headers: &BTreeMap<String, String>,
        body: &[u8],
    ) -> Result<PaymentOutcome, CommerceError> {
        let gw = self.gateway(gateway)?;
        let event = gw.parse_webhook(headers, body, self.clock.now())?;
        self.apply(Some(event.event_id), event.payment, "webhook")
            .await
    }

    /// Handles the buyer's return from the gateway: the parameters only say
    /// which payment to ask about; the gateway is asked server to server.
    /// Returns `None` while the gateway still has no result.
    ///
    /// # Errors
    /// [`CommerceError::Gateway`], [`CommerceError::UnknownPaymentReference`].
    pub async fn handle_return(
        &self,
        gateway: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<Option<PaymentOutcome>, CommerceError> {
        let gw = self.gateway(gateway)?;
        match gw.verify(params).await? {
            Some(verified) => self.apply(None, verified, "return").await.map(Some),
            None => Ok(None),
        }
    }

    /// Asks the gateways about payments still pending after `older_than`
    /// (a webhook that never came, a buyer who never returned) and applies
    /// what they answer, as a return would. At most `limit` payments; a
    /// gateway that fails leaves its payment for the next run.
    ///
    /// # Errors
    /// [`CommerceError::Store`] when the store fails.
    pub async fn reconcile_payments(
        &self,
        older_than: chrono::Duration,
        limit: u32,
    ) -> Result<Vec<(PaymentId, PaymentOutcome)>, CommerceError> {
        let due = self
            .store
            .pending_payments(self.clock.now() - older_than, limit)
            .await?;
        let mut settled = Vec::new();
        for payment in due {
            let Ok(gw) = self.gateway(&payment.gateway) else {
                continue;
            };
            let params = BTreeMap::from([("reference".to_owned(), payment.reference.clone())]);
            let verified = match gw.verify(&params).await {
                Ok(Some(v)) => v,
                Ok(None) | Err(_) => continue,
            };
            match self.apply(None, verified, "reconcile").await {
                Ok(outcome) => settled.push((payment.id, outcome)),
                Err(CommerceError::Store(e)) => return Err(CommerceError::Store(e)),
                Err(_) => {}
            }
        }
        Ok(settled)
    }

    async fn apply(
        &self,
        event_id: Option<String>,
        verified: crate::payment::VerifiedPayment,
        source: &'static str,
    ) -> Result<PaymentOutcome, CommerceError> {
        let apply = ApplyPayment {
            event_id,
            verified,
            source,
            low_stock_threshold: self.config.low_stock_threshold,
            now: self.clock.now(),
        };
        match self.store.apply_payment(apply).await? {
            Ok(outcome) => Ok(outcome),
            Err(UnknownPayment) => Err(CommerceError::UnknownPaymentReference),
        }
    }

    /// Sends a refund through the payment's gateway, idempotent by `key`
    /// (job handlers call this for `OrderRefunded`, `OrderCancelled` and
    /// `PaymentRefundRequired` events, with the event id as key).
    ///
    /// # Errors
    /// [`CommerceError::NotFound`], [`CommerceError::Gateway`].
    pub async fn send_refund(
        &self,
        payment: PaymentId,
        amount: Money,
        key: &str,
    ) -> Result<RefundReceipt, CommerceError> {
        let payment = self
            .store
            .payment(payment)
            .await?
            .ok_or(CommerceError::NotFound("payment"))?;
        let gw = self.gateway(&payment.gateway)?;
        let receipt = gw.refund(&payment.reference, amount, key).await?;
        let attempt = PaymentAttempt {
            at: self.clock.now(),
            kind: "refund".into(),
            detail: format!("refunded {amount} ({})", receipt.reference),
        };
        self.store.record_attempt(payment.id, attempt).await?;
        Ok(receipt)
    }
}
