//! Counting and forgetting: an evaluation's new final outcomes counted once
//! in the store (and in the compliance [`Tallies`]), the compliance windows
//! tallied, and what can no longer move a metric pruned.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use jiff::Timestamp;

use super::tallies::Tallies;
use super::{Aged, Engine};
use crate::config::Config;
use crate::metrics::sla::Tally;
use crate::model::Channel;
use crate::sla::State;
use crate::snapshot::{Evaluation, Final, Series, bucket};
use crate::store::{Count, CountedOutcome, StoreError};

impl Engine {
    /// Counts final outcomes not counted before, once each, in the store.
    /// `finals` holds only those (the evaluation dropped the known ones); the
    /// store's primary key still guarantees once-only counting.
    ///
    /// Each final becomes a store row only while it is counted: a first
    /// evaluation at 100k tickets offers ~300k, and their rows built all at
    /// once were the largest allocation after a first sync.
    ///
    /// They are counted in the order of the store's key: inserted in random
    /// order, each one read and dirtied a page of its own in a table far
    /// larger than the page cache (at 100k tickets ~60% of a first
    /// evaluation's evaluate step; bench/NOTES.md, round 9).
    pub(super) fn count(
        &self,
        mut finals: Vec<Final>,
        how: Count,
        incremental: bool,
    ) -> Result<usize, StoreError> {
        finals.sort_unstable_by(|a, b| store_key(a).cmp(&store_key(b)));
        let outcomes = finals.into_iter().map(|f| Ok(final_outcome(f)));
        self.count_sorted(outcomes, how, incremental)
    }

    /// [`Engine::count`] of outcomes already in the store's key order, in
    /// one transaction: one pass over the table however many there are.
    pub(super) fn count_sorted(
        &self,
        outcomes: impl Iterator<Item = Result<CountedOutcome, StoreError>>,
        how: Count,
        incremental: bool,
    ) -> Result<usize, StoreError> {
        let mut tallies = self.tallies.lock().expect("lock poisoned");
        let mut keep = tallies.as_mut().filter(|_| incremental);
        let counted = self
            .store
            .count_outcomes_each(outcomes, how, bucket_of, |o| {
                if let Some(t) = keep.as_mut() {
                    t.push(&o.series, o.outcome, o.at);
                }
            });
        match counted {
            Ok(new) => {
                if new > 0
                    && let Some(t) = keep
                {
                    t.sort();
                }
                Ok(new)
            }
            Err(e) => {
                // The tallies saw outcomes the rolled-back count did not
                // keep: read them from the store again.
                *tallies = None;
                Err(e)
            }
        }
    }

    /// How to count `finals` new outcomes into a store that holds
    /// `counted()` counted rows: in bulk when they fill a batch and at least
    /// double the table (a first evaluation, or the first after a long
    /// outage). The table's size is asked for only when they fill a batch.
    pub(super) fn how_to_count(
        finals: usize,
        counted: impl FnOnce() -> Result<u64, StoreError>,
    ) -> Result<Count, StoreError> {
        Ok(
            if finals >= super::FINALS_BATCH && finals as u64 >= counted()? {
                Count::Bulk
            } else {
                Count::Each
            },
        )
    }

    /// The finals the store holds as counted, as [`final_key`]s: the last
    /// evaluation's, or after a start (or a failure) read from the store, so
    /// the first evaluation does not offer every final again (at 100k
    /// tickets ~300k outcomes with their series text, the largest transient
    /// allocation of a restart). Taken, so a failure leaves the set empty.
    pub(super) fn known_finals(&self) -> Result<HashSet<u64>, StoreError> {
        let mut known = std::mem::take(&mut *self.counted.lock().expect("lock poisoned"));
        if !self.counted_seeded.swap(true, Ordering::Relaxed) {
            known.clear();
            let seeded = self
                .store
                .for_each_counted_key(|source, id, target, cycle, completed| {
                    known.insert(final_key(source, id, target, cycle, completed));
                });
            if let Err(e) = seeded {
                self.counted_seeded.store(false, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(known)
    }

    /// Forgets items with no open cycle that have not changed within the
    /// retention: they can no longer move a metric.
    ///
    /// Only done items older than the horizon are handed to the store (the
    /// store deletes nothing else); `aged` adds the settled ones the
    /// evaluation skipped.
    pub(super) fn prune(
        &self,
        eval: &Evaluation,
        mut aged: Aged,
        horizon: i64,
    ) -> Result<(), StoreError> {
        {
            let items = self.items.read().expect("lock poisoned");
            // Every source's counted rows and orphan events past the horizon
            // go on every evaluation, whether or not it found done items:
            // when they go must not depend on which items were evaluated, or
            // an incremental and a full evaluation would count differently.
            for source in items.keys() {
                aged.entry(source.clone()).or_default();
            }
            for (source, ids) in &eval.done {
                let old = aged.entry(source.clone()).or_default();
                if let Some(map) = items.get(source) {
                    old.extend(
                        ids.iter()
                            .filter(|id| {
                                map.get(id.as_str())
                                    .is_some_and(|t| t.stored.updated_at_second() < horizon)
                            })
                            .cloned(),
                    );
                }
            }
        }
        if let Some(t) = self.tallies.lock().expect("lock poisoned").as_mut() {
            t.prune(horizon);
        }
        for (source, ids) in &aged {
            let pruned = self.store.prune(source, horizon, ids)?;
            if !pruned.counted.is_empty() {
                // The keys the store forgot leave the known set too: a later
                // version of the item is offered again, as the store would
                // count it (without this a full and an incremental
                // evaluation, whose known sets differ by the settled items,
                // counted it differently).
                let mut known = self.counted.lock().expect("lock poisoned");
                for (id, target, cycle) in &pruned.counted {
                    for completed in [false, true] {
                        known.remove(&final_key(source, id, target, *cycle, completed));
                    }
                }
            }
            let removed = pruned.items;
            if removed > 0 {
                let mut items = self.items.write().expect("lock poisoned");
                let mut skips = self.skips.lock().expect("lock poisoned");
                if let Some(map) = items.get_mut(source) {
                    let mut skip = skips.get_mut(source);
                    for id in ids {
                        if map
                            .get(id.as_str())
                            .is_some_and(|t| t.stored.updated_at_second() < horizon)
                        {
                            map.remove(id.as_str());
                            if let Some(skip) = skip.as_mut() {
                                skip.forget(id);
                            }
                        }
                    }
                }
                tracing::debug!(source = %source, removed, "pruned items past retention");
            }
        }
        // Labels and series only pruned, replaced or re-evaluated items held.
        self.interner.lock().expect("lock poisoned").sweep();
        self.series
            .lock()
            .expect("lock poisoned")
            .retain(|s| Arc::strong_count(s) > 1);
        Ok(())
    }

    /// Tallies counted outcomes per series for every rolling window and the
    /// calendar month to date in each target's calendar time zone.
    pub(super) fn compliance(
        &self,
        config: &Config,
        now: Timestamp,
        incremental: bool,
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
        let rows = if incremental {
            let mut tallies = self.tallies.lock().expect("lock poisoned");
            if tallies.is_none() {
                *tallies = Some(Tallies::load(&self.store)?);
            }
            tallies.as_ref().expect("loaded above").counts(&starts, to)
        } else {
            self.store.outcome_counts(&starts, to)?
        };
        for (key, outcome, counts) in rows {
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
}

/// The identity of a counted final as a 64-bit hash: what the store's
/// `counted` primary key holds, plus whether its completion was observed.
pub(super) fn final_key(
    source: &str,
    item_id: &str,
    target: &str,
    cycle: u32,
    completed: bool,
) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (source, item_id, target, cycle, completed).hash(&mut h);
    h.finish()
}

/// A final's key in the store's `counted` table, in the table's order
/// (SQLite compares text bytewise, as `str` does).
pub(super) fn store_key(f: &Final) -> (&str, &str, &'static str, u32) {
    (&f.series.source, &f.item_id, f.series.target, f.cycle)
}

/// What the store counts of a final outcome.
pub(super) fn final_outcome(f: Final) -> CountedOutcome {
    counted_outcome(
        &f.series,
        f.item_id.into(),
        f.cycle,
        f.state,
        f.at.as_second(),
        f.completed_elapsed,
    )
}

/// [`final_outcome`] from a final's parts (`at` in seconds), as a spill
/// holds them.
pub(super) fn counted_outcome(
    series: &Series,
    item_id: String,
    cycle: u32,
    state: State,
    at: i64,
    completed_elapsed: Option<i64>,
) -> CountedOutcome {
    CountedOutcome {
        series: series.key(),
        target: series.target.to_owned(),
        source: series.source.clone(),
        item_id,
        cycle,
        outcome: state.as_str(),
        at,
        completed_elapsed,
    }
}

pub(super) fn bucket_of(elapsed: i64) -> usize {
    bucket(elapsed as f64)
}

pub(super) fn series_from_key(key: &str) -> Option<Series> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::FINALS_BATCH;

    #[test]
    fn a_count_goes_in_bulk_when_it_fills_a_batch_and_at_least_doubles_the_table() {
        assert_eq!(
            Engine::how_to_count(FINALS_BATCH, || Ok(0)).unwrap(),
            Count::Bulk
        );
        assert_eq!(
            Engine::how_to_count(300_000, || Ok(300_000)).unwrap(),
            Count::Bulk
        );
        // A poll's few hundred, into an empty store or a full one.
        assert_eq!(Engine::how_to_count(500, || Ok(0)).unwrap(), Count::Each);
        assert_eq!(
            Engine::how_to_count(FINALS_BATCH - 1, || Ok(0)).unwrap(),
            Count::Each
        );
        // A restart after a short outage, into a large table.
        assert_eq!(
            Engine::how_to_count(100_000, || Ok(3_000_000)).unwrap(),
            Count::Each
        );
    }
}
