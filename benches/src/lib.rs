//! seawall-benches: the performance harnesses of DESIGN.md section 6 (a tool layer, like `sim`:
//! nothing in the appliance depends on it).
//!
//! * [`corpus`]: where the shared captures live (`$SEAWALL_CORPUS` or `<repo>/../shared/corpus`) and
//!   how a capture becomes GWLB datagrams (through `seawall-sim`, with a fixed cookie seed, so every
//!   run replays the same bytes).
//! * [`passthrough`]: the A/B harness behind `cargo bench -p seawall-benches --bench passthrough`:
//!   the bare recvmmsg/sendmmsg reflector (`seawall reflect`) against the appliance
//!   (`seawall run`), both as separate processes on loopback, driven by the same simulator load;
//!   it prints pps and latency ratios and writes `target/bench-results/passthrough.json`.
//!
//! The criterion micro-benchmarks live in `benches/benches/*.rs` (`wire_geneve` uses [`corpus`]
//! for its capture mix).
#![forbid(unsafe_code)]

pub mod corpus;
pub mod passthrough;
