//! Products and stock over HTTP: create, read, browse, edit, withdraw, and
//! stock with its low-stock mail.

use crate::common;

use commerce_core::Quantity;
use commerce_core::cart::CartOwner;
use commerce_core::idempotency::IdempotencyKey;
use commerce_core::ids::VariantId;
use commerce_core::service::CheckoutRequest;
use commerce_core::storage::CatalogStore;
use common::{TestServer, redactions};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

async fn a_seller_adds_a_product_and_anyone_reads_it(s: &TestServer) {
    let (seller, store) = s.seller("maker@example.com", "maker").await;
    let res = s
        .call("POST", "/api/v1/products", Some(&seller.token), Some(json!({
            "store_id": store,
            "name": "Blue Mug",
            "description": "Holds tea.",
            "images": ["https://img.example/mug.jpg"],
            "variants": [
                {"sku": "MUG-L", "attributes": {"size": "L"}, "price": {"amount": "14.00", "currency": "USD"},
                 "compare_at_price": {"amount": "18.00", "currency": "USD"}, "stock": 4},
                {"sku": "MUG-S", "attributes": {"size": "S"}, "price": {"amount": "12.00", "currency": "USD"}, "stock": 0}
            ]
        })))
        .await;
    res.expect(201);
    let created = res.json();
    redactions().bind(|| insta::assert_json_snapshot!("product_created", created));
    let got = s.get(&format!("/api/v1/products/{}", id(&created))).await;
    got.expect(200);
    let got = got.json();
    assert_eq!(got, created);
    assert_eq!(got["price_from"]["amount"], "12.00");
    assert_eq!(got["variants"][0]["sku"], "MUG-L");
    assert_eq!(got["variants"][0]["available"], 4);
    assert_eq!(got["variants"][1]["available"], 0);
    assert_eq!(got["rating"], json!({"average": 0.0, "count": 0}));
    // A SKU in use is a conflict; nothing is added.
    let res = s
        .call("POST", "/api/v1/products", Some(&seller.token), Some(json!({
            "store_id": store, "name": "Copy",
            "variants": [{"sku": "MUG-L", "price": {"amount": "1.00", "currency": "USD"}, "stock": 1}]
        })))
        .await;
    res.expect(409);
    assert_eq!(s.get("/api/v1/products").await.json()["total"], 1);
    // Another currency than the shop's is refused.
    let res = s
        .call("POST", "/api/v1/products", Some(&seller.token), Some(json!({
            "store_id": store, "name": "Euro",
            "variants": [{"sku": "EUR-1", "price": {"amount": "1.00", "currency": "EUR"}, "stock": 1}]
        })))
        .await;
    res.expect(422);
    let res = s
        .call("POST", "/api/v1/products", Some(&seller.token), Some(json!({
            "store_id": uuid::Uuid::now_v7(), "name": "Nowhere",
            "variants": [{"sku": "NO-1", "price": {"amount": "1.00", "currency": "USD"}, "stock": 1}]
        })))
        .await;
    res.expect(404);
}

async fn browse_filters_sorts_and_pages(s: &TestServer) {
    let admin = s.admin("cat-admin@example.com").await;
    let post_cat = |body| s.call("POST", "/api/v1/categories", Some(&admin.token), Some(body));
    let home = id(&post_cat(json!({"name": "Home"})).await.json());
    let mugs = id(&post_cat(json!({"name": "Mugs", "parent_id": home}))
        .await
        .json());
    let books = id(&post_cat(json!({"name": "Books"})).await.json());
    let (a, store_a) = s.seller("a@example.com", "store-a").await;
    let (b, store_b) = s.seller("b@example.com", "store-b").await;
    let add = |who,
               store: String,
               name: &'static str,
               cat: String,
               sku: &'static str,
               price: &'static str,
               stock: u32| {
        let body = json!({"store_id": store, "category_id": cat, "name": name,
            "variants": [{"sku": sku, "price": {"amount": price, "currency": "USD"}, "stock": stock}]});
        async move {
            let res = s
                .call("POST", "/api/v1/products", Some(who), Some(body))
                .await;
            res.expect(201);
            res.json()
        }
    };
    add(
        &a.token,
        store_a.clone(),
        "Red Mug",
        mugs.clone(),
        "RM",
        "10.00",
        5,
    )
    .await;
    add(
        &a.token,
        store_a.clone(),
        "Blue Mug",
        mugs.clone(),
        "BM",
        "20.00",
        0,
    )
    .await;
    add(
        &b.token,
        store_b.clone(),
        "Tea Book",
        books.clone(),
        "TB",
        "15.00",
        3,
    )
    .await;
    add(
        &b.token,
        store_b.clone(),
        "Home Sign",
        home.clone(),
        "HS",
        "30.00",
        1,
    )
    .await;

    let names = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let q = |query: String| async move {
        let res = s.get(&format!("/api/v1/products?{query}")).await;
        res.expect(200);
        res.json()
    };
    assert_eq!(
        names(q("sort=price".into()).await),
        ["Red Mug", "Tea Book", "Blue Mug", "Home Sign"]
    );
    assert_eq!(
        names(q("sort=-price".into()).await),
        ["Home Sign", "Blue Mug", "Tea Book", "Red Mug"]
    );
    assert_eq!(
        names(q("sort=name".into()).await),
        ["Blue Mug", "Home Sign", "Red Mug", "Tea Book"]
    );
    assert_eq!(
        names(q("".into()).await),
        ["Home Sign", "Tea Book", "Blue Mug", "Red Mug"],
        "newest first"
    );
    assert_eq!(
        names(q("q=MUG&sort=name".into()).await),
        ["Blue Mug", "Red Mug"]
    );
    // A category includes its descendants.
    assert_eq!(
        names(q(format!("category={home}&sort=name")).await),
        ["Blue Mug", "Home Sign", "Red Mug"]
    );
    assert_eq!(
        names(q(format!("store={store_b}&sort=name")).await),
        ["Home Sign", "Tea Book"]
    );
    assert_eq!(
        names(q("min_price=15&max_price=20.00&sort=price".into()).await),
        ["Tea Book", "Blue Mug"]
    );
    assert_eq!(
        names(q("in_stock=true&sort=price".into()).await),
        ["Red Mug", "Tea Book", "Home Sign"]
    );
    let page = q("sort=price&per_page=3&page=2".into()).await;
    assert_eq!(
        (
            page["total"].as_u64(),
            page["page"].as_u64(),
            page["per_page"].as_u64()
        ),
        (Some(4), Some(2), Some(3))
    );
    assert_eq!(names(page), ["Home Sign"]);
    // Bad parameters name themselves.
    for (query, field) in [
        ("sort=rating", "sort"),
        ("category=nope", "category"),
        ("min_price=1.001", "min_price"),
        ("in_stock=maybe", "in_stock"),
        ("per_page=500", "per_page"),
    ] {
        let res = s.get(&format!("/api/v1/products?{query}")).await;
        res.expect(422);
        assert_eq!(res.json()["errors"][0]["field"], field, "{query}");
    }
    s.get(&format!(
        "/api/v1/products?category={}",
        uuid::Uuid::now_v7()
    ))
    .await
    .expect(404);
}

async fn owners_edit_and_withdraw_products(s: &TestServer) {
    let (seller, store) = s.seller("editor@example.com", "editor").await;
    let p = s
        .product(&seller, &store, "Old Name", &[("ED-1", "5.00", 2)])
        .await;
    let path = format!("/api/v1/products/{}", id(&p));
    let res = s
        .call(
            "PATCH",
            &path,
            Some(&seller.token),
            Some(json!({"name": "New Name", "images": ["https://x.example/a.png"]})),
        )
        .await;
    res.expect(200);
    assert_eq!(res.json()["name"], "New Name");
    assert_eq!(
        res.json()["description"],
        p["description"],
        "absent fields stay"
    );
    let res = s
        .call(
            "PATCH",
            &path,
            Some(&seller.token),
            Some(json!({"images": ["javascript:alert(1)"]})),
        )
        .await;
    res.expect(422);
    assert_eq!(res.json()["errors"][0]["field"], "images");
    s.call("DELETE", &path, Some(&seller.token), None)
        .await
        .expect(204);
    // Withdrawn: gone from the catalog and the detail, and not editable.
    s.get(&path).await.expect(404);
    assert_eq!(s.get("/api/v1/products").await.json()["total"], 0);
    s.call("DELETE", &path, Some(&seller.token), None)
        .await
        .expect(404);
    // Orders would still find it: the record is kept.
    let kept = s
        .state
        .commerce
        .store()
        .product(commerce_core::ids::ProductId::from_uuid(
            id(&p).parse().unwrap(),
        ))
        .await
        .unwrap();
    assert!(kept.is_some_and(|(p, _)| p.deleted_at.is_some()));
}

async fn stock_is_set_never_below_reserved_and_low_stock_mails_once(s: &TestServer) {
    let (seller, store) = s.seller("stocker@example.com", "stocker").await;
    let p = s
        .product(&seller, &store, "Lamp", &[("LAMP-1", "25.00", 10)])
        .await;
    let variant = p["variants"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/variants/{variant}/stock");
    // A buyer reserves 2 units at checkout.
    let buyer = s.user("buyer@example.com", true, &[]).await;
    let owner = CartOwner::Account(buyer.account.id);
    let vid = VariantId::from_uuid(variant.parse().unwrap());
    s.state
        .commerce
        .add_to_cart(&owner, vid, Quantity::new(2).unwrap())
        .await
        .unwrap();
    s.state
        .commerce
        .checkout(CheckoutRequest {
            owner,
            customer: Some(buyer.account.id),
            email: "buyer@example.com".into(),
            shipping_address: None,
            idempotency_key: IdempotencyKey::parse("stock-test-1").unwrap(),
        })
        .await
        .unwrap();
    let res = s
        .call(
            "PUT",
            &path,
            Some(&seller.token),
            Some(json!({"on_hand": 1})),
        )
        .await;
    res.expect(409);
    assert_eq!(res.code(), "stock_below_reserved");
    assert_eq!(res.json()["reserved"], 2);
    // 10 on hand, 2 reserved: 8 available. Down to 6 (4 available): no mail.
    let res = s
        .call(
            "PUT",
            &path,
            Some(&seller.token),
            Some(json!({"on_hand": 6})),
        )
        .await;
    res.expect(200);
    assert_eq!(
        res.json(),
        json!({"variant_id": variant, "on_hand": 6, "reserved": 2, "available": 4})
    );
    // Down to 5 (3 available, the threshold): the owner is mailed, once.
    s.call(
        "PUT",
        &path,
        Some(&seller.token),
        Some(json!({"on_hand": 5})),
    )
    .await
    .expect(200);
    s.call(
        "PUT",
        &path,
        Some(&seller.token),
        Some(json!({"on_hand": 4})),
    )
    .await
    .expect(200);
    let owner_mails = || {
        s.mailer
            .sent()
            .into_iter()
            .filter(|m| m.to.as_str() == "stocker@example.com")
            .count()
    };
    s.eventually("the low-stock mail", || owner_mails() >= 1)
        .await;
    // The 5 → 4 step crossed nothing; give the relay a moment to prove it.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(owner_mails(), 1);
    let mail = s
        .mailer
        .sent()
        .into_iter()
        .find(|m| m.to.as_str() == "stocker@example.com")
        .unwrap();
    assert!(
        mail.subject.to_lowercase().contains("stock"),
        "{}",
        mail.subject
    );
    s.get(&format!("/api/v1/products/{}", id(&p)))
        .await
        .expect(200);
}

on_both!(
    a_seller_adds_a_product_and_anyone_reads_it,
    browse_filters_sorts_and_pages,
    owners_edit_and_withdraw_products,
    stock_is_set_never_below_reserved_and_low_stock_mails_once,
);
