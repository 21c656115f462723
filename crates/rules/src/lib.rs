//! seawall-rules (being built).
#![forbid(unsafe_code)]
