//! Both backends agree with a naive matcher (and so with each other) on random inputs.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn naive(patterns: &[(u32, Vec<u8>, bool)], hay: &[u8]) -> BTreeMap<u32, usize> {
    let mut out = BTreeMap::new();
    for (id, p, nocase) in patterns {
        let hit = hay.windows(p.len()).any(|w| {
            if *nocase {
                w.eq_ignore_ascii_case(p)
            } else {
                w == p.as_slice()
            }
        });
        if hit {
            *out.entry(*id).or_insert(0) += 1;
        }
    }
    out
}

fn run(kind: MpmKind, patterns: &[(u32, Vec<u8>, bool)], hay: &[u8]) -> BTreeMap<u32, usize> {
    let mut b = MpmBuilder::new();
    for (id, p, nocase) in patterns {
        b.add(*id, p, *nocase);
    }
    let m = b.build(kind).expect("builds");
    let mut s = m.new_scratch();
    let mut out = BTreeMap::new();
    // Twice with the same scratch: the second scan must not remember the first.
    for round in 0..2 {
        let mut seen = BTreeMap::new();
        m.scan(hay, &mut s, &mut |id| *seen.entry(id).or_insert(0) += 1);
        if round == 0 {
            out = seen;
        } else {
            assert_eq!(out, seen, "{kind:?}: scratch reuse changed the result");
        }
    }
    out
}

#[test]
fn basic_both_backends() {
    let pats = vec![
        (1, b"abc".to_vec(), false),
        (2, b"ABC".to_vec(), true),
        (3, b"\x00\xff".to_vec(), false),
        (4, b"zz".to_vec(), false),
        (1, b"bc".to_vec(), false),
    ];
    let hay = b"xxaBcxabc\x00\xffyy";
    for kind in [MpmKind::Hyperscan, MpmKind::AhoCorasick] {
        let got = run(kind, &pats, hay);
        assert_eq!(got, BTreeMap::from([(1, 2), (2, 1), (3, 1)]), "{kind:?}");
    }
}

#[test]
fn repeated_patterns_compile_once_and_report_every_id() {
    let pats = vec![
        (1, b"abc".to_vec(), false),
        (2, b"abc".to_vec(), false),
        (1, b"abc".to_vec(), false),
        (3, b"abc".to_vec(), true),
        (4, b"zz".to_vec(), false),
    ];
    for kind in [MpmKind::Hyperscan, MpmKind::AhoCorasick] {
        let mut b = MpmBuilder::new();
        for (id, p, nocase) in &pats {
            b.add(*id, p, *nocase);
        }
        let m = b.build(kind).expect("builds");
        assert_eq!((m.len(), m.distinct()), (5, 3), "{kind:?}");
        let got = run(kind, &pats, b"xxabcxx");
        assert_eq!(got, BTreeMap::from([(1, 2), (2, 1), (3, 1)]), "{kind:?}");
        assert_eq!(got, naive(&pats, b"xxabcxx"));
    }
}

#[test]
fn empty_matchers_and_patterns() {
    for kind in [MpmKind::Hyperscan, MpmKind::AhoCorasick] {
        assert!(run(kind, &[], b"anything").is_empty());
        let mut b = MpmBuilder::new();
        b.add(7, b"", false);
        assert_eq!(b.build(kind).err(), Some(MpmError::EmptyPattern(7)));
    }
    assert_eq!(
        MpmKind::from_name(MpmKind::AhoCorasick.name()),
        Some(MpmKind::AhoCorasick)
    );
    assert_eq!(
        MpmKind::from_name(MpmKind::Hyperscan.name()),
        Some(MpmKind::Hyperscan)
    );
}

fn pattern() -> impl Strategy<Value = (u32, Vec<u8>, bool)> {
    // A small alphabet with both cases and binary bytes makes overlaps and case folds common.
    let byte = prop::sample::select(vec![b'a', b'A', b'b', b'B', b'z', 0u8, 0xff, b'-']);
    (0u32..20, prop::collection::vec(byte, 1..5), any::<bool>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn backends_agree(
        pats in prop::collection::vec(pattern(), 0..30),
        hay in prop::collection::vec(prop::sample::select(vec![b'a', b'A', b'b', b'B', b'z', 0u8, 0xff, b'-', b'q']), 0..200),
    ) {
        let want = naive(&pats, &hay);
        prop_assert_eq!(&run(MpmKind::AhoCorasick, &pats, &hay), &want);
        prop_assert_eq!(&run(MpmKind::Hyperscan, &pats, &hay), &want);
    }
}
