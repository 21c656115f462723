//! seawall-wire (being built).
#![forbid(unsafe_code)]
