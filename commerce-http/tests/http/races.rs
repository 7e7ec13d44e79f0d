//! Races over a real socket, each request on its own connection, all
//! started together: the last units, a coupon with one use left, one
//! webhook delivered ten times, and one idempotency key sent eight times.

use crate::common;

use std::sync::Arc;

use commerce_core::ids::PromotionId;
use commerce_core::order::OrderStatus;
use commerce_core::outbox::EventKind;
use commerce_core::promotion::{Promotion, PromotionSpec};
use commerce_core::storage::{AuditStore, PromotionStore};
use common::orders::{
    Shop, account_cart, add, checkout, event_id, key, mails_about, money, order, start_payment,
    stock,
};
use common::{Resp, TestServer, User};
use serde_json::json;
use tokio::sync::Barrier;

/// Runs `f` for each item at once (each task waits at a barrier first).
async fn at_once<T, F, Fut>(items: Vec<T>, f: F) -> Vec<Resp>
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Resp> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(items.len()));
    let f = Arc::new(f);
    let tasks: Vec<_> = items
        .into_iter()
        .map(|item| {
            let barrier = Arc::clone(&barrier);
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                barrier.wait().await;
                f(item).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| panic!("task: {e}")));
    }
    out
}

async fn buyers(s: &TestServer, prefix: &str, n: usize) -> Vec<User> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(s.user(&format!("{prefix}{i}@example.com"), true, &[]).await);
    }
    out
}

async fn twenty_buyers_and_five_units(s: &TestServer) {
    let shop = Shop::open(s, "last").await;
    let (_, v) = shop.variant(s, "Last", "LAST-1", "15.00", 5).await;
    let all = buyers(s, "b", 20).await;
    for b in &all {
        add(s, &account_cart(b), &v, 1).await;
    }
    let addr = s.addr;
    let answers = at_once(all.clone(), move |b: User| async move {
        let auth = format!("Bearer {}", b.token);
        let k = key();
        common::http(
            addr,
            "POST",
            "/api/v1/checkout",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
                ("idempotency-key", &k),
            ],
            b"{}".to_vec(),
        )
        .await
    })
    .await;
    let placed = answers.iter().filter(|r| r.status == 201).count();
    let short = answers
        .iter()
        .filter(|r| r.status == 409 && r.code() == "insufficient_stock")
        .count();
    assert_eq!(
        (placed, short),
        (5, 15),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let st = stock(s, &v).await;
    assert_eq!((st.on_hand, st.reserved, st.available()), (5, 5, 0));
    let audit = s.state.commerce.store().audit().await.unwrap();
    assert_eq!(audit.orders.len(), 5);
}

async fn eight_buyers_and_a_coupon_with_one_use(s: &TestServer) {
    let shop = Shop::open(s, "coupon").await;
    let (_, v) = shop.variant(s, "Deal", "DEAL-1", "20.00", 50).await;
    let spec: PromotionSpec = serde_json::from_value(json!({
        "name": "Only once",
        "code": "ONCE",
        "usage_limit": 1,
        "action": {"type": "percentage", "percent": "50"}
    }))
    .unwrap();
    let promo = Promotion::new(PromotionId::new(), spec).unwrap();
    s.state
        .commerce
        .store()
        .put_promotion(promo)
        .await
        .unwrap()
        .unwrap();
    let all = buyers(s, "c", 8).await;
    for b in &all {
        add(s, &account_cart(b), &v, 1).await;
        s.state
            .commerce
            .apply_code(&account_cart(b), Some(b.account.id), "once")
            .await
            .unwrap_or_else(|e| panic!("apply: {e}"));
    }
    let addr = s.addr;
    let answers = at_once(all, move |b: User| async move {
        let auth = format!("Bearer {}", b.token);
        let k = key();
        common::http(
            addr,
            "POST",
            "/api/v1/checkout",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
                ("idempotency-key", &k),
            ],
            b"{}".to_vec(),
        )
        .await
    })
    .await;
    let placed: Vec<_> = answers.iter().filter(|r| r.status == 201).collect();
    let refused = answers
        .iter()
        .filter(|r| r.status == 422 && r.code() == "discount_usage_exceeded")
        .count();
    assert_eq!(
        (placed.len(), refused),
        (1, 7),
        "{:?}",
        answers
            .iter()
            .map(|r| (r.status, String::from_utf8_lossy(&r.body).into_owned()))
            .collect::<Vec<_>>()
    );
    let o = placed[0].json();
    assert_eq!(o["discount_total"]["amount"], "10.00");
    assert_eq!(o["total"]["amount"], "10.00");
    assert_eq!(o["promotions"][0]["code"], "ONCE");
}

async fn one_webhook_ten_times(s: &TestServer) {
    let shop = Shop::open(s, "hook").await;
    let (_, v) = shop.variant(s, "Once", "ONCE-1", "9.00", 5).await;
    let buyer = s.user("hook@example.com", true, &[]).await;
    let o = common::orders::buy(s, &buyer, &v, 1).await;
    let id = o["id"].as_str().unwrap().to_owned();
    let p = start_payment(s, &buyer.token, &id, &key()).await.json();
    let hook = common::orders::signer().webhook(
        &event_id(),
        p["reference"].as_str().unwrap(),
        money(&p["amount"]),
        true,
        chrono::Utc::now(),
    );
    let addr = s.addr;
    let answers = at_once((0..10).collect(), move |_: i32| {
        let hook = hook.clone();
        async move {
            let headers: Vec<(&str, &str)> = hook
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            common::http(
                addr,
                "POST",
                "/api/v1/payments/sandbox/webhook",
                &headers,
                hook.body.clone(),
            )
            .await
        }
    })
    .await;
    assert!(
        answers.iter().all(|r| r.status == 200),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let outcomes: Vec<String> = answers
        .iter()
        .map(|r| r.json()["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "paid").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "already_applied").count(),
        9,
        "{outcomes:?}"
    );
    assert_eq!(order(s, &id).await.status, OrderStatus::Paid);
    assert_eq!(stock(s, &v).await.on_hand, 4, "sold once");
    let audit = s.state.commerce.store().audit().await.unwrap();
    let paid_events = audit
        .events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::OrderPaid { order_id, .. } if order_id.to_string() == id))
        .count();
    assert_eq!(paid_events, 1, "one announcement");
    s.eventually("the paid mail", || mails_about(s, "is paid") >= 1)
        .await;
    // A later order's paid mail comes after this one's would have: still one.
    let marker = common::orders::buy(s, &buyer, &v, 1).await;
    common::orders::pay(s, &buyer, &marker).await;
    s.eventually("the marker's paid mail", || mails_about(s, "is paid") >= 2)
        .await;
    let number = o["number"].as_u64().unwrap();
    assert_eq!(mails_about(s, &format!("order #{number} is paid")), 1);
}

async fn one_key_eight_times(s: &TestServer) {
    let shop = Shop::open(s, "samekey").await;
    let (_, v) = shop.variant(s, "Key", "KEY-1", "3.00", 50).await;
    let buyer = s.user("samekey@example.com", true, &[]).await;
    add(s, &account_cart(&buyer), &v, 2).await;
    let k = key();
    let replay_key = k.clone();
    let addr = s.addr;
    let token = buyer.token.clone();
    let answers = at_once((0..8).collect(), move |_: i32| {
        let auth = format!("Bearer {token}");
        let k = k.clone();
        async move {
            common::http(
                addr,
                "POST",
                "/api/v1/checkout",
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                    ("idempotency-key", &k),
                ],
                b"{}".to_vec(),
            )
            .await
        }
    })
    .await;
    let audit = s.state.commerce.store().audit().await.unwrap();
    assert_eq!(audit.orders.len(), 1, "exactly one order");
    let the_order = audit.orders[0].id.to_string();
    for r in &answers {
        match r.status {
            201 => assert_eq!(r.json()["id"], the_order.as_str()),
            409 => {
                assert_eq!(r.code(), "conflict");
                assert!(r.header("retry-after").is_some());
            }
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&r.body)),
        }
    }
    assert!(answers.iter().any(|r| r.status == 201));
    assert_eq!(stock(s, &v).await.reserved, 2, "reserved once");
    // Once the first finished, the key replays the order.
    let replay = checkout(s, Some(&buyer.token), None, Some(&replay_key), &json!({})).await;
    replay.expect(201);
    assert_eq!(replay.json()["id"], the_order.as_str());
}

on_both!(
    twenty_buyers_and_five_units,
    eight_buyers_and_a_coupon_with_one_use,
    one_webhook_ten_times,
    one_key_eight_times,
);
