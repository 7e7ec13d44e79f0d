//! Payments over a real socket: starting one (idempotent, the buyer's
//! only), the sandbox's hosted page whose Pay button makes the sandbox send
//! its signed webhook to the server over HTTP, the browser return (verified
//! with the gateway, never trusted), and the webhook's rules: signature,
//! freshness, each event once, amount and currency checked.

use crate::common;

use commerce_core::money::Money;
use commerce_core::order::OrderStatus;
use commerce_core::payment::PaymentStatus;
use commerce_http::config::{Config, Switch};
use common::TestServer;
use common::orders::{
    Shop, buy, event_id, key, mails_about, money, order, path_of, send_webhook, start_payment,
    stock,
};
use serde_json::json;

async fn payment_status(s: &TestServer, id: &str) -> PaymentStatus {
    let id = commerce_core::ids::PaymentId::from_uuid(id.parse().unwrap());
    s.state.commerce.payment(id).await.unwrap().status
}

async fn starting_a_payment_is_idempotent_and_the_buyers_only(s: &TestServer) {
    let shop = Shop::open(s, "start").await;
    let (_, v) = shop.variant(s, "Vase", "VASE-1", "12.50", 5).await;
    let buyer = s.user("pay@example.com", true, &[]).await;
    let o = buy(s, &buyer, &v, 2).await;
    let id = o["id"].as_str().unwrap();

    let k = key();
    let res = start_payment(s, &buyer.token, id, &k).await;
    res.expect(201);
    let p = res.json();
    assert_eq!(p["status"], "pending");
    assert_eq!(p["gateway"], "sandbox");
    assert_eq!(p["order_id"], o["id"]);
    assert_eq!(p["amount"], json!({"amount": "25.00", "currency": "USD"}));
    let reference = p["reference"].as_str().unwrap();
    assert!(
        p["redirect_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/sandbox/pay/{reference}"))
    );

    let replay = start_payment(s, &buyer.token, id, &k).await;
    replay.expect(201);
    assert_eq!(replay.json(), p, "the same payment");
    let other_body = s
        .raw(
            "POST",
            &format!("/api/v1/orders/{id}/payments"),
            &[
                ("authorization", &format!("Bearer {}", buyer.token)),
                ("content-type", "application/json"),
                ("idempotency-key", &k),
            ],
            br#"{"gateway":"stripe"}"#.to_vec(),
        )
        .await;
    assert_eq!(other_body.status, 404, "no such gateway");
    let missing = s
        .call(
            "POST",
            &format!("/api/v1/orders/{id}/payments"),
            Some(&buyer.token),
            Some(json!({"gateway": "sandbox"})),
        )
        .await;
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (400, "idempotency_key_required")
    );

    // Another shopper cannot start or see a payment of this order (404);
    // an admin sees it but does not pay for the buyer (403).
    let stranger = s.user("stranger@example.com", true, &[]).await;
    assert_eq!(
        start_payment(s, &stranger.token, id, &key()).await.status,
        404
    );
    let admin = s.admin("admin@example.com").await;
    assert_eq!(start_payment(s, &admin.token, id, &key()).await.status, 403);
    let path = format!("/api/v1/payments/{}", p["id"].as_str().unwrap());
    assert_eq!(
        s.call("GET", &path, Some(&stranger.token), None)
            .await
            .status,
        404
    );
    assert_eq!(s.get(&path).await.status, 401);
    let seen = s.call("GET", &path, Some(&admin.token), None).await;
    seen.expect(200);
    let mine = s.call("GET", &path, Some(&buyer.token), None).await;
    mine.expect(200);
    assert_eq!(mine.json()["attempts"][0]["kind"], "created");
    assert_eq!(
        s.state
            .commerce
            .payments_of(order(s, id).await.id)
            .await
            .unwrap()
            .len(),
        1,
        "one payment"
    );

    // The order lists its payments.
    let listed = s
        .call(
            "GET",
            &format!("/api/v1/orders/{id}"),
            Some(&buyer.token),
            None,
        )
        .await;
    assert_eq!(listed.json()["payments"][0]["id"], p["id"]);
    assert_eq!(listed.json()["payments"][0]["status"], "pending");

    // Once the order is paid, the key still answers with its payment; a
    // new key is refused with the lifecycle's reason.
    send_webhook(
        s,
        &event_id(),
        reference,
        money(&p["amount"]),
        true,
        chrono::Utc::now(),
    )
    .await
    .expect(200);
    let after = start_payment(s, &buyer.token, id, &k).await;
    after.expect(201);
    assert_eq!(after.json()["id"], p["id"]);
    let late = start_payment(s, &buyer.token, id, &key()).await;
    assert_eq!(
        (late.status, late.code().as_str()),
        (409, "invalid_transition")
    );
}

async fn paying_on_the_sandbox_page_pays_through_the_webhook(s: &TestServer) {
    let shop = Shop::open(s, "page").await;
    let (_, v) = shop.variant(s, "Lamp", "LAMP-1", "30.00", 5).await;
    let buyer = s.user("page@example.com", true, &[]).await;
    let o = buy(s, &buyer, &v, 1).await;
    let id = o["id"].as_str().unwrap();
    let p = start_payment(s, &buyer.token, id, &key()).await.json();
    let page_path = path_of(p["redirect_url"].as_str().unwrap());

    let page = s.get(&page_path).await;
    page.expect(200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    assert!(html.contains("30.00 USD"), "{html}");
    assert!(html.contains(r#"value="pay""#) && html.contains(r#"value="decline""#));
    assert!(html.contains(&format!(r#"action="{page_path}""#)));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );

    let pressed = s
        .raw(
            "POST",
            &page_path,
            &[("content-type", "application/x-www-form-urlencoded")],
            b"choice=pay".to_vec(),
        )
        .await;
    pressed.expect(303);
    // The sandbox delivered its webhook before sending the browser back.
    assert_eq!(order(s, id).await.status, OrderStatus::Paid);
    let pid = p["id"].as_str().unwrap();
    assert_eq!(payment_status(s, pid).await, PaymentStatus::Succeeded);
    let detail = s
        .call(
            "GET",
            &format!("/api/v1/payments/{pid}"),
            Some(&buyer.token),
            None,
        )
        .await
        .json();
    let kinds: Vec<&str> = detail["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"webhook"), "paid by the webhook: {kinds:?}");
    assert_eq!(stock(s, &v).await.on_hand, 4, "the reserved unit is sold");

    // The browser lands on the return URL, which asks the gateway again.
    let location = pressed.header("location").unwrap().to_owned();
    assert!(location.contains("/api/v1/payments/sandbox/return?reference="));
    let back = s.get(&path_of(&location)).await;
    back.expect(200);
    let back = back.json();
    assert_eq!(back["payment_status"], "succeeded");
    assert_eq!(back["order_status"], "paid");
    assert_eq!(back["pending"], false);
    let html_back = s
        .raw(
            "GET",
            &path_of(&location),
            &[("accept", "text/html")],
            Vec::new(),
        )
        .await;
    assert!(
        html_back
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );

    // A second press is refused; nothing changes twice.
    let again = s
        .raw(
            "POST",
            &page_path,
            &[("content-type", "application/x-www-form-urlencoded")],
            b"choice=pay".to_vec(),
        )
        .await;
    assert_eq!(again.status, 409);
    s.eventually("the paid mail", || mails_about(s, "is paid") == 1)
        .await;
}

async fn declining_leaves_the_order_payable(s: &TestServer) {
    let shop = Shop::open(s, "decline").await;
    let (_, v) = shop.variant(s, "Rug", "RUG-1", "80.00", 2).await;
    let buyer = s.user("decline@example.com", true, &[]).await;
    let o = buy(s, &buyer, &v, 1).await;
    let id = o["id"].as_str().unwrap();
    let p = start_payment(s, &buyer.token, id, &key()).await.json();
    let page_path = path_of(p["redirect_url"].as_str().unwrap());
    let bad = s
        .raw(
            "POST",
            &page_path,
            &[("content-type", "application/x-www-form-urlencoded")],
            b"choice=maybe".to_vec(),
        )
        .await;
    assert_eq!(bad.status, 422);
    let pressed = s
        .raw(
            "POST",
            &page_path,
            &[("content-type", "application/x-www-form-urlencoded")],
            b"choice=decline".to_vec(),
        )
        .await;
    pressed.expect(303);
    assert_eq!(
        payment_status(s, p["id"].as_str().unwrap()).await,
        PaymentStatus::Failed
    );
    assert_eq!(order(s, id).await.status, OrderStatus::PendingPayment);
    assert_eq!(stock(s, &v).await.reserved, 1, "still reserved");
    let back = s
        .get(&path_of(pressed.header("location").unwrap()))
        .await
        .json();
    assert_eq!(back["payment_status"], "failed");
    assert_eq!(back["order_status"], "pending_payment");
    // Payable again.
    start_payment(s, &buyer.token, id, &key()).await.expect(201);
}

async fn a_return_is_never_trusted(s: &TestServer) {
    let shop = Shop::open(s, "trust").await;
    let (_, v) = shop.variant(s, "Pen", "PEN-1", "2.00", 5).await;
    let buyer = s.user("trust@example.com", true, &[]).await;
    let o = buy(s, &buyer, &v, 1).await;
    let id = o["id"].as_str().unwrap();
    let p = start_payment(s, &buyer.token, id, &key()).await.json();
    let reference = p["reference"].as_str().unwrap();
    let res = s
        .get(&format!(
            "/api/v1/payments/sandbox/return?reference={reference}&status=succeeded&paid=true"
        ))
        .await;
    res.expect(200);
    assert_eq!(res.json()["pending"], true);
    assert_eq!(res.json()["order_status"], "pending_payment");
    assert_eq!(order(s, id).await.status, OrderStatus::PendingPayment);
    let unknown = s
        .get("/api/v1/payments/sandbox/return?reference=sbx_nope")
        .await;
    assert_eq!(unknown.status, 404);
    let none = s.get("/api/v1/payments/sandbox/return").await;
    assert_eq!(none.status, 422);
}

async fn webhooks_are_signed_fresh_applied_once_and_checked(s: &TestServer) {
    let shop = Shop::open(s, "hooks").await;
    let (_, v) = shop.variant(s, "Bowl", "BOWL-1", "10.00", 5).await;
    let buyer = s.user("hooks@example.com", true, &[]).await;
    let o = buy(s, &buyer, &v, 1).await;
    let id = o["id"].as_str().unwrap();
    let p = start_payment(s, &buyer.token, id, &key()).await.json();
    let reference = p["reference"].as_str().unwrap();
    let amount = money(&p["amount"]);
    let now = chrono::Utc::now();

    // A wrong secret, no signature, a stale or future timestamp: refused.
    let forged = commerce_core::payment::SandboxGateway::new(b"not the secret".to_vec(), "x")
        .webhook(&event_id(), reference, amount, true, now);
    let res = s
        .raw(
            "POST",
            "/api/v1/payments/sandbox/webhook",
            &[("sandbox-signature", &forged.headers["sandbox-signature"])],
            forged.body.clone(),
        )
        .await;
    assert_eq!(
        (res.status, res.code().as_str()),
        (400, "signature_invalid")
    );
    let res = s
        .raw("POST", "/api/v1/payments/sandbox/webhook", &[], forged.body)
        .await;
    assert_eq!(
        (res.status, res.code().as_str()),
        (400, "signature_invalid")
    );
    for skew in [
        chrono::Duration::seconds(-301),
        chrono::Duration::seconds(301),
    ] {
        let res = send_webhook(s, &event_id(), reference, amount, true, now + skew).await;
        assert_eq!(
            (res.status, res.code().as_str()),
            (400, "signature_invalid")
        );
    }
    assert_eq!(order(s, id).await.status, OrderStatus::PendingPayment);

    // Another amount: the payment is flagged, the order stays unpaid.
    let other = Money::from_minor(1, amount.currency());
    let res = send_webhook(s, &event_id(), reference, other, true, now).await;
    res.expect(200);
    assert_eq!(res.json()["code"], "payment_amount_mismatch");
    assert_eq!(res.json()["outcome"], "amount_mismatch");
    assert_eq!(
        payment_status(s, p["id"].as_str().unwrap()).await,
        PaymentStatus::Mismatch
    );
    assert_eq!(order(s, id).await.status, OrderStatus::PendingPayment);

    // Another currency, on a fresh payment: the same.
    let p2 = start_payment(s, &buyer.token, id, &key()).await.json();
    let eur = Money::from_minor(amount.minor(), commerce_core::money::Currency::EUR);
    let res = send_webhook(
        s,
        &event_id(),
        p2["reference"].as_str().unwrap(),
        eur,
        true,
        now,
    )
    .await;
    assert_eq!(res.json()["code"], "payment_amount_mismatch");
    assert_eq!(order(s, id).await.status, OrderStatus::PendingPayment);

    // The right event pays once; its replay changes nothing.
    let p3 = start_payment(s, &buyer.token, id, &key()).await.json();
    let event = event_id();
    let r3 = p3["reference"].as_str().unwrap();
    let res = send_webhook(s, &event, r3, amount, true, now).await;
    res.expect(200);
    assert_eq!(res.json()["outcome"], "paid");
    let paid = order(s, id).await;
    assert_eq!(paid.status, OrderStatus::Paid);
    let replay = send_webhook(s, &event, r3, amount, true, now).await;
    replay.expect(200);
    assert_eq!(replay.json()["outcome"], "already_applied");
    assert_eq!(order(s, id).await, paid, "nothing changed");
    assert_eq!(stock(s, &v).await.on_hand, 4, "sold once");

    // An unknown reference.
    let res = send_webhook(s, &event_id(), "sbx_unknown", amount, true, now).await;
    assert_eq!(res.status, 404);
}

fn sandbox_off() -> Config {
    let mut c = Config::defaults();
    c.sandbox = Switch::Off;
    c
}

async fn the_sandbox_can_be_switched_off(s: &TestServer) {
    let shop = Shop::open(s, "off").await;
    let (_, v) = shop.variant(s, "Hat", "HAT-1", "5.00", 5).await;
    let buyer = s.user("off@example.com", true, &[]).await;
    let o = buy(s, &buyer, &v, 1).await;
    let res = start_payment(s, &buyer.token, o["id"].as_str().unwrap(), &key()).await;
    assert_eq!(res.status, 404, "no sandbox gateway");
    assert_eq!(s.get("/sandbox/pay/sbx_anything").await.status, 404);
    let res = send_webhook(
        s,
        &event_id(),
        "sbx_anything",
        Money::from_minor(500, commerce_core::money::Currency::USD),
        true,
        chrono::Utc::now(),
    )
    .await;
    assert_eq!(res.status, 404);
    assert_eq!(
        s.get("/api/v1/payments/sandbox/return?reference=sbx_anything")
            .await
            .status,
        404
    );
}

on_both!(
    starting_a_payment_is_idempotent_and_the_buyers_only,
    paying_on_the_sandbox_page_pays_through_the_webhook,
    declining_leaves_the_order_payable,
    a_return_is_never_trusted,
    webhooks_are_signed_fresh_applied_once_and_checked,
);

mod off {
    use super::*;
    on_both_with!(sandbox_off; the_sandbox_can_be_switched_off);
}
