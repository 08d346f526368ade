//! The embedded state store: SQLite (bundled, WAL) under `--storage.path`.
//!
//! It keeps the items, one sync cursor per source (the provider's opaque JSON)
//! with the provider's keyed state (`provider_state`, entry by entry), which
//! (item, target, cycle) outcomes were already counted, the outcome counters, and
//! the label values admitted under the cardinality caps. It is what lets a
//! restart resume without a full re-pull and without counting a breach twice.
//!
//! Invariants:
//! - A page of items, the cursor after it and the provider state it changed
//!   are written in one transaction, so a crash never advances a cursor past
//!   items that were not stored.
//! - An item is written as the provider sent it merged with every stored
//!   timeline event of it ([`crate::timeline::merge`]); events are stored by
//!   key, so a page read twice changes nothing.
//! - An outcome is counted by inserting its key into `counted` and bumping its
//!   counter in the same transaction; the key's primary key makes a second
//!   insert a no-op, so no outcome is counted twice and no counter goes down.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, OptionalExtension, params};

use crate::model::Item;
use crate::providers::{StateChange, StateRow};
use crate::timeline::{self, TimelineEvent};

/// The schema version this build writes. Migrations run from the stored
/// `user_version` up to it; a newer store is refused rather than damaged.
const SCHEMA_VERSION: i64 = 4;

const MIGRATIONS: [&str; 4] = [
    // 1: the initial schema.
    "CREATE TABLE items (
        source TEXT NOT NULL,
        id TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (source, id)
    ) WITHOUT ROWID;
    CREATE TABLE cursors (
        source TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        cursor TEXT NOT NULL,
        PRIMARY KEY (source, endpoint)
    ) WITHOUT ROWID;
    CREATE TABLE counted (
        source TEXT NOT NULL,
        item_id TEXT NOT NULL,
        target TEXT NOT NULL,
        cycle INTEGER NOT NULL,
        series TEXT NOT NULL,
        outcome TEXT NOT NULL,
        at INTEGER NOT NULL,
        completed INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (source, item_id, target, cycle)
    ) WITHOUT ROWID;
    CREATE INDEX counted_at ON counted (at);
    CREATE TABLE counters (
        series TEXT NOT NULL,
        name TEXT NOT NULL,
        value INTEGER NOT NULL,
        PRIMARY KEY (series, name)
    ) WITHOUT ROWID;
    CREATE TABLE label_values (
        source TEXT NOT NULL,
        label TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (source, label, value)
    ) WITHOUT ROWID;",
    // 2: timeline events of event streams (`Page::events`), merged into their
    // item on every write; kept until the item is, so an event that arrives
    // before its item is applied when the item comes.
    "CREATE TABLE item_events (
        source TEXT NOT NULL,
        item_id TEXT NOT NULL,
        key TEXT NOT NULL,
        at INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (source, item_id, key)
    ) WITHOUT ROWID;",
    // 3: every evaluation drops the events past the horizon whose item never
    // came; by time, so that is a range scan, not a scan of every event.
    "CREATE INDEX item_events_at ON item_events (source, at);",
    // 4: a provider's keyed state (`Page::state`), written entry by entry
    // with the page that changed it instead of inside the cursor.
    "CREATE TABLE provider_state (
        source TEXT NOT NULL,
        list TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (source, list, key)
    ) WITHOUT ROWID;",
];

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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "store {path}: {reason}. Move the directory aside (or delete it) to start with an empty store; the exporter then re-pulls the initial lookback"
    )]
    Unusable { path: PathBuf, reason: String },
    #[error(
        "store {path} is in use by another exporter (its lock is held); give each exporter its own --storage.path"
    )]
    Locked { path: PathBuf },
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store: scratch file {path}: {source}")]
    Scratch {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store: cannot decode item {source_name}/{id}: {reason}")]
    Decode {
        source_name: String,
        id: String,
        reason: String,
    },
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

/// The page cache's size (KiB) while a source backfills: see [`Cache`].
const BACKFILL_CACHE_KIB: i64 = 16 * 1024;

/// The page cache's size (KiB) otherwise: see [`Cache`].
const CACHE_KIB: i64 = 4 * 1024;

/// The size the store's page cache keeps: see [`Store::set_cache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// 16 MiB, while a source backfills (the sync sets it), and what a
    /// store opens with. A first sync's items arrive in `date_changed`
    /// order, so their keys land all over the items table: with SQLite's
    /// 2 MiB default every insert re-read its leaf page.
    Backfill,
    /// 4 MiB otherwise, held between evaluations. Full after a first sync,
    /// the 16 MiB cache sat under the first evaluation's own allocations,
    /// the exporter's peak at 100k tickets; at 4 MiB that peak is 12 MiB
    /// lower (bench/NOTES.md, round 11). Freed after every evaluation and
    /// grown again by every sync, it doubled a poll's page faults at 100k
    /// tickets for no less RSS while polling (round 12). A poll's writes
    /// land on random pages of a store far larger than either size: held at
    /// 4 MiB a poll reads 9% more pages than at 16 MiB, for the same CPU.
    Settled,
}

pub struct Store {
    conn: Mutex<Connection>,
    /// Whether the page cache has its backfill size (see [`Cache`]).
    backfill_cache: AtomicBool,
    /// The store's directory; none for an in-memory store.
    dir: Option<PathBuf>,
}

/// One sync page to write: see [`Store::apply_sync_page`].
pub struct PageWrite<'a> {
    pub items: Vec<Item>,
    pub removed: &'a [String],
    pub events: &'a [(String, TimelineEvent)],
    pub retain_only: Option<&'a [String]>,
    /// The provider's keyed state the page changed (`Page::state`).
    pub state: &'a [StateChange],
}

/// What [`Store::apply_sync_page`] wrote: the items as written (merged with
/// their stored events) and the ids `retain_only` forgot (not the `removed`).
pub struct Written {
    pub items: Vec<Item>,
    pub forgotten: Vec<String>,
}

impl Store {
    /// Opens (creating if needed) the store in directory `dir` and migrates it.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let unusable = |reason: String| StoreError::Unusable {
            path: dir.to_owned(),
            reason,
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| unusable(format!("cannot create directory: {e}")))?;
        let file = dir.join("state.sqlite");
        // SQLite takes an empty file for a new database and would silently
        // start over; the store never leaves one behind (the schema is written
        // on first open), so it means damage, like any other corruption.
        if std::fs::metadata(&file).is_ok_and(|m| m.is_file() && m.len() == 0) {
            return Err(unusable(
                "state.sqlite is empty (0 bytes): the store is damaged".into(),
            ));
        }
        let conn = Connection::open(&file).map_err(|e| unusable(format!("cannot open: {e}")))?;
        Store::init(conn, dir, Some(dir)).map_err(|e| match e {
            StoreError::Sqlite(e) => unusable(e.to_string()),
            other => other,
        })
    }

    /// Takes an exclusive lock on the store directory (`DIR/lock`) for as long
    /// as the returned file lives, so a second exporter on the same
    /// `--storage.path` refuses to start instead of doubling vendor traffic.
    /// The lock is the operating system's (`flock`): it goes away with the
    /// process, even after SIGKILL, so a stale lock file never blocks a start.
    pub fn lock_dir(dir: &Path) -> Result<std::fs::File, StoreError> {
        let unusable = |reason: String| StoreError::Unusable {
            path: dir.to_owned(),
            reason,
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| unusable(format!("cannot create directory: {e}")))?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("lock"))
            .map_err(|e| unusable(format!("cannot open the lock file: {e}")))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
                path: dir.to_owned(),
            }),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(unusable(format!("cannot lock the store directory: {e}")))
            }
        }
    }

    /// A throwaway in-memory store, for tests and `report` without `--from-store`.
    pub fn in_memory() -> Result<Store, StoreError> {
        Store::init(Connection::open_in_memory()?, Path::new(":memory:"), None)
    }

    fn init(conn: Connection, path: &Path, dir: Option<&Path>) -> Result<Store, StoreError> {
        // SQLite quietly opens a file it cannot write read-only (a read-only
        // mount, a file owned by another user); every later write would fail
        // and the exporter would serve no SLA series while looking healthy.
        if conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(StoreError::Unusable {
                path: path.to_owned(),
                reason: "the database is read-only (read-only mount or file permissions); the exporter must be able to write it".into(),
            });
        }
        // WAL lets /metrics-side reads proceed during a sync's write; NORMAL
        // sync is durable across process crashes, which is what we guard against.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // The default checkpoint (1000 pages) ran after nearly every page of
        // a first sync, copying the same pages to the database again and
        // again. The backfill's cache (`Cache::Backfill`) and a 32 MiB WAL
        // between checkpoints keep a first sync of 100k tickets out of IO.
        conn.pragma_update(None, "cache_size", -BACKFILL_CACHE_KIB)?;
        conn.pragma_update(None, "wal_autocheckpoint", 8192)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(StoreError::Unusable {
                path: path.to_owned(),
                reason: format!("integrity check failed: {check}"),
            });
        }
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Unusable {
                path: path.to_owned(),
                reason: format!(
                    "schema version {version} is newer than this exporter's {SCHEMA_VERSION} (downgrade?)"
                ),
            });
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(migration)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
            backfill_cache: AtomicBool::new(true),
            dir: dir.map(Path::to_owned),
        })
    }

    /// The store's directory, where scratch files may go; none for an
    /// in-memory store.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The page cache's size, as last set.
    pub fn cache(&self) -> Cache {
        if self.backfill_cache.load(Ordering::Relaxed) {
            Cache::Backfill
        } else {
            Cache::Settled
        }
    }

    /// Sets the page cache's size; setting the size it has does nothing.
    /// Shrinking frees every page no statement is using (dirty ones are
    /// written to the WAL first, so nothing is lost): the pages kept would
    /// be scattered among the freed ones and keep most of their memory
    /// resident, while the smaller cache fills again from whichever thread
    /// reads next. A failure only leaves the size as it was: it is logged,
    /// not returned.
    pub fn set_cache(&self, cache: Cache) {
        let conn = self.conn();
        let backfill = cache == Cache::Backfill;
        if self.backfill_cache.swap(backfill, Ordering::Relaxed) == backfill {
            return;
        }
        let kib = if backfill {
            BACKFILL_CACHE_KIB
        } else {
            CACHE_KIB
        };
        let done = if backfill {
            Ok(())
        } else {
            conn.execute_batch("PRAGMA shrink_memory")
        };
        if let Err(e) = done.and_then(|()| conn.pragma_update(None, "cache_size", -kib)) {
            tracing::warn!(error = %e, "could not resize the store's page cache");
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (the
        // transaction rolls back), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn cursor(&self, source: &str, endpoint: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT cursor FROM cursors WHERE source = ?1 AND endpoint = ?2",
                params![source, endpoint],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The keyed state of `source`'s provider (see `Page::state`), for
    /// `Provider::restore`.
    pub fn provider_state(&self, source: &str) -> Result<Vec<StateRow>, StoreError> {
        let conn = self.conn();
        let mut rows =
            conn.prepare_cached("SELECT list, key, value FROM provider_state WHERE source = ?1")?;
        let rows = rows.query_map(params![source], |r| {
            Ok(StateRow {
                list: r.get(0)?,
                key: r.get(1)?,
                value: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores a page of items, forgets the `removed` ids, and stores the cursor
    /// after the page, atomically.
    pub fn apply_page(
        &self,
        source: &str,
        endpoint: &str,
        items: &[Item],
        removed: &[String],
        cursor: &str,
    ) -> Result<(), StoreError> {
        self.apply_sync_page(
            source,
            endpoint,
            PageWrite {
                items: items.to_vec(),
                removed,
                events: &[],
                retain_only: None,
                state: &[],
            },
            cursor,
        )
        .map(drop)
    }

    /// [`Store::apply_page`] with timeline events `(item id, event)`; see
    /// [`Store::apply_sync_page`]. Returns every item written, as written.
    pub fn apply_page_with_events(
        &self,
        source: &str,
        endpoint: &str,
        items: Vec<Item>,
        removed: &[String],
        events: &[(String, TimelineEvent)],
        cursor: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let page = PageWrite {
            items,
            removed,
            events,
            retain_only: None,
            state: &[],
        };
        Ok(self.apply_sync_page(source, endpoint, page, cursor)?.items)
    }

    /// Writes one sync page in one transaction with its cursor. Timeline
    /// events are stored by key (a re-read replaces, never doubles), each item
    /// of the page is merged with its stored events, and each stored item that
    /// got new events is read, merged and written back; events of an item not
    /// stored yet wait for it, and a removed item's events go with it. With
    /// `retain_only` (the vendor's complete id list) every stored item of
    /// `source` that is neither in that list nor in the page is forgotten too.
    pub fn apply_sync_page(
        &self,
        source: &str,
        endpoint: &str,
        page: PageWrite<'_>,
        cursor: &str,
    ) -> Result<Written, StoreError> {
        let PageWrite {
            items,
            removed,
            events,
            retain_only,
            state,
        } = page;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut written = Vec::with_capacity(items.len());
        let mut forgotten = Vec::new();
        {
            let mut put_event = tx.prepare_cached(
                "INSERT INTO item_events (source, item_id, key, at, data) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (source, item_id, key) DO UPDATE SET at = excluded.at, data = excluded.data",
            )?;
            for (id, e) in events {
                let data = serde_json::to_vec(e).expect("events always serialize");
                put_event.execute(params![source, id, e.key, e.at.as_second(), data])?;
            }
            let mut stored_events = tx.prepare_cached(
                "SELECT data FROM item_events WHERE source = ?1 AND item_id = ?2",
            )?;
            let mut events_of = |id: &str| -> Result<Vec<TimelineEvent>, StoreError> {
                let rows =
                    stored_events.query_map(params![source, id], |r| r.get::<_, Vec<u8>>(0))?;
                let mut out = Vec::new();
                for data in rows {
                    // An event this build cannot read is skipped: the item
                    // keeps what its provider sent.
                    if let Ok(e) = serde_json::from_slice(&data?) {
                        out.push(e);
                    }
                }
                Ok(out)
            };
            let mut put = tx.prepare_cached(
                "INSERT INTO items (source, id, updated_at, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (source, id) DO UPDATE SET updated_at = excluded.updated_at, data = excluded.data",
            )?;
            let mut page_ids: Vec<&str> = Vec::new();
            let any_events = !events.is_empty() || has_events(&tx, source)?;
            for mut item in items {
                if any_events {
                    let stored = events_of(&item.id)?;
                    timeline::merge(&mut item, &stored);
                }
                let data = serde_json::to_vec(&item).expect("items always serialize");
                put.execute(params![source, item.id, item.updated_at.as_second(), data])?;
                written.push(item);
            }
            page_ids.extend(written.iter().map(|i| i.id.as_str()));
            let mut touched: Vec<&str> = events
                .iter()
                .map(|(id, _)| id.as_str())
                .filter(|id| !page_ids.contains(id) && !removed.iter().any(|r| r == id))
                .collect();
            touched.sort_unstable();
            touched.dedup();
            let mut get =
                tx.prepare_cached("SELECT data FROM items WHERE source = ?1 AND id = ?2")?;
            let mut merged = Vec::new();
            for id in touched {
                let Some(data) = get
                    .query_row(params![source, id], |r| r.get::<_, Vec<u8>>(0))
                    .optional()?
                else {
                    continue;
                };
                let mut item: Item =
                    serde_json::from_slice(&data).map_err(|e| StoreError::Decode {
                        source_name: source.to_owned(),
                        id: id.to_owned(),
                        reason: e.to_string(),
                    })?;
                timeline::merge(&mut item, &events_of(id)?);
                let data = serde_json::to_vec(&item).expect("items always serialize");
                put.execute(params![source, item.id, item.updated_at.as_second(), data])?;
                merged.push(item);
            }
            written.extend(merged);
            let mut del = tx.prepare_cached("DELETE FROM items WHERE source = ?1 AND id = ?2")?;
            let mut del_events =
                tx.prepare_cached("DELETE FROM item_events WHERE source = ?1 AND item_id = ?2")?;
            for id in removed {
                del.execute(params![source, id])?;
                del_events.execute(params![source, id])?;
            }
            if let Some(keep) = retain_only {
                let keep: std::collections::HashSet<&str> = keep
                    .iter()
                    .map(String::as_str)
                    .chain(written.iter().map(|i| i.id.as_str()))
                    .collect();
                let mut ids = tx.prepare_cached("SELECT id FROM items WHERE source = ?1")?;
                let stored = ids
                    .query_map(params![source], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                for id in stored.into_iter().filter(|id| !keep.contains(id.as_str())) {
                    del.execute(params![source, id])?;
                    del_events.execute(params![source, id])?;
                    forgotten.push(id);
                }
            }
            let mut put_state = tx.prepare_cached(
                "INSERT INTO provider_state (source, list, key, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (source, list, key) DO UPDATE SET value = excluded.value",
            )?;
            let mut del_state = tx.prepare_cached(
                "DELETE FROM provider_state WHERE source = ?1 AND list = ?2 AND key = ?3",
            )?;
            for change in state {
                match &change.value {
                    Some(value) => {
                        put_state.execute(params![source, change.list, change.key, value])?
                    }
                    None => del_state.execute(params![source, change.list, change.key])?,
                };
            }
            tx.execute(
                "INSERT INTO cursors (source, endpoint, cursor) VALUES (?1, ?2, ?3)
                 ON CONFLICT (source, endpoint) DO UPDATE SET cursor = excluded.cursor",
                params![source, endpoint, cursor],
            )?;
        }
        tx.commit()?;
        Ok(Written {
            items: written,
            forgotten,
        })
    }

    /// How many items of `source` are stored.
    pub fn count_items(&self, source: &str) -> Result<u64, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM items WHERE source = ?1",
            params![source],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    /// How many outcomes are counted, all sources (a scan of the smallest
    /// index).
    pub fn count_counted(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM counted", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// Every stored item of `source`.
    pub fn items(&self, source: &str) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        self.for_each_item(source, |item| out.push(item))?;
        Ok(out)
    }

    /// Hands every stored item of `source` to `f`, one at a time, so a caller
    /// that keeps them in another form never holds them all decoded.
    pub fn for_each_item(&self, source: &str, mut f: impl FnMut(Item)) -> Result<(), StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id, data FROM items WHERE source = ?1 ORDER BY id")?;
        let mut rows = stmt.query(params![source])?;
        while let Some(row) = rows.next()? {
            let decode = |reason: String| StoreError::Decode {
                source_name: source.to_owned(),
                id: row.get::<_, String>(0).unwrap_or_default(),
                reason,
            };
            let data = row
                .get_ref(1)?
                .as_blob()
                .map_err(|e| decode(e.to_string()))?;
            let item = serde_json::from_slice(data).map_err(|e| decode(e.to_string()))?;
            f(item);
        }
        Ok(())
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

    /// The label values admitted so far for `(source, label)`.
    pub fn label_values(&self, source: &str, label: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT value FROM label_values WHERE source = ?1 AND label = ?2 ORDER BY value",
        )?;
        let rows = stmt.query_map(params![source, label], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn admit_label_value(
        &self,
        source: &str,
        label: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR IGNORE INTO label_values (source, label, value) VALUES (?1, ?2, ?3)",
            params![source, label, value],
        )?;
        Ok(())
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

/// Whether `source` has any stored timeline event: items of sources without
/// an event stream skip the per-item lookup.
fn has_events(tx: &rusqlite::Transaction<'_>, source: &str) -> Result<bool, StoreError> {
    Ok(tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM item_events WHERE source = ?1)")?
        .query_row(params![source], |r| r.get(0))?)
}

/// A text column of `row`, borrowed.
fn text<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r str, rusqlite::Error> {
    row.get_ref(i)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
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

    /// The bytes the connection's page cache holds.
    fn cache_used(store: &Store) -> i64 {
        let conn = store.conn();
        let (mut used, mut high) = (0, 0);
        // SAFETY: the handle is the open connection the guard holds; the
        // call only reads a counter into the two integers.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_db_status(
                conn.handle(),
                rusqlite::ffi::SQLITE_DBSTATUS_CACHE_USED,
                &mut used,
                &mut high,
                0,
            )
        };
        assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
        used.into()
    }

    #[test]
    fn the_page_cache_is_large_for_a_backfill_and_settles_small_and_held() {
        let dir = std::env::temp_dir().join(format!("hse-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let size = || -> i64 {
            let conn = store.conn();
            conn.query_row("PRAGMA cache_size", [], |r| r.get(0))
                .unwrap()
        };
        // 8 MiB of items, written in one page, fill the cache past the settled size.
        let items: Vec<Item> = (0..8_000)
            .map(|i| {
                let mut item = Item::new(
                    "s",
                    &format!("{i:06}"),
                    crate::model::Channel::Ticket,
                    "2026-11-02T09:00:00Z".parse().unwrap(),
                );
                item.tags = vec!["x".repeat(1000)];
                item
            })
            .collect();
        store.apply_page("s", "tickets", &items, &[], "c").unwrap();
        // SQLite counts a page's bookkeeping (~3%) with it.
        let settled = CACHE_KIB * 1024 * 9 / 8;
        let read_all = || assert_eq!(store.items("s").unwrap().len(), items.len());
        assert_eq!(size(), -BACKFILL_CACHE_KIB);
        assert!(cache_used(&store) > settled, "{}", cache_used(&store));
        // Settling frees the whole cache.
        store.set_cache(Cache::Settled);
        assert_eq!(size(), -CACHE_KIB);
        assert!(cache_used(&store) < 256 * 1024, "{}", cache_used(&store));
        // Reading everything back stays within the settled size, and
        // settling again keeps what it holds.
        read_all();
        assert!(cache_used(&store) <= settled, "{}", cache_used(&store));
        assert!(cache_used(&store) > settled / 2, "{}", cache_used(&store));
        store.set_cache(Cache::Settled);
        assert!(cache_used(&store) > settled / 2, "{}", cache_used(&store));
        // A backfill's cache grows past it again.
        store.set_cache(Cache::Backfill);
        read_all();
        assert!(cache_used(&store) > settled, "{}", cache_used(&store));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
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
