//! The matcher: Suricata 7.0.10's content inspection (detect-engine-content-inspection.c)
//! re-implemented on compiled ops. Integer widths and wrap-arounds follow the C code so that the
//! corner cases (negative distance, variables, limits) give the same answers.

use seawall_rules::ast::Uint;

use super::bytes::{extract_binary, extract_string};
use super::regex::{Found, Regex};
use super::{PayloadScratch, INSPECTION_RECURSION_LIMIT};

// Content flags, at the same bit positions as Suricata's DETECT_CONTENT_* (PropagateLimits tests
// `flags & DETECT_DEPTH`, a keyword id, so the low bits must line up).
pub(crate) const NOCASE: u32 = 1 << 0;
pub(crate) const DISTANCE: u32 = 1 << 1;
pub(crate) const WITHIN: u32 = 1 << 2;
pub(crate) const OFFSET: u32 = 1 << 3;
pub(crate) const DEPTH: u32 = 1 << 4;
pub(crate) const FAST_PATTERN: u32 = 1 << 5;
pub(crate) const NEGATED: u32 = 1 << 9;
pub(crate) const ENDS_WITH: u32 = 1 << 10;
pub(crate) const OFFSET_VAR: u32 = 1 << 11;
pub(crate) const DEPTH_VAR: u32 = 1 << 12;
pub(crate) const DISTANCE_VAR: u32 = 1 << 13;
pub(crate) const WITHIN_VAR: u32 = 1 << 14;
pub(crate) const WITHIN_NEXT: u32 = 1 << 17;
pub(crate) const DISTANCE_NEXT: u32 = 1 << 18;
pub(crate) const RELATIVE_NEXT: u32 = WITHIN_NEXT | DISTANCE_NEXT;
pub(crate) const STARTS_WITH: u32 = 1 << 19;
pub(crate) const WITHIN2DEPTH: u32 = 1 << 21;
pub(crate) const DISTANCE2OFFSET: u32 = 1 << 22;
/// Suricata's `DETECT_DEPTH` keyword id in 7.0.10 (used as a flag mask by PropagateLimits).
pub(crate) const DETECT_DEPTH_KEYWORD_ID: u32 = 31;

/// A content in Suricata's internal form: `offset`/`depth`/`distance`/`within` hold a variable slot
/// when the matching `*_VAR` flag is set; `depth` is counted from the buffer start.
#[derive(Debug, Clone)]
pub(crate) struct ContentOp {
    pub pattern: Vec<u8>,
    pub flags: u32,
    pub offset: u16,
    pub depth: u16,
    pub distance: i32,
    pub within: i32,
    pub fast_chop: Option<(u16, u16)>,
    pub searcher: Searcher,
}

impl ContentOp {
    pub fn nocase(&self) -> bool {
        self.flags & NOCASE != 0
    }
    fn is_single(&self) -> bool {
        self.flags & (DISTANCE | WITHIN | RELATIVE_NEXT | DEPTH | OFFSET) == 0
    }
}

/// First-occurrence literal search (Suricata's SPM), case-sensitive or ASCII case-insensitive.
// The finder is big but built once per content and kept inline for the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum Searcher {
    Exact(memchr::memmem::Finder<'static>),
    Nocase { lower: Vec<u8> },
}

impl Searcher {
    pub fn new(pattern: &[u8], nocase: bool) -> Searcher {
        if nocase {
            Searcher::Nocase {
                lower: pattern.to_ascii_lowercase(),
            }
        } else {
            Searcher::Exact(memchr::memmem::Finder::new(pattern).into_owned())
        }
    }

    pub fn find(&self, hay: &[u8]) -> Option<usize> {
        match self {
            Searcher::Exact(f) => f.find(hay),
            Searcher::Nocase { lower } => {
                let n = lower.len();
                if n == 0 || n > hay.len() {
                    return None;
                }
                let first = lower[0];
                let upper = first.to_ascii_uppercase();
                let last_start = hay.len() - n;
                let mut from = 0;
                while from <= last_start {
                    let rel = memchr::memchr2(first, upper, &hay[from..=last_start])?;
                    let at = from + rel;
                    if hay[at..at + n].eq_ignore_ascii_case(lower) {
                        return Some(at);
                    }
                    from = at + 1;
                }
                None
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PcreOp {
    pub regex: Regex,
    pub negated: bool,
    pub relative: bool,
    pub relative_next: bool,
}

/// A number that is a literal or a variable slot.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Val {
    Lit(i64),
    Var(u8),
}

impl Val {
    fn get(self, vars: &[u64]) -> i64 {
        match self {
            Val::Lit(v) => v,
            Val::Var(s) => vars[usize::from(s)] as i64,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Extract {
    /// Binary, little endian when true.
    Binary { little: bool },
    /// String in this base (0 = auto, as strtoull).
    String { base: u32 },
}

#[derive(Debug, Clone)]
pub(crate) struct ByteTestOp {
    pub nbytes: Val,
    pub negated: bool,
    pub op: CmpOp,
    pub value: Val,
    pub offset: Val,
    pub relative: bool,
    pub extract: Extract,
    pub bitmask: Option<(u64, u32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Lt,
    Gt,
    Eq,
    And,
    Or,
    Ge,
    Le,
}

#[derive(Debug, Clone)]
pub(crate) struct ByteJumpOp {
    pub nbytes: Val,
    pub offset: Val,
    pub relative: bool,
    pub extract: Extract,
    pub multiplier: u64,
    pub align: bool,
    pub from_beginning: bool,
    pub from_end: bool,
    pub post_offset: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct ByteExtractOp {
    pub nbytes: u8,
    pub offset: i32,
    pub slot: u8,
    pub relative: bool,
    pub extract: Extract,
    pub multiplier: u64,
    pub align: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MathOp {
    Add,
    Sub,
    Mul,
    Div,
    Shl,
    Shr,
}

#[derive(Debug, Clone)]
pub(crate) struct ByteMathOp {
    pub nbytes: u8,
    pub offset: i32,
    pub oper: MathOp,
    pub rvalue: Val,
    pub slot: u8,
    pub relative: bool,
    pub extract: Extract,
    pub bitmask: Option<(u64, u32)>,
}

#[derive(Debug, Clone)]
pub(crate) struct IsdataatOp {
    pub negated: bool,
    pub value: Val,
    pub relative: bool,
}

// Ops live in one Vec per program; inline contents avoid a pointer chase per inspection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Content(ContentOp),
    Pcre(PcreOp),
    ByteTest(ByteTestOp),
    ByteJump(ByteJumpOp),
    ByteExtract(ByteExtractOp),
    ByteMath(ByteMathOp),
    Isdataat(IsdataatOp),
    Bsize(Uint),
    Urilen(Uint),
}

pub(crate) fn run(ops: &[Op], buf: &[u8], st: &mut PayloadScratch) -> bool {
    Inspector { ops, buf }.inspect(0, st)
}

struct Inspector<'a> {
    ops: &'a [Op],
    buf: &'a [u8],
}

impl Inspector<'_> {
    fn len(&self) -> u32 {
        u32::try_from(self.buf.len()).unwrap_or(u32::MAX)
    }

    /// The "match" exit: inspect the next option, or succeed after the last one.
    fn next(&self, i: usize, st: &mut PayloadScratch) -> bool {
        if i + 1 >= self.ops.len() {
            true
        } else {
            self.inspect(i + 1, st)
        }
    }

    fn inspect(&self, i: usize, st: &mut PayloadScratch) -> bool {
        st.calls += 1;
        if st.calls == INSPECTION_RECURSION_LIMIT {
            st.discontinue = true;
            return false;
        }
        match &self.ops[i] {
            Op::Content(cd) => self.content(i, cd, st),
            Op::Pcre(pe) => self.pcre(i, pe, st),
            Op::Isdataat(id) => {
                if self.isdataat(id, st) {
                    self.next(i, st)
                } else {
                    false
                }
            }
            Op::ByteTest(bt) => {
                if self.byte_test(bt, st) {
                    self.next(i, st)
                } else {
                    false
                }
            }
            Op::ByteJump(bj) => {
                if self.byte_jump(bj, st) {
                    self.next(i, st)
                } else {
                    false
                }
            }
            Op::ByteExtract(be) => {
                if self.byte_extract(be, st) {
                    self.next(i, st)
                } else {
                    false
                }
            }
            Op::ByteMath(bm) => {
                if self.byte_math(bm, st) {
                    self.next(i, st)
                } else {
                    false
                }
            }
            Op::Bsize(u) => {
                if u.matches(self.buf.len() as u64) {
                    self.next(i, st)
                } else {
                    // Suricata's bsize returns "can never match" (-1) for every failing mode on
                    // a complete buffer except `!N`.
                    if u.mode != seawall_rules::ast::UintMode::Ne {
                        st.discontinue = true;
                    }
                    false
                }
            }
            Op::Urilen(u) => {
                if u.matches(u64::from(self.len().min(u32::from(u16::MAX)))) {
                    self.next(i, st)
                } else {
                    st.discontinue = true;
                    false
                }
            }
        }
    }

    fn content(&self, i: usize, cd: &ContentOp, st: &mut PayloadScratch) -> bool {
        let buffer_len = self.len();
        let is_last = i + 1 >= self.ops.len();
        let plen = cd.pattern.len() as u32;
        let mut prev_offset: u32 = 0;
        let mut prev_buffer_offset: u32 = st.buffer_offset;
        loop {
            let mut offset: u32;
            let mut depth: u32;
            if cd.flags & (DISTANCE | WITHIN) != 0 {
                offset = prev_buffer_offset;
                depth = buffer_len;
                let mut distance: i32 = cd.distance;
                if cd.flags & DISTANCE != 0 {
                    if cd.flags & DISTANCE_VAR != 0 {
                        distance = st.vars[slot(cd.distance)] as i32;
                    }
                    if distance < 0 && distance.unsigned_abs() > offset {
                        offset = 0;
                    } else {
                        offset = offset.wrapping_add(distance as u32);
                    }
                }
                if cd.flags & WITHIN != 0 {
                    if cd.flags & WITHIN_VAR != 0 {
                        let v = u64::from(prev_buffer_offset)
                            .wrapping_add(st.vars[slot(cd.within)])
                            .wrapping_add(distance as i64 as u64);
                        if (depth as i32) > (v as i32) {
                            depth = v as u32;
                        }
                    } else {
                        let v = prev_buffer_offset
                            .wrapping_add(cd.within as u32)
                            .wrapping_add(distance as u32);
                        if (depth as i32) > (v as i32) {
                            depth = v;
                        }
                    }
                }
                if cd.flags & DEPTH_VAR != 0 {
                    let v = st.vars[usize::from(cd.depth) % super::MAX_VARS];
                    if v.wrapping_add(u64::from(prev_buffer_offset)) < u64::from(depth) {
                        depth = prev_buffer_offset.wrapping_add(v as u32);
                    }
                } else if cd.depth != 0
                    && u32::from(cd.depth).wrapping_add(prev_buffer_offset) < depth
                {
                    depth = prev_buffer_offset.wrapping_add(u32::from(cd.depth));
                }
                if cd.flags & OFFSET_VAR != 0 {
                    let v = st.vars[usize::from(cd.offset) % super::MAX_VARS];
                    if v > u64::from(offset) {
                        offset = v as u32;
                    }
                } else if u32::from(cd.offset) > offset {
                    offset = u32::from(cd.offset);
                }
            } else {
                depth = buffer_len;
                if cd.flags & DEPTH_VAR != 0 {
                    depth = st.vars[usize::from(cd.depth) % super::MAX_VARS] as u32;
                } else if cd.depth != 0 {
                    depth = u32::from(cd.depth);
                }
                offset = if cd.flags & OFFSET_VAR != 0 {
                    st.vars[usize::from(cd.offset) % super::MAX_VARS] as u32
                } else {
                    u32::from(cd.offset)
                };
                prev_buffer_offset = 0;
            }
            // 7.0.10 also adds the offset when the distance came from a variable.
            if cd.flags & (DISTANCE_VAR | OFFSET_VAR | DEPTH_VAR) != 0 {
                depth = depth.wrapping_add(offset);
            }
            if prev_offset != 0 {
                offset = prev_offset;
            }
            if depth > buffer_len {
                depth = buffer_len;
            }
            if offset > depth || depth == 0 {
                return if cd.flags & NEGATED != 0 {
                    self.next(i, st)
                } else {
                    false
                };
            }
            let sbuffer_len = depth - offset;
            let found = if (cd.flags & ENDS_WITH != 0 && depth < buffer_len) || plen > sbuffer_len {
                None
            } else {
                cd.searcher
                    .find(&self.buf[offset as usize..depth as usize])
                    .map(|p| p as u32 + offset)
            };
            let Some(at) = found else {
                if cd.flags & NEGATED == 0 {
                    if cd.flags & (DISTANCE | WITHIN) == 0 {
                        st.discontinue = true;
                    }
                    return false;
                }
                return self.next(i, st);
            };
            let match_offset = at + plen;
            if cd.flags & NEGATED != 0 {
                if cd.flags & ENDS_WITH != 0 && sbuffer_len != match_offset {
                    return self.next(i, st);
                }
                if cd.is_single() {
                    st.discontinue = true;
                }
                return false;
            }
            st.buffer_offset = match_offset;
            if cd.flags & ENDS_WITH == 0 || match_offset == buffer_len {
                if is_last {
                    return true;
                }
                if self.inspect(i + 1, st) {
                    return true;
                }
                if st.discontinue {
                    return false;
                }
                if cd.flags & WITHIN_NEXT == 0 {
                    st.discontinue = true;
                    return false;
                }
            }
            prev_offset = match_offset - (plen - 1);
        }
    }

    fn pcre(&self, i: usize, pe: &PcreOp, st: &mut PayloadScratch) -> bool {
        let prev_buffer_offset = st.buffer_offset;
        st.pcre_start = 0;
        loop {
            if !self.pcre_match(pe, st) {
                return false;
            }
            if !pe.relative_next {
                return self.next(i, st);
            }
            let prev_offset = st.pcre_start;
            if self.next(i, st) {
                return true;
            }
            if st.discontinue {
                return false;
            }
            if prev_offset == 0 {
                return false;
            }
            st.buffer_offset = prev_buffer_offset;
            st.pcre_start = prev_offset;
        }
    }

    fn pcre_match(&self, pe: &PcreOp, st: &mut PayloadScratch) -> bool {
        let base = if pe.relative {
            st.buffer_offset as usize
        } else {
            0
        };
        let Some(subject) = self.buf.get(base..) else {
            return false;
        };
        let start = if st.pcre_start != 0 {
            match (st.pcre_start as usize).checked_sub(base) {
                Some(s) => s,
                None => return false,
            }
        } else {
            0
        };
        match pe.regex.find_at(subject, start) {
            Found::Error => false,
            Found::NoMatch => pe.negated,
            Found::At(s, e) => {
                if pe.negated {
                    return false;
                }
                st.buffer_offset = (base + e) as u32;
                st.pcre_start = (base + s + 1) as u32;
                true
            }
        }
    }

    fn isdataat(&self, id: &IsdataatOp, st: &PayloadScratch) -> bool {
        let dataat: u64 = match id.value {
            Val::Lit(v) => v as u64,
            Val::Var(s) => {
                let v = st.vars[usize::from(s)];
                if v >= 100_000_000 {
                    return id.negated;
                }
                v
            }
        };
        let len = u64::from(self.len());
        let present = if id.relative {
            u64::from(st.buffer_offset) + dataat <= len
        } else {
            dataat < len
        };
        present != id.negated
    }

    /// Where a byte keyword reads: `(start, remaining)` in C `int32` terms, or None for "no match".
    fn locate(
        &self,
        relative: bool,
        offset: i64,
        nbytes: i64,
        st: &PayloadScratch,
    ) -> Option<usize> {
        let len = i64::from(self.len());
        let (pos, remaining) = if relative {
            let pos = i64::from(st.buffer_offset) + offset;
            let rem = len - pos;
            if rem <= 0 {
                return None;
            }
            (pos, rem)
        } else {
            (offset, len - offset)
        };
        if pos < 0 || nbytes > remaining {
            return None;
        }
        Some(pos as usize)
    }

    fn read(&self, at: usize, nbytes: usize, how: Extract) -> Option<(u64, usize)> {
        // A string read of 0 bytes is Suricata's strtoull on the unterminated buffer: it reads
        // digits up to the first non-digit; here the buffer end also stops it.
        let end = match how {
            Extract::String { .. } if nbytes == 0 => self.buf.len(),
            _ => at.checked_add(nbytes)?,
        };
        let bytes = self.buf.get(at..end)?;
        match how {
            Extract::Binary { little } => {
                if nbytes > 8 {
                    return None;
                }
                Some((extract_binary(bytes, little), nbytes))
            }
            Extract::String { base } => extract_string(bytes, base),
        }
    }

    fn byte_test(&self, bt: &ByteTestOp, st: &PayloadScratch) -> bool {
        if self.buf.is_empty() {
            return false;
        }
        let nbytes = bt.nbytes.get(&st.vars) as i32;
        let string = matches!(bt.extract, Extract::String { .. });
        if nbytes < 0 || !((string && nbytes <= 23) || nbytes <= 8) {
            return false;
        }
        let offset = bt.offset.get(&st.vars) as i32;
        let Some(at) = self.locate(bt.relative, i64::from(offset), i64::from(nbytes), st) else {
            return false;
        };
        let Some((mut val, _)) = self.read(at, nbytes as usize, bt.extract) else {
            return false;
        };
        if let Some((mask, shift)) = bt.bitmask {
            val &= mask;
            if val != 0 && shift != 0 {
                val >>= shift;
            }
        }
        let value = bt.value.get(&st.vars) as u64;
        let m = match bt.op {
            CmpOp::Eq => val == value,
            CmpOp::Lt => val < value,
            CmpOp::Gt => val > value,
            CmpOp::And => val & value != 0,
            CmpOp::Or => val ^ value != 0,
            CmpOp::Ge => val >= value,
            CmpOp::Le => val <= value,
        };
        m != bt.negated
    }

    fn byte_jump(&self, bj: &ByteJumpOp, st: &mut PayloadScratch) -> bool {
        if self.buf.is_empty() {
            return false;
        }
        let nbytes = bj.nbytes.get(&st.vars) as i32;
        let string = matches!(bj.extract, Extract::String { .. });
        if nbytes < 0 || !((string && nbytes <= 23) || nbytes <= 8) {
            return false;
        }
        let offset = i64::from(bj.offset.get(&st.vars) as i32);
        let len = i64::from(self.len());
        let mut pos = offset;
        let mut rem = len - offset;
        if bj.relative {
            pos += i64::from(st.buffer_offset);
            rem -= i64::from(st.buffer_offset);
            if nbytes != 0 && rem <= 0 {
                return false;
            }
        }
        if pos < 0 || i64::from(nbytes) > rem {
            return false;
        }
        let (val, extbytes) = if nbytes == 0 && !string {
            (0, 0)
        } else {
            match self.read(pos as usize, nbytes as usize, bj.extract) {
                Some(v) => v,
                None => return false,
            }
        };
        let mut val = val.wrapping_mul(bj.multiplier);
        if bj.align && val % 4 != 0 {
            val = val.wrapping_add(4 - val % 4);
        }
        val = val.wrapping_add(bj.post_offset as u64);
        let sval = val as i64;
        let jump = if bj.from_beginning {
            sval
        } else if bj.from_end {
            len.wrapping_add(sval)
        } else {
            pos.wrapping_add(sval).wrapping_add(extbytes as i64)
        };
        let jump = if jump < 0 {
            0
        } else if jump > len {
            return false;
        } else {
            jump
        };
        st.buffer_offset = jump as u32;
        true
    }

    fn byte_extract(&self, be: &ByteExtractOp, st: &mut PayloadScratch) -> bool {
        if self.buf.is_empty() {
            return false;
        }
        let Some(at) = self.locate(be.relative, i64::from(be.offset), i64::from(be.nbytes), st)
        else {
            return false;
        };
        let Some((val, extbytes)) = self.read(at, usize::from(be.nbytes), be.extract) else {
            return false;
        };
        let mut val = val.wrapping_mul(be.multiplier);
        if be.align > 1 && val % be.align != 0 {
            val = val.wrapping_add(be.align - val % be.align);
        }
        st.buffer_offset = (at + extbytes) as u32;
        st.vars[usize::from(be.slot)] = val;
        true
    }

    fn byte_math(&self, bm: &ByteMathOp, st: &mut PayloadScratch) -> bool {
        if self.buf.is_empty() {
            return false;
        }
        // Suricata passes the buffer length as a uint16_t here.
        let len16 = self.buf.len() as u16;
        let string = matches!(bm.extract, Extract::String { .. });
        let nbytes = i64::from(bm.nbytes);
        if nbytes < 1 || !((string && nbytes <= 10) || nbytes <= 4) {
            return false;
        }
        let len = i64::from(len16);
        let (pos, rem) = if bm.relative {
            let pos = i64::from(st.buffer_offset) + i64::from(bm.offset);
            (pos, len - pos)
        } else {
            (i64::from(bm.offset), len - i64::from(bm.offset))
        };
        if bm.relative && rem <= 0 {
            return false;
        }
        if pos < 0 || nbytes > rem {
            return false;
        }
        let Some((mut val, extbytes)) = self.read(pos as usize, bm.nbytes as usize, bm.extract)
        else {
            return false;
        };
        let rvalue = bm.rvalue.get(&st.vars) as u64;
        val = match bm.oper {
            MathOp::Add => val.wrapping_add(rvalue),
            MathOp::Sub => val.wrapping_sub(rvalue),
            MathOp::Mul => val.wrapping_mul(rvalue),
            MathOp::Div => {
                if rvalue == 0 {
                    return false;
                }
                val / rvalue
            }
            MathOp::Shl => {
                if rvalue < 64 {
                    val << rvalue
                } else {
                    0
                }
            }
            MathOp::Shr => val.checked_shr(rvalue as u32).unwrap_or(0),
        };
        st.buffer_offset = (pos as usize + extbytes) as u32;
        if let Some((mask, shift)) = bm.bitmask {
            val &= mask;
            if val != 0 && shift != 0 {
                val >>= shift;
            }
        }
        st.vars[usize::from(bm.slot)] = val;
        true
    }
}

fn slot(v: i32) -> usize {
    (v as usize) % super::MAX_VARS
}
