#![no_main]
use libfuzzer_sys::fuzz_target;
fuzz_target!(|data: &[u8]| ntf_proto::fuzzing::store_log_line(data));
