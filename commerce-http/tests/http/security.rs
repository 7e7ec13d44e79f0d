//! Attacks on accounts and tokens, over a real socket on SQLite and
//! PostgreSQL: each is refused with the right status and code, and changes
//! nothing.

use crate::common;

use commerce_core::account::Role;
use commerce_http::auth::jwt::{Claims, TokenKeys};
use common::{Db, TestServer, s};
use serde_json::json;

const PW: &str = "correct horse battery";

fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

async fn forged_access_tokens(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    let user = shop.register("ada@example.com", PW).await;
    let good = s(&shop.login("ada@example.com", PW).await, "access_token");
    assert_eq!(shop.get_as("/api/v1/me", Some(&good)).await.status, 200);
    let now = chrono::Utc::now().timestamp();
    let sub: uuid::Uuid = s(&user, "id").parse().unwrap();
    let claims = |roles: Vec<Role>, iat: i64, exp: i64| Claims {
        sub,
        roles,
        iat,
        exp,
        sid: None,
    };

    // `alg: none`, unsigned, claiming admin.
    let body = b64(
        serde_json::to_string(&claims(vec![Role::Admin], now, now + 900))
            .unwrap()
            .as_bytes(),
    );
    let none = format!("{}.{body}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
    // Signed with another key.
    let other_key = TokenKeys::new(&[9u8; 32], std::time::Duration::from_secs(900)).unwrap();
    let foreign = other_key
        .sign(&claims(vec![Role::Customer], now, now + 900))
        .unwrap();
    // Our signature over claims changed afterwards (roles: admin).
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!("{}.{body}.{}", parts[0], parts[2]);
    // HS512 header with our own signature part.
    let hs512 = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"HS512","typ":"JWT"}"#),
        parts[1],
        parts[2]
    );
    // Expired: signed with the server's own key an hour ago.
    let expired = shop
        .state
        .tokens
        .sign(&claims(vec![Role::Customer], now - 3600, now - 1800))
        .unwrap();
    for (what, token) in [
        ("alg none", none),
        ("another key", foreign),
        ("tampered claims", tampered),
        ("HS512", hs512),
        ("expired", expired),
        ("garbage", "a.b.c".to_owned()),
    ] {
        let res = shop.get_as("/api/v1/me", Some(&token)).await;
        assert_eq!(res.refusal(), (401, "invalid_token".into()), "{what}");
    }
    let basic = common::http(
        shop.addr,
        "GET",
        "/api/v1/me",
        &[("Authorization", "Basic YWRhOnB3")],
        Vec::new(),
    )
    .await;
    assert_eq!(basic.refusal(), (401, "invalid_token".into()));
}
both!(forged_access_tokens);

async fn spent_refresh_token_and_its_family(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    shop.register("ada@example.com", PW).await;
    let login = shop.login("ada@example.com", PW).await;
    let spent = s(&login, "refresh_token");
    let next = shop
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": spent}),
        )
        .await;
    assert_eq!(next.status, 200);
    let live = s(&next.json(), "refresh_token");
    // The thief replays the spent token: refused, and the family dies.
    let replay = shop
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": spent}),
        )
        .await;
    assert_eq!(replay.refusal(), (401, "invalid_token".into()));
    let family = shop
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": live}),
        )
        .await;
    assert_eq!(family.refusal(), (401, "invalid_token".into()));
    // Even a second replay changes nothing and stays refused.
    let again = shop
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": spent}),
        )
        .await;
    assert_eq!(again.refusal(), (401, "invalid_token".into()));
}
both!(spent_refresh_token_and_its_family);

async fn otp_brute_force(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    shop.register("ada@example.com", PW).await;
    shop.post(
        "/api/v1/auth/otp/request",
        None,
        &json!({"email": "ada@example.com", "purpose": "login"}),
    )
    .await;
    let code = shop.code_mailed_to("ada@example.com").await;
    let wrong: Vec<String> = (0..10)
        .map(|i| format!("{:06}", (code.parse::<u32>().unwrap() + 1 + i) % 1_000_000))
        .collect();
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
    for w in &wrong[..5] {
        assert_eq!(
            verify(w.clone()).await.refusal(),
            (401, "otp_invalid".into())
        );
    }
    // Burnt: the right code no longer works either.
    assert_eq!(verify(code).await.refusal(), (401, "otp_expired".into()));
    assert_eq!(
        verify(wrong[5].clone()).await.refusal(),
        (401, "otp_expired".into())
    );
}
both!(otp_brute_force);

async fn reset_token_reuse(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    shop.register("ada@example.com", PW).await;
    shop.post(
        "/api/v1/auth/password/forgot",
        None,
        &json!({"email": "ada@example.com"}),
    )
    .await;
    let token = shop.token_mailed_to("ada@example.com").await;
    let first = shop
        .post(
            "/api/v1/auth/password/reset",
            None,
            &json!({"token": token, "new_password": "first new secret"}),
        )
        .await;
    assert_eq!(first.status, 204);
    let second = shop
        .post(
            "/api/v1/auth/password/reset",
            None,
            &json!({"token": token, "new_password": "second new secret"}),
        )
        .await;
    assert_eq!(second.refusal(), (400, "invalid_token".into()));
    shop.login("ada@example.com", "first new secret").await;
    // A verification token is not a reset token.
    let user = shop
        .post(
            "/api/v1/auth/register",
            None,
            &json!({"email": "bob@example.com", "password": PW}),
        )
        .await;
    assert_eq!(user.status, 201);
    let verify_token = shop.token_mailed_to("bob@example.com").await;
    let crossed = shop
        .post(
            "/api/v1/auth/password/reset",
            None,
            &json!({"token": verify_token, "new_password": "hijacked password"}),
        )
        .await;
    assert_eq!(crossed.refusal(), (400, "invalid_token".into()));
}
both!(reset_token_reuse);

async fn mass_assignment(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    for extra in [json!({"roles": ["admin"]}), json!({"email_verified": true})] {
        let mut body = json!({"email": "eve@example.com", "password": PW});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = shop.post("/api/v1/auth/register", None, &body).await;
        assert_eq!(res.refusal(), (422, "validation_failed".into()), "{extra}");
    }
    // Nothing was created: the address is still free.
    let user = shop.register("eve@example.com", PW).await;
    assert_eq!(user["roles"], json!(["customer"]));
    assert_eq!(user["email_verified"], false);
    let t = s(&shop.login("eve@example.com", PW).await, "access_token");
    for body in [
        json!({"roles": ["admin"]}),
        json!({"email_verified": true}),
        json!({"email": "admin@example.com"}),
        json!({"full_name": "Eve", "roles": ["seller"]}),
    ] {
        let res = shop.patch("/api/v1/me", Some(&t), &body).await;
        assert_eq!(res.refusal(), (422, "validation_failed".into()), "{body}");
    }
    let me = shop.get_as("/api/v1/me", Some(&t)).await.json();
    assert_eq!(me["roles"], json!(["customer"]));
    assert_eq!(me["email_verified"], false);
    assert_eq!(me["email"], "eve@example.com");
    assert_eq!(me["full_name"], serde_json::Value::Null);
}
both!(mass_assignment);

async fn oversized_and_broken_bodies(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    let json_ct = [("Content-Type", "application/json")];
    let huge = format!(
        r#"{{"email":"a@example.com","password":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let big = common::http(
        shop.addr,
        "POST",
        "/api/v1/auth/register",
        &json_ct,
        huge.into_bytes(),
    )
    .await;
    assert_eq!(big.refusal(), (413, "payload_too_large".into()));
    let broken = common::http(
        shop.addr,
        "POST",
        "/api/v1/auth/login",
        &json_ct,
        br#"{"email": "a@example.com", "password": "#.to_vec(),
    )
    .await;
    assert_eq!(broken.refusal(), (400, "bad_request".into()));
    let not_json = common::http(
        shop.addr,
        "POST",
        "/api/v1/auth/login",
        &[("Content-Type", "text/plain")],
        b"email=a".to_vec(),
    )
    .await;
    assert_eq!(not_json.status, 415);
    // None of it made an account.
    let c = &shop.state.commerce;
    let found = c
        .account_by_email(&commerce_core::account::Email::parse("a@example.com").unwrap())
        .await
        .unwrap();
    assert!(found.is_none());
}
both!(oversized_and_broken_bodies);

/// Unknown email and wrong password cost alike: each verifies one argon2
/// hash (the unknown one against a dummy hash made with the same
/// parameters). Checked by counting verifications, not by timing.
async fn unknown_email_costs_a_hash_like_a_wrong_password(backend: Db) {
    let Some(shop) = TestServer::quiet(backend, |_| {}).await else {
        return;
    };
    shop.register("ada@example.com", PW).await;
    let passwords = &shop.state.passwords;
    for email in ["nobody@example.com", "ada@example.com", "not an email"] {
        let before = passwords.verifications();
        let res = shop
            .post(
                "/api/v1/auth/login",
                None,
                &json!({"email": email, "password": "wrong password"}),
            )
            .await;
        assert_eq!(
            res.refusal(),
            (401, "invalid_credentials".into()),
            "{email}"
        );
        assert_eq!(passwords.verifications() - before, 1, "{email}");
    }
}
both!(unknown_email_costs_a_hash_like_a_wrong_password);

/// A login flood cannot queue work without end on a busy server: while the
/// server is busy, password hashes start only at their share's pace, and a
/// login whose hash could not start within its wait answers 503
/// `unavailable` with `Retry-After`, for a known and an unknown email
/// alike. Once the server is quiet, logins go through at once.
async fn a_busy_server_refuses_the_logins_it_cannot_hash_in_time(backend: Db) {
    use std::sync::Arc;
    use std::time::Duration;

    use commerce_http::auth::password::{Passwords, Yielding};

    let Some(store) = common::open(backend).await else {
        return;
    };
    // Busy with one request in flight; hashes 1 % of a thread while busy,
    // so after one hash the next may start only 100 hash-lengths later,
    // past its 20 ms wait.
    let yielding = Yielding {
        busy_above: 0,
        share_percent: 1,
        max_wait: Duration::from_millis(20),
    };
    let setup = common::Setup {
        tweak: Some(Box::new(move |state| {
            let cheap = argon2::Params::new(1024, 1, 1, None).unwrap();
            state.passwords = Arc::new(Passwords::with_params(cheap, 2, yielding));
        })),
        ..common::Setup::quiet(commerce_http::Config::defaults())
    };
    let shop = TestServer::launch(store, setup).await;
    shop.register("ada@example.com", PW).await;
    let login = |email| shop.attempt_login(email, PW);
    let foreground = Arc::clone(shop.state.passwords.foreground());
    // Every answered request left the count.
    assert_eq!(foreground.serving(), 0);
    // Another request in flight: the server is busy.
    let busy = foreground.enter();
    assert_eq!(
        login("ada@example.com").await.status,
        200,
        "the busy turn's hash"
    );
    for email in ["ada@example.com", "nobody@example.com"] {
        let refused = login(email).await;
        assert_eq!(refused.refusal(), (503, "unavailable".into()), "{email}");
        assert_eq!(refused.header("retry-after"), Some("1"), "{email}");
    }
    assert_eq!(foreground.serving(), 1, "only the request held here");
    // Quiet for longer than the server waits before it stops yielding.
    drop(busy);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(login("ada@example.com").await.status, 200);
    assert_eq!(foreground.serving(), 0);
}
both!(a_busy_server_refuses_the_logins_it_cannot_hash_in_time);
