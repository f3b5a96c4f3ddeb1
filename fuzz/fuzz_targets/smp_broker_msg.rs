#![no_main]
use libfuzzer_sys::fuzz_target;
fuzz_target!(|data: &[u8]| smp_proto::fuzzing::smp_broker_msg(data));
