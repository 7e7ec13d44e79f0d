//! The sandbox gateway: a complete, local stand-in for a hosted payment page.
//!
//! `create_payment` registers a reference and points the buyer at
//! `{base_url}/sandbox/pay/{reference}`. [`SandboxGateway::complete`] is what the
//! page's Pay and Decline buttons do: it settles the payment on the gateway's
//! side and returns the webhook the gateway sends, signed exactly as Stripe
//! signs its own:
//!
//! `Sandbox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`
//!
//! with the body `{"id": "evt_…", "type": "payment.succeeded" | "payment.failed",
//! "data": {"reference", "amount", "currency"}}`. A timestamp more than 300 s
//! away from the receiver's clock is refused.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{
    BoxFuture, GatewayError, GatewaySession, PaymentGateway, PaymentRequest, RefundReceipt,
    VerifiedPayment, WebhookError, WebhookEvent,
};
use crate::money::{Currency, Money};

/// The sandbox's gateway name.
pub const NAME: &str = "sandbox";
/// The header carrying the signature (lower-case, as headers are passed in).
pub const SIGNATURE_HEADER: &str = "sandbox-signature";
/// How far a webhook's timestamp may be from now, in seconds.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Paid,
    Declined,
}

#[derive(Debug)]
struct Session {
    amount: Money,
    state: State,
    refunded: i64,
}

#[derive(Debug, Default)]
struct Book {
    sessions: HashMap<String, Session>,
    by_key: HashMap<String, String>,
    refunds: HashMap<String, String>,
}

/// The built-in sandbox gateway (see the module docs).
#[derive(Debug)]
pub struct SandboxGateway {
    secret: Vec<u8>,
    base_url: String,
    book: Mutex<Book>,
}

/// A webhook as the sandbox sends it: headers (lower-case names) and raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedWebhook {
    /// Headers, including [`SIGNATURE_HEADER`].
    pub headers: BTreeMap<String, String>,
    /// The raw JSON body.
    pub body: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct WireEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: WireData,
}

#[derive(Serialize, Deserialize)]
struct WireData {
    reference: String,
    amount: String,
    currency: String,
}

impl SandboxGateway {
    /// A sandbox signing with `secret`, whose hosted page lives under `base_url`.
    pub fn new(secret: impl Into<Vec<u8>>, base_url: impl Into<String>) -> Self {
        SandboxGateway {
            secret: secret.into(),
            base_url: base_url.into(),
            book: Mutex::new(Book::default()),
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }

    /// The `Sandbox-Signature` value for `body` at unix time `t`.
    pub fn signature(&self, body: &[u8], t: i64) -> String {
        let mut mac = self.mac();
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// The amount a pending or settled sandbox payment asks for.
    pub fn amount_of(&self, reference: &str) -> Option<Money> {
        self.book().sessions.get(reference).map(|s| s.amount)
    }

    /// Settles a payment on the gateway's side — Pay (`paid = true`) or
    /// Decline — and returns the signed webhook the gateway sends about it.
    ///
    /// # Errors
    /// [`GatewayError`] for an unknown reference or one already settled.
    pub fn complete(
        &self,
        reference: &str,
        paid: bool,
        now: DateTime<Utc>,
    ) -> Result<SignedWebhook, GatewayError> {
        let mut book = self.book();
        let session = book
            .sessions
            .get_mut(reference)
            .ok_or_else(|| error("unknown reference", false))?;
        if session.state != State::Pending {
            return Err(error("payment already settled", false));
        }
        session.state = if paid { State::Paid } else { State::Declined };
        let amount = session.amount;
        drop(book);
        Ok(self.webhook(
            &format!("evt_{}", uuid::Uuid::now_v7().simple()),
            reference,
            amount,
            paid,
            now,
        ))
    }

    /// Builds and signs a webhook for any values (tests use it to forge
    /// amounts, references and timestamps).
    pub fn webhook(
        &self,
        event_id: &str,
        reference: &str,
        amount: Money,
        paid: bool,
        at: DateTime<Utc>,
    ) -> SignedWebhook {
        let event = WireEvent {
            id: event_id.to_owned(),
            kind: if paid {
                "payment.succeeded"
            } else {
                "payment.failed"
            }
            .to_owned(),
            data: WireData {
                reference: reference.to_owned(),
                amount: amount.amount_string(),
                currency: amount.currency().code().to_owned(),
            },
        };
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let mut headers = BTreeMap::new();
        headers.insert(
            SIGNATURE_HEADER.to_owned(),
            self.signature(&body, at.timestamp()),
        );
        headers.insert("content-type".to_owned(), "application/json".to_owned());
        SignedWebhook { headers, body }
    }

    fn check_signature(
        &self,
        header: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), WebhookError> {
        let mut t: Option<i64> = None;
        let mut candidates = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => t = v.parse().ok(),
                Some(("v1", v)) => candidates.push(v),
                _ => {}
            }
        }
        let t = t.ok_or(WebhookError::SignatureInvalid("no timestamp"))?;
        if (now.timestamp() - t).abs() > TOLERANCE_SECS {
            return Err(WebhookError::SignatureInvalid(
                "timestamp outside the tolerance",
            ));
        }
        let valid = candidates
            .iter()
            .filter_map(|c| hex::decode(c).ok())
            .any(|sig| {
                let mut mac = self.mac();
                mac.update(t.to_string().as_bytes());
                mac.update(b".");
                mac.update(body);
                mac.verify_slice(&sig).is_ok()
            });
        if valid {
            Ok(())
        } else {
            Err(WebhookError::SignatureInvalid("no matching v1 signature"))
        }
    }
}

fn error(message: &str, retryable: bool) -> GatewayError {
    GatewayError {
        gateway: NAME.to_owned(),
        message: message.to_owned(),
        retryable,
    }
}

impl PaymentGateway for SandboxGateway {
    fn name(&self) -> &str {
        NAME
    }

    fn as_sandbox(&self) -> Option<&SandboxGateway> {
        Some(self)
    }

    fn create_payment(
        &self,
        request: PaymentRequest,
    ) -> BoxFuture<'_, Result<GatewaySession, GatewayError>> {
        let mut book = self.book();
        let reference = match book.by_key.get(&request.idempotency_key) {
            Some(existing) => existing.clone(),
            None => {
                let reference = format!("sbx_{}", uuid::Uuid::new_v4().simple());
                book.sessions.insert(
                    reference.clone(),
                    Session {
                        amount: request.amount,
                        state: State::Pending,
                        refunded: 0,
                    },
                );
                book.by_key
                    .insert(request.idempotency_key, reference.clone());
                reference
            }
        };
        let redirect_url = format!(
            "{}/sandbox/pay/{reference}",
            self.base_url.trim_end_matches('/')
        );
        Box::pin(std::future::ready(Ok(GatewaySession {
            reference,
            redirect_url,
        })))
    }

    fn verify<'a>(
        &'a self,
        params: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Option<VerifiedPayment>, GatewayError>> {
        let answer = match params.get("reference") {
            None => Err(error("no reference in the return parameters", false)),
            Some(reference) => match self.book().sessions.get(reference) {
                None => Err(error("unknown reference", false)),
                Some(s) => Ok(match s.state {
                    State::Pending => None,
                    State::Paid => Some(VerifiedPayment::confirmed_by_gateway(
                        NAME, reference, s.amount, true,
                    )),
                    State::Declined => Some(VerifiedPayment::confirmed_by_gateway(
                        NAME, reference, s.amount, false,
                    )),
                }),
            },
        };
        Box::pin(std::future::ready(answer))
    }

    fn parse_webhook(
        &self,
        headers: &BTreeMap<String, String>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookError> {
        let header = headers
            .get(SIGNATURE_HEADER)
            .ok_or(WebhookError::SignatureInvalid("missing header"))?;
        self.check_signature(header, body, now)?;
        let event: WireEvent =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let paid = match event.kind.as_str() {
            "payment.succeeded" => true,
            "payment.failed" => false,
            other => {
                return Err(WebhookError::Malformed(format!(
                    "unknown event type {other:?}"
                )));
            }
        };
        let currency = Currency::from_code(&event.data.currency)
            .map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let amount = Money::parse(&event.data.amount, currency)
            .map_err(|e| WebhookError::Malformed(e.to_string()))?;
        Ok(WebhookEvent {
            event_id: event.id,
            payment: VerifiedPayment::confirmed_by_gateway(
                NAME,
                &event.data.reference,
                amount,
                paid,
            ),
        })
    }

    fn refund<'a>(
        &'a self,
        reference: &'a str,
        amount: Money,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<RefundReceipt, GatewayError>> {
        let mut book = self.book();
        let answer = if let Some(done) = book.refunds.get(idempotency_key) {
            Ok(RefundReceipt {
                reference: done.clone(),
            })
        } else {
            match book.sessions.get_mut(reference) {
                None => Err(error("unknown reference", false)),
                Some(s) if s.state != State::Paid => Err(error("nothing captured", false)),
                Some(s)
                    if s.amount.currency() != amount.currency()
                        || s.refunded + amount.minor() > s.amount.minor() =>
                {
                    Err(error("refund exceeds the captured amount", false))
                }
                Some(s) => {
                    s.refunded += amount.minor();
                    let receipt = format!("sbx_re_{}", uuid::Uuid::new_v4().simple());
                    book.refunds
                        .insert(idempotency_key.to_owned(), receipt.clone());
                    Ok(RefundReceipt { reference: receipt })
                }
            }
        };
        Box::pin(std::future::ready(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OrderId, PaymentId};
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        // The sandbox's futures are ready at once.
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => unreachable!("sandbox futures are ready"),
        }
    }

    fn start(gw: &SandboxGateway, key: &str) -> GatewaySession {
        block_on(gw.create_payment(PaymentRequest {
            payment_id: PaymentId::new(),
            order_id: OrderId::new(),
            amount: Money::from_minor(1250, Currency::USD),
            idempotency_key: key.into(),
            return_url: "http://shop/return".into(),
        }))
        .unwrap()
    }

    #[test]
    fn a_paid_session_sends_a_webhook_that_verifies() {
        let gw = SandboxGateway::new("whsec_test", "http://127.0.0.1:8080/");
        let session = start(&gw, "k1");
        assert_eq!(
            session.redirect_url,
            format!("http://127.0.0.1:8080/sandbox/pay/{}", session.reference)
        );
        assert_eq!(
            start(&gw, "k1"),
            session,
            "create_payment is idempotent by key"
        );
        let hook = gw.complete(&session.reference, true, now()).unwrap();
        let event = gw
            .parse_webhook(&hook.headers, &hook.body, now() + Duration::seconds(5))
            .unwrap();
        assert!(event.payment.succeeded());
        assert_eq!(event.payment.reference(), session.reference);
        assert_eq!(
            event.payment.amount(),
            Money::from_minor(1250, Currency::USD)
        );
        assert!(
            gw.complete(&session.reference, true, now()).is_err(),
            "settles once"
        );
        let mut params = BTreeMap::new();
        params.insert("reference".to_owned(), session.reference.clone());
        assert!(block_on(gw.verify(&params)).unwrap().unwrap().succeeded());
    }

    #[test]
    fn bad_missing_and_stale_signatures_are_refused() {
        let gw = SandboxGateway::new("whsec_test", "http://shop");
        let other = SandboxGateway::new("another_secret", "http://shop");
        let amount = Money::from_minor(1250, Currency::USD);
        let hook = gw.webhook("evt_1", "sbx_x", amount, true, now());

        let forged = other.webhook("evt_1", "sbx_x", amount, true, now());
        assert!(matches!(
            gw.parse_webhook(&forged.headers, &forged.body, now()),
            Err(WebhookError::SignatureInvalid(_))
        ));

        let mut tampered = hook.body.clone();
        let pos = tampered.iter().position(|&b| b == b'1').unwrap();
        tampered[pos] = b'9';
        assert!(matches!(
            gw.parse_webhook(&hook.headers, &tampered, now()),
            Err(WebhookError::SignatureInvalid(_))
        ));

        assert!(matches!(
            gw.parse_webhook(&BTreeMap::new(), &hook.body, now()),
            Err(WebhookError::SignatureInvalid(_))
        ));
        for late in [Duration::seconds(301), Duration::seconds(-301)] {
            assert!(matches!(
                gw.parse_webhook(&hook.headers, &hook.body, now() + late),
                Err(WebhookError::SignatureInvalid(_))
            ));
        }
        assert!(
            gw.parse_webhook(&hook.headers, &hook.body, now() + Duration::seconds(300))
                .is_ok()
        );

        let mut garbage = BTreeMap::new();
        garbage.insert(SIGNATURE_HEADER.to_owned(), "t=abc,v1=zz".to_owned());
        assert!(matches!(
            gw.parse_webhook(&garbage, &hook.body, now()),
            Err(WebhookError::SignatureInvalid(_))
        ));
    }

    #[test]
    fn signed_but_malformed_events_are_refused() {
        let gw = SandboxGateway::new("s", "http://shop");
        let body = br#"{"id":"e","type":"payment.refunded","data":{"reference":"r","amount":"1.00","currency":"USD"}}"#;
        let mut headers = BTreeMap::new();
        headers.insert(
            SIGNATURE_HEADER.to_owned(),
            gw.signature(body, now().timestamp()),
        );
        assert!(matches!(
            gw.parse_webhook(&headers, body, now()),
            Err(WebhookError::Malformed(_))
        ));
        let body = br#"{"id":"e","type":"payment.succeeded","data":{"reference":"r","amount":"1.0","currency":"USD"}}"#;
        headers.insert(
            SIGNATURE_HEADER.to_owned(),
            gw.signature(body, now().timestamp()),
        );
        assert!(matches!(
            gw.parse_webhook(&headers, body, now()),
            Err(WebhookError::Malformed(_))
        ));
    }

    #[test]
    fn refunds_never_exceed_the_captured_amount() {
        let gw = SandboxGateway::new("s", "http://shop");
        let session = start(&gw, "k");
        let part = Money::from_minor(1000, Currency::USD);
        assert!(
            block_on(gw.refund(&session.reference, part, "r1")).is_err(),
            "nothing captured yet"
        );
        gw.complete(&session.reference, true, now()).unwrap();
        let first = block_on(gw.refund(&session.reference, part, "r1")).unwrap();
        assert_eq!(
            block_on(gw.refund(&session.reference, part, "r1")).unwrap(),
            first,
            "idempotent by key"
        );
        assert!(
            block_on(gw.refund(&session.reference, part, "r2")).is_err(),
            "12.50 captured, 10.00 refunded"
        );
        assert!(
            block_on(gw.refund(
                &session.reference,
                Money::from_minor(250, Currency::USD),
                "r3"
            ))
            .is_ok()
        );
    }
}
