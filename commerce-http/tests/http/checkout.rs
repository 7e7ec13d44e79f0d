//! `POST /api/v1/checkout` over a real socket: the order it places, the
//! stock it reserves, the cart it empties, its idempotency (Stripe's replay
//! contract) and its refusals, for signed-in buyers and guests.

use crate::common;

use common::TestServer;
use common::orders::{
    Shop, account_cart, add, cart_lines, checkout, guest_cart, key, order_count, stock,
};
use serde_json::json;

fn address() -> serde_json::Value {
    json!({"full_name": "Ada Buyer", "line1": "1 Main St", "city": "Springfield",
           "postal_code": "12345", "country": "US"})
}

async fn checkout_places_a_pending_order_with_snapshots(s: &TestServer) {
    let shop = Shop::open(s, "snap").await;
    let (pa, a) = shop.variant(s, "Mug", "MUG-1", "25.00", 5).await;
    let (_, b) = shop.variant(s, "Cup", "CUP-1", "25.00", 5).await;
    let buyer = s.user("ada@example.com", true, &[]).await;
    add(s, &account_cart(&buyer), &a, 1).await;
    add(s, &account_cart(&buyer), &b, 1).await;

    let res = checkout(
        s,
        Some(&buyer.token),
        None,
        Some(&key()),
        &json!({"shipping_address": address()}),
    )
    .await;
    res.expect(201);
    let o = res.json();
    assert_eq!(o["status"], "pending_payment");
    assert_eq!(o["email"], "ada@example.com");
    assert_eq!(o["subtotal"], json!({"amount": "50.00", "currency": "USD"}));
    assert_eq!(o["total"], json!({"amount": "50.00", "currency": "USD"}));
    assert!(o["number"].as_u64().is_some_and(|n| n > 0));
    assert!(o["reservation_expires_at"].is_string());
    assert_eq!(o["shipping_address"]["city"], "Springfield");
    assert_eq!(o["payments"], json!([]));
    assert!(o.get("order_token").is_none(), "only guests get one");
    let lines = o["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    let mug = lines.iter().find(|l| l["sku"] == "MUG-1").unwrap();
    assert_eq!(mug["name"].as_str().unwrap(), "Mug (M)");
    assert_eq!(mug["unit_price"]["amount"], "25.00");
    assert_eq!(mug["quantity"], 1);
    assert_eq!(mug["discounts"], json!([]));
    assert_eq!(mug["tax"]["amount"], "0.00");

    // Stock is reserved, the cart is empty.
    assert_eq!(
        (stock(s, &a).await.reserved, stock(s, &a).await.available()),
        (1, 4)
    );
    assert_eq!(cart_lines(s, &account_cart(&buyer)).await, 0);

    // The order keeps its snapshot when the catalog changes (I6).
    s.call(
        "PATCH",
        &format!("/api/v1/products/{pa}"),
        Some(&shop.seller.token),
        Some(json!({"name": "Renamed mug"})),
    )
    .await
    .expect(200);
    let again = s
        .call(
            "GET",
            &format!("/api/v1/orders/{}", o["id"].as_str().unwrap()),
            Some(&buyer.token),
            None,
        )
        .await;
    again.expect(200);
    let line = again.json()["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["sku"] == "MUG-1")
        .cloned()
        .unwrap();
    assert_eq!(line["name"], "Mug (M)");

    // The buyer is told the order was placed.
    s.eventually("the order-placed mail", || {
        common::orders::mails_about(s, "received") == 1
    })
    .await;
}

async fn the_same_key_replays_and_another_body_is_refused(s: &TestServer) {
    let shop = Shop::open(s, "idem").await;
    let (_, v) = shop.variant(s, "Tea", "TEA-1", "4.00", 10).await;
    let buyer = s.user("idem@example.com", true, &[]).await;
    add(s, &account_cart(&buyer), &v, 2).await;
    let k = key();
    let body = json!({"shipping_address": address()});

    let first = checkout(s, Some(&buyer.token), None, Some(&k), &body).await;
    first.expect(201);
    let replay = checkout(s, Some(&buyer.token), None, Some(&k), &body).await;
    replay.expect(201);
    assert_eq!(replay.json(), first.json(), "same status, same body");
    assert_eq!(order_count(s).await, 1);
    assert_eq!(stock(s, &v).await.reserved, 2, "reserved once");

    let other = checkout(
        s,
        Some(&buyer.token),
        None,
        Some(&k),
        &json!({"shipping_address": address(), "email": "else@example.com"}),
    )
    .await;
    assert_eq!(
        (other.status, other.code().as_str()),
        (422, "idempotency_key_reused")
    );

    // Keys are scoped to the caller: another buyer's identical key is theirs.
    let second = s.user("idem2@example.com", true, &[]).await;
    add(s, &account_cart(&second), &v, 1).await;
    let theirs = checkout(s, Some(&second.token), None, Some(&k), &body).await;
    theirs.expect(201);
    assert_ne!(theirs.json()["id"], first.json()["id"]);
    assert_eq!(order_count(s).await, 2);

    // No key, or a malformed one: refused, nothing placed.
    add(s, &account_cart(&buyer), &v, 1).await;
    let none = checkout(s, Some(&buyer.token), None, None, &body).await;
    assert_eq!(
        (none.status, none.code().as_str()),
        (400, "idempotency_key_required")
    );
    let bad = checkout(s, Some(&buyer.token), None, Some("has space"), &body).await;
    assert_eq!(
        (bad.status, bad.code().as_str()),
        (422, "validation_failed")
    );
    assert_eq!(order_count(s).await, 2);
    assert_eq!(
        cart_lines(s, &account_cart(&buyer)).await,
        1,
        "the cart is kept"
    );
}

async fn a_shortage_names_every_short_line_and_is_replayed(s: &TestServer) {
    let shop = Shop::open(s, "short").await;
    let (_, a) = shop.variant(s, "Kite", "KITE-1", "9.00", 3).await;
    let (_, b) = shop.variant(s, "Reel", "REEL-1", "5.00", 2).await;
    let (_, c) = shop.variant(s, "Line", "LINE-1", "1.00", 9).await;
    let buyer = s.user("short@example.com", true, &[]).await;
    let cart = account_cart(&buyer);
    add(s, &cart, &a, 3).await;
    add(s, &cart, &b, 2).await;
    add(s, &cart, &c, 1).await;
    // Others buy first: 1 of A and 1 of B are left.
    let other = s.user("first@example.com", true, &[]).await;
    common::orders::add(s, &account_cart(&other), &a, 2).await;
    common::orders::add(s, &account_cart(&other), &b, 1).await;
    checkout(s, Some(&other.token), None, Some(&key()), &json!({}))
        .await
        .expect(201);

    let k = key();
    let res = checkout(s, Some(&buyer.token), None, Some(&k), &json!({})).await;
    assert_eq!(
        (res.status, res.code().as_str()),
        (409, "insufficient_stock")
    );
    let mut lines: Vec<(String, u64, u64)> = res.json()["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["variant_id"].as_str().unwrap().to_owned(),
                l["requested"].as_u64().unwrap(),
                l["available"].as_u64().unwrap(),
            )
        })
        .collect();
    lines.sort();
    let mut want = vec![(a.clone(), 3, 1), (b.clone(), 2, 1)];
    want.sort();
    assert_eq!(lines, want, "each short line, and only those");
    assert_eq!(stock(s, &c).await.reserved, 0, "nothing reserved");
    assert_eq!(cart_lines(s, &cart).await, 3, "the cart is kept");

    // The refusal is final for this key: replayed as it was, even once the
    // cart could be checked out. A new key runs again.
    let replay = checkout(s, Some(&buyer.token), None, Some(&k), &json!({})).await;
    assert_eq!(replay.status, 409);
    assert_eq!(replay.json(), res.json());
    s.state
        .commerce
        .clear_cart(&cart)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    add(s, &cart, &c, 1).await;
    let replay = checkout(s, Some(&buyer.token), None, Some(&k), &json!({})).await;
    assert_eq!(replay.json(), res.json(), "still the first answer");
    checkout(s, Some(&buyer.token), None, Some(&key()), &json!({}))
        .await
        .expect(201);
}

async fn guests_check_out_with_their_cart_token_and_an_email(s: &TestServer) {
    let shop = Shop::open(s, "guest").await;
    let (_, v) = shop.variant(s, "Lamp", "LAMP-1", "30.00", 4).await;
    let (owner, token) = guest_cart();
    add(s, &owner, &v, 1).await;
    let body = json!({"email": "guest@example.com", "shipping_address": address()});

    let anonymous = checkout(s, None, None, Some(&key()), &body).await;
    assert_eq!(
        (anonymous.status, anonymous.code().as_str()),
        (401, "unauthorized")
    );
    let no_email = checkout(s, None, Some(&token), Some(&key()), &json!({})).await;
    assert_eq!(no_email.status, 422);
    assert_eq!(no_email.json()["errors"][0]["field"], "email");
    let bad_token = checkout(s, None, Some("nope"), Some(&key()), &body).await;
    assert_eq!(bad_token.status, 422);
    let by_id = checkout(
        s,
        None,
        Some(&token),
        Some(&key()),
        &json!({"email": "guest@example.com",
                "shipping_address_id": "0190c7a4-0000-7000-8000-000000000000"}),
    )
    .await;
    assert_eq!(by_id.status, 422, "guests have no address book");
    assert_eq!(order_count(s).await, 0);

    let res = checkout(s, None, Some(&token), Some(&key()), &body).await;
    res.expect(201);
    let o = res.json();
    assert_eq!(o["email"], "guest@example.com");
    assert_eq!(o["customer_id"], serde_json::Value::Null);
    let order_token = o["order_token"].as_str().unwrap().to_owned();
    assert_eq!(cart_lines(s, &owner).await, 0);

    // The guest reads its order with the token; nobody else does.
    let path = format!("/api/v1/orders/{}", o["id"].as_str().unwrap());
    let read = s
        .raw("GET", &path, &[("x-order-token", &order_token)], Vec::new())
        .await;
    read.expect(200);
    assert_eq!(read.json()["id"], o["id"]);
    assert!(read.json().get("order_token").is_none());
    let wrong = s
        .raw(
            "GET",
            &path,
            &[("x-order-token", &"ab".repeat(32))],
            Vec::new(),
        )
        .await;
    assert_eq!(wrong.status, 404);
    assert_eq!(s.get(&path).await.status, 401);
    let stranger = s.user("stranger@example.com", true, &[]).await;
    assert_eq!(
        s.call("GET", &path, Some(&stranger.token), None)
            .await
            .status,
        404
    );
}

async fn bad_input_places_nothing(s: &TestServer) {
    let shop = Shop::open(s, "bad").await;
    let (_, v) = shop.variant(s, "Sock", "SOCK-1", "3.00", 9).await;
    let buyer = s.user("bad@example.com", true, &[]).await;
    let other = s.user("bad-other@example.com", true, &[]).await;
    let saved = s
        .call(
            "POST",
            "/api/v1/me/addresses",
            Some(&other.token),
            Some(address()),
        )
        .await;
    saved.expect(201);
    let others_address = saved.json()["id"].as_str().unwrap().to_owned();

    // An empty cart.
    let empty = checkout(s, Some(&buyer.token), None, Some(&key()), &json!({})).await;
    assert_eq!((empty.status, empty.code().as_str()), (409, "cart_empty"));

    add(s, &account_cart(&buyer), &v, 2).await;
    for (body, field) in [
        (
            json!({"shipping_address": address(), "shipping_address_id": others_address}),
            "shipping_address",
        ),
        (
            json!({"shipping_address_id": others_address}),
            "shipping_address_id",
        ),
        (
            json!({"shipping_address": {"full_name": "A", "line1": "B", "city": "C", "postal_code": "1", "country": "USA"}}),
            "shipping_address.country",
        ),
        (json!({"shipping_method": "teleport"}), "shipping_method"),
        (
            json!({"total": {"amount": "0.01", "currency": "USD"}}),
            "total",
        ),
    ] {
        let res = checkout(s, Some(&buyer.token), None, Some(&key()), &body).await;
        assert_eq!(res.status, 422, "{body}");
        assert_eq!(res.code(), "validation_failed", "{body}");
        assert_eq!(res.json()["errors"][0]["field"], field, "{body}");
    }
    assert_eq!(order_count(s).await, 0);
    assert_eq!(stock(s, &v).await.reserved, 0);
    assert_eq!(cart_lines(s, &account_cart(&buyer)).await, 1);

    // The buyer's own saved address works.
    let mine = s
        .call(
            "POST",
            "/api/v1/me/addresses",
            Some(&buyer.token),
            Some(address()),
        )
        .await;
    let id = mine.json()["id"].as_str().unwrap().to_owned();
    let res = checkout(
        s,
        Some(&buyer.token),
        None,
        Some(&key()),
        &json!({"shipping_address_id": id}),
    )
    .await;
    res.expect(201);
    assert_eq!(res.json()["shipping_address"]["full_name"], "Ada Buyer");
}

on_both!(
    checkout_places_a_pending_order_with_snapshots,
    the_same_key_replays_and_another_body_is_refused,
    a_shortage_names_every_short_line_and_is_replayed,
    guests_check_out_with_their_cart_token_and_an_email,
    bad_input_places_nothing,
);
