//! The race tests again, with two servers: two stores, each with its own
//! connection pool, over one database — as two `commerce-server` processes
//! behind a load balancer. Each race spreads its tasks over both. Afterwards
//! the pools must have opened a connection for every task that raced (at
//! least 16 for the checkout and expiry storms): a pool opens one only when
//! every open one is busy, so the tasks really ran on that many at once.

mod common;

use std::sync::Arc;

use commerce_core::payment::BoxFuture;
use commerce_core::testkit::{Harness, Spawn};

struct TokioSpawn;

impl Spawn for TokioSpawn {
    fn spawn<F>(&self, fut: F) -> BoxFuture<'static, F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = tokio::spawn(fut);
        Box::pin(async move {
            match handle.await {
                Ok(v) => v,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        })
    }
}

macro_rules! two_server_races {
    ($backend:ident, $open:expr; $($race:ident => $tasks:expr),* $(,)?) => {
        mod $backend {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $race() {
                    let Some((a, b)) = $open.await else { return };
                    let (a, b) = (Arc::new(a), Arc::new(b));
                    let h = Arc::new(Harness::new(Arc::clone(&a)).with_server(Arc::clone(&b)));
                    commerce_core::testkit::$race(Arc::clone(&h), &TokioSpawn).await;
                    h.assert_invariants().await;
                    let connections = a.connections() + b.connections();
                    assert!(
                        connections >= $tasks,
                        "the race ran on {connections} connections, fewer than {}",
                        $tasks
                    );
                }
            )*
        }
    };
}

#[cfg(feature = "postgres")]
two_server_races!(postgres, async {
    let options = common::pg_schema().await?;
    let a = commerce_sqlx::PgStore::connect_with(options.clone(), common::CONNECTIONS).await;
    let b = commerce_sqlx::PgStore::connect_with(options, common::CONNECTIONS).await;
    match (a, b) {
        (Ok(a), Ok(b)) => Some((a, b)),
        (Err(e), _) | (_, Err(e)) => panic!("cannot connect: {e}"),
    }
};
    race_32_buyers_for_5_units => 16,
    race_16_buyers_for_a_single_use_code => 16,
    race_one_customer_8_tasks_per_customer_limit => 8,
    race_webhook_delivered_10_times => 10,
    race_cancel_against_payment => 2,
    race_expiry_sweeps_against_payments => 16,
    race_same_checkout_key_on_8_tasks => 8,
    race_credentials_used_8_times_at_once => 8,
);

#[cfg(feature = "sqlite")]
two_server_races!(sqlite, async {
    let path = common::sqlite_path();
    Some((common::sqlite_at(&path).await, common::sqlite_at(&path).await))
};
    race_32_buyers_for_5_units => 16,
    race_16_buyers_for_a_single_use_code => 16,
    race_webhook_delivered_10_times => 10,
    race_expiry_sweeps_against_payments => 16,
);
