//! Transports over lettre: SMTP, and `.eml` files in a folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use commerce_core::payment::BoxFuture;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Mail, MailError, Mailer};

fn message(from: &Mailbox, mail: &Mail) -> Result<Message, MailError> {
    let to: lettre::Address = mail
        .to
        .as_str()
        .parse()
        .map_err(|e: lettre::address::AddressError| MailError::Build(e.to_string()))?;
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| MailError::Build(e.to_string()))
}

fn sender(from: &str) -> Result<Mailbox, MailError> {
    from.parse().map_err(|e: lettre::address::AddressError| {
        MailError::Config(format!("sender {from:?}: {e}"))
    })
}

/// Connections an [`SmtpMailer`] keeps to its server, at most.
///
/// lettre 0.11.23 leaves Nagle's algorithm on and writes a message's final
/// `.` apart from its body, so each message waits for the server's delayed
/// acknowledgement (40 ms on Linux) before it is accepted: about 22
/// messages a second per connection (fixed upstream in lettre PR #1159,
/// not yet released). Sends are therefore spread over many connections:
/// 64 of them carry about 1,400 messages a second.
pub const SMTP_CONNECTIONS: u32 = 64;

/// Sends over SMTP (lettre's pooled async transport on tokio, rustls).
///
/// TLS is chosen by the URL, as lettre reads it:
///
/// | URL | connection |
/// | --- | --- |
/// | `smtps://user:pass@host:465` | TLS from the first byte (recommended) |
/// | `smtp://user:pass@host:587?tls=required` | STARTTLS, refused if the server does not offer it |
/// | `smtp://host:587?tls=opportunistic` | STARTTLS when offered (open to a man in the middle) |
/// | `smtp://host:25` | no TLS (a local relay or a test server only) |
///
/// User and password must be percent-encoded in the URL.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    // The transport holds the credentials: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `url` (see the table above) sending as `from`
    /// (`"Shop <no-reply@shop.example>"`), with a 30 s time-out per command,
    /// over up to [`SMTP_CONNECTIONS`] connections.
    ///
    /// # Errors
    /// [`MailError::Config`] for a malformed URL or sender.
    pub fn from_url(url: &str, from: &str) -> Result<Self, MailError> {
        SmtpMailer::from_url_with_timeout(url, from, Duration::from_secs(30))
    }

    /// As [`SmtpMailer::from_url`], with another time-out.
    ///
    /// # Errors
    /// [`MailError::Config`] for a malformed URL or sender.
    pub fn from_url_with_timeout(
        url: &str,
        from: &str,
        timeout: Duration,
    ) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Config(format!("SMTP URL: {e}")))?
            .timeout(Some(timeout))
            .pool_config(PoolConfig::new().max_size(SMTP_CONNECTIONS))
            .build();
        Ok(SmtpMailer {
            transport,
            from: sender(from)?,
        })
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async move {
            let message = message(&self.from, mail)?;
            self.transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Transport {
                    message: e.to_string(),
                    retryable: !e.is_permanent(),
                })
        })
    }
}

/// Writes each mail as an `.eml` file (a random name) in a folder: the
/// default when no `SMTP_URL` is set. Open them with any mail client.
#[derive(Clone)]
pub struct FileMailer {
    transport: AsyncFileTransport<Tokio1Executor>,
    dir: PathBuf,
    from: Mailbox,
}

impl std::fmt::Debug for FileMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileMailer")
            .field("dir", &self.dir)
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl FileMailer {
    /// A mailer writing into `dir` (created if missing) as `from`.
    ///
    /// # Errors
    /// [`MailError::Config`] when the folder cannot be made or the sender is malformed.
    pub fn new(dir: impl AsRef<Path>, from: &str) -> Result<Self, MailError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(|e| MailError::Config(format!("mail folder {}: {e}", dir.display())))?;
        Ok(FileMailer {
            transport: AsyncFileTransport::new(&dir),
            dir,
            from: sender(from)?,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Mailer for FileMailer {
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async move {
            let message = message(&self.from, mail)?;
            self.transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| MailError::Transport {
                    message: e.to_string(),
                    retryable: true,
                })
        })
    }
}

/// The mailer the environment asks for: SMTP when `SMTP_URL` is set,
/// otherwise `.eml` files under `COMMERCE_MAIL_DIR` (default `./mail`);
/// sending as `from`.
///
/// # Errors
/// [`MailError::Config`].
pub fn mailer_from_env(from: &str) -> Result<Arc<dyn Mailer>, MailError> {
    match std::env::var("SMTP_URL") {
        Ok(url) if !url.trim().is_empty() => Ok(Arc::new(SmtpMailer::from_url(url.trim(), from)?)),
        _ => {
            let dir = std::env::var("COMMERCE_MAIL_DIR")
                .ok()
                .filter(|d| !d.trim().is_empty())
                .unwrap_or_else(|| "./mail".to_owned());
            Ok(Arc::new(FileMailer::new(dir, from)?))
        }
    }
}
