//! End to end over a real socket, on SQLite and PostgreSQL: the `auth`
//! route group — register, verify-email, login (with a guest cart merged),
//! refresh rotation, logout, one-time codes, forgotten, reset and changed
//! passwords.

use crate::common;

use commerce_core::Quantity;
use commerce_core::cart::{CartOwner, CartToken};
use commerce_core::storage::CartStore;
use common::{Db, TestServer, s};
use serde_json::{Value, json};

const PW: &str = "correct horse battery";

async fn refresh(shop: &TestServer, token: &str) -> common::Resp {
    shop.post(
        "/api/v1/auth/refresh",
        None,
        &json!({"refresh_token": token}),
    )
    .await
}

async fn register_and_verify(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    let res = shop
        .post(
            "/api/v1/auth/register",
            None,
            &json!({"email": "Ada@Example.com", "password": PW, "full_name": "Ada Lovelace"}),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.json());
    let user = res.json()["user"].clone();
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["full_name"], "Ada Lovelace");
    assert_eq!(user["roles"], json!(["customer"]));
    assert_eq!(user["email_verified"], false);
    assert!(user.get("password_hash").is_none(), "{user}");

    // The link travels in the job, never in the database: the store holds a digest.
    let token = shop.token_mailed_to("ada@example.com").await;
    assert_eq!(token.len(), 64);

    // Unique case-insensitively; nothing else is created or mailed.
    let taken = shop
        .post(
            "/api/v1/auth/register",
            None,
            &json!({"email": "ADA@example.COM", "password": PW}),
        )
        .await;
    assert_eq!(taken.refusal(), (409, "email_taken".into()));

    // Password length 8..=128 characters.
    for (pw, ok) in [
        ("1234567", false),
        ("12345678", true),
        (&"é".repeat(128)[..], true),
        (&"x".repeat(129)[..], false),
    ] {
        let email = format!("len{}@example.com", pw.chars().count());
        let res = shop
            .post(
                "/api/v1/auth/register",
                None,
                &json!({"email": email, "password": pw}),
            )
            .await;
        if ok {
            assert_eq!(res.status, 201, "{} chars", pw.chars().count());
        } else {
            assert_eq!(res.refusal(), (422, "validation_failed".into()));
            assert_eq!(res.json()["errors"][0]["field"], "password");
        }
    }
    let bad_email = shop
        .post(
            "/api/v1/auth/register",
            None,
            &json!({"email": "not an email", "password": PW}),
        )
        .await;
    assert_eq!(bad_email.refusal(), (422, "validation_failed".into()));
    assert_eq!(bad_email.json()["errors"][0]["field"], "email");

    // The token verifies once.
    let ok = shop
        .post("/api/v1/auth/verify-email", None, &json!({"token": token}))
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.json());
    assert_eq!(ok.json()["user"]["email_verified"], true);
    let again = shop
        .post("/api/v1/auth/verify-email", None, &json!({"token": token}))
        .await;
    assert_eq!(again.refusal(), (400, "invalid_token".into()));
    let garbage = shop
        .post("/api/v1/auth/verify-email", None, &json!({"token": "nope"}))
        .await;
    assert_eq!(garbage.refusal(), (400, "invalid_token".into()));
}
both!(register_and_verify);

async fn login_refresh_logout(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    shop.register("ada@example.com", PW).await;

    // Unknown email and wrong password answer alike.
    let wrong = shop
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "ada@example.com", "password": "wrong password"}),
        )
        .await;
    let unknown = shop
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "nobody@example.com", "password": "wrong password"}),
        )
        .await;
    assert_eq!(wrong.refusal(), (401, "invalid_credentials".into()));
    assert_eq!(wrong.json()["detail"], unknown.json()["detail"]);
    assert_eq!(wrong.refusal(), unknown.refusal());

    let tokens = shop.login("ADA@example.com", PW).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["user"]["email"], "ada@example.com");
    let access = s(&tokens, "access_token");
    let me = shop.get_as("/api/v1/me", Some(&access)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["email"], "ada@example.com");

    // Rotation: the new pair works, the old refresh token is spent.
    let first = s(&tokens, "refresh_token");
    let rotated = refresh(&shop, &first).await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.json());
    let second = s(&rotated.json(), "refresh_token");
    assert_ne!(first, second);
    assert_eq!(
        shop.get_as("/api/v1/me", Some(&s(&rotated.json(), "access_token")))
            .await
            .status,
        200
    );
    let third = s(&refresh(&shop, &second).await.json(), "refresh_token");

    // Reusing a spent token is theft: 401, and the whole family is revoked.
    let reuse = refresh(&shop, &first).await;
    assert_eq!(reuse.refusal(), (401, "invalid_token".into()));
    let after = refresh(&shop, &third).await;
    assert_eq!(
        after.refusal(),
        (401, "invalid_token".into()),
        "the live token of the family died with it"
    );

    // Another sign-in is another family, untouched; another account's
    // logout with its token answers the same and changes nothing; its own
    // logout ends it.
    let other = shop.login("ada@example.com", PW).await;
    shop.register("bob@example.com", PW).await;
    let bob = shop.login("bob@example.com", PW).await;
    let foreign = shop
        .post(
            "/api/v1/auth/logout",
            Some(&s(&bob, "access_token")),
            &json!({"refresh_token": s(&other, "refresh_token")}),
        )
        .await;
    assert_eq!(foreign.status, 204, "no telling whose a token is");
    let still = refresh(&shop, &s(&other, "refresh_token")).await;
    assert_eq!(still.status, 200, "ada's sign-in is untouched");
    let other = still.json();
    let out = shop
        .post(
            "/api/v1/auth/logout",
            Some(&s(&other, "access_token")),
            &json!({"refresh_token": s(&other, "refresh_token")}),
        )
        .await;
    assert_eq!(out.status, 204);
    assert_eq!(
        refresh(&shop, &s(&other, "refresh_token")).await.refusal(),
        (401, "invalid_token".into())
    );
    // Logout needs a signed-in caller.
    let anon = shop
        .post(
            "/api/v1/auth/logout",
            None,
            &json!({"refresh_token": s(&other, "refresh_token")}),
        )
        .await;
    assert_eq!(anon.refusal(), (401, "unauthorized".into()));
    assert_eq!(
        refresh(&shop, "not-a-token").await.refusal(),
        (401, "invalid_token".into())
    );
}
both!(login_refresh_logout);

async fn login_merges_the_guest_cart(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    let (_, shirt) = shop.seed_product(10).await;
    let c = &shop.state.commerce;
    let guest = CartToken::generate();
    c.add_to_cart(
        &CartOwner::Guest(guest.clone()),
        shirt,
        Quantity::new(2).unwrap(),
    )
    .await
    .unwrap();
    let user = shop.register("ada@example.com", PW).await;
    let id: commerce_core::ids::CustomerId = s(&user, "id").parse().unwrap();
    c.add_to_cart(&CartOwner::Account(id), shirt, Quantity::new(1).unwrap())
        .await
        .unwrap();

    let malformed = shop
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "ada@example.com", "password": PW, "cart_token": "xyz"}),
        )
        .await;
    assert_eq!(malformed.refusal(), (422, "validation_failed".into()));

    let res = shop
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "ada@example.com", "password": PW, "cart_token": guest.as_str()}),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.json());
    let cart = c.cart(&CartOwner::Account(id)).await.unwrap();
    assert_eq!(cart.lines.len(), 1);
    assert_eq!(cart.lines[0].quantity.get(), 3, "guest 2 + account 1");
    let guest_cart = c.store().cart_of(&CartOwner::Guest(guest)).await.unwrap();
    assert!(guest_cart.is_none(), "the guest cart is gone");
}
both!(login_merges_the_guest_cart);

async fn one_time_codes(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    shop.register("ada@example.com", PW).await;
    let ask = |email: &'static str| {
        let shop = &shop;
        async move {
            shop.post(
                "/api/v1/auth/otp/request",
                None,
                &json!({"email": email, "purpose": "login"}),
            )
            .await
        }
    };
    let verify = |code: String| {
        let shop = &shop;
        async move {
            shop.post(
                "/api/v1/auth/otp/verify",
                None,
                &json!({"email": "ada@example.com", "code": code, "purpose": "login"}),
            )
            .await
        }
    };

    // 202 always; an unknown email gets no mail.
    assert_eq!(ask("nobody@example.com").await.status, 202);
    assert_eq!(ask("ada@example.com").await.status, 202);
    let code = shop.code_mailed_to("ada@example.com").await;
    assert_eq!(code.len(), 6);
    assert_eq!(
        shop.queued().await,
        0,
        "nothing was mailed to the unknown email"
    );

    let ok = verify(code.clone()).await;
    assert_eq!(ok.status, 200, "{:?}", ok.json());
    assert_eq!(ok.json()["token_type"], "Bearer");
    assert_eq!(
        ok.json()["user"]["email_verified"],
        true,
        "a code from the mailbox proves it"
    );
    // Once.
    assert_eq!(verify(code).await.refusal(), (401, "otp_invalid".into()));

    // A new code voids the old one.
    ask("ada@example.com").await;
    let old = shop.code_mailed_to("ada@example.com").await;
    ask("ada@example.com").await;
    let new = shop.code_mailed_to("ada@example.com").await;
    if old != new {
        assert_eq!(verify(old).await.refusal(), (401, "otp_invalid".into()));
    }
    // Five minutes.
    shop.advance_clock(chrono::Duration::minutes(5));
    assert_eq!(verify(new).await.refusal(), (401, "otp_expired".into()));

    let bad = shop
        .post(
            "/api/v1/auth/otp/verify",
            None,
            &json!({"email": "ada@example.com", "code": "12345", "purpose": "login"}),
        )
        .await;
    assert_eq!(bad.refusal(), (422, "validation_failed".into()));
    let purpose = shop
        .post(
            "/api/v1/auth/otp/request",
            None,
            &json!({"email": "ada@example.com", "purpose": "reset"}),
        )
        .await;
    assert_eq!(purpose.refusal(), (422, "validation_failed".into()));
}
both!(one_time_codes);

async fn forgotten_and_changed_passwords(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    shop.register("ada@example.com", PW).await;
    let laptop = shop.login("ada@example.com", PW).await;
    let phone = shop.login("ada@example.com", PW).await;

    // Known and unknown emails answer alike.
    let unknown = shop
        .post(
            "/api/v1/auth/password/forgot",
            None,
            &json!({"email": "nobody@example.com"}),
        )
        .await;
    let known = shop
        .post(
            "/api/v1/auth/password/forgot",
            None,
            &json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!((unknown.status, known.status), (202, 202));
    assert_eq!(unknown.body, known.body);
    let token = shop.token_mailed_to("ada@example.com").await;

    // A bad new password is refused before the token is used.
    let short = shop
        .post(
            "/api/v1/auth/password/reset",
            None,
            &json!({"token": token, "new_password": "short"}),
        )
        .await;
    assert_eq!(short.refusal(), (422, "validation_failed".into()));
    let reset = shop
        .post(
            "/api/v1/auth/password/reset",
            None,
            &json!({"token": token, "new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(reset.status, 204, "{:?}", reset.json());

    // Every session is revoked; the old password is gone, the new one works.
    for session in [&laptop, &phone] {
        assert_eq!(
            refresh(&shop, &s(session, "refresh_token")).await.refusal(),
            (401, "invalid_token".into())
        );
    }
    let old = shop
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "ada@example.com", "password": PW}),
        )
        .await;
    assert_eq!(old.refusal(), (401, "invalid_credentials".into()));
    let here = shop.login("ada@example.com", "a brand new secret").await;
    let there = shop.login("ada@example.com", "a brand new secret").await;

    // Change: the current password is checked; other sessions end, this one lives.
    let access = s(&here, "access_token");
    let wrong = shop
        .post(
            "/api/v1/auth/password/change",
            Some(&access),
            &json!({"current_password": "not it at all", "new_password": "third secret!"}),
        )
        .await;
    assert_eq!(wrong.refusal(), (401, "invalid_credentials".into()));
    let anon = shop
        .post(
            "/api/v1/auth/password/change",
            None,
            &json!({"current_password": "a brand new secret", "new_password": "third secret!"}),
        )
        .await;
    assert_eq!(anon.refusal(), (401, "unauthorized".into()));
    let changed = shop
        .post(
            "/api/v1/auth/password/change",
            Some(&access),
            &json!({"current_password": "a brand new secret", "new_password": "third secret!"}),
        )
        .await;
    assert_eq!(changed.status, 204, "{:?}", changed.json());
    assert_eq!(
        refresh(&shop, &s(&there, "refresh_token")).await.refusal(),
        (401, "invalid_token".into()),
        "the other session is revoked"
    );
    assert_eq!(
        refresh(&shop, &s(&here, "refresh_token")).await.status,
        200,
        "the caller's session lives on"
    );
    shop.login("ada@example.com", "third secret!").await;
}
both!(forgotten_and_changed_passwords);

/// Representative answers, with ids, times and secrets redacted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_of_register_login_and_me() {
    let Some(shop) = TestServer::quiet(Db::Sqlite, |_| {}).await else {
        return;
    };
    let redact = |mut v: Value| {
        for key in ["id", "created_at", "access_token", "refresh_token"] {
            redact_key(&mut v, key);
        }
        v
    };
    let register = shop
        .post(
            "/api/v1/auth/register",
            None,
            &json!({"email": "ada@example.com", "password": PW, "full_name": "Ada"}),
        )
        .await;
    insta::assert_json_snapshot!("register", redact(register.json()));
    let _ = shop.mail_to("ada@example.com").await;
    let login = shop.login("ada@example.com", PW).await;
    let access = s(&login, "access_token");
    insta::assert_json_snapshot!("login", redact(login));
    let me = shop.get_as("/api/v1/me", Some(&access)).await;
    insta::assert_json_snapshot!("me", redact(me.json()));
    let refused = shop
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "ada@example.com", "password": "nope nope"}),
        )
        .await;
    insta::assert_json_snapshot!("login_refused", refused.json());
}

fn redact_key(v: &mut Value, key: &str) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if k == key && !val.is_null() {
                    *val = Value::String(format!("[{key}]"));
                } else {
                    redact_key(val, key);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_key(i, key)),
        _ => {}
    }
}
