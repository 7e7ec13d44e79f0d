//! Property tests of exact money: `Money::allocate` splits by largest
//! remainder without losing or inventing a minor unit, the wire format
//! round-trips, and checked arithmetic agrees with wide integer arithmetic.

use commerce_core::money::{Currency, Money, MoneyError};
use proptest::prelude::*;

/// At least 2,000 cases; `PROPTEST_CASES` may ask for more.
const CASES: u32 = 2000;

fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: default.cases.max(CASES),
        ..default
    }
}

/// Any `i64`, with the edges (`MIN`, `MAX`, zero, ±1) and small amounts made
/// likely: uniform sampling alone almost never meets them.
fn any_minor() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => any::<i64>(),
        2 => -1_000_000_i64..=1_000_000,
        1 => prop_oneof![
            Just(i64::MIN),
            Just(i64::MIN + 1),
            Just(i64::MAX),
            Just(i64::MAX - 1),
            Just(0_i64),
            Just(1_i64),
            Just(-1_i64),
        ],
    ]
}

fn any_currency() -> impl Strategy<Value = Currency> {
    prop_oneof![
        Just(Currency::USD),
        Just(Currency::JPY),
        Just(Currency::KWD)
    ]
}

/// One weight: often zero, often small, sometimes huge.
fn weight() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => Just(0_u64),
        4 => 1_u64..=100,
        2 => 1_u64..=1_000_000,
        1 => any::<u64>(),
        1 => Just(u64::MAX),
    ]
}

/// 1–200 weights (often only a few), some zero, at least one positive.
fn weights() -> impl Strategy<Value = Vec<u64>> {
    let len = prop_oneof![2 => 1_usize..=3, 1 => 1_usize..=200];
    (
        len.prop_flat_map(|n| prop::collection::vec(weight(), n)),
        any::<prop::sample::Index>(),
        1_u64..=u64::MAX,
    )
        .prop_map(|(mut ws, at, positive)| {
            if ws.iter().all(|&w| w == 0) {
                let i = at.index(ws.len());
                ws[i] = positive;
            }
            ws
        })
}

proptest! {
    #![proptest_config(config())]

    /// The parts add up to the whole, each is within one minor unit of its
    /// exact share `total * w / W`, and a zero weight gets zero.
    #[test]
    fn allocate_is_exact_and_fair(
        total in any_minor(),
        weights in weights(),
        currency in any_currency(),
    ) {
        let money = Money::from_minor(total, currency);
        let parts = money.allocate(&weights);
        prop_assert!(parts.is_ok(), "allocate({money}, {weights:?}) = {parts:?}");
        let parts = parts.unwrap_or_default();
        prop_assert_eq!(parts.len(), weights.len());

        let sum: i128 = parts.iter().map(|p| i128::from(p.minor())).sum();
        prop_assert_eq!(sum, i128::from(total), "parts {:?}", parts);

        let big_w: u128 = weights.iter().map(|&w| u128::from(w)).sum();
        let abs_total = u128::from(total.unsigned_abs());
        for (i, (part, &w)) in parts.iter().zip(&weights).enumerate() {
            prop_assert_eq!(part.currency(), currency);
            if w == 0 {
                prop_assert_eq!(part.minor(), 0, "part {} has weight 0", i);
                continue;
            }
            // |part * W - total * w| < W  <=>  |part| is floor or ceil of
            // |total| * w / W (with total's sign). |total| * w < 2^127, so
            // this stays inside u128 where part * W might not.
            let exact = abs_total * u128::from(w);
            let (floor, rem) = (exact / big_w, exact % big_w);
            let part_abs = u128::from(part.minor().unsigned_abs());
            let sign_ok = part.minor() == 0 || (part.minor() < 0) == (total < 0);
            prop_assert!(
                sign_ok && (part_abs == floor || (rem != 0 && part_abs == floor + 1)),
                "part {} = {} but the exact share is {}{} + {}/{}",
                i,
                part.minor(),
                if total < 0 { "-" } else { "" },
                floor,
                rem,
                big_w
            );
        }
    }

    /// Formatting and parsing are inverse: `parse(amount_string(m)) == m`.
    #[test]
    fn parse_inverts_format(minor in any_minor(), currency in any_currency()) {
        let money = Money::from_minor(minor, currency);
        let text = money.amount_string();
        prop_assert_eq!(Money::parse(&text, currency), Ok(money), "text {:?}", text);
    }

    /// `checked_add` and `checked_sub` give the `i128` result, and
    /// `Overflow` exactly when that result does not fit in `i64`.
    #[test]
    fn checked_arithmetic_agrees_with_i128(
        a in any_minor(),
        b in any_minor(),
        currency in any_currency(),
    ) {
        let (ma, mb) = (Money::from_minor(a, currency), Money::from_minor(b, currency));
        let expect = |wide: i128| {
            i64::try_from(wide)
                .map(|m| Money::from_minor(m, currency))
                .map_err(|_| MoneyError::Overflow)
        };
        prop_assert_eq!(ma.checked_add(mb), expect(i128::from(a) + i128::from(b)));
        prop_assert_eq!(ma.checked_sub(mb), expect(i128::from(a) - i128::from(b)));
    }
}
