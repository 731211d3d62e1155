//! libFuzzer entry point; the body is [`scrapetop_fuzz::target_arg`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrapetop_fuzz::target_arg(data));
