//! Shared helpers for Seawall's end-to-end tests (`tests/tests/*.rs`): the real `seawall` binary as a
//! child process, a minimal HTTP client for health and metrics, and the shared corpus.
//!
//! Tests that need the corpus (`$SEAWALL_CORPUS`, default `<repo>/../shared/corpus`) panic with a
//! clear message when it is missing: corpus-wide tests never skip silently.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The shared corpus directory; panics (never skips) when it is missing.
pub fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("SEAWALL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/corpus"));
    assert!(
        dir.join("pcaps").is_dir(),
        "the shared corpus is missing at {} (set SEAWALL_CORPUS): corpus tests never skip",
        dir.display()
    );
    dir
}

/// A file of `tests/data/`.
pub fn data(name: &str) -> PathBuf {
    repo_root().join("tests/data").join(name)
}

/// The `seawall` binary, built once per test process (`cargo build -p seawall`, same profile).
pub fn seawall_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target"));
        let release = !cfg!(debug_assertions);
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(repo_root())
            .args(["build", "-q", "-p", "seawall", "--bin", "seawall"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build -p seawall failed");
        let bin = target
            .join(if release { "release" } else { "debug" })
            .join("seawall");
        assert!(bin.is_file(), "no binary at {}", bin.display());
        bin
    })
    .clone()
}

/// A minimal HTTP/1.1 GET (or HEAD); returns status and body.
pub fn http(method: &str, addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Sum of every series of `name` (any labels) whose label text contains all of `labels`.
pub fn metric_sum(metrics_text: &str, name: &str, labels: &[&str]) -> f64 {
    metrics_text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| {
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            n == name && labels.iter().all(|want| rest.contains(want))
        })
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

/// The `seawall run` child process, killed on drop.
pub struct Appliance {
    child: Option<Child>,
    /// GENEVE address the workers are bound to.
    pub geneve: SocketAddr,
    /// Health server address.
    pub health: SocketAddr,
    /// Management (metrics) address.
    pub api: SocketAddr,
    logs: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

/// A loopback address of its own for each appliance a test process starts.
///
/// Port 0 with `SO_REUSEPORT` can land in another process's reuseport group on the same address and
/// port (same user), which would mix two appliances' sockets; distinct addresses rule that out.
pub fn unique_loopback() -> std::net::Ipv4Addr {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let pid = std::process::id();
    std::net::Ipv4Addr::new(
        127,
        100 + (pid % 100) as u8,
        (pid / 100 % 250) as u8,
        (n % 250 + 1) as u8,
    )
}

/// Loopback config with a unique GENEVE address, free ports (port 0) and JSON logs; `dataplane_extra`
/// goes into `[dataplane]`, `extra` is appended (more TOML sections).
pub fn loopback_config(workers: usize, dataplane_extra: &str, extra: &str) -> String {
    let ip = unique_loopback();
    format!(
        "[dataplane]\nlisten = \"{ip}:0\"\nworkers = {workers}\n{dataplane_extra}\n\
         [health]\nlisten = \"127.0.0.1:0\"\n[api]\nlisten = \"127.0.0.1:0\"\n\
         [log]\njson = true\nlevel = \"info\"\n{extra}\n"
    )
}

impl Appliance {
    /// Starts `seawall run --config <config>` and waits until it reports its addresses and its
    /// health check answers 200.
    pub fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seawall.toml");
        std::fs::write(&path, config).expect("write config");
        let mut child = Command::new(seawall_bin())
            // Relative outputs (the default evidence directory) land in the temporary directory.
            .current_dir(dir.path())
            .arg("run")
            .arg("--config")
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn seawall run");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut geneve = None;
        let mut health = None;
        let mut api = None;
        let deadline = Instant::now() + Duration::from_secs(60);
        while geneve.is_none() || health.is_none() || api.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => {
                    let _ = child.kill();
                    panic!("seawall run did not report its addresses in time");
                }
            };
            geneve = geneve.or_else(|| field(&line, "geneve"));
            health = health.or_else(|| field(&line, "health"));
            api = api.or_else(|| field(&line, "api"));
        }
        let app = Appliance {
            child: Some(child),
            geneve: geneve.expect("set"),
            health: health.expect("set"),
            api: api.expect("set"),
            logs: rx,
            _dir: dir,
        };
        app.wait_health(200);
        app
    }

    /// Polls the health check until it answers `status` (panics after 30 s).
    pub fn wait_health(&self, status: u16) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((s, body)) = http("GET", self.health, "/healthz") {
                if s == status {
                    return body;
                }
            }
            assert!(Instant::now() < deadline, "health never answered {status}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `/metrics` text.
    pub fn metrics(&self) -> String {
        let (status, body) = http("GET", self.api, "/metrics").expect("GET /metrics");
        assert_eq!(status, 200);
        body
    }

    /// Polls `/metrics` until the sum of `name{labels}` equals `want` (panics after 20 s with the
    /// last value): the returned-datagram counters are updated just after the datagrams leave.
    pub fn wait_metric(&self, name: &str, labels: &[&str], want: f64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = metric_sum(&self.metrics(), name, labels);
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name}{labels:?} is {got}, expected {want}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the process to exit (panics after `within`); returns its exit code.
    pub fn wait_exit(mut self, within: Duration) -> Option<i32> {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status.code();
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("seawall did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Log lines printed so far (drains them).
    pub fn logs(&self) -> Vec<String> {
        self.logs.try_iter().collect()
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Reads `"name":"addr"` from a JSON log line.
fn field(line: &str, name: &str) -> Option<SocketAddr> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let s = v
        .get("fields")
        .and_then(|f| f.get(name))
        .or_else(|| v.get(name))?
        .as_str()?;
    s.parse().ok()
}
