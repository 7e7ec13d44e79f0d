//! The whole conformance suite, races included, on SQLite: a new database
//! file per test, 20 pooled connections (the races use at least 16 at once).

#![cfg(feature = "sqlite")]

mod common;

commerce_core::conformance_suite!(async { common::shared(common::sqlite().await) });
