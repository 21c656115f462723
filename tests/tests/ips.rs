//! Issue 6 acceptance: the engine in the GENEVE data plane, end to end with the real binary and
//! the GWLB simulator. IDS mode returns everything and raises what `seawall replay` raises; IPS
//! mode drops flows and injects resets riding the flow's GENEVE header; a reload under load loses
//! nothing and switches rules; profiles per GWLB endpoint; flow affinity with two workers.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use seawall_sim::{
    read_capture, send_datagrams, wrap_all, Datagram, ExchangeOptions, FlowTuple, InnerPacket,
    ReturnKind, WrapConfig,
};
use seawall_tests::{
    corpus_dir, data, loopback_config, metric_sum, repo_root, seawall_bin, Appliance,
};
use seawall_wire::{decode_inner, parse_gwlb, TcpFlags, Transport};

const TOKEN: &str = "test-token-0123456789abcdef";
const ROOT: &[u8] = b"uid=0(root)";

fn testmyids() -> PathBuf {
    corpus_dir().join("pcaps/proto/http-testmyids.pcap")
}

fn rules_list(paths: &[PathBuf]) -> String {
    let quoted: Vec<String> = paths
        .iter()
        .map(|p| format!("\"{}\"", p.display()))
        .collect();
    format!("rules = [{}]", quoted.join(", "))
}

/// Starts an appliance: `workers`, `detect` (the `[detect]` body), extra TOML, alerts under `dir`.
fn start(workers: usize, dir: &Path, detect: &str, more: &str) -> Appliance {
    let token = dir.join("token");
    std::fs::write(&token, TOKEN).expect("write token");
    let base = loopback_config(workers, "", "");
    // Put the token file into the [api] table of the loopback config.
    let base = base.replace(
        "[api]\nlisten = \"127.0.0.1:0\"\n",
        &format!(
            "[api]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n",
            token.display()
        ),
    );
    let cfg = format!(
        "{base}\n[detect]\n{detect}\n[evidence]\ndir = \"{}\"\n{more}\n",
        dir.join("out").display()
    );
    Appliance::start(&cfg)
}

/// `POST path` with the bearer token; status and body.
fn post(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Chunked bodies: take the JSON object.
    let json = body
        .find('{')
        .and_then(|a| body.rfind('}').map(|b| &body[a..=b]))
        .unwrap_or("null");
    (status, serde_json::from_str(json).expect("json body"))
}

/// One alert as compared: (sid, src addr:port, dst addr:port).
type AlertKey = (u64, String, String);

fn alert_keys(eve: &Path) -> Vec<(AlertKey, serde_json::Value)> {
    let text = std::fs::read_to_string(eve).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("eve line is json");
            let ep = |ip: &str, port: &str| {
                format!(
                    "{}:{}",
                    v[ip].as_str().expect("ip"),
                    v[port].as_u64().unwrap_or(0)
                )
            };
            let key = (
                v["alert"]["signature_id"].as_u64().expect("sid"),
                ep("src_ip", "src_port"),
                ep("dest_ip", "dest_port"),
            );
            (key, v)
        })
        .collect()
}

/// Waits until every alert the workers queued has been written; returns the records.
fn settled_alerts(app: &Appliance, eve: &Path) -> Vec<(AlertKey, serde_json::Value)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = app.metrics();
        let queued = metric_sum(&m, "seawall_evidence_alerts_queued_total", &[]);
        let written = metric_sum(&m, "seawall_evidence_alerts_written_total", &[]);
        let alerts = metric_sum(&m, "seawall_detect_alerts_total", &[]);
        if queued == alerts && written == queued {
            let keys = alert_keys(eve);
            if keys.len() as f64 == written {
                return keys;
            }
        }
        assert!(
            Instant::now() < deadline,
            "alerts never settled: {alerts} raised, {queued} queued, {written} written"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `seawall replay --midstream` of `pcap` with `rules`: the alert keys, sorted.
fn replay_alerts(dir: &Path, rules: &[PathBuf], pcap: &Path) -> Vec<AlertKey> {
    let out = dir.join("replay");
    let mut cmd = Command::new(seawall_bin());
    cmd.arg("replay").arg("--midstream").arg("--no-progress");
    for r in rules {
        cmd.arg("--rules").arg(r);
    }
    let status = cmd
        .arg("-l")
        .arg(&out)
        .arg(pcap)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run seawall replay");
    assert!(status.success(), "seawall replay failed");
    let mut keys: Vec<AlertKey> = alert_keys(&out.join("eve.json"))
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    keys
}

fn wrap(pcap: &Path, endpoint: u64, seed: u64) -> Vec<Datagram> {
    let cap = read_capture(pcap).expect("read capture");
    wrap_all(
        &cap.packets,
        &WrapConfig {
            endpoint_id: endpoint,
            seed: Some(seed),
            ..WrapConfig::default()
        },
    )
}

fn exchange(app: &Appliance, datagrams: &[Datagram]) -> seawall_sim::Exchange {
    send_datagrams(
        app.geneve,
        datagrams,
        &ExchangeOptions {
            timeout: Duration::from_secs(2),
            ..ExchangeOptions::default()
        },
    )
    .expect("simulator exchange")
}

fn inner_of(d: &[u8]) -> &[u8] {
    parse_gwlb(d).expect("valid GENEVE").inner
}

/// Indices of the datagrams of the flow whose packet carries `needle`, from that packet on: what
/// IPS mode must drop (the packet and the rest of its flow).
fn expected_drops(datagrams: &[Datagram], needle: &[u8]) -> Vec<usize> {
    let mut dropped_flows: Vec<FlowTuple> = Vec::new();
    let mut out = Vec::new();
    for (i, d) in datagrams.iter().enumerate() {
        let inner = inner_of(&d.bytes);
        let tuple = FlowTuple::of_packet(inner).expect("tuple");
        let hit = inner.windows(needle.len()).any(|w| w == needle);
        if hit && !dropped_flows.contains(&tuple) {
            dropped_flows.push(tuple);
        }
        if dropped_flows.contains(&tuple) {
            out.push(i);
        }
    }
    out
}

/// Which sent datagrams came back (multiset match on bytes), and the unmatched received ones.
fn returned(sent: &[Datagram], ex: &seawall_sim::Exchange) -> (Vec<bool>, Vec<Vec<u8>>) {
    let mut by_bytes: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
    for (i, d) in sent.iter().enumerate() {
        by_bytes.entry(&d.bytes).or_default().push(i);
    }
    let mut back = vec![false; sent.len()];
    let mut other = Vec::new();
    for r in &ex.received {
        match by_bytes.get_mut(r.bytes.as_slice()).and_then(|v| {
            let pos = v.iter().position(|&i| !back[i])?;
            Some(v[pos])
        }) {
            Some(i) if r.kind == ReturnKind::Matched => back[i] = true,
            _ => other.push(r.bytes.clone()),
        }
    }
    (back, other)
}

#[test]
fn ids_mode_returns_every_packet_and_raises_what_replay_raises() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = vec![
        data("ips/ids.rules"),
        repo_root().join("rules/seawall.rules"),
    ];
    let app = start(2, dir.path(), &rules_list(&rules), "");
    let pcap = testmyids();
    let sent = wrap(&pcap, 0x05ea_3a11_e0d0_0001, 1);
    let ex = exchange(&app, &sent);
    assert_eq!(ex.report.returned, sent.len() as u64, "{}", ex.report);
    let (back, other) = returned(&sent, &ex);
    assert!(back.iter().all(|&b| b), "every datagram comes back");
    assert!(other.is_empty(), "nothing but the sent bytes comes back");

    let mut got: Vec<AlertKey> = settled_alerts(&app, &dir.path().join("out/eve.json"))
        .into_iter()
        .map(|(k, v)| {
            assert_eq!(v["alert"]["action"], "allowed");
            assert_eq!(v["seawall"]["profile"], "default");
            assert_eq!(v["seawall"]["endpoint_id"], "0x05ea3a11e0d00001");
            k
        })
        .collect();
    got.sort();
    let want = replay_alerts(dir.path(), &rules, &pcap);
    assert!(
        want.iter().any(|k| k.0 == 2100498),
        "the capture holds the attack: {want:?}"
    );
    assert_eq!(got, want, "the appliance raises what seawall replay raises");
    let m = app.metrics();
    assert_eq!(
        metric_sum(&m, "seawall_detect_verdicts_total", &["action=\"pass\""]),
        sent.len() as f64
    );
    assert_eq!(metric_sum(&m, "seawall_dataplane_drops_total", &[]), 0.0);
}

#[test]
fn ips_drop_drops_the_rest_of_the_flow_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let detect = format!("{}\nmode = \"ips\"", rules_list(&[data("ips/drop.rules")]));
    let app = start(2, dir.path(), &detect, "");
    // The attack capture followed by an unrelated one: only the attack flow's tail is dropped.
    let mut sent = wrap(&testmyids(), 0x05ea_3a11_e0d0_0001, 2);
    sent.extend(wrap(
        &corpus_dir().join("pcaps/proto/http-gzip.pcap"),
        0x05ea_3a11_e0d0_0001,
        3,
    ));
    let drops = expected_drops(&sent, ROOT);
    assert!(!drops.is_empty() && drops.len() < sent.len());
    let ex = exchange(&app, &sent);
    let (back, other) = returned(&sent, &ex);
    for (i, &b) in back.iter().enumerate() {
        assert_eq!(
            b,
            !drops.contains(&i),
            "datagram {i} (expected drops {drops:?})"
        );
    }
    assert!(other.is_empty(), "drop injects nothing");
    let m = app.metrics();
    assert_eq!(
        metric_sum(
            &m,
            "seawall_dataplane_drops_total",
            &["reason=\"verdict_drop\""]
        ),
        drops.len() as f64
    );
    let alerts = settled_alerts(&app, &dir.path().join("out/eve.json"));
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].0 .0, 9090001);
    assert_eq!(alerts[0].1["alert"]["action"], "blocked");
}

#[test]
fn ips_reject_injects_a_reset_riding_the_flow_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let detect = format!(
        "{}\nmode = \"ips\"",
        rules_list(&[data("ips/reject.rules")])
    );
    let app = start(1, dir.path(), &detect, "");
    let sent = wrap(&testmyids(), 0x05ea_3a11_e0d0_0001, 4);
    let drops = expected_drops(&sent, ROOT);
    let first = drops[0];
    let ex = exchange(&app, &sent);
    let (back, other) = returned(&sent, &ex);
    for (i, &b) in back.iter().enumerate() {
        assert_eq!(b, !drops.contains(&i), "datagram {i}");
    }
    assert_eq!(other.len(), 1, "exactly one injected reset");
    let rst = &other[0];
    let offending = &sent[first].bytes;
    let off = parse_gwlb(offending).expect("offending datagram");
    let frame = parse_gwlb(rst).expect("the reset has a valid GENEVE header");
    // The flow's latest header toward the client: in the simulator every datagram of a flow
    // carries the same header (same cookie), so it equals the offending datagram's, byte for byte.
    assert_eq!(&rst[..frame.geneve_len], &offending[..off.geneve_len]);
    assert_eq!(frame.meta.cookie, off.meta.cookie);
    let bad = decode_inner(off.protocol, off.inner).expect("offending inner");
    let pkt = decode_inner(frame.protocol, frame.inner).expect("reset inner decodes");
    assert_eq!((pkt.src, pkt.dst), (bad.dst, bad.src), "toward the sender");
    match (pkt.transport, bad.transport) {
        (
            Transport::Tcp {
                flags, seq, ports, ..
            },
            Transport::Tcp { ack, ports: bp, .. },
        ) => {
            assert!(flags.rst());
            assert!(flags.contains(TcpFlags::ACK));
            assert_eq!(seq, ack);
            assert_eq!((ports.src, ports.dst), (bp.dst, bp.src));
        }
        other => panic!("not TCP: {other:?}"),
    }
    assert_eq!(
        seawall_wire::checksum::transport_valid(&pkt),
        Some(true),
        "valid TCP checksum"
    );
    let m = app.metrics();
    assert_eq!(
        metric_sum(&m, "seawall_detect_rejects_injected_total", &[]),
        1.0
    );
    assert_eq!(
        metric_sum(
            &m,
            "seawall_dataplane_drops_total",
            &["reason=\"verdict_reject\""]
        ),
        1.0
    );
}

/// A reject raised on a packet decapsulated from a tunnel inside the GWLB traffic (GRE, VXLAN,
/// GENEVE; repo capture tests/data/tunnels): the datagram is dropped but no reset is injected
/// (one built from the inner packet would travel without the tunnel's encapsulation), the skip
/// is counted, and the decode counters show the tunnels on /metrics.
#[test]
fn ips_reject_on_a_tunnel_packet_drops_without_injecting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("tunnel-reject.rules");
    std::fs::write(
        &rules,
        "reject icmp any any -> any any (msg:\"SEAWALL TEST reject echo\"; itype:8; sid:9090010; rev:1;)\n",
    )
    .expect("write rules");
    let detect = format!("{}\nmode = \"ips\"", rules_list(&[rules]));
    let app = start(1, dir.path(), &detect, "");
    let sent = wrap(&data("tunnels/input.pcap"), 0x05ea_3a11_e0d0_0001, 5);
    assert_eq!(sent.len(), 9);
    // ICMP echo requests inside VXLAN (1), GRE (3, 6), GENEVE (7) and GRE in GRE (8).
    let drops = [0, 2, 5, 6, 7];
    let ex = exchange(&app, &sent);
    let (back, other) = returned(&sent, &ex);
    for (i, &b) in back.iter().enumerate() {
        assert_eq!(b, !drops.contains(&i), "datagram {i}");
    }
    assert!(other.is_empty(), "nothing injected: {other:?}");
    let m = app.metrics();
    assert_eq!(
        metric_sum(&m, "seawall_detect_rejects_injected_total", &[]),
        0.0
    );
    assert_eq!(
        metric_sum(
            &m,
            "seawall_detect_rejects_skipped_total",
            &["reason=\"tunnel\""]
        ),
        drops.len() as f64
    );
    assert_eq!(
        metric_sum(
            &m,
            "seawall_dataplane_drops_total",
            &["reason=\"verdict_reject\""]
        ),
        drops.len() as f64
    );
    assert_eq!(
        metric_sum(&m, "seawall_decode_tunnels_total", &["kind=\"gre\""]),
        4.0
    );
    assert_eq!(
        metric_sum(
            &m,
            "seawall_decode_tunnel_errors_total",
            &["reason=\"gre_unknown_protocol\""]
        ),
        1.0
    );
}

/// IPv4 packet (header checksum filled in) carrying `payload` as protocol `proto`.
fn ipv4_packet(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).expect("small packet");
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let mut sum: u32 = p
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let sum = u16::try_from(sum).expect("folded");
    p[10..12].copy_from_slice(&(!sum).to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// UDP `src:sport -> dst:dport` carrying `body` (checksum 0: none), inside GRE between the
/// customer's routers 192.0.2.1 and 192.0.2.2 (`up`: from .1 to .2).
fn gre_udp(up: bool, src: ([u8; 4], u16), dst: ([u8; 4], u16), body: &[u8]) -> Vec<u8> {
    let mut udp = Vec::with_capacity(8 + body.len());
    udp.extend_from_slice(&src.1.to_be_bytes());
    udp.extend_from_slice(&dst.1.to_be_bytes());
    udp.extend_from_slice(&u16::try_from(8 + body.len()).expect("small").to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(body);
    let mut gre = vec![0, 0, 0x08, 0x00];
    gre.extend_from_slice(&ipv4_packet(17, src.0, dst.0, &udp));
    let (r1, r2) = ([192, 0, 2, 1], [192, 0, 2, 2]);
    let (o_src, o_dst) = if up { (r1, r2) } else { (r2, r1) };
    ipv4_packet(47, o_src, o_dst, &gre)
}

/// A drop on a packet inside a GRE tunnel carried by GWLB drops that inner flow only, as
/// Suricata's flow drop flag: the inner flow's later packets (both directions, even without the
/// matching payload) are dropped, while another inner flow of the same tunnel comes back byte
/// for byte; the tunnel itself (the carrier's flow) is not blocked.
#[test]
fn ips_drop_on_a_tunnel_packet_drops_the_inner_flow_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("tunnel-drop.rules");
    std::fs::write(
        &rules,
        "drop udp any any -> any any (msg:\"SEAWALL TEST drop evil\"; content:\"evil-payload\"; sid:9090011; rev:1;)\n",
    )
    .expect("write rules");
    let detect = format!("{}\nmode = \"ips\"", rules_list(&[rules]));
    let app = start(1, dir.path(), &detect, "");
    let (client, server) = ([10, 0, 1, 1], [10, 0, 1, 2]);
    let (a, b) = ((client, 1234), (client, 1235));
    let dns = (server, 53);
    let packets = [
        gre_udp(true, a, dns, b"evil-payload"), // 0: A matches: dropped
        gre_udp(true, b, dns, b"query b"),      // 1: B passes
        gre_udp(true, a, dns, b"query a"),      // 2: A stays dropped
        gre_udp(false, dns, b, b"answer b"),    // 3: B's answer passes
        gre_udp(false, dns, a, b"answer a"),    // 4: A's answer is dropped
        gre_udp(true, b, dns, b"query b 2"),    // 5: B passes
        gre_udp(true, a, dns, b"query a 2"),    // 6: A stays dropped
    ];
    let packets: Vec<InnerPacket> = packets
        .into_iter()
        .zip(1u64..)
        .map(|(bytes, i)| InnerPacket {
            ts: Duration::from_secs(1_700_000_000 + i),
            bytes,
        })
        .collect();
    let sent = wrap_all(
        &packets,
        &WrapConfig {
            endpoint_id: 0x05ea_3a11_e0d0_0001,
            seed: Some(6),
            ..WrapConfig::default()
        },
    );
    let drops = [0, 2, 4, 6];
    let ex = exchange(&app, &sent);
    let (back, other) = returned(&sent, &ex);
    for (i, &b) in back.iter().enumerate() {
        assert_eq!(b, !drops.contains(&i), "datagram {i}");
    }
    assert!(other.is_empty(), "drop injects nothing: {other:?}");
    let m = app.metrics();
    assert_eq!(
        metric_sum(
            &m,
            "seawall_dataplane_drops_total",
            &["reason=\"verdict_drop\""]
        ),
        drops.len() as f64
    );
    assert_eq!(
        metric_sum(&m, "seawall_decode_tunnels_total", &["kind=\"gre\""]),
        packets.len() as f64
    );
    let alerts = settled_alerts(&app, &dir.path().join("out/eve.json"));
    assert_eq!(alerts.len(), 1, "one alert, on the matching packet");
    assert_eq!(alerts[0].0 .0, 9090011);
    assert_eq!(alerts[0].1["alert"]["action"], "blocked");
    // As Suricata logs a packet out of a GRE tunnel: its decoder and the root packet's tuple.
    assert_eq!(alerts[0].1["pkt_src"], "gre tunnel");
    assert_eq!(alerts[0].1["tunnel"]["src_ip"], "192.0.2.1");
    assert_eq!(alerts[0].1["tunnel"]["proto"], "GRE");
    assert_eq!(alerts[0].1["tunnel"]["depth"], 1);
}

#[test]
fn reload_under_load_loses_nothing_switches_rules_and_keeps_them_on_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("live.rules");
    std::fs::write(
        &rules,
        "alert tcp any any -> any any (msg:\"old set\"; content:\"never-in-this-traffic\"; sid:9090010; rev:1;)\n",
    )
    .expect("write rules");
    let app = start(2, dir.path(), &rules_list(std::slice::from_ref(&rules)), "");
    // Before any token: 401 without the header.
    assert_eq!(post(app.api, "/api/v1/rules/reload", None).0, 401);

    let pcap = testmyids();
    let target = app.geneve;
    let load = std::thread::spawn(move || {
        let cfg = seawall_sim::SimConfig {
            target,
            pcap,
            loops: 3000,
            timeout: 5.0,
            ..seawall_sim::SimConfig::default()
        };
        seawall_sim::run(&cfg, false).expect("simulator run")
    });
    // Reload once traffic flows.
    app.wait_metric_above("seawall_dataplane_packets_received_total", 1000.0);
    std::fs::write(
        &rules,
        "alert tcp any any -> any any (msg:\"new set\"; content:\"uid=0|28|root|29|\"; sid:9090011; rev:1;)\n",
    )
    .expect("rewrite rules");
    let (status, body) = post(app.api, "/api/v1/rules/reload", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], true);
    assert_eq!(body["generation"], 2);
    // A broken rule file keeps the running set, and the answer says why.
    std::fs::write(
        &rules,
        "alert tcp any any -> any any (msg:\"broken\"; sid:;)\n",
    )
    .expect("break rules");
    let (status, body) = post(app.api, "/api/v1/rules/reload", Some(TOKEN));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["ok"], false);
    assert_eq!(body["generation"], 2);
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("live.rules"),
        "{body}"
    );
    let report = load.join().expect("load thread");
    assert_eq!(report.returned, report.sent, "no packet lost: {report}");
    assert_eq!(report.corrupt + report.duplicate + report.misdirected, 0);
    // One more pass after both reloads: the set loaded by the good reload still runs.
    let after = wrap(&testmyids(), 0x05ea_3a11_e0d0_0001, 7);
    let ex = exchange(&app, &after);
    assert_eq!(ex.report.returned, after.len() as u64);

    let alerts = settled_alerts(&app, &dir.path().join("out/eve.json"));
    let new = alerts.iter().filter(|(k, _)| k.0 == 9090011).count();
    assert!(new > 0, "the new set raises its alert after the reload");
    // At least 100 passes (1000 packets) ran with the old set before the reload.
    assert!(
        new <= 3001 - 100,
        "the old set ran before the reload: {new} alerts"
    );
    assert!(alerts.iter().all(|(k, _)| k.0 == 9090011));
    let m = app.metrics();
    assert_eq!(
        metric_sum(&m, "seawall_detect_rule_reloads_total", &["result=\"ok\""]),
        2.0
    );
    assert_eq!(
        metric_sum(
            &m,
            "seawall_detect_rule_reloads_total",
            &["result=\"failed\""]
        ),
        1.0
    );
    // SIGHUP reloads too; the file is still broken: counted as failed, old set kept.
    app.signal("HUP");
    app.wait_metric(
        "seawall_detect_rule_reloads_total",
        &["result=\"failed\""],
        2.0,
    );
    assert_eq!(
        metric_sum(&app.metrics(), "seawall_detect_rules_loaded", &[]),
        1.0
    );
}

/// `detect.threshold_file`: its `suppress` silences a rule from the start; a reload re-reads it;
/// a threshold file with a line that does not parse fails the reload (naming the file and the
/// line) and the running rules, with their suppression, stay.
#[test]
fn threshold_file_suppresses_and_reloads_and_a_broken_one_keeps_the_running_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("root.rules");
    std::fs::write(
        &rules,
        "alert tcp any any -> any any (msg:\"root a\"; content:\"uid=0|28|root|29|\"; sid:9090020; rev:1;)\n\
         alert tcp any any -> any any (msg:\"root b\"; content:\"uid=0|28|root|29|\"; sid:9090021; rev:1;)\n",
    )
    .expect("write rules");
    let thr = dir.path().join("threshold.config");
    std::fs::write(&thr, "suppress gen_id 1, sig_id 9090021\n").expect("write threshold");
    let detect = format!(
        "{}\nthreshold_file = \"{}\"",
        rules_list(std::slice::from_ref(&rules)),
        thr.display()
    );
    let app = start(1, dir.path(), &detect, "");
    let eve = dir.path().join("out/eve.json");
    let sids = |app: &Appliance| -> (usize, usize) {
        let alerts = settled_alerts(app, &eve);
        let n = |sid: u64| alerts.iter().filter(|(k, _)| k.0 == sid).count();
        (n(9090020), n(9090021))
    };
    let pass = |app: &Appliance, seed: u64| {
        let sent = wrap(&testmyids(), 0x05ea_3a11_e0d0_0001, seed);
        let ex = exchange(app, &sent);
        assert_eq!(ex.report.returned, sent.len() as u64, "{}", ex.report);
    };

    pass(&app, 1);
    let (a, b) = sids(&app);
    assert!(a > 0 && b == 0, "sid 9090021 suppressed: {a} / {b}");

    // Suppress the other one instead: a reload re-reads the threshold file.
    std::fs::write(&thr, "suppress gen_id 1, sig_id 9090020\n").expect("rewrite threshold");
    let (status, body) = post(app.api, "/api/v1/rules/reload", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["generation"], 2);
    pass(&app, 2);
    let (a2, b2) = sids(&app);
    assert!(a2 == a && b2 > 0, "after the reload: {a2} / {b2}");

    // A broken line: the reload fails naming the file and the line; generation 2 runs on.
    std::fs::write(
        &thr,
        "suppress gen_id 1, sig_id 9090020\nsuppress gen_id 1, sig_id 9090021, track by_nobody\n",
    )
    .expect("break threshold");
    let (status, body) = post(app.api, "/api/v1/rules/reload", Some(TOKEN));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["generation"], 2);
    let msg = body["message"].as_str().expect("message");
    assert!(
        msg.contains("threshold.config") && msg.contains("line 2"),
        "{body}"
    );
    pass(&app, 3);
    let (a3, b3) = sids(&app);
    assert!(a3 == a && b3 > b2, "the running set stays: {a3} / {b3}");
    // SIGHUP re-reads the same broken file: failed, counted.
    app.signal("HUP");
    app.wait_metric(
        "seawall_detect_rule_reloads_total",
        &["result=\"failed\""],
        2.0,
    );
}

#[test]
fn two_endpoints_with_different_profiles_get_different_verdicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let detect = rules_list(&[data("ips/drop.rules")]);
    let more = "[[profiles]]\nname = \"zone-ips\"\nendpoints = [\"vpce-00000000000000a11\"]\nmode = \"ips\"\n\
                [[profiles]]\nname = \"zone-ids\"\nendpoints = [\"0x0b22\"]\nmode = \"ids\"\n";
    let app = start(2, dir.path(), &detect, more);
    let pcap = testmyids();
    let ips = wrap(&pcap, 0xa11, 5);
    let ids = wrap(&pcap, 0xb22, 6);
    let drops = expected_drops(&ips, ROOT);
    let ex = exchange(&app, &ips);
    assert_eq!(ex.report.returned, (ips.len() - drops.len()) as u64);
    let ex = exchange(&app, &ids);
    assert_eq!(ex.report.returned, ids.len() as u64);
    let alerts = settled_alerts(&app, &dir.path().join("out/eve.json"));
    let by_profile: BTreeMap<String, String> = alerts
        .iter()
        .map(|(_, v)| {
            (
                v["seawall"]["profile"]
                    .as_str()
                    .expect("profile")
                    .to_owned(),
                v["alert"]["action"].as_str().expect("action").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        by_profile.get("zone-ips").map(String::as_str),
        Some("blocked")
    );
    assert_eq!(
        by_profile.get("zone-ids").map(String::as_str),
        Some("allowed")
    );
    assert_eq!(alerts.len(), 2);
}

/// Both directions of every flow reach one worker: with two workers, the flows created (summed
/// over the workers) equal those one worker creates for the same traffic. A flow whose reply
/// went to the other worker would be created there a second time (midstream pickup is on).
#[test]
fn both_directions_of_every_flow_land_on_one_worker() {
    let pcap = corpus_dir().join("pcaps/proto/tls-73-ciphersuites.pcap");
    let mut created = Vec::new();
    for workers in [1, 2] {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = start(workers, dir.path(), "", "");
        let cfg = seawall_sim::SimConfig {
            target: app.geneve,
            pcap: pcap.clone(),
            timeout: 5.0,
            ..seawall_sim::SimConfig::default()
        };
        let report = seawall_sim::run(&cfg, false).expect("simulator run");
        assert_eq!(report.returned, report.sent, "{report}");
        let m = app.metrics();
        let total = metric_sum(&m, "seawall_flow_created_total", &[]);
        if workers == 2 {
            for w in 0..2 {
                let per = metric_sum(
                    &m,
                    "seawall_flow_created_total",
                    &[&format!("worker=\"{w}\"")],
                );
                assert!(
                    per > 0.0,
                    "worker {w} carried no flow: the test would prove nothing"
                );
            }
        }
        created.push(total);
    }
    assert!(created[0] > 50.0, "{created:?}");
    assert_eq!(created[0], created[1], "flows split across workers");
}

trait WaitAbove {
    fn wait_metric_above(&self, name: &str, min: f64);
}

impl WaitAbove for Appliance {
    fn wait_metric_above(&self, name: &str, min: f64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while metric_sum(&self.metrics(), name, &[]) < min {
            assert!(Instant::now() < deadline, "{name} never passed {min}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
