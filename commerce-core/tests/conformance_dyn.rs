//! The conformance suite through `DynStore`, the run-time-chosen backend
//! wrapper: boxing every call must change nothing.

#![cfg(feature = "testkit")]

use std::sync::Arc;

use commerce_core::storage::{DynStore, InMemoryStore};

commerce_core::conformance_suite!(async { Some(Arc::new(DynStore::new(InMemoryStore::new()))) });
