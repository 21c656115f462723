//! seawall-telemetry (being built).
#![forbid(unsafe_code)]
