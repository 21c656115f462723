//! Fast pattern choice within one buffer, as Suricata 7's RetrieveFPForSig / GetMpmForList.

use std::ops::Range;

use super::inspect::{Op, Searcher, DEPTH, DISTANCE, FAST_PATTERN, NEGATED, OFFSET, WITHIN};

/// What the engine needs to pick one fast pattern across a rule's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastPatternMeta {
    /// The content carries `fast_pattern` (Suricata takes the first such content of the rule).
    pub explicit: bool,
    /// The chosen content is negated (only when the buffer has no other content): no literal.
    pub negated: bool,
    /// Length of the whole content (selection compares whole contents, not chops).
    pub content_len: usize,
    /// [`pattern_strength`] of the whole content.
    pub strength: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Selected {
    pub op: usize,
    pub range: Range<usize>,
    pub meta: FastPatternMeta,
    /// The literal as Suricata's prefilter looks for it (chopped bytes).
    pub searcher: Searcher,
    /// Suricata's DETECT_CONTENT_MPM_IS_CONCLUSIVE: no distance/within/depth/offset/chop. A
    /// negated fast pattern enters the prefilter only then.
    pub conclusive: bool,
}

impl Selected {
    /// Would Suricata's prefilter find the literal in `buf`? (Only asked for conclusive
    /// patterns, which have no offset/depth window.)
    pub fn prefilter_hit(&self, buf: &[u8]) -> bool {
        self.searcher.find(buf).is_some()
    }
}

/// Suricata's PatternStrength: each distinct byte scores 3 (letter), 4 (printable, NUL, 0x01,
/// 0xFF) or 6 (other); each repeated byte scores 1.
pub fn pattern_strength(pat: &[u8]) -> u32 {
    let mut seen = [false; 256];
    let mut s = 0u32;
    for &b in pat {
        if seen[usize::from(b)] {
            s += 1;
        } else {
            seen[usize::from(b)] = true;
            s += if b.is_ascii_alphabetic() {
                3
            } else if (0x20..=0x7e).contains(&b) || matches!(b, 0x00 | 0x01 | 0xff) {
                4
            } else {
                6
            };
        }
    }
    s
}

pub(crate) fn select(ops: &[Op]) -> Option<Selected> {
    let contents = || {
        ops.iter().enumerate().filter_map(|(i, o)| match o {
            Op::Content(c) => Some((i, c)),
            _ => None,
        })
    };
    let pick = |i: usize, explicit: bool| {
        let Op::Content(c) = &ops[i] else {
            return None;
        };
        let range = match c.fast_chop {
            Some((o, l)) => {
                let (o, l) = (usize::from(o), usize::from(l));
                if o + l > c.pattern.len() || l == 0 {
                    0..c.pattern.len()
                } else {
                    o..o + l
                }
            }
            None => 0..c.pattern.len(),
        };
        let conclusive =
            c.flags & (DISTANCE | WITHIN | DEPTH | OFFSET) == 0 && c.fast_chop.is_none();
        Some(Selected {
            searcher: Searcher::new(&c.pattern[range.clone()], c.nocase()),
            conclusive,
            op: i,
            range,
            meta: FastPatternMeta {
                explicit,
                negated: c.flags & NEGATED != 0,
                content_len: c.pattern.len(),
                strength: pattern_strength(&c.pattern),
            },
        })
    };
    if let Some((i, _)) = contents().find(|(_, c)| c.flags & FAST_PATTERN != 0) {
        return pick(i, true);
    }
    let any_positive = contents().any(|(_, c)| c.flags & NEGATED == 0);
    let eligible = |c: &super::inspect::ContentOp| !any_positive || c.flags & NEGATED == 0;
    let max_len = contents()
        .filter(|(_, c)| eligible(c))
        .map(|(_, c)| c.pattern.len())
        .max()?;
    let mut best: Option<(usize, u32)> = None;
    for (i, c) in contents() {
        if !eligible(c) || c.pattern.len() != max_len {
            continue;
        }
        let s = pattern_strength(&c.pattern);
        if best.is_none_or(|(_, bs)| s > bs) {
            best = Some((i, s));
        }
    }
    pick(best?.0, false)
}
