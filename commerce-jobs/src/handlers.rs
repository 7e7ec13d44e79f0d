//! The job handlers: outbox events (order and stock mails, refunds) and
//! account mails (verification, sign-in code, password reset).
//!
//! **Each mail at most once per event.** Before sending, a handler claims an
//! idempotency key in the store (scope [`MAIL_SCOPE`], key
//! `<event id>:<recipient>`, where the recipient is `buyer`,
//! `seller:<store id>` or `owner`; `<job id>` for account mails), sends,
//! then completes the key; a failed send releases it for the retry. A
//! second delivery of the same job finds the key completed and sends
//! nothing. Keys live in the database, so this holds across restarts and
//! processes, for as long as keys are kept (pruned after 24 h by the
//! built-in sweep). The one gap is a crash (or a lost store write) after
//! the mail server accepted the mail and before the key was completed: the
//! key stays claimed until its lock lapses, then the mail is sent again.
//! Refunds go through the same claim (scope [`REFUND_SCOPE`], key
//! `<event id>`) and the gateway's own idempotency key (the event id).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use commerce_core::account::Email;
use commerce_core::idempotency::{Begin, Fingerprint, IdempotencyKey};
use commerce_core::ids::{EventId, OrderId, PaymentId, StoreId};
use commerce_core::money::Money;
use commerce_core::order::{Order, OrderLine};
use commerce_core::outbox::{EventKind, OutboxEvent};
use commerce_core::service::{Commerce, CommerceError};
use commerce_core::storage::{Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::job::{Job, JobId, NewJob};
use crate::mail::{Mail, MailSettings, Mailer, Templates};
use crate::queue::{JobQueue, QueueError};
use crate::worker::{JobError, Worker};

/// The job kind of relayed outbox events (payload: the [`OutboxEvent`]).
pub const OUTBOX_EVENT: &str = "outbox_event";
/// The job kind of account mails (payload: an [`AccountMail`]).
pub const ACCOUNT_MAIL: &str = "account_mail";
/// The idempotency scope of sent mails.
pub const MAIL_SCOPE: &str = "mail";
/// The idempotency scope of refunds sent to gateways.
pub const REFUND_SCOPE: &str = "refund";

/// Deliveries of an account mail before it is given up: its secret
/// expires within minutes to hours anyway.
const ACCOUNT_MAIL_ATTEMPTS: u32 = 6;

/// An account mail carrying a secret. It is never stored in the database:
/// the HTTP layer enqueues it directly with [`enqueue_account_mail`], and
/// the secret lives only in the job (memory, or Redis until acknowledged).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMail {
    /// The recipient.
    pub to: Email,
    /// Which mail, with its secret.
    pub kind: AccountMailKind,
}

/// Which account mail.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccountMailKind {
    /// Confirm the email address: a link `/verify-email?token=…`.
    Verify {
        /// The single-use token.
        token: String,
    },
    /// A one-time sign-in code.
    Otp {
        /// The 6-digit code.
        code: String,
    },
    /// Reset the password: a link `/reset-password?token=…`.
    Reset {
        /// The single-use token.
        token: String,
    },
}

impl fmt::Debug for AccountMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            AccountMailKind::Verify { .. } => "verify",
            AccountMailKind::Otp { .. } => "otp",
            AccountMailKind::Reset { .. } => "reset",
        };
        f.debug_struct("AccountMail")
            .field("to", &self.to)
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AccountMailKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccountMailKind::Verify { .. } => "Verify { .. }",
            AccountMailKind::Otp { .. } => "Otp { .. }",
            AccountMailKind::Reset { .. } => "Reset { .. }",
        })
    }
}

/// An account mail the job system refuses before enqueueing it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountMailError {
    /// An empty token, or a code that is not 6 digits.
    #[error("a token must be 1 to 512 visible ASCII characters and a code 6 digits")]
    InvalidSecret,
    /// The queue failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl AccountMail {
    fn check(&self) -> Result<(), AccountMailError> {
        let token_ok =
            |t: &str| (1..=512).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic());
        let ok = match &self.kind {
            AccountMailKind::Verify { token } | AccountMailKind::Reset { token } => token_ok(token),
            AccountMailKind::Otp { code } => {
                code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
            }
        };
        if ok {
            Ok(())
        } else {
            Err(AccountMailError::InvalidSecret)
        }
    }
}

/// Enqueues an account mail; returns its job id. What the HTTP layer calls
/// after registering an account, issuing a sign-in code or a reset token.
///
/// # Errors
/// [`AccountMailError::InvalidSecret`], or the queue failed.
pub async fn enqueue_account_mail<Q: JobQueue>(
    queue: &Q,
    mail: &AccountMail,
) -> Result<JobId, AccountMailError> {
    mail.check()?;
    let job = NewJob::new(ACCOUNT_MAIL, mail)
        .map_err(|e| AccountMailError::Queue(QueueError::Malformed(e.to_string())))?
        .max_attempts(ACCOUNT_MAIL_ATTEMPTS);
    let id = job.id;
    queue.enqueue(vec![job]).await?;
    Ok(id)
}

/// How the handlers behave.
#[derive(Debug, Clone)]
pub struct HandlerConfig {
    /// How long a claimed mail or refund key is held by the delivery
    /// sending it; a delivery that dies leaves it held that long, and a
    /// concurrent delivery retries after it.
    pub claim: Duration,
}

impl Default for HandlerConfig {
    fn default() -> Self {
        HandlerConfig {
            claim: Duration::from_secs(120),
        }
    }
}

/// The handlers of outbox events and account mails, over a [`Commerce`].
pub struct Handlers<S> {
    commerce: Commerce<S>,
    mailer: Arc<dyn Mailer>,
    templates: Templates,
    config: HandlerConfig,
}

impl<S> fmt::Debug for Handlers<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handlers")
            .field("mailer", &self.mailer)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn store_err(e: StoreError) -> JobError {
    JobError::retry(format!("store: {e}"))
}

fn fingerprint() -> Fingerprint {
    Fingerprint::of(&[b"commerce-jobs"])
}

/// The idempotency key of an effect (a mail, a refund).
fn effect_key(key: &str) -> Result<IdempotencyKey, JobError> {
    IdempotencyKey::parse(key).map_err(|e| JobError::permanent(e.to_string()))
}

enum Claim {
    Mine(IdempotencyKey),
    Done,
}

impl<S: Store + 'static> Handlers<S> {
    /// Handlers sending through `mailer`, writing mails with `settings`.
    pub fn new(commerce: Commerce<S>, mailer: Arc<dyn Mailer>, settings: MailSettings) -> Self {
        Handlers {
            commerce,
            mailer,
            templates: Templates::new(settings),
            config: HandlerConfig::default(),
        }
    }

    /// With other settings.
    #[must_use]
    pub fn with_config(mut self, config: HandlerConfig) -> Self {
        self.config = config;
        self
    }

    /// Registers the handlers of [`OUTBOX_EVENT`] and [`ACCOUNT_MAIL`] jobs on a worker.
    pub fn register<Q: JobQueue>(self, worker: Worker<Q>) -> Worker<Q> {
        let this = Arc::new(self);
        let events = Arc::clone(&this);
        worker
            .handle(OUTBOX_EVENT, move |job: Job| {
                let h = Arc::clone(&events);
                async move {
                    let event: OutboxEvent = job
                        .payload()
                        .map_err(|e| JobError::permanent(format!("not an outbox event: {e}")))?;
                    h.handle_event(&event).await
                }
            })
            .handle(ACCOUNT_MAIL, move |job: Job| {
                let h = Arc::clone(&this);
                async move {
                    let mail: AccountMail = job
                        .payload()
                        .map_err(|_| JobError::permanent("not an account mail"))?;
                    h.handle_account_mail(job.id, &mail).await
                }
            })
    }

    /// Sends an account mail, at most once per job.
    ///
    /// # Errors
    /// [`JobError`]: retry on a transport or store failure.
    pub async fn handle_account_mail(
        &self,
        job: JobId,
        mail: &AccountMail,
    ) -> Result<(), JobError> {
        mail.check()
            .map_err(|e| JobError::permanent(e.to_string()))?;
        let m = match &mail.kind {
            AccountMailKind::Verify { token } => self.templates.verify_email(&mail.to, token),
            AccountMailKind::Otp { code } => self.templates.otp(&mail.to, code),
            AccountMailKind::Reset { token } => self.templates.password_reset(&mail.to, token),
        };
        self.send_once(&format!("{job}:account"), m).await
    }

    /// Does what an outbox event asks: its mails, each at most once, and
    /// its refund. Every effect is tried; the first failure is returned
    /// (the retry skips what was done).
    ///
    /// # Errors
    /// [`JobError`].
    pub async fn handle_event(&self, event: &OutboxEvent) -> Result<(), JobError> {
        let id = event.id;
        let mut first_error = None;
        let mut note = |r: Result<(), JobError>| {
            if let Err(e) = r {
                tracing::warn!(event = %id, error = %e, "event effect failed");
                first_error.get_or_insert(e);
            }
        };
        match &event.kind {
            EventKind::OrderPlaced { order_id } => {
                note(
                    self.mail_buyer_about(id, *order_id, |t, o| t.order_placed(o))
                        .await,
                );
            }
            EventKind::OrderPaid { order_id, .. } => {
                let order = self.order(*order_id).await?;
                note(self.mail_buyer(id, self.templates.order_paid(&order)).await);
                note(self.mail_sellers(id, &order).await);
            }
            EventKind::OrderCancelled { order_id, refund } => {
                let order = self.order(*order_id).await?;
                if let Some(amount) = refund {
                    note(self.refund_order(id, &order, *amount).await);
                }
                note(
                    self.mail_buyer(id, self.templates.order_cancelled(&order, *refund))
                        .await,
                );
            }
            EventKind::OrderExpired { order_id } => {
                note(
                    self.mail_buyer_about(id, *order_id, |t, o| t.order_expired(o))
                        .await,
                );
            }
            EventKind::OrderRefunded { order_id, amount } => {
                let order = self.order(*order_id).await?;
                note(self.refund_order(id, &order, *amount).await);
            }
            EventKind::PaymentRefundRequired {
                payment_id, amount, ..
            } => {
                note(self.refund_once(id, *payment_id, *amount).await);
            }
            EventKind::LowStock {
                variant_id,
                store_id,
                owner_id,
                on_hand,
                threshold,
            } => {
                let store = self.commerce.store();
                let Some(owner) = store.account(*owner_id).await.map_err(store_err)? else {
                    tracing::warn!(event = %id, "low stock: the store owner has no account; nobody to tell");
                    return Ok(());
                };
                let item = match store
                    .variants(&[*variant_id])
                    .await
                    .map_err(store_err)?
                    .first()
                {
                    Some(r) => format!(
                        "{} ({})",
                        r.variant.display_name(&r.product.name),
                        r.variant.sku.as_str()
                    ),
                    None => format!("variant {variant_id}"),
                };
                let store_name = self.store_name(*store_id).await?;
                let mail = self.templates.low_stock(
                    &owner.email,
                    &store_name,
                    &item,
                    *on_hand,
                    *threshold,
                );
                note(self.send_once(&format!("{id}:owner"), mail).await);
            }
            // Shipping and delivery mails are not sent (yet); future kinds are ignored.
            _ => {}
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn order(&self, id: commerce_core::ids::OrderId) -> Result<Order, JobError> {
        self.commerce
            .store()
            .order(id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| JobError::permanent(format!("order {id} not found")))
    }

    async fn store_name(&self, id: StoreId) -> Result<String, JobError> {
        Ok(self
            .commerce
            .store()
            .seller_store(id)
            .await
            .map_err(store_err)?
            .map_or_else(|| "your store".to_owned(), |s| s.name))
    }

    /// The buyer's mail about an order, when it is the event's only
    /// effect: the mail's claim and the order in one read
    /// ([`commerce_core::storage::OrderStore::begin_with_order`]), then the
    /// mail `write` makes. A missing order or a mail that cannot be written
    /// gives the claim back.
    async fn mail_buyer_about(
        &self,
        event: EventId,
        order: OrderId,
        write: impl FnOnce(&Templates, &Order) -> Result<Mail, String>,
    ) -> Result<(), JobError> {
        let key = effect_key(&format!("{event}:buyer"))?;
        let (now, until) = self.claim_window();
        let store = self.commerce.store();
        let found = match store
            .begin_with_order(MAIL_SCOPE, &key, fingerprint(), now, until, order)
            .await
            .map_err(store_err)?
        {
            Ok(found) => found,
            Err(Begin::Replay(_) | Begin::Mismatch) => return Ok(()),
            Err(Begin::InProgress) => return Err(self.in_progress(MAIL_SCOPE, &key)),
            // Not an answer a store gives with `Err`; read the order then.
            Err(Begin::Started) => store.order(order).await.map_err(store_err)?,
        };
        let mail = found
            .ok_or_else(|| format!("order {order} not found"))
            .and_then(|o| write(&self.templates, &o));
        match mail {
            Ok(mail) => self.send_claimed(&key, mail).await,
            Err(why) => {
                let _ = store.release(MAIL_SCOPE, &key).await;
                Err(JobError::permanent(why))
            }
        }
    }

    async fn mail_buyer(&self, event: EventId, mail: Result<Mail, String>) -> Result<(), JobError> {
        match mail {
            Ok(mail) => self.send_once(&format!("{event}:buyer"), mail).await,
            Err(why) => Err(JobError::permanent(why)),
        }
    }

    /// One mail to each seller store's owner, with that store's lines only.
    async fn mail_sellers(&self, event: EventId, order: &Order) -> Result<(), JobError> {
        let mut by_store: BTreeMap<StoreId, Vec<&OrderLine>> = BTreeMap::new();
        for line in &order.lines {
            by_store.entry(line.store_id).or_default().push(line);
        }
        let store = self.commerce.store();
        let mut first_error = None;
        for (store_id, lines) in by_store {
            let Some(seller) = store.seller_store(store_id).await.map_err(store_err)? else {
                tracing::warn!(%event, store = %store_id, "new order: the seller store is gone; nobody to tell");
                continue;
            };
            let Some(owner) = store.account(seller.owner_id).await.map_err(store_err)? else {
                tracing::warn!(%event, store = %store_id, "new order: the store owner has no account");
                continue;
            };
            let mail = self
                .templates
                .seller_new_order(&owner.email, &seller.name, order, &lines);
            if let Err(e) = self
                .send_once(&format!("{event}:seller:{store_id}"), mail)
                .await
            {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn refund_order(
        &self,
        event: EventId,
        order: &Order,
        amount: Money,
    ) -> Result<(), JobError> {
        let payment = order.paid_by.ok_or_else(|| {
            JobError::permanent(format!(
                "order {} has no capturing payment to refund",
                order.id
            ))
        })?;
        self.refund_once(event, payment, amount).await
    }

    /// Claims `key` in `scope`; `Done` when an earlier delivery finished it.
    async fn claim(&self, scope: &str, key: &str) -> Result<Claim, JobError> {
        let key = effect_key(key)?;
        let (now, until) = self.claim_window();
        match self
            .commerce
            .store()
            .begin(scope, &key, fingerprint(), now, until)
            .await
            .map_err(store_err)?
        {
            Begin::Started => Ok(Claim::Mine(key)),
            Begin::Replay(_) | Begin::Mismatch => Ok(Claim::Done),
            Begin::InProgress => Err(self.in_progress(scope, &key)),
        }
    }

    /// Now, and until when a claim taken now holds.
    fn claim_window(&self) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
        let now = self.commerce.clock().now();
        let until = now
            + chrono::Duration::from_std(self.config.claim)
                .unwrap_or_else(|_| chrono::Duration::minutes(2));
        (now, until)
    }

    /// The retry for a claim another delivery holds.
    fn in_progress(&self, scope: &str, key: &IdempotencyKey) -> JobError {
        JobError::retry_after(
            format!(
                "{scope} {} is being handled by another delivery",
                key.as_str()
            ),
            self.config.claim,
        )
    }

    /// Sends `mail` unless a delivery already sent it under `key`.
    async fn send_once(&self, key: &str, mail: Mail) -> Result<(), JobError> {
        let Claim::Mine(key) = self.claim(MAIL_SCOPE, key).await? else {
            return Ok(());
        };
        self.send_claimed(&key, mail).await
    }

    /// Sends `mail` under `key`, claimed by this delivery: records it sent,
    /// or gives the claim back when it could not be sent.
    async fn send_claimed(&self, key: &IdempotencyKey, mail: Mail) -> Result<(), JobError> {
        let store = self.commerce.store();
        match self.mailer.send(&mail).await {
            Ok(()) => {
                if let Err(e) = store.complete(MAIL_SCOPE, key, "sent".to_owned()).await {
                    // Sent: do not fail the job (a retry would send it again
                    // once the claim lapses). The claim stays until pruned.
                    tracing::warn!(key = key.as_str(), error = %e, "mail sent but not recorded");
                }
                Ok(())
            }
            Err(e) => {
                let _ = store.release(MAIL_SCOPE, key).await;
                if e.is_retryable() {
                    Err(JobError::retry(e.to_string()))
                } else {
                    Err(JobError::permanent(e.to_string()))
                }
            }
        }
    }

    /// Sends a refund through the gateway once per event.
    async fn refund_once(
        &self,
        event: EventId,
        payment: PaymentId,
        amount: Money,
    ) -> Result<(), JobError> {
        let key_text = event.to_string();
        let Claim::Mine(key) = self.claim(REFUND_SCOPE, &key_text).await? else {
            return Ok(());
        };
        let store = self.commerce.store();
        match self.commerce.send_refund(payment, amount, &key_text).await {
            Ok(receipt) => {
                if let Err(e) = store.complete(REFUND_SCOPE, &key, receipt.reference).await {
                    tracing::warn!(%event, error = %e, "refund sent but not recorded");
                }
                Ok(())
            }
            Err(e) => {
                let _ = store.release(REFUND_SCOPE, &key).await;
                if e.is_retryable() || matches!(e, CommerceError::Store(_)) {
                    Err(JobError::retry(format!("refund: {e}")))
                } else {
                    Err(JobError::permanent(format!("refund needs a person: {e}")))
                }
            }
        }
    }
}
