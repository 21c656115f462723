//! Multi-pattern matching: one trait, Hyperscan and Aho-Corasick backends.
