//! The simulator's error type.

use std::io;
use std::path::PathBuf;

/// Everything that can stop a simulator run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The capture file could not be opened.
    #[error("cannot open capture {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The capture could not be parsed as pcap or pcapng.
    #[error("cannot read capture {}: {source}", path.display())]
    Pcap {
        /// The file (empty for in-memory captures).
        path: PathBuf,
        /// The cause.
        source: pcap_file::PcapError,
    },
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// The configuration is unusable; the message names the setting.
    #[error("invalid simulator setting `{key}`: {message}")]
    Config {
        /// The setting.
        key: &'static str,
        /// Why.
        message: String,
    },
}

impl SimError {
    pub(crate) fn io(what: &'static str) -> impl FnOnce(io::Error) -> SimError {
        move |source| SimError::Io { what, source }
    }
}
