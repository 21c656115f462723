//! Address index of the IP-only rules, built at compile time (Suricata keeps a radix tree for
//! the same purpose): instead of testing every IP-only rule's address sets on each new flow
//! direction, one binary search per address and family finds the rules whose narrower side
//! contains it. The index only removes rules that cannot match (their keyed side does not
//! contain the address); the candidates are still evaluated in full, in rule order.

use seawall_rules::vars::Intervals;

/// A side's addresses for one family, as given to [`IpOnlyIndex::build`]: `None` = any address.
pub(crate) type Side<'a> = Option<&'a Intervals>;

/// Rules keyed on one side (source or destination) of one family.
#[derive(Debug, Default)]
struct SegMap {
    /// Start of each elementary segment, ascending; the first is 0 when not empty.
    starts: Vec<u128>,
    /// `rules[ends[i-1]..ends[i]]` are the rules of segment `i`.
    ends: Vec<u32>,
    rules: Vec<u32>,
}

impl SegMap {
    fn build(keyed: &[(u32, &Intervals)]) -> SegMap {
        if keyed.is_empty() {
            return SegMap::default();
        }
        let mut starts: Vec<u128> = vec![0];
        for (_, iv) in keyed {
            for &(a, b) in &iv.0 {
                starts.push(a);
                if let Some(e) = b.checked_add(1) {
                    starts.push(e);
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let mut per: Vec<Vec<u32>> = vec![Vec::new(); starts.len()];
        for &(n, iv) in keyed {
            for &(a, b) in &iv.0 {
                let first = starts.partition_point(|&s| s < a);
                let last = starts.partition_point(|&s| s <= b);
                for l in &mut per[first..last] {
                    l.push(n);
                }
            }
        }
        let mut ends = Vec::with_capacity(per.len());
        let mut rules = Vec::new();
        for mut l in per {
            l.sort_unstable();
            l.dedup();
            rules.extend_from_slice(&l);
            ends.push(rules.len() as u32);
        }
        SegMap {
            starts,
            ends,
            rules,
        }
    }

    fn lookup(&self, a: u128) -> &[u32] {
        let i = self.starts.partition_point(|&s| s <= a);
        if i == 0 {
            return &[];
        }
        let lo = if i >= 2 { self.ends[i - 2] as usize } else { 0 };
        let hi = self.ends[i - 1] as usize;
        self.rules.get(lo..hi).unwrap_or(&[])
    }

    fn entries(&self) -> usize {
        self.rules.len()
    }
}

/// Per family (0 = IPv4, 1 = IPv6): rules to evaluate whatever the addresses, and the rules
/// keyed on the source and on the destination.
#[derive(Debug, Default)]
pub(crate) struct IpOnlyIndex {
    always: [Vec<u32>; 2],
    src: [SegMap; 2],
    dst: [SegMap; 2],
}

/// A side is worth keying when it covers at most this fraction (1/2^k) of the family's space.
const KEY_SHIFT: [u32; 2] = [4, 8];
/// Above this many entries the index of a family falls back to evaluating every rule.
const MAX_ENTRIES: usize = 4 << 20;

fn coverage(iv: &Intervals) -> u128 {
    iv.0.iter().fold(0u128, |acc, &(a, b)| {
        acc.saturating_add((b - a).saturating_add(1))
    })
}

impl IpOnlyIndex {
    /// `rules`: per IP-only rule (ascending), its number and, per family, its (source,
    /// destination) sides.
    pub(crate) fn build<'a>(rules: &[(u32, [(Side<'a>, Side<'a>); 2])]) -> IpOnlyIndex {
        let mut idx = IpOnlyIndex::default();
        for fam in 0..2 {
            let limit: u128 = if fam == 0 {
                (u128::from(u32::MAX) + 1) >> KEY_SHIFT[0]
            } else {
                u128::MAX >> KEY_SHIFT[1]
            };
            let mut always = Vec::new();
            let mut by_src: Vec<(u32, &Intervals)> = Vec::new();
            let mut by_dst: Vec<(u32, &Intervals)> = Vec::new();
            for (n, fams) in rules {
                let (s, d) = fams[fam];
                // An empty side can never match in this family.
                if s.is_some_and(|i| i.0.is_empty()) || d.is_some_and(|i| i.0.is_empty()) {
                    continue;
                }
                let cs = s.map_or(u128::MAX, coverage);
                let cd = d.map_or(u128::MAX, coverage);
                match (s, d) {
                    (Some(si), _) if cs <= cd && cs <= limit => by_src.push((*n, si)),
                    (_, Some(di)) if cd <= limit => by_dst.push((*n, di)),
                    _ => always.push(*n),
                }
            }
            let src = SegMap::build(&by_src);
            let dst = SegMap::build(&by_dst);
            if src.entries() + dst.entries() > MAX_ENTRIES {
                let mut all: Vec<u32> = always;
                all.extend(by_src.iter().map(|(n, _)| *n));
                all.extend(by_dst.iter().map(|(n, _)| *n));
                all.sort_unstable();
                idx.always[fam] = all;
            } else {
                idx.always[fam] = always;
                idx.src[fam] = src;
                idx.dst[fam] = dst;
            }
        }
        idx
    }

    /// The IP-only rules that may match a packet from `src` to `dst`, ascending, into `out`.
    pub(crate) fn candidates(
        &self,
        src: core::net::IpAddr,
        dst: core::net::IpAddr,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        let (fam, s, d) = match (src, dst) {
            (core::net::IpAddr::V4(s), core::net::IpAddr::V4(d)) => {
                (0, u128::from(u32::from(s)), u128::from(u32::from(d)))
            }
            (core::net::IpAddr::V6(s), core::net::IpAddr::V6(d)) => {
                (1, u128::from(s), u128::from(d))
            }
            // Mixed families cannot come from one IP header; keep the exhaustive path.
            _ => {
                for f in 0..2 {
                    out.extend_from_slice(&self.always[f]);
                    out.extend_from_slice(&self.src[f].rules);
                    out.extend_from_slice(&self.dst[f].rules);
                }
                out.sort_unstable();
                out.dedup();
                return;
            }
        };
        out.extend_from_slice(&self.always[fam]);
        out.extend_from_slice(self.src[fam].lookup(s));
        out.extend_from_slice(self.dst[fam].lookup(d));
        out.sort_unstable();
        out.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(v: &[(u128, u128)]) -> Intervals {
        Intervals(v.to_vec())
    }

    #[test]
    fn keyed_rules_found_only_inside_their_sets() {
        let a = iv(&[(10, 20), (100, 100)]);
        let b = iv(&[(15, 30)]);
        let home = iv(&[(1000, 1_000_000)]);
        let rules = vec![
            (0u32, [(Some(&a), None), (None, None)]),
            (1, [(None, Some(&b)), (None, None)]),
            (2, [(None, None), (None, None)]),
            (3, [(Some(&home), Some(&b)), (None, None)]),
        ];
        let idx = IpOnlyIndex::build(&rules);
        let v4 = |x: u32| core::net::IpAddr::V4(x.into());
        let mut out = Vec::new();
        idx.candidates(v4(16), v4(5), &mut out);
        assert_eq!(out, vec![0, 2]);
        idx.candidates(v4(5), v4(16), &mut out);
        assert_eq!(out, vec![1, 2, 3]);
        idx.candidates(v4(100), v4(30), &mut out);
        assert_eq!(out, vec![0, 1, 2, 3]);
        idx.candidates(v4(101), v4(31), &mut out);
        assert_eq!(out, vec![2]);
        // IPv6 packets: rule 2 and the v6 "any" sides of the others.
        let v6 = core::net::IpAddr::V6(core::net::Ipv6Addr::LOCALHOST);
        idx.candidates(v6, v6, &mut out);
        assert_eq!(out, vec![0, 1, 2, 3]);
    }

    #[test]
    fn empty_side_never_a_candidate() {
        let e = iv(&[]);
        let rules = vec![(7u32, [(Some(&e), None), (None, None)])];
        let idx = IpOnlyIndex::build(&rules);
        let mut out = Vec::new();
        let v4 = core::net::IpAddr::V4(core::net::Ipv4Addr::LOCALHOST);
        idx.candidates(v4, v4, &mut out);
        assert!(out.is_empty());
    }
}
