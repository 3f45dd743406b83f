#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| etwnet_fuzz::targets::pktmon_text(data));
