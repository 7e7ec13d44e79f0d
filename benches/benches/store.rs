//! Checkouts per second on the SQL stores, against the bare SQL.
//!
//! Run with: `cargo bench -p commerce-benches --bench store`
//! (PostgreSQL at `BENCH_DATABASE_URL`, else the local server over its Unix
//! socket, else `TEST_DATABASE_URL`; skipped with a note when unreachable).
//!
//! Prints one table:
//! - 3-line checkouts per second through `Commerce::checkout` (pricing,
//!   idempotency key, the atomic `place_order`) with 1, 8 and 64 tasks, on
//!   SQLite and PostgreSQL, with p50/p99 latency;
//! - on one hot SKU, by 8 and 64 tasks: 1-line checkouts of that variant
//!   through `Commerce::checkout`, and reservations through the store's
//!   atomic operation, `Store::place_order` (one unit reserved, its 1-line
//!   order, reservation and event written; no cart or key);
//! - in the same run, `pgbench` on the same database and schema: the bare
//!   conditional `UPDATE` alone on the hot row, and the bare 3-line checkout
//!   transaction (the statements a checkout must run, nothing else) — and the
//!   ratios of ours to theirs.
//!
//! Carts are filled before the clock starts; only checkouts are timed. Each
//! cell runs a fixed number of checkouts (`BENCH_CHECKOUTS`, default 3000);
//! `BENCH_ONLY` (a part of a row's name, e.g. `hot SKU reservation`) runs
//! only the rows it names, and `BENCH_PGBENCH=0` skips `pgbench`.

use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use commerce_core::Quantity;
use commerce_core::cart::{CartOwner, CartToken};
use commerce_core::catalog::{Sku, VariantPrice};
use commerce_core::clock::SystemClock;
use commerce_core::idempotency::IdempotencyKey;
use commerce_core::ids::{CustomerId, OrderId, ProductId, StoreId, VariantId};
use commerce_core::inventory::Stock;
use commerce_core::money::{Currency, Money};
use commerce_core::order::Order;
use commerce_core::seller::{Product, SellerStore, Variant};
use commerce_core::service::{CheckoutRequest, Commerce, Config};
use commerce_core::storage::{PlaceOrder, Store};
use commerce_sqlx::{PgStore, SqliteStore};
use sqlx::postgres::PgConnectOptions;

/// Variants in the catalog; 3-line carts take three of them in turn.
const VARIANTS: usize = 300;

/// The row of reservations through `Store::place_order` on the hot SKU.
const HOT_RESERVATION: &str = "hot SKU reservation";

type Error = Box<dyn std::error::Error + Send + Sync>;

fn checkouts() -> usize {
    std::env::var("BENCH_CHECKOUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// `BENCH_DATABASE_URL`; else, when the local server's socket exists, the
/// local server over its Unix socket (sqlx 0.9.0 does not set
/// `TCP_NODELAY`, which stalls transactions over TCP: docs/storage.md);
/// else `TEST_DATABASE_URL` or the local default over TCP. `pgbench` gets
/// the same URL.
fn pg_url() -> String {
    if let Ok(url) = std::env::var("BENCH_DATABASE_URL") {
        return url;
    }
    if std::path::Path::new("/var/run/postgresql/.s.PGSQL.5432").exists() {
        return "postgres://postgres@localhost/test?host=/var/run/postgresql".to_owned();
    }
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Whether the cells named `label` run: `BENCH_ONLY` (a part of the
/// label, e.g. `hot SKU`) picks some; all run without it.
fn selected(label: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| label.contains(only.as_str()))
}

/// One measured cell.
struct Cell {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

async fn seed<S: Store>(store: &S) -> Result<Vec<VariantId>, Error> {
    let now = chrono::Utc::now();
    let seller = SellerStore {
        id: StoreId::new(),
        owner_id: CustomerId::new(),
        name: "Bench".into(),
        slug: format!("bench-{}", uuid::Uuid::new_v4().simple()),
        created_at: now,
    };
    let store_id = seller.id;
    store.put_seller_store(seller).await?;
    let mut ids = Vec::with_capacity(VARIANTS);
    for i in 0..VARIANTS {
        let product = Product {
            id: ProductId::new(),
            store_id,
            category_id: None,
            name: format!("Item {i}"),
            description: String::new(),
            images: Vec::new(),
            created_at: now,
            deleted_at: None,
        };
        let price = Money::from_minor(100 + i64::try_from(i)? * 7, Currency::USD);
        let variant = Variant {
            id: VariantId::new(),
            product_id: product.id,
            sku: Sku::parse(&format!("B-{i}-{}", uuid::Uuid::new_v4().simple()))?,
            attributes: Default::default(),
            price: VariantPrice::fixed(price)?,
            stock: Stock {
                on_hand: 4_000_000_000,
                reserved: 0,
            },
        };
        ids.push(variant.id);
        store.put_product(product, vec![variant]).await?;
    }
    Ok(ids)
}

/// Fills `n` guest carts: three variants each, or the hot one alone.
async fn carts<S: Store>(
    shop: &Commerce<S>,
    variants: &[VariantId],
    n: usize,
    hot: bool,
) -> Result<Vec<CartOwner>, Error> {
    let one = Quantity::new(1)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let owner = CartOwner::Guest(CartToken::generate());
        if hot {
            shop.add_to_cart(&owner, variants[0], one).await?;
        } else {
            for k in 0..3 {
                let v = variants[(i * 3 + k) % variants.len()];
                shop.add_to_cart(&owner, v, one).await?;
            }
        }
        out.push(owner);
    }
    Ok(out)
}

fn request(owner: CartOwner) -> Result<CheckoutRequest, Error> {
    Ok(CheckoutRequest {
        owner,
        customer: None,
        email: "bench@example.com".into(),
        shipping_address: None,
        idempotency_key: IdempotencyKey::parse(&uuid::Uuid::new_v4().to_string())?,
    })
}

/// Runs the checkouts of `owners` on `tasks` tasks at once; the rate and
/// latencies of the checkouts alone.
async fn measure<S: Store + 'static>(
    shop: &Commerce<S>,
    owners: Vec<CartOwner>,
    tasks: usize,
) -> Result<Cell, Error> {
    let requests = owners
        .into_iter()
        .map(request)
        .collect::<Result<Vec<_>, _>>()?;
    let shop = shop.clone();
    timed(requests, tasks, move |r| {
        let shop = shop.clone();
        async move {
            shop.checkout(r).await?;
            Ok(())
        }
    })
    .await
}

/// Runs `op` on each of `items`, spread over `tasks` tasks at once; the
/// rate and latencies of the calls alone.
async fn timed<T, F, Fut>(items: Vec<T>, tasks: usize, op: F) -> Result<Cell, Error>
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), Error>> + Send,
{
    let total = items.len();
    let mut queues: Vec<Vec<T>> = (0..tasks).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        queues[i % tasks].push(item);
    }
    let start = Instant::now();
    let handles: Vec<_> = queues
        .into_iter()
        .map(|queue| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(queue.len());
                for item in queue {
                    let t = Instant::now();
                    op(item).await?;
                    latencies.push(t.elapsed());
                }
                Ok::<_, Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    for h in handles {
        latencies.extend(h.await??);
    }
    let elapsed = start.elapsed();
    latencies.sort();
    // The latency at a percentile (of 100), by the nearest-rank method.
    let at = |percent: usize| {
        let i = (latencies.len() * percent).div_ceil(100).saturating_sub(1);
        latencies.get(i).copied().unwrap_or_default()
    };
    Ok(Cell {
        per_second: total as f64 / elapsed.as_secs_f64(),
        p50: at(50),
        p99: at(99),
    })
}

/// Reservations on the hot SKU through the store's own atomic operation,
/// `Store::place_order`: each reserves one unit and writes its 1-line order,
/// its reservation and its `OrderPlaced` event, as checkout's last step
/// does (without the cart and the key, which are checkout's). The orders
/// are copies, under new ids, of one placed by a real checkout.
async fn measure_reservations<S: Store + 'static>(
    shop: &Commerce<S>,
    store: Arc<S>,
    hot: VariantId,
    n: usize,
    tasks: usize,
) -> Result<Cell, Error> {
    let owner = CartOwner::Guest(CartToken::generate());
    shop.add_to_cart(&owner, hot, Quantity::new(1)?).await?;
    let template = shop.checkout(request(owner)?).await?;
    let places: Vec<PlaceOrder> = (0..n)
        .map(|_| PlaceOrder {
            order: Order {
                id: OrderId::new(),
                ..template.clone()
            },
            cart: None,
            idempotency: None,
            low_stock_threshold: 0,
        })
        .collect();
    timed(places, tasks, move |place| {
        let store = Arc::clone(&store);
        async move {
            match store.place_order(place).await? {
                Ok(_) => Ok(()),
                Err(refused) => Err(format!("a reservation was refused: {refused}").into()),
            }
        }
    })
    .await
}

async fn run_store<S, F, Fut>(name: &str, open: F, rows: &mut Vec<Row>) -> Result<(), Error>
where
    S: Store + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<S, Error>>,
{
    let n = checkouts();
    for (label, tasks, hot) in [
        ("3-line checkout", 1, false),
        ("3-line checkout", 8, false),
        ("3-line checkout", 64, false),
        ("hot SKU checkout", 8, true),
        ("hot SKU checkout", 64, true),
        (HOT_RESERVATION, 8, true),
        (HOT_RESERVATION, 64, true),
    ] {
        if !selected(label) {
            continue;
        }
        let store = Arc::new(open(tasks).await?);
        let variants = seed(store.as_ref()).await?;
        // As the server runs it: the shop's rules (categories, promotions,
        // shipping methods) kept for a second (`COMMERCE_RULES_CACHE_TTL`).
        let config = Config {
            rules_cache_ttl: std::time::Duration::from_secs(1),
            ..Config::default()
        };
        let shop = Commerce::new(Arc::clone(&store), Arc::new(SystemClock), config);
        let cell = if label == HOT_RESERVATION {
            measure_reservations(&shop, store, variants[0], n, tasks).await?
        } else {
            let owners = carts(&shop, &variants, n, hot).await?;
            measure(&shop, owners, tasks).await?
        };
        eprintln!(
            "{name:<10} {label:<20} {tasks:>2} tasks: {:>8.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
            cell.per_second,
            cell.p50.as_secs_f64() * 1e3,
            cell.p99.as_secs_f64() * 1e3
        );
        rows.push(Row {
            backend: name.to_owned(),
            what: label.to_owned(),
            tasks,
            cell,
        });
    }
    Ok(())
}

struct Row {
    backend: String,
    what: String,
    tasks: usize,
    cell: Cell,
}

/// A fresh schema for one cell; its options.
async fn pg_schema(base: &PgConnectOptions) -> Result<(PgConnectOptions, String), Error> {
    let admin = sqlx::PgPool::connect_with(base.clone()).await?;
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await?;
    admin.close().await;
    Ok((
        base.clone().options([("search_path", schema.as_str())]),
        schema,
    ))
}

async fn drop_bench_schemas(base: &PgConnectOptions) -> Result<(), Error> {
    let admin = sqlx::PgPool::connect_with(base.clone()).await?;
    let schemas: Vec<(String,)> =
        sqlx::query_as("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench_%'")
            .fetch_all(&admin)
            .await?;
    for (s,) in schemas {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {s} CASCADE")))
            .execute(&admin)
            .await?;
    }
    admin.close().await;
    Ok(())
}

/// `pgbench` on `schema` with `script` and `clients`; transactions per second.
fn pgbench(url: &str, schema: &str, script: &str, clients: usize) -> Result<f64, Error> {
    let dir = std::env::temp_dir().join(format!("commerce-pgbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("script.sql");
    std::fs::write(&file, script)?;
    let seconds = std::env::var("BENCH_PGBENCH_SECONDS").unwrap_or_else(|_| "10".to_owned());
    let out = Command::new("pgbench")
        .env("PGOPTIONS", format!("-c search_path={schema}"))
        .args([
            "--no-vacuum",
            "--protocol=prepared",
            "--client",
            &clients.to_string(),
            "--jobs",
            "2",
            "--time",
            &seconds,
            "--file",
        ])
        .arg(&file)
        .arg(url)
        .output()?;
    if !out.status.success() {
        return Err(format!("pgbench: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
        })
        .ok_or_else(|| format!("no tps in pgbench output:\n{text}").into())
}

/// The statements a 3-line checkout must run, and nothing else: reserve three
/// variants conditionally, write the order, its lines, reservations and the
/// outbox event, in one transaction. (No `:word` in literals: pgbench would
/// read it as a variable.)
const BARE_CHECKOUT: &str = r#"
\set a random(1, 300)
\set b random(1, 300)
\set c random(1, 300)
BEGIN;
SELECT gen_random_uuid() AS oid \gset
UPDATE variants SET reserved = reserved + 1 WHERE id = (SELECT id FROM bench_variants WHERE n = :a) AND on_hand - reserved >= 1;
UPDATE variants SET reserved = reserved + 1 WHERE id = (SELECT id FROM bench_variants WHERE n = :b) AND on_hand - reserved >= 1;
UPDATE variants SET reserved = reserved + 1 WHERE id = (SELECT id FROM bench_variants WHERE n = :c) AND on_hand - reserved >= 1;
INSERT INTO orders (id, number, customer_id, email, status, currency, subtotal_minor, discount_total_minor, shipping_total_minor, tax_total_minor, total_minor, prices_include_tax, captured_minor, refunded_minor, reservation_expires_at, snapshot, created_at, updated_at) VALUES (:oid, nextval('order_number_seq'), NULL, 'bench@example.com', 'pending_payment', 'USD', 300, 0, 0, 0, 300, false, 0, 0, now() + interval '15 minutes', '{"lines": []}', now(), now());
INSERT INTO order_lines (order_id, line_no, variant_id, product_id, store_id, quantity) SELECT :oid, 0, v.id, v.product_id, p.store_id, 1 FROM variants v JOIN products p ON p.id = v.product_id WHERE v.id = (SELECT id FROM bench_variants WHERE n = :a);
INSERT INTO order_lines (order_id, line_no, variant_id, product_id, store_id, quantity) SELECT :oid, 1, v.id, v.product_id, p.store_id, 1 FROM variants v JOIN products p ON p.id = v.product_id WHERE v.id = (SELECT id FROM bench_variants WHERE n = :b);
INSERT INTO order_lines (order_id, line_no, variant_id, product_id, store_id, quantity) SELECT :oid, 2, v.id, v.product_id, p.store_id, 1 FROM variants v JOIN products p ON p.id = v.product_id WHERE v.id = (SELECT id FROM bench_variants WHERE n = :c);
INSERT INTO reservations (order_id, variant_id, quantity, expires_at) SELECT :oid, id, 1, now() + interval '15 minutes' FROM bench_variants WHERE n IN (:a, :b, :c) ON CONFLICT DO NOTHING;
INSERT INTO outbox (id, kind, payload, created_at) VALUES (gen_random_uuid(), 'order_placed', '{"type":"order_placed"}', now());
COMMIT;
"#;

/// The conditional update alone, on the hot row.
const BARE_HOT_UPDATE: &str = "UPDATE variants SET reserved = reserved + 1 \
    WHERE id = (SELECT id FROM bench_variants WHERE n = 1) AND on_hand - reserved >= 1;\n";

async fn bare(base: &PgConnectOptions, url: &str) -> Result<Vec<(String, usize, f64)>, Error> {
    let mut out = Vec::new();
    for (what, script, clients) in [
        ("bare 3-line transaction", BARE_CHECKOUT, 1),
        ("bare 3-line transaction", BARE_CHECKOUT, 8),
        ("bare 3-line transaction", BARE_CHECKOUT, 64),
        ("bare conditional UPDATE", BARE_HOT_UPDATE, 8),
        ("bare conditional UPDATE", BARE_HOT_UPDATE, 64),
    ] {
        let (options, schema) = pg_schema(base).await?;
        let store = PgStore::connect_with(options, 4).await?;
        let variants = seed(&store).await?;
        // pgbench picks variants by number.
        sqlx::query("CREATE TABLE bench_variants (n bigint PRIMARY KEY, id uuid NOT NULL)")
            .execute(store.pool())
            .await?;
        for (i, v) in variants.iter().enumerate() {
            sqlx::query("INSERT INTO bench_variants (n, id) VALUES ($1, $2)")
                .bind(i64::try_from(i + 1)?)
                .bind(v.as_uuid())
                .execute(store.pool())
                .await?;
        }
        store.pool().close().await;
        let tps = pgbench(url, &schema, script, clients)?;
        eprintln!("pgbench    {what:<24} {clients:>2} clients: {tps:>8.0}/s");
        out.push((what.to_owned(), clients, tps));
    }
    Ok(out)
}

fn sqlite_file() -> PathBuf {
    std::env::temp_dir().join(format!(
        "commerce-bench-{}.db",
        uuid::Uuid::new_v4().simple()
    ))
}

async fn main_async() -> Result<(), Error> {
    use std::str::FromStr;
    let mut rows = Vec::new();

    run_store(
        "SQLite",
        |_tasks| async {
            let options = commerce_sqlx::sqlite::options(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(sqlite_file())
                    .create_if_missing(true),
            );
            Ok(SqliteStore::connect_with(options, 8).await?)
        },
        &mut rows,
    )
    .await?;

    let url = pg_url();
    let base = PgConnectOptions::from_str(&url)?;
    let mut bare_rows = Vec::new();
    match sqlx::PgPool::connect_with(base.clone()).await {
        Err(e) => eprintln!("SKIPPED PostgreSQL: {url} unreachable ({e})"),
        Ok(pool) => {
            pool.close().await;
            run_store(
                "PostgreSQL",
                |tasks| {
                    let base = base.clone();
                    async move {
                        let (options, _) = pg_schema(&base).await?;
                        let connections = u32::try_from(tasks.clamp(4, 64))?;
                        Ok(PgStore::connect_with(options, connections).await?)
                    }
                },
                &mut rows,
            )
            .await?;
            if std::env::var("BENCH_PGBENCH").is_ok_and(|v| v == "0") {
                eprintln!("SKIPPED pgbench: BENCH_PGBENCH=0");
            } else {
                match bare(&base, &url).await {
                    Ok(b) => bare_rows = b,
                    Err(e) => eprintln!("SKIPPED pgbench: {e}"),
                }
            }
            drop_bench_schemas(&base).await?;
        }
    }

    println!();
    println!("| backend | what | tasks | per second | p50 | p99 | vs bare SQL |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        let bare_what = if r.what.starts_with("hot") {
            "bare conditional UPDATE"
        } else {
            "bare 3-line transaction"
        };
        let ratio = bare_rows
            .iter()
            .find(|(w, c, _)| w == bare_what && *c == r.tasks)
            .filter(|_| r.backend == "PostgreSQL")
            .map_or_else(String::new, |(_, _, tps)| {
                format!("{:.0} %", 100.0 * r.cell.per_second / tps)
            });
        println!(
            "| {} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {} |",
            r.backend,
            r.what,
            r.tasks,
            r.cell.per_second,
            r.cell.p50.as_secs_f64() * 1e3,
            r.cell.p99.as_secs_f64() * 1e3,
            ratio
        );
    }
    for (what, clients, tps) in &bare_rows {
        println!("| PostgreSQL (pgbench) | {what} | {clients} | {tps:.0} | | | |");
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // of the kind and must not run an expensive benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(main_async())
}
