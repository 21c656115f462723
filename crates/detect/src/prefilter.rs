//! The engine's side of the multi-pattern matcher: one prefilter per rule group over the fast
//! patterns of its rules, built with [`crate::mpm::MpmBuilder`]. This is the only file that
//! touches the `mpm` API.
//!
//! A packet-rule group's prefilter also holds a second, smaller matcher for the payload of a TCP
//! packet that was added to the stream ([`Prefilter::build_payload`]): on such a packet only
//! the rules that inspect the packet payload (`dsize`, `flow:no_stream`, contents with
//! depth/offset: Suricata's SIG_FLAG_REQUIRE_PACKET) can match it, every other rule only
//! matches the reassembled stream, which is scanned with the full matcher when it is inspected.
//! So the payload bytes of stream-added packets are no longer scanned for patterns that cannot
//! make a rule match there (they were scanned twice: as packet payload and again in the stream).

use crate::mpm::{BuiltMpm, BuiltScratch, MpmBuilder, MpmKind};

/// A built matcher; pattern ids are indexes into the group's rule list.
#[derive(Debug)]
pub(crate) struct Prefilter {
    inner: BuiltMpm,
    /// The patterns of the rules that can match the payload of a stream-added TCP packet.
    stream_added: Subset,
}

/// The matcher for stream-added payloads.
#[derive(Debug)]
enum Subset {
    /// No rule can match such a payload: no scan.
    Empty,
    /// Every rule can: the full matcher.
    All,
    /// Some can: a matcher over their patterns.
    Some(BuiltMpm),
}

/// Per-worker scratch of one prefilter.
#[derive(Debug)]
pub(crate) struct PrefilterScratch {
    inner: BuiltScratch,
    stream_added: Option<BuiltScratch>,
}

/// Which matcher of a prefilter to scan with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hay {
    /// Any buffer: every pattern.
    All,
    /// The payload of a TCP packet added to the stream: the patterns of the rules that can
    /// match such a payload.
    StreamAddedPayload,
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

impl Prefilter {
    /// Build over `(id, literal, nocase)`.
    pub(crate) fn build(
        patterns: &[(u32, Vec<u8>, bool)],
        kind: MpmKind,
    ) -> Result<Prefilter, String> {
        let inner = build_mpm(
            patterns.iter().map(|(id, p, n)| (*id, p.as_slice(), *n)),
            kind,
        )?;
        Ok(Prefilter {
            inner,
            stream_added: Subset::All,
        })
    }

    /// Build a packet-payload prefilter over `(id, literal, nocase, packet)`, where `packet`
    /// tells that the pattern's rule can match the payload of a TCP packet added to the stream.
    pub(crate) fn build_payload(
        patterns: &[(u32, Vec<u8>, bool, bool)],
        kind: MpmKind,
    ) -> Result<Prefilter, String> {
        let all = || {
            build_mpm(
                patterns.iter().map(|(id, p, n, _)| (*id, p.as_slice(), *n)),
                kind,
            )
        };
        let packet = || {
            build_mpm(
                patterns
                    .iter()
                    .filter(|p| p.3)
                    .map(|(id, p, n, _)| (*id, p.as_slice(), *n)),
                kind,
            )
        };
        let (inner, stream_added) = match patterns.iter().filter(|p| p.3).count() {
            0 => (all()?, Subset::Empty),
            n if n == patterns.len() => (all()?, Subset::All),
            _ => {
                // Both matchers are compiled at once (rule loading is timed on the wall clock);
                // one after the other when no thread can be started.
                let (inner, subset) = std::thread::scope(|s| {
                    let h = std::thread::Builder::new().spawn_scoped(s, packet);
                    let inner = all();
                    let subset = match h {
                        Ok(h) => h
                            .join()
                            .unwrap_or_else(|_| Err("compile thread panicked".into())),
                        Err(_) => packet(),
                    };
                    (inner, subset)
                });
                (inner?, Subset::Some(subset?))
            }
        };
        Ok(Prefilter {
            inner,
            stream_added,
        })
    }

    pub(crate) fn new_scratch(&self) -> PrefilterScratch {
        PrefilterScratch {
            inner: self.inner.new_scratch(),
            stream_added: match &self.stream_added {
                Subset::Some(m) => Some(m.new_scratch()),
                Subset::Empty | Subset::All => None,
            },
        }
    }

    /// Report every pattern id found in `hay` (duplicates allowed).
    pub(crate) fn scan(&self, hay: &[u8], scratch: &mut PrefilterScratch, on: &mut dyn FnMut(u32)) {
        self.inner.scan(hay, &mut scratch.inner, on);
    }

    /// [`Prefilter::scan`] with the matcher for `which`: for [`Hay::StreamAddedPayload`], only
    /// the ids of rules that can match such a payload are reported.
    pub(crate) fn scan_for(
        &self,
        which: Hay,
        hay: &[u8],
        scratch: &mut PrefilterScratch,
        on: &mut dyn FnMut(u32),
    ) {
        match which {
            Hay::All => self.scan(hay, scratch, on),
            Hay::StreamAddedPayload => match &self.stream_added {
                Subset::Empty => {}
                Subset::All => self.scan(hay, scratch, on),
                Subset::Some(m) => {
                    let s = scratch.stream_added.get_or_insert_with(|| m.new_scratch());
                    m.scan(hay, s, on);
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use etherparse::PacketBuilder;
    use proptest::prelude::*;
    use seawall_flow::Timestamp;
    use seawall_rules::{Loader, Vars};
    use seawall_wire::decode_inner;

    use super::{Hay, Prefilter};
    use crate::mpm::MpmKind;
    use crate::{DetectCtx, Engine, EngineOptions, PacketInfo};

    fn ids(p: &Prefilter, which: Hay, hay: &[u8]) -> Vec<u32> {
        let mut s = p.new_scratch();
        let mut out = Vec::new();
        p.scan_for(which, hay, &mut s, &mut |id| out.push(id));
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn stream_added_payload_reports_only_packet_rules() {
        for kind in [MpmKind::Hyperscan, MpmKind::AhoCorasick] {
            let pats = [
                (0, b"abc".to_vec(), false, true),
                (1, b"bcd".to_vec(), false, false),
                (2, b"CD".to_vec(), true, true),
            ];
            let p = Prefilter::build_payload(&pats, kind).expect("build");
            assert_eq!(ids(&p, Hay::All, b"xabcdx"), [0, 1, 2]);
            assert_eq!(ids(&p, Hay::StreamAddedPayload, b"xabcdx"), [0, 2]);
            // No packet rule: nothing to scan for.
            let none: Vec<_> = pats
                .iter()
                .map(|(i, l, n, _)| (*i, l.clone(), *n, false))
                .collect();
            let p = Prefilter::build_payload(&none, kind).expect("build");
            assert_eq!(ids(&p, Hay::All, b"abcd"), [0, 1, 2]);
            assert!(ids(&p, Hay::StreamAddedPayload, b"abcd").is_empty());
            // Only packet rules: the full matcher.
            let all: Vec<_> = pats
                .iter()
                .map(|(i, l, n, _)| (*i, l.clone(), *n, true))
                .collect();
            let p = Prefilter::build_payload(&all, kind).expect("build");
            assert_eq!(ids(&p, Hay::StreamAddedPayload, b"abcd"), [0, 1, 2]);
            // A plain prefilter scans everything for either hay.
            let plain: Vec<_> = pats
                .iter()
                .map(|(i, l, n, _)| (*i, l.clone(), *n))
                .collect();
            let p = Prefilter::build(&plain, kind).expect("build");
            assert_eq!(ids(&p, Hay::StreamAddedPayload, b"abcd"), [0, 1, 2]);
        }
    }

    /// One TCP payload rule of each stream mode (stream, stream and packet, packet only, stream
    /// only).
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
        )
            .prop_map(move |(proto, lit, extra)| {
                format!("alert {proto} any any -> any any (content:\"{lit}\";{extra} sid:{sid};)")
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

        /// On a stream-added TCP packet, with or without stream data to inspect, the reduced
        /// payload scan raises exactly the alerts of evaluating every rule.
        #[test]
        fn stream_added_grouped_equals_naive(
            rules in arb_rules(),
            payload in "[abAB]{0,8}",
            stream in proptest::option::of("[abAB]{0,12}"),
            stream_added in any::<bool>(),
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
