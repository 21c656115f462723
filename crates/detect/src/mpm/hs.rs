//! Hyperscan backend (block mode): every literal compiled as a hex-escaped expression with
//! `SINGLEMATCH` (one report per pattern per scan) and `CASELESS` for nocase patterns.

use std::fmt::Write as _;

use hyperscan::prelude::*;

use super::{Mpm, MpmError, PatternDef};

/// Hyperscan matcher.
pub struct HyperscanMpm {
    db: Option<BlockDatabase>,
    /// Expression index → user id.
    ids: Vec<u32>,
}

impl std::fmt::Debug for HyperscanMpm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperscanMpm")
            .field("patterns", &self.ids.len())
            .finish()
    }
}

/// Per-worker Hyperscan scratch (belongs to the matcher that made it).
pub struct HyperscanScratch {
    scratch: Option<Scratch>,
}

impl std::fmt::Debug for HyperscanScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HyperscanScratch")
    }
}

fn expression(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 4);
    for b in bytes {
        let _ = write!(s, "\\x{b:02x}");
    }
    s
}

impl HyperscanMpm {
    pub(crate) fn build(patterns: &[PatternDef]) -> Result<Self, MpmError> {
        let ids = patterns.iter().map(|p| p.id).collect();
        if patterns.is_empty() {
            return Ok(HyperscanMpm { db: None, ids });
        }
        let pats: Patterns = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut flags = CompileFlags::SINGLEMATCH;
                if p.nocase {
                    flags |= CompileFlags::CASELESS;
                }
                Pattern {
                    expression: expression(&p.bytes),
                    flags,
                    id: Some(i),
                    ext: Default::default(),
                    som: None,
                }
            })
            .collect();
        let db: BlockDatabase = pats
            .build()
            .map_err(|e| MpmError::Hyperscan(e.to_string()))?;
        Ok(HyperscanMpm { db: Some(db), ids })
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when built from no pattern.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

impl Mpm for HyperscanMpm {
    type Scratch = HyperscanScratch;

    fn new_scratch(&self) -> HyperscanScratch {
        HyperscanScratch {
            scratch: self.db.as_ref().and_then(|db| db.alloc_scratch().ok()),
        }
    }

    fn scan(&self, hay: &[u8], scratch: &mut HyperscanScratch, on_match: &mut dyn FnMut(u32)) {
        let Some(db) = &self.db else {
            return;
        };
        if scratch.scratch.is_none() {
            *scratch = self.new_scratch();
        }
        let Some(s) = &scratch.scratch else {
            return;
        };
        let ids = &self.ids;
        let _ = db.scan(hay, s, |idx: u32, _from: u64, _to: u64, _flags: u32| {
            if let Some(id) = ids.get(idx as usize) {
                on_match(*id);
            }
            Matching::Continue
        });
    }
}
