//! The shared corpus: locating captures and turning them into GWLB datagrams.

use std::path::{Path, PathBuf};

use seawall_sim::{read_capture, wrap_all, CaptureStats, Datagram, WrapConfig};

/// Environment variable that overrides the corpus directory.
pub const CORPUS_ENV: &str = "SEAWALL_CORPUS";
/// The throughput capture, relative to the corpus directory.
pub const BENCH_PCAP: &str = "pcaps/bench-mixed.pcap";
/// Cookie seed of every benchmark replay, so runs send identical bytes.
pub const BENCH_SEED: u64 = 0x5ea_3a11;

/// The corpus directory: `$SEAWALL_CORPUS`, else `<repo>/../shared/corpus`.
pub fn corpus_dir() -> PathBuf {
    match std::env::var_os(CORPUS_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join("..").join("shared").join("corpus"),
    }
}

/// The workspace root (the parent of this crate's manifest directory).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The default throughput capture (`bench-mixed.pcap` in the corpus).
pub fn default_pcap() -> PathBuf {
    corpus_dir().join(BENCH_PCAP)
}

/// A capture wrapped as GWLB would send it.
#[derive(Debug, Clone)]
pub struct Load {
    /// The capture file.
    pub pcap: PathBuf,
    /// What reading it found.
    pub stats: CaptureStats,
    /// The datagrams, in capture order.
    pub datagrams: Vec<Datagram>,
}

impl Load {
    /// UDP payload bytes of all datagrams.
    pub fn bytes(&self) -> u64 {
        self.datagrams.iter().map(|d| d.bytes.len() as u64).sum()
    }
}

/// Reads `pcap` and wraps at most `max_packets` of its IP packets (all when `None`) with the
/// simulator's default ids, 64 outer sockets and the fixed [`BENCH_SEED`].
///
/// # Errors
/// The file is missing (the message says where the corpus was looked for) or unreadable.
pub fn load(pcap: &Path, max_packets: Option<usize>) -> Result<Load, String> {
    if !pcap.is_file() {
        return Err(format!(
            "capture {} not found (set ${CORPUS_ENV} to the corpus directory, or pass --pcap FILE)",
            pcap.display()
        ));
    }
    let mut cap = read_capture(pcap).map_err(|e| format!("{}: {e}", pcap.display()))?;
    if let Some(max) = max_packets {
        cap.packets.truncate(max);
    }
    if cap.packets.is_empty() {
        return Err(format!("{}: no IP packets", pcap.display()));
    }
    let cfg = WrapConfig {
        seed: Some(BENCH_SEED),
        ..WrapConfig::default()
    };
    Ok(Load {
        pcap: pcap.to_path_buf(),
        stats: cap.stats,
        datagrams: wrap_all(&cap.packets, &cfg),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_capture_is_a_loud_error() {
        let err = load(Path::new("/nonexistent/x.pcap"), None).unwrap_err();
        assert!(err.contains("/nonexistent/x.pcap"), "{err}");
        assert!(err.contains(CORPUS_ENV), "{err}");
    }

    #[test]
    fn default_pcap_is_under_the_corpus() {
        assert!(default_pcap().ends_with(BENCH_PCAP));
    }
}
