//! Decode counters of the inspectors (tunnels opened and refused, packets that could not be
//! decoded, fragments, defragmenter drops, packets inspected without a flow), by label.
//!
//! The inspectors keep monotonic totals per label (`&'static str` names from the decoders'
//! fixed reason lists). A worker hands them to its [`DecodeWorkerMetrics`] once per batch
//! ([`DecodeWorkerMetrics::begin`], [`DecodeWorkerMetrics::add`] per inspector,
//! [`DecodeWorkerMetrics::publish`]); the handle sums them over the worker's inspectors (one per
//! profile) and adds the increments to the exposed counters. A label's series is resolved once,
//! the first time the worker sees the label, then kept in the handle: afterwards a batch is
//! relaxed atomic adds only. Labels are bounded twice: by the decoders' reason lists, and by
//! [`MAX_LABELS`] per family and worker (more are counted under [`OTHER_REASON`]).

use std::fmt;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::dataplane::{WorkerLabels, OTHER_REASON};
use crate::padded::PaddedU64;

type Count = Counter<u64, PaddedU64>;

/// Distinct labels a worker keeps per family; more are counted under [`OTHER_REASON`].
pub const MAX_LABELS: usize = 64;

/// The labelled decode counter families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeFamily {
    /// `seawall_decode_tunnels_total{worker, kind}`: tunnel packets decapsulated, by
    /// encapsulation.
    Tunnels,
    /// `seawall_decode_tunnel_errors_total{worker, reason}`: tunnels not opened (malformed,
    /// unsupported, or an inner packet Suricata discards) or carrying nothing inspectable.
    TunnelErrors,
    /// `seawall_decode_errors_total{worker, reason}`: packets the inspector could not decode
    /// (tunnel packets, packets rebuilt from fragments).
    DecodeErrors,
    /// `seawall_defrag_drops_total{worker, reason}`: fragments the defragmenter dropped.
    DefragDrops,
    /// `seawall_flow_untracked_total{worker, reason}`: packets inspected without a flow.
    Untracked,
}

const FAMILIES: usize = 5;

impl DecodeFamily {
    const fn index(self) -> usize {
        match self {
            DecodeFamily::Tunnels => 0,
            DecodeFamily::TunnelErrors => 1,
            DecodeFamily::DecodeErrors => 2,
            DecodeFamily::DefragDrops => 3,
            DecodeFamily::Untracked => 4,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    worker: usize,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    worker: usize,
    reason: &'static str,
}

/// The registered decode families (shared; cloned into each worker's handle).
#[derive(Clone, Debug, Default)]
pub(crate) struct DecodeFamilies {
    tunnels: Family<KindLabels, Count>,
    reasons: [Family<ReasonLabels, Count>; FAMILIES - 1],
    fragments: Family<WorkerLabels, Count>,
    reassembled: Family<WorkerLabels, Count>,
}

impl DecodeFamilies {
    pub(crate) fn register(registry: &mut Registry, workers: usize) -> Self {
        let f = DecodeFamilies::default();
        registry.register(
            "seawall_decode_tunnels",
            "Packets decapsulated from tunnels inside the inspected traffic (GRE, VXLAN, GENEVE, Teredo, IP in IP) and inspected as packets of their own, by encapsulation",
            f.tunnels.clone(),
        );
        registry.register(
            "seawall_decode_tunnel_errors",
            "Tunnels not opened (malformed or unsupported encapsulation, or an inner packet Suricata discards) or carrying nothing inspectable, by reason; the carrier is inspected either way",
            f.reasons[0].clone(),
        );
        registry.register(
            "seawall_decode_errors",
            "Packets inside the inspected traffic (tunnel packets, packets rebuilt from fragments) that could not be decoded, by reason",
            f.reasons[1].clone(),
        );
        registry.register(
            "seawall_defrag_drops",
            "Fragments dropped by the defragmenter, by reason",
            f.reasons[2].clone(),
        );
        registry.register(
            "seawall_flow_untracked",
            "Packets inspected without a flow (fragments, protocols without flows, untracked ICMP errors), by reason",
            f.reasons[3].clone(),
        );
        registry.register(
            "seawall_defrag_fragments",
            "IP fragments seen by the inspectors",
            f.fragments.clone(),
        );
        registry.register(
            "seawall_defrag_reassembled",
            "Packets rebuilt from fragments",
            f.reassembled.clone(),
        );
        for worker in 0..workers {
            let _ = f.fragments.get_or_create(&WorkerLabels { worker });
            let _ = f.reassembled.get_or_create(&WorkerLabels { worker });
        }
        f
    }

    pub(crate) fn worker(&self, worker: usize) -> DecodeWorkerMetrics {
        let wl = WorkerLabels { worker };
        DecodeWorkerMetrics {
            worker,
            families: self.clone(),
            series: Vec::new(),
            fragments: Total::new(self.fragments.get_or_create_owned(&wl)),
            reassembled: Total::new(self.reassembled.get_or_create_owned(&wl)),
        }
    }
}

/// A counter fed with monotonic totals: the sum of this batch's totals, and what was published.
#[derive(Debug)]
struct Total {
    counter: Count,
    now: u64,
    published: u64,
}

impl Total {
    const fn new(counter: Count) -> Self {
        Total {
            counter,
            now: 0,
            published: 0,
        }
    }

    fn publish(&mut self) {
        // Totals only grow; a smaller sum (an inspector rebuilt) restarts from there.
        if self.now > self.published {
            self.counter.inc_by(self.now - self.published);
        }
        self.published = self.now;
        self.now = 0;
    }
}

#[derive(Debug)]
struct Series {
    family: DecodeFamily,
    label: &'static str,
    total: Total,
}

/// One worker's decode counters (owned by the worker: not shared, not cloned).
pub struct DecodeWorkerMetrics {
    worker: usize,
    families: DecodeFamilies,
    /// Series seen so far (bounded: [`MAX_LABELS`] per family, plus `other`).
    series: Vec<Series>,
    fragments: Total,
    reassembled: Total,
}

impl fmt::Debug for DecodeWorkerMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodeWorkerMetrics")
            .field("worker", &self.worker)
            .field("series", &self.series.len())
            .finish()
    }
}

impl DecodeWorkerMetrics {
    /// Starts a publication: the totals of every inspector of the worker follow.
    pub fn begin(&mut self) {
        for s in &mut self.series {
            s.total.now = 0;
        }
        self.fragments.now = 0;
        self.reassembled.now = 0;
    }

    /// One inspector's fragment and rebuilt-packet totals.
    pub fn add_fragments(&mut self, fragments: u64, reassembled: u64) {
        self.fragments.now = self.fragments.now.saturating_add(fragments);
        self.reassembled.now = self.reassembled.now.saturating_add(reassembled);
    }

    /// One inspector's total for `label` of `family`.
    pub fn add(&mut self, family: DecodeFamily, label: &'static str, total: u64) {
        let i = match self
            .series
            .iter()
            .position(|s| s.family == family && s.label == label)
        {
            Some(i) => i,
            None => self.resolve(family, label),
        };
        let t = &mut self.series[i].total;
        t.now = t.now.saturating_add(total);
    }

    /// The series of a label not seen before (or `other` past [`MAX_LABELS`]).
    fn resolve(&mut self, family: DecodeFamily, label: &'static str) -> usize {
        let seen = self.series.iter().filter(|s| s.family == family).count();
        let label = if seen >= MAX_LABELS {
            OTHER_REASON
        } else {
            label
        };
        if let Some(i) = self
            .series
            .iter()
            .position(|s| s.family == family && s.label == label)
        {
            return i;
        }
        let worker = self.worker;
        let counter = match family.index() {
            0 => self.families.tunnels.get_or_create_owned(&KindLabels {
                worker,
                kind: label,
            }),
            i => self.families.reasons[i - 1].get_or_create_owned(&ReasonLabels {
                worker,
                reason: label,
            }),
        };
        self.series.push(Series {
            family,
            label,
            total: Total::new(counter),
        });
        self.series.len() - 1
    }

    /// Ends the publication: the counters grow by what the totals grew since the last one.
    pub fn publish(&mut self) {
        for s in &mut self.series {
            s.total.publish();
        }
        self.fragments.publish();
        self.reassembled.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
    }

    #[test]
    fn totals_of_several_inspectors_become_increments() {
        let mut reg = Registry::default();
        let f = DecodeFamilies::register(&mut reg, 2);
        let mut w = f.worker(1);
        // Two inspectors (profiles) of worker 1.
        w.begin();
        w.add(DecodeFamily::Tunnels, "gre", 3);
        w.add(DecodeFamily::Tunnels, "vxlan", 1);
        w.add_fragments(4, 1);
        w.add(DecodeFamily::Tunnels, "gre", 2);
        w.add(DecodeFamily::TunnelErrors, "gre_unknown_protocol", 1);
        w.add_fragments(2, 0);
        w.publish();
        w.begin();
        w.add(DecodeFamily::Tunnels, "gre", 4);
        w.add(DecodeFamily::Tunnels, "vxlan", 1);
        w.add(DecodeFamily::Tunnels, "gre", 2);
        w.add(DecodeFamily::TunnelErrors, "gre_unknown_protocol", 1);
        w.add(DecodeFamily::DefragDrops, "defrag_memcap", 7);
        w.add_fragments(4, 1);
        w.add_fragments(3, 1);
        w.publish();
        let mut text = String::new();
        encode(&mut text, &reg).expect("encode");
        for (series, want) in [
            (
                "seawall_decode_tunnels_total{worker=\"1\",kind=\"gre\"}",
                6.0,
            ),
            (
                "seawall_decode_tunnels_total{worker=\"1\",kind=\"vxlan\"}",
                1.0,
            ),
            (
                "seawall_decode_tunnel_errors_total{worker=\"1\",reason=\"gre_unknown_protocol\"}",
                1.0,
            ),
            (
                "seawall_defrag_drops_total{worker=\"1\",reason=\"defrag_memcap\"}",
                7.0,
            ),
            ("seawall_defrag_fragments_total{worker=\"1\"}", 7.0),
            ("seawall_defrag_reassembled_total{worker=\"1\"}", 2.0),
            ("seawall_defrag_fragments_total{worker=\"0\"}", 0.0),
        ] {
            assert_eq!(value(&text, series), Some(want), "{series} in\n{text}");
        }
    }

    #[test]
    fn labels_are_bounded_per_family() {
        let names: Vec<&'static str> = (0..MAX_LABELS + 2)
            .map(|i| &*Box::leak(format!("r{i}").into_boxed_str()))
            .collect();
        let mut reg = Registry::default();
        let f = DecodeFamilies::register(&mut reg, 1);
        let mut w = f.worker(0);
        w.begin();
        for &name in &names {
            w.add(DecodeFamily::DecodeErrors, name, 1);
        }
        w.publish();
        let mut text = String::new();
        encode(&mut text, &reg).expect("encode");
        assert_eq!(
            text.matches("seawall_decode_errors_total{").count(),
            MAX_LABELS + 1
        );
        assert_eq!(
            value(
                &text,
                "seawall_decode_errors_total{worker=\"0\",reason=\"other\"}"
            ),
            Some(2.0)
        );
    }
}
