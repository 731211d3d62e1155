//! scrapetop: scrape Prometheus targets the way Prometheus does and show what happens underneath.
#![forbid(unsafe_code)]

pub mod attach;
pub mod cli;
pub mod config;
pub mod demo;
pub mod engine;
pub mod event;
pub mod expo;
pub mod headless;
pub mod metrics;
pub mod model;
pub mod redact;
pub mod source;
pub mod sources;
pub mod tui;

// The demo's servers are also the test suites' real servers: reachable under their old paths.
pub use demo::dns_server as dnsserver;
pub use demo::exporter;
