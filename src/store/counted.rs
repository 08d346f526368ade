//! Counting outcomes once: the `counted` keys, the `counters` they bump,
//! the compliance windows tallied from them, and pruning past the horizon.

use std::borrow::Cow;
use std::collections::HashMap;

use rusqlite::params;

use super::{Store, StoreError, text};

/// Migration 1's index of counted outcomes by instant (pruning reads it), as
/// a bulk count builds it again.
const COUNTED_AT_INDEX: &str = "CREATE INDEX counted_at ON counted (at)";

/// How [`Store::count_outcomes_each`] maintains the `counted_at` index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Each insert adds its entry: right for a count that is small against
    /// the rows counted before.
    Each,
    /// The index is dropped for the inserts and built once after them, in
    /// one sort. Outcomes come in the table's key order, so their instants
    /// come in random order: inserted one by one, each entry read and
    /// dirtied a page of its own in an index far larger than the page cache
    /// (a first evaluation at 1M tickets counts ~3M outcomes).
    Bulk,
}

/// An outcome ready to be counted: its identity, the label series it counts
/// under (an opaque, stable string), whether it was met or breached, when
/// (seconds since the epoch), and, once the cycle completed, the business
/// seconds it took (observed once into the completion histogram).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedOutcome {
    pub source: String,
    pub item_id: String,
    pub target: String,
    pub cycle: u32,
    pub series: String,
    pub outcome: &'static str,
    pub at: i64,
    pub completed_elapsed: Option<i64>,
}

/// Counter increments of one count, summed per series and counter name.
#[derive(Default)]
struct Bumps(HashMap<String, HashMap<Cow<'static, str>, i64>>);

impl Bumps {
    fn add(&mut self, series: &str, name: Cow<'static, str>, by: i64) {
        if !self.0.contains_key(series) {
            self.0.insert(series.to_owned(), HashMap::new());
        }
        let names = self.0.get_mut(series).expect("inserted above");
        *names.entry(name).or_default() += by;
    }
}

/// Counter names in the `counters` table besides `met` and `breached`: the
/// completion histogram as non-cumulative bucket counts `b0`..`bN` (N = +Inf)
/// and `sum` in business seconds.
pub fn bucket_counter(i: usize) -> String {
    format!("b{i}")
}

impl Store {
    /// How many outcomes are counted, all sources (a scan of the smallest
    /// index).
    pub fn count_counted(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM counted", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }
    /// Counts the outcomes not counted before, and observes completions not
    /// observed before, in one transaction. Returns how many outcomes were new.
    /// `bucket_of` maps elapsed seconds to a completion histogram bucket.
    pub fn count_outcomes(
        &self,
        outcomes: &[CountedOutcome],
        bucket_of: impl Fn(i64) -> usize,
    ) -> Result<usize, StoreError> {
        self.count_outcomes_each(outcomes.iter().map(Ok), Count::Each, bucket_of, |_| {})
    }

    /// [`Store::count_outcomes`] over outcomes made one at a time, calling
    /// `on_new` with each one counted for the first time, so callers can
    /// keep tallies in step. Nothing is held per outcome: a first evaluation
    /// at 100k tickets counts ~300k, and building their rows all at once was
    /// its largest allocation. On an error, the iterator's own included,
    /// nothing is counted, even though `on_new` has seen outcomes.
    ///
    /// A [`Count::Bulk`] count drops the `counted_at` index for its inserts
    /// and builds it again after them, in the same transaction.
    pub fn count_outcomes_each<O: std::borrow::Borrow<CountedOutcome>>(
        &self,
        outcomes: impl IntoIterator<Item = Result<O, StoreError>>,
        how: Count,
        bucket_of: impl Fn(i64) -> usize,
        mut on_new: impl FnMut(&CountedOutcome),
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut new = 0;
        if how == Count::Bulk {
            tx.execute_batch("DROP INDEX counted_at")?;
        }
        {
            // A new row carries its completion from the start; an update
            // is needed only for a row counted earlier without one.
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO counted (source, item_id, target, cycle, series, outcome, at, completed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut complete = tx.prepare_cached(
                "UPDATE counted SET completed = 1
                 WHERE source = ?1 AND item_id = ?2 AND target = ?3 AND cycle = ?4 AND completed = 0",
            )?;
            // Counter increments are summed here and written once per
            // (series, name): a first evaluation counts ~300k outcomes into a
            // few hundred counters, and an upsert per increment was most of
            // its count step.
            let mut bumps = Bumps::default();
            for o in outcomes {
                let o = o?;
                let o = o.borrow();
                let inserted = insert.execute(params![
                    o.source,
                    o.item_id,
                    o.target,
                    o.cycle,
                    o.series,
                    o.outcome,
                    o.at,
                    o.completed_elapsed.is_some()
                ])?;
                if inserted == 1 {
                    bumps.add(&o.series, Cow::Borrowed(o.outcome), 1);
                    new += 1;
                    on_new(o);
                }
                if let Some(elapsed) = o.completed_elapsed
                    && (inserted == 1
                        || complete.execute(params![o.source, o.item_id, o.target, o.cycle])? == 1)
                {
                    bumps.add(&o.series, Cow::Owned(bucket_counter(bucket_of(elapsed))), 1);
                    bumps.add(&o.series, Cow::Borrowed("sum"), elapsed);
                }
            }
            let mut bump = tx.prepare_cached(
                "INSERT INTO counters (series, name, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (series, name) DO UPDATE SET value = value + excluded.value",
            )?;
            for (series, names) in bumps.0 {
                for (name, value) in names {
                    bump.execute(params![series, name.as_ref(), value])?;
                }
            }
        }
        if how == Count::Bulk {
            tx.execute_batch(COUNTED_AT_INDEX)?;
        }
        tx.commit()?;
        Ok(new)
    }

    /// Every counted outcome as `(series, outcome, at)`: what the engine's
    /// in-memory compliance tallies start from.
    pub fn counted_instants(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let mut out = Vec::new();
        self.for_each_counted_instant(|series, outcome, at| {
            out.push((series.to_owned(), outcome.to_owned(), at))
        })?;
        Ok(out)
    }

    /// [`Store::counted_instants`] one row at a time, borrowed: the caller
    /// copies only what it keeps (a few hundred series, not a row each).
    pub fn for_each_counted_instant(
        &self,
        mut f: impl FnMut(&str, &str, i64),
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT series, outcome, at FROM counted")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            f(text(r, 0)?, text(r, 1)?, r.get(2)?);
        }
        Ok(())
    }

    /// Every counted outcome's identity, one row at a time:
    /// `(source, item_id, target, cycle, completion observed)`.
    pub fn for_each_counted_key(
        &self,
        mut f: impl FnMut(&str, &str, &str, u32, bool),
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT source, item_id, target, cycle, completed FROM counted")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            f(
                text(r, 0)?,
                text(r, 1)?,
                text(r, 2)?,
                r.get(3)?,
                r.get::<_, i64>(4)? != 0,
            );
        }
        Ok(())
    }

    /// Every counter as `(series, name, value)`.
    pub fn counters(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT series, name, value FROM counters ORDER BY series, name")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Counted outcomes with `at <= to` per series and outcome, counted from
    /// each of `starts` (seconds): `(series, outcome, [count at >= start])`.
    /// One scan for every compliance window at once, tallied in a hash map
    /// keyed by the borrowed row text (SQLite's `GROUP BY` sorted the long
    /// series keys, which cost more than the scan). A scan rather than the
    /// `at` index: the windows cover most rows (older ones are pruned), and
    /// the index would add a table lookup per row.
    pub fn outcome_counts(
        &self,
        starts: &[i64],
        to: i64,
    ) -> Result<Vec<(String, String, Vec<u64>)>, StoreError> {
        let Some(earliest) = starts.iter().copied().min() else {
            return Ok(Vec::new());
        };
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT series, outcome, at FROM counted NOT INDEXED WHERE at <= ?1 AND at >= ?2",
        )?;
        let mut rows = stmt.query(params![to, earliest])?;
        let mut tally: HashMap<String, HashMap<String, Vec<u64>>> = HashMap::new();
        while let Some(row) = rows.next()? {
            let series = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
            let outcome = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            let at: i64 = row.get(2)?;
            if !tally.contains_key(series) {
                tally.insert(series.to_owned(), HashMap::new());
            }
            let by_outcome = tally.get_mut(series).expect("inserted above");
            if !by_outcome.contains_key(outcome) {
                by_outcome.insert(outcome.to_owned(), vec![0; starts.len()]);
            }
            let counts = by_outcome.get_mut(outcome).expect("inserted above");
            for (n, start) in counts.iter_mut().zip(starts) {
                *n += u64::from(at >= *start);
            }
        }
        Ok(tally
            .into_iter()
            .flat_map(|(series, by)| by.into_iter().map(move |(o, c)| (series.clone(), o, c)))
            .collect())
    }

    /// Forgets items last changed before `horizon` (seconds) whose outcomes are
    /// all final, and the counted keys older than the horizon of items no
    /// longer stored (an item's keys go with it, never before it: a key kept
    /// in memory must still be in the store). Counters are kept.
    pub fn prune(
        &self,
        source: &str,
        horizon: i64,
        done_ids: &[String],
    ) -> Result<Pruned, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut removed = 0;
        let mut counted = Vec::new();
        {
            let mut del = tx.prepare_cached(
                "DELETE FROM items WHERE source = ?1 AND id = ?2 AND updated_at < ?3",
            )?;
            for id in done_ids {
                removed += del.execute(params![source, id, horizon])?;
            }
            let mut del_events =
                tx.prepare_cached("DELETE FROM item_events WHERE source = ?1 AND item_id = ?2")?;
            for id in done_ids {
                let gone: bool = tx
                    .prepare_cached(
                        "SELECT NOT EXISTS (SELECT 1 FROM items WHERE source = ?1 AND id = ?2)",
                    )?
                    .query_row(params![source, id], |r| r.get(0))?;
                if gone {
                    del_events.execute(params![source, id])?;
                }
            }
            // Events whose item never came (a skipped voice ticket, a ticket
            // outside the lookback) are kept as long as counted outcomes.
            tx.execute(PRUNE_ORPHAN_EVENTS, params![source, horizon])?;
            let mut keys = tx.prepare_cached(PRUNE_COUNTED)?;
            let mut rows = keys.query(params![source, horizon])?;
            while let Some(r) = rows.next()? {
                counted.push((r.get(0)?, r.get(1)?, r.get(2)?));
            }
        }
        tx.commit()?;
        Ok(Pruned {
            items: removed,
            counted,
        })
    }
}

/// Drops the events past the horizon whose item never came. NOT EXISTS looks
/// each candidate up by the items' primary key; `NOT IN (SELECT id ...)`
/// built a temporary index of every stored id of the source first.
const PRUNE_ORPHAN_EVENTS: &str = "DELETE FROM item_events WHERE source = ?1 AND at < ?2
    AND NOT EXISTS (SELECT 1 FROM items
                    WHERE items.source = ?1 AND items.id = item_events.item_id)";

/// Drops the counted keys past the horizon whose item is gone. `+source`
/// keeps the planner off the primary key's `source` prefix: that scanned
/// every counted row of the source (~450k at 100k tickets, 0.1 s) on every
/// evaluation, where the index on `at` finds only the rows past the horizon.
const PRUNE_COUNTED: &str = "DELETE FROM counted WHERE +source = ?1 AND at < ?2
    AND NOT EXISTS (SELECT 1 FROM items
                    WHERE items.source = ?1 AND items.id = counted.item_id)
    RETURNING item_id, target, cycle";

/// What [`Store::prune`] removed.
#[derive(Debug, Default)]
pub struct Pruned {
    /// Items forgotten.
    pub items: usize,
    /// Counted keys forgotten, as `(item_id, target, cycle)`.
    pub counted: Vec<(String, String, u32)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for `sql` in a store with the current schema.
    fn plan(sql: &str) -> String {
        let store = Store::in_memory().unwrap();
        let conn = store.conn();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(params!["s", 0], |r| r.get::<_, String>(3))
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    }

    /// Outcome `i` of a count: ids and instants in unrelated orders, every
    /// third one completed.
    fn counted(i: u32) -> CountedOutcome {
        CountedOutcome {
            source: "s".into(),
            item_id: format!("{i:05}"),
            target: "resolution".into(),
            cycle: 0,
            series: format!("s|ticket|team{}", i % 3),
            outcome: if i.is_multiple_of(2) {
                "met"
            } else {
                "breached"
            },
            at: 1_790_000_000 + i64::from(i.wrapping_mul(7919) % 1000) * 60,
            completed_elapsed: i.is_multiple_of(3).then_some(i64::from(i)),
        }
    }

    /// The `counted_at` index as the schema holds it, its entries in index
    /// order, the counters, and SQLite's own check of the whole store.
    #[derive(Debug, PartialEq)]
    struct CountedState {
        index: String,
        entries: Vec<(i64, String)>,
        counters: Vec<(String, String, u64)>,
        check: String,
    }

    fn counted_state(store: &Store) -> CountedState {
        let conn = store.conn();
        let index = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'counted_at'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let mut stmt = conn
            .prepare("SELECT at, item_id FROM counted INDEXED BY counted_at WHERE at > 0")
            .unwrap();
        let entries = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let check = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        drop(stmt);
        drop(conn);
        CountedState {
            index,
            entries,
            counters: store.counters().unwrap(),
            check,
        }
    }

    #[test]
    fn a_bulk_count_counts_what_one_by_one_does_and_rebuilds_the_same_index() {
        let first: Vec<_> = (0..300).map(counted).collect();
        // Overlaps the first count: those are not counted again.
        let second: Vec<_> = (200..1000).map(counted).collect();
        let state = |how: Count| {
            let store = Store::in_memory().unwrap();
            store
                .count_outcomes_each(first.iter().map(Ok), Count::Each, |_| 0, |_| {})
                .unwrap();
            let new = store
                .count_outcomes_each(second.iter().map(Ok), how, |_| 0, |_| {})
                .unwrap();
            (new, counted_state(&store))
        };
        let (each_new, each) = state(Count::Each);
        let (bulk_new, bulk) = state(Count::Bulk);
        assert_eq!(each_new, 700);
        assert_eq!(bulk_new, each_new);
        assert_eq!(bulk.index, "CREATE INDEX counted_at ON counted (at)");
        assert_eq!(bulk, each);
        assert_eq!(bulk.entries.len(), 1000);
        assert_eq!(bulk.check, "ok");
    }

    #[test]
    fn a_failed_bulk_count_keeps_the_index_and_counts_nothing() {
        let store = Store::in_memory().unwrap();
        store.count_outcomes(&[counted(1)], |_| 0).unwrap();
        let before = counted_state(&store);
        let failing = [
            Ok(counted(2)),
            Err(StoreError::Scratch {
                path: "finals.spill".into(),
                source: std::io::Error::other("short read"),
            }),
        ];
        store
            .count_outcomes_each(failing, Count::Bulk, |_| 0, |_| {})
            .unwrap_err();
        assert_eq!(counted_state(&store), before);
        assert_eq!(store.count_counted().unwrap(), 1);
    }

    #[test]
    fn every_evaluations_prune_reads_only_rows_past_the_horizon() {
        let counted = plan(PRUNE_COUNTED);
        assert!(counted.contains("INDEX counted_at (at<?)"), "{counted}");
        let events = plan(PRUNE_ORPHAN_EVENTS);
        assert!(
            events.contains("INDEX item_events_at (source=? AND at<?)"),
            "{events}"
        );
    }
}
