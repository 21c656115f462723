//! `seawall-detect`: the detection layer. It compiles loaded rules (`seawall-rules` AST) into an
//! immutable [`Engine`] and inspects packets with it, raising exactly the alerts Suricata 7 raises,
//! in Suricata's order: packet rules on the packet payload and on the reassembled raw stream
//! ([`AppInput::stream`]), and transaction rules (HTTP/TLS/DNS buffers, transforms, `urilen`,
//! `app-layer-protocol`) once per transaction ([`Engine::inspect_app`], [`TxRef`]).
//!
//! Layers inside the crate:
//! - `payload` and `mpm` (the payload engineer's): one rule's content/pcre/byte_* program for one
//!   buffer, and the multi-pattern matcher trait with its Hyperscan and Aho-Corasick backends;
//! - [`engine`]: compilation (header resolution, option split into the packet/stream program and
//!   one program per app-layer buffer, Suricata's signature ordering, grouping by protocol class
//!   and destination-port group with one prefilter per group, and per app-layer protocol,
//!   direction and buffer with one prefilter per buffer and transform chain) and
//!   inspection (IP-only rules, prefilter, verification, post-match flowbits/flowint/xbits,
//!   thresholds, actions, alert queue);
//! - `header`: header keywords; [`state`]: per-flow ([`FlowDetect`]) and per-worker state;
//!   `packet`: the per-packet view.
//!
//! Architecture invariants:
//! - **Sans-I/O**: no sockets, files, clock reads, threads or logging. Time is the packet
//!   timestamp ([`PacketInfo::ts`]); `clippy.toml` bans `Instant::now`/`SystemTime::now`.
//! - **Never panics** on any input (proptests feed arbitrary rule sets and packets).
//! - **Immutable engine**: [`Engine`] is `Send + Sync` and shared as `Arc`; all mutable state is
//!   in the per-worker [`DetectCtx`] and the per-flow [`FlowDetect`] (both directions of a flow
//!   reach one worker, so no locks).
//! - **Whole rules only**: a rule the engine cannot honour is skipped whole with a reason naming
//!   the keyword ([`CompileReport`]), never half-applied.
//! - **Suricata's order**: rules are numbered by Suricata's signature ordering (action, flowbits,
//!   flowint, hostbits, ippair bits, priority, sid); IP-only rules run first (on the first
//!   packet of each flow direction), packet rules in number order, so flowbits set by one rule
//!   are seen by the later ones; the alert queue is sorted by number, thresholds applied, `pass`
//!   stops it, and at most `packet_alert_max` alerts are kept.
//! - **Grouping never loses a rule**: a rule is in every group whose packets it could match;
//!   a rule without a usable literal is checked on every packet of its group (tested against
//!   an evaluate-everything engine).
//! - **Bounded, allocation-free steady state**: [`FlowDetect`] is 24 bytes inline (flows using
//!   more than 64 flowbits or any flowint spill to one box); per-worker tables are bounded;
//!   the inspection scratch vectors are reused.
#![forbid(unsafe_code)]

pub mod engine;
mod header;
mod iponly;
pub mod mpm;
mod packet;
pub mod payload;
mod prefilter;
pub mod state;
#[cfg(test)]
mod tests;

pub use engine::{
    Alert, CompileReport, DetectCtx, Engine, EngineOptions, RejectKind, TxAlerted, Verdict,
    PACKET_ALERT_MAX,
};
pub use packet::{AppInput, DirProto, FlowInfo, PacketInfo, TxRef};
pub use seawall_applayer::{AppProto, TxBuffers};
pub use state::FlowDetect;
