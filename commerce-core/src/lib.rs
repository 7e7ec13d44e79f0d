//! # commerce-core
//!
//! The rules of selling, as plain Rust: exact [`money`], a catalog
//! [`catalog`] snapshot, [`promotion`]s, and one pure [`pricing::price`]
//! function that turns a cart into a priced, explained result.
//!
//! This crate has no runtime, database or web framework in its dependencies;
//! storage, payment gateways, HTTP and background jobs are adapters around it.
//!
//! The invariants it keeps, whatever the input:
//! - money is integer minor units of one currency, never a float, never a
//!   fraction of a cent; arithmetic is checked;
//! - every order-level amount is rounded once and split by largest remainder,
//!   so line discounts add up to the discount total and
//!   `total == subtotal - discount_total + shipping_total + tax_total` (net
//!   prices) exactly;
//! - pricing is deterministic and independent of the order promotions are
//!   given in, and it says why each promotion did or did not apply.
//!
//! Start with the example of [`pricing`].

pub mod account;
pub mod address;
pub mod browse;
pub mod cart;
pub mod catalog;
pub mod clock;
pub mod credentials;
pub mod idempotency;
pub mod ids;
pub mod inventory;
pub mod money;
pub mod order;
pub mod outbox;
pub mod payment;
pub mod pricing;
pub mod promotion;
mod quantity;
pub mod seller;
pub mod service;
pub mod shipping;
pub mod storage;
pub mod tax;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use quantity::{Quantity, QuantityError};

/// The README's example, compiled and run as a doctest so it cannot rot.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
