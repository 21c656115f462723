//! Rule options → ops, with the setup-time rewrites Suricata 7.0.10 applies (detect-content.c,
//! detect-depth.c, detect-offset.c, detect-within.c, detect-distance.c, detect-isdataat.c,
//! detect-byte-extract.c, detect-bytemath.c).

use seawall_rules::ast::{Content, Endian, FastPattern, Num, NumBase, RuleOption};
use seawall_rules::keywords::byte::Value;

use super::inspect::*;
use super::regex::Regex;
use super::{Unsupported, MAX_VARS};

/// Variables defined so far: (name, slot), byte_extract and byte_math kept apart as Suricata does.
#[derive(Default)]
struct Vars {
    extract: Vec<(String, u8)>,
    math: Vec<(String, u8)>,
}

impl Vars {
    /// Suricata resolves a name to the first byte_extract of that name, else the first byte_math.
    fn slot(&self, name: &str, keyword: &'static str) -> Result<u8, Unsupported> {
        self.extract
            .iter()
            .chain(self.math.iter())
            .find(|(n, _)| n == name)
            .map(|(_, s)| *s)
            .ok_or_else(|| {
                Unsupported::new(
                    keyword,
                    format!("variable `{name}` is not set earlier in the same buffer"),
                )
            })
    }

    fn val(&self, n: &Num, keyword: &'static str) -> Result<Val, Unsupported> {
        Ok(match n {
            Num::Lit(v) => Val::Lit(i64::from(*v)),
            Num::Var(name) => Val::Var(self.slot(name, keyword)?),
        })
    }

    fn value(&self, v: &Value, keyword: &'static str) -> Result<Val, Unsupported> {
        Ok(match v {
            Value::Lit(x) => Val::Lit(*x as i64),
            Value::Var(name) => Val::Var(self.slot(name, keyword)?),
        })
    }

    fn next_slot(list: &[(String, u8)], keyword: &'static str) -> Result<u8, Unsupported> {
        let n = list.len();
        if n >= MAX_VARS {
            return Err(Unsupported::new(
                keyword,
                format!("more than {MAX_VARS} variables in one buffer"),
            ));
        }
        Ok(n as u8)
    }
}

fn base_of(b: Option<NumBase>, default: u32) -> u32 {
    match b {
        Some(NumBase::Hex) => 16,
        Some(NumBase::Dec) => 10,
        Some(NumBase::Oct) => 8,
        None => default,
    }
}

fn little(e: Option<Endian>, keyword: &'static str) -> Result<bool, Unsupported> {
    match e {
        Some(Endian::Dce) => Err(Unsupported::new(
            keyword,
            "dce endianness needs DCE/RPC inspection",
        )),
        Some(Endian::Little) => Ok(true),
        Some(Endian::Big) | None => Ok(false),
    }
}

fn bitmask(m: Option<u64>) -> Option<(u64, u32)> {
    m.map(|m| (m, if m == 0 { 0 } else { m.trailing_zeros() }))
}

/// Index of the last content/pcre op, or (`wide`) the last payload-keyword op, before `end`.
fn prev_pm(ops: &[Op], wide: bool) -> Option<usize> {
    ops.iter().rposition(|o| match o {
        Op::Content(_) | Op::Pcre(_) => true,
        Op::ByteTest(_)
        | Op::ByteJump(_)
        | Op::ByteExtract(_)
        | Op::ByteMath(_)
        | Op::Isdataat(_) => wide,
        Op::Bsize(_) | Op::Urilen(_) => false,
    })
}

/// Mark the op at `idx` (content or pcre) as having a relative option after it.
fn mark_next(ops: &mut [Op], idx: Option<usize>, content_flags: u32) {
    match idx.map(|i| &mut ops[i]) {
        Some(Op::Content(c)) => c.flags |= content_flags,
        Some(Op::Pcre(p)) => p.relative_next = true,
        _ => {}
    }
}

pub(crate) fn compile(opts: &[&RuleOption]) -> Result<Vec<Op>, Unsupported> {
    let mut ops: Vec<Op> = Vec::new();
    let mut vars = Vars::default();
    // Sticky buffers look back only at content/pcre; the packet payload at every payload keyword.
    let sticky = opts.iter().any(|o| match o {
        RuleOption::Content(c) => c.buffer != seawall_rules::ast::Buffer::Payload,
        RuleOption::Pcre(p) => p.buffer != seawall_rules::ast::Buffer::Payload,
        _ => false,
    });
    let wide = !sticky;
    for opt in opts {
        match opt {
            RuleOption::Content(c) => {
                let cd = content(c, &vars)?;
                let negated = cd.flags & NEGATED != 0;
                let (within, distance) = (cd.flags & WITHIN != 0, cd.flags & DISTANCE != 0);
                let prev = prev_pm(&ops, false);
                if within {
                    mark_next(&mut ops, prev, WITHIN_NEXT);
                }
                if distance {
                    mark_next(
                        &mut ops,
                        prev,
                        if negated {
                            RELATIVE_NEXT
                        } else {
                            DISTANCE_NEXT
                        },
                    );
                }
                if c.legacy_modifier && (within || distance) {
                    mark_next(&mut ops, prev, RELATIVE_NEXT);
                }
                ops.push(Op::Content(cd));
            }
            RuleOption::Pcre(p) => {
                if p.relative {
                    let prev = prev_pm(&ops, false);
                    mark_next(&mut ops, prev, RELATIVE_NEXT);
                }
                ops.push(Op::Pcre(PcreOp {
                    regex: Regex::new(&p.pattern, &p.modifiers)?,
                    negated: p.negated,
                    relative: p.relative,
                    relative_next: false,
                }));
            }
            RuleOption::Isdataat(d) => {
                let value = vars.val(&d.value, "isdataat")?;
                let prev = if d.relative {
                    prev_pm(&ops, wide)
                } else {
                    None
                };
                // `isdataat:!1,relative` right after a content is Suricata's "ends with". The
                // check reads the raw value, which is the slot number for a variable.
                let raw_one = match value {
                    Val::Lit(v) => v == 1,
                    Val::Var(s) => s == 1,
                };
                if d.negated && d.relative && raw_one {
                    if let Some(Op::Content(c)) = prev.map(|i| &mut ops[i]) {
                        c.flags |= ENDS_WITH;
                        continue;
                    }
                }
                if d.relative {
                    mark_next(&mut ops, prev, RELATIVE_NEXT);
                }
                ops.push(Op::Isdataat(IsdataatOp {
                    negated: d.negated,
                    value,
                    relative: d.relative,
                }));
            }
            RuleOption::ByteTest(t) => {
                let string = t.string;
                let op = match t.op {
                    "<" => CmpOp::Lt,
                    ">" => CmpOp::Gt,
                    "=" => CmpOp::Eq,
                    "&" => CmpOp::And,
                    "^" => CmpOp::Or,
                    ">=" => CmpOp::Ge,
                    "<=" => CmpOp::Le,
                    other => {
                        return Err(Unsupported::new(
                            "byte_test",
                            format!("unknown operator `{other}`"),
                        ))
                    }
                };
                let extract = if string {
                    Extract::String {
                        base: base_of(t.base, 0),
                    }
                } else {
                    Extract::Binary {
                        little: little(t.endian, "byte_test")?,
                    }
                };
                let bt = ByteTestOp {
                    nbytes: vars.val(&t.nbytes, "byte_test")?,
                    negated: t.negated,
                    op,
                    value: vars.value(&t.value, "byte_test")?,
                    offset: vars.val(&t.offset, "byte_test")?,
                    relative: t.relative,
                    extract,
                    bitmask: bitmask(t.bitmask),
                };
                if t.relative {
                    let prev = prev_pm(&ops, wide);
                    mark_next(&mut ops, prev, RELATIVE_NEXT);
                }
                ops.push(Op::ByteTest(bt));
            }
            RuleOption::ByteJump(j) => {
                let extract = if j.string {
                    Extract::String {
                        base: base_of(j.base, 0),
                    }
                } else {
                    Extract::Binary {
                        little: little(j.endian, "byte_jump")?,
                    }
                };
                if j.bitmask.is_some() {
                    return Err(Unsupported::new(
                        "byte_jump",
                        "bitmask is not applied by Suricata 7's byte_jump",
                    ));
                }
                let bj = ByteJumpOp {
                    nbytes: vars.val(&j.nbytes, "byte_jump")?,
                    offset: vars.val(&j.offset, "byte_jump")?,
                    relative: j.relative,
                    extract,
                    multiplier: u64::from(j.multiplier.unwrap_or(1)),
                    align: j.align,
                    from_beginning: j.from_beginning,
                    from_end: j.from_end,
                    post_offset: i64::from(j.post_offset.unwrap_or(0)),
                };
                if j.relative {
                    let prev = prev_pm(&ops, wide);
                    mark_next(&mut ops, prev, RELATIVE_NEXT);
                }
                ops.push(Op::ByteJump(bj));
            }
            RuleOption::ByteExtract(e) => {
                let extract = if e.string {
                    Extract::String {
                        base: base_of(e.base, 10),
                    }
                } else {
                    Extract::Binary {
                        little: little(e.endian, "byte_extract")?,
                    }
                };
                let slot = Vars::next_slot(&vars.extract, "byte_extract")?;
                let be = ByteExtractOp {
                    nbytes: e.nbytes,
                    offset: e.offset,
                    slot,
                    relative: e.relative,
                    extract,
                    multiplier: u64::from(e.multiplier.unwrap_or(1)),
                    align: u64::from(e.align.unwrap_or(0)),
                };
                if e.relative {
                    let prev = prev_pm(&ops, wide);
                    mark_next(&mut ops, prev, RELATIVE_NEXT);
                }
                vars.extract.push((e.name.clone(), slot));
                ops.push(Op::ByteExtract(be));
            }
            RuleOption::ByteMath(m) => {
                let extract = match m.string {
                    Some(b) => Extract::String {
                        base: base_of(Some(b), 10),
                    },
                    None => Extract::Binary {
                        little: little(m.endian, "byte_math")?,
                    },
                };
                let oper = match m.oper {
                    "+" => MathOp::Add,
                    "-" => MathOp::Sub,
                    "*" => MathOp::Mul,
                    "/" => MathOp::Div,
                    "<<" => MathOp::Shl,
                    ">>" => MathOp::Shr,
                    other => {
                        return Err(Unsupported::new(
                            "byte_math",
                            format!("unknown operator `{other}`"),
                        ))
                    }
                };
                let rvalue = vars.value(&m.rvalue, "byte_math")?;
                let slot = Vars::next_slot(&vars.math, "byte_math")?;
                let bm = ByteMathOp {
                    nbytes: m.nbytes,
                    offset: m.offset,
                    oper,
                    rvalue,
                    slot,
                    relative: m.relative,
                    extract,
                    bitmask: bitmask(m.bitmask),
                };
                if m.relative {
                    let prev = prev_pm(&ops, wide);
                    if sticky && prev.is_none() {
                        return Err(Unsupported::new(
                            "byte_math",
                            "relative without a previous match",
                        ));
                    }
                    mark_next(&mut ops, prev, RELATIVE_NEXT);
                }
                vars.math.push((m.result.clone(), slot));
                ops.push(Op::ByteMath(bm));
            }
            RuleOption::Bsize(u) => ops.push(Op::Bsize(*u)),
            RuleOption::Urilen { value, .. } => ops.push(Op::Urilen(*value)),
            RuleOption::Base64Decode(_) => {
                return Err(Unsupported::new(
                    "base64_decode",
                    "base64 decoding is not implemented",
                ))
            }
            _ => {}
        }
    }
    propagate_limits(&mut ops);
    Ok(ops)
}

fn lit_u16(v: i32, keyword: &'static str) -> Result<u16, Unsupported> {
    u16::try_from(v).map_err(|_| Unsupported::new(keyword, format!("value {v} out of range")))
}

fn content(c: &Content, vars: &Vars) -> Result<ContentOp, Unsupported> {
    if c.pattern.is_empty() {
        return Err(Unsupported::new("content", "empty pattern"));
    }
    let len = c.pattern.len();
    let mut flags = 0u32;
    if c.nocase {
        flags |= NOCASE;
    }
    if c.negated {
        flags |= NEGATED;
    }
    if c.endswith {
        flags |= ENDS_WITH;
    }
    if c.fast_pattern.is_some() {
        flags |= FAST_PATTERN;
    }
    let mut offset = 0u16;
    let mut depth = 0u16;
    let mut distance = 0i32;
    let mut within = 0i32;
    if c.startswith {
        if c.depth.is_some() || c.offset.is_some() || c.is_relative() {
            return Err(Unsupported::new(
                "startswith",
                "mixed with depth/offset/distance/within",
            ));
        }
        depth = lit_u16(len as i32, "content")?;
        flags |= DEPTH | STARTS_WITH;
    }
    // offset/depth: Suricata stores depth counted from the buffer start (depth + offset). With
    // variables the result depends on the keywords' order, which the AST does not keep: accept
    // only the orders-agnostic cases (slot 0).
    match (&c.offset, &c.depth) {
        (Some(Num::Lit(o)), Some(Num::Lit(d))) => {
            offset = lit_u16(*o, "offset")?;
            depth = lit_u16(d + o, "depth")?;
            flags |= OFFSET | DEPTH;
        }
        (Some(Num::Var(o)), Some(Num::Lit(d))) => {
            let s = vars.slot(o, "offset")?;
            if s != 0 {
                return Err(Unsupported::new(
                    "offset",
                    "a variable offset (not the first variable) with a literal depth",
                ));
            }
            offset = 0;
            depth = lit_u16(*d, "depth")?;
            flags |= OFFSET | OFFSET_VAR | DEPTH;
        }
        (Some(Num::Lit(o)), Some(Num::Var(d))) => {
            let s = vars.slot(d, "depth")?;
            if s != 0 && *o != 0 {
                return Err(Unsupported::new(
                    "depth",
                    "a variable depth (not the first variable) with a literal offset",
                ));
            }
            offset = lit_u16(*o, "offset")?;
            depth = u16::from(s);
            flags |= OFFSET | DEPTH | DEPTH_VAR;
        }
        (Some(Num::Var(o)), Some(Num::Var(d))) => {
            offset = u16::from(vars.slot(o, "offset")?);
            depth = u16::from(vars.slot(d, "depth")?);
            flags |= OFFSET | OFFSET_VAR | DEPTH | DEPTH_VAR;
        }
        (Some(o), None) => {
            match o {
                Num::Lit(o) => offset = lit_u16(*o, "offset")?,
                Num::Var(n) => {
                    offset = u16::from(vars.slot(n, "offset")?);
                    flags |= OFFSET_VAR;
                }
            }
            flags |= OFFSET;
        }
        (None, Some(d)) => {
            match d {
                Num::Lit(d) => depth = lit_u16(*d, "depth")?,
                Num::Var(n) => {
                    depth = u16::from(vars.slot(n, "depth")?);
                    flags |= DEPTH_VAR;
                }
            }
            flags |= DEPTH;
        }
        (None, None) => {}
    }
    if c.is_relative() && flags & (OFFSET | DEPTH) != 0 {
        return Err(Unsupported::new(
            "distance",
            "relative and absolute modifiers on one content",
        ));
    }
    if let Some(d) = &c.distance {
        match d {
            Num::Lit(v) => distance = *v,
            Num::Var(n) => {
                distance = i32::from(vars.slot(n, "distance")?);
                flags |= DISTANCE_VAR;
            }
        }
        flags |= DISTANCE;
    }
    if let Some(w) = &c.within {
        match w {
            Num::Lit(v) => within = *v,
            Num::Var(n) => {
                within = i32::from(vars.slot(n, "within")?);
                flags |= WITHIN_VAR;
            }
        }
        flags |= WITHIN;
    }
    let fast_chop = match c.fast_pattern {
        Some(FastPattern::Chop { offset, len: l }) => Some((offset, l)),
        _ => None,
    };
    Ok(ContentOp {
        searcher: Searcher::new(&c.pattern, c.nocase),
        pattern: c.pattern.clone(),
        flags,
        offset,
        depth,
        distance,
        within,
        fast_chop,
    })
}

/// Suricata 7.0.10's PropagateLimits (detect-content.c): derive absolute offset/depth limits
/// along chains of relative contents. It rewrites the first content's distance/within into
/// offset/depth, tightens later contents, and spreads an anchored "ends with" depth to all
/// contents. Integer conversions follow the C code (u16 truncation, early return on overflow).
pub(crate) fn propagate_limits(ops: &mut [Op]) {
    let mut offset: u16 = 0;
    let mut offset_plus_pat: u16 = 0;
    let mut depth: u16 = 0;
    let mut active = false;
    let mut has_depth = false;
    let mut has_ends_with = false;
    let mut ends_with_depth: u16 = 0;
    let in_u16 = |v: i64| (0..=i64::from(u16::MAX)).contains(&v);

    for (idx, op) in ops.iter_mut().enumerate() {
        match op {
            Op::Content(cd) => {
                let clen = cd.pattern.len() as u16;
                if cd.flags & (DEPTH | OFFSET | WITHIN | DISTANCE) == 0 {
                    offset = 0;
                    depth = 0;
                    offset_plus_pat = clen;
                    active = false;
                    continue;
                }
                if idx == 0
                    && (0..=i32::from(u16::MAX)).contains(&cd.distance)
                    && (0..=i32::from(u16::MAX)).contains(&cd.within)
                {
                    if cd.flags & DISTANCE != 0 {
                        if cd.distance > 0 {
                            cd.flags |= OFFSET;
                        }
                        cd.flags &= !DISTANCE;
                        cd.offset = cd.distance as u16;
                        cd.distance = 0;
                        cd.flags |= DISTANCE2OFFSET;
                    }
                    if cd.flags & WITHIN != 0 {
                        cd.flags |= DEPTH;
                        cd.flags &= !WITHIN;
                        cd.depth = (cd.within as u16).wrapping_add(cd.offset);
                        cd.within = 0;
                        cd.flags |= WITHIN2DEPTH;
                    }
                }
                if cd.flags & NEGATED != 0 {
                    offset = 0;
                    depth = 0;
                    offset_plus_pat = 0;
                    active = false;
                    continue;
                }
                if cd.depth != 0 {
                    has_depth = true;
                    active = true;
                }
                if cd.flags & (DETECT_DEPTH_KEYWORD_ID | WITHIN) == 0 {
                    depth = 0;
                    active = false;
                }
                if cd.flags & DISTANCE == 0 {
                    offset_plus_pat = 0;
                    offset = 0;
                }
                if cd.flags & DISTANCE != 0 {
                    if cd.distance >= 0 {
                        let v = i64::from(offset_plus_pat) + i64::from(cd.distance);
                        if v > i64::from(u16::MAX) {
                            return;
                        }
                        cd.offset = v as u16;
                        offset = cd.offset;
                    } else {
                        if cd.distance.unsigned_abs() > u32::from(offset_plus_pat) {
                            cd.offset = 0;
                        } else {
                            cd.offset = (i32::from(offset_plus_pat) + cd.distance) as u16;
                        }
                        offset = cd.offset;
                        offset_plus_pat = offset.wrapping_add(clen);
                    }
                }
                if active {
                    if offset_plus_pat != 0 && cd.flags & WITHIN != 0 && cd.within >= 0 {
                        if depth != 0 && depth > offset_plus_pat {
                            let dist = if cd.flags & DISTANCE != 0 && cd.distance > 0 {
                                cd.distance
                            } else {
                                0
                            };
                            let v = i64::from(depth) + i64::from(cd.within) + i64::from(dist);
                            if !in_u16(v) {
                                return;
                            }
                            cd.depth = v as u16;
                            depth = cd.depth;
                        } else {
                            if !in_u16(i64::from(depth) + i64::from(cd.within)) {
                                return;
                            }
                            cd.depth = (i64::from(offset) + i64::from(cd.within)) as u16;
                            depth = cd.depth;
                        }
                    } else if cd.depth == 0 && depth != 0 && cd.within > 0 {
                        if cd.flags & DISTANCE != 0 && cd.distance >= 0 {
                            let v = i64::from(offset_plus_pat) + i64::from(cd.distance);
                            if !in_u16(v) {
                                return;
                            }
                            cd.offset = v as u16;
                        }
                        let v = i64::from(depth) + i64::from(cd.within);
                        if !in_u16(v) {
                            return;
                        }
                        cd.depth = v as u16;
                        depth = cd.depth;
                        if cd.flags & ENDS_WITH != 0 {
                            has_ends_with = true;
                            if ends_with_depth == 0 {
                                ends_with_depth = depth;
                            }
                            ends_with_depth = ends_with_depth.min(depth);
                        }
                    }
                }
                if cd.offset == 0 && cd.flags & DISTANCE != 0 && cd.distance >= 0 {
                    cd.offset = offset_plus_pat;
                }
                let kinds = cd.flags & (DEPTH | OFFSET | WITHIN | DISTANCE);
                if (kinds == DISTANCE | WITHIN || kinds == DISTANCE) && cd.distance >= 0 {
                    let v = u32::from(offset_plus_pat) + cd.distance as u32;
                    if v > u32::from(u16::MAX) {
                        return;
                    }
                    cd.offset = v as u16;
                    offset = cd.offset;
                    offset_plus_pat = offset.wrapping_add(clen);
                }
                if cd.flags & OFFSET != 0 {
                    offset = cd.offset;
                    offset_plus_pat = offset.wrapping_add(clen);
                }
                if cd.depth != 0 {
                    depth = cd.depth;
                    offset_plus_pat = offset.wrapping_add(clen);
                    if cd.flags & ENDS_WITH != 0 {
                        has_ends_with = true;
                        if ends_with_depth == 0 {
                            ends_with_depth = depth;
                        }
                        ends_with_depth = ends_with_depth.min(depth);
                    }
                }
                if cd.flags & (WITHIN | DEPTH) == 0 {
                    active = false;
                    depth = 0;
                }
            }
            Op::Pcre(pd) => {
                if pd.relative {
                    depth = 0;
                } else {
                    offset_plus_pat = 0;
                    offset = 0;
                    depth = 0;
                }
                active = false;
            }
            _ => {
                offset_plus_pat = 0;
                offset = 0;
                depth = 0;
                active = false;
            }
        }
    }
    if has_depth && has_ends_with {
        for op in ops.iter_mut() {
            if let Op::Content(cd) = op {
                if cd.depth == 0 {
                    cd.depth = ends_with_depth;
                }
                cd.depth = ends_with_depth.min(cd.depth);
                if cd.depth != 0 {
                    cd.flags |= DEPTH;
                }
            }
        }
    }
}
