//! The engine's side of the multi-pattern matcher: one prefilter per rule group over the fast
//! patterns of its rules, built with [`crate::mpm::MpmBuilder`]. This is the only file that
//! touches the `mpm` API.
//!
//! A packet-rule group's prefilter ([`Prefilter::build_payload`]) holds up to four matchers, so
//! that a buffer is only scanned for the patterns of rules that can match it (the result, the
//! rules that match, is the same; only fewer candidates are found and checked):
//! * by the packet's side of the flow, as Suricata's per-direction rule groups: a rule with
//!   `flow:to_server` never matches a to-client packet and the reverse (packets without a flow
//!   are on the to-server side: `flow_matches`);
//! * for the payload of a TCP packet added to the stream, only the rules that inspect the packet
//!   payload (`dsize`, `flow:no_stream`, contents with depth/offset: Suricata's
//!   SIG_FLAG_REQUIRE_PACKET); every other rule only matches the reassembled stream, which is
//!   scanned with the side's full matcher when it is inspected. Without this the payload bytes
//!   of stream-added packets were scanned twice for every pattern (as packet payload and again
//!   in the stream).
//!
//! Identical pattern sets share one matcher; the distinct ones are compiled on two threads.

use crate::mpm::{BuiltMpm, BuiltScratch, MpmBuilder, MpmKind};

/// The side of the flow a packet is on (to-server also for packets without a flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    ToServer,
    ToClient,
}

/// Which buffer is scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hay {
    /// Any buffer but the one below: every pattern of the side.
    All,
    /// The payload of a TCP packet added to the stream: the patterns of the rules that can
    /// match such a payload.
    StreamAddedPayload,
}

/// One pattern of a packet-rule group.
#[derive(Debug, Clone)]
pub(crate) struct PayloadPattern {
    /// Index into the group's rule list.
    pub id: u32,
    pub literal: Vec<u8>,
    pub nocase: bool,
    /// The rule can match the payload of a TCP packet added to the stream.
    pub packet: bool,
    /// The rule can match a to-server side packet.
    pub to_server: bool,
    /// The rule can match a to-client packet.
    pub to_client: bool,
}

/// A built matcher set; pattern ids are indexes into the group's rule list.
#[derive(Debug)]
pub(crate) struct Prefilter {
    /// The distinct matchers.
    mpms: Vec<BuiltMpm>,
    /// Matcher index for `[side][hay]` (`None`: no pattern, nothing to scan).
    pick: [[Option<usize>; 2]; 2],
}

/// Per-worker scratch of one prefilter: one per matcher, made on first use.
#[derive(Debug)]
pub(crate) struct PrefilterScratch {
    scratch: Vec<Option<BuiltScratch>>,
}

fn build_mpm<'a>(
    patterns: impl Iterator<Item = (u32, &'a [u8], bool)>,
    kind: MpmKind,
) -> Result<BuiltMpm, String> {
    let mut b = MpmBuilder::new();
    for (id, p, nocase) in patterns {
        b.add(id, p, nocase);
    }
    b.build(kind).map_err(|e| e.to_string())
}

/// `work(i)` for every `i < weights.len()`, on two threads when there are several items (the
/// heaviest first, alternating between the threads so both get about the same work); the
/// results in index order.
fn on_two_threads<T: Send>(weights: &[usize], work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    if weights.len() < 2 {
        return (0..weights.len()).map(&work).collect();
    }
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|i| core::cmp::Reverse(weights[*i]));
    let mine: Vec<usize> = order.iter().copied().step_by(2).collect();
    let theirs: Vec<usize> = order.iter().copied().skip(1).step_by(2).collect();
    let run = |part: &[usize]| -> Vec<(usize, T)> { part.iter().map(|i| (*i, work(*i))).collect() };
    let mut done = std::thread::scope(|s| {
        let h = std::thread::Builder::new().spawn_scoped(s, || run(&theirs));
        let mut out = run(&mine);
        match h.map(|h| h.join()) {
            Ok(Ok(mut v)) => out.append(&mut v),
            // No thread, or it panicked (it never does: compile errors are values): here.
            _ => out.append(&mut run(&theirs)),
        }
        out
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, t)| t).collect()
}

/// Compile `sets` (pattern indexes into `patterns`), on two threads when there are several.
fn build_sets(
    patterns: &[PayloadPattern],
    sets: &[Vec<usize>],
    kind: MpmKind,
) -> Result<Vec<BuiltMpm>, String> {
    let weights: Vec<usize> = sets.iter().map(Vec::len).collect();
    on_two_threads(&weights, |k| {
        build_mpm(
            sets[k]
                .iter()
                .filter_map(|i| patterns.get(*i))
                .map(|p| (p.id, p.literal.as_slice(), p.nocase)),
            kind,
        )
    })
    .into_iter()
    .collect()
}

impl Prefilter {
    /// Build over `(id, literal, nocase)`: one matcher for every buffer.
    pub(crate) fn build(
        patterns: &[(u32, Vec<u8>, bool)],
        kind: MpmKind,
    ) -> Result<Prefilter, String> {
        let inner = build_mpm(
            patterns.iter().map(|(id, p, n)| (*id, p.as_slice(), *n)),
            kind,
        )?;
        Ok(Prefilter {
            mpms: vec![inner],
            pick: [[Some(0); 2]; 2],
        })
    }

    /// [`Prefilter::build`] for each pattern list, on two threads.
    pub(crate) fn build_many(
        lists: &[Vec<(u32, Vec<u8>, bool)>],
        kind: MpmKind,
    ) -> Vec<Result<Prefilter, String>> {
        let weights: Vec<usize> = lists.iter().map(Vec::len).collect();
        on_two_threads(&weights, |i| Prefilter::build(&lists[i], kind))
    }

    /// Build a packet-rule group's prefilter: a matcher per side of the flow and hay, over the
    /// patterns whose rules can match there.
    pub(crate) fn build_payload(
        patterns: &[PayloadPattern],
        kind: MpmKind,
    ) -> Result<Prefilter, String> {
        let mut sets: Vec<Vec<usize>> = Vec::new();
        let mut pick = [[None; 2]; 2];
        for (si, side) in [Side::ToServer, Side::ToClient].into_iter().enumerate() {
            for (hi, hay) in [Hay::All, Hay::StreamAddedPayload].into_iter().enumerate() {
                let set: Vec<usize> = patterns
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| {
                        let on_side = match side {
                            Side::ToServer => p.to_server,
                            Side::ToClient => p.to_client,
                        };
                        on_side && (hay == Hay::All || p.packet)
                    })
                    .map(|(i, _)| i)
                    .collect();
                if set.is_empty() {
                    continue;
                }
                let k = match sets.iter().position(|s| *s == set) {
                    Some(k) => k,
                    None => {
                        sets.push(set);
                        sets.len() - 1
                    }
                };
                pick[si][hi] = Some(k);
            }
        }
        Ok(Prefilter {
            mpms: build_sets(patterns, &sets, kind)?,
            pick,
        })
    }

    pub(crate) fn new_scratch(&self) -> PrefilterScratch {
        PrefilterScratch {
            scratch: self.mpms.iter().map(|m| Some(m.new_scratch())).collect(),
        }
    }

    /// Report every pattern id found in `hay` (duplicates allowed).
    pub(crate) fn scan(&self, hay: &[u8], scratch: &mut PrefilterScratch, on: &mut dyn FnMut(u32)) {
        self.scan_for(Side::ToServer, Hay::All, hay, scratch, on);
    }

    /// [`Prefilter::scan`] with the matcher for the packet's `side` and `which` buffer: only the
    /// ids of rules that can match there are reported.
    pub(crate) fn scan_for(
        &self,
        side: Side,
        which: Hay,
        hay: &[u8],
        scratch: &mut PrefilterScratch,
        on: &mut dyn FnMut(u32),
    ) {
        let si = usize::from(side == Side::ToClient);
        let hi = usize::from(which == Hay::StreamAddedPayload);
        let Some(k) = self.pick[si][hi] else {
            return;
        };
        let Some(m) = self.mpms.get(k) else {
            return;
        };
        if scratch.scratch.len() <= k {
            scratch.scratch.resize_with(k + 1, || None);
        }
        let Some(slot) = scratch.scratch.get_mut(k) else {
            return;
        };
        let s = slot.get_or_insert_with(|| m.new_scratch());
        m.scan(hay, s, on);
    }
}

#[cfg(test)]
mod tests {
    use etherparse::PacketBuilder;
    use proptest::prelude::*;
    use seawall_flow::{Direction as FlowDirection, PacketFlags, Timestamp};
    use seawall_rules::{Loader, Vars};
    use seawall_wire::decode_inner;

    use super::{Hay, PayloadPattern, Prefilter, Side};
    use crate::mpm::MpmKind;
    use crate::{DetectCtx, Engine, EngineOptions, FlowInfo, PacketInfo};

    fn ids(p: &Prefilter, side: Side, which: Hay, hay: &[u8]) -> Vec<u32> {
        let mut s = p.new_scratch();
        let mut out = Vec::new();
        p.scan_for(side, which, hay, &mut s, &mut |id| out.push(id));
        out.sort_unstable();
        out.dedup();
        out
    }

    fn pat(id: u32, lit: &[u8], nocase: bool, packet: bool, ts: bool, tc: bool) -> PayloadPattern {
        PayloadPattern {
            id,
            literal: lit.to_vec(),
            nocase,
            packet,
            to_server: ts,
            to_client: tc,
        }
    }

    #[test]
    fn each_side_and_hay_reports_only_its_rules() {
        use Hay::{All, StreamAddedPayload as Added};
        use Side::{ToClient as Tc, ToServer as Ts};
        for kind in [MpmKind::Hyperscan, MpmKind::AhoCorasick] {
            let pats = [
                pat(0, b"abc", false, true, true, true),
                pat(1, b"bcd", false, false, true, true),
                pat(2, b"CD", true, true, true, false),
                pat(3, b"dx", false, false, false, true),
            ];
            let p = Prefilter::build_payload(&pats, kind).expect("build");
            assert_eq!(ids(&p, Ts, All, b"xabcdx"), [0, 1, 2]);
            assert_eq!(ids(&p, Tc, All, b"xabcdx"), [0, 1, 3]);
            assert_eq!(ids(&p, Ts, Added, b"xabcdx"), [0, 2]);
            assert_eq!(ids(&p, Tc, Added, b"xabcdx"), [0]);
            assert_eq!(ids(&p, Ts, All, b"zzz"), [0u32; 0]);
            // No packet rule and no to-client rule: nothing to scan for there.
            let none: Vec<_> = pats
                .iter()
                .map(|q| pat(q.id, &q.literal, q.nocase, false, true, false))
                .collect();
            let p = Prefilter::build_payload(&none, kind).expect("build");
            assert_eq!(ids(&p, Ts, All, b"abcd"), [0, 1, 2]);
            assert!(ids(&p, Ts, Added, b"abcd").is_empty());
            assert!(ids(&p, Tc, All, b"abcd").is_empty());
            // Identical sets share one matcher.
            let all: Vec<_> = pats
                .iter()
                .map(|q| pat(q.id, &q.literal, q.nocase, true, true, true))
                .collect();
            let p = Prefilter::build_payload(&all, kind).expect("build");
            assert_eq!(p.mpms.len(), 1);
            assert_eq!(ids(&p, Tc, Added, b"abcd"), [0, 1, 2]);
            // A plain prefilter scans everything for either side and hay.
            let plain: Vec<_> = pats
                .iter()
                .map(|q| (q.id, q.literal.clone(), q.nocase))
                .collect();
            let p = Prefilter::build(&plain, kind).expect("build");
            assert_eq!(ids(&p, Tc, Added, b"abcd"), [0, 1, 2]);
        }
    }

    /// One TCP payload rule of each stream mode (stream, stream and packet, packet only, stream
    /// only), for either or both sides of the flow.
    fn arb_rule(sid: u32) -> impl Strategy<Value = String> {
        (
            prop_oneof![Just("tcp"), Just("tcp-pkt"), Just("tcp-stream"), Just("ip")],
            prop_oneof![Just("ab"), Just("ba"), Just("aab"), Just("b")],
            prop_oneof![
                Just(""),
                Just(" nocase;"),
                Just(" depth:4;"),
                Just(" offset:1;"),
                Just(" startswith;"),
                Just(" dsize:>2;"),
                Just(" flow:no_stream;"),
            ],
            prop_oneof![
                Just(""),
                Just(" flow:to_server;"),
                Just(" flow:to_client;"),
                Just(" flow:established,to_server;"),
                Just(" flow:from_server,established;"),
            ],
        )
            .prop_map(move |(proto, lit, extra, dir)| {
                // One `flow` keyword per rule.
                let (extra, dir) = match (extra, dir.strip_prefix(" flow:")) {
                    (" flow:no_stream;", Some(d)) => ("", format!(" flow:no_stream,{d}")),
                    (e, _) => (e, dir.to_string()),
                };
                format!(
                    "alert {proto} any any -> any any (content:\"{lit}\";{extra}{dir} sid:{sid};)"
                )
            })
    }

    fn arb_rules() -> impl Strategy<Value = String> {
        (1usize..10).prop_flat_map(|n| {
            (1..=n as u32)
                .map(arb_rule)
                .collect::<Vec<_>>()
                .prop_map(|v| v.join("\n"))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// On a TCP packet of either side of a flow (or without one), stream-added or not, with
        /// or without stream data to inspect, the reduced scans raise exactly the alerts of
        /// evaluating every rule.
        #[test]
        fn reduced_scans_equal_naive(
            rules in arb_rules(),
            payload in "[abAB]{0,8}",
            stream in proptest::option::of("[abAB]{0,12}"),
            stream_added in any::<bool>(),
            flow in proptest::option::of((any::<bool>(), any::<bool>())),
        ) {
            let load = Loader::default().load_str("p.rules", &rules);
            prop_assert!(load.diagnostics.is_empty(), "{:?}", load.diagnostics);
            let mut raw = Vec::new();
            PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(1234, 80, 1, 1024)
                .ack(1)
                .psh()
                .write(&mut raw, payload.as_bytes())
                .expect("build tcp");
            let pkt = decode_inner(0x0800, &raw).expect("valid");
            let mut info = PacketInfo::new(Timestamp::from_secs(1), &pkt, &raw);
            info.app.stream = stream.as_deref().map(str::as_bytes);
            info.app.stream_added = stream_added;
            // No flow, or a flow in either direction, established or not.
            info.flow = flow.map(|(to_client, established)| FlowInfo {
                flow_id: 1,
                direction: if to_client {
                    FlowDirection::ToClient
                } else {
                    FlowDirection::ToServer
                },
                flags: PacketFlags(if established { PacketFlags::ESTABLISHED } else { 0 }),
            });
            let run = |kind: MpmKind, naive: bool| {
                let opts = EngineOptions { mpm: kind, ..EngineOptions::default() };
                let (e, _) = Engine::compile(&load.rules, &Vars::suricata_defaults(), &opts);
                let mut ctx = DetectCtx::new(&e);
                let mut alerts = Vec::new();
                let v = e.inspect_with(&mut ctx, &info, None, None, &mut alerts, naive);
                (alerts.iter().map(|a| a.sid).collect::<Vec<_>>(), v)
            };
            let naive = run(MpmKind::AhoCorasick, true);
            prop_assert_eq!(&run(MpmKind::Hyperscan, false), &naive);
            prop_assert_eq!(&run(MpmKind::AhoCorasick, false), &naive);
        }
    }
}
