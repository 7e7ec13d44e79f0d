//! The server's end-to-end tests over a real socket, on SQLite and
//! PostgreSQL, as one test binary: one link of the whole tree instead of one
//! per file. Each module is one area of the API. (`auth_metrics` stays a
//! binary of its own: it reads the process-wide metrics recorder.)

#[macro_use]
mod common;

mod admin_orders;
mod auth_flows;
mod authz;
mod binary;
mod cart;
mod catalog;
mod checkout;
mod conventions;
mod expiry;
mod me_routes;
mod openapi;
mod ops;
mod orders;
mod payments;
mod products;
mod promotions;
mod races;
mod ratelimit;
mod reviews;
mod security;
mod shipping;
mod shutdown;
mod stores;
mod workers;
