//! The Freshdesk sync position, persisted by the store after every page.
//!
//! A sync reads windows: `updated_since = <window>` ordered by `updated_at`
//! ascending. After each page the next window starts a second before the
//! newest `updated_at` read (keyset paging: page numbers shift when a ticket
//! of an earlier page changes meanwhile, and the list stops at page 300).
//! Only a page that did not get past its window's start (more tickets of one
//! second than a page holds) goes on by page number, within the 300-page
//! cap. A restart resumes at the stored window and page; the next sync starts
//! at the newest `updated_at`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The sync position. Public so tests and `docs/providers.md` can show it;
/// callers treat [`crate::providers::Cursor`] as opaque.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FreshdeskCursor {
    /// `updated_since` of the window being read; `None` between syncs.
    #[serde(default)]
    pub window: Option<Timestamp>,
    /// The next page of the window (1-based); 0 means 1.
    #[serde(default)]
    pub page: u32,
    /// The newest `updated_at` read: where the next window or sync starts.
    #[serde(default)]
    pub position: Option<Timestamp>,
    /// Where this sync's first window started (for progress).
    #[serde(default)]
    pub from: Option<Timestamp>,
}
