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

//!
//! Where things are: the schema, opening and the page cache here; a sync
//! page's write in `sync.rs`; counting outcomes, the counters, compliance
//! tallies and pruning in `counted.rs`.

mod counted;
mod sync;

pub use counted::{Count, CountedOutcome, Pruned, bucket_counter};
pub use sync::{PageWrite, Written};

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, OptionalExtension, params};

use crate::model::Item;
use crate::providers::StateRow;

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

    /// How many items of `source` are stored.
    pub fn count_items(&self, source: &str) -> Result<u64, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM items WHERE source = ?1",
            params![source],
            |r| r.get(0),
        )?;
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
}
