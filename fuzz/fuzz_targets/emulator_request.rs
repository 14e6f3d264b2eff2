//! `cargo fuzz run emulator_request`: see `ram_operator::fuzzing::emulator_request` for the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ram_operator::fuzzing::emulator_request(data));
