//! Shared fuzz target bodies (see `targets.rs`); the libFuzzer binaries in
//! `fuzz_targets/` are one line each.
#![forbid(unsafe_code)]

pub mod targets;
