//! Detection policy: modes, profiles (per GWLB endpoint), rule loading and the swappable set of
//! engines.
//!
//! A **profile** is a name, a mode (IDS or IPS), variables and rule files. The GWLB endpoint id of
//! a datagram (TLV 1) selects its profile; unknown endpoints get the default profile (the
//! `[detect]` section itself, named `default`). Each profile compiles into one immutable
//! [`Engine`]; the engines of all profiles form one [`EngineSet`], published through an
//! [`ArcSwap`] that the workers read once per batch. [`RuleManager::reload`] builds a new set off
//! the hot path and swaps it in; a set that fails to load leaves the running one in place.
//!
//! Loading is strict, like `seawall rules check --allow-unsupported`: a missing or unreadable
//! rule file, a bad variables or classification file, or any rule that does not parse or
//! validate fails the whole load. Rules skipped only because they use keywords Seawall does not
//! support (and rules the engine cannot honour) are counted, not fatal: ET Open has some.
//! A profile's threshold file (Suricata's `threshold-file`: `threshold`, `event_filter`,
//! `suppress`, `rate_filter` lines) is read with its rules, on every load: a line that does not
//! parse fails the load (naming the file and the line); an entry naming a rule that is not
//! loaded is only a warning ([`ProfileLoad::threshold_warnings`]), as in Suricata.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use seawall_detect::{Engine, EngineOptions};
use seawall_rules::{CheckOptions, Classifications, DiagKind, Loader, SourceRule};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::MalformedPolicy;

/// IDS (alerts only, every packet returned) or IPS (drop and reject take effect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Detection only: every packet is returned; alerts are raised.
    #[default]
    Ids,
    /// Prevention: `drop` and `reject*` verdicts take effect.
    Ips,
}

impl Mode {
    /// `ids` / `ips`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Ids => "ids",
            Mode::Ips => "ips",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ids" => Ok(Mode::Ids),
            "ips" => Ok(Mode::Ips),
            other => Err(format!("`{other}`: expected `ids` or `ips`")),
        }
    }
}

/// What happens to a packet that cannot be inspected (undecodable inner packet, a fragment the
/// defragmenter has no room for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExceptionPolicy {
    /// Fail open in IDS mode, closed in IPS mode (DESIGN.md section 7).
    #[default]
    Auto,
    /// Return the packet (counted).
    FailOpen,
    /// Drop the packet (counted).
    FailClosed,
}

impl ExceptionPolicy {
    /// True when the packet is dropped under `mode`.
    pub const fn drops(self, mode: Mode) -> bool {
        match self {
            ExceptionPolicy::Auto => matches!(mode, Mode::Ips),
            ExceptionPolicy::FailOpen => false,
            ExceptionPolicy::FailClosed => true,
        }
    }
}

/// A GWLB endpoint id as written in the config: hex, with an optional `vpce-` or `0x` prefix
/// (`vpce-0123456789abcdef0`, `0x0a0b0c0d0e0f1011`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(pub u64);

impl std::str::FromStr for EndpointId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let hex = t
            .strip_prefix("vpce-")
            .or_else(|| t.strip_prefix("0x"))
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "`{s}`: expected a GWLB endpoint id in hex (`vpce-0123456789abcdef0` or `0a0b0c0d0e0f1011`)"
            ));
        }
        let digits = hex.trim_start_matches('0');
        if digits.len() > 16 {
            return Err(format!("`{s}`: more than 64 bits"));
        }
        u64::from_str_radix(if digits.is_empty() { "0" } else { digits }, 16)
            .map(EndpointId)
            .map_err(|e| format!("`{s}`: {e}"))
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vpce-{:017x}", self.0)
    }
}

impl<'de> Deserialize<'de> for EndpointId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for EndpointId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `[detect]`: the default profile and the inspection settings of every worker.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Rule files or directories (every `*.rules` below) of the default profile. Empty: no rules
    /// (every packet passes; flows are still tracked).
    pub rules: Vec<PathBuf>,
    /// Mode of the default profile.
    pub mode: Mode,
    /// A suricata.yaml-style file whose `vars:` define address and port groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vars_file: Option<PathBuf>,
    /// Variables set here (`HOME_NET = "[10.0.0.0/8]"`); names ending in `_PORTS` are port
    /// groups. They override `vars_file` and Suricata's defaults.
    pub vars: BTreeMap<String, String>,
    /// A classification.config (classtype priorities); default: Suricata's stock one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification_file: Option<PathBuf>,
    /// A threshold.config (`threshold`, `event_filter`, `suppress`, `rate_filter` lines, as
    /// Suricata's `threshold-file`), read with the rules at start and on every reload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_file: Option<PathBuf>,
    /// What to do with packets that cannot be inspected.
    pub exception_policy: ExceptionPolicy,
    /// Pick up TCP sessions mid-stream (GWLB moves flows between instances): keep it on.
    pub midstream: bool,
    /// Flow table memory per worker and per profile, bytes (allocated at start).
    pub flow_memcap: usize,
    /// Flows whose latest GENEVE headers each worker keeps for injecting rejects (IPS profiles).
    pub header_table_flows: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            rules: Vec::new(),
            mode: Mode::Ids,
            vars_file: None,
            vars: BTreeMap::new(),
            classification_file: None,
            threshold_file: None,
            exception_policy: ExceptionPolicy::Auto,
            midstream: true,
            flow_memcap: 64 << 20,
            header_table_flows: 8192,
        }
    }
}

/// One `[[profiles]]` entry: a policy for some GWLB endpoints. Unset keys come from `[detect]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ProfileConfig {
    /// Profile name (a zone, a VPC): in alerts and metric labels.
    pub name: String,
    /// GWLB endpoint ids this profile applies to.
    pub endpoints: Vec<EndpointId>,
    /// Mode; default `detect.mode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Rule files; default `detect.rules`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<PathBuf>>,
    /// Variables file; default `detect.vars_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vars_file: Option<PathBuf>,
    /// Variables, applied over `detect.vars`.
    pub vars: BTreeMap<String, String>,
    /// Threshold file; default `detect.threshold_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_file: Option<PathBuf>,
}

/// Name of the profile built from `[detect]`.
pub const DEFAULT_PROFILE: &str = "default";

/// A profile with every setting resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSpec {
    /// Name.
    pub name: String,
    /// Endpoints (empty for the default profile).
    pub endpoints: Vec<EndpointId>,
    /// Mode.
    pub mode: Mode,
    /// Rule files and directories.
    pub rules: Vec<PathBuf>,
    /// Variables file.
    pub vars_file: Option<PathBuf>,
    /// Variables.
    pub vars: BTreeMap<String, String>,
    /// Classification file.
    pub classification_file: Option<PathBuf>,
    /// Threshold file (threshold.config).
    pub threshold_file: Option<PathBuf>,
}

impl DetectConfig {
    /// Checks the settings and the profiles; the error names the key.
    pub fn validate(&self, profiles: &[ProfileConfig]) -> Result<(), String> {
        if self.flow_memcap < (1 << 16) {
            return Err(format!(
                "detect.flow_memcap: must be at least 65536 bytes, got {}",
                self.flow_memcap
            ));
        }
        if !(16..=1 << 24).contains(&self.header_table_flows) {
            return Err(format!(
                "detect.header_table_flows: must be 16..=16777216, got {}",
                self.header_table_flows
            ));
        }
        let mut seen: BTreeMap<u64, &str> = BTreeMap::new();
        let mut names = vec![DEFAULT_PROFILE];
        for (i, p) in profiles.iter().enumerate() {
            let valid_name = !p.name.is_empty()
                && p.name.len() <= 64
                && p.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !valid_name {
                return Err(format!(
                    "profiles[{i}].name: `{}`: 1 to 64 letters, digits, `-`, `_` or `.`",
                    p.name
                ));
            }
            if names.contains(&p.name.as_str()) {
                return Err(format!(
                    "profiles[{i}].name: `{}` is used twice (`{DEFAULT_PROFILE}` is the [detect] profile)",
                    p.name
                ));
            }
            names.push(&p.name);
            if p.endpoints.is_empty() {
                return Err(format!(
                    "profiles[{i}].endpoints: profile `{}` lists no GWLB endpoint id",
                    p.name
                ));
            }
            for e in &p.endpoints {
                if let Some(other) = seen.insert(e.0, &p.name) {
                    return Err(format!(
                        "profiles[{i}].endpoints: {e} is already in profile `{other}`"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The resolved profiles: index 0 is the default profile, then `profiles` in order.
    pub fn profile_specs(&self, profiles: &[ProfileConfig]) -> Vec<ProfileSpec> {
        let mut out = vec![ProfileSpec {
            name: DEFAULT_PROFILE.to_owned(),
            endpoints: Vec::new(),
            mode: self.mode,
            rules: self.rules.clone(),
            vars_file: self.vars_file.clone(),
            vars: self.vars.clone(),
            classification_file: self.classification_file.clone(),
            threshold_file: self.threshold_file.clone(),
        }];
        for p in profiles {
            let mut vars = self.vars.clone();
            vars.extend(p.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
            out.push(ProfileSpec {
                name: p.name.clone(),
                endpoints: p.endpoints.clone(),
                mode: p.mode.unwrap_or(self.mode),
                rules: p.rules.clone().unwrap_or_else(|| self.rules.clone()),
                vars_file: p.vars_file.clone().or_else(|| self.vars_file.clone()),
                vars,
                classification_file: self.classification_file.clone(),
                threshold_file: p
                    .threshold_file
                    .clone()
                    .or_else(|| self.threshold_file.clone()),
            });
        }
        out
    }
}

/// The fixed part of the policy the workers use per packet: which profile an endpoint selects,
/// and each profile's mode and exception handling. Built once at start.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Profile names, by profile index (0 = default).
    pub names: Vec<Arc<str>>,
    /// Modes, by profile index.
    pub modes: Vec<Mode>,
    /// Undecodable inner packets, by profile index.
    pub malformed: Vec<MalformedPolicy>,
    /// Exception policy drops (fail closed), by profile index.
    pub exception_drops: Vec<bool>,
    /// Sorted (endpoint id, profile index).
    endpoints: Vec<(u64, u16)>,
}

impl Policy {
    /// The policy of `specs` (index 0 the default profile). `malformed_inner` is the explicit
    /// `dataplane.malformed_inner`, if set; otherwise the exception policy decides.
    pub fn new(
        specs: &[ProfileSpec],
        exception: ExceptionPolicy,
        malformed_inner: Option<MalformedPolicy>,
    ) -> Self {
        let mut endpoints: Vec<(u64, u16)> = specs
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.endpoints
                    .iter()
                    .map(move |e| (e.0, u16::try_from(i).unwrap_or(0)))
            })
            .collect();
        endpoints.sort_unstable();
        let modes: Vec<Mode> = specs.iter().map(|s| s.mode).collect();
        Policy {
            names: specs.iter().map(|s| Arc::from(s.name.as_str())).collect(),
            malformed: modes
                .iter()
                .map(|&m| {
                    malformed_inner.unwrap_or(if exception.drops(m) {
                        MalformedPolicy::Drop
                    } else {
                        MalformedPolicy::Pass
                    })
                })
                .collect(),
            exception_drops: modes.iter().map(|&m| exception.drops(m)).collect(),
            modes,
            endpoints,
        }
    }

    /// Profile index of GWLB endpoint `endpoint` (0, the default, when unknown).
    #[inline]
    pub fn profile_of(&self, endpoint: u64) -> usize {
        match self.endpoints.binary_search_by_key(&endpoint, |e| e.0) {
            Ok(i) => usize::from(self.endpoints[i].1),
            Err(_) => 0,
        }
    }

    /// Number of profiles.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Never true (the default profile always exists).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// True when some profile is in IPS mode.
    pub fn any_ips(&self) -> bool {
        self.modes.contains(&Mode::Ips)
    }
}

/// What loading one profile's rules did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProfileLoad {
    /// Profile name.
    pub name: String,
    /// Mode.
    pub mode: String,
    /// Rule files read.
    pub files: usize,
    /// Rules read (not commented out).
    pub rules_read: usize,
    /// Rules in the engine.
    pub rules_loaded: usize,
    /// Rules skipped for unsupported keywords (parser) or that the engine cannot honour.
    pub rules_skipped: usize,
    /// Seconds to read, parse and compile.
    pub load_seconds: f64,
    /// Entries read from the threshold file (0 without one).
    pub threshold_entries: usize,
    /// Threshold entries that did not apply (unknown rule, overridden by the rule's own
    /// `threshold`/`detection_filter`): the first [`MAX_THRESHOLD_WARNINGS`], as `file: line N: ...`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub threshold_warnings: Vec<String>,
}

/// Threshold warnings kept per profile load.
pub const MAX_THRESHOLD_WARNINGS: usize = 16;

/// Longest threshold file read (bytes); Suricata's stock one is a few KiB.
const MAX_THRESHOLD_FILE: u64 = 16 << 20;

/// Reads and parses a threshold file strictly: an unreadable file or any line that does not parse
/// is an error naming the file and the line(s).
pub fn read_threshold_file(
    path: &Path,
) -> Result<seawall_rules::threshold_config::ThresholdConfig, String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).map_err(|e| format!("threshold file {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_THRESHOLD_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("threshold file {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_THRESHOLD_FILE {
        return Err(format!(
            "threshold file {}: larger than {MAX_THRESHOLD_FILE} bytes",
            path.display()
        ));
    }
    let text = String::from_utf8_lossy(&bytes);
    let cfg = seawall_rules::threshold_config::ThresholdConfig::parse(&text);
    if cfg.errors.is_empty() {
        return Ok(cfg);
    }
    let shown: Vec<String> = cfg.errors.iter().take(5).map(|e| e.to_string()).collect();
    let more = match cfg.errors.len() {
        n if n > shown.len() => format!(" ({n} lines do not parse)"),
        _ => String::new(),
    };
    Err(format!(
        "threshold file {}: {}{more}",
        path.display(),
        shown.join("; ")
    ))
}

/// One profile's compiled rules.
#[derive(Debug)]
pub struct ProfileEngine {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Classtypes (EVE `category`).
    pub classes: Arc<Classifications>,
    /// What the load did.
    pub load: ProfileLoad,
}

/// The engines of every profile (same order as [`Policy::names`]), swapped as a whole.
#[derive(Debug)]
pub struct EngineSet {
    /// 1 for the set loaded at start, +1 per successful reload.
    pub generation: u64,
    /// By profile index.
    pub profiles: Vec<ProfileEngine>,
}

/// A rule set that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("profile `{profile}`: {message}")]
pub struct LoadError {
    /// The profile whose rules failed.
    pub profile: String,
    /// What failed: the first diagnostics (file:line:col) and the count.
    pub message: String,
}

/// Files of `paths`: files as given, directories walked for `*.rules` (sorted).
fn collect(path: &Path, out: &mut Vec<PathBuf>, errs: &mut Vec<String>) {
    if path.is_dir() {
        match std::fs::read_dir(path) {
            Ok(rd) => {
                let mut entries: Vec<PathBuf> =
                    rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                entries.sort();
                for e in entries {
                    if e.is_dir() {
                        collect(&e, out, errs);
                    } else if e.extension().is_some_and(|x| x == "rules") {
                        out.push(e);
                    }
                }
            }
            Err(e) => errs.push(format!("{}: {e}", path.display())),
        }
    } else if path.exists() {
        out.push(path.to_path_buf());
    } else {
        errs.push(format!("{}: no such file or directory", path.display()));
    }
}

fn is_port_var(name: &str) -> bool {
    name.ends_with("_PORTS") || name.ends_with("_PORT")
}

/// Loads and compiles one profile's rules, strictly (see the module doc).
pub fn load_profile(spec: &ProfileSpec) -> Result<(Engine, ProfileEngineParts), LoadError> {
    let started = Instant::now();
    let fail = |message: String| LoadError {
        profile: spec.name.clone(),
        message,
    };
    let opts = CheckOptions {
        allow_unsupported: true,
        vars_file: spec.vars_file.clone(),
        classification_file: spec.classification_file.clone(),
    };
    let mut diags = Vec::new();
    let base = seawall_rules::check::loader_for(&opts, &mut diags);
    if !diags.is_empty() {
        let shown: Vec<String> = diags.iter().take(5).map(|d| d.to_string()).collect();
        return Err(fail(shown.join("; ")));
    }
    let mut vars = base.vars().clone();
    for (k, v) in &spec.vars {
        if is_port_var(k) {
            vars.set_port(k, v);
        } else {
            vars.set_address(k, v);
        }
    }
    if let Some((name, e)) = vars.errors().into_iter().next() {
        return Err(fail(format!("variable {name}: {e}")));
    }
    let classes = base.classifications().clone();
    let mut loader = Loader::new(vars, classes.clone());
    let mut files = Vec::new();
    let mut errs = Vec::new();
    for p in &spec.rules {
        collect(p, &mut files, &mut errs);
    }
    let mut rules: Vec<SourceRule> = Vec::new();
    let mut read = 0;
    let mut skipped_unsupported = 0;
    let mut errors = 0usize;
    for f in &files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                errs.push(format!("{}: {e}", f.display()));
                continue;
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        let load = loader.load_str(&f.display().to_string(), &text);
        read += load.read;
        for s in &load.skipped {
            if s.only_unsupported {
                skipped_unsupported += 1;
            } else {
                errors += 1;
            }
        }
        if load.skipped.iter().any(|s| !s.only_unsupported) {
            for d in load.diagnostics.iter().filter(|d| {
                !matches!(
                    d.kind,
                    DiagKind::Unsupported(_) | DiagKind::UnknownKeyword(_)
                )
            }) {
                if errs.len() < 5 {
                    errs.push(d.to_string());
                }
            }
        }
        rules.extend(load.rules);
    }
    if !errs.is_empty() || errors > 0 {
        let total = errs.len().max(errors);
        let shown: Vec<&str> = errs.iter().take(5).map(String::as_str).collect();
        return Err(fail(format!(
            "{total} error(s), the rule set is not loaded: {}",
            shown.join("; ")
        )));
    }
    let mut threshold_entries = 0;
    let mut threshold_warnings = Vec::new();
    if let Some(path) = &spec.threshold_file {
        let cfg = read_threshold_file(path)
            .map_err(|e| fail(format!("{e}; the rule set is not loaded")))?;
        threshold_entries = cfg.entries.len();
        threshold_warnings = cfg
            .apply(&mut rules)
            .into_iter()
            .take(MAX_THRESHOLD_WARNINGS)
            .map(|w| format!("{}: {w}", path.display()))
            .collect();
    }
    let eopts = EngineOptions {
        classifications: classes.clone(),
        ..EngineOptions::default()
    };
    let (engine, report) = Engine::compile(&rules, loader.vars(), &eopts);
    let load = ProfileLoad {
        name: spec.name.clone(),
        mode: spec.mode.as_str().to_owned(),
        files: files.len(),
        rules_read: read,
        rules_loaded: report.loaded,
        rules_skipped: skipped_unsupported + report.skipped.len(),
        load_seconds: started.elapsed().as_secs_f64(),
        threshold_entries,
        threshold_warnings,
    };
    Ok((
        engine,
        ProfileEngineParts {
            classes: Arc::new(classes),
            load,
        },
    ))
}

/// The parts of a [`ProfileEngine`] besides the engine.
#[derive(Debug)]
pub struct ProfileEngineParts {
    /// Classtypes.
    pub classes: Arc<Classifications>,
    /// What the load did.
    pub load: ProfileLoad,
}

/// Owns the running [`EngineSet`] and builds new ones: at start and on every reload.
#[derive(Debug)]
pub struct RuleManager {
    specs: Vec<ProfileSpec>,
    engines: Arc<ArcSwap<EngineSet>>,
    /// Per worker: the generation it inspects with (written by the worker at a batch boundary).
    acks: Arc<[AtomicU64]>,
    reload_lock: Mutex<()>,
}

impl RuleManager {
    /// Loads every profile (the first load: an error stops the start) for `workers` workers.
    pub fn load(specs: Vec<ProfileSpec>, workers: usize) -> Result<Self, LoadError> {
        let profiles = build(&specs)?;
        let set = EngineSet {
            generation: 1,
            profiles,
        };
        Ok(RuleManager {
            specs,
            engines: Arc::new(ArcSwap::from_pointee(set)),
            acks: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            reload_lock: Mutex::new(()),
        })
    }

    /// The profiles.
    pub fn specs(&self) -> &[ProfileSpec] {
        &self.specs
    }

    /// The published set (workers load it once per batch).
    pub fn engines(&self) -> &Arc<ArcSwap<EngineSet>> {
        &self.engines
    }

    /// Per-worker acknowledged generations.
    pub fn acks(&self) -> &Arc<[AtomicU64]> {
        &self.acks
    }

    /// The running set.
    pub fn current(&self) -> Arc<EngineSet> {
        self.engines.load_full()
    }

    /// Re-reads every profile's rule files and swaps the new set in; on error the running set
    /// stays. Blocking (compilation takes a while with big rule sets): call it off the hot path.
    /// Waits up to `settle` for every worker to switch, so the old engines are freed here and
    /// not on a worker.
    pub fn reload(&self, settle: Duration) -> Result<Arc<EngineSet>, LoadError> {
        let _guard = self
            .reload_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let profiles = build(&self.specs)?;
        let generation = self.engines.load().generation + 1;
        let new = Arc::new(EngineSet {
            generation,
            profiles,
        });
        let old = self.engines.swap(new.clone());
        let deadline = Instant::now() + settle;
        while Instant::now() < deadline
            && self
                .acks
                .iter()
                .any(|a| a.load(Ordering::Acquire) < generation)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(old);
        Ok(new)
    }
}

fn build(specs: &[ProfileSpec]) -> Result<Vec<ProfileEngine>, LoadError> {
    specs
        .iter()
        .map(|s| {
            let (engine, parts) = load_profile(s)?;
            Ok(ProfileEngine {
                engine: Arc::new(engine),
                classes: parts.classes,
                load: parts.load,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_ids_parse_with_and_without_prefix() {
        assert_eq!(
            "vpce-0123456789abcdef0".parse::<EndpointId>(),
            Ok(EndpointId(0x123456789abcdef0))
        );
        assert_eq!(
            "0x0a0b0c0d0e0f1011".parse::<EndpointId>(),
            Ok(EndpointId(0x0a0b0c0d0e0f1011))
        );
        assert_eq!("ff".parse::<EndpointId>(), Ok(EndpointId(0xff)));
        assert!("vpce-1123456789abcdef0".parse::<EndpointId>().is_err());
        assert!("vpce-".parse::<EndpointId>().is_err());
        assert!("xyz".parse::<EndpointId>().is_err());
        assert_eq!(EndpointId(0xff).to_string(), "vpce-000000000000000ff");
    }

    #[test]
    fn endpoints_select_profiles_and_unknown_ones_the_default() {
        let d = DetectConfig::default();
        let profiles = vec![ProfileConfig {
            name: "zone-a".into(),
            endpoints: vec![EndpointId(7), EndpointId(3)],
            mode: Some(Mode::Ips),
            ..ProfileConfig::default()
        }];
        d.validate(&profiles).unwrap();
        let specs = d.profile_specs(&profiles);
        let p = Policy::new(&specs, ExceptionPolicy::Auto, None);
        assert_eq!(p.profile_of(3), 1);
        assert_eq!(p.profile_of(7), 1);
        assert_eq!(p.profile_of(5), 0);
        assert_eq!(p.modes, vec![Mode::Ids, Mode::Ips]);
        assert_eq!(
            p.malformed,
            vec![MalformedPolicy::Pass, MalformedPolicy::Drop]
        );
        let explicit = Policy::new(&specs, ExceptionPolicy::Auto, Some(MalformedPolicy::Pass));
        assert_eq!(explicit.malformed[1], MalformedPolicy::Pass);
    }

    #[test]
    fn profile_errors_name_the_key() {
        let d = DetectConfig::default();
        let dup = vec![
            ProfileConfig {
                name: "a".into(),
                endpoints: vec![EndpointId(1)],
                ..ProfileConfig::default()
            },
            ProfileConfig {
                name: "b".into(),
                endpoints: vec![EndpointId(1)],
                ..ProfileConfig::default()
            },
        ];
        let e = d.validate(&dup).unwrap_err();
        assert!(e.starts_with("profiles[1].endpoints"), "{e}");
        let named_default = vec![ProfileConfig {
            name: "default".into(),
            endpoints: vec![EndpointId(1)],
            ..ProfileConfig::default()
        }];
        assert!(d
            .validate(&named_default)
            .unwrap_err()
            .starts_with("profiles[0].name"));
    }

    #[test]
    fn loading_is_strict_but_counts_unsupported_rules() {
        let dir = std::env::temp_dir().join(format!("seawall-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.rules");
        std::fs::write(
            &good,
            "alert tcp any any -> $HOME_NET 80 (msg:\"x\"; content:\"abc\"; sid:1; rev:1;)\n",
        )
        .unwrap();
        let bad = dir.join("bad.rules");
        std::fs::write(&bad, "alert tcp any any -> any any (msg:\"x\"; sid:;)\n").unwrap();
        let mut spec = DetectConfig {
            rules: vec![good.clone()],
            ..DetectConfig::default()
        }
        .profile_specs(&[])
        .remove(0);
        spec.vars.insert("HOME_NET".into(), "[10.0.0.0/8]".into());
        let (engine, parts) = load_profile(&spec).unwrap();
        assert_eq!(engine.len(), 1);
        assert_eq!(parts.load.rules_loaded, 1);
        spec.rules.push(bad);
        let e = load_profile(&spec).unwrap_err();
        assert!(e.message.contains("bad.rules"), "{e}");
        spec.rules = vec![dir.join("missing.rules")];
        let e = load_profile(&spec).unwrap_err();
        assert!(e.message.contains("no such file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Sids of the alerts `set`'s default profile raises on a UDP packet 10.0.0.1 -> 10.0.0.2:53
    /// (header-only rules; no flow).
    fn alerts_of(set: &EngineSet) -> Vec<u32> {
        let mut udp = vec![0x04, 0xd2, 0, 53, 0, 8, 0, 0];
        let mut raw = vec![
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        raw.append(&mut udp);
        let pkt = seawall_wire::decode_inner(0x0800, &raw).expect("valid packet");
        let engine = &set.profiles[0].engine;
        let mut ctx = seawall_detect::DetectCtx::new(engine);
        let info =
            seawall_detect::PacketInfo::new(seawall_flow::Timestamp::from_secs(1), &pkt, &raw);
        let mut alerts = Vec::new();
        engine.inspect(&mut ctx, &info, None, &mut alerts);
        alerts.iter().map(|a| a.sid).collect()
    }

    /// The threshold file is read with the rules at start and on every reload: its `suppress`
    /// silences a rule; a file with a line that does not parse (or a missing one) fails the
    /// reload naming the file and the line, and the running set (with its suppression) stays.
    #[test]
    fn threshold_file_suppresses_and_a_broken_one_keeps_the_running_set() {
        let dir = std::env::temp_dir().join(format!("seawall-policy-thr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rules = dir.join("udp.rules");
        std::fs::write(
            &rules,
            "alert udp any any -> any 53 (msg:\"a\"; sid:1; rev:1;)\n\
             alert udp any any -> any 53 (msg:\"b\"; sid:2; rev:1;)\n",
        )
        .unwrap();
        let thr = dir.join("threshold.config");
        std::fs::write(&thr, "# comment\nsuppress gen_id 1, sig_id 2\n").unwrap();

        // Without the threshold file both rules alert.
        let plain = DetectConfig {
            rules: vec![rules.clone()],
            ..DetectConfig::default()
        };
        let m = RuleManager::load(plain.profile_specs(&[]), 1).unwrap();
        assert_eq!(alerts_of(&m.current()), vec![1, 2]);

        // With it, sid 2 is suppressed; a profile inherits the file unless it sets its own.
        let detect = DetectConfig {
            threshold_file: Some(thr.clone()),
            ..plain
        };
        let profiles = [ProfileConfig {
            name: "zone-a".into(),
            endpoints: vec![EndpointId(1)],
            ..ProfileConfig::default()
        }];
        let specs = detect.profile_specs(&profiles);
        assert_eq!(specs[1].threshold_file.as_deref(), Some(thr.as_path()));
        let m = RuleManager::load(specs, 1).unwrap();
        let set = m.current();
        assert_eq!(alerts_of(&set), vec![1]);
        assert_eq!(set.profiles[0].load.threshold_entries, 1);
        assert!(set.profiles[0].load.threshold_warnings.is_empty());

        // A reload re-reads it: suppressing sid 1 too, and an unknown sid is only a warning.
        std::fs::write(
            &thr,
            "suppress gen_id 1, sig_id 2\nsuppress gen_id 1, sig_id 1\nsuppress gen_id 1, sig_id 99\n",
        )
        .unwrap();
        let set = m.reload(Duration::ZERO).unwrap();
        assert_eq!(set.generation, 2);
        assert!(alerts_of(&set).is_empty());
        let w = &set.profiles[0].load.threshold_warnings;
        assert!(
            w.len() == 1 && w[0].contains("line 3") && w[0].contains("99"),
            "{w:?}"
        );

        // A broken line: the reload fails naming the file and the line; generation 2 stays.
        std::fs::write(
            &thr,
            "suppress gen_id 1, sig_id 2\n\nsuppress gen_id 1, sig_id 1, track by_nobody\n",
        )
        .unwrap();
        let e = m.reload(Duration::ZERO).unwrap_err();
        assert!(e.message.contains("threshold.config"), "{e}");
        assert!(e.message.contains("line 3"), "{e}");
        assert_eq!(m.current().generation, 2);
        assert!(alerts_of(&m.current()).is_empty());

        // A missing file fails the same way.
        std::fs::remove_file(&thr).unwrap();
        let e = m.reload(Duration::ZERO).unwrap_err();
        assert!(e.message.contains("threshold.config"), "{e}");
        assert_eq!(m.current().generation, 2);
        let e = read_threshold_file(&thr).unwrap_err();
        assert!(e.starts_with("threshold file "), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
