//! End to end over a real socket, on SQLite and PostgreSQL: the `me` route
//! group — profile, address book (one default), wishlist (idempotent) — and
//! the authorization matrix of every account route: anonymous, owner,
//! another customer, admin.

use crate::common;

use common::{Db, TestServer, s};
use serde_json::{Value, json};

fn address(city: &str) -> Value {
    json!({
        "full_name": "Ada Lovelace",
        "line1": "12 St James's Square",
        "city": city,
        "postal_code": "SW1Y 4JH",
        "country": "gb",
    })
}

async fn profile(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    let t = shop.customer("ada@example.com").await;
    let me = shop.get_as("/api/v1/me", Some(&t)).await;
    assert_eq!(me.status, 200);
    for key in [
        "id",
        "email",
        "full_name",
        "roles",
        "email_verified",
        "created_at",
    ] {
        assert!(
            me.json().get(key).is_some(),
            "{key} missing: {:?}",
            me.json()
        );
    }
    let patched = shop
        .patch(
            "/api/v1/me",
            Some(&t),
            &json!({"full_name": "Ada L.", "phone": "+44 20 7946 0000"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.json());
    assert_eq!(patched.json()["full_name"], "Ada L.");
    assert_eq!(patched.json()["phone"], "+44 20 7946 0000");
    // Absent keeps, "" clears.
    let cleared = shop
        .patch("/api/v1/me", Some(&t), &json!({"phone": ""}))
        .await;
    assert_eq!(cleared.json()["full_name"], "Ada L.");
    assert_eq!(cleared.json()["phone"], Value::Null);
    let bad = shop
        .patch("/api/v1/me", Some(&t), &json!({"phone": "call me"}))
        .await;
    assert_eq!(bad.refusal(), (422, "validation_failed".into()));
    assert_eq!(bad.json()["errors"][0]["field"], "phone");
    assert_eq!(
        shop.get_as("/api/v1/me", Some(&t)).await.json()["full_name"],
        "Ada L.",
        "a refused patch changes nothing"
    );
}
both!(profile);

async fn addresses(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    let t = shop.customer("ada@example.com").await;
    let first = shop
        .post("/api/v1/me/addresses", Some(&t), &address("London"))
        .await;
    assert_eq!(first.status, 201, "{:?}", first.json());
    assert_eq!(first.json()["is_default"], true, "the first is the default");
    assert_eq!(first.json()["country"], "GB");
    let second = shop
        .post("/api/v1/me/addresses", Some(&t), &address("Paris"))
        .await;
    assert_eq!(second.json()["is_default"], false);
    let mut third_body = address("Rome");
    third_body["is_default"] = json!(true);
    let third = shop
        .post("/api/v1/me/addresses", Some(&t), &third_body)
        .await;
    assert_eq!(third.json()["is_default"], true);

    let defaults = |list: &Value| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["is_default"] == true)
            .map(|a| s(a, "city"))
            .collect::<Vec<_>>()
    };
    let list = shop.get_as("/api/v1/me/addresses", Some(&t)).await.json();
    assert_eq!(list["total"], 3);
    assert_eq!(defaults(&list), vec!["Rome"], "at most one default");
    assert_eq!(list["items"][0]["city"], "Rome", "default first");

    // PATCH changes what it names; setting the default moves it.
    let id = s(&second.json(), "id");
    let patched = shop
        .patch(
            &format!("/api/v1/me/addresses/{id}"),
            Some(&t),
            &json!({"city": "Lyon", "line2": "Apt 4", "is_default": true}),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.json());
    assert_eq!(patched.json()["city"], "Lyon");
    assert_eq!(patched.json()["line2"], "Apt 4");
    assert_eq!(patched.json()["line1"], "12 St James's Square");
    let list = shop.get_as("/api/v1/me/addresses", Some(&t)).await.json();
    assert_eq!(defaults(&list), vec!["Lyon"]);
    let cleared = shop
        .patch(
            &format!("/api/v1/me/addresses/{id}"),
            Some(&t),
            &json!({"line2": null}),
        )
        .await;
    assert_eq!(cleared.json()["line2"], Value::Null);

    let bad = shop
        .patch(
            &format!("/api/v1/me/addresses/{id}"),
            Some(&t),
            &json!({"country": "GBR"}),
        )
        .await;
    assert_eq!(bad.refusal(), (422, "validation_failed".into()));
    assert_eq!(bad.json()["errors"][0]["field"], "country");
    let unknown_field = shop
        .post(
            "/api/v1/me/addresses",
            Some(&t),
            &json!({"full_name": "A", "line1": "1", "city": "X", "postal_code": "1", "country": "GB", "account_id": "x"}),
        )
        .await;
    assert_eq!(unknown_field.refusal(), (422, "validation_failed".into()));

    let paged = shop
        .get_as("/api/v1/me/addresses?page=2&per_page=2", Some(&t))
        .await
        .json();
    assert_eq!(
        (paged["page"].clone(), paged["total"].clone()),
        (json!(2), json!(3))
    );
    assert_eq!(paged["items"].as_array().unwrap().len(), 1);

    let gone = shop
        .delete(&format!("/api/v1/me/addresses/{id}"), Some(&t))
        .await;
    assert_eq!(gone.status, 204);
    let again = shop
        .delete(&format!("/api/v1/me/addresses/{id}"), Some(&t))
        .await;
    assert_eq!(again.refusal(), (404, "not_found".into()));
    assert_eq!(
        shop.get_as("/api/v1/me/addresses", Some(&t)).await.json()["total"],
        2
    );
}
both!(addresses);

async fn wishlist(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    let t = shop.customer("ada@example.com").await;
    let (product, _) = shop.seed_product(3).await;
    let path = format!("/api/v1/me/wishlist/{product}");
    assert_eq!(shop.put(&path, Some(&t)).await.status, 204);
    assert_eq!(shop.put(&path, Some(&t)).await.status, 204, "idempotent");
    let list = shop.get_as("/api/v1/me/wishlist", Some(&t)).await.json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["product_id"], product.to_string());
    assert_eq!(list["items"][0]["name"], "Linen shirt");
    assert_eq!(list["items"][0]["available"], true);

    let unknown = shop
        .put(
            &format!("/api/v1/me/wishlist/{}", uuid::Uuid::now_v7()),
            Some(&t),
        )
        .await;
    assert_eq!(unknown.refusal(), (404, "not_found".into()));
    let malformed = shop.put("/api/v1/me/wishlist/not-a-uuid", Some(&t)).await;
    assert_eq!(malformed.status, 404);

    assert_eq!(shop.delete(&path, Some(&t)).await.status, 204);
    assert_eq!(shop.delete(&path, Some(&t)).await.status, 204, "idempotent");
    assert_eq!(
        shop.get_as("/api/v1/me/wishlist", Some(&t)).await.json()["total"],
        0
    );
}
both!(wishlist);

/// Who may call what, for every account route. "Owner" is the account
/// that owns the address; "other" another customer; the admin is an admin
/// who does not own it. Another's address answers 404, never 403.
async fn authorization_matrix(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    let owner = shop.customer("owner@example.com").await;
    let other = shop.customer("other@example.com").await;
    let admin = shop.signed_in_admin("admin@example.com").await;
    let (product, _) = shop.seed_product(3).await;
    let created = shop
        .post("/api/v1/me/addresses", Some(&owner), &address("London"))
        .await;
    let addr = format!("/api/v1/me/addresses/{}", s(&created.json(), "id"));
    let wish = format!("/api/v1/me/wishlist/{product}");

    #[derive(Clone, Copy)]
    enum Who {
        Anonymous,
        Owner,
        Other,
        Admin,
    }
    let token = |who: Who| match who {
        Who::Anonymous => None,
        Who::Owner => Some(owner.clone()),
        Who::Other => Some(other.clone()),
        Who::Admin => Some(admin.clone()),
    };
    let patch = json!({"city": "Leeds"});
    let me_patch = json!({"full_name": "X"});
    let change = json!({"current_password": "wrong wrong", "new_password": "whatever123"});
    let logout = json!({"refresh_token": "0".repeat(64)});
    // (method, path, body, [anonymous, owner, other, admin])
    let rows: Vec<(&str, String, Option<&Value>, [u16; 4])> = vec![
        ("GET", "/api/v1/me".into(), None, [401, 200, 200, 200]),
        (
            "PATCH",
            "/api/v1/me".into(),
            Some(&me_patch),
            [401, 200, 200, 200],
        ),
        (
            "GET",
            "/api/v1/me/addresses".into(),
            None,
            [401, 200, 200, 200],
        ),
        ("PATCH", addr.clone(), Some(&patch), [401, 200, 404, 404]),
        (
            "GET",
            "/api/v1/me/wishlist".into(),
            None,
            [401, 200, 200, 200],
        ),
        ("PUT", wish.clone(), None, [401, 204, 204, 204]),
        ("DELETE", wish.clone(), None, [401, 204, 204, 204]),
        (
            "POST",
            "/api/v1/auth/logout".into(),
            Some(&logout),
            [401, 204, 204, 204],
        ),
        (
            "POST",
            "/api/v1/auth/password/change".into(),
            Some(&change),
            [401, 401, 401, 401],
        ),
        // Last: the owner deletes it, so it is checked after the others tried.
        ("DELETE", addr.clone(), None, [401, 204, 404, 404]),
    ];
    for (method, path, body, expected) in rows {
        // The owner goes last on DELETE so the others meet a live address.
        let order = [Who::Anonymous, Who::Other, Who::Admin, Who::Owner];
        for who in order {
            let i = who as usize;
            let res = shop
                .call(method, &path, token(who).as_deref(), body.cloned())
                .await;
            assert_eq!(
                res.status,
                expected[i],
                "{method} {path} as #{i}: {:?}",
                res.json()
            );
        }
    }
    // The address survived the others' attempts until its owner deleted it,
    // and kept the owner's city.
    let _ = check_owner_list(&shop, &owner).await;
}
both!(authorization_matrix);

async fn check_owner_list(shop: &TestServer, owner: &str) -> Value {
    let list = shop
        .get_as("/api/v1/me/addresses", Some(owner))
        .await
        .json();
    assert_eq!(list["total"], 0, "deleted by its owner only: {list}");
    list
}
