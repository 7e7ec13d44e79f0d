//! Mail: the [`Mailer`] trait, its transports over lettre ([`SmtpMailer`],
//! [`FileMailer`], the default) and a [`RecordingMailer`] for tests; the
//! settings mails are written with ([`MailSettings`]) and the templates.

mod templates;
mod transport;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use commerce_core::account::Email;
use commerce_core::payment::BoxFuture;

pub use templates::MailSettings;
pub(crate) use templates::Templates;
pub use transport::{FileMailer, SMTP_CONNECTIONS, SmtpMailer, mailer_from_env};

/// One mail to one recipient, with a plain-text and an HTML body.
#[derive(Clone, PartialEq, Eq)]
pub struct Mail {
    /// The recipient.
    pub to: Email,
    /// Subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (the same content).
    pub html: String,
}

impl fmt::Debug for Mail {
    // Bodies may carry secrets (tokens, codes): never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// A mail could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The mailer is misconfigured (a bad `SMTP_URL`, sender or folder).
    #[error("mail configuration: {0}")]
    Config(String),
    /// The message could not be built (a recipient lettre refuses).
    #[error("mail could not be built: {0}")]
    Build(String),
    /// The transport failed; `retryable` unless the server refused for good.
    #[error("mail transport: {message}")]
    Transport {
        /// For logs.
        message: String,
        /// Whether trying again later may work.
        retryable: bool,
    },
}

impl MailError {
    /// `true` when the same mail may go through later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            MailError::Transport {
                retryable: true,
                ..
            }
        )
    }
}

/// Sends mail. Implementations deliver a mail once per successful call; the
/// job handlers make sure each mail of an event is asked for once.
///
/// # Contract
/// - `send` returns `Ok` only once the transport accepted the mail (the
///   SMTP server answered `250` to the data, the file was written).
/// - An error says whether a retry may work ([`MailError::is_retryable`]);
///   after an error the mail may or may not have gone out (a time-out after
///   the data was sent), which is the one case where a recipient can get a
///   mail twice.
pub trait Mailer: Send + Sync + fmt::Debug {
    /// Sends one mail.
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), MailError>>;
}

/// Keeps mails in memory instead of sending them: for tests and examples.
/// Clones share the same list.
#[derive(Debug, Clone, Default)]
pub struct RecordingMailer {
    inner: Arc<Mutex<Recorded>>,
}

#[derive(Debug, Default)]
struct Recorded {
    sent: Vec<Mail>,
    failures: u32,
}

impl RecordingMailer {
    /// An empty recorder.
    pub fn new() -> Self {
        RecordingMailer::default()
    }

    /// Every mail sent so far, in order.
    pub fn sent(&self) -> Vec<Mail> {
        self.lock().sent.clone()
    }

    /// The next `n` sends fail with a retryable error.
    pub fn fail_next(&self, n: u32) {
        self.lock().failures = n;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Mailer for RecordingMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), MailError>> {
        let mut r = self.lock();
        let result = if r.failures > 0 {
            r.failures -= 1;
            Err(MailError::Transport {
                message: "injected failure".into(),
                retryable: true,
            })
        } else {
            r.sent.push(mail.clone());
            Ok(())
        };
        Box::pin(std::future::ready(result))
    }
}
