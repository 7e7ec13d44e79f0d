//! A buyer's orders over a real socket: the list (own, newest first,
//! paged), one order (own; an admin's any; another's 404), and cancelling
//! (pending or paid and not shipped), which gives stock back once.

use crate::common;

use commerce_core::order::OrderStatus;
use common::TestServer;
use common::orders::{Shop, buy, order, pay, stock};
use serde_json::json;

async fn buyers_list_their_own_orders_newest_first(s: &TestServer) {
    let shop = Shop::open(s, "list").await;
    let (_, v) = shop.variant(s, "Cap", "CAP-1", "7.00", 50).await;
    let buyer = s.user("list@example.com", true, &[]).await;
    let other = s.user("other@example.com", true, &[]).await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(buy(s, &buyer, &v, 1).await["id"].clone());
    }
    let theirs = buy(s, &other, &v, 1).await;

    let page = s
        .call("GET", "/api/v1/orders?per_page=2", Some(&buyer.token), None)
        .await;
    page.expect(200);
    let page = page.json();
    assert_eq!(page["total"], 3);
    assert_eq!(page["per_page"], 2);
    let ids: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].clone())
        .collect();
    assert_eq!(ids, vec![mine[2].clone(), mine[1].clone()], "newest first");
    let rest = s
        .call(
            "GET",
            "/api/v1/orders?per_page=2&page=2",
            Some(&buyer.token),
            None,
        )
        .await
        .json();
    assert_eq!(rest["items"][0]["id"], mine[0]);
    assert_eq!(
        s.call(
            "GET",
            "/api/v1/orders?per_page=101",
            Some(&buyer.token),
            None
        )
        .await
        .status,
        422
    );
    assert_eq!(s.get("/api/v1/orders").await.status, 401);

    // Another's order is not found; an admin reads any.
    let path = format!("/api/v1/orders/{}", theirs["id"].as_str().unwrap());
    let res = s.call("GET", &path, Some(&buyer.token), None).await;
    assert_eq!((res.status, res.code().as_str()), (404, "not_found"));
    let admin = s.admin("admin@example.com").await;
    let res = s.call("GET", &path, Some(&admin.token), None).await;
    res.expect(200);
    assert_eq!(res.json()["email"], "other@example.com");
    let unknown = s
        .call(
            "GET",
            "/api/v1/orders/0190c7a4-0000-7000-8000-000000000000",
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
}

async fn cancelling_gives_stock_back_once(s: &TestServer) {
    let shop = Shop::open(s, "cancel").await;
    let (_, v) = shop.variant(s, "Jar", "JAR-1", "6.00", 5).await;
    let buyer = s.user("cancel@example.com", true, &[]).await;
    let stranger = s.user("stranger@example.com", true, &[]).await;

    // Pending: the reservation is released.
    let pending = buy(s, &buyer, &v, 2).await;
    let path = format!("/api/v1/orders/{}/cancel", pending["id"].as_str().unwrap());
    assert_eq!(
        s.call("POST", &path, Some(&stranger.token), None)
            .await
            .status,
        404
    );
    assert_eq!(s.call("POST", &path, None, None).await.status, 401);
    assert_eq!(stock(s, &v).await.reserved, 2, "refusals change nothing");
    let res = s.call("POST", &path, Some(&buyer.token), None).await;
    res.expect(200);
    assert_eq!(res.json()["status"], "cancelled");
    assert_eq!(
        (stock(s, &v).await.reserved, stock(s, &v).await.on_hand),
        (0, 5)
    );
    let again = s.call("POST", &path, Some(&buyer.token), None).await;
    assert_eq!(
        (again.status, again.code().as_str()),
        (409, "invalid_transition")
    );
    assert_eq!(
        (stock(s, &v).await.reserved, stock(s, &v).await.on_hand),
        (0, 5),
        "once"
    );

    // Paid, not shipped: restocked and refunded in full.
    let paid = buy(s, &buyer, &v, 1).await;
    pay(s, &buyer, &paid).await;
    assert_eq!(stock(s, &v).await.on_hand, 4);
    let path = format!("/api/v1/orders/{}/cancel", paid["id"].as_str().unwrap());
    let res = s.call("POST", &path, Some(&buyer.token), None).await;
    res.expect(200);
    let body = res.json();
    assert_eq!(body["status"], "cancelled");
    assert_eq!(
        body["refunded"],
        json!({"amount": "6.00", "currency": "USD"})
    );
    assert_eq!(body["refunds"].as_array().unwrap().len(), 1);
    assert_eq!(stock(s, &v).await.on_hand, 5, "restocked");

    // Shipped: the buyer can no longer cancel.
    let shipped = buy(s, &buyer, &v, 1).await;
    pay(s, &buyer, &shipped).await;
    let admin = s.admin("admin@example.com").await;
    s.call(
        "POST",
        &format!(
            "/api/v1/admin/orders/{}/ship",
            shipped["id"].as_str().unwrap()
        ),
        Some(&admin.token),
        None,
    )
    .await
    .expect(200);
    let res = s
        .call(
            "POST",
            &format!("/api/v1/orders/{}/cancel", shipped["id"].as_str().unwrap()),
            Some(&buyer.token),
            None,
        )
        .await;
    assert_eq!(
        (res.status, res.code().as_str()),
        (409, "invalid_transition")
    );
    assert_eq!(
        order(s, shipped["id"].as_str().unwrap()).await.status,
        OrderStatus::Shipped
    );

    // An admin cancels anyone's pending order.
    let other = buy(s, &stranger, &v, 1).await;
    let res = s
        .call(
            "POST",
            &format!("/api/v1/orders/{}/cancel", other["id"].as_str().unwrap()),
            Some(&admin.token),
            None,
        )
        .await;
    res.expect(200);
    assert_eq!(res.json()["status"], "cancelled");
}

on_both!(
    buyers_list_their_own_orders_newest_first,
    cancelling_gives_stock_back_once,
);
