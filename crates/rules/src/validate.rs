//! Semantic checks that make Suricata refuse a rule: header variables, classtype, content modifier
//! combinations, relative matches with nothing before them, case in normalised buffers, protocol
//! and buffer mismatches.

use std::ops::Range;

use crate::ast::{Buffer, FastPattern, Protocol, RuleOption, Transform};
use crate::classification::Classifications;
use crate::diag::DiagKind;
use crate::frame::{Issue, Parsed};
use crate::vars::{VarError, Vars};

fn var_issue(e: VarError, span: Range<usize>) -> Issue {
    let kind = match e {
        VarError::Undefined(n) => DiagKind::UndefinedVariable(n),
        VarError::Cycle(c) => DiagKind::VariableCycle(c),
        VarError::Empty(m) => DiagKind::EmptyGroup(m),
        other => DiagKind::Invalid(other.to_string()),
    };
    Issue {
        span,
        keyword: None,
        kind,
    }
}

fn issue(span: &Range<usize>, kw: &'static str, kind: DiagKind) -> Issue {
    Issue {
        span: span.clone(),
        keyword: Some(kw),
        kind,
    }
}

/// Check a parsed rule; every problem is returned.
pub(crate) fn validate(p: &Parsed, vars: &Vars, classes: &Classifications) -> Vec<Issue> {
    let mut out = Vec::new();
    let r = &p.rule;
    let hs = &p.header_spans;
    if let Err(e) = vars.resolve_addr(&r.src) {
        out.push(var_issue(e, hs[0].clone()));
    }
    if let Err(e) = vars.resolve_port(&r.sport) {
        out.push(var_issue(e, hs[1].clone()));
    }
    if let Err(e) = vars.resolve_addr(&r.dst) {
        out.push(var_issue(e, hs[2].clone()));
    }
    if let Err(e) = vars.resolve_port(&r.dport) {
        out.push(var_issue(e, hs[3].clone()));
    }
    if !r.options.iter().any(|o| matches!(o, RuleOption::Sid(_))) {
        out.push(Issue {
            span: 0..r.action.name().len(),
            keyword: None,
            kind: DiagKind::Missing("sid"),
        });
    }

    let rule_family = r.proto.app_family();
    let family_issue = |buf: Buffer, span: &Range<usize>, kw: &'static str| -> Option<Issue> {
        match (buf.app_family(), rule_family) {
            (Some(need), Some(have)) if need != have => Some(issue(
                span,
                kw,
                DiagKind::Invalid(format!(
                    "`{}` inspects {need}, but the rule protocol is {}",
                    buf.name(),
                    r.proto.name()
                )),
            )),
            (Some(_), None) if matches!(r.proto, Protocol::Icmp) => Some(issue(
                span,
                kw,
                DiagKind::Invalid(format!("`{}` cannot be used in an icmp rule", buf.name())),
            )),
            _ => None,
        }
    };

    let mut sticky = Buffer::Payload;
    let mut transforms: Vec<&Transform> = Vec::new();
    let mut matched: Vec<Buffer> = Vec::new();
    let mut threshold_at: Option<usize> = None;
    let mut filter_at: Option<usize> = None;
    for (i, o) in r.options.iter().enumerate() {
        let span = &p.spans[i];
        match o {
            RuleOption::Classtype(c) if classes.get(c).is_none() => {
                out.push(issue(
                    span,
                    "classtype",
                    DiagKind::UnknownClasstype(c.clone()),
                ));
            }
            RuleOption::Buffer(b) => {
                sticky = *b;
                transforms.clear();
                if let Some(x) = family_issue(*b, span, b.name()) {
                    out.push(x);
                }
            }
            RuleOption::Transform(t) => transforms.push(t),
            RuleOption::Threshold(_) => threshold_at = Some(i),
            RuleOption::AppLayerProtocol { .. } if rule_family.is_some() => out.push(issue(
                span,
                "app-layer-protocol",
                DiagKind::Invalid(format!(
                    "the rule protocol {} already selects the application protocol",
                    r.proto.name()
                )),
            )),
            RuleOption::IpProto(_) if r.proto != Protocol::Ip => out.push(issue(
                span,
                "ip_proto",
                DiagKind::Invalid(format!(
                    "`ip_proto` needs an `ip` rule, not {}",
                    r.proto.name()
                )),
            )),
            RuleOption::DetectionFilter(_) => filter_at = Some(i),
            RuleOption::Content(c) => {
                let kw = "content";
                for (a, an) in [(&c.depth, "depth"), (&c.offset, "offset")] {
                    for (b, bn) in [(&c.distance, "distance"), (&c.within, "within")] {
                        if a.is_some() && b.is_some() {
                            out.push(issue(span, an, DiagKind::Conflict(an, bn)));
                        }
                    }
                }
                if c.startswith {
                    for (x, xn) in [
                        (&c.depth, "depth"),
                        (&c.offset, "offset"),
                        (&c.distance, "distance"),
                        (&c.within, "within"),
                    ] {
                        if x.is_some() {
                            out.push(issue(
                                span,
                                "startswith",
                                DiagKind::Conflict("startswith", xn),
                            ));
                        }
                    }
                }
                if c.fast_pattern == Some(FastPattern::Only) {
                    if c.negated {
                        out.push(issue(
                            span,
                            "fast_pattern",
                            DiagKind::Invalid(
                                "`fast_pattern:only` cannot be used on a negated content".into(),
                            ),
                        ));
                    }
                    if c.depth.is_some()
                        || c.offset.is_some()
                        || c.distance.is_some()
                        || c.within.is_some()
                    {
                        out.push(issue(
                            span,
                            "fast_pattern",
                            DiagKind::Invalid(
                                "`fast_pattern:only` cannot be combined with depth, offset, distance or within".into(),
                            ),
                        ));
                    }
                }
                if c.rawbytes && c.buffer != Buffer::Payload {
                    out.push(issue(
                        span,
                        "rawbytes",
                        DiagKind::Conflict("rawbytes", c.buffer.name()),
                    ));
                }
                let upper = c.pattern.iter().any(u8::is_ascii_uppercase);
                let lower = c.pattern.iter().any(u8::is_ascii_lowercase);
                if c.buffer.is_lowercase() && upper && !c.nocase {
                    out.push(issue(
                        span,
                        kw,
                        DiagKind::Invalid(format!(
                            "content has uppercase characters but `{}` is normalised to lowercase",
                            c.buffer.name()
                        )),
                    ));
                }
                if c.buffer == sticky && !c.legacy_modifier && !c.nocase {
                    if upper && transforms.iter().any(|t| **t == Transform::ToLowercase) {
                        out.push(issue(
                            span,
                            kw,
                            DiagKind::Invalid(
                                "content has uppercase characters after `to_lowercase`".into(),
                            ),
                        ));
                    }
                    if lower && transforms.iter().any(|t| **t == Transform::ToUppercase) {
                        out.push(issue(
                            span,
                            kw,
                            DiagKind::Invalid(
                                "content has lowercase characters after `to_uppercase`".into(),
                            ),
                        ));
                    }
                }
                if c.buffer == sticky
                    && !c.legacy_modifier
                    && transforms.iter().any(|t| **t == Transform::StripWhitespace)
                    && c.pattern.iter().any(u8::is_ascii_whitespace)
                {
                    out.push(issue(
                        span,
                        kw,
                        DiagKind::Invalid("content has whitespace after `strip_whitespace`".into()),
                    ));
                }
                if c.legacy_modifier {
                    if let Some(x) =
                        family_issue(c.buffer, span, c.buffer.legacy_name().unwrap_or(kw))
                    {
                        out.push(x);
                    }
                }
                if !matched.contains(&c.buffer) {
                    matched.push(c.buffer);
                }
            }
            RuleOption::Pcre(pc) => {
                // In a sticky buffer a leading relative pcre is relative to the buffer start.
                if pc.relative && pc.buffer == Buffer::Payload && !matched.contains(&pc.buffer) {
                    out.push(issue(
                        span,
                        "pcre",
                        DiagKind::NoPrecedingMatch(
                            "pcre `/R` needs a preceding content or pcre in the payload",
                        ),
                    ));
                }
                if pc.buffer_from_modifier {
                    if let Some(x) = family_issue(pc.buffer, span, "pcre") {
                        out.push(x);
                    }
                }
                if !matched.contains(&pc.buffer) {
                    matched.push(pc.buffer);
                }
            }
            RuleOption::Bsize(u) => {
                let max = u.max_value(u64::MAX);
                for c in r
                    .contents()
                    .filter(|c| c.buffer == sticky && !c.legacy_modifier)
                {
                    if c.pattern.len() as u64 > max {
                        out.push(issue(
                            span,
                            "bsize",
                            DiagKind::Invalid(format!(
                                "bsize {u} can never match a content of {} bytes",
                                c.pattern.len()
                            )),
                        ));
                        break;
                    }
                }
                if sticky == Buffer::Payload {
                    out.push(issue(
                        span,
                        "bsize",
                        DiagKind::NoPrecedingMatch("`bsize` needs a sticky buffer"),
                    ));
                }
            }
            _ => {}
        }
    }
    if let (Some(_), Some(f)) = (threshold_at, filter_at) {
        out.push(issue(
            &p.spans[f],
            "detection_filter",
            DiagKind::Conflict("detection_filter", "threshold"),
        ));
    }
    out
}
