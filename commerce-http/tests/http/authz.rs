//! The authorization matrix: every store and catalog route that names an
//! object, called by anonymous, the object's owner, another customer,
//! another seller and an admin, with the status each must get. Each cell
//! runs on fresh objects, so cells never depend on one another. Tokens of
//! every kind are refused the same way (401 `invalid_token`).

use crate::common;

use commerce_core::account::Role;
use commerce_http::auth::jwt::{Claims, TokenKeys};
use common::{TestServer, User};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy)]
enum Who {
    Anonymous,
    Owner,
    Customer,
    OtherSeller,
    Admin,
}

const WHO: [Who; 5] = [
    Who::Anonymous,
    Who::Owner,
    Who::Customer,
    Who::OtherSeller,
    Who::Admin,
];

struct Cast {
    owner: User,
    store: String,
    customer: User,
    other: User,
    admin: User,
}

impl Cast {
    fn token(&self, who: Who) -> Option<&str> {
        match who {
            Who::Anonymous => None,
            Who::Owner => Some(&self.owner.token),
            Who::Customer => Some(&self.customer.token),
            Who::OtherSeller => Some(&self.other.token),
            Who::Admin => Some(&self.admin.token),
        }
    }
}

/// (route, expected status for anonymous, owner, customer, other seller, admin)
const MATRIX: &[(&str, [u16; 5])] = &[
    ("GET /stores/{id}", [200, 200, 200, 200, 200]),
    ("GET /products/{id}", [200, 200, 200, 200, 200]),
    ("GET /products/{id}/reviews", [200, 200, 200, 200, 200]),
    (
        "POST /products (into the owner's store)",
        [401, 201, 403, 403, 201],
    ),
    ("PATCH /products/{id}", [401, 200, 403, 403, 200]),
    ("DELETE /products/{id}", [401, 204, 403, 403, 204]),
    ("PUT /variants/{id}/stock", [401, 200, 403, 403, 200]),
    ("POST /products/{id}/reviews", [401, 201, 201, 201, 201]),
    ("POST /categories", [401, 403, 403, 403, 201]),
    ("PATCH /categories/{id}", [401, 403, 403, 403, 200]),
    ("DELETE /categories/{id}", [401, 403, 403, 403, 204]),
    // The owner's cart line: nobody else can name the owner's cart, so the
    // line is simply not in theirs.
    ("PATCH /cart/items/{id}", [404, 200, 404, 404, 404]),
    ("DELETE /cart/items/{id}", [404, 200, 404, 404, 404]),
    ("GET /shipping-methods", [200, 200, 200, 200, 200]),
    ("POST /admin/shipping-methods", [401, 403, 403, 403, 201]),
    (
        "PATCH /admin/shipping-methods/{code}",
        [401, 403, 403, 403, 200],
    ),
    (
        "DELETE /admin/shipping-methods/{code}",
        [401, 403, 403, 403, 204],
    ),
    ("GET /admin/promotions", [401, 403, 403, 403, 200]),
    ("POST /admin/promotions", [401, 403, 403, 403, 201]),
    ("GET /admin/promotions/{id}", [401, 403, 403, 403, 200]),
    ("PATCH /admin/promotions/{id}", [401, 403, 403, 403, 200]),
    ("DELETE /admin/promotions/{id}", [401, 403, 403, 403, 204]),
];

async fn cell(s: &TestServer, cast: &Cast, route: &str, who: Who, n: usize) -> u16 {
    let token = cast.token(who);
    let sku = format!("AZ-{n}");
    let product = s
        .product(&cast.owner, &cast.store, "Matrix", &[(&sku, "5.00", 10)])
        .await;
    let pid = product["id"].as_str().unwrap().to_owned();
    let vid = product["variants"][0]["id"].as_str().unwrap().to_owned();
    let category = s
        .call(
            "POST",
            "/api/v1/categories",
            Some(&cast.admin.token),
            Some(json!({"name": format!("Cat {n}")})),
        )
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cart_line = if route.contains("/cart/") {
        let res = s
            .call(
                "POST",
                "/api/v1/cart/items",
                Some(&cast.owner.token),
                Some(json!({"variant_id": vid, "quantity": 1})),
            )
            .await;
        res.expect(200);
        let cart = res.json();
        let line = cart["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["variant_id"] == vid.as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        Some(line)
    } else {
        None
    };
    let line = cart_line.clone().unwrap_or_default();
    let ship_code = format!("m-{n}");
    let promo = if route.contains("promotions/{id}") {
        let res = s
            .call(
                "POST",
                "/api/v1/admin/promotions",
                Some(&cast.admin.token),
                Some(json!({"name": "Matrix", "code": format!("MATRIX{n}"),
                    "action": {"type": "percentage", "percent": "5"}})),
            )
            .await;
        res.expect(201);
        res.json()["id"].as_str().unwrap().to_owned()
    } else {
        String::new()
    };
    if route.contains("shipping-methods/{code}") {
        s.call(
            "POST",
            "/api/v1/admin/shipping-methods",
            Some(&cast.admin.token),
            Some(json!({"code": ship_code, "name": "Matrix",
                "price": {"amount": "3.00", "currency": "USD"}})),
        )
        .await
        .expect(201);
    }
    let (method, path, body): (&str, String, Option<Value>) = match route {
        "GET /stores/{id}" => ("GET", format!("/api/v1/stores/{}", cast.store), None),
        "GET /products/{id}" => ("GET", format!("/api/v1/products/{pid}"), None),
        "GET /products/{id}/reviews" => ("GET", format!("/api/v1/products/{pid}/reviews"), None),
        "POST /products (into the owner's store)" => (
            "POST",
            "/api/v1/products".into(),
            Some(json!({"store_id": cast.store, "name": "New",
                "variants": [{"sku": format!("NEW-{n}"), "price": {"amount": "1.00", "currency": "USD"}, "stock": 1}]})),
        ),
        "PATCH /products/{id}" => (
            "PATCH",
            format!("/api/v1/products/{pid}"),
            Some(json!({"name": "Renamed"})),
        ),
        "DELETE /products/{id}" => ("DELETE", format!("/api/v1/products/{pid}"), None),
        "PUT /variants/{id}/stock" => (
            "PUT",
            format!("/api/v1/variants/{vid}/stock"),
            Some(json!({"on_hand": 7})),
        ),
        "POST /products/{id}/reviews" => (
            "POST",
            format!("/api/v1/products/{pid}/reviews"),
            Some(json!({"rating": 4, "body": "Fine"})),
        ),
        "POST /categories" => (
            "POST",
            "/api/v1/categories".into(),
            Some(json!({"name": format!("New {n}")})),
        ),
        "PATCH /categories/{id}" => (
            "PATCH",
            format!("/api/v1/categories/{category}"),
            Some(json!({"name": "Renamed"})),
        ),
        "DELETE /categories/{id}" => ("DELETE", format!("/api/v1/categories/{category}"), None),
        "PATCH /cart/items/{id}" => (
            "PATCH",
            format!("/api/v1/cart/items/{line}"),
            Some(json!({"quantity": 2})),
        ),
        "DELETE /cart/items/{id}" => ("DELETE", format!("/api/v1/cart/items/{line}"), None),
        "GET /shipping-methods" => ("GET", "/api/v1/shipping-methods".into(), None),
        "GET /admin/promotions" => ("GET", "/api/v1/admin/promotions".into(), None),
        "POST /admin/promotions" => (
            "POST",
            "/api/v1/admin/promotions".into(),
            Some(json!({"name": format!("New {n}"),
                "action": {"type": "percentage", "percent": "5"}})),
        ),
        "GET /admin/promotions/{id}" => ("GET", format!("/api/v1/admin/promotions/{promo}"), None),
        "PATCH /admin/promotions/{id}" => (
            "PATCH",
            format!("/api/v1/admin/promotions/{promo}"),
            Some(json!({"name": "Renamed"})),
        ),
        "DELETE /admin/promotions/{id}" => {
            ("DELETE", format!("/api/v1/admin/promotions/{promo}"), None)
        }
        "POST /admin/shipping-methods" => (
            "POST",
            "/api/v1/admin/shipping-methods".into(),
            Some(json!({"code": format!("new-{n}"), "name": "New",
                "price": {"amount": "1.00", "currency": "USD"}})),
        ),
        "PATCH /admin/shipping-methods/{code}" => (
            "PATCH",
            format!("/api/v1/admin/shipping-methods/{ship_code}"),
            Some(json!({"name": "Renamed"})),
        ),
        "DELETE /admin/shipping-methods/{code}" => (
            "DELETE",
            format!("/api/v1/admin/shipping-methods/{ship_code}"),
            None,
        ),
        other => panic!("no such row {other}"),
    };
    let res = s.call(method, &path, token, body).await;
    // A refusal changes nothing.
    if res.status >= 400 {
        let after = s.get(&format!("/api/v1/products/{pid}")).await;
        after.expect(200);
        let after = after.json();
        assert_eq!(
            after["name"], "Matrix",
            "{route} as {who:?} changed the product"
        );
        assert_eq!(
            after["variants"][0]["available"], 10,
            "{route} as {who:?} changed stock"
        );
        assert_eq!(
            after["rating"]["count"], 0,
            "{route} as {who:?} posted a review"
        );
        let methods = s.get("/api/v1/shipping-methods?per_page=100").await.json();
        let methods = methods["items"].as_array().unwrap();
        assert!(
            !methods.iter().any(|m| m["code"] == format!("new-{n}")),
            "{route} as {who:?} added a shipping method"
        );
        if route.contains("shipping-methods/{code}") {
            let kept = methods.iter().find(|m| m["code"] == ship_code.as_str());
            assert_eq!(
                kept.map(|m| m["name"].clone()),
                Some(json!("Matrix")),
                "{route} as {who:?} changed a shipping method"
            );
        }
        let promotions = s.state.commerce.managed_promotions().await.unwrap();
        assert!(
            !promotions
                .iter()
                .any(|p| p.promotion.name() == format!("New {n}")),
            "{route} as {who:?} added a promotion"
        );
        if !promo.is_empty() {
            let kept = promotions
                .iter()
                .find(|p| p.promotion.id().to_string() == promo)
                .map(|p| p.promotion.name().to_owned());
            assert_eq!(
                kept.as_deref(),
                Some("Matrix"),
                "{route} as {who:?} changed a promotion"
            );
        }
        if let Some(line) = &cart_line {
            let cart = s
                .call("GET", "/api/v1/cart", Some(&cast.owner.token), None)
                .await
                .json();
            let kept = cart["lines"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["id"] == line.as_str())
                .map(|l| l["quantity"].clone());
            assert_eq!(
                kept,
                Some(json!(1)),
                "{route} as {who:?} changed the owner's cart"
            );
        }
    }
    res.status
}

async fn authorization_matrix(s: &TestServer) {
    let (owner, store) = s.seller("owner@example.com", "owner-store").await;
    let (other, _) = s.seller("other@example.com", "other-store").await;
    let cast = Cast {
        owner,
        store,
        customer: s.user("customer@example.com", true, &[]).await,
        other,
        admin: s.admin("admin@example.com").await,
    };
    let mut n = 0;
    let mut wrong = Vec::new();
    for (route, expected) in MATRIX {
        for (who, want) in WHO.iter().zip(expected) {
            n += 1;
            let got = cell(s, &cast, route, *who, n).await;
            if got != *want {
                wrong.push(format!("{route} as {who:?}: {got}, expected {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

async fn only_valid_tokens_of_ours_pass(s: &TestServer) {
    let u = s.user("tok@example.com", true, &[Role::Admin]).await;
    let now = chrono::Utc::now().timestamp();
    let claims = |iat: i64, exp: i64| Claims {
        sub: u.account.id.as_uuid(),
        roles: vec![Role::Customer, Role::Admin],
        iat,
        exp,
        sid: None,
    };
    let other_key = TokenKeys::new(&[9u8; 32], std::time::Duration::from_secs(900)).unwrap();
    let expired = s
        .state
        .tokens
        .sign(&claims(now - 7200, now - 3600))
        .unwrap();
    let foreign = other_key.sign(&claims(now, now + 900)).unwrap();
    let good = s.state.tokens.sign(&claims(now, now + 900)).unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    // The same claims with `alg: none` and no signature.
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    let alg_none = format!("{none_header}.{}.", parts[1]);
    // An HS512 header on our signature.
    let hs512_header = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9"; // {"alg":"HS512","typ":"JWT"}
    let hs512 = format!("{hs512_header}.{}.{}", parts[1], parts[2]);
    // A flipped character in the payload.
    let mut payload = parts[1].to_owned();
    let last = payload.pop().unwrap();
    payload.push(if last == 'A' { 'B' } else { 'A' });
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    let body = json!({"name": "Guarded"});
    for (what, token) in [
        ("expired", expired),
        ("another key", foreign),
        ("alg none", alg_none),
        ("HS512 header", hs512),
        ("tampered claims", tampered),
        ("garbage", "abc.def".to_owned()),
    ] {
        let res = s
            .call(
                "POST",
                "/api/v1/categories",
                Some(&token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(res.status, 401, "{what}");
        assert_eq!(res.code(), "invalid_token", "{what}");
    }
    let res = s
        .raw(
            "POST",
            "/api/v1/categories",
            &[
                ("authorization", "Basic YWRhOnB3"),
                ("content-type", "application/json"),
            ],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!((res.status, res.code().as_str()), (401, "invalid_token"));
    let res = s
        .call("POST", "/api/v1/categories", None, Some(body.clone()))
        .await;
    assert_eq!((res.status, res.code().as_str()), (401, "unauthorized"));
    assert!(
        s.get("/api/v1/categories")
            .await
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    s.call("POST", "/api/v1/categories", Some(&good), Some(body))
        .await
        .expect(201);
}

/// Checkout, order, payment and back-office routes: (route, expected
/// status for anonymous, the buyer (the cast's owner, who also owns the
/// store), another customer, another seller, an admin).
const ORDER_MATRIX: &[(&str, [u16; 5])] = &[
    ("POST /checkout", [401, 201, 201, 201, 201]),
    ("GET /orders", [401, 200, 200, 200, 200]),
    ("GET /orders/{id}", [401, 200, 404, 404, 200]),
    ("POST /orders/{id}/cancel", [401, 200, 404, 404, 200]),
    ("POST /orders/{id}/payments", [401, 201, 404, 404, 403]),
    ("GET /payments/{id}", [401, 200, 404, 404, 200]),
    ("GET /stores/{id}/orders", [401, 200, 403, 403, 200]),
    ("GET /admin/orders", [401, 403, 403, 403, 200]),
    ("POST /admin/orders/{id}/ship", [401, 403, 403, 403, 200]),
    ("POST /admin/orders/{id}/deliver", [401, 403, 403, 403, 200]),
    ("POST /admin/orders/{id}/refund", [401, 403, 403, 403, 200]),
    ("GET /sandbox/pay/{reference}", [200, 200, 200, 200, 200]),
    ("GET /payments/sandbox/return", [200, 200, 200, 200, 200]),
    ("POST /payments/sandbox/webhook", [200, 200, 200, 200, 200]),
];

async fn order_cell(s: &TestServer, cast: &Cast, route: &str, who: Who, n: usize) -> u16 {
    use commerce_core::order::OrderStatus;
    use common::orders::{self as o, account_cart};
    let token = cast.token(who);
    let (_, v) = o::Shop {
        seller: cast.owner.clone(),
        store: cast.store.clone(),
    }
    .variant(s, "Orderable", &format!("OZ-{n}"), "5.00", 10)
    .await;
    // The buyer's order, pending with a payment, or paid (and shipped).
    let order = o::buy(s, &cast.owner, &v, 1).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let payment = o::start_payment(s, &cast.owner.token, &id, &o::key())
        .await
        .json();
    let pid = payment["id"].as_str().unwrap().to_owned();
    let reference = payment["reference"].as_str().unwrap().to_owned();
    let wants_paid = route.starts_with("POST /admin/orders/");
    if wants_paid {
        o::send_webhook(
            s,
            &o::event_id(),
            &reference,
            o::money(&payment["amount"]),
            true,
            chrono::Utc::now(),
        )
        .await
        .expect(200);
        if route.ends_with("/deliver") {
            s.state
                .commerce
                .ship_order(o::order(s, &id).await.id, None)
                .await
                .unwrap();
        }
    }
    let before = o::order(s, &id).await;
    if route == "POST /checkout" {
        let buyer = match who {
            Who::Anonymous => None,
            Who::Owner => Some(&cast.owner),
            Who::Customer => Some(&cast.customer),
            Who::OtherSeller => Some(&cast.other),
            Who::Admin => Some(&cast.admin),
        };
        if let Some(b) = buyer {
            o::add(s, &account_cart(b), &v, 1).await;
        }
    }
    let k = o::key();
    let (method, path, body, extra): (&str, String, Option<Value>, Vec<(&str, String)>) =
        match route {
            "POST /checkout" => (
                "POST",
                "/api/v1/checkout".into(),
                Some(json!({})),
                vec![("idempotency-key", k)],
            ),
            "GET /orders" => ("GET", "/api/v1/orders".into(), None, vec![]),
            "GET /orders/{id}" => ("GET", format!("/api/v1/orders/{id}"), None, vec![]),
            "POST /orders/{id}/cancel" => {
                ("POST", format!("/api/v1/orders/{id}/cancel"), None, vec![])
            }
            "POST /orders/{id}/payments" => (
                "POST",
                format!("/api/v1/orders/{id}/payments"),
                Some(json!({"gateway": "sandbox"})),
                vec![("idempotency-key", k)],
            ),
            "GET /payments/{id}" => ("GET", format!("/api/v1/payments/{pid}"), None, vec![]),
            "GET /stores/{id}/orders" => (
                "GET",
                format!("/api/v1/stores/{}/orders", cast.store),
                None,
                vec![],
            ),
            "GET /admin/orders" => ("GET", "/api/v1/admin/orders".into(), None, vec![]),
            "POST /admin/orders/{id}/ship" => (
                "POST",
                format!("/api/v1/admin/orders/{id}/ship"),
                None,
                vec![],
            ),
            "POST /admin/orders/{id}/deliver" => (
                "POST",
                format!("/api/v1/admin/orders/{id}/deliver"),
                None,
                vec![],
            ),
            "POST /admin/orders/{id}/refund" => (
                "POST",
                format!("/api/v1/admin/orders/{id}/refund"),
                None,
                vec![],
            ),
            "GET /sandbox/pay/{reference}" => {
                ("GET", format!("/sandbox/pay/{reference}"), None, vec![])
            }
            "GET /payments/sandbox/return" => (
                "GET",
                format!("/api/v1/payments/sandbox/return?reference={reference}"),
                None,
                vec![],
            ),
            "POST /payments/sandbox/webhook" => {
                // The gateway's call: no account involved; a signed event whose
                // amount is wrong, so that it changes no order.
                let hook = o::signer().webhook(
                    &o::event_id(),
                    &reference,
                    commerce_core::money::Money::from_minor(1, commerce_core::money::Currency::USD),
                    true,
                    chrono::Utc::now(),
                );
                let sig = hook.headers["sandbox-signature"].clone();
                let auth = token.map(|t| format!("Bearer {t}"));
                let mut headers = vec![("sandbox-signature", sig.as_str())];
                if let Some(a) = &auth {
                    headers.push(("authorization", a));
                }
                let res = s
                    .raw(
                        "POST",
                        "/api/v1/payments/sandbox/webhook",
                        &headers,
                        hook.body,
                    )
                    .await;
                assert_eq!(o::order(s, &id).await.status, OrderStatus::PendingPayment);
                return res.status;
            }
            other => panic!("no such row {other}"),
        };
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    let bytes = match &body {
        Some(b) => {
            headers.push(("content-type", "application/json"));
            serde_json::to_vec(b).unwrap()
        }
        None => Vec::new(),
    };
    let res = s.raw(method, &path, &headers, bytes).await;
    // A refusal changes nothing: the order and its payments are as they were.
    if res.status >= 400 {
        assert_eq!(
            o::order(s, &id).await,
            before,
            "{route} as {who:?} changed the order"
        );
        assert_eq!(
            s.state.commerce.payments_of(before.id).await.unwrap().len(),
            1,
            "{route} as {who:?} started a payment"
        );
    }
    res.status
}

async fn order_authorization_matrix(s: &TestServer) {
    let (owner, store) = s.seller("owner@example.com", "owner-store").await;
    let (other, _) = s.seller("other@example.com", "other-store").await;
    let cast = Cast {
        owner,
        store,
        customer: s.user("customer@example.com", true, &[]).await,
        other,
        admin: s.admin("admin@example.com").await,
    };
    let mut n = 0;
    let mut wrong = Vec::new();
    for (route, expected) in ORDER_MATRIX {
        for (who, want) in WHO.iter().zip(expected) {
            n += 1;
            let got = order_cell(s, &cast, route, *who, n).await;
            if got != *want {
                wrong.push(format!("{route} as {who:?}: {got}, expected {want}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

on_both!(
    authorization_matrix,
    only_valid_tokens_of_ours_pass,
    order_authorization_matrix
);
