//! Shipping methods over HTTP: the admin routes (with their validation and
//! refusals), the public list, and a cart choosing a method and paying for it.

use crate::common;

use common::cart::{self as c, As};
use common::{TestServer, redactions};
use serde_json::{Value, json};

fn usd(amount: &str) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

async fn methods(s: &TestServer) -> Value {
    let res = s.get("/api/v1/shipping-methods").await;
    res.expect(200);
    res.json()
}

async fn admins_manage_methods_and_anyone_lists_them(s: &TestServer) {
    let admin = s.admin("ship-admin@example.com").await;
    let customer = s.user("ship-customer@example.com", true, &[]).await;
    let post = |token: Option<&str>, body: Value| {
        let token = token.map(str::to_owned);
        async move {
            s.call(
                "POST",
                "/api/v1/admin/shipping-methods",
                token.as_deref(),
                Some(body),
            )
            .await
        }
    };
    assert_eq!(methods(s).await["items"], json!([]));

    let res = post(
        Some(&admin.token),
        json!({"code": "standard", "name": "Standard", "price": usd("4.99"), "free_over": usd("50.00")}),
    )
    .await;
    res.expect(201);
    assert_eq!(
        res.json(),
        json!({"code": "standard", "name": "Standard", "price": usd("4.99"), "free_over": usd("50.00")})
    );
    post(
        Some(&admin.token),
        json!({"code": "express", "name": "Express", "price": usd("9.99")}),
    )
    .await
    .expect(201);
    post(
        Some(&admin.token),
        json!({"code": "pickup", "name": "Pick up in store", "price": usd("0.00")}),
    )
    .await
    .expect(201);
    let listed = methods(s).await;
    assert_eq!(listed["total"], 3);
    let codes: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["pickup", "standard", "express"], "cheapest first");
    assert_eq!(listed["items"][0]["free_over"], Value::Null);
    let page = s.get("/api/v1/shipping-methods?per_page=1&page=2").await;
    page.expect(200);
    assert_eq!(page.json()["items"][0]["code"], "standard");
    s.get("/api/v1/shipping-methods?per_page=0")
        .await
        .expect(422);

    // Refusals: each changes nothing.
    let before = methods(s).await;
    let res = post(
        Some(&admin.token),
        json!({"code": "standard", "name": "Again", "price": usd("1.00")}),
    )
    .await;
    assert_eq!((res.status, res.code().as_str()), (409, "conflict"));
    for (body, field) in [
        (
            json!({"code": "Not Ok", "name": "x", "price": usd("1.00")}),
            "code",
        ),
        (
            json!({"code": "blank", "name": " ", "price": usd("1.00")}),
            "name",
        ),
        (
            json!({"code": "neg", "name": "x", "price": usd("-1.00")}),
            "price",
        ),
        (
            json!({"code": "zero", "name": "x", "price": usd("1.00"), "free_over": usd("0.00")}),
            "free_over",
        ),
        (
            json!({"code": "euro", "name": "x", "price": {"amount": "1.00", "currency": "EUR"}}),
            "price",
        ),
        (json!({"code": "num", "name": "x", "price": 1.5}), "price"),
        (
            json!({"code": "cents", "name": "x", "price": usd("1.001")}),
            "price",
        ),
        (
            json!({"code": "extra", "name": "x", "price": usd("1.00"), "default": true}),
            "default",
        ),
    ] {
        let res = post(Some(&admin.token), body).await;
        res.expect(422);
        assert_eq!(res.code(), "validation_failed");
        assert_eq!(res.json()["errors"][0]["field"], field);
    }
    let body = json!({"code": "mine", "name": "Mine", "price": usd("1.00")});
    assert_eq!(
        post(Some(&customer.token), body.clone()).await.code(),
        "forbidden"
    );
    assert_eq!(post(None, body).await.code(), "unauthorized");
    assert_eq!(methods(s).await, before);

    // PATCH: absent fields stay, `null` removes the threshold; the code is not a field.
    let patch = |token: &str, code: &str, body: Value| {
        let (token, path) = (
            token.to_owned(),
            format!("/api/v1/admin/shipping-methods/{code}"),
        );
        async move { s.call("PATCH", &path, Some(&token), Some(body)).await }
    };
    let res = patch(
        &admin.token,
        "standard",
        json!({"price": usd("5.49"), "free_over": null}),
    )
    .await;
    res.expect(200);
    assert_eq!(
        res.json(),
        json!({"code": "standard", "name": "Standard", "price": usd("5.49"), "free_over": null})
    );
    let res = patch(&admin.token, "standard", json!({"free_over": usd("40.00")})).await;
    res.expect(200);
    assert_eq!(res.json()["price"], usd("5.49"));
    assert_eq!(res.json()["free_over"], usd("40.00"));
    let res = patch(&admin.token, "standard", json!({"code": "other"})).await;
    res.expect(422);
    assert_eq!(res.json()["errors"][0]["field"], "code");
    let res = patch(&admin.token, "standard", json!({"price": usd("-2.00")})).await;
    res.expect(422);
    assert_eq!(res.json()["errors"][0]["field"], "price");
    patch(&admin.token, "nowhere", json!({"name": "x"}))
        .await
        .expect(404);
    assert_eq!(
        patch(&customer.token, "standard", json!({"name": "Hacked"}))
            .await
            .code(),
        "forbidden"
    );
    let listed = methods(s).await;
    let standard = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["code"] == "standard")
        .unwrap();
    assert_eq!(standard["name"], "Standard");
    assert_eq!(standard["price"], usd("5.49"));

    // DELETE.
    let delete = |token: Option<&str>, code: &str| {
        let (token, path) = (
            token.map(str::to_owned),
            format!("/api/v1/admin/shipping-methods/{code}"),
        );
        async move { s.call("DELETE", &path, token.as_deref(), None).await }
    };
    assert_eq!(delete(None, "pickup").await.status, 401);
    assert_eq!(delete(Some(&customer.token), "pickup").await.status, 403);
    assert_eq!(methods(s).await["total"], 3);
    delete(Some(&admin.token), "pickup").await.expect(204);
    delete(Some(&admin.token), "pickup").await.expect(404);
    assert_eq!(methods(s).await["total"], 2);
}

async fn a_cart_ships_with_the_chosen_or_the_cheapest_method(s: &TestServer) {
    let admin = s.admin("ship-admin2@example.com").await;
    let (_, items) = c::catalog(s, "shipshop", &[("KETTLE", "30.00", 10)]).await;
    let kettle = &items[0].1;
    let token = c::new_guest(s).await;
    let guest = As::Guest(&token);
    let cart = c::add(s, guest, kettle, 1).await;
    cart.expect(200);
    let cart = cart.json();
    assert_eq!(cart["shipping_method"], Value::Null, "nothing offered yet");
    assert_eq!(cart["shipping_total"], usd("0.00"));

    for body in [
        json!({"code": "standard", "name": "Standard", "price": usd("4.99"), "free_over": usd("50.00")}),
        json!({"code": "express", "name": "Express", "price": usd("9.99")}),
    ] {
        s.call(
            "POST",
            "/api/v1/admin/shipping-methods",
            Some(&admin.token),
            Some(body),
        )
        .await
        .expect(201);
    }
    // The default: the cheapest.
    let cart = c::get(s, guest).await;
    assert_eq!(cart["shipping_method"]["code"], "standard");
    assert_eq!(cart["shipping_total"], usd("4.99"));
    assert_eq!(cart["total"], usd("34.99"));
    c::assert_sums(&cart);

    let choose = |code: Value| {
        c::call(
            s,
            guest,
            "PUT",
            "/api/v1/cart/shipping-method",
            Some(json!({"code": code})),
        )
    };
    let res = choose(json!("express")).await;
    res.expect(200);
    let cart = res.json();
    assert_eq!(cart["shipping_method"]["code"], "express");
    assert_eq!(cart["shipping_method"]["price"], usd("9.99"));
    assert_eq!(cart["shipping_total"], usd("9.99"));
    assert_eq!(cart["total"], usd("39.99"));
    redactions().bind(|| {
        let mut s = insta::Settings::clone_current();
        s.add_redaction(".token", "[redacted]");
        s.bind(|| insta::assert_json_snapshot!("cart_with_shipping", cart));
    });
    // An unknown method: refused, the choice stays.
    let res = choose(json!("teleport")).await;
    res.expect(422);
    assert_eq!(res.json()["errors"][0]["field"], "code");
    assert_eq!(res.header("x-cart-token"), Some(token.as_str()));
    assert_eq!(c::get(s, guest).await["shipping_method"]["code"], "express");

    // Back to the default, which is free from 50.00.
    c::add(s, guest, kettle, 1).await.expect(200);
    let res = choose(Value::Null).await;
    res.expect(200);
    let cart = res.json();
    assert_eq!(cart["shipping_method"]["code"], "standard");
    assert_eq!(cart["shipping_method"]["price"], usd("0.00"));
    assert_eq!(cart["shipping_total"], usd("0.00"));
    assert_eq!(cart["total"], usd("60.00"));

    // A free-shipping promotion takes the express price off.
    c::promotion(
        s,
        json!({"name": "Ships free", "combinable": true, "action": {"type": "free_shipping"}}),
    )
    .await;
    let cart = choose(json!("express")).await;
    cart.expect(200);
    let cart = cart.json();
    assert_eq!(cart["shipping_method"]["discount"], usd("9.99"));
    assert_eq!(cart["shipping_total"], usd("0.00"));
    assert_eq!(
        c::promo(&cart, "Ships free").unwrap()["amount"],
        usd("9.99")
    );
    c::assert_sums(&cart);

    // The chosen method is deleted: the cart uses the cheapest one left.
    s.call(
        "DELETE",
        "/api/v1/admin/shipping-methods/express",
        Some(&admin.token),
        None,
    )
    .await
    .expect(204);
    let cart = c::get(s, guest).await;
    assert_eq!(cart["shipping_method"]["code"], "standard");

    // A signed-in buyer chooses for the account's cart only.
    let buyer = s.user("ship-buyer@example.com", true, &[]).await;
    c::add(s, As::User(&buyer.token), kettle, 1)
        .await
        .expect(200);
    s.call(
        "POST",
        "/api/v1/admin/shipping-methods",
        Some(&admin.token),
        Some(json!({"code": "courier", "name": "Courier", "price": usd("12.00")})),
    )
    .await
    .expect(201);
    let res = c::call(
        s,
        As::User(&buyer.token),
        "PUT",
        "/api/v1/cart/shipping-method",
        Some(json!({"code": "courier"})),
    )
    .await;
    res.expect(200);
    assert_eq!(res.json()["shipping_method"]["code"], "courier");
    assert_eq!(res.json()["shipping_method"]["price"], usd("12.00"));
    assert_eq!(
        c::get(s, guest).await["shipping_method"]["code"],
        "standard"
    );
}

on_both!(
    admins_manage_methods_and_anyone_lists_them,
    a_cart_ships_with_the_chosen_or_the_cheapest_method,
);
