//! scrapetop: scrape Prometheus targets the way Prometheus does and show what happens underneath.
#![forbid(unsafe_code)]

pub mod attach;
pub mod cli;
pub mod config;
pub mod demo;
pub mod dnsserver;
pub mod engine;
pub mod event;
pub mod exporter;
pub mod headless;
pub mod model;
pub mod source;
pub mod sources;
pub mod tui;
