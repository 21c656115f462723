//! seawall-evidence: alert records (EVE JSON), per-flow packet rings, pcap writing.
#![forbid(unsafe_code)]
