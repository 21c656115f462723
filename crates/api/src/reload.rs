//! Rule reload over the management API: the trait the binary implements, the answer, and the
//! token check.

use std::sync::Arc;

use serde::Serialize;

/// One profile's rules after a load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileRules {
    /// Profile name.
    pub name: String,
    /// `ids` or `ips`.
    pub mode: String,
    /// Rule files read.
    pub files: usize,
    /// Rules loaded.
    pub rules_loaded: usize,
    /// Rules skipped (unsupported keywords).
    pub rules_skipped: usize,
    /// Seconds to load.
    pub load_seconds: f64,
}

/// The body of `POST /api/v1/rules/reload`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReloadAnswer {
    /// True when the new rule set is running.
    pub ok: bool,
    /// What happened, for people.
    pub message: String,
    /// Generation of the running rule set (1 = loaded at start).
    pub generation: u64,
    /// The running set's profiles (after a failure: the set still running).
    pub profiles: Vec<ProfileRules>,
}

impl ReloadAnswer {
    /// A request refused before anything was attempted.
    pub fn refused(message: &str) -> Self {
        ReloadAnswer {
            ok: false,
            message: message.to_owned(),
            generation: 0,
            profiles: Vec::new(),
        }
    }
}

/// Why a reload did not happen.
#[derive(Debug, Clone, PartialEq)]
pub enum ReloadError {
    /// Not possible now (the first load is still running): try later (503).
    Busy(String),
    /// The new rule set failed to load; the answer names the error and the set still running
    /// (422).
    Failed(ReloadAnswer),
}

/// Rebuilds the rule set (blocking: it runs on a blocking thread, off the data plane).
pub trait RuleReloader: Send + Sync + 'static {
    /// Loads the rule files again and swaps the new set in, or leaves the running one.
    fn reload(&self) -> Result<ReloadAnswer, ReloadError>;
}

/// The management API's mutating endpoints: a reloader and the API token.
#[derive(Clone, Default)]
pub struct Management {
    /// Rule reload; `None` answers 501.
    pub reloader: Option<Arc<dyn RuleReloader>>,
    /// The bearer token; `None` answers 403 to every authenticated endpoint.
    pub token: Option<Arc<str>>,
}

impl std::fmt::Debug for Management {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Management")
            .field("reloader", &self.reloader.is_some())
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
