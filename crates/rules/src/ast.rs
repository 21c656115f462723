//! The typed rule AST. `Display` prints valid rule text that parses back to the same AST.

use std::fmt;
use std::net::IpAddr;

pub use crate::keywords::buffer::{Buffer, Transform};
pub use crate::keywords::byte::{
    Base64Decode, ByteExtract, ByteJump, ByteMath, ByteTest, Endian, Isdataat, NumBase,
};
pub use crate::keywords::content::{Content, FastPattern, Num};
pub use crate::keywords::flow::{
    Flow, FlowDir, FlowState, FlowStream, Flowbits, FlowbitsCmd, Flowint, StreamSize, Xbits,
};
pub use crate::keywords::header::{Flags, Fragbits, IpProto};
pub use crate::keywords::meta::{Reference, Tag, Target, Threshold, ThresholdType, Track};
pub use crate::keywords::pcre::Pcre;
pub use crate::keywords::uint::{Uint, UintMode};

/// A signature id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sid(pub u32);

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Rule action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Alert,
    Pass,
    Drop,
    Reject,
    RejectSrc,
    RejectDst,
    RejectBoth,
}

impl Action {
    pub(crate) const ALL: [(&'static str, Action); 7] = [
        ("alert", Action::Alert),
        ("pass", Action::Pass),
        ("drop", Action::Drop),
        ("reject", Action::Reject),
        ("rejectsrc", Action::RejectSrc),
        ("rejectdst", Action::RejectDst),
        ("rejectboth", Action::RejectBoth),
    ];

    /// The keyword as written in rules.
    pub fn name(self) -> &'static str {
        Action::ALL
            .iter()
            .find(|(_, a)| *a == self)
            .map(|(n, _)| *n)
            .unwrap_or("alert")
    }
}

/// Rule protocol: a packet protocol or an application-layer protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Ip,
    Tcp,
    Udp,
    Icmp,
    TcpPkt,
    TcpStream,
    /// An application-layer protocol, by Suricata's name (`http`, `tls`, `dns`, ...).
    App(&'static str),
}

/// Application-layer protocol names Suricata 7 accepts in the rule header.
pub(crate) const APP_PROTOS: &[&str] = &[
    "http",
    "http1",
    "http2",
    "tls",
    "ssl",
    "dns",
    "smtp",
    "ftp",
    "ftp-data",
    "ssh",
    "smb",
    "dcerpc",
    "dhcp",
    "nfs",
    "ntp",
    "krb5",
    "snmp",
    "sip",
    "rfb",
    "mqtt",
    "modbus",
    "dnp3",
    "enip",
    "ike",
    "ikev2",
    "tftp",
    "rdp",
    "pgsql",
    "quic",
    "telnet",
    "imap",
    "pop3",
    "ldap",
    "websocket",
    "bittorrent-dht",
    "template",
    "icmpv6",
    "icmpv4",
    "sctp",
    "ipv4",
    "ipv6",
    "ip4",
    "ip6",
];

impl Protocol {
    /// Parse a protocol name (case-insensitive, as Suricata).
    pub fn from_name(s: &str) -> Option<Protocol> {
        let lower = s.to_ascii_lowercase();
        Some(match lower.as_str() {
            "ip" | "pkthdr" => Protocol::Ip,
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "icmp" => Protocol::Icmp,
            "tcp-pkt" => Protocol::TcpPkt,
            "tcp-stream" => Protocol::TcpStream,
            other => Protocol::App(APP_PROTOS.iter().find(|p| **p == other)?),
        })
    }

    /// The name as written in rules.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Ip => "ip",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::TcpPkt => "tcp-pkt",
            Protocol::TcpStream => "tcp-stream",
            Protocol::App(n) => n,
        }
    }

    /// The application protocol family a buffer keyword needs (`http1`/`http2` are `http`).
    pub fn app_family(self) -> Option<&'static str> {
        match self {
            Protocol::App("http1" | "http2" | "http") => Some("http"),
            Protocol::App("ssl" | "tls") => Some("tls"),
            Protocol::App(n) => Some(n),
            _ => None,
        }
    }
}

/// Traffic direction between the two endpoints of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `->`
    ToDst,
    /// `<>`
    Both,
}

/// An IP network: address plus optional prefix length (absent = host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: Option<u8>,
}

/// An address expression as written (variables unresolved; see [`crate::vars::Vars::resolve_addr`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddrExpr {
    Any,
    /// `$NAME`
    Var(String),
    Net(Cidr),
    /// `a-b` inclusive
    Range(IpAddr, IpAddr),
    /// `[a,b,...]`
    List(Vec<AddrExpr>),
    /// `!x`
    Not(Box<AddrExpr>),
}

/// A port expression as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortExpr {
    Any,
    Var(String),
    Port(u16),
    /// `a:b` inclusive (`a:` and `:b` fill in 65535 and 0).
    Range(u16, u16),
    List(Vec<PortExpr>),
    Not(Box<PortExpr>),
}

/// One option of the rule body, in rule order. Content modifiers are folded into their [`Content`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOption {
    Msg(String),
    Sid(u32),
    Rev(u32),
    Gid(u32),
    Classtype(String),
    Priority(u8),
    Reference(Reference),
    Metadata(Vec<String>),
    Target(Target),
    Tag(Tag),
    Noalert,
    Content(Content),
    Pcre(Pcre),
    /// A sticky buffer: following matches inspect this buffer.
    Buffer(Buffer),
    /// A transform applied to the current sticky buffer.
    Transform(Transform),
    Flow(Flow),
    Flowbits(Flowbits),
    Flowint(Flowint),
    Xbits(Xbits),
    Threshold(Threshold),
    DetectionFilter(Threshold),
    Dsize(Uint),
    Bsize(Uint),
    /// `urilen`; `raw` when `,raw` was given.
    Urilen {
        value: Uint,
        raw: bool,
    },
    Isdataat(Isdataat),
    ByteTest(ByteTest),
    ByteJump(ByteJump),
    ByteExtract(ByteExtract),
    ByteMath(ByteMath),
    Base64Decode(Base64Decode),
    Ttl(Uint),
    Tos(Uint),
    Id(Uint),
    Flags(Flags),
    Fragbits(Fragbits),
    /// `fragoffset`
    FragOffset(Uint),
    /// `ipopts`, by option name.
    Ipopts(String),
    Itype(Uint),
    Icode(Uint),
    IcmpId(u16),
    IcmpSeq(u16),
    IpProto(IpProto),
    Ack(u32),
    Seq(u32),
    Window {
        negated: bool,
        value: u16,
    },
    Sameip,
    StreamSize(StreamSize),
    AppLayerProtocol {
        negated: bool,
        proto: String,
    },
    /// `tls.version` (the raw version value: 0x0300 SSLv3 ... 0x0304 TLS 1.3).
    TlsVersion(u16),
    /// `ssl_version`, list of (negated, name).
    SslVersion(Vec<(bool, String)>),
    /// `ssl_state`, list of (negated, name) joined by `|`.
    SslState(Vec<(bool, String)>),
    /// `app-layer-event:proto.event`
    AppLayerEvent(String),
    /// `prefilter`: use the preceding keyword as the prefilter.
    Prefilter,
    /// A threshold.config `suppress` with track and ip (no rule-text form; printed as
    /// `suppress:...`, which does not parse back).
    Suppress(crate::threshold_config::Suppress),
    /// A threshold.config `rate_filter` (no rule-text form; printed as `rate_filter:...`).
    RateFilter(crate::threshold_config::RateFilter),
}

/// One parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub action: Action,
    pub proto: Protocol,
    pub src: AddrExpr,
    pub sport: PortExpr,
    pub dir: Direction,
    pub dst: AddrExpr,
    pub dport: PortExpr,
    pub options: Vec<RuleOption>,
}

impl Rule {
    /// The rule's sid (0 when absent; a loaded rule always has one).
    pub fn sid(&self) -> Sid {
        Sid(self
            .options
            .iter()
            .find_map(|o| match o {
                RuleOption::Sid(s) => Some(*s),
                _ => None,
            })
            .unwrap_or(0))
    }

    /// The rule's gid (1 by default).
    pub fn gid(&self) -> u32 {
        self.options
            .iter()
            .find_map(|o| match o {
                RuleOption::Gid(g) => Some(*g),
                _ => None,
            })
            .unwrap_or(1)
    }

    /// The rule's revision (0 when absent).
    pub fn rev(&self) -> u32 {
        self.options
            .iter()
            .find_map(|o| match o {
                RuleOption::Rev(r) => Some(*r),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// The rule's message.
    pub fn msg(&self) -> Option<&str> {
        self.options.iter().find_map(|o| match o {
            RuleOption::Msg(m) => Some(m.as_str()),
            _ => None,
        })
    }

    /// The classtype, if any.
    pub fn classtype(&self) -> Option<&str> {
        self.options.iter().find_map(|o| match o {
            RuleOption::Classtype(c) => Some(c.as_str()),
            _ => None,
        })
    }

    /// Content matches in rule order.
    pub fn contents(&self) -> impl Iterator<Item = &Content> {
        self.options.iter().filter_map(|o| match o {
            RuleOption::Content(c) => Some(c),
            _ => None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------------

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix {
            Some(p) => write!(f, "{}/{}", self.addr, p),
            None => write!(f, "{}", self.addr),
        }
    }
}

impl fmt::Display for AddrExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrExpr::Any => f.write_str("any"),
            AddrExpr::Var(v) => write!(f, "${v}"),
            AddrExpr::Net(c) => c.fmt(f),
            AddrExpr::Range(a, b) => write!(f, "{a}-{b}"),
            AddrExpr::List(l) => {
                f.write_str("[")?;
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    e.fmt(f)?;
                }
                f.write_str("]")
            }
            AddrExpr::Not(e) => write!(f, "!{e}"),
        }
    }
}

impl fmt::Display for PortExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortExpr::Any => f.write_str("any"),
            PortExpr::Var(v) => write!(f, "${v}"),
            PortExpr::Port(p) => p.fmt(f),
            PortExpr::Range(a, b) => write!(f, "{a}:{b}"),
            PortExpr::List(l) => {
                f.write_str("[")?;
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    e.fmt(f)?;
                }
                f.write_str("]")
            }
            PortExpr::Not(e) => write!(f, "!{e}"),
        }
    }
}

/// Write `s` as a quoted option value, escaping `"`, `;` and `\`.
pub(crate) fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        if matches!(c, '"' | ';' | '\\') {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("\"")
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[(bool, String)], sep: &str) -> fmt::Result {
    for (i, (neg, name)) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        if *neg {
            f.write_str("!")?;
        }
        f.write_str(name)?;
    }
    Ok(())
}

impl fmt::Display for RuleOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleOption::Msg(m) => {
                f.write_str("msg:")?;
                write_quoted(f, m)
            }
            RuleOption::Sid(v) => write!(f, "sid:{v}"),
            RuleOption::Rev(v) => write!(f, "rev:{v}"),
            RuleOption::Gid(v) => write!(f, "gid:{v}"),
            RuleOption::Classtype(c) => write!(f, "classtype:{c}"),
            RuleOption::Priority(p) => write!(f, "priority:{p}"),
            RuleOption::Reference(r) => write!(f, "reference:{r}"),
            RuleOption::Metadata(m) => write!(f, "metadata:{}", m.join(", ")),
            RuleOption::Target(t) => write!(f, "target:{t}"),
            RuleOption::Tag(t) => write!(f, "tag:{t}"),
            RuleOption::Noalert => f.write_str("noalert"),
            RuleOption::Content(c) => c.fmt(f),
            RuleOption::Pcre(p) => p.fmt(f),
            RuleOption::Buffer(b) => f.write_str(b.name()),
            RuleOption::Transform(t) => t.fmt(f),
            RuleOption::Flow(x) => write!(f, "flow:{x}"),
            RuleOption::Flowbits(x) => write!(f, "flowbits:{x}"),
            RuleOption::Flowint(x) => write!(f, "flowint:{x}"),
            RuleOption::Xbits(x) => write!(f, "xbits:{x}"),
            RuleOption::Threshold(x) => write!(f, "threshold:{x}"),
            RuleOption::DetectionFilter(x) => write!(f, "detection_filter:{x}"),
            RuleOption::Dsize(x) => write!(f, "dsize:{x}"),
            RuleOption::Bsize(x) => write!(f, "bsize:{x}"),
            RuleOption::Urilen { value, raw } => {
                write!(f, "urilen:{value}")?;
                if *raw {
                    f.write_str(",raw")?;
                }
                Ok(())
            }
            RuleOption::Isdataat(x) => write!(f, "isdataat:{x}"),
            RuleOption::ByteTest(x) => write!(f, "byte_test:{x}"),
            RuleOption::ByteJump(x) => write!(f, "byte_jump:{x}"),
            RuleOption::ByteExtract(x) => write!(f, "byte_extract:{x}"),
            RuleOption::ByteMath(x) => write!(f, "byte_math:{x}"),
            RuleOption::Base64Decode(x) => {
                f.write_str("base64_decode")?;
                if !x.is_default() {
                    write!(f, ":{x}")?;
                }
                Ok(())
            }
            RuleOption::Ttl(x) => write!(f, "ttl:{x}"),
            RuleOption::Tos(x) => write!(f, "tos:{x}"),
            RuleOption::Id(x) => write!(f, "id:{x}"),
            RuleOption::Flags(x) => write!(f, "flags:{x}"),
            RuleOption::Fragbits(x) => write!(f, "fragbits:{x}"),
            RuleOption::FragOffset(x) => write!(f, "fragoffset:{x}"),
            RuleOption::Ipopts(x) => write!(f, "ipopts:{x}"),
            RuleOption::Itype(x) => write!(f, "itype:{x}"),
            RuleOption::Icode(x) => write!(f, "icode:{x}"),
            RuleOption::IcmpId(x) => write!(f, "icmp_id:{x}"),
            RuleOption::IcmpSeq(x) => write!(f, "icmp_seq:{x}"),
            RuleOption::IpProto(x) => write!(f, "ip_proto:{x}"),
            RuleOption::Ack(x) => write!(f, "ack:{x}"),
            RuleOption::Seq(x) => write!(f, "seq:{x}"),
            RuleOption::Window { negated, value } => {
                write!(f, "window:{}{value}", if *negated { "!" } else { "" })
            }
            RuleOption::Sameip => f.write_str("sameip"),
            RuleOption::StreamSize(x) => write!(f, "stream_size:{x}"),
            RuleOption::AppLayerProtocol { negated, proto } => {
                write!(
                    f,
                    "app-layer-protocol:{}{proto}",
                    if *negated { "!" } else { "" }
                )
            }
            RuleOption::TlsVersion(v) => {
                let name = match v {
                    0x0300 => "sslv3".to_string(),
                    0x0301 => "1.0".to_string(),
                    0x0302 => "1.1".to_string(),
                    0x0303 => "1.2".to_string(),
                    0x0304 => "1.3".to_string(),
                    other => format!("{other:#06x}"),
                };
                write!(f, "tls.version:{name}")
            }
            RuleOption::SslVersion(v) => {
                f.write_str("ssl_version:")?;
                write_list(f, v, ",")
            }
            RuleOption::SslState(v) => {
                f.write_str("ssl_state:")?;
                write_list(f, v, "|")
            }
            RuleOption::AppLayerEvent(e) => write!(f, "app-layer-event:{e}"),
            RuleOption::Prefilter => f.write_str("prefilter"),
            RuleOption::Suppress(s) => write!(f, "suppress:{s}"),
            RuleOption::RateFilter(r) => write!(f, "rate_filter:{r}"),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {} {} (",
            self.action.name(),
            self.proto.name(),
            self.src,
            self.sport,
            match self.dir {
                Direction::ToDst => "->",
                Direction::Both => "<>",
            },
            self.dst,
            self.dport
        )?;
        for o in &self.options {
            write!(f, "{o}; ")?;
        }
        f.write_str(")")
    }
}
