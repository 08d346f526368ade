//! The engine: the state the pollers and the evaluator share (the store, the
//! in-memory item set, the label caps, the rendered snapshot) and one
//! evaluation: evaluate every item, count new final outcomes once, tally the
//! compliance windows, render the SLA families, prune what can no longer move.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::sla::{Inputs, Tally, render};
use crate::metrics::source::SourceMetrics;
use crate::model::{Channel, Item};
use crate::pages::View;
use crate::pages::status::compliance_rows;
use crate::snapshot::{BUCKETS, Evaluation, Final, LabelCaps, Series, evaluate_all};
use crate::store::{CountedOutcome, Store, StoreError};

/// Per capped label, how many distinct values folded into `other`.
type Folded = Vec<(&'static str, u64)>;

/// How often open items are re-evaluated between syncs, so time to breach
/// and new breaches move by the minute even when nothing is synced.
pub const EVALUATION_INTERVAL: Duration = Duration::from_secs(15);

/// The tracked items of one source, by id. Items are boxed so the hash table
/// holds two pointers per slot rather than a whole `Item` (a table keeps up to
/// twice the slots it uses), and their lists are trimmed to their length.
pub type ItemSet = HashMap<Box<str>, Box<Item>>;

/// An item ready for an [`ItemSet`]: spare capacity the provider's pushes left
/// behind is given back, since the item lives until it is pruned.
pub fn entry(mut item: Item) -> (Box<str>, Box<Item>) {
    item.id.shrink_to_fit();
    item.tags.shrink_to_fit();
    item.statuses.shrink_to_fit();
    item.agent_replies.shrink_to_fit();
    item.customer_messages.shrink_to_fit();
    item.resolutions.shrink_to_fit();
    item.reopenings.shrink_to_fit();
    item.vendor_due.shrink_to_fit();
    (item.id.clone().into_boxed_str(), Box::new(item))
}

/// The state the pollers and the evaluator share.
pub struct Engine {
    pub store: Arc<Store>,
    items: RwLock<HashMap<String, ItemSet>>,
    caps: Mutex<LabelCaps>,
    /// The rendered SLA families; swapped whole after each evaluation.
    rendered: RwLock<Arc<String>>,
    /// The open rows and compliance the pages read; swapped whole after each
    /// evaluation, so a request never evaluates anything.
    view: RwLock<Arc<View>>,
    pub source_metrics: SourceMetrics,
    /// Hashes of the finals the store holds as counted (with the completion
    /// observed, where there is one) as of the last evaluation. Each
    /// evaluation hands the store only the others: re-offering every final
    /// every 15 s was a third of an evaluation's CPU on a large helpdesk.
    /// A 64-bit hash of a few 100k keys collides with odds of about 1e-8.
    counted: Mutex<HashSet<u64>>,
    /// Wakes the evaluator after a sync.
    pub evaluate_now: Notify,
    pub clock: Clock,
    /// Why the last store write of each writer (`evaluation`, or a source's
    /// sync) failed, until that writer's next write succeeds; `/-/ready`
    /// answers 503 meanwhile.
    store_failures: Mutex<std::collections::BTreeMap<String, String>>,
}

impl Engine {
    /// An engine with an empty item set; [`Engine::load`] reads the stored items.
    pub fn new(store: Store, source_metrics: SourceMetrics, clock: Clock) -> Engine {
        Engine {
            store: Arc::new(store),
            items: RwLock::new(HashMap::new()),
            caps: Mutex::new(LabelCaps::default()),
            rendered: RwLock::new(Arc::new(String::new())),
            view: RwLock::new(Arc::new(View::default())),
            source_metrics,
            counted: Mutex::new(HashSet::new()),
            evaluate_now: Notify::new(),
            clock,
            store_failures: Mutex::new(Default::default()),
        }
    }

    /// Records the outcome of a store write by `writer` (`evaluation`, or a
    /// source's name): a failure is kept, and makes the exporter unready,
    /// until the same writer's next write succeeds.
    pub fn note_store_write<T>(&self, writer: &str, result: &Result<T, StoreError>) {
        let mut failures = self.store_failures.lock().expect("lock poisoned");
        match result {
            Ok(_) => {
                failures.remove(writer);
            }
            Err(e) => {
                failures.insert(writer.to_owned(), e.to_string());
            }
        }
    }

    /// The first writer whose last store write failed, with the reason.
    pub fn store_failure(&self) -> Option<String> {
        let failures = self.store_failures.lock().expect("lock poisoned");
        failures
            .iter()
            .next()
            .map(|(writer, e)| format!("{writer}: {e}"))
    }

    /// The SLA families as of the last evaluation.
    pub fn rendered(&self) -> Arc<String> {
        self.rendered.read().expect("lock poisoned").clone()
    }

    /// The pages' view as of the last evaluation.
    pub fn view(&self) -> Arc<View> {
        self.view.read().expect("lock poisoned").clone()
    }

    /// Items held in memory per source.
    pub fn tracked(&self) -> HashMap<String, usize> {
        self.items
            .read()
            .expect("lock poisoned")
            .iter()
            .map(|(s, m)| (s.clone(), m.len()))
            .collect()
    }

    /// Brings the item set and admitted labels in line with `config`: sources
    /// it no longer names are forgotten (their stored data stays), sources not
    /// loaded yet are read from the store, and loaded ones are left as they
    /// are, so a reload costs only what it adds.
    pub fn load(&self, config: &Config) -> Result<(), StoreError> {
        let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        let loaded: Vec<String> = self
            .items
            .read()
            .expect("lock poisoned")
            .keys()
            .cloned()
            .collect();
        let mut items = HashMap::new();
        let mut admitted = HashMap::new();
        for name in names.iter().filter(|n| !loaded.iter().any(|l| l == *n)) {
            let stored = self.store.items(name)?;
            items.insert(
                name.to_string(),
                stored.into_iter().map(entry).collect::<ItemSet>(),
            );
            for label in ["team", "priority"] {
                let values = self.store.label_values(name, label)?;
                admitted.insert((name.to_string(), label), values.into_iter().collect());
            }
        }
        // Lock order, here and in `evaluate`: items before caps, never both
        // taken the other way round.
        {
            let mut all = self.items.write().expect("lock poisoned");
            all.retain(|s, _| names.contains(&s.as_str()));
            all.extend(items);
        }
        let mut caps = self.caps.lock().expect("lock poisoned");
        caps.team_limit = config.metrics.team_limit;
        caps.priority_limit = config.metrics.priority_limit;
        caps.admitted
            .retain(|(s, _), _| names.contains(&s.as_str()));
        caps.admitted.extend(admitted);
        Ok(())
    }

    /// One evaluation: evaluate every item, count new final outcomes once, and
    /// render the snapshot. Blocking (SQLite); run it off the async workers.
    /// Returns how many outcomes were counted for the first time.
    pub fn evaluate(&self, config: &Config) -> Result<usize, StoreError> {
        let now = (self.clock)();
        let horizon = now
            .checked_sub(retention(config))
            .unwrap_or(jiff::Timestamp::MIN)
            .as_second();
        let (mut eval, folded) = self.evaluate_items(config, now)?;
        let counted = self.count(std::mem::take(&mut eval.finals), horizon)?;
        self.render(config, now, &mut eval, &folded)?;
        self.prune(&eval, horizon)?;
        Ok(counted)
    }

    /// Evaluates every item under the label caps and persists label values
    /// admitted for the first time. Returns the evaluation and how many values
    /// each capped label has folded into `other`.
    fn evaluate_items(
        &self,
        config: &Config,
        now: Timestamp,
    ) -> Result<(Evaluation, Folded), StoreError> {
        let (eval, admitted, folded) = {
            let items = self.items.read().expect("lock poisoned");
            let mut caps = self.caps.lock().expect("lock poisoned");
            caps.team_limit = config.metrics.team_limit;
            caps.priority_limit = config.metrics.priority_limit;
            let eval = evaluate_all(
                items.values().flat_map(|m| m.values().map(|b| &**b)),
                &config.policies,
                now,
                &mut caps,
            );
            let admitted = std::mem::take(&mut caps.newly_admitted);
            let folded: Vec<(&'static str, u64)> = ["priority", "team"]
                .into_iter()
                .map(|l| (l, caps.folded.get(l).map_or(0, |s| s.len() as u64)))
                .collect();
            (eval, admitted, folded)
        };
        for (source, label, value) in &admitted {
            self.store.admit_label_value(source, label, value)?;
        }
        Ok((eval, folded))
    }

    /// Counts final outcomes not counted before, once each, in the store.
    ///
    /// The finals are moved, not cloned, into what the store counts, and both
    /// are dropped once counted: on a first sync of 100k tickets they are the
    /// largest transient allocation of an evaluation.
    fn count(&self, finals: Vec<Final>, horizon: i64) -> Result<usize, StoreError> {
        // Taken, so a failed count below leaves it empty and the next
        // evaluation offers everything again (the store ignores repeats).
        let known = std::mem::take(&mut *self.counted.lock().expect("lock poisoned"));
        let mut seen = HashSet::with_capacity(finals.len());
        let to_count: Vec<CountedOutcome> = finals
            .into_iter()
            .filter_map(|f| {
                let at = f
                    .outcome
                    .breached_at
                    .or(f.outcome.completed_at)?
                    .as_second();
                // Outcomes older than the retention horizon were counted (or
                // pruned) long ago; counting them now would count them twice.
                if at < horizon {
                    return None;
                }
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (
                    &f.series.source,
                    &f.item_id,
                    f.series.target,
                    f.outcome.cycle,
                )
                    .hash(&mut h);
                f.outcome.completed_at.is_some().hash(&mut h);
                let key = h.finish();
                if !seen.insert(key) || known.contains(&key) {
                    return None;
                }
                Some(CountedOutcome {
                    series: f.series.key(),
                    target: f.series.target.to_owned(),
                    source: f.series.source,
                    item_id: f.item_id,
                    cycle: f.outcome.cycle,
                    outcome: f.outcome.state.as_str(),
                    at,
                    completed_elapsed: f.outcome.completed_at.map(|_| f.outcome.elapsed_seconds),
                })
            })
            .collect();
        drop(known);
        let counted = self.store.count_outcomes(&to_count, bucket_of)?;
        drop(to_count);
        *self.counted.lock().expect("lock poisoned") = seen;
        Ok(counted)
    }

    /// Renders the SLA families from the evaluation, the stored counters and
    /// the compliance windows, and swaps them in for `/metrics`; moves the
    /// open rows into the view `/` and `/items` read.
    fn render(
        &self,
        config: &Config,
        now: Timestamp,
        eval: &mut Evaluation,
        folded: &[(&'static str, u64)],
    ) -> Result<(), StoreError> {
        // Stored counters of sources the config no longer names (or another
        // shard now owns) stay in the store but leave `/metrics`, so a source
        // is served by exactly one replica.
        let configured = |s: &Series| config.sources.iter().any(|c| c.name == s.source);
        let counters: Vec<(Series, String, u64)> = self
            .store
            .counters()?
            .into_iter()
            .filter_map(|(key, name, value)| Some((series_from_key(&key)?, name, value)))
            .filter(|(s, _, _)| configured(s))
            .collect();
        let compliance = self.compliance(config, now)?;
        let objectives: Vec<(String, &'static str, f64)> = config
            .policies
            .policies()
            .iter()
            .flat_map(|p| {
                p.targets
                    .iter()
                    .map(|t| (p.name.clone(), t.target.as_str(), t.objective))
            })
            .collect();
        let mut text = String::with_capacity(self.rendered().len() + 1024);
        render(
            &Inputs {
                eval: &*eval,
                counters: &counters,
                compliance: &compliance,
                objectives: &objectives,
                folded,
            },
            &mut text,
        );
        *self.rendered.write().expect("lock poisoned") = Arc::new(text);
        let view = View::new(
            now,
            std::mem::take(&mut eval.open_rows),
            compliance_rows(&compliance, &objectives),
        );
        *self.view.write().expect("lock poisoned") = Arc::new(view);
        Ok(())
    }

    /// Forgets items with no open cycle that have not changed within the
    /// retention: they can no longer move a metric.
    fn prune(&self, eval: &Evaluation, horizon: i64) -> Result<(), StoreError> {
        for (source, ids) in &eval.done {
            let removed = self.store.prune(source, horizon, ids)?;
            if removed > 0 {
                let mut items = self.items.write().expect("lock poisoned");
                if let Some(map) = items.get_mut(source) {
                    for id in ids {
                        if map
                            .get(id.as_str())
                            .is_some_and(|i| i.updated_at.as_second() < horizon)
                        {
                            map.remove(id.as_str());
                        }
                    }
                }
                tracing::debug!(source = %source, removed, "pruned items past retention");
            }
        }
        Ok(())
    }

    /// Tallies counted outcomes per series for every rolling window and the
    /// calendar month to date in each target's calendar time zone.
    fn compliance(
        &self,
        config: &Config,
        now: Timestamp,
    ) -> Result<BTreeMap<(Series, String), Tally>, StoreError> {
        let to = now.as_second();
        // The month start depends on the zone; collect each target's.
        let mut month_start: HashMap<(String, &'static str), i64> = HashMap::new();
        for p in config.policies.policies() {
            for t in &p.targets {
                let tz = t.calendar.time_zone();
                let start = now
                    .to_zoned_datetime(tz.clone())
                    .date()
                    .first_of_month()
                    .to_zoned_datetime(tz)
                    .map_or(to, |z| z.timestamp().as_second());
                month_start.insert((p.name.clone(), t.target.as_str()), start);
            }
        }
        // SQLite counts every window in one pass: this runs every evaluation,
        // and reading every counted row into Rust (the earlier way) cost more
        // than evaluating the items themselves.
        let rolling = &config.metrics.compliance_windows;
        let months: Vec<i64> = month_start
            .values()
            .copied()
            .collect::<std::collections::BTreeSet<i64>>()
            .into_iter()
            .collect();
        let starts: Vec<i64> = rolling
            .iter()
            .map(|(_, d)| {
                now.checked_sub(*d)
                    .unwrap_or(jiff::Timestamp::MIN)
                    .as_second()
            })
            .chain(months.iter().copied())
            .collect();
        let mut out: BTreeMap<(Series, String), Tally> = BTreeMap::new();
        let mut tally = |series: &Series, window: &str, outcome: &str, n: u64| {
            if n == 0 {
                return;
            }
            let t = out.entry((series.clone(), window.to_owned())).or_default();
            t.total += n;
            if outcome == "met" {
                t.met += n;
            }
        };
        for (key, outcome, counts) in self.store.outcome_counts(&starts, to)? {
            let Some(series) = series_from_key(&key) else {
                continue;
            };
            if !config.sources.iter().any(|c| c.name == series.source) {
                continue;
            }
            for ((label, _), n) in rolling.iter().zip(&counts) {
                tally(&series, label, &outcome, *n);
            }
            let month = month_start
                .get(&(series.policy.clone(), series.target))
                .and_then(|s| months.iter().position(|m| m == s));
            if let Some(i) = month {
                tally(&series, "month", &outcome, counts[rolling.len() + i]);
            }
        }
        Ok(out)
    }

    pub(crate) fn apply(&self, source: &str, items: Vec<Item>, removed: &[String]) {
        let mut all = self.items.write().expect("lock poisoned");
        let map = all.entry(source.to_owned()).or_default();
        for id in removed {
            map.remove(id.as_str());
        }
        for item in items {
            let (id, item) = entry(item);
            map.insert(id, item);
        }
    }
}

/// How long counted outcomes and finished items are kept: the longest rolling
/// window or a month (for month to date), plus a day of margin.
pub fn retention(config: &Config) -> SignedDuration {
    let longest = config
        .metrics
        .compliance_windows
        .iter()
        .map(|(_, d)| *d)
        .max()
        .unwrap_or_default();
    longest.max(SignedDuration::from_hours(31 * 24)) + SignedDuration::from_hours(24)
}

fn bucket_of(elapsed: i64) -> usize {
    BUCKETS
        .iter()
        .position(|b| elapsed as f64 <= *b)
        .unwrap_or(BUCKETS.len())
}

fn series_from_key(key: &str) -> Option<Series> {
    let [source, channel, team, priority, policy, target] = Series::split_key(key)?;
    Some(Series {
        source: source.to_owned(),
        channel: Channel::ALL
            .iter()
            .find(|c| c.as_str() == channel)?
            .as_str(),
        team: team.to_owned(),
        priority: priority.to_owned(),
        policy: policy.to_owned(),
        target: crate::model::Target::ALL
            .iter()
            .find(|t| t.as_str() == target)?
            .as_str(),
    })
}
