//! Keyword argument parsers (one file per family) and the option-list builder that applies them in
//! rule order: sticky buffers, content modifiers folded into the preceding content, and so on.

pub mod buffer;
pub mod byte;
pub mod content;
pub mod flow;
pub mod header;
pub mod meta;
pub mod pcre;
pub mod uint;

use crate::ast::RuleOption;
use crate::diag::DiagKind;
use buffer::{Buffer, Transform};
use content::Content;

/// A keyword argument error: what is wrong and, when known, the byte offset inside the argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KwError {
    pub kind: DiagKind,
    pub at: Option<usize>,
}

impl KwError {
    pub(crate) fn bad(msg: String) -> Self {
        KwError {
            kind: DiagKind::BadArgument(msg),
            at: None,
        }
    }
    pub(crate) fn kind(kind: DiagKind) -> Self {
        KwError { kind, at: None }
    }
    pub(crate) fn at(mut self, at: usize) -> Self {
        self.at = Some(at);
        self
    }
}

pub(crate) type KwResult<T> = Result<T, KwError>;

pub(crate) fn require(value: Option<&str>) -> KwResult<&str> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(KwError::bad("needs an argument".to_string())),
    }
}

pub(crate) fn no_arg(value: Option<&str>) -> KwResult<()> {
    match value {
        Some(v) if !v.trim().is_empty() => Err(KwError::bad("takes no argument".to_string())),
        _ => Ok(()),
    }
}

/// Split a comma-separated argument list, trimming each item and keeping its offset in `arg`.
pub(crate) fn split_commas(arg: &str) -> impl Iterator<Item = (usize, &str)> {
    let base = arg.as_ptr() as usize;
    arg.split(',').map(move |p| {
        let t = p.trim();
        (t.as_ptr() as usize - base, t)
    })
}

/// Every keyword Seawall parses, for diagnostics (`&'static` names). Sticky buffers and legacy
/// modifiers are resolved through [`Buffer`], transforms through [`Transform`].
pub(crate) const KEYWORDS: &[&str] = &[
    "msg",
    "sid",
    "rev",
    "gid",
    "classtype",
    "priority",
    "reference",
    "metadata",
    "target",
    "tag",
    "noalert",
    "content",
    "uricontent",
    "nocase",
    "rawbytes",
    "depth",
    "offset",
    "distance",
    "within",
    "fast_pattern",
    "startswith",
    "endswith",
    "pcre",
    "flow",
    "flowbits",
    "flowint",
    "xbits",
    "threshold",
    "detection_filter",
    "dsize",
    "bsize",
    "urilen",
    "isdataat",
    "byte_test",
    "byte_jump",
    "byte_extract",
    "byte_math",
    "base64_decode",
    "ttl",
    "tos",
    "id",
    "flags",
    "tcp.flags",
    "fragbits",
    "fragoffset",
    "ipopts",
    "itype",
    "icode",
    "icmp_id",
    "icmp_seq",
    "ip_proto",
    "ack",
    "seq",
    "window",
    "sameip",
    "stream_size",
    "app-layer-protocol",
    "tls.version",
    "ssl_version",
    "ssl_state",
    "app-layer-event",
    "prefilter",
    "asn1",
];

/// Suricata 7 keywords Seawall recognises but cannot honour yet: a rule using one is skipped with
/// [`DiagKind::Unsupported`].
pub(crate) const UNSUPPORTED: &[&str] = &[
    "lua",
    "luajit",
    "dataset",
    "datarep",
    "iprep",
    "filemd5",
    "filesha1",
    "filesha256",
    "filestore",
    "filemagic",
    "filename",
    "fileext",
    "filesize",
    "file.name",
    "file.magic",
    "decode-event",
    "stream-event",
    "engine-event",
    "ftpbounce",
    "dce_iface",
    "dce_opnum",
    "dce_stub_data",
    "l3_proto",
    "replace",
    "flowvar",
    "pktvar",
    "bypass",
    "config",
    "rpc",
    "tls.store",
    "tls.fingerprint",
    "tls.subject",
    "tls.issuerdn",
    "tls_cert_notbefore",
    "tls_cert_notafter",
    "tls_cert_expired",
    "tls_cert_valid",
    "tls.random",
    "tls.random_time",
    "tls.random_bytes",
    "ssh.protoversion",
    "ssh.softwareversion",
    "ssh.hassh",
    "ssh.hassh.string",
    "ssh.hassh.server",
    "ssh.hassh.server.string",
    "dnp3_func",
    "dnp3_ind",
    "dnp3_obj",
    "dnp3_data",
    "modbus",
    "enip_command",
    "cip_service",
    "krb5_msg_type",
    "krb5_err_code",
    "krb5_cname",
    "krb5_sname",
    "snmp.version",
    "snmp.community",
    "snmp.pdu_type",
    "snmp.usm",
    "mqtt.type",
    "mqtt.flags",
    "mqtt.qos",
    "mqtt.protocol_version",
    "mqtt.topic",
    "http2.frametype",
    "http2.errorcode",
    "http2.priority",
    "http2.window",
    "http2.size_update",
    "http2.settings",
    "http2.header_name",
    "sip.method",
    "sip.uri",
    "sip.protocol",
    "sip.stat_code",
    "sip.stat_msg",
    "sip.request_line",
    "sip.response_line",
    "rfb.name",
    "rfb.secresult",
    "rfb.sectype",
    "template",
    "template_buffer",
    "tcp.mss",
    "icmpv6.hdr",
    "icmpv6.mtu",
    "icmpv4.hdr",
    "ipv4-csum",
    "tcpv4-csum",
    "tcpv6-csum",
    "udpv4-csum",
    "udpv6-csum",
    "icmpv4-csum",
    "icmpv6-csum",
    "smb.ntlmssp_user",
    "smb.ntlmssp_domain",
    "nfs_procedure",
    "nfs.version",
    "quic.sni",
    "quic.ua",
    "quic.version",
    "quic.cyu.hash",
    "quic.cyu.string",
    "dhcp.leasetime",
    "dhcp.rebinding_time",
    "dhcp.renewal_time",
    "frame",
    "requires",
    "geoip",
    "flow.age",
    "flow.pkts",
    "flow.bytes",
    "ike.init_spi",
    "ike.resp_spi",
    "ike.chosen_sa_attribute",
    "ike.exchtype",
    "ike.vendor",
    "ike.key_exchange_payload",
    "ike.nonce_payload",
    "ike.key_exchange_payload_length",
    "ike.nonce_payload_length",
    "pgsql.query",
    "dns.opcode",
    "dns.answer.name",
    "dns.query.name",
    "tftp.file",
    "ftpdata_command",
    "krb5.ticket_encryption",
    "dhcp.hostname",
    "http.request_header.raw",
];

/// The `&'static` spelling of a keyword name, for diagnostics.
pub(crate) fn static_name(name: &str) -> Option<&'static str> {
    if let Some(k) = KEYWORDS.iter().find(|k| **k == name) {
        return Some(k);
    }
    if let Some(b) = Buffer::from_sticky(name).or_else(|| Buffer::from_legacy(name)) {
        return Some(if Buffer::from_sticky(name).is_some() {
            b.sticky_alias(name)
        } else {
            b.legacy_name().unwrap_or(b.name())
        });
    }
    Transform::static_name(name)
}

/// Singletons checked for `Duplicate` (bit index into `Builder::seen`).
fn singleton_bit(name: &str) -> Option<u32> {
    Some(match name {
        "msg" => 0,
        "sid" => 1,
        "rev" => 2,
        "gid" => 3,
        "classtype" => 4,
        "priority" => 5,
        "threshold" => 6,
        "detection_filter" => 7,
        "flow" => 9,
        "dsize" => 10,
        "noalert" => 11,
        "sameip" => 12,
        "urilen" => 13,
        _ => return None,
    })
}

/// Applies options in rule order.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    pub options: Vec<RuleOption>,
    /// Current sticky buffer.
    pub sticky: Buffer,
    /// True right after a sticky buffer or transform (transforms must follow one directly).
    after_buffer: bool,
    seen: u32,
    /// Names defined by `byte_extract` / `byte_math` so far.
    pub vars: Vec<String>,
    /// Whether a `fast_pattern` has been seen.
    pub fast_pattern_seen: bool,
}

impl Builder {
    fn last_content(&mut self, kw: &'static str) -> KwResult<&mut Content> {
        self.options
            .iter_mut()
            .rev()
            .find_map(|o| match o {
                RuleOption::Content(c) => Some(c),
                _ => None,
            })
            .ok_or_else(|| {
                KwError::kind(DiagKind::NoPrecedingMatch(match kw {
                    "nocase" => "`nocase` needs a preceding content",
                    "depth" => "`depth` needs a preceding content",
                    "offset" => "`offset` needs a preceding content",
                    "distance" => "`distance` needs a preceding content",
                    "within" => "`within` needs a preceding content",
                    "fast_pattern" => "`fast_pattern` needs a preceding content",
                    "startswith" => "`startswith` needs a preceding content",
                    "endswith" => "`endswith` needs a preceding content",
                    "rawbytes" => "`rawbytes` needs a preceding content",
                    _ => "content modifier needs a preceding content",
                }))
            })
    }

    /// Apply one option `name[:value]`.
    pub fn apply(&mut self, name: &str, value: Option<&str>) -> KwResult<()> {
        if let Some(bit) = singleton_bit(name) {
            if self.seen & (1 << bit) != 0 {
                let n = static_name(name).unwrap_or("option");
                return Err(KwError::kind(DiagKind::Duplicate(n)));
            }
            self.seen |= 1 << bit;
        }
        let was_after_buffer = std::mem::replace(&mut self.after_buffer, false);
        let opt = match name {
            // --- content and modifiers
            "content" | "uricontent" => {
                let mut c = content::parse_content(require(value)?)?;
                if name == "uricontent" {
                    c.buffer = Buffer::HttpUri;
                    c.legacy_modifier = true;
                } else {
                    c.buffer = self.sticky;
                }
                RuleOption::Content(c)
            }
            "nocase" | "rawbytes" | "startswith" | "endswith" | "depth" | "offset" | "distance"
            | "within" | "fast_pattern" => {
                let kw = static_name(name).unwrap_or("content");
                let vars = std::mem::take(&mut self.vars);
                let fp_seen = self.fast_pattern_seen;
                let r = self
                    .last_content(kw)
                    .and_then(|c| content::apply_modifier(c, kw, value, &vars, fp_seen));
                self.vars = vars;
                r?;
                if name == "fast_pattern" {
                    self.fast_pattern_seen = true;
                }
                return Ok(());
            }
            "pcre" => {
                let p = pcre::parse_pcre(require(value)?, self.sticky)?;
                RuleOption::Pcre(p)
            }
            // --- meta
            "msg" => RuleOption::Msg(meta::parse_msg(require(value)?)?),
            "sid" => {
                let v = uint::parse_u64(require(value)?, u32::MAX as u64)?;
                if v == 0 {
                    return Err(KwError::bad("sid must be greater than 0".to_string()));
                }
                RuleOption::Sid(v as u32)
            }
            "rev" => RuleOption::Rev(uint::parse_u64(require(value)?, u32::MAX as u64)? as u32),
            "gid" => RuleOption::Gid(uint::parse_u64(require(value)?, u32::MAX as u64)? as u32),
            "classtype" => RuleOption::Classtype(meta::parse_classtype(require(value)?)?),
            "priority" => {
                let v = uint::parse_u64(require(value)?, 255)?;
                if v == 0 {
                    return Err(KwError::bad("priority must be 1..=255".to_string()));
                }
                RuleOption::Priority(v as u8)
            }
            "reference" => RuleOption::Reference(meta::parse_reference(require(value)?)?),
            "metadata" => RuleOption::Metadata(meta::parse_metadata(require(value)?)?),
            "target" => RuleOption::Target(meta::parse_target(require(value)?)?),
            "tag" => RuleOption::Tag(meta::parse_tag(require(value)?)?),
            "noalert" => {
                no_arg(value)?;
                RuleOption::Noalert
            }
            "threshold" => RuleOption::Threshold(meta::parse_threshold(require(value)?, true)?),
            "detection_filter" => {
                RuleOption::DetectionFilter(meta::parse_threshold(require(value)?, false)?)
            }
            // --- flow state
            "flow" => RuleOption::Flow(flow::parse_flow(require(value)?)?),
            "flowbits" => RuleOption::Flowbits(flow::parse_flowbits(require(value)?)?),
            "flowint" => RuleOption::Flowint(flow::parse_flowint(require(value)?)?),
            "xbits" => RuleOption::Xbits(flow::parse_xbits(require(value)?)?),
            "stream_size" => RuleOption::StreamSize(flow::parse_stream_size(require(value)?)?),
            // --- sizes and payload keywords
            "dsize" => RuleOption::Dsize(uint::parse_uint(require(value)?, 65535)?),
            "bsize" => RuleOption::Bsize(uint::parse_uint(require(value)?, u64::MAX)?),
            "urilen" => {
                let v = require(value)?;
                let (num, raw) = match v.rsplit_once(',') {
                    Some((n, m)) => match m.trim() {
                        "raw" => (n, true),
                        "norm" => (n, false),
                        other => {
                            return Err(KwError::bad(format!("unknown urilen option `{other}`")))
                        }
                    },
                    None => (v, false),
                };
                RuleOption::Urilen {
                    value: uint::parse_uint(num, 65535)?,
                    raw,
                }
            }
            "isdataat" => RuleOption::Isdataat(byte::parse_isdataat(require(value)?, &self.vars)?),
            "byte_test" => {
                RuleOption::ByteTest(byte::parse_byte_test(require(value)?, &self.vars)?)
            }
            "byte_jump" => {
                RuleOption::ByteJump(byte::parse_byte_jump(require(value)?, &self.vars)?)
            }
            "byte_extract" => {
                let b = byte::parse_byte_extract(require(value)?)?;
                self.vars.push(b.name.clone());
                RuleOption::ByteExtract(b)
            }
            "byte_math" => {
                let b = byte::parse_byte_math(require(value)?, &self.vars)?;
                self.vars.push(b.result.clone());
                RuleOption::ByteMath(b)
            }
            "base64_decode" => RuleOption::Base64Decode(byte::parse_base64_decode(value)?),
            // --- packet header keywords
            "ttl" => RuleOption::Ttl(uint::parse_uint(require(value)?, 255)?),
            "tos" => RuleOption::Tos(uint::parse_uint(require(value)?, 255)?),
            "id" => RuleOption::Id(uint::parse_uint(require(value)?, 65535)?),
            "itype" => RuleOption::Itype(uint::parse_uint(require(value)?, 255)?),
            "icode" => RuleOption::Icode(uint::parse_uint(require(value)?, 255)?),
            "icmp_id" => RuleOption::IcmpId(uint::parse_u64(require(value)?, 65535)? as u16),
            "icmp_seq" => RuleOption::IcmpSeq(uint::parse_u64(require(value)?, 65535)? as u16),
            "fragoffset" => RuleOption::FragOffset(uint::parse_uint(require(value)?, 8191)?),
            "flags" | "tcp.flags" => RuleOption::Flags(header::parse_flags(require(value)?)?),
            "fragbits" => RuleOption::Fragbits(header::parse_fragbits(require(value)?)?),
            "ipopts" => RuleOption::Ipopts(header::parse_ipopts(require(value)?)?),
            "ip_proto" => RuleOption::IpProto(header::parse_ip_proto(require(value)?)?),
            "ack" => RuleOption::Ack(uint::parse_u64(require(value)?, u32::MAX as u64)? as u32),
            "seq" => RuleOption::Seq(uint::parse_u64(require(value)?, u32::MAX as u64)? as u32),
            "window" => {
                let v = require(value)?.trim();
                let (negated, n) = match v.strip_prefix('!') {
                    Some(n) => (true, n),
                    None => (false, v),
                };
                RuleOption::Window {
                    negated,
                    value: uint::parse_u64(n, 65535)? as u16,
                }
            }
            "sameip" => {
                no_arg(value)?;
                RuleOption::Sameip
            }
            // --- app layer
            "app-layer-protocol" => {
                let v = require(value)?.trim();
                let (negated, p) = match v.strip_prefix('!') {
                    Some(p) => (true, p.trim()),
                    None => (false, v),
                };
                header::check_app_proto(p)?;
                RuleOption::AppLayerProtocol {
                    negated,
                    proto: p.to_string(),
                }
            }
            "tls.version" => RuleOption::TlsVersion(header::parse_tls_version(require(value)?)?),
            "ssl_version" => RuleOption::SslVersion(header::parse_ssl_version(require(value)?)?),
            "ssl_state" => RuleOption::SslState(header::parse_ssl_state(require(value)?)?),
            "app-layer-event" => {
                let v = require(value)?.trim();
                if v.contains(char::is_whitespace) {
                    return Err(KwError::bad(format!("invalid event name `{v}`")));
                }
                RuleOption::AppLayerEvent(v.to_string())
            }
            "asn1" => {
                return Err(KwError::kind(DiagKind::Unsupported("asn1".to_string())));
            }
            "prefilter" => {
                no_arg(value)?;
                RuleOption::Prefilter
            }
            other => {
                if let Some(b) = Buffer::from_sticky(other) {
                    no_arg(value)?;
                    self.sticky = b;
                    self.after_buffer = true;
                    RuleOption::Buffer(b)
                } else if let Some(b) = Buffer::from_legacy(other) {
                    no_arg(value)?;
                    let c = self
                        .last_content(b.legacy_name().unwrap_or("content"))
                        .map_err(|_| {
                            KwError::kind(DiagKind::NoPrecedingMatch(
                                "content modifier needs a preceding content",
                            ))
                        })?;
                    content::apply_legacy(c, b)?;
                    return Ok(());
                } else if let Some(t) = Transform::from_name(other, value)? {
                    // Suricata 7 accepts a transform anywhere after its sticky buffer.
                    let _ = was_after_buffer;
                    if self.sticky == Buffer::Payload {
                        return Err(KwError::kind(DiagKind::NoPrecedingMatch(
                            "transform needs a sticky buffer before it",
                        )));
                    }
                    self.after_buffer = true;
                    RuleOption::Transform(t)
                } else if UNSUPPORTED.contains(&other) || other.starts_with("http2.") {
                    return Err(KwError::kind(DiagKind::Unsupported(other.to_string())));
                } else {
                    return Err(KwError::kind(DiagKind::UnknownKeyword(other.to_string())));
                }
            }
        };
        self.options.push(opt);
        Ok(())
    }
}
