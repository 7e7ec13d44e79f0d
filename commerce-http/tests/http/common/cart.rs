//! Helpers for the cart, shipping and promotion tests: calls as a guest (by
//! cart token) or as a signed-in account, a small catalog, promotions.

use serde_json::{Value, json};

use super::{Resp, TestServer, User};

/// Who calls a cart route.
#[derive(Debug, Clone, Copy)]
pub enum As<'a> {
    /// A guest without a cart token.
    NewGuest,
    /// A guest with this `X-Cart-Token`.
    Guest(&'a str),
    /// A signed-in account (its access token).
    User(&'a str),
}

/// Sends a cart request as `who` (`body` `None`: no body).
pub async fn call(
    s: &TestServer,
    who: As<'_>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Resp {
    let auth;
    let mut headers: Vec<(&str, &str)> = Vec::new();
    match who {
        As::NewGuest => {}
        As::Guest(t) => headers.push(("x-cart-token", t)),
        As::User(t) => {
            auth = format!("Bearer {t}");
            headers.push(("authorization", &auth));
        }
    }
    let bytes = match &body {
        Some(v) => {
            headers.push(("content-type", "application/json"));
            serde_json::to_vec(v).unwrap_or_default()
        }
        None => Vec::new(),
    };
    s.raw(method, path, &headers, bytes).await
}

/// `GET /api/v1/cart` as `who`, asserting 200.
pub async fn get(s: &TestServer, who: As<'_>) -> Value {
    let res = call(s, who, "GET", "/api/v1/cart", None).await;
    res.expect(200);
    res.json()
}

/// `POST /api/v1/cart/items` as `who`.
pub async fn add(s: &TestServer, who: As<'_>, variant: &str, quantity: i64) -> Resp {
    call(
        s,
        who,
        "POST",
        "/api/v1/cart/items",
        Some(json!({"variant_id": variant, "quantity": quantity})),
    )
    .await
}

/// A new guest cart: its token.
pub async fn new_guest(s: &TestServer) -> String {
    let cart = get(s, As::NewGuest).await;
    cart["token"]
        .as_str()
        .expect("a guest cart has a token")
        .to_owned()
}

/// A seller with a store and one product per `(sku, price, stock)`; returns
/// the seller and, per product, `(product id, variant id)`.
pub async fn catalog(
    s: &TestServer,
    slug: &str,
    items: &[(&str, &str, u32)],
) -> (User, Vec<(String, String)>) {
    let (seller, store) = s.seller(&format!("{slug}@example.com"), slug).await;
    let mut ids = Vec::new();
    for (sku, price, stock) in items {
        let p = s
            .product(
                &seller,
                &store,
                &format!("Item {sku}"),
                &[(sku, price, *stock)],
            )
            .await;
        ids.push((
            p["id"].as_str().unwrap_or_default().to_owned(),
            p["variants"][0]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ));
    }
    (seller, ids)
}

/// Adds a promotion through `POST /api/v1/admin/promotions` (as a new
/// admin); its id.
pub async fn promotion(s: &TestServer, body: Value) -> String {
    let admin = s
        .admin(&format!(
            "promo-{}@example.com",
            uuid::Uuid::new_v4().simple()
        ))
        .await;
    let res = s
        .call(
            "POST",
            "/api/v1/admin/promotions",
            Some(&admin.token),
            Some(body),
        )
        .await;
    res.expect(201);
    res.json()["id"].as_str().unwrap_or_default().to_owned()
}

/// The line of a cart holding a variant.
pub fn line_of<'a>(cart: &'a Value, variant: &str) -> Option<&'a Value> {
    cart["lines"]
        .as_array()?
        .iter()
        .find(|l| l["variant_id"] == variant)
}

/// The promotion entry of a cart with this label.
pub fn promo<'a>(cart: &'a Value, label: &str) -> Option<&'a Value> {
    cart["promotions"]
        .as_array()?
        .iter()
        .find(|p| p["label"] == label)
}

/// Asserts the cart's sums: line discounts add up to `discount_total`, line
/// subtotals to `subtotal`, and `total = subtotal - discounts + shipping + tax`
/// (net prices).
pub fn assert_sums(cart: &Value) {
    let cents = |v: &Value| -> i64 {
        let s = v["amount"].as_str().expect("an amount");
        let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
        whole.parse::<i64>().expect("digits") * 100 + frac.parse::<i64>().expect("digits")
    };
    let lines = cart["lines"].as_array().expect("lines");
    let sub: i64 = lines.iter().map(|l| cents(&l["subtotal"])).sum();
    let disc: i64 = lines
        .iter()
        .flat_map(|l| l["discounts"].as_array().cloned().unwrap_or_default())
        .map(|d| cents(&d["amount"]))
        .sum();
    assert_eq!(sub, cents(&cart["subtotal"]), "{cart}");
    let shipping_discount = cart["shipping_method"].get("discount").map_or(0, &cents);
    let applied: i64 = cart["promotions"]
        .as_array()
        .expect("promotions")
        .iter()
        .filter(|p| p["applied"] == true)
        .map(|p| cents(&p["amount"]))
        .sum();
    assert_eq!(disc, cents(&cart["discount_total"]), "{cart}");
    assert_eq!(applied, disc + shipping_discount, "{cart}");
    assert_eq!(
        cents(&cart["total"]),
        cents(&cart["subtotal"]) - cents(&cart["discount_total"])
            + cents(&cart["shipping_total"])
            + cents(&cart["tax_total"]),
        "{cart}"
    );
}
