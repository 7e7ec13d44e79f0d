//! The handlers over the in-memory store and the in-process queue: which
//! mails each event sends, to whom, once; refunds once; account mails.

mod common;

use std::sync::Arc;

use commerce_core::Quantity;
use commerce_core::account::Email;
use commerce_core::outbox::EventKind;
use commerce_core::storage::{
    AuditStore, IdempotencyStore, InMemoryStore, OrderStore, OutboxStore,
};
use commerce_core::testkit::{Harness, expect, guest};
use commerce_jobs::handlers::{AccountMail, AccountMailKind, Handlers, enqueue_account_mail};
use commerce_jobs::mail::RecordingMailer;
use commerce_jobs::{InProcessQueue, JobQueue};

fn harness() -> (Harness<InMemoryStore>, Arc<InMemoryStore>) {
    let store = Arc::new(InMemoryStore::new());
    (Harness::new(Arc::clone(&store)), store)
}

fn queue(h: &Harness<InMemoryStore>) -> Arc<InProcessQueue> {
    Arc::new(InProcessQueue::new(Arc::new(h.clock.clone())))
}

/// Scenario 22: a paid order mails the buyer (placed, then paid) and each
/// seller once, with that seller's lines only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_order_mails_the_buyer_and_each_seller_once() {
    let (h, s) = harness();
    let (_, mugs) = common::seller(&h, "mugs", "mugs@example.com").await;
    let (_, lamps) = common::seller(&h, "lamps", "lamps@example.com").await;
    let mug = h.product(mugs, None, "Blue mug", "12.00", 10).await;
    let lamp = h.product(lamps, None, "Desk lamp", "30.00", 10).await;
    let owner = guest();
    for v in [mug, lamp] {
        expect(
            h.commerce
                .add_to_cart(&owner, v, expect(Quantity::new(1), "q"))
                .await,
            "add",
        );
    }
    let order = expect(
        h.commerce
            .checkout(Harness::<InMemoryStore>::checkout_request(&owner, None))
            .await,
        "checkout",
    );
    h.pay(order.id).await;

    let mailer = RecordingMailer::new();
    let q = queue(&h);
    let worker = common::shop_worker(&h, Arc::clone(&q), &mailer);
    let mut relay = common::relay(Arc::clone(&s), Arc::clone(&q));
    common::drain(&mut relay, &s, q.as_ref()).await;
    worker.shutdown().await;

    let n = order.number;
    assert_eq!(
        common::sent(&mailer),
        vec![
            (
                "buyer@example.com".into(),
                format!("Shop: order #{n} is paid")
            ),
            (
                "buyer@example.com".into(),
                format!("Shop: order #{n} received")
            ),
            (
                "lamps@example.com".into(),
                format!("Shop: new order #{n} for lamps")
            ),
            (
                "mugs@example.com".into(),
                format!("Shop: new order #{n} for mugs")
            ),
        ]
    );
    let mails = mailer.sent();
    let to_mugs = mails.iter().find(|m| m.to.as_str() == "mugs@example.com");
    let to_mugs = to_mugs.unwrap_or_else(|| panic!("no mail to the mug seller"));
    assert!(
        to_mugs.text.contains("Blue mug") && !to_mugs.text.contains("Desk lamp"),
        "only its own lines"
    );
    assert!(to_mugs.html.contains("Blue mug") && !to_mugs.html.contains("Desk lamp"));
    let paid = mails.iter().find(|m| m.subject.ends_with("is paid"));
    let paid = paid.unwrap_or_else(|| panic!("no paid mail"));
    assert!(
        paid.text
            .contains(&format!("https://shop.test/orders/{}", order.id))
    );
    assert!(paid.text.contains("42.00 USD"), "{}", paid.text);
    assert!(
        expect(h.store().pending_events(10).await, "pending").is_empty(),
        "all relayed"
    );
}

/// Scenario 23 and "at most once per event": a replayed webhook writes no
/// event; the same event handled twice (a job delivered twice) mails once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_mail_nothing_twice() {
    let (h, _) = harness();
    let (_, shop) = common::seller(&h, "shop", "seller@example.com").await;
    let v = h.product(shop, None, "Chair", "50.00", 5).await;
    let order = expect(h.guest_buys(v, 1).await, "checkout");
    let payment = expect(
        h.commerce
            .start_payment(order.id, "sandbox", &commerce_core::testkit::new_key())
            .await,
        "start",
    );
    let hook = expect(
        h.sandbox.complete(&payment.reference, true, h.clock_now()),
        "pay",
    );
    for _ in 0..3 {
        expect(
            h.commerce
                .handle_webhook("sandbox", &hook.headers, &hook.body)
                .await,
            "webhook",
        );
    }
    let events = expect(h.store().pending_events(100).await, "events");
    assert_eq!(events.len(), 2, "placed and paid, once each: {events:?}");

    let mailer = RecordingMailer::new();
    let handlers = Handlers::new(
        h.commerce.clone(),
        Arc::new(mailer.clone()),
        common::settings(),
    );
    for _ in 0..2 {
        for e in &events {
            expect(handlers.handle_event(e).await, "handle");
        }
    }
    assert_eq!(
        mailer.sent().len(),
        3,
        "buyer placed, buyer paid, seller: {:?}",
        common::sent(&mailer)
    );

    // A failed send is released and goes out on the retry, still once.
    let again = Handlers::new(
        h.commerce.clone(),
        Arc::new(mailer.clone()),
        common::settings(),
    );
    let cancel = expect(
        h.commerce.cancel_order(order.id, "changed my mind").await,
        "cancel",
    );
    let events = expect(h.store().pending_events(100).await, "events");
    let cancelled = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::OrderCancelled { .. }))
        .unwrap_or_else(|| panic!("no cancel event"));
    mailer.fail_next(1);
    assert!(
        again.handle_event(cancelled).await.is_err(),
        "the mail failed"
    );
    expect(again.handle_event(cancelled).await, "retry");
    expect(again.handle_event(cancelled).await, "duplicate");
    let cancels = mailer
        .sent()
        .into_iter()
        .filter(|m| m.subject.contains("cancelled"))
        .count();
    assert_eq!(cancels, 1);
    assert_eq!(cancel.status, commerce_core::order::OrderStatus::Cancelled);
}

/// A cancelled paid order is refunded through its gateway once, with the
/// event id as the gateway's idempotency key, however often the job runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_are_sent_once_per_event() {
    let (h, _) = harness();
    let (_, shop) = common::seller(&h, "refunds", "r@example.com").await;
    let v = h.product(shop, None, "Vase", "20.00", 5).await;
    let order = expect(h.guest_buys(v, 1).await, "checkout");
    h.pay(order.id).await;
    expect(
        h.commerce.cancel_order(order.id, "out of stock").await,
        "cancel",
    );
    let events = expect(h.store().pending_events(100).await, "events");
    let cancel = events
        .iter()
        .find(|e| {
            matches!(
                e.kind,
                EventKind::OrderCancelled {
                    refund: Some(_),
                    ..
                }
            )
        })
        .unwrap_or_else(|| panic!("no refunding cancel: {events:?}"));

    let mailer = RecordingMailer::new();
    let handlers = Handlers::new(
        h.commerce.clone(),
        Arc::new(mailer.clone()),
        common::settings(),
    );
    for _ in 0..3 {
        expect(handlers.handle_event(cancel).await, "handle");
    }
    let paid_by = expect(h.store().order(order.id).await, "order")
        .and_then(|o| o.paid_by)
        .unwrap_or_else(|| panic!("paid"));
    let payment =
        expect(h.store().payment(paid_by).await, "payment").unwrap_or_else(|| panic!("payment"));
    let refunds: Vec<_> = payment
        .attempts
        .iter()
        .filter(|a| a.kind == "refund")
        .collect();
    assert_eq!(refunds.len(), 1, "{:?}", payment.attempts);
    assert!(refunds[0].detail.contains("20.00 USD"));
    let cancel_mails: Vec<_> = mailer
        .sent()
        .into_iter()
        .filter(|m| m.subject.contains("cancelled"))
        .collect();
    assert_eq!(cancel_mails.len(), 1);
    assert!(cancel_mails[0].text.contains("20.00 USD will be refunded"));
}

/// Scenario 33: threshold 3; 5 → 3 mails the owner once; 3 → 2 and 1 → 2 nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_stock_mails_the_owner_once() {
    let (h, s) = harness();
    let (_, shop) = common::seller(&h, "stock", "owner@example.com").await;
    let v = h.product(shop, None, "Lamp", "10.00", 5).await;
    for level in [3, 2, 1, 2] {
        expect(h.commerce.set_stock(v, level).await, "set stock");
    }
    let mailer = RecordingMailer::new();
    let q = queue(&h);
    let worker = common::shop_worker(&h, Arc::clone(&q), &mailer);
    let mut relay = common::relay(Arc::clone(&s), Arc::clone(&q));
    common::drain(&mut relay, &s, q.as_ref()).await;
    worker.shutdown().await;
    let mails = mailer.sent();
    assert_eq!(mails.len(), 1, "{:?}", common::sent(&mailer));
    assert_eq!(mails[0].to.as_str(), "owner@example.com");
    assert!(mails[0].subject.contains("low stock: Lamp"));
    assert!(mails[0].text.contains("3 left"), "{}", mails[0].text);
}

/// An unpaid order expired by the sweep mails the buyer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_orders_mail_the_buyer() {
    let (h, _) = harness();
    let (_, shop) = common::seller(&h, "expiry", "e@example.com").await;
    let v = h.product(shop, None, "Kettle", "15.00", 5).await;
    let order = expect(h.guest_buys(v, 1).await, "checkout");
    h.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(
        expect(h.commerce.expire_due(10).await, "sweep"),
        vec![order.id]
    );
    let mailer = RecordingMailer::new();
    let handlers = Handlers::new(
        h.commerce.clone(),
        Arc::new(mailer.clone()),
        common::settings(),
    );
    for e in expect(h.store().pending_events(10).await, "events") {
        expect(handlers.handle_event(&e).await, "handle");
    }
    let subjects: Vec<String> = common::sent(&mailer).into_iter().map(|(_, s)| s).collect();
    assert!(
        subjects.contains(&format!("Shop: order #{} expired unpaid", order.number)),
        "{subjects:?}"
    );
    let audit = expect(h.store().audit().await, "audit");
    assert_eq!(audit.events.len(), 2);
}

/// Account mails are enqueued directly (never through the database), carry
/// their link or code, go out once per job, and keep secrets out of Debug.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_mails_carry_their_link_or_code_once() {
    let (h, _) = harness();
    let q = queue(&h);
    let to = expect(Email::parse("ada@example.com"), "email");
    let mails = [
        AccountMailKind::Verify {
            token: "v-tok_1".into(),
        },
        AccountMailKind::Otp {
            code: "042917".into(),
        },
        AccountMailKind::Reset {
            token: "r+tok/2".into(),
        },
    ];
    for kind in mails {
        let mail = AccountMail {
            to: to.clone(),
            kind,
        };
        assert!(!format!("{mail:?}").contains("tok"), "no secret in Debug");
        expect(enqueue_account_mail(q.as_ref(), &mail).await, "enqueue");
    }
    let bad = AccountMail {
        to: to.clone(),
        kind: AccountMailKind::Otp {
            code: "12345".into(),
        },
    };
    assert!(
        enqueue_account_mail(q.as_ref(), &bad).await.is_err(),
        "a code is 6 digits"
    );
    let mailer = RecordingMailer::new();
    let handlers = Handlers::new(
        h.commerce.clone(),
        Arc::new(mailer.clone()),
        common::settings(),
    );
    let jobs = expect(
        q.reserve(
            10,
            std::time::Duration::from_secs(30),
            std::time::Duration::ZERO,
        )
        .await,
        "reserve",
    );
    assert_eq!(jobs.len(), 3);
    for job in &jobs {
        let mail: AccountMail = expect(job.payload(), "payload");
        for _ in 0..2 {
            expect(handlers.handle_account_mail(job.id, &mail).await, "send");
        }
    }
    let sent = mailer.sent();
    assert_eq!(sent.len(), 3, "once per job, though each ran twice");
    let body = |needle: &str| {
        sent.iter()
            .any(|m| m.text.contains(needle) && m.html.contains(needle))
    };
    assert!(body("https://shop.test/verify-email?token=v-tok_1"));
    assert!(body("https://shop.test/reset-password?token=r%2Btok%2F2"));
    assert!(
        sent.iter()
            .any(|m| m.subject.contains("042917") && m.text.contains("042917"))
    );
    let audit = expect(h.store().audit().await, "audit");
    assert!(
        audit.events.is_empty(),
        "account mails are not outbox events"
    );
}

/// The order-placed mail (its claim and the order read together): a failed
/// send gives the claim back and the retry sends it, once; an event whose
/// order does not exist fails for good and leaves no claim behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_placed_mail_is_sent_once_after_a_failure() {
    let (h, _) = harness();
    let (_, shop) = common::seller(&h, "placed", "p@example.com").await;
    let v = h.product(shop, None, "Jar", "9.00", 5).await;
    let order = expect(h.guest_buys(v, 1).await, "checkout");
    let events = expect(h.store().pending_events(100).await, "events");
    let placed = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::OrderPlaced { order_id } if order_id == order.id))
        .unwrap_or_else(|| panic!("no placed event"));
    let mailer = RecordingMailer::new();
    let handlers = Handlers::new(
        h.commerce.clone(),
        Arc::new(mailer.clone()),
        common::settings(),
    );
    mailer.fail_next(1);
    assert!(
        handlers.handle_event(placed).await.is_err(),
        "the mail failed"
    );
    assert!(mailer.sent().is_empty());
    expect(handlers.handle_event(placed).await, "retry");
    expect(handlers.handle_event(placed).await, "duplicate");
    let sent = mailer.sent();
    assert_eq!(sent.len(), 1, "{:?}", common::sent(&mailer));
    assert!(sent[0].subject.contains(&format!("#{}", order.number)));

    let orphan = commerce_core::outbox::OutboxEvent {
        id: commerce_core::ids::EventId::new(),
        kind: EventKind::OrderPlaced {
            order_id: commerce_core::ids::OrderId::new(),
        },
        created_at: h.clock_now(),
        relayed_at: None,
    };
    assert!(
        handlers.handle_event(&orphan).await.is_err(),
        "no such order"
    );
    let key = expect(
        commerce_core::idempotency::IdempotencyKey::parse(&format!("{}:buyer", orphan.id)),
        "key",
    );
    let now = h.clock_now();
    assert_eq!(
        expect(
            h.store()
                .begin(
                    commerce_jobs::handlers::MAIL_SCOPE,
                    &key,
                    commerce_core::idempotency::Fingerprint::of(&[b"probe"]),
                    now,
                    now + chrono::Duration::seconds(30),
                )
                .await,
            "begin"
        ),
        commerce_core::idempotency::Begin::Started,
        "the claim was given back"
    );
    assert_eq!(mailer.sent().len(), 1, "nothing more was sent");
}
