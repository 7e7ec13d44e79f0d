//! Compile-time proof that the storage traits' futures and the services'
//! futures are `Send`, so they can be spawned on a multi-threaded runtime
//! whatever the backend. Nothing runs: if a future stops being `Send`, this
//! file stops compiling.

use std::future::Future;

use commerce_core::ids::{OrderId, VariantId};
use commerce_core::service::Commerce;
use commerce_core::storage::{InMemoryStore, OrderStore, Store};

fn require_send<F: Future + Send>(_: F) {}

#[allow(dead_code)]
fn store_futures_are_send<S: Store>(store: &S) {
    require_send(store.order(OrderId::new()));
    require_send(store.stock(VariantId::new()));
    require_send(store.expire_due(chrono::Utc::now(), 10));
    require_send(store.pending_events(10));
}

#[allow(dead_code)]
fn service_futures_are_send<S: Store + 'static>(commerce: &Commerce<S>) {
    require_send(commerce.order(OrderId::new()));
    require_send(commerce.expire_due(10));
    require_send(commerce.cancel_order(OrderId::new(), "x"));
}

/// The simulation can be spawned too, over any backend.
#[cfg(feature = "testkit")]
#[allow(dead_code)]
fn simulation_is_send<S: Store + 'static>(store: std::sync::Arc<S>) {
    require_send(commerce_core::testkit::simulate(store, 1, 10));
}

#[test]
fn in_memory_store_futures_are_send() {
    let store = InMemoryStore::new();
    require_send(store.order(OrderId::new()));
    store_futures_are_send(&store);
}
