//! Address and port variables (`$HOME_NET`, `$HTTP_PORTS`) as Suricata's `vars:` section defines
//! them, resolution of header expressions to sets, and cycle detection.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::ast::{AddrExpr, Cidr, PortExpr};
use crate::frame::{parse_addr_str, parse_port_str};

/// Suricata 7's packaged `vars:` (suricata.yaml as shipped by Debian and upstream).
pub const SURICATA_ADDRESS_GROUPS: &[(&str, &str)] = &[
    ("HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]"),
    ("EXTERNAL_NET", "!$HOME_NET"),
    ("HTTP_SERVERS", "$HOME_NET"),
    ("SMTP_SERVERS", "$HOME_NET"),
    ("SQL_SERVERS", "$HOME_NET"),
    ("DNS_SERVERS", "$HOME_NET"),
    ("TELNET_SERVERS", "$HOME_NET"),
    ("AIM_SERVERS", "$EXTERNAL_NET"),
    ("DC_SERVERS", "$HOME_NET"),
    ("DNP3_SERVER", "$HOME_NET"),
    ("DNP3_CLIENT", "$HOME_NET"),
    ("MODBUS_CLIENT", "$HOME_NET"),
    ("MODBUS_SERVER", "$HOME_NET"),
    ("ENIP_CLIENT", "$HOME_NET"),
    ("ENIP_SERVER", "$HOME_NET"),
];

/// Suricata 7's packaged port groups.
pub const SURICATA_PORT_GROUPS: &[(&str, &str)] = &[
    ("HTTP_PORTS", "80"),
    ("SHELLCODE_PORTS", "!80"),
    ("ORACLE_PORTS", "1521"),
    ("SSH_PORTS", "22"),
    ("DNP3_PORTS", "20000"),
    ("MODBUS_PORTS", "502"),
    ("FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"),
    ("FTP_PORTS", "21"),
    ("GENEVE_PORTS", "6081"),
    ("VXLAN_PORTS", "4789"),
    ("TEREDO_PORTS", "3544"),
];

/// Why a variable or expression cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VarError {
    #[error("undefined variable `${0}`")]
    Undefined(String),
    #[error("{0}")]
    Cycle(String),
    #[error("variable `${name}`: cannot parse `{value}`")]
    BadValue { name: String, value: String },
    #[error("{0}")]
    Empty(String),
    #[error("cannot read vars file: {0}")]
    Yaml(String),
}

/// A set of closed intervals over `u128` (IPv4 addresses use the low 32 bits).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Intervals(pub Vec<(u128, u128)>);

impl Intervals {
    fn full(max: u128) -> Self {
        Intervals(vec![(0, max)])
    }
    fn normalize(mut self) -> Self {
        self.0.sort_unstable();
        let mut out: Vec<(u128, u128)> = Vec::with_capacity(self.0.len());
        for (a, b) in self.0 {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        Intervals(out)
    }
    fn union(mut self, other: &Intervals) -> Self {
        self.0.extend_from_slice(&other.0);
        self.normalize()
    }
    fn complement(&self, max: u128) -> Self {
        let mut out = Vec::new();
        let mut next = 0u128;
        let mut done = false;
        for &(a, b) in &self.0 {
            if a > next {
                out.push((next, a - 1));
            }
            if b == max {
                done = true;
                break;
            }
            next = b + 1;
        }
        if !done {
            out.push((next, max));
        }
        Intervals(out)
    }
    fn minus(&self, other: &Intervals, max: u128) -> Self {
        // a \ b = a ∩ ¬b
        let nb = other.complement(max);
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < self.0.len() && j < nb.0.len() {
            let (a1, b1) = self.0[i];
            let (a2, b2) = nb.0[j];
            let lo = a1.max(a2);
            let hi = b1.min(b2);
            if lo <= hi {
                out.push((lo, hi));
            }
            if b1 < b2 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Intervals(out)
    }
    /// True if `v` is in the set.
    pub fn contains(&self, v: u128) -> bool {
        let i = self.0.partition_point(|&(_, b)| b < v);
        self.0.get(i).is_some_and(|&(a, _)| a <= v)
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A resolved address set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpSet {
    pub v4: Intervals,
    pub v6: Intervals,
}

const V4MAX: u128 = u32::MAX as u128;
const V6MAX: u128 = u128::MAX;

impl IpSet {
    /// Every address.
    pub fn any() -> Self {
        IpSet {
            v4: Intervals::full(V4MAX),
            v6: Intervals::full(V6MAX),
        }
    }
    /// True if `ip` is in the set.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.v4.contains(u32::from(a) as u128),
            IpAddr::V6(a) => self.v6.contains(u128::from(a)),
        }
    }
    /// True if no address matches.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
    fn union(self, o: &IpSet) -> IpSet {
        IpSet {
            v4: self.v4.union(&o.v4),
            v6: self.v6.union(&o.v6),
        }
    }
    fn complement(&self) -> IpSet {
        IpSet {
            v4: self.v4.complement(V4MAX),
            v6: self.v6.complement(V6MAX),
        }
    }
    fn minus(&self, o: &IpSet) -> IpSet {
        IpSet {
            v4: self.v4.minus(&o.v4, V4MAX),
            v6: self.v6.minus(&o.v6, V6MAX),
        }
    }
    fn net(c: &Cidr) -> IpSet {
        match c.addr {
            IpAddr::V4(a) => {
                let p = c.prefix.unwrap_or(32) as u32;
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                let lo = u32::from(a) & mask;
                IpSet {
                    v4: Intervals(vec![(lo as u128, (lo | !mask) as u128)]),
                    v6: Intervals::default(),
                }
            }
            IpAddr::V6(a) => {
                let p = c.prefix.unwrap_or(128) as u32;
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                let lo = u128::from(a) & mask;
                IpSet {
                    v4: Intervals::default(),
                    v6: Intervals(vec![(lo, lo | !mask)]),
                }
            }
        }
    }
}

/// A resolved port set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortSet(pub Intervals);

impl PortSet {
    /// Every port.
    pub fn any() -> Self {
        PortSet(Intervals::full(65535))
    }
    /// True if `p` is in the set.
    pub fn contains(&self, p: u16) -> bool {
        self.0.contains(p as u128)
    }
}

/// Variable definitions (unresolved text), as in suricata.yaml.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    addr: HashMap<String, String>,
    port: HashMap<String, String>,
    addr_cache: HashMap<String, Result<IpSet, VarError>>,
    port_cache: HashMap<String, Result<PortSet, VarError>>,
}

impl Vars {
    /// No variables at all.
    pub fn empty() -> Self {
        Vars::default()
    }

    /// Suricata's packaged defaults.
    pub fn suricata_defaults() -> Self {
        let mut v = Vars::empty();
        for (n, val) in SURICATA_ADDRESS_GROUPS {
            v.addr.insert((*n).to_string(), (*val).to_string());
        }
        for (n, val) in SURICATA_PORT_GROUPS {
            v.port.insert((*n).to_string(), (*val).to_string());
        }
        v.rebuild();
        v
    }

    /// Define or replace an address group.
    pub fn set_address(&mut self, name: &str, value: &str) {
        self.addr
            .insert(name.trim_start_matches('$').to_string(), value.to_string());
        self.rebuild();
    }

    /// Define or replace a port group.
    pub fn set_port(&mut self, name: &str, value: &str) {
        self.port
            .insert(name.trim_start_matches('$').to_string(), value.to_string());
        self.rebuild();
    }

    /// Override these variables with `other`'s.
    pub fn extend(&mut self, other: &Vars) {
        self.addr
            .extend(other.addr.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.port
            .extend(other.port.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.rebuild();
    }

    /// Read the `vars:` section (`address-groups`, `port-groups`) of a suricata.yaml-style file.
    pub fn from_suricata_yaml(text: &str) -> Result<Vars, VarError> {
        // Suricata's files start with a `%YAML 1.1` directive that YAML 1.2 parsers reject.
        let body: String = text
            .lines()
            .map(|l| if l.starts_with('%') { "" } else { l })
            .collect::<Vec<_>>()
            .join("\n");
        let doc: serde_norway::Value =
            serde_norway::from_str(&body).map_err(|e| VarError::Yaml(e.to_string()))?;
        let mut v = Vars::empty();
        let Some(vars) = doc.get("vars") else {
            return Err(VarError::Yaml("no `vars:` section".to_string()));
        };
        for (section, is_addr) in [("address-groups", true), ("port-groups", false)] {
            let Some(map) = vars.get(section).and_then(|m| m.as_mapping()) else {
                continue;
            };
            for (k, val) in map {
                let name = k
                    .as_str()
                    .ok_or_else(|| VarError::Yaml(format!("{section}: non-string name")))?;
                let value = match val {
                    serde_norway::Value::String(s) => s.clone(),
                    serde_norway::Value::Number(n) => n.to_string(),
                    other => {
                        return Err(VarError::BadValue {
                            name: name.to_string(),
                            value: format!("{other:?}"),
                        })
                    }
                };
                if is_addr {
                    v.addr.insert(name.to_string(), value);
                } else {
                    v.port.insert(name.to_string(), value);
                }
            }
        }
        v.rebuild();
        Ok(v)
    }

    /// Every problem in the definitions (unparsable values, cycles, undefined references, empty sets).
    pub fn errors(&self) -> Vec<(String, VarError)> {
        let mut out: Vec<(String, VarError)> = Vec::new();
        for (n, r) in &self.addr_cache {
            if let Err(e) = r {
                out.push((n.clone(), e.clone()));
            }
        }
        for (n, r) in &self.port_cache {
            if let Err(e) = r {
                out.push((n.clone(), e.clone()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn rebuild(&mut self) {
        self.addr_cache.clear();
        self.port_cache.clear();
        // Sorted, so that cycle messages do not depend on hash order.
        let mut names: Vec<String> = self.addr.keys().cloned().collect();
        names.sort();
        for n in names {
            let r = self.resolve_addr_var(&n, &mut Vec::new());
            self.addr_cache.insert(n, r);
        }
        let mut names: Vec<String> = self.port.keys().cloned().collect();
        names.sort();
        for n in names {
            let r = self.resolve_port_var(&n, &mut Vec::new());
            self.port_cache.insert(n, r);
        }
    }

    fn resolve_addr_var(&self, name: &str, stack: &mut Vec<String>) -> Result<IpSet, VarError> {
        if let Some(r) = self.addr_cache.get(name) {
            return r.clone();
        }
        if stack.iter().any(|s| s == name) {
            stack.push(name.to_string());
            return Err(VarError::Cycle(format!("${}", stack.join(" -> $"))));
        }
        let val = self
            .addr
            .get(name)
            .ok_or_else(|| VarError::Undefined(name.to_string()))?;
        let expr = parse_addr_str(val).map_err(|_| VarError::BadValue {
            name: name.to_string(),
            value: val.clone(),
        })?;
        stack.push(name.to_string());
        let r = self.eval_addr(&expr, stack);
        stack.pop();
        r
    }

    fn resolve_port_var(&self, name: &str, stack: &mut Vec<String>) -> Result<PortSet, VarError> {
        if let Some(r) = self.port_cache.get(name) {
            return r.clone();
        }
        if stack.iter().any(|s| s == name) {
            stack.push(name.to_string());
            return Err(VarError::Cycle(format!("${}", stack.join(" -> $"))));
        }
        let val = self
            .port
            .get(name)
            .ok_or_else(|| VarError::Undefined(name.to_string()))?;
        let expr = parse_port_str(val).map_err(|_| VarError::BadValue {
            name: name.to_string(),
            value: val.clone(),
        })?;
        stack.push(name.to_string());
        let r = self.eval_port(&expr, stack);
        stack.pop();
        r
    }

    fn eval_addr(&self, e: &AddrExpr, stack: &mut Vec<String>) -> Result<IpSet, VarError> {
        Ok(match e {
            AddrExpr::Any => IpSet::any(),
            AddrExpr::Var(v) => self.resolve_addr_var(v, stack)?,
            AddrExpr::Net(c) => IpSet::net(c),
            AddrExpr::Range(a, b) => match (a, b) {
                (IpAddr::V4(a), IpAddr::V4(b)) => IpSet {
                    v4: Intervals(vec![(u32::from(*a) as u128, u32::from(*b) as u128)]),
                    v6: Intervals::default(),
                },
                (IpAddr::V6(a), IpAddr::V6(b)) => IpSet {
                    v4: Intervals::default(),
                    v6: Intervals(vec![(u128::from(*a), u128::from(*b))]),
                },
                _ => {
                    return Err(VarError::Empty(
                        "address range mixes IPv4 and IPv6".to_string(),
                    ))
                }
            },
            AddrExpr::Not(inner) => {
                if **inner == AddrExpr::Any {
                    return Err(VarError::Empty("`!any` matches no address".to_string()));
                }
                let s = self.eval_addr(inner, stack)?.complement();
                if s.is_empty() {
                    return Err(VarError::Empty(format!("`{e}` matches no address")));
                }
                s
            }
            AddrExpr::List(items) => {
                let mut pos = IpSet::default();
                let mut neg = IpSet::default();
                let mut any_pos = false;
                for it in items {
                    match it {
                        AddrExpr::Not(inner) => {
                            if **inner == AddrExpr::Any {
                                return Err(VarError::Empty(
                                    "`!any` matches no address".to_string(),
                                ));
                            }
                            neg = neg.union(&self.eval_addr(inner, stack)?)
                        }
                        other => {
                            any_pos = true;
                            pos = pos.union(&self.eval_addr(other, stack)?)
                        }
                    }
                }
                let base = if any_pos { pos } else { IpSet::any() };
                let s = base.minus(&neg);
                if s.is_empty() {
                    return Err(VarError::Empty(format!("`{e}` matches no address")));
                }
                s
            }
        })
    }

    fn eval_port(&self, e: &PortExpr, stack: &mut Vec<String>) -> Result<PortSet, VarError> {
        let empty = |e: &PortExpr| VarError::Empty(format!("`{e}` matches no port"));
        Ok(match e {
            PortExpr::Any => PortSet::any(),
            PortExpr::Var(v) => self.resolve_port_var(v, stack)?,
            PortExpr::Port(p) => PortSet(Intervals(vec![(*p as u128, *p as u128)])),
            PortExpr::Range(a, b) => PortSet(Intervals(vec![(*a as u128, *b as u128)])),
            PortExpr::Not(inner) => {
                if **inner == PortExpr::Any {
                    return Err(VarError::Empty("`!any` matches no port".to_string()));
                }
                let s = PortSet(self.eval_port(inner, stack)?.0.complement(65535));
                if s.0.is_empty() {
                    return Err(empty(e));
                }
                s
            }
            PortExpr::List(items) => {
                let mut pos = Intervals::default();
                let mut neg = Intervals::default();
                let mut any_pos = false;
                for it in items {
                    match it {
                        PortExpr::Not(inner) => {
                            if **inner == PortExpr::Any {
                                return Err(VarError::Empty("`!any` matches no port".to_string()));
                            }
                            neg = neg.union(&self.eval_port(inner, stack)?.0)
                        }
                        other => {
                            any_pos = true;
                            pos = pos.union(&self.eval_port(other, stack)?.0)
                        }
                    }
                }
                let base = if any_pos { pos } else { Intervals::full(65535) };
                let s = base.minus(&neg, 65535);
                if s.is_empty() {
                    return Err(empty(e));
                }
                PortSet(s)
            }
        })
    }

    /// Resolve a header address expression.
    pub fn resolve_addr(&self, e: &AddrExpr) -> Result<IpSet, VarError> {
        self.eval_addr(e, &mut Vec::new())
    }

    /// Resolve a header port expression.
    pub fn resolve_port(&self, e: &PortExpr) -> Result<PortSet, VarError> {
        self.eval_port(e, &mut Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn defaults_resolve() {
        let v = Vars::suricata_defaults();
        assert!(v.errors().is_empty(), "{:?}", v.errors());
        let home = v
            .resolve_addr(&AddrExpr::Var("HOME_NET".into()))
            .expect("home");
        assert!(home.contains(ip("10.1.2.3")) && !home.contains(ip("8.8.8.8")));
        let ext = v
            .resolve_addr(&AddrExpr::Var("EXTERNAL_NET".into()))
            .expect("ext");
        assert!(
            !ext.contains(ip("10.1.2.3")) && ext.contains(ip("8.8.8.8")) && ext.contains(ip("::1"))
        );
        let fdp = v
            .resolve_port(&PortExpr::Var("FILE_DATA_PORTS".into()))
            .expect("ports");
        assert!(fdp.contains(80) && fdp.contains(143) && !fdp.contains(81));
        let sc = v
            .resolve_port(&PortExpr::Var("SHELLCODE_PORTS".into()))
            .expect("ports");
        assert!(!sc.contains(80) && sc.contains(81) && sc.contains(0) && sc.contains(65535));
    }

    #[test]
    fn groups_and_negation() {
        let v = Vars::empty();
        let e = parse_addr_str("[10.0.0.0/8,![10.1.0.0/16,10.2.0.0/16],!10.3.3.3]").expect("parse");
        let s = v.resolve_addr(&e).expect("resolve");
        assert!(
            s.contains(ip("10.0.0.1"))
                && !s.contains(ip("10.1.2.3"))
                && !s.contains(ip("10.3.3.3"))
        );
        assert!(matches!(
            v.resolve_addr(&parse_addr_str("!any").expect("p")),
            Err(VarError::Empty(_))
        ));
        assert!(matches!(
            v.resolve_addr(&parse_addr_str("[1.2.3.4,!1.2.3.4]").expect("p")),
            Err(VarError::Empty(_))
        ));
        let only_neg = v
            .resolve_addr(&parse_addr_str("[!1.2.3.4]").expect("p"))
            .expect("r");
        assert!(only_neg.contains(ip("1.2.3.5")) && !only_neg.contains(ip("1.2.3.4")));
        assert!(matches!(
            v.resolve_port(&parse_port_str("[80,!80]").expect("p")),
            Err(VarError::Empty(_))
        ));
        assert!(matches!(
            v.resolve_addr(&AddrExpr::Var("NOPE".into())),
            Err(VarError::Undefined(n)) if n == "NOPE"
        ));
    }

    #[test]
    fn cycles_are_detected() {
        let mut v = Vars::empty();
        v.set_address("A", "[1.1.1.1,$B]");
        v.set_address("B", "$A");
        let errs = v.errors();
        assert_eq!(errs.len(), 2);
        assert!(
            errs.iter().all(|(_, e)| matches!(e, VarError::Cycle(_))),
            "{errs:?}"
        );
    }

    #[test]
    fn yaml_vars() {
        let y = "%YAML 1.1\n---\nvars:\n  address-groups:\n    HOME_NET: \"[10.0.0.0/8]\"\n    EXTERNAL_NET: \"!$HOME_NET\"\n  port-groups:\n    HTTP_PORTS: \"[80,8080]\"\n    SSH_PORTS: 22\n";
        let v = Vars::from_suricata_yaml(y).expect("yaml");
        assert!(v.errors().is_empty());
        assert!(v
            .resolve_port(&PortExpr::Var("SSH_PORTS".into()))
            .expect("p")
            .contains(22));
        assert!(Vars::from_suricata_yaml("foo: [").is_err());
        assert!(Vars::from_suricata_yaml("other: 1").is_err());
    }
}
