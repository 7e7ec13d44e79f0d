//! The real binary, started exactly as the README's first command starts
//! it (`cargo run -p commerce-http --bin commerce-server`: no arguments), in
//! an empty folder: it seeds the demo, serves `/healthz`, the Swagger page
//! and the seeded products, and stops cleanly on SIGTERM. The only setting
//! is `COMMERCE_BIND=127.0.0.1:0`, so parallel test runs never fight over
//! port 8080; the server prints the address it got.

use crate::common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_commerce-server");

pub(crate) fn empty_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("commerce-http-bin")
        .join(uuid::Uuid::new_v4().simple().to_string());
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env("COMMERCE_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn");
    // The embedded defaults, whatever the test's environment says.
    for var in [
        "DATABASE_URL",
        "REDIS_URL",
        "SMTP_URL",
        "COMMERCE_ENV",
        "COMMERCE_JWT_SECRET",
        "COMMERCE_DEMO",
        "COMMERCE_MAIL_DIR",
        "COMMERCE_SANDBOX",
    ] {
        cmd.env_remove(var);
    }
    cmd.kill_on_drop(true);
    cmd
}

/// Starts the server; the address it prints.
pub(crate) async fn start(dir: &Path) -> (Child, SocketAddr, Vec<String>) {
    let mut child = command(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let addr = tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = lines.next_line().await {
            seen.push(line.clone());
            if let Some(rest) = line.strip_prefix("commerce-server listening on http://") {
                return rest.trim().parse::<SocketAddr>().ok();
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("the server never said where it listens: {seen:?}"));
    // Keep reading so the pipe never fills.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr, seen)
}

pub(crate) async fn terminate(mut child: Child) {
    let pid = child.id().unwrap_or_else(|| panic!("no pid"));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .unwrap_or_else(|_| panic!("no exit within 60 s of SIGTERM"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(exit.success(), "exit after SIGTERM: {exit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_command_runs_the_demo_shop_in_an_empty_folder() {
    let dir = empty_dir();
    let (child, addr, printed) = start(&dir).await;
    assert!(
        printed
            .iter()
            .any(|l| l.contains(&format!("http://{addr}/api/docs/"))),
        "it prints where Swagger UI is: {printed:?}"
    );
    assert!(
        printed.iter().any(|l| l.contains("50 products")),
        "{printed:?}"
    );

    let get = |path: &'static str| common::http(addr, "GET", path, &[], Vec::new());
    get("/healthz").await.expect(200);
    get("/readyz").await.expect(200);
    let docs = get("/api/docs/").await;
    docs.expect(200);
    assert!(String::from_utf8_lossy(&docs.body).contains("swagger-ui"));
    let products = get("/api/v1/products?sort=price&per_page=5").await;
    products.expect(200);
    let page = products.json();
    assert_eq!(page["total"], 50);
    let first = &page["items"][0];
    assert!(!first["variants"].as_array().unwrap().is_empty());
    let id = first["id"].as_str().unwrap().to_owned();
    let detail = common::http(
        addr,
        "GET",
        &format!("/api/v1/products/{id}"),
        &[],
        Vec::new(),
    )
    .await;
    detail.expect(200);
    assert!(detail.json()["variants"][0]["available"].is_u64());
    assert_eq!(get("/api/v1/stores").await.json()["total"], 3);
    assert!(
        !get("/api/v1/categories")
            .await
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    terminate(child).await;
    assert!(
        dir.join("commerce.db").exists(),
        "the SQLite file is in the folder"
    );
    assert!(dir.join("mail").is_dir(), "mails go under ./mail");

    // A restart keeps the data and seeds nothing twice.
    let (child, addr, printed) = start(&dir).await;
    assert!(!printed.iter().any(|l| l.contains("seeded")), "{printed:?}");
    let page = common::http(addr, "GET", "/api/v1/products", &[], Vec::new())
        .await
        .json();
    assert_eq!(page["total"], 50);
    terminate(child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_refuses_to_start_without_a_secret_or_with_the_sandbox() {
    let dir = empty_dir();
    let out = command(&dir)
        .env("COMMERCE_ENV", "production")
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("COMMERCE_JWT_SECRET"));
    let out = command(&dir)
        .env("COMMERCE_ENV", "production")
        .env("COMMERCE_JWT_SECRET", "0123456789abcdef0123456789abcdef")
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("COMMERCE_SANDBOX=off"));
    assert!(
        !dir.join("commerce.db").exists(),
        "refused before touching anything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_and_create_admin_work_on_the_embedded_database() {
    let dir = empty_dir();
    let out = command(&dir)
        .arg("migrate")
        .output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("commerce.db").exists());

    let mut child = command(&dir)
        .args(["create-admin", "--email", "Boss@Example.com"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
    stdin
        .write_all(b"a long admin password\n")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(stdin);
    let out = child
        .wait_with_output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    use commerce_core::storage::AccountStore;
    let store = commerce_sqlx::SqliteStore::open(dir.join("commerce.db"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let email = commerce_core::account::Email::parse("boss@example.com").unwrap();
    let account = store
        .account_by_email(&email)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no admin account"));
    assert!(account.has_role(commerce_core::account::Role::Admin));
    assert!(account.email_verified);
    let hash = account.password_hash.unwrap_or_default();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );

    // A short password is refused.
    let mut child = command(&dir)
        .args(["create-admin", "--email", "other@example.com"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
    stdin
        .write_all(b"short\n")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    drop(stdin);
    let out = child
        .wait_with_output()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
}
