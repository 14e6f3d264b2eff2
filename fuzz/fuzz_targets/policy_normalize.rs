//! `cargo fuzz run policy_normalize`: see `ram_operator::fuzzing::policy_normalize` for the invariants checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ram_operator::fuzzing::policy_normalize(data));
