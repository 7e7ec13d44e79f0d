//! The conformance suite on the reference backend, `InMemoryStore`.

#![cfg(feature = "testkit")]

use std::sync::Arc;

use commerce_core::storage::InMemoryStore;

commerce_core::conformance_suite!(async { Some(Arc::new(InMemoryStore::new())) });
