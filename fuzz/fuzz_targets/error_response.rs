//! `cargo fuzz run error_response`: see `ram_operator::fuzzing::error_response` for the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ram_operator::fuzzing::error_response(data));
