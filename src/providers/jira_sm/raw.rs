//! Jira Cloud and JSM JSON as it arrives: exact keys, lenient where the API
//! description marks a field optional or nullable, strict about times.
//!
//! Jira writes instants as `2026-03-02T09:00:00.000+0100`: milliseconds and an
//! offset **without a colon**, which RFC 3339 parsers refuse. [`parse_time`]
//! reads exactly that (and the colon form), never without an offset. SLA time
//! objects also carry `epochMillis`, which is preferred when present.

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::fmt::strtime;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `GET /rest/api/3/search/jql`: one page of issues. `nextPageToken` is null or
/// absent on the last page; `isLast` is optional in the API description. The
/// issues stay JSON here and are decoded one by one (a bad issue is rejected,
/// not the page).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawSearchPage {
    #[serde(default, deserialize_with = "nullable_vec")]
    pub issues: Vec<Value>,
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default)]
    pub is_last: Option<bool>,
}

/// `GET /rest/api/2/search` (Data Center): one page of issues by offset.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawOffsetPage {
    #[serde(default)]
    pub start_at: Option<u64>,
    #[serde(default)]
    pub max_results: Option<u64>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub issues: Vec<Value>,
}

/// An issue of the Data Center id listing (`fields=created`): strict, like
/// [`RawIdPage`].
#[derive(Debug, Clone, Deserialize)]
pub struct RawCreatedIssue {
    pub id: String,
    pub fields: RawCreatedFields,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawCreatedFields {
    #[serde(deserialize_with = "time")]
    pub created: Timestamp,
}

/// `GET /rest/api/2/issue/{id}?expand=changelog` (Data Center): only the changelog.
#[derive(Debug, Clone, Deserialize)]
pub struct RawIssueChangelog {
    #[serde(default)]
    pub changelog: Option<RawChangelog>,
}

/// A search page asked for `fields=id` only (the reconciliation listing).
/// Decoded strictly: an issue without an id fails the whole listing, because
/// a listing that dropped an issue would forget it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawIdPage {
    #[serde(default, deserialize_with = "nullable_vec")]
    pub issues: Vec<RawIssueId>,
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default)]
    pub is_last: Option<bool>,
}

/// An issue of [`RawIdPage`].
#[derive(Debug, Clone, Deserialize)]
pub struct RawIssueId {
    pub id: String,
}

/// An issue (`IssueBean`) with the fields asked for.
#[derive(Debug, Clone, Deserialize)]
pub struct RawIssue {
    /// The numeric id as a string; stable when the issue moves to another project.
    pub id: String,
    /// `ITS-42`; changes on a move, so it is only used for per-issue requests.
    pub key: String,
    pub fields: RawFields,
    #[serde(default)]
    pub changelog: Option<RawChangelog>,
}

/// The system fields the mapping reads; everything else (SLA and team custom
/// fields) stays in `other` by field id.
#[derive(Debug, Clone, Deserialize)]
pub struct RawFields {
    #[serde(deserialize_with = "time")]
    pub created: Timestamp,
    #[serde(default, deserialize_with = "opt_time")]
    pub updated: Option<Timestamp>,
    #[serde(default)]
    pub status: Option<RawStatus>,
    #[serde(default)]
    pub priority: Option<RawNamed>,
    /// Only its presence matters (an agent is assigned now).
    #[serde(default)]
    pub assignee: Option<Value>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub components: Vec<RawNamed>,
    #[serde(default, deserialize_with = "opt_time")]
    pub resolutiondate: Option<Timestamp>,
    /// Who raised the request: their comments are customer messages.
    #[serde(default)]
    pub reporter: Option<RawUser>,
    /// The comments embedded by `fields=comment` (`PageOfComments`); Jira may
    /// cut them, like the changelog.
    #[serde(default)]
    pub comment: Option<RawCommentPage>,
    #[serde(flatten)]
    pub other: HashMap<String, Value>,
}

/// A user as Jira names it: Cloud by `accountId` (user names and keys were
/// removed for privacy), Data Center by `key` and `name`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawUser {
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

impl RawUser {
    /// Whether both name the same person, by the first identifier both carry
    /// (`accountId`, else `key`, else `name`); `None` when they share none.
    pub fn same_as(&self, other: &RawUser) -> Option<bool> {
        [
            (&self.account_id, &other.account_id),
            (&self.key, &other.key),
            (&self.name, &other.name),
        ]
        .into_iter()
        .find_map(|(a, b)| Some(a.as_ref()? == b.as_ref()?))
    }
}

/// `PageOfComments`: embedded in the issue's `comment` field, or one page of
/// `GET /rest/api/3/issue/{id}/comment`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawCommentPage {
    #[serde(default)]
    pub start_at: Option<u64>,
    #[serde(default)]
    pub max_results: Option<u64>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub comments: Vec<RawComment>,
}

impl RawCommentPage {
    /// True when Jira left comments out.
    pub fn is_truncated(&self) -> bool {
        self.total
            .is_some_and(|total| total > self.comments.len() as u64)
    }
}

/// One comment (`Comment`): who wrote it, when, and whether the customer sees it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawComment {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub author: Option<RawUser>,
    #[serde(deserialize_with = "time")]
    pub created: Timestamp,
    /// "Whether the comment is visible in Jira Service Desk": `false` is an
    /// internal note. Absent (Data Center, or not said) counts as not public.
    #[serde(default)]
    pub jsd_public: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawStatus {
    pub name: String,
    #[serde(default)]
    pub status_category: Option<RawStatusCategory>,
}

/// `key` is `new`, `indeterminate` or `done`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawStatusCategory {
    #[serde(default)]
    pub key: Option<String>,
}

/// Anything with a `name` (priority, component, organization).
#[derive(Debug, Clone, Deserialize)]
pub struct RawNamed {
    #[serde(default)]
    pub name: Option<String>,
}

/// The changelog embedded by `expand=changelog` (`PageOfChangelogs`): Jira may
/// cut it, so `total > histories.len()` means "read the rest per issue".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawChangelog {
    #[serde(default)]
    pub start_at: Option<u64>,
    #[serde(default)]
    pub max_results: Option<u64>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub histories: Vec<RawHistory>,
}

impl RawChangelog {
    /// True when Jira left entries out.
    pub fn is_truncated(&self) -> bool {
        self.total
            .is_some_and(|total| total > self.histories.len() as u64)
    }
}

/// `GET /rest/api/3/issue/{key}/changelog` (`PageBeanChangelog`), oldest first.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawChangelogPage {
    #[serde(default)]
    pub start_at: Option<u64>,
    #[serde(default)]
    pub max_results: Option<u64>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub is_last: Option<bool>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub values: Vec<RawHistory>,
}

/// One changelog entry (`Changelog`): who changed what, when.
#[derive(Debug, Clone, Deserialize)]
pub struct RawHistory {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(deserialize_with = "time")]
    pub created: Timestamp,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub items: Vec<RawChangeItem>,
}

/// One changed field (`ChangeDetails`). `from`/`to` are ids, the `*String`
/// forms readable names; any of them may be null.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawChangeItem {
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub field_id: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub from_string: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub to_string: Option<String>,
}

/// `GET /rest/api/3/field`: one row (`FieldDetails`).
#[derive(Debug, Clone, Deserialize)]
pub struct RawField {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub custom: Option<bool>,
    #[serde(default)]
    pub schema: Option<RawFieldSchema>,
}

/// `JsonTypeBean`: `custom` is the custom field type's URI.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawFieldSchema {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub custom: Option<String>,
    #[serde(default)]
    pub custom_id: Option<i64>,
}

/// `GET /rest/api/3/myself`: only the zone JQL dates are read in.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawMyself {
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// The value of an SLA custom field (`SlaInformation`): zero or more completed
/// cycles and at most one ongoing cycle.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawSla {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable_vec")]
    pub completed_cycles: Vec<RawCycle>,
    #[serde(default)]
    pub ongoing_cycle: Option<RawCycle>,
}

/// A completed (`stopTime` set) or ongoing (`paused`, `withinCalendarHours`)
/// cycle. Every key is optional in the API description; a paused cycle has no
/// `breachTime`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawCycle {
    #[serde(default)]
    pub start_time: Option<RawTime>,
    #[serde(default)]
    pub stop_time: Option<RawTime>,
    #[serde(default)]
    pub breach_time: Option<RawTime>,
    #[serde(default)]
    pub breached: Option<bool>,
    #[serde(default)]
    pub paused: Option<bool>,
    #[serde(default)]
    pub within_calendar_hours: Option<bool>,
    #[serde(default)]
    pub goal_duration: Option<RawDuration>,
    #[serde(default)]
    pub elapsed_time: Option<RawDuration>,
    /// Negative once breached; in calendar (goal) time, not wall time.
    #[serde(default)]
    pub remaining_time: Option<RawDuration>,
}

/// JSM's `DateDTO`: the same instant four ways.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawTime {
    #[serde(default)]
    pub iso8601: Option<String>,
    #[serde(default)]
    pub jira: Option<String>,
    #[serde(default)]
    pub friendly: Option<String>,
    #[serde(default)]
    pub epoch_millis: Option<i64>,
}

impl RawTime {
    /// `epochMillis` when given, else `jira`, else `iso8601`, parsed strictly.
    pub fn instant(&self) -> Option<Timestamp> {
        if let Some(ms) = self.epoch_millis {
            return Timestamp::from_millisecond(ms).ok();
        }
        [&self.jira, &self.iso8601]
            .into_iter()
            .flatten()
            .find_map(|s| parse_time(s).ok())
    }
}

/// JSM's `DurationDTO`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawDuration {
    #[serde(default)]
    pub millis: Option<i64>,
    #[serde(default)]
    pub friendly: Option<String>,
}

/// Parses Jira's instant format: `YYYY-MM-DDTHH:MM:SS[.fff]±HHMM` (or `±HH:MM`).
/// An instant without an offset is an error, never read as UTC.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%:z"]
        .iter()
        .find_map(|f| strtime::parse(f, text).ok()?.to_timestamp().ok())
        .ok_or_else(|| {
            format!("invalid time {text:?} (expected e.g. 2026-03-02T09:00:00.000+0100)")
        })
}

fn time<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    let s = String::deserialize(d)?;
    parse_time(&s).map_err(serde::de::Error::custom)
}

fn opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(s) if !s.is_empty() => parse_time(&s).map(Some).map_err(serde::de::Error::custom),
        _ => Ok(None),
    }
}

/// A list that may be `null`.
fn nullable_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colon_less_offsets_and_milliseconds() {
        let t = parse_time("2026-03-02T09:00:00.123+0100").unwrap();
        assert_eq!(t.to_string(), "2026-03-02T08:00:00.123Z");
        let t = parse_time("2026-07-06T18:02:13+0900").unwrap();
        assert_eq!(t.to_string(), "2026-07-06T09:02:13Z");
        let t = parse_time("2026-03-02T09:00:00.000-05:30").unwrap();
        assert_eq!(t.to_string(), "2026-03-02T14:30:00Z");
    }

    #[test]
    fn an_instant_without_offset_is_refused() {
        assert!(parse_time("2026-03-02T09:00:00.000").is_err());
        assert!(parse_time("2026-03-02 09:00").is_err());
    }

    #[test]
    fn epoch_millis_wins_over_text() {
        let t = RawTime {
            iso8601: Some("2026-03-02T09:00:00+0100".into()),
            jira: None,
            friendly: None,
            epoch_millis: Some(1_772_441_000_000),
        };
        assert_eq!(t.instant().unwrap().as_millisecond(), 1_772_441_000_000);
    }
}
