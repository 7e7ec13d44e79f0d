//! Faults in the middle of writes.
//!
//! - PostgreSQL: a checkout storm while every backend of the store is
//!   terminated (`pg_terminate_backend`) again and again. Each request must
//!   end placed or refused/failed, nothing half-done: I1–I7 hold, and
//!   retrying each request with its idempotency key never makes a second
//!   order.
//! - SQLite: a child process writing (checkouts, payments, cancels) is
//!   killed with SIGKILL; the file reopens and I1–I7 hold.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use commerce_core::cart::CartOwner;
use commerce_core::service::{CheckoutRequest, CommerceError};
use commerce_core::testkit::{Harness, expect, guest};
use commerce_core::{Quantity, testkit};

fn one() -> Quantity {
    expect(Quantity::new(1), "quantity")
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_storm_survives_terminated_backends() {
    use commerce_core::storage::{AuditStore, InventoryStore, OrderStore, StoreError};

    let Some(options) = common::pg_schema().await else {
        return;
    };
    let app = format!("fault-{}", uuid::Uuid::new_v4().simple());
    let store = expect(
        commerce_sqlx::PgStore::connect_with(
            options.clone().application_name(&app),
            common::CONNECTIONS,
        )
        .await,
        "connect",
    );
    let h = Arc::new(Harness::new(Arc::new(store)));
    let (_, seller) = h.seller("faults").await;
    let variant = h.product(seller, None, "Hot item", "9.99", 40).await;

    let buyers: Vec<(CartOwner, CheckoutRequest)> = (0..80)
        .map(|i| {
            let owner = guest();
            let mut request = Harness::<commerce_sqlx::PgStore>::checkout_request(&owner, None);
            request.email = format!("buyer{i}@example.com");
            (owner, request)
        })
        .collect();
    for (owner, _) in &buyers {
        expect(h.commerce.add_to_cart(owner, variant, one()).await, "add");
    }

    // The killer: terminates every backend of this store's pool, 30 times.
    let killer = {
        let admin = expect(sqlx::PgPool::connect_with(options).await, "admin");
        let app = app.clone();
        tokio::spawn(async move {
            let mut killed = 0_i64;
            for _ in 0..30 {
                let n: Vec<(bool,)> = sqlx::query_as(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&app)
                .fetch_all(&admin)
                .await
                .unwrap_or_default();
                killed += i64::try_from(n.len()).unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(7)).await;
            }
            killed
        })
    };
    let tasks: Vec<_> = buyers
        .iter()
        .map(|(_, request)| {
            let (h, request) = (Arc::clone(&h), request.clone());
            tokio::spawn(async move { h.commerce.checkout(request).await })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(expect(t.await, "join"));
    }
    let killed = expect(killer.await, "killer");
    assert!(killed > 0, "the storm must have lost connections");

    let failed = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(CommerceError::Store(StoreError::Backend { .. })
                    | CommerceError::IdempotencyInProgress)
            )
        })
        .count();
    for r in &results {
        assert!(
            matches!(
                r,
                Ok(_)
                    | Err(CommerceError::InsufficientStock(_)
                        | CommerceError::IdempotencyInProgress
                        | CommerceError::Store(StoreError::Backend { .. }))
            ),
            "an unexpected outcome: {r:?}"
        );
    }
    h.assert_invariants().await;

    // Every request again with its own key, once the database is calm (and
    // past the idempotency lock of a request cut off mid-way).
    h.clock.advance(chrono::Duration::minutes(1));
    for (_, request) in &buyers {
        let again = h.commerce.checkout(request.clone()).await;
        assert!(
            matches!(
                again,
                Ok(_) | Err(CommerceError::InsufficientStock(_) | CommerceError::CartEmpty)
            ),
            "retry: {again:?}"
        );
    }
    let audit = expect(h.store().audit().await, "audit");
    let mut per_email: HashMap<String, usize> = HashMap::new();
    for o in &audit.orders {
        *per_email.entry(o.email.clone()).or_default() += 1;
    }
    assert!(
        per_email.values().all(|&n| n == 1),
        "one order at most per request: {per_email:?}"
    );
    let placed = audit.orders.len();
    assert!(placed <= 40, "never more orders than stock: {placed}");
    let stock = expect(h.store().stock(variant).await, "stock").unwrap_or_default();
    assert_eq!(
        u64::from(stock.reserved),
        placed as u64,
        "every order holds its unit"
    );
    let orders = expect(h.store().orders(Default::default(), 1, 100).await, "orders");
    assert_eq!(orders.total, placed as u64);
    h.assert_invariants().await;
    eprintln!(
        "storm: {killed} backends terminated, {failed} of 80 requests failed and were retried, {placed} orders"
    );
}

/// The child side of the SQLite test: writes until killed. Runs only when
/// the parent test starts it with `COMMERCE_FAULT_DB` set.
/// The pool lends connections without pinging them first: every pooled
/// connection of the store is terminated while idle, and the next reads and
/// transactions run on new ones instead of failing.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_lost_while_idle_are_replaced() {
    use commerce_core::storage::{CartStore, InventoryStore};

    let Some(options) = common::pg_schema().await else {
        return;
    };
    let app = format!("idle-{}", uuid::Uuid::new_v4().simple());
    let store = expect(
        commerce_sqlx::PgStore::connect_with(options.clone().application_name(&app), 4).await,
        "connect",
    );
    let h = Harness::new(Arc::new(store.clone()));
    let (_, seller) = h.seller("idle").await;
    let variant = h.product(seller, None, "Lamp", "25.00", 10).await;
    // Four connections open and idle in the pool.
    let reads: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.stock(variant).await })
        })
        .collect();
    for r in reads {
        expect(expect(r.await, "join"), "read");
    }
    assert!(store.connections() > 0, "idle connections to lose");

    let admin = expect(sqlx::PgPool::connect_with(options).await, "admin");
    let _: Vec<(bool,)> = expect(
        sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&app)
        .fetch_all(&admin)
        .await,
        "terminate",
    );
    for _ in 0..1000 {
        let (left,): (i64,) = expect(
            sqlx::query_as("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1")
                .bind(&app)
                .fetch_one(&admin)
                .await,
            "count",
        );
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // A read, then a cart saved (a transaction) and a checkout.
    let stock = expect(store.stock(variant).await, "read after the loss");
    assert_eq!(stock.map(|s| s.on_hand), Some(10));
    let owner = guest();
    expect(
        h.commerce.add_to_cart(&owner, variant, one()).await,
        "a transaction after the loss",
    );
    assert!(expect(store.cart_of(&owner).await, "cart").is_some());
    expect(
        h.commerce
            .checkout(Harness::<commerce_sqlx::PgStore>::checkout_request(
                &owner, None,
            ))
            .await,
        "checkout after the loss",
    );
    h.assert_invariants().await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of killed_writer_leaves_a_consistent_file"]
async fn child_writes_until_killed() {
    let Ok(path) = std::env::var("COMMERCE_FAULT_DB") else {
        return;
    };
    let store = common::sqlite_at(std::path::Path::new(&path)).await;
    let h = Arc::new(Harness::new(Arc::new(store)));
    let slug = format!("child-{}", uuid::Uuid::new_v4().simple());
    let (_, seller) = h.seller(&slug).await;
    let variant = h.product(seller, None, "Lamp", "25.00", 1_000_000).await;
    println!("ready");
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let h = Arc::clone(&h);
            tokio::spawn(async move {
                for n in 0_u64.. {
                    let Ok(order) = h.guest_buys(variant, 2).await else {
                        continue;
                    };
                    match (n + i) % 3 {
                        0 => {
                            h.pay(order.id).await;
                        }
                        1 => {
                            let _ = h.commerce.cancel_order(order.id, "child").await;
                        }
                        _ => {
                            h.pay(order.id).await;
                            let _ = h.commerce.cancel_order(order.id, "child").await;
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_writer_leaves_a_consistent_file() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let path = common::sqlite_path();
    for round in 0..3 {
        let exe = expect(std::env::current_exe(), "test binary");
        let mut child = expect(
            Command::new(exe)
                .args([
                    "--exact",
                    "child_writes_until_killed",
                    "--ignored",
                    "--nocapture",
                ])
                .env("COMMERCE_FAULT_DB", &path)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn(),
            "spawn the writer",
        );
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.any(|l| l.is_ok_and(|l| l.trim() == "ready"));
        assert!(ready, "the writer never got ready");
        // Let it write for a while, then kill it mid-transaction (SIGKILL).
        tokio::time::sleep(Duration::from_millis(400 + 150 * round)).await;
        expect(child.kill(), "SIGKILL");
        let _ = child.wait();

        let store = common::sqlite_at(&path).await;
        testkit::invariants::assert_invariants(&store).await;
        let audit = expect(
            commerce_core::storage::AuditStore::audit(&store).await,
            "audit",
        );
        assert!(
            !audit.orders.is_empty(),
            "round {round}: the writer wrote nothing before it was killed"
        );
        eprintln!(
            "round {round}: {} orders survive, consistent",
            audit.orders.len()
        );
    }
}
