//! The snapshot: every tracked item evaluated at one instant, folded into the
//! aggregates `/metrics` serves. Pure: items, policies, `now` and the label caps
//! in; gauges, histograms, the vendor comparison and the outcomes to count out.
//! Counting itself (which needs the store's memory of what was counted)
//! happens in [`crate::engine`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;

use crate::model::Target;
use crate::report::Row;
use crate::sla::State;

mod evaluate;
mod stable;

pub use evaluate::{
    Flush, add_vendor, evaluate_all, evaluate_sorted, evaluate_sorted_marking, settles,
};
pub use stable::{OpenStable, Remaining, RowClock};

/// Upper bounds (seconds) of the time-to-breach and completion histograms: a
/// minute to a week, dense where alerts and dashboards look (under 1 h).
pub const BUCKETS: [f64; 11] = [
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0, 604800.0,
];

/// The SLA label set: source, channel, team, priority, policy, target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Series {
    pub source: String,
    pub channel: &'static str,
    pub team: String,
    pub priority: String,
    pub policy: String,
    pub target: &'static str,
}

/// Separates label values in [`Series::key`]; a control character no helpdesk
/// name contains.
const SEP: char = '\u{1f}';

impl Series {
    pub const LABELS: [&'static str; 6] =
        ["source", "channel", "team", "priority", "policy", "target"];

    pub fn values(&self) -> [&str; 6] {
        [
            &self.source,
            self.channel,
            &self.team,
            &self.priority,
            &self.policy,
            self.target,
        ]
    }

    /// A stable string form for the store.
    pub fn key(&self) -> String {
        self.values().join(&SEP.to_string())
    }

    /// Labels of a stored key, in [`Series::LABELS`] order.
    pub fn split_key(key: &str) -> Option<[&str; 6]> {
        let mut it = key.split(SEP);
        let out = [
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
        ];
        it.next().is_none().then_some(out)
    }
}

/// The one shared copy of `series` in `set` (added when it is not there yet):
/// finals and skipped items' cycles hold a few hundred series among
/// hundreds of thousands of outcomes.
pub fn share(set: &mut HashSet<Arc<Series>>, series: Series) -> Arc<Series> {
    if let Some(s) = set.get(&series) {
        return s.clone();
    }
    let s = Arc::new(series);
    set.insert(s.clone());
    s
}

/// Open items by exclusive state: `breached` before `at_risk` before `paused`
/// before `running`, so the states of one series add up to its open items.
pub const OPEN_STATES: [&str; 4] = ["running", "paused", "at_risk", "breached"];

/// The index of the [`BUCKETS`] bound `v` falls under ([`BUCKETS`]'s length
/// for +Inf).
pub fn bucket(v: f64) -> usize {
    BUCKETS
        .iter()
        .position(|b| v <= *b)
        .unwrap_or(BUCKETS.len())
}

/// A histogram with [`BUCKETS`], non-cumulative counts plus +Inf.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub counts: [u64; BUCKETS.len() + 1],
    pub sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, v: f64) {
        self.counts[bucket(v)] += 1;
        self.sum += v;
    }

    /// Takes back one [`Histogram::observe`] of `v`.
    pub fn unobserve(&mut self, v: f64) {
        self.counts[bucket(v)] -= 1;
        self.sum -= v;
    }

    /// Adds another histogram's observations.
    pub fn add(&mut self, other: &Histogram) {
        for (c, o) in self.counts.iter_mut().zip(other.counts) {
            *c += o;
        }
        self.sum += other.sum;
    }

    pub fn cumulative(&self) -> [u64; BUCKETS.len() + 1] {
        let mut out = self.counts;
        for i in 1..out.len() {
            out[i] += out[i - 1];
        }
        out
    }
}

/// A final outcome the evaluation produced; counted once by the store.
///
/// Only what counting needs, with the series shared by every final of the
/// same label set: a first evaluation at 100k tickets holds ~300k finals
/// over a few hundred series, and full outcomes with four owned label
/// strings each were most of its peak memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Final {
    pub series: Arc<Series>,
    pub item_id: Box<str>,
    pub cycle: u32,
    /// [`State::Met`] or [`State::Breached`].
    pub state: State,
    pub started_at: Timestamp,
    /// The breach instant of a breached cycle, else its completion.
    pub at: Timestamp,
    /// Business seconds to completion, for a completed cycle.
    pub completed_elapsed: Option<i64>,
}

/// Caps on distinct team and priority values per source; values past the cap
/// fold into `other`. Admitted values stay admitted (the store keeps them) so
/// a label never changes meaning between scrapes or restarts.
#[derive(Debug, Default)]
pub struct LabelCaps {
    pub team_limit: usize,
    pub priority_limit: usize,
    /// (source, label) -> admitted values.
    pub admitted: HashMap<(String, &'static str), BTreeSet<String>>,
    /// Distinct values folded since start, per label.
    pub folded: BTreeMap<&'static str, BTreeSet<(String, String)>>,
    /// Values admitted during the last evaluation, for the store to persist.
    pub newly_admitted: Vec<(String, &'static str, String)>,
}

impl LabelCaps {
    fn label(&mut self, source: &str, label: &'static str, value: Option<&str>) -> String {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return "none".to_owned();
        };
        let limit = if label == "team" {
            self.team_limit
        } else {
            self.priority_limit
        };
        let set = self.admitted.entry((source.to_owned(), label)).or_default();
        if set.contains(value) {
            return value.to_owned();
        }
        if set.len() < limit {
            set.insert(value.to_owned());
            self.newly_admitted
                .push((source.to_owned(), label, value.to_owned()));
            return value.to_owned();
        }
        self.folded
            .entry(label)
            .or_default()
            .insert((source.to_owned(), value.to_owned()));
        "other".to_owned()
    }
}

/// Everything one evaluation yields.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// `(series, state)` -> open items in that state.
    pub open: BTreeMap<(Series, &'static str), u64>,
    /// Remaining business seconds of open, not yet breached cycles.
    pub time_to_breach: BTreeMap<Series, Histogram>,
    /// Met and breached cycles, for the store to count once.
    pub finals: Vec<Final>,
    /// Ids of items with no open cycle, candidates for pruning.
    pub done: HashMap<String, Vec<String>>,
    /// `(source, channel, target, result)` -> items where the vendor's own SLA
    /// verdict and ours are both decided; see `compare_with_vendor` (`evaluate.rs`).
    pub vendor: BTreeMap<(String, &'static str, &'static str, &'static str), u64>,
    /// One row per open cycle (running, at risk, paused, or breached and
    /// still open) with the raw team and priority, for `/items`. Ids live
    /// here and never in a label.
    pub open_rows: Vec<Row>,
    /// Done items whose evaluation can no longer change while the item does
    /// not (see [`settles`]), with their share of `vendor`. An incremental
    /// evaluator may skip them from now on.
    pub settled: Vec<Settled>,
    /// How many items this evaluation evaluated.
    pub evaluated: usize,
}

/// A done item that [`settles`] at the evaluation's `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub source: String,
    pub id: String,
    /// Its vendor comparisons, `(target, result)`: what it adds to
    /// [`Evaluation::vendor`] at this and every later evaluation.
    pub vendor: Verdicts,
}

/// One vendor comparison of one item: `(target, result)`.
pub type VendorVerdict = (&'static str, &'static str);

/// The results [`evaluate::compare_with_vendor`] gives; their positions are their
/// codes in [`Verdicts`].
const AGREE_MET: &str = "agree_met";
const AGREE_BREACHED: &str = "agree_breached";
const VENDOR_BREACHED_ONLY: &str = "vendor_breached_only";
const EXPORTER_BREACHED_ONLY: &str = "exporter_breached_only";
const RESULTS: [&str; 4] = [
    AGREE_MET,
    AGREE_BREACHED,
    VENDOR_BREACHED_ONLY,
    EXPORTER_BREACHED_ONLY,
];

/// An item's vendor verdicts as a settled or open-stable mark keeps them for
/// as long as the item is tracked: up to eight inline, a byte each (the
/// target's and the result's positions), any others in a box. A boxed slice
/// of 32-byte pairs was an allocation per marked item.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdicts {
    Inline(u64),
    Boxed(Box<[VendorVerdict]>),
}

impl Verdicts {
    pub fn new(verdicts: &[VendorVerdict]) -> Verdicts {
        let mut packed = 0u64;
        for (i, (target, result)) in verdicts.iter().enumerate() {
            let t = Target::ALL.iter().position(|t| t.as_str() == *target);
            let r = RESULTS.iter().position(|r| r == result);
            match (t, r) {
                (Some(t), Some(r)) if i < 8 => packed |= ((t * 4 + r + 1) as u64) << (8 * i),
                _ => return Verdicts::Boxed(verdicts.into()),
            }
        }
        Verdicts::Inline(packed)
    }

    pub fn iter(&self) -> impl Iterator<Item = VendorVerdict> + '_ {
        let (packed, boxed): (u64, &[VendorVerdict]) = match self {
            Verdicts::Inline(p) => (*p, &[]),
            Verdicts::Boxed(b) => (0, b),
        };
        (0..8)
            .map(move |i| (packed >> (8 * i)) as u8)
            .take_while(|code| *code != 0)
            .map(|code| {
                let code = usize::from(code - 1);
                (Target::ALL[code / 4].as_str(), RESULTS[code % 4])
            })
            .chain(boxed.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Item;
    use crate::sla::PolicySet;

    #[test]
    fn verdicts_keep_every_pair_in_order_inline_or_boxed() {
        let all: Vec<VendorVerdict> = Target::ALL
            .iter()
            .flat_map(|t| RESULTS.iter().map(move |r| (t.as_str(), *r)))
            .collect();
        assert_eq!(Verdicts::new(&[]).iter().count(), 0);
        for window in all.windows(8).chain(all.windows(1)).chain(all.windows(3)) {
            let v = Verdicts::new(window);
            assert!(matches!(v, Verdicts::Inline(_)), "{window:?}");
            assert_eq!(v.iter().collect::<Vec<_>>(), window);
        }
        // Past eight, or a pair it has no code for: boxed, still in order.
        for odd in [&all[..9], &[("first_response", "met")][..]] {
            let v = Verdicts::new(odd);
            assert!(matches!(v, Verdicts::Boxed(_)), "{odd:?}");
            assert_eq!(v.iter().collect::<Vec<_>>(), odd);
        }
    }

    #[test]
    fn label_caps_admit_the_first_values_and_fold_the_rest() {
        let mut caps = LabelCaps {
            team_limit: 2,
            priority_limit: 1,
            ..LabelCaps::default()
        };
        assert_eq!(caps.label("s", "team", Some("a")), "a");
        assert_eq!(caps.label("s", "team", Some("b")), "b");
        assert_eq!(caps.label("s", "team", Some("c")), "other");
        assert_eq!(caps.label("s", "team", Some("c")), "other");
        assert_eq!(caps.label("s", "team", Some("a")), "a");
        // Caps are per source, and a missing value is `none`, never folded.
        assert_eq!(caps.label("t", "team", Some("c")), "c");
        assert_eq!(caps.label("s", "team", None), "none");
        assert_eq!(caps.label("s", "team", Some("")), "none");
        assert_eq!(caps.label("s", "priority", Some("Gold")), "Gold");
        assert_eq!(caps.label("s", "priority", Some("Silver")), "other");
        // Distinct folded values are counted once.
        assert_eq!(caps.folded["team"].len(), 1);
        assert_eq!(caps.folded["priority"].len(), 1);
        assert_eq!(caps.newly_admitted.len(), 4);
    }

    /// One policy `name` for every item: pickup within 60 s, around the clock.
    fn pickup_for_all(name: &str) -> PolicySet {
        use crate::model::Target;
        use crate::sla::{Calendar, Policy, TargetSpec};

        let pickup = TargetSpec::new(
            Target::Pickup,
            jiff::SignedDuration::from_secs(60),
            0.9,
            Arc::new(Calendar::always()),
        );
        PolicySet::new(vec![Policy {
            name: name.into(),
            matcher: None,
            targets: vec![pickup],
        }])
    }

    #[test]
    fn capped_labels_are_admitted_oldest_first_whatever_the_iteration_order() {
        use crate::model::Channel;

        let policies = pickup_for_all("all");
        let start: Timestamp = "2026-11-01T00:00:00Z".parse().unwrap();
        // 200 chats of 200 teams; creation times scattered, the team name
        // unrelated to the age.
        let items: Vec<Item> = (0..200i64)
            .map(|i| {
                let age = (i * 7919) % 200;
                let mut item = Item::new(
                    "s",
                    &format!("c{i}"),
                    Channel::Chat,
                    start + jiff::SignedDuration::from_mins(age),
                );
                item.team = Some(format!("team-{i:03}"));
                item
            })
            .collect();
        let admitted = |order: Vec<&Item>| {
            let mut caps = LabelCaps {
                team_limit: 50,
                priority_limit: 5,
                ..LabelCaps::default()
            };
            evaluate_all(
                order,
                &policies,
                start + jiff::SignedDuration::from_hours(24),
                &mut caps,
            );
            caps.admitted[&("s".to_owned(), "team")].clone()
        };
        let forward = admitted(items.iter().collect());
        let backward = admitted(items.iter().rev().collect());
        let shuffled = admitted({
            let mut v: Vec<&Item> = items.iter().collect();
            fastrand::Rng::with_seed(7).shuffle(&mut v);
            v
        });
        assert_eq!(forward.len(), 50);
        assert_eq!(forward, backward);
        assert_eq!(forward, shuffled);
        // The 50 oldest items' teams.
        let mut by_age: Vec<&Item> = items.iter().collect();
        by_age.sort_by_key(|i| i.created_at);
        let oldest: BTreeSet<String> = by_age[..50]
            .iter()
            .map(|i| i.team.clone().unwrap())
            .collect();
        assert_eq!(forward, oldest);
    }

    #[test]
    fn evaluate_all_folds_outcomes_into_open_states_histograms_and_finals() {
        use std::sync::Arc;

        use crate::model::{Channel, Target};
        use crate::sla::{AtRisk, Calendar, Matcher, Policy, TargetSpec};

        let mut pickup = TargetSpec::new(
            Target::Pickup,
            jiff::SignedDuration::from_secs(60),
            0.9,
            Arc::new(Calendar::always()),
        );
        pickup.at_risk = Some(AtRisk::Remaining(jiff::SignedDuration::from_secs(30)));
        let policies = PolicySet::new(vec![Policy {
            name: "live".into(),
            matcher: Some(Matcher {
                channels: vec![Channel::Chat],
                priorities: vec![],
                teams: vec![],
                tags: vec![],
            }),
            targets: vec![pickup],
        }]);
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let now = t("2026-11-24T10:00:00Z");
        let mut met = Item::new("s", "met", Channel::Chat, t("2026-11-24T09:00:00Z"));
        met.answered_at = Some(t("2026-11-24T09:00:20Z"));
        let risky = Item::new("s", "risky", Channel::Chat, t("2026-11-24T09:59:10Z"));
        let fresh = Item::new("s", "fresh", Channel::Chat, t("2026-11-24T09:59:55Z"));
        let late = Item::new("s", "late", Channel::Chat, t("2026-11-24T09:50:00Z"));
        let ticket = Item::new("s", "ticket", Channel::Ticket, t("2026-11-24T09:00:00Z"));
        let mut caps = LabelCaps {
            team_limit: 5,
            priority_limit: 5,
            ..LabelCaps::default()
        };
        let eval = evaluate_all(
            [&met, &risky, &fresh, &late, &ticket],
            &policies,
            now,
            &mut caps,
        );

        let series = Series {
            source: "s".into(),
            channel: "chat",
            team: "none".into(),
            priority: "none".into(),
            policy: "live".into(),
            target: "pickup",
        };
        let open = |state| eval.open.get(&(series.clone(), state)).copied();
        // risky: 10 s left < 30 s; fresh: 55 s left; late: past due, still open.
        assert_eq!(
            (open("at_risk"), open("running"), open("breached")),
            (Some(1), Some(1), Some(1))
        );
        let ttb = &eval.time_to_breach[&series];
        assert_eq!((ttb.counts[0], ttb.sum), (2, 65.0));
        let finals: Vec<(&str, &str)> = eval
            .finals
            .iter()
            .map(|f| (&*f.item_id, f.state.as_str()))
            .collect();
        assert_eq!(finals, [("met", "met"), ("late", "breached")]);
        // The met chat and the ticket no policy measures are done.
        let mut done = eval.done["s"].clone();
        done.sort();
        assert_eq!(done, ["met", "ticket"]);
    }

    #[test]
    fn vendor_verdicts_are_compared_with_ours_when_both_are_decided() {
        use crate::model::{Channel, Target, VendorDue};

        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let policies = pickup_for_all("live");
        let now = t("2026-11-24T10:00:00Z");
        let chat = |id: &str, answered: &str, vendor_due: &str, breached: Option<bool>| {
            let mut i = Item::new("s", id, Channel::Chat, t("2026-11-24T09:00:00Z"));
            i.answered_at = Some(t(answered));
            i.vendor_due.push(VendorDue {
                target: Target::Pickup,
                due_at: t(vendor_due),
                completed_at: Some(t(answered)),
                breached,
            });
            i
        };
        // Ours: due 09:01. Answered 09:00:30 (met) and 09:02 (breached).
        let both_met = chat("a", "2026-11-24T09:00:30Z", "2026-11-24T09:01:00Z", None);
        let both_breached = chat("b", "2026-11-24T09:02:00Z", "2026-11-24T09:01:00Z", None);
        // The vendor's due is later (09:05): it calls 09:02 met.
        let vendor_lenient = chat("c", "2026-11-24T09:02:00Z", "2026-11-24T09:05:00Z", None);
        // An explicit vendor verdict wins over its instants.
        let vendor_says = chat(
            "d",
            "2026-11-24T09:00:30Z",
            "2026-11-24T09:01:00Z",
            Some(true),
        );
        // Still running on both sides: not compared.
        let mut open = Item::new("s", "e", Channel::Chat, t("2026-11-24T09:59:30Z"));
        open.vendor_due.push(VendorDue {
            target: Target::Pickup,
            due_at: t("2026-11-24T10:00:30Z"),
            completed_at: None,
            breached: None,
        });
        let mut caps = LabelCaps {
            team_limit: 5,
            priority_limit: 5,
            ..LabelCaps::default()
        };
        let eval = evaluate_all(
            [
                &both_met,
                &both_breached,
                &vendor_lenient,
                &vendor_says,
                &open,
            ],
            &policies,
            now,
            &mut caps,
        );
        let got: Vec<(&str, u64)> = eval.vendor.iter().map(|(k, n)| (k.3, *n)).collect();
        assert_eq!(
            got,
            [
                ("agree_breached", 1),
                ("agree_met", 1),
                ("exporter_breached_only", 1),
                ("vendor_breached_only", 1)
            ]
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_inf() {
        let mut h = Histogram::default();
        for v in [0.0, 60.0, 61.0, 1e9] {
            h.observe(v);
        }
        let c = h.cumulative();
        assert_eq!((c[0], c[1], c[BUCKETS.len()]), (2, 3, 4));
        assert_eq!(h.sum, 1e9 + 121.0);
    }

    #[test]
    fn series_keys_round_trip() {
        let s = Series {
            source: "support".into(),
            channel: "ticket",
            team: "Billing, EU".into(),
            priority: "none".into(),
            policy: "gold".into(),
            target: "resolution",
        };
        assert_eq!(Series::split_key(&s.key()), Some(s.values()));
        assert_eq!(Series::split_key("too|few"), None);
    }
}
