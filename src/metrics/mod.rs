//! `/metrics` for Prometheus: [`render`] is the text format over a [`Snapshot`] (pure),
//! [`collect`] gathers the snapshot at scrape time, [`http`] serves it (its own listener on
//! `metrics.listen`, or merged into the web listener through [`http::router`]).

pub mod collect;
pub mod http;
pub mod render;

pub use render::{render, Snapshot};
