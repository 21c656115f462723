//! Unsigned integer comparisons (`dsize`, `bsize`, `urilen`, `ttl`, `itype`, ...): `N`, `<N`, `<=N`,
//! `>N`, `>=N`, `!N`, `=N`, `A-B`, `A<>B` (exclusive range), as Suricata's `detect/uint.rs`.

use std::fmt;

use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::character::complete::{digit1, space0};
use nom::combinator::{all_consuming, map_res, opt, value};
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};

use super::KwError;

/// Comparison mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UintMode {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    /// Exclusive range: `a < x < b`.
    Range,
}

/// A comparison against one value (`a`) or a range (`a`, `b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Uint {
    pub mode: UintMode,
    pub a: u64,
    pub b: u64,
}

impl Uint {
    /// Largest value the comparison can accept (for checks such as `bsize` against content length).
    pub fn max_value(&self, type_max: u64) -> u64 {
        match self.mode {
            UintMode::Eq => self.a,
            UintMode::Lt => self.a.saturating_sub(1),
            UintMode::Lte => self.a,
            UintMode::Range => self.b.saturating_sub(1),
            UintMode::Ne | UintMode::Gt | UintMode::Gte => type_max,
        }
    }

    /// Does `v` satisfy the comparison?
    pub fn matches(&self, v: u64) -> bool {
        match self.mode {
            UintMode::Eq => v == self.a,
            UintMode::Ne => v != self.a,
            UintMode::Lt => v < self.a,
            UintMode::Lte => v <= self.a,
            UintMode::Gt => v > self.a,
            UintMode::Gte => v >= self.a,
            UintMode::Range => v > self.a && v < self.b,
        }
    }
}

impl fmt::Display for Uint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mode {
            UintMode::Eq => write!(f, "{}", self.a),
            UintMode::Ne => write!(f, "!{}", self.a),
            UintMode::Lt => write!(f, "<{}", self.a),
            UintMode::Lte => write!(f, "<={}", self.a),
            UintMode::Gt => write!(f, ">{}", self.a),
            UintMode::Gte => write!(f, ">={}", self.a),
            UintMode::Range => write!(f, "{}<>{}", self.a, self.b),
        }
    }
}

fn num(i: &str) -> IResult<&str, u64> {
    map_res(digit1, str::parse::<u64>).parse(i)
}

fn single(i: &str) -> IResult<&str, Uint> {
    let (i, mode) = opt(alt((
        value(UintMode::Lte, tag("<=")),
        value(UintMode::Gte, tag(">=")),
        value(UintMode::Lt, tag("<")),
        value(UintMode::Gt, tag(">")),
        value(UintMode::Ne, tag("!=")),
        value(UintMode::Ne, tag("!")),
        value(UintMode::Eq, tag("=")),
    )))
    .parse(i)?;
    let (i, a) = preceded(space0, num).parse(i)?;
    Ok((
        i,
        Uint {
            mode: mode.unwrap_or(UintMode::Eq),
            a,
            b: 0,
        },
    ))
}

fn range(i: &str) -> IResult<&str, Uint> {
    let (i, a) = num(i)?;
    let (i, _) = delimited(space0, alt((tag("<>"), tag("-"))), space0).parse(i)?;
    let (i, b) = num(i)?;
    Ok((
        i,
        Uint {
            mode: UintMode::Range,
            a,
            b,
        },
    ))
}

/// Parse a comparison whose values must fit in `max`.
pub fn parse_uint(arg: &str, max: u64) -> Result<Uint, KwError> {
    let s = arg.trim();
    let (_, u) = all_consuming(alt((range, single)))
        .parse(s)
        .map_err(|_| KwError::bad(format!("invalid number or comparison `{s}`")))?;
    if u.a > max || u.b > max {
        return Err(KwError::bad(format!("value out of range (max {max})")));
    }
    match u.mode {
        UintMode::Range if u.a >= u.b => Err(KwError::bad(format!(
            "range {}<>{} is empty: first value must be lower",
            u.a, u.b
        ))),
        UintMode::Range if u.b - u.a < 2 => Err(KwError::bad(format!(
            "range {}<>{} is empty (exclusive bounds)",
            u.a, u.b
        ))),
        UintMode::Lt if u.a == 0 => Err(KwError::bad("`<0` can never match".to_string())),
        UintMode::Gt if u.a == max => Err(KwError::bad(format!("`>{max}` can never match"))),
        _ => Ok(u),
    }
}

/// Parse a plain unsigned number (decimal, or hex with `0x`) no larger than `max`.
pub fn parse_u64(arg: &str, max: u64) -> Result<u64, KwError> {
    let s = arg.trim();
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<u64>().ok()
    } else {
        None
    };
    match v {
        Some(v) if v <= max => Ok(v),
        Some(_) => Err(KwError::bad(format!("`{s}` out of range (max {max})"))),
        None => Err(KwError::bad(format!("`{s}` is not a number"))),
    }
}

/// Parse a signed decimal number within `min..=max`.
pub fn parse_i64(arg: &str, min: i64, max: i64) -> Result<i64, KwError> {
    let s = arg.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(KwError::bad(format!("`{s}` is not a number")));
    }
    match s.parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(KwError::bad(format!("`{s}` out of range ({min}..={max})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let p = |s| parse_uint(s, 255).map(|u| u.to_string());
        assert_eq!(p("5").as_deref(), Ok("5"));
        assert_eq!(p(" >= 5").as_deref(), Ok(">=5"));
        assert_eq!(p("<5").as_deref(), Ok("<5"));
        assert_eq!(p("!5").as_deref(), Ok("!5"));
        assert_eq!(p("1-10").as_deref(), Ok("1<>10"));
        assert_eq!(p("1<>10").as_deref(), Ok("1<>10"));
        assert!(p("10<>1").is_err());
        assert!(p("256").is_err());
        assert!(p("<0").is_err());
        assert!(p("x").is_err());
        assert!(p("").is_err());
        assert!(p("5,").is_err());
    }

    #[test]
    fn matching() {
        let u = parse_uint("3<>6", 255).expect("valid");
        assert!(!u.matches(3) && u.matches(4) && u.matches(5) && !u.matches(6));
        assert_eq!(u.max_value(255), 5);
    }
}
