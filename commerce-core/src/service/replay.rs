//! The refusals an idempotency key replays.
//!
//! Stripe's contract: once a request with a key has run, the same key and
//! the same request get the same answer — its result, or its refusal when
//! the refusal is *final*: a business rule decided it against the state the
//! request met (an empty cart, a shortage, a used-up code, an order no
//! longer payable). Those are stored with the key as JSON and given back on
//! a replay. Everything else frees the key so that a retry runs again:
//! retryable failures (a concurrent change, a store or gateway failure),
//! input refused before the key was taken, and `PriceChanged`, whose refusal
//! itself updates the cart so that the same request can then succeed.
//!
//! A stored result is either a refusal (a JSON object) or the id of what
//! the request made (never starting with `{`).

use serde::{Deserialize, Serialize};

use super::CommerceError;
use crate::idempotency::IdempotencyKey;
use crate::ids::VariantId;
use crate::inventory::Shortage;
use crate::order::InvalidTransition;
use crate::pricing::NotApplied;
use crate::storage::IdempotencyStore;

/// A final refusal as stored with its key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "refused", rename_all = "snake_case")]
enum Stored {
    CartEmpty,
    InsufficientStock {
        lines: Vec<Shortage>,
    },
    ProductUnavailable {
        variant_id: VariantId,
    },
    DiscountCodeInvalid,
    DiscountNotApplicable {
        reason: NotApplied,
    },
    DiscountUsageExceeded,
    OrderExpired,
    InvalidTransition {
        from: crate::order::OrderStatus,
        event: crate::order::OrderEvent,
    },
}

/// The stored form of `e` when it is a final refusal; `None` otherwise.
pub(super) fn encode(e: &CommerceError) -> Option<String> {
    let stored = match e {
        CommerceError::CartEmpty => Stored::CartEmpty,
        CommerceError::InsufficientStock(lines) => Stored::InsufficientStock {
            lines: lines.clone(),
        },
        CommerceError::ProductUnavailable(v) => Stored::ProductUnavailable { variant_id: *v },
        CommerceError::DiscountCodeInvalid => Stored::DiscountCodeInvalid,
        CommerceError::DiscountNotApplicable(reason) => Stored::DiscountNotApplicable {
            reason: reason.clone(),
        },
        CommerceError::DiscountUsageExceeded => Stored::DiscountUsageExceeded,
        CommerceError::OrderExpired => Stored::OrderExpired,
        CommerceError::InvalidTransition(t) => Stored::InvalidTransition {
            from: t.from,
            event: t.event,
        },
        _ => return None,
    };
    serde_json::to_string(&stored).ok()
}

/// Settles the key of a refused request: a final refusal is stored with it
/// (a store that fails to keep it frees the key instead: the retry runs
/// again, as it would have before); anything else frees it for a retry.
pub(super) async fn settle_refused<S: IdempotencyStore>(
    store: &S,
    scope: &str,
    key: &IdempotencyKey,
    refusal: &CommerceError,
) {
    // A failed release only delays a retry until the key's lock lapses.
    match encode(refusal) {
        Some(stored) => {
            if store.complete(scope, key, stored).await.is_err() {
                let _ = store.release(scope, key).await;
            }
        }
        None => {
            let _ = store.release(scope, key).await;
        }
    }
}

/// The refusal a stored result holds; `None` when it holds an id.
pub(super) fn decode(stored: &str) -> Option<CommerceError> {
    if !stored.starts_with('{') {
        return None;
    }
    let stored: Stored = serde_json::from_str(stored).ok()?;
    Some(match stored {
        Stored::CartEmpty => CommerceError::CartEmpty,
        Stored::InsufficientStock { lines } => CommerceError::InsufficientStock(lines),
        Stored::ProductUnavailable { variant_id } => CommerceError::ProductUnavailable(variant_id),
        Stored::DiscountCodeInvalid => CommerceError::DiscountCodeInvalid,
        Stored::DiscountNotApplicable { reason } => CommerceError::DiscountNotApplicable(reason),
        Stored::DiscountUsageExceeded => CommerceError::DiscountUsageExceeded,
        Stored::OrderExpired => CommerceError::OrderExpired,
        Stored::InvalidTransition { from, event } => {
            CommerceError::InvalidTransition(InvalidTransition { from, event })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{OrderEvent, OrderStatus};

    #[test]
    fn final_refusals_round_trip_and_others_are_not_stored() {
        let v = VariantId::from_u128(7);
        let cases = vec![
            CommerceError::CartEmpty,
            CommerceError::InsufficientStock(vec![Shortage {
                variant_id: v,
                requested: 3,
                available: 1,
            }]),
            CommerceError::ProductUnavailable(v),
            CommerceError::DiscountCodeInvalid,
            CommerceError::DiscountNotApplicable(NotApplied::NotFirstOrder),
            CommerceError::DiscountUsageExceeded,
            CommerceError::OrderExpired,
            CommerceError::InvalidTransition(InvalidTransition {
                from: OrderStatus::Paid,
                event: OrderEvent::Pay,
            }),
        ];
        for e in cases {
            let stored = encode(&e).unwrap_or_else(|| panic!("{e:?} is final"));
            let back = decode(&stored).unwrap_or_else(|| panic!("{stored} decodes"));
            assert_eq!(format!("{back:?}"), format!("{e:?}"));
        }
        for e in [
            CommerceError::PriceChanged,
            CommerceError::Conflict,
            CommerceError::IdempotencyInProgress,
            CommerceError::NotFound("order"),
        ] {
            assert!(encode(&e).is_none(), "{e:?} frees the key");
        }
        assert!(decode("0190c7a4-0000-7000-8000-000000000000").is_none());
    }
}
