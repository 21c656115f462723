//! The appliance and the GWLB simulator in two network namespaces joined by a veth pair: a real
//! kernel path (routing, ARP, a real interface address, jumbo MTU) instead of loopback.
//!
//! Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and `ip` from iproute2; `scripts/test` runs as root and
//! installs iproute2 and curl. Without them this test fails with a message saying so: it never skips.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use seawall_tests::{corpus_dir, seawall_bin};

const APPLIANCE_IP: &str = "10.231.0.1";
const GWLB_IP: &str = "10.231.0.2";
const STRANGER_IP: &str = "10.231.0.3";

struct Netns {
    appliance: String,
    gwlb: String,
    children: Vec<Child>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `ip` (install iproute2; this test needs root): {e}")
    });
    assert!(
        out.status.success(),
        "ip {}: {} (this test needs root: CAP_NET_ADMIN)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Netns {
    fn new() -> Self {
        let id = std::process::id();
        let n = Netns {
            appliance: format!("swa{id}"),
            gwlb: format!("swg{id}"),
            children: Vec::new(),
        };
        let (a, g) = (n.appliance.as_str(), n.gwlb.as_str());
        ip(&["netns", "add", a]);
        ip(&["netns", "add", g]);
        let (va, vg) = (format!("va{id}"), format!("vg{id}"));
        ip(&[
            "link", "add", &va, "netns", a, "type", "veth", "peer", "name", &vg, "netns", g,
        ]);
        ip(&["-n", a, "link", "set", &va, "mtu", "9001", "up"]);
        ip(&["-n", g, "link", "set", &vg, "mtu", "9001", "up"]);
        ip(&["-n", a, "link", "set", "lo", "up"]);
        ip(&["-n", g, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            a,
            "addr",
            "add",
            &format!("{APPLIANCE_IP}/24"),
            "dev",
            &va,
        ]);
        ip(&["-n", g, "addr", "add", &format!("{GWLB_IP}/24"), "dev", &vg]);
        ip(&[
            "-n",
            g,
            "addr",
            "add",
            &format!("{STRANGER_IP}/24"),
            "dev",
            &vg,
        ]);
        n
    }

    fn exec(&self, ns: &str, cmd: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, cmd]);
        c
    }

    /// Starts `seawall run [args]` in the appliance namespace and waits for its health check.
    fn start_appliance(&mut self, args: &[&str]) {
        let child = self
            .exec(&self.appliance, seawall_bin().to_str().expect("utf-8 path"))
            .arg("run")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start seawall in the appliance namespace");
        self.children.push(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.curl(&format!("http://{APPLIANCE_IP}:8081/healthz"));
            if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "appliance health never answered 200 across the veth"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop_appliance(&mut self) {
        for mut c in self.children.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn curl(&self, url: &str) -> Output {
        self.exec(&self.gwlb, "curl")
            .args(["-sf", "--max-time", "5", url])
            .output()
            .expect("run curl in the gwlb namespace (install curl)")
    }

    fn metrics(&self) -> String {
        let out = self.curl(&format!("http://{APPLIANCE_IP}:8080/metrics"));
        assert!(out.status.success(), "GET /metrics across the veth failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `seawall sim --json` from `bind` in the GWLB namespace.
    fn sim(&self, pcap: &std::path::Path, bind: &str, timeout: &str) -> serde_json::Value {
        let out = self
            .exec(&self.gwlb, seawall_bin().to_str().expect("utf-8 path"))
            .args([
                "sim",
                "--json",
                "--bind",
                bind,
                "--timeout",
                timeout,
                "--target",
            ])
            .arg(format!("{APPLIANCE_IP}:6081"))
            .arg("--pcap")
            .arg(pcap)
            .output()
            .expect("run the simulator in the gwlb namespace");
        assert!(
            out.status.success(),
            "sim failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("sim --json prints JSON")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.stop_appliance();
        for ns in [&self.appliance, &self.gwlb] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn n(v: &serde_json::Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("report has no {key}: {v}"))
}

#[test]
fn capture_crosses_a_veth_between_namespaces_byte_identical() {
    let mut net = Netns::new();
    // No config file at all: the defaults (GENEVE 0.0.0.0:6081, health 8081, API 8080) must work.
    net.start_appliance(&[]);
    let proto = corpus_dir().join("pcaps/proto");
    let mut total = 0;
    for name in [
        "tls-firefox-browsing.pcap",
        "http-ipv6.pcap",
        "dns-ipv6-fragmented.pcap",
        "ipv4-fragmented.pcap",
        "http-post-large.pcap",
    ] {
        let r = net.sim(&proto.join(name), GWLB_IP, "3");
        assert!(n(&r, "sent") > 0, "{name}: {r}");
        assert_eq!(n(&r, "returned"), n(&r, "sent"), "{name}: {r}");
        assert_eq!(
            n(&r, "corrupt") + n(&r, "misdirected") + n(&r, "unexpected"),
            0,
            "{name}: {r}"
        );
        total += n(&r, "sent");
    }
    let m = net.metrics();
    let received = seawall_tests::metric_sum(&m, "seawall_dataplane_packets_received_total", &[]);
    assert_eq!(received, total as f64);
    assert_eq!(
        seawall_tests::metric_sum(&m, "seawall_dataplane_drops_total", &[]),
        0.0
    );
    net.stop_appliance();

    // With an allow-list: the GWLB address is served, another address of the same subnet is not.
    let dir = std::env::temp_dir().join(format!("seawall-netns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("seawall.toml");
    std::fs::write(
        &cfg,
        format!("[dataplane]\nallow_sources = [\"{GWLB_IP}/32\"]\n"),
    )
    .unwrap();
    net.start_appliance(&["--config", cfg.to_str().unwrap()]);
    let pcap = proto.join("http-testmyids.pcap");
    let stranger = net.sim(&pcap, STRANGER_IP, "1");
    assert_eq!(n(&stranger, "returned"), 0, "{stranger}");
    let allowed = net.sim(&pcap, GWLB_IP, "3");
    assert_eq!(n(&allowed, "returned"), n(&allowed, "sent"), "{allowed}");
    let m = net.metrics();
    let not_allowed = seawall_tests::metric_sum(
        &m,
        "seawall_dataplane_drops_total",
        &["reason=\"not_allowed\""],
    );
    assert_eq!(not_allowed, n(&stranger, "sent") as f64);
    let _ = std::fs::remove_dir_all(&dir);
}
