//! The OpenAPI document and the router agree: every documented operation is
//! served, and on every documented path the methods not documented answer
//! 405 (so nothing is served there that the document does not list). The
//! document is OpenAPI 3.1, and every operation has a tag and responses.

use crate::common;

use common::TestServer;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// A concrete path for a template: every `{param}` becomes a fresh UUID.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                uuid::Uuid::now_v7().to_string()
            } else {
                seg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the router itself refused the request (no route has this path).
fn router_not_found(res: &common::Resp) -> bool {
    res.status == 404
        && res.header("content-type") == Some("application/problem+json")
        && res.json()["detail"] == "no such resource"
}

async fn documented_operations_are_served_and_only_they(s: &TestServer) {
    let admin = s.admin("doc-admin@example.com").await;
    let res = s.get("/api/openapi.json").await;
    res.expect(200);
    let doc: Value = res.json();
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1")
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let paths = doc["paths"].as_object().expect("paths");
    let operations: usize = paths
        .values()
        .map(|item| METHODS.iter().filter(|m| item.get(**m).is_some()).count())
        .sum();
    assert!(
        paths.len() >= 13 && operations >= 19,
        "{} paths, {operations} operations",
        paths.len()
    );
    let mut problems = Vec::new();
    for (template, item) in paths {
        for method in METHODS {
            let documented = item.get(method);
            if let Some(op) = documented {
                if op["tags"].as_array().is_none_or(Vec::is_empty) {
                    problems.push(format!("{method} {template}: no tag"));
                }
                if op["responses"]
                    .as_object()
                    .is_none_or(serde_json::Map::is_empty)
                {
                    problems.push(format!("{method} {template}: no responses"));
                }
            }
            let path = concrete(template);
            let body = (method != "get" && method != "delete").then(|| serde_json::json!({}));
            let res = s
                .call(&method.to_uppercase(), &path, Some(&admin.token), body)
                .await;
            match (documented.is_some(), res.status) {
                (true, 405) => {
                    problems.push(format!("{method} {template}: documented, answered 405"))
                }
                (true, _) if router_not_found(&res) => {
                    problems.push(format!("{method} {template}: documented, not routed"));
                }
                (false, 405) => {}
                (false, status) => problems.push(format!(
                    "{method} {template}: not documented, answered {status}"
                )),
                _ => {}
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

async fn undocumented_paths_are_not_served(s: &TestServer) {
    let admin = s.admin("doc-admin2@example.com").await;
    for path in [
        "/api/v1",
        "/api/v1/store",
        "/api/v1/products/x/y",
        "/api/v1/variants",
        "/api/v1/variants/0190c7a4-0000-7000-8000-000000000000",
        "/api/v2/products",
        "/admin",
    ] {
        for method in ["GET", "POST"] {
            let res = s.call(method, path, Some(&admin.token), None).await;
            assert!(router_not_found(&res), "{method} {path}: {}", res.status);
        }
    }
}

on_both!(
    documented_operations_are_served_and_only_they,
    undocumented_paths_are_not_served
);
