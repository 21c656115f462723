//! Property: printing a parsed rule and parsing it again gives the same AST.

use proptest::prelude::*;

fn header() -> impl Strategy<Value = String> {
    let addr = prop_oneof![
        Just("any".to_string()),
        Just("$HOME_NET".to_string()),
        Just("!$HOME_NET".to_string()),
        (0u8..=255, 0u8..=32).prop_map(|(a, p)| format!("{a}.0.0.0/{p}")),
        Just("[10.0.0.0/8,!10.1.0.0/16]".to_string()),
        Just("[2001:db8::/32,::1]".to_string()),
        Just("1.1.1.1-1.1.1.9".to_string()),
    ];
    let port = prop_oneof![
        Just("any".to_string()),
        Just("$HTTP_PORTS".to_string()),
        (0u16..=65535).prop_map(|p| p.to_string()),
        (0u16..1000, 1000u16..=65535).prop_map(|(a, b)| format!("{a}:{b}")),
        Just("[80,443,!8080]".to_string()),
        Just("1024:".to_string()),
    ];
    let proto = prop_oneof![
        Just("tcp"),
        Just("udp"),
        Just("ip"),
        Just("http"),
        Just("tls"),
        Just("dns")
    ];
    let action = prop_oneof![Just("alert"), Just("drop"), Just("pass"), Just("reject")];
    let dir = prop_oneof![Just("->"), Just("<>")];
    (action, proto, addr.clone(), port.clone(), dir, addr, port)
        .prop_map(|(a, p, s, sp, d, ds, dp)| format!("{a} {p} {s} {sp} {d} {ds} {dp}"))
}

fn content_body() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 1..12).prop_map(|bytes| {
        let mut s = String::new();
        for b in bytes {
            match b {
                b'a'..=b'z' | b'0'..=b'9' | b' ' | b'.' | b'/' => s.push(b as char),
                b';' => s.push_str("\\;"),
                b'"' => s.push_str("\\\""),
                b'\\' => s.push_str("\\\\"),
                other => s.push_str(&format!("|{other:02x}|")),
            }
        }
        s
    })
}

fn option() -> impl Strategy<Value = String> {
    prop_oneof![
        (content_body(), any::<bool>())
            .prop_map(|(c, neg)| format!("content:{}\"{c}\"", if neg { "!" } else { "" })),
        Just("nocase".to_string()),
        (20u16..100).prop_map(|d| format!("depth:{d}")),
        (0u16..100).prop_map(|d| format!("offset:{d}")),
        (-50i32..50).prop_map(|d| format!("distance:{d}")),
        Just("http.uri".to_string()),
        Just("file.data".to_string()),
        Just("pkt_data".to_string()),
        Just("pcre:\"/a[0-9]+b/i\"".to_string()),
        Just("flow:established,to_server".to_string()),
        Just("flowbits:set,x.y".to_string()),
        (1u64..1000).prop_map(|n| format!("dsize:<{n}")),
        Just("byte_test:4,>,100,0,relative,little".to_string()),
        Just("isdataat:!1,relative".to_string()),
        Just("threshold:type limit, track by_src, count 1, seconds 60".to_string()),
        Just("reference:url,example.com/x".to_string()),
        Just("metadata:created_at 2025_01_01, tag x".to_string()),
        Just("classtype:trojan-activity".to_string()),
        Just("flags:S,12".to_string()),
        Just("endswith".to_string()),
        Just("fast_pattern".to_string()),
    ]
}

fn rule_text() -> impl Strategy<Value = String> {
    (
        header(),
        "[a-zA-Z0-9 ;\"\\\\:]{0,20}",
        prop::collection::vec(option(), 0..8),
        1u32..5_000_000,
    )
        .prop_map(|(h, msg, opts, sid)| {
            let msg = msg
                .replace('\\', "\\\\")
                .replace(';', "\\;")
                .replace('"', "\\\"");
            let mut s = format!("{h} (msg:\"{msg}\"; ");
            for o in opts {
                s.push_str(&o);
                s.push_str("; ");
            }
            s.push_str(&format!("sid:{sid}; rev:1;)"));
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn print_then_parse_is_identity(text in rule_text()) {
        if let Ok(rule) = seawall_rules::parse_rule(&text) {
            let printed = rule.to_string();
            let again = seawall_rules::parse_rule(&printed);
            prop_assert_eq!(again, Ok(rule), "printed: {}", printed);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        let _ = seawall_rules::parse_file(&text);
    }
}

#[test]
fn generator_produces_loadable_rules() {
    // Guard against a generator that only produces rejected rules (which would make the property vacuous).
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut ok = 0;
    for _ in 0..500 {
        let t = rule_text().new_tree(&mut runner).expect("tree").current();
        if seawall_rules::parse_rule(&t).is_ok() {
            ok += 1;
        }
    }
    assert!(ok > 100, "only {ok} of 500 generated rules load");
}
