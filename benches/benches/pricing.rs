//! Pricing benchmarks.
//!
//! `pricing/lines=L/promotions=P` prices a cart of `L` lines against a shop
//! running `P` promotions (see the `commerce_benches` fixtures). The
//! [`PromotionSet`] is built once, outside the timing loop, as a shop keeps
//! it between requests; each iteration is one full `price` call: line
//! resolution, promotion gating, stacking and exclusive comparison, shipping,
//! tax and the explained result.
//!
//! `allocate/weights=N` splits an amount across `N` weights with
//! [`Money::allocate`] (largest remainder).
//!
//! Run with `cargo bench -p commerce-benches --bench pricing`; figures are in
//! `docs/PERFORMANCE.md`.
//!
//! `COMMERCE_BENCH_CALLS=L,P,N` makes the binary skip criterion and price the
//! `pricing/lines=L/promotions=P` cart `N` times through `price_and_drop`,
//! for instruction counts that a busy machine does not disturb:
//!
//! ```text
//! COMMERCE_BENCH_CALLS=200,100,200 valgrind --tool=callgrind \
//!     --toggle-collect='pricing::price_and_drop' target/release/deps/pricing-<hash>
//! ```

use std::hint::black_box;

use commerce_benches::{Shop, context_tax, now, outcome_counts, weights};
use commerce_core::catalog::CatalogSnapshot;
use commerce_core::money::{Currency, Money};
use commerce_core::pricing::{CartInput, PricingContext, PromotionSet, price};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};

const LINES: [usize; 5] = [1, 10, 100, 200, 1_000];
const PROMOTIONS: [usize; 3] = [0, 10, 100];

/// Products in the benchmark catalog (two variants each).
const PRODUCTS: usize = 2_000;

fn bench_pricing(c: &mut Criterion) {
    let shop = Shop::new(PRODUCTS);
    let tax = context_tax();
    let ctx = PricingContext::new(now(), &tax);
    let sets: Vec<(usize, PromotionSet)> = PROMOTIONS
        .iter()
        .map(|&n| {
            let set = PromotionSet::new(shop.promotions(n)).expect("unique promotion ids");
            (n, set)
        })
        .collect();
    let verbose = std::env::var_os("COMMERCE_BENCH_VERBOSE").is_some();

    let mut group = c.benchmark_group("pricing");
    for lines in LINES {
        let cart = shop.cart(lines);
        group.throughput(Throughput::Elements(u64::try_from(lines).unwrap_or(0)));
        for (promotions, set) in &sets {
            // Price once outside the loop: the fixture must price, and the
            // summary shows what the cell exercises.
            let priced = price(&cart, shop.catalog(), set, &ctx).expect("fixture carts price");
            if verbose {
                let (applied, beaten, no_code, other) = outcome_counts(&priced);
                eprintln!(
                    "lines={lines} promotions={promotions}: subtotal {}, discounts {}, \
                     total {}; applied {applied}, not combinable {beaten}, \
                     code not entered {no_code}, other reasons {other}",
                    priced.subtotal, priced.discount_total, priced.total
                );
            }
            group.bench_with_input(
                BenchmarkId::new(format!("lines={lines}"), format!("promotions={promotions}")),
                set,
                |b, set| {
                    b.iter(|| price_and_drop(&cart, shop.catalog(), set, &ctx));
                },
            );
        }
    }
    group.finish();
}

fn bench_allocate(c: &mut Criterion) {
    let amount = Money::from_minor(1_234_567, Currency::USD);
    let mut group = c.benchmark_group("allocate");
    for n in [3, 100, 1_000] {
        let w = weights(n);
        group.throughput(Throughput::Elements(u64::try_from(n).unwrap_or(0)));
        group.bench_with_input(BenchmarkId::new("weights", n), &w, |b, w| {
            b.iter(|| black_box(amount).allocate(black_box(w)));
        });
    }
    group.finish();
}

/// One priced cart, dropped: what each benchmark iteration does, in a
/// function of its own for profilers to count.
#[inline(never)]
fn price_and_drop(
    cart: &CartInput,
    catalog: &CatalogSnapshot,
    set: &PromotionSet,
    ctx: &PricingContext<'_>,
) {
    let priced = price(
        black_box(cart),
        black_box(catalog),
        black_box(set),
        black_box(ctx),
    );
    drop(black_box(priced));
}

/// `COMMERCE_BENCH_CALLS=lines,promotions,calls`: prices that cell's cart
/// `calls` times and returns `true`; `false` when the variable is unset.
fn price_calls() -> bool {
    let Some(spec) = std::env::var_os("COMMERCE_BENCH_CALLS") else {
        return false;
    };
    let numbers: Vec<usize> = spec
        .to_string_lossy()
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .expect("COMMERCE_BENCH_CALLS=lines,promotions,calls")
        })
        .collect();
    let [lines, promotions, calls] = numbers[..] else {
        panic!("COMMERCE_BENCH_CALLS=lines,promotions,calls");
    };
    let shop = Shop::new(PRODUCTS);
    let tax = context_tax();
    let ctx = PricingContext::new(now(), &tax);
    let set = PromotionSet::new(shop.promotions(promotions)).expect("unique promotion ids");
    let cart = shop.cart(lines);
    for _ in 0..calls {
        price_and_drop(&cart, shop.catalog(), &set, &ctx);
    }
    true
}

criterion_group!(benches, bench_pricing, bench_allocate);

fn main() {
    if price_calls() {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
