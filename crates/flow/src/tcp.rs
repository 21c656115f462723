//! TCP session state: just enough of Suricata's stream engine for `flow:established`,
//! `not_established`, `to_server`/`to_client` and mid-stream pickup.
//!
//! Semantics taken from Suricata 7 (`FlowHandlePacketUpdate`, `StreamTcpPacketStateNone` and
//! friends), without sequence-number validation:
//! - a packet is *established* when the session state **before** the packet is at least
//!   [`TcpState::Established`] (so the ACK completing the three-way handshake is not, the packet
//!   after it is), with Suricata's one exception: a handshake-completing ACK that carries data is
//!   established itself;
//! - every state from `Established` on counts, including the closing ones and `Closed` after a RST
//!   (Suricata compares `ssn->state >= TCP_ESTABLISHED`);
//! - without mid-stream pickup a flow first seen without a SYN gets no session: it stays
//!   [`TcpState::None`] and is never established (suricata-verify `alert-no-3whs-established`);
//! - with mid-stream pickup an ACK (or a FIN with data) picks the session up as established, the
//!   sender being the client; a SYN/ACK picks it up in `SynRecv` with the flow *reversed* (the
//!   SYN/ACK's receiver becomes the client, so the SYN/ACK itself is to_client: suricata-verify
//!   `bug-1401-02`); the pickup packet itself is not yet established;
//! - a SYN (without ACK) always makes its sender the client.
//!
//! TCP Fast Open (RFC 7413; Suricata's `STREAMTCP_FLAG_TCP_FAST_OPEN`): a SYN or SYN/ACK
//! carrying the TFO option ([`has_tfo_option`]) marks the session. Only such a SYN's payload is
//! stream data (Suricata ignores data on other SYNs and on every SYN/ACK, see
//! `crate::stream::Segment::from_tcp`), and in `SynRecv` a packet from the server (its data
//! right after the SYN/ACK) completes the handshake as well as the client's ACK does. Packets
//! after a Fast Open SYN/ACK are established (Suricata marks the flow established on it).
//!
//! An ACK pickup took its sender as the client without evidence: the app layer may still
//! reverse it when its data turns out to go the other way (`FlowRef::app_reversible`, Suricata's
//! `MIDSTREAM` without `MIDSTREAM_SYNACK`). With `stream.async-oneside` (sessions of which one
//! side is captured) a SYN/ACK is picked up even without midstream, the one side seen completes
//! the handshake (the client's ACK in `SynSent`, the server's packet in `SynRecv`), and the
//! session is one-sided (`sflag::ASYNC`) until both sides have sent a packet.

use seawall_wire::TcpFlags;

use crate::key::Direction;

/// TCP session state, in Suricata's order: every state from `Established` on counts as
/// established for detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum TcpState {
    /// No session: nothing seen that opens one (or mid-stream pickup is off).
    #[default]
    None,
    /// The client sent a SYN.
    SynSent,
    /// The SYN was answered with a SYN/ACK.
    SynRecv,
    /// The handshake completed (or the session was picked up mid-stream).
    Established,
    /// One side sent a FIN.
    FinWait,
    /// Both sides sent a FIN.
    Closing,
    /// A RST was seen.
    Closed,
}

impl TcpState {
    /// Whether packets of a session in this state are "established" for `flow:established`.
    pub const fn is_established(self) -> bool {
        self as u8 >= TcpState::Established as u8
    }
}

/// Session flags.
pub(crate) mod sflag {
    /// Picked up mid-stream.
    pub const MIDSTREAM: u8 = 0x01;
    /// Simultaneous open: the server also sent a SYN.
    pub const SIMULTANEOUS: u8 = 0x02;
    /// The SYN/ACK came from the client (simultaneous open).
    pub const SYNACK_BY_CLIENT: u8 = 0x04;
    /// The client sent a FIN.
    pub const FIN_CLIENT: u8 = 0x08;
    /// The server sent a FIN.
    pub const FIN_SERVER: u8 = 0x10;
    /// TCP Fast Open: the SYN or SYN/ACK carried the TFO option.
    pub const TFO: u8 = 0x20;
    /// Picked up mid-stream from a SYN/ACK (the flow was already put the right way round).
    pub const MIDSTREAM_SYNACK: u8 = 0x40;
    /// One-sided (asynchronous) session under `stream.async-oneside`: only one side seen so far
    /// (cleared by the flow table once both sides sent a packet).
    pub const ASYNC: u8 = 0x80;
}

/// TCP option kinds for Fast Open: the assigned one and the two experimental ones (used with
/// the magic 0xF989 before the assignment).
const OPT_TFO: u8 = 34;
const OPT_EXP1: u8 = 253;
const OPT_EXP2: u8 = 254;
const TFO_MAGIC: [u8; 2] = [0xf9, 0x89];

/// Whether the TCP options `opts` (the bytes after the fixed 20-byte header) carry a TCP Fast
/// Open option as Suricata's decoder recognises it: kind 34 with length 2 (cookie request) or
/// an even length 6..=18, or an experimental kind (253/254) of length 4 or 12 starting with the
/// magic 0xF989. A malformed option list ends the scan (what was found so far counts).
pub fn has_tfo_option(opts: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&kind) = opts.get(i) {
        match kind {
            0 => return false,
            1 => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let Some(&len) = opts.get(i + 1) else {
            return false;
        };
        let len = usize::from(len);
        if len < 2 || i + len > opts.len() {
            return false;
        }
        match kind {
            OPT_TFO if len == 2 || ((6..=18).contains(&len) && len % 2 == 0) => return true,
            OPT_EXP1 | OPT_EXP2
                if (len == 4 || len == 12) && opts.get(i + 2..i + 4) == Some(&TFO_MAGIC[..]) =>
            {
                return true
            }
            _ => {}
        }
        i += len;
    }
    false
}

/// Per-flow TCP tracking: two bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TcpTrack {
    pub state: TcpState,
    pub flags: u8,
}

/// What a segment did to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Segment {
    /// The packet's established flag.
    pub established: bool,
    /// The flow's client must be swapped (done by the caller *before* it sets the packet's
    /// direction).
    pub reverse: bool,
    /// The session changed state.
    pub changed: bool,
}

impl TcpTrack {
    /// Whether a segment with `flags` starts a new connection on this tuple (Suricata's TCP
    /// session reuse): a SYN without ACK after the session closed.
    pub fn is_reuse(&self, flags: TcpFlags) -> bool {
        matches!(self.state, TcpState::Closing | TcpState::Closed) && flags.syn() && !flags.ack()
    }

    /// Whether the session uses TCP Fast Open.
    #[cfg(test)]
    pub const fn is_tfo(&self) -> bool {
        self.flags & sflag::TFO != 0
    }

    /// Applies one segment. `dir` is relative to the flow's current client; `tfo`: the segment
    /// carries the TCP Fast Open option ([`has_tfo_option`]); `async_oneside`: Suricata's
    /// `stream.async-oneside` (sessions whose other side is never seen: a SYN/ACK is picked up
    /// even without `midstream`, and the handshake completes from the one side seen).
    pub fn segment(
        &mut self,
        dir: Direction,
        flags: TcpFlags,
        payload_len: usize,
        midstream: bool,
        tfo: bool,
        async_oneside: bool,
    ) -> Segment {
        let async_flag = if async_oneside { sflag::ASYNC } else { 0 };
        let before = self.state;
        // Suricata's TFO SYN/ACK handling sets ESTABLISHED before settling on SYN_RECV, which
        // leaves the *flow* established (FLOW_STATE_ESTABLISHED): every packet after a Fast
        // Open SYN/ACK is established.
        let tfo_established = before == TcpState::SynRecv && self.flags & sflag::TFO != 0;
        let mut out = Segment {
            established: before.is_established() || tfo_established,
            ..Segment::default()
        };
        let (syn, ack, fin, rst) = (flags.syn(), flags.ack(), flags.fin(), flags.rst());
        let d = dir;
        match before {
            TcpState::None => {
                if rst {
                    // Suricata: "RST but no session".
                } else if fin {
                    if midstream && payload_len > 0 {
                        self.state = TcpState::FinWait;
                        self.flags = sflag::MIDSTREAM | async_flag;
                        self.flags |= fin_flag(d);
                    }
                } else if syn && ack {
                    if midstream || async_oneside {
                        // The SYN/ACK's receiver is the client.
                        out.reverse = d == Direction::ToServer;
                        self.state = TcpState::SynRecv;
                        self.flags = sflag::MIDSTREAM | sflag::MIDSTREAM_SYNACK | async_flag;
                    }
                } else if syn {
                    out.reverse = d == Direction::ToClient;
                    self.state = TcpState::SynSent;
                    self.flags = if tfo { sflag::TFO } else { 0 } | async_flag;
                } else if ack && midstream {
                    self.state = TcpState::Established;
                    self.flags = sflag::MIDSTREAM | async_flag;
                }
            }
            TcpState::SynSent => {
                if rst {
                    self.state = TcpState::Closed;
                } else if syn && ack {
                    if d == Direction::ToClient {
                        self.state = TcpState::SynRecv;
                        if tfo {
                            self.flags |= sflag::TFO;
                        }
                    } else if self.flags & sflag::SIMULTANEOUS != 0 {
                        self.state = TcpState::SynRecv;
                        self.flags |= sflag::SYNACK_BY_CLIENT;
                    }
                } else if syn && d == Direction::ToClient {
                    self.flags |= sflag::SIMULTANEOUS;
                } else if async_oneside && ack && !syn && !fin && d == Direction::ToServer {
                    // No SYN/ACK seen: the client's ACK completes a one-sided session.
                    self.state = TcpState::Established;
                    self.flags |= sflag::ASYNC;
                }
                // A retransmitted SYN (to_server) changes nothing.
            }
            TcpState::SynRecv => {
                let completer = if self.flags & sflag::SYNACK_BY_CLIENT != 0 {
                    Direction::ToClient
                } else {
                    Direction::ToServer
                };
                // TFO, or a one-sided session: the server's first packet after its SYN/ACK
                // completes it too.
                let tfo_server = (self.flags & sflag::TFO != 0 || async_oneside)
                    && d == Direction::ToClient
                    && self.flags & sflag::SYNACK_BY_CLIENT == 0;
                if rst {
                    self.state = TcpState::Closed;
                } else if ack && !syn && (d == completer || tfo_server) {
                    self.state = TcpState::Established;
                    if d != completer && async_oneside {
                        self.flags |= sflag::ASYNC;
                    }
                    if payload_len > 0 && d == completer {
                        // Suricata: data on the handshake-completing ACK is established now.
                        out.established = true;
                    }
                    if fin {
                        self.state = TcpState::FinWait;
                        self.flags |= fin_flag(d);
                    }
                }
            }
            TcpState::Established => {
                if rst {
                    self.state = TcpState::Closed;
                } else if fin {
                    self.state = TcpState::FinWait;
                    self.flags |= fin_flag(d);
                }
            }
            TcpState::FinWait => {
                if rst {
                    self.state = TcpState::Closed;
                } else if fin {
                    self.flags |= fin_flag(d);
                    if self.flags & (sflag::FIN_CLIENT | sflag::FIN_SERVER)
                        == sflag::FIN_CLIENT | sflag::FIN_SERVER
                    {
                        self.state = TcpState::Closing;
                    }
                }
            }
            TcpState::Closing => {
                if rst {
                    self.state = TcpState::Closed;
                }
            }
            TcpState::Closed => {}
        }
        out.changed = self.state != before;
        out
    }
}

fn fin_flag(d: Direction) -> u8 {
    match d {
        Direction::ToServer => sflag::FIN_CLIENT,
        Direction::ToClient => sflag::FIN_SERVER,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{ToClient as C, ToServer as S};

    const SYN: u8 = TcpFlags::SYN;
    const SA: u8 = TcpFlags::SYN | TcpFlags::ACK;
    const A: u8 = TcpFlags::ACK;
    const PA: u8 = TcpFlags::PSH | TcpFlags::ACK;
    const FA: u8 = TcpFlags::FIN | TcpFlags::ACK;
    const R: u8 = TcpFlags::RST;
    const RA: u8 = TcpFlags::RST | TcpFlags::ACK;

    /// (direction relative to the client *before* the packet, flags, payload length,
    ///  expected established flag, expected state after)
    type Step = (Direction, u8, usize, bool, TcpState);

    fn run(name: &str, midstream: bool, steps: &[Step]) {
        let mut t = TcpTrack::default();
        for (i, &(dir, flags, len, est, state)) in steps.iter().enumerate() {
            let s = t.segment(dir, TcpFlags(flags), len, midstream, false, false);
            assert_eq!(
                (s.established, t.state),
                (est, state),
                "{name}: step {i} ({dir:?} {})",
                TcpFlags(flags)
            );
        }
    }

    #[test]
    fn test_tcp_state_sequences() {
        use TcpState::*;
        let cases: &[(&str, bool, &[Step])] = &[
            (
                "three-way handshake, data, FIN close",
                false,
                &[
                    (S, SYN, 0, false, SynSent),
                    (C, SA, 0, false, SynRecv),
                    (S, A, 0, false, Established),
                    (S, PA, 10, true, Established),
                    (C, PA, 10, true, Established),
                    (S, FA, 0, true, FinWait),
                    (C, FA, 0, true, Closing),
                    (S, A, 0, true, Closing),
                ],
            ),
            (
                "handshake ACK carrying data is established itself",
                false,
                &[
                    (S, SYN, 0, false, SynSent),
                    (C, SA, 0, false, SynRecv),
                    (S, PA, 5, true, Established),
                ],
            ),
            (
                "retransmitted SYN and SYN/ACK",
                false,
                &[
                    (S, SYN, 0, false, SynSent),
                    (S, SYN, 0, false, SynSent),
                    (C, SA, 0, false, SynRecv),
                    (C, SA, 0, false, SynRecv),
                    (S, A, 0, false, Established),
                    (S, A, 0, true, Established),
                ],
            ),
            (
                "ACK from the wrong side does not complete the handshake",
                false,
                &[
                    (S, SYN, 0, false, SynSent),
                    (C, SA, 0, false, SynRecv),
                    (C, A, 0, false, SynRecv),
                    (S, A, 0, false, Established),
                ],
            ),
            (
                "RST during the handshake closes (and Closed counts as established, as in Suricata)",
                false,
                &[
                    (S, SYN, 0, false, SynSent),
                    (C, RA, 0, false, Closed),
                    (S, A, 0, true, Closed),
                ],
            ),
            (
                "RST after establishment",
                false,
                &[
                    (S, SYN, 0, false, SynSent),
                    (C, SA, 0, false, SynRecv),
                    (S, A, 0, false, Established),
                    (C, R, 0, true, Closed),
                ],
            ),
            (
                "simultaneous open",
                false,
                &[
                    (S, SYN, 0, false, SynSent),
                    (C, SYN, 0, false, SynSent),
                    (S, SA, 0, false, SynRecv),
                    (C, A, 0, false, Established),
                    (S, PA, 3, true, Established),
                ],
            ),
            (
                "midstream off: no SYN, never established (alert-no-3whs-established)",
                false,
                &[
                    (S, PA, 6, false, None),
                    (C, R, 0, false, None),
                    (S, PA, 6, false, None),
                    (C, A, 0, false, None),
                    (S, FA, 1, false, None),
                ],
            ),
            (
                "midstream on: ACK pickup, established from the next packet",
                true,
                &[
                    (S, PA, 100, false, Established),
                    (C, A, 0, true, Established),
                    (C, FA, 0, true, FinWait),
                    (S, FA, 0, true, Closing),
                ],
            ),
            (
                "midstream on: FIN without data picks nothing up, FIN with data does",
                true,
                &[
                    (S, FA, 0, false, None),
                    (S, R, 0, false, None),
                    (S, FA, 4, false, FinWait),
                    (C, FA, 0, true, Closing),
                ],
            ),
        ];
        for (name, midstream, steps) in cases {
            run(name, *midstream, steps);
        }
    }

    #[test]
    fn test_midstream_synack_reverses() {
        let mut t = TcpTrack::default();
        // The first packet seen is a SYN/ACK sent by the flow's (provisional) client side.
        let s = t.segment(S, TcpFlags(SA), 0, true, false, false);
        assert!(s.reverse && !s.established);
        assert_eq!(t.state, TcpState::SynRecv);
        // After the reversal, the ACK from the new client completes it.
        let s = t.segment(S, TcpFlags(A), 0, true, false, false);
        assert_eq!((s.reverse, t.state), (false, TcpState::Established));
        // Midstream off: nothing.
        let mut t = TcpTrack::default();
        let s = t.segment(S, TcpFlags(SA), 0, false, false, false);
        assert_eq!((s.reverse, t.state), (false, TcpState::None));
    }

    #[test]
    fn test_tfo_option_recognised() {
        // Kind 34 with a 8-byte cookie, after MSS and NOPs (as Linux sends it).
        let tfo = [2, 4, 5, 0xb4, 1, 1, 34, 10, 1, 2, 3, 4, 5, 6, 7, 8];
        assert!(has_tfo_option(&tfo));
        // Cookie request (length 2).
        assert!(has_tfo_option(&[1, 1, 34, 2]));
        // Experimental kind 254 with the magic (pre-RFC Linux).
        assert!(has_tfo_option(&[254, 4, 0xf9, 0x89]));
        assert!(!has_tfo_option(&[254, 4, 0x12, 0x34]));
        // Odd cookie length, truncated option, none at all, after the end-of-list.
        assert!(!has_tfo_option(&[34, 7, 1, 2, 3, 4, 5]));
        assert!(!has_tfo_option(&[34, 10, 1, 2]));
        assert!(!has_tfo_option(&[2, 4, 5, 0xb4, 1, 3, 3, 7]));
        assert!(!has_tfo_option(&[0, 34, 2]));
        assert!(!has_tfo_option(&[1, 0xff]));
    }

    #[test]
    fn test_tfo_server_data_completes_handshake() {
        use TcpState::*;
        // TFO SYN (with data), SYN/ACK, then the server's response before the client's ACK:
        // Suricata moves the session to ESTABLISHED on the server's packet.
        let mut t = TcpTrack::default();
        t.segment(S, TcpFlags(SYN), 65, false, true, false);
        assert!(t.is_tfo());
        t.segment(C, TcpFlags(SA), 0, false, false, false);
        assert_eq!(t.state, SynRecv);
        let s = t.segment(C, TcpFlags(PA), 300, false, false, false);
        assert_eq!((s.established, t.state), (true, Established));
        let s = t.segment(S, TcpFlags(A), 0, false, false, false);
        assert!(s.established);
        // The same without the TFO option: the server's data leaves the handshake open.
        let mut t = TcpTrack::default();
        t.segment(S, TcpFlags(SYN), 0, false, false, false);
        t.segment(C, TcpFlags(SA), 0, false, false, false);
        let s = t.segment(C, TcpFlags(PA), 300, false, false, false);
        assert_eq!(
            (t.is_tfo(), t.state, s.established),
            (false, SynRecv, false)
        );
        // The option on the SYN/ACK alone also marks the session.
        let mut t = TcpTrack::default();
        t.segment(S, TcpFlags(SYN), 0, false, false, false);
        t.segment(C, TcpFlags(SA), 0, false, true, false);
        assert!(t.is_tfo());
    }

    /// `stream.async-oneside` (suricata-verify alert-testmyids-async, http-async-srv,
    /// bug-2491-01): sessions of which one side is captured still get established.
    #[test]
    fn test_async_oneside_sessions() {
        use TcpState::*;
        // Server side only, from its SYN/ACK: picked up without midstream, reversed, and the
        // server's next packet completes the handshake.
        let mut t = TcpTrack::default();
        let s = t.segment(S, TcpFlags(SA), 0, false, false, true);
        assert!(s.reverse);
        assert_eq!(t.state, SynRecv);
        let s = t.segment(C, TcpFlags(A), 0, false, false, true);
        assert_eq!((s.established, t.state), (false, Established));
        assert!(t.flags & sflag::ASYNC != 0);
        assert!(
            t.segment(C, TcpFlags(PA), 259, false, false, true)
                .established
        );
        // Client side only, from its SYN: the client's ACK completes it.
        let mut t = TcpTrack::default();
        t.segment(S, TcpFlags(SYN), 0, false, false, true);
        t.segment(S, TcpFlags(A), 0, false, false, true);
        assert_eq!(t.state, Established);
        assert!(
            t.segment(S, TcpFlags(PA), 397, false, false, true)
                .established
        );
        // Without the option neither happens.
        let mut t = TcpTrack::default();
        t.segment(S, TcpFlags(SA), 0, false, false, false);
        assert_eq!(t.state, None);
        let mut t = TcpTrack::default();
        t.segment(S, TcpFlags(SYN), 0, false, false, false);
        t.segment(S, TcpFlags(A), 0, false, false, false);
        assert_eq!((t.state, t.flags & sflag::ASYNC), (SynSent, 0));
    }

    #[test]
    fn test_syn_sender_becomes_client_and_reuse() {
        let mut t = TcpTrack::default();
        // Flow created by a stray packet of the other side; then the real SYN arrives to_client.
        t.segment(S, TcpFlags(A), 0, false, false, false);
        let s = t.segment(C, TcpFlags(SYN), 0, false, false, false);
        assert!(s.reverse && s.changed);
        assert_eq!(t.state, TcpState::SynSent);
        t.state = TcpState::Closed;
        assert!(t.is_reuse(TcpFlags(SYN)));
        assert!(!t.is_reuse(TcpFlags(SA)));
        t.state = TcpState::Established;
        assert!(!t.is_reuse(TcpFlags(SYN)));
    }
}
