//! Rule compilation ([`Engine::compile`]) and packet inspection ([`Engine::inspect`]).

use std::collections::HashMap;
use std::sync::Arc;

use seawall_flow::Direction as FlowDirection;
use seawall_rules::ast::{
    Action, AddrExpr, Buffer, Direction, FlowDir, FlowState, FlowStream, FlowbitsCmd, Protocol,
    RuleOption, Sid, ThresholdType, Track,
};
use seawall_rules::threshold_config::{RateAction, SuppressTrack};
use seawall_rules::vars::SURICATA_ADDRESS_GROUPS;
use seawall_rules::{Classifications, IpSet, PortSet, SourceRule, Vars};

use seawall_applayer::{apply_transforms, transforms_supported, AppProto, Transform};
use seawall_rules::keywords::uint::Uint;

use crate::header::HeaderCheck;
use crate::iponly::IpOnlyIndex;
pub use crate::mpm::MpmKind;
use crate::packet::{DirProto, PacketInfo, TxRef, View};
use crate::payload::{FastPatternMeta, PayloadProgram, PayloadScratch};
use crate::prefilter::{Hay, PayloadPattern, Prefilter, PrefilterScratch, Side};
use crate::state::{FlowDetect, RateSpec, ThOutcome, ThresholdSpec, Tracked, Who, XbitOp};

/// Suricata's default `packet_alert_max`.
pub const PACKET_ALERT_MAX: usize = 15;

/// Suricata's default xbits expiry (seconds).
const XBITS_EXPIRE_DEFAULT: u32 = 30;

/// Options for [`Engine::compile`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Multi-pattern matcher backend.
    pub mpm: MpmKind,
    /// Classtypes (default priorities).
    pub classifications: Classifications,
    /// Alerts kept per packet (Suricata's `packet_alert_max`).
    pub packet_alert_max: usize,
    /// Bound on per-worker tracked entries (thresholds and xbits by host / host pair).
    pub max_tracked_entries: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            mpm: MpmKind::default(),
            classifications: Classifications::stock(),
            packet_alert_max: PACKET_ALERT_MAX,
            max_tracked_entries: 1 << 16,
        }
    }
}

/// What compiling a rule set did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompileReport {
    /// Rules loaded (a bidirectional rule counts once).
    pub loaded: usize,
    /// Rules skipped whole, with the reason (naming the keyword).
    pub skipped: Vec<(Sid, String)>,
    /// Skip reasons with their counts, most frequent first.
    pub by_reason: Vec<(String, usize)>,
    /// Rules evaluated by the IP-only path (first packet of each flow direction).
    pub ip_only: usize,
    /// Rules with a prefilter literal.
    pub prefiltered: usize,
    /// Rule groups built (protocol class × destination-port group).
    pub groups: usize,
}

/// One alert raised for a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub sid: u32,
    pub gid: u32,
    pub rev: u32,
    pub action: Action,
    pub msg: Arc<str>,
    pub classtype: Option<Arc<str>>,
    pub priority: u8,
    /// The rule's position in Suricata's signature order (its internal id).
    pub rule_index: u32,
}

/// How the packet should be handled according to the rules (IDS mode ignores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Drop,
    Reject(RejectKind),
}

/// Whom a reject answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// `reject` / `rejectsrc`
    Src,
    /// `rejectdst`
    Dst,
    /// `rejectboth`
    Both,
}

// ------------------------------------------------------------------------------------------
// Compiled rules
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProtoSpec {
    Any,
    One(u8),
    Icmp,
    /// TCP or UDP (`dns` rules).
    TcpUdp,
}

impl ProtoSpec {
    fn matches(self, proto: u8) -> bool {
        match self {
            ProtoSpec::Any => true,
            ProtoSpec::One(p) => proto == p,
            ProtoSpec::Icmp => proto == 1 || proto == 58,
            ProtoSpec::TcpUdp => proto == 6 || proto == 17,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IpVer {
    Both,
    V4,
    V6,
}

#[derive(Debug, Clone)]
enum AddrMatch {
    Any,
    Set(IpSet),
    /// An interned set (`Engine::addr_sets`), its result cached per packet.
    Id(u32),
}

impl AddrMatch {
    fn matches(&self, ip: core::net::IpAddr) -> bool {
        match self {
            AddrMatch::Any => true,
            AddrMatch::Set(s) => s.contains(ip),
            // Interned sets are looked up through the engine (`Engine::addr_ok`).
            AddrMatch::Id(_) => false,
        }
    }
}

#[derive(Debug, Clone)]
enum PortMatch {
    Any,
    Set(PortSet),
}

impl PortMatch {
    fn is_any(&self) -> bool {
        matches!(self, PortMatch::Any)
    }
    fn matches(&self, p: u16) -> bool {
        match self {
            PortMatch::Any => true,
            PortMatch::Set(s) => s.contains(p),
        }
    }
}

/// `flow:` compiled with Suricata's split: a bare direction is a group filter that does not
/// need a flow; anything else is a match that needs one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct FlowCheck {
    dir: Option<FlowDir>,
    state: Option<FlowState>,
    stream: Option<FlowStream>,
    frag: Option<bool>,
    needs_flow: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum BitCheck {
    IsSet { ids: Vec<u32>, any: bool },
    IsNotSet { ids: Vec<u32>, any: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntTarget {
    Value(u32),
    Var(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IntOp {
    Set,
    Add,
    Sub,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    IsSet,
    NotSet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IntCmd {
    id: u32,
    op: IntOp,
    target: IntTarget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum XTrack {
    Src,
    Dst,
    Pair,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct XbitCmd {
    id: u32,
    track: XTrack,
    cmd: FlowbitsCmd,
    expire: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PostOp {
    Bit(FlowbitsCmd, u32),
    Int(IntCmd),
    Xbit(XbitCmd),
}

/// How a matching rule's drop/pass applies to the flow (Suricata's signature type property).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// IP-only: evaluated on the first packet of each flow direction; actions apply to the flow.
    IpOnly,
    /// IP-only-like with negated addresses: every packet; actions apply to the flow.
    LikeIpOnly,
    /// Packet rule: actions apply to the packet only.
    Packet,
}

/// How a TCP payload rule inspects (Suricata's SIG_FLAG_REQUIRE_PACKET / _STREAM / _STREAM_ONLY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamMode {
    /// The packet payload only (`flow:no_stream`, `dsize`, non-TCP).
    Packet,
    /// The reassembled stream when it is inspected on this packet; else the packet payload when
    /// the packet was not added to the stream.
    Stream,
    /// Both: the stream, else the packet payload (a content with depth/offset: Suricata adds
    /// SIG_FLAG_REQUIRE_PACKET to the stream requirement).
    StreamAndPacket,
    /// The reassembled stream only (`flow:only_stream`, `tcp-stream`).
    StreamOnly,
}

/// One app-layer buffer's program in a rule.
#[derive(Debug)]
struct BufProg {
    buf: Buffer,
    transforms: Vec<Transform>,
    prog: PayloadProgram,
}

/// Directions a transaction rule inspects.
const TX_TOSERVER: u8 = 1;
const TX_TOCLIENT: u8 = 2;

#[derive(Debug)]
struct CompiledRule {
    sid: u32,
    gid: u32,
    rev: u32,
    action: Action,
    msg: Arc<str>,
    classtype: Option<Arc<str>>,
    priority: u8,
    noalert: bool,
    kind: Kind,
    proto: ProtoSpec,
    ipver: IpVer,
    src: AddrMatch,
    dst: AddrMatch,
    sport: PortMatch,
    dport: PortMatch,
    flow: FlowCheck,
    needs_flow: bool,
    bit_checks: Vec<BitCheck>,
    int_checks: Vec<IntCmd>,
    xbit_checks: Vec<XbitCmd>,
    header: Vec<HeaderCheck>,
    payload: Option<PayloadProgram>,
    post: Vec<PostOp>,
    thresholds: Vec<ThresholdSpec>,
    /// threshold.config suppressions by address.
    suppress: Vec<(SuppressTrack, IpSet)>,
    /// The flow's app-layer protocol must be this (rule header `http`/`tls`/`dns`, buffers).
    alproto: Option<AppProto>,
    /// `app-layer-protocol:[!]proto` checks.
    alproto_kw: Vec<(bool, AppProto)>,
    /// Suricata's PD-only signature (`app-layer-protocol` with nothing else but flow direction,
    /// `flowbits:set` and the like): it matches only on the packet that carries a direction's
    /// protocol-detection result (`PKT_PROTO_DETECT_TS_DONE`/`_TC_DONE`).
    pd_only: bool,
    /// App-layer buffers (a transaction rule when non-empty or `urilen` is given).
    bufs: Vec<BufProg>,
    urilen: Option<(Uint, bool)>,
    /// TX_TOSERVER | TX_TOCLIENT: transaction directions (transaction rules).
    tx_dirs: u8,
    stream_mode: StreamMode,
    /// Which buffer holds the rule's fast pattern: `None` the payload, `Some(i)` `bufs[i]`.
    fp_buf: Option<usize>,
}

impl CompiledRule {
    fn is_tx(&self) -> bool {
        !self.bufs.is_empty() || self.urilen.is_some()
    }
    /// The fast pattern as chosen across the rule's buffers: (buffer index or None = payload,
    /// literal, nocase).
    fn fast_literal(&self) -> Option<(Option<usize>, &[u8], bool)> {
        match self.fp_buf {
            None => self
                .payload
                .as_ref()
                .and_then(|p| p.fast_pattern())
                .filter(|(l, _)| !l.is_empty())
                .map(|(l, n)| (None, l, n)),
            Some(i) => self.bufs.get(i).and_then(|b| {
                b.prog
                    .fast_pattern()
                    .filter(|(l, _)| !l.is_empty())
                    .map(|(l, n)| (Some(i), l, n))
            }),
        }
    }
}

/// Rules of one protocol class and port group: a prefilter over their fast patterns plus the
/// rules without one.
#[derive(Debug, Default)]
struct Group {
    always: Vec<u32>,
    mpm_rules: Vec<u32>,
    mpm: Option<Prefilter>,
    /// Index of this group's prefilter scratch in [`DetectCtx`].
    scratch: usize,
}

/// The rule groups of one protocol class: rules for any destination port together with the
/// port-specific rules with a literal (one prefilter for the class), and port-specific rules
/// without one, looked up by destination port.
#[derive(Debug, Default)]
struct ClassGroups {
    any: Group,
    /// Sorted starts of destination-port intervals and the group (index into `by_port`,
    /// `u32::MAX` for none) that covers each.
    port_starts: Vec<u16>,
    port_group: Vec<u32>,
    by_port: Vec<Group>,
}

impl ClassGroups {
    fn port_group(&self, port: u16) -> Option<&Group> {
        let i = self.port_starts.partition_point(|s| *s <= port);
        let g = *self.port_group.get(i.checked_sub(1)?)?;
        self.by_port.get(g as usize)
    }
}

/// Transaction rules of one app-layer protocol and direction: one prefilter per (buffer,
/// transforms) over the fast patterns that live in that buffer, plus the rules without one.
#[derive(Debug, Default)]
struct AppGroup {
    always: Vec<u32>,
    bufs: Vec<AppBufGroup>,
}

#[derive(Debug)]
struct AppBufGroup {
    buf: Buffer,
    transforms: Vec<Transform>,
    group: Group,
}

/// The transaction rule groups of a parsed protocol (`None`: detected only, no transactions).
fn proto_index(p: AppProto) -> Option<usize> {
    match p {
        AppProto::Http => Some(0),
        AppProto::Tls => Some(1),
        AppProto::Dns => Some(2),
        AppProto::Smb | AppProto::Ftp | AppProto::Smtp | AppProto::Ssh => None,
    }
}

const fn dir_bit(d: FlowDirection) -> u8 {
    match d {
        FlowDirection::ToServer => TX_TOSERVER,
        FlowDirection::ToClient => TX_TOCLIENT,
    }
}

/// Per-flow record of the (transaction, rule) pairs that already alerted: a transaction rule
/// alerts at most once per transaction, as in Suricata. Bounded (oldest entries dropped).
#[derive(Debug, Default, Clone)]
pub struct TxAlerted {
    done: Vec<(u64, u32)>,
}

impl TxAlerted {
    const MAX: usize = 1024;

    fn contains(&self, tx: u64, n: u32) -> bool {
        self.done.iter().any(|&(t, r)| t == tx && r == n)
    }

    fn insert(&mut self, tx: u64, n: u32) {
        if self.done.len() >= Self::MAX {
            self.done.drain(..Self::MAX / 2);
        }
        self.done.push((tx, n));
    }

    /// Forget transactions older than `tx_id` (they will not be inspected again).
    pub fn forget_before(&mut self, tx_id: u64) {
        self.done.retain(|(t, _)| *t >= tx_id);
    }
}

const CLASS_TCP: usize = 0;
const CLASS_UDP: usize = 1;
const CLASS_ICMP4: usize = 2;
const CLASS_ICMP6: usize = 3;
const CLASS_OTHER: usize = 4;

fn class_of(proto: u8) -> usize {
    match proto {
        6 => CLASS_TCP,
        17 => CLASS_UDP,
        1 => CLASS_ICMP4,
        58 => CLASS_ICMP6,
        _ => CLASS_OTHER,
    }
}

/// The compiled, immutable rule set. `Send + Sync`; share it as `Arc<Engine>`.
#[derive(Debug)]
pub struct Engine {
    /// In Suricata's signature order: the index is the rule's internal id (`num`).
    rules: Vec<CompiledRule>,
    ip_only: Vec<u32>,
    /// Address index of `ip_only`: the rules worth evaluating for a packet's addresses.
    ip_only_index: IpOnlyIndex,
    classes: [ClassGroups; 5],
    /// Transaction rules by app-layer protocol (http, tls, dns) and direction.
    app_groups: [[AppGroup; 2]; 3],
    /// Distinct address sets of the rules (`AddrMatch::Id`): most rules share a few
    /// (`$HOME_NET`, `$EXTERNAL_NET`), so each is tested once per packet and side.
    addr_sets: Vec<IpSet>,
    n_scratch: usize,
    packet_alert_max: usize,
    max_tracked: usize,
    flowbit_names: Vec<Arc<str>>,
}

/// Per-worker scratch and tracked state (thresholds, xbits). Reused across packets: no
/// allocation in steady state.
#[derive(Debug)]
pub struct DetectCtx {
    pub(crate) cand: Vec<u32>,
    pub(crate) queue: Vec<u32>,
    payload: PayloadScratch,
    mpm: Vec<PrefilterScratch>,
    tracked: Tracked,
    /// Transformed buffer scratch.
    tbuf: Vec<u8>,
    /// Per-packet results of the interned address sets (0 unknown, 1 no, 2 yes), per side.
    addr_cache: Vec<u8>,
    addr_touched: Vec<u32>,
    /// Transaction matches of the current packet: (queue position, tx id, rule).
    tx_hits: Vec<(u64, u32)>,
}

impl DetectCtx {
    /// Scratch sized for `engine`.
    pub fn new(engine: &Engine) -> DetectCtx {
        let mut indexed = Vec::with_capacity(engine.n_scratch);
        for c in &engine.classes {
            for g in core::iter::once(&c.any).chain(c.by_port.iter()) {
                if let Some(m) = &g.mpm {
                    indexed.push((g.scratch, m.new_scratch()));
                }
            }
        }
        for g in engine
            .app_groups
            .iter()
            .flatten()
            .flat_map(|a| a.bufs.iter())
        {
            if let Some(m) = &g.group.mpm {
                indexed.push((g.group.scratch, m.new_scratch()));
            }
        }
        indexed.sort_by_key(|(i, _)| *i);
        let mpm: Vec<PrefilterScratch> = indexed.into_iter().map(|(_, s)| s).collect();
        DetectCtx {
            cand: Vec::with_capacity(engine.rules.len().min(4096)),
            queue: Vec::with_capacity(64),
            payload: PayloadScratch::new(),
            mpm,
            tracked: Tracked::new(engine.max_tracked),
            tbuf: Vec::new(),
            tx_hits: Vec::new(),
            addr_cache: vec![0; engine.addr_sets.len() * 2],
            addr_touched: Vec::new(),
        }
    }

    /// Live tracked entries (thresholds and xbits).
    pub fn tracked_entries(&self) -> usize {
        self.tracked.len()
    }
}

// ------------------------------------------------------------------------------------------
// Compile
// ------------------------------------------------------------------------------------------

struct Interner {
    ids: HashMap<String, u32>,
}

impl Interner {
    fn get(&self, name: &str) -> u32 {
        self.ids.get(name).copied().unwrap_or(u32::MAX)
    }
}

/// Order flowbit names by use count so the most used bits are the inline ones.
fn intern_by_use<'a>(names: impl Iterator<Item = &'a str>) -> Interner {
    let mut count: HashMap<&str, (usize, usize)> = HashMap::new();
    for (i, n) in names.enumerate() {
        count.entry(n).or_insert((0, i)).0 += 1;
    }
    let mut v: Vec<(&str, (usize, usize))> = count.into_iter().collect();
    v.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
    Interner {
        ids: v
            .into_iter()
            .enumerate()
            .map(|(i, (n, _))| (n.to_string(), i as u32))
            .collect(),
    }
}

/// Whether an address expression contains a negation after variable expansion (Suricata's
/// "contains negation", which makes an otherwise IP-only rule a per-packet rule). Variables are
/// followed through Suricata's packaged definitions; other variables count as plain.
fn addr_negated(e: &AddrExpr, depth: u32) -> bool {
    if depth > 16 {
        return false;
    }
    match e {
        AddrExpr::Not(_) => true,
        AddrExpr::List(l) => l.iter().any(|x| addr_negated(x, depth + 1)),
        AddrExpr::Var(name) => SURICATA_ADDRESS_GROUPS
            .iter()
            .find(|(n, _)| n == name)
            .is_some_and(|(_, text)| {
                text.contains('!')
                    || text
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
                        .filter_map(|w| w.strip_prefix('$'))
                        .any(|v| addr_negated(&AddrExpr::Var(v.to_string()), depth + 1))
            }),
        _ => false,
    }
}

fn is_any_addr(s: &IpSet) -> bool {
    *s == IpSet::any()
}

fn is_any_port(s: &PortSet) -> bool {
    *s == PortSet::any()
}

/// Sort key per Suricata's signature ordering: action, flowbits, flowint, hostbits, ippair bits
/// (set before set+read before read before unused), priority, then sid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct OrderKey {
    action: u8,
    flowbits: u8,
    flowint: u8,
    hostbits: u8,
    ippair: u8,
    priority: u8,
    sid: u32,
}

fn action_order(a: Action) -> u8 {
    match a {
        Action::Pass => 0,
        Action::Drop => 1,
        Action::Reject | Action::RejectSrc | Action::RejectDst | Action::RejectBoth => 2,
        Action::Alert => 3,
    }
}

/// 0 = set, 1 = set+read, 2 = read, 3 = unused (ascending sort puts setters first).
fn usage_rank(read: bool, write: bool) -> u8 {
    match (read, write) {
        (false, true) => 0,
        (true, true) => 1,
        (true, false) => 2,
        (false, false) => 3,
    }
}

struct Draft {
    rule: CompiledRule,
    key: OrderKey,
    bidi_copy: bool,
}

/// Why a rule is skipped.
type Skip = String;

fn app_reason(kw: &str) -> Skip {
    format!("needs app-layer (issue 5): {kw}")
}

/// The app-layer protocol a buffer belongs to (`None`: the packet payload or a packet header);
/// `Err` for buffers no parser provides.
fn buffer_proto(b: Buffer) -> Result<Option<AppProto>, Skip> {
    Ok(match b {
        Buffer::Payload => None,
        Buffer::FileData => Some(AppProto::Http),
        Buffer::Ja3Hash
        | Buffer::Ja3String
        | Buffer::Ja3sHash
        | Buffer::Ja3sString
        | Buffer::Ja4Hash => Some(AppProto::Tls),
        _ => match b.app_family() {
            Some("http") => Some(AppProto::Http),
            Some("tls") => Some(AppProto::Tls),
            Some("dns") => Some(AppProto::Dns),
            Some(other) => {
                return Err(format!(
                    "app-layer protocol not parsed: {other} ({})",
                    b.name()
                ))
            }
            None => return Err(format!("buffer not supported yet: {}", b.name())),
        },
    })
}

/// Buffers with several instances per transaction (any instance may match).
fn is_multi_buffer(b: Buffer) -> bool {
    matches!(
        b,
        Buffer::TlsCerts
            | Buffer::TlsSubjectAltName
            | Buffer::DnsQuery
            | Buffer::HttpRequestHeader
            | Buffer::HttpResponseHeader
    )
}

/// Transaction directions a buffer exists in.
fn buffer_dirs(b: Buffer) -> u8 {
    match b {
        Buffer::HttpMethod
        | Buffer::HttpUri
        | Buffer::HttpUriRaw
        | Buffer::HttpRequestLine
        | Buffer::HttpHost
        | Buffer::HttpHostRaw
        | Buffer::HttpUserAgent
        | Buffer::HttpReferer
        | Buffer::HttpAccept
        | Buffer::HttpAcceptEnc
        | Buffer::HttpAcceptLang
        | Buffer::HttpRequestBody
        | Buffer::HttpRequestHeader
        | Buffer::TlsSni
        | Buffer::Ja3Hash
        | Buffer::Ja3String
        | Buffer::Ja4Hash
        | Buffer::DnsQuery => TX_TOSERVER,
        Buffer::HttpStatCode
        | Buffer::HttpStatMsg
        | Buffer::HttpResponseLine
        | Buffer::HttpLocation
        | Buffer::HttpServer
        | Buffer::HttpResponseBody
        | Buffer::HttpResponseHeader
        | Buffer::Ja3sHash
        | Buffer::Ja3sString
        | Buffer::TlsCerts
        | Buffer::TlsCertSubject
        | Buffer::TlsCertIssuer
        | Buffer::TlsCertSerial
        | Buffer::TlsCertFingerprint
        | Buffer::TlsSubjectAltName => TX_TOCLIENT,
        _ => TX_TOSERVER | TX_TOCLIENT,
    }
}

impl Engine {
    /// Compile loaded rules. Never fails as a whole: rules the engine cannot honour are skipped
    /// whole and reported.
    pub fn compile(
        rules: &[SourceRule],
        vars: &Vars,
        opts: &EngineOptions,
    ) -> (Engine, CompileReport) {
        let mut report = CompileReport::default();
        let flowbits = intern_by_use(rules.iter().flat_map(|r| {
            r.rule.options.iter().flat_map(|o| match o {
                RuleOption::Flowbits(f) => f.names.iter().map(String::as_str).collect::<Vec<_>>(),
                _ => Vec::new(),
            })
        }));
        let flowints = intern_by_use(rules.iter().flat_map(|r| {
            r.rule.options.iter().flat_map(|o| match o {
                RuleOption::Flowint(f) => {
                    let mut v = vec![f.name.as_str()];
                    if let Some(t) = f.value.as_deref() {
                        if !t.starts_with(|c: char| c.is_ascii_digit()) {
                            v.push(t);
                        }
                    }
                    v
                }
                _ => Vec::new(),
            })
        }));
        let xbits = intern_by_use(rules.iter().flat_map(|r| {
            r.rule.options.iter().filter_map(|o| match o {
                RuleOption::Xbits(x) => Some(x.name.as_str()),
                _ => None,
            })
        }));
        let mut slots: HashMap<(u32, u32, usize), u32> = HashMap::new();
        let mut drafts: Vec<Draft> = Vec::with_capacity(rules.len());
        for sr in rules {
            let sid = sr.rule.sid();
            match compile_rule(sr, vars, opts, &flowbits, &flowints, &xbits, &mut slots) {
                Ok(mut ds) => {
                    report.loaded += 1;
                    drafts.append(&mut ds);
                }
                Err(reason) => report.skipped.push((sid, reason)),
            }
        }
        drafts.sort_by(|a, b| a.key.cmp(&b.key).then(a.bidi_copy.cmp(&b.bidi_copy)));
        let compiled: Vec<CompiledRule> = drafts.into_iter().map(|d| d.rule).collect();

        let mut by_reason: HashMap<&str, usize> = HashMap::new();
        for (_, r) in &report.skipped {
            *by_reason.entry(r.as_str()).or_default() += 1;
        }
        let mut by_reason: Vec<(String, usize)> = by_reason
            .into_iter()
            .map(|(r, n)| (r.to_string(), n))
            .collect();
        by_reason.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        report.by_reason = by_reason;

        let mut engine = Engine {
            rules: compiled,
            ip_only: Vec::new(),
            ip_only_index: IpOnlyIndex::default(),
            classes: Default::default(),
            app_groups: Default::default(),
            addr_sets: Vec::new(),
            n_scratch: 0,
            packet_alert_max: opts.packet_alert_max,
            max_tracked: opts.max_tracked_entries,
            flowbit_names: {
                let mut v: Vec<(u32, Arc<str>)> = flowbits
                    .ids
                    .iter()
                    .map(|(n, i)| (*i, Arc::from(n.as_str())))
                    .collect();
                v.sort_by_key(|(i, _)| *i);
                v.into_iter().map(|(_, n)| n).collect()
            },
        };
        engine.intern_addresses();
        engine.build_groups(opts.mpm, &mut report);
        engine.build_ip_only_index();
        report.ip_only = engine.ip_only.len();
        (engine, report)
    }

    /// Replaces each rule's address sets by ids of distinct sets.
    fn intern_addresses(&mut self) {
        let mut sets: Vec<IpSet> = Vec::new();
        for r in &mut self.rules {
            for m in [&mut r.src, &mut r.dst] {
                if let AddrMatch::Set(s) = m {
                    let id = match sets.iter().position(|x| x == s) {
                        Some(i) => i,
                        None => {
                            sets.push(core::mem::take(s));
                            sets.len() - 1
                        }
                    };
                    *m = AddrMatch::Id(id as u32);
                }
            }
        }
        self.addr_sets = sets;
    }

    /// `m` holds for `ip` (side 0: source, 1: destination), cached per packet in `ctx`.
    fn addr_ok(
        &self,
        m: &AddrMatch,
        ip: core::net::IpAddr,
        side: usize,
        ctx: &mut DetectCtx,
    ) -> bool {
        let AddrMatch::Id(id) = m else {
            return m.matches(ip);
        };
        let k = *id as usize * 2 + side;
        match ctx.addr_cache.get(k) {
            Some(1) => false,
            Some(2) => true,
            _ => {
                let r = self
                    .addr_sets
                    .get(*id as usize)
                    .is_some_and(|s| s.contains(ip));
                if let Some(c) = ctx.addr_cache.get_mut(k) {
                    *c = 1 + u8::from(r);
                    ctx.addr_touched.push(k as u32);
                }
                r
            }
        }
    }

    /// Indexes the IP-only rules by the narrower of their address sides (`iponly`).
    fn build_ip_only_index(&mut self) {
        fn side<'a>(
            sets: &'a [IpSet],
            m: &'a AddrMatch,
            v6: bool,
        ) -> Option<&'a seawall_rules::vars::Intervals> {
            let set = match m {
                AddrMatch::Any => return None,
                AddrMatch::Set(s) => s,
                AddrMatch::Id(id) => sets.get(*id as usize)?,
            };
            Some(if v6 { &set.v6 } else { &set.v4 })
        }
        let sets = &self.addr_sets;
        let rules: Vec<_> = self
            .ip_only
            .iter()
            .map(|&n| {
                let r = &self.rules[n as usize];
                (
                    n,
                    [
                        (side(sets, &r.src, false), side(sets, &r.dst, false)),
                        (side(sets, &r.src, true), side(sets, &r.dst, true)),
                    ],
                )
            })
            .collect();
        self.ip_only_index = IpOnlyIndex::build(&rules);
    }

    fn build_groups(&mut self, kind: MpmKind, report: &mut CompileReport) {
        let mut members: [Vec<u32>; 5] = Default::default();
        for (num, r) in self.rules.iter().enumerate() {
            if r.kind == Kind::IpOnly {
                self.ip_only.push(num as u32);
                continue;
            }
            if r.is_tx() {
                continue;
            }
            let classes: &[usize] = match r.proto {
                ProtoSpec::TcpUdp => &[CLASS_TCP, CLASS_UDP],
                ProtoSpec::Any => &[CLASS_TCP, CLASS_UDP, CLASS_ICMP4, CLASS_ICMP6, CLASS_OTHER],
                ProtoSpec::Icmp => &[CLASS_ICMP4, CLASS_ICMP6],
                ProtoSpec::One(p) => match class_of(p) {
                    CLASS_TCP => &[CLASS_TCP],
                    CLASS_UDP => &[CLASS_UDP],
                    CLASS_ICMP4 => &[CLASS_ICMP4],
                    CLASS_ICMP6 => &[CLASS_ICMP6],
                    _ => &[CLASS_OTHER],
                },
            };
            for c in classes {
                members[*c].push(num as u32);
            }
        }
        let mut scratch = 0usize;
        let mut groups = 0usize;
        let mut prefiltered = vec![false; self.rules.len()];
        for (c, nums) in members.iter().enumerate() {
            let with_ports = c == CLASS_TCP || c == CLASS_UDP;
            let (mut any, specific): (Vec<u32>, Vec<u32>) = nums
                .iter()
                .partition(|n| !with_ports || self.rules[**n as usize].dport.is_any());
            // Port-specific rules with a literal share the class's prefilter with the any-port
            // rules, so each buffer is scanned once per class (a hit on the wrong port, or on a
            // packet without ports, is rejected by the header check); those without one are
            // listed per destination-port interval.
            let has_literal = |n: &u32| self.rules[*n as usize].fast_literal().is_some();
            let (with_literal, specific): (Vec<u32>, Vec<u32>) =
                specific.into_iter().partition(has_literal);
            any.extend_from_slice(&with_literal);
            any.sort_unstable();
            let mut cg = ClassGroups {
                any: self.make_group(&any, kind, &mut scratch, &mut prefiltered),
                ..ClassGroups::default()
            };
            groups += 1;
            if !specific.is_empty() {
                // Elementary destination-port intervals from every rule's set boundaries.
                let mut bounds: Vec<u32> = vec![0, 65536];
                for n in &specific {
                    if let PortMatch::Set(s) = &self.rules[*n as usize].dport {
                        for (a, b) in &s.0 .0 {
                            bounds.push(*a as u32);
                            bounds.push((*b as u32).saturating_add(1).min(65536));
                        }
                    }
                }
                bounds.sort_unstable();
                bounds.dedup();
                let mut seen: HashMap<Vec<u32>, u32> = HashMap::new();
                let mut last: Option<u32> = None;
                for w in bounds.windows(2) {
                    let start = w[0] as u16;
                    let set: Vec<u32> = specific
                        .iter()
                        .copied()
                        .filter(|n| self.rules[*n as usize].dport.matches(start))
                        .collect();
                    let g = if set.is_empty() {
                        u32::MAX
                    } else if let Some(g) = seen.get(&set) {
                        *g
                    } else {
                        let g = cg.by_port.len() as u32;
                        let grp = self.make_group(&set, kind, &mut scratch, &mut prefiltered);
                        cg.by_port.push(grp);
                        groups += 1;
                        seen.insert(set, g);
                        g
                    };
                    if last != Some(g) {
                        cg.port_starts.push(start);
                        cg.port_group.push(g);
                        last = Some(g);
                    }
                }
            }
            self.classes[c] = cg;
        }
        // Transaction rules.
        let mut app_members: [[Vec<u32>; 2]; 3] = Default::default();
        for (num, r) in self.rules.iter().enumerate() {
            if !r.is_tx() {
                continue;
            }
            let Some(pi) = r.alproto.and_then(proto_index) else {
                continue;
            };
            for (d, bit) in [TX_TOSERVER, TX_TOCLIENT].into_iter().enumerate() {
                if r.tx_dirs & bit != 0 {
                    app_members[pi][d].push(num as u32);
                }
            }
        }
        for (pi, dirs) in app_members.iter().enumerate() {
            for (d, nums) in dirs.iter().enumerate() {
                let mut ag = AppGroup::default();
                let mut by_buf: Vec<(Buffer, Vec<Transform>, Vec<u32>)> = Vec::new();
                for &n in nums {
                    let r = &self.rules[n as usize];
                    match r.fast_literal() {
                        Some((Some(i), _, _)) => {
                            let b = &r.bufs[i];
                            match by_buf
                                .iter_mut()
                                .find(|(x, t, _)| *x == b.buf && *t == b.transforms)
                            {
                                Some(e) => e.2.push(n),
                                None => by_buf.push((b.buf, b.transforms.clone(), vec![n])),
                            }
                        }
                        _ => ag.always.push(n),
                    }
                }
                // Every buffer's patterns first, then their matchers compiled at once.
                let mut gs: Vec<Group> = Vec::new();
                let mut lists: Vec<Vec<(u32, Vec<u8>, bool)>> = Vec::new();
                for (_, _, nums) in &by_buf {
                    let mut g = Group::default();
                    let mut pats: Vec<(u32, Vec<u8>, bool)> = Vec::new();
                    for n in nums {
                        if let Some((_, lit, nocase)) = self.rules[*n as usize].fast_literal() {
                            pats.push((g.mpm_rules.len() as u32, lit.to_vec(), nocase));
                            g.mpm_rules.push(*n);
                        }
                    }
                    gs.push(g);
                    lists.push(pats);
                }
                let built = Prefilter::build_many(&lists, kind);
                for (((buf, transforms, _), mut g), m) in by_buf.into_iter().zip(gs).zip(built) {
                    match m {
                        Ok(m) => {
                            for n in &g.mpm_rules {
                                prefiltered[*n as usize] = true;
                            }
                            g.mpm = Some(m);
                            g.scratch = scratch;
                            scratch += 1;
                        }
                        Err(_) => ag.always.append(&mut g.mpm_rules),
                    }
                    groups += 1;
                    ag.bufs.push(AppBufGroup {
                        buf,
                        transforms,
                        group: g,
                    });
                }
                ag.always.sort_unstable();
                self.app_groups[pi][d] = ag;
            }
        }
        self.n_scratch = scratch;
        report.groups = groups;
        report.prefiltered = prefiltered.iter().filter(|p| **p).count();
    }

    fn make_group(
        &self,
        nums: &[u32],
        kind: MpmKind,
        scratch: &mut usize,
        prefiltered: &mut [bool],
    ) -> Group {
        let mut g = Group::default();
        let mut pats: Vec<PayloadPattern> = Vec::new();
        for n in nums {
            let r = &self.rules[*n as usize];
            match r.fast_literal() {
                Some((None, lit, nocase)) => {
                    pats.push(PayloadPattern {
                        id: g.mpm_rules.len() as u32,
                        literal: lit.to_vec(),
                        nocase,
                        // Can it match the payload of a TCP packet added to the stream (`eval`)?
                        packet: matches!(
                            r.stream_mode,
                            StreamMode::Packet | StreamMode::StreamAndPacket
                        ),
                        // The packet sides `flow_matches` lets through.
                        to_server: r.flow.dir != Some(FlowDir::ToClient),
                        to_client: r.flow.dir != Some(FlowDir::ToServer),
                    });
                    g.mpm_rules.push(*n);
                }
                _ => g.always.push(*n),
            }
        }
        if !pats.is_empty() {
            match Prefilter::build_payload(&pats, kind) {
                Ok(m) => {
                    for n in &g.mpm_rules {
                        prefiltered[*n as usize] = true;
                    }
                    g.mpm = Some(m);
                    g.scratch = *scratch;
                    *scratch += 1;
                }
                Err(_) => {
                    // The matcher refused the set: check these rules on every packet instead.
                    g.always.append(&mut g.mpm_rules);
                    g.always.sort_unstable();
                }
            }
        }
        g
    }

    /// Number of compiled rules (bidirectional rules count twice, as in Suricata).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when no rule was compiled.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Flowbit names by bit id.
    pub fn flowbit_names(&self) -> &[Arc<str>] {
        &self.flowbit_names
    }

    /// Sids in evaluation (Suricata signature) order.
    pub fn sid_order(&self) -> impl Iterator<Item = u32> + '_ {
        self.rules.iter().map(|r| r.sid)
    }
}

#[allow(clippy::too_many_arguments)]
fn compile_rule(
    sr: &SourceRule,
    vars: &Vars,
    opts: &EngineOptions,
    flowbits: &Interner,
    flowints: &Interner,
    xbits: &Interner,
    slots: &mut HashMap<(u32, u32, usize), u32>,
) -> Result<Vec<Draft>, Skip> {
    let r = &sr.rule;
    let (proto, ipver) = match r.proto {
        Protocol::Ip => (ProtoSpec::Any, IpVer::Both),
        Protocol::Tcp | Protocol::TcpPkt => (ProtoSpec::One(6), IpVer::Both),
        Protocol::Udp => (ProtoSpec::One(17), IpVer::Both),
        Protocol::Icmp => (ProtoSpec::Icmp, IpVer::Both),
        Protocol::TcpStream => (ProtoSpec::One(6), IpVer::Both),
        Protocol::App("icmpv4") => (ProtoSpec::One(1), IpVer::Both),
        Protocol::App("icmpv6") => (ProtoSpec::One(58), IpVer::Both),
        Protocol::App("ipv4" | "ip4") => (ProtoSpec::Any, IpVer::V4),
        Protocol::App("ipv6" | "ip6") => (ProtoSpec::Any, IpVer::V6),
        Protocol::App("sctp") => (ProtoSpec::One(132), IpVer::Both),
        Protocol::App("http" | "http1") => (ProtoSpec::One(6), IpVer::Both),
        Protocol::App("tls" | "ssl") => (ProtoSpec::One(6), IpVer::Both),
        Protocol::App("dns") => (ProtoSpec::TcpUdp, IpVer::Both),
        Protocol::App("smb" | "ftp" | "smtp" | "ssh") => (ProtoSpec::One(6), IpVer::Both),
        Protocol::App(name) => return Err(format!("app-layer protocol not parsed: {name}")),
    };
    let mut alproto: Option<AppProto> = match r.proto {
        Protocol::App("http" | "http1") => Some(AppProto::Http),
        Protocol::App("tls" | "ssl") => Some(AppProto::Tls),
        Protocol::App("dns") => Some(AppProto::Dns),
        Protocol::App("smb") => Some(AppProto::Smb),
        Protocol::App("ftp") => Some(AppProto::Ftp),
        Protocol::App("smtp") => Some(AppProto::Smtp),
        Protocol::App("ssh") => Some(AppProto::Ssh),
        _ => None,
    };
    let mut want_proto = |p: AppProto, why: &str| -> Result<(), Skip> {
        match alproto {
            Some(q) if q != p => Err(format!("{why}: {} buffer in a {} rule", p.name(), q.name())),
            _ => {
                alproto = Some(p);
                Ok(())
            }
        }
    };
    let src = vars
        .resolve_addr(&r.src)
        .map_err(|e| format!("address: {e}"))?;
    let dst = vars
        .resolve_addr(&r.dst)
        .map_err(|e| format!("address: {e}"))?;
    let sport = vars
        .resolve_port(&r.sport)
        .map_err(|e| format!("port: {e}"))?;
    let dport = vars
        .resolve_port(&r.dport)
        .map_err(|e| format!("port: {e}"))?;
    let negated = addr_negated(&r.src, 0) || addr_negated(&r.dst, 0);

    let mut noalert = false;
    let mut priority: Option<u8> = None;
    let mut flow = FlowCheck::default();
    let mut has_flow_kw = false;
    let mut bit_checks = Vec::new();
    let mut int_checks = Vec::new();
    let mut xbit_checks = Vec::new();
    let mut header = Vec::new();
    let mut post = Vec::new();
    let mut thresholds = Vec::new();
    let mut suppress = Vec::new();
    let mut payload_opts: Vec<&RuleOption> = Vec::new();
    let mut needs_flow = false;
    let (mut fb_read, mut fb_write) = (false, false);
    let (mut fi_read, mut fi_write) = (false, false);
    let (mut hb_read, mut hb_write) = (false, false);
    let (mut ip_read, mut ip_write) = (false, false);
    let mut only_set_flowbits = true;
    let mut ip_only_compatible = true;
    let mut buffer = Buffer::Payload;
    // Options per buffer (Buffer::Payload = packet/stream), in rule order, with transforms.
    let mut segs: Vec<(Buffer, Vec<Transform>, Vec<&RuleOption>)> = Vec::new();
    let mut cur_seg: Option<usize> = None;
    let mut alproto_kw: Vec<(bool, AppProto)> = Vec::new();
    let mut urilen: Option<(Uint, bool)> = None;
    let mut has_dsize = false;
    let mut requires_packet = false;
    let seg_for =
        |segs: &mut Vec<(Buffer, Vec<Transform>, Vec<&RuleOption>)>, b: Buffer| -> usize {
            match segs.iter().position(|(x, _, _)| *x == b) {
                Some(i) => i,
                None => {
                    segs.push((b, Vec::new(), Vec::new()));
                    segs.len() - 1
                }
            }
        };
    for o in &r.options {
        if matches!(o, RuleOption::Dsize(_)) {
            has_dsize = true;
        }
        // Packet header keywords set Suricata's SIG_FLAG_REQUIRE_PACKET: the packet payload is
        // inspected even when the packet was added to the stream.
        if matches!(
            o,
            RuleOption::Ttl(_)
                | RuleOption::Tos(_)
                | RuleOption::Id(_)
                | RuleOption::Flags(_)
                | RuleOption::Fragbits(_)
                | RuleOption::FragOffset(_)
                | RuleOption::Ipopts(_)
                | RuleOption::Itype(_)
                | RuleOption::Icode(_)
                | RuleOption::IcmpId(_)
                | RuleOption::IpProto(_)
                | RuleOption::Ack(_)
                | RuleOption::Seq(_)
                | RuleOption::Sameip
                | RuleOption::Window { .. }
        ) {
            requires_packet = true;
        }
        if let Some(h) = HeaderCheck::compile(o).map_err(|kw| format!("unsupported value: {kw}"))? {
            header.push(h);
            ip_only_compatible = false;
            continue;
        }
        match o {
            RuleOption::Msg(_)
            | RuleOption::Sid(_)
            | RuleOption::Rev(_)
            | RuleOption::Gid(_)
            | RuleOption::Classtype(_)
            | RuleOption::Reference(_)
            | RuleOption::Metadata(_)
            | RuleOption::Target(_)
            | RuleOption::Prefilter => {}
            // Tagging only adds packets to what is logged; it never changes alerts.
            RuleOption::Tag(_) => {}
            RuleOption::Priority(p) => priority = Some(*p),
            RuleOption::Noalert => noalert = true,
            RuleOption::Buffer(b) => {
                buffer = *b;
                if let Some(p) = buffer_proto(*b)? {
                    want_proto(p, b.name())?;
                }
                cur_seg = Some(seg_for(&mut segs, *b));
                ip_only_compatible = false;
            }
            RuleOption::Transform(t) => {
                let Some(i) = cur_seg.filter(|_| buffer != Buffer::Payload) else {
                    return Err(format!("{}: transform without a sticky buffer", t.name()));
                };
                transforms_supported(core::slice::from_ref(t))
                    .map_err(|e| format!("{}: {e}", t.name()))?;
                segs[i].1.push(t.clone());
                ip_only_compatible = false;
            }
            RuleOption::Content(c) => {
                let b = if c.legacy_modifier { c.buffer } else { buffer };
                if let Some(p) = buffer_proto(b)? {
                    want_proto(p, b.legacy_name().unwrap_or(b.name()))?;
                }
                let i = seg_for(&mut segs, b);
                segs[i].2.push(o);
                cur_seg = Some(i);
                ip_only_compatible = false;
            }
            RuleOption::Pcre(pc) => {
                let b = if pc.buffer_from_modifier {
                    pc.buffer
                } else {
                    buffer
                };
                if let Some(p) = buffer_proto(b)? {
                    want_proto(p, b.name())?;
                }
                let i = seg_for(&mut segs, b);
                segs[i].2.push(o);
                cur_seg = Some(i);
                ip_only_compatible = false;
            }
            RuleOption::Isdataat(_)
            | RuleOption::ByteTest(_)
            | RuleOption::ByteJump(_)
            | RuleOption::ByteExtract(_)
            | RuleOption::ByteMath(_)
            | RuleOption::Bsize(_) => {
                let i = match cur_seg {
                    Some(i) => i,
                    None => seg_for(&mut segs, buffer),
                };
                segs[i].2.push(o);
                ip_only_compatible = false;
            }
            RuleOption::Base64Decode(_) => return Err("base64_decode: not supported yet".into()),
            RuleOption::Flow(f) => {
                if has_flow_kw {
                    return Err("flow: given twice".into());
                }
                has_flow_kw = true;
                ip_only_compatible = false;
                flow = FlowCheck {
                    dir: f.dir,
                    state: f.state,
                    stream: f.stream,
                    frag: f.frag,
                    needs_flow: f.state.is_some() || f.stream.is_some() || f.frag.is_some(),
                };
                needs_flow |= flow.needs_flow;
            }
            RuleOption::Flowbits(fb) => {
                needs_flow = true;
                let ids: Vec<u32> = fb.names.iter().map(|n| flowbits.get(n)).collect();
                match fb.cmd {
                    FlowbitsCmd::NoAlert => noalert = true,
                    FlowbitsCmd::IsSet => {
                        fb_read = true;
                        only_set_flowbits = false;
                        bit_checks.push(BitCheck::IsSet { ids, any: fb.any });
                    }
                    FlowbitsCmd::IsNotSet => {
                        fb_read = true;
                        only_set_flowbits = false;
                        bit_checks.push(BitCheck::IsNotSet { ids, any: fb.any });
                    }
                    cmd @ (FlowbitsCmd::Set | FlowbitsCmd::Unset | FlowbitsCmd::Toggle) => {
                        fb_write = true;
                        if cmd != FlowbitsCmd::Set {
                            only_set_flowbits = false;
                        }
                        post.extend(ids.into_iter().map(|id| PostOp::Bit(cmd, id)));
                    }
                }
            }
            RuleOption::Flowint(fi) => {
                needs_flow = true;
                ip_only_compatible = false;
                let op = match fi.op {
                    "=" => IntOp::Set,
                    "+" => IntOp::Add,
                    "-" => IntOp::Sub,
                    "==" => IntOp::Eq,
                    "!=" => IntOp::Ne,
                    "<" => IntOp::Lt,
                    "<=" => IntOp::Le,
                    ">" => IntOp::Gt,
                    ">=" => IntOp::Ge,
                    "isset" => IntOp::IsSet,
                    _ => IntOp::NotSet,
                };
                let target = match fi.value.as_deref() {
                    None => IntTarget::Value(0),
                    Some(v) => match v.parse::<u32>() {
                        Ok(n) => IntTarget::Value(n),
                        Err(_) if v.starts_with(|c: char| c.is_ascii_digit()) => {
                            return Err(format!("flowint: bad value `{v}`"))
                        }
                        Err(_) => IntTarget::Var(flowints.get(v)),
                    },
                };
                let cmd = IntCmd {
                    id: flowints.get(&fi.name),
                    op,
                    target,
                };
                if matches!(op, IntOp::Set | IntOp::Add | IntOp::Sub) {
                    fi_write = true;
                    post.push(PostOp::Int(cmd));
                } else {
                    fi_read = true;
                    int_checks.push(cmd);
                }
            }
            RuleOption::Xbits(x) => {
                let track = match x.track {
                    Track::IpSrc => XTrack::Src,
                    Track::IpDst => XTrack::Dst,
                    Track::IpPair => XTrack::Pair,
                    other => return Err(format!("xbits: track {other} not supported")),
                };
                let cmd = XbitCmd {
                    id: xbits.get(&x.name),
                    track,
                    cmd: x.cmd,
                    expire: x.expire.unwrap_or(XBITS_EXPIRE_DEFAULT),
                };
                let (read, write) = if track == XTrack::Pair {
                    (&mut ip_read, &mut ip_write)
                } else {
                    (&mut hb_read, &mut hb_write)
                };
                match x.cmd {
                    FlowbitsCmd::IsSet | FlowbitsCmd::IsNotSet => {
                        *read = true;
                        xbit_checks.push(cmd);
                    }
                    FlowbitsCmd::Set | FlowbitsCmd::Unset | FlowbitsCmd::Toggle => {
                        *write = true;
                        post.push(PostOp::Xbit(cmd));
                    }
                    FlowbitsCmd::NoAlert => noalert = true,
                }
            }
            RuleOption::Threshold(t) | RuleOption::DetectionFilter(t) => {
                if !matches!(
                    t.track,
                    Track::BySrc | Track::ByDst | Track::ByRule | Track::ByBoth
                ) {
                    return Err(format!("threshold: track {} not in Suricata 7", t.track));
                }
                let which = usize::from(matches!(o, RuleOption::DetectionFilter(_)));
                let next = slots.len() as u32;
                let slot = *slots.entry((r.gid(), r.sid().0, which)).or_insert(next);
                thresholds.push(ThresholdSpec {
                    slot,
                    ty: t.ty,
                    track: t.track,
                    count: t.count,
                    seconds: t.seconds,
                    rate: None,
                });
            }
            RuleOption::RateFilter(rf) => {
                let next = slots.len() as u32;
                let slot = *slots.entry((r.gid(), r.sid().0, 2)).or_insert(next);
                thresholds.push(ThresholdSpec {
                    slot,
                    ty: ThresholdType::DetectionFilter,
                    track: rf.track,
                    count: rf.count,
                    seconds: rf.seconds,
                    rate: Some(RateSpec {
                        new_action: match rf.new_action {
                            RateAction::Alert => Some(Action::Alert),
                            RateAction::Drop => Some(Action::Drop),
                            RateAction::Pass => Some(Action::Pass),
                            RateAction::Reject => Some(Action::Reject),
                            RateAction::Log | RateAction::Sdrop => None,
                        },
                        timeout: rf.timeout,
                    }),
                });
            }
            RuleOption::Suppress(sp) => {
                let set = vars
                    .resolve_addr(&sp.addrs)
                    .map_err(|e| format!("suppress ip: {e}"))?;
                suppress.push((sp.track, set));
            }
            RuleOption::Urilen { value, raw } => {
                want_proto(AppProto::Http, "urilen")?;
                urilen = Some((*value, *raw));
                ip_only_compatible = false;
            }
            RuleOption::AppLayerProtocol { negated, proto } => {
                let p = match proto.as_str() {
                    "http" | "http1" => AppProto::Http,
                    "tls" | "ssl" => AppProto::Tls,
                    "dns" => AppProto::Dns,
                    "smb" => AppProto::Smb,
                    "ftp" => AppProto::Ftp,
                    "smtp" => AppProto::Smtp,
                    "ssh" => AppProto::Ssh,
                    other => {
                        return Err(format!("app-layer-protocol: protocol not parsed: {other}"))
                    }
                };
                alproto_kw.push((*negated, p));
                ip_only_compatible = false;
            }
            RuleOption::TlsVersion(_) => return Err(app_reason("tls.version")),
            RuleOption::SslVersion(_) => return Err(app_reason("ssl_version")),
            RuleOption::SslState(_) => return Err(app_reason("ssl_state")),
            RuleOption::AppLayerEvent(_) => return Err(app_reason("app-layer-event")),
            _ => return Err(format!("keyword not supported by the engine: {o}")),
        }
    }
    // Suricata evaluates a threshold before a detection_filter? It keeps one of each; order
    // as written is kept.
    if thresholds
        .iter()
        .filter(|t| t.ty != ThresholdType::DetectionFilter)
        .count()
        > 1
    {
        return Err("threshold: given twice".into());
    }
    let mut bufs: Vec<BufProg> = Vec::new();
    for (b, transforms, opts) in segs {
        if b == Buffer::Payload {
            payload_opts.extend(opts);
            continue;
        }
        let prog =
            PayloadProgram::compile(&opts).map_err(|u| format!("{}: {}", u.keyword, u.reason))?;
        bufs.push(BufProg {
            buf: b,
            transforms,
            prog,
        });
    }
    let payload = if payload_opts.is_empty() {
        None
    } else {
        Some(
            PayloadProgram::compile(&payload_opts)
                .map_err(|u| format!("{}: {}", u.keyword, u.reason))?,
        )
    };
    if (!bufs.is_empty() || urilen.is_some()) && alproto.is_none() {
        return Err("app-layer buffer of a protocol not parsed".into());
    }
    // Transaction directions: the flow keyword's direction and the buffers' directions.
    let mut tx_dirs = match flow.dir {
        Some(FlowDir::ToServer) => TX_TOSERVER,
        Some(FlowDir::ToClient) => TX_TOCLIENT,
        None => TX_TOSERVER | TX_TOCLIENT,
    };
    for b in &bufs {
        tx_dirs &= buffer_dirs(b.buf);
    }
    if urilen.is_some() {
        tx_dirs &= TX_TOSERVER;
    }
    if (!bufs.is_empty() || urilen.is_some()) && tx_dirs == 0 {
        return Err("buffers of both directions in one rule".into());
    }
    // Fast pattern across buffers: explicit first, then the longest, then the strongest; a
    // negated content only when no buffer has a positive one (Suricata prefers not-negated
    // patterns over negated ones across all of a rule's buffers).
    let mut fp_buf: Option<usize> = None;
    let pay_meta = payload.as_ref().and_then(|p| p.fast_pattern_meta());
    let any_positive = pay_meta.is_some_and(|m| !m.negated)
        || bufs
            .iter()
            .any(|b| b.prog.fast_pattern_meta().is_some_and(|m| !m.negated));
    let eligible = |m: &FastPatternMeta| m.explicit || !any_positive || !m.negated;
    let mut best = pay_meta.filter(eligible);
    for (i, b) in bufs.iter().enumerate() {
        if let Some(m) = b.prog.fast_pattern_meta().filter(eligible) {
            let better = match best {
                None => true,
                Some(c) => {
                    (m.explicit && !c.explicit)
                        || (m.explicit == c.explicit
                            && (m.content_len > c.content_len
                                || (m.content_len == c.content_len && m.strength > c.strength)))
                }
            };
            if better {
                best = Some(m);
                fp_buf = Some(i);
            }
        }
    }
    let stream_mode = match (flow.stream, r.proto) {
        (Some(FlowStream::OnlyStream), _) | (_, Protocol::TcpStream) => StreamMode::StreamOnly,
        (Some(FlowStream::NoStream), _) => StreamMode::Packet,
        _ if has_dsize || r.proto == Protocol::TcpPkt => StreamMode::Packet,
        _ if requires_packet
            || payload_opts.iter().any(|o| {
                matches!(o, RuleOption::Content(c)
                if c.depth.is_some() || c.offset.is_some() || c.startswith)
            }) =>
        {
            StreamMode::StreamAndPacket
        }
        _ => StreamMode::Stream,
    };
    let has_app = alproto.is_some() || !alproto_kw.is_empty();
    let ip_only =
        ip_only_compatible && only_set_flowbits && payload.is_none() && !has_flow_kw && !has_app;
    let kind = match (ip_only, negated) {
        (true, false) => Kind::IpOnly,
        (true, true) => Kind::LikeIpOnly,
        _ => Kind::Packet,
    };
    // The IP-only path has no flow requirement (its flowbits:set is a no-op without a flow).
    let needs_flow = needs_flow && kind != Kind::IpOnly;
    let pd_only = !alproto_kw.is_empty()
        && alproto.is_none()
        && payload.is_none()
        && bufs.is_empty()
        && urilen.is_none()
        && header.is_empty()
        && only_set_flowbits
        && int_checks.is_empty()
        && xbit_checks.is_empty()
        && flow.state.is_none()
        && flow.stream.is_none()
        && flow.frag.is_none();
    let classtype = r.classtype().map(Arc::from);
    let priority = priority
        .or_else(|| {
            r.classtype()
                .and_then(|c| opts.classifications.get(c))
                .map(|c| c.priority)
        })
        .unwrap_or(3);
    let msg: Arc<str> = Arc::from(r.msg().unwrap_or(""));
    let key = OrderKey {
        action: action_order(r.action),
        flowbits: usage_rank(fb_read, fb_write),
        flowint: usage_rank(fi_read, fi_write),
        hostbits: usage_rank(hb_read, hb_write),
        ippair: usage_rank(ip_read, ip_write),
        priority,
        sid: r.sid().0,
    };
    let make = |src: &IpSet, dst: &IpSet, sport: &PortSet, dport: &PortSet, payload| CompiledRule {
        sid: r.sid().0,
        gid: r.gid(),
        rev: r.rev(),
        action: r.action,
        msg: msg.clone(),
        classtype: classtype.clone(),
        priority,
        noalert,
        kind,
        proto,
        ipver,
        src: if is_any_addr(src) {
            AddrMatch::Any
        } else {
            AddrMatch::Set(src.clone())
        },
        dst: if is_any_addr(dst) {
            AddrMatch::Any
        } else {
            AddrMatch::Set(dst.clone())
        },
        sport: if is_any_port(sport) {
            PortMatch::Any
        } else {
            PortMatch::Set(sport.clone())
        },
        dport: if is_any_port(dport) {
            PortMatch::Any
        } else {
            PortMatch::Set(dport.clone())
        },
        flow,
        needs_flow,
        bit_checks: bit_checks.clone(),
        int_checks: int_checks.clone(),
        xbit_checks: xbit_checks.clone(),
        header: header.clone(),
        payload,
        post: post.clone(),
        thresholds: thresholds.clone(),
        suppress: suppress.clone(),
        alproto,
        alproto_kw: alproto_kw.clone(),
        pd_only,
        bufs: bufs
            .iter()
            .map(|b| BufProg {
                buf: b.buf,
                transforms: b.transforms.clone(),
                prog: b.prog.clone(),
            })
            .collect(),
        urilen,
        tx_dirs,
        stream_mode,
        fp_buf,
    };
    let mut out = vec![Draft {
        rule: make(&src, &dst, &sport, &dport, payload.clone()),
        key,
        bidi_copy: false,
    }];
    // `<>`: Suricata adds a second signature with source and destination switched, unless
    // both sides are the same.
    if r.dir == Direction::Both && !(src == dst && sport == dport) {
        out.push(Draft {
            rule: make(&dst, &src, &dport, &sport, payload),
            key,
            bidi_copy: true,
        });
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------
// Inspect
// ------------------------------------------------------------------------------------------

impl Engine {
    /// Inspect one packet. `flow` is the packet's per-flow state (from the flow table) when
    /// `p.flow` is set. Alerts are appended to `alerts` in Suricata's order (at most
    /// `packet_alert_max`); the verdict is what the rules ask for (pass unless a drop/reject
    /// rule matched, or the flow was dropped earlier).
    pub fn inspect(
        &self,
        ctx: &mut DetectCtx,
        p: &PacketInfo<'_>,
        flow: Option<&mut FlowDetect>,
        alerts: &mut Vec<Alert>,
    ) -> Verdict {
        self.inspect_with(ctx, p, flow, None, alerts, false)
    }

    /// [`Engine::inspect`] with the stream and app-layer input of `p.app`: TCP payload rules
    /// inspect `p.app.stream` (and the packet payload unless it was added to the stream), and
    /// transaction rules inspect each transaction in `p.app.txs` at most once per transaction
    /// (`tx_alerted` is the flow's record of that). A rule alerts at most once per packet
    /// except once per transaction.
    pub fn inspect_app(
        &self,
        ctx: &mut DetectCtx,
        p: &PacketInfo<'_>,
        flow: Option<&mut FlowDetect>,
        tx_alerted: &mut TxAlerted,
        alerts: &mut Vec<Alert>,
    ) -> Verdict {
        self.inspect_with(ctx, p, flow, Some(tx_alerted), alerts, false)
    }

    /// [`Engine::inspect`]; `naive` evaluates every packet rule instead of the packet's groups
    /// (the reference the grouping is tested against).
    pub(crate) fn inspect_with(
        &self,
        ctx: &mut DetectCtx,
        p: &PacketInfo<'_>,
        mut flow: Option<&mut FlowDetect>,
        tx_alerted: Option<&mut TxAlerted>,
        alerts: &mut Vec<Alert>,
        naive: bool,
    ) -> Verdict {
        if let Some(f) = flow.as_deref() {
            if f.dropped() {
                return Verdict::Drop;
            }
            if f.passed() {
                return Verdict::Pass;
            }
        }
        if p.flow.is_none() {
            flow = None;
        }
        let v = View::new(p.pkt, p.raw).with_stream_size(p.app.stream_size);
        ctx.queue.clear();
        for k in ctx.addr_touched.drain(..) {
            if let Some(c) = ctx.addr_cache.get_mut(k as usize) {
                *c = 0;
            }
        }

        // IP-only rules: once per flow direction (every packet without a flow).
        let first = p.flow.is_none_or(|f| {
            f.flags
                .contains(seawall_flow::PacketFlags::FIRST_IN_DIRECTION)
        });
        if first {
            if naive {
                ctx.cand.clear();
                ctx.cand.extend_from_slice(&self.ip_only);
            } else {
                self.ip_only_index.candidates(v.src, v.dst, &mut ctx.cand);
            }
            for i in 0..ctx.cand.len() {
                let n = ctx.cand[i];
                if self.eval(n, &v, p, flow.as_deref_mut(), ctx, None) {
                    ctx.queue.push(n);
                }
            }
        }

        // Packet rules: the class's any-port group plus the destination port's group.
        let class = &self.classes[class_of(v.proto)];
        ctx.cand.clear();
        let port_group = if v.has_ports {
            class.port_group(v.dport)
        } else {
            None
        };
        for g in core::iter::once(&class.any).chain(port_group) {
            ctx.cand.extend_from_slice(&g.always);
            if let Some(m) = &g.mpm {
                let stream = if v.proto == 6 { p.app.stream } else { None };
                // A stream-added payload is only scanned for the rules that can match it there
                // (the others match the stream only, see `eval`).
                let payload_hay = if v.proto == 6 && p.app.stream_added {
                    Hay::StreamAddedPayload
                } else {
                    Hay::All
                };
                // Only the rules for the packet's side of the flow (`flow_matches`).
                let side = match p.flow.map(|f| f.direction) {
                    Some(FlowDirection::ToClient) => Side::ToClient,
                    _ => Side::ToServer,
                };
                let hays = [(Some(v.payload), payload_hay), (stream, Hay::All)];
                for (hay, which) in hays {
                    let Some(hay) = hay.filter(|h| !h.is_empty()) else {
                        continue;
                    };
                    let (cand, scratch) = (&mut ctx.cand, &mut ctx.mpm[g.scratch]);
                    m.scan_for(side, which, hay, scratch, &mut |id| {
                        if let Some(n) = g.mpm_rules.get(id as usize) {
                            cand.push(*n);
                        }
                    });
                }
            }
        }
        if naive {
            ctx.cand.clear();
            ctx.cand.extend(
                (0..self.rules.len() as u32)
                    .filter(|n| self.rules[*n as usize].kind != Kind::IpOnly),
            );
        }
        ctx.cand.sort_unstable();
        ctx.cand.dedup();
        for i in 0..ctx.cand.len() {
            let n = ctx.cand[i];
            if self.eval(n, &v, p, flow.as_deref_mut(), ctx, None) {
                ctx.queue.push(n);
            }
        }

        // Transaction rules, per transaction ready on this packet.
        if let (Some(proto), Some(done)) = (p.app.alproto, tx_alerted) {
            ctx.tx_hits.clear();
            for tx in p.app.txs {
                let d = usize::from(tx.dir == FlowDirection::ToClient);
                let Some(pi) = proto_index(proto) else {
                    continue;
                };
                let ag = &self.app_groups[pi][d];
                ctx.cand.clear();
                ctx.cand.extend_from_slice(&ag.always);
                for bg in &ag.bufs {
                    let Some(m) = &bg.group.mpm else { continue };
                    let single;
                    let multi;
                    let insts: &[&[u8]] = if is_multi_buffer(bg.buf) {
                        multi = tx.buffers.get_all(tx.dir, bg.buf);
                        &multi
                    } else {
                        single = tx.buffers.get(tx.dir, bg.buf);
                        single.as_slice()
                    };
                    for &inst in insts {
                        let hay: &[u8] = if bg.transforms.is_empty() {
                            inst
                        } else {
                            if apply_transforms(&bg.transforms, inst, &mut ctx.tbuf).is_err() {
                                continue;
                            }
                            &ctx.tbuf
                        };
                        let (cand, scratch) = (&mut ctx.cand, &mut ctx.mpm[bg.group.scratch]);
                        m.scan(hay, scratch, &mut |id| {
                            if let Some(n) = bg.group.mpm_rules.get(id as usize) {
                                cand.push(*n);
                            }
                        });
                    }
                }
                if naive {
                    ctx.cand.clear();
                    ctx.cand.extend(
                        (0..self.rules.len() as u32).filter(|n| self.rules[*n as usize].is_tx()),
                    );
                }
                ctx.cand.sort_unstable();
                ctx.cand.dedup();
                for i in 0..ctx.cand.len() {
                    let n = ctx.cand[i];
                    if done.contains(tx.tx_id, n) {
                        continue;
                    }
                    if self.eval(n, &v, p, flow.as_deref_mut(), ctx, Some(tx)) {
                        done.insert(tx.tx_id, n);
                        ctx.queue.push(n);
                    }
                }
            }
        }

        self.finalize(ctx, &v, p, flow, alerts)
    }

    /// The payload program `prog` (the rule's fast pattern lives in it when `fp`) on `buf`.
    fn prog_matches(prog: &PayloadProgram, fp: bool, buf: &[u8], ctx: &mut DetectCtx) -> bool {
        if fp && prog.negated_mpm_hit(buf) {
            return false;
        }
        prog.matches(buf, &mut ctx.payload)
    }

    /// Transaction part of rule `r` on `tx`: every buffer matches (any instance of a
    /// multi-buffer), `urilen` holds.
    fn tx_matches(r: &CompiledRule, tx: &TxRef<'_>, ctx: &mut DetectCtx) -> bool {
        if r.tx_dirs & dir_bit(tx.dir) == 0 {
            return false;
        }
        for (i, b) in r.bufs.iter().enumerate() {
            if !tx.body_ready
                && matches!(
                    b.buf,
                    Buffer::FileData | Buffer::HttpRequestBody | Buffer::HttpResponseBody
                )
            {
                return false;
            }
            let fp = r.fp_buf == Some(i);
            let mut ok = false;
            let single;
            let multi;
            let insts: &[&[u8]] = if is_multi_buffer(b.buf) {
                multi = tx.buffers.get_all(tx.dir, b.buf);
                &multi
            } else {
                single = tx.buffers.get(tx.dir, b.buf);
                single.as_slice()
            };
            for &inst in insts {
                let hit = if b.transforms.is_empty() {
                    Self::prog_matches(&b.prog, fp, inst, ctx)
                } else {
                    let mut t = core::mem::take(&mut ctx.tbuf);
                    let hit = apply_transforms(&b.transforms, inst, &mut t).is_ok()
                        && Self::prog_matches(&b.prog, fp, &t, ctx);
                    ctx.tbuf = t;
                    hit
                };
                if hit {
                    ok = true;
                    break;
                }
            }
            if !ok {
                return false;
            }
        }
        if let Some((u, raw)) = &r.urilen {
            if !tx.buffers.urilen(*raw).is_some_and(|l| u.matches(l as u64)) {
                return false;
            }
        }
        true
    }

    /// Full verification of rule `n`; runs its post-match operations when it matches.
    fn eval(
        &self,
        n: u32,
        v: &View<'_>,
        p: &PacketInfo<'_>,
        mut flow: Option<&mut FlowDetect>,
        ctx: &mut DetectCtx,
        tx: Option<&TxRef<'_>>,
    ) -> bool {
        let r = &self.rules[n as usize];
        if r.is_tx() != tx.is_some() {
            return false;
        }
        // A stream rule on a packet added to the stream, with no stream inspection now, can't
        // match: the prefilter hit on the payload is dropped before any other check.
        if r.payload.is_some() && v.proto == 6 && p.app.stream.is_none() {
            match r.stream_mode {
                StreamMode::Stream if p.app.stream_added => return false,
                StreamMode::StreamOnly => return false,
                _ => {}
            }
        }
        if let Some(a) = r.alproto {
            if p.app.alproto != Some(a) {
                return false;
            }
        }
        for &(neg, a) in &r.alproto_kw {
            // Suricata compares the packet direction's own detection result.
            let ok = match p.app.dir_alproto {
                Some(DirProto::Unknown) => false,
                Some(DirProto::Failed) => neg,
                Some(DirProto::Known(q)) => (q == a) != neg,
                None if neg => p.app.alproto_done && p.app.alproto != Some(a),
                None => p.app.alproto == Some(a),
            };
            if !ok {
                return false;
            }
        }
        if r.pd_only && !p.app.proto_detect_done {
            return false;
        }
        // Header.
        match r.ipver {
            IpVer::V4 if !v.v4 => return false,
            IpVer::V6 if v.v4 => return false,
            _ => {}
        }
        if !r.proto.matches(v.proto) {
            return false;
        }
        if v.has_ports {
            if !r.dport.matches(v.dport) || !r.sport.matches(v.sport) {
                return false;
            }
        } else if !(r.sport.is_any() && r.dport.is_any()) {
            return false;
        }
        // Flow (cheap, and selective: direction and state) before the address sets.
        if r.needs_flow && p.flow.is_none() {
            return false;
        }
        if !flow_matches(&r.flow, p) {
            return false;
        }
        if !self.addr_ok(&r.dst, v.dst, 1, ctx) || !self.addr_ok(&r.src, v.src, 0, ctx) {
            return false;
        }
        for c in &r.bit_checks {
            let Some(f) = flow.as_deref() else {
                return false;
            };
            let ok = match c {
                BitCheck::IsSet { ids, any: true } => ids.iter().any(|i| f.is_set(*i)),
                BitCheck::IsSet { ids, any: false } => ids.iter().all(|i| f.is_set(*i)),
                BitCheck::IsNotSet { ids, any: true } => ids.iter().any(|i| !f.is_set(*i)),
                BitCheck::IsNotSet { ids, any: false } => ids.iter().all(|i| !f.is_set(*i)),
            };
            if !ok {
                return false;
            }
        }
        for c in &r.int_checks {
            let Some(f) = flow.as_deref() else {
                return false;
            };
            if !int_check(f, c) {
                return false;
            }
        }
        for x in &r.xbit_checks {
            let set = ctx.tracked.xbit_isset(x.id, xwho(x.track, v), p.ts);
            if set != (x.cmd == FlowbitsCmd::IsSet) {
                return false;
            }
        }
        if !r.header.iter().all(|h| h.matches(v)) {
            return false;
        }
        if let Some(prog) = &r.payload {
            let fp = r.fp_buf.is_none();
            let stream = if v.proto == 6 { p.app.stream } else { None };
            let ok = match r.stream_mode {
                StreamMode::Packet => Self::prog_matches(prog, fp, v.payload, ctx),
                StreamMode::Stream => {
                    stream.is_some_and(|s| Self::prog_matches(prog, fp, s, ctx))
                        || (!p.app.stream_added && Self::prog_matches(prog, fp, v.payload, ctx))
                }
                StreamMode::StreamAndPacket => {
                    stream.is_some_and(|s| Self::prog_matches(prog, fp, s, ctx))
                        || Self::prog_matches(prog, fp, v.payload, ctx)
                }
                StreamMode::StreamOnly => {
                    stream.is_some_and(|s| Self::prog_matches(prog, fp, s, ctx))
                }
            };
            if !ok {
                return false;
            }
        }
        if let Some(tx) = tx {
            if !Self::tx_matches(r, tx, ctx) {
                return false;
            }
        }
        // Post-match: in rule evaluation order, so later rules see the effect.
        for op in &r.post {
            match *op {
                PostOp::Bit(cmd, id) => {
                    if let Some(f) = flow.as_deref_mut() {
                        match cmd {
                            FlowbitsCmd::Set => f.set(id, true),
                            FlowbitsCmd::Unset => f.set(id, false),
                            FlowbitsCmd::Toggle => {
                                let on = f.is_set(id);
                                f.set(id, !on);
                            }
                            _ => {}
                        }
                    }
                }
                PostOp::Int(c) => {
                    if let Some(f) = flow.as_deref_mut() {
                        int_update(f, &c);
                    }
                }
                PostOp::Xbit(x) => {
                    let op = match x.cmd {
                        FlowbitsCmd::Set => XbitOp::Set,
                        FlowbitsCmd::Unset => XbitOp::Unset,
                        _ => XbitOp::Toggle,
                    };
                    ctx.tracked
                        .xbit_update(x.id, xwho(x.track, v), op, x.expire, p.ts);
                }
            }
        }
        true
    }

    /// Suricata's `PacketAlertFinalize`: order by internal id, thresholds, actions, pass
    /// stops, `packet_alert_max`.
    fn finalize(
        &self,
        ctx: &mut DetectCtx,
        v: &View<'_>,
        p: &PacketInfo<'_>,
        mut flow: Option<&mut FlowDetect>,
        alerts: &mut Vec<Alert>,
    ) -> Verdict {
        ctx.queue.sort_unstable();
        let mut verdict = Verdict::Pass;
        let mut kept = 0usize;
        for i in 0..ctx.queue.len() {
            let n = ctx.queue[i];
            let r = &self.rules[n as usize];
            let mut outcome = ThOutcome::Alert;
            // threshold.config suppressions first: a listed address silences the alert, the
            // action still applies (Suricata's PacketAlertHandle).
            if r.suppress.iter().any(|(track, set)| match track {
                SuppressTrack::BySrc => set.contains(v.src),
                SuppressTrack::ByDst => set.contains(v.dst),
                SuppressTrack::ByEither => set.contains(v.src) || set.contains(v.dst),
            }) {
                outcome = ThOutcome::Silent;
            }
            // A rate_filter may replace the action.
            let mut action = r.action;
            let checked: &[ThresholdSpec] = if outcome == ThOutcome::Alert {
                &r.thresholds
            } else {
                &[]
            };
            for t in checked {
                let who = match t.track {
                    Track::BySrc => Who::Host(v.src),
                    Track::ByDst => Who::Host(v.dst),
                    Track::ByBoth => Who::Pair(v.src, v.dst),
                    _ => Who::Rule,
                };
                outcome = match ctx.tracked.threshold(t, who, p.ts) {
                    ThOutcome::Rate(a) => {
                        action = a.unwrap_or(action);
                        ThOutcome::Alert
                    }
                    o => o,
                };
                if outcome != ThOutcome::Alert {
                    break;
                }
            }
            let is_pass = action == Action::Pass;
            let is_drop = !matches!(action, Action::Alert | Action::Pass);
            if outcome != ThOutcome::Suppress && !(verdict != Verdict::Pass && is_pass) {
                if r.kind != Kind::Packet && (is_drop || is_pass) {
                    if let Some(f) = flow.as_deref_mut() {
                        f.apply_action(is_drop);
                    }
                }
                if is_drop && verdict == Verdict::Pass {
                    verdict = match action {
                        Action::Drop => Verdict::Drop,
                        Action::RejectDst => Verdict::Reject(RejectKind::Dst),
                        Action::RejectBoth => Verdict::Reject(RejectKind::Both),
                        _ => Verdict::Reject(RejectKind::Src),
                    };
                }
            }
            let alerting = is_pass || !r.noalert;
            if outcome != ThOutcome::Alert || !alerting {
                continue;
            }
            if kept < self.packet_alert_max {
                if is_pass {
                    break;
                }
                kept += 1;
                alerts.push(Alert {
                    sid: r.sid,
                    gid: r.gid,
                    rev: r.rev,
                    action,
                    msg: r.msg.clone(),
                    classtype: r.classtype.clone(),
                    priority: r.priority,
                    rule_index: n,
                });
            }
        }
        verdict
    }
}

fn xwho(t: XTrack, v: &View<'_>) -> Who {
    match t {
        XTrack::Src => Who::Host(v.src),
        XTrack::Dst => Who::Host(v.dst),
        XTrack::Pair => Who::pair(v.src, v.dst),
    }
}

/// Suricata's `FlowMatch` plus the direction-only form (a group filter: packets without a flow
/// count as to_server).
fn flow_matches(c: &FlowCheck, p: &PacketInfo<'_>) -> bool {
    let dir = p.flow.map(|f| f.direction);
    if !c.needs_flow {
        return match c.dir {
            None => true,
            Some(FlowDir::ToServer) => dir != Some(FlowDirection::ToClient),
            Some(FlowDir::ToClient) => dir == Some(FlowDirection::ToClient),
        };
    }
    let Some(f) = p.flow else {
        return false;
    };
    let dir_ok = match c.dir {
        None => true,
        Some(FlowDir::ToServer) => f.direction == FlowDirection::ToServer,
        Some(FlowDir::ToClient) => f.direction == FlowDirection::ToClient,
    };
    let state_ok = match c.state {
        None | Some(FlowState::Stateless) => true,
        Some(FlowState::Established) => f.established(),
        Some(FlowState::NotEstablished) => !f.established(),
    };
    // Packet-level inspection: never a stream match, so `no_stream` holds.
    let frag_ok = match c.frag {
        None => true,
        Some(only) => only == p.reassembled,
    };
    dir_ok && state_ok && frag_ok
}

fn int_target(f: &FlowDetect, t: IntTarget) -> u32 {
    match t {
        IntTarget::Value(v) => v,
        IntTarget::Var(id) => f.int(id).unwrap_or(0),
    }
}

fn int_check(f: &FlowDetect, c: &IntCmd) -> bool {
    let cur = f.int(c.id);
    let t = int_target(f, c.target);
    match c.op {
        IntOp::IsSet => cur.is_some(),
        IntOp::NotSet => cur.is_none(),
        IntOp::Eq => cur.is_some_and(|x| x == t),
        IntOp::Ne => cur.is_some_and(|x| x != t),
        IntOp::Lt => cur.is_some_and(|x| x < t),
        IntOp::Le => cur.is_some_and(|x| x <= t),
        IntOp::Gt => cur.is_some_and(|x| x > t),
        IntOp::Ge => cur.is_some_and(|x| x >= t),
        IntOp::Set | IntOp::Add | IntOp::Sub => true,
    }
}

fn int_update(f: &mut FlowDetect, c: &IntCmd) {
    let t = int_target(f, c.target);
    match (c.op, f.int(c.id)) {
        (IntOp::Set, _) => f.set_int(c.id, t),
        (IntOp::Add, Some(x)) => f.set_int(c.id, x.wrapping_add(t)),
        (IntOp::Add, None) => f.set_int(c.id, t),
        (IntOp::Sub, Some(x)) => f.set_int(c.id, x.wrapping_sub(t)),
        _ => {}
    }
}
