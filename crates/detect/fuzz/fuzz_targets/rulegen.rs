//! Small Suricata rule texts generated from the fuzzer's bytes with `arbitrary`: a header drawn
//! from a few actions/protocols/addresses/ports and a handful of options drawn from a list
//! (content with modifiers, pcre, byte_test/jump/extract/math, isdataat, bsize, dsize, flags,
//! flow, flowbits, flowint, xbits, threshold, header keywords, sticky buffers, transforms).
//! Numbers stay small so that options interact with short payloads. The literals used are
//! collected, so packets can be built around them.
#![allow(dead_code)]

use std::fmt::Write;

use arbitrary::{Result, Unstructured};

/// Literals as (rule text inside the quotes, bytes).
const LITERALS: &[(&str, &[u8])] = &[
    ("GET", b"GET"),
    ("abc", b"abc"),
    ("a", b"a"),
    ("|00 01|", b"\x00\x01"),
    ("HTTP/1.1", b"HTTP/1.1"),
    ("xx|3b|", b"xx;"),
    ("admin", b"admin"),
    ("AAAA", b"AAAA"),
    ("|ff|", b"\xff"),
    ("/bin/sh", b"/bin/sh"),
    ("1234", b"1234"),
    ("|0d 0a 0d 0a|", b"\r\n\r\n"),
];

const PCRES: &[&str] = &[
    "/abc/",
    "/^GET/",
    "/a.{0,3}b/",
    "/(?:x|y)+z/",
    "/[0-9]{2,}/",
    "/\\x00\\x01/",
    "/foo$/",
    "/^.{4}AAAA/",
    "/(?P<x>ad)min/",
    "/\\d+\\s*\\r?\\n/",
];

/// Generated rules plus what packets should contain to exercise them.
#[derive(Debug, Default)]
pub struct Gen {
    pub text: String,
    pub literals: Vec<Vec<u8>>,
    pub sids: Vec<u32>,
    vars: u32,
}

fn num(u: &mut Unstructured<'_>, max: i64) -> Result<i64> {
    u.int_in_range(0..=max)
}

impl Gen {
    /// A literal: from the list, or up to 6 fuzzer bytes (printable ones as text, the others
    /// as `|hex|`).
    fn literal(&mut self, u: &mut Unstructured<'_>) -> Result<String> {
        if u.ratio(3, 4)? {
            let (t, b) = *u.choose(LITERALS)?;
            self.literals.push(b.to_vec());
            return Ok(t.to_string());
        }
        let n = u.int_in_range(1..=6)?;
        let bytes = u.bytes(n.min(u.len()))?.to_vec();
        if bytes.is_empty() {
            self.literals.push(b"z".to_vec());
            return Ok("z".into());
        }
        let mut t = String::new();
        for &b in &bytes {
            if b.is_ascii_alphanumeric() || b == b' ' || b == b'/' || b == b'.' {
                t.push(b as char);
            } else {
                let _ = write!(t, "|{b:02x}|");
            }
        }
        self.literals.push(bytes);
        Ok(t)
    }

    fn var(&self, u: &mut Unstructured<'_>) -> Result<Option<String>> {
        if self.vars == 0 || !u.arbitrary()? {
            return Ok(None);
        }
        Ok(Some(format!("v{}", u.int_in_range(0..=self.vars - 1)?)))
    }

    fn content(&mut self, u: &mut Unstructured<'_>, o: &mut String) -> Result<()> {
        let neg = if u.ratio(1, 6)? { "!" } else { "" };
        let lit = self.literal(u)?;
        let _ = write!(o, "content:{neg}\"{lit}\"; ");
        for _ in 0..u.int_in_range(0..=3)? {
            let v = self.var(u)?;
            match u.int_in_range(0..=9)? {
                0 => o.push_str("nocase; "),
                1 => {
                    let _ = write!(o, "depth:{}; ", v.unwrap_or(num(u, 20)?.max(1).to_string()));
                }
                2 => {
                    let _ = write!(o, "offset:{}; ", v.unwrap_or(num(u, 20)?.to_string()));
                }
                3 => {
                    let d = v.unwrap_or((num(u, 15)? - 5).to_string());
                    let _ = write!(o, "distance:{d}; ");
                }
                4 => {
                    let _ = write!(o, "within:{}; ", v.unwrap_or(num(u, 20)?.max(1).to_string()));
                }
                5 => o.push_str("fast_pattern; "),
                6 => o.push_str("startswith; "),
                7 => o.push_str("endswith; "),
                8 => {
                    let _ = write!(o, "fast_pattern:{},{}; ", num(u, 2)?, num(u, 3)?.max(1));
                }
                _ => o.push_str("rawbytes; "),
            }
        }
        Ok(())
    }

    fn endian(u: &mut Unstructured<'_>, o: &mut String) -> Result<()> {
        match u.int_in_range(0..=5)? {
            0 => o.push_str(",big"),
            1 => o.push_str(",little"),
            2 => o.push_str(",string,dec"),
            3 => o.push_str(",string,hex"),
            4 => o.push_str(",string,oct"),
            _ => {}
        }
        Ok(())
    }

    /// One payload option (content, pcre, byte_*, isdataat, bsize).
    pub fn payload_option(&mut self, u: &mut Unstructured<'_>, o: &mut String) -> Result<()> {
        match u.int_in_range(0..=11)? {
            0..=3 => self.content(u, o)?,
            4 | 5 => {
                let p = *u.choose(PCRES)?;
                let mut flags = String::new();
                for f in ['i', 's', 'm', 'R', 'x', 'B', 'O'] {
                    if u.ratio(1, 5)? {
                        flags.push(f);
                    }
                }
                let neg = if u.ratio(1, 8)? { "!" } else { "" };
                let _ = write!(o, "pcre:{neg}\"{p}{flags}\"; ");
            }
            6 => {
                let nb = u.int_in_range(1..=10)?;
                let op = *u.choose(&["<", ">", "=", "!=", "<=", ">=", "&", "^", "!&"])?;
                let val = self.var(u)?.unwrap_or(num(u, 300)?.to_string());
                let off = self.var(u)?.unwrap_or((num(u, 12)? - 2).to_string());
                let _ = write!(o, "byte_test:{nb},{op},{val},{off}");
                if u.arbitrary()? {
                    o.push_str(",relative");
                }
                Self::endian(u, o)?;
                o.push_str("; ");
            }
            7 => {
                let nb = u.int_in_range(1..=10)?;
                let off = self.var(u)?.unwrap_or((num(u, 12)? - 2).to_string());
                let _ = write!(o, "byte_jump:{nb},{off}");
                for (p, s) in [(3, ",relative"), (5, ",align"), (6, ",from_beginning"), (8, ",from_end")] {
                    if u.ratio(1, p)? {
                        o.push_str(s);
                    }
                }
                if u.ratio(1, 4)? {
                    let _ = write!(o, ",multiplier {}", num(u, 4)?.max(1));
                }
                if u.ratio(1, 4)? {
                    let _ = write!(o, ",post_offset {}", num(u, 10)? - 5);
                }
                Self::endian(u, o)?;
                o.push_str("; ");
            }
            8 => {
                let nb = u.int_in_range(1..=10)?;
                let k = self.vars;
                self.vars += 1;
                let _ = write!(o, "byte_extract:{nb},{},v{k}", num(u, 12)?);
                if u.arbitrary()? {
                    o.push_str(",relative");
                }
                if u.ratio(1, 4)? {
                    let _ = write!(o, ",multiplier {}", num(u, 4)?.max(1));
                }
                Self::endian(u, o)?;
                o.push_str("; ");
            }
            9 => {
                let k = self.vars;
                self.vars += 1;
                let oper = *u.choose(&["+", "-", "*", "/", "<<", ">>"])?;
                let r = self.var(u)?.unwrap_or(num(u, 40)?.to_string());
                let _ = write!(
                    o,
                    "byte_math:bytes {}, offset {}, oper {oper}, rvalue {r}, result v{k}",
                    u.int_in_range(1..=4)?,
                    num(u, 10)?
                );
                if u.arbitrary()? {
                    o.push_str(", relative");
                }
                if u.arbitrary()? {
                    o.push_str(", endian little");
                }
                o.push_str("; ");
            }
            10 => {
                let neg = if u.arbitrary()? { "!" } else { "" };
                let n = self.var(u)?.unwrap_or(num(u, 30)?.to_string());
                let rel = if u.arbitrary()? { ",relative" } else { "" };
                let _ = write!(o, "isdataat:{neg}{n}{rel}; ");
            }
            _ => {
                let (a, b) = (num(u, 20)?, num(u, 40)?);
                let _ = match u.int_in_range(0..=3)? {
                    0 => write!(o, "bsize:{a}; "),
                    1 => write!(o, "bsize:<{a}; "),
                    2 => write!(o, "bsize:>{a}; "),
                    _ => write!(o, "bsize:{a}<>{b}; "),
                };
            }
        }
        Ok(())
    }

    /// One option of any kind.
    fn option(&mut self, u: &mut Unstructured<'_>, o: &mut String) -> Result<()> {
        match u.int_in_range(0..=29)? {
            0..=11 => self.payload_option(u, o)?,
            12 => {
                let (a, b) = (num(u, 20)?, num(u, 60)?);
                let _ = match u.int_in_range(0..=4)? {
                    0 => write!(o, "dsize:{a}; "),
                    1 => write!(o, "dsize:>{a}; "),
                    2 => write!(o, "dsize:<{a}; "),
                    3 => write!(o, "dsize:!{a}; "),
                    _ => write!(o, "dsize:{a}<>{b}; "),
                };
            }
            13 => {
                let mut f = String::new();
                for c in ['S', 'A', 'F', 'R', 'P', 'U', 'C', 'E'] {
                    if u.ratio(1, 3)? {
                        f.push(c);
                    }
                }
                if f.is_empty() {
                    f.push('0');
                }
                let m = *u.choose(&["", "+", "*", "!"])?;
                let mask = if u.ratio(1, 4)? { ",CE" } else { "" };
                let kw = if u.arbitrary()? { "flags" } else { "tcp.flags" };
                let _ = write!(o, "{kw}:{m}{f}{mask}; ");
            }
            14 | 15 => {
                let a = *u.choose(&[
                    "established", "not_established", "stateless", "to_server", "to_client",
                    "from_server", "from_client", "only_stream", "no_stream", "only_frag", "no_frag",
                ])?;
                if u.arbitrary()? {
                    let b = *u.choose(&["to_server", "to_client", "established"])?;
                    let _ = write!(o, "flow:{a},{b}; ");
                } else {
                    let _ = write!(o, "flow:{a}; ");
                }
            }
            16 | 17 => {
                let cmd = *u.choose(&["set", "unset", "toggle", "isset", "isnotset", "noalert"])?;
                if cmd == "noalert" {
                    o.push_str("flowbits:noalert; ");
                } else {
                    let name = *u.choose(&["fa", "fb", "fa|fb", "fa&fb"])?;
                    let _ = write!(o, "flowbits:{cmd},{name}; ");
                }
            }
            18 => {
                let (op, n) = (*u.choose(&["+", "-", "=", ">", "<", "==", "!=", ">=", "isset", "notset"])?, num(u, 5)?);
                if op == "isset" || op == "notset" {
                    let _ = write!(o, "flowint:fi,{op}; ");
                } else {
                    let _ = write!(o, "flowint:fi,{op},{n}; ");
                }
            }
            19 => {
                let cmd = *u.choose(&["set", "unset", "isset", "isnotset", "toggle"])?;
                let track = *u.choose(&["ip_src", "ip_dst", "ip_pair"])?;
                let exp = if u.arbitrary()? { format!(",expire {}", num(u, 5)?.max(1)) } else { String::new() };
                let _ = write!(o, "xbits:{cmd},xb,track {track}{exp}; ");
            }
            20 | 21 => {
                let kw = if u.ratio(1, 4)? { "detection_filter" } else { "threshold" };
                let ty = if kw == "threshold" {
                    format!("type {},", u.choose(&["limit", "threshold", "both"])?)
                } else {
                    String::new()
                };
                let track = *u.choose(&["by_src", "by_dst", "by_both", "by_rule"])?;
                let _ = write!(
                    o,
                    "{kw}:{ty}track {track},count {},seconds {}; ",
                    num(u, 3)?.max(1),
                    num(u, 5)?.max(1)
                );
            }
            22 => {
                let kw = *u.choose(&[
                    "ttl", "tos", "id", "itype", "icode", "icmp_id", "icmp_seq", "fragoffset",
                    "ack", "seq", "window", "ip_proto", "urilen",
                ])?;
                let m = *u.choose(&["", "<", ">", "!", "<=", ">="])?;
                let _ = write!(o, "{kw}:{m}{}; ", num(u, 70)?);
            }
            23 => {
                let s = *u.choose(&[
                    "fragbits:M; ", "fragbits:D+; ", "fragbits:!R; ", "ipopts:rr; ", "ipopts:any; ",
                    "ipopts:lsrr; ", "sameip; ", "noalert; ", "priority:1; ",
                    "classtype:trojan-activity; ", "tag:session,5,packets; ",
                    "stream_size:server,>,5; ", "stream_size:either,<,100; ",
                    "ip_proto:!6; ", "tls.version:1.2; ", "ssl_state:client_hello; ",
                ])?;
                o.push_str(s);
            }
            24..=26 => {
                let b = *u.choose(&[
                    "pkt_data", "tcp.hdr", "udp.hdr", "ipv4.hdr", "ipv6.hdr", "icmpv4.hdr",
                    "http.uri", "http.header", "http.method", "file.data", "dns.query",
                    "tls.sni", "http.request_body", "http.user_agent", "http_uri",
                ])?;
                let _ = write!(o, "{b}; ");
                if u.ratio(1, 3)? {
                    let t = *u.choose(&[
                        "to_lowercase", "to_uppercase", "dotprefix", "strip_whitespace",
                        "compress_whitespace", "url_decode", "to_md5", "xor:\"0d0ac8ff\"",
                        "pcrexform:\"a(.)\"",
                    ])?;
                    let _ = write!(o, "{t}; ");
                }
            }
            _ => self.content(u, o)?,
        }
        Ok(())
    }

    /// A rule set of 1 to 4 rules (sometimes one line of raw fuzzer text instead).
    pub fn rules(u: &mut Unstructured<'_>) -> Result<Gen> {
        let mut g = Gen::default();
        for i in 0..u.int_in_range(1..=4u32)? {
            if u.ratio(1, 16)? {
                let n = u.int_in_range(0..=80)?;
                g.text.push_str(&String::from_utf8_lossy(u.bytes(n.min(u.len()))?));
                g.text.push('\n');
                continue;
            }
            g.vars = 0;
            let action = *u.choose(&[
                "alert", "alert", "alert", "drop", "pass", "reject", "rejectsrc", "rejectboth",
            ])?;
            let proto = *u.choose(&[
                "ip", "tcp", "udp", "icmp", "tcp-pkt", "tcp-stream", "http", "dns", "tls", "ipv6",
                "pkthdr",
            ])?;
            let addr = |u: &mut Unstructured<'_>| -> Result<&'static str> {
                Ok(*u.choose(&[
                    "any", "any", "$HOME_NET", "$EXTERNAL_NET", "10.0.0.1", "!10.0.0.2",
                    "[10.0.0.0/24,!10.0.0.3]", "fd00::1", "[fd00::/64]", "10.0.0.0/8",
                ])?)
            };
            let port = |u: &mut Unstructured<'_>| -> Result<&'static str> {
                Ok(*u.choose(&[
                    "any", "any", "80", "!80", "1:1024", "[80,443,53]", "$HTTP_PORTS", "1234",
                    "[1:100,!53]", "8080:",
                ])?)
            };
            let (src, sp) = (addr(u)?, port(u)?);
            let dir = if u.ratio(1, 5)? { "<>" } else { "->" };
            let (dst, dp) = (addr(u)?, port(u)?);
            let mut o = String::new();
            for _ in 0..u.int_in_range(0..=6)? {
                g.option(u, &mut o)?;
            }
            let sid = i + 1;
            g.sids.push(sid);
            let _ = writeln!(
                g.text,
                "{action} {proto} {src} {sp} {dir} {dst} {dp} (msg:\"r{sid}\"; {o}sid:{sid}; rev:1;)"
            );
        }
        Ok(g)
    }
}
