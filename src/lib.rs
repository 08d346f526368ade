//! helpdesk-sla-exporter: a Prometheus exporter for helpdesk SLAs.
//!
//! # Layout
//! Data flows one way: `providers` (vendor JSON -> [`model::Item`]) -> `store`
//! -> `sla` (pure evaluation, `now` is a parameter) -> snapshot -> `metrics`,
//! `report`, `pages` (the status page and `/items`) and `http`. `app` wires the parts; `shard` picks this replica's sources; `main.rs` only parses flags.

pub mod app;
pub mod check_source;
pub mod clock;
pub mod compact;
pub mod config;
pub mod demo;
pub mod engine;
pub mod heap;
pub mod http;
pub mod levels;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod pages;
pub mod providers;
pub mod report;
pub mod secret;
pub mod shard;
pub mod sla;
pub mod snapshot;
pub mod store;
pub mod sync;
pub mod timeline;
pub mod web;
