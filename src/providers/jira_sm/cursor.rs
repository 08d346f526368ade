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
    /// Data Center only: the window start of the next page's query (keyset
    /// paging moves it to the newest `updated` read) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_from: Option<Timestamp>,
    /// ... and the offset within that query (non-zero only while a page is
    /// entirely inside the re-read boundary minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<u64>,
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

    /// Data Center's [`JsmCursor::advance`]: `next` is the next page's query
    /// start and offset, `None` when the sync is over.
    pub fn advance_offset(
        &mut self,
        newest: Option<Timestamp>,
        next: Option<(Timestamp, u64)>,
    ) -> bool {
        match next {
            Some((from, start_at)) => {
                self.newest = self.newest.max(newest);
                self.query_from = Some(from);
                self.start_at = Some(start_at);
                false
            }
            None => {
                self.query_from = None;
                self.start_at = None;
                self.advance(newest, None)
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
    format!(
        "{} AND updated >= \"{}\" ORDER BY updated ASC",
        projects_jql(projects),
        literal(from, zone)
    )
}

/// `from − OVERLAP` as a JQL date literal in `zone`, to the minute.
pub fn literal(from: Timestamp, zone: &TimeZone) -> String {
    zone.to_datetime(from - OVERLAP)
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// The instant [`literal`] stands for: the earliest change a query from
/// `from` reads (`from − OVERLAP`, rounded down to the minute in `zone`).
pub fn window_start(from: Timestamp, zone: &TimeZone) -> Timestamp {
    let local = zone.to_datetime(from - OVERLAP);
    let minute = local
        .with()
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .unwrap_or(local);
    zone.to_timestamp(minute).unwrap_or(from - OVERLAP)
}

/// Data Center keyset paging: where the next page of an ascending search
/// over `times` (the page's `updated` or `created` values, `n` rows in all)
/// starts. The query moves its start to the newest time read, which re-reads
/// only the boundary minutes; while a whole page lies inside those minutes
/// (moving would read the same rows again) it pages by offset instead.
pub fn next_position(
    times: &[Timestamp],
    from: Option<Timestamp>,
    start_at: u64,
    n: u64,
    zone: &TimeZone,
) -> (Option<Timestamp>, u64) {
    if let Some(newest) = times.iter().max().copied()
        && from.is_none_or(|f| newest > f)
        && times.len() as u64 == n
    {
        let reread = window_start(newest, zone);
        if times.iter().any(|t| *t < reread) {
            return (Some(newest), 0);
        }
    }
    (from, start_at + n)
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
    fn keyset_moves_to_the_newest_time_unless_the_page_is_all_boundary() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(
            window_start(t("2026-03-05T10:05:30Z"), &zone),
            t("2026-03-05T10:04:00Z")
        );
        // Older rows on the page: the next query starts at the newest.
        let page = [t("2026-03-05T09:00Z"), t("2026-03-05T10:05:30Z")];
        assert_eq!(
            next_position(&page, Some(t("2026-03-05T08:00Z")), 0, 2, &zone),
            (Some(t("2026-03-05T10:05:30Z")), 0)
        );
        // Every row within the re-read minutes: offset paging in the same query.
        let crowded = [t("2026-03-05T10:04:10Z"), t("2026-03-05T10:05:30Z")];
        assert_eq!(
            next_position(&crowded, Some(t("2026-03-05T10:05:00Z")), 2, 2, &zone),
            (Some(t("2026-03-05T10:05:00Z")), 4)
        );
        // A rejected row (fewer times than rows): offsets, never a skip.
        assert_eq!(
            next_position(&page, Some(t("2026-03-05T08:00Z")), 0, 3, &zone),
            (Some(t("2026-03-05T08:00Z")), 3)
        );
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
