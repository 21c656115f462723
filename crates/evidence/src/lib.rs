//! seawall-evidence: what SOC analysts get for every alert (DESIGN.md section 4).
//!
//! Layer: below the binary and beside the data plane; it knows nothing about rules or flows, only
//! the facts of one alert. Today it holds the EVE JSON `alert` record ([`eve::AlertRecord`]),
//! compatible with Suricata 7's schema (field names, order and formats: timestamps, expanded IPv6
//! addresses, protocol names, base64 `payload`/`packet`) plus a `seawall` object (GWLB endpoint,
//! attachment, flow cookie) and Suricata's `tunnel` object for packets decapsulated from a tunnel
//! or rebuilt from fragments ([`eve::TunnelRecord`], [`eve::PktSrc`]), the transaction's `tx_id` and
//! app-layer object (`http`, `tls`, `dns`) in Suricata's place and key order ([`eve::app_key_order`]),
//! and a buffered newline-delimited writer ([`eve::EveWriter`]).
//! Per-flow packet rings and alert pcaps come next.
//!
//! Architecture invariants:
//! - Writing a record allocates nothing: every field is borrowed and formatted straight into the
//!   writer's buffer (timestamps, addresses and base64 are `Display` adapters streamed by
//!   `serde_json`'s `collect_str`).
//! - Records are Suricata-compatible: a unit test compares serialized records byte for byte with
//!   lines written by Suricata 7.0.10 (`test_data/`).
#![forbid(unsafe_code)]

pub mod eve;

pub use eve::{
    read_alerts, Action, AlertInfo, AlertRecord, Direction, EveAlert, EveAlertInfo, EveError,
    EveWriter, PktSrc, SeawallInfo, TunnelRecord,
};
