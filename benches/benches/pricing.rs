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

use std::hint::black_box;

use commerce_benches::{Shop, context_tax, now, outcome_counts, weights};
use commerce_core::money::{Currency, Money};
use commerce_core::pricing::{PricingContext, PromotionSet, price};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

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
                    b.iter(|| {
                        price(
                            black_box(&cart),
                            black_box(shop.catalog()),
                            black_box(set),
                            black_box(&ctx),
                        )
                    });
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

criterion_group!(benches, bench_pricing, bench_allocate);
criterion_main!(benches);
