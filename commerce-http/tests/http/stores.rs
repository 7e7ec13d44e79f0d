//! Sellers' stores over HTTP.

use crate::common;

use common::{TestServer, redactions};
use serde_json::json;

async fn a_verified_user_opens_a_store_and_becomes_a_seller(s: &TestServer) {
    let u = s.user("ada@example.com", true, &[]).await;
    let res = s
        .call(
            "POST",
            "/api/v1/stores",
            Some(&u.token),
            Some(json!({"name": "Ada's Shop", "slug": "adas"})),
        )
        .await;
    res.expect(201);
    let store = res.json();
    assert_eq!(store["name"], "Ada's Shop");
    assert_eq!(store["slug"], "adas");
    let account = s.state.commerce.account(u.account.id).await.unwrap();
    assert!(account.has_role(commerce_core::account::Role::Seller));
    redactions().bind(|| insta::assert_json_snapshot!("store_created", store));

    let id = store["id"].as_str().unwrap();
    let res = s.get(&format!("/api/v1/stores/{id}")).await;
    res.expect(200);
    assert_eq!(res.json(), store);
    // Owners are not published.
    assert!(res.json().get("owner_id").is_none());
}

async fn an_unverified_user_cannot_open_a_store(s: &TestServer) {
    let u = s.user("unverified@example.com", false, &[]).await;
    let res = s
        .call(
            "POST",
            "/api/v1/stores",
            Some(&u.token),
            Some(json!({"name": "Nope", "slug": "nope"})),
        )
        .await;
    res.expect(403);
    assert_eq!(res.code(), "email_not_verified");
    assert_eq!(s.get("/api/v1/stores").await.json()["total"], 0);
}

async fn slugs_are_unique_and_checked(s: &TestServer) {
    let a = s.user("a@example.com", true, &[]).await;
    let b = s.user("b@example.com", true, &[]).await;
    s.call(
        "POST",
        "/api/v1/stores",
        Some(&a.token),
        Some(json!({"name": "A", "slug": "same"})),
    )
    .await
    .expect(201);
    let res = s
        .call(
            "POST",
            "/api/v1/stores",
            Some(&b.token),
            Some(json!({"name": "B", "slug": "same"})),
        )
        .await;
    res.expect(409);
    assert_eq!(res.code(), "conflict");
    let res = s
        .call(
            "POST",
            "/api/v1/stores",
            Some(&b.token),
            Some(json!({"name": "B", "slug": "Bad Slug"})),
        )
        .await;
    res.expect(422);
    assert_eq!(res.json()["errors"][0]["field"], "slug");
    let res = s
        .call(
            "POST",
            "/api/v1/stores",
            Some(&b.token),
            Some(json!({"name": "", "slug": "ok"})),
        )
        .await;
    res.expect(422);
    assert_eq!(res.json()["errors"][0]["field"], "name");
}

async fn stores_are_listed_in_pages(s: &TestServer) {
    for i in 0..3 {
        s.seller(&format!("s{i}@example.com"), &format!("store-{i}"))
            .await;
    }
    let p1 = s.get("/api/v1/stores?per_page=2").await.json();
    assert_eq!(
        (p1["total"].as_u64(), p1["items"].as_array().map(Vec::len)),
        (Some(3), Some(2))
    );
    let p2 = s.get("/api/v1/stores?per_page=2&page=2").await.json();
    assert_eq!(p2["items"].as_array().map(Vec::len), Some(1));
    let slugs: Vec<&str> = p1["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2["items"].as_array().unwrap())
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["store-0", "store-1", "store-2"], "oldest first");
    s.get(&format!("/api/v1/stores/{}", uuid::Uuid::now_v7()))
        .await
        .expect(404);
}

on_both!(
    a_verified_user_opens_a_store_and_becomes_a_seller,
    an_unverified_user_cannot_open_a_store,
    slugs_are_unique_and_checked,
    stores_are_listed_in_pages,
);
