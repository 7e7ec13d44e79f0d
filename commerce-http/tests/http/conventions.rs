//! The API's conventions on real routes: body limits, content types,
//! broken JSON, unknown fields and mass assignment, paging bounds, money
//! as strings, and the problem+json shape.

use crate::common;

use common::TestServer;
use serde_json::json;

async fn a_two_megabyte_body_is_413(s: &TestServer) {
    let u = s.user("big@example.com", true, &[]).await;
    let auth = format!("Bearer {}", u.token);
    let big = format!(
        r#"{{"name":"{}","slug":"big"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let res = s
        .raw(
            "POST",
            "/api/v1/stores",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            big.into_bytes(),
        )
        .await;
    res.expect(413);
    assert_eq!(res.code(), "payload_too_large");
    // Nothing was created.
    assert_eq!(s.get("/api/v1/stores").await.json()["total"], 0);
}

async fn a_streamed_body_over_the_limit_is_413_too(s: &TestServer) {
    let u = s.user("stream@example.com", true, &[]).await;
    let auth = format!("Bearer {}", u.token);
    // Chunked: no Content-Length to refuse early; the limit holds while reading.
    let chunk = "x".repeat(64 * 1024);
    let mut body = String::from("{\"name\":\"");
    while body.len() < 1024 * 1024 + 10 {
        body.push_str(&chunk);
    }
    body.push_str("\",\"slug\":\"s\"}");
    let mut raw = format!(
        "POST /api/v1/stores HTTP/1.1\r\nhost: x\r\nauthorization: {auth}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )
    .into_bytes();
    for part in body.as_bytes().chunks(32 * 1024) {
        raw.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        raw.extend_from_slice(part);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    // The server may answer and close before reading everything.
    let _ = stream.write_all(&raw).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 413"),
        "{}",
        &text[..text.len().min(300)]
    );
    assert!(text.contains("payload_too_large"));
}

async fn broken_json_is_400(s: &TestServer) {
    let u = s.user("broken@example.com", true, &[]).await;
    let auth = format!("Bearer {}", u.token);
    for body in [
        &b"{\"name\": \"a\", "[..],
        b"not json",
        b"{\"name\":\"a\",\"slug\":\"a\"} trailing",
    ] {
        let res = s
            .raw(
                "POST",
                "/api/v1/stores",
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                body.to_vec(),
            )
            .await;
        res.expect(400);
        assert_eq!(res.code(), "bad_request");
    }
}

async fn wrong_content_type_is_415(s: &TestServer) {
    let u = s.user("ctype@example.com", true, &[]).await;
    let auth = format!("Bearer {}", u.token);
    let body = br#"{"name":"a","slug":"a"}"#.to_vec();
    for headers in [
        vec![
            ("authorization", auth.as_str()),
            ("content-type", "text/plain"),
        ],
        vec![
            ("authorization", auth.as_str()),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        vec![("authorization", auth.as_str())],
    ] {
        let res = s
            .raw("POST", "/api/v1/stores", &headers, body.clone())
            .await;
        res.expect(415);
        assert_eq!(res.code(), "unsupported_media_type");
    }
    // With a charset it is JSON.
    s.raw(
        "POST",
        "/api/v1/stores",
        &[
            ("authorization", &auth),
            ("content-type", "application/json; charset=utf-8"),
        ],
        body,
    )
    .await
    .expect(201);
}

async fn unknown_fields_and_mass_assignment_are_422(s: &TestServer) {
    let (seller, store) = s.seller("mass@example.com", "mass").await;
    let other = s.user("victim@example.com", true, &[]).await;
    // Claiming another owner, roles or verification in a body is refused, and nothing changes.
    for body in [
        json!({"name": "x", "slug": "x1", "owner_id": other.account.id}),
        json!({"name": "x", "slug": "x2", "roles": ["admin"]}),
        json!({"name": "x", "slug": "x3", "email_verified": true}),
    ] {
        let res = s
            .call("POST", "/api/v1/stores", Some(&other.token), Some(body))
            .await;
        res.expect(422);
        assert_eq!(res.code(), "validation_failed");
        let field = res.json()["errors"][0]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            ["owner_id", "roles", "email_verified"].contains(&field.as_str()),
            "{field}"
        );
    }
    assert_eq!(s.get("/api/v1/stores").await.json()["total"], 1);
    let account = s.state.commerce.account(other.account.id).await.unwrap();
    assert_eq!(account.roles, vec![commerce_core::account::Role::Customer]);

    // A product cannot be moved to another store, nor priced by a total.
    let p = s
        .product(&seller, &store, "Mug", &[("MUG-1", "9.99", 5)])
        .await;
    let id = p["id"].as_str().unwrap();
    let res = s
        .call(
            "PATCH",
            &format!("/api/v1/products/{id}"),
            Some(&seller.token),
            Some(json!({"store_id": uuid::Uuid::now_v7()})),
        )
        .await;
    res.expect(422);
    assert_eq!(res.json()["errors"][0]["field"], "store_id");
    let res = s
        .call(
            "PUT",
            &format!(
                "/api/v1/variants/{}/stock",
                p["variants"][0]["id"].as_str().unwrap()
            ),
            Some(&seller.token),
            Some(json!({"on_hand": 3, "reserved": 0})),
        )
        .await;
    res.expect(422);
    assert_eq!(res.json()["errors"][0]["field"], "reserved");
}

async fn money_is_a_string_and_a_float_is_refused(s: &TestServer) {
    let (seller, store) = s.seller("money@example.com", "money").await;
    let p = s
        .product(&seller, &store, "Pen", &[("PEN-1", "12.50", 5)])
        .await;
    assert_eq!(
        p["variants"][0]["price"],
        json!({"amount": "12.50", "currency": "USD"})
    );
    assert_eq!(p["price_from"]["amount"], "12.50");
    let res = s
        .call(
            "POST",
            "/api/v1/products",
            Some(&seller.token),
            Some(json!({"store_id": store, "name": "Float", "variants": [
                {"sku": "F-1", "price": {"amount": 12.5, "currency": "USD"}, "stock": 1}
            ]})),
        )
        .await;
    res.expect(422);
    assert_eq!(res.json()["errors"][0]["field"], "variants[0].price.amount");
    let res = s
        .call(
            "POST",
            "/api/v1/products",
            Some(&seller.token),
            Some(json!({"store_id": store, "name": "Digits", "variants": [
                {"sku": "F-2", "price": {"amount": "12.5", "currency": "USD"}, "stock": 1}
            ]})),
        )
        .await;
    res.expect(422);
}

async fn paging_is_bounded(s: &TestServer) {
    for q in ["per_page=101", "per_page=0", "page=0", "page=x"] {
        let res = s.get(&format!("/api/v1/stores?{q}")).await;
        res.expect(422);
        assert_eq!(res.code(), "validation_failed");
    }
    let res = s.get("/api/v1/stores?page=2&per_page=100").await;
    res.expect(200);
    let v = res.json();
    assert_eq!(
        (v["page"].as_u64(), v["per_page"].as_u64()),
        (Some(2), Some(100))
    );
    assert!(v["items"].is_array() && v["total"].is_u64());
}

async fn problems_have_the_rfc_9457_members(s: &TestServer) {
    let res = s
        .call(
            "POST",
            "/api/v1/stores",
            None,
            Some(json!({"name": "a", "slug": "a"})),
        )
        .await;
    res.expect(401);
    assert_eq!(res.code(), "unauthorized");
    let v = res.json();
    for k in ["type", "title", "status", "detail", "code"] {
        assert!(!v[k].is_null(), "{k} missing: {v}");
    }
    assert_eq!(v["status"], 401);
}

on_both!(
    a_two_megabyte_body_is_413,
    a_streamed_body_over_the_limit_is_413_too,
    broken_json_is_400,
    wrong_content_type_is_415,
    unknown_fields_and_mass_assignment_are_422,
    money_is_a_string_and_a_float_is_refused,
    paging_is_bounded,
    problems_have_the_rfc_9457_members,
);
