//! The back office and sellers over a real socket: a seller sees only its
//! store's lines, never another store's orders or the buyer's payment
//! details; admins list, ship, deliver and refund, and the lifecycle refuses
//! every other move with 409 `invalid_transition`.

use crate::common;

use commerce_core::account::Role;
use common::TestServer;
use common::orders::{Shop, account_cart, add, checkout, key, pay};
use serde_json::json;

async fn a_seller_sees_only_its_own_lines(s: &TestServer) {
    let a = Shop::open(s, "alpha").await;
    let b = Shop::open(s, "beta").await;
    let (_, va) = a.variant(s, "Alpha mug", "A-1", "10.00", 9).await;
    let (_, vb) = b.variant(s, "Beta mug", "B-1", "20.00", 9).await;
    let buyer = s.user("mixed@example.com", true, &[]).await;
    add(s, &account_cart(&buyer), &va, 1).await;
    add(s, &account_cart(&buyer), &vb, 2).await;
    let o = checkout(s, Some(&buyer.token), None, Some(&key()), &json!({})).await;
    o.expect(201);
    let o = o.json();
    // An order of beta's alone.
    let only_b = s.user("only-b@example.com", true, &[]).await;
    add(s, &account_cart(&only_b), &vb, 1).await;
    checkout(s, Some(&only_b.token), None, Some(&key()), &json!({}))
        .await
        .expect(201);

    let res = s
        .call(
            "GET",
            &format!("/api/v1/stores/{}/orders", a.store),
            Some(&a.seller.token),
            None,
        )
        .await;
    res.expect(200);
    let page = res.json();
    assert_eq!(page["total"], 1);
    let seen = &page["items"][0];
    assert_eq!(seen["id"], o["id"]);
    let skus: Vec<&str> = seen["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, vec!["A-1"], "only alpha's line");
    for hidden in [
        "email",
        "payments",
        "total",
        "refunds",
        "captured",
        "customer_id",
    ] {
        assert!(
            seen.get(hidden).is_none(),
            "{hidden} is not for sellers: {seen}"
        );
    }
    let res = s
        .call(
            "GET",
            &format!("/api/v1/stores/{}/orders", b.store),
            Some(&b.seller.token),
            None,
        )
        .await
        .json();
    assert_eq!(res["total"], 2);
    assert!(res["items"].as_array().unwrap().iter().all(|o| {
        o["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["sku"] == "B-1")
    }));

    // Another's store: refused; a status filter; an order read directly: 404.
    let res = s
        .call(
            "GET",
            &format!("/api/v1/stores/{}/orders", b.store),
            Some(&a.seller.token),
            None,
        )
        .await;
    assert_eq!((res.status, res.code().as_str()), (403, "forbidden"));
    let paid = s
        .call(
            "GET",
            &format!("/api/v1/stores/{}/orders?status=paid", a.store),
            Some(&a.seller.token),
            None,
        )
        .await
        .json();
    assert_eq!(paid["total"], 0);
    let bad = s
        .call(
            "GET",
            &format!("/api/v1/stores/{}/orders?status=lost", a.store),
            Some(&a.seller.token),
            None,
        )
        .await;
    assert_eq!(bad.status, 422);
    let direct = s
        .call(
            "GET",
            &format!("/api/v1/orders/{}", o["id"].as_str().unwrap()),
            Some(&a.seller.token),
            None,
        )
        .await;
    assert_eq!(direct.status, 404);
    let unknown = s
        .call(
            "GET",
            "/api/v1/stores/0190c7a4-0000-7000-8000-000000000000/orders",
            Some(&a.seller.token),
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
}

async fn admins_ship_deliver_and_refund_within_the_lifecycle(s: &TestServer) {
    let shop = Shop::open(s, "office").await;
    let (_, v) = shop.variant(s, "Chair", "CHAIR-1", "40.00", 9).await;
    let buyer = s.user("office@example.com", true, &[]).await;
    let admin = s.admin("admin@example.com").await;
    let post = |path: String, body: Option<serde_json::Value>| {
        let token = admin.token.clone();
        async move { s.call("POST", &path, Some(&token), body).await }
    };
    let pending = common::orders::buy(s, &buyer, &v, 1).await;
    let pid = pending["id"].as_str().unwrap().to_owned();
    let o = common::orders::buy(s, &buyer, &v, 2).await;
    let id = o["id"].as_str().unwrap().to_owned();
    pay(s, &buyer, &o).await;

    // Illegal moves: 409, nothing changes.
    for (path, why) in [
        (
            format!("/api/v1/admin/orders/{pid}/ship"),
            "pending → shipped",
        ),
        (
            format!("/api/v1/admin/orders/{pid}/deliver"),
            "pending → delivered",
        ),
        (
            format!("/api/v1/admin/orders/{id}/deliver"),
            "paid → delivered",
        ),
        (
            format!("/api/v1/admin/orders/{pid}/refund"),
            "nothing captured",
        ),
    ] {
        let res = post(path, None).await;
        assert_eq!(
            (res.status, res.code().as_str()),
            (409, "invalid_transition"),
            "{why}"
        );
    }
    assert_eq!(
        common::orders::order(s, &pid).await.status.as_str(),
        "pending_payment"
    );

    // Lists by status.
    let res = s
        .call(
            "GET",
            "/api/v1/admin/orders?status=paid",
            Some(&admin.token),
            None,
        )
        .await
        .json();
    assert_eq!(res["total"], 1);
    assert_eq!(res["items"][0]["id"], o["id"]);
    let all = s
        .call("GET", "/api/v1/admin/orders", Some(&admin.token), None)
        .await
        .json();
    assert_eq!(all["total"], 2);

    let res = post(
        format!("/api/v1/admin/orders/{id}/ship"),
        Some(json!({"tracking": "1Z999"})),
    )
    .await;
    res.expect(200);
    assert_eq!(
        (res.json()["status"].clone(), res.json()["tracking"].clone()),
        (json!("shipped"), json!("1Z999"))
    );
    let res = post(format!("/api/v1/admin/orders/{id}/ship"), None).await;
    assert_eq!(res.status, 409, "shipped twice");
    let res = post(format!("/api/v1/admin/orders/{id}/deliver"), None).await;
    res.expect(200);
    assert_eq!(res.json()["status"], "delivered");

    // Partial refunds keep the status; more than is left is refused.
    let res = post(
        format!("/api/v1/admin/orders/{id}/refund"),
        Some(json!({"amount": {"amount": "30.00", "currency": "USD"}})),
    )
    .await;
    res.expect(200);
    assert_eq!(res.json()["status"], "delivered");
    assert_eq!(res.json()["refunded"]["amount"], "30.00");
    let over = post(
        format!("/api/v1/admin/orders/{id}/refund"),
        Some(json!({"amount": {"amount": "50.01", "currency": "USD"}})),
    )
    .await;
    assert_eq!(
        (over.status, over.code().as_str()),
        (409, "refund_exceeds_captured")
    );
    for bad in [
        json!({"amount": {"amount": "0.00", "currency": "USD"}}),
        json!({"amount": {"amount": "1.00", "currency": "EUR"}}),
        json!({"amount": {"amount": "1.005", "currency": "USD"}}),
        json!({"amount": 5}),
    ] {
        let res = post(
            format!("/api/v1/admin/orders/{id}/refund"),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(res.status, 422, "{bad}");
    }
    let order = common::orders::order(s, &id).await;
    assert_eq!(order.refunds.len(), 1, "refusals refund nothing");
    // The rest, without an amount: refunded in full.
    let res = post(format!("/api/v1/admin/orders/{id}/refund"), None).await;
    res.expect(200);
    assert_eq!(res.json()["status"], "refunded");
    assert_eq!(res.json()["refunded"]["amount"], "80.00");
    let res = post(format!("/api/v1/admin/orders/{id}/refund"), None).await;
    assert_eq!(res.status, 409, "nothing left");

    // Not for sellers or customers; unknown orders are 404.
    let seller = s
        .user("seller-ish@example.com", true, &[Role::Seller])
        .await;
    let res = s
        .call(
            "POST",
            &format!("/api/v1/admin/orders/{id}/ship"),
            Some(&seller.token),
            None,
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(
        s.call("GET", "/api/v1/admin/orders", Some(&buyer.token), None)
            .await
            .status,
        403
    );
    let res = post(
        "/api/v1/admin/orders/0190c7a4-0000-7000-8000-000000000000/deliver".into(),
        None,
    )
    .await;
    assert_eq!(res.status, 404);
}

/// The optional `Idempotency-Key` of the back office's POSTs: a refund
/// retried with its key refunds once and answers the same; the key with
/// another body is 422 `idempotency_key_reused`; a key is the caller's own.
async fn an_admin_refund_retried_with_its_key_refunds_once(s: &TestServer) {
    let shop = Shop::open(s, "keyed").await;
    let (_, v) = shop.variant(s, "Desk", "DESK-1", "50.00", 9).await;
    let buyer = s.user("keyed@example.com", true, &[]).await;
    let admin = s.admin("keyed-admin@example.com").await;
    let other = s.admin("other-admin@example.com").await;
    let o = common::orders::buy(s, &buyer, &v, 2).await;
    let id = o["id"].as_str().unwrap().to_owned();
    pay(s, &buyer, &o).await;
    let path = format!("/api/v1/admin/orders/{id}/refund");
    let send = |token: String, key: &'static str, amount: &'static str| {
        let path = path.clone();
        async move {
            let auth = format!("Bearer {token}");
            let body = json!({"amount": {"amount": amount, "currency": "USD"}}).to_string();
            s.raw(
                "POST",
                &path,
                &[
                    ("authorization", auth.as_str()),
                    ("content-type", "application/json"),
                    ("idempotency-key", key),
                ],
                body.into_bytes(),
            )
            .await
        }
    };
    let first = send(admin.token.clone(), "refund-1", "30.00").await;
    first.expect(200);
    let again = send(admin.token.clone(), "refund-1", "30.00").await;
    again.expect(200);
    assert_eq!(again.json(), first.json(), "the same answer, replayed");
    let order = common::orders::order(s, &id).await;
    assert_eq!(order.refunds.len(), 1, "refunded once");

    let reused = send(admin.token.clone(), "refund-1", "10.00").await;
    assert_eq!(
        (reused.status, reused.code().as_str()),
        (422, "idempotency_key_reused")
    );
    // Another admin's key of the same text is another key: it refunds.
    let theirs = send(other.token.clone(), "refund-1", "10.00").await;
    theirs.expect(200);
    assert_eq!(common::orders::order(s, &id).await.refunds.len(), 2);
    // A refusal is kept too: the same request with its key answers the
    // same refusal, even once it would no longer be refused.
    let over = send(admin.token.clone(), "refund-2", "99.00").await;
    assert_eq!(
        (over.status, over.code().as_str()),
        (409, "refund_exceeds_captured")
    );
    let over_again = send(admin.token.clone(), "refund-2", "99.00").await;
    assert_eq!(over_again.json(), over.json());
    assert_eq!(common::orders::order(s, &id).await.refunds.len(), 2);
    // Without a key, nothing is kept: each call runs.
    let res = s
        .call(
            "POST",
            &path,
            Some(&admin.token),
            Some(json!({"amount": {"amount": "1.00", "currency": "USD"}})),
        )
        .await;
    res.expect(200);
    let res = s
        .call(
            "POST",
            &path,
            Some(&admin.token),
            Some(json!({"amount": {"amount": "1.00", "currency": "USD"}})),
        )
        .await;
    res.expect(200);
    assert_eq!(common::orders::order(s, &id).await.refunds.len(), 4);
    // The optional body takes the JSON types a required one takes.
    let auth = format!("Bearer {}", admin.token);
    let body = json!({"amount": {"amount": "1.00", "currency": "USD"}}).to_string();
    for (ct, status) in [
        ("text/plain", 415),
        ("application/vnd.shop+json; charset=utf-8", 200),
    ] {
        let res = s
            .raw(
                "POST",
                &path,
                &[("authorization", auth.as_str()), ("content-type", ct)],
                body.clone().into_bytes(),
            )
            .await;
        assert_eq!(res.status, status, "{ct}");
    }
    assert_eq!(common::orders::order(s, &id).await.refunds.len(), 5);
    // A malformed key is refused before anything runs.
    let bad = send(admin.token.clone(), "has space", "1.00").await;
    assert_eq!(
        (bad.status, bad.code().as_str()),
        (422, "validation_failed")
    );
    assert_eq!(common::orders::order(s, &id).await.refunds.len(), 5);
}

on_both!(
    a_seller_sees_only_its_own_lines,
    admins_ship_deliver_and_refund_within_the_lifecycle,
    an_admin_refund_retried_with_its_key_refunds_once,
);
