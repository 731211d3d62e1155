//! The exposition parser on arbitrary bytes: never panics, the same outcome however the body
//! is split (see `scrapetop::expo::check_invariants`).
//! Run: `cargo +nightly fuzz run expo fuzz/corpus/expo -- -max_total_time=600`
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    scrapetop::expo::check_invariants(data);
});
