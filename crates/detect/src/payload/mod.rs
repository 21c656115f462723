//! Payload programs: the content/pcre/byte_*/isdataat/bsize options of one rule for one buffer,
//! compiled once and matched with Suricata 7.0.10's exact semantics.
//!
//! The matcher follows Suricata's content inspection step by step: options are inspected in rule
//! order; a content or pcre that matched and has a relative option after it is retried at its next
//! occurrence when the rest of the chain fails (recursive backtracking), bounded by Suricata's
//! "discontinue" shortcuts and its inspection recursion limit (3000). Compile-time rewrites that
//! change how Suricata inspects are reproduced too: `depth` counted from the buffer start
//! (`depth + offset`), the first content's `distance`/`within` turned into `offset`/`depth`,
//! `isdataat:!1,relative` turned into `endswith`, the limits propagated along content chains, and
//! byte_extract/byte_math variable slots numbered per keyword kind (so the two kinds share slots,
//! as in Suricata).
//!
//! What is not honoured is refused at compile time with [`Unsupported`] naming the keyword, so the
//! engine skips the whole rule: `dce` endianness, `base64_decode`, variables defined in another
//! buffer, and a few parse-order-dependent quirks of variable `offset`/`depth`.

mod bytes;
mod compile;
mod fastpat;
mod inspect;
mod regex;
#[cfg(test)]
mod tests;

pub use fastpat::{pattern_strength, FastPatternMeta};
pub use seawall_rules::ast::Buffer;

use inspect::Op;

/// A rule the payload compiler cannot honour: the engine skips the whole rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{keyword}: {reason}")]
pub struct Unsupported {
    /// The keyword at fault (`byte_test`, `pcre`, ...).
    pub keyword: &'static str,
    /// Why, in lowercase words.
    pub reason: String,
}

impl Unsupported {
    pub(crate) fn new(keyword: &'static str, reason: impl Into<String>) -> Self {
        Unsupported {
            keyword,
            reason: reason.into(),
        }
    }
}

/// Number of byte_extract/byte_math variable slots a program may use.
pub const MAX_VARS: usize = 16;

/// Suricata's default `detect.inspection-recursion-limit`.
pub const INSPECTION_RECURSION_LIMIT: u32 = 3000;

/// The compiled payload part of one rule for one buffer.
#[derive(Debug, Clone)]
pub struct PayloadProgram {
    ops: Vec<Op>,
    fast: Option<fastpat::Selected>,
}

/// Per-worker scratch reused by every [`PayloadProgram::matches`] call (no allocation per call).
#[derive(Debug, Clone)]
pub struct PayloadScratch {
    pub(crate) vars: [u64; MAX_VARS],
    pub(crate) buffer_offset: u32,
    pub(crate) pcre_start: u32,
    pub(crate) discontinue: bool,
    pub(crate) calls: u32,
}

impl Default for PayloadScratch {
    fn default() -> Self {
        Self::new()
    }
}

impl PayloadScratch {
    /// Fresh scratch.
    pub fn new() -> Self {
        PayloadScratch {
            vars: [0; MAX_VARS],
            buffer_offset: 0,
            pcre_start: 0,
            discontinue: false,
            calls: 0,
        }
    }

    /// The value of variable slot `slot` after the last match (tests and diagnostics).
    pub fn var(&self, slot: usize) -> Option<u64> {
        self.vars.get(slot).copied()
    }
}

impl PayloadProgram {
    /// Compile the payload options of one buffer, in rule order. Options that are not payload
    /// options (msg, flow, buffer selections, transforms, ...) are ignored; the engine handles them.
    pub fn compile(
        opts: &[&seawall_rules::ast::RuleOption],
    ) -> Result<PayloadProgram, Unsupported> {
        let ops = compile::compile(opts)?;
        let fast = fastpat::select(&ops);
        Ok(PayloadProgram { ops, fast })
    }

    /// The literal for the multi-pattern matcher, `(bytes, nocase)`, chosen as Suricata does within
    /// one buffer: the content marked `fast_pattern` (chopped by `fast_pattern:offset,len`), else
    /// the longest non-negated content, ties broken by pattern strength, then rule order. `None`
    /// when there is no usable literal (no content, or only negated ones): the rule must be
    /// checked without prefilter.
    pub fn fast_pattern(&self) -> Option<(&[u8], bool)> {
        let s = self.fast.as_ref()?;
        if s.meta.negated {
            return None;
        }
        let Op::Content(c) = &self.ops[s.op] else {
            return None;
        };
        Some((&c.pattern[s.range.clone()], c.nocase()))
    }

    /// What the engine needs to choose one fast pattern across a rule's buffers as Suricata does
    /// (explicit `fast_pattern` first, then the longest, then the strongest).
    pub fn fast_pattern_meta(&self) -> Option<FastPatternMeta> {
        self.fast.as_ref().map(|s| s.meta)
    }

    /// For a rule whose fast pattern is this program's negated content (Suricata's "negated mpm":
    /// the rule has no positive content at all): true when Suricata's prefilter would find that
    /// literal in `buf`, in which case Suricata drops the rule without inspecting it. Suricata
    /// only puts a negated literal in its prefilter when it has no distance/within/depth/offset
    /// and no chop (so `content:!"x"; endswith;` is dropped whenever `x` occurs at all); such
    /// rules, and rules whose fast pattern is not negated, give false here.
    pub fn negated_mpm_hit(&self, buf: &[u8]) -> bool {
        match &self.fast {
            Some(s) if s.meta.negated && s.conclusive => s.prefilter_hit(buf),
            _ => false,
        }
    }

    /// True when the program has no options (nothing to verify).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Number of compiled options (after Suricata's rewrites).
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Inspect `buf` (the whole buffer, from its start). Zero allocation.
    pub fn matches(&self, buf: &[u8], scratch: &mut PayloadScratch) -> bool {
        scratch.buffer_offset = 0;
        scratch.pcre_start = 0;
        scratch.discontinue = false;
        scratch.calls = 0;
        if self.ops.is_empty() {
            return true;
        }
        inspect::run(&self.ops, buf, scratch)
    }
}
