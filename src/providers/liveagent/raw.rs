//! LiveAgent v3 rows as they arrive: exact JSON keys (mixed casing included) and
//! lenient readers for ids, tags and `YYYY-MM-DD HH:MM:SS` times.

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::civil::DateTime;
use serde::{Deserialize, Deserializer};

/// A `/tickets` row: only the fields the SLA engine needs.
#[derive(Debug, Clone, Deserialize)]
pub struct RawTicket {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default, deserialize_with = "opt_id")]
    pub departmentid: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub agentid: Option<String>,
    pub status: String,
    #[serde(default, deserialize_with = "tags")]
    pub tags: Vec<String>,
    #[serde(deserialize_with = "time")]
    pub date_created: Timestamp,
    #[serde(default, deserialize_with = "opt_time")]
    pub date_changed: Option<Timestamp>,
    #[serde(default, deserialize_with = "opt_time")]
    pub date_resolved: Option<Timestamp>,
    #[serde(default, deserialize_with = "opt_time")]
    pub date_due: Option<Timestamp>,
    #[serde(default, deserialize_with = "opt_time")]
    pub date_deleted: Option<Timestamp>,
}

/// A `/tickets/history` row: one stretch of one status.
#[derive(Debug, Clone, Deserialize)]
pub struct RawHistoryRow {
    #[serde(default, deserialize_with = "opt_id")]
    pub id: Option<String>,
    #[serde(deserialize_with = "id")]
    pub conversation_id: String,
    #[serde(default, deserialize_with = "opt_id")]
    pub agent_id: Option<String>,
    pub status: String,
    #[serde(deserialize_with = "time")]
    pub date_from: Timestamp,
    #[serde(default, deserialize_with = "opt_time")]
    pub date_to: Option<Timestamp>,
}

/// A `/chats` row (`ChatInformation`); note `departmentId`/`agentId`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawChat {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(deserialize_with = "time")]
    pub date_created: Timestamp,
    #[serde(default, deserialize_with = "opt_time")]
    pub status_date_started: Option<Timestamp>,
    #[serde(default)]
    pub rstatus: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(rename = "departmentId", default, deserialize_with = "opt_id")]
    pub department_id: Option<String>,
    #[serde(default, deserialize_with = "tags")]
    pub tags: Vec<String>,
}

/// A `/calls` row (`CallListItem`), all camelCase.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawCall {
    #[serde(deserialize_with = "id")]
    pub id: String,
    /// `I` inbound, `O` outbound, `T` internal.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(deserialize_with = "time")]
    pub date_created: Timestamp,
    #[serde(default, deserialize_with = "opt_time")]
    pub date_answered: Option<Timestamp>,
    #[serde(default, deserialize_with = "opt_time")]
    pub date_finished: Option<Timestamp>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawDepartment {
    #[serde(deserialize_with = "id")]
    pub department_id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawSlaLevel {
    #[serde(deserialize_with = "id")]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub values: Option<HashMap<String, Option<i64>>>,
    #[serde(default)]
    pub business_hours: Option<RawBusinessHours>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawBusinessHours {
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub exclude_holidays: Option<Vec<String>>,
    #[serde(flatten)]
    pub days: HashMap<String, serde_json::Value>,
}

fn time<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    let s = String::deserialize(d)?;
    parse_time(&s).ok_or_else(|| {
        serde::de::Error::custom(format!("invalid time {s:?}, want YYYY-MM-DD HH:MM:SS"))
    })
}

/// Null, empty and the all-zero date mean "not set".
fn opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() || s.starts_with("0000-00-00") => Ok(None),
        Some(s) => parse_time(&s).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!("invalid time {s:?}, want YYYY-MM-DD HH:MM:SS"))
        }),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IdValue {
    S(String),
    N(serde_json::Number),
}

/// Ids are strings, but some endpoints have been seen to send numbers.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_id(d)?.ok_or_else(|| serde::de::Error::custom("missing id"))
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<IdValue>::deserialize(d)? {
        None => None,
        Some(IdValue::S(s)) if s.is_empty() => None,
        Some(IdValue::S(s)) => Some(s),
        Some(IdValue::N(n)) => Some(n.to_string()),
    })
}

fn tags<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// Parse `YYYY-MM-DD HH:MM:SS` (also ISO `T`) as UTC.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    let dt: DateTime = s.trim().replacen(' ', "T", 1).parse().ok()?;
    jiff::tz::TimeZone::UTC.to_timestamp(dt).ok()
}

/// Format for `_filters` values.
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S").to_string()
}
