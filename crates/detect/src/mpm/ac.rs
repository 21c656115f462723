//! aho-corasick backend: one ASCII-case-insensitive automaton over all patterns, overlapping
//! search; case-sensitive patterns are confirmed on the matched bytes.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use super::{Mpm, MpmError, PatternDef};

/// Pure-Rust matcher.
#[derive(Debug)]
pub struct AhoCorasickMpm {
    ac: Option<AhoCorasick>,
    /// Per pattern index: (user id, exact bytes when case-sensitive).
    pats: Vec<(u32, Option<Box<[u8]>>)>,
}

/// Per-worker state: which patterns were already reported in this scan.
#[derive(Debug, Clone)]
pub struct AhoCorasickScratch {
    seen: Vec<u64>,
    touched: Vec<u32>,
}

impl AhoCorasickMpm {
    pub(crate) fn build(patterns: &[PatternDef]) -> Result<Self, MpmError> {
        let pats = patterns
            .iter()
            .map(|p| {
                (
                    p.id,
                    (!p.nocase).then(|| p.bytes.clone().into_boxed_slice()),
                )
            })
            .collect();
        let ac = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(patterns.iter().map(|p| &p.bytes))
                    .or_else(|_| {
                        // Too many states for a DFA: fall back to the automatic choice.
                        AhoCorasick::builder()
                            .ascii_case_insensitive(true)
                            .match_kind(MatchKind::Standard)
                            .build(patterns.iter().map(|p| &p.bytes))
                    })
                    .map_err(|e| MpmError::AhoCorasick(e.to_string()))?,
            )
        };
        Ok(AhoCorasickMpm { ac, pats })
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.pats.len()
    }

    /// True when built from no pattern.
    pub fn is_empty(&self) -> bool {
        self.pats.is_empty()
    }
}

impl Mpm for AhoCorasickMpm {
    type Scratch = AhoCorasickScratch;

    fn new_scratch(&self) -> AhoCorasickScratch {
        AhoCorasickScratch {
            seen: vec![0; self.pats.len().div_ceil(64)],
            touched: Vec::with_capacity(64),
        }
    }

    fn scan(&self, hay: &[u8], scratch: &mut AhoCorasickScratch, on_match: &mut dyn FnMut(u32)) {
        let Some(ac) = &self.ac else {
            return;
        };
        if scratch.seen.len() * 64 < self.pats.len() {
            *scratch = self.new_scratch();
        }
        for m in ac.find_overlapping_iter(hay) {
            let idx = m.pattern().as_usize();
            let (word, bit) = (idx / 64, 1u64 << (idx % 64));
            if scratch.seen[word] & bit != 0 {
                continue;
            }
            let (id, exact) = &self.pats[idx];
            if let Some(exact) = exact {
                if hay[m.start()..m.end()] != **exact {
                    continue;
                }
            }
            scratch.seen[word] |= bit;
            scratch.touched.push(idx as u32);
            on_match(*id);
        }
        for idx in scratch.touched.drain(..) {
            scratch.seen[idx as usize / 64] = 0;
        }
    }
}
