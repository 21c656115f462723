//! The rule frame `action proto src sport dir dst dport (options)` (nom) and the option list with
//! Suricata's escaping (`\;` does not end an option).

use std::net::IpAddr;
use std::ops::Range;

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit1, multispace0};
use nom::combinator::{map, map_res, opt, value};
use nom::multi::separated_list1;
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};

use crate::ast::{Action, AddrExpr, Cidr, Direction, PortExpr, Protocol, Rule};
use crate::diag::DiagKind;
use crate::keywords::{static_name, Builder};

/// A problem inside one rule, with a span relative to the rule text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    pub span: Range<usize>,
    pub keyword: Option<&'static str>,
    pub kind: DiagKind,
}

impl Issue {
    fn frame(span: Range<usize>, kind: DiagKind) -> Self {
        Issue {
            span,
            keyword: None,
            kind,
        }
    }
}

/// A rule whose frame and options parsed, with option spans for later checks.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub rule: Rule,
    /// Span (in the rule text) of each entry of `rule.options`.
    pub spans: Vec<Range<usize>>,
    /// Spans of the source and destination address and port tokens.
    pub header_spans: [Range<usize>; 4],
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

/// Split off one header token: up to whitespace outside brackets. Returns (token, rest).
fn header_token(s: &str) -> (&str, &str) {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            c if is_ws(c) && depth <= 0 => return (&s[..i], &s[i..]),
            '(' if depth <= 0 => return (&s[..i], &s[i..]),
            _ => {}
        }
    }
    (s, "")
}

// ---------------------------------------------------------------------------------------------
// addresses and ports

fn ip_addr(i: &str) -> IResult<&str, IpAddr> {
    map_res(
        take_while1(|c: char| c.is_ascii_hexdigit() || c == ':' || c == '.'),
        |s: &str| s.parse::<IpAddr>(),
    )
    .parse(i)
}

fn prefix_of(addr: IpAddr, mask: &str) -> Option<u8> {
    if let Ok(p) = mask.parse::<u8>() {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        return (p <= max).then_some(p);
    }
    // dotted netmask, must be contiguous
    let m: std::net::Ipv4Addr = mask.parse().ok()?;
    if !addr.is_ipv4() {
        return None;
    }
    let bits = u32::from(m);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

fn addr_net(i: &str) -> IResult<&str, AddrExpr> {
    let (i, a) = ip_addr(i)?;
    if let Ok((rest, m)) = preceded(
        char::<&str, nom::error::Error<&str>>('/'),
        take_while1(|c: char| c.is_ascii_digit() || c == '.'),
    )
    .parse(i)
    {
        return match prefix_of(a, m) {
            Some(p) => Ok((
                rest,
                AddrExpr::Net(Cidr {
                    addr: a,
                    prefix: Some(p),
                }),
            )),
            None => Err(nom::Err::Failure(nom::error::Error::new(
                i,
                nom::error::ErrorKind::Verify,
            ))),
        };
    }
    if let Ok((rest, b)) = preceded(char::<&str, nom::error::Error<&str>>('-'), ip_addr).parse(i) {
        let ok = match (a, b) {
            (IpAddr::V4(x), IpAddr::V4(y)) => x <= y,
            (IpAddr::V6(x), IpAddr::V6(y)) => x <= y,
            _ => false,
        };
        if !ok {
            return Err(nom::Err::Failure(nom::error::Error::new(
                i,
                nom::error::ErrorKind::Verify,
            )));
        }
        return Ok((rest, AddrExpr::Range(a, b)));
    }
    Ok((
        i,
        AddrExpr::Net(Cidr {
            addr: a,
            prefix: None,
        }),
    ))
}

fn var_name(i: &str) -> IResult<&str, String> {
    map(
        preceded(
            char('$'),
            take_while1(|c: char| c.is_ascii_alphanumeric() || c == '_'),
        ),
        str::to_string,
    )
    .parse(i)
}

/// Parse an address expression (used for rule headers and variable values).
pub(crate) fn addr_expr(i: &str) -> IResult<&str, AddrExpr> {
    alt((
        map(preceded((char('!'), multispace0), addr_expr), |e| {
            AddrExpr::Not(Box::new(e))
        }),
        map(
            delimited(
                (char('['), multispace0),
                separated_list1((multispace0, char(','), multispace0), addr_expr),
                (multispace0, char(']')),
            ),
            AddrExpr::List,
        ),
        map(var_name, AddrExpr::Var),
        value(AddrExpr::Any, tag("any")),
        addr_net,
    ))
    .parse(i)
}

fn port_num(i: &str) -> IResult<&str, u16> {
    map_res(digit1, str::parse::<u16>).parse(i)
}

fn port_single(i: &str) -> IResult<&str, PortExpr> {
    if let Ok((rest, hi)) = preceded(char::<&str, nom::error::Error<&str>>(':'), port_num).parse(i)
    {
        return Ok((rest, PortExpr::Range(0, hi)));
    }
    let (i, lo) = port_num(i)?;
    let (i, range) = opt(preceded(char(':'), opt(port_num))).parse(i)?;
    match range {
        None => Ok((i, PortExpr::Port(lo))),
        Some(hi) => {
            let hi = hi.unwrap_or(65535);
            if lo > hi {
                return Err(nom::Err::Failure(nom::error::Error::new(
                    i,
                    nom::error::ErrorKind::Verify,
                )));
            }
            Ok((i, PortExpr::Range(lo, hi)))
        }
    }
}

/// Parse a port expression.
pub(crate) fn port_expr(i: &str) -> IResult<&str, PortExpr> {
    alt((
        map(preceded((char('!'), multispace0), port_expr), |e| {
            PortExpr::Not(Box::new(e))
        }),
        map(
            delimited(
                (char('['), multispace0),
                separated_list1((multispace0, char(','), multispace0), port_expr),
                (multispace0, char(']')),
            ),
            PortExpr::List,
        ),
        map(var_name, PortExpr::Var),
        value(PortExpr::Any, tag("any")),
        port_single,
    ))
    .parse(i)
}

/// Parse a whole token with `p`; on failure report the offset of the innermost error.
fn whole<'a, T>(
    tok: &'a str,
    mut p: impl FnMut(&'a str) -> IResult<&'a str, T>,
) -> Result<T, usize> {
    match p(tok) {
        Ok(("", v)) => Ok(v),
        Ok((rest, _)) => Err(tok.len() - rest.len()),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(tok.len() - e.input.len()),
        Err(nom::Err::Incomplete(_)) => Err(tok.len()),
    }
}

/// Parse an address string (variable values); `Err(offset)` on failure.
pub(crate) fn parse_addr_str(s: &str) -> Result<AddrExpr, usize> {
    whole(s.trim(), addr_expr)
}

/// Parse a port string (variable values); `Err(offset)` on failure.
pub(crate) fn parse_port_str(s: &str) -> Result<PortExpr, usize> {
    whole(s.trim(), port_expr)
}

// ---------------------------------------------------------------------------------------------
// the rule

fn word(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')(i)
}

fn ws(i: &str) -> IResult<&str, &str> {
    take_while(is_ws)(i)
}

/// Parse one rule's text (no leading/trailing whitespace, no line continuations).
pub(crate) fn parse_rule<'a>(text: &'a str) -> Result<Parsed, Vec<Issue>> {
    let off = |rest: &str| text.len() - rest.len();
    let expected = |rest: &str, what: &'static str| {
        let o = text.len() - rest.len();
        let end = o + header_token(rest).0.len().max(1);
        vec![Issue::frame(
            o..end.min(text.len()).max(o),
            DiagKind::Expected(what),
        )]
    };

    // action
    let (rest, act) =
        word(text).map_err(|_| expected(text, "an action (alert, pass, drop, reject, ...)"))?;
    let action = Action::ALL
        .iter()
        .find(|(n, _)| *n == act)
        .map(|(_, a)| *a)
        .ok_or_else(|| expected(text, "an action (alert, pass, drop, reject, ...)"))?;
    let (rest, _) = ws(rest).map_err(|_| expected(rest, "whitespace"))?;
    // protocol
    let (rest2, p) = word(rest).map_err(|_| expected(rest, "a protocol"))?;
    let proto = Protocol::from_name(p)
        .ok_or_else(|| expected(rest, "a protocol (ip, tcp, udp, icmp, http, tls, dns, ...)"))?;
    let (mut rest, _) = ws(rest2).map_err(|_| expected(rest2, "whitespace"))?;

    let mut header_spans: [Range<usize>; 4] = [0..0, 0..0, 0..0, 0..0];
    fn take<'t>(
        text: &str,
        rest: &mut &'t str,
        spans: &mut [Range<usize>; 4],
        idx: usize,
    ) -> &'t str {
        let (tok, r) = header_token(rest);
        let start = text.len() - rest.len();
        if idx < 4 {
            spans[idx] = start..start + tok.len();
        }
        *rest = r.trim_start_matches(is_ws);
        tok
    }
    let mut take_token = |rest: &mut &'a str, idx: usize| take(text, rest, &mut header_spans, idx);
    let at = |rest: &str| text.len() - rest.len();

    let src_at = at(rest);
    let src_tok = take_token(&mut rest, 0);
    let sport_at = at(rest);
    let sport_tok = take_token(&mut rest, 1);
    let dir_at = at(rest);
    let dir_tok = take_token(&mut rest, 9);
    let dst_at = at(rest);
    let dst_tok = take_token(&mut rest, 2);
    let dport_at = at(rest);
    let dport_tok = take_token(&mut rest, 3);

    let mut issues = Vec::new();
    let tok_issue = |start: usize, tok: &str, e: usize, what: &'static str| {
        let s = start + e.min(tok.len());
        Issue::frame(
            s..(start + tok.len()).max(s + 1).min(text.len()),
            DiagKind::Expected(what),
        )
    };
    const ADDR: &str = "an address (any, $VAR, IP, CIDR, range or [list])";
    const PORT: &str = "a port (any, $VAR, N, N:M or [list])";
    let src = whole(src_tok, addr_expr).map_err(|e| tok_issue(src_at, src_tok, e, ADDR));
    let sport = whole(sport_tok, port_expr).map_err(|e| tok_issue(sport_at, sport_tok, e, PORT));
    let dir = match dir_tok {
        "->" => Ok(Direction::ToDst),
        "<>" => Ok(Direction::Both),
        _ => Err(tok_issue(dir_at, dir_tok, 0, "a direction (`->` or `<>`)")),
    };
    // Stop at the first header error: later tokens are likely shifted.
    let src = src.map_err(|e| vec![e])?;
    let sport = sport.map_err(|e| vec![e])?;
    let dir = dir.map_err(|e| vec![e])?;
    let dst = whole(dst_tok, addr_expr).map_err(|e| vec![tok_issue(dst_at, dst_tok, e, ADDR)])?;
    let dport =
        whole(dport_tok, port_expr).map_err(|e| vec![tok_issue(dport_at, dport_tok, e, PORT)])?;

    // options
    let body_start = off(rest);
    let Some(body) = rest.strip_prefix('(') else {
        return Err(expected(rest, "`(` to open the option list"));
    };
    let body = body.trim_end_matches(is_ws);
    let Some(body) = body.strip_suffix(')') else {
        let end = text.len();
        return Err(vec![Issue::frame(
            end.saturating_sub(1)..end,
            DiagKind::Expected("`)` at the end of the rule"),
        )]);
    };
    let body_off = body_start + 1;

    let mut b = Builder::default();
    let mut spans: Vec<Range<usize>> = Vec::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i] as char).is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        // option name
        let name_start = i;
        while i < bytes.len() && bytes[i] != b':' && bytes[i] != b';' {
            i += 1;
        }
        let name = body[name_start..i].trim();
        let name_span = body_off + name_start..body_off + name_start + name.len();
        let mut val: Option<(&str, usize)> = None;
        if i < bytes.len() && bytes[i] == b':' {
            i += 1;
            let vstart = i;
            while i < bytes.len() && bytes[i] != b';' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            let vend = i.min(bytes.len());
            val = Some((&body[vstart..vend], body_off + vstart));
        }
        if i >= bytes.len() {
            issues.push(Issue::frame(
                body_off + name_start..body_off + bytes.len(),
                DiagKind::Expected("`;` after the option"),
            ));
            break;
        }
        let opt_end = body_off + i;
        i += 1; // the ';'
        if name.is_empty()
            || !name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        {
            issues.push(Issue::frame(
                name_span.start..name_span.end.max(name_span.start + 1),
                DiagKind::Expected("an option name"),
            ));
            continue;
        }
        let before = b.options.len();
        match b.apply(name, val.map(|v| v.0)) {
            Ok(()) => {
                if b.options.len() > before {
                    spans.push(name_span.start..opt_end);
                }
            }
            Err(e) => {
                let span = match (e.at, val) {
                    (Some(a), Some((v, voff))) => {
                        let s = voff + a.min(v.len());
                        s..(voff + v.len()).max(s)
                    }
                    (None, Some((v, voff)))
                        if !matches!(
                            e.kind,
                            DiagKind::UnknownKeyword(_) | DiagKind::Unsupported(_)
                        ) =>
                    {
                        let lead = v.len() - v.trim_start().len();
                        voff + lead..voff + v.len()
                    }
                    _ => name_span.clone(),
                };
                let keyword = match e.kind {
                    DiagKind::UnknownKeyword(_) | DiagKind::Unsupported(_) => None,
                    _ => static_name(name),
                };
                issues.push(Issue {
                    span,
                    keyword,
                    kind: e.kind,
                });
            }
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    let rule = Rule {
        action,
        proto,
        src,
        sport,
        dir,
        dst,
        dport,
        options: b.options,
    };
    Ok(Parsed {
        rule,
        spans,
        header_spans,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let p = |s| parse_addr_str(s).map(|a| a.to_string());
        assert_eq!(
            p("[1.2.3.0/24, !1.2.3.4]").as_deref(),
            Ok("[1.2.3.0/24,!1.2.3.4]")
        );
        assert_eq!(p("!$HOME_NET").as_deref(), Ok("!$HOME_NET"));
        assert_eq!(p("10.0.0.0/255.0.0.0").as_deref(), Ok("10.0.0.0/8"));
        assert_eq!(p("2001:db8::/32").as_deref(), Ok("2001:db8::/32"));
        assert_eq!(p("1.1.1.1-1.1.1.9").as_deref(), Ok("1.1.1.1-1.1.1.9"));
        assert!(p("1.1.1.9-1.1.1.1").is_err());
        assert!(p("1.2.3.4/33").is_err());
        assert!(p("[1.2.3.4").is_err());
        assert!(p("foo").is_err());
    }

    #[test]
    fn ports() {
        let p = |s| parse_port_str(s).map(|a| a.to_string());
        assert_eq!(p("[80, 1024:]").as_deref(), Ok("[80,1024:65535]"));
        assert_eq!(p(":1023").as_deref(), Ok("0:1023"));
        assert_eq!(p("![80,$HTTP_PORTS]").as_deref(), Ok("![80,$HTTP_PORTS]"));
        assert!(p("70000").is_err());
        assert!(p("90:80").is_err());
    }

    #[test]
    fn escaped_semicolon_does_not_split() {
        let r = parse_rule(r#"alert tcp any any -> any any (msg:"a\;b"; content:"x\;y"; sid:1;)"#)
            .expect("parses");
        assert_eq!(r.rule.msg(), Some("a;b"));
        assert_eq!(
            r.rule.contents().next().map(|c| c.pattern.clone()),
            Some(b"x;y".to_vec())
        );
    }

    #[test]
    fn missing_semicolon() {
        let e = parse_rule(r#"alert tcp any any -> any any (msg:"a"; sid:1)"#).expect_err("fails");
        assert_eq!(e[0].kind, DiagKind::Expected("`;` after the option"));
    }
}
