//! Reservations expire through the running server's sweep: with a 2 s TTL
//! (`COMMERCE_RESERVATION_TTL`), an unpaid order placed over HTTP becomes
//! `expired` and its stock returns, with nothing but time passing.

use crate::common;

use std::time::Duration;

use commerce_core::order::OrderStatus;
use commerce_http::config::Config;
use common::TestServer;
use common::orders::{Shop, buy, order, stock, until};

fn short_ttl() -> Config {
    let mut c = Config::defaults();
    c.reservation_ttl = Duration::from_secs(2);
    c
}

async fn unpaid_orders_expire_and_give_their_stock_back(s: &TestServer) {
    let shop = Shop::open(s, "expiry").await;
    let (_, v) = shop.variant(s, "Melon", "MELON-1", "4.00", 3).await;
    let buyer = s.user("expiry@example.com", true, &[]).await;
    let o = buy(s, &buyer, &v, 2).await;
    let id = o["id"].as_str().unwrap().to_owned();
    let placed = chrono::DateTime::parse_from_rfc3339(o["created_at"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(o["reservation_expires_at"].as_str().unwrap())
            .unwrap();
    // The reservation lasts the configured TTL (stores keep milliseconds).
    let held = (expires - placed).num_milliseconds();
    assert!((1990..=2010).contains(&held), "{held} ms");
    assert_eq!(stock(s, &v).await.available(), 1);

    until("the sweep to expire the order", || async {
        order(s, &id).await.status == OrderStatus::Expired
    })
    .await;
    let st = stock(s, &v).await;
    assert_eq!((st.on_hand, st.reserved, st.available()), (3, 0, 3));
    let res = s
        .call(
            "GET",
            &format!("/api/v1/orders/{id}"),
            Some(&buyer.token),
            None,
        )
        .await;
    assert_eq!(res.json()["status"], "expired");
    // An expired order cannot be paid any more.
    let res = common::orders::start_payment(s, &buyer.token, &id, &common::orders::key()).await;
    assert_eq!((res.status, res.code().as_str()), (409, "order_expired"));
}

on_both_with!(short_ttl; unpaid_orders_expire_and_give_their_stock_back);
