//! Engine semantics tests: header keywords (table-driven), flow keywords with a real flow table,
//! flowbits across packets, thresholds over packet timestamps, pass/drop precedence, ordering,
//! the alert limit, and property tests (grouped engine vs evaluate-everything; no panics).

use etherparse::PacketBuilder;
use proptest::prelude::*;
use seawall_flow::{FlowConfig, FlowTable, Timestamp};
use seawall_rules::{Loader, Vars};
use seawall_wire::decode_inner;

use crate::{Alert, DetectCtx, Engine, EngineOptions, FlowDetect, FlowInfo, PacketInfo, Verdict};

const V4: u16 = 0x0800;
const V6: u16 = 0x86DD;

fn compile(text: &str) -> Engine {
    let load = Loader::default().load_str("t.rules", text);
    assert!(load.diagnostics.is_empty(), "{:?}", load.diagnostics);
    let (e, report) = Engine::compile(
        &load.rules,
        &Vars::suricata_defaults(),
        &EngineOptions::default(),
    );
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    e
}

fn tcp(flags: &str, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    tcp_between(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        1234,
        80,
        flags,
        seq,
        ack,
        payload,
    )
}

#[allow(clippy::too_many_arguments)]
fn tcp_between(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    flags: &str,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ipv4(src, dst, 64).tcp(sport, dport, seq, 1024);
    for c in flags.chars() {
        b = match c {
            'S' => b.syn(),
            'A' => b.ack(ack),
            'F' => b.fin(),
            'R' => b.rst(),
            'P' => b.psh(),
            'U' => b.urg(0),
            'E' => b.ece(),
            'C' => b.cwr(),
            _ => b,
        };
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).expect("build tcp");
    out
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(sport, dport)
        .write(&mut out, payload)
        .expect("build udp");
    out
}

fn icmp_echo(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .icmpv4_echo_request(id, seq)
        .write(&mut out, payload)
        .expect("build icmp");
    out
}

fn icmp6_echo(id: u16, seq: u16) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ipv6(
        [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        32,
    )
    .icmpv6_echo_request(id, seq)
    .write(&mut out, b"x")
    .expect("build icmp6");
    out
}

/// Inspect one flowless packet; the sids alerted.
fn sids_of(e: &Engine, raw: &[u8]) -> Vec<u32> {
    let proto = if raw[0] >> 4 == 6 { V6 } else { V4 };
    let pkt = decode_inner(proto, raw).expect("valid packet");
    let mut ctx = DetectCtx::new(e);
    let mut alerts = Vec::new();
    e.inspect(
        &mut ctx,
        &PacketInfo::new(Timestamp::from_secs(1), &pkt, raw),
        None,
        &mut alerts,
    );
    alerts.iter().map(|a| a.sid).collect()
}

fn matches(opts: &str, raw: &[u8]) -> bool {
    let e = compile(&format!("alert ip any any -> any any ({opts} sid:1;)"));
    sids_of(&e, raw) == [1]
}

/// A packet with IPv4 options (a record-route option) and the given flag byte/offset.
fn ipv4_with(opts: &[u8], frag_hi: u8, id: u16, tos: u8) -> Vec<u8> {
    let ihl = (20 + opts.len()) / 4;
    let total = (ihl * 4 + 8) as u16;
    let mut p = vec![0x40 | ihl as u8, tos];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[frag_hi, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    p.extend_from_slice(opts);
    p.extend_from_slice(&[0x04, 0xd2, 0, 53, 0, 8, 0, 0]);
    p
}

macro_rules! header_table {
    ($($name:ident: $opts:expr, $pkt:expr, $want:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let raw: Vec<u8> = $pkt;
                assert_eq!(matches($opts, &raw), $want, "{} on {:02x?}", $opts, raw);
            }
        )*
    };
}

header_table! {
    ttl_eq: "ttl:64;", tcp("S", 1, 0, b""), true;
    ttl_lt: "ttl:<64;", tcp("S", 1, 0, b""), false;
    ttl_range: "ttl:60<>70;", tcp("S", 1, 0, b""), true;
    ttl_v6: "ttl:32;", icmp6_echo(1, 1), true;
    tos_eq: "tos:8;", ipv4_with(&[], 0, 1, 8), true;
    tos_ne: "tos:!8;", ipv4_with(&[], 0, 1, 8), false;
    tos_v6_never: "tos:0;", icmp6_echo(1, 1), false;
    id_eq: "id:4660;", ipv4_with(&[], 0, 0x1234, 0), true;
    id_other: "id:1;", ipv4_with(&[], 0, 0x1234, 0), false;
    id_v6_never: "id:0;", icmp6_echo(1, 1), false;
    flags_exact_syn: "flags:S;", tcp("S", 1, 0, b""), true;
    flags_exact_synack_vs_syn: "flags:S;", tcp("SA", 1, 1, b""), false;
    flags_plus: "flags:S+;", tcp("SA", 1, 1, b""), true;
    flags_any: "flags:*SF;", tcp("FA", 1, 1, b""), true;
    flags_not: "flags:!R;", tcp("SA", 1, 1, b""), true;
    flags_not_set: "flags:!S;", tcp("SA", 1, 1, b""), false;
    flags_mask_ignores_ecn: "flags:S,12;", tcp("SEC", 1, 0, b""), true;
    flags_no_mask_ecn: "flags:S;", tcp("SEC", 1, 0, b""), false;
    flags_zero: "flags:0;", tcp("", 1, 0, b""), true;
    flags_zero_vs_ack: "flags:0;", tcp("A", 1, 1, b""), false;
    flags_udp_never: "flags:!S;", udp(1, 2, b""), false;
    fragbits_df: "fragbits:D;", ipv4_with(&[], 0x40, 1, 0), true;
    fragbits_plus_needs_more: "fragbits:+D;", ipv4_with(&[], 0x40, 1, 0), false;
    fragbits_plus_more: "fragbits:+D;", ipv4_with(&[], 0xc0, 1, 0), true;
    fragbits_any: "fragbits:*MR;", ipv4_with(&[], 0x80, 1, 0), true;
    fragbits_not: "fragbits:!D;", ipv4_with(&[], 0x00, 1, 0), true;
    fragoffset_zero: "fragoffset:0;", tcp("S", 1, 0, b""), true;
    fragoffset_gt: "fragoffset:>0;", tcp("S", 1, 0, b""), false;
    ipopts_rr: "ipopts:rr;", ipv4_with(&[7, 3, 4, 0], 0, 1, 0), true;
    ipopts_ts_missing: "ipopts:ts;", ipv4_with(&[7, 3, 4, 0], 0, 1, 0), false;
    ipopts_any_never: "ipopts:any;", ipv4_with(&[7, 3, 4, 0], 0, 1, 0), false;
    itype_echo: "itype:8;", icmp_echo(7, 9, b"ping"), true;
    itype_gt: "itype:>8;", icmp_echo(7, 9, b"ping"), false;
    icode_zero: "icode:0;", icmp_echo(7, 9, b"ping"), true;
    itype_tcp_never: "itype:0;", tcp("S", 1, 0, b""), false;
    icmp_id_eq: "icmp_id:7;", icmp_echo(7, 9, b"ping"), true;
    icmp_seq_eq: "icmp_seq:9;", icmp_echo(7, 9, b"ping"), true;
    icmp_seq_ne: "icmp_seq:8;", icmp_echo(7, 9, b"ping"), false;
    icmp6_id: "icmp_id:5;", icmp6_echo(5, 6), true;
    ip_proto_tcp: "ip_proto:6;", tcp("S", 1, 0, b""), true;
    ip_proto_not: "ip_proto:!6;", tcp("S", 1, 0, b""), false;
    ip_proto_lt: "ip_proto:<7;", tcp("S", 1, 0, b""), true;
    ack_eq: "ack:77;", tcp("A", 1, 77, b""), true;
    seq_eq: "seq:5;", tcp("S", 5, 0, b""), true;
    seq_ne: "seq:6;", tcp("S", 5, 0, b""), false;
    window_eq: "window:1024;", tcp("S", 5, 0, b""), true;
    window_neg: "window:!1024;", tcp("S", 5, 0, b""), false;
    sameip_no: "sameip;", tcp("S", 5, 0, b""), false;
    sameip_yes: "sameip;", tcp_between([1, 1, 1, 1], [1, 1, 1, 1], 1, 2, "S", 1, 0, b""), true;
    dsize_eq: "dsize:4;", udp(1, 2, b"abcd"), true;
    dsize_range: "dsize:1<>4;", udp(1, 2, b"abcd"), false;
    dsize_icmp: "dsize:4;", icmp_echo(1, 1, b"ping"), true;
}

#[test]
fn protocols_and_ports() {
    let e = compile(
        "alert tcp any any -> any 80 (sid:1;)\n\
         alert udp any any -> any 53 (sid:2;)\n\
         alert icmp any any -> any any (sid:3;)\n\
         alert ip any any -> any any (sid:4;)\n\
         alert ip any any -> any 80 (sid:5;)\n\
         alert tcp any any -> any !80 (sid:6;)\n\
         alert tcp 10.0.0.0/8 any -> 10.0.0.2 [79:81] (sid:7;)\n\
         alert tcp 192.168.0.0/16 any -> any any (sid:8;)\n\
         alert ipv6 any any -> any any (sid:9;)\n",
    );
    assert_eq!(sids_of(&e, &tcp("S", 1, 0, b"")), [1, 4, 5, 7]);
    assert_eq!(sids_of(&e, &udp(9, 53, b"")), [2, 4]);
    assert_eq!(sids_of(&e, &icmp_echo(1, 1, b"")), [3, 4]);
    // ICMPv6 is `icmp` too.
    assert_eq!(sids_of(&e, &icmp6_echo(1, 1)), [3, 4, 9]);
}

#[test]
fn bidirectional_rules_match_both_ways_and_twice_when_both_match() {
    let e = compile(
        "alert tcp 10.0.0.2 80 <> any any (sid:1;)\n\
         alert tcp any any <> any any (sid:2;)\n\
         alert tcp 10.0.0.0/8 any <> 10.0.0.0/8 any (sid:3;)\n",
    );
    // Reverse direction matches the switched copy; sid 2 has identical sides (one copy);
    // sid 3's sides are equal too.
    assert_eq!(sids_of(&e, &tcp("S", 1, 0, b"")), [1, 2, 3]);
    let e = compile("alert tcp 10.0.0.0/8 any <> 10.0.0.0/16 any (sid:4;)\n");
    // 10.0.0.1 -> 10.0.0.2 is in both orientations: Suricata's two signatures both alert.
    assert_eq!(sids_of(&e, &tcp("S", 1, 0, b"")), [4, 4]);
}

#[test]
fn app_layer_rules_load_and_unparsed_protocols_are_skipped_with_reasons() {
    let load = Loader::default().load_str(
        "t.rules",
        "alert http any any -> any any (http.uri; content:\"/a\"; sid:1;)\n\
         alert tcp any any -> any any (content:\"x\"; http_uri; sid:2;)\n\
         alert tcp any any -> any any (stream_size:server,<,5; sid:3;)\n\
         alert tcp-stream any any -> any any (sid:4;)\n\
         alert tcp any any -> any any (content:\"ok\"; sid:5;)\n\
         alert dcerpc any any -> any any (sid:6;)\n\
         alert tcp any any -> any any (smb.share; content:\"x\"; sid:7;)\n\
         alert http any any -> any any (tls.sni; content:\"x\"; sid:8;)\n",
    );
    let (e, r) = Engine::compile(
        &load.rules,
        &Vars::suricata_defaults(),
        &EngineOptions::default(),
    );
    assert_eq!(r.loaded, 5);
    assert_eq!(e.len(), 5);
    let reasons: Vec<(u32, &str)> = r.skipped.iter().map(|(s, m)| (s.0, m.as_str())).collect();
    assert_eq!(
        reasons,
        [
            (6, "app-layer protocol not parsed: dcerpc"),
            (7, "app-layer protocol not parsed: smb (smb.share)"),
        ]
    );
    assert_eq!(r.by_reason.iter().map(|(_, n)| n).sum::<usize>(), 2);
}

/// A transaction rule inspects the transaction's buffers (transforms applied, any instance of
/// a multi-buffer), alerts once per transaction, and needs the flow's protocol.
#[test]
fn transaction_rules_inspect_buffers_once_per_transaction() {
    use seawall_applayer::{AppProto, AppState, Direction as AppDir, Limits, Transport};

    use crate::{AppInput, TxAlerted, TxRef};
    let e = compile(
        "alert http any any -> any any (msg:\"uri\"; flow:to_server; http.uri; content:\"/evil\"; sid:1;)\n\
         alert http any any -> any any (http.host; dotprefix; content:\".example.com\"; startswith; sid:2;)\n\
         alert tcp any any -> any any (content:\"/evil\"; http_uri; urilen:>3; sid:3;)\n\
         alert http any any -> any any (http.method; content:\"POST\"; sid:4;)\n\
         alert http any any -> any any (http.uri; content:!\"/evil\"; sid:5;)\n\
         alert tcp any any -> any any (app-layer-protocol:http; content:\"GET\"; sid:6;)\n\
         alert dns any any -> any any (dns.query; content:\"evil\"; sid:7;)\n",
    );
    let req = b"GET /evil HTTP/1.1\r\nHost: example.com\r\n\r\n";
    let mut st = AppState::new(AppProto::Http, Transport::Tcp, Limits::default());
    let mut events = Vec::new();
    st.feed(AppDir::ToServer, Timestamp(0), req, &mut events);
    assert!(!events.is_empty());
    let raw = tcp("AP", 1, 1, b"");
    let pkt = decode_inner(V4, &raw).expect("valid");
    let mut table: FlowTable<FlowDetect> = FlowTable::new(FlowConfig::default()).expect("table");
    let mut f = table
        .process(Timestamp::from_secs(1), 0, &pkt)
        .expect("flow");
    let fi = FlowInfo::from_ref(&f);
    let txs = [TxRef {
        tx_id: events[0].tx_id,
        dir: AppDir::ToServer,
        buffers: st.buffers(events[0].tx_id).expect("tx"),
        body_ready: false,
    }];
    let mut info = PacketInfo::new(Timestamp::from_secs(1), &pkt, &raw).with_flow(fi);
    info.app = AppInput {
        stream: Some(&req[..]),
        stream_added: false,
        alproto: Some(AppProto::Http),
        alproto_done: true,
        txs: &txs,
        dir_alproto: None,
        proto_detect_done: false,
        stream_size: None,
    };
    let mut ctx = DetectCtx::new(&e);
    let mut done = TxAlerted::default();
    let mut alerts = Vec::new();
    e.inspect_app(&mut ctx, &info, Some(f.data_mut()), &mut done, &mut alerts);
    let mut sids: Vec<u32> = alerts.iter().map(|a| a.sid).collect();
    sids.sort_unstable();
    assert_eq!(sids, [1, 2, 3, 6]);
    // The same transaction again: the stream rule alerts again (new packet), the
    // transaction rules don't.
    alerts.clear();
    e.inspect_app(&mut ctx, &info, Some(f.data_mut()), &mut done, &mut alerts);
    assert_eq!(alerts.iter().map(|a| a.sid).collect::<Vec<_>>(), [6]);
    // Another protocol on the flow: nothing.
    info.app.alproto = Some(AppProto::Tls);
    let mut done = TxAlerted::default();
    alerts.clear();
    e.inspect_app(&mut ctx, &info, Some(f.data_mut()), &mut done, &mut alerts);
    assert!(alerts.is_empty(), "{alerts:?}");
}

/// Rules of a protocol that is detected but not parsed (`alert smb`, `app-layer-protocol:ssh`)
/// load and inspect the raw payload/stream once the flow's protocol is that one, never before.
#[test]
fn detected_only_protocol_rules_need_the_flow_protocol() {
    use seawall_applayer::AppProto;

    use crate::{AppInput, TxAlerted};
    let e = compile(
        "alert smb any any -> any any (content:\"SMB\"; depth:8; sid:1;)\n\
         alert tcp any any -> any any (app-layer-protocol:ssh; content:\"SMB\"; sid:2;)\n\
         alert tcp any any -> any any (app-layer-protocol:!smtp; content:\"SMB\"; sid:3;)\n\
         alert ftp any any -> any any (content:\"SMB\"; sid:4;)\n",
    );
    assert_eq!(e.len(), 4);
    let payload = b"\x00\x00\x00\x20\xfeSMB\x40\x00";
    let raw = tcp("AP", 1, 1, payload);
    let pkt = decode_inner(V4, &raw).expect("valid");
    let mut table: FlowTable<FlowDetect> = FlowTable::new(FlowConfig::default()).expect("table");
    let mut f = table
        .process(Timestamp::from_secs(1), 0, &pkt)
        .expect("flow");
    let fi = FlowInfo::from_ref(&f);
    let mut ctx = DetectCtx::new(&e);
    let table_rows: &[(Option<AppProto>, bool, &[u32])] = &[
        (None, false, &[]),
        (None, true, &[3]),
        (Some(AppProto::Smb), true, &[1, 3]),
        (Some(AppProto::Ssh), true, &[2, 3]),
        (Some(AppProto::Smtp), true, &[]),
        (Some(AppProto::Ftp), true, &[3, 4]),
    ];
    for (alproto, done, want) in table_rows {
        let mut info = PacketInfo::new(Timestamp::from_secs(1), &pkt, &raw).with_flow(fi);
        info.app = AppInput {
            alproto: *alproto,
            alproto_done: *done,
            ..AppInput::default()
        };
        let mut alerts = Vec::new();
        e.inspect_app(
            &mut ctx,
            &info,
            Some(f.data_mut()),
            &mut TxAlerted::default(),
            &mut alerts,
        );
        let mut sids: Vec<u32> = alerts.iter().map(|a| a.sid).collect();
        sids.sort_unstable();
        assert_eq!(&sids[..], *want, "{alproto:?}");
    }
    // With the packet direction's own outcome (Suricata's alproto_ts/alproto_tc), the
    // keyword compares that, the header protocol the flow's: an SMB flow whose direction is
    // undecided matches neither `app-layer-protocol:ssh` nor `!smtp`; a failed direction
    // matches only the negation.
    use crate::DirProto;
    let dir_rows: &[(DirProto, &[u32])] = &[
        (DirProto::Unknown, &[1]),
        (DirProto::Failed, &[1, 3]),
        (DirProto::Known(AppProto::Ssh), &[1, 2, 3]),
        (DirProto::Known(AppProto::Smtp), &[1]),
    ];
    for (dp, want) in dir_rows {
        let mut info = PacketInfo::new(Timestamp::from_secs(1), &pkt, &raw).with_flow(fi);
        info.app = AppInput {
            alproto: Some(AppProto::Smb),
            alproto_done: true,
            dir_alproto: Some(*dp),
            ..AppInput::default()
        };
        let mut alerts = Vec::new();
        e.inspect_app(
            &mut ctx,
            &info,
            Some(f.data_mut()),
            &mut TxAlerted::default(),
            &mut alerts,
        );
        let mut sids: Vec<u32> = alerts.iter().map(|a| a.sid).collect();
        sids.sort_unstable();
        assert_eq!(&sids[..], *want, "{dp:?}");
    }
}

/// A PD-only signature (`app-layer-protocol` with only a flow direction or `flowbits:set`
/// beside it) matches only on the packet that carries a direction's detection result; one
/// with anything else (content, `flow:established`) matches on every packet.
#[test]
fn pd_only_rules_match_on_the_detection_packet() {
    use seawall_applayer::AppProto;

    use crate::{AppInput, DirProto, TxAlerted};
    let e = compile(
        "alert tcp any any -> any any (app-layer-protocol:smb; sid:1;)\n\
         alert tcp any any -> any any (app-layer-protocol:!ftp; flow:to_server; flowbits:set,x; sid:2;)\n\
         alert tcp any any -> any any (app-layer-protocol:smb; flow:established,to_server; sid:3;)\n\
         alert tcp any any -> any any (app-layer-protocol:smb; content:\"SMB\"; sid:4;)\n",
    );
    let raw = tcp("AP", 1, 1, b"\x00\x00\x00\x20\xfeSMB");
    let pkt = decode_inner(V4, &raw).expect("valid");
    let mut table: FlowTable<FlowDetect> = FlowTable::new(FlowConfig::default()).expect("table");
    let mut f = table
        .process(Timestamp::from_secs(1), 0, &pkt)
        .expect("flow");
    let fi = FlowInfo::from_ref(&f);
    let mut ctx = DetectCtx::new(&e);
    for (done, want) in [(false, &[4][..]), (true, &[1, 2, 4][..])] {
        let mut info = PacketInfo::new(Timestamp::from_secs(1), &pkt, &raw).with_flow(fi);
        info.app = AppInput {
            alproto: Some(AppProto::Smb),
            alproto_done: true,
            dir_alproto: Some(DirProto::Known(AppProto::Smb)),
            proto_detect_done: done,
            ..AppInput::default()
        };
        let mut alerts = Vec::new();
        e.inspect_app(
            &mut ctx,
            &info,
            Some(f.data_mut()),
            &mut TxAlerted::default(),
            &mut alerts,
        );
        let mut sids: Vec<u32> = alerts.iter().map(|a| a.sid).collect();
        sids.sort_unstable();
        assert_eq!(sids, want, "proto_detect_done {done}");
    }
}

/// A buffer holding only a negated content is not the rule's fast pattern when another buffer
/// has a positive one (suricata-verify detect-content-ends-with-negated-01): the negated
/// `endswith` content is then inspected, not dropped because the literal occurs somewhere.
#[test]
fn negated_content_is_not_the_fast_pattern_beside_positive_ones() {
    use seawall_applayer::{AppProto, AppState, Direction as AppDir, Limits, Transport};

    use crate::{AppInput, TxAlerted, TxRef};
    let e = compile(
        "alert http any any -> any any (flow:to_server; http.method; content:\"GET\"; \
         http.uri; content:\".exe\"; endswith; http.host; content:!\".google.com\"; endswith; sid:1;)\n",
    );
    let raw = tcp("AP", 1, 1, b"");
    let pkt = decode_inner(V4, &raw).expect("valid");
    let mut table: FlowTable<FlowDetect> = FlowTable::new(FlowConfig::default()).expect("table");
    let mut f = table
        .process(Timestamp::from_secs(1), 0, &pkt)
        .expect("flow");
    let fi = FlowInfo::from_ref(&f);
    let mut ctx = DetectCtx::new(&e);
    let rows: &[(&[u8], usize)] = &[
        (
            b"GET /test.exe HTTP/1.1\r\nHost: www.google.com.example.com\r\n\r\n",
            1,
        ),
        (b"GET /test.exe HTTP/1.1\r\nHost: www.google.com\r\n\r\n", 0),
        (b"GET /test.exe HTTP/1.1\r\nHost: example.org\r\n\r\n", 1),
    ];
    for (req, want) in rows {
        let mut st = AppState::new(AppProto::Http, Transport::Tcp, Limits::default());
        let mut events = Vec::new();
        st.feed(AppDir::ToServer, Timestamp(0), req, &mut events);
        let txs = [TxRef {
            tx_id: events[0].tx_id,
            dir: AppDir::ToServer,
            buffers: st.buffers(events[0].tx_id).expect("tx"),
            body_ready: false,
        }];
        let mut info = PacketInfo::new(Timestamp::from_secs(1), &pkt, &raw).with_flow(fi);
        info.app = AppInput {
            alproto: Some(AppProto::Http),
            alproto_done: true,
            txs: &txs,
            ..AppInput::default()
        };
        let mut alerts = Vec::new();
        e.inspect_app(
            &mut ctx,
            &info,
            Some(f.data_mut()),
            &mut TxAlerted::default(),
            &mut alerts,
        );
        assert_eq!(alerts.len(), *want, "{}", String::from_utf8_lossy(req));
    }
}

/// Runs packets through a flow table and the engine; returns the sids per packet.
struct Harness {
    engine: Engine,
    ctx: DetectCtx,
    table: FlowTable<FlowDetect>,
}

impl Harness {
    fn new(rules: &str) -> Self {
        let engine = compile(rules);
        let ctx = DetectCtx::new(&engine);
        Harness {
            engine,
            ctx,
            table: FlowTable::new(FlowConfig::replay()).expect("table"),
        }
    }

    fn run_full(&mut self, secs: u64, raw: &[u8]) -> (Vec<Alert>, Verdict) {
        let pkt = decode_inner(V4, raw).expect("valid");
        let ts = Timestamp::from_secs(secs);
        let mut alerts = Vec::new();
        let verdict = match self.table.process(ts, 0, &pkt) {
            Ok(mut f) => {
                let info = PacketInfo::new(ts, &pkt, raw).with_flow(FlowInfo::from_ref(&f));
                self.engine
                    .inspect(&mut self.ctx, &info, Some(f.data_mut()), &mut alerts)
            }
            Err(_) => self.engine.inspect(
                &mut self.ctx,
                &PacketInfo::new(ts, &pkt, raw),
                None,
                &mut alerts,
            ),
        };
        (alerts, verdict)
    }

    fn run(&mut self, secs: u64, raw: &[u8]) -> Vec<u32> {
        self.run_full(secs, raw).0.iter().map(|a| a.sid).collect()
    }
}

fn handshake_rev(flags: &str, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    tcp_between(
        [10, 0, 0, 2],
        [10, 0, 0, 1],
        80,
        1234,
        flags,
        seq,
        ack,
        payload,
    )
}

#[test]
fn flow_keywords_follow_tcp_state() {
    let mut h = Harness::new(
        "alert tcp any any -> any any (flow:to_server; flags:S; sid:1;)\n\
         alert tcp any any -> any any (flow:not_established; sid:2;)\n\
         alert tcp any any -> any any (flow:established,to_server; sid:3;)\n\
         alert tcp any any -> any any (flow:established,to_client; sid:4;)\n\
         alert tcp any any -> any any (flow:to_client; sid:5;)\n\
         alert tcp any any -> any any (flow:stateless; flags:S; sid:6;)\n\
         alert tcp any any -> any any (flow:established,no_stream; dsize:>0; sid:7;)\n",
    );
    assert_eq!(h.run(1, &tcp("S", 100, 0, b"")), [1, 2, 6]);
    assert_eq!(h.run(1, &handshake_rev("SA", 500, 101, b"")), [2, 5]);
    // The ACK completing the handshake is not yet established (Suricata: the packet after it is).
    assert_eq!(h.run(1, &tcp("A", 101, 501, b"")), [2]);
    assert_eq!(h.run(1, &tcp("PA", 101, 501, b"hi")), [3, 7]);
    assert_eq!(h.run(1, &handshake_rev("A", 501, 103, b"")), [4, 5]);
}

#[test]
fn flowless_packets_and_flow_direction() {
    // Without a flow, a bare to_server holds (Suricata's group choice); to_client and any
    // state-needing flow option do not.
    let e = compile(
        "alert tcp any any -> any any (flow:to_server; sid:1;)\n\
         alert tcp any any -> any any (flow:to_client; sid:2;)\n\
         alert tcp any any -> any any (flow:not_established; sid:3;)\n\
         alert tcp any any -> any any (flow:stateless; sid:4;)\n",
    );
    assert_eq!(sids_of(&e, &tcp("S", 1, 0, b"")), [1]);
}

#[test]
fn flowbits_sequence_across_packets() {
    let mut h = Harness::new(
        "alert tcp any any -> any any (flow:to_server; content:\"LOGIN\"; flowbits:set,login; flowbits:noalert; sid:1;)\n\
         alert tcp any any -> any any (flow:to_client; content:\"OK\"; flowbits:isset,login; sid:2;)\n\
         alert tcp any any -> any any (content:\"BYE\"; flowbits:unset,login; sid:3;)\n\
         alert tcp any any -> any any (content:\"OK\"; flowbits:isnotset,login; sid:4;)\n\
         alert tcp any any -> any any (content:\"T\"; flowbits:toggle,t; sid:5;)\n\
         alert tcp any any -> any any (content:\"T\"; flowbits:isset,t; sid:6;)\n",
    );
    h.run(1, &tcp("S", 100, 0, b""));
    h.run(1, &handshake_rev("SA", 500, 101, b""));
    h.run(1, &tcp("A", 101, 501, b""));
    assert_eq!(h.run(2, &handshake_rev("PA", 501, 101, b"OK")), [4]);
    // noalert rule sets the bit but raises nothing.
    assert_eq!(h.run(3, &tcp("PA", 101, 503, b"LOGIN")), Vec::<u32>::new());
    assert_eq!(h.run(4, &handshake_rev("PA", 503, 106, b"OK")), [2]);
    assert_eq!(h.run(5, &tcp("PA", 106, 505, b"BYE")), [3]);
    assert_eq!(h.run(6, &handshake_rev("PA", 505, 109, b"OK")), [4]);
    // toggle then isset, in the same packet: the setter is ordered first.
    assert_eq!(h.run(7, &tcp("PA", 109, 507, b"T")), [5, 6]);
    assert_eq!(h.run(8, &tcp("PA", 110, 507, b"T")), [5]);
}

#[test]
fn flowbits_set_in_same_packet_seen_by_reader_regardless_of_sid() {
    // The reader has the lower sid; Suricata orders setters before readers.
    let mut h = Harness::new(
        "alert tcp any any -> any any (content:\"A\"; flowbits:isset,x; sid:1;)\n\
         alert tcp any any -> any any (content:\"A\"; flowbits:set,x; sid:2;)\n",
    );
    h.run(1, &tcp("S", 100, 0, b""));
    h.run(1, &handshake_rev("SA", 500, 101, b""));
    assert_eq!(h.run(1, &tcp("PA", 101, 501, b"A")), [2, 1]);
}

#[test]
fn flowint_counts() {
    let mut h = Harness::new(
        "alert tcp any any -> any any (content:\"x\"; flowint:n,+,1; noalert; sid:1;)\n\
         alert tcp any any -> any any (content:\"x\"; flowint:n,==,3; sid:2;)\n\
         alert tcp any any -> any any (content:\"x\"; flowint:m,notset; sid:3;)\n",
    );
    h.run(1, &tcp("S", 100, 0, b""));
    h.run(1, &handshake_rev("SA", 500, 101, b""));
    let got: Vec<Vec<u32>> = (0..4)
        .map(|i| h.run(2, &tcp("PA", 101 + i, 501, b"x")))
        .collect();
    assert_eq!(got, [vec![3], vec![3], vec![2, 3], vec![3]]);
}

#[test]
fn xbits_by_host_with_expiry() {
    let mut h = Harness::new(
        "alert udp any any -> any 1 (xbits:set,seen,track ip_src,expire 10; noalert; sid:1;)\n\
         alert udp any any -> any 2 (xbits:isset,seen,track ip_src; sid:2;)\n",
    );
    assert_eq!(h.run(100, &udp(5, 2, b"")), Vec::<u32>::new());
    h.run(100, &udp(5, 1, b""));
    assert_eq!(h.run(105, &udp(6, 2, b"")), [2]);
    assert_eq!(h.run(111, &udp(7, 2, b"")), Vec::<u32>::new());
}

#[test]
fn thresholds_over_packet_timestamps() {
    let mut h = Harness::new(
        "alert udp any any -> any 1 (msg:\"limit\"; dsize:0; threshold:type limit,track by_src,count 2,seconds 10; sid:1;)\n\
         alert udp any any -> any 2 (msg:\"df\"; dsize:0; detection_filter:track by_dst,count 2,seconds 10; sid:2;)\n",
    );
    let limit: Vec<usize> = [0, 1, 2, 3, 11]
        .iter()
        .map(|t| h.run(*t, &udp(9, 1, b"")).len())
        .collect();
    assert_eq!(limit, [1, 1, 0, 0, 1]);
    let df: Vec<usize> = [0, 1, 2, 3, 30]
        .iter()
        .map(|t| h.run(*t, &udp(9, 2, b"")).len())
        .collect();
    assert_eq!(df, [0, 0, 1, 1, 0]);
}

/// threshold.config entries applied to the loaded rules: a sid-specific threshold replaces the
/// rule's own, `suppress` by address silences alerts (the drop still applies), a suppress without
/// track silences the rule, and a rate_filter switches the action to drop past its rate.
#[test]
fn threshold_config_entries() {
    use seawall_rules::threshold_config::ThresholdConfig;
    let mut load = Loader::default().load_str(
        "t.rules",
        "alert udp any any -> any 1 (dsize:0; threshold:type limit,track by_src,count 9,seconds 10; sid:1;)\n\
         drop udp any any -> any 2 (dsize:0; sid:2;)\n\
         alert udp any any -> any 3 (dsize:0; sid:3;)\n\
         alert udp any any -> any 4 (dsize:0; sid:4;)\n",
    );
    let cfg = ThresholdConfig::parse(
        "threshold gen_id 1, sig_id 1, type limit, track by_rule, count 1, seconds 100\n\
         suppress gen_id 1, sig_id 2, track by_src, ip [10.0.0.0/24]\n\
         suppress gen_id 1, sig_id 3\n\
         rate_filter gen_id 1, sig_id 4, track by_rule, count 2, seconds 10, new_action drop, timeout 5\n",
    );
    assert!(cfg.errors.is_empty() && cfg.apply(&mut load.rules).is_empty());
    let (engine, report) = Engine::compile(
        &load.rules,
        &Vars::suricata_defaults(),
        &EngineOptions::default(),
    );
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let ctx = DetectCtx::new(&engine);
    let mut h = Harness {
        engine,
        ctx,
        table: FlowTable::new(FlowConfig::replay()).expect("table"),
    };
    let limit: Vec<usize> = [0, 1, 2]
        .iter()
        .map(|t| h.run(*t, &udp(9, 1, b"")).len())
        .collect();
    assert_eq!(limit, [1, 0, 0]);
    // Source 10.0.0.1 is suppressed: no alert, the drop applies.
    let (alerts, verdict) = h.run_full(0, &udp(9, 2, b""));
    assert!(alerts.is_empty() && verdict == Verdict::Drop);
    assert!(h.run(0, &udp(9, 3, b"")).is_empty());
    let rate: Vec<(usize, Verdict)> = [0, 1, 2, 3, 9]
        .iter()
        .map(|t| {
            let (a, v) = h.run_full(*t, &udp(9, 4, b""));
            (a.len(), v)
        })
        .collect();
    assert_eq!(
        rate,
        [
            (1, Verdict::Pass),
            (1, Verdict::Pass),
            (1, Verdict::Drop),
            (1, Verdict::Drop),
            (1, Verdict::Pass)
        ]
    );
}

#[test]
fn ip_only_threshold_counts_flow_directions() {
    // Without content or header keywords the rule is IP-only: one evaluation per flow direction.
    let mut h = Harness::new(
        "alert udp any any -> any 1 (threshold:type limit,track by_rule,count 1,seconds 60; sid:1;)\n",
    );
    assert_eq!(h.run(0, &udp(9, 1, b"")), [1]);
    assert_eq!(h.run(1, &udp(9, 1, b"")), Vec::<u32>::new());
    assert_eq!(h.run(2, &udp(10, 1, b"")), Vec::<u32>::new());
}

#[test]
fn pass_beats_alert_and_drop() {
    let mut h = Harness::new(
        "alert udp any any -> any any (content:\"z\"; sid:1;)\n\
         drop udp any any -> any any (content:\"z\"; sid:2;)\n\
         pass udp any any -> any any (content:\"zz\"; sid:3;)\n\
         reject udp any any -> any any (content:\"r\"; sid:4;)\n",
    );
    let (a, v) = h.run_full(1, &udp(1, 2, b"zz"));
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(v, Verdict::Pass);
    let (a, v) = h.run_full(1, &udp(1, 2, b"z"));
    assert_eq!(a.iter().map(|a| a.sid).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(v, Verdict::Drop);
    let (_, v) = h.run_full(1, &udp(1, 2, b"r"));
    assert_eq!(v, Verdict::Reject(crate::RejectKind::Src));
}

#[test]
fn ip_only_pass_applies_to_the_flow_and_runs_once_per_direction() {
    let mut h = Harness::new(
        "alert udp any any -> any any (sid:1;)\n\
         alert udp any any -> any any (content:\"q\"; sid:2;)\n",
    );
    assert_eq!(h.run(1, &udp(1, 2, b"q")), [1, 2]);
    // IP-only rules only see the first packet of each direction.
    assert_eq!(h.run(1, &udp(1, 2, b"q")), [2]);
    let mut h = Harness::new(
        "pass udp any any -> any 2 (sid:1;)\n\
         alert udp any any -> any any (content:\"q\"; sid:2;)\n",
    );
    assert_eq!(h.run(1, &udp(1, 2, b"q")), Vec::<u32>::new());
    // The whole flow is passed.
    assert_eq!(h.run(2, &udp(1, 2, b"q")), Vec::<u32>::new());
    assert_eq!(h.run(2, &udp(1, 3, b"q")), [2]);
}

#[test]
fn drop_on_ip_only_rule_drops_the_flow() {
    let mut h = Harness::new("drop udp any any -> any 2 (sid:1;)\n");
    let (a, v) = h.run_full(1, &udp(1, 2, b"q"));
    assert_eq!((a.len(), v), (1, Verdict::Drop));
    let (a, v) = h.run_full(2, &udp(1, 2, b"q"));
    assert_eq!((a.len(), v), (0, Verdict::Drop));
}

#[test]
fn ordering_by_action_then_priority_then_sid() {
    let e = compile(
        "alert udp any any -> any any (content:\"o\"; priority:3; sid:1;)\n\
         alert udp any any -> any any (content:\"o\"; priority:1; sid:9;)\n\
         alert udp any any -> any any (content:\"o\"; classtype:trojan-activity; sid:5;)\n\
         drop udp any any -> any any (content:\"o\"; priority:4; sid:7;)\n\
         alert udp any any -> any any (content:\"o\"; sid:3;)\n",
    );
    // trojan-activity is priority 1.
    assert_eq!(sids_of(&e, &udp(1, 2, b"o")), [7, 5, 9, 1, 3]);
}

#[test]
fn alert_queue_is_limited_to_packet_alert_max() {
    let rules: String = (1..=20)
        .map(|i| format!("alert udp any any -> any any (content:\"m\"; sid:{i};)\n"))
        .collect();
    let e = compile(&rules);
    assert_eq!(
        sids_of(&e, &udp(1, 2, b"m")),
        (1..=15).collect::<Vec<u32>>()
    );
}

#[test]
fn suricata_signature_order_flowbits_classes() {
    let e = compile(
        "alert tcp any any -> any any (flowbits:isset,a; sid:1;)\n\
         alert tcp any any -> any any (flowbits:set,a; flowbits:isset,b; sid:2;)\n\
         alert tcp any any -> any any (flowbits:set,b; sid:3;)\n\
         alert tcp any any -> any any (sid:4;)\n\
         pass tcp any any -> any any (sid:5;)\n",
    );
    assert_eq!(e.sid_order().collect::<Vec<_>>(), [5, 3, 2, 1, 4]);
}

#[test]
fn steady_state_reuses_buffers() {
    let e = compile("alert udp any any -> any any (content:\"m\"; sid:1;)\n");
    let raw = udp(1, 2, b"m");
    let pkt = decode_inner(V4, &raw).expect("valid");
    let mut ctx = DetectCtx::new(&e);
    let mut alerts = Vec::with_capacity(16);
    for _ in 0..3 {
        alerts.clear();
        e.inspect(
            &mut ctx,
            &PacketInfo::new(Timestamp::from_secs(1), &pkt, &raw),
            None,
            &mut alerts,
        );
    }
    let (c1, q1) = (ctx.cand.capacity(), ctx.queue.capacity());
    for _ in 0..100 {
        alerts.clear();
        e.inspect(
            &mut ctx,
            &PacketInfo::new(Timestamp::from_secs(1), &pkt, &raw),
            None,
            &mut alerts,
        );
    }
    assert_eq!((ctx.cand.capacity(), ctx.queue.capacity()), (c1, q1));
    assert_eq!(alerts.len(), 1);
}

// ------------------------------------------------------------------------------------------
// Property tests
// ------------------------------------------------------------------------------------------

fn arb_ports() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("any".to_string()),
        (1u16..6).prop_map(|p| p.to_string()),
        (1u16..4, 4u16..8).prop_map(|(a, b)| format!("{a}:{b}")),
        (1u16..6).prop_map(|p| format!("!{p}")),
        (1u16..6, 1u16..6).prop_map(|(a, b)| format!("[{a},{b}]")),
    ]
}

fn arb_option() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ab]{1,3}".prop_map(|c| format!("content:\"{c}\";")),
        "[ab]{1,2}".prop_map(|c| format!("content:!\"{c}\";")),
        "[ab]{1,2}".prop_map(|c| format!("content:\"{c}\"; nocase;")),
        (0u8..4).prop_map(|d| format!("dsize:>{d};")),
        Just("flags:S;".to_string()),
        Just("flags:A+;".to_string()),
        Just("flow:established;".to_string()),
        Just("flow:to_server;".to_string()),
        (0u8..3).prop_map(|b| format!("flowbits:set,b{b};")),
        (0u8..3).prop_map(|b| format!("flowbits:isset,b{b};")),
        (0u8..3).prop_map(|b| format!("flowbits:isnotset,b{b};")),
        Just("flowint:c,+,1;".to_string()),
        Just("flowint:c,>,1;".to_string()),
        Just("threshold:type limit,track by_src,count 1,seconds 5;".to_string()),
        Just("noalert;".to_string()),
        Just("ttl:<100;".to_string()),
        Just("xbits:set,x,track ip_pair;".to_string()),
        Just("xbits:isset,x,track ip_pair;".to_string()),
    ]
}

fn arb_rule(sid: u32) -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("alert"), Just("alert"), Just("drop"), Just("pass")],
        prop_oneof![Just("tcp"), Just("udp"), Just("ip"), Just("icmp")],
        arb_ports(),
        arb_ports(),
        prop_oneof![Just("->"), Just("<>")],
        proptest::collection::vec(arb_option(), 0..4),
    )
        .prop_map(move |(a, p, sp, dp, d, o)| {
            format!("{a} {p} any {sp} {d} any {dp} ({} sid:{sid};)", o.join(" "))
        })
}

fn arb_rules() -> impl Strategy<Value = String> {
    (1usize..12).prop_flat_map(|n| {
        (1..=n as u32)
            .map(arb_rule)
            .collect::<Vec<_>>()
            .prop_map(|v| v.join("\n"))
    })
}

fn arb_packet() -> impl Strategy<Value = Vec<u8>> {
    (
        0u8..3,
        1u16..8,
        1u16..8,
        "[abAB]{0,6}",
        prop_oneof![Just("S"), Just("SA"), Just("A"), Just("PA")],
    )
        .prop_map(|(kind, sp, dp, pl, fl)| match kind {
            0 => tcp_between(
                [10, 0, 0, 1],
                [10, 0, 0, 2],
                sp,
                dp,
                fl,
                1,
                1,
                pl.as_bytes(),
            ),
            1 => udp(sp, dp, pl.as_bytes()),
            _ => icmp_echo(sp, dp, pl.as_bytes()),
        })
}

/// Runs a packet sequence through a flow table and the engine, grouped or naive.
fn run_sequence(
    rules: &str,
    packets: &[Vec<u8>],
    naive: bool,
    mpm: crate::engine::MpmKind,
) -> Vec<(Vec<u32>, Verdict)> {
    let load = Loader::default().load_str("p.rules", rules);
    let opts = EngineOptions {
        mpm,
        ..EngineOptions::default()
    };
    let (e, _) = Engine::compile(&load.rules, &Vars::suricata_defaults(), &opts);
    let mut ctx = DetectCtx::new(&e);
    let mut table: FlowTable<FlowDetect> = FlowTable::new(FlowConfig::default()).expect("table");
    let mut out = Vec::new();
    for (i, raw) in packets.iter().enumerate() {
        let pkt = decode_inner(V4, raw).expect("valid");
        let ts = Timestamp::from_secs(i as u64);
        let mut alerts = Vec::new();
        let v = match table.process(ts, 0, &pkt) {
            Ok(mut f) => {
                let info = PacketInfo::new(ts, &pkt, raw).with_flow(FlowInfo::from_ref(&f));
                e.inspect_with(
                    &mut ctx,
                    &info,
                    Some(f.data_mut()),
                    None,
                    &mut alerts,
                    naive,
                )
            }
            Err(_) => e.inspect_with(
                &mut ctx,
                &PacketInfo::new(ts, &pkt, raw),
                None,
                None,
                &mut alerts,
                naive,
            ),
        };
        out.push((alerts.iter().map(|a| a.sid).collect(), v));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A rule is never missed because of grouping or prefiltering.
    #[test]
    fn grouped_equals_naive(rules in arb_rules(), packets in proptest::collection::vec(arb_packet(), 1..8)) {
        use crate::engine::MpmKind;
        let naive = run_sequence(&rules, &packets, true, MpmKind::AhoCorasick);
        prop_assert_eq!(&run_sequence(&rules, &packets, false, MpmKind::Hyperscan), &naive);
        prop_assert_eq!(&run_sequence(&rules, &packets, false, MpmKind::AhoCorasick), &naive);
    }

    /// Arbitrary small rule sets on arbitrary bytes never panic.
    #[test]
    fn never_panics(rules in arb_rules(), bytes in proptest::collection::vec(any::<u8>(), 0..80), v6 in any::<bool>()) {
        let load = Loader::default().load_str("f.rules", &rules);
        let (e, _) = Engine::compile(&load.rules, &Vars::suricata_defaults(), &EngineOptions::default());
        let mut ctx = DetectCtx::new(&e);
        let mut flow = FlowDetect::default();
        let mut raw = bytes.clone();
        if let Some(b) = raw.first_mut() {
            *b = (*b & 0x0f) | if v6 { 0x60 } else { 0x40 };
        }
        if let Ok(pkt) = decode_inner(if v6 { V6 } else { V4 }, &raw) {
            let mut alerts = Vec::new();
            let info = PacketInfo::new(Timestamp::from_secs(1), &pkt, &raw);
            e.inspect(&mut ctx, &info, None, &mut alerts);
            let info = info.with_flow(FlowInfo {
                flow_id: 1,
                direction: seawall_flow::Direction::ToClient,
                flags: seawall_flow::PacketFlags(0xff),
            });
            e.inspect(&mut ctx, &info, Some(&mut flow), &mut alerts);
            prop_assert!(alerts.len() <= 2 * crate::PACKET_ALERT_MAX);
        }
    }
}

#[test]
fn engine_is_shareable_and_flow_slot_fits_the_budget() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Engine>();
    send::<DetectCtx>();
    send::<FlowDetect>();
    // DESIGN.md: a tracked flow costs at most 256 bytes with the engine's slot.
    assert!(FlowTable::<FlowDetect>::bytes_per_flow() <= 256);
}

#[test]
fn negated_addresses_make_ip_only_rules_per_packet() {
    // $EXTERNAL_NET is !$HOME_NET: Suricata evaluates such a rule on every packet (and applies
    // its pass/drop to the flow); without negation it runs once per flow direction.
    let mut h = Harness::new(
        "alert tcp $EXTERNAL_NET any -> $HOME_NET any (sid:1;)\n\
         alert tcp 8.8.8.8 any -> $HOME_NET any (sid:2;)\n",
    );
    let p = tcp_between([8, 8, 8, 8], [10, 0, 0, 2], 1000, 80, "S", 1, 0, b"");
    assert_eq!(h.run(1, &p), [1, 2]);
    assert_eq!(h.run(2, &p), [1]);
}
