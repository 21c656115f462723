//! seawall-rules: the rule-language layer. It turns Suricata 7 rule text into a typed AST
//! ([`Rule`]) plus precise diagnostics ([`Diagnostic`]: file:line:col, keyword, sid), resolves
//! address/port variables ([`Vars`]) and classtypes ([`Classifications`]), and refuses, whole, every
//! rule Suricata would refuse or that Seawall cannot honour. It does no matching: `detect` compiles
//! the AST.
//!
//! Layering: the parser and validator are sans-I/O (`&str` in, values out; no clock, no panics on
//! any input — fuzzed by `fuzz/fuzz_targets/rule_file.rs`). The only file access is in [`check`],
//! the thin edge used by `seawall rules check`, which reads files and directories and formats a
//! report.
//!
//! Entry points:
//! - [`parse_file`] / [`Loader::load_str`]: a file's text → loaded rules + diagnostics (never fails
//!   as a whole; a rule is loaded whole or skipped whole).
//! - [`parse_rule`]: one rule's text.
//! - [`check::check_paths`]: files/directories → [`check::CheckReport`] (`Display` + `exit_code`).
#![forbid(unsafe_code)]

pub mod ast;
pub mod check;
pub mod classification;
pub mod diag;
mod frame;
pub mod keywords;
pub mod threshold_config;
mod validate;
pub mod vars;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

pub use ast::{Rule, RuleOption, Sid};
pub use check::{check_paths, CheckOptions, CheckReport};
pub use classification::Classifications;
pub use diag::{DiagKind, Diagnostic, LineIndex};
pub use vars::{IpSet, PortSet, Vars};

/// A loaded rule and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRule {
    pub rule: Rule,
    pub file: Arc<str>,
    /// 1-based line of the rule's first character.
    pub line: u32,
    /// Byte span of the rule in its file.
    pub span: Range<usize>,
}

/// Why a rule was skipped (for the per-reason summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub line: u32,
    pub sid: Option<Sid>,
    /// Reason label of the first blocking diagnostic ([`DiagKind::reason`]).
    pub reason: &'static str,
    /// Names of unknown/unsupported keywords in the rule.
    pub keywords: Vec<String>,
    /// True when every diagnostic of the rule is an unsupported keyword.
    pub only_unsupported: bool,
}

/// The result of loading one file.
#[derive(Debug, Clone, Default)]
pub struct FileLoad {
    pub rules: Vec<SourceRule>,
    pub diagnostics: Vec<Diagnostic>,
    pub skipped: Vec<Skipped>,
    /// Rules read (not counting comments and blank lines).
    pub read: usize,
    /// Lines that are commented-out rules (`#alert ...`).
    pub commented: usize,
}

/// Loads rule files against one set of variables and classtypes, remembering (gid, sid) across
/// files to report duplicates.
#[derive(Debug, Clone)]
pub struct Loader {
    vars: Vars,
    classes: Classifications,
    seen: HashMap<(u32, u32), String>,
}

impl Default for Loader {
    /// Suricata's packaged variables and classification.config.
    fn default() -> Self {
        Loader::new(Vars::suricata_defaults(), Classifications::stock())
    }
}

/// Find `sid:N` in a rule's text, for diagnostics about rules that did not parse.
fn scan_sid(text: &str) -> Option<Sid> {
    let mut from = 0;
    while let Some(pos) = text[from..].find("sid") {
        let at = from + pos;
        let before_ok = at == 0 || matches!(text.as_bytes()[at - 1], b';' | b'(' | b' ' | b'\t');
        let rest = text[at + 3..].trim_start();
        if before_ok {
            if let Some(r) = rest.strip_prefix(':') {
                let digits: String = r
                    .trim_start()
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(v) = digits.parse::<u32>() {
                    return Some(Sid(v));
                }
            }
        }
        from = at + 3;
    }
    None
}

fn looks_like_rule(s: &str) -> bool {
    let w = s.split(|c: char| c.is_whitespace()).next().unwrap_or("");
    ast::Action::ALL.iter().any(|(n, _)| *n == w) && s.contains('(')
}

impl Loader {
    /// A loader with these variables and classtypes.
    pub fn new(vars: Vars, classes: Classifications) -> Self {
        Loader {
            vars,
            classes,
            seen: HashMap::new(),
        }
    }

    /// The variables in use.
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// The classtypes in use.
    pub fn classifications(&self) -> &Classifications {
        &self.classes
    }

    /// Load the text of one file (`file` is the name used in diagnostics).
    pub fn load_str(&mut self, file: &str, text: &str) -> FileLoad {
        let file: Arc<str> = Arc::from(file);
        let index = LineIndex::new(text);
        let mut out = FileLoad::default();
        let bytes = text.as_bytes();
        let mut pos = 0;
        while pos < text.len() {
            let line_end = memchr::memchr(b'\n', &bytes[pos..]).map_or(text.len(), |i| pos + i);
            let line = &text[pos..line_end];
            let trimmed = line.trim();
            let lead = line.len() - line.trim_start().len();
            if trimmed.is_empty() {
                pos = line_end + 1;
                continue;
            }
            if let Some(c) = trimmed.strip_prefix('#') {
                if looks_like_rule(c.trim_start()) {
                    out.commented += 1;
                }
                pos = line_end + 1;
                continue;
            }
            // Collect continuation lines (`\` at end of line).
            let start = pos + lead;
            let mut segments: Vec<Range<usize>> = Vec::new();
            let mut seg_start = start;
            let mut end = line_end;
            loop {
                let seg = text[seg_start..end].trim_end();
                if let Some(s) = seg.strip_suffix('\\') {
                    segments.push(seg_start..seg_start + s.len());
                    if end >= text.len() {
                        break;
                    }
                    seg_start = end + 1;
                    end = memchr::memchr(b'\n', &bytes[seg_start..])
                        .map_or(text.len(), |i| seg_start + i);
                } else {
                    segments.push(seg_start..seg_start + seg.len());
                    break;
                }
            }
            pos = end + 1;
            out.read += 1;
            if segments.len() == 1 {
                let sp = segments[0].clone();
                self.load_one(
                    &file,
                    text,
                    &index,
                    &text[sp.clone()],
                    &|o| sp.start + o,
                    &mut out,
                );
            } else {
                let mut joined = String::new();
                let mut map: Vec<(usize, usize)> = Vec::new(); // (joined offset, file offset)
                for s in &segments {
                    map.push((joined.len(), s.start));
                    joined.push_str(&text[s.clone()]);
                }
                let to_file = |o: usize| {
                    let k = map.partition_point(|(j, _)| *j <= o).saturating_sub(1);
                    map[k].1 + (o - map[k].0)
                };
                self.load_one(&file, text, &index, &joined, &to_file, &mut out);
            }
        }
        out
    }

    fn load_one(
        &mut self,
        file: &Arc<str>,
        text: &str,
        index: &LineIndex,
        rule_text: &str,
        to_file: &dyn Fn(usize) -> usize,
        out: &mut FileLoad,
    ) {
        let rule_start = to_file(0);
        let rule_line = index.line_col(text, rule_start).0;
        let rule_span = rule_start..to_file(rule_text.len().saturating_sub(1)) + 1;
        let issues = match frame::parse_rule(rule_text) {
            Ok(parsed) => {
                let issues = validate::validate(&parsed, &self.vars, &self.classes);
                if issues.is_empty() {
                    let rule = parsed.rule;
                    let key = (rule.gid(), rule.sid().0);
                    let here = format!("{}:{}", file, rule_line);
                    if let Some(first) = self.seen.get(&key) {
                        let sid = rule.sid();
                        let span = parsed.spans[rule
                            .options
                            .iter()
                            .position(|o| matches!(o, RuleOption::Sid(_)))
                            .unwrap_or(0)]
                        .clone();
                        vec![frame::Issue {
                            span,
                            keyword: Some("sid"),
                            kind: DiagKind::DuplicateSid {
                                gid: key.0,
                                sid: sid.0,
                                first: first.clone(),
                            },
                        }]
                    } else {
                        self.seen.insert(key, here);
                        out.rules.push(SourceRule {
                            rule,
                            file: file.clone(),
                            line: rule_line,
                            span: rule_span,
                        });
                        return;
                    }
                } else {
                    issues
                }
            }
            Err(issues) => issues,
        };
        let sid = scan_sid(rule_text);
        let only_unsupported = issues.iter().all(|i| i.kind.is_unsupported());
        let reason = issues
            .iter()
            .find(|i| !i.kind.is_unsupported())
            .or(issues.first())
            .map_or("invalid", |i| i.kind.reason());
        let keywords = issues
            .iter()
            .filter_map(|i| match &i.kind {
                DiagKind::Unsupported(k) | DiagKind::UnknownKeyword(k) => Some(k.clone()),
                _ => None,
            })
            .collect();
        out.skipped.push(Skipped {
            line: rule_line,
            sid,
            reason,
            keywords,
            only_unsupported,
        });
        for i in issues {
            let start = to_file(i.span.start.min(rule_text.len()));
            let end = to_file(
                i.span
                    .end
                    .min(rule_text.len())
                    .max(i.span.start.min(rule_text.len())),
            );
            let (line, col) = index.line_col(text, start);
            out.diagnostics.push(Diagnostic {
                file: file.clone(),
                line,
                col,
                span: start..end.max(start),
                sid,
                keyword: i.keyword,
                kind: i.kind,
            });
        }
    }
}

/// Parse a file's text with Suricata's default variables and classtypes.
pub fn parse_file(text: &str) -> (Vec<SourceRule>, Vec<Diagnostic>) {
    let l = Loader::default().load_str("<input>", text);
    (l.rules, l.diagnostics)
}

/// Parse and validate one rule with Suricata's default variables and classtypes.
pub fn parse_rule(text: &str) -> Result<Rule, Vec<Diagnostic>> {
    static DEFAULT: std::sync::OnceLock<Loader> = std::sync::OnceLock::new();
    DEFAULT.get_or_init(Loader::default).parse_rule(text)
}

impl Loader {
    /// Parse and validate one rule's text without recording its sid.
    pub fn parse_rule(&self, text: &str) -> Result<Rule, Vec<Diagnostic>> {
        if text.trim().is_empty() {
            return Err(vec![Diagnostic {
                file: Arc::from("<input>"),
                line: 1,
                col: 1,
                span: 0..0,
                sid: None,
                keyword: None,
                kind: DiagKind::Expected("exactly one rule"),
            }]);
        }
        // Borrow the tables instead of cloning them when the text is a single well-formed rule.
        if !text.contains('\n') {
            let t = text.trim();
            return match frame::parse_rule(t) {
                Ok(p) => {
                    let issues = validate::validate(&p, &self.vars, &self.classes);
                    if issues.is_empty() {
                        Ok(p.rule)
                    } else {
                        Err(diags_for(t, issues))
                    }
                }
                Err(issues) => Err(diags_for(t, issues)),
            };
        }
        let mut scratch = Loader {
            vars: self.vars.clone(),
            classes: self.classes.clone(),
            seen: HashMap::new(),
        };
        scratch.parse_rule_multi(text)
    }
}

fn diags_for(text: &str, issues: Vec<frame::Issue>) -> Vec<Diagnostic> {
    let index = LineIndex::new(text);
    let sid = scan_sid(text);
    issues
        .into_iter()
        .map(|i| {
            let (line, col) = index.line_col(text, i.span.start);
            Diagnostic {
                file: Arc::from("<input>"),
                line,
                col,
                span: i.span,
                sid,
                keyword: i.keyword,
                kind: i.kind,
            }
        })
        .collect()
}

impl Loader {
    fn parse_rule_multi(&mut self, text: &str) -> Result<Rule, Vec<Diagnostic>> {
        let mut l = self.load_str("<input>", text);
        match (l.rules.pop(), l.diagnostics.is_empty()) {
            (Some(r), true) if l.rules.is_empty() => Ok(r.rule),
            _ if !l.diagnostics.is_empty() => Err(l.diagnostics),
            _ => Err(vec![Diagnostic {
                file: Arc::from("<input>"),
                line: 1,
                col: 1,
                span: 0..0,
                sid: None,
                keyword: None,
                kind: DiagKind::Expected("exactly one rule"),
            }]),
        }
    }
}
