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

#[cfg(test)]
mod tests {
    use super::*;
    use seawall_wire::parse_gwlb;

    fn tcp4(src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&sp.to_be_bytes());
        p.extend_from_slice(&dp.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
        p
    }

    fn udp6(sp: u16, dp: u16) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(&sp.to_be_bytes());
        p.extend_from_slice(&dp.to_be_bytes());
        p.extend_from_slice(&[0, 8, 0, 0]);
        p
    }

    fn pkt(secs: u64, bytes: Vec<u8>) -> InnerPacket {
        InnerPacket {
            ts: Duration::from_secs(secs),
            bytes,
        }
    }

    fn cfg() -> WrapConfig {
        WrapConfig {
            seed: Some(7),
            ..WrapConfig::default()
        }
    }

    #[test]
    fn header_is_what_gwlb_sends() {
        let cfg = WrapConfig {
            endpoint_id: 0x1122_3344_5566_7788,
            attachment_id: 0x99aa_bbcc_ddee_ff00,
            ..cfg()
        };
        let inner4 = tcp4([10, 0, 0, 1], 40000, [10, 0, 0, 2], 80);
        let inner6 = udp6(5353, 53);
        let d = wrap_all(&[pkt(0, inner4.clone()), pkt(0, inner6.clone())], &cfg);
        for (d, inner, proto) in [(&d[0], &inner4, 0x0800), (&d[1], &inner6, 0x86dd)] {
            // Version 0, 32 bytes of options, flags 0, VNI 0.
            assert_eq!(d.bytes[0], 8);
            assert_eq!(d.bytes[1], 0);
            assert_eq!(&d.bytes[4..8], &[0, 0, 0, 0]);
            let f = parse_gwlb(&d.bytes).unwrap();
            assert_eq!(f.geneve_len, 40);
            assert_eq!(f.protocol, proto);
            assert_eq!(f.meta.endpoint, GwlbEndpointId(0x1122_3344_5566_7788));
            assert_eq!(f.meta.attachment, AttachmentId(0x99aa_bbcc_ddee_ff00));
            assert_eq!(f.inner, &inner[..]);
            assert!(d.flow_socket_index < cfg.sockets);
        }
    }

    #[test]
    fn both_directions_share_cookie_and_socket() {
        let mut w = Wrapper::new(&cfg());
        let mut buf = Vec::new();
        let a = w.wrap_into(
            Duration::ZERO,
            &tcp4([10, 0, 0, 1], 40000, [10, 0, 0, 2], 80),
            &mut buf,
        );
        let b = w.wrap_into(
            Duration::from_secs(1),
            &tcp4([10, 0, 0, 2], 80, [10, 0, 0, 1], 40000),
            &mut buf,
        );
        assert!(a.new_flow);
        assert!(!b.new_flow);
        assert_eq!(a.cookie, b.cookie);
        assert_eq!(a.socket, b.socket);
        assert_eq!(parse_gwlb(&buf).unwrap().meta.cookie, a.cookie);
        assert_eq!((w.tuples(), w.cookies()), (1, 1));
    }

    #[test]
    fn distinct_tuples_get_distinct_flows() {
        let mut w = Wrapper::new(&cfg());
        let mut buf = Vec::new();
        let mut cookies = std::collections::HashSet::new();
        let mut sockets = std::collections::HashSet::new();
        for port in 0..200u16 {
            let info = w.wrap_into(
                Duration::ZERO,
                &tcp4([10, 0, 0, 1], 40000 + port, [10, 0, 0, 2], 80),
                &mut buf,
            );
            assert!(info.new_flow);
            cookies.insert(info.cookie);
            sockets.insert(info.socket);
        }
        assert_eq!(w.cookies(), 200);
        // Random 32-bit cookies: a collision among 200 is possible but vanishingly rare with seed 7.
        assert_eq!(cookies.len(), 200);
        // 200 flows hashed onto 64 sockets use most of them.
        assert!(sockets.len() > 32, "{} sockets used", sockets.len());
    }

    #[test]
    fn reuse_after_idle_gets_new_cookie() {
        let mut w = Wrapper::new(&WrapConfig {
            tcp_idle: Duration::from_secs(350),
            udp_idle: Duration::from_secs(120),
            ..cfg()
        });
        let tcp = tcp4([10, 0, 0, 1], 40000, [10, 0, 0, 2], 80);
        let udp = udp6(5353, 53);
        let mut buf = Vec::new();
        let t0 = w.wrap_into(Duration::from_secs(1000), &tcp, &mut buf);
        let u0 = w.wrap_into(Duration::from_secs(1000), &udp, &mut buf);
        // Within the idle timeout (measured from the last packet): same flow.
        let t1 = w.wrap_into(Duration::from_secs(1300), &tcp, &mut buf);
        let u1 = w.wrap_into(Duration::from_secs(1120), &udp, &mut buf);
        assert_eq!((t0.cookie, u0.cookie), (t1.cookie, u1.cookie));
        assert!(!t1.new_flow && !u1.new_flow);
        // 200 s later: past UDP's 120 s, within TCP's 350 s.
        let t2 = w.wrap_into(Duration::from_secs(1500), &tcp, &mut buf);
        let u2 = w.wrap_into(Duration::from_secs(1320), &udp, &mut buf);
        assert_eq!(t2.cookie, t0.cookie);
        assert!(u2.new_flow);
        assert_ne!(u2.cookie, u0.cookie);
        // Past TCP's idle timeout: new cookie, same socket (the tuple's outer port).
        let t3 = w.wrap_into(Duration::from_secs(1851), &tcp, &mut buf);
        assert!(t3.new_flow);
        assert_ne!(t3.cookie, t0.cookie);
        assert_eq!(t3.socket, t0.socket);
        assert_eq!(parse_gwlb(&buf).unwrap().meta.cookie, t3.cookie);
        assert_eq!((w.tuples(), w.cookies()), (2, 4));
    }

    #[test]
    fn timestamps_going_back_do_not_split_a_flow() {
        let mut w = Wrapper::new(&cfg());
        let mut buf = Vec::new();
        let p = udp6(1, 2);
        let a = w.wrap_into(Duration::from_secs(500), &p, &mut buf);
        let b = w.wrap_into(Duration::from_secs(10), &p, &mut buf);
        let c = w.wrap_into(Duration::from_secs(600), &p, &mut buf);
        assert_eq!(a.cookie, b.cookie);
        assert_eq!(a.cookie, c.cookie);
    }

    #[test]
    fn seed_makes_cookies_reproducible() {
        let pkts = [
            pkt(0, tcp4([1, 1, 1, 1], 1, [2, 2, 2, 2], 2)),
            pkt(0, udp6(3, 4)),
        ];
        assert_eq!(wrap_all(&pkts, &cfg()), wrap_all(&pkts, &cfg()));
        let other = WrapConfig {
            seed: Some(8),
            ..cfg()
        };
        assert_ne!(wrap_all(&pkts, &cfg()), wrap_all(&pkts, &other));
    }

    #[test]
    fn one_socket_config() {
        let d = wrap_all(
            &[
                pkt(0, tcp4([1, 1, 1, 1], 1, [2, 2, 2, 2], 2)),
                pkt(0, udp6(3, 4)),
            ],
            &WrapConfig {
                sockets: 1,
                ..cfg()
            },
        );
        assert!(d.iter().all(|d| d.flow_socket_index == 0));
    }
}
