//! seawall-detect: compiles rules into an immutable engine and inspects packets with it.
#![forbid(unsafe_code)]

pub mod mpm;
pub mod payload;
