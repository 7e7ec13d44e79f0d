//! The sequential conformance tests: each trait contract and each shopper,
//! seller and operator rule that lives at the store or service level.

use std::collections::BTreeMap;

use chrono::Duration;

use super::{Harness, expect, guest, new_key, usd};
use crate::cart::CartOwner;
use crate::idempotency::{Begin, Fingerprint};
use crate::ids::{CategoryId, CustomerId, EventId, ProductId, VariantId};
use crate::order::{OrderEvent, OrderStatus};
use crate::outbox::EventKind;
use crate::payment::{PaymentGateway, PaymentStatus};
use crate::pricing::{NotApplied, Outcome};
use crate::quantity::Quantity;
use crate::service::{CartIssue, CommerceError};
use crate::storage::{CartWithVariants, PaymentOutcome, Store};

fn q(n: i64) -> Quantity {
    expect(Quantity::new(n), "quantity")
}

async fn events<S: Store>(h: &Harness<S>) -> Vec<EventKind> {
    expect(h.store().audit().await, "audit")
        .events
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// Stock cannot go below what is reserved; falling to the low-stock
/// threshold tells the owner once (5 → 3 yes, 3 → 2 no, 1 → 2 no).
pub async fn stock_changes_respect_reservations_and_alert_once<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("alerts").await;
    let v = h.product(store, None, "Lamp", "10.00", 5).await;
    let low = |ev: &Vec<EventKind>| {
        ev.iter()
            .filter(|e| matches!(e, EventKind::LowStock { .. }))
            .count()
    };

    expect(h.commerce.set_stock(v, 3).await, "5 -> 3");
    assert_eq!(low(&events(h).await), 1, "5 -> 3 crosses the threshold");
    expect(h.commerce.set_stock(v, 2).await, "3 -> 2");
    expect(h.commerce.set_stock(v, 1).await, "2 -> 1");
    expect(h.commerce.set_stock(v, 2).await, "1 -> 2");
    assert_eq!(
        low(&events(h).await),
        1,
        "no alert below the threshold or upward"
    );

    expect(h.commerce.set_stock(v, 10).await, "restock");
    let order = expect(h.guest_buys(v, 4).await, "checkout");
    assert_eq!(h.stock(v).await.reserved, 4);
    let refused = h.commerce.set_stock(v, 3).await;
    assert!(
        matches!(
            refused,
            Err(CommerceError::Validation {
                field: "on_hand",
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(
        h.stock(v).await.on_hand,
        10,
        "a refused change changes nothing"
    );
    assert!(h.commerce.set_stock(v, 4).await.is_ok());
    assert_eq!(
        low(&events(h).await),
        2,
        "10 on hand − 4 reserved = 6 → 0 available crosses again"
    );
    let _ = order;
}

/// Two variants may not share a SKU.
pub async fn skus_are_unique<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("skus").await;
    let v = h.product(store, None, "Mug", "5.00", 1).await;
    let existing = expect(h.store().variants(&[v]).await, "variants").remove(0);
    let mut clash = existing.variant.clone();
    clash.id = crate::ids::VariantId::new();
    let mut product = existing.product.clone();
    product.id = ProductId::new();
    let r = h.store().put_product(product, vec![clash]).await;
    assert!(
        matches!(r, Err(crate::storage::StoreError::Duplicate { .. })),
        "{r:?}"
    );
}

/// A variant added twice is one line; quantities are capped by stock and
/// 999; unknown variants are refused and change nothing.
pub async fn cart_merges_lines_and_caps_quantities<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("carts").await;
    let v = h.product(store, None, "Sock", "3.00", 5).await;
    let owner = guest();
    expect(h.commerce.add_to_cart(&owner, v, q(2)).await, "add");
    let cart = expect(h.commerce.add_to_cart(&owner, v, q(2)).await, "add again");
    assert_eq!(cart.lines.len(), 1);
    assert_eq!(cart.lines[0].quantity.get(), 4);

    let over = h.commerce.add_to_cart(&owner, v, q(2)).await;
    match over {
        Err(CommerceError::InsufficientStock(short)) => {
            assert_eq!((short[0].requested, short[0].available), (6, 5))
        }
        other => panic!("expected insufficient stock, got {other:?}"),
    }
    let unknown = h
        .commerce
        .add_to_cart(&owner, crate::ids::VariantId::new(), q(1))
        .await;
    assert!(matches!(unknown, Err(CommerceError::ProductUnavailable(_))));
    let cart = expect(h.commerce.cart(&owner).await, "cart");
    assert_eq!(
        cart.lines[0].quantity.get(),
        4,
        "refused adds change nothing"
    );

    let big = h.product(store, None, "Bolt", "0.10", 5000).await;
    expect(h.commerce.add_to_cart(&owner, big, q(999)).await, "999");
    let capped = h.commerce.add_to_cart(&owner, big, q(1)).await;
    assert!(
        matches!(
            capped,
            Err(CommerceError::Validation {
                field: "quantity",
                ..
            })
        ),
        "{capped:?}"
    );
    let line = expect(h.commerce.cart(&owner).await, "cart")
        .lines
        .iter()
        .find(|l| l.variant_id == big)
        .map(|l| l.id);
    let line = line.unwrap_or_else(|| panic!("line missing"));
    let r = h.commerce.set_quantity(&owner, line, 1000).await;
    assert!(
        matches!(
            r,
            Err(CommerceError::Validation {
                field: "quantity",
                ..
            })
        ),
        "{r:?}"
    );
}

/// Setting a quantity to zero removes the line.
pub async fn cart_quantity_zero_removes_the_line<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("zero").await;
    let v = h.product(store, None, "Cup", "4.00", 5).await;
    let owner = guest();
    let cart = expect(h.commerce.add_to_cart(&owner, v, q(2)).await, "add");
    let cart = expect(
        h.commerce.set_quantity(&owner, cart.lines[0].id, 0).await,
        "zero",
    );
    assert!(cart.lines.is_empty());
    let missing = h
        .commerce
        .set_quantity(&owner, crate::ids::LineId::new(), 1)
        .await;
    assert!(matches!(missing, Err(CommerceError::NotFound(_))));
}

/// Guest {A×2} and account {A×1, B×1} merge to {A×3, B×1} on login, capped
/// by what is available; the guest cart is gone.
pub async fn guest_cart_merges_into_account_on_login<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("merge").await;
    let a = h.product(store, None, "A", "1.00", 10).await;
    let b = h.product(store, None, "B", "1.00", 10).await;
    let c = h.product(store, None, "C", "1.00", 2).await;
    let g = guest();
    let account = CartOwner::Account(CustomerId::new());
    expect(h.commerce.add_to_cart(&g, a, q(2)).await, "guest A");
    expect(h.commerce.add_to_cart(&g, c, q(2)).await, "guest C");
    expect(h.commerce.add_to_cart(&account, a, q(1)).await, "account A");
    expect(h.commerce.add_to_cart(&account, b, q(1)).await, "account B");
    expect(h.commerce.add_to_cart(&account, c, q(1)).await, "account C");
    let merged = expect(h.commerce.merge_guest_cart(&g, &account).await, "merge");
    let qty = |v| {
        merged
            .lines
            .iter()
            .find(|l| l.variant_id == v)
            .map(|l| l.quantity.get())
    };
    assert_eq!(
        (qty(a), qty(b), qty(c)),
        (Some(3), Some(1), Some(2)),
        "C is capped by the 2 available"
    );
    assert!(
        expect(h.store().cart_of(&g).await, "guest cart").is_none(),
        "the guest cart is gone"
    );
    let again = expect(
        h.commerce.merge_guest_cart(&g, &account).await,
        "merge twice",
    );
    assert_eq!(again.lines.len(), 3, "merging twice adds nothing");
    assert_eq!(again.lines.iter().map(|l| l.quantity.get()).sum::<u32>(), 6);
}

/// Two guests never see each other's carts; a guessed token finds nothing.
pub async fn guest_carts_are_isolated<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("isolated").await;
    let v = h.product(store, None, "Pen", "1.00", 10).await;
    let (g1, g2) = (guest(), guest());
    expect(h.commerce.add_to_cart(&g1, v, q(3)).await, "g1");
    let other = expect(h.commerce.cart(&g2).await, "g2");
    assert!(other.lines.is_empty());
    let guessed = CartOwner::Guest(crate::cart::CartToken::generate());
    assert!(expect(h.store().cart_of(&guessed).await, "guess").is_none());
}

/// A cart read with its variants
/// ([`crate::storage::CartStore::cart_with_variants`]) is
/// what the two reads give: the cart as stored (none when there is none),
/// and the record of every line's variant and of the one asked for besides
/// that exists (a withdrawn product's included, a vanished variant's not),
/// each once.
pub async fn cart_with_variants_is_the_cart_and_its_lines_records<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("cart-reads").await;
    let a = h.product(store, None, "Apron", "12.00", 5).await;
    let b = h.product(store, None, "Bowl", "7.50", 5).await;
    let c = h.product(store, None, "Cloth", "3.00", 5).await;
    let gone = VariantId::new();
    let owner = guest();
    let read = |also: Option<VariantId>| {
        let owner = owner.clone();
        async move {
            let (cart, mut records) = expect(
                h.store().cart_with_variants(&owner, also).await,
                "cart and variants",
            );
            records.sort_by_key(|r| r.variant.id);
            (cart, records)
        }
    };
    let records_of = |ids: Vec<VariantId>| async move {
        let mut records = expect(h.store().variants(&ids).await, "variants");
        records.sort_by_key(|r| r.variant.id);
        records
    };

    assert_eq!(read(None).await, (None, vec![]), "no cart, nothing");
    assert_eq!(
        read(Some(a)).await,
        (None, records_of(vec![a]).await),
        "no cart: the record asked for"
    );
    assert_eq!(
        read(Some(gone)).await,
        (None, vec![]),
        "no cart, no such variant"
    );
    let created = expect(h.commerce.cart(&owner).await, "create");
    assert_eq!(read(None).await, (Some(created), vec![]), "an empty cart");

    expect(h.commerce.add_to_cart(&owner, a, q(1)).await, "add a");
    let cart = expect(h.commerce.add_to_cart(&owner, b, q(2)).await, "add b");
    h.withdraw(b).await;
    // A line whose variant no store has (written past the engine's checks).
    let mut odd = cart;
    odd.lines.push(crate::cart::CartLine {
        id: crate::ids::LineId::new(),
        variant_id: gone,
        quantity: q(1),
        price_when_added: usd("1.00"),
    });
    expect(
        expect(h.store().save_cart(odd).await, "save").map_err(|_| "changed"),
        "cart saved",
    );
    let stored = expect(h.store().cart_of(&owner).await, "cart");
    assert_eq!(stored.as_ref().map(|c| c.lines.len()), Some(3));
    let lines = records_of(vec![a, b]).await;
    assert!(
        lines.iter().any(|r| r.product.deleted_at.is_some()),
        "the withdrawn product is read as withdrawn"
    );
    assert_eq!(
        read(None).await,
        (stored.clone(), lines.clone()),
        "the cart as stored; a's and b's records, nothing for the third line"
    );
    assert_eq!(
        read(Some(a)).await,
        (stored.clone(), lines.clone()),
        "a line's variant asked for again is read once"
    );
    assert_eq!(
        read(Some(c)).await,
        (stored.clone(), records_of(vec![a, b, c]).await),
        "the lines' records and the one asked for"
    );
    assert_eq!(
        read(Some(gone)).await,
        (stored, lines),
        "no record for a variant no store has"
    );
}

/// A claim with the cart ([`crate::storage::CartStore::begin_with_cart`])
/// answers what `begin` answers, and only a claim it takes reads the cart,
/// as `cart_with_variants` reads it: a first call takes the key and reads
/// the cart; the same key again is in progress, then a replay once
/// completed, or a mismatch with another fingerprint (nothing read); a
/// released key is taken again; an owner without a cart reads none.
pub async fn begin_with_cart_claims_then_reads<S: Store>(h: &Harness<S>) {
    let s = h.store();
    let (_, store) = h.seller("claims").await;
    let a = h.product(store, None, "Apron", "12.00", 5).await;
    let b = h.product(store, None, "Bowl", "7.50", 5).await;
    let owner = guest();
    expect(h.commerce.add_to_cart(&owner, a, q(1)).await, "add a");
    expect(h.commerce.add_to_cart(&owner, b, q(2)).await, "add b");
    let sorted = |read: CartWithVariants| {
        let (cart, mut records) = read;
        records.sort_by_key(|r| r.variant.id);
        (cart, records)
    };
    let expected = sorted(expect(s.cart_with_variants(&owner, None).await, "read"));
    assert_eq!(expected.1.len(), 2, "both lines' records");
    let now = h.clock_now();
    let lock = now + Duration::seconds(30);
    let key = new_key();
    let fp = Fingerprint::of(&[b"checkout"]);
    let claim = |scope: &'static str, fp: Fingerprint, owner: CartOwner| {
        let key = key.clone();
        async move {
            expect(
                s.begin_with_cart(scope, &key, fp, now, lock, &owner).await,
                "begin with cart",
            )
            .map(sorted)
        }
    };

    assert_eq!(
        claim("c", fp, owner.clone()).await,
        Ok(expected.clone()),
        "a new key: taken, and the cart with its lines' records"
    );
    assert_eq!(
        expect(s.begin("c", &key, fp, now, lock).await, "begin"),
        Begin::InProgress,
        "the claim was taken"
    );
    assert_eq!(
        claim("c", fp, owner.clone()).await,
        Err(Begin::InProgress),
        "the same key while it runs"
    );
    assert_eq!(
        claim("c", Fingerprint::of(&[b"other"]), owner.clone()).await,
        Err(Begin::Mismatch),
        "the same key for another request"
    );
    expect(s.complete("c", &key, "done".into()).await, "complete");
    assert_eq!(
        claim("c", fp, owner.clone()).await,
        Err(Begin::Replay("done".into())),
        "a completed key replays"
    );
    assert_eq!(
        claim("d", fp, owner.clone()).await,
        Ok(expected),
        "keys are scoped"
    );
    expect(s.release("d", &key).await, "release");
    assert_eq!(
        claim("d", fp, guest()).await,
        Ok((None, vec![])),
        "a released key is taken again; an owner without a cart reads none"
    );
}

/// A claim with an order ([`crate::storage::OrderStore::begin_with_order`])
/// answers what `begin` answers, and only a claim it takes reads the order,
/// as `order` reads it (refunds included); an order that does not exist
/// reads `None` with the claim taken.
pub async fn begin_with_order_claims_then_reads<S: Store>(h: &Harness<S>) {
    let s = h.store();
    let (_, store) = h.seller("order-claims").await;
    let v = h.product(store, None, "Ewer", "30.00", 5).await;
    let order = expect(h.guest_buys(v, 1).await, "checkout");
    let refunded = expect(h.guest_buys(v, 1).await, "checkout");
    h.pay(refunded.id).await;
    expect(
        expect(
            s.refund(refunded.id, usd("10.00"), "chipped", h.clock_now())
                .await,
            "refund",
        )
        .map_err(|e| e.to_string()),
        "refunded",
    );
    let now = h.clock_now();
    let lock = now + Duration::seconds(30);
    let fp = Fingerprint::of(&[b"mail"]);
    let claim = |key: crate::idempotency::IdempotencyKey,
                 fp: Fingerprint,
                 id: crate::ids::OrderId| async move {
        expect(
            s.begin_with_order("mail", &key, fp, now, lock, id).await,
            "begin with order",
        )
    };
    let stored = |id| async move { expect(s.order(id).await, "order") };

    let key = new_key();
    assert_eq!(
        claim(key.clone(), fp, order.id).await,
        Ok(stored(order.id).await),
        "a new key: taken, and the order"
    );
    assert_eq!(
        expect(s.begin("mail", &key, fp, now, lock).await, "begin"),
        Begin::InProgress,
        "the claim was taken"
    );
    assert_eq!(
        claim(key.clone(), fp, order.id).await,
        Err(Begin::InProgress),
        "the same key while it runs"
    );
    assert_eq!(
        claim(key.clone(), Fingerprint::of(&[b"other"]), order.id).await,
        Err(Begin::Mismatch),
        "the same key for another effect"
    );
    expect(s.complete("mail", &key, "sent".into()).await, "complete");
    assert_eq!(
        claim(key, fp, order.id).await,
        Err(Begin::Replay("sent".into())),
        "a completed key replays"
    );

    let with_refunds = stored(refunded.id).await;
    assert_eq!(
        with_refunds.as_ref().map(|o| o.refunds.len()),
        Some(1),
        "the refunded order has its refund"
    );
    assert_eq!(
        claim(new_key(), fp, refunded.id).await,
        Ok(with_refunds),
        "an order with refunds is read with them"
    );
    let missing = new_key();
    assert_eq!(
        claim(missing.clone(), fp, crate::ids::OrderId::new()).await,
        Ok(None),
        "no such order"
    );
    assert_eq!(
        expect(s.begin("mail", &missing, fp, now, lock).await, "begin"),
        Begin::InProgress,
        "the claim is taken even without an order"
    );
}

/// A price change after adding is shown; checkout refuses once, then accepts.
pub async fn price_change_is_reported_then_accepted<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("prices").await;
    let v = h.product(store, None, "Hat", "20.00", 5).await;
    let owner = guest();
    expect(h.commerce.add_to_cart(&owner, v, q(1)).await, "add");
    let mut record = expect(h.store().variants(&[v]).await, "variants").remove(0);
    record.variant.price = expect(crate::catalog::VariantPrice::fixed(usd("22.00")), "price");
    expect(
        h.store()
            .put_product(record.product, vec![record.variant])
            .await,
        "reprice",
    );

    let view = expect(h.commerce.cart_view(&owner, None).await, "view");
    assert_eq!(
        view.priced.subtotal,
        usd("22.00"),
        "the cart shows the new price"
    );
    assert!(view.issues.iter().any(|i| matches!(i, CartIssue::PriceChanged { was, now, .. } if *was == usd("20.00") && *now == usd("22.00"))));
    let request = Harness::<S>::checkout_request(&owner, None);
    let first = h.commerce.checkout(request.clone()).await;
    assert!(
        matches!(first, Err(CommerceError::PriceChanged)),
        "{first:?}"
    );
    // The refusal acknowledged the new prices: the same request, with the
    // same key, now goes through.
    let order = expect(h.commerce.checkout(request).await, "second checkout");
    assert_eq!(order.total, usd("22.00"));
}

/// A product withdrawn while in a cart: the cart says so; checkout refuses.
pub async fn withdrawn_product_blocks_checkout<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("withdrawn").await;
    let v = h.product(store, None, "Kite", "9.00", 5).await;
    let owner = guest();
    expect(h.commerce.add_to_cart(&owner, v, q(1)).await, "add");
    h.withdraw(v).await;
    let view = expect(h.commerce.cart_view(&owner, None).await, "view");
    assert!(
        view.issues
            .iter()
            .any(|i| matches!(i, CartIssue::ProductUnavailable { .. }))
    );
    assert!(view.priced.lines.is_empty());
    let r = h
        .commerce
        .checkout(Harness::<S>::checkout_request(&owner, None))
        .await;
    assert!(
        matches!(r, Err(CommerceError::ProductUnavailable(id)) if id == v),
        "{r:?}"
    );
    assert_eq!(h.stock(v).await.reserved, 0);
}

/// Codes that are unknown, expired, used up or below their minimum are refused
/// with the reason; a good one applies; codes are case-insensitive.
pub async fn codes_are_refused_with_the_reason<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("codes").await;
    let v = h.product(store, None, "Book", "30.00", 50).await;
    h.promotion(r#"{"name":"Old","code":"OLD","ends_at":"2026-01-01T00:00:00Z","action":{"type":"percentage","percent":"10"}}"#).await;
    h.promotion(r#"{"name":"Big spender","code":"BIG","conditions":[{"type":"min_subtotal","amount":{"amount":"100.00","currency":"USD"}}],"action":{"type":"percentage","percent":"10"}}"#).await;
    h.promotion(r#"{"name":"Once","code":"ONCE","usage_limit":1,"action":{"type":"percentage","percent":"10"}}"#).await;
    h.promotion(r#"{"name":"Ten off","code":"SAVE10","action":{"type":"fixed_amount","amount":{"amount":"10.00","currency":"USD"}}}"#).await;

    let owner = guest();
    expect(h.commerce.add_to_cart(&owner, v, q(1)).await, "add");
    assert!(matches!(
        h.commerce.apply_code(&owner, None, "NOPE").await,
        Err(CommerceError::DiscountCodeInvalid)
    ));
    assert!(matches!(
        h.commerce.apply_code(&owner, None, "bad code!").await,
        Err(CommerceError::DiscountCodeInvalid)
    ));
    let expired = h.commerce.apply_code(&owner, None, "old").await;
    assert!(
        matches!(
            expired,
            Err(CommerceError::DiscountNotApplicable(
                NotApplied::Expired { .. }
            ))
        ),
        "{expired:?}"
    );
    let below = h.commerce.apply_code(&owner, None, "BIG").await;
    assert!(
        matches!(
            below,
            Err(CommerceError::DiscountNotApplicable(
                NotApplied::MinSubtotal { .. }
            ))
        ),
        "{below:?}"
    );

    // Use ONCE up with another buyer.
    let other = guest();
    expect(h.commerce.add_to_cart(&other, v, q(1)).await, "other add");
    expect(
        h.commerce.apply_code(&other, None, "once").await,
        "first use",
    );
    expect(
        h.commerce
            .checkout(Harness::<S>::checkout_request(&other, None))
            .await,
        "first checkout",
    );
    let used = h.commerce.apply_code(&owner, None, "ONCE").await;
    assert!(
        matches!(used, Err(CommerceError::DiscountUsageExceeded)),
        "{used:?}"
    );

    let cart = expect(h.commerce.cart(&owner).await, "cart");
    assert!(cart.codes.is_empty(), "refused codes are not kept");
    let view = expect(
        h.commerce.apply_code(&owner, None, "save10").await,
        "good code",
    );
    assert_eq!(view.priced.discount_total, usd("10.00"));
    assert_eq!(view.cart.codes.len(), 1);
    expect(h.commerce.remove_code(&owner, "SAVE10").await, "remove");
    assert!(
        expect(h.commerce.cart(&owner).await, "cart")
            .codes
            .is_empty()
    );
}

/// Checkout: two lines at 25.00 → 50.00; stock reserved until the reservation
/// expires; the cart is empty; the order is a snapshot later edits never touch.
pub async fn checkout_reserves_snapshots_and_empties_the_cart<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("snap").await;
    let a = h.product(store, None, "Alpha", "25.00", 5).await;
    let b = h.product(store, None, "Beta", "25.00", 5).await;
    let promo = h.promotion(r#"{"name":"5 off","code":"FIVE","action":{"type":"fixed_amount","amount":{"amount":"5.00","currency":"USD"}}}"#).await;
    let owner = guest();
    expect(h.commerce.add_to_cart(&owner, a, q(1)).await, "a");
    expect(h.commerce.add_to_cart(&owner, b, q(1)).await, "b");
    expect(h.commerce.apply_code(&owner, None, "FIVE").await, "code");
    let mut request = Harness::<S>::checkout_request(&owner, None);
    let address = crate::address::AddressInput {
        full_name: "Ada".into(),
        line1: "1 Road".into(),
        line2: None,
        city: "Town".into(),
        region: None,
        postal_code: "12345".into(),
        country: "de".into(),
        phone: None,
    };
    request.shipping_address = Some(expect(crate::address::Address::new(&address), "address"));
    let order = expect(h.commerce.checkout(request).await, "checkout");

    assert_eq!(order.status, OrderStatus::PendingPayment);
    assert_eq!(order.subtotal, usd("50.00"));
    assert_eq!(order.discount_total, usd("5.00"));
    assert_eq!(order.total, usd("45.00"));
    assert_eq!(
        order.reservation_expires_at,
        h.clock_now() + Duration::minutes(15)
    );
    assert_eq!(order.promotions.len(), 1);
    assert_eq!(order.promotions[0].promotion_id, promo);
    assert!(order.number >= 1001);
    assert_eq!(h.stock(a).await.available(), 4);
    assert!(
        expect(h.commerce.cart(&owner).await, "cart")
            .lines
            .is_empty(),
        "the cart is emptied"
    );

    // Catalog and promotion edits never change a placed order.
    let mut record = expect(h.store().variants(&[a]).await, "variants").remove(0);
    record.product.name = "Renamed".into();
    record.variant.price = expect(crate::catalog::VariantPrice::fixed(usd("99.00")), "price");
    expect(
        h.store()
            .put_product(record.product, vec![record.variant])
            .await,
        "edit",
    );
    expect(h.store().delete_promotion(promo).await, "delete promotion");
    let stored = expect(h.commerce.order(order.id).await, "order");
    assert_eq!(stored, order);
    assert_eq!(stored.lines[0].name, "Alpha");
    assert_eq!(
        stored.shipping_address.as_ref().map(|a| a.country()),
        Some("DE")
    );
}

/// An empty cart cannot be checked out; no order is made.
pub async fn empty_cart_cannot_check_out<S: Store>(h: &Harness<S>) {
    let owner = guest();
    let r = h
        .commerce
        .checkout(Harness::<S>::checkout_request(&owner, None))
        .await;
    assert!(matches!(r, Err(CommerceError::CartEmpty)), "{r:?}");
    assert!(expect(h.store().audit().await, "audit").orders.is_empty());
    let mut bad = Harness::<S>::checkout_request(&owner, None);
    bad.email = "not-an-email".into();
    assert!(matches!(
        h.commerce.checkout(bad).await,
        Err(CommerceError::Validation { field: "email", .. })
    ));
}

/// A shortage names every short line with what is available, and reserves nothing.
pub async fn shortage_names_every_short_line<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("short").await;
    let a = h.product(store, None, "A", "1.00", 5).await;
    let b = h.product(store, None, "B", "1.00", 5).await;
    let c = h.product(store, None, "C", "1.00", 5).await;
    let owner = guest();
    for v in [a, b, c] {
        expect(h.commerce.add_to_cart(&owner, v, q(4)).await, "add");
    }
    // Someone else buys 3 of A and 2 of B meanwhile.
    expect(h.guest_buys(a, 3).await, "other A");
    expect(h.guest_buys(b, 2).await, "other B");
    let r = h
        .commerce
        .checkout(Harness::<S>::checkout_request(&owner, None))
        .await;
    match r {
        Err(CommerceError::InsufficientStock(mut short)) => {
            short.sort_by_key(|s| s.available);
            assert_eq!(short.len(), 2);
            assert_eq!(
                (short[0].variant_id, short[0].requested, short[0].available),
                (a, 4, 2)
            );
            assert_eq!(
                (short[1].variant_id, short[1].requested, short[1].available),
                (b, 4, 3)
            );
        }
        other => panic!("expected a shortage, got {other:?}"),
    }
    assert_eq!(h.stock(c).await.reserved, 0, "nothing reserved");
    assert_eq!(
        expect(h.commerce.cart(&owner).await, "cart").lines.len(),
        3,
        "the cart is kept"
    );
}

/// Same key + same request replays; same key + another request is refused.
pub async fn checkout_is_idempotent<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("idem").await;
    let v = h.product(store, None, "Tea", "4.00", 10).await;
    let owner = guest();
    expect(h.commerce.add_to_cart(&owner, v, q(2)).await, "add");
    let request = Harness::<S>::checkout_request(&owner, None);
    let first = expect(h.commerce.checkout(request.clone()).await, "first");
    let replay = expect(h.commerce.checkout(request.clone()).await, "replay");
    assert_eq!(first, replay);
    let mut other = request.clone();
    other.email = "someone.else@example.com".into();
    assert!(matches!(
        h.commerce.checkout(other).await,
        Err(CommerceError::IdempotencyKeyReused)
    ));
    assert_eq!(h.stock(v).await.reserved, 2, "one reservation");
    assert_eq!(expect(h.store().audit().await, "audit").orders.len(), 1);

    // A final refusal is the key's answer: the same key replays it even
    // once the cart could be checked out; a new key runs again.
    let owner2 = guest();
    let retry = Harness::<S>::checkout_request(&owner2, None);
    assert!(matches!(
        h.commerce.checkout(retry.clone()).await,
        Err(CommerceError::CartEmpty)
    ));
    expect(h.commerce.add_to_cart(&owner2, v, q(1)).await, "add");
    assert!(matches!(
        h.commerce.checkout(retry.clone()).await,
        Err(CommerceError::CartEmpty)
    ));
    let mut fresh = retry;
    fresh.idempotency_key = new_key();
    expect(h.commerce.checkout(fresh).await, "a new key");
}

/// A verified success pays the order; reserved stock becomes sold; one event.
pub async fn payment_sells_reserved_stock_once<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("pay").await;
    let v = h.product(store, None, "Vase", "12.50", 5).await;
    let order = expect(h.guest_buys(v, 2).await, "checkout");
    assert_eq!(
        h.stock(v).await,
        crate::inventory::Stock {
            on_hand: 5,
            reserved: 2
        }
    );
    let outcome = h.pay(order.id).await;
    assert!(
        matches!(outcome, PaymentOutcome::Paid(ref o) if o.status == OrderStatus::Paid),
        "{outcome:?}"
    );
    assert_eq!(
        h.stock(v).await,
        crate::inventory::Stock {
            on_hand: 3,
            reserved: 0
        }
    );
    let paid = expect(h.commerce.order(order.id).await, "order");
    assert_eq!(paid.captured, usd("25.00"));
    let n = events(h)
        .await
        .iter()
        .filter(|e| matches!(e, EventKind::OrderPaid { .. }))
        .count();
    assert_eq!(n, 1);
}

/// The same webhook, or the same return, again: the same answer, no change.
pub async fn webhook_replay_changes_nothing<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("replay").await;
    let v = h.product(store, None, "Bowl", "8.00", 5).await;
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
    let first = expect(
        h.commerce
            .handle_webhook("sandbox", &hook.headers, &hook.body)
            .await,
        "first",
    );
    assert!(matches!(first, PaymentOutcome::Paid(_)));
    let before = expect(h.store().audit().await, "audit");
    for _ in 0..3 {
        let again = expect(
            h.commerce
                .handle_webhook("sandbox", &hook.headers, &hook.body)
                .await,
            "again",
        );
        assert_eq!(again, PaymentOutcome::AlreadyApplied);
    }
    let mut params = BTreeMap::new();
    params.insert("reference".to_owned(), payment.reference.clone());
    let returned = expect(h.commerce.handle_return("sandbox", &params).await, "return");
    assert_eq!(returned, Some(PaymentOutcome::AlreadyApplied));
    let after = expect(h.store().audit().await, "audit");
    assert_eq!(before.events.len(), after.events.len(), "no new events");
    assert_eq!(h.stock(v).await.on_hand, 4);
}

/// Bad, missing or stale signatures and unknown references change nothing.
pub async fn bad_webhooks_change_nothing<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("badhooks").await;
    let v = h.product(store, None, "Jar", "6.00", 5).await;
    let order = expect(h.guest_buys(v, 1).await, "checkout");
    let payment = expect(
        h.commerce
            .start_payment(order.id, "sandbox", &new_key())
            .await,
        "start",
    );
    let now = h.clock_now();
    let forger = crate::payment::SandboxGateway::new("not_the_secret", "http://x");
    let forged = forger.webhook("evt_forged", &payment.reference, order.total, true, now);
    assert!(matches!(
        h.commerce
            .handle_webhook("sandbox", &forged.headers, &forged.body)
            .await,
        Err(CommerceError::Webhook(_))
    ));
    let stale = h.sandbox.webhook(
        "evt_stale",
        &payment.reference,
        order.total,
        true,
        now - Duration::seconds(301),
    );
    assert!(matches!(
        h.commerce
            .handle_webhook("sandbox", &stale.headers, &stale.body)
            .await,
        Err(CommerceError::Webhook(_))
    ));
    let unsigned = h
        .sandbox
        .webhook("evt_x", &payment.reference, order.total, true, now);
    assert!(matches!(
        h.commerce
            .handle_webhook("sandbox", &BTreeMap::new(), &unsigned.body)
            .await,
        Err(CommerceError::Webhook(_))
    ));
    let unknown = h
        .sandbox
        .webhook("evt_unknown", "sbx_nope", order.total, true, now);
    assert!(matches!(
        h.commerce
            .handle_webhook("sandbox", &unknown.headers, &unknown.body)
            .await,
        Err(CommerceError::UnknownPaymentReference)
    ));
    assert!(matches!(
        h.commerce
            .handle_webhook("nogateway", &unknown.headers, &unknown.body)
            .await,
        Err(CommerceError::NotFound(_))
    ));
    let o = expect(h.commerce.order(order.id).await, "order");
    assert_eq!(o.status, OrderStatus::PendingPayment);
    assert_eq!(
        expect(h.store().payment(payment.id).await, "payment").map(|p| p.status),
        Some(PaymentStatus::Pending)
    );
    // The legitimate event still works afterwards.
    let hook = expect(
        h.sandbox.complete(&payment.reference, true, now),
        "complete",
    );
    assert!(matches!(
        expect(
            h.commerce
                .handle_webhook("sandbox", &hook.headers, &hook.body)
                .await,
            "real"
        ),
        PaymentOutcome::Paid(_)
    ));
}

/// An amount or currency other than the order's flags the payment; the order stays unpaid.
pub async fn amount_mismatch_leaves_the_order_unpaid<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("mismatch").await;
    let v = h.product(store, None, "Rug", "40.00", 5).await;
    let order = expect(h.guest_buys(v, 1).await, "checkout");
    let payment = expect(
        h.commerce
            .start_payment(order.id, "sandbox", &new_key())
            .await,
        "start",
    );
    let short = h.sandbox.webhook(
        "evt_short",
        &payment.reference,
        usd("4.00"),
        true,
        h.clock_now(),
    );
    let r = expect(
        h.commerce
            .handle_webhook("sandbox", &short.headers, &short.body)
            .await,
        "webhook",
    );
    assert_eq!(
        r,
        PaymentOutcome::AmountMismatch {
            expected: usd("40.00"),
            received: usd("4.00")
        }
    );
    let eur = crate::money::Money::from_minor(4000, crate::money::Currency::EUR);
    let p2 = expect(
        h.commerce
            .start_payment(order.id, "sandbox", &new_key())
            .await,
        "start 2",
    );
    let wrong = h
        .sandbox
        .webhook("evt_eur", &p2.reference, eur, true, h.clock_now());
    let r = expect(
        h.commerce
            .handle_webhook("sandbox", &wrong.headers, &wrong.body)
            .await,
        "webhook eur",
    );
    assert!(matches!(r, PaymentOutcome::AmountMismatch { .. }));
    assert_eq!(
        expect(h.commerce.order(order.id).await, "order").status,
        OrderStatus::PendingPayment
    );
    assert_eq!(
        expect(h.store().payment(payment.id).await, "payment").map(|p| p.status),
        Some(PaymentStatus::Mismatch)
    );
    assert_eq!(h.stock(v).await.on_hand, 5);
}

/// A browser return is never trusted: the gateway is asked.
pub async fn browser_return_is_verified_with_the_gateway<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("return").await;
    let v = h.product(store, None, "Pot", "7.00", 5).await;
    let order = expect(h.guest_buys(v, 1).await, "checkout");
    let payment = expect(
        h.commerce
            .start_payment(order.id, "sandbox", &new_key())
            .await,
        "start",
    );
    let mut params = BTreeMap::new();
    params.insert("reference".to_owned(), payment.reference.clone());
    params.insert("status".to_owned(), "succeeded".to_owned());
    assert_eq!(
        expect(
            h.commerce.handle_return("sandbox", &params).await,
            "early return"
        ),
        None,
        "the gateway has not been paid"
    );
    assert_eq!(
        expect(h.commerce.order(order.id).await, "order").status,
        OrderStatus::PendingPayment
    );
    expect(
        h.sandbox.complete(&payment.reference, true, h.clock_now()),
        "pay on the page",
    );
    let r = expect(h.commerce.handle_return("sandbox", &params).await, "return");
    assert!(matches!(r, Some(PaymentOutcome::Paid(_))), "{r:?}");
}

/// A declined payment leaves the order payable until it expires.
pub async fn declined_payment_leaves_the_order_payable<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("declined").await;
    let v = h.product(store, None, "Fan", "15.00", 5).await;
    let order = expect(h.guest_buys(v, 1).await, "checkout");
    let payment = expect(
        h.commerce
            .start_payment(order.id, "sandbox", &new_key())
            .await,
        "start",
    );
    let hook = expect(
        h.sandbox.complete(&payment.reference, false, h.clock_now()),
        "decline",
    );
    assert_eq!(
        expect(
            h.commerce
                .handle_webhook("sandbox", &hook.headers, &hook.body)
                .await,
            "declined"
        ),
        PaymentOutcome::Declined
    );
    assert_eq!(
        expect(h.commerce.order(order.id).await, "order").status,
        OrderStatus::PendingPayment
    );
    assert!(matches!(h.pay(order.id).await, PaymentOutcome::Paid(_)));
}

/// A payment after expiry is sold again if stock allows; otherwise recorded
/// and refunded — never lost, never silently kept.
pub async fn late_payment_is_sold_again_or_refunded<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("late").await;
    let v = h.product(store, None, "Clock", "30.00", 1).await;
    let first = expect(h.guest_buys(v, 1).await, "checkout 1");
    let p1 = expect(
        h.commerce
            .start_payment(first.id, "sandbox", &new_key())
            .await,
        "start 1",
    );
    h.clock.advance(Duration::minutes(16));
    assert_eq!(
        expect(h.commerce.expire_due(100).await, "expire"),
        vec![first.id]
    );
    assert_eq!(h.stock(v).await.reserved, 0);
    let hook = expect(
        h.sandbox.complete(&p1.reference, true, h.clock_now()),
        "late pay",
    );
    let r = expect(
        h.commerce
            .handle_webhook("sandbox", &hook.headers, &hook.body)
            .await,
        "late webhook",
    );
    assert!(matches!(r, PaymentOutcome::Paid(_)), "stock allowed: {r:?}");
    assert_eq!(
        h.stock(v).await,
        crate::inventory::Stock {
            on_hand: 0,
            reserved: 0
        }
    );

    // Now the stock is gone: a second expired order paid late is refunded.
    expect(h.commerce.set_stock(v, 1).await, "restock");
    let second = expect(h.guest_buys(v, 1).await, "checkout 2");
    let p2 = expect(
        h.commerce
            .start_payment(second.id, "sandbox", &new_key())
            .await,
        "start 2",
    );
    h.clock.advance(Duration::minutes(16));
    expect(h.commerce.expire_due(100).await, "expire 2");
    expect(h.guest_buys(v, 1).await, "someone else takes the unit");
    let hook = expect(
        h.sandbox.complete(&p2.reference, true, h.clock_now()),
        "late pay 2",
    );
    let r = expect(
        h.commerce
            .handle_webhook("sandbox", &hook.headers, &hook.body)
            .await,
        "late webhook 2",
    );
    assert_eq!(r, PaymentOutcome::RefundRequired);
    assert_eq!(
        expect(h.commerce.order(second.id).await, "order").status,
        OrderStatus::Expired
    );
    let refund_events = events(h)
        .await
        .iter()
        .filter(|e| matches!(e, EventKind::PaymentRefundRequired { .. }))
        .count();
    assert_eq!(refund_events, 1);
    let receipt = h
        .commerce
        .send_refund(p2.id, usd("30.00"), "refund-late-2")
        .await;
    assert!(receipt.is_ok(), "{receipt:?}");
}

/// Cancelling a pending order releases its stock once and voids its payments.
pub async fn cancel_pending_releases_once_and_voids_payments<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("cancel").await;
    let v = h.product(store, None, "Mat", "5.00", 5).await;
    let order = expect(h.guest_buys(v, 3).await, "checkout");
    let payment = expect(
        h.commerce
            .start_payment(order.id, "sandbox", &new_key())
            .await,
        "start",
    );
    let other = expect(
        h.commerce
            .start_payment(order.id, "sandbox", &new_key())
            .await,
        "start another",
    );
    let cancelled = expect(h.commerce.cancel_order(order.id, "buyer").await, "cancel");
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(
        h.stock(v).await,
        crate::inventory::Stock {
            on_hand: 5,
            reserved: 0
        }
    );
    assert!(matches!(
        h.commerce.cancel_order(order.id, "again").await,
        Err(CommerceError::InvalidTransition(_))
    ));
    assert_eq!(h.stock(v).await.reserved, 0, "released once");
    assert_eq!(
        expect(h.store().payment(payment.id).await, "p").map(|p| p.status),
        Some(PaymentStatus::Voided)
    );
    // Money arriving on the voided payment is not kept.
    let hook = expect(
        h.sandbox.complete(&payment.reference, true, h.clock_now()),
        "pay",
    );
    let r = expect(
        h.commerce
            .handle_webhook("sandbox", &hook.headers, &hook.body)
            .await,
        "webhook",
    );
    assert_eq!(r, PaymentOutcome::RefundRequired);

    // Another amount captured on a voided payment is flagged for a person,
    // never turned into a refund of the amount the shop asked for.
    assert_eq!(
        expect(h.store().payment(other.id).await, "p").map(|p| p.status),
        Some(PaymentStatus::Voided)
    );
    let short = h.sandbox.webhook(
        "evt_voided_short",
        &other.reference,
        usd("9.99"),
        true,
        h.clock_now(),
    );
    let r = expect(
        h.commerce
            .handle_webhook("sandbox", &short.headers, &short.body)
            .await,
        "short webhook",
    );
    assert_eq!(
        r,
        PaymentOutcome::AmountMismatch {
            expected: usd("15.00"),
            received: usd("9.99")
        }
    );
    assert_eq!(
        expect(h.store().payment(other.id).await, "p").map(|p| p.status),
        Some(PaymentStatus::Mismatch)
    );
    let refunds: Vec<_> = events(h)
        .await
        .into_iter()
        .filter_map(|e| match e {
            EventKind::PaymentRefundRequired {
                payment_id, amount, ..
            } => Some((payment_id, amount)),
            _ => None,
        })
        .collect();
    assert_eq!(refunds, vec![(payment.id, usd("15.00"))]);
}

/// Cancelling a paid, unshipped order restocks and refunds; shipped cannot be cancelled.
pub async fn cancel_paid_restocks_and_refunds<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("cancelpaid").await;
    let v = h.product(store, None, "Chair", "50.00", 5).await;
    let order = expect(h.guest_buys(v, 2).await, "checkout");
    h.pay(order.id).await;
    assert_eq!(h.stock(v).await.on_hand, 3);
    let cancelled = expect(h.commerce.cancel_order(order.id, "buyer").await, "cancel");
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(h.stock(v).await.on_hand, 5, "restocked");
    assert_eq!(expect(cancelled.refunded(), "sum"), usd("100.00"));
    let ev = events(h).await;
    assert!(ev.iter().any(
        |e| matches!(e, EventKind::OrderCancelled { refund: Some(r), .. } if *r == usd("100.00"))
    ));

    let shipped = expect(h.guest_buys(v, 1).await, "checkout 2");
    h.pay(shipped.id).await;
    expect(
        h.commerce
            .ship_order(shipped.id, Some("TRACK-1".into()))
            .await,
        "ship",
    );
    let r = h.commerce.cancel_order(shipped.id, "too late").await;
    assert!(
        matches!(r, Err(CommerceError::InvalidTransition(t)) if t.from == OrderStatus::Shipped && t.event == OrderEvent::Cancel)
    );
}

/// Refunds never add up to more than was captured.
pub async fn refunds_never_exceed_the_capture<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("refunds").await;
    let v = h.product(store, None, "Desk", "100.00", 5).await;
    let order = expect(h.guest_buys(v, 1).await, "checkout");
    assert!(
        matches!(
            h.commerce
                .refund_order(order.id, Some(usd("1.00")), "x")
                .await,
            Err(CommerceError::InvalidTransition(_))
        ),
        "nothing captured yet"
    );
    let everything = h.commerce.refund_order(order.id, None, "x").await;
    assert!(
        matches!(
            everything,
            Err(CommerceError::InvalidTransition(t))
                if t.from == OrderStatus::PendingPayment && t.event == OrderEvent::RefundFull
        ),
        "refunding everything left of an unpaid order is a lifecycle refusal, \
         not an error about an amount the caller never sent: {everything:?}"
    );
    h.pay(order.id).await;
    let o = expect(
        h.commerce
            .refund_order(order.id, Some(usd("30.00")), "dent")
            .await,
        "partial",
    );
    assert_eq!(
        o.status,
        OrderStatus::Paid,
        "a partial refund keeps the status"
    );
    let over = h
        .commerce
        .refund_order(order.id, Some(usd("70.01")), "too much")
        .await;
    assert!(
        matches!(over, Err(CommerceError::RefundExceedsCaptured { refundable, .. }) if refundable == usd("70.00")),
        "{over:?}"
    );
    for bad in [
        usd("0.00"),
        usd("-1.00"),
        crate::money::Money::from_minor(100, crate::money::Currency::EUR),
    ] {
        assert!(matches!(
            h.commerce.refund_order(order.id, Some(bad), "bad").await,
            Err(CommerceError::Validation { .. })
        ));
    }
    let o = expect(
        h.commerce.refund_order(order.id, None, "rest").await,
        "rest",
    );
    assert_eq!(o.status, OrderStatus::Refunded);
    assert_eq!(expect(o.refunded(), "sum"), usd("100.00"));
    assert!(
        h.commerce
            .refund_order(order.id, Some(usd("0.01")), "more")
            .await
            .is_err()
    );
    assert!(matches!(
        h.commerce.refund_order(order.id, None, "the rest again").await,
        Err(CommerceError::InvalidTransition(t)) if t.from == OrderStatus::Refunded
    ));
}

/// Moves the lifecycle forbids are refused and change nothing.
pub async fn forbidden_transitions_are_refused<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("forbidden").await;
    let v = h.product(store, None, "Box", "2.00", 5).await;
    let order = expect(h.guest_buys(v, 1).await, "checkout");
    assert!(
        matches!(
            h.commerce.deliver_order(order.id).await,
            Err(CommerceError::InvalidTransition(_))
        ),
        "pending → delivered"
    );
    assert!(
        matches!(
            h.commerce.ship_order(order.id, None).await,
            Err(CommerceError::InvalidTransition(_))
        ),
        "pending → shipped"
    );
    h.pay(order.id).await;
    expect(h.commerce.ship_order(order.id, None).await, "ship");
    expect(h.commerce.deliver_order(order.id).await, "deliver");
    assert!(matches!(
        h.commerce.ship_order(order.id, None).await,
        Err(CommerceError::InvalidTransition(_))
    ));
    assert!(matches!(
        h.commerce.cancel_order(order.id, "x").await,
        Err(CommerceError::InvalidTransition(_))
    ));
    assert_eq!(
        expect(h.commerce.order(order.id).await, "order").status,
        OrderStatus::Delivered
    );
    assert!(matches!(
        h.commerce.order(crate::ids::OrderId::new()).await,
        Err(CommerceError::NotFound(_))
    ));
}

/// Expiry releases stock and promotion usage exactly once.
pub async fn expiry_releases_stock_and_usage_once<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("expiry").await;
    let v = h.product(store, None, "Tent", "80.00", 3).await;
    h.promotion(r#"{"name":"Single use","code":"ONE","usage_limit":1,"action":{"type":"percentage","percent":"10"}}"#).await;
    let owner = guest();
    expect(h.commerce.add_to_cart(&owner, v, q(2)).await, "add");
    expect(h.commerce.apply_code(&owner, None, "ONE").await, "code");
    let order = expect(
        h.commerce
            .checkout(Harness::<S>::checkout_request(&owner, None))
            .await,
        "checkout",
    );
    assert_eq!(order.discount_total, usd("16.00"));
    h.clock.advance(Duration::minutes(14));
    assert!(expect(h.commerce.expire_due(100).await, "early sweep").is_empty());
    h.clock.advance(Duration::minutes(1));
    assert_eq!(
        expect(h.commerce.expire_due(100).await, "sweep"),
        vec![order.id]
    );
    assert!(
        expect(h.commerce.expire_due(100).await, "second sweep").is_empty(),
        "nothing twice"
    );
    assert_eq!(
        h.stock(v).await,
        crate::inventory::Stock {
            on_hand: 3,
            reserved: 0
        }
    );
    assert!(matches!(
        h.commerce
            .start_payment(order.id, "sandbox", &new_key())
            .await,
        Err(CommerceError::OrderExpired)
    ));
    // The code is usable again.
    let other = guest();
    expect(h.commerce.add_to_cart(&other, v, q(1)).await, "add");
    expect(
        h.commerce.apply_code(&other, None, "one").await,
        "code is free again",
    );
}

/// Outbox: events are pending until marked relayed; marking is idempotent.
pub async fn outbox_relay_contract<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("outbox").await;
    let v = h.product(store, None, "Stool", "9.00", 5).await;
    let order = expect(h.guest_buys(v, 1).await, "checkout");
    h.pay(order.id).await;
    let pending = expect(h.store().pending_events(100).await, "pending");
    assert_eq!(pending.len(), 2);
    assert!(
        matches!(pending[0].kind, EventKind::OrderPlaced { .. }),
        "oldest first"
    );
    let ids: Vec<EventId> = pending.iter().map(|e| e.id).collect();
    expect(
        h.store().mark_relayed(&ids[..1], h.clock_now()).await,
        "mark one",
    );
    expect(
        h.store().mark_relayed(&ids[..1], h.clock_now()).await,
        "mark again",
    );
    let left = expect(h.store().pending_events(100).await, "pending");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, ids[1]);
    assert_eq!(
        expect(h.store().pending_events(0).await, "limit 0").len(),
        0
    );

    // After a cursor: only newer pending events, whether the cursor's own
    // event was relayed or not; from the start for an unknown cursor.
    expect(h.guest_buys(v, 1).await, "checkout");
    let all: Vec<EventId> = expect(h.store().pending_events(100).await, "pending")
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert!(all.len() >= 2, "the paid event and the new order's");
    let after = |id: EventId, limit: u32| async move {
        expect(h.store().pending_events_after(id, limit).await, "after")
            .into_iter()
            .map(|e| e.id)
            .collect::<Vec<EventId>>()
    };
    assert_eq!(after(ids[0], 100).await, all, "after a relayed event");
    assert_eq!(after(all[0], 100).await, all[1..].to_vec());
    assert_eq!(after(all[all.len() - 1], 100).await, Vec::<EventId>::new());
    assert_eq!(after(ids[0], 1).await, all[..1].to_vec(), "limited");
    assert_eq!(
        after(EventId::new(), 100).await,
        all,
        "an unknown cursor reads from the start"
    );
}

/// Idempotency keys: one winner, replay, mismatch, release and take-over, prune.
pub async fn idempotency_store_contract<S: Store>(h: &Harness<S>) {
    let s = h.store();
    let now = h.clock_now();
    let key = new_key();
    let fp = Fingerprint::of(&[b"body"]);
    let lock = now + Duration::seconds(30);
    assert_eq!(
        expect(s.begin("a", &key, fp, now, lock).await, "begin"),
        Begin::Started
    );
    assert_eq!(
        expect(s.begin("a", &key, fp, now, lock).await, "dup"),
        Begin::InProgress
    );
    assert_eq!(
        expect(s.begin("b", &key, fp, now, lock).await, "other scope"),
        Begin::Started,
        "keys are scoped"
    );
    assert_eq!(
        expect(
            s.begin("a", &key, Fingerprint::of(&[b"other"]), now, lock)
                .await,
            "mismatch"
        ),
        Begin::Mismatch
    );
    expect(s.complete("a", &key, "result".into()).await, "complete");
    assert_eq!(
        expect(s.begin("a", &key, fp, now, lock).await, "replay"),
        Begin::Replay("result".into())
    );
    expect(
        s.release("a", &key).await,
        "release of a completed key keeps it",
    );
    assert_eq!(
        expect(s.begin("a", &key, fp, now, lock).await, "still replay"),
        Begin::Replay("result".into())
    );
    expect(s.release("b", &key).await, "release");
    assert_eq!(
        expect(s.begin("b", &key, fp, now, lock).await, "after release"),
        Begin::Started
    );
    let later = now + Duration::seconds(31);
    assert_eq!(
        expect(
            s.begin("b", &key, fp, later, later + Duration::seconds(30))
                .await,
            "take over"
        ),
        Begin::Started
    );
    assert_eq!(expect(s.prune(now + Duration::hours(25)).await, "prune"), 2);
    assert_eq!(
        expect(s.begin("a", &key, fp, now, lock).await, "pruned"),
        Begin::Started
    );
    let _ = PaymentGateway::name(h.sandbox.as_ref());
}

/// Emails are unique case-insensitively; a refused registration creates nothing.
pub async fn emails_are_unique_case_insensitively<S: Store>(h: &Harness<S>) {
    let ada = expect(
        h.commerce
            .register("Ada@Example.com", Some("Ada".into()), None)
            .await,
        "register",
    );
    assert_eq!(ada.email.as_str(), "ada@example.com");
    assert!(matches!(
        h.commerce.register("ADA@example.COM", None, None).await,
        Err(CommerceError::EmailTaken)
    ));
    assert!(matches!(
        h.commerce.register("not an email", None, None).await,
        Err(CommerceError::Validation { field: "email", .. })
    ));
    let found = expect(
        h.store()
            .account_by_email(&expect(
                crate::account::Email::parse("ada@EXAMPLE.com"),
                "email",
            ))
            .await,
        "lookup",
    );
    assert_eq!(found.map(|a| a.id), Some(ada.id));
    let verified = expect(h.commerce.mark_email_verified(ada.id).await, "verify");
    assert!(verified.email_verified);
    assert!(verified.roles == vec![crate::account::Role::Customer]);
    let updated = expect(
        h.commerce
            .update_profile(ada.id, Some("Ada L.".into()), Some("+44 20 1234".into()))
            .await,
        "profile",
    );
    assert_eq!(updated.full_name.as_deref(), Some("Ada L."));
    assert!(updated.email_verified, "profile edits keep verification");
    assert!(matches!(
        h.commerce
            .update_profile(ada.id, None, Some("call me".into()))
            .await,
        Err(CommerceError::Validation { field: "phone", .. })
    ));
}

fn address_input(city: &str) -> crate::address::AddressInput {
    crate::address::AddressInput {
        full_name: "Ada".into(),
        line1: "1 Road".into(),
        line2: None,
        city: city.into(),
        region: None,
        postal_code: "12345".into(),
        country: "GB".into(),
        phone: None,
    }
}

/// An account has at most one default address; deleting an address never
/// changes an order that used it.
pub async fn one_default_address_and_orders_keep_theirs<S: Store>(h: &Harness<S>) {
    let ada = expect(
        h.commerce.register("ada@example.org", None, None).await,
        "register",
    )
    .id;
    let first = expect(
        h.commerce
            .add_address(ada, &address_input("London"), false)
            .await,
        "first",
    );
    assert!(first.is_default, "the first address becomes the default");
    let second = expect(
        h.commerce
            .add_address(ada, &address_input("Paris"), true)
            .await,
        "second",
    );
    let book = expect(h.store().addresses(ada).await, "book");
    assert_eq!(book.iter().filter(|a| a.is_default).count(), 1);
    assert_eq!(book[0].id, second.id, "default first");
    expect(
        h.commerce
            .update_address(ada, first.id, &address_input("Leeds"), true)
            .await,
        "make first default",
    );
    let book = expect(h.store().addresses(ada).await, "book");
    assert_eq!(
        book.iter()
            .filter(|a| a.is_default)
            .map(|a| a.id)
            .collect::<Vec<_>>(),
        vec![first.id]
    );
    let mut bad = address_input("X");
    bad.country = "GBR".into();
    assert!(matches!(
        h.commerce.add_address(ada, &bad, false).await,
        Err(CommerceError::Validation {
            field: "country",
            ..
        })
    ));

    // Another account cannot touch Ada's addresses.
    let eve = expect(
        h.commerce.register("eve@example.org", None, None).await,
        "register",
    )
    .id;
    assert!(matches!(
        h.commerce
            .update_address(eve, first.id, &address_input("Rome"), false)
            .await,
        Err(CommerceError::NotFound(_))
    ));
    assert!(matches!(
        h.commerce.delete_address(eve, first.id).await,
        Err(CommerceError::NotFound(_))
    ));

    // An order keeps its copy of the address after the address is deleted.
    let (_, store) = h.seller("addr").await;
    let v = h.product(store, None, "Map", "3.00", 5).await;
    let owner = CartOwner::Account(ada);
    expect(h.commerce.add_to_cart(&owner, v, q(1)).await, "add");
    let mut request = Harness::<S>::checkout_request(&owner, Some(ada));
    request.shipping_address = Some(first.address.clone());
    let order = expect(h.commerce.checkout(request).await, "checkout");
    expect(h.commerce.delete_address(ada, first.id).await, "delete");
    let kept = expect(h.commerce.order(order.id).await, "order");
    assert_eq!(kept.shipping_address, Some(first.address));
}

/// Wishlist adds and removes are idempotent; unknown products are refused.
pub async fn wishlist_is_idempotent<S: Store>(h: &Harness<S>) {
    let ada = expect(
        h.commerce.register("wish@example.org", None, None).await,
        "register",
    )
    .id;
    let (_, store) = h.seller("wish").await;
    let v = h.product(store, None, "Globe", "30.00", 5).await;
    let product = expect(h.store().variants(&[v]).await, "variants")[0]
        .product
        .id;
    expect(h.commerce.wishlist_add(ada, product).await, "add");
    expect(h.commerce.wishlist_add(ada, product).await, "add again");
    assert_eq!(expect(h.store().wishlist(ada).await, "list"), vec![product]);
    assert!(matches!(
        h.commerce.wishlist_add(ada, ProductId::new()).await,
        Err(CommerceError::NotFound(_))
    ));
    expect(h.commerce.wishlist_remove(ada, product).await, "remove");
    expect(
        h.commerce.wishlist_remove(ada, product).await,
        "remove again",
    );
    assert!(expect(h.store().wishlist(ada).await, "list").is_empty());
}

/// One review per person and product; a verified purchase only after a paid order.
pub async fn reviews_are_one_per_person_and_verified_by_paid_orders<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("reviews").await;
    let v = h.product(store, None, "Teapot", "25.00", 5).await;
    let product = expect(h.store().variants(&[v]).await, "variants")[0]
        .product
        .id;
    let buyer = expect(
        h.commerce.register("buyer@example.org", None, None).await,
        "register",
    )
    .id;
    let stranger = expect(
        h.commerce
            .register("stranger@example.org", None, None)
            .await,
        "register",
    )
    .id;

    let owner = CartOwner::Account(buyer);
    expect(h.commerce.add_to_cart(&owner, v, q(1)).await, "add");
    let order = expect(
        h.commerce
            .checkout(Harness::<S>::checkout_request(&owner, Some(buyer)))
            .await,
        "checkout",
    );
    let early = expect(
        h.commerce
            .post_review(stranger, product, 2, None, "Never bought it")
            .await,
        "stranger review",
    );
    assert!(!early.verified_purchase, "no order at all");
    h.pay(order.id).await;
    let review = expect(
        h.commerce
            .post_review(buyer, product, 5, Some("Lovely".into()), "Pours well")
            .await,
        "buyer review",
    );
    assert!(review.verified_purchase, "a paid order with the product");
    assert!(matches!(
        h.commerce
            .post_review(buyer, product, 4, None, "Again")
            .await,
        Err(CommerceError::AlreadyReviewed)
    ));
    for bad in [0_u8, 6] {
        assert!(matches!(
            h.commerce
                .post_review(stranger, product, bad, None, "x")
                .await,
            Err(CommerceError::Validation {
                field: "rating",
                ..
            })
        ));
    }
    assert!(matches!(
        h.commerce
            .post_review(stranger, ProductId::new(), 3, None, "x")
            .await,
        Err(CommerceError::NotFound(_))
    ));
    let (page, rating) = expect(h.commerce.reviews(product, 1, 20).await, "reviews");
    assert_eq!(page.total, 2);
    assert_eq!(rating.count, 2);
    assert!((rating.average - 3.5).abs() < f64::EPSILON);
}

/// Opening a store needs a verified email and makes the owner a seller.
pub async fn seller_stores_need_a_verified_owner<S: Store>(h: &Harness<S>) {
    let ada = expect(
        h.commerce.register("seller@example.org", None, None).await,
        "register",
    )
    .id;
    assert!(matches!(
        h.commerce.create_seller_store(ada, "Ada's", "adas").await,
        Err(CommerceError::EmailNotVerified)
    ));
    expect(h.commerce.mark_email_verified(ada).await, "verify");
    assert!(matches!(
        h.commerce
            .create_seller_store(ada, "Ada's", "Bad Slug")
            .await,
        Err(CommerceError::Validation { field: "slug", .. })
    ));
    expect(
        h.commerce.create_seller_store(ada, "Ada's", "adas").await,
        "open",
    );
    assert!(
        expect(h.commerce.account(ada).await, "account").has_role(crate::account::Role::Seller)
    );
    let bob = expect(
        h.commerce.register("bob@example.org", None, None).await,
        "register",
    )
    .id;
    expect(h.commerce.mark_email_verified(bob).await, "verify");
    assert!(matches!(
        h.commerce.create_seller_store(bob, "Bob's", "adas").await,
        Err(CommerceError::Duplicate(_))
    ));
}

/// Seller stores are listed oldest first (ties by id), paged, with the total.
pub async fn seller_stores_are_listed_in_pages<S: Store>(h: &Harness<S>) {
    let before = expect(h.commerce.store().seller_stores(1, 100).await, "list").total;
    let owner = expect(
        h.commerce.register("lister@example.org", None, None).await,
        "register",
    )
    .id;
    expect(h.commerce.mark_email_verified(owner).await, "verify");
    let mut made = Vec::new();
    for slug in ["list-a", "list-b", "list-c"] {
        made.push(
            expect(
                h.commerce.create_seller_store(owner, slug, slug).await,
                "open",
            )
            .id,
        );
    }
    let all = expect(h.commerce.store().seller_stores(1, 100).await, "list");
    assert_eq!(all.total, before + 3);
    let mut sorted = all.items.clone();
    sorted.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    assert_eq!(all.items, sorted, "oldest first, ties by id");
    for id in &made {
        assert!(all.items.iter().any(|s| s.id == *id));
    }
    let p1 = expect(h.commerce.store().seller_stores(1, 2).await, "page 1");
    let p2 = expect(h.commerce.store().seller_stores(2, 2).await, "page 2");
    assert_eq!((p1.page, p1.per_page, p1.total), (1, 2, all.total));
    assert_eq!(p1.items, all.items[..2].to_vec());
    assert_eq!(p2.items.first(), all.items.get(2));
    let clamped = expect(h.commerce.store().seller_stores(0, 1000).await, "clamped");
    assert_eq!((clamped.page, clamped.per_page), (1, 100));
}

/// Categories form a tree: no cycles; only empty ones are deleted.
pub async fn categories_never_form_cycles<S: Store>(h: &Harness<S>) {
    let clothing = expect(
        h.commerce
            .create_category("Clothing", "clothing", None)
            .await,
        "root",
    )
    .id;
    let shirts = expect(
        h.commerce
            .create_category("Shirts", "shirts", Some(clothing))
            .await,
        "child",
    )
    .id;
    let polos = expect(
        h.commerce
            .create_category("Polos", "polos", Some(shirts))
            .await,
        "grandchild",
    )
    .id;
    assert!(matches!(
        h.commerce
            .create_category("X", "x", Some(CategoryId::new()))
            .await,
        Err(CommerceError::NotFound(_))
    ));
    for parent in [clothing, polos] {
        let r = h
            .commerce
            .update_category(clothing, None, None, Some(Some(parent)))
            .await;
        assert!(
            matches!(
                r,
                Err(CommerceError::Validation {
                    field: "parent_id",
                    ..
                })
            ),
            "{r:?}"
        );
    }
    expect(
        h.commerce
            .update_category(polos, Some("Polo shirts"), None, Some(Some(clothing)))
            .await,
        "move up",
    );
    assert!(
        matches!(
            h.commerce.delete_category(clothing).await,
            Err(CommerceError::CategoryInUse)
        ),
        "it has children"
    );
    let (_, store) = h.seller("cats").await;
    h.product(store, Some(shirts), "Oxford", "30.00", 1).await;
    assert!(
        matches!(
            h.commerce.delete_category(shirts).await,
            Err(CommerceError::CategoryInUse)
        ),
        "it has a product"
    );
    expect(h.commerce.delete_category(polos).await, "empty");
    assert!(matches!(
        h.commerce.delete_category(polos).await,
        Err(CommerceError::NotFound(_))
    ));
}

/// A seller cannot edit another store's products or stock; an admin can;
/// a withdrawn product leaves order history intact.
pub async fn sellers_edit_only_their_own_catalog<S: Store>(h: &Harness<S>) {
    let mk = |name: &'static str| async move {
        let id = expect(
            h.commerce
                .register(&format!("{name}@example.org"), None, None)
                .await,
            "register",
        )
        .id;
        expect(h.commerce.mark_email_verified(id).await, "verify");
        let store = expect(
            h.commerce.create_seller_store(id, name, name).await,
            "store",
        )
        .id;
        (crate::service::Actor { id, admin: false }, store)
    };
    let (ada, ada_store) = mk("ada").await;
    let (bob, _) = mk("bob").await;
    let admin = crate::service::Actor {
        id: CustomerId::new(),
        admin: true,
    };
    let new = |store| crate::service::NewProduct {
        store_id: store,
        category_id: None,
        name: "Lamp".into(),
        description: "Bright".into(),
        images: vec!["https://img.example/lamp.jpg".into()],
        variants: vec![crate::service::NewVariant {
            sku: "LAMP-1".into(),
            attributes: Default::default(),
            price: usd("40.00"),
            compare_at: Some(usd("50.00")),
            stock: 5,
        }],
    };
    assert!(matches!(
        h.commerce.create_product(bob, new(ada_store)).await,
        Err(CommerceError::Forbidden)
    ));
    let (product, variants) = expect(
        h.commerce.create_product(ada, new(ada_store)).await,
        "create",
    );
    assert!(
        matches!(
            h.commerce.create_product(ada, new(ada_store)).await,
            Err(CommerceError::Duplicate(_))
        ),
        "SKU taken"
    );
    let mut bad = new(ada_store);
    bad.variants[0].sku = "LAMP-2".into();
    bad.variants[0].compare_at = Some(usd("10.00"));
    assert!(matches!(
        h.commerce.create_product(ada, bad).await,
        Err(CommerceError::Validation {
            field: "variants.price",
            ..
        })
    ));
    let patch = crate::service::ProductPatch {
        name: Some("Desk lamp".into()),
        ..Default::default()
    };
    assert!(matches!(
        h.commerce
            .update_product(bob, product.id, patch.clone())
            .await,
        Err(CommerceError::Forbidden)
    ));
    assert!(matches!(
        h.commerce.set_stock_as(bob, variants[0].id, 100).await,
        Err(CommerceError::Forbidden)
    ));
    assert_eq!(
        h.stock(variants[0].id).await.on_hand,
        5,
        "refused edits change nothing"
    );
    expect(
        h.commerce.update_product(admin, product.id, patch).await,
        "admin edits",
    );
    expect(
        h.commerce.set_stock_as(ada, variants[0].id, 7).await,
        "owner restocks",
    );

    let order = expect(h.guest_buys(variants[0].id, 1).await, "checkout");
    assert!(matches!(
        h.commerce.delete_product(bob, product.id).await,
        Err(CommerceError::Forbidden)
    ));
    expect(h.commerce.delete_product(ada, product.id).await, "withdraw");
    assert!(matches!(
        h.commerce.add_to_cart(&guest(), variants[0].id, q(1)).await,
        Err(CommerceError::ProductUnavailable(_))
    ));
    let kept = expect(h.commerce.order(order.id).await, "order");
    assert_eq!(kept.lines[0].name, "Desk lamp");
    assert_eq!(kept.lines[0].sku.as_str(), "LAMP-1");
}

/// Writes a product with `(sku, price, on_hand)` variants at the harness's
/// current time, then moves the clock one second so creation times differ.
async fn listed<S: Store>(
    h: &Harness<S>,
    store: crate::ids::StoreId,
    category: Option<CategoryId>,
    name: &str,
    description: &str,
    variants: &[(&str, &str, u32)],
) -> ProductId {
    let product = crate::seller::Product {
        id: ProductId::new(),
        store_id: store,
        category_id: category,
        name: name.to_owned(),
        description: description.to_owned(),
        images: Vec::new(),
        created_at: h.clock_now(),
        deleted_at: None,
    };
    let id = product.id;
    let variants = variants
        .iter()
        .map(|(sku, price, on_hand)| crate::seller::Variant {
            id: crate::ids::VariantId::new(),
            product_id: id,
            sku: expect(crate::catalog::Sku::parse(sku), "sku"),
            attributes: BTreeMap::from([("sku".to_owned(), (*sku).to_owned())]),
            price: expect(crate::catalog::VariantPrice::fixed(usd(price)), "price"),
            stock: crate::inventory::Stock {
                on_hand: *on_hand,
                reserved: 0,
            },
        })
        .collect();
    expect(
        h.store().put_product(product, variants).await,
        "put_product",
    );
    h.clock.advance(Duration::seconds(1));
    id
}

async fn names<S: Store>(h: &Harness<S>, query: crate::browse::ProductQuery) -> Vec<String> {
    expect(h.store().search_products(&query).await, "search_products")
        .items
        .into_iter()
        .map(|l| l.product.name)
        .collect()
}

/// The catalog browse of `crate::browse`: text, category with descendants,
/// store, price range and stock on one variant together, every sort with
/// its tie-break, paging, and soft-deleted products left out.
pub async fn catalog_browse_filters_sorts_and_pages<S: Store>(h: &Harness<S>) {
    use crate::browse::{ProductQuery, ProductSort, SearchTerms};
    let (_, a) = h.seller("browse-a").await;
    let (_, b) = h.seller("browse-b").await;
    let clothing = h.category("clothing", None).await;
    let shirts = h.category("shirts", Some(clothing)).await;
    let tees = h.category("tees", Some(shirts)).await;
    let home = h.category("home", None).await;

    listed(
        h,
        a,
        Some(shirts),
        "Blue Shirt",
        "Cotton, long sleeves",
        &[("SHIRT-M", "25.00", 0), ("SHIRT-S", "20.00", 5)],
    )
    .await;
    listed(
        h,
        a,
        Some(tees),
        "Red Tee",
        "A plain tee",
        &[("TEE-1", "15.00", 0)],
    )
    .await;
    listed(
        h,
        b,
        Some(home),
        "Coffee Mug",
        "Holds 100% of your tea_time",
        &[("MUG-C", "8.50", 10)],
    )
    .await;
    let gone = listed(
        h,
        b,
        Some(home),
        "Blue Mug",
        "Withdrawn",
        &[("MUG-B", "12.00", 3)],
    )
    .await;
    listed(
        h,
        b,
        Some(clothing),
        "apple Scarf",
        "Wool",
        &[("SCARF", "30.00", 2)],
    )
    .await;
    let (mut p, _) = expect(h.store().product(gone).await, "product").unwrap_or_else(|| {
        panic!("the product just written is missing");
    });
    p.deleted_at = Some(h.clock_now());
    expect(h.store().put_product(p, Vec::new()).await, "soft delete");

    let q = |f: &dyn Fn(&mut ProductQuery)| {
        let mut query = ProductQuery::default();
        f(&mut query);
        query
    };
    let text = |s: &str| SearchTerms::parse(s);

    assert_eq!(
        names(h, ProductQuery::default()).await,
        ["apple Scarf", "Coffee Mug", "Red Tee", "Blue Shirt"],
        "newest first; the withdrawn product is not listed"
    );
    assert_eq!(
        names(h, q(&|x| x.text = text("blue"))).await,
        ["Blue Shirt"]
    );
    assert_eq!(
        names(h, q(&|x| x.text = text("COTTON shirt"))).await,
        ["Blue Shirt"],
        "every term, in name or description, any case"
    );
    assert_eq!(
        names(h, q(&|x| x.category = Some(clothing))).await,
        ["apple Scarf", "Red Tee", "Blue Shirt"],
        "a category includes its descendants"
    );
    assert_eq!(
        names(h, q(&|x| x.category = Some(shirts))).await,
        ["Red Tee", "Blue Shirt"]
    );
    assert_eq!(
        names(h, q(&|x| x.store = Some(b))).await,
        ["apple Scarf", "Coffee Mug"]
    );
    assert_eq!(
        names(h, q(&|x| x.in_stock = true)).await,
        ["apple Scarf", "Coffee Mug", "Blue Shirt"]
    );
    assert_eq!(
        names(
            h,
            q(&|x| {
                x.min_price = Some(usd("20.00"));
                x.max_price = Some(usd("25.00"));
            })
        )
        .await,
        ["Blue Shirt"],
        "the range is inclusive"
    );
    assert!(
        names(
            h,
            q(&|x| {
                x.min_price = Some(usd("21.00"));
                x.in_stock = true;
            })
        )
        .await
        .iter()
        .all(|n| n != "Blue Shirt"),
        "price and stock must hold for the same variant (the 25.00 one is sold out)"
    );
    assert_eq!(
        names(h, q(&|x| x.sort = ProductSort::Name)).await,
        ["apple Scarf", "Blue Shirt", "Coffee Mug", "Red Tee"],
        "names sort without regard to case"
    );
    assert_eq!(
        names(h, q(&|x| x.sort = ProductSort::PriceAsc)).await,
        ["Coffee Mug", "Red Tee", "Blue Shirt", "apple Scarf"],
        "by the lowest variant price"
    );
    assert_eq!(
        names(h, q(&|x| x.sort = ProductSort::PriceDesc)).await,
        ["apple Scarf", "Blue Shirt", "Red Tee", "Coffee Mug"]
    );

    let page = |n: u32| {
        q(&move |x| {
            x.sort = ProductSort::Name;
            x.page = n;
            x.per_page = 3;
        })
    };
    let second = expect(h.store().search_products(&page(2)).await, "page 2");
    assert_eq!((second.page, second.per_page, second.total), (2, 3, 4));
    assert_eq!(
        second.items.len(),
        1,
        "{:?}",
        second
            .items
            .iter()
            .map(|l| &l.product.name)
            .collect::<Vec<_>>()
    );
    assert_eq!(second.items[0].product.name, "Red Tee");
    assert!(names(h, page(3)).await.is_empty(), "past the end: empty");

    let shirt = expect(
        h.store()
            .search_products(&q(&|x| x.text = text("shirt")))
            .await,
        "shirt",
    );
    let skus: Vec<&str> = shirt.items[0]
        .variants
        .iter()
        .map(|v| v.sku.as_str())
        .collect();
    assert_eq!(skus, ["SHIRT-M", "SHIRT-S"], "every variant, by SKU");

    // Ties: equal prices order by product id, the same on every backend.
    let t1 = listed(h, a, None, "Twin", "", &[("TWIN-1", "5.00", 1)]).await;
    let t2 = listed(h, a, None, "Twin", "", &[("TWIN-2", "5.00", 1)]).await;
    let twins = expect(
        h.store()
            .search_products(&q(&|x| {
                x.text = text("twin");
                x.sort = ProductSort::PriceAsc;
            }))
            .await,
        "twins",
    );
    let ids: Vec<ProductId> = twins.items.iter().map(|l| l.product.id).collect();
    assert_eq!(ids, [t1.min(t2), t1.max(t2)]);
}

/// Search input is text, never syntax: quotes, SQL comments and LIKE
/// wildcards are searched for as themselves.
pub async fn search_text_is_literal<S: Store>(h: &Harness<S>) {
    use crate::browse::{ProductQuery, SearchTerms};
    let (_, s) = h.seller("literal").await;
    listed(
        h,
        s,
        None,
        "Coffee Mug",
        "Holds 100% of your tea_time",
        &[("LIT-1", "8.50", 10)],
    )
    .await;
    listed(
        h,
        s,
        None,
        "Plain Cup",
        "Nothing special",
        &[("LIT-2", "4.00", 10)],
    )
    .await;
    listed(
        h,
        s,
        None,
        "Path C:\\tea",
        "Backslash",
        &[("LIT-3", "4.00", 10)],
    )
    .await;
    let find = |s: &str| ProductQuery {
        text: SearchTerms::parse(s),
        ..ProductQuery::default()
    };
    assert!(names(h, find("' OR 1=1 --")).await.is_empty());
    assert!(names(h, find("%_\\")).await.is_empty());
    assert!(names(h, find("%")).await == ["Coffee Mug"]);
    assert!(names(h, find("_")).await == ["Coffee Mug"]);
    assert!(names(h, find("\\")).await == ["Path C:\\tea"]);
    assert!(names(h, find("'")).await.is_empty());
    assert_eq!(names(h, find("cup")).await, ["Plain Cup"]);
    assert_eq!(
        names(h, ProductQuery::default()).await.len(),
        3,
        "the catalog is intact"
    );
}

/// A cart handed over as read (the guest-token check's read) starts the
/// change; when another change landed since, the save's compare-and-set
/// refuses it and the change is made again on the cart as it is — both
/// changes kept. A read made for another variant than the one added is
/// read again, not trusted to lack its record. A token no cart has gets a
/// fresh one, and no cart; a refused first add still gives the fresh token
/// its (empty) cart.
pub async fn a_stale_cart_read_costs_a_retry_not_a_change<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("stale-read").await;
    let a = h.product(store, None, "Cup", "4.00", 10).await;
    let b = h.product(store, None, "Saucer", "3.00", 10).await;
    let c = h.product(store, None, "Spoon", "1.00", 10).await;
    let owner = guest();
    expect(h.commerce.add_to_cart(&owner, a, q(1)).await, "add a");
    let CartOwner::Guest(token) = &owner else {
        panic!("a guest")
    };
    let (read, fresh) = expect(
        h.commerce.guest_cart(Some(token.as_str()), Some(b)).await,
        "check",
    );
    assert!(!fresh && *read.owner() == owner);
    assert_eq!(
        read.cart().map(|c| c.lines.len()),
        Some(1),
        "the check read the cart"
    );

    // Another request adds a unit of `a` after the read.
    expect(h.commerce.add_to_cart(&owner, a, q(1)).await, "add again");
    let view = expect(
        h.commerce
            .add_to_cart_and_view_from(&owner, Some(read.clone()), b, q(1), None)
            .await,
        "add from a stale read",
    );
    let quantities = |view: &crate::service::CartView| -> Vec<(VariantId, u32)> {
        view.cart
            .lines
            .iter()
            .map(|l| (l.variant_id, l.quantity.get()))
            .collect()
    };
    assert_eq!(quantities(&view), vec![(a, 2), (b, 1)], "both changes kept");
    let shown = expect(
        h.commerce
            .cart_view_from(&owner, Some(read.clone()), None)
            .await,
        "view from the read",
    );
    assert_eq!(shown.cart.lines.len(), 1, "a view shows what it was handed");

    // A fresh read made for `b`, used to add `c`: `c` is read, not refused.
    let (read, _) = expect(
        h.commerce.guest_cart(Some(token.as_str()), Some(b)).await,
        "check",
    );
    let view = expect(
        h.commerce
            .add_to_cart_and_view_from(&owner, Some(read), c, q(3), None)
            .await,
        "add another variant",
    );
    assert_eq!(quantities(&view), vec![(a, 2), (b, 1), (c, 3)]);

    let (other, fresh) = expect(
        h.commerce
            .guest_cart(Some("00000000000000000000000000000000"), Some(a))
            .await,
        "unknown token",
    );
    assert!(fresh && other.cart().is_none() && *other.owner() != owner);
    let newcomer = other.owner().clone();
    let refused = h
        .commerce
        .add_to_cart_and_view_from(&newcomer, Some(other), a, q(11), None)
        .await;
    assert!(
        matches!(refused, Err(CommerceError::InsufficientStock(_))),
        "{refused:?}"
    );
    let CartOwner::Guest(new_token) = &newcomer else {
        panic!("a guest")
    };
    let (again, fresh) = expect(
        h.commerce.guest_cart(Some(new_token.as_str()), None).await,
        "check the new token",
    );
    assert!(!fresh, "the fresh token reaches a cart after a refused add");
    assert_eq!(again.cart().map(|c| c.lines.len()), Some(0));
}

/// What pricing reads about the buyer: a first-order promotion applies to
/// a signed-in buyer without orders, and not after one; promotions with a
/// usage limit or a per-customer limit show as used up once they are (the
/// per-customer one still applies to a guest).
pub async fn limits_and_first_orders_are_priced_for_the_buyer<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("first-order").await;
    let v = h.product(store, None, "Kite", "20.00", 10).await;
    let first = h.promotion(r#"{"name":"Welcome","combinable":true,"conditions":[{"type":"first_order"}],"action":{"type":"percentage","percent":"10"}}"#).await;
    let limited = h.promotion(r#"{"name":"Launch","combinable":true,"usage_limit":1,"action":{"type":"percentage","percent":"5"}}"#).await;
    let mine = h.promotion(r#"{"name":"Loyal","combinable":true,"per_customer_limit":1,"action":{"type":"percentage","percent":"5"}}"#).await;
    let outcome = |view: &crate::service::CartView, id| {
        view.priced
            .promotions
            .iter()
            .find(|t| t.promotion_id == id)
            .map(|t| t.outcome.clone())
    };
    let ada = CustomerId::new();
    let owner = CartOwner::Account(ada);
    expect(h.commerce.add_to_cart(&owner, v, q(1)).await, "add");
    let before = expect(h.commerce.cart_view(&owner, Some(ada)).await, "view");
    for id in [first, limited, mine] {
        assert!(
            matches!(outcome(&before, id), Some(Outcome::Applied { .. })),
            "{:?}",
            before.priced.promotions
        );
    }
    expect(
        h.commerce
            .checkout(Harness::<S>::checkout_request(&owner, Some(ada)))
            .await,
        "checkout",
    );

    expect(h.commerce.add_to_cart(&owner, v, q(1)).await, "add again");
    let after = expect(h.commerce.cart_view(&owner, Some(ada)).await, "view");
    assert_eq!(
        outcome(&after, first),
        Some(Outcome::NotApplied(NotApplied::NotFirstOrder))
    );
    assert_eq!(
        outcome(&after, limited),
        Some(Outcome::NotApplied(NotApplied::UsageExhausted { limit: 1 }))
    );
    assert_eq!(
        outcome(&after, mine),
        Some(Outcome::NotApplied(NotApplied::CustomerLimitReached {
            limit: 1
        }))
    );

    let visitor = guest();
    expect(h.commerce.add_to_cart(&visitor, v, q(1)).await, "guest add");
    let theirs = expect(h.commerce.cart_view(&visitor, None).await, "guest view");
    assert!(matches!(
        outcome(&theirs, mine),
        Some(Outcome::Applied { .. })
    ));
    assert_eq!(
        outcome(&theirs, limited),
        Some(Outcome::NotApplied(NotApplied::UsageExhausted { limit: 1 }))
    );
    assert_eq!(
        outcome(&theirs, first),
        Some(Outcome::NotApplied(NotApplied::NotFirstOrder))
    );
}

/// A promotion's limit cannot drop below what live orders hold (I3), codes
/// stay unique, and replacing a promotion keeps its holds.
pub async fn promotion_limits_never_drop_below_live_holds<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("limits").await;
    let v = h.product(store, None, "Pen", "2.00", 50).await;
    let id = h
        .promotion(r#"{"name":"Few","code":"FEW","usage_limit":5,"action":{"type":"percentage","percent":"10"}}"#)
        .await;
    for _ in 0..2 {
        let owner = guest();
        expect(h.commerce.add_to_cart(&owner, v, q(1)).await, "add");
        expect(h.commerce.apply_code(&owner, None, "few").await, "code");
        expect(
            h.commerce
                .checkout(Harness::<S>::checkout_request(&owner, None))
                .await,
            "checkout",
        );
    }
    let promos = expect(h.store().promotions().await, "promotions");
    let few = promos
        .iter()
        .find(|p| p.id() == id)
        .unwrap_or_else(|| panic!("the promotion is stored"));
    let with_limit = |limit: u32| {
        let mut spec = few.spec().clone();
        spec.usage_limit = Some(limit);
        expect(crate::promotion::Promotion::new(id, spec), "spec")
    };

    let refused = expect(
        h.store().put_promotion(with_limit(1)).await,
        "put_promotion",
    );
    assert_eq!(
        refused,
        Err(crate::storage::LimitBelowUsage { limit: 1, held: 2 })
    );
    let usage = expect(h.store().usage(&[id], None).await, "usage");
    assert_eq!(usage.get(id).total, 2, "a refused change keeps the holds");
    let kept = expect(h.store().promotions().await, "promotions");
    assert_eq!(
        kept.iter()
            .find(|p| p.id() == id)
            .and_then(|p| p.usage_limit()),
        Some(5),
        "and the old limit"
    );

    expect(
        expect(h.store().put_promotion(with_limit(2)).await, "put"),
        "a limit equal to the holds is fine",
    );
    let usage = expect(h.store().usage(&[id], None).await, "usage");
    assert_eq!(usage.get(id).total, 2, "replacing keeps the holds");
    let owner = guest();
    expect(h.commerce.add_to_cart(&owner, v, q(1)).await, "add");
    assert!(matches!(
        h.commerce.apply_code(&owner, None, "FEW").await,
        Err(CommerceError::DiscountUsageExceeded)
    ));

    let mut clash = few.spec().clone();
    clash.name = "Other".to_owned();
    let other = expect(
        crate::promotion::Promotion::new(crate::ids::PromotionId::new(), clash),
        "spec",
    );
    assert!(matches!(
        h.store().put_promotion(other).await,
        Err(crate::storage::StoreError::Duplicate { .. })
    ));
}

/// A promotion is replaced only while it exists
/// ([`crate::storage::PromotionStore::replace_promotion`]): replacing one
/// that never existed, or one deleted, writes nothing and answers `None`,
/// and an update of a deleted promotion is `NotFound` (the race of the two
/// is `race_update_against_delete_of_a_promotion`).
pub async fn a_deleted_promotion_stays_deleted<S: Store>(h: &Harness<S>) {
    let s = h.store();
    let stored = |id: crate::ids::PromotionId| async move {
        expect(s.promotions().await, "promotions")
            .into_iter()
            .find(|p| p.id() == id)
    };
    let renamed = |p: Option<crate::promotion::Promotion>, name: &str| {
        let mut spec = p
            .unwrap_or_else(|| panic!("the promotion is stored"))
            .spec()
            .clone();
        spec.name = name.to_owned();
        spec
    };
    let id = h
        .promotion(
            r#"{"name":"Spring","code":"SPRING","action":{"type":"percentage","percent":"10"}}"#,
        )
        .await;
    let spec = renamed(stored(id).await, "Spring sale");
    let promotion = |id| expect(crate::promotion::Promotion::new(id, spec.clone()), "spec");

    assert_eq!(
        expect(s.replace_promotion(promotion(id)).await, "replace"),
        Some(Ok(())),
        "an existing promotion is replaced"
    );
    assert_eq!(
        stored(id).await.map(|p| p.spec().name.clone()),
        Some("Spring sale".to_owned())
    );
    let ghost = crate::ids::PromotionId::new();
    assert_eq!(
        expect(s.replace_promotion(promotion(ghost)).await, "replace"),
        None,
        "no promotion with that id"
    );
    assert!(stored(ghost).await.is_none(), "nothing was written");

    expect(h.commerce.delete_promotion(id).await, "delete");
    assert!(matches!(
        h.commerce.update_promotion(id, spec.clone()).await,
        Err(CommerceError::NotFound("promotion"))
    ));
    assert!(
        stored(id).await.is_none(),
        "an update does not bring it back"
    );
}

/// A payment whose webhook never came is settled by asking the gateway:
/// only payments pending longer than asked are looked at, a payment the
/// gateway still holds stays pending, and running it again changes nothing.
pub async fn reconciliation_settles_payments_whose_webhook_never_came<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("reconcile").await;
    let v = h.product(store, None, "Kettle", "40.00", 10).await;
    let paid = expect(h.guest_buys(v, 1).await, "checkout");
    let waiting = expect(h.guest_buys(v, 1).await, "checkout");
    let p1 = expect(
        h.commerce
            .start_payment(paid.id, "sandbox", &new_key())
            .await,
        "start",
    );
    let p2 = expect(
        h.commerce
            .start_payment(waiting.id, "sandbox", &new_key())
            .await,
        "start",
    );
    // The buyer paid on the gateway's page; the webhook is lost.
    let _lost = expect(
        h.sandbox.complete(&p1.reference, true, h.clock_now()),
        "complete",
    );

    let too_early = expect(
        h.commerce
            .reconcile_payments(Duration::minutes(2), 100)
            .await,
        "reconcile",
    );
    assert!(too_early.is_empty(), "nothing pending for 2 minutes yet");
    let due = expect(
        h.store()
            .pending_payments(h.clock_now() + Duration::seconds(1), 10)
            .await,
        "pending",
    );
    assert_eq!(
        due.iter().map(|p| p.id).collect::<Vec<_>>(),
        [p1.id, p2.id],
        "oldest first"
    );

    h.clock.advance(Duration::minutes(3));
    let settled = expect(
        h.commerce
            .reconcile_payments(Duration::minutes(2), 100)
            .await,
        "reconcile",
    );
    assert_eq!(settled.len(), 1, "{settled:?}");
    assert_eq!(settled[0].0, p1.id);
    assert!(matches!(settled[0].1, PaymentOutcome::Paid(_)));
    assert_eq!(
        expect(h.commerce.order(paid.id).await, "order").status,
        OrderStatus::Paid
    );
    assert_eq!(
        expect(h.commerce.order(waiting.id).await, "order").status,
        OrderStatus::PendingPayment,
        "the gateway has no answer yet for the other"
    );
    let again = expect(
        h.commerce
            .reconcile_payments(Duration::minutes(2), 100)
            .await,
        "reconcile",
    );
    assert!(again.is_empty(), "a paid payment is no longer pending");
    let paid_events = events(h)
        .await
        .iter()
        .filter(|e| matches!(e, EventKind::OrderPaid { .. }))
        .count();
    assert_eq!(paid_events, 1);
}

/// A digest for test secrets.
fn digest(secret: &str) -> crate::credentials::SecretDigest {
    use sha2::{Digest, Sha256};
    crate::credentials::SecretDigest::from_bytes(Sha256::digest(secret.as_bytes()).into())
}

fn session(
    h_now: chrono::DateTime<chrono::Utc>,
    account: CustomerId,
    family: crate::ids::SessionFamilyId,
    secret: &str,
) -> crate::credentials::RefreshSession {
    crate::credentials::RefreshSession {
        id: crate::ids::SessionId::new(),
        family,
        account_id: account,
        digest: digest(secret),
        expires_at: h_now + Duration::days(30),
        created_at: h_now,
    }
}

fn renewal(
    h_now: chrono::DateTime<chrono::Utc>,
    secret: &str,
) -> crate::credentials::SessionRenewal {
    crate::credentials::SessionRenewal {
        id: crate::ids::SessionId::new(),
        digest: digest(secret),
        expires_at: h_now + Duration::days(30),
    }
}

/// Refresh tokens rotate once; a spent token presented again revokes its
/// whole family; sign-out and "sign out everywhere else" revoke at once;
/// an expired or unknown token is refused.
pub async fn refresh_tokens_rotate_once_and_reuse_revokes_the_family<S: Store>(h: &Harness<S>) {
    use crate::credentials::Rotation;
    use crate::ids::SessionFamilyId;
    let now = h.clock_now();
    let ada = expect(
        h.commerce.register("ada@sessions.test", None, None).await,
        "ada",
    )
    .id;
    let bob = expect(
        h.commerce.register("bob@sessions.test", None, None).await,
        "bob",
    )
    .id;
    let laptop = SessionFamilyId::new();
    expect(
        h.store()
            .create_session(session(now, ada, laptop, "a1"))
            .await,
        "create",
    );
    let rotated = expect(
        h.store()
            .rotate_session(digest("a1"), renewal(now, "a2"), now)
            .await,
        "rotate",
    );
    assert_eq!(
        rotated,
        Rotation::Rotated {
            account_id: ada,
            family: laptop
        }
    );
    let again = expect(
        h.store()
            .rotate_session(digest("a1"), renewal(now, "a3"), now)
            .await,
        "reuse",
    );
    assert_eq!(
        again,
        Rotation::Reused {
            account_id: ada,
            family: laptop
        },
        "a spent token presented again"
    );
    let after = expect(
        h.store()
            .rotate_session(digest("a2"), renewal(now, "a4"), now)
            .await,
        "after reuse",
    );
    assert_eq!(after, Rotation::Invalid, "the whole family is revoked");
    let unknown = expect(
        h.store()
            .rotate_session(digest("a3"), renewal(now, "a5"), now)
            .await,
        "unknown",
    );
    assert_eq!(
        unknown,
        Rotation::Invalid,
        "the refused renewal was not stored"
    );

    // Two devices; "sign out everywhere else" keeps the current one.
    let (phone, tablet) = (SessionFamilyId::new(), SessionFamilyId::new());
    expect(
        h.store()
            .create_session(session(now, ada, phone, "p1"))
            .await,
        "phone",
    );
    expect(
        h.store()
            .create_session(session(now, ada, tablet, "t1"))
            .await,
        "tablet",
    );
    expect(
        h.store()
            .create_session(session(now, bob, SessionFamilyId::new(), "b1"))
            .await,
        "bob",
    );
    let revoked = expect(
        h.store().revoke_sessions(ada, Some(phone)).await,
        "revoke others",
    );
    assert_eq!(revoked, 1, "the tablet (the laptop was revoked already)");
    assert_eq!(
        expect(
            h.store()
                .rotate_session(digest("t1"), renewal(now, "t2"), now)
                .await,
            "t"
        ),
        Rotation::Invalid
    );
    assert_eq!(
        expect(
            h.store()
                .rotate_session(digest("p1"), renewal(now, "p2"), now)
                .await,
            "p"
        ),
        Rotation::Rotated {
            account_id: ada,
            family: phone
        }
    );
    // Sign-out by the current token: only by its own account.
    assert_eq!(
        expect(
            h.store().revoke_family(digest("p2"), bob).await,
            "another's sign out"
        ),
        None,
        "another account cannot sign this one out"
    );
    assert!(
        matches!(
            expect(
                h.store()
                    .rotate_session(digest("p2"), renewal(now, "p2b"), now)
                    .await,
                "p2 still works"
            ),
            Rotation::Rotated { .. }
        ),
        "the token still rotates"
    );
    assert_eq!(
        expect(
            h.store().revoke_family(digest("p2b"), ada).await,
            "sign out"
        ),
        Some(phone)
    );
    assert_eq!(
        expect(
            h.store()
                .rotate_session(digest("p2b"), renewal(now, "p3"), now)
                .await,
            "p2b"
        ),
        Rotation::Invalid
    );
    assert_eq!(
        expect(h.store().revoke_family(digest("nope"), ada).await, "none"),
        None
    );
    // Another account is untouched; an expired token is refused.
    h.clock.advance(Duration::days(31));
    let later = h.clock_now();
    assert_eq!(
        expect(
            h.store()
                .rotate_session(digest("b1"), renewal(later, "b2"), later)
                .await,
            "b"
        ),
        Rotation::Invalid,
        "expired"
    );
    let pruned = expect(h.store().prune_credentials(later).await, "prune");
    assert!(pruned >= 5, "expired sessions are pruned: {pruned}");
}

/// A login code works once, dies after its wrong tries or its time, and a
/// new code voids the old one.
pub async fn one_time_codes_die_after_wrong_tries_and_are_replaced<S: Store>(h: &Harness<S>) {
    use crate::credentials::{CodeCheck, OneTimeSecret, SecretPurpose};
    let now = h.clock_now();
    let ada = expect(
        h.commerce.register("ada@codes.test", None, None).await,
        "ada",
    )
    .id;
    let code = |secret: &str, at: chrono::DateTime<chrono::Utc>| OneTimeSecret {
        account_id: ada,
        purpose: SecretPurpose::LoginOtp,
        digest: digest(secret),
        expires_at: at + Duration::minutes(5),
        attempts_left: 5,
        created_at: at,
    };
    let check = |secret: &'static str| async move {
        expect(
            h.store()
                .check_code(ada, SecretPurpose::LoginOtp, digest(secret), h.clock_now())
                .await,
            "check",
        )
    };
    assert_eq!(check("123456").await, CodeCheck::Missing);
    expect(h.store().put_secret(code("123456", now)).await, "put");
    for left in (1..=4).rev() {
        assert_eq!(
            check("000000").await,
            CodeCheck::Wrong {
                attempts_left: left
            }
        );
    }
    assert_eq!(check("123456").await, CodeCheck::Accepted);
    assert_eq!(check("123456").await, CodeCheck::Missing, "used once");

    expect(h.store().put_secret(code("222222", now)).await, "put");
    for left in (0..=4).rev() {
        assert_eq!(
            check("999999").await,
            CodeCheck::Wrong {
                attempts_left: left
            }
        );
    }
    assert_eq!(
        check("222222").await,
        CodeCheck::Expired,
        "five wrong tries burn it"
    );

    expect(h.store().put_secret(code("333333", now)).await, "first");
    expect(h.store().put_secret(code("444444", now)).await, "second");
    assert_eq!(
        check("333333").await,
        CodeCheck::Wrong { attempts_left: 4 },
        "a new code voids the old"
    );
    assert_eq!(check("444444").await, CodeCheck::Accepted);

    expect(h.store().put_secret(code("555555", now)).await, "put");
    h.clock.advance(Duration::minutes(5));
    assert_eq!(check("555555").await, CodeCheck::Expired, "after 5 minutes");
    // Another purpose of the same account is separate.
    assert_eq!(
        expect(
            h.store()
                .check_code(
                    ada,
                    SecretPurpose::PasswordReset,
                    digest("555555"),
                    h.clock_now()
                )
                .await,
            "other purpose"
        ),
        CodeCheck::Missing
    );
}

/// Verification and reset tokens work once, for their purpose, until they expire.
pub async fn single_use_tokens_work_once<S: Store>(h: &Harness<S>) {
    use crate::credentials::{OneTimeSecret, SecretPurpose};
    let now = h.clock_now();
    let ada = expect(
        h.commerce.register("ada@tokens.test", None, None).await,
        "ada",
    )
    .id;
    let token = |secret: &str, purpose| OneTimeSecret {
        account_id: ada,
        purpose,
        digest: digest(secret),
        expires_at: now + Duration::hours(1),
        attempts_left: 0,
        created_at: now,
    };
    expect(
        h.store()
            .put_secret(token("verify-me", SecretPurpose::VerifyEmail))
            .await,
        "put",
    );
    expect(
        h.store()
            .put_secret(token("reset-me", SecretPurpose::PasswordReset))
            .await,
        "put",
    );
    let take = |purpose, secret: &'static str| async move {
        expect(
            h.store()
                .take_token(purpose, digest(secret), h.clock_now())
                .await,
            "take",
        )
    };
    assert_eq!(
        take(SecretPurpose::PasswordReset, "verify-me").await,
        None,
        "wrong purpose"
    );
    assert_eq!(
        take(SecretPurpose::VerifyEmail, "verify-me").await,
        Some(ada)
    );
    assert_eq!(
        take(SecretPurpose::VerifyEmail, "verify-me").await,
        None,
        "once"
    );
    h.clock.advance(Duration::hours(2));
    assert_eq!(
        take(SecretPurpose::PasswordReset, "reset-me").await,
        None,
        "expired"
    );
}

/// Starting a payment again with its key, after the key's record was lost
/// (pruned, or an earlier try stored the payment but failed to complete the
/// key), answers with the payment already made, not a duplicate error.
pub async fn payment_start_survives_a_lost_key<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("lost-key").await;
    let v = h.product(store, None, "Vase", "30.00", 5).await;
    let order = expect(h.guest_buys(v, 1).await, "checkout");
    let key = new_key();
    let first = expect(
        h.commerce.start_payment(order.id, "sandbox", &key).await,
        "start",
    );
    let forgotten = expect(
        h.store().prune(h.clock_now() + Duration::seconds(1)).await,
        "prune",
    );
    assert!(forgotten >= 1, "the key's record is gone");
    let again = expect(
        h.commerce.start_payment(order.id, "sandbox", &key).await,
        "start again",
    );
    assert_eq!(again.id, first.id);
    assert_eq!(again.reference, first.reference);
    assert_eq!(
        expect(h.store().payments_of(order.id).await, "payments").len(),
        1,
        "no second payment"
    );
}

/// The payments of a page of orders in one read: each order's own, oldest
/// first, the same as asking order by order; unknown and payment-less
/// orders add nothing.
pub async fn payments_of_orders_matches_payments_of<S: Store>(h: &Harness<S>) {
    let (_, store) = h.seller("many-orders").await;
    let v = h.product(store, None, "Jug", "12.00", 20).await;
    let a = expect(h.guest_buys(v, 1).await, "checkout a");
    let b = expect(h.guest_buys(v, 1).await, "checkout b");
    let c = expect(h.guest_buys(v, 1).await, "checkout c (no payment)");
    for (order, n) in [(a.id, 2), (b.id, 1)] {
        for _ in 0..n {
            expect(
                h.commerce.start_payment(order, "sandbox", &new_key()).await,
                "start",
            );
        }
    }
    let unknown = crate::ids::OrderId::new();
    let all = expect(
        h.store()
            .payments_of_orders(&[a.id, b.id, c.id, unknown])
            .await,
        "payments of orders",
    );
    assert_eq!(all.len(), 3, "two for a, one for b, none for c");
    for order in [a.id, b.id, c.id] {
        let one_by_one = expect(h.store().payments_of(order).await, "payments of");
        let batched: Vec<_> = all
            .iter()
            .filter(|p| p.order_id == order)
            .cloned()
            .collect();
        assert_eq!(batched, one_by_one, "order {order}");
    }
    assert!(
        expect(h.store().payments_of_orders(&[]).await, "none").is_empty(),
        "no ids, no payments"
    );
}
