//! libFuzzer entry point; the body is [`scrapetop_fuzz::targets_list`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrapetop_fuzz::targets_list(data));
