//! libFuzzer entry point; the body is [`scrapetop_fuzz::command_line`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scrapetop_fuzz::command_line(data));
