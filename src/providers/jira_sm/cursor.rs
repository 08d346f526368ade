//! The JSM sync position, persisted by the store after every page.
//!
//! A sync is one JQL search, `updated >= "<from − 1 min>" ORDER BY updated ASC`,
//! paged with `nextPageToken`. The window start and the token are stored, so a
//! restart continues the same search where it stopped; the next sync starts at
//! the newest `updated` read. JQL reads a date literal in the *account's* time
//! zone and only to the minute, so the literal is written in that zone, rounded
//! down, and one more minute earlier: issues changed during the boundary minute
//! are read twice (the store replaces by id), never skipped.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Re-read this much before the last sync's newest change.
pub const OVERLAP: SignedDuration = SignedDuration::from_mins(1);

/// The sync position. Public so tests and `docs/providers.md` can show it;
/// callers treat [`crate::providers::Cursor`] as opaque.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsmCursor {
    /// The newest `updated` of the last finished sync: where the next starts.
    pub since: Option<Timestamp>,
    /// The window start of the sync in progress; `None` between syncs.
    pub from: Option<Timestamp>,
    /// `nextPageToken` of the sync in progress (valid for 7 days).
    pub page_token: Option<String>,
    /// The newest `updated` read so far in the sync in progress.
    pub newest: Option<Timestamp>,
    /// When the last complete id listing was applied (see `reconcile`);
    /// `None` before the first sync ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<Timestamp>,
}

impl JsmCursor {
    /// Starts a sync if none is in progress: the window opens at `since`, or
    /// `start` (now − initial lookback) on the first sync. Returns the window start.
    pub fn begin(&mut self, start: Timestamp) -> Timestamp {
        *self.from.get_or_insert(self.since.unwrap_or(start))
    }

    /// Records a page: its newest `updated` and the token for the next one.
    /// Returns true when the sync is over (no token), which moves `since`.
    pub fn advance(&mut self, newest: Option<Timestamp>, token: Option<String>) -> bool {
        self.newest = self.newest.max(newest);
        match token {
            Some(t) => {
                self.page_token = Some(t);
                false
            }
            None => {
                let from = self.from.take();
                self.since = self.newest.take().max(from).max(self.since);
                self.page_token = None;
                true
            }
        }
    }

    /// Drops the page token of the sync in progress (expired or refused): the
    /// search restarts from the same window start.
    pub fn restart_window(&mut self) {
        self.page_token = None;
        self.newest = None;
    }
}

/// The JQL of one sync: the configured projects, changed at or after
/// `from − OVERLAP` in the account's zone, oldest change first.
pub fn jql(projects: &[String], from: Timestamp, zone: &TimeZone) -> String {
    let local = zone.to_datetime(from - OVERLAP);
    let literal = local.strftime("%Y-%m-%d %H:%M").to_string();
    format!(
        "{} AND updated >= \"{literal}\" ORDER BY updated ASC",
        projects_jql(projects)
    )
}

/// `project in ("ITS", 10002)`: every issue of the configured projects. Keys
/// are quoted so one spelled like a JQL keyword stays a value; numeric ids are
/// not, so JQL reads them as ids rather than as names.
pub fn projects_jql(projects: &[String]) -> String {
    let list: Vec<String> = projects
        .iter()
        .map(|p| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                p.clone()
            } else {
                format!("\"{p}\"")
            }
        })
        .collect();
    format!("project in ({})", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jql_literal_is_in_the_account_zone_with_a_minute_of_overlap() {
        let from: Timestamp = "2026-03-02T08:00:30Z".parse().unwrap();
        let zone = TimeZone::get("Asia/Tokyo").unwrap();
        assert_eq!(
            jql(&["ITS".into(), "10002".into()], from, &zone),
            "project in (\"ITS\", 10002) AND updated >= \"2026-03-02 16:59\" ORDER BY updated ASC"
        );
        let ny = TimeZone::get("America/New_York").unwrap();
        assert!(jql(&["ITS".into()], from, &ny).contains("\"2026-03-02 02:59\""));
    }

    #[test]
    fn a_finished_sync_moves_since_to_the_newest_change() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let mut c = JsmCursor::default();
        assert_eq!(c.begin(t("2026-03-01T00:00Z")), t("2026-03-01T00:00Z"));
        assert!(!c.advance(Some(t("2026-03-01T05:00Z")), Some("tok".into())));
        assert_eq!(c.page_token.as_deref(), Some("tok"));
        assert!(c.advance(Some(t("2026-03-01T04:00Z")), None));
        assert_eq!(c.since, Some(t("2026-03-01T05:00Z")));
        assert_eq!((c.from, c.page_token.clone(), c.newest), (None, None, None));
        // An empty sync keeps the window start.
        assert_eq!(c.begin(t("2020-01-01T00:00Z")), t("2026-03-01T05:00Z"));
        assert!(c.advance(None, None));
        assert_eq!(c.since, Some(t("2026-03-01T05:00Z")));
    }
}
