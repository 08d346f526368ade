//! The provider's keyed state: the level cache, the pending level reads, the
//! overlap set and the SLA log's records, each a bounded map by id.
//!
//! They were parts of the cursor until issue 19: a full cursor was ~0.9 MB,
//! cloned, converted, compared and written with every page, so a poll's CPU
//! grew as the lists filled (0.43 s to 1.93 s over 24 polls). Now the provider
//! keeps them in memory and a page carries only the entries it changed
//! ([`Page::state`](crate::providers::Page::state)), which the sync loop
//! writes in the page's transaction; [`Lists::restore`] reads them back.
//!
//! A page's changes are journaled: a stream that fails, or a page that fails,
//! rolls its own changes back, so the lists always equal what the store holds
//! plus the pages fetched since, exactly as the cursor did.

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cursor::{CachedLevel, LiveAgentCursor, LogRecord};
use crate::providers::{StateChange, StateRow};

/// A map by id with each entry's age, its oldest entries found in order, and
/// a journal of the changes since the last [`Aged::take_changes`].
#[derive(Debug)]
pub struct Aged<A, V> {
    map: HashMap<String, (A, V)>,
    by_age: BTreeSet<(A, String)>,
    /// Each change: the id and its entry before it.
    journal: Vec<(String, Option<(A, V)>)>,
}

impl<A, V> Default for Aged<A, V> {
    fn default() -> Self {
        Aged {
            map: HashMap::new(),
            by_age: BTreeSet::new(),
            journal: Vec::new(),
        }
    }
}

impl<A: Ord + Copy, V: Clone> Aged<A, V> {
    pub fn get(&self, id: &str) -> Option<&V> {
        self.map.get(id).map(|(_, v)| v)
    }

    pub fn age(&self, id: &str) -> Option<A> {
        self.map.get(id).map(|(a, _)| *a)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.map.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The ids, oldest first.
    pub fn oldest_first(&self) -> impl Iterator<Item = &str> {
        self.by_age.iter().map(|(_, id)| id.as_str())
    }

    pub fn newest_age(&self) -> Option<A> {
        self.by_age.last().map(|(a, _)| *a)
    }

    pub fn insert(&mut self, id: &str, age: A, value: V) {
        let old = self.map.insert(id.to_owned(), (age, value));
        if let Some((a, _)) = &old {
            self.by_age.remove(&(*a, id.to_owned()));
        }
        self.by_age.insert((age, id.to_owned()));
        self.journal.push((id.to_owned(), old));
    }

    pub fn remove(&mut self, id: &str) {
        if let Some(old) = self.map.remove(id) {
            self.by_age.remove(&(old.0, id.to_owned()));
            self.journal.push((id.to_owned(), Some(old)));
        }
    }

    /// Forgets the oldest entries past `n`.
    pub fn keep_newest(&mut self, n: usize) {
        while self.map.len() > n {
            let Some((_, id)) = self.by_age.first().cloned() else {
                break;
            };
            self.remove(&id);
        }
    }

    /// Forgets the entries older than `age`.
    pub fn forget_before(&mut self, age: A) {
        while let Some((a, id)) = self.by_age.first().cloned() {
            if a >= age {
                break;
            }
            self.remove(&id);
        }
    }

    fn mark(&self) -> usize {
        self.journal.len()
    }

    /// Undoes the changes made since `mark`, newest first.
    fn rollback(&mut self, mark: usize) {
        while self.journal.len() > mark {
            let Some((id, old)) = self.journal.pop() else {
                break;
            };
            if let Some((a, _)) = self.map.remove(&id) {
                self.by_age.remove(&(a, id.clone()));
            }
            if let Some((a, v)) = old {
                self.by_age.insert((a, id.clone()));
                self.map.insert(id, (a, v));
            }
        }
    }

    /// Reads one stored entry; `None` when it does not decode.
    fn restore_entry(&mut self, id: String, value: &str) -> Option<()>
    where
        A: DeserializeOwned,
        V: DeserializeOwned,
    {
        let (age, v): (A, V) = serde_json::from_str(value).ok()?;
        self.by_age.insert((age, id.clone()));
        if let Some((old, _)) = self.map.insert(id.clone(), (age, v)) {
            self.by_age.remove(&(old, id));
        }
        Some(())
    }
}

impl<A: Ord + Copy + Serialize, V: Clone + Serialize> Aged<A, V> {
    /// Each id changed since the last call with its entry now (`None`:
    /// forgotten), encoded as stored; clears the journal.
    fn take_changes(&mut self, list: &'static str, out: &mut Vec<StateChange>) {
        let mut ids: Vec<String> = self.journal.drain(..).map(|(id, _)| id).collect();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let value = self
                .map
                .get(&id)
                .map(|entry| serde_json::to_string(entry).expect("state entries serialize"));
            out.push(StateChange {
                list,
                key: id,
                value,
            });
        }
    }
}

/// Order numbers of the pending list: its age is its place in the queue.
pub type Order = u64;

/// The provider's keyed state (see the module docs).
#[derive(Debug, Default)]
pub struct Lists {
    /// Each ticket's level as last read, aged by the ticket's `date_changed`
    /// at the read (see [`CachedLevel`]).
    pub levels: Aged<Timestamp, CachedLevel>,
    /// Open tickets whose level read was deferred, in the order they came.
    pub pending: Aged<Order, ()>,
    /// Tickets taken with the `date_changed` taken, inside the overlap
    /// window before `since`: the overlap re-read skips a row whose change
    /// was already taken.
    pub recent: Aged<Timestamp, ()>,
    /// Conversation id -> the latest fulfilled SLA log record per SLA type,
    /// aged by the newest `date_closed`.
    pub records: Aged<Timestamp, Vec<LogRecord>>,
}

/// The stored names of the lists: `provider_state.list` in the store.
const LEVELS: &str = "levels";
const PENDING: &str = "levels_pending";
const RECENT: &str = "recent";
const RECORDS: &str = "sla_records";

/// Where a page's changes began: [`Lists::rollback`] returns to it.
#[derive(Debug, Clone, Copy)]
pub struct Mark([usize; 4]);

impl Lists {
    /// The lists as the store holds them. Entries that do not decode (written
    /// by another version) are skipped with one warning: each is a cache entry
    /// or a deferred read, so losing one costs a request, never a count.
    pub fn restore(source: &str, rows: Vec<StateRow>) -> Lists {
        let mut lists = Lists::default();
        let mut skipped = 0usize;
        for row in rows {
            let read = match row.list.as_str() {
                LEVELS => lists.levels.restore_entry(row.key, &row.value),
                PENDING => lists.pending.restore_entry(row.key, &row.value),
                RECENT => lists.recent.restore_entry(row.key, &row.value),
                RECORDS => lists.records.restore_entry(row.key, &row.value),
                _ => None,
            };
            skipped += usize::from(read.is_none());
        }
        if skipped > 0 {
            tracing::warn!(source = %source, skipped, "stored provider state entries unreadable; skipped");
        }
        lists
    }

    /// Moves the lists of a cursor stored before they left it into these
    /// (journaled, so the page that does it stores them).
    pub fn adopt(&mut self, cur: &mut LiveAgentCursor) {
        let t = &mut cur.tickets;
        for (id, level) in std::mem::take(&mut t.levels) {
            if !self.levels.contains(&id) {
                self.levels.insert(&id, level.changed, level);
            }
        }
        for id in std::mem::take(&mut t.levels_pending) {
            self.push_pending(&id);
        }
        for (id, at) in std::mem::take(&mut t.recent) {
            if self.recent.age(&id).is_none_or(|a| a < at) {
                self.recent.insert(&id, at, ());
            }
        }
        for (id, records) in std::mem::take(&mut cur.sla_log.records) {
            if !self.records.contains(&id) {
                let age = newest_closed(&records);
                self.records.insert(&id, age, records);
            }
        }
    }

    /// Queues a ticket's level read last, once.
    pub fn push_pending(&mut self, id: &str) {
        if !self.pending.contains(id) {
            let order = self.pending.newest_age().map_or(0, |o| o + 1);
            self.pending.insert(id, order, ());
        }
    }

    pub fn mark(&self) -> Mark {
        Mark([
            self.levels.mark(),
            self.pending.mark(),
            self.recent.mark(),
            self.records.mark(),
        ])
    }

    /// Undoes every change since `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        let [levels, pending, recent, records] = mark.0;
        self.levels.rollback(levels);
        self.pending.rollback(pending);
        self.recent.rollback(recent);
        self.records.rollback(records);
    }

    /// The entries changed since the last call, as the store keeps them.
    pub fn take_changes(&mut self) -> Vec<StateChange> {
        let mut out = Vec::new();
        self.levels.take_changes(LEVELS, &mut out);
        self.pending.take_changes(PENDING, &mut out);
        self.recent.take_changes(RECENT, &mut out);
        self.records.take_changes(RECORDS, &mut out);
        out
    }
}

/// A record list's age: its newest `date_closed`.
pub fn newest_closed(records: &[LogRecord]) -> Timestamp {
    records
        .iter()
        .map(|r| r.closed)
        .max()
        .unwrap_or(Timestamp::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::StateRows;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_rollback_returns_to_the_mark_and_the_changes_restore_the_same_lists() {
        let mut lists = Lists::default();
        lists.recent.insert("a", at("2026-11-30T10:00:00Z"), ());
        lists.push_pending("p1");
        lists.push_pending("p2");
        let mut rows = StateRows::default();
        rows.apply(&lists.take_changes());

        let mark = lists.mark();
        lists.recent.insert("a", at("2026-11-30T10:05:00Z"), ());
        lists.recent.insert("b", at("2026-11-30T10:06:00Z"), ());
        lists.pending.remove("p1");
        lists.push_pending("p3");
        lists.recent.forget_before(at("2026-11-30T10:06:00Z"));
        assert_eq!(lists.recent.oldest_first().collect::<Vec<_>>(), ["b"]);
        lists.rollback(mark);
        assert_eq!(lists.recent.age("a"), Some(at("2026-11-30T10:00:00Z")));
        assert!(!lists.recent.contains("b"));
        assert_eq!(
            lists.pending.oldest_first().collect::<Vec<_>>(),
            ["p1", "p2"]
        );
        // Rolled-back changes are not stored.
        assert!(lists.take_changes().is_empty());

        lists.pending.remove("p1");
        lists.push_pending("p1");
        lists.recent.keep_newest(0);
        rows.apply(&lists.take_changes());
        let back = Lists::restore("s", rows.rows());
        assert_eq!(
            back.pending.oldest_first().collect::<Vec<_>>(),
            ["p2", "p1"]
        );
        assert_eq!(back.recent.len(), 0);
    }

    #[test]
    fn unreadable_rows_are_skipped() {
        let rows = vec![
            StateRow {
                list: RECENT.into(),
                key: "a".into(),
                value: r#"["2026-11-30T10:00:00Z", null]"#.into(),
            },
            StateRow {
                list: RECENT.into(),
                key: "b".into(),
                value: "soon".into(),
            },
            StateRow {
                list: "unknown".into(),
                key: "c".into(),
                value: r#"["2026-11-30T10:00:00Z", null]"#.into(),
            },
        ];
        let lists = Lists::restore("s", rows);
        assert_eq!(lists.recent.oldest_first().collect::<Vec<_>>(), ["a"]);
    }
}
