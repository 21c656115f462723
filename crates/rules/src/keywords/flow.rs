//! Flow keywords: `flow`, `flowbits`, `flowint`, `xbits`, `stream_size`.

use std::fmt;

use super::meta::Track;
use super::uint::parse_u64;
use super::{split_commas, KwError, KwResult};
use crate::diag::DiagKind;

/// Direction part of `flow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowDir {
    /// `to_server` / `from_client`
    ToServer,
    /// `to_client` / `from_server`
    ToClient,
}

/// State part of `flow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowState {
    Established,
    NotEstablished,
    Stateless,
}

/// Stream part of `flow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowStream {
    OnlyStream,
    NoStream,
}

/// `flow:` options (from_server/from_client are stored as their to_* equivalents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flow {
    pub dir: Option<FlowDir>,
    pub state: Option<FlowState>,
    pub stream: Option<FlowStream>,
    /// `only_frag` (true) / `no_frag` (false)
    pub frag: Option<bool>,
}

fn put<T: PartialEq + Copy>(
    slot: &mut Option<(T, &'static str)>,
    v: T,
    name: &'static str,
) -> KwResult<()> {
    match *slot {
        Some((old, _)) if old == v => Err(KwError::kind(DiagKind::Duplicate(name))),
        Some((_, oname)) => Err(KwError::kind(DiagKind::Conflict(name, oname))),
        None => {
            *slot = Some((v, name));
            Ok(())
        }
    }
}

/// Parse `flow:`.
pub fn parse_flow(v: &str) -> KwResult<Flow> {
    let mut dir = None;
    let mut state = None;
    let mut stream = None;
    let mut frag = None;
    for (at, opt) in split_commas(v) {
        let r = match opt {
            "to_server" => put(&mut dir, FlowDir::ToServer, "to_server"),
            "from_client" => put(&mut dir, FlowDir::ToServer, "from_client"),
            "to_client" => put(&mut dir, FlowDir::ToClient, "to_client"),
            "from_server" => put(&mut dir, FlowDir::ToClient, "from_server"),
            "established" => put(&mut state, FlowState::Established, "established"),
            "not_established" => put(&mut state, FlowState::NotEstablished, "not_established"),
            "stateless" => put(&mut state, FlowState::Stateless, "stateless"),
            "only_stream" => put(&mut stream, FlowStream::OnlyStream, "only_stream"),
            "no_stream" => put(&mut stream, FlowStream::NoStream, "no_stream"),
            "only_frag" => put(&mut frag, true, "only_frag"),
            "no_frag" => put(&mut frag, false, "no_frag"),
            other => Err(KwError::bad(format!("unknown flow option `{other}`"))),
        };
        r.map_err(|e| e.at(at))?;
    }
    Ok(Flow {
        dir: dir.map(|d| d.0),
        state: state.map(|d| d.0),
        stream: stream.map(|d| d.0),
        frag: frag.map(|d| d.0),
    })
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<&str> = Vec::with_capacity(4);
        if let Some(s) = self.state {
            parts.push(match s {
                FlowState::Established => "established",
                FlowState::NotEstablished => "not_established",
                FlowState::Stateless => "stateless",
            });
        }
        if let Some(d) = self.dir {
            parts.push(match d {
                FlowDir::ToServer => "to_server",
                FlowDir::ToClient => "to_client",
            });
        }
        if let Some(s) = self.stream {
            parts.push(match s {
                FlowStream::OnlyStream => "only_stream",
                FlowStream::NoStream => "no_stream",
            });
        }
        if let Some(fr) = self.frag {
            parts.push(if fr { "only_frag" } else { "no_frag" });
        }
        f.write_str(&parts.join(","))
    }
}

/// `flowbits` / `xbits` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowbitsCmd {
    Set,
    Unset,
    Toggle,
    IsSet,
    IsNotSet,
    NoAlert,
}

impl FlowbitsCmd {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "set" => FlowbitsCmd::Set,
            "unset" => FlowbitsCmd::Unset,
            "toggle" => FlowbitsCmd::Toggle,
            "isset" => FlowbitsCmd::IsSet,
            "isnotset" => FlowbitsCmd::IsNotSet,
            "noalert" => FlowbitsCmd::NoAlert,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            FlowbitsCmd::Set => "set",
            FlowbitsCmd::Unset => "unset",
            FlowbitsCmd::Toggle => "toggle",
            FlowbitsCmd::IsSet => "isset",
            FlowbitsCmd::IsNotSet => "isnotset",
            FlowbitsCmd::NoAlert => "noalert",
        }
    }
}

/// `flowbits:cmd[,name]`; `name` may combine bits with `|` (isset/isnotset) or `&`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Flowbits {
    pub cmd: FlowbitsCmd,
    pub names: Vec<String>,
    /// `|` between names (any), else `&` (all).
    pub any: bool,
}

fn bit_name(n: &str) -> KwResult<String> {
    if n.is_empty() || n.contains(|c: char| c.is_whitespace() || c == ',' || c == '"') {
        return Err(KwError::bad(format!("invalid bit name `{n}`")));
    }
    Ok(n.to_string())
}

/// Parse `flowbits:`.
pub fn parse_flowbits(v: &str) -> KwResult<Flowbits> {
    let (cmd_s, name) = match v.split_once(',') {
        Some((c, n)) => (c.trim(), Some(n.trim())),
        None => (v.trim(), None),
    };
    let cmd = FlowbitsCmd::parse(cmd_s)
        .ok_or_else(|| KwError::bad(format!("unknown flowbits command `{cmd_s}`")))?;
    match (cmd, name) {
        (FlowbitsCmd::NoAlert, None) => Ok(Flowbits {
            cmd,
            names: vec![],
            any: false,
        }),
        (FlowbitsCmd::NoAlert, Some(_)) => Err(KwError::bad("`noalert` takes no bit name".into())),
        (_, None) | (_, Some("")) => Err(KwError::kind(DiagKind::Missing("flowbit name"))),
        (_, Some(n)) => {
            let any = n.contains('|');
            if any && n.contains('&') {
                return Err(KwError::bad(
                    "cannot mix `|` and `&` in flowbit names".into(),
                ));
            }
            if any && !matches!(cmd, FlowbitsCmd::IsSet | FlowbitsCmd::IsNotSet) {
                return Err(KwError::bad("`|` is only valid with isset/isnotset".into()));
            }
            let names = n
                .split(['|', '&'])
                .map(|s| bit_name(s.trim()))
                .collect::<KwResult<Vec<_>>>()?;
            Ok(Flowbits { cmd, names, any })
        }
    }
}

impl fmt::Display for Flowbits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cmd.name())?;
        if !self.names.is_empty() {
            write!(f, ",{}", self.names.join(if self.any { "|" } else { "&" }))?;
        }
        Ok(())
    }
}

/// `flowint:name,op[,value]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Flowint {
    pub name: String,
    /// `+`, `-`, `=`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `isset`, `notset`/`isnotset`
    pub op: &'static str,
    /// Number or another flowint's name.
    pub value: Option<String>,
}

const FLOWINT_OPS: &[&str] = &[
    "+", "-", "=", "==", "!=", "<", "<=", ">", ">=", "isset", "notset", "isnotset",
];

/// Parse `flowint:`.
pub fn parse_flowint(v: &str) -> KwResult<Flowint> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let name = bit_name(parts.first().copied().unwrap_or(""))?;
    let op_s = parts
        .get(1)
        .copied()
        .ok_or_else(|| KwError::kind(DiagKind::Missing("operator")))?;
    let op = FLOWINT_OPS
        .iter()
        .find(|o| **o == op_s)
        .copied()
        .ok_or_else(|| KwError::bad(format!("unknown flowint operator `{op_s}`")))?;
    let needs_value = !matches!(op, "isset" | "notset" | "isnotset");
    let value = match (parts.get(2), needs_value) {
        (Some(val), true) if parts.len() == 3 && !val.is_empty() => Some(val.to_string()),
        (None, false) => None,
        (_, true) => return Err(KwError::kind(DiagKind::Missing("value"))),
        (Some(_), false) => return Err(KwError::bad(format!("`{op}` takes no value"))),
    };
    Ok(Flowint { name, op, value })
}

impl fmt::Display for Flowint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.name, self.op)?;
        if let Some(v) = &self.value {
            write!(f, ",{v}")?;
        }
        Ok(())
    }
}

/// `xbits:cmd,name,track ip_src|ip_dst|ip_pair[,expire N]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Xbits {
    pub cmd: FlowbitsCmd,
    pub name: String,
    pub track: Track,
    pub expire: Option<u32>,
}

/// Parse `xbits:`.
pub fn parse_xbits(v: &str) -> KwResult<Xbits> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let cmd_s = parts.first().copied().unwrap_or("");
    let cmd = FlowbitsCmd::parse(cmd_s)
        .filter(|c| *c != FlowbitsCmd::NoAlert)
        .ok_or_else(|| KwError::bad(format!("unknown xbits command `{cmd_s}`")))?;
    let name = bit_name(parts.get(1).copied().unwrap_or(""))?;
    let mut track = None;
    let mut expire = None;
    for p in parts.iter().skip(2) {
        let (k, val) = p
            .split_once(char::is_whitespace)
            .map(|(a, b)| (a, b.trim()))
            .unwrap_or((p, ""));
        match k {
            "track" => {
                if track.is_some() {
                    return Err(KwError::kind(DiagKind::Duplicate("track")));
                }
                track = Some(match val {
                    "ip_src" => Track::IpSrc,
                    "ip_dst" => Track::IpDst,
                    "ip_pair" => Track::IpPair,
                    "tx" => Track::Tx,
                    other => return Err(KwError::bad(format!("unknown xbits track `{other}`"))),
                });
            }
            "expire" => {
                if expire.is_some() {
                    return Err(KwError::kind(DiagKind::Duplicate("expire")));
                }
                let e = parse_u64(val, u32::MAX as u64)? as u32;
                if e == 0 {
                    return Err(KwError::bad("expire must be greater than 0".into()));
                }
                expire = Some(e);
            }
            other => return Err(KwError::bad(format!("unknown xbits option `{other}`"))),
        }
    }
    let track = track.ok_or_else(|| KwError::kind(DiagKind::Missing("track")))?;
    Ok(Xbits {
        cmd,
        name,
        track,
        expire,
    })
}

impl fmt::Display for Xbits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},track {}", self.cmd.name(), self.name, self.track)?;
        if let Some(e) = self.expire {
            write!(f, ",expire {e}")?;
        }
        Ok(())
    }
}

/// `stream_size:client|server|both|either,op,N`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamSize {
    pub side: &'static str,
    pub op: &'static str,
    pub value: u32,
}

/// Parse `stream_size:`.
pub fn parse_stream_size(v: &str) -> KwResult<StreamSize> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.len() != 3 {
        return Err(KwError::bad("expected `side,operator,value`".into()));
    }
    let side = ["client", "server", "both", "either"]
        .into_iter()
        .find(|s| *s == parts[0])
        .ok_or_else(|| KwError::bad(format!("unknown stream_size side `{}`", parts[0])))?;
    let op = ["<", ">", "=", "!=", "<=", ">="]
        .into_iter()
        .find(|s| *s == parts[1])
        .ok_or_else(|| KwError::bad(format!("unknown stream_size operator `{}`", parts[1])))?;
    let value = parse_u64(parts[2], u32::MAX as u64)? as u32;
    Ok(StreamSize { side, op, value })
}

impl fmt::Display for StreamSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{}", self.side, self.op, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_conflicts() {
        let f = parse_flow("established, from_server").expect("valid");
        assert_eq!(f.dir, Some(FlowDir::ToClient));
        assert_eq!(f.to_string(), "established,to_client");
        assert_eq!(
            parse_flow("to_server,to_client").map_err(|e| e.kind),
            Err(DiagKind::Conflict("to_client", "to_server"))
        );
        assert_eq!(
            parse_flow("established,established").map_err(|e| e.kind),
            Err(DiagKind::Duplicate("established"))
        );
        assert!(parse_flow("established,stateless").is_err());
        assert!(parse_flow("sideways").is_err());
    }

    #[test]
    fn bits() {
        assert_eq!(
            parse_flowbits("isset,a|b").expect("valid").to_string(),
            "isset,a|b"
        );
        assert!(parse_flowbits("set").is_err());
        assert!(parse_flowbits("noalert").is_ok());
        assert!(parse_flowbits("set,a|b").is_err());
        assert!(parse_flowint("x, +, 1").is_ok());
        assert!(parse_flowint("x,isset").is_ok());
        assert!(parse_flowint("x,+").is_err());
        let x = parse_xbits("set,a,track ip_src,expire 10").expect("valid");
        assert_eq!(x.to_string(), "set,a,track ip_src,expire 10");
        assert!(parse_xbits("set,a").is_err());
        assert!(parse_stream_size("server,<,5").is_ok());
        assert!(parse_stream_size("server,<<,5").is_err());
    }
}
