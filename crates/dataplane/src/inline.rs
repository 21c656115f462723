//! Inline inspection inside a worker: every valid GENEVE datagram's inner packet goes through the
//! worker's [`Inspector`] of the datagram's profile (the same pipeline `seawall replay` runs), and
//! the profile's mode turns the engine's verdict into "return it" or "drop it".
//!
//! Per worker: one [`Inspector`] per profile (flow table, defragmenter, detection scratch), the
//! [`HeaderTable`] for rejects (when a profile is in IPS mode), a sender of the evidence queue,
//! and its metric handles. The engines are read from the [`RuleManager`]'s `ArcSwap` once per
//! batch ([`Inline::refresh`]); a new set is installed between two batches, so a reload never
//! loses or half-inspects a packet.
//!
//! In IPS mode a `reject` injects its reset (or ICMP unreachable) behind the flow's GENEVE header,
//! except when the alert is on a packet decapsulated from a tunnel inside the customer's traffic
//! (GRE, VXLAN, ...): a reset built from the inner packet's addresses would travel without the
//! tunnel's encapsulation, so none is sent (counted as `seawall_detect_rejects_skipped_total`
//! `{reason="tunnel"}`); the datagram is dropped all the same. A drop or reject on such a packet
//! drops the rest of that inner flow (a flag on its state in the inspector's flow table), not the
//! carrier's flow: the tunnel's other flows pass. A drop on the datagram's own packet drops the
//! rest of its flow before inspection ([`DroppedFlows`]). Alerts on tunnel packets carry Suricata's
//! `pkt_src` and `tunnel` objects ([`crate::eve_source`]).
//!
//! The per-packet path allocates nothing in steady state, takes no lock shared with other
//! workers and logs nothing: counts are kept in [`BatchStats`] and published once per batch,
//! with the inspectors' decode counters (tunnels, tunnel errors, decode errors, fragments,
//! defragmenter drops, flowless packets; see `seawall_telemetry::DecodeWorkerMetrics`).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use seawall_detect::{RejectKind, Verdict as EngineVerdict};
use seawall_evidence::Direction;
use seawall_flow::{FlowKey, Timestamp};
use seawall_io::WorkerSocket;
use seawall_rules::ast::Action;
use seawall_telemetry::{
    AlertCounts, DecodeFamily, DecodeWorkerMetrics, DetectMetrics, DetectWorkerMetrics, Exceptions,
    FlowTotals,
};
use seawall_wire::craft::{self, Toward, MAX_CRAFTED_LEN};
use seawall_wire::{decode_inner, parse_gwlb, Transport};

use crate::dropped::DroppedFlows;
use crate::evidence::AlertMsg;
use crate::headers::{HeaderTable, MAX_GENEVE_HEADER};
use crate::inspect::{AlertEvent, InspectConfig, InspectError, Inspector};
use crate::policy::{Mode, Policy, RuleManager};
use crate::{reason, AllowList, MalformedPolicy, Verdict};

/// Everything the workers need to inspect: built by the binary, shared by every worker.
#[derive(Clone)]
pub struct InlineSetup {
    /// Profiles: endpoint → profile, modes, exception handling.
    pub policy: Arc<Policy>,
    /// The rule sets.
    pub rules: Arc<RuleManager>,
    /// Inspector settings (flow table, defragmenter); midstream should be on.
    pub inspect: InspectConfig,
    /// Inspection metrics (registered for at least as many workers).
    pub metrics: DetectMetrics,
    /// The evidence queue; `None` discards alerts (still counted).
    pub evidence: Option<Sender<AlertMsg>>,
    /// Entries of each worker's header table (used when a profile is in IPS mode).
    pub header_table_flows: usize,
}

impl std::fmt::Debug for InlineSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineSetup")
            .field("profiles", &self.policy.names)
            .finish()
    }
}

/// One batch's counts, published once per batch.
#[derive(Debug, Default)]
pub(crate) struct BatchStats {
    pass: u64,
    drop: u64,
    reject: u64,
    alerts: AlertCounts,
    exceptions: Exceptions,
    queued: u64,
    alerts_dropped: u64,
    injected: u64,
    inject_failed: [u64; 3],
    /// Rejects not injected because the alert was on a tunnel packet (`INJECT_SKIPS[0]`).
    inject_skipped_tunnel: u64,
}

/// A worker's inline inspection state.
pub(crate) struct Inline {
    index: usize,
    policy: Arc<Policy>,
    rules: Arc<RuleManager>,
    generation: u64,
    inspectors: Vec<Inspector>,
    headers: Option<HeaderTable>,
    header_evictions: u64,
    /// Flows an IPS verdict dropped (IPS profiles only).
    dropped: Option<DroppedFlows>,
    dropped_evictions: u64,
    evidence: Option<Sender<AlertMsg>>,
    metrics: DetectWorkerMetrics,
    /// The inspectors' decode counters (tunnels, decode errors, fragments, ...).
    decode: Option<DecodeWorkerMetrics>,
    /// The datagram being injected: header + crafted packet.
    inject: Vec<u8>,
    stats: BatchStats,
    last_expire: Instant,
}

fn to_ts(now: std::time::SystemTime) -> Timestamp {
    let us = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    Timestamp(us)
}

const fn alert_index(a: Action) -> usize {
    match a {
        Action::Alert => 0,
        Action::Drop => 1,
        Action::Reject | Action::RejectSrc | Action::RejectDst | Action::RejectBoth => 2,
        Action::Pass => 3,
    }
}

fn defrag_hits(insp: &Inspector) -> u64 {
    let d = &insp.counters_view().defrag_drops;
    d.get("defrag_memcap").copied().unwrap_or(0) + d.get("defrag_limit").copied().unwrap_or(0)
}

/// The packet a datagram carries, for the alert sink and the reject injector.
struct Datagram<'a> {
    header: &'a [u8],
    peer: SocketAddrV4,
    local: Ipv4Addr,
}

impl Inline {
    pub(crate) fn new(
        setup: &InlineSetup,
        index: usize,
        metrics: DetectWorkerMetrics,
    ) -> Result<Self, InspectError> {
        let set = setup.rules.current();
        let mut inspectors = Vec::with_capacity(set.profiles.len());
        for (i, p) in set.profiles.iter().enumerate() {
            let mut insp = Inspector::new(p.engine.clone(), &setup.inspect)?;
            // IPS: a drop on a packet out of a tunnel drops that inner flow, not the tunnel.
            insp.set_drop_tunnel_flows(setup.policy.modes.get(i) == Some(&Mode::Ips));
            inspectors.push(insp);
        }
        if let Some(a) = setup.rules.acks().get(index) {
            a.store(set.generation, Ordering::Release);
        }
        Ok(Inline {
            index,
            policy: setup.policy.clone(),
            rules: setup.rules.clone(),
            generation: set.generation,
            inspectors,
            headers: setup
                .policy
                .any_ips()
                .then(|| HeaderTable::new(setup.header_table_flows)),
            header_evictions: 0,
            dropped: setup
                .policy
                .any_ips()
                .then(|| DroppedFlows::new(setup.header_table_flows)),
            dropped_evictions: 0,
            evidence: setup.evidence.clone(),
            metrics,
            decode: setup.metrics.decode_worker(index),
            inject: vec![0; MAX_GENEVE_HEADER + MAX_CRAFTED_LEN],
            stats: BatchStats::default(),
            last_expire: Instant::now(),
        })
    }

    /// At a batch boundary: installs a newly published rule set, and (when idle for a while)
    /// expires idle flows.
    pub(crate) fn refresh(&mut self, idle: bool) {
        let guard = self.rules.engines().load();
        if guard.generation != self.generation {
            for (insp, p) in self.inspectors.iter_mut().zip(&guard.profiles) {
                insp.set_engine(p.engine.clone());
            }
            self.generation = guard.generation;
            if let Some(a) = self.rules.acks().get(self.index) {
                a.store(self.generation, Ordering::Release);
            }
        }
        drop(guard);
        if idle && self.last_expire.elapsed() >= Duration::from_secs(1) {
            let now = to_ts(std::time::SystemTime::now());
            for insp in &mut self.inspectors {
                insp.expire(now);
            }
            self.last_expire = Instant::now();
            self.publish_flows();
        }
    }

    fn publish_flows(&mut self) {
        let mut t = FlowTotals::default();
        for insp in &self.inspectors {
            let c = insp.flow_table().counters();
            t.active += c.active;
            t.created += c.created;
            t.evicted[0] += c.timed_out;
            t.evicted[1] += c.evicted_closed;
            t.evicted[2] += c.evicted_new;
            t.evicted[3] += c.evicted_established;
            t.evicted[4] += c.reused;
        }
        self.metrics.flows(&t);
        let dropped_evictions = self.dropped.as_ref().map_or(0, DroppedFlows::evictions);
        if dropped_evictions > self.dropped_evictions {
            self.metrics
                .header_evictions(dropped_evictions - self.dropped_evictions);
            self.dropped_evictions = dropped_evictions;
        }
        if let Some(h) = &self.headers {
            let e = h.evictions();
            if e > self.header_evictions {
                self.metrics.header_evictions(e - self.header_evictions);
                self.header_evictions = e;
            }
        }
    }

    /// Packet time for a batch received now.
    pub(crate) fn batch_time() -> Timestamp {
        to_ts(std::time::SystemTime::now())
    }

    /// Publishes one batch's counts and its inspection time.
    pub(crate) fn end_batch(&mut self, elapsed: Duration) {
        let s = std::mem::take(&mut self.stats);
        self.metrics.batch(
            seawall_telemetry::Verdicts {
                pass: s.pass,
                drop: s.drop,
                reject: s.reject,
            },
            &s.alerts,
            elapsed,
        );
        self.metrics.exceptions(&s.exceptions);
        self.metrics.evidence(s.queued, s.alerts_dropped);
        if s.injected > 0 {
            self.metrics.injected(s.injected);
        }
        for (i, &n) in s.inject_failed.iter().enumerate() {
            if n > 0 {
                self.metrics.inject_failed(i, n);
            }
        }
        if s.inject_skipped_tunnel > 0 {
            self.metrics.inject_skipped(0, s.inject_skipped_tunnel);
        }
        self.publish_flows();
        self.publish_decode();
    }

    /// The inspectors' decode totals, summed over the profiles, into the decode counters.
    fn publish_decode(&mut self) {
        let Some(d) = &mut self.decode else {
            return;
        };
        d.begin();
        for insp in &self.inspectors {
            let c = insp.counters_view();
            d.add_fragments(c.fragments, c.reassembled);
            for (family, totals) in [
                (DecodeFamily::Tunnels, &c.tunnels),
                (DecodeFamily::TunnelErrors, &c.tunnel_errors),
                (DecodeFamily::DecodeErrors, &c.decode_errors),
                (DecodeFamily::DefragDrops, &c.defrag_drops),
                (DecodeFamily::Untracked, &c.untracked),
            ] {
                for (&label, &n) in totals {
                    d.add(family, label, n);
                }
            }
        }
        d.publish();
    }

    /// Classifies and inspects one datagram; the verdict says whether it goes back.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn packet(
        &mut self,
        payload: &[u8],
        peer: SocketAddrV4,
        local: Ipv4Addr,
        truncated: bool,
        allow: &AllowList,
        socket: &WorkerSocket,
        ts: Timestamp,
    ) -> Verdict {
        if truncated {
            return Verdict::Drop(reason::OVERSIZE);
        }
        if !allow.allows(*peer.ip()) {
            return Verdict::Drop(reason::NOT_ALLOWED);
        }
        let frame = match parse_gwlb(payload) {
            Ok(f) => f,
            Err(e) => return Verdict::Drop(e.reason()),
        };
        let endpoint = frame.meta.endpoint.0;
        let profile = self.policy.profile_of(endpoint);
        let mode = self.policy.modes[profile];
        let ips = mode == Mode::Ips;
        let pkt = match decode_inner(frame.protocol, frame.inner) {
            Ok(p) => p,
            Err(e) => {
                let drop = self.policy.malformed[profile] == MalformedPolicy::Drop;
                self.stats.exceptions[0][usize::from(drop)] += 1;
                return if drop {
                    Verdict::Drop(e.reason())
                } else {
                    Verdict::PassMalformed(e.reason())
                };
            }
        };
        let header = &payload[..frame.geneve_len.min(payload.len())];
        let fragment = pkt.fragment.is_some();
        let flow_key = (ips && !fragment).then(|| FlowKey::from_tuple(endpoint, &pkt.five_tuple()));
        if let Some((key, src_is_lo)) = &flow_key {
            // The rest of a dropped flow is dropped uninspected.
            if self.dropped.as_mut().is_some_and(|d| d.contains(key, ts)) {
                self.stats.drop += 1;
                return Verdict::Drop(reason::VERDICT_DROP);
            }
            if let Some(h) = &mut self.headers {
                h.record(key, *src_is_lo, header, peer, local);
            }
        }
        let Inline {
            inspectors,
            headers,
            evidence,
            stats,
            inject,
            ..
        } = self;
        let insp = &mut inspectors[profile];
        let before = if fragment { defrag_hits(insp) } else { 0 };
        let dgram = Datagram {
            header,
            peer,
            local,
        };
        let mut sink = |ev: &AlertEvent<'_>| {
            let blocked = ips && !matches!(ev.verdict, EngineVerdict::Pass);
            for a in ev.alerts {
                stats.alerts[alert_index(a.action)] += 1;
                let Some(tx) = evidence else {
                    stats.alerts_dropped += 1;
                    continue;
                };
                let m = alert_msg(ev, a, blocked, profile);
                match tx.try_send(m) {
                    Ok(()) => stats.queued += 1,
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                        stats.alerts_dropped += 1;
                    }
                }
            }
            if let (true, EngineVerdict::Reject(kind)) = (ips, ev.verdict) {
                // A packet decapsulated from a tunnel inside the customer's traffic: a reset
                // built from its addresses would leave without the tunnel's encapsulation, on
                // a network that only knows the carrier. The datagram is still dropped.
                if ev.tunnel.is_some() {
                    stats.inject_skipped_tunnel += reject_packets(kind);
                    return;
                }
                inject_reject(
                    ev,
                    kind,
                    endpoint,
                    &dgram,
                    headers.as_ref(),
                    socket,
                    inject,
                    stats,
                );
            }
        };
        let v = insp.process_gwlb(ts, frame.meta, frame.protocol, frame.inner, &mut sink);
        match v {
            EngineVerdict::Pass => stats.pass += 1,
            EngineVerdict::Drop => stats.drop += 1,
            EngineVerdict::Reject(_) => stats.reject += 1,
        }
        if fragment && defrag_hits(insp) > before {
            let drop = self.policy.exception_drops[profile];
            self.stats.exceptions[1][usize::from(drop)] += 1;
            if drop {
                return Verdict::Drop(reason::DEFRAG_EXCEPTION);
            }
        }
        // The datagram's own flow is remembered only when its own packet was blocked: a drop on
        // a packet of a tunnel it carries marks that inner flow (in the inspector's flow table),
        // so the tunnel's other flows pass.
        if let (Some((key, _)), true) = (&flow_key, self.inspectors[profile].outer_blocked()) {
            if let Some(d) = &mut self.dropped {
                d.insert(key, ts);
            }
        }
        match (ips, v) {
            (true, EngineVerdict::Drop) => Verdict::Drop(reason::VERDICT_DROP),
            (true, EngineVerdict::Reject(_)) => Verdict::Drop(reason::VERDICT_REJECT),
            _ => Verdict::Pass,
        }
    }
}

fn alert_msg(
    ev: &AlertEvent<'_>,
    a: &seawall_detect::Alert,
    blocked: bool,
    profile: usize,
) -> AlertMsg {
    let pkt = ev.pkt;
    let t = pkt.five_tuple();
    let (pkt_src, tunnel) = crate::eve_source::of(ev, 0);
    let (sport, dport, icmp) = if pkt.fragment.is_some() {
        (0, 0, None)
    } else {
        match pkt.transport {
            Transport::Icmp { ty, code, .. } => (0, 0, Some((ty, code))),
            _ => (t.src_port, t.dst_port, None),
        }
    };
    AlertMsg {
        ts_us: ev.ts.as_micros(),
        flow_id: ev.flow.map(|f| f.flow_id),
        src: pkt.src,
        sport,
        dst: pkt.dst,
        dport,
        proto: pkt.ip_proto,
        icmp,
        direction: ev.flow.map(|f| match f.direction {
            seawall_flow::Direction::ToServer => Direction::ToServer,
            seawall_flow::Direction::ToClient => Direction::ToClient,
        }),
        blocked: blocked && !matches!(a.action, Action::Alert | Action::Pass),
        gid: a.gid,
        sid: a.sid,
        rev: a.rev,
        msg: a.msg.clone(),
        classtype: a.classtype.clone(),
        priority: a.priority,
        gwlb: ev.gwlb.unwrap_or_default(),
        profile: u16::try_from(profile).unwrap_or(0),
        pkt_src,
        tunnel,
    }
}

/// How many packets a reject of `kind` sends.
const fn reject_packets(kind: RejectKind) -> u64 {
    match kind {
        RejectKind::Src | RejectKind::Dst => 1,
        RejectKind::Both => 2,
    }
}

/// Sends the reject packet(s) `kind` asks for, each behind the latest GENEVE header of the
/// direction it travels in (falling back to the offending datagram's own header), to the GWLB
/// node that sent that header, from the address it arrived on.
#[allow(clippy::too_many_arguments)]
fn inject_reject(
    ev: &AlertEvent<'_>,
    kind: RejectKind,
    endpoint: u64,
    dgram: &Datagram<'_>,
    headers: Option<&HeaderTable>,
    socket: &WorkerSocket,
    buf: &mut [u8],
    stats: &mut BatchStats,
) {
    let towards: &[Toward] = match kind {
        RejectKind::Src => &[Toward::Source],
        RejectKind::Dst => &[Toward::Destination],
        RejectKind::Both => &[Toward::Source, Toward::Destination],
    };
    let (key, src_is_lo) = FlowKey::from_tuple(endpoint, &ev.pkt.five_tuple());
    for &t in towards {
        // A packet toward the source is sent by the destination side, and the reverse.
        let from_lo = match t {
            Toward::Source => !src_is_lo,
            Toward::Destination => src_is_lo,
        };
        let (header, peer, local) = match headers.and_then(|h| h.get(&key, from_lo)) {
            Some(s) => (s.header(), s.peer, s.local),
            None => (dgram.header, dgram.peer, dgram.local),
        };
        let hl = header.len();
        if hl == 0 || hl > MAX_GENEVE_HEADER || buf.len() < hl {
            stats.inject_failed[0] += 1;
            continue;
        }
        buf[..hl].copy_from_slice(header);
        let Some(n) = craft::reject(ev.pkt, ev.l3, t, &mut buf[hl..]) else {
            stats.inject_failed[1] += 1;
            continue;
        };
        match socket.send_to_from(&buf[..hl + n], peer, local) {
            Ok(()) => stats.injected += 1,
            Err(_) => stats.inject_failed[2] += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, UdpSocket};

    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;
    use seawall_io::SocketOptions;
    use seawall_wire::{AttachmentId, FlowCookie, GwlbEndpointId, GwlbMeta, GwlbRepr};

    use super::*;
    use crate::policy::{DetectConfig, ExceptionPolicy};
    use crate::AllowList;

    fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0];
        let total = u16::try_from(20 + payload.len()).expect("small");
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
        p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    /// UDP `src:1234 -> dst:53` carrying the payload the reject rule matches.
    fn udp(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        udp_from(src, 1234, dst, b"evil-payload")
    }

    /// UDP `src:sport -> dst:53` carrying `body`.
    fn udp_from(src: [u8; 4], sport: u16, dst: [u8; 4], body: &[u8]) -> Vec<u8> {
        let mut u = vec![0, 0, 0, 53, 0, 0, 0, 0];
        u[0..2].copy_from_slice(&sport.to_be_bytes());
        let len = u16::try_from(8 + body.len()).expect("small");
        u[4..6].copy_from_slice(&len.to_be_bytes());
        u.extend_from_slice(body);
        ipv4(17, src, dst, &u)
    }

    /// `inner` in GRE (IPv4 payload) between two routers of the customer's network.
    fn gre(inner: &[u8]) -> Vec<u8> {
        let mut g = vec![0, 0, 0x08, 0x00];
        g.extend_from_slice(inner);
        ipv4(47, [192, 0, 2, 1], [192, 0, 2, 2], &g)
    }

    fn datagram(inner: &[u8]) -> Vec<u8> {
        let meta = GwlbMeta {
            endpoint: GwlbEndpointId(0x0123_4567_89ab_cdef),
            attachment: AttachmentId(42),
            cookie: FlowCookie(0xdead_beef),
        };
        let repr = GwlbRepr::for_inner(meta, inner).expect("valid inner");
        let mut buf = vec![0u8; repr.buffer_len() + inner.len()];
        let n = repr.emit_datagram(inner, &mut buf).expect("fits");
        buf.truncate(n);
        buf
    }

    /// A reject raised on a packet decapsulated from a tunnel inside the GWLB traffic: the
    /// datagram is dropped, no reset is injected (it would leave without the tunnel's
    /// encapsulation), and the skip is counted; the same reject on a bare packet injects.
    #[test]
    fn reject_on_a_tunnel_packet_drops_without_injecting() {
        let dir = std::env::temp_dir().join(format!(
            "seawall-inline-reject-tunnel-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let rules = dir.join("reject.rules");
        std::fs::write(
            &rules,
            "reject udp any any -> any any (msg:\"evil\"; content:\"evil-payload\"; sid:1; rev:1;)\n",
        )
        .expect("rules");
        let detect = DetectConfig {
            rules: vec![rules],
            mode: Mode::Ips,
            ..DetectConfig::default()
        };
        let specs = detect.profile_specs(&[]);
        let policy = Arc::new(Policy::new(&specs, ExceptionPolicy::Auto, None));
        let manager = Arc::new(RuleManager::load(specs, 1).expect("rules load"));
        let _ = std::fs::remove_dir_all(&dir);
        let mut registry = Registry::default();
        let metrics = DetectMetrics::register(&mut registry, 1, &["default".to_owned()]);
        let setup = InlineSetup {
            policy,
            rules: manager,
            inspect: InspectConfig::appliance(),
            metrics: metrics.clone(),
            evidence: None,
            header_table_flows: 64,
        };
        let mut inline =
            Inline::new(&setup, 0, metrics.worker(0).expect("worker")).expect("inline");
        let socket = WorkerSocket::bind(
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            &SocketOptions::default(),
        )
        .expect("bind");
        let gwlb = UdpSocket::bind("127.0.0.1:0").expect("gwlb socket");
        // Only so that a missing packet fails instead of hanging.
        gwlb.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let SocketAddr::V4(peer) = gwlb.local_addr().expect("addr") else {
            panic!("ipv4 bind");
        };
        let allow = AllowList::default();
        let ts = Timestamp::from_secs(1);
        let mut send = |inner: &[u8]| {
            inline.packet(
                &datagram(inner),
                peer,
                Ipv4Addr::LOCALHOST,
                false,
                &allow,
                &socket,
                ts,
            )
        };

        // Control: the reject on a bare packet injects one ICMP unreachable.
        let bare = udp([10, 0, 0, 1], [10, 0, 0, 2]);
        assert_eq!(send(&bare), Verdict::Drop(reason::VERDICT_REJECT));
        // The same rule on the packet a GRE carrier holds: dropped, nothing injected.
        let tunnelled = gre(&udp([10, 0, 1, 1], [10, 0, 1, 2]));
        assert_eq!(send(&tunnelled), Verdict::Drop(reason::VERDICT_REJECT));
        assert_eq!(inline.stats.injected, 1);
        assert_eq!(inline.stats.inject_skipped_tunnel, 1);
        assert_eq!(inline.stats.inject_failed, [0; 3]);
        assert_eq!(inline.stats.reject, 2);
        inline.end_batch(Duration::ZERO);

        // The one injected packet is the bare packet's (toward its source).
        let mut buf = [0u8; 2048];
        let (n, _) = gwlb.recv_from(&mut buf).expect("injected reject");
        let frame = parse_gwlb(&buf[..n]).expect("geneve");
        let pkt = decode_inner(frame.protocol, frame.inner).expect("inner");
        assert_eq!(pkt.dst, core::net::IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));

        let mut text = String::new();
        encode(&mut text, &registry).expect("encode");
        for want in [
            "seawall_detect_rejects_skipped_total{worker=\"0\",reason=\"tunnel\"} 1\n",
            "seawall_detect_rejects_injected_total{worker=\"0\"} 1\n",
            "seawall_detect_verdicts_total{worker=\"0\",action=\"reject\"} 2\n",
            "seawall_decode_tunnels_total{worker=\"0\",kind=\"gre\"} 1\n",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
    }
    /// An IPS drop on a packet out of a tunnel drops that inner flow only, as Suricata's flow
    /// drop flag: later packets of the inner flow are dropped (even without the matching
    /// payload), another inner flow of the same tunnel passes, and so does the carrier's flow;
    /// a drop on a bare packet still drops the rest of its flow before inspection.
    #[test]
    fn drop_on_a_tunnel_packet_drops_the_inner_flow_only() {
        let dir =
            std::env::temp_dir().join(format!("seawall-inline-drop-tunnel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let rules = dir.join("drop.rules");
        std::fs::write(
            &rules,
            "drop udp any any -> any any (msg:\"evil\"; content:\"evil-payload\"; sid:1; rev:1;)\n",
        )
        .expect("rules");
        let detect = DetectConfig {
            rules: vec![rules],
            mode: Mode::Ips,
            ..DetectConfig::default()
        };
        let specs = detect.profile_specs(&[]);
        let policy = Arc::new(Policy::new(&specs, ExceptionPolicy::Auto, None));
        let manager = Arc::new(RuleManager::load(specs, 1).expect("rules load"));
        let _ = std::fs::remove_dir_all(&dir);
        let mut registry = Registry::default();
        let metrics = DetectMetrics::register(&mut registry, 1, &["default".to_owned()]);
        let setup = InlineSetup {
            policy,
            rules: manager,
            inspect: InspectConfig::appliance(),
            metrics: metrics.clone(),
            evidence: None,
            header_table_flows: 64,
        };
        let mut inline =
            Inline::new(&setup, 0, metrics.worker(0).expect("worker")).expect("inline");
        let socket = WorkerSocket::bind(
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            &SocketOptions::default(),
        )
        .expect("bind");
        let peer = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9);
        let allow = AllowList::default();
        let mut t = 0;
        let mut send = |inner: &[u8]| {
            t += 1;
            inline.packet(
                &datagram(inner),
                peer,
                Ipv4Addr::LOCALHOST,
                false,
                &allow,
                &socket,
                Timestamp::from_secs(t),
            )
        };
        let (a, b) = ([10, 0, 1, 1], [10, 0, 1, 2]);
        let drop = Verdict::Drop(reason::VERDICT_DROP);

        // Inner flow A (port 1234) matches the drop rule: the datagram is dropped.
        assert_eq!(send(&gre(&udp(a, b))), drop);
        // A's next packet is dropped although it no longer matches.
        assert_eq!(send(&gre(&udp_from(a, 1234, b, b"benign"))), drop);
        // Inner flow B (port 1235) in the same GRE tunnel passes, again and again.
        for _ in 0..3 {
            assert_eq!(send(&gre(&udp_from(a, 1235, b, b"benign"))), Verdict::Pass);
        }
        // A stays dropped; B still passes.
        assert_eq!(send(&gre(&udp_from(a, 1234, b, b"benign"))), drop);
        assert_eq!(send(&gre(&udp_from(a, 1235, b, b"benign"))), Verdict::Pass);

        // Bare packets: the drop marks the flow, whose later packets are dropped uninspected.
        let (c, d) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        assert_eq!(send(&udp(c, d)), drop);
        assert_eq!(send(&udp_from(c, 1234, d, b"benign")), drop);
        assert_eq!(send(&udp_from(c, 1235, d, b"benign")), Verdict::Pass);
        // Tunnel flow A's three datagrams and the bare flow's two (its second one dropped
        // before inspection).
        assert_eq!(inline.stats.drop, 5);
    }
}
