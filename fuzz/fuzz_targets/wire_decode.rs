//! `cargo fuzz run wire_decode`: see `ram_operator::fuzzing::wire_decode` for the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ram_operator::fuzzing::wire_decode(data));
