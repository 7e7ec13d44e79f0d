//! Configuration from the environment: `REDIS_URL` picks the queue,
//! `SMTP_URL` / `COMMERCE_MAIL_DIR` the mailer, `COMMERCE_PUBLIC_URL` and
//! friends the mail settings. The environment of a running test cannot be
//! changed safely, so the test binary re-runs itself with a prepared one.

mod common;

use std::process::Command;

use commerce_core::testkit::expect;

/// The child: prints what the environment gave.
#[tokio::test]
#[ignore = "the child process of the environment tests"]
async fn child_reads_the_environment() {
    if std::env::var("COMMERCE_ENV_CHILD").is_err() {
        return;
    }
    let clock = std::sync::Arc::new(commerce_core::clock::SystemClock);
    let queue = match commerce_jobs::AnyQueue::from_env(clock).await {
        Ok(commerce_jobs::AnyQueue::InProcess(_)) => "in-process".to_owned(),
        #[cfg(feature = "redis")]
        Ok(commerce_jobs::AnyQueue::Redis(q)) => format!("redis {}", q.prefix()),
        Ok(_) => "other".to_owned(),
        Err(e) => format!("error {e}"),
    };
    println!("queue: {queue}");
    let settings = commerce_jobs::mail::MailSettings::from_env();
    println!("public: {}", settings.public_url);
    println!("from: {}", settings.from);
    let mailer = expect(
        commerce_jobs::mail::mailer_from_env(&settings.from),
        "mailer",
    );
    println!("mailer: {mailer:?}");
}

fn child(env: &[(&str, &str)]) -> String {
    let exe = expect(std::env::current_exe(), "test binary");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "child_reads_the_environment",
        "--ignored",
        "--nocapture",
    ])
    .env("COMMERCE_ENV_CHILD", "1");
    for key in [
        "REDIS_URL",
        "SMTP_URL",
        "COMMERCE_MAIL_DIR",
        "COMMERCE_PUBLIC_URL",
        "COMMERCE_BIND",
        "COMMERCE_MAIL_FROM",
        "COMMERCE_SHOP_NAME",
    ] {
        cmd.env_remove(key);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = expect(cmd.output(), "run the child");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mail_dir() -> String {
    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("commerce-jobs-env")
        .join(uuid::Uuid::new_v4().simple().to_string())
        .display()
        .to_string()
}

#[test]
fn defaults_are_in_process_eml_files_and_the_bind_address() {
    let dir = mail_dir();
    let out = child(&[
        ("COMMERCE_MAIL_DIR", &dir),
        ("COMMERCE_BIND", "0.0.0.0:9000"),
    ]);
    assert!(out.contains("queue: in-process"), "{out}");
    assert!(out.contains("public: http://0.0.0.0:9000"), "{out}");
    assert!(out.contains("from: Shop <no-reply@localhost>"), "{out}");
    assert!(out.contains("mailer: FileMailer"), "{out}");
    assert!(
        std::path::Path::new(&dir).is_dir(),
        "the mail folder is made"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn smtp_url_public_url_and_sender_are_taken_from_the_environment() {
    let out = child(&[
        ("SMTP_URL", "smtp://127.0.0.1:2525"),
        ("COMMERCE_PUBLIC_URL", "https://shop.example/"),
        ("COMMERCE_MAIL_FROM", "Orders <orders@shop.example>"),
    ]);
    assert!(out.contains("mailer: SmtpMailer"), "{out}");
    assert!(
        out.contains("public: https://shop.example\n"),
        "no trailing slash: {out}"
    );
    assert!(out.contains("from: Orders <orders@shop.example>"), "{out}");
}

#[cfg(feature = "redis")]
#[test]
fn redis_url_picks_redis() {
    let url = common::redis_url();
    let out = child(&[("REDIS_URL", &url)]);
    if out.contains("error") && std::env::var("CI").is_err() {
        eprintln!("SKIPPED: Redis at {url} is unreachable");
        return;
    }
    assert!(out.contains("queue: redis commerce:jobs"), "{out}");
}
