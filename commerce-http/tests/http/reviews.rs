//! Reviews over HTTP: one per user and product, verified purchases.

use crate::common;

use common::{TestServer, redactions};
use serde_json::json;

async fn one_review_per_user_and_verified_purchases(s: &TestServer) {
    let (seller, store) = s.seller("potter@example.com", "potter").await;
    let p = s
        .product(&seller, &store, "Teapot", &[("POT-1", "25.00", 5)])
        .await;
    let pid = p["id"].as_str().unwrap();
    let variant = p["variants"][0]["id"].as_str().unwrap();
    let path = format!("/api/v1/products/{pid}/reviews");
    let buyer = s.user("buyer@example.com", true, &[]).await;
    let stranger = s.user("stranger@example.com", true, &[]).await;
    s.buy_and_pay(&buyer, variant).await;

    let res = s
        .call(
            "POST",
            &path,
            Some(&stranger.token),
            Some(json!({"rating": 2, "body": "Never bought it"})),
        )
        .await;
    res.expect(201);
    assert_eq!(res.json()["verified_purchase"], false);
    let res = s
        .call(
            "POST",
            &path,
            Some(&buyer.token),
            Some(json!({"rating": 5, "title": "Lovely", "body": "Pours well"})),
        )
        .await;
    res.expect(201);
    let review = res.json();
    assert_eq!(review["verified_purchase"], true);
    redactions().bind(|| insta::assert_json_snapshot!("review_posted", review));
    // Once per user and product.
    let res = s
        .call(
            "POST",
            &path,
            Some(&buyer.token),
            Some(json!({"rating": 1, "body": "Changed my mind"})),
        )
        .await;
    res.expect(409);
    assert_eq!(res.code(), "conflict");

    let res = s.get(&path).await;
    res.expect(200);
    let page = res.json();
    assert_eq!(page["total"], 2);
    assert_eq!(page["rating"], json!({"average": 3.5, "count": 2}));
    assert_eq!(page["items"][0]["body"], "Pours well", "newest first");
    let detail = s.get(&format!("/api/v1/products/{pid}")).await.json();
    assert_eq!(detail["rating"], json!({"average": 3.5, "count": 2}));
}

async fn reviews_are_checked(s: &TestServer) {
    let (seller, store) = s.seller("checker@example.com", "checker").await;
    let p = s
        .product(&seller, &store, "Kettle", &[("KET-1", "30.00", 5)])
        .await;
    let path = format!("/api/v1/products/{}/reviews", p["id"].as_str().unwrap());
    let u = s.user("critic@example.com", true, &[]).await;
    for (body, field) in [
        (json!({"rating": 0, "body": "x"}), "rating"),
        (json!({"rating": 6, "body": "x"}), "rating"),
        (json!({"rating": 3, "body": "   "}), "body"),
        (
            json!({"rating": 3, "body": "x", "verified_purchase": true}),
            "verified_purchase",
        ),
    ] {
        let res = s.call("POST", &path, Some(&u.token), Some(body)).await;
        res.expect(422);
        assert_eq!(res.json()["errors"][0]["field"], field);
    }
    s.call("POST", &path, None, Some(json!({"rating": 3, "body": "x"})))
        .await
        .expect(401);
    let unknown = format!("/api/v1/products/{}/reviews", uuid::Uuid::now_v7());
    s.get(&unknown).await.expect(404);
    s.call(
        "POST",
        &unknown,
        Some(&u.token),
        Some(json!({"rating": 3, "body": "x"})),
    )
    .await
    .expect(404);
    assert_eq!(s.get(&path).await.json()["total"], 0);
}

on_both!(
    one_review_per_user_and_verified_purchases,
    reviews_are_checked
);
