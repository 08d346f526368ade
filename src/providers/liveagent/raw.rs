//! LiveAgent v3 rows as they arrive: exact JSON keys (mixed casing included) and
//! lenient readers for ids, tags and times.
//!
//! Times come in two shapes: ticket and history fields are typed `str` by the
//! vendor and arrive as `YYYY-MM-DD HH:MM:SS` (UTC, since the client sends
//! `Timezone-Offset: 0`); chat and call fields are typed `date-time`, which may
//! be RFC 3339 with `Z` or an offset. Both are read; an offset is converted,
//! never dropped. Empty strings and `0000-00-00 00:00:00` mean "not set".
//! Every field the vendor declares is optional; only the ones without which
//! a row means nothing (its id, its creation, a ticket's status) are required,
//! and a row missing one is quarantined by the caller.

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::civil::DateTime;
use serde::{Deserialize, Deserializer};

use crate::providers::json::{id, opt_id};

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
    /// How the conversation started: `E` email, `B`/`I` chat (button,
    /// invitation), `C`/`W` call, ... (`Ticket.channel_type`).
    #[serde(default)]
    pub channel_type: Option<String>,
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
    /// Empty when absent: `/tickets/{id}/history` rows may leave it out (the
    /// path says which ticket), and a filtered list's row without it is one
    /// the provider did not ask for.
    #[serde(default, deserialize_with = "id_or_empty")]
    pub conversation_id: String,
    #[serde(default, deserialize_with = "opt_id")]
    pub agent_id: Option<String>,
    pub status: String,
    #[serde(deserialize_with = "time")]
    pub date_from: Timestamp,
    #[serde(default, deserialize_with = "opt_time")]
    pub date_to: Option<Timestamp>,
}

/// `GET /tickets/{ticketId}/sla` (`TicketSla`): the SLA level LiveAgent's SLA
/// rules gave the ticket and the vendor's due instant for each SLA type
/// (typed `datetime`; read like the other times). A type the level does not
/// measure, or one already fulfilled, may be null.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawTicketSla {
    #[serde(default, deserialize_with = "opt_id")]
    pub conversationid: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub sla_level_id: Option<String>,
    #[serde(default)]
    pub sla_level_name: Option<String>,
    #[serde(default, deserialize_with = "opt_time")]
    pub first_answer: Option<Timestamp>,
    #[serde(default, deserialize_with = "opt_time")]
    pub first_assign: Option<Timestamp>,
    #[serde(default, deserialize_with = "opt_time")]
    pub first_resolve: Option<Timestamp>,
    #[serde(default, deserialize_with = "opt_time")]
    pub next_answer: Option<Timestamp>,
}

/// A row of the SLA log (`/grid/tickets/sla`, `/grid/chats/sla`,
/// `/grid/calls/sla`: `SlaLogRow`): one fulfilled SLA type of one
/// conversation. Every field is typed `str` by the vendor except `sla_type`,
/// typed `datetime` though it names a type; it is read as any scalar.
#[derive(Debug, Clone, Deserialize)]
pub struct RawSlaLogRow {
    #[serde(default, deserialize_with = "opt_id")]
    pub id: Option<String>,
    #[serde(deserialize_with = "id")]
    pub conversationid: String,
    #[serde(default)]
    pub sla_type: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "opt_time")]
    pub date_due: Option<Timestamp>,
    #[serde(default, deserialize_with = "opt_time")]
    pub date_closed: Option<Timestamp>,
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
    /// The conversation (ticket) the call belongs to.
    #[serde(default, deserialize_with = "opt_id")]
    pub ticket_id: Option<String>,
}

/// A `/tags` row (`Tag`).
#[derive(Debug, Clone, Deserialize)]
pub struct RawTag {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A `/settings` row (`Setting`): `TIMEZONE` and display formats.
#[derive(Debug, Clone, Deserialize)]
pub struct RawSetting {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
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

/// The decoder's reason for a time it cannot read. It never quotes the value:
/// rejected rows are logged, and a row's content stays out of logs.
const BAD_TIME: &str = "invalid value: want YYYY-MM-DD HH:MM:SS or RFC 3339";

/// A time the row cannot do without; absent ones (empty, all-zero) fail too.
fn time<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    opt_time(d)?.ok_or_else(|| serde::de::Error::custom("missing field: time not set"))
}

/// Null, empty and the all-zero date mean "not set". Read from the string
/// as the decoder holds it, without a copy (issue 19: a ticket page has
/// thousands of instants).
fn opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    d.deserialize_option(OptTime)
}

struct OptTime;

impl<'de> serde::de::Visitor<'de> for OptTime {
    type Value = Option<Timestamp>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a time: YYYY-MM-DD HH:MM:SS or RFC 3339, or null")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
        if is_unset(s) {
            return Ok(None);
        }
        parse_time(s).map(Some).ok_or_else(|| E::custom(BAD_TIME))
    }
}

/// Empty, or LiveAgent's all-zero "no date" (`0000-00-00 00:00:00`).
fn is_unset(s: &str) -> bool {
    let s = s.trim();
    s.is_empty() || s.starts_with("0000-00-00")
}

fn id_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(opt_id(d)?.unwrap_or_default())
}

fn tags<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// Parse a LiveAgent time: `YYYY-MM-DD HH:MM:SS` (also with `T`) as UTC, or
/// RFC 3339 with `Z` or an offset, converted to UTC.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Some(t) = plain_time(s) {
        return Some(t);
    }
    let s = s.replacen(' ', "T", 1);
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let dt: DateTime = s.parse().ok()?;
    jiff::tz::TimeZone::UTC.to_timestamp(dt).ok()
}

/// The vendor's usual form, `YYYY-MM-DD HH:MM:SS` exactly, read without
/// an allocation or a failed parse first (the general path costs both, and
/// was a tenth of a first sync's decoding). `None`: another form, or not a
/// valid instant; [`parse_time`] then tries the general path.
fn plain_time(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    let shape = b.len() == 19
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && b[10] == b' '
        && [13, 16].iter().all(|&i| b[i] == b':');
    if !shape {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i16> {
        b[from..to].iter().try_fold(0i16, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + i16::from(c - b'0'))
        })
    };
    let dt = jiff::civil::DateTime::new(
        num(0, 4)?,
        i8::try_from(num(5, 7)?).ok()?,
        i8::try_from(num(8, 10)?).ok()?,
        i8::try_from(num(11, 13)?).ok()?,
        i8::try_from(num(14, 16)?).ok()?,
        i8::try_from(num(17, 19)?).ok()?,
        0,
    )
    .ok()?;
    jiff::tz::TimeZone::UTC.to_timestamp(dt).ok()
}

/// Format for `_filters` values.
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S").to_string()
}
