//! Table-driven semantics tests: `t!(name, rule options, payload, expected match)`.
//!
//! Every row is also a case of the differential test against Suricata 7 (`oracle_agrees`): all
//! rows become one rule file (one UDP destination port per row) and one capture (one packet per
//! row), and Suricata's alerts must be exactly the rows expected to match.

use seawall_rules::ast::RuleOption;

use super::*;

/// (name, options, payload, expected)
type Case = (&'static str, &'static str, &'static [u8], bool);

fn program(opts: &str) -> PayloadProgram {
    let text = format!("alert udp any any -> any any ({opts} sid:1;)");
    let rule = seawall_rules::parse_rule(&text).unwrap_or_else(|d| panic!("{text}: {d:?}"));
    let o: Vec<&RuleOption> = rule.options.iter().collect();
    PayloadProgram::compile(&o).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// What the engine does with one single-buffer rule: Suricata's negated-mpm drop, then the
/// full inspection.
fn rule_matches(p: &PayloadProgram, payload: &[u8], s: &mut PayloadScratch) -> bool {
    !p.negated_mpm_hit(payload) && p.matches(payload, s)
}

fn check(opts: &str, payload: &[u8], want: bool) {
    let p = program(opts);
    let mut s = PayloadScratch::new();
    for _ in 0..2 {
        assert_eq!(
            rule_matches(&p, payload, &mut s),
            want,
            "{opts} on {:?}",
            String::from_utf8_lossy(payload)
        );
    }
}

macro_rules! table {
    ($( t!($name:ident, $opts:expr, $payload:expr, $want:expr); )*) => {
        $( #[test] fn $name() { check($opts, $payload, $want) } )*
        const CASES: &[Case] = &[ $( (stringify!($name), $opts, $payload, $want), )* ];
    };
}

table! {
    // content and its absolute modifiers
    t!(content_found, r#"content:"abc";"#, b"xxabcxx", true);
    t!(content_missing, r#"content:"abd";"#, b"xxabcxx", false);
    t!(content_hex, r#"content:"|00 ff|x";"#, b"a\x00\xffxb", true);
    t!(content_case_sensitive, r#"content:"ABC";"#, b"xabcx", false);
    t!(nocase, r#"content:"ABC"; nocase;"#, b"xabcx", true);
    t!(rawbytes_is_noop, r#"content:"abc"; rawbytes;"#, b"abc", true);
    t!(depth_inside, r#"content:"abc"; depth:4;"#, b"xabc", true);
    t!(depth_outside, r#"content:"abc"; depth:4;"#, b"xxabc", false);
    t!(offset_skips_first, r#"content:"abc"; offset:2;"#, b"xabcabc", true);
    t!(offset_too_far, r#"content:"abc"; offset:2;"#, b"xabc", false);
    t!(offset_depth_window, r#"content:"abc"; offset:1; depth:3;"#, b"xabc", true);
    t!(offset_depth_counts_from_offset, r#"content:"abc"; offset:1; depth:3;"#, b"xxabc", false);
    t!(startswith_yes, r#"content:"GET"; startswith;"#, b"GET /", true);
    t!(startswith_no, r#"content:"GET"; startswith;"#, b" GET /", false);
    t!(endswith_yes, r#"content:"end"; endswith;"#, b"the end", true);
    t!(endswith_no, r#"content:"end"; endswith;"#, b"end.", false);
    t!(endswith_later_occurrence, r#"content:"end"; endswith;"#, b"end end", true);
    t!(startswith_endswith_exact, r#"content:"abc"; startswith; endswith;"#, b"abc", true);
    t!(startswith_endswith_longer, r#"content:"abc"; startswith; endswith;"#, b"abcabc", false);
    // relative contents
    t!(distance_one_no, r#"content:"a"; content:"b"; distance:1;"#, b"ab", false);
    t!(distance_one_yes, r#"content:"a"; content:"b"; distance:1;"#, b"axb", true);
    t!(within_yes, r#"content:"a"; content:"b"; within:2;"#, b"axb", true);
    t!(within_no, r#"content:"a"; content:"b"; within:2;"#, b"axxb", false);
    t!(distance_within_exact, r#"content:"a"; content:"b"; distance:1; within:1;"#, b"axb", true);
    t!(distance_within_too_close, r#"content:"a"; content:"b"; distance:1; within:1;"#, b"ab", false);
    t!(distance_within_too_far, r#"content:"a"; content:"b"; distance:1; within:1;"#, b"axxb", false);
    t!(negative_distance, r#"content:"bc"; content:"a"; distance:-3; within:1;"#, b"abc", true);
    t!(negative_distance_clamps, r#"content:"b"; content:"a"; distance:-5; within:2;"#, b"ab", true);
    t!(first_content_distance_is_offset, r#"content:"a"; distance:2;"#, b"aba", true);
    t!(first_content_distance_no, r#"content:"a"; distance:2;"#, b"abb", false);
    t!(first_content_within_is_depth, r#"content:"a"; within:2;"#, b"xab", true);
    t!(first_content_within_no, r#"content:"a"; within:2;"#, b"xxa", false);
    // backtracking: a failed relative match retries the earlier content at its next occurrence
    t!(backtrack_two, r#"content:"a"; content:"b"; distance:0; within:1;"#, b"aab", true);
    t!(backtrack_two_spaced, r#"content:"a"; content:"b"; distance:0; within:1;"#, b"a ab", true);
    t!(backtrack_none, r#"content:"a"; content:"b"; distance:0; within:1;"#, b"a a b", false);
    t!(backtrack_three, r#"content:"a"; content:"b"; distance:0; within:1; content:"c"; distance:0; within:1;"#, b"abxabc", true);
    t!(backtrack_middle, r#"content:"a"; content:"b"; distance:0; content:"c"; distance:0; within:1;"#, b"abxbc", true);
    t!(backtrack_after_endswith, r#"content:"a"; content:"b"; distance:0; endswith;"#, b"ab ab", true);
    t!(distance_only_no_retry_needed, r#"content:"a"; content:"b"; distance:0;"#, b"bab", true);
    // negation
    t!(negated_absent, r#"content:!"evil";"#, b"good", true);
    t!(negated_present, r#"content:!"evil";"#, b"so evil", false);
    t!(negated_with_depth_outside, r#"content:!"evil"; depth:4;"#, b"so evil", true);
    t!(negated_within_follows, r#"content:"a"; content:!"b"; within:1;"#, b"ab", false);
    t!(negated_within_other, r#"content:"a"; content:!"b"; within:1;"#, b"ac", true);
    t!(negated_within_retries, r#"content:"a"; content:!"b"; within:1;"#, b"abac", true);
    t!(negated_distance_retries, r#"content:"a"; content:!"b"; distance:0;"#, b"ab a", true);
    t!(negated_distance_all_followed, r#"content:"a"; content:!"b"; distance:0;"#, b"aab", false);
    t!(negated_and_positive, r#"content:"GET"; content:!"Host";"#, b"GET / HTTP/1.0", true);
    // A rule whose only content is negated is dropped when its literal occurs at all (Suricata's
    // negated-mpm merge), before `endswith` is looked at...
    t!(negated_mpm_endswith, r#"content:!"x"; endswith;"#, b"axb", false);
    t!(negated_mpm_absent, r#"content:!"x"; endswith;"#, b"abc", true);
    // ...but with a positive content the inspection decides: present, not at the end = match.
    t!(negated_endswith, r#"content:"a"; content:!"x"; endswith;"#, b"axb", true);
    t!(negated_mpm_depth_outside, r#"content:!"x"; depth:2;"#, b"abx", true);
    // A negated literal with offset/depth is not "conclusive": never in the prefilter.
    t!(negated_mpm_offset_window, r#"content:!"x"; offset:2; depth:1;"#, b"xxbx", true);
    t!(negated_mpm_offset_window_clear, r#"content:!"x"; offset:2; depth:1;"#, b"xxbbbx", true);
    t!(negated_endswith_at_end, r#"content:"a"; content:!"x"; endswith;"#, b"abx", false);
    // isdataat
    t!(isdataat_abs_short, r#"isdataat:3;"#, b"abc", false);
    t!(isdataat_abs_long, r#"isdataat:3;"#, b"abcd", true);
    t!(isdataat_rel_boundary, r#"content:"a"; isdataat:2,relative;"#, b"abc", true);
    t!(isdataat_rel_short, r#"content:"a"; isdataat:2,relative;"#, b"ab", false);
    t!(isdataat_negated_abs, r#"isdataat:!10;"#, b"abc", true);
    t!(isdataat_not1_is_endswith, r#"content:"a"; isdataat:!1,relative;"#, b"xa", true);
    t!(isdataat_not1_is_endswith_no, r#"content:"a"; isdataat:!1,relative;"#, b"ax", false);
    t!(isdataat_not1_backtracks, r#"content:"a"; isdataat:!1,relative;"#, b"axa", true);
    t!(isdataat_not2_rel, r#"content:"a"; isdataat:!2,relative;"#, b"ab", true);
    t!(isdataat_not2_rel_more, r#"content:"a"; isdataat:!2,relative;"#, b"abc", false);
    // pcre
    t!(pcre_plain, r#"pcre:"/a.c/";"#, b"xabcx", true);
    t!(pcre_caseless, r#"pcre:"/A.C/i";"#, b"xabcx", true);
    t!(pcre_no_dotall, r#"pcre:"/a.b/";"#, b"a\nb", false);
    t!(pcre_dotall, r#"pcre:"/a.b/s";"#, b"a\nb", true);
    t!(pcre_no_multiline, r#"pcre:"/^b/";"#, b"a\nb", false);
    t!(pcre_multiline, r#"pcre:"/^b/m";"#, b"a\nb", true);
    t!(pcre_extended, r#"pcre:"/a b/x";"#, b"ab", true);
    t!(pcre_anchored_no, r#"pcre:"/b/A";"#, b"ab", false);
    t!(pcre_anchored_yes, r#"pcre:"/b/A";"#, b"ba", true);
    t!(pcre_dollar, r#"pcre:"/a$/";"#, b"a\n", true);
    t!(pcre_dollar_endonly, r#"pcre:"/a$/E";"#, b"a\n", false);
    t!(pcre_relative_yes, r#"content:"x"; pcre:"/^y/R";"#, b"xy", true);
    t!(pcre_relative_no, r#"content:"x"; pcre:"/^y/R";"#, b"xzy", false);
    t!(pcre_relative_backtracks, r#"content:"x"; pcre:"/^y/R";"#, b"xzxy", true);
    t!(pcre_negated_relative, r#"content:"a"; pcre:!"/b/R";"#, b"ab", false);
    t!(pcre_negated_relative_ok, r#"content:"a"; pcre:!"/b/R";"#, b"ba", true);
    t!(pcre_greedy_then_content, r#"pcre:"/a.+b/"; content:"b"; distance:0;"#, b"axbxb", false);
    t!(pcre_ungreedy_then_content, r#"pcre:"/a.+b/G"; content:"b"; distance:0;"#, b"axbxb", true);
    t!(pcre_retried_for_next, r#"pcre:"/a./"; content:"z"; within:1;"#, b"axbayz", true);
    t!(pcre_match_limit, r#"pcre:"/(a+)+$/";"#, b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", false);
    t!(pcre_negated_match_limit, r#"pcre:!"/(a+)+$/";"#, b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", false);
    // byte_test
    t!(byte_test_big, r#"byte_test:2,=,258,0;"#, b"\x01\x02", true);
    t!(byte_test_little, r#"byte_test:2,=,513,0,little;"#, b"\x01\x02", true);
    t!(byte_test_short, r#"byte_test:4,>,0,0;"#, b"\x01\x02", false);
    t!(byte_test_relative_gt, r#"content:"a"; byte_test:1,>,5,0,relative;"#, b"a\x06", true);
    t!(byte_test_relative_not_gt, r#"content:"a"; byte_test:1,>,5,0,relative;"#, b"a\x05", false);
    t!(byte_test_relative_at_end, r#"content:"a"; byte_test:1,>,5,0,relative;"#, b"xa", false);
    t!(byte_test_lt, r#"byte_test:1,<,5,0;"#, b"\x04", true);
    t!(byte_test_le, r#"byte_test:1,<=,4,0;"#, b"\x04", true);
    t!(byte_test_ge, r#"byte_test:1,>=,5,0;"#, b"\x04", false);
    t!(byte_test_and, r#"byte_test:1,&,1,0;"#, b"\x03", true);
    t!(byte_test_and_none, r#"byte_test:1,&,4,0;"#, b"\x03", false);
    t!(byte_test_or_is_xor, r#"byte_test:1,^,3,0;"#, b"\x03", false);
    t!(byte_test_negated, r#"byte_test:1,!=,3,0;"#, b"\x04", true);
    t!(byte_test_bitmask_shift, r#"byte_test:1,=,3,0,bitmask 0x0c;"#, b"\x0c", true);
    t!(byte_test_string_dec, r#"byte_test:3,=,123,0,string,dec;"#, b"123", true);
    t!(byte_test_string_hex, r#"byte_test:2,=,255,0,string,hex;"#, b"ff", true);
    t!(byte_test_string_oct, r#"byte_test:3,=,8,0,string,oct;"#, b"010", true);
    t!(byte_test_string_auto_hex, r#"byte_test:4,=,16,0,string;"#, b"0x10", true);
    t!(byte_test_string_auto_oct, r#"byte_test:3,=,8,0,string;"#, b"010", true);
    t!(byte_test_string_partial, r#"byte_test:4,=,12,0,string,dec;"#, b"12ab", true);
    t!(byte_test_string_none, r#"byte_test:2,=,0,0,string,dec;"#, b"ab", false);
    t!(byte_test_string_to_end, r#"content:"n="; byte_test:0,=,42,0,relative,string,dec;"#, b"n=42", true);
    t!(byte_test_string_to_end_stops, r#"content:"n="; byte_test:0,<,100,0,relative,string,dec;"#, b"n=42x999", true);
    t!(byte_test_string_space, r#"byte_test:3,=,7,0,string,dec;"#, b"  7", true);
    // byte_jump
    t!(byte_jump_simple, r#"byte_jump:1,0; content:"x"; within:1;"#, b"\x02abx", true);
    t!(byte_jump_simple_no, r#"byte_jump:1,0; content:"x"; within:1;"#, b"\x01abx", false);
    t!(byte_jump_from_beginning, r#"byte_jump:1,0,from_beginning; content:"x"; within:1;"#, b"\x02ax", true);
    t!(byte_jump_multiplier, r#"byte_jump:1,0,multiplier 2; content:"x"; within:1;"#, b"\x01abx", true);
    t!(byte_jump_align, r#"byte_jump:1,0,align; content:"x"; within:1;"#, b"\x01abcdx", true);
    t!(byte_jump_post_offset, r#"byte_jump:1,0,post_offset 1; content:"x"; within:1;"#, b"\x01abx", true);
    t!(byte_jump_from_end, r#"byte_jump:0,0,from_end,post_offset -1; content:"x"; within:1;"#, b"abcx", true);
    t!(byte_jump_string, r#"byte_jump:2,0,string,dec; content:"x"; within:1;"#, b"03abcx", true);
    t!(byte_jump_little, r#"byte_jump:2,0,little; content:"x"; within:1;"#, b"\x01\x00ax", true);
    t!(byte_jump_relative, r#"content:"a"; byte_jump:1,0,relative; content:"x"; within:1;"#, b"a\x01bx", true);
    t!(byte_jump_past_end, r#"byte_jump:1,0;"#, b"\x09ab", false);
    t!(byte_jump_to_end, r#"byte_jump:1,0; isdataat:!1,relative;"#, b"\x01a", true);
    t!(byte_jump_clamps_to_start, r#"content:"ab"; byte_jump:1,0,relative,post_offset -100; content:"a"; within:1;"#, b"ab\x01x", true);
    t!(byte_jump_then_isdataat, r#"byte_jump:1,0; isdataat:1,relative;"#, b"\x01ab", true);
    // byte_extract and variables
    t!(extract_distance_var, r#"byte_extract:1,0,len; content:"x"; distance:len; within:1;"#, b"\x02abx", true);
    t!(extract_distance_var_quirk, r#"byte_extract:1,0,len; content:"x"; distance:len; within:1;"#, b"\x02abyx", true);
    t!(extract_isdataat, r#"byte_extract:1,0,n; isdataat:n;"#, b"\x03abc", true);
    t!(extract_isdataat_no, r#"byte_extract:1,0,n; isdataat:n;"#, b"\x04abc", false);
    t!(extract_depth, r#"byte_extract:1,0,d; content:"x"; depth:d;"#, b"\x03ax", true);
    t!(extract_depth_no, r#"byte_extract:1,0,d; content:"x"; depth:d;"#, b"\x02ax", false);
    t!(extract_offset, r#"byte_extract:1,0,o; content:"x"; offset:o;"#, b"\x02xax", true);
    t!(extract_offset_no, r#"byte_extract:1,0,o; content:"x"; offset:o;"#, b"\x03xxa", false);
    t!(extract_within_var, r#"content:"a"; byte_extract:1,0,w,relative; content:"x"; within:w;"#, b"a\x02x", true);
    t!(extract_within_var_no, r#"content:"a"; byte_extract:1,0,w,relative; content:"x"; within:w;"#, b"a\x02yyx", false);
    t!(extract_jump_offset, r#"byte_extract:1,0,o; byte_jump:1,o,from_beginning; content:"x"; within:1;"#, b"\x02a\x04bx", true);
    t!(extract_byte_test_value, r#"byte_extract:2,0,n,string,dec; byte_test:1,=,n,2;"#, b"12\x0c", true);
    t!(extract_relative, r#"content:"a"; byte_extract:1,0,n,relative; byte_test:1,=,n,0,relative;"#, b"a\x05\x05", true);
    t!(extract_little, r#"byte_extract:2,0,n,little; byte_test:2,=,n,0,little;"#, b"\x01\x02", true);
    t!(extract_multiplier, r#"byte_extract:1,0,n,multiplier 3; byte_test:1,=,n,1;"#, b"\x02\x06", true);
    t!(extract_align, r#"byte_extract:1,0,n,align 4; byte_test:1,=,n,1;"#, b"\x05\x08", true);
    t!(extract_nbytes_var, r#"byte_extract:1,0,n; byte_test:n,=,258,1;"#, b"\x02\x01\x02", true);
    // byte_math
    t!(math_add, r#"byte_math:bytes 1,offset 0,oper +,rvalue 1,result r; byte_test:1,=,r,1;"#, b"\x04\x05", true);
    t!(math_sub, r#"byte_math:bytes 1,offset 0,oper -,rvalue 1,result r; byte_test:1,=,r,1;"#, b"\x04\x03", true);
    t!(math_mul, r#"byte_math:bytes 1,offset 0,oper *,rvalue 3,result r; byte_test:1,=,r,1;"#, b"\x04\x0c", true);
    t!(math_div, r#"byte_math:bytes 1,offset 0,oper /,rvalue 2,result r; byte_test:1,=,r,1;"#, b"\x09\x04", true);
    t!(math_shl, r#"byte_math:bytes 1,offset 0,oper <<,rvalue 2,result r; byte_test:1,=,r,1;"#, b"\x03\x0c", true);
    t!(math_shr, r#"byte_math:bytes 1,offset 0,oper >>,rvalue 1,result r; byte_test:1,=,r,1;"#, b"\x08\x04", true);
    t!(math_string, r#"byte_math:bytes 2,offset 0,oper +,rvalue 1,result r,string dec; byte_test:1,=,r,2;"#, b"41*", true);
    t!(math_bitmask, r#"byte_math:bytes 1,offset 0,oper +,rvalue 16,result r,bitmask 0xf0; byte_test:1,=,r,1;"#, b"\x10\x02", true);
    t!(math_relative, r#"content:"a"; byte_math:bytes 1,offset 0,oper +,rvalue 1,result r,relative; byte_test:1,=,r,0,relative;"#, b"a\x01\x02", true);
    t!(math_var_rvalue, r#"byte_extract:1,0,x; byte_math:bytes 1,offset 1,oper +,rvalue x,result r; byte_test:1,=,r,2;"#, b"\x02\x03\x05", true);
    // Suricata numbers byte_extract and byte_math variables separately: both below use slot 0.
    t!(extract_math_share_slot, r#"byte_extract:1,0,a; byte_math:bytes 1,offset 1,oper +,rvalue 10,result b; byte_test:1,=,a,0;"#, b"\x01\x02", false);
    // more corners, all checked against Suricata
    t!(extract_isdataat_huge_negated, r#"byte_extract:4,0,n; isdataat:!n;"#, b"\xff\xff\xff\xff", true);
    t!(extract_isdataat_huge, r#"byte_extract:4,0,n; isdataat:n;"#, b"\xff\xff\xff\xff", false);
    t!(extract_test_offset_var, r#"byte_extract:1,0,o; byte_test:1,=,7,o;"#, b"\x02a\x07", true);
    t!(extract_string_hex, r#"byte_extract:2,0,n,string,hex; byte_test:1,=,n,2;"#, b"1f\x1f", true);
    t!(byte_test_negative_relative_offset, r#"content:"ab"; byte_test:1,=,97,-2,relative;"#, b"ab", true);
    t!(byte_jump_string_hex, r#"byte_jump:2,0,string,hex; content:"x"; within:1;"#, b"0aabcdefghijx", true);
    t!(byte_jump_then_pcre_relative, r#"content:"a"; byte_jump:1,0,relative; pcre:"/^x/R";"#, b"a\x01bx", true);
    t!(pcre_relative_no_lookbehind, r#"content:"a"; pcre:"/(?<=a)b/R";"#, b"ab", false);
    t!(pcre_pcre_relative_retry, r#"pcre:"/a/"; pcre:"/^b/R";"#, b"acab", true);
    t!(nocase_distance, r#"content:"A"; nocase; content:"B"; nocase; distance:1; within:1;"#, b"axb", true);
    t!(within_zero_distance_negative, r#"content:"cd"; content:"ab"; distance:-4; within:2;"#, b"abcd", true);
    t!(two_negated_relative, r#"content:"a"; content:!"b"; within:1; content:!"c"; distance:0; within:2;"#, b"ab axc adz", true);
    t!(extract_math_share_slot_seen, r#"byte_extract:1,0,a; byte_math:bytes 1,offset 1,oper +,rvalue 10,result b; byte_test:1,=,a,2;"#, b"\x01\x02\x0c", true);
}

#[test]
fn dsize_is_left_to_the_engine() {
    check(r#"dsize:>100; content:"a";"#, b"a", true);
}

#[test]
fn recursion_limit_stops_search() {
    // 1 call for "a" + one per tried occurrence for "b": the limit (3000) is hit before the end.
    let opts = r#"content:"a"; content:"b"; distance:0; within:1;"#;
    let mut long = vec![b'a'; 3500];
    long.push(b'b');
    check(opts, &long, false);
    let mut short = vec![b'a'; 2500];
    short.push(b'b');
    check(opts, &short, true);
}

#[test]
fn bsize_and_urilen() {
    let text = r#"alert http any any -> any any (http.uri; content:"/a"; bsize:2; sid:1;)"#;
    let rule = seawall_rules::parse_rule(text).expect("parses");
    let o: Vec<&RuleOption> = rule.options.iter().collect();
    let p = PayloadProgram::compile(&o).expect("compiles");
    let mut s = PayloadScratch::new();
    assert!(p.matches(b"/a", &mut s));
    assert!(!p.matches(b"/ab", &mut s));
    let text = r#"alert http any any -> any any (http.uri; content:"/"; bsize:>3; sid:1;)"#;
    let rule = seawall_rules::parse_rule(text).expect("parses");
    let o: Vec<&RuleOption> = rule.options.iter().collect();
    let p = PayloadProgram::compile(&o).expect("compiles");
    assert!(p.matches(b"/abcd", &mut s));
    assert!(!p.matches(b"/ab", &mut s));
    let text = r#"alert http any any -> any any (urilen:3; content:"x"; http_uri; sid:1;)"#;
    let rule = seawall_rules::parse_rule(text).expect("parses");
    let o: Vec<&RuleOption> = rule.options.iter().collect();
    let p = PayloadProgram::compile(&o).expect("compiles");
    assert!(p.matches(b"/xa", &mut s));
    assert!(!p.matches(b"/xab", &mut s));
}

#[test]
fn unsupported_keywords() {
    let cases = [
        (r#"byte_test:4,=,1,0,dce;"#, "byte_test"),
        (r#"byte_jump:4,0,dce;"#, "byte_jump"),
        (
            r#"content:"a"; base64_decode:bytes 10; base64_data; content:"b";"#,
            "base64_decode",
        ),
    ];
    for (opts, kw) in cases {
        let text = format!("alert tcp any any -> any any ({opts} sid:1;)");
        let Ok(rule) = seawall_rules::parse_rule(&text) else {
            // Refused by the parser already: nothing to compile.
            continue;
        };
        let o: Vec<&RuleOption> = rule.options.iter().collect();
        let err = PayloadProgram::compile(&o).expect_err(opts);
        assert_eq!(err.keyword, kw, "{opts}: {err}");
    }
}

fn fp(opts: &str) -> Option<(Vec<u8>, bool)> {
    program(opts).fast_pattern().map(|(b, n)| (b.to_vec(), n))
}

#[test]
fn fast_pattern_choice() {
    // Longest wins.
    assert_eq!(
        fp(r#"content:"ab"; content:"abcd";"#),
        Some((b"abcd".to_vec(), false))
    );
    // Explicit wins over longer.
    assert_eq!(
        fp(r#"content:"ab"; fast_pattern; content:"abcd";"#),
        Some((b"ab".to_vec(), false))
    );
    // Same length: the stronger (more distinct, non-letter bytes score more).
    assert_eq!(
        fp(r#"content:"aaaa"; content:"a|01|b|02|";"#),
        Some((b"a\x01b\x02".to_vec(), false))
    );
    // Same length and strength: the first.
    assert_eq!(
        fp(r#"content:"abcd"; content:"efgh";"#),
        Some((b"abcd".to_vec(), false))
    );
    // nocase carried.
    assert_eq!(
        fp(r#"content:"HOST"; nocase;"#),
        Some((b"HOST".to_vec(), true))
    );
    // Chop.
    assert_eq!(
        fp(r#"content:"abcdef"; fast_pattern:1,3;"#),
        Some((b"bcd".to_vec(), false))
    );
    // Only.
    assert_eq!(
        fp(r#"content:"abc"; fast_pattern:only;"#),
        Some((b"abc".to_vec(), false))
    );
    // Negated contents are skipped while a positive one exists...
    assert_eq!(
        fp(r#"content:!"abcdef"; content:"xy";"#),
        Some((b"xy".to_vec(), false))
    );
    // ...and a negated-only buffer has no usable literal.
    assert_eq!(fp(r#"content:!"abc";"#), None);
    assert_eq!(fp(r#"pcre:"/abc/";"#), None);
    let meta = program(r#"content:"ab"; fast_pattern; content:"abcd";"#)
        .fast_pattern_meta()
        .expect("has one");
    assert!(meta.explicit && !meta.negated && meta.content_len == 2);
    assert_eq!(pattern_strength(b"aab"), 3 + 1 + 3);
    assert_eq!(pattern_strength(b"\x00 \x02"), 4 + 4 + 6);
}

#[test]
fn programs_are_clone_and_reusable() {
    let p = program(r#"content:"a"; byte_extract:1,0,n,relative; content:"x"; distance:n;"#);
    let q = p.clone();
    let mut s = PayloadScratch::new();
    assert!(q.matches(b"a\x01yx", &mut s));
    assert_eq!(s.var(0), Some(1));
    assert!(!p.matches(b"a\x05yx", &mut s));
    assert_eq!(p.len(), 3);
}

/// Every ET Open rule's payload options compile or give `Unsupported` (never panic); per buffer.
#[test]
fn et_open_compiles() {
    let Some(text) = corpus_file("et-open/et-open.rules") else {
        panic!("ET Open corpus missing: set SEAWALL_CORPUS or provide ../shared/corpus");
    };
    let mut loader = seawall_rules::Loader::default();
    let load = loader.load_str("et-open.rules", &text);
    let (mut ok, mut unsupported, mut with_fp) = (0usize, 0usize, 0usize);
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    for sr in &load.rules {
        for (_, opts) in group_by_buffer(&sr.rule.options) {
            match PayloadProgram::compile(&opts) {
                Ok(p) => {
                    ok += 1;
                    with_fp += usize::from(p.fast_pattern().is_some());
                    let mut s = PayloadScratch::new();
                    // Run on a small junk buffer: must not panic.
                    let _ = p.matches(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01\x02", &mut s);
                }
                Err(u) => {
                    unsupported += 1;
                    *reasons
                        .entry(format!("{}: {}", u.keyword, u.reason))
                        .or_default() += 1;
                }
            }
        }
    }
    eprintln!(
        "ET Open: {} rules, {ok} payload programs compiled ({with_fp} with a fast pattern), {unsupported} unsupported: {reasons:?}",
        load.rules.len()
    );
    assert!(load.rules.len() >= 25_000);
    assert!(ok >= 34_000, "compiled {ok}");
    assert!(with_fp >= 33_150, "with fast pattern {with_fp}");
    assert!(unsupported <= 23, "unsupported {unsupported}: {reasons:?}");
}

/// Split a rule's options per inspected buffer, as the engine does (tests only).
fn group_by_buffer(opts: &[RuleOption]) -> Vec<(Buffer, Vec<&RuleOption>)> {
    let mut groups: Vec<(Buffer, Vec<&RuleOption>)> = Vec::new();
    let mut cur = Buffer::Payload;
    for o in opts {
        let buf = match o {
            RuleOption::Buffer(b) => {
                cur = *b;
                continue;
            }
            RuleOption::Content(c) => c.buffer,
            RuleOption::Pcre(p) => p.buffer,
            RuleOption::ByteTest(_)
            | RuleOption::ByteJump(_)
            | RuleOption::ByteExtract(_)
            | RuleOption::ByteMath(_)
            | RuleOption::Isdataat(_)
            | RuleOption::Bsize(_)
            | RuleOption::Base64Decode(_) => cur,
            _ => continue,
        };
        match groups.iter_mut().find(|(b, _)| *b == buf) {
            Some((_, v)) => v.push(o),
            None => groups.push((buf, vec![o])),
        }
    }
    groups
}

pub(crate) fn corpus_file(rel: &str) -> Option<String> {
    let root = std::env::var_os("SEAWALL_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
        });
    std::fs::read_to_string(root.join(rel)).ok()
}

fn corpus_root() -> std::path::PathBuf {
    std::env::var_os("SEAWALL_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
        })
}

/// A classic pcap: one Ethernet/IPv4/UDP packet per payload, destination port `base + i`.
fn write_pcap(path: &std::path::Path, payloads: &[&[u8]], base: u16) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, p) in payloads.iter().enumerate() {
        let mut f = Vec::new();
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let ip_len = (20 + 8 + p.len()) as u16;
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&ip_len.to_be_bytes());
        f.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&(base + i as u16).to_be_bytes());
        f.extend_from_slice(&((8 + p.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(p);
        out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&f);
    }
    std::fs::write(path, out).expect("write pcap");
}

/// Differential test: every table row, plus the recursion-limit cases, run through real
/// Suricata 7 (corpus `oracle/oracle.sh`); its alerts must be exactly the rows we expect to match.
#[test]
fn oracle_agrees() {
    let oracle = corpus_root().join("oracle/oracle.sh");
    assert!(oracle.exists(), "missing {}", oracle.display());
    let mut long = vec![b'a'; 3500];
    long.push(b'b');
    let mut short = vec![b'a'; 2500];
    short.push(b'b');
    let limit_opts = r#"content:"a"; content:"b"; distance:0; within:1;"#;
    let mut cases: Vec<(String, &str, &[u8], bool)> = CASES
        .iter()
        .map(|(n, o, p, w)| (n.to_string(), *o, *p, *w))
        .collect();
    cases.push(("recursion_limit_long".into(), limit_opts, &long, false));
    cases.push(("recursion_limit_short".into(), limit_opts, &short, true));
    let base = 20000u16;
    let dir = std::env::temp_dir().join(format!("seawall-payload-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut rules = String::new();
    for (i, (_, opts, _, _)) in cases.iter().enumerate() {
        rules.push_str(&format!(
            "alert udp any any -> any {} (msg:\"c{i}\"; {opts} sid:{};)\n",
            base as usize + i,
            1000 + i
        ));
    }
    std::fs::write(dir.join("t.rules"), &rules).expect("rules");
    let payloads: Vec<&[u8]> = cases.iter().map(|c| c.2).collect();
    write_pcap(&dir.join("t.pcap"), &payloads, base);
    let out = std::process::Command::new("bash")
        .arg(&oracle)
        .arg(dir.join("t.rules"))
        .arg(dir.join("t.pcap"))
        .arg(dir.join("out"))
        .output()
        .expect("run oracle.sh");
    assert!(
        out.status.success(),
        "oracle.sh failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let got: std::collections::BTreeSet<usize> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split('\t').next()?.parse::<usize>().ok())
        .map(|sid| sid - 1000)
        .collect();
    let mut diffs = Vec::new();
    for (i, (name, opts, payload, want)) in cases.iter().enumerate() {
        let suricata = got.contains(&i);
        if suricata != *want {
            diffs.push(format!("{name}: suricata={suricata} table={want} ({opts})"));
        }
        // And ours agrees with the table (checked per row above; checked again for the extras).
        let p = program(opts);
        assert_eq!(
            rule_matches(&p, payload, &mut PayloadScratch::new()),
            *want,
            "{name}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        diffs.is_empty(),
        "Suricata disagrees:\n{}",
        diffs.join("\n")
    );
}

/// Option snippets combined at random: compile and match never panic.
const SNIPPETS: &[&str] = &[
    r#"content:"ab";"#,
    r#"content:"a"; nocase;"#,
    r#"content:"b"; distance:0;"#,
    r#"content:"a"; within:3;"#,
    r#"content:"b"; distance:-2; within:4;"#,
    r#"content:!"c";"#,
    r#"content:!"a"; within:2;"#,
    r#"content:"ab"; offset:1; depth:4;"#,
    r#"content:"a"; endswith;"#,
    r#"content:"b"; startswith;"#,
    r#"byte_extract:1,0,v;"#,
    r#"byte_extract:1,0,w,relative;"#,
    r#"byte_extract:2,1,s,string,dec;"#,
    r#"byte_math:bytes 1,offset 0,oper +,rvalue 3,result m;"#,
    r#"byte_test:1,>,3,0;"#,
    r#"byte_test:2,=,1,0,relative,little;"#,
    r#"byte_test:0,<,100,0,string,dec;"#,
    r#"byte_jump:1,0,relative;"#,
    r#"byte_jump:1,0,from_beginning,post_offset -3;"#,
    r#"byte_jump:2,0,string,hex,align;"#,
    r#"isdataat:2,relative;"#,
    r#"isdataat:!1,relative;"#,
    r#"isdataat:!5;"#,
    r#"pcre:"/a.?b/R";"#,
    r#"pcre:"/^b/m";"#,
    r#"pcre:!"/c/";"#,
];
const VAR_USES: &[&str] = &[
    r#"content:"a"; distance:v;"#,
    r#"content:"b"; within:w;"#,
    r#"content:"a"; depth:v;"#,
    r#"content:"b"; offset:w;"#,
    r#"isdataat:v,relative;"#,
    r#"byte_test:1,=,m,0;"#,
    r#"byte_jump:1,v;"#,
    r#"byte_test:w,>,1,0;"#,
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    #[test]
    fn random_programs_never_panic(
        picks in proptest::collection::vec(0..SNIPPETS.len() + VAR_USES.len(), 1..6),
        payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
    ) {
        let mut opts = String::from(r#"byte_extract:1,0,v; byte_extract:1,1,w; byte_math:bytes 1,offset 2,oper *,rvalue 2,result m; "#);
        for p in picks {
            opts.push_str(SNIPPETS.get(p).copied().unwrap_or_else(|| VAR_USES[p - SNIPPETS.len()]));
            opts.push(' ');
        }
        let text = format!("alert udp any any -> any any ({opts} sid:1;)");
        if let Ok(rule) = seawall_rules::parse_rule(&text) {
            let o: Vec<&RuleOption> = rule.options.iter().collect();
            if let Ok(p) = PayloadProgram::compile(&o) {
                let mut s = PayloadScratch::new();
                let a = rule_matches(&p, &payload, &mut s);
                // Deterministic: the same answer again with the reused scratch.
                proptest::prop_assert_eq!(a, rule_matches(&p, &payload, &mut s));
            }
        }
    }
}

#[test]
fn random_program_snippets_are_valid() {
    // Each snippet alone (after the variable prelude) is a rule Suricata and we accept, so the
    // random combinations above exercise compile and match, not just the parser's refusals.
    let mut compiled = 0;
    for snip in SNIPPETS.iter().chain(VAR_USES) {
        let text = format!(
            r#"alert udp any any -> any any (content:"x"; byte_extract:1,0,v; byte_extract:1,1,w; byte_math:bytes 1,offset 2,oper *,rvalue 2,result m; {snip} sid:1;)"#
        );
        let rule = seawall_rules::parse_rule(&text).unwrap_or_else(|d| panic!("{text}: {d:?}"));
        let o: Vec<&RuleOption> = rule.options.iter().collect();
        PayloadProgram::compile(&o).unwrap_or_else(|e| panic!("{text}: {e}"));
        compiled += 1;
    }
    assert_eq!(compiled, SNIPPETS.len() + VAR_USES.len());
}
