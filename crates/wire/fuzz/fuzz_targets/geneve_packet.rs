//! Fuzz target `geneve_packet`: any UDP payload through every entry point of seawall-wire.
//!
//! Invariants checked: nothing panics; `check_len` Ok means every accessor and `payload` work;
//! `parse_gwlb` Ok means the inner slice is the datagram's tail; a decoded inner packet lies inside
//! its buffer; `GwlbRepr` emit then parse is the identity. Display runs on everything.
#![no_main]

use std::fmt::Write;

use libfuzzer_sys::fuzz_target;
use seawall_wire::{
    decode_inner, parse_gwlb, GeneveOptions, GenevePacket, GwlbMeta, GwlbRepr, ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
};

fuzz_target!(|data: &[u8]| {
    let mut out = String::new();

    let pkt = GenevePacket::new_unchecked(data);
    let _ = write!(out, "{pkt}");
    let _ = pkt.options().count();
    let _ = GwlbMeta::parse(&pkt);

    if pkt.check_len().is_ok() {
        let _ = (
            pkt.version(),
            pkt.flags(),
            pkt.protocol(),
            pkt.vni(),
            pkt.reserved(),
        );
        assert_eq!(pkt.header_len() + pkt.payload().len(), data.len());
        for option in GeneveOptions::new(pkt.options_bytes()).flatten() {
            let _ = (option.class(), option.option_type(), option.data());
            let _ = write!(out, "{option}");
        }
        if let Ok(repr) = GwlbRepr::parse(&pkt) {
            let mut buf = [0u8; 64];
            let n = repr
                .try_emit(&mut buf)
                .expect("64 bytes hold a GWLB header");
            let again = GwlbRepr::parse(&GenevePacket::new_checked(&buf[..n]).expect("emitted"));
            assert_eq!(again, Ok(repr));
        }
    }

    match parse_gwlb(data) {
        Ok(frame) => {
            assert_eq!(frame.geneve_len + frame.inner.len(), data.len());
            assert!(frame.protocol == ETHERTYPE_IPV4 || frame.protocol == ETHERTYPE_IPV6);
            if let Ok(inner) = decode_inner(frame.protocol, frame.inner) {
                assert!(inner.header_len <= inner.ip_len && inner.ip_len <= frame.inner.len());
                let _ = inner.five_tuple();
                let _ = write!(out, "{inner}");
            }
        }
        Err(e) => {
            let _ = e.reason();
        }
    }

    // The inner decoder straight on the bytes too (deeper coverage than behind a valid header).
    for protocol in [ETHERTYPE_IPV4, ETHERTYPE_IPV6] {
        if let Ok(inner) = decode_inner(protocol, data) {
            assert!(inner.header_len <= inner.ip_len && inner.ip_len <= data.len());
            let _ = write!(out, "{inner}");
        }
    }
});
