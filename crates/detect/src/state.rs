//! Detection state: per flow ([`FlowDetect`]: flowbits, flowints, the flow's pass/drop action)
//! and per worker (xbits tracked by host or host pair, threshold/detection_filter/rate_filter
//! entries), all driven by packet timestamps and bounded.

use std::collections::HashMap;

use core::net::IpAddr;

use seawall_flow::Timestamp;
use seawall_rules::ast::{Action, ThresholdType, Track};

/// Per-flow detection state: the `T` of `FlowTable<T>`.
///
/// 24 bytes inline: the first 64 flowbits live in a word; flows that use later bits or any
/// flowint spill to one boxed allocation.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlowDetect {
    bits: u64,
    spill: Option<Box<Spill>>,
    action: u8,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Spill {
    /// Bits 64.. (word i holds bits 64*(i+1)..).
    bits: Vec<u64>,
    /// (flowint id, value), unsorted, few entries.
    ints: Vec<(u32, u32)>,
}

const ACTION_PASS: u8 = 1;
const ACTION_DROP: u8 = 2;

impl FlowDetect {
    /// Whether flowbit `id` is set.
    pub fn is_set(&self, id: u32) -> bool {
        if id < 64 {
            return self.bits & (1u64 << id) != 0;
        }
        let w = (id / 64 - 1) as usize;
        self.spill
            .as_ref()
            .and_then(|s| s.bits.get(w))
            .is_some_and(|word| word & (1u64 << (id % 64)) != 0)
    }

    /// Set or clear flowbit `id`.
    pub fn set(&mut self, id: u32, on: bool) {
        if id < 64 {
            if on {
                self.bits |= 1u64 << id;
            } else {
                self.bits &= !(1u64 << id);
            }
            return;
        }
        let w = (id / 64 - 1) as usize;
        if !on && self.spill.as_ref().is_none_or(|s| s.bits.len() <= w) {
            return;
        }
        let spill = self.spill.get_or_insert_with(Box::default);
        if spill.bits.len() <= w {
            spill.bits.resize(w + 1, 0);
        }
        if on {
            spill.bits[w] |= 1u64 << (id % 64);
        } else {
            spill.bits[w] &= !(1u64 << (id % 64));
        }
    }

    /// Whether any flowbit or flowint is set (Suricata's "flow has vars").
    pub fn has_vars(&self) -> bool {
        self.bits != 0
            || self
                .spill
                .as_ref()
                .is_some_and(|s| !s.ints.is_empty() || s.bits.iter().any(|w| *w != 0))
    }

    /// Flowint `id`, if set.
    pub fn int(&self, id: u32) -> Option<u32> {
        self.spill
            .as_ref()
            .and_then(|s| s.ints.iter().find(|(k, _)| *k == id))
            .map(|(_, v)| *v)
    }

    /// Set flowint `id`.
    pub fn set_int(&mut self, id: u32, value: u32) {
        let spill = self.spill.get_or_insert_with(Box::default);
        match spill.ints.iter_mut().find(|(k, _)| *k == id) {
            Some(slot) => slot.1 = value,
            None => spill.ints.push((id, value)),
        }
    }

    /// A pass rule applied to the flow: later packets are not inspected.
    pub fn passed(&self) -> bool {
        self.action & ACTION_PASS != 0
    }

    /// A drop/reject rule applied to the flow: later packets are dropped uninspected.
    pub fn dropped(&self) -> bool {
        self.action & ACTION_DROP != 0
    }

    /// Record a flow action; the first one wins (as Suricata).
    pub(crate) fn apply_action(&mut self, drop: bool) {
        if self.action == 0 {
            self.action = if drop { ACTION_DROP } else { ACTION_PASS };
        }
    }
}

/// Key of a host- or pair-tracked entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Who {
    Rule,
    Host(IpAddr),
    Pair(IpAddr, IpAddr),
}

impl Who {
    /// A symmetric pair key.
    pub(crate) fn pair(a: IpAddr, b: IpAddr) -> Who {
        if a <= b {
            Who::Pair(a, b)
        } else {
            Who::Pair(b, a)
        }
    }
}

/// One threshold entry (Suricata's DetectThresholdEntry).
#[derive(Debug, Clone, Copy)]
struct ThEntry {
    start: Timestamp,
    count: u32,
    seconds: u32,
    /// rate_filter: the second the new action started (0: not active).
    rate_since: u64,
}

/// A threshold.config `rate_filter`: past `count` matches within `seconds` the rule's action
/// becomes `new_action` (`None`: Suricata's `log`/`sdrop`, which keep it) for `timeout` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateSpec {
    pub new_action: Option<Action>,
    pub timeout: u32,
}

/// A compiled threshold or detection_filter, keyed by a slot shared by rules with the same
/// (gid, sid) (Suricata keys its entries by sid and gid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ThresholdSpec {
    pub slot: u32,
    pub ty: ThresholdType,
    pub track: Track,
    pub count: u32,
    pub seconds: u32,
    /// A rate_filter (`ty` is then ignored).
    pub rate: Option<RateSpec>,
}

/// Outcome of a threshold check, as Suricata's `PacketAlertThreshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThOutcome {
    /// Alert and apply the rule's action.
    Alert,
    /// No alert, no action.
    Suppress,
    /// No alert, but the action applies (limit exceeded).
    Silent,
    /// Alert, with the rule's action replaced (a rate_filter's `new_action`; `None` keeps it).
    Rate(Option<Action>),
}

/// Per-worker tables of tracked state, bounded by entry counts.
#[derive(Debug)]
pub(crate) struct Tracked {
    thresholds: HashMap<(u32, Who), ThEntry>,
    xbits: HashMap<(u32, Who), u64>,
    max_entries: usize,
}

fn within(start: Timestamp, seconds: u32, now: Timestamp) -> bool {
    now.as_micros()
        <= start
            .as_micros()
            .saturating_add(u64::from(seconds) * 1_000_000)
}

impl Tracked {
    pub(crate) fn new(max_entries: usize) -> Self {
        Tracked {
            thresholds: HashMap::new(),
            xbits: HashMap::new(),
            max_entries,
        }
    }

    /// Evaluate one threshold for a matching rule at `now`.
    pub(crate) fn threshold(&mut self, t: &ThresholdSpec, who: Who, now: Timestamp) -> ThOutcome {
        use ThOutcome::*;
        if let Some(rate) = t.rate {
            return self.rate(t, rate, who, now);
        }
        let key = (t.slot, who);
        let Some(e) = self.thresholds.get_mut(&key) else {
            // First occurrence: create the entry (count 1, window starts now).
            if self.thresholds.len() >= self.max_entries {
                self.thresholds
                    .retain(|_, e| within(e.start, e.seconds, now));
                if self.thresholds.len() >= self.max_entries {
                    // No room, as Suricata when its host table is full.
                    return Suppress;
                }
            }
            let created = match t.ty {
                ThresholdType::Threshold if t.count == 1 => return Alert,
                _ => ThEntry {
                    start: now,
                    count: 1,
                    seconds: t.seconds,
                    rate_since: 0,
                },
            };
            self.thresholds.insert(key, created);
            return match t.ty {
                ThresholdType::Limit => Alert,
                ThresholdType::Both if t.count == 1 => Alert,
                _ => Suppress,
            };
        };
        let inside = within(e.start, t.seconds, now);
        if !inside {
            e.start = now;
            e.count = 1;
            return match t.ty {
                ThresholdType::Limit => Alert,
                ThresholdType::Both if t.count == 1 => Alert,
                _ => Suppress,
            };
        }
        e.count = e.count.saturating_add(1);
        match t.ty {
            ThresholdType::Limit => {
                if e.count <= t.count {
                    Alert
                } else {
                    Silent
                }
            }
            ThresholdType::Threshold => {
                if e.count >= t.count {
                    e.count = 0;
                    Alert
                } else {
                    Suppress
                }
            }
            ThresholdType::Both => {
                if e.count == t.count {
                    Alert
                } else if e.count > t.count {
                    Silent
                } else {
                    Suppress
                }
            }
            ThresholdType::DetectionFilter => {
                if e.count > t.count {
                    Alert
                } else {
                    Suppress
                }
            }
        }
    }

    /// Suricata's TYPE_RATE (`IsThresholdReached`): always an alert; the new action from the
    /// match that exceeds `count` within `seconds`, for `timeout` seconds (whole seconds, as
    /// Suricata compares them).
    fn rate(&mut self, t: &ThresholdSpec, rate: RateSpec, who: Who, now: Timestamp) -> ThOutcome {
        let key = (t.slot, who);
        let secs = now.as_secs();
        let Some(e) = self.thresholds.get_mut(&key) else {
            if self.thresholds.len() >= self.max_entries {
                self.thresholds
                    .retain(|_, e| e.rate_since != 0 || within(e.start, e.seconds, now));
                if self.thresholds.len() >= self.max_entries {
                    return ThOutcome::Alert;
                }
            }
            self.thresholds.insert(
                key,
                ThEntry {
                    start: now,
                    count: 1,
                    seconds: t.seconds,
                    rate_since: 0,
                },
            );
            return ThOutcome::Alert;
        };
        if e.rate_since != 0 {
            if secs.saturating_sub(e.rate_since) > u64::from(rate.timeout) {
                e.rate_since = 0;
                return ThOutcome::Alert;
            }
            return ThOutcome::Rate(rate.new_action);
        }
        if within(e.start, t.seconds, now) {
            e.count = e.count.saturating_add(1);
            if e.count > t.count {
                // 0 means "not active", as Suricata's tv_timeout.
                e.rate_since = secs;
                return ThOutcome::Rate(rate.new_action);
            }
        } else {
            e.start = now;
            e.count = 1;
        }
        ThOutcome::Alert
    }

    /// Whether xbit `id` is set for `who` at `now` (expired bits are removed).
    pub(crate) fn xbit_isset(&mut self, id: u32, who: Who, now: Timestamp) -> bool {
        match self.xbits.get(&(id, who)) {
            Some(&exp) if exp >= now.as_secs() => true,
            Some(_) => {
                self.xbits.remove(&(id, who));
                false
            }
            None => false,
        }
    }

    /// Set, unset or toggle xbit `id` for `who`, expiring `expire` seconds after `now`.
    pub(crate) fn xbit_update(
        &mut self,
        id: u32,
        who: Who,
        cmd: XbitOp,
        expire: u32,
        now: Timestamp,
    ) {
        let until = now.as_secs().saturating_add(u64::from(expire));
        match cmd {
            XbitOp::Unset => {
                self.xbits.remove(&(id, who));
            }
            XbitOp::Toggle if self.xbit_isset(id, who, now) => {
                self.xbits.remove(&(id, who));
            }
            XbitOp::Set | XbitOp::Toggle => {
                if self.xbits.len() >= self.max_entries && !self.xbits.contains_key(&(id, who)) {
                    let secs = now.as_secs();
                    self.xbits.retain(|_, exp| *exp >= secs);
                    if self.xbits.len() >= self.max_entries {
                        return;
                    }
                }
                self.xbits.insert((id, who), until);
            }
        }
    }

    /// Number of live entries (thresholds + xbits).
    pub(crate) fn len(&self) -> usize {
        self.thresholds.len() + self.xbits.len()
    }
}

/// A state-changing xbits command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XbitOp {
    Set,
    Unset,
    Toggle,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_detect_is_small() {
        assert!(core::mem::size_of::<FlowDetect>() <= 64);
        assert_eq!(core::mem::size_of::<FlowDetect>(), 24);
    }

    #[test]
    fn bits_inline_and_spilled() {
        let mut f = FlowDetect::default();
        assert!(!f.has_vars());
        f.set(3, true);
        f.set(200, true);
        assert!(f.is_set(3) && f.is_set(200) && !f.is_set(4) && !f.is_set(201));
        f.set(200, false);
        f.set(3, false);
        assert!(!f.is_set(200) && !f.has_vars());
        f.set(1000, false); // clearing an absent spilled bit allocates nothing
        f.set_int(7, 5);
        assert_eq!(f.int(7), Some(5));
        assert_eq!(f.int(8), None);
        assert!(f.has_vars());
    }

    fn spec(ty: ThresholdType, count: u32, seconds: u32) -> ThresholdSpec {
        ThresholdSpec {
            rate: None,
            slot: 0,
            ty,
            track: Track::ByRule,
            count,
            seconds,
        }
    }

    /// rate_filter count 2, seconds 10, new_action drop, timeout 5: the third match within 10 s
    /// switches to drop; drop holds while `now - since <= 5`; later matches count in a new
    /// window.
    #[test]
    fn rate_filter_switches_action_for_timeout() {
        use ThOutcome::{Alert, Rate};
        let t = ThresholdSpec {
            rate: Some(RateSpec {
                new_action: Some(Action::Drop),
                timeout: 5,
            }),
            ..spec(ThresholdType::DetectionFilter, 2, 10)
        };
        let d = Rate(Some(Action::Drop));
        assert_eq!(
            run(t, &[100, 101, 102, 103, 107, 108, 120, 121, 122, 123]),
            [Alert, Alert, d, d, d, Alert, Alert, Alert, d, d]
        );
    }

    fn run(t: ThresholdSpec, times: &[u64]) -> Vec<ThOutcome> {
        let mut tr = Tracked::new(16);
        times
            .iter()
            .map(|s| tr.threshold(&t, Who::Rule, Timestamp::from_secs(*s)))
            .collect()
    }

    #[test]
    fn threshold_types() {
        use ThOutcome::*;
        assert_eq!(
            run(spec(ThresholdType::Limit, 2, 10), &[0, 1, 2, 3, 11, 12]),
            [Alert, Alert, Silent, Silent, Alert, Alert]
        );
        assert_eq!(
            run(
                spec(ThresholdType::Threshold, 3, 60),
                &[0, 1, 2, 3, 4, 5, 100]
            ),
            [Suppress, Suppress, Alert, Suppress, Suppress, Alert, Suppress]
        );
        assert_eq!(
            run(spec(ThresholdType::Both, 2, 10), &[0, 1, 2, 20, 21]),
            [Suppress, Alert, Silent, Suppress, Alert]
        );
        assert_eq!(
            run(
                spec(ThresholdType::DetectionFilter, 2, 10),
                &[0, 1, 2, 3, 30]
            ),
            [Suppress, Suppress, Alert, Alert, Suppress]
        );
        assert_eq!(
            run(spec(ThresholdType::Threshold, 1, 10), &[0, 0]),
            [Alert, Alert]
        );
    }

    #[test]
    fn tables_are_bounded() {
        let mut tr = Tracked::new(4);
        let t = spec(ThresholdType::Limit, 1, 10);
        for i in 0..10u8 {
            let who = Who::Host(IpAddr::from([10, 0, 0, i]));
            tr.threshold(&t, who, Timestamp::from_secs(0));
            tr.xbit_update(1, who, XbitOp::Set, 30, Timestamp::from_secs(0));
        }
        assert!(tr.len() <= 8);
    }

    #[test]
    fn xbits_expire() {
        let mut tr = Tracked::new(16);
        let who = Who::Host(IpAddr::from([10, 0, 0, 1]));
        tr.xbit_update(1, who, XbitOp::Set, 5, Timestamp::from_secs(100));
        assert!(tr.xbit_isset(1, who, Timestamp::from_secs(105)));
        assert!(!tr.xbit_isset(1, who, Timestamp::from_secs(106)));
        tr.xbit_update(1, who, XbitOp::Toggle, 5, Timestamp::from_secs(106));
        assert!(tr.xbit_isset(1, who, Timestamp::from_secs(106)));
        tr.xbit_update(1, who, XbitOp::Toggle, 5, Timestamp::from_secs(106));
        assert!(!tr.xbit_isset(1, who, Timestamp::from_secs(106)));
    }
}
