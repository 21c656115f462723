//! Golden tests: `test_data/{ok,err}/NNNN_name.rules` with `.ast` / `.diag` next to them
//! (expect-test; refresh with `UPDATE_EXPECT=1 cargo test -p seawall-rules --test golden`).
//! A line `#! address-group NAME VALUE` or `#! port-group NAME VALUE` defines a variable.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use seawall_rules::{check_paths, CheckOptions, Classifications, DiagKind, FileLoad, Loader, Vars};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test_data")
}

fn cases(sub: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data_dir().join(sub))
        .expect("test_data directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no golden cases in {sub}");
    v
}

fn load(path: &Path) -> FileLoad {
    let text = std::fs::read_to_string(path).expect("read case");
    let mut vars = Vars::suricata_defaults();
    for l in text.lines() {
        let mut it = l.splitn(4, ' ');
        match (it.next(), it.next(), it.next(), it.next()) {
            (Some("#!"), Some("address-group"), Some(n), Some(v)) => vars.set_address(n, v),
            (Some("#!"), Some("port-group"), Some(n), Some(v)) => vars.set_port(n, v),
            _ => {}
        }
    }
    let name = format!(
        "{}/{}",
        path.parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or(""),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("")
    );
    Loader::new(vars, Classifications::stock()).load_str(&name, &text)
}

#[test]
fn ok_cases() {
    for path in cases("ok") {
        let l = load(&path);
        assert!(
            l.diagnostics.is_empty(),
            "{}: {:#?}",
            path.display(),
            l.diagnostics
        );
        assert!(!l.rules.is_empty(), "{}: no rules", path.display());
        let mut out = String::new();
        for r in &l.rules {
            let printed = r.rule.to_string();
            let again = seawall_rules::parse_rule(&printed).unwrap_or_else(|d| {
                panic!(
                    "{}: printed rule does not parse: {printed}\n{d:#?}",
                    path.display()
                )
            });
            assert_eq!(
                again,
                r.rule,
                "{}: print/parse changed the AST",
                path.display()
            );
            writeln!(out, "line {}: {}\n{:#?}\n", r.line, printed, r.rule).expect("write");
        }
        expect_test::expect_file![path.with_extension("ast")].assert_eq(&out);
    }
}

#[test]
fn err_cases() {
    let mut kinds = BTreeSet::new();
    for path in cases("err") {
        let l = load(&path);
        assert!(
            !l.diagnostics.is_empty(),
            "{}: expected diagnostics",
            path.display()
        );
        let mut out = String::new();
        for d in &l.diagnostics {
            kinds.insert(d.kind.reason());
            writeln!(out, "{d}").expect("write");
        }
        expect_test::expect_file![path.with_extension("diag")].assert_eq(&out);
    }
    // Every diagnostic kind a rule file can produce has a golden case (io is covered below).
    let all = [
        DiagKind::Expected(""),
        DiagKind::UnknownKeyword(String::new()),
        DiagKind::Unsupported(String::new()),
        DiagKind::BadArgument(String::new()),
        DiagKind::Duplicate(""),
        DiagKind::Missing(""),
        DiagKind::Conflict("", ""),
        DiagKind::NoPrecedingMatch(""),
        DiagKind::Invalid(String::new()),
        DiagKind::BadPcre(String::new()),
        DiagKind::UndefinedVariable(String::new()),
        DiagKind::VariableCycle(String::new()),
        DiagKind::EmptyGroup(String::new()),
        DiagKind::UnknownClasstype(String::new()),
        DiagKind::DuplicateSid {
            gid: 0,
            sid: 0,
            first: String::new(),
        },
    ];
    let want: BTreeSet<&str> = all.iter().map(DiagKind::reason).collect();
    assert_eq!(kinds, want);
}

#[test]
fn io_errors_are_reported() {
    let r = check_paths(
        &[data_dir().join("does-not-exist.rules")],
        &CheckOptions::default(),
    );
    assert_eq!(r.config_errors, 1);
    assert!(matches!(r.diagnostics[0].kind, DiagKind::Io(_)));
    assert_eq!(r.exit_code(), 1);
}

#[test]
fn check_report_over_directories() {
    let r = check_paths(&[data_dir().join("ok")], &CheckOptions::default());
    assert_eq!(r.files, cases("ok").len());
    assert!(r.diagnostics.is_empty(), "{r}");
    assert_eq!(r.exit_code(), 0);
    assert_eq!(r.commented, 1);
    let r = check_paths(
        &[data_dir().join("err/0003_unsupported_keyword.rules")],
        &CheckOptions::default(),
    );
    assert_eq!(r.exit_code(), 1);
    let text = r.to_string();
    assert!(
        text.contains("top unsupported keywords:\n  dataset: 1\n  lua: 1\n"),
        "{text}"
    );
    let tolerant = CheckOptions {
        allow_unsupported: true,
        ..CheckOptions::default()
    };
    let r = check_paths(
        &[data_dir().join("err/0003_unsupported_keyword.rules")],
        &tolerant,
    );
    assert_eq!(r.exit_code(), 0);
}

#[test]
fn shipped_default_rules_are_clean() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let r = check_paths(&[dir], &CheckOptions::default());
    assert!(r.read >= 5, "{r}");
    assert!(r.diagnostics.is_empty(), "{r}");
    assert_eq!(r.loaded.len(), r.read);
    assert!(r
        .loaded
        .iter()
        .all(|l| (9_000_000..9_100_000).contains(&l.rule.sid().0)));
    assert_eq!(r.exit_code(), 0);
}
