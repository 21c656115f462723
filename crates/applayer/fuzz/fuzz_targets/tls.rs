//! Fuzz target `tls`: a TLS flow's bytes, in arbitrary chunks per direction with gaps and
//! closes, through `seawall_applayer::AppState`; see `driver.rs` for the input format and the
//! invariants (no panic, memory within `mem_bound`, every buffer of every transaction queried).
#![no_main]

#[path = "driver.rs"]
mod driver;

use libfuzzer_sys::fuzz_target;
use seawall_applayer::AppProto;

fuzz_target!(|data: &[u8]| driver::fuzz(AppProto::Tls, data));
