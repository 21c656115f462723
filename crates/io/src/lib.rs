//! seawall-io (being built).
#![deny(unsafe_code)]
