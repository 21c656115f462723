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
