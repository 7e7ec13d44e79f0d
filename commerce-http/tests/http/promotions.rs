//! Promotions over HTTP (admins): create, read, list, edit, delete;
//! validation naming the field; code clashes; a usage limit never below
//! what live orders hold; edits reach carts at once.

use crate::common;

use common::cart::{self as c, As};
use common::{TestServer, User, redactions};
use serde_json::{Value, json};

fn usd(amount: &str) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

async fn post(s: &TestServer, admin: &User, body: Value) -> common::Resp {
    s.call(
        "POST",
        "/api/v1/admin/promotions",
        Some(&admin.token),
        Some(body),
    )
    .await
}

async fn patch(s: &TestServer, admin: &User, id: &str, body: Value) -> common::Resp {
    s.call(
        "PATCH",
        &format!("/api/v1/admin/promotions/{id}"),
        Some(&admin.token),
        Some(body),
    )
    .await
}

async fn list(s: &TestServer, admin: &User) -> Value {
    let res = s
        .call("GET", "/api/v1/admin/promotions", Some(&admin.token), None)
        .await;
    res.expect(200);
    res.json()
}

async fn admins_create_read_edit_and_delete_promotions(s: &TestServer) {
    let admin = s.admin("promo-admin@example.com").await;
    // The example of API.md.
    let res = post(
        s,
        &admin,
        json!({
            "name": "10% off everything",
            "code": "save10",
            "priority": 10,
            "combinable": true,
            "starts_at": null, "ends_at": null,
            "usage_limit": 100, "per_customer_limit": 1,
            "conditions": [
                {"type": "min_subtotal", "amount": usd("50.00")},
                {"type": "min_quantity", "quantity": 3},
                {"type": "first_order"}
            ],
            "action": {"type": "percentage", "percent": "10", "applies_to": {"products": [], "categories": []}}
        }),
    )
    .await;
    res.expect(201);
    let created = res.json();
    assert_eq!(created["code"], "SAVE10", "codes are kept upper case");
    assert_eq!(created["used"], 0);
    let mut settings = redactions();
    settings.add_redaction(".id", "[redacted]");
    settings.bind(|| insta::assert_json_snapshot!("promotion_created", created));
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/admin/promotions/{id}");
    let got = s.call("GET", &path, Some(&admin.token), None).await;
    got.expect(200);
    assert_eq!(got.json(), created);

    // Every action type of API.md is accepted.
    for action in [
        json!({"type": "fixed_amount", "amount": usd("5.00")}),
        json!({"type": "buy_x_get_y", "buy": 2, "get": 1, "percent": "100"}),
        json!({"type": "free_shipping"}),
        json!({"type": "tiered", "tiers": [
            {"min_subtotal": usd("50.00"), "percent": "5"},
            {"min_subtotal": usd("100.00"), "percent": "10"}]}),
        json!({"type": "percentage", "percent": "12.5", "max_discount": usd("20.00")}),
    ] {
        let res = post(s, &admin, json!({"name": "Any", "action": action.clone()})).await;
        res.expect(201);
        assert_eq!(res.json()["action"]["type"], action["type"]);
        assert_eq!(res.json()["code"], Value::Null);
    }
    let all = list(s, &admin).await;
    assert_eq!(all["total"], 6);
    assert_eq!(all["items"][0]["id"], id.as_str(), "oldest first");
    let page = s
        .call(
            "GET",
            "/api/v1/admin/promotions?page=2&per_page=4",
            Some(&admin.token),
            None,
        )
        .await;
    page.expect(200);
    assert_eq!(page.json()["items"].as_array().unwrap().len(), 2);

    // PATCH: absent fields stay; null clears; conditions and action replace whole.
    let res = patch(
        s,
        &admin,
        &id,
        json!({"name": "Spring sale", "code": null, "usage_limit": null,
            "conditions": [], "action": {"type": "percentage", "percent": "15"}}),
    )
    .await;
    res.expect(200);
    let edited = res.json();
    assert_eq!(edited["name"], "Spring sale");
    assert_eq!(edited["code"], Value::Null);
    assert_eq!(edited["usage_limit"], Value::Null);
    assert_eq!(edited["per_customer_limit"], 1);
    assert_eq!(edited["priority"], 10);
    assert_eq!(edited["conditions"], json!([]));
    assert_eq!(edited["action"]["percent"], "15");
    assert_eq!(
        s.call("GET", &path, Some(&admin.token), None).await.json(),
        edited
    );

    // DELETE; then it is gone.
    s.call("DELETE", &path, Some(&admin.token), None)
        .await
        .expect(204);
    s.call("GET", &path, Some(&admin.token), None)
        .await
        .expect(404);
    s.call("DELETE", &path, Some(&admin.token), None)
        .await
        .expect(404);
    patch(s, &admin, &id, json!({"name": "Back"}))
        .await
        .expect(404);
    for bad in ["not-an-id", &uuid::Uuid::now_v7().to_string()] {
        let res = s
            .call(
                "GET",
                &format!("/api/v1/admin/promotions/{bad}"),
                Some(&admin.token),
                None,
            )
            .await;
        assert_eq!((res.status, res.code().as_str()), (404, "not_found"));
    }
    assert_eq!(list(s, &admin).await["total"], 5);
}

async fn bad_promotions_are_refused_naming_the_field(s: &TestServer) {
    let admin = s.admin("promo-admin2@example.com").await;
    let ok_action = json!({"type": "percentage", "percent": "10"});
    let cases = [
        (json!({"name": "", "action": ok_action}), "name"),
        (
            json!({"name": "x", "code": "no spaces", "action": ok_action}),
            "code",
        ),
        (
            json!({"name": "x", "action": {"type": "percentage", "percent": "0"}}),
            "action.percent",
        ),
        (
            json!({"name": "x", "action": {"type": "percentage", "percent": "150"}}),
            "action.percent",
        ),
        (
            json!({"name": "x", "action": {"type": "fixed_amount", "amount": usd("0.00")}}),
            "action.amount",
        ),
        (
            json!({"name": "x", "action": {"type": "fixed_amount", "amount": {"amount": "5.00", "currency": "EUR"}}}),
            "action.amount",
        ),
        (
            json!({"name": "x", "conditions": [{"type": "min_subtotal", "amount": {"amount": "5.00", "currency": "EUR"}}], "action": ok_action}),
            "conditions.min_subtotal",
        ),
        (
            json!({"name": "x", "conditions": [{"type": "min_quantity", "quantity": 0}], "action": ok_action}),
            "conditions.min_quantity",
        ),
        (
            json!({"name": "x", "starts_at": "2030-02-01T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z", "action": ok_action}),
            "ends_at",
        ),
        (
            json!({"name": "x", "usage_limit": 0, "action": ok_action}),
            "usage_limit",
        ),
        (
            json!({"name": "x", "action": {"type": "buy_x_get_y", "buy": 0, "get": 1, "percent": "100"}}),
            "action.buy",
        ),
        (
            json!({"name": "x", "action": {"type": "tiered", "tiers": [
                {"min_subtotal": usd("100.00"), "percent": "10"},
                {"min_subtotal": usd("50.00"), "percent": "5"}]}}),
            "action.tiers",
        ),
        (
            json!({"name": "x", "action": {"type": "tiered", "tiers": []}}),
            "action.tiers",
        ),
        (
            json!({"name": "x", "owner_id": "me", "action": ok_action}),
            "owner_id",
        ),
        (json!({"name": "x"}), "action"),
        (
            json!({"name": "x", "usage_limit": -1, "action": ok_action}),
            "usage_limit",
        ),
    ];
    for (body, field) in cases {
        let res = post(s, &admin, body.clone()).await;
        assert_eq!(res.status, 422, "{body}: {}", res.json());
        assert_eq!(res.code(), "validation_failed");
        assert_eq!(res.json()["errors"][0]["field"], field, "{body}");
    }
    // Malformed actions: 422 naming the action.
    for action in [
        json!({"type": "teleport"}),
        json!({"type": "percentage", "percent": 10}),
        json!({"type": "percentage", "percent": "10", "extra": true}),
    ] {
        let res = post(s, &admin, json!({"name": "x", "action": action})).await;
        assert_eq!(res.status, 422, "{action}");
        let field = res.json()["errors"][0]["field"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(field.starts_with("action"), "{action}: {field}");
    }
    assert_eq!(list(s, &admin).await["total"], 0, "nothing was added");

    // A code is one promotion's, whatever its case.
    post(
        s,
        &admin,
        json!({"name": "A", "code": "SPRING", "action": ok_action}),
    )
    .await
    .expect(201);
    let res = post(
        s,
        &admin,
        json!({"name": "B", "code": "spring", "action": ok_action}),
    )
    .await;
    assert_eq!((res.status, res.code().as_str()), (409, "conflict"));
    let other = post(
        s,
        &admin,
        json!({"name": "C", "code": "SUMMER", "action": ok_action}),
    )
    .await;
    other.expect(201);
    let other = other.json()["id"].as_str().unwrap().to_owned();
    let res = patch(s, &admin, &other, json!({"code": "Spring"})).await;
    assert_eq!((res.status, res.code().as_str()), (409, "conflict"));
    let res = patch(
        s,
        &admin,
        &other,
        json!({"action": {"type": "percentage", "percent": "-5"}}),
    )
    .await;
    res.expect(422);
    assert_eq!(res.json()["errors"][0]["field"], "action.percent");
    let res = patch(s, &admin, &other, json!({"id": "x"})).await;
    res.expect(422);
    let kept = s
        .call(
            "GET",
            &format!("/api/v1/admin/promotions/{other}"),
            Some(&admin.token),
            None,
        )
        .await
        .json();
    assert_eq!(kept["code"], "SUMMER");
    assert_eq!(kept["action"]["percent"], "10");
    assert_eq!(list(s, &admin).await["total"], 2);
}

async fn usage_limits_never_drop_below_live_orders(s: &TestServer) {
    use commerce_core::Quantity;
    use commerce_core::cart::{CartOwner, CartToken};
    use commerce_core::idempotency::IdempotencyKey;
    use commerce_core::service::CheckoutRequest;

    let admin = s.admin("promo-admin3@example.com").await;
    let (_, items) = c::catalog(s, "limitshop", &[("PEN", "10.00", 20)]).await;
    let pen = &items[0].1;
    let res = post(
        s,
        &admin,
        json!({"name": "Few", "code": "FEW", "usage_limit": 3,
            "action": {"type": "percentage", "percent": "10"}}),
    )
    .await;
    res.expect(201);
    let id = res.json()["id"].as_str().unwrap().to_owned();
    // Two pending orders hold it.
    let engine = &s.state.commerce;
    for _ in 0..2 {
        let owner = CartOwner::Guest(CartToken::generate());
        engine
            .add_to_cart(&owner, pen.parse().unwrap(), Quantity::new(1).unwrap())
            .await
            .unwrap();
        engine.apply_code(&owner, None, "few").await.unwrap();
        engine
            .checkout(CheckoutRequest {
                owner,
                customer: None,
                email: "buyer@example.com".into(),
                shipping_address: None,
                idempotency_key: IdempotencyKey::parse(&uuid::Uuid::now_v7().to_string()).unwrap(),
            })
            .await
            .unwrap();
    }
    let path = format!("/api/v1/admin/promotions/{id}");
    let got = s.call("GET", &path, Some(&admin.token), None).await.json();
    assert_eq!(got["used"], 2);

    let res = patch(s, &admin, &id, json!({"usage_limit": 1})).await;
    assert_eq!((res.status, res.code().as_str()), (409, "conflict"));
    assert_eq!(res.json()["held"], 2);
    assert_eq!(res.json()["field"], "usage_limit");
    assert_eq!(
        s.call("GET", &path, Some(&admin.token), None).await.json()["usage_limit"],
        3
    );
    let res = patch(s, &admin, &id, json!({"usage_limit": 2})).await;
    res.expect(200);
    assert_eq!(res.json()["usage_limit"], 2);
    assert_eq!(res.json()["used"], 2);
    // Now used up for a third buyer.
    let token = c::new_guest(s).await;
    c::add(s, As::Guest(&token), pen, 1).await.expect(200);
    let res = c::call(
        s,
        As::Guest(&token),
        "POST",
        "/api/v1/cart/discount-codes",
        Some(json!({"code": "FEW"})),
    )
    .await;
    assert_eq!(
        (res.status, res.code().as_str()),
        (422, "discount_usage_exceeded")
    );
    // Raised again: the code applies.
    patch(s, &admin, &id, json!({"usage_limit": 10}))
        .await
        .expect(200);
    let res = c::call(
        s,
        As::Guest(&token),
        "POST",
        "/api/v1/cart/discount-codes",
        Some(json!({"code": "FEW"})),
    )
    .await;
    res.expect(200);
    assert_eq!(res.json()["discount_total"], usd("1.00"));

    // An edit reaches the cart at once.
    patch(
        s,
        &admin,
        &id,
        json!({"action": {"type": "percentage", "percent": "50"}}),
    )
    .await
    .expect(200);
    let cart = c::get(s, As::Guest(&token)).await;
    assert_eq!(cart["discount_total"], usd("5.00"));
    // Deleted: the cart no longer shows it.
    s.call("DELETE", &path, Some(&admin.token), None)
        .await
        .expect(204);
    let cart = c::get(s, As::Guest(&token)).await;
    assert_eq!(cart["discount_total"], usd("0.00"));
    assert_eq!(cart["promotions"], json!([]));
}

on_both!(
    admins_create_read_edit_and_delete_promotions,
    bad_promotions_are_refused_naming_the_field,
    usage_limits_never_drop_below_live_orders,
);
