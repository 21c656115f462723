//! `threshold.config` (Suricata 7.0.10's `threshold-file`): `threshold`, `event_filter`,
//! `suppress` and `rate_filter` lines, parsed with Suricata's grammar and applied to loaded rules
//! with its precedence rules.
//!
//! Grammar (Suricata's regular expressions: case-sensitive, whitespace optional around `,`):
//! - `threshold|event_filter gen_id G, sig_id S, type limit|threshold|both,
//!   track by_src|by_dst|by_both|by_rule, count N, seconds T`
//! - `suppress gen_id G, sig_id S` (the rule never alerts) or
//!   `suppress gen_id G, sig_id S, track by_src|by_dst|by_either, ip ADDR` (ADDR: an address,
//!   CIDR, `$VAR` or `[list]`)
//! - `rate_filter gen_id G, sig_id S, track by_src|by_dst|by_both|by_rule, count N, seconds T,
//!   new_action alert|drop|pass|reject|log|sdrop, timeout T`
//!
//! `#` starts a comment line, a line ending in `\` continues on the next. A line that does not
//! parse is reported and skipped (Suricata logs it and goes on). `sig_id 0` applies to every rule
//! (of `gen_id G` when G > 0); `gen_id 0` with a non-zero `sig_id` is refused as Suricata does.
//!
//! Applying (Suricata's `SetupThresholdRule` / `SetupSuppressRule`):
//! - a sid-specific `threshold`/`event_filter` replaces the rule's last `threshold` or
//!   `detection_filter` keyword; a wildcard one skips rules that have either;
//! - a sid-specific `rate_filter` is ignored for a rule with a `threshold` or `detection_filter`;
//! - `suppress` without `track` makes the rule alert-less (its actions still apply); with
//!   `track` and `ip`, alerts whose source, destination or either address is in ADDR are
//!   suppressed (actions still apply). Several suppressions of a rule each apply.

use std::fmt;

use crate::ast::{AddrExpr, Rule, RuleOption, Threshold, ThresholdType, Track};
use crate::frame::parse_addr_str;
use crate::SourceRule;

/// The address a `suppress` line compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuppressTrack {
    BySrc,
    ByDst,
    ByEither,
}

impl fmt::Display for SuppressTrack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SuppressTrack::BySrc => "by_src",
            SuppressTrack::ByDst => "by_dst",
            SuppressTrack::ByEither => "by_either",
        })
    }
}

/// `suppress ..., track T, ip ADDR` as attached to a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Suppress {
    pub track: SuppressTrack,
    pub addrs: AddrExpr,
}

impl fmt::Display for Suppress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "track {}, ip {}", self.track, self.addrs)
    }
}

/// The action a `rate_filter` switches a rule to once its rate is exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateAction {
    Alert,
    Drop,
    Pass,
    Reject,
    /// Parsed; Suricata 7.0.10 keeps the rule's own action for it.
    Log,
    /// Parsed; Suricata 7.0.10 keeps the rule's own action for it.
    Sdrop,
}

impl fmt::Display for RateAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RateAction::Alert => "alert",
            RateAction::Drop => "drop",
            RateAction::Pass => "pass",
            RateAction::Reject => "reject",
            RateAction::Log => "log",
            RateAction::Sdrop => "sdrop",
        })
    }
}

/// A `rate_filter` as attached to a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateFilter {
    pub track: Track,
    pub count: u32,
    pub seconds: u32,
    pub new_action: RateAction,
    pub timeout: u32,
}

impl fmt::Display for RateFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "track {}, count {}, seconds {}, new_action {}, timeout {}",
            self.track, self.count, self.seconds, self.new_action, self.timeout
        )
    }
}

/// What one line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// `threshold` or `event_filter` (the same thing in Suricata 7).
    Threshold(Threshold),
    /// `suppress` without track/ip: the rule never alerts.
    SuppressRule,
    /// `suppress` with track and ip.
    Suppress(Suppress),
    RateFilter(RateFilter),
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line (of the first physical line for continued lines).
    pub line: usize,
    pub gid: u32,
    pub sid: u32,
    pub kind: EntryKind,
}

/// A line that does not parse (skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A parsed threshold.config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThresholdConfig {
    pub entries: Vec<Entry>,
    pub errors: Vec<ConfigError>,
}

/// Longest logical line accepted (Suricata reads lines into a fixed buffer).
const MAX_LINE: usize = 8192;

impl ThresholdConfig {
    /// Parses the text of a threshold.config.
    pub fn parse(text: &str) -> ThresholdConfig {
        let mut cfg = ThresholdConfig::default();
        let mut logical = String::new();
        let mut start = 0usize;
        for (i, raw) in text.lines().enumerate() {
            if logical.is_empty() {
                start = i + 1;
            }
            let (part, cont) = match raw.trim_end().strip_suffix('\\') {
                Some(p) => (p, true),
                None => (raw, false),
            };
            if logical.len() + part.len() > MAX_LINE {
                cfg.errors.push(ConfigError {
                    line: start,
                    message: format!("line longer than {MAX_LINE} bytes"),
                });
                logical.clear();
                continue;
            }
            logical.push_str(part);
            if cont {
                continue;
            }
            let line = logical.trim();
            if !line.is_empty() && !line.starts_with('#') {
                match parse_line(line) {
                    Ok((gid, sid, kind)) => cfg.entries.push(Entry {
                        line: start,
                        gid,
                        sid,
                        kind,
                    }),
                    Err(message) => cfg.errors.push(ConfigError {
                        line: start,
                        message,
                    }),
                }
            }
            logical.clear();
        }
        if !logical.trim().is_empty() {
            cfg.errors.push(ConfigError {
                line: start,
                message: "the file ends inside a continued line".into(),
            });
        }
        cfg
    }

    /// Applies the entries to `rules` in file order; returns a warning per entry that named an
    /// unknown rule or was overridden by the rule's own keywords (Suricata logs these).
    pub fn apply(&self, rules: &mut [SourceRule]) -> Vec<String> {
        let mut warnings = Vec::new();
        for e in &self.entries {
            if e.sid != 0 && e.gid == 0 {
                warnings.push(format!(
                    "line {}: sig_id {} with gen_id 0 is refused (Suricata: fix the threshold.conf)",
                    e.line, e.sid
                ));
                continue;
            }
            let mut found = false;
            for sr in rules.iter_mut() {
                let r = &mut sr.rule;
                let matches = if e.sid == 0 {
                    e.gid == 0 || r.gid() == e.gid
                } else {
                    r.sid().0 == e.sid && r.gid() == e.gid
                };
                if !matches {
                    continue;
                }
                found = true;
                if let Some(w) = apply_one(r, e) {
                    warnings.push(format!("line {}: sid {}: {w}", e.line, r.sid()));
                }
            }
            if !found && e.sid != 0 {
                warnings.push(format!(
                    "line {}: unknown rule gen_id {}, sig_id {}",
                    e.line, e.gid, e.sid
                ));
            }
        }
        warnings
    }
}

fn has_threshold(r: &Rule) -> bool {
    r.options
        .iter()
        .any(|o| matches!(o, RuleOption::Threshold(_) | RuleOption::DetectionFilter(_)))
}

/// Applies entry `e` to the matching rule `r`; `Some(warning)` when it was not applied.
fn apply_one(r: &mut Rule, e: &Entry) -> Option<&'static str> {
    let wildcard = e.sid == 0;
    match &e.kind {
        EntryKind::Threshold(t) => {
            if wildcard {
                if has_threshold(r) {
                    return Some("the rule's own threshold/detection_filter takes precedence");
                }
            } else if let Some(i) = r.options.iter().rposition(|o| {
                matches!(o, RuleOption::Threshold(_) | RuleOption::DetectionFilter(_))
            }) {
                r.options.remove(i);
            }
            r.options.push(RuleOption::Threshold(*t));
        }
        EntryKind::RateFilter(rf) => {
            if has_threshold(r) {
                return Some("the rule's own threshold/detection_filter takes precedence");
            }
            r.options.push(RuleOption::RateFilter(*rf));
        }
        EntryKind::SuppressRule => {
            if !r.options.iter().any(|o| matches!(o, RuleOption::Noalert)) {
                r.options.push(RuleOption::Noalert);
            }
        }
        EntryKind::Suppress(s) => r.options.push(RuleOption::Suppress(s.clone())),
    }
    None
}

/// `kw` at the start of `s` (after whitespace); the rest. Case-sensitive, as Suricata's
/// regular expressions.
fn take_word<'a>(s: &'a str, kw: &str) -> Option<&'a str> {
    s.trim_start().strip_prefix(kw)
}

fn take_number(s: &str) -> Option<(u32, &str)> {
    let s = s.trim_start();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let n = s[..end].parse().ok()?;
    Some((n, &s[end..]))
}

/// `name <value>` with the value one of `choices`.
fn take_choice<'a>(
    s: &'a str,
    name: &str,
    choices: &[&'static str],
) -> Option<(&'static str, &'a str)> {
    let s = take_word(s, name)?.trim_start();
    choices.iter().find_map(|c| {
        let rest = s.strip_prefix(c)?;
        let next = rest.chars().next();
        (!next.is_some_and(|ch| ch.is_ascii_alphanumeric() || ch == '_')).then_some((*c, rest))
    })
}

fn take_named_number<'a>(s: &'a str, name: &str) -> Option<(u32, &'a str)> {
    take_number(take_word(s, name)?)
}

fn comma(s: &str) -> Option<&str> {
    s.trim_start().strip_prefix(',')
}

fn track_of(s: &str) -> Track {
    match s {
        "by_src" => Track::BySrc,
        "by_dst" => Track::ByDst,
        "by_both" => Track::ByBoth,
        _ => Track::ByRule,
    }
}

const TRACKS: &[&str] = &["by_src", "by_dst", "by_both", "by_rule"];

fn parse_line(line: &str) -> Result<(u32, u32, EntryKind), String> {
    let bad = |what: &str| format!("{what}: `{line}`");
    let (ty, rest) = ["event_filter", "threshold", "rate_filter", "suppress"]
        .iter()
        .find_map(|t| take_word(line, t).map(|r| (*t, r)))
        .ok_or_else(|| bad("unknown line type (event_filter, threshold, rate_filter, suppress)"))?;
    let (gid, rest) = take_named_number(rest, "gen_id").ok_or_else(|| bad("expected gen_id N"))?;
    let rest = comma(rest).ok_or_else(|| bad("expected `,` after gen_id"))?;
    let (sid, rest) = take_named_number(rest, "sig_id").ok_or_else(|| bad("expected sig_id N"))?;
    let rest = rest.trim();
    let kind = match ty {
        "event_filter" | "threshold" => {
            let r = comma(rest).ok_or_else(|| bad("expected `, type ...`"))?;
            let (t, r) = take_choice(r, "type", &["limit", "both", "threshold"])
                .ok_or_else(|| bad("expected type limit|both|threshold"))?;
            let (track, r) = comma(r)
                .and_then(|r| take_choice(r, "track", TRACKS))
                .ok_or_else(|| bad("expected track by_src|by_dst|by_both|by_rule"))?;
            let (count, r) = comma(r)
                .and_then(|r| take_named_number(r, "count"))
                .ok_or_else(|| bad("expected count N"))?;
            let (seconds, r) = comma(r)
                .and_then(|r| take_named_number(r, "seconds"))
                .ok_or_else(|| bad("expected seconds N"))?;
            if !r.trim().is_empty() {
                return Err(bad("trailing text"));
            }
            if count == 0 {
                return Err(bad("count must be > 0"));
            }
            EntryKind::Threshold(Threshold {
                ty: match t {
                    "limit" => ThresholdType::Limit,
                    "both" => ThresholdType::Both,
                    _ => ThresholdType::Threshold,
                },
                track: track_of(track),
                count,
                seconds,
            })
        }
        "rate_filter" => {
            let (track, r) = comma(rest)
                .and_then(|r| take_choice(r, "track", TRACKS))
                .ok_or_else(|| bad("expected track by_src|by_dst|by_both|by_rule"))?;
            let (count, r) = comma(r)
                .and_then(|r| take_named_number(r, "count"))
                .ok_or_else(|| bad("expected count N"))?;
            let (seconds, r) = comma(r)
                .and_then(|r| take_named_number(r, "seconds"))
                .ok_or_else(|| bad("expected seconds N"))?;
            let (action, r) = comma(r)
                .and_then(|r| {
                    take_choice(
                        r,
                        "new_action",
                        &["alert", "drop", "pass", "log", "sdrop", "reject"],
                    )
                })
                .ok_or_else(|| bad("expected new_action alert|drop|pass|log|sdrop|reject"))?;
            let (timeout, r) = comma(r)
                .and_then(|r| take_named_number(r, "timeout"))
                .ok_or_else(|| bad("expected timeout N"))?;
            if !r.trim().is_empty() {
                return Err(bad("trailing text"));
            }
            if count == 0 {
                return Err(bad("count must be > 0"));
            }
            EntryKind::RateFilter(RateFilter {
                track: track_of(track),
                count,
                seconds,
                new_action: match action {
                    "alert" => RateAction::Alert,
                    "drop" => RateAction::Drop,
                    "pass" => RateAction::Pass,
                    "reject" => RateAction::Reject,
                    "log" => RateAction::Log,
                    _ => RateAction::Sdrop,
                },
                timeout,
            })
        }
        _ => {
            if rest.is_empty() {
                EntryKind::SuppressRule
            } else {
                let (track, r) = comma(rest)
                    .and_then(|r| take_choice(r, "track", &["by_src", "by_dst", "by_either"]))
                    .ok_or_else(|| bad("expected track by_src|by_dst|by_either"))?;
                let ip = comma(r)
                    .and_then(|r| take_word(r, "ip"))
                    .map(str::trim)
                    .filter(|ip| !ip.is_empty())
                    .ok_or_else(|| bad("expected ip ADDR"))?;
                let addrs = parse_addr_str(ip).map_err(|_| bad("bad ip address"))?;
                EntryKind::Suppress(Suppress {
                    track: match track {
                        "by_src" => SuppressTrack::BySrc,
                        "by_dst" => SuppressTrack::ByDst,
                        _ => SuppressTrack::ByEither,
                    },
                    addrs,
                })
            }
        }
    };
    Ok((gid, sid, kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Loader;

    #[test]
    fn lines_parse_as_suricata() {
        let cfg = ThresholdConfig::parse(
            "# comment\n\
             threshold gen_id 1, sig_id 1000001, type limit, track by_rule, count 3, seconds 1000\n\
             \n\
             event_filter gen_id 1,sig_id 2,type both,track by_src,count 1,seconds 60\n\
             suppress gen_id 1, sig_id 3\n\
             suppress gen_id 1, sig_id 4, track by_either, ip [10.0.0.0/8,192.168.1.1]\n\
             rate_filter gen_id 1, sig_id 5, track by_dst, count 10, seconds 1, \\\n  new_action drop, timeout 30\n\
             threshold gen_id 1, sig_id 6, type limit, track by_flow, count 1, seconds 1\n\
             suppress gen_id 1, sig_id 7, track by_src\n\
             threshold gen_id 1, sig_id 8, type limit, track by_src, count 0, seconds 1\n\
             frobnicate gen_id 1, sig_id 9\n\
             SUPPRESS gen_id 1, sig_id 10\n",
        );
        assert_eq!(
            cfg.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            [9, 10, 11, 12, 13]
        );
        let lines: Vec<(usize, u32, u32)> =
            cfg.entries.iter().map(|e| (e.line, e.gid, e.sid)).collect();
        assert_eq!(
            lines,
            [(2, 1, 1000001), (4, 1, 2), (5, 1, 3), (6, 1, 4), (7, 1, 5)]
        );
        assert_eq!(
            cfg.entries[0].kind,
            EntryKind::Threshold(Threshold {
                ty: ThresholdType::Limit,
                track: Track::ByRule,
                count: 3,
                seconds: 1000
            })
        );
        assert_eq!(
            cfg.entries[1].kind,
            EntryKind::Threshold(Threshold {
                ty: ThresholdType::Both,
                track: Track::BySrc,
                count: 1,
                seconds: 60
            })
        );
        assert_eq!(cfg.entries[2].kind, EntryKind::SuppressRule);
        assert!(matches!(
            &cfg.entries[3].kind,
            EntryKind::Suppress(Suppress {
                track: SuppressTrack::ByEither,
                ..
            })
        ));
        assert_eq!(
            cfg.entries[4].kind,
            EntryKind::RateFilter(RateFilter {
                track: Track::ByDst,
                count: 10,
                seconds: 1,
                new_action: RateAction::Drop,
                timeout: 30
            })
        );
    }

    fn load(text: &str) -> Vec<SourceRule> {
        Loader::default().load_str("t.rules", text).rules
    }

    fn thresholds(r: &Rule) -> Vec<String> {
        r.options
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    RuleOption::Threshold(_)
                        | RuleOption::DetectionFilter(_)
                        | RuleOption::Noalert
                        | RuleOption::Suppress(_)
                        | RuleOption::RateFilter(_)
                )
            })
            .map(|o| o.to_string())
            .collect()
    }

    #[test]
    fn precedence_as_suricata() {
        let mut rules = load(
            "alert tcp any any -> any any (sid:1;)\n\
             alert tcp any any -> any any (threshold:type limit, track by_src, count 9, seconds 9; sid:2;)\n\
             alert tcp any any -> any any (detection_filter:track by_dst, count 9, seconds 9; sid:3;)\n\
             alert tcp any any -> any any (gid:3; sid:4;)\n",
        );
        let cfg = ThresholdConfig::parse(
            "threshold gen_id 0, sig_id 0, type limit, track by_rule, count 1, seconds 5\n\
             threshold gen_id 1, sig_id 2, type both, track by_dst, count 2, seconds 6\n\
             rate_filter gen_id 1, sig_id 3, track by_src, count 2, seconds 6, new_action drop, timeout 10\n\
             suppress gen_id 3, sig_id 0\n\
             suppress gen_id 1, sig_id 1, track by_src, ip 10.0.0.1\n\
             threshold gen_id 1, sig_id 99, type limit, track by_rule, count 1, seconds 5\n\
             threshold gen_id 0, sig_id 7, type limit, track by_rule, count 1, seconds 5\n",
        );
        assert!(cfg.errors.is_empty(), "{:?}", cfg.errors);
        let warnings = cfg.apply(&mut rules);
        // Wildcard threshold: skipped for sids 2 and 3 (own keywords); the rate_filter for sid 3
        // too; unknown sid 99; gen_id 0 with sig_id 7.
        assert_eq!(warnings.len(), 5, "{warnings:#?}");
        assert_eq!(
            thresholds(&rules[0].rule),
            [
                "threshold:type limit, track by_rule, count 1, seconds 5",
                "suppress:track by_src, ip 10.0.0.1"
            ]
        );
        assert_eq!(
            thresholds(&rules[1].rule),
            ["threshold:type both, track by_dst, count 2, seconds 6"]
        );
        assert_eq!(
            thresholds(&rules[2].rule),
            ["detection_filter:track by_dst, count 9, seconds 9"]
        );
        assert_eq!(
            thresholds(&rules[3].rule),
            [
                "threshold:type limit, track by_rule, count 1, seconds 5",
                "noalert"
            ]
        );
    }

    proptest::proptest! {
        /// Any text: every non-comment line is an entry or an error, and applying never panics.
        #[test]
        fn any_text_parses_or_reports(lines in proptest::collection::vec(
            proptest::string::string_regex(
                "(threshold|suppress|rate_filter|event_filter)?[ a-z_0-9,.:/\\[\\]$\\\\#-]{0,60}"
            ).expect("regex"),
            0..8,
        )) {
            let text = lines.join("\n");
            let cfg = ThresholdConfig::parse(&text);
            proptest::prop_assert!(cfg.entries.len() + cfg.errors.len() <= lines.len() + 1);
            let mut rules = load("alert tcp any any -> any any (sid:1;)\n");
            let _ = cfg.apply(&mut rules);
        }
    }

    #[test]
    fn never_panics_on_junk() {
        for s in [
            "",
            "\\",
            "threshold",
            "threshold gen_id",
            "threshold gen_id 99999999999, sig_id 1",
            "suppress gen_id 1, sig_id 1, track by_src, ip",
            "suppress gen_id 1, sig_id 1, track by_src, ip [[[",
            "rate_filter gen_id 1, sig_id 1, track by_src, count 1, seconds 1, new_action x, timeout 1",
            "threshold gen_id 1, sig_id 1, type limit, track by_rule, count 1, seconds 1 extra",
            "é threshold ü",
        ] {
            let cfg = ThresholdConfig::parse(s);
            assert!(cfg.entries.is_empty(), "{s}");
        }
    }
}
