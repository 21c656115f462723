//! Tracing (structured log) setup: one subscriber writing to stdout, plain text or JSON lines.

use tracing_subscriber::EnvFilter;

/// Why [`init_tracing`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TracingError {
    /// The filter string is not valid `EnvFilter` syntax.
    #[error("invalid log filter {filter:?}")]
    Filter {
        /// The filter as given.
        filter: String,
        /// The parser's complaint.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber (or `log` logger) is already installed.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Install the global tracing subscriber: events to stdout, as JSON lines when `json`, else as
/// human-readable text; `filter` uses `EnvFilter` syntax (e.g. `info` or `info,seawall_api=debug`).
///
/// Call once, at start. Nothing in Seawall logs per packet: the data plane counts instead.
pub fn init_tracing(json: bool, filter: &str) -> Result<(), TracingError> {
    let env_filter = EnvFilter::try_new(filter).map_err(|source| TracingError::Filter {
        filter: filter.to_owned(),
        source,
    })?;
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stdout)
        .with_env_filter(env_filter);
    let installed = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    installed.map_err(TracingError::AlreadyInstalled)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The only test in this crate that touches the global subscriber.
    #[test]
    fn bad_filter_is_rejected_then_install_succeeds_once() {
        let err = init_tracing(false, "info,[[[").expect_err("not a filter");
        assert!(matches!(err, TracingError::Filter { .. }), "{err:?}");
        assert!(err.to_string().contains("[[["));
        init_tracing(true, "info,seawall_telemetry=debug").expect("first install");
        let again = init_tracing(false, "info").expect_err("second install");
        assert!(
            matches!(again, TracingError::AlreadyInstalled(_)),
            "{again:?}"
        );
    }
}
