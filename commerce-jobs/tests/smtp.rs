//! Mail over real SMTP: a local listener speaking just enough SMTP for
//! lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT; no TLS) receives what
//! the worker sends. And `.eml` files in a folder, the default transport.

mod common;

use std::sync::Arc;
use std::time::Duration;

use commerce_core::account::Email;
use commerce_core::storage::InMemoryStore;
use commerce_core::testkit::{Harness, expect};
use commerce_jobs::handlers::{AccountMail, AccountMailKind, Handlers, enqueue_account_mail};
use commerce_jobs::mail::{FileMailer, Mail, Mailer, SmtpMailer};
use commerce_jobs::testkit::smtp::{SmtpMessage, serve_smtp};
use commerce_jobs::{InProcessQueue, Worker};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Starts the listener; returns its port and the messages it receives.
async fn smtp_server() -> (u16, mpsc::UnboundedReceiver<SmtpMessage>) {
    let listener = expect(TcpListener::bind("127.0.0.1:0").await, "bind");
    let port = expect(listener.local_addr(), "addr").port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(serve_smtp(listener, move |m| {
        let _ = tx.send(m);
    }));
    (port, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<SmtpMessage>) -> SmtpMessage {
    let got = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await;
    expect(got, "a message within 30 s").unwrap_or_else(|| panic!("the listener stopped"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_mails_arrive_over_smtp_with_their_link_and_code() {
    let (port, mut rx) = smtp_server().await;
    let mailer = expect(
        SmtpMailer::from_url(
            &format!("smtp://127.0.0.1:{port}"),
            "Shop <no-reply@shop.test>",
        ),
        "mailer",
    );
    let h = Harness::new(Arc::new(InMemoryStore::new()));
    let queue = Arc::new(InProcessQueue::new(Arc::new(h.clock.clone())));
    let worker = Handlers::new(h.commerce.clone(), Arc::new(mailer), common::settings())
        .register(Worker::new(Arc::clone(&queue), common::worker_config()))
        .spawn();
    let to = expect(Email::parse("ada@example.com"), "email");

    let verify = AccountMail {
        to: to.clone(),
        kind: AccountMailKind::Verify {
            token: "vt-123_abc".into(),
        },
    };
    expect(
        enqueue_account_mail(queue.as_ref(), &verify).await,
        "enqueue",
    );
    let got = next(&mut rx).await;
    assert_eq!(got.rcpt, vec!["TO:<ada@example.com>".to_owned()]);
    let text = got.text();
    assert!(
        text.contains("Subject: Shop: confirm your email address"),
        "{text}"
    );
    assert!(text.contains("To: ada@example.com"), "{text}");
    assert!(text.contains("From: Shop <no-reply@shop.test>"), "{text}");
    assert!(
        text.contains("https://shop.test/verify-email?token=vt-123_abc"),
        "{text}"
    );
    assert!(text.contains("Content-Type: text/plain") && text.contains("Content-Type: text/html"));

    let otp = AccountMail {
        to: to.clone(),
        kind: AccountMailKind::Otp {
            code: "731946".into(),
        },
    };
    expect(enqueue_account_mail(queue.as_ref(), &otp).await, "enqueue");
    let got = next(&mut rx).await;
    let text = got.text();
    assert!(
        text.contains("Subject: Shop: your sign-in code is 731946"),
        "{text}"
    );
    assert!(text.contains("Your sign-in code: 731946"), "{text}");

    let reset = AccountMail {
        to,
        kind: AccountMailKind::Reset {
            token: "rt-9".into(),
        },
    };
    expect(
        enqueue_account_mail(queue.as_ref(), &reset).await,
        "enqueue",
    );
    let text = next(&mut rx).await.text();
    assert!(
        text.contains("https://shop.test/reset-password?token=rt-9"),
        "{text}"
    );
    assert_eq!(worker.shutdown().await.processed, 3);
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_error() {
    // A port with nobody listening: bind one, then let it go.
    let port = {
        let l = expect(std::net::TcpListener::bind("127.0.0.1:0"), "bind");
        expect(l.local_addr(), "addr").port()
    };
    let mailer = expect(
        SmtpMailer::from_url_with_timeout(
            &format!("smtp://127.0.0.1:{port}"),
            "Shop <no-reply@shop.test>",
            Duration::from_secs(5),
        ),
        "mailer",
    );
    let mail = Mail {
        to: expect(Email::parse("ada@example.com"), "email"),
        subject: "hello".into(),
        text: "hi".into(),
        html: "<p>hi</p>".into(),
    };
    let err = mailer
        .send(&mail)
        .await
        .err()
        .unwrap_or_else(|| panic!("nobody listens"));
    assert!(err.is_retryable(), "{err}");
    assert!(SmtpMailer::from_url("ftp://nope", "Shop <a@b.c>").is_err());
    assert!(SmtpMailer::from_url("smtp://127.0.0.1:25", "not a mailbox").is_err());
}

#[tokio::test]
async fn the_default_transport_writes_eml_files() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("commerce-jobs-mail")
        .join(uuid::Uuid::new_v4().simple().to_string());
    let mailer = expect(FileMailer::new(&dir, "Shop <no-reply@shop.test>"), "mailer");
    let mail = Mail {
        to: expect(Email::parse("ada@example.com"), "email"),
        subject: "Shop: your sign-in code is 123456".into(),
        text: "Your sign-in code: 123456".into(),
        html: "<p>Your sign-in code: 123456</p>".into(),
    };
    expect(mailer.send(&mail).await, "send");
    let files: Vec<_> = expect(std::fs::read_dir(&dir), "dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let eml = expect(std::fs::read_to_string(&files[0]), "read");
    assert!(
        eml.contains("To: ada@example.com") && eml.contains("Your sign-in code: 123456"),
        "{eml}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
