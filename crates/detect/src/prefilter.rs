//! The engine's side of the multi-pattern matcher: one prefilter per rule group over the fast
//! patterns of its rules. This is the only file that touches a matcher API, so a change of the
//! `mpm` module's shape stays here. Until the `mpm` backends land this uses aho-corasick
//! directly (one case-sensitive and one ASCII-case-insensitive automaton).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// Which matcher backend to build (placeholder for `mpm::MpmKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MpmKind {
    /// Pure-Rust Aho-Corasick.
    #[default]
    AhoCorasick,
}

/// A built matcher; pattern ids are indexes into the group's rule list.
#[derive(Debug)]
pub(crate) struct Prefilter {
    exact: Option<(AhoCorasick, Vec<u32>)>,
    nocase: Option<(AhoCorasick, Vec<u32>)>,
}

/// Per-worker scratch of one prefilter (none needed by this backend).
#[derive(Debug, Default)]
pub(crate) struct PrefilterScratch;

fn build_one(
    pats: &[(u32, &[u8])],
    nocase: bool,
) -> Result<Option<(AhoCorasick, Vec<u32>)>, String> {
    if pats.is_empty() {
        return Ok(None);
    }
    let ac = AhoCorasickBuilder::new()
        .ascii_case_insensitive(nocase)
        .match_kind(MatchKind::Standard)
        .build(pats.iter().map(|(_, p)| *p))
        .map_err(|e| e.to_string())?;
    Ok(Some((ac, pats.iter().map(|(id, _)| *id).collect())))
}

impl Prefilter {
    /// Build over `(id, literal, nocase)`.
    pub(crate) fn build(
        patterns: &[(u32, Vec<u8>, bool)],
        _kind: MpmKind,
    ) -> Result<Prefilter, String> {
        let exact: Vec<(u32, &[u8])> = patterns
            .iter()
            .filter(|p| !p.2)
            .map(|p| (p.0, p.1.as_slice()))
            .collect();
        let nocase: Vec<(u32, &[u8])> = patterns
            .iter()
            .filter(|p| p.2)
            .map(|p| (p.0, p.1.as_slice()))
            .collect();
        Ok(Prefilter {
            exact: build_one(&exact, false)?,
            nocase: build_one(&nocase, true)?,
        })
    }

    pub(crate) fn new_scratch(&self) -> PrefilterScratch {
        PrefilterScratch
    }

    /// Report every pattern id found in `hay` (duplicates allowed).
    pub(crate) fn scan(
        &self,
        hay: &[u8],
        _scratch: &mut PrefilterScratch,
        on: &mut dyn FnMut(u32),
    ) {
        for (ac, ids) in [&self.exact, &self.nocase].into_iter().flatten() {
            for m in ac.find_overlapping_iter(hay) {
                if let Some(id) = ids.get(m.pattern().as_usize()) {
                    on(*id);
                }
            }
        }
    }
}
