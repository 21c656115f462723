//! Corpus tests: the full ET Open file (figures pinned) and every rule of the suricata-verify tests.
//! The corpus is read from `$SEAWALL_CORPUS` or `../shared/corpus` next to the repository; a missing
//! corpus is a test failure, never a skip.

use std::path::PathBuf;

use seawall_rules::{check_paths, CheckOptions};

fn corpus_dir() -> PathBuf {
    let dir = match std::env::var_os("SEAWALL_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    };
    assert!(
        dir.join("et-open/et-open.rules").is_file(),
        "rule corpus not found at {} (set SEAWALL_CORPUS to the shared corpus directory, \
         the one holding et-open/ and suricata-verify/)",
        dir.display()
    );
    dir
}

#[test]
fn et_open_figures() {
    let path = corpus_dir().join("et-open/et-open.rules");
    let report = check_paths(&[path], &CheckOptions::default());
    let syntax = report
        .diagnostics
        .iter()
        .filter(|d| d.kind.is_syntax())
        .count();
    eprintln!("{report}");
    let parsed_ok = report.read - syntax;
    assert!(
        parsed_ok * 1000 >= report.read * 995,
        "less than 99.5% parse: {parsed_ok}/{}",
        report.read
    );
    assert_eq!(syntax, 0, "no syntax errors expected in ET Open");
    assert_eq!(report.read, 25803);
    assert_eq!(report.loaded.len(), 25798);
    assert_eq!(report.skipped(), 5);
    assert_eq!(
        report.skipped_by_reason.get("unsupported_keyword"),
        Some(&5)
    );
    assert_eq!(report.unsupported_keywords.get("asn1"), Some(&4));
    assert_eq!(report.unsupported_keywords.get("ftpbounce"), Some(&1));
    assert_eq!(report.exit_code(), 1);
    let tolerant = CheckOptions {
        allow_unsupported: true,
        ..CheckOptions::default()
    };
    let path = corpus_dir().join("et-open/et-open.rules");
    assert_eq!(check_paths(&[path], &tolerant).exit_code(), 0);
}

#[test]
fn et_open_all_figures() {
    let path = corpus_dir().join("et-open/et-open-all.rules");
    let report = check_paths(&[path], &CheckOptions::default());
    eprintln!("{report}");
    assert_eq!(report.read, 33775);
    assert_eq!(
        report
            .diagnostics
            .iter()
            .filter(|d| d.kind.is_syntax())
            .count(),
        0
    );
    assert_eq!(report.loaded.len(), 33762);
    assert_eq!(
        report.skipped_by_reason.get("unsupported_keyword"),
        Some(&13)
    );
    assert_eq!(report.skipped(), 13);
}

#[test]
fn suricata_verify_rules_all_load() {
    let dir = corpus_dir().join("suricata-verify/tests");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("suricata-verify tests directory")
        .filter_map(|e| e.ok().map(|e| e.path().join("test.rules")))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 90,
        "expected the suricata-verify tests, found {}",
        paths.len()
    );
    let mut read = 0;
    let mut bad = Vec::new();
    for p in &paths {
        // Each test is loaded on its own (sids repeat across tests).
        let r = check_paths(std::slice::from_ref(p), &CheckOptions::default());
        read += r.read;
        bad.extend(r.diagnostics.iter().map(|d| d.to_string()));
    }
    assert!(read >= 200, "only {read} rules read");
    assert!(
        bad.is_empty(),
        "{} diagnostics:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn et_open_print_parse_roundtrip() {
    let path = corpus_dir().join("et-open/et-open-all.rules");
    let report = check_paths(&[path], &CheckOptions::default());
    let mut bad = 0;
    for r in &report.loaded {
        let printed = r.rule.to_string();
        match seawall_rules::parse_rule(&printed) {
            Ok(again) if again == r.rule => {}
            other => {
                bad += 1;
                if bad <= 5 {
                    eprintln!("line {}: {printed}\n{other:?}", r.line);
                }
            }
        }
    }
    assert_eq!(bad, 0, "{bad} rules changed on print/parse");
}
