//! The scrape engine: persistent connections per target, watched and steered.
//!
//! It never imports a UI crate. It emits [`crate::event::Event`]s on a channel and takes
//! [`crate::event::Command`]s on another.

pub mod spec;
pub mod tls;
