//! Categories over HTTP: the tree, and admin management.

use crate::common;

use common::{TestServer, redactions};
use serde_json::json;

async fn admins_build_the_tree_and_anyone_reads_it(s: &TestServer) {
    let admin = s.admin("root@example.com").await;
    let post = |body| s.call("POST", "/api/v1/categories", Some(&admin.token), Some(body));
    let home = post(json!({"name": "Home & Garden"})).await;
    home.expect(201);
    let home = home.json();
    assert_eq!(home["slug"], "home-garden", "made from the name");
    let hid = home["id"].as_str().unwrap().to_owned();
    let mugs = post(json!({"name": "Mugs", "slug": "mugs", "parent_id": hid})).await;
    mugs.expect(201);
    post(json!({"name": "Books", "slug": "books"}))
        .await
        .expect(201);

    let res = s.get("/api/v1/categories").await;
    res.expect(200);
    let tree = res.json();
    assert_eq!(tree[0]["name"], "Books");
    assert_eq!(tree[1]["name"], "Home & Garden");
    assert_eq!(tree[1]["children"][0]["name"], "Mugs");
    assert_eq!(tree[1]["children"][0]["parent_id"], hid.as_str());
    redactions().bind(|| insta::assert_json_snapshot!("category_tree", tree));
}

async fn cycles_are_refused_and_only_empty_categories_go(s: &TestServer) {
    let admin = s.admin("root2@example.com").await;
    let post = |body| s.call("POST", "/api/v1/categories", Some(&admin.token), Some(body));
    let a = post(json!({"name": "A", "slug": "a"})).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = post(json!({"name": "B", "slug": "b", "parent_id": a}))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = s
        .call(
            "PATCH",
            &format!("/api/v1/categories/{a}"),
            Some(&admin.token),
            Some(json!({"parent_id": b})),
        )
        .await;
    res.expect(422);
    assert_eq!(res.json()["errors"][0]["field"], "parent_id");
    // A parent with a child is not deleted.
    let res = s
        .call(
            "DELETE",
            &format!("/api/v1/categories/{a}"),
            Some(&admin.token),
            None,
        )
        .await;
    res.expect(409);
    assert_eq!(res.code(), "conflict");
    // `null` makes B a root; then A is empty and goes.
    let res = s
        .call(
            "PATCH",
            &format!("/api/v1/categories/{b}"),
            Some(&admin.token),
            Some(json!({"parent_id": null, "name": "Bee"})),
        )
        .await;
    res.expect(200);
    assert!(res.json()["parent_id"].is_null());
    assert_eq!(res.json()["name"], "Bee");
    s.call(
        "DELETE",
        &format!("/api/v1/categories/{a}"),
        Some(&admin.token),
        None,
    )
    .await
    .expect(204);
    s.call(
        "DELETE",
        &format!("/api/v1/categories/{a}"),
        Some(&admin.token),
        None,
    )
    .await
    .expect(404);
    // A category with a product is not deleted either.
    let (seller, store) = s.seller("cat-seller@example.com", "cat-store").await;
    let res = s
        .call("POST", "/api/v1/products", Some(&seller.token), Some(json!({
            "store_id": store, "category_id": b, "name": "Thing",
            "variants": [{"sku": "T-1", "price": {"amount": "1.00", "currency": "USD"}, "stock": 1}]
        })))
        .await;
    res.expect(201);
    s.call(
        "DELETE",
        &format!("/api/v1/categories/{b}"),
        Some(&admin.token),
        None,
    )
    .await
    .expect(409);
    let res = s
        .call(
            "POST",
            "/api/v1/categories",
            Some(&admin.token),
            Some(json!({"name": "X", "parent_id": uuid::Uuid::now_v7()})),
        )
        .await;
    res.expect(404);
}

async fn customers_and_sellers_cannot_manage_categories(s: &TestServer) {
    let user = s.user("cust@example.com", true, &[]).await;
    let (seller, _) = s.seller("sell@example.com", "sell").await;
    for who in [&user, &seller] {
        let res = s
            .call(
                "POST",
                "/api/v1/categories",
                Some(&who.token),
                Some(json!({"name": "Nope"})),
            )
            .await;
        res.expect(403);
        assert_eq!(res.code(), "forbidden");
    }
    let res = s
        .call(
            "POST",
            "/api/v1/categories",
            None,
            Some(json!({"name": "Nope"})),
        )
        .await;
    res.expect(401);
    assert!(
        s.get("/api/v1/categories")
            .await
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
}

on_both!(
    admins_build_the_tree_and_anyone_reads_it,
    cycles_are_refused_and_only_empty_categories_go,
    customers_and_sellers_cannot_manage_categories,
);
