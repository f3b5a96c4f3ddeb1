#![no_main]
use libfuzzer_sys::fuzz_target;
fuzz_target!(|data: &[u8]| ref_server::ntf::fuzzing::ntf_server_core(data));
