//! `seawall rules check`: the file-reading edge of this crate. Reads rule files and directories
//! (`*.rules`, sorted), an optional suricata.yaml for `vars:` and an optional classification.config,
//! loads everything with one [`Loader`] and reports diagnostics plus a summary.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::classification::Classifications;
use crate::diag::{DiagKind, Diagnostic};
use crate::vars::{VarError, Vars};
use crate::{Loader, SourceRule};

/// Options of `seawall rules check`.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Exit 0 when the only diagnostics are unsupported keywords (`--allow-unsupported`).
    pub allow_unsupported: bool,
    /// A suricata.yaml-style file whose `vars:` override the defaults (`--vars FILE`).
    pub vars_file: Option<PathBuf>,
    /// A classification.config replacing the stock one.
    pub classification_file: Option<PathBuf>,
}

/// What `check_paths` found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Rule files read.
    pub files: usize,
    /// Rules read (not counting comments).
    pub read: usize,
    /// Commented-out rules seen (`#alert ...`), not loaded.
    pub commented: usize,
    /// Rules loaded.
    pub loaded: Vec<SourceRule>,
    /// Every diagnostic, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// Skipped rules per reason label.
    pub skipped_by_reason: BTreeMap<&'static str, usize>,
    /// Rules skipped per unsupported keyword.
    pub unsupported_keywords: BTreeMap<String, usize>,
    /// Rules skipped per unknown keyword.
    pub unknown_keywords: BTreeMap<String, usize>,
    /// Rules skipped only because of unsupported keywords.
    pub skipped_unsupported_only: usize,
    /// Problems outside rules (unreadable paths, bad vars or classification files).
    pub config_errors: usize,
    allow_unsupported: bool,
}

impl CheckReport {
    /// Number of skipped rules.
    pub fn skipped(&self) -> usize {
        self.skipped_by_reason.values().sum()
    }

    /// Process exit status: 0 when clean (or only unsupported keywords with `--allow-unsupported`),
    /// 1 when any rule was refused or any input could not be read.
    pub fn exit_code(&self) -> i32 {
        let rule_errors = self.skipped()
            - if self.allow_unsupported {
                self.skipped_unsupported_only
            } else {
                0
            };
        if rule_errors > 0 || self.config_errors > 0 {
            1
        } else {
            0
        }
    }
}

fn top(map: &BTreeMap<String, usize>, n: usize) -> Vec<(&String, &usize)> {
    let mut v: Vec<_> = map.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.truncate(n);
    v
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        writeln!(
            f,
            "rules read: {} in {} file(s); loaded: {}; skipped: {}; commented out: {}",
            self.read,
            self.files,
            self.loaded.len(),
            self.skipped(),
            self.commented
        )?;
        if !self.skipped_by_reason.is_empty() {
            writeln!(f, "skipped by reason:")?;
            let mut v: Vec<_> = self.skipped_by_reason.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (r, n) in v {
                writeln!(f, "  {r}: {n}")?;
            }
        }
        if !self.unsupported_keywords.is_empty() {
            writeln!(f, "top unsupported keywords:")?;
            for (k, n) in top(&self.unsupported_keywords, 10) {
                writeln!(f, "  {k}: {n}")?;
            }
        }
        if !self.unknown_keywords.is_empty() {
            writeln!(f, "top unknown keywords:")?;
            for (k, n) in top(&self.unknown_keywords, 10) {
                writeln!(f, "  {k}: {n}")?;
            }
        }
        Ok(())
    }
}

fn io_diag(path: &Path, msg: String) -> Diagnostic {
    Diagnostic {
        file: Arc::from(path.display().to_string()),
        line: 1,
        col: 1,
        span: 0..0,
        sid: None,
        keyword: None,
        kind: DiagKind::Io(msg),
    }
}

fn collect(path: &Path, out: &mut Vec<PathBuf>, errs: &mut Vec<Diagnostic>) {
    if path.is_dir() {
        match std::fs::read_dir(path) {
            Ok(rd) => {
                let mut entries: Vec<PathBuf> =
                    rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                entries.sort();
                for e in entries {
                    if e.is_dir() {
                        collect(&e, out, errs);
                    } else if e.extension().is_some_and(|x| x == "rules") {
                        out.push(e);
                    }
                }
            }
            Err(e) => errs.push(io_diag(path, e.to_string())),
        }
    } else {
        out.push(path.to_path_buf());
    }
}

fn line_of(text: &str, needle: &str) -> u32 {
    text.lines()
        .position(|l| l.contains(needle))
        .map_or(1, |i| i as u32 + 1)
}

/// Build the loader for `opts`, reporting config problems as diagnostics.
pub fn loader_for(opts: &CheckOptions, diags: &mut Vec<Diagnostic>) -> Loader {
    let mut vars = Vars::suricata_defaults();
    if let Some(p) = &opts.vars_file {
        match std::fs::read_to_string(p) {
            Err(e) => diags.push(io_diag(p, e.to_string())),
            Ok(text) => match Vars::from_suricata_yaml(&text) {
                Err(e) => diags.push(Diagnostic {
                    kind: DiagKind::Invalid(e.to_string()),
                    ..io_diag(p, String::new())
                }),
                Ok(v) => {
                    vars.extend(&v);
                    for (name, e) in vars.errors() {
                        let kind = match e {
                            VarError::Cycle(c) => DiagKind::VariableCycle(c),
                            VarError::Undefined(n) => DiagKind::UndefinedVariable(n),
                            VarError::Empty(m) => DiagKind::EmptyGroup(m),
                            other => DiagKind::Invalid(other.to_string()),
                        };
                        let line = line_of(&text, &format!("{name}:"));
                        diags.push(Diagnostic {
                            line,
                            kind,
                            ..io_diag(p, String::new())
                        });
                    }
                }
            },
        }
    }
    let mut classes = Classifications::stock();
    if let Some(p) = &opts.classification_file {
        match std::fs::read_to_string(p) {
            Err(e) => diags.push(io_diag(p, e.to_string())),
            Ok(text) => {
                let (c, errs) = Classifications::parse(&text);
                for (line, msg) in errs {
                    diags.push(Diagnostic {
                        line,
                        kind: DiagKind::Invalid(msg),
                        ..io_diag(p, String::new())
                    });
                }
                classes = c;
            }
        }
    }
    Loader::new(vars, classes)
}

/// Check rule files and directories (directories: every `*.rules` below, sorted).
pub fn check_paths(paths: &[PathBuf], opts: &CheckOptions) -> CheckReport {
    let mut report = CheckReport {
        allow_unsupported: opts.allow_unsupported,
        ..CheckReport::default()
    };
    let mut config_diags = Vec::new();
    let mut loader = loader_for(opts, &mut config_diags);
    let mut files = Vec::new();
    for p in paths {
        if !p.exists() {
            config_diags.push(io_diag(p, "no such file or directory".to_string()));
            continue;
        }
        collect(p, &mut files, &mut config_diags);
    }
    report.config_errors = config_diags.len();
    report.diagnostics.extend(config_diags);
    for f in files {
        let bytes = match std::fs::read(&f) {
            Ok(b) => b,
            Err(e) => {
                report.config_errors += 1;
                report.diagnostics.push(io_diag(&f, e.to_string()));
                continue;
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        report.files += 1;
        let load = loader.load_str(&f.display().to_string(), &text);
        report.read += load.read;
        report.commented += load.commented;
        for s in &load.skipped {
            *report.skipped_by_reason.entry(s.reason).or_default() += 1;
            if s.only_unsupported {
                report.skipped_unsupported_only += 1;
            }
        }
        for d in &load.diagnostics {
            match &d.kind {
                DiagKind::Unsupported(k) => {
                    *report.unsupported_keywords.entry(k.clone()).or_default() += 1
                }
                DiagKind::UnknownKeyword(k) => {
                    *report.unknown_keywords.entry(k.clone()).or_default() += 1
                }
                _ => {}
            }
        }
        report.loaded.extend(load.rules);
        report.diagnostics.extend(load.diagnostics);
    }
    report
}
