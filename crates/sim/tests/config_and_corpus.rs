//! Real captures from the corpus (copied into tests/data) and the command-line surface.

use std::path::{Path, PathBuf};

use clap::Parser;
use seawall_sim::{
    load_pcap, parse_hex_u64, read_capture, run, wrap, FlowTuple, SimConfig, SimError,
    DEFAULT_ATTACHMENT_ID_HEX, DEFAULT_ENDPOINT_ID_HEX,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// (file, frames, ip packets, frames trimmed, total inner bytes): counted independently of this
/// crate with a few lines of Python over the raw pcap records.
const CORPUS: &[(&str, u64, u64, u64, usize)] = &[
    ("http-testmyids.pcap", 10, 10, 0, 969),
    ("http-vlan.pcap", 14, 14, 0, 5891),
    ("http-qinq.pcap", 14, 14, 0, 5891),
    ("dns-mdns.pcap", 24, 24, 0, 4518),
    ("ipv4-fragmented.pcap", 3, 3, 1, 498),
    ("icmp6-nd.pcap", 20, 20, 0, 1520),
    ("dns-ipv6-fragmented.pcap", 8, 8, 0, 4508),
];

#[test]
fn corpus_captures_load() {
    for &(name, frames, ip, trimmed, bytes) in CORPUS {
        let cap = read_capture(data(name)).unwrap();
        assert_eq!(cap.stats.frames, frames, "{name}");
        assert_eq!(cap.stats.ip_packets, ip, "{name}");
        assert_eq!(cap.stats.trimmed, trimmed, "{name}");
        let total: usize = cap.packets.iter().map(|p| p.bytes.len()).sum();
        assert_eq!(total, bytes, "{name}");
        assert!(cap
            .packets
            .iter()
            .all(|p| FlowTuple::of_packet(&p.bytes).is_some()));
        assert!(cap.packets.windows(2).all(|w| w[0].ts <= w[1].ts), "{name}");
        assert_eq!(load_pcap(data(name)).unwrap(), cap.packets);
    }
}

#[test]
fn vlan_and_qinq_captures_carry_the_same_packets() {
    assert_eq!(
        load_pcap(data("http-vlan.pcap")).unwrap(),
        load_pcap(data("http-qinq.pcap")).unwrap()
    );
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    sim: SimConfig,
}

#[test]
fn command_line_defaults_match_default() {
    let cli = Cli::try_parse_from(["seawall-sim", "--pcap", "x.pcap"]).unwrap();
    let expected = SimConfig {
        pcap: "x.pcap".into(),
        ..SimConfig::default()
    };
    assert_eq!(cli.sim, expected);
    assert_eq!(cli.sim.target.to_string(), "127.0.0.1:6081");
    assert_eq!(
        parse_hex_u64(DEFAULT_ENDPOINT_ID_HEX),
        Ok(wrap::DEFAULT_ENDPOINT_ID)
    );
    assert_eq!(
        parse_hex_u64(DEFAULT_ATTACHMENT_ID_HEX),
        Ok(wrap::DEFAULT_ATTACHMENT_ID)
    );
}

#[test]
fn command_line_options() {
    let cli = Cli::try_parse_from([
        "seawall-sim",
        "--target",
        "127.0.0.2:7000",
        "--pcap",
        "a.pcap",
        "--rate",
        "1000",
        "--endpoint-id",
        "vpce-0123456789abcdef",
        "--attachment-id",
        "0xABC",
        "--loop",
        "3",
        "--timeout",
        "0.25",
        "--json",
    ])
    .unwrap();
    let c = cli.sim;
    assert_eq!(c.target.to_string(), "127.0.0.2:7000");
    assert_eq!(c.rate, Some(1000));
    assert_eq!(c.endpoint_id, 0x0123_4567_89ab_cdef);
    assert_eq!(c.attachment_id, 0xabc);
    assert_eq!(c.loops, 3);
    assert_eq!(c.timeout, 0.25);
    assert!(c.json);
    assert!(Cli::try_parse_from(["s", "--pcap", "a", "--endpoint-id", "xyz"]).is_err());
    assert!(
        Cli::try_parse_from(["s", "--pcap", "a", "--endpoint-id", "1".repeat(17).as_str()])
            .is_err()
    );
}

#[test]
fn config_deserializes_with_defaults() {
    let c: SimConfig = serde_json::from_str(r#"{"pcap": "b.pcap", "loop": 2}"#).unwrap();
    assert_eq!(c.loops, 2);
    assert_eq!(c.window, SimConfig::default().window);
    assert!(serde_json::from_str::<SimConfig>(r#"{"nope": 1}"#).is_err());
}

#[test]
fn bad_settings_name_the_key() {
    let base = SimConfig {
        pcap: data("http-testmyids.pcap"),
        ..SimConfig::default()
    };
    for (cfg, key) in [
        (
            SimConfig {
                loops: 0,
                ..base.clone()
            },
            "loop",
        ),
        (
            SimConfig {
                window: 0,
                ..base.clone()
            },
            "window",
        ),
        (
            SimConfig {
                rate: Some(0),
                ..base.clone()
            },
            "rate",
        ),
        (
            SimConfig {
                timeout: -1.0,
                ..base.clone()
            },
            "timeout",
        ),
        (
            SimConfig {
                sockets: 0,
                ..base.clone()
            },
            "sockets",
        ),
    ] {
        match run(&cfg, false) {
            Err(SimError::Config { key: k, .. }) => assert_eq!(k, key),
            other => panic!("{key}: {other:?}"),
        }
    }
    let missing = SimConfig {
        pcap: data("no-such.pcap"),
        ..base
    };
    assert!(matches!(run(&missing, false), Err(SimError::Open { .. })));
}
