//! The race tests: many tasks (many connections on SQL backends) doing the
//! same thing at the same instant. Each is followed by the invariant checker
//! (the macro runs it), and asserts its own exact outcome.
//!
//! How we know they catch a broken backend: each race was run against an
//! `InMemoryStore` broken on purpose in the way it targets — the operation's
//! check done under one lock acquisition and its write under another, with
//! a thread yield between — and failed, while every sequential test still
//! passed:
//! - stock checked, then reserved: `race_32_buyers_for_5_units` sold 6 or 7
//!   of 5 units (6 failures in 6 runs with four rounds; 2 in 3 with one round,
//!   which is why the races run several rounds);
//! - usage limits checked, then usage written: `race_16_buyers_for_a_single_use_code`
//!   (5 in 5) and `race_one_customer_8_tasks_per_customer_limit` (4 in 4)
//!   gave two or more redemptions;
//! - webhook inbox and payment state checked, then applied:
//!   `race_webhook_delivered_10_times` applied one payment twice (4 in 5 with
//!   one round; it now runs four);
//! - order status read, then cancelled on what was read:
//!   `race_cancel_against_payment` found a paid order cancelled without a
//!   refund (3 in 3).
//!
//! The SQL backends are held to the same tests with many connections, and
//! PostgreSQL also with two servers (two connection pools) sharing the
//! database: each race spreads its tasks over every server of the harness.

use std::sync::Arc;

use chrono::Duration;

use super::{Harness, Spawn, expect, guest, new_key};
use crate::cart::CartOwner;
use crate::ids::CustomerId;
use crate::order::OrderStatus;
use crate::outbox::EventKind;
use crate::payment::PaymentStatus;
use crate::quantity::Quantity;
use crate::service::CommerceError;
use crate::storage::{PaymentOutcome, Store};

fn q(n: i64) -> Quantity {
    expect(Quantity::new(n), "quantity")
}

async fn join_all<T: Send + 'static>(
    handles: Vec<crate::payment::BoxFuture<'static, T>>,
) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await);
    }
    out
}

/// Every owner checks out at the same instant, each on its own task.
async fn checkout_all<S: Store + 'static, R: Spawn>(
    h: &Arc<Harness<S>>,
    rt: &R,
    owners: Vec<CartOwner>,
    customer: Option<CustomerId>,
) -> Vec<Result<crate::order::Order, CommerceError>> {
    let tasks = owners
        .into_iter()
        .enumerate()
        .map(|(i, owner)| {
            let h = Arc::clone(h);
            rt.spawn(async move {
                h.server(i)
                    .checkout(Harness::<S>::checkout_request(&owner, customer))
                    .await
            })
        })
        .collect();
    join_all(tasks).await
}

/// Eight adds to one cart at once, each of its own variant, on as many
/// servers as the harness has: a save is a compare-and-set on the cart's
/// version, so every add that answered is in the cart — none lost to
/// another's save — and an add that gave up answered a conflict. Then a
/// stale save of an older version is refused and changes nothing.
pub async fn race_8_adds_to_one_cart<S: Store + 'static, R: Spawn>(h: Arc<Harness<S>>, rt: &R) {
    let (_, store) = h.seller("race-cart").await;
    let mut variants = Vec::new();
    for i in 0..8 {
        variants.push(
            h.product(store, None, &format!("Part {i}"), "3.00", 10)
                .await,
        );
    }
    let owner = guest();
    let tasks = variants
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (h, owner) = (Arc::clone(&h), owner.clone());
            rt.spawn(async move { h.server(i).add_to_cart(&owner, v, q(1)).await })
        })
        .collect();
    let results = join_all(tasks).await;
    let cart = expect(h.commerce.cart(&owner).await, "cart");
    for (v, r) in variants.iter().zip(&results) {
        let held = cart.lines.iter().any(|l| l.variant_id == *v);
        match r {
            Ok(_) => assert!(held, "an add that answered is in the cart: {results:?}"),
            Err(CommerceError::Conflict) => assert!(!held, "a refused add changed the cart"),
            Err(e) => panic!("add: {e:?}"),
        }
    }
    assert!(
        results.iter().any(Result::is_ok),
        "at least one add wins: {results:?}"
    );
    assert_eq!(
        cart.lines.len(),
        results.iter().filter(|r| r.is_ok()).count(),
        "one line per saved add"
    );

    let mut stale = cart.clone();
    stale.version -= 1;
    stale.lines.clear();
    assert_eq!(
        expect(h.store().save_cart(stale).await, "save"),
        Err(crate::storage::CartChanged),
        "a stale save is refused"
    );
    let now = expect(h.commerce.cart(&owner).await, "cart");
    assert_eq!(now.lines.len(), cart.lines.len(), "and changes nothing");
}

/// 32 buyers for the last 5 units: exactly 5 orders, the rest refused,
/// available 0. Four rounds, so that one lucky interleaving cannot hide a
/// broken backend.
pub async fn race_32_buyers_for_5_units<S: Store + 'static, R: Spawn>(h: Arc<Harness<S>>, rt: &R) {
    let (_, store) = h.seller("race-stock").await;
    for round in 0..4 {
        let v = h.product(store, None, "Last units", "10.00", 5).await;
        let mut buyers = Vec::new();
        for _ in 0..32 {
            let owner = guest();
            expect(h.commerce.add_to_cart(&owner, v, q(1)).await, "add");
            buyers.push(owner);
        }
        let results = checkout_all(&h, rt, buyers, None).await;
        let placed = results.iter().filter(|r| r.is_ok()).count();
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(CommerceError::InsufficientStock(_))))
            .count();
        assert_eq!(placed, 5, "round {round}: exactly 5 orders: {results:?}");
        assert_eq!(
            refused, 27,
            "round {round}: every other buyer is told the stock is short"
        );
        assert_eq!(
            h.stock(v).await,
            crate::inventory::Stock {
                on_hand: 5,
                reserved: 5
            },
            "round {round}"
        );
    }
}

/// A `usage_limit = 1` code and 16 buyers: one redemption. Four rounds.
pub async fn race_16_buyers_for_a_single_use_code<S: Store + 'static, R: Spawn>(
    h: Arc<Harness<S>>,
    rt: &R,
) {
    let (_, store) = h.seller("race-code").await;
    let v = h.product(store, None, "Gadget", "50.00", 100).await;
    for round in 0..4 {
        let code = format!("ONLYONE{round}");
        let json = format!(
            r#"{{"name":"Only one","code":"{code}","usage_limit":1,"action":{{"type":"percentage","percent":"50"}}}}"#
        );
        let promo = h.promotion(&json).await;
        let mut buyers = Vec::new();
        for _ in 0..16 {
            let owner = guest();
            expect(h.commerce.add_to_cart(&owner, v, q(1)).await, "add");
            expect(h.commerce.apply_code(&owner, None, &code).await, "code");
            buyers.push(owner);
        }
        let results = checkout_all(&h, rt, buyers, None).await;
        let discounted = results
            .iter()
            .filter(|r| matches!(r, Ok(o) if o.promotions.iter().any(|p| p.promotion_id == promo)))
            .count();
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(CommerceError::DiscountUsageExceeded)))
            .count();
        assert_eq!(discounted, 1, "round {round}: {results:?}");
        assert_eq!(refused, 15, "round {round}: {results:?}");
    }
}

/// One customer on 8 tasks against `per_customer_limit = 1`: one redemption.
pub async fn race_one_customer_8_tasks_per_customer_limit<S: Store + 'static, R: Spawn>(
    h: Arc<Harness<S>>,
    rt: &R,
) {
    let (_, store) = h.seller("race-customer").await;
    let v = h.product(store, None, "Widget", "20.00", 100).await;
    let promo = h.promotion(r#"{"name":"Once each","code":"ONCEEACH","per_customer_limit":1,"action":{"type":"fixed_amount","amount":{"amount":"5.00","currency":"USD"}}}"#).await;
    let customer = CustomerId::new();
    // Eight carts of one customer (eight devices, one account each time).
    let mut carts = Vec::new();
    for _ in 0..8 {
        let owner = guest();
        expect(h.commerce.add_to_cart(&owner, v, q(1)).await, "add");
        expect(
            h.commerce
                .apply_code(&owner, Some(customer), "ONCEEACH")
                .await,
            "code",
        );
        carts.push(owner);
    }
    let results = checkout_all(&h, rt, carts, Some(customer)).await;
    let discounted = results
        .iter()
        .filter(|r| matches!(r, Ok(o) if o.promotions.iter().any(|p| p.promotion_id == promo)))
        .count();
    assert_eq!(discounted, 1, "{results:?}");
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Err(CommerceError::DiscountUsageExceeded)))
            .count(),
        7
    );
}

/// One webhook delivered 10 times at once: one payment applied, one event.
/// Four rounds.
pub async fn race_webhook_delivered_10_times<S: Store + 'static, R: Spawn>(
    h: Arc<Harness<S>>,
    rt: &R,
) {
    let (_, store) = h.seller("race-webhook").await;
    let v = h.product(store, None, "Printer", "120.00", 10).await;
    for round in 0..4 {
        let order = expect(h.guest_buys(v, 1).await, "checkout");
        let payment = expect(
            h.commerce
                .start_payment(order.id, "sandbox", &new_key())
                .await,
            "start",
        );
        let hook = expect(
            h.sandbox.complete(&payment.reference, true, h.clock_now()),
            "complete",
        );
        let tasks = (0..10)
            .map(|i| {
                let (h, hook) = (Arc::clone(&h), hook.clone());
                rt.spawn(async move {
                    h.server(i)
                        .handle_webhook("sandbox", &hook.headers, &hook.body)
                        .await
                })
            })
            .collect();
        let results = join_all(tasks).await;
        let paid = results
            .iter()
            .filter(|r| matches!(r, Ok(PaymentOutcome::Paid(_))))
            .count();
        let replays = results
            .iter()
            .filter(|r| matches!(r, Ok(PaymentOutcome::AlreadyApplied)))
            .count();
        assert_eq!((paid, replays), (1, 9), "round {round}: {results:?}");
        let audit = expect(h.store().audit().await, "audit");
        let paid_events = audit
            .events
            .iter()
            .filter(
                |e| matches!(e.kind, EventKind::OrderPaid { order_id, .. } if order_id == order.id),
            )
            .count();
        assert_eq!(paid_events, 1, "round {round}");
    }
    assert_eq!(
        h.stock(v).await,
        crate::inventory::Stock {
            on_hand: 6,
            reserved: 0
        }
    );
}

/// Cancel and payment success at the same instant: paid, or cancelled with
/// the money flagged for refund — never both, and stock consistent.
pub async fn race_cancel_against_payment<S: Store + 'static, R: Spawn>(h: Arc<Harness<S>>, rt: &R) {
    let (_, store) = h.seller("race-cancel").await;
    let v = h.product(store, None, "Bike", "300.00", 20).await;
    for round in 0..10 {
        let order = expect(h.guest_buys(v, 1).await, "checkout");
        let payment = expect(
            h.commerce
                .start_payment(order.id, "sandbox", &new_key())
                .await,
            "start",
        );
        let hook = expect(
            h.sandbox.complete(&payment.reference, true, h.clock_now()),
            "complete",
        );
        let (h1, h2) = (Arc::clone(&h), Arc::clone(&h));
        let cancel = rt.spawn(async move { h1.server(round).cancel_order(order.id, "race").await });
        let pay = rt.spawn(async move {
            h2.server(round + 1)
                .handle_webhook("sandbox", &hook.headers, &hook.body)
                .await
        });
        let (cancelled, paid) = (cancel.await, pay.await);
        let o = expect(h.commerce.order(order.id).await, "order");
        let p = expect(h.store().payment(payment.id).await, "payment").map(|p| p.status);
        match o.status {
            // Payment first, then cancel: paid, then cancelled with a full refund.
            OrderStatus::Cancelled if o.paid_by.is_some() => {
                assert!(
                    matches!(paid, Ok(PaymentOutcome::Paid(_))),
                    "round {round}: {paid:?}"
                );
                assert_eq!(expect(o.refunded(), "sum"), o.captured);
            }
            // Cancel first: the payment is voided, then its money flagged for refund.
            OrderStatus::Cancelled => {
                assert!(cancelled.is_ok(), "round {round}");
                assert_eq!(p, Some(PaymentStatus::RefundRequired), "round {round}");
            }
            other => panic!("round {round}: the order ended {other} ({cancelled:?}, {paid:?})"),
        }
    }
    let s = h.stock(v).await;
    assert_eq!(s.reserved, 0);
    assert_eq!(
        s.on_hand, 20,
        "every unit came back: each order was cancelled"
    );
}

/// An admin's update of a promotion racing another's delete of it, each on
/// its own server, 8 times: the delete always finds it, the update either
/// ran first or answers `NotFound`, and the promotion is gone at the end (an
/// update never brings a deleted promotion back).
pub async fn race_update_against_delete_of_a_promotion<S: Store + 'static, R: Spawn>(
    h: Arc<Harness<S>>,
    rt: &R,
) {
    for round in 0..8_usize {
        let id = h
            .promotion(&format!(
                r#"{{"name":"Race","code":"RACE{round}","action":{{"type":"percentage","percent":"5"}}}}"#
            ))
            .await;
        let mut spec = expect(h.store().promotions().await, "promotions")
            .into_iter()
            .find(|p| p.id() == id)
            .unwrap_or_else(|| panic!("round {round}: the promotion is stored"))
            .spec()
            .clone();
        spec.name = "Race, renamed".to_owned();
        let (h1, h2) = (Arc::clone(&h), Arc::clone(&h));
        let update = rt.spawn(async move { h1.server(round).update_promotion(id, spec).await });
        let delete = rt.spawn(async move { h2.server(round + 1).delete_promotion(id).await });
        let (updated, deleted) = (update.await, delete.await);
        assert!(
            deleted.is_ok(),
            "round {round}: the delete finds it, before or after the update ({deleted:?})"
        );
        assert!(
            matches!(
                updated,
                Ok(_) | Err(crate::service::CommerceError::NotFound("promotion"))
            ),
            "round {round}: {updated:?}"
        );
        let left = expect(h.store().promotions().await, "promotions");
        assert!(
            left.iter().all(|p| p.id() != id),
            "round {round}: deleted, whatever the update did ({updated:?})"
        );
    }
}

/// Expiry sweeps on 4 tasks while payments arrive: each order expires or is
/// paid (a late payment may re-sell it), and nothing is released twice.
pub async fn race_expiry_sweeps_against_payments<S: Store + 'static, R: Spawn>(
    h: Arc<Harness<S>>,
    rt: &R,
) {
    let (_, store) = h.seller("race-expiry").await;
    let v = h.product(store, None, "Lantern", "15.00", 40).await;
    let mut references = Vec::new();
    let mut orders = Vec::new();
    for _ in 0..20 {
        let order = expect(h.guest_buys(v, 2).await, "checkout");
        let payment = expect(
            h.commerce
                .start_payment(order.id, "sandbox", &new_key())
                .await,
            "start",
        );
        references.push(payment.reference);
        orders.push(order.id);
    }
    // The reservations run out; the buyers pay at that very moment.
    h.clock.advance(Duration::minutes(15));
    let hooks: Vec<_> = references
        .iter()
        .map(|r| expect(h.sandbox.complete(r, true, h.clock_now()), "complete"))
        .collect();
    let mut tasks = Vec::new();
    for sweeper in 0..4 {
        let h = Arc::clone(&h);
        tasks.push(rt.spawn(async move {
            let mut n = 0;
            for _ in 0..5 {
                n += h
                    .server(sweeper)
                    .expire_due(3)
                    .await
                    .map(|v| v.len())
                    .unwrap_or(0);
            }
            n
        }));
    }
    let pays: Vec<_> = hooks
        .into_iter()
        .enumerate()
        .map(|(i, hook)| {
            let h = Arc::clone(&h);
            rt.spawn(async move {
                let r = h
                    .server(i + 1)
                    .handle_webhook("sandbox", &hook.headers, &hook.body)
                    .await;
                usize::from(matches!(r, Ok(PaymentOutcome::Paid(_))))
            })
        })
        .collect();
    let expired_by_sweeps: usize = join_all(tasks).await.into_iter().sum();
    let paid: usize = join_all(pays).await.into_iter().sum();
    let audit = expect(h.store().audit().await, "audit");
    let expired_events = audit
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::OrderExpired { .. }))
        .count();
    assert_eq!(
        expired_events, expired_by_sweeps,
        "each expiry counted once"
    );
    assert_eq!(
        paid, 20,
        "stock allowed every late payment to be sold again"
    );
    for id in orders {
        assert_eq!(
            expect(h.commerce.order(id).await, "order").status,
            OrderStatus::Paid
        );
    }
    assert_eq!(
        h.stock(v).await,
        crate::inventory::Stock {
            on_hand: 0,
            reserved: 0
        }
    );
}

/// The same checkout key on 8 tasks: one order; the others replay it or are
/// told it is in progress.
pub async fn race_same_checkout_key_on_8_tasks<S: Store + 'static, R: Spawn>(
    h: Arc<Harness<S>>,
    rt: &R,
) {
    let (_, store) = h.seller("race-key").await;
    let v = h.product(store, None, "Drone", "250.00", 10).await;
    let owner: CartOwner = guest();
    expect(h.commerce.add_to_cart(&owner, v, q(1)).await, "add");
    let request = Harness::<S>::checkout_request(&owner, None);
    let tasks = (0..8)
        .map(|i| {
            let (h, request) = (Arc::clone(&h), request.clone());
            rt.spawn(async move { h.server(i).checkout(request).await })
        })
        .collect();
    let results = join_all(tasks).await;
    let ids: std::collections::HashSet<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|o| o.id))
        .collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(CommerceError::IdempotencyInProgress))),
        "{results:?}"
    );
    assert_eq!(expect(h.store().audit().await, "audit").orders.len(), 1);
    assert_eq!(h.stock(v).await.reserved, 1);
}

/// One refresh token presented 8 times at once: one rotation; the others
/// look like a stolen token and revoke the family. A login code and a
/// single-use token checked 8 times at once: accepted once.
pub async fn race_credentials_used_8_times_at_once<S: Store + 'static, R: Spawn>(
    h: Arc<Harness<S>>,
    rt: &R,
) {
    use crate::credentials::{
        CodeCheck, OneTimeSecret, RefreshSession, Rotation, SecretDigest, SecretPurpose,
        SessionRenewal,
    };
    use crate::ids::{SessionFamilyId, SessionId};
    fn digest(secret: &str) -> SecretDigest {
        use sha2::{Digest, Sha256};
        SecretDigest::from_bytes(Sha256::digest(secret.as_bytes()).into())
    }
    let now = h.clock_now();
    let ada = expect(
        h.commerce
            .register("race-credentials@example.com", None, None)
            .await,
        "account",
    )
    .id;
    let family = SessionFamilyId::new();
    expect(
        h.store()
            .create_session(RefreshSession {
                id: SessionId::new(),
                family,
                account_id: ada,
                digest: digest("r0"),
                expires_at: now + Duration::days(1),
                created_at: now,
            })
            .await,
        "session",
    );
    let rotations = (0..8)
        .map(|i| {
            let h = Arc::clone(&h);
            rt.spawn(async move {
                let renewal = SessionRenewal {
                    id: SessionId::new(),
                    digest: digest(&format!("r1-{i}")),
                    expires_at: now + Duration::days(1),
                };
                h.server(i)
                    .store()
                    .rotate_session(digest("r0"), renewal, now)
                    .await
            })
        })
        .collect();
    let rotations: Vec<_> = join_all(rotations)
        .await
        .into_iter()
        .map(|r| expect(r, "rotate"))
        .collect();
    let rotated = rotations
        .iter()
        .filter(|r| matches!(r, Rotation::Rotated { .. }))
        .count();
    let reused = rotations
        .iter()
        .filter(|r| matches!(r, Rotation::Reused { .. }))
        .count();
    // After the first reuse has revoked the family, the rest find it revoked.
    assert_eq!(rotated, 1, "{rotations:?}");
    assert!(reused >= 1, "{rotations:?}");
    for i in 0..8 {
        let renewal = SessionRenewal {
            id: SessionId::new(),
            digest: digest("r2"),
            expires_at: now + Duration::days(1),
        };
        let next = expect(
            h.store()
                .rotate_session(digest(&format!("r1-{i}")), renewal, now)
                .await,
            "renewal",
        );
        assert_eq!(
            next,
            Rotation::Invalid,
            "the renewal's family is revoked too"
        );
    }

    let secret = |purpose, value: &str, attempts_left| OneTimeSecret {
        account_id: ada,
        purpose,
        digest: digest(value),
        expires_at: now + Duration::minutes(5),
        attempts_left,
        created_at: now,
    };
    expect(
        h.store()
            .put_secret(secret(SecretPurpose::LoginOtp, "654321", 5))
            .await,
        "code",
    );
    expect(
        h.store()
            .put_secret(secret(SecretPurpose::PasswordReset, "reset", 0))
            .await,
        "token",
    );
    let checks = (0..8)
        .map(|i| {
            let h = Arc::clone(&h);
            rt.spawn(async move {
                h.server(i)
                    .store()
                    .check_code(ada, SecretPurpose::LoginOtp, digest("654321"), now)
                    .await
            })
        })
        .collect();
    let checks: Vec<_> = join_all(checks)
        .await
        .into_iter()
        .map(|r| expect(r, "check"))
        .collect();
    assert_eq!(
        checks.iter().filter(|c| **c == CodeCheck::Accepted).count(),
        1,
        "{checks:?}"
    );
    let takes = (0..8)
        .map(|i| {
            let h = Arc::clone(&h);
            rt.spawn(async move {
                h.server(i)
                    .store()
                    .take_token(SecretPurpose::PasswordReset, digest("reset"), now)
                    .await
            })
        })
        .collect();
    let takes: Vec<_> = join_all(takes)
        .await
        .into_iter()
        .map(|r| expect(r, "take"))
        .collect();
    assert_eq!(takes.iter().filter(|t| t.is_some()).count(), 1, "{takes:?}");
}
