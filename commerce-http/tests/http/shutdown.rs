//! Graceful shutdown: a request already in flight when the signal comes is
//! answered in full before the server returns, new connections are refused, and a request that does
//! not finish within the grace period does not keep the server up.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use commerce_core::storage::DynStore;
use commerce_http::{AppState, server};
use common::{Db, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Opens a connection and sends a request's head and the first part of its
/// body; the server is now inside the handler, waiting for the rest.
async fn half_sent(addr: SocketAddr, body: &[u8], sent: usize) -> TcpStream {
    let mut stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let head = format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("write head: {e}"));
    stream
        .write_all(&body[..sent])
        .await
        .unwrap_or_else(|e| panic!("write body: {e}"));
    stream
        .flush()
        .await
        .unwrap_or_else(|e| panic!("flush: {e}"));
    stream
}

/// Waits (bounded) until a new connection to `addr` is refused.
async fn until_refused(addr: SocketAddr) {
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{addr} still accepts connections after the shutdown signal");
}

/// Serves the router with `server::serve`, exactly as the binary does, on
/// a port-0 socket: its address, the shutdown trigger, and the serving task
/// (it ends when `serve` returns, after which the binary stops the workers
/// and exits).
async fn serving(
    state: &AppState<DynStore>,
    grace: Duration,
) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("listen: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let (trigger, signal) = oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(
        commerce_http::router(state.clone()),
        listener,
        async {
            let _ = signal.await;
        },
        grace,
    ));
    (addr, trigger, task)
}

async fn in_flight_request_is_answered(db: Db) {
    let Some(shop) = TestServer::start(db).await else {
        return;
    };
    let (addr, trigger, serving) = serving(&shop.state, Duration::from_secs(20)).await;
    let body = br#"{"email": "drain@example.com", "password": "correct horse battery"}"#;
    let mut stream = half_sent(addr, body, 10).await;
    // Let the server read the head and enter the handler.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let _ = trigger.send(());
    until_refused(addr).await;
    // While a request is in flight, `serve` does not return.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !serving.is_finished(),
        "serve returned with a request in flight"
    );

    // The request in flight completes, with the server's real answer.
    stream
        .write_all(&body[10..])
        .await
        .unwrap_or_else(|e| panic!("write the rest: {e}"));
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .unwrap_or_else(|_| panic!("no answer to the request in flight"))
        .unwrap_or_else(|e| panic!("read: {e}"));
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the request in flight was not answered in full: {answer}"
    );
    assert!(answer.contains("drain@example.com"), "{answer}");
    tokio::time::timeout(Duration::from_secs(30), serving)
        .await
        .unwrap_or_else(|_| panic!("serve did not return after draining"))
        .unwrap_or_else(|e| panic!("{e}"));

    // And its effect is kept: the account exists.
    let account = shop
        .state
        .commerce
        .account_by_email(
            &commerce_core::account::Email::parse("drain@example.com")
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        account.is_some(),
        "the drained request's account is missing"
    );
    shop.stop().await;
}

async fn grace_period_bounds_a_stuck_request(db: Db) {
    let Some(shop) = TestServer::start(db).await else {
        return;
    };
    let (addr, trigger, serving) = serving(&shop.state, Duration::from_millis(500)).await;
    let body = br#"{"email": "stuck@example.com", "password": "correct horse battery"}"#;
    // The rest of this body never comes.
    let stream = half_sent(addr, body, 10).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = trigger.send(());
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .unwrap_or_else(|_| panic!("a stuck request kept serve running past its grace period"))
        .unwrap_or_else(|e| panic!("{e}"));
    drop(stream);
    shop.stop().await;
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_flight_request_is_answered() {
        super::in_flight_request_is_answered(Db::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grace_period_bounds_a_stuck_request() {
        super::grace_period_bounds_a_stuck_request(Db::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_flight_request_is_answered() {
        super::in_flight_request_is_answered(Db::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grace_period_bounds_a_stuck_request() {
        super::grace_period_bounds_a_stuck_request(Db::Postgres).await;
    }
}
