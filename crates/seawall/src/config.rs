//! The one TOML config file (DESIGN.md section 5).
//!
//! Every key has a default that works on a laptop, unknown keys are errors, and every error names the
//! file and the key. `seawall config check FILE` runs [`Config::load`] without starting anything.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
pub use seawall_dataplane::evidence::EvidenceConfig;
pub use seawall_dataplane::policy::{DetectConfig, ProfileConfig};
pub use seawall_dataplane::DataplaneConfig;
use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub dataplane: DataplaneConfig,
    /// The default profile and the inspection settings.
    pub detect: DetectConfig,
    /// Per-endpoint profiles (`[[profiles]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<ProfileConfig>,
    /// Where alerts go.
    pub evidence: EvidenceConfig,
    pub health: HealthSection,
    pub api: ApiSection,
    pub drain: DrainSection,
    pub log: LogSection,
}

/// `[health]`: the GWLB health-check listener.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSection {
    pub listen: SocketAddr,
    /// A worker that has not made progress for this long makes the appliance unhealthy.
    pub stall_after_ms: u64,
}

impl Default for HealthSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8081)),
            stall_after_ms: 2000,
        }
    }
}

/// `[api]`: metrics and the management API.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    pub listen: SocketAddr,
    /// A file holding the bearer token of the mutating API endpoints (rule reload). The
    /// `SEAWALL_API_TOKEN` environment variable, when set, takes precedence. Without either, those
    /// endpoints answer 403.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8080)),
            token_file: None,
        }
    }
}

/// Environment variable holding the API token (wins over `api.token_file`).
pub const TOKEN_ENV: &str = "SEAWALL_API_TOKEN";

impl ApiSection {
    /// The API token: `SEAWALL_API_TOKEN`, else the trimmed content of `api.token_file`, else none.
    pub fn token(&self) -> anyhow::Result<Option<String>> {
        if let Ok(t) = std::env::var(TOKEN_ENV) {
            let t = t.trim();
            if !t.is_empty() {
                return Ok(Some(t.to_owned()));
            }
        }
        let Some(path) = &self.token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("api.token_file: cannot read {}", path.display()))?;
        let t = text.trim();
        if t.len() < 16 {
            bail!(
                "api.token_file: {}: the token must be at least 16 characters",
                path.display()
            );
        }
        Ok(Some(t.to_owned()))
    }
}

/// `[drain]`: what SIGTERM does.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrainSection {
    /// Upper bound on draining; set it to the target group's deregistration delay.
    pub timeout_secs: u64,
    /// Draining ends early once no datagram has arrived for this long.
    pub idle_secs: u64,
}

impl Default for DrainSection {
    fn default() -> Self {
        Self {
            timeout_secs: 300,
            idle_secs: 10,
        }
    }
}

/// `[log]`: structured logs to stdout.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// A tracing `EnvFilter` directive, e.g. `info` or `seawall=debug`.
    pub level: String,
    /// Log lines as JSON objects instead of text.
    pub json: bool,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            json: false,
        }
    }
}

impl Config {
    /// Reads and validates a config file; the error names the file, the line and the key.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let cfg: Config = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the values that types alone cannot; each error names the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.dataplane.validate().map_err(anyhow::Error::msg)?;
        self.detect
            .validate(&self.profiles)
            .map_err(anyhow::Error::msg)?;
        self.evidence.validate().map_err(anyhow::Error::msg)?;
        if self.health.stall_after_ms == 0 {
            bail!("health.stall_after_ms: must be > 0");
        }
        if self.drain.idle_secs == 0 {
            bail!("drain.idle_secs: must be > 0");
        }
        if self.drain.idle_secs > self.drain.timeout_secs {
            bail!(
                "drain.idle_secs: must not exceed drain.timeout_secs ({} > {})",
                self.drain.idle_secs,
                self.drain.timeout_secs
            );
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            bail!("log.level: {e}");
        }
        Ok(())
    }

    /// Reads the files the config names that are small enough to check without loading rules:
    /// the threshold files (`detect.threshold_file`, `profiles[].threshold_file`), parsed
    /// strictly as the appliance does at start and on reload. The error names the key, the file
    /// and the line. (`seawall config check`; rule files are checked by `seawall rules check`.)
    pub fn check_files(&self) -> anyhow::Result<()> {
        let keys = std::iter::once((
            "detect.threshold_file".to_owned(),
            &self.detect.threshold_file,
        ))
        .chain(
            self.profiles
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("profiles[{i}].threshold_file"), &p.threshold_file)),
        );
        for (key, path) in keys {
            if let Some(path) = path {
                seawall_dataplane::policy::read_threshold_file(path)
                    .map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
            }
        }
        Ok(())
    }

    /// The config as TOML, every key with its value (`seawall config default`).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the config types always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn defaults_match_the_documented_ports() {
        let c = Config::default();
        assert_eq!(c.dataplane.listen.to_string(), "0.0.0.0:6081");
        assert_eq!(c.health.listen.to_string(), "0.0.0.0:8081");
        assert_eq!(c.api.listen.to_string(), "0.0.0.0:8080");
        assert!(c.dataplane.allow_sources.is_empty());
    }

    #[test]
    fn default_round_trips_through_toml() {
        let c = Config::default();
        assert_eq!(Config::parse(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::parse("[dataplane]\nworkerz = 2\n").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("workerz"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn bad_cidr_is_named() {
        let e = Config::parse("[dataplane]\nallow_sources = [\"10.0.0.0/33\"]\n").unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("allow_sources"), "{msg}");
    }

    #[test]
    fn range_errors_name_the_key() {
        let e = Config::parse("[dataplane]\nbatch_size = 0\n").unwrap_err();
        assert!(format!("{e:#}").contains("dataplane.batch_size"));
        let e = Config::parse("[drain]\nidle_secs = 500\ntimeout_secs = 10\n").unwrap_err();
        assert!(format!("{e:#}").contains("drain.idle_secs"));
        let e = Config::parse("[log]\nlevel = \"[[[\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("log.level"));
    }

    #[test]
    fn detect_profiles_and_evidence_parse() {
        let c = Config::parse(
            r#"
[detect]
rules = ["rules/seawall.rules"]
mode = "ips"
exception_policy = "fail-open"
vars = { HOME_NET = "[10.0.0.0/8]" }
[evidence]
dir = "/tmp/seawall-eve"
[[profiles]]
name = "zone-a"
endpoints = ["vpce-0123456789abcdef0", "0x0a0b0c0d0e0f1011"]
mode = "ids"
[[profiles]]
name = "zone-b"
endpoints = ["ff"]
rules = []
"#,
        )
        .unwrap();
        assert_eq!(c.profiles.len(), 2);
        let specs = c.detect.profile_specs(&c.profiles);
        assert_eq!(specs[0].mode, seawall_dataplane::policy::Mode::Ips);
        assert_eq!(specs[1].mode, seawall_dataplane::policy::Mode::Ids);
        assert_eq!(specs[1].rules.len(), 1);
        assert!(specs[2].rules.is_empty());
        assert_eq!(specs[1].vars["HOME_NET"], "[10.0.0.0/8]");
        assert_eq!(Config::parse(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn detect_errors_name_the_key() {
        for (text, key) in [
            (
                "[detect]
mode = \"ipz\"
",
                "mode",
            ),
            (
                "[detect]
rulez = []
",
                "rulez",
            ),
            (
                "[detect]
flow_memcap = 10
",
                "detect.flow_memcap",
            ),
            (
                "[evidence]
queue = 0
",
                "evidence.queue",
            ),
            (
                "[[profiles]]
name = \"a\"
endpoints = [\"zz\"]
",
                "endpoint",
            ),
            (
                "[[profiles]]
name = \"a\"
",
                "profiles[0].endpoints",
            ),
            (
                "[[profiles]]
name = \"a\"
endpoints = [\"1\"]
[[profiles]]
name = \"a\"
endpoints = [\"2\"]
",
                "profiles[1].name",
            ),
        ] {
            let e = Config::parse(text).unwrap_err();
            let msg = format!("{e:#}");
            assert!(msg.contains(key), "{text}: {msg}");
        }
    }

    #[test]
    fn threshold_file_is_a_key_of_detect_and_profiles_and_is_checked() {
        let dir = std::env::temp_dir().join(format!("seawall-config-thr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("threshold.config");
        std::fs::write(&good, "suppress gen_id 1, sig_id 2\n").unwrap();
        let bad = dir.join("bad-threshold.config");
        std::fs::write(
            &bad,
            "# ok\nsuppress gen_id 1, sig_id 2\nsupress gen_id 1, sig_id 3\n",
        )
        .unwrap();
        let missing = dir.join("missing.config");
        let text = |detect: &std::path::Path, profile: &std::path::Path| {
            format!(
                "[detect]\nthreshold_file = {:?}\n[[profiles]]\nname = \"a\"\nendpoints = [\"1\"]\n\
                 threshold_file = {:?}\n[[profiles]]\nname = \"b\"\nendpoints = [\"2\"]\n",
                detect.display().to_string(),
                profile.display().to_string()
            )
        };
        let c = Config::parse(&text(&good, &good)).unwrap();
        c.check_files().unwrap();
        let specs = c.detect.profile_specs(&c.profiles);
        assert!(specs
            .iter()
            .all(|s| s.threshold_file.as_deref() == Some(good.as_path())));
        assert_eq!(Config::parse(&c.to_toml()).unwrap(), c);

        // Missing: parsing is fine (paths are not read), the check names the key and the file.
        let c = Config::parse(&text(&missing, &good)).unwrap();
        let msg = format!("{:#}", c.check_files().unwrap_err());
        assert!(msg.starts_with("detect.threshold_file:"), "{msg}");
        assert!(msg.contains("missing.config"), "{msg}");
        // A line that does not parse: the key, the file and the line.
        let c = Config::parse(&text(&good, &bad)).unwrap();
        let msg = format!("{:#}", c.check_files().unwrap_err());
        assert!(msg.starts_with("profiles[0].threshold_file:"), "{msg}");
        assert!(msg.contains("bad-threshold.config"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        // A misspelt key is named.
        let e = Config::parse("[detect]\nthreshold-file = \"x\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("threshold-file"), "{e:#}");
        let e =
            Config::parse("[[profiles]]\nname = \"a\"\nendpoints = [\"1\"]\nthreshold = \"x\"\n")
                .unwrap_err();
        assert!(format!("{e:#}").contains("threshold"), "{e:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn full_example_parses() {
        let c = Config::parse(
            r#"
[dataplane]
listen = "127.0.0.1:16081"
workers = 2
allow_sources = ["10.0.0.0/16", "192.168.1.7/32"]
malformed_inner = "drop"
[health]
listen = "127.0.0.1:18081"
[api]
listen = "127.0.0.1:18080"
[drain]
timeout_secs = 60
idle_secs = 2
[log]
level = "debug"
json = true
"#,
        )
        .unwrap();
        assert_eq!(c.dataplane.worker_count(), 2);
        assert_eq!(
            c.dataplane.malformed_inner,
            Some(seawall_dataplane::MalformedPolicy::Drop)
        );
        assert_eq!(c.dataplane.allow_sources.len(), 2);
    }
}
