//! Feeds arbitrary bytes (as `&str` when valid UTF-8) to the rule-file parser, then prints every
//! loaded rule and parses it again: nothing may panic, and printing must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (rules, diags) = seawall_rules::parse_file(text);
    for d in &diags {
        let _ = d.to_string();
    }
    for r in rules {
        let printed = r.rule.to_string();
        let again = seawall_rules::parse_rule(&printed).expect("a printed rule parses");
        assert_eq!(again, r.rule, "print/parse changed the rule: {printed}");
    }
});
