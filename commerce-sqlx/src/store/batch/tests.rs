//! Group commit: batches made on purpose (the test holds the leader's gate
//! while the calls queue), on both databases.

use std::sync::Arc;
use std::time::Duration;

use commerce_core::Quantity;
use commerce_core::cart::CartOwner;
use commerce_core::ids::{CustomerId, PromotionId, VariantId};
use commerce_core::inventory::Shortage;
use commerce_core::order::Order;
use commerce_core::outbox::EventKind;
use commerce_core::service::{CheckoutRequest, CommerceError};
use commerce_core::storage::{
    AuditStore, CartStore, OrderStore, PromotionStore, Store, StoreError, UsageState,
};
use commerce_core::testkit::{Harness, expect, guest};

use crate::backend::Backend;
use crate::store::SqlStore;

type Outcome = Result<Order, CommerceError>;

/// Waits (polling) until `ready` holds; panics after 20 s.
async fn until(what: &str, ready: impl Fn() -> bool) {
    for _ in 0..20_000 {
        if ready() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Checks out each `(owner, email)` in turn while the leader is held, so
/// that all of them are queued, in this order, before it takes the next
/// batch; their outcomes in the same order.
async fn one_batch<B: Backend>(
    h: &Arc<Harness<SqlStore<B>>>,
    buyers: &[(CartOwner, &str)],
) -> Vec<Outcome>
where
    SqlStore<B>: Store,
{
    let buyers: Vec<_> = buyers.iter().map(|(o, e)| (o.clone(), None, *e)).collect();
    one_batch_of(h, &buyers).await
}

/// [`one_batch`], each buyer signed in as the given account, or a guest.
async fn one_batch_of<B: Backend>(
    h: &Arc<Harness<SqlStore<B>>>,
    buyers: &[(CartOwner, Option<CustomerId>, &str)],
) -> Vec<Outcome>
where
    SqlStore<B>: Store,
{
    one_batch_requests(h, requests::<B>(buyers)).await
}

/// A checkout request for each `(owner, account, email)`.
fn requests<B: Backend>(buyers: &[(CartOwner, Option<CustomerId>, &str)]) -> Vec<CheckoutRequest>
where
    SqlStore<B>: Store,
{
    buyers
        .iter()
        .map(|(owner, customer, email)| {
            let mut request = Harness::<SqlStore<B>>::checkout_request(owner, *customer);
            request.email = (*email).to_owned();
            request
        })
        .collect()
}

/// [`one_batch`] of these requests.
async fn one_batch_requests<B: Backend>(
    h: &Arc<Harness<SqlStore<B>>>,
    requests: Vec<CheckoutRequest>,
) -> Vec<Outcome>
where
    SqlStore<B>: Store,
{
    let store = h.store().clone();
    let gate = store.batcher.gate.lock().await;
    let mut tasks = Vec::new();
    for (i, request) in requests.into_iter().enumerate() {
        let h = Arc::clone(h);
        tasks.push(tokio::spawn(
            async move { h.commerce.checkout(request).await },
        ));
        until("the call is queued", || store.batcher.waiting() == i + 1).await;
    }
    drop(gate);
    let mut out = Vec::new();
    for t in tasks {
        out.push(expect(t.await, "join"));
    }
    out
}

async fn buyer<B: Backend>(h: &Harness<SqlStore<B>>, lines: &[(VariantId, i64)]) -> CartOwner
where
    SqlStore<B>: Store,
{
    let owner = guest();
    for &(variant, n) in lines {
        expect(
            h.commerce
                .add_to_cart(&owner, variant, expect(Quantity::new(n), "qty"))
                .await,
            "add",
        );
    }
    owner
}

async fn cart_lines<B: Backend>(h: &Harness<SqlStore<B>>, owner: &CartOwner) -> usize
where
    SqlStore<B>: Store,
{
    expect(h.store().cart_of(owner).await, "cart").map_or(0, |c| c.lines.len())
}

async fn events<B: Backend>(h: &Harness<SqlStore<B>>) -> Vec<EventKind>
where
    SqlStore<B>: Store,
{
    expect(h.store().audit().await, "audit")
        .events
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// Batches written by one statement so far (PostgreSQL's `place_at_once_pg`).
fn at_once<B: Backend>(h: &Harness<SqlStore<B>>) -> usize
where
    SqlStore<B>: Store,
{
    h.store()
        .batcher
        .at_once
        .load(std::sync::atomic::Ordering::SeqCst)
}

/// How many batches `at_once` counts after one that fits: one on
/// PostgreSQL, none on SQLite (which has no one-statement batch).
fn at_once_on_postgres<B: Backend>() -> usize {
    usize::from(B::DIALECT == crate::backend::Dialect::Postgres)
}

/// A batch whose orders all fit, none crossing a low-stock threshold: on
/// PostgreSQL one statement writes it (`place_at_once_pg`), with the same
/// outcome as deciding order by order — every order placed and numbered in
/// batch order, its cart emptied, the stock reserved, one `OrderPlaced`
/// each in batch order, and a replay of a key answering its order.
async fn a_batch_that_fits_is_written_at_once<B: Backend>(store: SqlStore<B>)
where
    SqlStore<B>: Store,
{
    let h = Arc::new(Harness::new(Arc::new(store)));
    let (_, seller) = h.seller("batch-fits").await;
    let hot = h.product(seller, None, "Hot", "5.00", 100).await;
    let other = h.product(seller, None, "Other", "7.00", 100).await;
    let a = buyer(&h, &[(hot, 2)]).await;
    let b = buyer(&h, &[(other, 1), (hot, 3)]).await;
    let c = buyer(&h, &[(hot, 1)]).await;
    let requests = requests::<B>(&[
        (a.clone(), None, "a@example.com"),
        (b.clone(), None, "b@example.com"),
        (c.clone(), None, "c@example.com"),
    ]);
    let out = one_batch_requests(&h, requests.clone()).await;
    assert_eq!(h.store().batcher.sizes(), vec![3], "one batch of three");
    let expected = at_once_on_postgres::<B>();
    assert_eq!(
        at_once(&h),
        expected,
        "written by one statement on PostgreSQL"
    );
    let orders: Vec<Order> = out.into_iter().map(|o| expect(o, "placed")).collect();
    assert!(
        orders.windows(2).all(|w| w[0].number < w[1].number),
        "numbered in batch order"
    );
    assert_eq!(h.stock(hot).await.reserved, 6);
    assert_eq!(h.stock(other).await.reserved, 1);
    for owner in [&a, &b, &c] {
        assert_eq!(cart_lines(&h, owner).await, 0, "the cart is emptied");
    }
    let placed: Vec<_> = events(&h)
        .await
        .into_iter()
        .filter_map(|e| match e {
            EventKind::OrderPlaced { order_id } => Some(order_id),
            _ => None,
        })
        .collect();
    let ids: Vec<_> = orders.iter().map(|o| o.id).collect();
    assert_eq!(placed, ids, "one event per order, in batch order");
    let stored = expect(h.store().order(ids[1]).await, "read").map(|o| o.lines.len());
    assert_eq!(stored, Some(2), "the order and its lines are stored");
    for (request, order) in requests.into_iter().zip(&orders) {
        let replayed = expect(h.commerce.checkout(request).await, "replay");
        assert_eq!(replayed.id, order.id, "the key answers its order");
    }
    assert_eq!(h.stock(hot).await.reserved, 6, "a replay reserves nothing");
    h.assert_invariants().await;
}

/// A promotion's live holds, as the counters say (`usage`) and as the
/// records say; the test fails unless both agree.
async fn held<B: Backend>(
    h: &Harness<SqlStore<B>>,
    promotion: PromotionId,
    customer: Option<CustomerId>,
) -> (usize, usize)
where
    SqlStore<B>: Store,
{
    let counted = expect(h.store().usage(&[promotion], customer).await, "usage");
    let usage = counted.get(promotion);
    let counters = (usage.total as usize, usage.by_customer as usize);
    let audit = expect(h.store().audit().await, "audit");
    let live: Vec<_> = audit
        .usage
        .iter()
        .filter(|u| u.promotion_id == promotion && u.state != UsageState::Released)
        .collect();
    let mine = live
        .iter()
        .filter(|u| customer.is_some() && u.customer_id == customer)
        .count();
    assert_eq!(
        counters,
        (live.len(), mine),
        "the counters agree with the records"
    );
    counters
}

/// Guests' orders under a promotion with a usage limit: a batch with room
/// under the limit is one statement on PostgreSQL, holding one use per
/// order; a batch that would pass the limit is decided order by order, and
/// the order past it alone is refused.
async fn promotions_are_held_at_once_within_their_limit<B: Backend>(store: SqlStore<B>)
where
    SqlStore<B>: Store,
{
    let h = Arc::new(Harness::new(Arc::new(store)));
    let (_, seller) = h.seller("batch-promo").await;
    let item = h.product(seller, None, "Item", "10.00", 100).await;
    let promo = h
        .promotion(
            r#"{"name":"Launch","usage_limit":5,"action":{"type":"percentage","percent":"10"}}"#,
        )
        .await;
    let mut buyers = Vec::new();
    for _ in 0..6 {
        buyers.push(buyer(&h, &[(item, 1)]).await);
    }
    let first = one_batch(
        &h,
        &[
            (buyers[0].clone(), "a@example.com"),
            (buyers[1].clone(), "b@example.com"),
            (buyers[2].clone(), "c@example.com"),
        ],
    )
    .await;
    let expected = at_once_on_postgres::<B>();
    assert_eq!(at_once(&h), expected, "one statement on PostgreSQL");
    for o in first {
        let order = expect(o, "placed");
        assert_eq!(order.promotions.len(), 1, "the promotion applies");
    }
    assert_eq!(held(&h, promo, None).await, (3, 0));

    // Two uses are left for three orders.
    let second = one_batch(
        &h,
        &[
            (buyers[3].clone(), "d@example.com"),
            (buyers[4].clone(), "e@example.com"),
            (buyers[5].clone(), "f@example.com"),
        ],
    )
    .await;
    assert_eq!(
        at_once(&h),
        expected,
        "a batch past the limit is decided order by order"
    );
    assert!(second[0].is_ok() && second[1].is_ok(), "{second:?}");
    assert!(
        matches!(second[2], Err(CommerceError::DiscountUsageExceeded)),
        "{:?}",
        second[2]
    );
    assert_eq!(held(&h, promo, None).await, (5, 0));
    assert_eq!(
        cart_lines(&h, &buyers[5]).await,
        1,
        "the refused cart is kept"
    );
    assert_eq!(h.stock(item).await.reserved, 5);
    h.assert_invariants().await;
}

/// Signed-in buyers: a promotion without a per-customer limit is held at
/// once (on PostgreSQL), counted per customer too; a batch using one with
/// a per-customer limit is decided order by order, and a second use by the
/// same customer in that batch is refused.
async fn per_customer_limits_are_decided_in_turn<B: Backend>(store: SqlStore<B>)
where
    SqlStore<B>: Store,
{
    let h = Arc::new(Harness::new(Arc::new(store)));
    let (_, seller) = h.seller("batch-members").await;
    let item = h.product(seller, None, "Item", "10.00", 100).await;
    let open = h
        .promotion(
            r#"{"name":"Members","combinable":true,"action":{"type":"percentage","percent":"5"}}"#,
        )
        .await;
    let (ada, bob) = (CustomerId::new(), CustomerId::new());
    let a = buyer(&h, &[(item, 1)]).await;
    let b = buyer(&h, &[(item, 1)]).await;
    let first = one_batch_of(
        &h,
        &[
            (a, Some(ada), "ada@example.com"),
            (b, Some(bob), "bob@example.com"),
        ],
    )
    .await;
    let expected = at_once_on_postgres::<B>();
    assert_eq!(at_once(&h), expected, "one statement on PostgreSQL");
    assert!(first.iter().all(Result::is_ok), "{first:?}");
    assert_eq!(held(&h, open, Some(ada)).await, (2, 1));
    assert_eq!(held(&h, open, Some(bob)).await, (2, 1));

    let once = h
        .promotion(r#"{"name":"Once each","combinable":true,"per_customer_limit":1,"action":{"type":"percentage","percent":"5"}}"#)
        .await;
    let c = buyer(&h, &[(item, 1)]).await;
    let d = buyer(&h, &[(item, 1)]).await;
    let second = one_batch_of(
        &h,
        &[
            (c, Some(ada), "ada@example.com"),
            (d.clone(), Some(ada), "ada@example.com"),
        ],
    )
    .await;
    assert_eq!(
        at_once(&h),
        expected,
        "a per-customer limit is decided order by order"
    );
    let promotions = second[0].as_ref().map(|o| o.promotions.len());
    assert_eq!(
        promotions.ok(),
        Some(2),
        "both promotions apply: {second:?}"
    );
    assert!(
        matches!(second[1], Err(CommerceError::DiscountUsageExceeded)),
        "{:?}",
        second[1]
    );
    assert_eq!(cart_lines(&h, &d).await, 1, "the refused cart is kept");
    assert_eq!(held(&h, once, Some(ada)).await, (1, 1));
    assert_eq!(held(&h, open, Some(ada)).await, (3, 2));
    h.assert_invariants().await;
}

/// Three orders in one batch; the second is short once the first has taken
/// its unit. It alone is refused, naming what is left; the others commit.
async fn short_order_is_refused_alone<B: Backend>(store: SqlStore<B>)
where
    SqlStore<B>: Store,
{
    let h = Arc::new(Harness::new(Arc::new(store)));
    let (_, seller) = h.seller("batch-short").await;
    let hot = h.product(seller, None, "Hot", "5.00", 3).await;
    let other = h.product(seller, None, "Other", "7.00", 10).await;
    let a = buyer(&h, &[(hot, 1)]).await;
    let b = buyer(&h, &[(other, 1), (hot, 3)]).await;
    let c = buyer(&h, &[(hot, 2)]).await;

    let out = one_batch(
        &h,
        &[
            (a.clone(), "a@example.com"),
            (b.clone(), "b@example.com"),
            (c.clone(), "c@example.com"),
        ],
    )
    .await;

    assert_eq!(h.store().batcher.sizes(), vec![3], "one batch of three");
    assert_eq!(at_once(&h), 0, "a refusal is decided order by order");
    assert!(out[0].is_ok(), "first: {:?}", out[0]);
    match &out[1] {
        Err(CommerceError::InsufficientStock(short)) => assert_eq!(
            short,
            &vec![Shortage {
                variant_id: hot,
                requested: 3,
                available: 2,
            }]
        ),
        other => panic!("second: {other:?}"),
    }
    assert!(out[2].is_ok(), "third: {:?}", out[2]);
    assert_eq!(h.stock(hot).await.reserved, 3);
    assert_eq!(
        h.stock(other).await.reserved,
        0,
        "the refused order reserved nothing"
    );
    assert_eq!(cart_lines(&h, &a).await, 0);
    assert_eq!(cart_lines(&h, &b).await, 2, "the refused cart is as it was");
    assert_eq!(cart_lines(&h, &c).await, 0);
    let audit = expect(h.store().audit().await, "audit");
    let mut emails: Vec<&str> = audit.orders.iter().map(|o| o.email.as_str()).collect();
    emails.sort_unstable();
    assert_eq!(emails, ["a@example.com", "c@example.com"]);
    let numbers: Vec<u64> = out.iter().flatten().map(|o| o.number).collect();
    assert!(
        numbers[0] < numbers[1],
        "numbered in batch order: {numbers:?}"
    );
    h.assert_invariants().await;
}

/// Orders in one batch decide in turn against the stock the ones before
/// them took: of three single units from 5 with a threshold of 3, only the
/// second crosses it (4 → 3), and its event comes between the first and its
/// own `OrderPlaced`.
async fn low_stock_is_announced_by_the_order_that_crosses<B: Backend>(store: SqlStore<B>)
where
    SqlStore<B>: Store,
{
    let h = Arc::new(Harness::new(Arc::new(store)));
    let (_, seller) = h.seller("batch-low").await;
    let lamp = h.product(seller, None, "Lamp", "10.00", 5).await;
    let mut buyers = Vec::new();
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        buyers.push((buyer(&h, &[(lamp, 1)]).await, email));
    }
    let out = one_batch(&h, &buyers).await;
    assert_eq!(h.store().batcher.sizes(), vec![3], "one batch of three");
    assert_eq!(at_once(&h), 0, "a crossing is decided order by order");
    let ids: Vec<_> = out.into_iter().map(|o| expect(o, "placed").id).collect();
    let kinds: Vec<String> = events(&h)
        .await
        .into_iter()
        .map(|e| match e {
            EventKind::OrderPlaced { order_id } => {
                let i = ids.iter().position(|id| *id == order_id);
                format!("placed {i:?}")
            }
            EventKind::LowStock {
                variant_id,
                on_hand,
                threshold,
                ..
            } => {
                assert_eq!(variant_id, lamp);
                format!("low {on_hand}/{threshold}")
            }
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "placed Some(0)",
            "low 3/3",
            "placed Some(1)",
            "placed Some(2)"
        ]
    );
    assert_eq!(h.stock(lamp).await.reserved, 3);
    h.assert_invariants().await;
}

/// The commit of a batch fails (a deferred check refuses one of its
/// orders at commit): every order of the batch gets a retryable error and
/// nothing is written; each then succeeds on its own when tried again.
async fn failed_commit_fails_the_batch<B: Backend>(store: SqlStore<B>)
where
    SqlStore<B>: Store,
{
    let h = Arc::new(Harness::new(Arc::new(store)));
    let (_, seller) = h.seller("batch-commit").await;
    let mug = h.product(seller, None, "Mug", "4.00", 10).await;
    let buyers = [
        (buyer(&h, &[(mug, 1)]).await, "a@example.com"),
        (buyer(&h, &[(mug, 2)]).await, "refused@example.com"),
        (buyer(&h, &[(mug, 3)]).await, "c@example.com"),
    ];
    let out = one_batch(&h, &buyers).await;
    assert_eq!(h.store().batcher.sizes(), vec![3], "one batch of three");
    for o in &out {
        assert!(
            matches!(
                o,
                Err(CommerceError::Store(StoreError::Backend {
                    retryable: true,
                    ..
                }))
            ),
            "a retryable error for every order: {o:?}"
        );
    }
    let audit = expect(h.store().audit().await, "audit");
    assert!(audit.orders.is_empty(), "no order written");
    assert!(audit.events.is_empty(), "no event written");
    assert_eq!(h.stock(mug).await.reserved, 0, "nothing reserved");
    for (owner, _) in &buyers {
        assert_eq!(cart_lines(&h, owner).await, 1, "the carts are as they were");
    }
    h.assert_invariants().await;

    // Tried again (the failed checkout released its key), each alone.
    for (owner, email) in [&buyers[0], &buyers[2]] {
        let mut request = Harness::<SqlStore<B>>::checkout_request(owner, None);
        request.email = (*email).to_owned();
        expect(h.commerce.checkout(request).await, "retry");
    }
    assert_eq!(h.stock(mug).await.reserved, 4);
    h.assert_invariants().await;
}

/// A batch fails before its commit because of one order (a trigger refuses
/// it): the others are placed all the same, each alone, and only that one
/// gets the error.
async fn failing_order_fails_alone<B: Backend>(store: SqlStore<B>)
where
    SqlStore<B>: Store,
{
    let h = Arc::new(Harness::new(Arc::new(store)));
    let (_, seller) = h.seller("batch-broken").await;
    let mug = h.product(seller, None, "Mug", "4.00", 10).await;
    let buyers = [
        (buyer(&h, &[(mug, 1)]).await, "a@example.com"),
        (buyer(&h, &[(mug, 2)]).await, "broken@example.com"),
        (buyer(&h, &[(mug, 3)]).await, "c@example.com"),
    ];
    let out = one_batch(&h, &buyers).await;
    assert_eq!(h.store().batcher.sizes(), vec![3], "one batch of three");
    // On PostgreSQL the batch's one statement fails and writes nothing;
    // then each order alone is written at once, but the broken one.
    let expected = 2 * at_once_on_postgres::<B>();
    assert_eq!(at_once(&h), expected, "the good orders alone, each at once");
    assert!(out[0].is_ok(), "first: {:?}", out[0]);
    assert!(
        matches!(
            out[1],
            Err(CommerceError::Store(StoreError::Backend { .. }))
        ),
        "second: {:?}",
        out[1]
    );
    assert!(out[2].is_ok(), "third: {:?}", out[2]);
    assert_eq!(h.stock(mug).await.reserved, 4);
    assert_eq!(cart_lines(&h, &buyers[1].0).await, 1);
    h.assert_invariants().await;
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use sqlx::sqlite::SqliteConnectOptions;

    use crate::SqliteStore;

    async fn store() -> SqliteStore {
        let path = std::env::temp_dir().join(format!(
            "commerce-sqlx-batch-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        let options = crate::sqlite::options(
            SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        );
        super::expect(SqliteStore::connect_with(options, 8).await, "open")
    }

    async fn with(sql: &str) -> SqliteStore {
        let store = store().await;
        super::expect(
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(store.pool())
                .await,
            "setup",
        );
        store
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn short_order_is_refused_alone() {
        super::short_order_is_refused_alone(store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_fits_is_written_at_once() {
        super::a_batch_that_fits_is_written_at_once(store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn promotions_are_held_at_once_within_their_limit() {
        super::promotions_are_held_at_once_within_their_limit(store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn per_customer_limits_are_decided_in_turn() {
        super::per_customer_limits_are_decided_in_turn(store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn low_stock_is_announced_by_the_order_that_crosses() {
        super::low_stock_is_announced_by_the_order_that_crosses(store().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_commit_fails_the_batch() {
        // A deferred foreign key that one order's trigger breaks: checked,
        // and refused, at the commit.
        let store = with(
            "CREATE TABLE refusal_target (id INTEGER PRIMARY KEY); \
             CREATE TABLE refusals (target INTEGER REFERENCES refusal_target (id) \
                 DEFERRABLE INITIALLY DEFERRED); \
             CREATE TRIGGER refuse_at_commit AFTER INSERT ON orders \
                 WHEN NEW.email = 'refused@example.com' \
                 BEGIN INSERT INTO refusals (target) VALUES (1); END;",
        )
        .await;
        super::failed_commit_fails_the_batch(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failing_order_fails_alone() {
        let store = with(
            "CREATE TRIGGER refuse_now BEFORE INSERT ON orders \
                 WHEN NEW.email = 'broken@example.com' \
                 BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .await;
        super::failing_order_fails_alone(store).await;
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::str::FromStr;

    use sqlx::postgres::PgConnectOptions;

    use crate::PgStore;

    /// A store on a new schema of `TEST_DATABASE_URL`; `None` (after saying
    /// so) when PostgreSQL is unreachable, unless `CI=true`.
    async fn store(setup: &str) -> Option<PgStore> {
        let url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let base = super::expect(PgConnectOptions::from_str(&url), "TEST_DATABASE_URL");
        let admin = match sqlx::PgPool::connect_with(base.clone()).await {
            Ok(pool) => pool,
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
                panic!("CI=true and PostgreSQL at {url} is unreachable: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED: PostgreSQL at {url} is unreachable ({e})");
                return None;
            }
        };
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        super::expect(
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await,
            "schema",
        );
        admin.close().await;
        let store = super::expect(
            PgStore::connect_with(base.options([("search_path", schema.as_str())]), 8).await,
            "connect",
        );
        if !setup.is_empty() {
            super::expect(
                sqlx::raw_sql(sqlx::AssertSqlSafe(setup.to_owned()))
                    .execute(store.pool())
                    .await,
                "setup",
            );
        }
        Some(store)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn short_order_is_refused_alone() {
        let Some(store) = store("").await else { return };
        super::short_order_is_refused_alone(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_fits_is_written_at_once() {
        let Some(store) = store("").await else { return };
        super::a_batch_that_fits_is_written_at_once(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn promotions_are_held_at_once_within_their_limit() {
        let Some(store) = store("").await else { return };
        super::promotions_are_held_at_once_within_their_limit(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn per_customer_limits_are_decided_in_turn() {
        let Some(store) = store("").await else { return };
        super::per_customer_limits_are_decided_in_turn(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn low_stock_is_announced_by_the_order_that_crosses() {
        let Some(store) = store("").await else { return };
        super::low_stock_is_announced_by_the_order_that_crosses(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_commit_fails_the_batch() {
        // A deferred constraint trigger: it runs, and refuses, at the commit.
        let Some(store) = store(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$; \
             CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON orders \
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW \
                 WHEN (NEW.email = 'refused@example.com') EXECUTE FUNCTION refuse();",
        )
        .await
        else {
            return;
        };
        super::failed_commit_fails_the_batch(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failing_order_fails_alone() {
        let Some(store) = store(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'refused'; END $$; \
             CREATE TRIGGER refuse_now BEFORE INSERT ON orders FOR EACH ROW \
                 WHEN (NEW.email = 'broken@example.com') EXECUTE FUNCTION refuse();",
        )
        .await
        else {
            return;
        };
        super::failing_order_fails_alone(store).await;
    }
}
