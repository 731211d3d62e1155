//! scrapetop: scrape Prometheus targets the way Prometheus does and show what happens underneath.
#![forbid(unsafe_code)]

pub mod config;
pub mod engine;
pub mod event;
pub mod model;
