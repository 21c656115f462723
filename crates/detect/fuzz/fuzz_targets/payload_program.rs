//! Fuzz target `payload_program`: arbitrary lists of payload options (content with modifiers,
//! pcre, byte_test/jump/extract/math, isdataat, bsize; from `rulegen.rs`) parsed by
//! `seawall_rules` and compiled with `payload::PayloadProgram`, then matched against a few
//! buffers mixing the options' literals and fuzzer bytes.
//!
//! Invariants checked: nothing panics; matching is deterministic with a reused scratch; when a
//! program matches a buffer, its fast pattern (the literal the prefilter would look for, if
//! any) occurs in that buffer (exactly, or ignoring ASCII case when `nocase`), so prefiltering
//! never loses a match.
#![no_main]

// The packet builder is shared with the flow crate's fuzz targets.
#[path = "../../../flow/fuzz/fuzz_targets/build.rs"]
mod build;
#[path = "rulegen.rs"]
mod rulegen;

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use seawall_detect::payload::{PayloadProgram, PayloadScratch};

fn contains(hay: &[u8], needle: &[u8], nocase: bool) -> bool {
    needle.is_empty()
        || hay.windows(needle.len()).any(|w| if nocase { w.eq_ignore_ascii_case(needle) } else { w == needle })
}

/// `SEAWALL_FUZZ_DEBUG=1` prints each input's rule and whether it compiled.
fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("SEAWALL_FUZZ_DEBUG").is_some())
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let mut g = rulegen::Gen::default();
    let mut opts = String::new();
    for _ in 0..u.int_in_range(1..=6)? {
        g.payload_option(u, &mut opts)?;
    }
    let text = format!("alert tcp any any -> any any ({opts}sid:1;)");
    let rule = seawall_rules::parse_rule(&text);
    let prog = rule.as_ref().ok().map(|r| PayloadProgram::compile(&r.options.iter().collect::<Vec<_>>()));
    if debug() {
        let outcome = match (&rule, &prog) {
            (Err(d), _) => format!("parse error {:?}", d.iter().map(|d| d.kind.to_string()).collect::<Vec<_>>()),
            (_, Some(Err(e))) => format!("unsupported: {e}"),
            _ => "compiled".to_string(),
        };
        eprintln!("--- {text}\n    {outcome}");
    }
    let Some(Ok(prog)) = prog else { return Ok(()) };
    let fast = prog.fast_pattern().map(|(b, nocase)| (b.to_vec(), nocase));
    let _ = (prog.fast_pattern_meta(), prog.len(), prog.is_empty());
    let mut scratch = PayloadScratch::new();
    let mut buf = Vec::new();
    for _ in 0..u.int_in_range(1..=4)? {
        buf.clear();
        build::arbitrary_payload(u, &g.literals, &mut buf)?;
        let m = prog.matches(&buf, &mut scratch);
        assert_eq!(m, prog.matches(&buf, &mut scratch), "matching is not deterministic: {text}");
        let _ = prog.negated_mpm_hit(&buf);
        if let (true, Some((lit, nocase))) = (m, &fast) {
            assert!(
                contains(&buf, lit, *nocase),
                "matched without its fast pattern {lit:?} (nocase {nocase}): {text} on {buf:?}"
            );
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
