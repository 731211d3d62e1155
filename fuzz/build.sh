#!/usr/bin/env bash
# Build the libFuzzer targets on nightly the way `cargo fuzz build` does (coverage
# instrumentation, --cfg fuzzing, debug assertions), without needing cargo-fuzz installed.
# No sanitizer: scrapetop forbids unsafe code, so AddressSanitizer adds cost and finds nothing
# that a panic would not. Binaries: fuzz/target/x86_64-unknown-linux-gnu/release/<target>.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
exec cargo +nightly build --release --target x86_64-unknown-linux-gnu "$@"
