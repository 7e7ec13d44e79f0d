//! The whole conformance suite, races included, on PostgreSQL: a new schema
//! per test in `TEST_DATABASE_URL`, 20 pooled connections.

#![cfg(feature = "postgres")]

mod common;

commerce_core::conformance_suite!(async { common::pg().await.map(std::sync::Arc::new) });
