//! The cart over HTTP: guests by token, signed-in buyers by account, quantity
//! limits, merging at sign-in, discount codes with their reasons, and the
//! issues that block checkout.

use crate::common;

use common::cart::{self as c, As};
use common::{TestServer, redactions};
use serde_json::{Value, json};

/// Snapshot settings: the common redactions, plus the cart token and promotion ids.
fn cart_redactions() -> insta::Settings {
    let mut s = redactions();
    for path in [".token", ".**.promotion_id", ".**.line_id"] {
        s.add_redaction(path, "[redacted]");
    }
    s
}

async fn a_guest_gets_a_token_and_keeps_its_cart(s: &TestServer) {
    let (_, items) = c::catalog(s, "guestshop", &[("MUG", "12.50", 10)]).await;
    let mug = &items[0].1;

    // No token: a new empty cart, its token in the body and the header.
    let res = c::call(s, As::NewGuest, "GET", "/api/v1/cart", None).await;
    res.expect(200);
    let empty = res.json();
    let token = empty["token"].as_str().unwrap().to_owned();
    assert_eq!(res.header("x-cart-token"), Some(token.as_str()));
    assert_eq!(token.len(), 64);
    assert_eq!(empty["lines"], json!([]));
    assert_eq!(empty["total"], json!({"amount": "0.00", "currency": "USD"}));
    assert_eq!(empty["currency"], "USD");

    // With the token: the same cart, every time.
    let res = c::add(s, As::Guest(&token), mug, 2).await;
    res.expect(200);
    assert_eq!(res.header("x-cart-token"), Some(token.as_str()));
    let cart = res.json();
    assert_eq!(cart["id"], empty["id"]);
    assert_eq!(cart["token"], token.as_str());
    let line = c::line_of(&cart, mug).unwrap();
    assert_eq!(line["quantity"], 2);
    assert_eq!(line["sku"], "MUG");
    assert_eq!(line["name"], "Item MUG (M)");
    assert_eq!(line["unit_price"]["amount"], "12.50");
    assert_eq!(line["subtotal"]["amount"], "25.00");
    assert_eq!(cart["subtotal"]["amount"], "25.00");
    assert_eq!(cart["total"]["amount"], "25.00");
    c::assert_sums(&cart);
    assert_eq!(c::get(s, As::Guest(&token)).await, cart);
    cart_redactions().bind(|| insta::assert_json_snapshot!("guest_cart", cart));

    // No token again: another, new cart.
    let other = c::get(s, As::NewGuest).await;
    assert_ne!(other["id"], cart["id"]);
    assert_ne!(other["token"], cart["token"]);
    assert_eq!(other["lines"], json!([]));

    // A token no cart has, or a malformed one: a new cart with a new token,
    // never the token the client made up.
    let made_up = "ab".repeat(32);
    for presented in [made_up.as_str(), "not-a-token", ""] {
        let res = c::call(s, As::Guest(presented), "GET", "/api/v1/cart", None).await;
        res.expect(200);
        let fresh = res.json();
        assert_ne!(fresh["token"], presented);
        assert_eq!(fresh["lines"], json!([]));
        assert_eq!(res.header("x-cart-token"), fresh["token"].as_str());
    }
    // Still nothing stored under the made-up token.
    let again = c::get(s, As::Guest(&made_up)).await;
    assert_ne!(again["token"], made_up.as_str());

    // Another guest cannot reach this cart's line: not found, and nothing changes.
    let line_id = line["id"].as_str().unwrap();
    let stranger = c::new_guest(s).await;
    for (method, body) in [("PATCH", Some(json!({"quantity": 1}))), ("DELETE", None)] {
        let res = c::call(
            s,
            As::Guest(&stranger),
            method,
            &format!("/api/v1/cart/items/{line_id}"),
            body,
        )
        .await;
        res.expect(404);
        assert_eq!(res.code(), "not_found");
        assert_eq!(res.header("x-cart-token"), Some(stranger.as_str()));
    }
    assert_eq!(c::get(s, As::Guest(&token)).await, cart);

    // A signed-in buyer has the account's cart; a cart token beside the
    // access token is ignored.
    let buyer = s.user("buyer@example.com", true, &[]).await;
    let mine = c::get(s, As::User(&buyer.token)).await;
    assert!(mine.get("token").is_none(), "{mine}");
    assert_eq!(mine["lines"], json!([]));
    let res = s
        .raw(
            "GET",
            "/api/v1/cart",
            &[
                ("authorization", &format!("Bearer {}", buyer.token)),
                ("x-cart-token", &token),
            ],
            Vec::new(),
        )
        .await;
    res.expect(200);
    assert_eq!(res.json()["id"], mine["id"]);
    assert!(res.header("x-cart-token").is_none());
    // A bad access token is refused, not treated as a guest.
    let res = c::call(s, As::User("abc.def"), "GET", "/api/v1/cart", None).await;
    assert_eq!((res.status, res.code().as_str()), (401, "invalid_token"));
}

async fn quantities_stay_within_stock_and_999(s: &TestServer) {
    let (_, items) = c::catalog(s, "limits", &[("FIVE", "3.00", 5), ("MANY", "1.00", 5000)]).await;
    let (five_product, five) = (&items[0].0, &items[0].1);
    let many = &items[1].1;
    let token = c::new_guest(s).await;
    let guest = As::Guest(&token);

    // Stock 5, asking for 6: refused with what is available; nothing added.
    let res = c::add(s, guest, five, 6).await;
    res.expect(409);
    assert_eq!(res.code(), "insufficient_stock");
    assert_eq!(res.json()["lines"][0]["available"], 5);
    assert_eq!(res.json()["lines"][0]["requested"], 6);
    assert_eq!(c::get(s, guest).await["lines"], json!([]));

    // Added twice: one line, summed; the sum is capped by stock too.
    c::add(s, guest, five, 3).await.expect(200);
    let cart = c::add(s, guest, five, 2).await;
    cart.expect(200);
    let cart = cart.json();
    assert_eq!(cart["lines"].as_array().unwrap().len(), 1);
    assert_eq!(c::line_of(&cart, five).unwrap()["quantity"], 5);
    let res = c::add(s, guest, five, 1).await;
    res.expect(409);
    assert_eq!(res.code(), "insufficient_stock");
    assert_eq!(
        c::line_of(&c::get(s, guest).await, five).unwrap()["quantity"],
        5
    );

    // Out of 1..=999: refused before anything happens.
    for q in [0, 1000, -1] {
        let res = c::add(s, guest, many, q).await;
        res.expect(422);
        assert_eq!(res.code(), "validation_failed");
        assert_eq!(res.json()["errors"][0]["field"], "quantity", "{q}");
    }
    // A line holds at most 999, even with stock to spare.
    c::add(s, guest, many, 999).await.expect(200);
    let res = c::add(s, guest, many, 1).await;
    res.expect(422);
    assert_eq!(res.json()["errors"][0]["field"], "quantity");

    // Not a variant (a product's id, or nothing at all): refused.
    for id in [five_product.clone(), uuid::Uuid::now_v7().to_string()] {
        let res = c::add(s, guest, &id, 1).await;
        res.expect(409);
        assert_eq!(res.code(), "product_unavailable");
    }
    let res = c::call(
        s,
        guest,
        "POST",
        "/api/v1/cart/items",
        Some(json!({"variant_id": five, "quantity": 1, "unit_price": "0.01"})),
    )
    .await;
    res.expect(422);
    assert_eq!(res.json()["errors"][0]["field"], "unit_price");

    // PATCH: within stock and 999; 0 removes the line.
    let cart = c::get(s, guest).await;
    let line = c::line_of(&cart, five).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/cart/items/{line}");
    let patch = |q: i64| c::call(s, guest, "PATCH", &path, Some(json!({"quantity": q})));
    let res = patch(2).await;
    res.expect(200);
    assert_eq!(c::line_of(&res.json(), five).unwrap()["quantity"], 2);
    let res = patch(6).await;
    res.expect(409);
    assert_eq!(res.code(), "insufficient_stock");
    let res = patch(1000).await;
    res.expect(422);
    assert_eq!(
        c::line_of(&c::get(s, guest).await, five).unwrap()["quantity"],
        2
    );
    let res = patch(0).await;
    res.expect(200);
    assert!(c::line_of(&res.json(), five).is_none());
    let res = patch(1).await;
    res.expect(404);

    // DELETE a line; an unknown or malformed line id is not found.
    let cart = c::get(s, guest).await;
    let many_line = c::line_of(&cart, many).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for bad in [uuid::Uuid::now_v7().to_string(), "x".to_owned()] {
        let res = c::call(
            s,
            guest,
            "DELETE",
            &format!("/api/v1/cart/items/{bad}"),
            None,
        )
        .await;
        res.expect(404);
        assert_eq!(res.code(), "not_found");
    }
    let res = c::call(
        s,
        guest,
        "DELETE",
        &format!("/api/v1/cart/items/{many_line}"),
        None,
    )
    .await;
    res.expect(200);
    assert_eq!(res.json()["lines"], json!([]));

    // DELETE /cart empties lines and codes.
    c::add(s, guest, five, 1).await.expect(200);
    c::add(s, guest, many, 4).await.expect(200);
    let res = c::call(s, guest, "DELETE", "/api/v1/cart", None).await;
    res.expect(200);
    let emptied = res.json();
    assert_eq!(emptied["lines"], json!([]));
    assert_eq!(emptied["discount_codes"], json!([]));
    assert_eq!(emptied["token"], token.as_str());
    assert_eq!(c::get(s, guest).await, emptied);
}

async fn register_and_login(s: &TestServer, email: &str, cart_token: Option<&str>) -> Value {
    let password = "correct horse battery";
    let res = s
        .call(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await;
    if res.status != 409 {
        res.expect(201);
    }
    let mut body = json!({"email": email, "password": password});
    if let Some(t) = cart_token {
        body["cart_token"] = json!(t);
    }
    let res = s.call("POST", "/api/v1/auth/login", None, Some(body)).await;
    res.expect(200);
    res.json()
}

async fn signing_in_merges_the_guest_cart(s: &TestServer) {
    let (_, items) = c::catalog(
        s,
        "mergeshop",
        &[("A", "10.00", 4), ("B", "5.00", 9), ("C", "2.00", 9)],
    )
    .await;
    let (a, b, cc) = (&items[0].1, &items[1].1, &items[2].1);
    // The account's cart: A×1, B×1.
    let tokens = register_and_login(s, "merge@example.com", None).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    c::add(s, As::User(&access), a, 1).await.expect(200);
    c::add(s, As::User(&access), b, 1).await.expect(200);
    // A guest's cart: A×2, C×3.
    let token = c::new_guest(s).await;
    c::add(s, As::Guest(&token), a, 2).await.expect(200);
    c::add(s, As::Guest(&token), cc, 3).await.expect(200);

    let tokens = register_and_login(s, "merge@example.com", Some(&token)).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let cart = c::get(s, As::User(&access)).await;
    let qty = |v: &str| c::line_of(&cart, v).map(|l| l["quantity"].clone());
    assert_eq!(qty(a), Some(json!(3)));
    assert_eq!(qty(b), Some(json!(1)));
    assert_eq!(qty(cc), Some(json!(3)));
    assert_eq!(cart["lines"].as_array().unwrap().len(), 3);
    c::assert_sums(&cart);
    assert_eq!(cart["subtotal"]["amount"], "41.00");

    // The guest cart is gone: its token now gets a new, empty cart.
    let after = c::get(s, As::Guest(&token)).await;
    assert_ne!(after["token"], token.as_str());
    assert_eq!(after["lines"], json!([]));

    // Merging caps each line by what is available (A: 4 in stock).
    let token = c::new_guest(s).await;
    c::add(s, As::Guest(&token), a, 4).await.expect(200);
    let tokens = register_and_login(s, "merge@example.com", Some(&token)).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let cart = c::get(s, As::User(&access)).await;
    assert_eq!(c::line_of(&cart, a).unwrap()["quantity"], 4);
}

async fn discount_codes_apply_or_say_why_not(s: &TestServer) {
    let (_, items) = c::catalog(
        s,
        "codeshop",
        &[("CHEAP", "20.00", 50), ("DEAR", "33.33", 50)],
    )
    .await;
    let (cheap, dear) = (&items[0].1, &items[1].1);
    c::promotion(
        s,
        json!({"name": "10% off", "code": "SAVE10", "combinable": true,
            "action": {"type": "percentage", "percent": "10"}}),
    )
    .await;
    c::promotion(
        s,
        json!({"name": "5 off over 100", "code": "BIG5",
            "conditions": [{"type": "min_subtotal", "amount": {"amount": "100.00", "currency": "USD"}}],
            "action": {"type": "fixed_amount", "amount": {"amount": "5.00", "currency": "USD"}}}),
    )
    .await;
    c::promotion(
        s,
        json!({"name": "Last year", "code": "OLD",
            "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2020-02-01T00:00:00Z",
            "action": {"type": "percentage", "percent": "50"}}),
    )
    .await;
    c::promotion(
        s,
        json!({"name": "Once only", "code": "ONCE", "usage_limit": 1,
            "action": {"type": "percentage", "percent": "20"}}),
    )
    .await;
    let token = c::new_guest(s).await;
    let guest = As::Guest(&token);
    c::add(s, guest, dear, 3).await.expect(200);
    let enter = |code: &str| {
        c::call(
            s,
            guest,
            "POST",
            "/api/v1/cart/discount-codes",
            Some(json!({"code": code})),
        )
    };

    // Unknown: refused; the cart keeps no code.
    let res = enter("NOPE").await;
    res.expect(422);
    assert_eq!(res.code(), "discount_code_invalid");
    let res = enter("not a code!").await;
    res.expect(422);
    assert_eq!(res.code(), "discount_code_invalid");
    // Below its minimum: refused with the reason.
    let res = enter("big5").await;
    res.expect(422);
    assert_eq!(res.code(), "discount_not_applicable");
    assert_eq!(res.json()["reason"]["reason"], "min_subtotal");
    // Outside its window.
    let res = enter("old").await;
    res.expect(422);
    assert_eq!(res.code(), "discount_not_applicable");
    assert_eq!(res.json()["reason"]["reason"], "expired");
    assert_eq!(c::get(s, guest).await["discount_codes"], json!([]));

    // A valid code, any case: 10% of 3 × 33.33 is exactly 10.00, split 3.33, 3.33, 3.34.
    let res = enter("save10").await;
    res.expect(200);
    let cart = res.json();
    assert_eq!(cart["discount_codes"], json!(["SAVE10"]));
    assert_eq!(cart["subtotal"]["amount"], "99.99");
    assert_eq!(cart["discount_total"]["amount"], "10.00");
    assert_eq!(cart["total"]["amount"], "89.99");
    let line = c::line_of(&cart, dear).unwrap();
    assert_eq!(line["discounts"][0]["label"], "10% off");
    assert_eq!(line["discounts"][0]["amount"]["amount"], "10.00");
    assert_eq!(line["total"]["amount"], "89.99");
    let applied = c::promo(&cart, "10% off").unwrap();
    assert_eq!(applied["applied"], true);
    assert_eq!(applied["code"], "SAVE10");
    assert_eq!(applied["amount"]["amount"], "10.00");
    assert_eq!(applied["reason"], Value::Null);
    // Code promotions whose code was not entered are not shown.
    assert!(c::promo(&cart, "5 off over 100").is_none());
    assert!(c::promo(&cart, "Once only").is_none());
    c::assert_sums(&cart);
    cart_redactions().bind(|| insta::assert_json_snapshot!("cart_with_code", cart));

    // Used up: another buyer's pending order holds the only use.
    {
        use commerce_core::Quantity;
        use commerce_core::cart::{CartOwner, CartToken};
        use commerce_core::idempotency::IdempotencyKey;
        use commerce_core::service::CheckoutRequest;
        let engine = &s.state.commerce;
        let other = CartOwner::Guest(CartToken::generate());
        let variant = cheap.parse().unwrap();
        engine
            .add_to_cart(&other, variant, Quantity::new(1).unwrap())
            .await
            .unwrap();
        engine.apply_code(&other, None, "ONCE").await.unwrap();
        engine
            .checkout(CheckoutRequest {
                owner: other,
                customer: None,
                email: "other@example.com".into(),
                shipping_address: None,
                idempotency_key: IdempotencyKey::parse(&uuid::Uuid::now_v7().to_string()).unwrap(),
            })
            .await
            .unwrap();
    }
    let res = enter("once").await;
    res.expect(422);
    assert_eq!(res.code(), "discount_usage_exceeded");
    assert_eq!(c::get(s, guest).await["discount_codes"], json!(["SAVE10"]));

    // An entered code that stops applying stays, and the cart says why.
    c::add(s, guest, cheap, 4).await.expect(200);
    let res = enter("BIG5").await;
    res.expect(200);
    let cart = res.json();
    assert_eq!(cart["discount_codes"], json!(["SAVE10", "BIG5"]));
    // Both entered; BIG5 does not combine and gives less than SAVE10 here.
    let big5 = c::promo(&cart, "5 off over 100").unwrap();
    assert_eq!(big5["applied"], false);
    assert_eq!(big5["reason"], "not_combinable");
    c::assert_sums(&cart);
    let line = c::line_of(&cart, cheap).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = c::call(
        s,
        guest,
        "DELETE",
        &format!("/api/v1/cart/items/{line}"),
        None,
    )
    .await;
    res.expect(200);
    let cart = res.json();
    let big5 = c::promo(&cart, "5 off over 100").unwrap();
    assert_eq!(big5["applied"], false);
    assert_eq!(big5["reason"], "min_subtotal");
    assert_eq!(
        big5["detail"],
        "needs a subtotal of 100.00 USD, cart has 99.99 USD"
    );

    // Removing codes, any case; one the cart does not hold changes nothing.
    let res = c::call(s, guest, "DELETE", "/api/v1/cart/discount-codes/big5", None).await;
    res.expect(200);
    assert_eq!(res.json()["discount_codes"], json!(["SAVE10"]));
    let res = c::call(s, guest, "DELETE", "/api/v1/cart/discount-codes/NOPE", None).await;
    res.expect(200);
    assert_eq!(res.json()["discount_codes"], json!(["SAVE10"]));
    let res = c::call(
        s,
        guest,
        "DELETE",
        "/api/v1/cart/discount-codes/SAVE10",
        None,
    )
    .await;
    res.expect(200);
    let cart = res.json();
    assert_eq!(cart["discount_codes"], json!([]));
    assert_eq!(cart["discount_total"]["amount"], "0.00");
}

async fn issues_name_what_blocks_checkout(s: &TestServer) {
    let (seller, items) = c::catalog(
        s,
        "issueshop",
        &[
            ("SOLD", "7.00", 3),
            ("GONE", "4.00", 3),
            ("FINE", "1.50", 3),
        ],
    )
    .await;
    let (sold, gone_product, gone, fine) = (&items[0].1, &items[1].0, &items[1].1, &items[2].1);
    let token = c::new_guest(s).await;
    let guest = As::Guest(&token);
    c::add(s, guest, sold, 2).await.expect(200);
    c::add(s, guest, gone, 1).await.expect(200);
    c::add(s, guest, fine, 2).await.expect(200);
    let cart = c::get(s, guest).await;
    assert_eq!(cart["issues"], json!([]));
    let line = |cart: &Value, v: &str| c::line_of(cart, v).unwrap()["id"].clone();
    let sold_line = line(&cart, sold);
    let gone_line = line(&cart, gone);

    // The variant sells out after it was added; the product is withdrawn.
    s.call(
        "PUT",
        &format!("/api/v1/variants/{sold}/stock"),
        Some(&seller.token),
        Some(json!({"on_hand": 0})),
    )
    .await
    .expect(200);
    s.call(
        "DELETE",
        &format!("/api/v1/products/{gone_product}"),
        Some(&seller.token),
        None,
    )
    .await
    .expect(204);

    let cart = c::get(s, guest).await;
    let issues = cart["issues"].as_array().unwrap();
    assert_eq!(issues.len(), 2, "{cart}");
    let sold_out = issues.iter().find(|i| i["line_id"] == sold_line).unwrap();
    assert_eq!(sold_out["code"], "insufficient_stock");
    assert_eq!(
        sold_out["detail"],
        "Item SOLD (M) (SKU SOLD): 0 available, the cart asks for 2"
    );
    let withdrawn = issues.iter().find(|i| i["line_id"] == gone_line).unwrap();
    assert_eq!(withdrawn["code"], "product_unavailable");
    assert!(
        withdrawn["detail"].as_str().unwrap().contains("Item GONE"),
        "{withdrawn}"
    );
    // The withdrawn line is not priced; the sold-out one still is.
    assert!(c::line_of(&cart, gone).is_none());
    assert!(c::line_of(&cart, sold).is_some());
    assert_eq!(cart["subtotal"]["amount"], "17.00");
    c::assert_sums(&cart);
    cart_redactions().bind(|| insta::assert_json_snapshot!("cart_with_issues", cart));

    // The withdrawn line can still be removed by its id; the issue goes with it.
    let res = c::call(
        s,
        guest,
        "DELETE",
        &format!("/api/v1/cart/items/{}", gone_line.as_str().unwrap()),
        None,
    )
    .await;
    res.expect(200);
    let cart = res.json();
    assert_eq!(cart["issues"].as_array().unwrap().len(), 1);
    // Restocked: the issue is gone.
    s.call(
        "PUT",
        &format!("/api/v1/variants/{sold}/stock"),
        Some(&seller.token),
        Some(json!({"on_hand": 5})),
    )
    .await
    .expect(200);
    assert_eq!(c::get(s, guest).await["issues"], json!([]));
}

on_both!(
    a_guest_gets_a_token_and_keeps_its_cart,
    quantities_stay_within_stock_and_999,
    signing_in_merges_the_guest_cart,
    discount_codes_apply_or_say_why_not,
    issues_name_what_blocks_checkout,
);
