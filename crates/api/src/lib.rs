//! seawall-api (being built).
#![forbid(unsafe_code)]
