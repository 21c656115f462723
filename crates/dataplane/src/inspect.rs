//! One worker's inspection pipeline, shared by `seawall replay` and the appliance's workers:
//!
//! ```text
//! capture frame ──decode_frame──┐
//!                               ├─▶ decode_inner ─▶ Defrag (fragments) ─▶ FlowTable<FlowDetect>
//! GWLB inner packet ────────────┘                                          │
//!                                     alerts + verdict ◀── Engine::inspect ◀┘
//! ```
//!
//! Time is the packet timestamp, never the clock: flow and fragment expiry run when packet time
//! advances. Every packet that reaches the engine is handed, with its alerts, to a caller-supplied
//! sink ([`AlertEvent`]) only when it raised alerts, so the caller writes EVE records without
//! copying anything.
//!
//! Suricata parity (what `seawall replay` is compared on): fragments are inspected as packets of
//! their own (no flow), and the packet rebuilt from them is inspected once more with `pcap_cnt` 0,
//! as Suricata does with its pseudo packets. Midstream pickup is a setting ([`InspectConfig`]): off
//! for replay, as in Suricata's default config; on in the appliance.

use std::collections::BTreeMap;
use std::sync::Arc;

use seawall_detect::{Alert, DetectCtx, Engine, FlowDetect, FlowInfo, PacketInfo, Verdict};
use seawall_flow::{
    decode_frame, Defrag, DefragConfig, DefragResult, FlowConfig, FlowTable, Timestamp,
};
use seawall_wire::{decode_inner, GwlbMeta, InnerPacket};

/// Settings of one [`Inspector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectConfig {
    /// Flow table (memcap, timeouts, midstream pickup).
    pub flow: FlowConfig,
    /// Defragmenter.
    pub defrag: DefragConfig,
    /// At most this many flows are expired per second of packet time (bounded work per packet).
    pub expire_batch: usize,
}

impl InspectConfig {
    /// Offline replay compared with Suricata: Suricata's timeouts and ICMP flow key, midstream
    /// pickup as given (Suricata's default is off).
    pub fn replay(midstream: bool) -> Self {
        InspectConfig {
            flow: FlowConfig {
                midstream,
                ..FlowConfig::replay()
            },
            defrag: DefragConfig::default(),
            expire_batch: 4096,
        }
    }

    /// The appliance: midstream pickup on (GWLB moves flows between instances).
    pub fn appliance() -> Self {
        InspectConfig {
            flow: FlowConfig::default(),
            defrag: DefragConfig::default(),
            expire_batch: 4096,
        }
    }
}

/// Where a packet came from, for evidence records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    /// A capture frame: its link type and bytes (EVE `packet`).
    Capture {
        /// pcap/pcapng link type.
        linktype: u32,
        /// The whole frame.
        frame: &'a [u8],
    },
    /// A GWLB datagram's inner packet (raw IP, link type 101 in EVE).
    Gwlb,
}

/// One inspected packet that raised alerts, borrowed for the sink.
#[derive(Debug)]
pub struct AlertEvent<'a> {
    /// Packet time.
    pub ts: Timestamp,
    /// 1-based capture packet number; 0 for live traffic and for packets rebuilt from fragments.
    pub pcap_cnt: u64,
    /// The decoded packet (the rebuilt one for a completed fragment train).
    pub pkt: &'a InnerPacket<'a>,
    /// The packet's L3 bytes.
    pub l3: &'a [u8],
    /// Its flow, when tracked.
    pub flow: Option<FlowInfo>,
    /// Frame the packet came in (for a rebuilt packet: the fragment that completed it).
    pub origin: Origin<'a>,
    /// GWLB metadata (GWLB traffic, or a GENEVE capture).
    pub gwlb: Option<GwlbMeta>,
    /// True for a packet rebuilt by defragmentation.
    pub reassembled: bool,
    /// The alerts, in Suricata's order.
    pub alerts: &'a [Alert],
    /// The engine's verdict for this packet.
    pub verdict: Verdict,
}

/// Counters of one inspector (summed by the caller across workers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InspectCounters {
    /// Frames or GWLB packets handed in.
    pub packets: u64,
    /// Their bytes (frame length, or inner packet length).
    pub bytes: u64,
    /// Packets given to the engine (frames + rebuilt packets).
    pub inspected: u64,
    /// Frames that yielded no inspectable packet, by stable reason label
    /// (`link_not_ip`, `inner_truncated`, ...).
    pub decode_errors: BTreeMap<&'static str, u64>,
    /// Fragments seen.
    pub fragments: u64,
    /// Packets rebuilt from fragments.
    pub reassembled: u64,
    /// Fragments dropped by the defragmenter, by reason.
    pub defrag_drops: BTreeMap<&'static str, u64>,
    /// Packets inspected without a flow (fragments, untracked ICMP errors), by reason.
    pub untracked: BTreeMap<&'static str, u64>,
    /// Flows created.
    pub flows: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Packets whose verdict was drop or reject.
    pub dropped: u64,
}

impl InspectCounters {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &InspectCounters) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.inspected += other.inspected;
        self.fragments += other.fragments;
        self.reassembled += other.reassembled;
        self.flows += other.flows;
        self.alerts += other.alerts;
        self.dropped += other.dropped;
        for (dst, src) in [
            (&mut self.decode_errors, &other.decode_errors),
            (&mut self.defrag_drops, &other.defrag_drops),
            (&mut self.untracked, &other.untracked),
        ] {
            for (k, v) in src {
                *dst.entry(k).or_default() += v;
            }
        }
    }

    /// All decode errors.
    pub fn decode_error_total(&self) -> u64 {
        self.decode_errors.values().sum()
    }
}

/// Errors building an inspector.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// The flow table settings are unusable.
    #[error("flow table: {0}")]
    Flow(#[from] seawall_flow::ConfigError),
}

/// One worker's pipeline. Not `Sync`: one per thread; the engine is shared.
pub struct Inspector {
    engine: Arc<Engine>,
    ctx: DetectCtx,
    flows: FlowTable<FlowDetect>,
    defrag: Defrag,
    alerts: Vec<Alert>,
    counters: InspectCounters,
    expire_batch: usize,
    last_expire: Option<Timestamp>,
}

impl std::fmt::Debug for Inspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspector")
            .field("counters", &self.counters)
            .finish()
    }
}

fn bump(map: &mut BTreeMap<&'static str, u64>, reason: &'static str) {
    *map.entry(reason).or_default() += 1;
}

const fn is_pass(v: &Verdict) -> bool {
    matches!(v, Verdict::Pass)
}

impl Inspector {
    /// A pipeline around `engine`.
    pub fn new(engine: Arc<Engine>, cfg: &InspectConfig) -> Result<Self, InspectError> {
        let flows = FlowTable::new(cfg.flow)?;
        let ctx = DetectCtx::new(&engine);
        Ok(Inspector {
            engine,
            ctx,
            flows,
            defrag: Defrag::new(cfg.defrag.clone()),
            alerts: Vec::with_capacity(64),
            counters: InspectCounters::default(),
            expire_batch: cfg.expire_batch.max(1),
            last_expire: None,
        })
    }

    /// The counters so far (`flows` is read from the flow table).
    pub fn counters(&self) -> InspectCounters {
        let mut c = self.counters.clone();
        c.flows = self.flows.counters().created;
        c
    }

    /// The counters so far, borrowed (no copy; `flows` is not filled in: see
    /// [`Inspector::flow_table`]).
    pub fn counters_view(&self) -> &InspectCounters {
        &self.counters
    }

    /// Replaces the engine (a rule reload, at a batch boundary): the detection scratch is
    /// rebuilt for the new engine; flows and their per-flow state are kept.
    pub fn set_engine(&mut self, engine: Arc<Engine>) {
        self.ctx = DetectCtx::new(&engine);
        self.engine = engine;
    }

    /// The flow table (for its own counters).
    pub fn flow_table(&self) -> &FlowTable<FlowDetect> {
        &self.flows
    }

    /// Inspects one capture frame. `sink` is called for every inspected packet that raised
    /// alerts (the frame itself, and the packet it completes when it is the last fragment).
    /// Returns the frame's verdict (`Pass` for frames that carry no inspectable packet).
    pub fn process_frame(
        &mut self,
        ts: Timestamp,
        pcap_cnt: u64,
        linktype: u32,
        frame: &[u8],
        sink: &mut dyn FnMut(&AlertEvent<'_>),
    ) -> Verdict {
        self.counters.packets += 1;
        self.counters.bytes += frame.len() as u64;
        let f = match decode_frame(linktype, frame) {
            Ok(f) => f,
            Err(e) => {
                bump(&mut self.counters.decode_errors, e.reason());
                return Verdict::Pass;
            }
        };
        let endpoint = match f.gwlb {
            Some(m) => m.endpoint.0,
            None => seawall_flow::FlowKey::capture_endpoint(f.vlan),
        };
        let origin = Origin::Capture { linktype, frame };
        self.process_l3(
            ts, pcap_cnt, endpoint, f.gwlb, f.protocol, f.l3, origin, sink,
        )
    }

    /// Inspects the inner packet of a GWLB datagram (`protocol` 0x0800/0x86DD, as in the GENEVE
    /// header). Returns its verdict.
    pub fn process_gwlb(
        &mut self,
        ts: Timestamp,
        meta: GwlbMeta,
        protocol: u16,
        inner: &[u8],
        sink: &mut dyn FnMut(&AlertEvent<'_>),
    ) -> Verdict {
        self.counters.packets += 1;
        self.counters.bytes += inner.len() as u64;
        self.process_l3(
            ts,
            0,
            meta.endpoint.0,
            Some(meta),
            protocol,
            inner,
            Origin::Gwlb,
            sink,
        )
    }

    /// Expires flows and fragment trackers idle at `now` (bounded work). Called automatically
    /// as packet time advances; call it at the end of a capture or on an idle timer.
    pub fn expire(&mut self, now: Timestamp) {
        self.flows.expire(now, self.expire_batch);
        self.defrag.expire(now);
        self.last_expire = Some(now);
    }

    fn maybe_expire(&mut self, now: Timestamp) {
        match self.last_expire {
            Some(t) if now.as_secs() <= t.as_secs() => {}
            _ => self.expire(now),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn process_l3(
        &mut self,
        ts: Timestamp,
        pcap_cnt: u64,
        endpoint: u64,
        gwlb: Option<GwlbMeta>,
        protocol: u16,
        l3: &[u8],
        origin: Origin<'_>,
        sink: &mut dyn FnMut(&AlertEvent<'_>),
    ) -> Verdict {
        self.maybe_expire(ts);
        let pkt = match decode_inner(protocol, l3) {
            Ok(p) => p,
            Err(e) => {
                bump(&mut self.counters.decode_errors, e.reason());
                return Verdict::Pass;
            }
        };
        if pkt.fragment.is_none() {
            return self.inspect(ts, pcap_cnt, endpoint, gwlb, &pkt, l3, origin, false, sink);
        }
        // A fragment: inspected on its own (no flow), then the rebuilt packet if it completes one.
        self.counters.fragments += 1;
        let verdict = self.inspect(ts, pcap_cnt, endpoint, gwlb, &pkt, l3, origin, false, sink);
        match self.defrag.insert(ts, endpoint, l3, &pkt) {
            DefragResult::Held => {}
            DefragResult::Dropped(d) => bump(&mut self.counters.defrag_drops, d.reason()),
            DefragResult::Complete(r) => {
                self.counters.reassembled += 1;
                match decode_inner(r.protocol(), r.bytes()) {
                    Ok(whole) => {
                        let v = self.inspect(
                            ts,
                            0,
                            endpoint,
                            gwlb,
                            &whole,
                            r.bytes(),
                            origin,
                            true,
                            sink,
                        );
                        if !is_pass(&v) {
                            self.counters.dropped += 1;
                        }
                    }
                    Err(e) => bump(&mut self.counters.decode_errors, e.reason()),
                }
                self.defrag.recycle(r);
            }
        }
        verdict
    }

    #[allow(clippy::too_many_arguments)]
    fn inspect(
        &mut self,
        ts: Timestamp,
        pcap_cnt: u64,
        endpoint: u64,
        gwlb: Option<GwlbMeta>,
        pkt: &InnerPacket<'_>,
        l3: &[u8],
        origin: Origin<'_>,
        reassembled: bool,
        sink: &mut dyn FnMut(&AlertEvent<'_>),
    ) -> Verdict {
        self.counters.inspected += 1;
        self.alerts.clear();
        let mut info = PacketInfo::new(ts, pkt, l3);
        info.pcap_cnt = pcap_cnt;
        info.reassembled = reassembled;
        let (verdict, flow) = match self.flows.process(ts, endpoint, pkt) {
            Ok(mut fref) => {
                let fi = FlowInfo::from_ref(&fref);
                let info = info.with_flow(fi);
                let v = self.engine.inspect(
                    &mut self.ctx,
                    &info,
                    Some(fref.data_mut()),
                    &mut self.alerts,
                );
                (v, Some(fi))
            }
            Err(u) => {
                bump(&mut self.counters.untracked, u.reason());
                let v = self
                    .engine
                    .inspect(&mut self.ctx, &info, None, &mut self.alerts);
                (v, None)
            }
        };
        if !self.alerts.is_empty() {
            self.counters.alerts += self.alerts.len() as u64;
            sink(&AlertEvent {
                ts,
                pcap_cnt,
                pkt,
                l3,
                flow,
                origin,
                gwlb,
                reassembled,
                alerts: &self.alerts,
                verdict,
            });
        }
        if !reassembled && !is_pass(&verdict) {
            self.counters.dropped += 1;
        }
        verdict
    }
}
