//! Counted outcomes kept in memory for the compliance windows, in step with
//! what the engine counts (see the invariant on counting in ARCHITECTURE.md).

use std::collections::HashMap;

use crate::store::{Store, StoreError};

/// Counted outcomes in memory, for the compliance windows: per (series key,
/// outcome) the instants (seconds) they were counted at, sorted. Loaded from
/// the store once and kept in step with what [`Engine`] counts, so a window's
/// tally is two binary searches instead of a scan of every counted row.
#[derive(Debug, Default)]
pub(super) struct Tallies {
    /// Series key -> outcome -> instants.
    instants: HashMap<String, HashMap<String, Vec<i64>>>,
}

impl Tallies {
    /// Reads the store's counted rows one at a time (borrowed), allocating
    /// only per series and outcome: a `Vec` of every row as owned strings
    /// was a transient of ~50 MB at 300k counted outcomes after a restart.
    pub(super) fn load(store: &Store) -> Result<Tallies, StoreError> {
        let mut t = Tallies::default();
        store.for_each_counted_instant(|series, outcome, at| t.push(series, outcome, at))?;
        t.sort();
        Ok(t)
    }

    pub(super) fn push(&mut self, series: &str, outcome: &str, at: i64) {
        if !self.instants.contains_key(series) {
            self.instants.insert(series.to_owned(), HashMap::new());
        }
        let by_outcome = self.instants.get_mut(series).expect("inserted above");
        if !by_outcome.contains_key(outcome) {
            by_outcome.insert(outcome.to_owned(), Vec::new());
        }
        by_outcome
            .get_mut(outcome)
            .expect("inserted above")
            .push(at);
    }

    /// The same rows as [`Store::outcome_counts`]: per series and outcome,
    /// how many instants fall in `[start, to]` for each of `starts`.
    pub(super) fn counts(&self, starts: &[i64], to: i64) -> Vec<(String, String, Vec<u64>)> {
        self.instants
            .iter()
            .flat_map(|(series, m)| m.iter().map(move |(outcome, at)| (series, outcome, at)))
            .map(|(series, outcome, at)| {
                let end = at.partition_point(|a| *a <= to);
                let counts = starts
                    .iter()
                    .map(|s| end.saturating_sub(at.partition_point(|a| a < s)) as u64)
                    .collect();
                (series.clone(), outcome.clone(), counts)
            })
            .collect()
    }

    /// Puts every series' instants back in order after [`Tallies::push`]es.
    /// A stable sort finds the sorted run and merges the pushed tail into it
    /// in linear time: counting sorts after every batch of finals.
    pub(super) fn sort(&mut self) {
        for v in self.instants.values_mut().flat_map(|m| m.values_mut()) {
            v.sort();
        }
    }

    /// Forgets instants before `horizon`: no window reaches that far back.
    pub(super) fn prune(&mut self, horizon: i64) {
        for m in self.instants.values_mut() {
            for v in m.values_mut() {
                let old = v.partition_point(|a| *a < horizon);
                v.drain(..old);
            }
            m.retain(|_, v| !v.is_empty());
        }
        self.instants.retain(|_, m| !m.is_empty());
    }
}
