//! Helpers for the checkout, order and payment tests: a small shop, carts
//! filled through the engine, checkout and payment calls over HTTP, and
//! sandbox webhooks signed as the gateway signs them.

use std::time::Duration;

use commerce_core::cart::{CartOwner, CartToken};
use commerce_core::ids::{OrderId, VariantId};
use commerce_core::inventory::Stock;
use commerce_core::money::Money;
use commerce_core::order::{Order, OrderStatus};
use commerce_core::payment::SandboxGateway;
use commerce_core::storage::{DynStore, InventoryStore};
use commerce_http::config::Config;
use commerce_http::server;
use serde_json::{Value, json};

use super::{Db, Resp, TestServer, User};

/// Runs an async test body on SQLite and on PostgreSQL, as two tests, on a
/// server started with the configuration `$config` (a `fn() -> Config`).
#[macro_export]
macro_rules! on_both_with {
    ($config:ident; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(s) = $crate::common::orders::start($crate::common::Db::Sqlite, super::$config()).await {
                        super::$name(&s).await;
                        s.stop().await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(s) = $crate::common::orders::start($crate::common::Db::Postgres, super::$config()).await {
                        super::$name(&s).await;
                        s.stop().await;
                    }
                }
            )*
        }
    };
}

/// A server with `config` on a fresh database; `None` when PostgreSQL is
/// missing outside CI.
pub async fn start(db: Db, config: Config) -> Option<TestServer> {
    let store = super::open(db).await?;
    Some(TestServer::start_on(store, config).await)
}

/// A fresh idempotency key.
pub fn key() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A seller's store with products, for buying from.
pub struct Shop {
    /// The seller.
    pub seller: User,
    /// Its store.
    pub store: String,
}

impl Shop {
    /// A seller with a store named `slug`.
    pub async fn open(s: &TestServer, slug: &str) -> Shop {
        let (seller, store) = s.seller(&format!("{slug}@sellers.example"), slug).await;
        Shop { seller, store }
    }

    /// Adds a product with one variant; returns `(product id, variant id)`.
    pub async fn variant(
        &self,
        s: &TestServer,
        name: &str,
        sku: &str,
        price: &str,
        stock: u32,
    ) -> (String, String) {
        let p = s
            .product(&self.seller, &self.store, name, &[(sku, price, stock)])
            .await;
        (
            p["id"].as_str().unwrap_or_default().to_owned(),
            p["variants"][0]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }
}

fn variant_id(v: &str) -> VariantId {
    VariantId::from_uuid(v.parse().unwrap_or_else(|e| panic!("{v}: {e}")))
}

/// Adds `qty` of `variant` to `owner`'s cart through the engine.
pub async fn add(s: &TestServer, owner: &CartOwner, variant: &str, qty: u32) {
    let qty = commerce_core::Quantity::new(i64::from(qty)).unwrap_or_else(|e| panic!("{e}"));
    s.state
        .commerce
        .add_to_cart(owner, variant_id(variant), qty)
        .await
        .unwrap_or_else(|e| panic!("add to cart: {e}"));
}

/// A signed-in user's cart.
pub fn account_cart(u: &User) -> CartOwner {
    CartOwner::Account(u.account.id)
}

/// A new guest cart: its owner and token.
pub fn guest_cart() -> (CartOwner, String) {
    let token = CartToken::generate();
    let s = token.as_str().to_owned();
    (CartOwner::Guest(token), s)
}

/// The lines in `owner`'s cart.
pub async fn cart_lines(s: &TestServer, owner: &CartOwner) -> usize {
    s.state
        .commerce
        .cart(owner)
        .await
        .unwrap_or_else(|e| panic!("cart: {e}"))
        .lines
        .len()
}

/// A variant's stock.
pub async fn stock(s: &TestServer, variant: &str) -> Stock {
    s.state
        .commerce
        .store()
        .stock(variant_id(variant))
        .await
        .unwrap_or_else(|e| panic!("stock: {e}"))
        .unwrap_or_else(|| panic!("no stock for {variant}"))
}

/// An order, read through the engine.
pub async fn order(s: &TestServer, id: &str) -> Order {
    let id = OrderId::from_uuid(id.parse().unwrap_or_else(|e| panic!("{id}: {e}")));
    s.state
        .commerce
        .order(id)
        .await
        .unwrap_or_else(|e| panic!("order: {e}"))
}

/// Every order in the store.
pub async fn order_count(s: &TestServer) -> usize {
    use commerce_core::storage::AuditStore;
    s.state
        .commerce
        .store()
        .audit()
        .await
        .unwrap_or_else(|e| panic!("audit: {e}"))
        .orders
        .len()
}

/// `POST /api/v1/checkout` with a bearer token or a guest cart token.
pub async fn checkout(
    s: &TestServer,
    token: Option<&str>,
    cart_token: Option<&str>,
    key: Option<&str>,
    body: &Value,
) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    if let Some(c) = cart_token {
        headers.push(("x-cart-token", c));
    }
    if let Some(k) = key {
        headers.push(("idempotency-key", k));
    }
    s.raw(
        "POST",
        "/api/v1/checkout",
        &headers,
        serde_json::to_vec(body).unwrap_or_default(),
    )
    .await
}

/// A signed-in buyer checks out `qty` of `variant`; returns the order JSON.
pub async fn buy(s: &TestServer, buyer: &User, variant: &str, qty: u32) -> Value {
    add(s, &account_cart(buyer), variant, qty).await;
    let res = checkout(s, Some(&buyer.token), None, Some(&key()), &json!({})).await;
    res.expect(201);
    res.json()
}

/// `POST /api/v1/orders/{id}/payments` through the sandbox, as `token`.
pub async fn start_payment(s: &TestServer, token: &str, order: &str, key: &str) -> Resp {
    let auth = format!("Bearer {token}");
    s.raw(
        "POST",
        &format!("/api/v1/orders/{order}/payments"),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
            ("idempotency-key", key),
        ],
        br#"{"gateway":"sandbox"}"#.to_vec(),
    )
    .await
}

/// The sandbox as the test's own copy (same secret as the server's): it
/// signs webhooks exactly as the server's sandbox does.
pub fn signer() -> SandboxGateway {
    SandboxGateway::new(server::DEV_SANDBOX_SECRET.as_bytes().to_vec(), "http://x")
}

/// A new event id.
pub fn event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

/// Sends a signed sandbox webhook over HTTP.
pub async fn send_webhook(
    s: &TestServer,
    event: &str,
    reference: &str,
    amount: Money,
    paid: bool,
    at: chrono::DateTime<chrono::Utc>,
) -> Resp {
    let hook = signer().webhook(event, reference, amount, paid, at);
    let headers: Vec<(&str, &str)> = hook
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    s.raw(
        "POST",
        "/api/v1/payments/sandbox/webhook",
        &headers,
        hook.body.clone(),
    )
    .await
}

/// Money from a wire amount (`{"amount": "12.50", "currency": "USD"}`).
pub fn money(v: &Value) -> Money {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// Pays an order through the sandbox's webhook; returns the payment JSON.
pub async fn pay(s: &TestServer, buyer: &User, order: &Value) -> Value {
    let id = order["id"].as_str().unwrap_or_default();
    let res = start_payment(s, &buyer.token, id, &key()).await;
    res.expect(201);
    let payment = res.json();
    let reference = payment["reference"].as_str().unwrap_or_default();
    send_webhook(
        s,
        &event_id(),
        reference,
        money(&payment["amount"]),
        true,
        chrono::Utc::now(),
    )
    .await
    .expect(200);
    assert_eq!(
        self::order(s, id).await.status,
        OrderStatus::Paid,
        "the webhook paid the order"
    );
    payment
}

/// Mails whose subject contains `needle`.
pub fn mails_about(s: &TestServer, needle: &str) -> usize {
    s.mailer
        .sent()
        .iter()
        .filter(|m| m.subject.contains(needle))
        .count()
}

/// Waits (bounded) until `f` holds, polling the engine.
pub async fn until<F, Fut>(what: &str, f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..600 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The path and query of an absolute URL (`http://host/p?q` → `/p?q`).
pub fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/')
        .map_or("/".to_owned(), |i| rest[i..].to_owned())
}

/// A store usable as `&DynStore` (for the engine's store calls).
pub fn store(s: &TestServer) -> &DynStore {
    s.state.commerce.store()
}
