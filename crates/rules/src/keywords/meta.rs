//! Rule metadata and rate keywords: `msg`, `classtype`, `reference`, `metadata`, `target`, `tag`,
//! `threshold`, `detection_filter`.

use std::fmt;

use super::uint::parse_u64;
use super::{split_commas, KwError, KwResult};
use crate::diag::DiagKind;

/// Strip surrounding double quotes (required), without unescaping.
pub fn strip_quotes(v: &str) -> KwResult<&str> {
    let t = v.trim();
    t.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| t.len() >= 2)
        .ok_or_else(|| KwError::bad("expected a quoted string".to_string()))
}

/// Strip optional surrounding quotes and resolve `\"`, `\;`, `\\`, `\:`; other backslashes are kept.
pub fn unquote(v: &str) -> KwResult<String> {
    let t = v.trim();
    let inner = if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        &t[1..t.len() - 1]
    } else if t.starts_with('"') {
        return Err(KwError::bad("unterminated quoted string".to_string()));
    } else {
        t
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('"' | ';' | '\\' | ':')) => out.push(e),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            }
        } else if c == '"' {
            return Err(KwError::bad(
                "unescaped `\"` inside quoted string".to_string(),
            ));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// `msg:"..."`.
pub fn parse_msg(v: &str) -> KwResult<String> {
    unquote(v)
}

/// `classtype:name` (checked against classification.config by the loader).
pub fn parse_classtype(v: &str) -> KwResult<String> {
    let t = v.trim();
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(KwError::bad(format!("invalid classtype name `{t}`")));
    }
    Ok(t.to_string())
}

/// `reference:system,id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    pub system: String,
    pub id: String,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.system, self.id)
    }
}

/// Parse `reference:`.
pub fn parse_reference(v: &str) -> KwResult<Reference> {
    let (s, id) = v
        .split_once(',')
        .ok_or_else(|| KwError::bad("expected `system,id`".to_string()))?;
    let (s, id) = (s.trim(), id.trim());
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(KwError::bad(format!("invalid reference system `{s}`")));
    }
    if id.is_empty() {
        return Err(KwError::kind(DiagKind::Missing("reference id")));
    }
    Ok(Reference {
        system: s.to_string(),
        id: id.to_string(),
    })
}

/// Parse `metadata:` into its comma-separated `key value` entries.
pub fn parse_metadata(v: &str) -> KwResult<Vec<String>> {
    let items: Vec<String> = v
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Err(KwError::bad("empty metadata".to_string()));
    }
    Ok(items)
}

/// `target:src_ip|dest_ip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    SrcIp,
    DestIp,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::SrcIp => "src_ip",
            Target::DestIp => "dest_ip",
        })
    }
}

/// Parse `target:`.
pub fn parse_target(v: &str) -> KwResult<Target> {
    match v.trim() {
        "src_ip" => Ok(Target::SrcIp),
        "dest_ip" => Ok(Target::DestIp),
        other => Err(KwError::bad(format!(
            "expected `src_ip` or `dest_ip`, got `{other}`"
        ))),
    }
}

/// `tag:session|host[,count,metric[,src|dst]]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag {
    /// `session` or `host`
    pub kind: &'static str,
    /// (count, metric: `packets`/`seconds`/`bytes`)
    pub limit: Option<(u32, &'static str)>,
    /// `src` / `dst` (host tags)
    pub dir: Option<&'static str>,
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind)?;
        if let Some((n, m)) = self.limit {
            write!(f, ",{n},{m}")?;
        }
        if let Some(d) = self.dir {
            write!(f, ",{d}")?;
        }
        Ok(())
    }
}

/// Parse `tag:`.
pub fn parse_tag(v: &str) -> KwResult<Tag> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let kind = match parts[0] {
        "session" => "session",
        "host" => "host",
        other => return Err(KwError::bad(format!("unknown tag type `{other}`"))),
    };
    let limit = match parts.len() {
        1 => None,
        2 => return Err(KwError::kind(DiagKind::Missing("tag metric"))),
        _ => {
            let n = parse_u64(parts[1], u32::MAX as u64)? as u32;
            let m = ["packets", "seconds", "bytes"]
                .into_iter()
                .find(|m| *m == parts[2])
                .ok_or_else(|| KwError::bad(format!("unknown tag metric `{}`", parts[2])))?;
            Some((n, m))
        }
    };
    let dir = match parts.get(3) {
        None => None,
        Some(&"src") if kind == "host" => Some("src"),
        Some(&"dst") if kind == "host" => Some("dst"),
        Some(d) => return Err(KwError::bad(format!("unexpected tag direction `{d}`"))),
    };
    if parts.len() > 4 {
        return Err(KwError::bad("too many tag options".to_string()));
    }
    Ok(Tag { kind, limit, dir })
}

/// What a threshold or xbit counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    BySrc,
    ByDst,
    ByRule,
    ByBoth,
    ByFlow,
    IpSrc,
    IpDst,
    IpPair,
    Tx,
}

impl fmt::Display for Track {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Track::BySrc => "by_src",
            Track::ByDst => "by_dst",
            Track::ByRule => "by_rule",
            Track::ByBoth => "by_both",
            Track::ByFlow => "by_flow",
            Track::IpSrc => "ip_src",
            Track::IpDst => "ip_dst",
            Track::IpPair => "ip_pair",
            Track::Tx => "tx",
        })
    }
}

/// `threshold` type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThresholdType {
    Limit,
    Threshold,
    Both,
    /// `detection_filter` (no `type` option).
    DetectionFilter,
}

/// `threshold:type T, track X, count N, seconds S` and `detection_filter:track X, count N, seconds S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Threshold {
    pub ty: ThresholdType,
    pub track: Track,
    pub count: u32,
    pub seconds: u32,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ty = match self.ty {
            ThresholdType::Limit => "type limit, ",
            ThresholdType::Threshold => "type threshold, ",
            ThresholdType::Both => "type both, ",
            ThresholdType::DetectionFilter => "",
        };
        write!(
            f,
            "{ty}track {}, count {}, seconds {}",
            self.track, self.count, self.seconds
        )
    }
}

/// Parse `threshold:` (`with_type`) or `detection_filter:`.
pub fn parse_threshold(v: &str, with_type: bool) -> KwResult<Threshold> {
    let mut ty = None;
    let mut track = None;
    let mut count = None;
    let mut seconds = None;
    for (at, item) in split_commas(v) {
        let (k, val) = item
            .split_once(char::is_whitespace)
            .map(|(a, b)| (a, b.trim()))
            .ok_or_else(|| KwError::bad(format!("expected `name value`, got `{item}`")).at(at))?;
        let dup = |name: &'static str| KwError::kind(DiagKind::Duplicate(name)).at(at);
        match k {
            "type" if with_type => {
                if ty.is_some() {
                    return Err(dup("type"));
                }
                ty = Some(match val {
                    "limit" => ThresholdType::Limit,
                    "threshold" => ThresholdType::Threshold,
                    "both" => ThresholdType::Both,
                    other => {
                        return Err(KwError::bad(format!("unknown threshold type `{other}`")).at(at))
                    }
                });
            }
            "track" => {
                if track.is_some() {
                    return Err(dup("track"));
                }
                track = Some(match val {
                    "by_src" => Track::BySrc,
                    "by_dst" => Track::ByDst,
                    "by_rule" => Track::ByRule,
                    "by_both" => Track::ByBoth,
                    "by_flow" => Track::ByFlow,
                    other => return Err(KwError::bad(format!("unknown track `{other}`")).at(at)),
                });
            }
            "count" => {
                if count.is_some() {
                    return Err(dup("count"));
                }
                count = Some(parse_u64(val, u32::MAX as u64).map_err(|e| e.at(at))? as u32);
            }
            "seconds" => {
                if seconds.is_some() {
                    return Err(dup("seconds"));
                }
                seconds = Some(parse_u64(val, u32::MAX as u64).map_err(|e| e.at(at))? as u32);
            }
            other => return Err(KwError::bad(format!("unknown option `{other}`")).at(at)),
        }
    }
    let ty = if with_type {
        ty.ok_or_else(|| KwError::kind(DiagKind::Missing("type")))?
    } else {
        ThresholdType::DetectionFilter
    };
    let track = track.ok_or_else(|| KwError::kind(DiagKind::Missing("track")))?;
    let count = count.ok_or_else(|| KwError::kind(DiagKind::Missing("count")))?;
    let seconds = seconds.ok_or_else(|| KwError::kind(DiagKind::Missing("seconds")))?;
    if count == 0 {
        return Err(KwError::bad("count must be greater than 0".to_string()));
    }
    Ok(Threshold {
        ty,
        track,
        count,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_forms() {
        let t =
            parse_threshold("type limit, track by_src, seconds 60, count 1", true).expect("valid");
        assert_eq!(
            t.to_string(),
            "type limit, track by_src, count 1, seconds 60"
        );
        assert_eq!(
            parse_threshold("type limit, track by_src, count 1", true).map_err(|e| e.kind),
            Err(DiagKind::Missing("seconds"))
        );
        assert!(parse_threshold(
            "type limit, type both, track by_src, count 1, seconds 1",
            true
        )
        .is_err());
        assert!(parse_threshold("track by_src, count 15, seconds 2", false).is_ok());
    }

    #[test]
    fn quoting() {
        assert_eq!(unquote(r#""a\;b\"c""#).as_deref(), Ok("a;b\"c"));
        assert_eq!(unquote(r#""C:\Windows""#).as_deref(), Ok("C:\\Windows"));
        assert!(unquote("\"abc").is_err());
        assert!(parse_tag("session,5,packets").is_ok());
        assert!(parse_tag("session,5").is_err());
    }
}
