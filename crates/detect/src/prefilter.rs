//! The engine's side of the multi-pattern matcher: one prefilter per rule group over the fast
//! patterns of its rules, built with [`crate::mpm::MpmBuilder`]. This is the only file that
//! touches the `mpm` API.

use crate::mpm::{BuiltMpm, BuiltScratch, MpmBuilder, MpmKind};

/// A built matcher; pattern ids are indexes into the group's rule list.
#[derive(Debug)]
pub(crate) struct Prefilter {
    inner: BuiltMpm,
}

/// Per-worker scratch of one prefilter.
pub(crate) type PrefilterScratch = BuiltScratch;

impl Prefilter {
    /// Build over `(id, literal, nocase)`.
    pub(crate) fn build(
        patterns: &[(u32, Vec<u8>, bool)],
        kind: MpmKind,
    ) -> Result<Prefilter, String> {
        let mut b = MpmBuilder::new();
        for (id, p, nocase) in patterns {
            b.add(*id, p, *nocase);
        }
        let inner = b.build(kind).map_err(|e| e.to_string())?;
        Ok(Prefilter { inner })
    }

    pub(crate) fn new_scratch(&self) -> PrefilterScratch {
        self.inner.new_scratch()
    }

    /// Report every pattern id found in `hay` (duplicates allowed).
    pub(crate) fn scan(&self, hay: &[u8], scratch: &mut PrefilterScratch, on: &mut dyn FnMut(u32)) {
        self.inner.scan(hay, scratch, on);
    }
}
