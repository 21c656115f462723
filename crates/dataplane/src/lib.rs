//! seawall-dataplane (being built).
#![forbid(unsafe_code)]
