//! `classification.config`: classtype names, descriptions and default priorities.

use std::collections::HashMap;

/// The stock classification.config shipped with Suricata 7 (copied into `data/`).
pub const STOCK_CLASSIFICATION: &str = include_str!("../data/classification.config");

/// One classtype.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classtype {
    pub name: String,
    pub description: String,
    pub priority: u8,
}

/// The classtype table.
#[derive(Debug, Clone, Default)]
pub struct Classifications {
    map: HashMap<String, Classtype>,
}

impl Classifications {
    /// Suricata's stock table.
    pub fn stock() -> Self {
        let (c, errs) = Classifications::parse(STOCK_CLASSIFICATION);
        debug_assert!(errs.is_empty(), "stock classification.config parses");
        c
    }

    /// Parse a classification.config. Returns the table and `(line, message)` for every bad line.
    pub fn parse(text: &str) -> (Self, Vec<(u32, String)>) {
        let mut map = HashMap::new();
        let mut errs = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let Some(rest) = l.strip_prefix("config classification:") else {
                errs.push((
                    n as u32 + 1,
                    "expected `config classification: name,description,priority`".into(),
                ));
                continue;
            };
            let parts: Vec<&str> = rest.split(',').map(str::trim).collect();
            let prio = parts
                .get(2)
                .and_then(|p| p.parse::<u8>().ok())
                .filter(|p| *p > 0);
            match (parts.len(), prio) {
                (3, Some(priority)) if !parts[0].is_empty() => {
                    map.insert(
                        parts[0].to_string(),
                        Classtype {
                            name: parts[0].to_string(),
                            description: parts[1].to_string(),
                            priority,
                        },
                    );
                }
                _ => errs.push((n as u32 + 1, format!("bad classification line `{l}`"))),
            }
        }
        (Classifications { map }, errs)
    }

    /// Look up a classtype.
    pub fn get(&self, name: &str) -> Option<&Classtype> {
        self.map.get(name)
    }

    /// Number of classtypes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no classtype is defined.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_table() {
        let c = Classifications::stock();
        assert_eq!(c.len(), 43);
        assert_eq!(c.get("trojan-activity").map(|c| c.priority), Some(1));
        assert_eq!(c.get("bad-unknown").map(|c| c.priority), Some(2));
        let (_, errs) = Classifications::parse("config classification: x,y\nnonsense\n");
        assert_eq!(errs.len(), 2);
    }
}
