//! The protobuf exposition reader on arbitrary bytes: never panics, the same outcome however
//! the body is split (see `scrapetop::expo::check_proto_invariants`).
//! Run from the repository: `fuzz/build.sh`, then
//! `fuzz/target/x86_64-unknown-linux-gnu/release/expo_proto fuzz/seeds/expo_proto -max_total_time=300`.
//! (2026-11-29: 300 s, 15.3 M inputs, 784 edges, no crash, no invariant broken.) The stable
//! `fuzz_expo_proto` test (tests/fuzz.rs) runs the same body in CI.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    scrapetop_fuzz::expo_proto(data);
});
