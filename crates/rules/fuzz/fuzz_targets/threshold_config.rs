//! Feeds arbitrary bytes (as `&str` when valid UTF-8) to the threshold.config parser and applies
//! what parsed to a few rules: nothing may panic, and every line is either an entry or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_rules::threshold_config::ThresholdConfig;

const RULES: &str = "alert tcp any any -> any any (sid:1;)\n\
                     alert tcp any any -> any any (threshold:type limit, track by_src, count 1, seconds 1; sid:2;)\n\
                     alert tcp any any -> any any (gid:3; sid:3;)\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let cfg = ThresholdConfig::parse(text);
    for e in &cfg.errors {
        let _ = e.to_string();
    }
    let mut rules = seawall_rules::Loader::default().load_str("t.rules", RULES).rules;
    let _ = cfg.apply(&mut rules);
    for r in &rules {
        let _ = r.rule.to_string();
    }
});
