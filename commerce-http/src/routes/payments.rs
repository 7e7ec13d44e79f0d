//! Payments: starting one for an order, reading one, the gateways' webhooks
//! and browser returns, and the sandbox gateway's hosted test page.
//!
//! Nothing a browser says is trusted: a return only names the payment to
//! ask the gateway about (server to server); a webhook counts only with a
//! valid signature, and each event at most once (core's inbox).
//!
//! The sandbox page (`GET /sandbox/pay/{reference}`, outside `/api/v1`
//! because it is a page for people, not JSON) plays the gateway's part:
//! pressing Pay or Decline settles the payment on the sandbox's side, makes
//! the sandbox send its signed webhook to this server's webhook endpoint
//! over HTTP, as a remote gateway would, and sends the browser back to the
//! return URL. With `COMMERCE_SANDBOX=off` the gateway does not exist and
//! these routes answer 404.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use commerce_core::idempotency::IdempotencyKey;
use commerce_core::ids::{OrderId, PaymentId};
use commerce_core::payment::SignedWebhook;
use commerce_core::storage::{PaymentOutcome, Store};
use http_body_util::{BodyExt, Full};
use uuid::Uuid;
use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::checkout::idempotency_key;
use super::orders::{Access, Caller, caller, visible_order};
use super::{Route, json, respond, with_state};
use crate::dto::payment::{NewPayment, PaymentBody, PaymentDetail, ReturnAnswer, WebhookAnswer};
use crate::error::{ApiError, Problem};
use crate::extract;
use crate::state::AppState;

/// How long the sandbox waits for the shop to answer its webhook.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The group's routes.
pub fn routes<S: Store + 'static>(state: AppState<S>) -> Route {
    let start = warp::path!("api" / "v1" / "orders" / Uuid / "payments")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(caller(state.clone()))
        .and(idempotency_key())
        .and(extract::json::<NewPayment>())
        .then(start_payment::<S>)
        .map(respond);
    let one = warp::path!("api" / "v1" / "payments" / Uuid)
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(caller(state.clone()))
        .then(get_payment::<S>)
        .map(respond);
    let webhook = warp::path!("api" / "v1" / "payments" / String / "webhook")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(warp::header::headers_cloned())
        .and(extract::limited_body())
        .then(webhook::<S>)
        .map(respond);
    let back = warp::path!("api" / "v1" / "payments" / String / "return")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(raw_query())
        .and(warp::header::optional::<String>("accept"))
        .then(gateway_return::<S>)
        .map(respond);
    let page = warp::path!("sandbox" / "pay" / String)
        .and(warp::get())
        .and(with_state(state.clone()))
        .then(sandbox_page::<S>)
        .map(respond);
    let choose = warp::path!("sandbox" / "pay" / String)
        .and(warp::post())
        .and(with_state(state))
        .and(warp::header::optional::<String>("content-type"))
        .and(extract::limited_body())
        .then(sandbox_choose::<S>)
        .map(respond);
    start
        .or(one)
        .unify()
        .or(webhook)
        .unify()
        .or(back)
        .unify()
        .or(page)
        .unify()
        .or(choose)
        .unify()
        .boxed()
}

/// The query string's parameters (repeated names: the last wins).
fn raw_query()
-> impl Filter<Extract = (BTreeMap<String, String>,), Error = std::convert::Infallible> + Clone {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .map(|raw: String| {
            form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect::<BTreeMap<String, String>>()
        })
}

/// Starts paying an order through a gateway (its buyer only).
#[utoipa::path(post, path = "/api/v1/orders/{id}/payments", tag = "payments",
    request_body = NewPayment,
    params(
        ("id" = Uuid, Path, description = "The order"),
        ("Idempotency-Key" = String, Header, description = "Required: the same key and body answer the same payment"),
        ("X-Order-Token" = Option<String>, Header, description = "A guest order's token"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "The payment, `pending`: send the buyer to `redirect_url`. A replay of the key answers the same payment.", body = PaymentBody),
        (status = 400, description = "`idempotency_key_required`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Neither a token nor an `X-Order-Token`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "An admin who is not the buyer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order (or not the caller's), or no such gateway", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`order_expired`, `invalid_transition` (not awaiting payment), `conflict` while a request with this key runs", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`, `idempotency_key_reused`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`gateway_error`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn start_payment<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
    caller: Caller,
    key: IdempotencyKey,
    body: NewPayment,
) -> Result<Response, ApiError> {
    let (order, access) = visible_order(&state, &caller, OrderId::from_uuid(id)).await?;
    if access != Access::Owner {
        return Err(ApiError::forbidden());
    }
    let payment = state
        .commerce
        .start_payment(order.id, body.gateway.trim(), &key)
        .await?;
    Ok(json(StatusCode::CREATED, &PaymentBody::from(&payment)))
}

/// A payment with its history: its order's buyer, or an admin.
#[utoipa::path(get, path = "/api/v1/payments/{id}", tag = "payments",
    params(
        ("id" = Uuid, Path, description = "The payment"),
        ("X-Order-Token" = Option<String>, Header, description = "A guest order's token"),
    ),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "The payment and its attempts", body = PaymentDetail),
        (status = 401, description = "Neither a token nor an `X-Order-Token`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such payment, or not the caller's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_payment<S: Store + 'static>(
    id: Uuid,
    state: AppState<S>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let payment = state.commerce.payment(PaymentId::from_uuid(id)).await?;
    visible_order(&state, &caller, payment.order_id)
        .await
        .map_err(|_| ApiError::not_found("payment"))?;
    Ok(json(StatusCode::OK, &PaymentDetail::from(&payment)))
}

/// A gateway's webhook.
#[utoipa::path(post, path = "/api/v1/payments/{gateway}/webhook", tag = "payments",
    params(
        ("gateway" = String, Path, description = "The gateway (`sandbox`)"),
        ("Sandbox-Signature" = Option<String>, Header, description = "The sandbox's `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>`"),
    ),
    request_body(content = String, description = "The gateway's event, verbatim (signed as sent)", content_type = "application/json"),
    responses(
        (status = 200, description = "Verified and recorded; `outcome` says what it did (a replay: `already_applied`, nothing changed); an amount or currency that differs from the payment's: `code: payment_amount_mismatch`", body = WebhookAnswer),
        (status = 400, description = "`signature_invalid` (missing, wrong, or a timestamp more than 300 s away), or `bad_request` (a signed event that cannot be read)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such gateway, or no payment with the event's reference", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn webhook<S: Store + 'static>(
    gateway: String,
    state: AppState<S>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let headers: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned()))
        })
        .collect();
    let outcome = state
        .commerce
        .handle_webhook(&gateway, &headers, &body)
        .await?;
    state.nudge_relay();
    let answer = |outcome| WebhookAnswer {
        received: true,
        outcome,
        code: None,
        expected: None,
        reported: None,
    };
    let answer = match outcome {
        PaymentOutcome::Paid(_) => answer("paid"),
        PaymentOutcome::AlreadyApplied => answer("already_applied"),
        PaymentOutcome::Declined => answer("declined"),
        PaymentOutcome::AmountMismatch { expected, received } => WebhookAnswer {
            code: Some("payment_amount_mismatch"),
            expected: Some(expected),
            reported: Some(received),
            ..answer("amount_mismatch")
        },
        PaymentOutcome::RefundRequired => answer("refund_required"),
        _ => answer("recorded"),
    };
    Ok(json(StatusCode::OK, &answer))
}

/// The buyer's browser back from the gateway: the server asks the gateway
/// itself about the payment the parameters name.
#[utoipa::path(get, path = "/api/v1/payments/{gateway}/return", tag = "payments",
    params(
        ("gateway" = String, Path, description = "The gateway (`sandbox`)"),
        ("reference" = String, Query, description = "The gateway's reference of the payment"),
    ),
    responses(
        (status = 200, description = "Where the payment and its order stand, as the gateway confirmed (an HTML page when the browser asks for `text/html`)", body = ReturnAnswer),
        (status = 404, description = "No such gateway, or no payment with this reference", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No `reference`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`gateway_error`: the gateway could not be asked", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn gateway_return<S: Store + 'static>(
    gateway: String,
    state: AppState<S>,
    params: BTreeMap<String, String>,
    accept: Option<String>,
) -> Result<Response, ApiError> {
    let reference = params
        .get("reference")
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::validation("reference", "the gateway's payment reference"))?;
    // The payment must exist before the gateway is asked about it.
    state
        .commerce
        .payment_by_reference(&gateway, &reference)
        .await?;
    let outcome = state.commerce.handle_return(&gateway, &params).await?;
    state.nudge_relay();
    let payment = state
        .commerce
        .payment_by_reference(&gateway, &reference)
        .await?;
    let order = state.commerce.order(payment.order_id).await?;
    let answer = ReturnAnswer {
        payment_id: payment.id.as_uuid(),
        order_id: order.id.as_uuid(),
        payment_status: payment.status,
        order_status: order.status,
        pending: outcome.is_none(),
    };
    if accept.is_some_and(|a| a.contains("text/html")) {
        let body = format!(
            "<h1>Payment {}</h1><p>Order #{} is <strong>{}</strong>.</p>",
            escape(payment_word(&answer)),
            order.number,
            escape(order.status.as_str()),
        );
        return Ok(html(StatusCode::OK, "Payment", &body));
    }
    Ok(json(StatusCode::OK, &answer))
}

fn payment_word(a: &ReturnAnswer) -> &'static str {
    use commerce_core::payment::PaymentStatus as P;
    match a.payment_status {
        P::Pending => "pending",
        P::Succeeded => "received",
        P::Failed => "declined",
        P::Mismatch => "flagged for review",
        P::Voided => "voided",
        _ => "to be refunded",
    }
}

/// A sandbox reference as the sandbox makes them: letters, digits, `_`, `-`.
fn sandbox_reference(r: &str) -> Result<&str, ApiError> {
    if (1..=100).contains(&r.len())
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(r)
    } else {
        Err(ApiError::not_found("payment"))
    }
}

/// The sandbox's hosted payment page: the amount, Pay and Decline.
#[utoipa::path(get, path = "/sandbox/pay/{reference}", tag = "payments",
    params(("reference" = String, Path, description = "The sandbox's payment reference")),
    responses(
        (status = 200, description = "An HTML page (no external assets) with Pay and Decline buttons", content_type = "text/html"),
        (status = 404, description = "No such sandbox payment, or the sandbox is off", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sandbox_page<S: Store + 'static>(
    reference: String,
    state: AppState<S>,
) -> Result<Response, ApiError> {
    let reference = sandbox_reference(&reference)?;
    let sandbox = state
        .commerce
        .sandbox()
        .ok_or_else(|| ApiError::not_found("payment"))?;
    let amount = sandbox
        .amount_of(reference)
        .ok_or_else(|| ApiError::not_found("payment"))?;
    let r = escape(reference);
    let body = format!(
        "<h1>Sandbox payment</h1>\
         <p>Amount: <strong>{amount}</strong></p>\
         <p>Reference: <code>{r}</code></p>\
         <form method=\"post\" action=\"/sandbox/pay/{r}\">\
         <button type=\"submit\" name=\"choice\" value=\"pay\">Pay</button> \
         <button type=\"submit\" name=\"choice\" value=\"decline\">Decline</button>\
         </form>\
         <p><small>No money moves: this is the test gateway.</small></p>",
        amount = escape(&format!(
            "{} {}",
            amount.amount_string(),
            amount.currency().code()
        )),
    );
    Ok(html(StatusCode::OK, "Sandbox payment", &body))
}

/// The sandbox page's buttons: settles the payment on the sandbox's side,
/// delivers the signed webhook to this server over HTTP, and redirects the
/// browser to the return URL (303).
#[utoipa::path(post, path = "/sandbox/pay/{reference}", tag = "payments",
    params(("reference" = String, Path, description = "The sandbox's payment reference")),
    request_body(content = String, description = "`choice=pay` or `choice=decline`", content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Settled and announced; `Location` is the return URL"),
        (status = 404, description = "No such sandbox payment, or the sandbox is off", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the payment was already settled", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a form", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`choice` is not `pay` or `decline`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sandbox_choose<S: Store + 'static>(
    reference: String,
    state: AppState<S>,
    content_type: Option<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let reference = sandbox_reference(&reference)?.to_owned();
    let sandbox = state
        .commerce
        .sandbox()
        .ok_or_else(|| ApiError::not_found("payment"))?;
    let is_form = content_type.as_deref().is_some_and(|ct| {
        ct.split(';').next().is_some_and(|e| {
            e.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !is_form {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the choice as a form (application/x-www-form-urlencoded)",
        ));
    }
    let choice = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "choice")
        .map(|(_, v)| v.into_owned());
    let paid = match choice.as_deref() {
        Some("pay") => true,
        Some("decline") => false,
        _ => return Err(ApiError::validation("choice", "pay or decline")),
    };
    sandbox
        .amount_of(&reference)
        .ok_or_else(|| ApiError::not_found("payment"))?;
    let hook = sandbox
        .complete(&reference, paid, state.commerce.clock().now())
        .map_err(|e| {
            ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("the sandbox refused: {}", e.message),
            )
        })?;
    // A real gateway retries a webhook that failed; here the buyer's return
    // asks the sandbox anyway, so a failed delivery is logged, not fatal.
    if let Err(e) = deliver(own_address(state.config.bind), &hook).await {
        tracing::warn!(reference = %reference, error = %e, "sandbox webhook not delivered");
    }
    let location = format!(
        "{}/payments/sandbox/return?reference={}",
        state.commerce.config().return_base.trim_end_matches('/'),
        form_urlencoded::byte_serialize(reference.as_bytes()).collect::<String>()
    );
    let mut res = Response::new(Vec::new().into());
    *res.status_mut() = StatusCode::SEE_OTHER;
    let location =
        HeaderValue::from_str(&location).map_err(|e| ApiError::internal(format!("{e}")))?;
    res.headers_mut().insert(header::LOCATION, location);
    Ok(res)
}

/// Where this server can reach itself: its listener, with an unspecified
/// address (`0.0.0.0`, `::`) replaced by loopback.
fn own_address(bind: SocketAddr) -> SocketAddr {
    match bind {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, a.port()))
        }
        other => other,
    }
}

/// Sends a sandbox webhook to `addr` as the gateway would: an HTTP/1.1
/// `POST /api/v1/payments/sandbox/webhook` with its signature header and
/// raw body. Returns the answer's status.
async fn deliver(addr: SocketAddr, hook: &SignedWebhook) -> Result<StatusCode, String> {
    let send = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = warp::http::Request::builder()
            .method("POST")
            .uri("/api/v1/payments/sandbox/webhook")
            .header(header::HOST, addr.to_string());
        for (k, v) in &hook.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(hook.body.clone())))
            .map_err(|e| format!("request: {e}"))?;
        let res = sender
            .send_request(req)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let status = res.status();
        // Read the answer to its end so the connection closes cleanly.
        let _ = res.into_body().collect().await;
        if status.is_success() {
            Ok(status)
        } else {
            Err(format!("the webhook was answered {status}"))
        }
    };
    tokio::time::timeout(WEBHOOK_TIMEOUT, send)
        .await
        .map_err(|_| "timed out".to_owned())?
}

/// Text for HTML.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A small self-contained HTML page (no external assets).
fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}\
         button{{font-size:1.1rem;padding:.5rem 1.5rem;margin-right:.5rem}}</style>\
         </head><body>{body}</body></html>",
        escape(title)
    );
    let mut res = Response::new(page.into());
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn sandbox_references_are_plain() {
        assert!(sandbox_reference("sbx_0123abc").is_ok());
        assert!(sandbox_reference("").is_err());
        assert!(sandbox_reference("a<b").is_err());
        assert!(sandbox_reference(&"a".repeat(101)).is_err());
    }

    #[test]
    fn the_server_reaches_itself_on_loopback() {
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(own_address(any).to_string(), "127.0.0.1:8080");
        let v6: SocketAddr = "[::]:81".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(own_address(v6).to_string(), "[::1]:81");
        let fixed: SocketAddr = "10.0.0.2:9".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(own_address(fixed), fixed);
    }
}
