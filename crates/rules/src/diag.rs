//! Diagnostics: what went wrong, where (file:line:col and byte span), for which rule and keyword.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use crate::ast::Sid;

/// One problem found while loading rules. A rule with at least one diagnostic is skipped whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File name as given by the caller (`<input>` for in-memory text).
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// Byte span in the file.
    pub span: Range<usize>,
    /// The rule's sid, when it could be read.
    pub sid: Option<Sid>,
    /// The keyword the problem is about (`None` for the rule frame).
    pub keyword: Option<&'static str>,
    /// What is wrong.
    pub kind: DiagKind,
}

/// What is wrong. The `Display` text is the `<what>` part of a diagnostic line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiagKind {
    /// The rule text does not have the expected shape.
    #[error("expected {0}")]
    Expected(&'static str),
    /// A keyword Suricata does not know either.
    #[error("unknown keyword `{0}`")]
    UnknownKeyword(String),
    /// A Suricata keyword that Seawall cannot honour yet.
    #[error("unsupported keyword `{0}`")]
    Unsupported(String),
    /// A keyword argument that does not parse or is out of range.
    #[error("{0}")]
    BadArgument(String),
    /// A keyword or keyword option given more than once.
    #[error("`{0}` given more than once")]
    Duplicate(&'static str),
    /// A required keyword or keyword option is absent.
    #[error("missing required option `{0}`")]
    Missing(&'static str),
    /// Two options that cannot be combined.
    #[error("`{0}` conflicts with `{1}`")]
    Conflict(&'static str, &'static str),
    /// A content modifier (or relative option) with no match before it to apply to.
    #[error("{0}")]
    NoPrecedingMatch(&'static str),
    /// A rule Suricata refuses for a semantic reason (depth shorter than content, uppercase in a lowercase buffer, ...).
    #[error("{0}")]
    Invalid(String),
    /// A pcre pattern that PCRE2 refuses, or a modifier letter Suricata does not know.
    #[error("bad pcre: {0}")]
    BadPcre(String),
    /// `$NAME` used in a rule header but not defined.
    #[error("undefined variable `${0}`")]
    UndefinedVariable(String),
    /// A variable definition that refers back to itself.
    #[error("variable cycle: {0}")]
    VariableCycle(String),
    /// An address or port group that cannot match anything (`!any`, `[80,!80]`, ...).
    #[error("{0}")]
    EmptyGroup(String),
    /// `classtype` not defined in classification.config.
    #[error("unknown classtype `{0}`")]
    UnknownClasstype(String),
    /// The same (gid, sid) loaded twice; the later rule is skipped.
    #[error("duplicate sid {sid} (gid {gid}), first defined at {first}")]
    DuplicateSid { gid: u32, sid: u32, first: String },
    /// A file or directory that cannot be read.
    #[error("cannot read: {0}")]
    Io(String),
}

impl DiagKind {
    /// Stable snake_case label used as the "skipped by reason" key and metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            DiagKind::Expected(_) => "syntax",
            DiagKind::UnknownKeyword(_) => "unknown_keyword",
            DiagKind::Unsupported(_) => "unsupported_keyword",
            DiagKind::BadArgument(_) => "bad_argument",
            DiagKind::Duplicate(_) => "duplicate_option",
            DiagKind::Missing(_) => "missing_option",
            DiagKind::Conflict(..) => "conflict",
            DiagKind::NoPrecedingMatch(_) => "no_preceding_match",
            DiagKind::Invalid(_) => "invalid",
            DiagKind::BadPcre(_) => "bad_pcre",
            DiagKind::UndefinedVariable(_) => "undefined_variable",
            DiagKind::VariableCycle(_) => "variable_cycle",
            DiagKind::EmptyGroup(_) => "empty_group",
            DiagKind::UnknownClasstype(_) => "unknown_classtype",
            DiagKind::DuplicateSid { .. } => "duplicate_sid",
            DiagKind::Io(_) => "io",
        }
    }

    /// True when the only problem is a keyword Seawall does not support (tolerated by `--allow-unsupported`).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, DiagKind::Unsupported(_))
    }

    /// True for errors in the rule text's syntax (as opposed to semantics or support).
    pub fn is_syntax(&self) -> bool {
        matches!(
            self,
            DiagKind::Expected(_) | DiagKind::UnknownKeyword(_) | DiagKind::BadArgument(_)
        )
    }
}

impl Diagnostic {
    /// The keyword shown in the diagnostic line: the explicit one, else the name inside the kind.
    pub fn keyword_name(&self) -> Option<&str> {
        match (&self.keyword, &self.kind) {
            (Some(k), _) => Some(k),
            (None, DiagKind::UnknownKeyword(k) | DiagKind::Unsupported(k)) => Some(k),
            _ => None,
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: error: <keyword>: <what> (sid N)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: error: ", self.file, self.line, self.col)?;
        if let Some(k) = self.keyword_name() {
            write!(f, "{k}: ")?;
        }
        write!(f, "{}", self.kind)?;
        if let Some(sid) = self.sid {
            write!(f, " (sid {sid})")?;
        }
        Ok(())
    }
}

/// Maps byte offsets to 1-based line and column; built once per file (rust-analyzer `line-index`).
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// Byte offset of the start of each line.
    starts: Vec<usize>,
}

impl LineIndex {
    /// Index the line starts of `text`.
    pub fn new(text: &str) -> Self {
        let mut starts = Vec::with_capacity(text.len() / 64 + 1);
        starts.push(0);
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex { starts }
    }

    /// 1-based (line, column) of byte `offset`; the column counts characters.
    pub fn line_col(&self, text: &str, offset: usize) -> (u32, u32) {
        let offset = offset.min(text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let col = text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start);
        (line as u32 + 1, col as u32 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_maps_offsets() {
        let t = "ab\ncdé\nf";
        let ix = LineIndex::new(t);
        assert_eq!(ix.line_col(t, 0), (1, 1));
        assert_eq!(ix.line_col(t, 2), (1, 3));
        assert_eq!(ix.line_col(t, 3), (2, 1));
        assert_eq!(ix.line_col(t, 7), (2, 4)); // after the 2-byte é
        assert_eq!(ix.line_col(t, 8), (3, 1));
        assert_eq!(ix.line_col(t, 100), (3, 2));
    }
}
