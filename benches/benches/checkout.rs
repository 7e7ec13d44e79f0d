//! Checkout benchmark.
//!
//! `checkout/threads=T` measures checkouts per second through
//! [`Commerce::checkout`] on an [`InMemoryStore`], on a tokio multi-thread
//! runtime with `T` worker threads and `T` tasks, each checking out its share
//! of the carts at the same time.
//!
//! One iteration is one checkout of a guest cart of [`LINES`] distinct
//! variants (1–3 units each) with a fresh idempotency key: claiming the key,
//! reading the cart and its variants, pricing it against the shop's three
//! promotions, and the atomic `place_order` (reserve stock and promotion
//! usage, number the order, empty the cart, complete the key, write
//! `OrderPlaced`).
//!
//! Filling the carts is not timed. `iter_custom` is asked for `n` checkouts;
//! it opens a fresh shop, fills `n` carts, starts the clock, runs the
//! checkouts, and stops the clock. Above [`CHUNK`] checkouts it does this in
//! chunks of [`CHUNK`], so that a store never holds more than [`CHUNK`]
//! orders (see `docs/PERFORMANCE.md` for why that matters on
//! `InMemoryStore`; `COMMERCE_BENCH_CHUNK=n` changes it). Stock is large
//! enough never to run out.
//!
//! Run with `cargo bench -p commerce-benches --bench checkout`; figures are in
//! `docs/PERFORMANCE.md`. Set `COMMERCE_BENCH_VERBOSE=1` to print three
//! fixture carts' priced totals and applied promotions.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use commerce_benches::SplitMix;
use commerce_core::Quantity;
use commerce_core::cart::{CartOwner, CartToken};
use commerce_core::catalog::{Sku, VariantPrice};
use commerce_core::clock::SystemClock;
use commerce_core::idempotency::IdempotencyKey;
use commerce_core::ids::{CategoryId, CustomerId, ProductId, PromotionId, StoreId, VariantId};
use commerce_core::inventory::Stock;
use commerce_core::money::{Currency, Money};
use commerce_core::promotion::{Promotion, PromotionSpec};
use commerce_core::seller::{Category, Product, SellerStore, Variant};
use commerce_core::service::{CheckoutRequest, Commerce, Config};
use commerce_core::shipping::ShippingMethod;
use commerce_core::storage::{CatalogStore, InMemoryStore, PromotionStore, ShippingStore};
use commerce_core::tax::SingleRateTax;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rust_decimal::Decimal;

/// Lines per cart.
const LINES: usize = 3;

/// Products in the shop (two variants each).
const PRODUCTS: u32 = 50;

/// Units on hand of every variant: more than any run can sell.
const ON_HAND: u32 = 100_000_000;

/// The most checkouts one store takes before the next chunk opens a fresh
/// one, unless `COMMERCE_BENCH_CHUNK` says otherwise.
const CHUNK: u64 = 1_000;

/// Worker threads (and checkout tasks) per run.
const THREADS: [usize; 2] = [1, 2];

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

/// A shop: the engine over a fresh store, and the variants carts are filled from.
struct Shop {
    commerce: Commerce<InMemoryStore>,
    variants: Vec<VariantId>,
}

impl Shop {
    /// One seller, two categories, [`PRODUCTS`] products of two variants
    /// (5.00 to 54.50 USD), three promotions, one shipping method (4.90,
    /// free from 75.00), 20 % tax added to net prices.
    async fn open() -> Shop {
        let config = Config {
            currency: Currency::USD,
            tax: Arc::new(
                SingleRateTax::new(Decimal::new(2, 1), false).expect("20 % is a valid rate"),
            ),
            ..Config::default()
        };
        let commerce = Commerce::new(
            Arc::new(InMemoryStore::new()),
            Arc::new(SystemClock),
            config,
        );
        let store = commerce.store();
        let now = Utc::now();
        let seller = SellerStore {
            id: StoreId::from_u128(1),
            owner_id: CustomerId::from_u128(1),
            name: "Bench store".into(),
            slug: "bench".into(),
            created_at: now,
        };
        store.put_seller_store(seller).await.expect("seller store");
        let standard = ShippingMethod::new("standard", "Standard", usd(490), Some(usd(7_500)))
            .expect("valid shipping method");
        store
            .insert_shipping_method(standard)
            .await
            .expect("shipping method");
        let categories = [CategoryId::from_u128(1), CategoryId::from_u128(2)];
        for (n, id) in categories.into_iter().enumerate() {
            let category = Category {
                id,
                parent_id: None,
                name: format!("Category {n}"),
                slug: format!("category-{n}"),
            };
            store.put_category(category).await.expect("category");
        }
        let mut variants = Vec::new();
        for p in 0..PRODUCTS {
            let product = Product {
                id: ProductId::from_u128(u128::from(p) + 1),
                store_id: StoreId::from_u128(1),
                category_id: Some(categories[usize::from(p % 2 == 1)]),
                name: format!("Product {p}"),
                description: String::new(),
                images: Vec::new(),
                created_at: now,
                deleted_at: None,
            };
            let mut pair = Vec::with_capacity(2);
            for v in 0..2_u32 {
                let n = p * 2 + v;
                let price = VariantPrice::fixed(usd(500 + i64::from(n) * 50)).expect("price");
                pair.push(Variant {
                    id: VariantId::from_u128(u128::from(n) + 1),
                    product_id: product.id,
                    sku: Sku::parse(&format!("BENCH-{n:04}")).expect("sku"),
                    attributes: Default::default(),
                    price,
                    stock: Stock {
                        on_hand: ON_HAND,
                        reserved: 0,
                    },
                });
            }
            variants.extend(pair.iter().map(|v| v.id));
            store.put_product(product, pair).await.expect("product");
        }
        let promotions = [
            // Applies to the lines of one category, stacks with others.
            format!(
                r#"{{"name": "10% off category 0", "combinable": true, "priority": 5,
                   "action": {{"type": "percentage", "percent": "10",
                               "applies_to": {{"categories": ["{}"]}}}}}}"#,
                categories[0]
            ),
            // Needs a code the buyers never enter.
            r#"{"name": "WELCOME: 5.00 off", "code": "WELCOME", "combinable": true,
                "action": {"type": "fixed_amount", "amount": {"amount": "5.00", "currency": "USD"}}}"#
                .to_owned(),
            // Exclusive above a minimum: wins on the larger carts.
            r#"{"name": "15% off from 120.00", "combinable": false,
                "conditions": [{"type": "min_subtotal", "amount": {"amount": "120.00", "currency": "USD"}}],
                "action": {"type": "percentage", "percent": "15"}}"#
                .to_owned(),
        ];
        for (n, json) in (1_u128..).zip(promotions) {
            let spec: PromotionSpec = serde_json::from_str(&json).expect("promotion JSON");
            let promotion = Promotion::new(PromotionId::from_u128(n), spec).expect("promotion");
            store
                .put_promotion(promotion)
                .await
                .expect("put_promotion")
                .expect("usage limit");
        }
        Shop { commerce, variants }
    }

    /// Fills `count` guest carts with [`LINES`] distinct variants each and
    /// returns their checkout requests, each with its own key.
    async fn fill(&self, count: u64, rng: &mut SplitMix) -> Vec<CheckoutRequest> {
        let mut requests = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        for n in 0..count {
            let owner = CartOwner::Guest(CartToken::generate());
            let mut chosen: Vec<VariantId> = Vec::with_capacity(LINES);
            while chosen.len() < LINES {
                let v = self.variants[rng.index(self.variants.len())];
                if !chosen.contains(&v) {
                    chosen.push(v);
                }
            }
            for v in chosen {
                let units = Quantity::new(rng.between(1, 3)).expect("1 to 3 units");
                self.commerce
                    .add_to_cart(&owner, v, units)
                    .await
                    .expect("add to cart");
            }
            requests.push(CheckoutRequest {
                owner,
                customer: None,
                email: "buyer@example.com".into(),
                shipping_address: None,
                idempotency_key: IdempotencyKey::parse(&format!("bench-{n}")).expect("key"),
            });
        }
        requests
    }
}

/// Times `iters` checkouts on `threads` tasks, in chunks of at most `chunk`
/// on a fresh shop each; only the checkouts are timed.
async fn timed_checkouts(threads: usize, iters: u64, chunk: u64, rng: &mut SplitMix) -> Duration {
    let mut timed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(chunk);
        left -= n;
        let shop = Shop::open().await;
        let tasks = u64::try_from(threads).unwrap_or(1);
        let mut shares = Vec::with_capacity(threads);
        for t in 0..tasks {
            // Task t takes every `tasks`-th checkout from the t-th on.
            let count = n / tasks + u64::from(t < n % tasks);
            shares.push(shop.fill(count, rng).await);
        }
        let start = Instant::now();
        let handles: Vec<_> = shares
            .into_iter()
            .map(|requests| {
                let commerce = shop.commerce.clone();
                tokio::spawn(async move {
                    for request in requests {
                        black_box(commerce.checkout(request).await.expect("checkout"));
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("checkout task");
        }
        timed += start.elapsed();
    }
    timed
}

/// Prints one fixture cart priced, so that the reader sees what is checked out.
async fn describe(rng: &mut SplitMix) {
    let shop = Shop::open().await;
    let requests = shop.fill(3, rng).await;
    for request in requests {
        let view = shop
            .commerce
            .cart_view(&request.owner, None)
            .await
            .expect("cart view");
        let applied: Vec<&str> = view.priced.applied().map(|t| &*t.label).collect();
        eprintln!(
            "{} lines, subtotal {}, discounts {}, shipping {}, tax {}, total {}; applied: {}",
            view.priced.lines.len(),
            view.priced.subtotal,
            view.priced.discount_total,
            view.priced.shipping_total,
            view.priced.tax_total,
            view.priced.total,
            applied.join(", ")
        );
    }
}

fn bench_checkout(c: &mut Criterion) {
    let chunk = std::env::var("COMMERCE_BENCH_CHUNK")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(CHUNK);
    let mut group = c.benchmark_group("checkout");
    group.throughput(Throughput::Elements(1));
    for threads in THREADS {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .expect("tokio runtime");
        if threads == 1 && std::env::var_os("COMMERCE_BENCH_VERBOSE").is_some() {
            runtime.block_on(describe(&mut SplitMix::new(7)));
        }
        let mut rng = SplitMix::new(42);
        group.bench_function(BenchmarkId::new("threads", threads), |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let mut local = SplitMix::new(rng.next_u64());
                async move { timed_checkouts(threads, iters, chunk, &mut local).await }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_checkout);
criterion_main!(benches);
