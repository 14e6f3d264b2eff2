//! `cargo fuzz run emulator_signed`: see `ram_operator::fuzzing::emulator_signed` for the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ram_operator::fuzzing::emulator_signed(data));
