//! seawall-sim (being built).
#![forbid(unsafe_code)]
