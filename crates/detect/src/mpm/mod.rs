//! Multi-pattern matching: one trait ([`Mpm`]), two backends — Hyperscan (Debian's libhyperscan,
//! as Suricata uses) and aho-corasick (pure Rust) — built from one [`MpmBuilder`].
//!
//! Semantics shared by both backends, checked by a property test: patterns are literal bytes,
//! each case-sensitive or ASCII case-insensitive; a scan reports the id of every pattern that
//! occurs anywhere in the haystack, once per pattern per scan (so an id shared by several
//! patterns may be reported more than once), in no particular order.
//!
//! Default backend ([`MpmKind::default`]): Hyperscan, by measurement (benches/benches/mpm.rs: ET
//! Open fast patterns over the 68.9 MB of TCP/UDP payload in bench-mixed.pcap, one core, both
//! backends reporting the same hits):
//!
//! | pattern set | patterns | Hyperscan | aho-corasick (DFA) |
//! |---|---|---|---|
//! | packet-payload rules | 3,370 | 129 MiB/s (build 64 ms) | 88 MiB/s (build 166 ms) |
//! | every buffer's fast pattern in one matcher | 33,182 | 59 MiB/s (build 2.8 s) | 32 MiB/s (build 0.9 s) |
//!
//! Both are far below the 2 GB/s of a quiet literal set: ET Open has hundreds of 1–4 byte fast
//! patterns, so most payloads report ~11 (payload set) to ~97 (all) pattern hits.

mod ac;
mod hs;

use std::collections::HashMap;

pub use ac::{AhoCorasickMpm, AhoCorasickScratch};
pub use hs::{HyperscanMpm, HyperscanScratch};

/// A built multi-pattern matcher. Immutable and shared between workers; each worker owns a
/// scratch.
pub trait Mpm: Send + Sync {
    /// Per-worker scan state.
    type Scratch: Send;
    /// A scratch for this matcher.
    fn new_scratch(&self) -> Self::Scratch;
    /// Call `on_match` with the id of each pattern found in `hay` (once per pattern).
    fn scan(&self, hay: &[u8], scratch: &mut Self::Scratch, on_match: &mut dyn FnMut(u32));
}

/// Which backend to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MpmKind {
    /// Hyperscan (libhs 5): the measured default.
    #[default]
    Hyperscan,
    /// aho-corasick 1.1 (pure Rust, overlapping search).
    AhoCorasick,
}

impl MpmKind {
    /// Stable lowercase name (`hyperscan`, `aho-corasick`).
    pub fn name(self) -> &'static str {
        match self {
            MpmKind::Hyperscan => "hyperscan",
            MpmKind::AhoCorasick => "aho-corasick",
        }
    }

    /// Parse [`MpmKind::name`].
    pub fn from_name(s: &str) -> Option<MpmKind> {
        match s {
            "hyperscan" | "hs" => Some(MpmKind::Hyperscan),
            "aho-corasick" | "ac" => Some(MpmKind::AhoCorasick),
            _ => None,
        }
    }
}

/// Why a matcher could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MpmError {
    /// A pattern with no bytes (never a fast pattern: contents are never empty).
    #[error("empty pattern for id {0}")]
    EmptyPattern(u32),
    /// Hyperscan refused to compile the database.
    #[error("hyperscan compile failed: {0}")]
    Hyperscan(String),
    /// aho-corasick refused to build the automaton.
    #[error("aho-corasick build failed: {0}")]
    AhoCorasick(String),
}

/// One pattern to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PatternDef {
    pub id: u32,
    pub bytes: Vec<u8>,
    pub nocase: bool,
}

/// Collects patterns, then builds either backend.
#[derive(Debug, Clone, Default)]
pub struct MpmBuilder {
    patterns: Vec<PatternDef>,
}

impl MpmBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a literal; `nocase` makes it ASCII case-insensitive. Ids need not be unique.
    pub fn add(&mut self, id: u32, pattern: &[u8], nocase: bool) {
        self.patterns.push(PatternDef {
            id,
            bytes: pattern.to_vec(),
            nocase,
        });
    }

    /// Number of patterns added.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// True when no pattern was added.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Build the matcher. Patterns with the same bytes and case are compiled once (ET Open's
    /// fast patterns repeat: 2,504 TCP packet-rule patterns are 1,941 distinct, one HTTP
    /// buffer's 6,909 are 3,456), and a hit reports every id added with them.
    pub fn build(self, kind: MpmKind) -> Result<BuiltMpm, MpmError> {
        if let Some(p) = self.patterns.iter().find(|p| p.bytes.is_empty()) {
            return Err(MpmError::EmptyPattern(p.id));
        }
        let mut index: HashMap<(&[u8], bool), usize> = HashMap::new();
        let mut unique: Vec<PatternDef> = Vec::new();
        let mut ids_of: Vec<Vec<u32>> = Vec::new();
        for p in &self.patterns {
            let k = *index
                .entry((p.bytes.as_slice(), p.nocase))
                .or_insert_with(|| {
                    unique.push(PatternDef {
                        id: unique.len() as u32,
                        bytes: p.bytes.clone(),
                        nocase: p.nocase,
                    });
                    ids_of.push(Vec::new());
                    unique.len() - 1
                });
            ids_of[k].push(p.id);
        }
        let mut ids = IdMap::default();
        for v in &ids_of {
            ids.starts.push(ids.ids.len() as u32);
            ids.ids.extend_from_slice(v);
        }
        ids.starts.push(ids.ids.len() as u32);
        let backend = match kind {
            MpmKind::Hyperscan => Backend::Hyperscan(HyperscanMpm::build(&unique)?),
            MpmKind::AhoCorasick => Backend::AhoCorasick(AhoCorasickMpm::build(&unique)?),
        };
        Ok(BuiltMpm { backend, ids })
    }
}

/// Distinct pattern index → the ids added with it: `ids[starts[i]..starts[i + 1]]`.
#[derive(Debug, Default)]
struct IdMap {
    starts: Vec<u32>,
    ids: Vec<u32>,
}

impl IdMap {
    fn of(&self, i: u32) -> &[u32] {
        let i = i as usize;
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&a), Some(&b)) => self.ids.get(a as usize..b as usize).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// Either backend behind one concrete type (what the engine stores).
#[derive(Debug)]
pub struct BuiltMpm {
    backend: Backend,
    ids: IdMap,
}

#[derive(Debug)]
enum Backend {
    Hyperscan(HyperscanMpm),
    AhoCorasick(AhoCorasickMpm),
}

/// Scratch of a [`BuiltMpm`].
#[derive(Debug)]
pub enum BuiltScratch {
    Hyperscan(HyperscanScratch),
    AhoCorasick(AhoCorasickScratch),
}

impl BuiltMpm {
    /// The backend in use.
    pub fn kind(&self) -> MpmKind {
        match self.backend {
            Backend::Hyperscan(_) => MpmKind::Hyperscan,
            Backend::AhoCorasick(_) => MpmKind::AhoCorasick,
        }
    }

    /// Number of patterns added.
    pub fn len(&self) -> usize {
        self.ids.ids.len()
    }

    /// Number of distinct patterns compiled.
    pub fn distinct(&self) -> usize {
        match &self.backend {
            Backend::Hyperscan(m) => m.len(),
            Backend::AhoCorasick(m) => m.len(),
        }
    }

    /// True when built from no pattern (never matches).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A scratch for this matcher.
    pub fn new_scratch(&self) -> BuiltScratch {
        match &self.backend {
            Backend::Hyperscan(m) => BuiltScratch::Hyperscan(m.new_scratch()),
            Backend::AhoCorasick(m) => BuiltScratch::AhoCorasick(m.new_scratch()),
        }
    }

    /// Scan `hay` with a scratch made by this matcher (one of the other backend is replaced by a
    /// fresh one; a Hyperscan scratch of another database may be too small and miss matches).
    pub fn scan(&self, hay: &[u8], scratch: &mut BuiltScratch, on_match: &mut dyn FnMut(u32)) {
        let ids = &self.ids;
        let on = &mut |i: u32| {
            for id in ids.of(i) {
                on_match(*id);
            }
        };
        match (&self.backend, &mut *scratch) {
            (Backend::Hyperscan(m), BuiltScratch::Hyperscan(s)) => m.scan(hay, s, on),
            (Backend::AhoCorasick(m), BuiltScratch::AhoCorasick(s)) => m.scan(hay, s, on),
            _ => {
                *scratch = self.new_scratch();
                self.scan(hay, scratch, on_match);
            }
        }
    }
}

impl Mpm for BuiltMpm {
    type Scratch = BuiltScratch;
    fn new_scratch(&self) -> BuiltScratch {
        BuiltMpm::new_scratch(self)
    }
    fn scan(&self, hay: &[u8], scratch: &mut BuiltScratch, on_match: &mut dyn FnMut(u32)) {
        BuiltMpm::scan(self, hay, scratch, on_match);
    }
}

#[cfg(test)]
mod tests;
