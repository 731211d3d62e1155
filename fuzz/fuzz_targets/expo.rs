//! The exposition parser on arbitrary bytes: never panics, the same outcome however the body
//! is split (see `scrapetop::expo::check_invariants`).
//! Run from fuzz/: `cargo +nightly fuzz run expo corpus/expo -- -max_total_time=600`
//! (2026-11-29, commit 019f526: 600 s, 4.65 M inputs, 1,869 edges, no crash, no invariant
//! broken. The stable `bounded_fuzz_keeps_the_invariants` test runs the same check in CI.)
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    scrapetop::expo::check_invariants(data);
});
