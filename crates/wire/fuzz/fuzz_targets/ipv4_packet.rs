//! Fuzz target `ipv4_packet`: any bytes as a bare inner IPv4 or IPv6 packet (the first byte picks
//! the GENEVE protocol type the decoder is told), plus the checksum helpers.
//!
//! Invariants checked: nothing panics; a decoded packet's header and length lie inside the buffer.
#![no_main]

use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use seawall_wire::{checksum, decode_inner, ETHERTYPE_IPV4, ETHERTYPE_IPV6};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, packet)) = data.split_first() else {
        return;
    };
    let protocol = match selector % 3 {
        0 => ETHERTYPE_IPV4,
        1 => ETHERTYPE_IPV6,
        _ => u16::from_be_bytes([selector, packet.first().copied().unwrap_or(0)]),
    };
    let mut out = String::new();
    match decode_inner(protocol, packet) {
        Ok(inner) => {
            assert!(inner.header_len <= inner.ip_len && inner.ip_len <= packet.len());
            assert!(inner.ip_payload.len() <= inner.ip_len - inner.header_len);
            assert!(inner.transport.payload().len() <= inner.ip_payload.len());
            let _ = inner.five_tuple().reversed();
            let _ = inner.ipv4_header_checksum_valid(packet);
            let _ = checksum::transport_valid(&inner);
            let _ = write!(out, "{inner}");
        }
        Err(e) => {
            assert!(!e.reason().is_empty());
            let _ = write!(out, "{e}");
        }
    }
});
