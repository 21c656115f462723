//! Wrapping inner packets exactly as GWLB does.
//!
//! GWLB gives every flow (symmetric inner 5-tuple, see [`FlowTuple`]) a random 32-bit flow cookie and
//! sends all its packets, both directions, from one outer UDP source port. When a tuple shows up again
//! after the flow's idle timeout (TCP 350 s by default, everything else 120 s), GWLB treats it as a
//! new flow with a new cookie. Time here is the capture's timestamps, never the wall clock.
//!
//! The GENEVE header itself (version 0, 32 bytes of AWS options, VNI 0, protocol from the inner IP
//! version) is emitted by [`seawall_wire::GwlbRepr`]; this module only chooses the values.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use seawall_wire::{AttachmentId, FlowCookie, GwlbEndpointId, GwlbMeta, GwlbRepr, Vni};

use crate::capture::InnerPacket;
use crate::flow::FlowTuple;

/// Default GWLB endpoint id (TLV type 1) used when none is configured.
pub const DEFAULT_ENDPOINT_ID: u64 = 0x05ea_3a11_e0d0_0001;
/// Default attachment id (TLV type 2) used when none is configured.
pub const DEFAULT_ATTACHMENT_ID: u64 = 0x05ea_3a11_a7ac_0001;
/// GWLB's default TCP idle timeout.
pub const DEFAULT_TCP_IDLE: Duration = Duration::from_secs(350);
/// GWLB's (fixed) idle timeout for UDP and every other non-TCP flow.
pub const DEFAULT_UDP_IDLE: Duration = Duration::from_secs(120);
/// Default number of outer sockets (outer source ports).
pub const DEFAULT_SOCKETS: usize = 64;

/// GENEVE protocol type for an inner IPv4 packet.
pub const PROTOCOL_IPV4: u16 = 0x0800;
/// GENEVE protocol type for an inner IPv6 packet.
pub const PROTOCOL_IPV6: u16 = 0x86dd;

/// How packets are wrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapConfig {
    /// GWLB endpoint id written in TLV type 1.
    pub endpoint_id: u64,
    /// Attachment id written in TLV type 2.
    pub attachment_id: u64,
    /// A TCP tuple idle longer than this gets a new flow cookie.
    pub tcp_idle: Duration,
    /// A non-TCP tuple idle longer than this gets a new flow cookie.
    pub udp_idle: Duration,
    /// Number of outer sockets flows are spread over (`flow_socket_index < sockets`).
    pub sockets: usize,
    /// Seed for the cookie generator; `None` draws one from the OS.
    pub seed: Option<u64>,
}

impl Default for WrapConfig {
    fn default() -> Self {
        Self {
            endpoint_id: DEFAULT_ENDPOINT_ID,
            attachment_id: DEFAULT_ATTACHMENT_ID,
            tcp_idle: DEFAULT_TCP_IDLE,
            udp_idle: DEFAULT_UDP_IDLE,
            sockets: DEFAULT_SOCKETS,
            seed: None,
        }
    }
}

/// One outer UDP payload (GENEVE header + inner packet) and the socket it must leave from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Index of the simulator socket (outer source port) the datagram is sent from; returns are
    /// expected on the same socket.
    pub flow_socket_index: usize,
    /// The UDP payload.
    pub bytes: Vec<u8>,
}

/// What [`Wrapper::wrap_into`] decided for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrapInfo {
    /// The outer socket index.
    pub socket: usize,
    /// The flow cookie written in TLV type 3.
    pub cookie: FlowCookie,
    /// True when this packet started a new GWLB flow (new tuple, or tuple reused after idle).
    pub new_flow: bool,
}

struct FlowState {
    cookie: FlowCookie,
    last_seen: Duration,
}

/// Stateful wrapper: remembers each tuple's cookie and last-seen time.
pub struct Wrapper {
    cfg: WrapConfig,
    rng: StdRng,
    flows: HashMap<Option<FlowTuple>, FlowState>,
    cookies: u64,
}

impl std::fmt::Debug for Wrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wrapper")
            .field("cfg", &self.cfg)
            .field("tuples", &self.flows.len())
            .field("cookies", &self.cookies)
            .finish()
    }
}

impl Wrapper {
    /// A wrapper with no flows yet.
    pub fn new(cfg: &WrapConfig) -> Self {
        let rng = match cfg.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let mut cfg = cfg.clone();
        cfg.sockets = cfg.sockets.max(1);
        Self {
            cfg,
            rng,
            flows: HashMap::new(),
            cookies: 0,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &WrapConfig {
        &self.cfg
    }

    /// Distinct tuples seen so far.
    pub fn tuples(&self) -> u64 {
        self.flows.len() as u64
    }

    /// GWLB flows (cookies issued) so far: tuples plus reuses after idle.
    pub fn cookies(&self) -> u64 {
        self.cookies
    }

    /// The socket a tuple is pinned to (a fixed hash, the same in both directions).
    pub fn socket_of(&self, tuple: Option<&FlowTuple>) -> usize {
        let mut h = DefaultHasher::new();
        tuple.hash(&mut h);
        usize::try_from(h.finish() % self.cfg.sockets as u64).expect("below the socket count")
    }

    /// Wraps `inner` (captured at `ts`) into `out` (cleared first).
    pub fn wrap_into(&mut self, ts: Duration, inner: &[u8], out: &mut Vec<u8>) -> WrapInfo {
        let tuple = FlowTuple::of_packet(inner);
        let idle = match &tuple {
            Some(t) if t.is_tcp() => self.cfg.tcp_idle,
            _ => self.cfg.udp_idle,
        };
        let socket = self.socket_of(tuple.as_ref());
        let (cookie, new_flow) = match self.flows.get_mut(&tuple) {
            Some(st) if ts.saturating_sub(st.last_seen) <= idle => {
                st.last_seen = st.last_seen.max(ts);
                (st.cookie, false)
            }
            existing => {
                let cookie = FlowCookie(self.rng.gen());
                self.cookies += 1;
                match existing {
                    Some(st) => {
                        *st = FlowState {
                            cookie,
                            last_seen: ts,
                        }
                    }
                    None => {
                        self.flows.insert(
                            tuple,
                            FlowState {
                                cookie,
                                last_seen: ts,
                            },
                        );
                    }
                }
                (cookie, true)
            }
        };
        let protocol = match inner.first().map(|b| b >> 4) {
            Some(6) => PROTOCOL_IPV6,
            _ => PROTOCOL_IPV4,
        };
        let repr = GwlbRepr {
            vni: Vni(0),
            protocol,
            meta: GwlbMeta {
                endpoint: GwlbEndpointId(self.cfg.endpoint_id),
                attachment: AttachmentId(self.cfg.attachment_id),
                cookie,
            },
        };
        let header_len = repr.buffer_len();
        out.clear();
        out.resize(header_len, 0);
        repr.emit(&mut out[..header_len]);
        out.extend_from_slice(inner);
        WrapInfo {
            socket,
            cookie,
            new_flow,
        }
    }

    /// Wraps one captured packet.
    pub fn wrap(&mut self, pkt: &InnerPacket) -> Datagram {
        let mut bytes = Vec::with_capacity(pkt.bytes.len() + 64);
        let info = self.wrap_into(pkt.ts, &pkt.bytes, &mut bytes);
        Datagram {
            flow_socket_index: info.socket,
            bytes,
        }
    }
}

/// Wraps a whole capture with a fresh [`Wrapper`].
pub fn wrap_all(packets: &[InnerPacket], cfg: &WrapConfig) -> Vec<Datagram> {
    let mut w = Wrapper::new(cfg);
    packets.iter().map(|p| w.wrap(p)).collect()
}
