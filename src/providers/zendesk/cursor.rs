//! The Zendesk sync position, persisted by the store after every page.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The streams a sync reads, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// The cursor-based ticket export (tickets, chat and messaging tickets).
    Tickets,
    /// The ticket metric events export: the timeline, merged into tickets.
    MetricEvents,
    /// The Talk incremental calls export.
    Calls,
}

impl Stream {
    /// The `stream` label of the per-stream health metrics.
    pub fn label(self) -> &'static str {
        match self {
            Stream::Tickets => "tickets",
            Stream::MetricEvents => "metric_events",
            Stream::Calls => "calls",
        }
    }
}

/// The sync position. Public so tests and `docs/providers.md` can show it;
/// callers treat [`crate::providers::Cursor`] as opaque.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ZendeskCursor {
    /// The stream being synced; `None` between syncs.
    pub active: Option<Stream>,
    pub tickets: TicketCursor,
    /// Absent in cursors written before the stream existed: it starts from
    /// the initial lookback.
    #[serde(default)]
    pub metric_events: EventCursor,
    pub calls: CallCursor,
}

/// The ticket export: `start_time` once, then Zendesk's `after_cursor` for
/// ever (it also carries the position between syncs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketCursor {
    /// The Unix time the export started from (kept for progress and docs).
    pub start_time: Option<i64>,
    /// The last `after_cursor`; `None` until the first page.
    pub after_cursor: Option<String>,
    /// The `updated_at` of the newest ticket read: where the export stands.
    pub position: Option<Timestamp>,
}

/// The Talk export is time-based: the next `start_time` is the previous
/// page's `end_time`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallCursor {
    pub start_time: Option<i64>,
}

/// The ticket metric events export is time-based like Talk's: the next
/// `start_time` is the previous page's `end_time`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventCursor {
    pub start_time: Option<i64>,
}
