//! Byte keywords: `byte_test`, `byte_jump`, `byte_extract`, `byte_math`, `isdataat`, `base64_decode`.

use std::fmt;

use super::content::Num;
use super::uint::{parse_i64, parse_u64};
use super::{KwError, KwResult};
use crate::diag::DiagKind;

/// Byte order of a binary read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endian {
    Big,
    Little,
    /// From the DCE/RPC header.
    Dce,
}

impl Endian {
    fn name(self) -> &'static str {
        match self {
            Endian::Big => "big",
            Endian::Little => "little",
            Endian::Dce => "dce",
        }
    }
}

/// Base of a string read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumBase {
    Hex,
    Dec,
    Oct,
}

impl NumBase {
    fn name(self) -> &'static str {
        match self {
            NumBase::Hex => "hex",
            NumBase::Dec => "dec",
            NumBase::Oct => "oct",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "hex" => NumBase::Hex,
            "dec" => NumBase::Dec,
            "oct" => NumBase::Oct,
            _ => return None,
        })
    }
}

fn is_ident(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

fn num_or_var(s: &str, min: i64, max: i64, vars: &[String]) -> KwResult<Num> {
    let s = s.trim();
    if s.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            let v = i64::from_str_radix(h, 16)
                .map_err(|_| KwError::bad(format!("`{s}` is not a number")))?;
            if !(min..=max).contains(&v) {
                return Err(KwError::bad(format!("`{s}` out of range")));
            }
            return Ok(Num::Lit(v as i32));
        }
        Ok(Num::Lit(parse_i64(s, min, max)? as i32))
    } else if vars.iter().any(|v| v == s) {
        Ok(Num::Var(s.to_string()))
    } else {
        Err(KwError::bad(format!(
            "`{s}` is neither a number nor a byte_extract/byte_math variable"
        )))
    }
}

/// A value that may be a u64 literal or a variable (byte_test's value).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    Lit(u64),
    Var(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Lit(v) => v.fmt(f),
            Value::Var(v) => f.write_str(v),
        }
    }
}

fn value_or_var(s: &str, vars: &[String]) -> KwResult<Value> {
    let s = s.trim();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        Ok(Value::Lit(parse_u64(s, u64::MAX)?))
    } else if vars.iter().any(|v| v == s) {
        Ok(Value::Var(s.to_string()))
    } else {
        Err(KwError::bad(format!(
            "`{s}` is neither a number nor a byte_extract/byte_math variable"
        )))
    }
}

fn nbytes_arg(s: &str, string: bool, kw: &str, vars: &[String]) -> KwResult<Num> {
    match num_or_var(s, 0, 255, vars)? {
        Num::Lit(n) => Ok(Num::Lit(i32::from(check_nbytes(n as u64, string, kw)?))),
        var => Ok(var),
    }
}

fn check_nbytes(n: u64, string: bool, kw: &str) -> KwResult<u8> {
    let max = if string { 20 } else { 8 };
    if n > max || (n == 0 && kw == "byte_extract") {
        return Err(KwError::bad(format!(
            "nbytes must be 1..={max}{} (got {n})",
            if string { " with `string`" } else { "" }
        )));
    }
    let _ = kw;
    Ok(n as u8)
}

/// Common trailing flags of byte_test / byte_jump / byte_extract.
#[derive(Debug, Default)]
struct Flags {
    relative: bool,
    endian: Option<Endian>,
    string: bool,
    base: Option<NumBase>,
    bitmask: Option<u64>,
}

impl Flags {
    /// Try to consume `item` as a common flag; Ok(false) if not one.
    fn take(&mut self, item: &str) -> KwResult<bool> {
        let dup = |n: &'static str| Err(KwError::kind(DiagKind::Duplicate(n)));
        match item {
            "relative" => {
                if self.relative {
                    return dup("relative");
                }
                self.relative = true;
            }
            "big" | "little" | "dce" => {
                if self.endian.is_some() {
                    return Err(KwError::kind(DiagKind::Duplicate("endian")));
                }
                self.endian = Some(match item {
                    "big" => Endian::Big,
                    "little" => Endian::Little,
                    _ => Endian::Dce,
                });
            }
            "string" => {
                if self.string {
                    return dup("string");
                }
                self.string = true;
            }
            "hex" | "dec" | "oct" => {
                if self.base.is_some() {
                    return Err(KwError::kind(DiagKind::Duplicate("base")));
                }
                self.base = NumBase::parse(item);
            }
            _ => {
                if let Some(m) = item.strip_prefix("bitmask") {
                    if self.bitmask.is_some() {
                        return dup("bitmask");
                    }
                    self.bitmask = Some(parse_u64(m, u32::MAX as u64)?);
                } else {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    fn finish(&self) -> KwResult<()> {
        if self.base.is_some() && !self.string {
            return Err(KwError::bad("hex/dec/oct need `string`".to_string()));
        }
        Ok(())
    }

    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.relative {
            f.write_str(",relative")?;
        }
        if let Some(e) = self.endian {
            write!(f, ",{}", e.name())?;
        }
        if self.string {
            f.write_str(",string")?;
        }
        if let Some(b) = self.base {
            write!(f, ",{}", b.name())?;
        }
        if let Some(m) = self.bitmask {
            write!(f, ",bitmask {m:#x}")?;
        }
        Ok(())
    }
}

/// `byte_test:nbytes,[!]op,value,offset[,flags]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ByteTest {
    /// Literal (0 with `string`: up to the end) or a byte_extract variable.
    pub nbytes: Num,
    pub negated: bool,
    /// `<`, `>`, `=`, `<=`, `>=`, `&`, `^`
    pub op: &'static str,
    pub value: Value,
    pub offset: Num,
    pub relative: bool,
    pub endian: Option<Endian>,
    pub string: bool,
    pub base: Option<NumBase>,
    pub bitmask: Option<u64>,
}

/// Parse `byte_test:`.
pub fn parse_byte_test(v: &str, vars: &[String]) -> KwResult<ByteTest> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.len() < 4 {
        return Err(KwError::bad(
            "expected at least `nbytes,operator,value,offset`".into(),
        ));
    }
    let (negated, op_s) = match parts[1].strip_prefix('!') {
        Some("=") => (true, "="),
        Some(o) => (true, o.trim()),
        None => (false, parts[1]),
    };
    let op = ["<=", ">=", "<", ">", "=", "&", "^"]
        .into_iter()
        .find(|o| *o == op_s)
        .ok_or_else(|| KwError::bad(format!("unknown operator `{}`", parts[1])))?;
    let value = value_or_var(parts[2], vars)?;
    let offset = num_or_var(parts[3], i32::MIN as i64, i32::MAX as i64, vars)?;
    let mut fl = Flags::default();
    for item in &parts[4..] {
        if !fl.take(item)? {
            return Err(KwError::bad(format!("unknown byte_test option `{item}`")));
        }
    }
    fl.finish()?;
    let nbytes = nbytes_arg(parts[0], fl.string, "byte_test", vars)?;
    Ok(ByteTest {
        nbytes,
        negated,
        op,
        value,
        offset,
        relative: fl.relative,
        endian: fl.endian,
        string: fl.string,
        base: fl.base,
        bitmask: fl.bitmask,
    })
}

impl fmt::Display for ByteTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{}{},{},{}",
            self.nbytes,
            if self.negated { "!" } else { "" },
            self.op,
            self.value,
            self.offset
        )?;
        Flags {
            relative: self.relative,
            endian: self.endian,
            string: self.string,
            base: self.base,
            bitmask: self.bitmask,
        }
        .write(f)
    }
}

/// `byte_jump:nbytes,offset[,flags]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ByteJump {
    pub nbytes: Num,
    pub offset: Num,
    pub relative: bool,
    pub endian: Option<Endian>,
    pub string: bool,
    pub base: Option<NumBase>,
    pub bitmask: Option<u64>,
    pub multiplier: Option<u32>,
    pub align: bool,
    pub from_beginning: bool,
    pub from_end: bool,
    pub post_offset: Option<i32>,
}

/// Parse `byte_jump:`.
pub fn parse_byte_jump(v: &str, vars: &[String]) -> KwResult<ByteJump> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.len() < 2 {
        return Err(KwError::bad("expected at least `nbytes,offset`".into()));
    }
    let offset = num_or_var(parts[1], i32::MIN as i64, i32::MAX as i64, vars)?;
    let mut fl = Flags::default();
    let mut j = ByteJump {
        nbytes: Num::Lit(0),
        offset,
        relative: false,
        endian: None,
        string: false,
        base: None,
        bitmask: None,
        multiplier: None,
        align: false,
        from_beginning: false,
        from_end: false,
        post_offset: None,
    };
    for item in &parts[2..] {
        if fl.take(item)? {
            continue;
        }
        let (k, val) = item
            .split_once(char::is_whitespace)
            .map(|(a, b)| (a, b.trim()))
            .unwrap_or((item, ""));
        let dup = |n: &'static str| KwError::kind(DiagKind::Duplicate(n));
        match k {
            "align" if val.is_empty() => {
                if j.align {
                    return Err(dup("align"));
                }
                j.align = true;
            }
            "from_beginning" if val.is_empty() => {
                if j.from_beginning {
                    return Err(dup("from_beginning"));
                }
                j.from_beginning = true;
            }
            "from_end" if val.is_empty() => {
                if j.from_end {
                    return Err(dup("from_end"));
                }
                j.from_end = true;
            }
            "multiplier" => {
                if j.multiplier.is_some() {
                    return Err(dup("multiplier"));
                }
                let m = parse_u64(val, 65535)? as u32;
                if m == 0 {
                    return Err(KwError::bad("multiplier must be 1..=65535".into()));
                }
                j.multiplier = Some(m);
            }
            "post_offset" => {
                if j.post_offset.is_some() {
                    return Err(dup("post_offset"));
                }
                j.post_offset = Some(parse_i64(val, -65535, 65535)? as i32);
            }
            _ => return Err(KwError::bad(format!("unknown byte_jump option `{item}`"))),
        }
    }
    if j.from_beginning && j.from_end {
        return Err(KwError::kind(DiagKind::Conflict(
            "from_beginning",
            "from_end",
        )));
    }
    fl.finish()?;
    j.nbytes = nbytes_arg(parts[0], fl.string, "byte_jump", vars)?;
    j.relative = fl.relative;
    j.endian = fl.endian;
    j.string = fl.string;
    j.base = fl.base;
    j.bitmask = fl.bitmask;
    Ok(j)
}

impl fmt::Display for ByteJump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.nbytes, self.offset)?;
        Flags {
            relative: self.relative,
            endian: self.endian,
            string: self.string,
            base: self.base,
            bitmask: self.bitmask,
        }
        .write(f)?;
        if let Some(m) = self.multiplier {
            write!(f, ",multiplier {m}")?;
        }
        if self.align {
            f.write_str(",align")?;
        }
        if self.from_beginning {
            f.write_str(",from_beginning")?;
        }
        if self.from_end {
            f.write_str(",from_end")?;
        }
        if let Some(p) = self.post_offset {
            write!(f, ",post_offset {p}")?;
        }
        Ok(())
    }
}

/// `byte_extract:nbytes,offset,name[,flags]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ByteExtract {
    pub nbytes: u8,
    pub offset: i32,
    pub name: String,
    pub relative: bool,
    pub endian: Option<Endian>,
    pub string: bool,
    pub base: Option<NumBase>,
    pub multiplier: Option<u32>,
    pub align: Option<u8>,
}

/// Parse `byte_extract:`.
pub fn parse_byte_extract(v: &str) -> KwResult<ByteExtract> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts.len() < 3 {
        return Err(KwError::bad(
            "expected at least `nbytes,offset,name`".into(),
        ));
    }
    let offset = parse_i64(parts[1], -65535, 65535)? as i32;
    let name = parts[2];
    if !is_ident(name) {
        return Err(KwError::bad(format!("invalid variable name `{name}`")));
    }
    let mut fl = Flags::default();
    let mut multiplier = None;
    let mut align = None;
    for item in &parts[3..] {
        if fl.take(item)? {
            continue;
        }
        let (k, val) = item
            .split_once(char::is_whitespace)
            .map(|(a, b)| (a, b.trim()))
            .unwrap_or((item, ""));
        match k {
            "multiplier" => {
                let m = parse_u64(val, 65535)? as u32;
                if m == 0 {
                    return Err(KwError::bad("multiplier must be 1..=65535".into()));
                }
                multiplier = Some(m);
            }
            "align" => {
                let a = parse_u64(val, 4)? as u8;
                if a != 2 && a != 4 {
                    return Err(KwError::bad("align must be 2 or 4".into()));
                }
                align = Some(a);
            }
            _ => {
                return Err(KwError::bad(format!(
                    "unknown byte_extract option `{item}`"
                )))
            }
        }
    }
    if fl.bitmask.is_some() {
        return Err(KwError::bad("byte_extract takes no bitmask".into()));
    }
    fl.finish()?;
    let nbytes = check_nbytes(parse_u64(parts[0], 255)?, fl.string, "byte_extract")?;
    Ok(ByteExtract {
        nbytes,
        offset,
        name: name.to_string(),
        relative: fl.relative,
        endian: fl.endian,
        string: fl.string,
        base: fl.base,
        multiplier,
        align,
    })
}

impl fmt::Display for ByteExtract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{}", self.nbytes, self.offset, self.name)?;
        Flags {
            relative: self.relative,
            endian: self.endian,
            string: self.string,
            base: self.base,
            bitmask: None,
        }
        .write(f)?;
        if let Some(m) = self.multiplier {
            write!(f, ",multiplier {m}")?;
        }
        if let Some(a) = self.align {
            write!(f, ",align {a}")?;
        }
        Ok(())
    }
}

/// `byte_math:bytes N, offset N, oper OP, rvalue V, result NAME[, ...]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ByteMath {
    pub nbytes: u8,
    pub offset: i32,
    /// `+`, `-`, `*`, `/`, `<<`, `>>`
    pub oper: &'static str,
    pub rvalue: Value,
    pub result: String,
    pub relative: bool,
    pub endian: Option<Endian>,
    /// `string hex|dec|oct`
    pub string: Option<NumBase>,
    pub bitmask: Option<u64>,
}

/// Parse `byte_math:`.
pub fn parse_byte_math(v: &str, vars: &[String]) -> KwResult<ByteMath> {
    const BYTES: u32 = 1;
    const OFFSET: u32 = 2;
    const OPER: u32 = 4;
    const RVALUE: u32 = 8;
    const RESULT: u32 = 16;
    const REL: u32 = 32;
    const ENDIAN: u32 = 64;
    const STRING: u32 = 128;
    const BITMASK: u32 = 256;
    let mut seen = 0u32;
    let mut m = ByteMath {
        nbytes: 0,
        offset: 0,
        oper: "+",
        rvalue: Value::Lit(0),
        result: String::new(),
        relative: false,
        endian: None,
        string: None,
        bitmask: None,
    };
    for item in v.split(',').map(str::trim) {
        let (k, val) = item
            .split_once(char::is_whitespace)
            .map(|(a, b)| (a, b.trim()))
            .unwrap_or((item, ""));
        let (bit, name) = match k {
            "bytes" => (BYTES, "bytes"),
            "offset" => (OFFSET, "offset"),
            "oper" => (OPER, "oper"),
            "rvalue" => (RVALUE, "rvalue"),
            "result" => (RESULT, "result"),
            "relative" => (REL, "relative"),
            "endian" => (ENDIAN, "endian"),
            "dce" => (ENDIAN, "endian"),
            "string" => (STRING, "string"),
            "bitmask" => (BITMASK, "bitmask"),
            other => return Err(KwError::bad(format!("unknown byte_math option `{other}`"))),
        };
        if seen & bit != 0 {
            return Err(KwError::kind(DiagKind::Duplicate(name)));
        }
        seen |= bit;
        match k {
            "bytes" => {
                let n = parse_u64(val, 255)?;
                if !(1..=10).contains(&n) {
                    return Err(KwError::bad(format!("nbytes must be 1..=10 (got {n})")));
                }
                m.nbytes = n as u8;
            }
            "offset" => m.offset = parse_i64(val, -65535, 65535)? as i32,
            "oper" => {
                m.oper = ["+", "-", "*", "/", "<<", ">>"]
                    .into_iter()
                    .find(|o| *o == val)
                    .ok_or_else(|| KwError::bad(format!("unknown operator `{val}`")))?;
            }
            "rvalue" => {
                m.rvalue = value_or_var(val, vars)?;
                if m.rvalue == Value::Lit(0) {
                    return Err(KwError::bad("rvalue must not be 0".into()));
                }
                if let Value::Lit(x) = m.rvalue {
                    if x > u32::MAX as u64 {
                        return Err(KwError::bad("rvalue out of range".into()));
                    }
                }
            }
            "result" => {
                if !is_ident(val) {
                    return Err(KwError::bad(format!("invalid result name `{val}`")));
                }
                m.result = val.to_string();
            }
            "relative" => {
                if !val.is_empty() {
                    return Err(KwError::bad("`relative` takes no value".into()));
                }
                m.relative = true;
            }
            "dce" => m.endian = Some(Endian::Dce),
            "endian" => {
                m.endian = Some(match val {
                    "big" => Endian::Big,
                    "little" => Endian::Little,
                    "dce" => Endian::Dce,
                    other => return Err(KwError::bad(format!("unknown endian `{other}`"))),
                })
            }
            "string" => {
                m.string = Some(
                    NumBase::parse(val)
                        .ok_or_else(|| KwError::bad(format!("unknown string base `{val}`")))?,
                )
            }
            _ => m.bitmask = Some(parse_u64(val, u32::MAX as u64)?),
        }
    }
    for (bit, name) in [
        (BYTES, "bytes"),
        (OFFSET, "offset"),
        (OPER, "oper"),
        (RVALUE, "rvalue"),
        (RESULT, "result"),
    ] {
        if seen & bit == 0 {
            return Err(KwError::kind(DiagKind::Missing(name)));
        }
    }
    if m.string.is_some() && m.endian.is_some() {
        return Err(KwError::kind(DiagKind::Conflict("string", "endian")));
    }
    Ok(m)
}

impl fmt::Display for ByteMath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bytes {},offset {},oper {},rvalue {},result {}",
            self.nbytes, self.offset, self.oper, self.rvalue, self.result
        )?;
        if self.relative {
            f.write_str(",relative")?;
        }
        if let Some(e) = self.endian {
            write!(f, ",endian {}", e.name())?;
        }
        if let Some(b) = self.string {
            write!(f, ",string {}", b.name())?;
        }
        if let Some(b) = self.bitmask {
            write!(f, ",bitmask {b:#x}")?;
        }
        Ok(())
    }
}

/// `isdataat:[!]N[,relative][,rawbytes]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Isdataat {
    pub negated: bool,
    pub value: Num,
    pub relative: bool,
    pub rawbytes: bool,
}

/// Parse `isdataat:`.
pub fn parse_isdataat(v: &str, vars: &[String]) -> KwResult<Isdataat> {
    let mut parts = v.split(',').map(str::trim);
    let first = parts.next().unwrap_or("");
    let (negated, n) = match first.strip_prefix('!') {
        Some(n) => (true, n.trim()),
        None => (false, first),
    };
    let value = num_or_var(n, 0, 65535, vars)?;
    let mut d = Isdataat {
        negated,
        value,
        relative: false,
        rawbytes: false,
    };
    for p in parts {
        match p {
            "relative" if !d.relative => d.relative = true,
            "rawbytes" if !d.rawbytes => d.rawbytes = true,
            "relative" => return Err(KwError::kind(DiagKind::Duplicate("relative"))),
            "rawbytes" => return Err(KwError::kind(DiagKind::Duplicate("rawbytes"))),
            other => return Err(KwError::bad(format!("unknown isdataat option `{other}`"))),
        }
    }
    Ok(d)
}

impl fmt::Display for Isdataat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", if self.negated { "!" } else { "" }, self.value)?;
        if self.relative {
            f.write_str(",relative")?;
        }
        if self.rawbytes {
            f.write_str(",rawbytes")?;
        }
        Ok(())
    }
}

/// `base64_decode[:bytes N][,offset N][,relative]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Base64Decode {
    pub bytes: Option<u32>,
    pub offset: Option<u32>,
    pub relative: bool,
}

impl Base64Decode {
    /// No options given.
    pub fn is_default(&self) -> bool {
        *self == Base64Decode::default()
    }
}

/// Parse `base64_decode` (argument optional).
pub fn parse_base64_decode(v: Option<&str>) -> KwResult<Base64Decode> {
    let mut d = Base64Decode::default();
    let Some(v) = v.filter(|v| !v.trim().is_empty()) else {
        return Ok(d);
    };
    for item in v.split(',').map(str::trim) {
        let (k, val) = item
            .split_once(char::is_whitespace)
            .map(|(a, b)| (a, b.trim()))
            .unwrap_or((item, ""));
        match k {
            "bytes" if d.bytes.is_none() => {
                let b = parse_u64(val, u32::MAX as u64)? as u32;
                if b == 0 {
                    return Err(KwError::bad("bytes must be greater than 0".into()));
                }
                d.bytes = Some(b);
            }
            "offset" if d.offset.is_none() => {
                d.offset = Some(parse_u64(val, u32::MAX as u64)? as u32)
            }
            "relative" if !d.relative && val.is_empty() => d.relative = true,
            "bytes" | "offset" | "relative" => {
                return Err(KwError::kind(DiagKind::Duplicate("base64_decode option")))
            }
            other => {
                return Err(KwError::bad(format!(
                    "unknown base64_decode option `{other}`"
                )))
            }
        }
    }
    Ok(d)
}

impl fmt::Display for Base64Decode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(b) = self.bytes {
            parts.push(format!("bytes {b}"));
        }
        if let Some(o) = self.offset {
            parts.push(format!("offset {o}"));
        }
        if self.relative {
            parts.push("relative".to_string());
        }
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_test_forms() {
        let t = parse_byte_test("4,!&,0x80,12,relative,little", &[]).expect("valid");
        assert_eq!(t.to_string(), "4,!&,128,12,relative,little");
        assert!(parse_byte_test("9,=,1,0", &[]).is_err());
        assert!(parse_byte_test("10,=,1,0,string,dec", &[]).is_ok());
        assert!(parse_byte_test("4,=,x,0", &[]).is_err());
        assert!(parse_byte_test("4,=,x,0", &["x".into()]).is_ok());
        assert!(parse_byte_test("4,~,1,0", &[]).is_err());
        assert!(parse_byte_test("4,=,1,0,hex", &[]).is_err());
    }

    #[test]
    fn byte_jump_and_math() {
        let j = parse_byte_jump("4,-2,relative,from_beginning,little,post_offset 3", &[])
            .expect("valid");
        assert_eq!(
            j.to_string(),
            "4,-2,relative,little,from_beginning,post_offset 3"
        );
        assert!(parse_byte_jump("4,0,from_beginning,from_end", &[]).is_err());
        let m = parse_byte_math(
            "bytes 2, offset 0, oper +, rvalue 10, result x, relative",
            &[],
        )
        .expect("ok");
        assert_eq!(
            m.to_string(),
            "bytes 2,offset 0,oper +,rvalue 10,result x,relative"
        );
        assert_eq!(
            parse_byte_math("bytes 2, offset 0, oper +, rvalue 10", &[]).map_err(|e| e.kind),
            Err(DiagKind::Missing("result"))
        );
        assert!(parse_byte_math("bytes 11, offset 0, oper +, rvalue 1, result x", &[]).is_err());
        assert!(parse_byte_extract("4,0,len,relative,little").is_ok());
        assert!(parse_isdataat("!1,relative", &[]).is_ok());
        assert!(parse_base64_decode(Some("bytes 10, offset 0, relative")).is_ok());
    }
}
