//! Table-driven semantics tests: rule options text, payload, expected match.
