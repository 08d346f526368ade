//! The LiveAgent sync position, persisted by the store after every page; its
//! big lists and instants in the short forms of [`compact`].

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::compact;
use crate::model::{Channel, Target};

/// Chats and calls that are still running keep the next sync's window open at
/// their creation, but no longer than this: a stuck item must not pin it forever.
const OPEN_HORIZON: SignedDuration = SignedDuration::from_hours(24);

/// The sync position. Public so tests and `docs/providers.md` can show it;
/// callers treat `Cursor` as opaque.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveAgentCursor {
    /// The stream being synced; `None` between syncs.
    pub active: Option<Channel>,
    /// Where the active stream's window started, for progress: the stream's
    /// `since` when it began this sync. `None` between streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<Timestamp>,
    pub tickets: TicketCursor,
    pub chats: ScanCursor,
    pub calls: ScanCursor,
    /// The SLA log read so far (`sla_log.rs`).
    #[serde(default, skip_serializing_if = "SlaLogCursor::is_empty")]
    pub sla_log: SlaLogCursor,
}

/// Where each SLA log was read to (the log is a stream of its own; the
/// records it yields are kept in [`super::lists`] and reach an item when the
/// item is next emitted).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlaLogCursor {
    #[serde(default)]
    pub tickets: LogPosition,
    #[serde(default)]
    pub chats: LogPosition,
    #[serde(default)]
    pub calls: LogPosition,
    /// As the tickets' `levels`: the SLA log records of an older cursor
    /// (they are in [`super::lists`] now).
    #[serde(default, skip_serializing)]
    pub records: BTreeMap<String, Vec<LogRecord>>,
}

impl SlaLogCursor {
    fn is_empty(&self) -> bool {
        *self == SlaLogCursor::default()
    }
}

/// Keyset on `date_closed`, like the tickets' on `date_changed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogPosition {
    pub since: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "compact::ids")]
    pub seen: Vec<String>,
}

/// One fulfilled SLA type as LiveAgent logged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub target: Target,
    #[serde(with = "compact::ts")]
    pub due: Timestamp,
    #[serde(with = "compact::ts")]
    pub closed: Timestamp,
}

/// Keyset paging on `date_changed`: everything changed at or after `since`,
/// minus the ids already taken at exactly `since` (the vendor's resolution is
/// one second, so the boundary second is read again and de-duplicated). `seen`
/// is sorted, without duplicates, and bounded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketCursor {
    pub since: Option<Timestamp>,
    #[serde(with = "compact::ids")]
    pub seen: Vec<String>,
    /// Above 1 only while more than a page of tickets share the second `since`.
    pub page: u32,
    /// A pass over a crowded boundary second found ids it had not seen on a
    /// later page: the vendor's order within the second moved, so the second
    /// is read once more.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub crowded_pass_found: bool,
    /// The lower bound of this sync's `date_changed` filter: `since` less the
    /// configured overlap, set when the stream starts a sync (not the first)
    /// and dropped once `since` moves on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_from: Option<Timestamp>,
    /// Fallback (`date_changed` filter refused or ignored): the `_page` of the
    /// scan of the lookback window by `date_created`; 0 when not scanning.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub scan_page: u32,
    /// Fallback: when the running scan began (our clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_started: Option<Timestamp>,
    /// Fallback, after the scan: the `_page` of the pass over open tickets
    /// created before the window (`status IN` and `date_created D<`); 0 when
    /// not in that pass.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub open_page: u32,
    /// Fallback: the open tickets created before the window as the last
    /// finished pass listed them (sorted, bounded). One missing from the next
    /// pass left the open statuses and is read by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "compact::ids")]
    pub open_old: Vec<String>,
    /// Fallback: the ids the running open pass listed so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "compact::ids")]
    pub open_seen: Vec<String>,
    /// Read from cursors stored before issue 19 moved the level cache into
    /// the provider's keyed state (`lists.rs`), never written: the
    /// first page adopts it into that state.
    #[serde(default, skip_serializing)]
    pub levels: BTreeMap<String, CachedLevel>,
    /// As `levels`: the pending level reads of an older cursor.
    #[serde(default, skip_serializing, with = "compact::ids")]
    pub levels_pending: Vec<String>,
    /// Requests spent on levels in the running sync.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub level_requests: u32,
    /// As `levels`: the overlap set of an older cursor.
    #[serde(default, skip_serializing, with = "compact::recent")]
    pub recent: Vec<(String, Timestamp)>,
}

/// A ticket's `/tickets/{id}/sla` answer, as far as the exporter uses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedLevel {
    /// The ticket's `date_changed` when the level was read: a later change
    /// reads it again (an open ticket) and makes `due` stale.
    #[serde(with = "compact::ts")]
    pub changed: Timestamp,
    /// `sla_level_name`, the item's `priority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The vendor's due instant per SLA type (`first_answer`, `next_answer`,
    /// `first_resolve`, `first_assign`) as of `changed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "compact::dues")]
    pub due: Vec<(Target, Timestamp)>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Chats and calls have no change date: a sync reads everything created since
/// `since`, and the next sync starts at the oldest item still running.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanCursor {
    pub since: Option<Timestamp>,
    /// Chats: the `_page` in this sync.
    pub page: u32,
    /// Calls: the `next_page_cursor` to send as `_cursor`.
    pub cursor: Option<String>,
    pub oldest_running: Option<Timestamp>,
    pub newest: Option<Timestamp>,
}

pub(super) fn track(c: &mut ScanCursor, rows: impl Iterator<Item = (Timestamp, bool)>) {
    for (created, running) in rows {
        c.newest = c.newest.max(Some(created));
        if running {
            c.oldest_running = Some(c.oldest_running.map_or(created, |o| o.min(created)));
        }
    }
}

/// End of a chats/calls sync: the next one starts at the oldest item still
/// running (bounded by [`OPEN_HORIZON`]), else at the newest item seen, whose
/// second is read again on purpose (the store replaces by id).
pub(super) fn finish_scan(c: &mut ScanCursor, now: Timestamp) {
    let since = c.since.unwrap_or(now);
    let next = match c.oldest_running {
        Some(t) => t.max(now - OPEN_HORIZON),
        None => c.newest.unwrap_or(since),
    };
    *c = ScanCursor {
        since: Some(next.max(since)),
        page: 1,
        ..ScanCursor::default()
    };
}
