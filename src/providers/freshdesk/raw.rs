//! Freshdesk v2 JSON as it arrives: only the fields the SLA engine needs,
//! lenient where Freshdesk documents nulls or optional keys, and ids that may
//! come as numbers or strings (some payloads send them as strings).
//!
//! Times are ISO 8601 in UTC (`2025-02-17T11:00:26Z`), read by jiff, which
//! refuses a time without an offset rather than guessing one.

use jiff::Timestamp;
use serde::{Deserialize, Deserializer};

use crate::providers::json::{id, null_vec, opt_id};

/// A row of `GET /api/v2/tickets` (a bare JSON array) with `include=stats`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawTicket {
    #[serde(deserialize_with = "id")]
    pub id: String,
    /// 2 Open, 3 Pending, 4 Resolved, 5 Closed, 6 and up custom statuses.
    pub status: i64,
    /// 1 Low, 2 Medium, 3 High, 4 Urgent.
    #[serde(default)]
    pub priority: Option<i64>,
    /// 1 Email, 2 Portal, 3 Phone, 7 Chat, 9 Feedback widget, 10 Outbound email.
    #[serde(default)]
    pub source: Option<i64>,
    /// The ticket type (`Question`, `Incident`, ...), or null.
    #[serde(default, rename = "type")]
    pub ticket_type: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub group_id: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub responder_id: Option<String>,
    #[serde(default, deserialize_with = "null_vec")]
    pub tags: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Freshdesk's resolution due instant (moved on each resume).
    #[serde(default)]
    pub due_by: Option<Timestamp>,
    /// Freshdesk's first response due instant.
    #[serde(default)]
    pub fr_due_by: Option<Timestamp>,
    /// Next response due instant; only with the next-response SLA enabled.
    #[serde(default)]
    pub nr_due_by: Option<Timestamp>,
    /// Escalated for a missed first response.
    #[serde(default)]
    pub fr_escalated: Option<bool>,
    /// Escalated for a missed resolution.
    #[serde(default)]
    pub is_escalated: Option<bool>,
    #[serde(default)]
    pub nr_escalated: Option<bool>,
    #[serde(default)]
    pub spam: Option<bool>,
    #[serde(default)]
    pub deleted: Option<bool>,
    /// Present with `include=stats`.
    #[serde(default)]
    pub stats: Option<RawStats>,
}

/// The `stats` embed: when things last happened. Every field may be null.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawStats {
    #[serde(default)]
    pub first_responded_at: Option<Timestamp>,
    /// The latest agent response.
    #[serde(default)]
    pub agent_responded_at: Option<Timestamp>,
    /// The latest requester response.
    #[serde(default)]
    pub requester_responded_at: Option<Timestamp>,
    /// When the ticket entered its current status.
    #[serde(default)]
    pub status_updated_at: Option<Timestamp>,
    #[serde(default)]
    pub pending_since: Option<Timestamp>,
    #[serde(default)]
    pub resolved_at: Option<Timestamp>,
    #[serde(default)]
    pub closed_at: Option<Timestamp>,
    #[serde(default)]
    pub reopened_at: Option<Timestamp>,
}

/// A row of `GET /api/v2/groups` (a bare JSON array).
#[derive(Debug, Clone, Deserialize)]
pub struct RawGroup {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The business calendar that applies to this group's tickets.
    #[serde(default, deserialize_with = "opt_id")]
    pub business_hours_id: Option<String>,
}

/// A row of `GET /api/v2/admin/ticket_fields` (a bare JSON array): only the
/// id and the name, to find the status field.
#[derive(Debug, Clone, Deserialize)]
pub struct RawTicketField {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "type")]
    pub field_type: Option<String>,
}

/// `GET /api/v2/admin/ticket_fields/{id}` for the status field: its choices,
/// each a status with its `stop_sla_timer` flag.
#[derive(Debug, Clone, Deserialize)]
pub struct RawStatusField {
    #[serde(default, deserialize_with = "null_vec")]
    pub choices: Vec<serde_json::Value>,
}

/// One status choice. Freshdesk's own source renders it in two shapes: the
/// admin field detail as `{id: <status code>, value: "<name>",
/// label_for_customer, stop_sla_timer, default, deleted}`, and the ticket
/// form as `{value: <status code>, label, customer_display_name,
/// stop_sla_timer, default, deleted}`. The code is `value` when it is a
/// number, else `id`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawStatusChoice {
    #[serde(default, deserialize_with = "opt_id")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub value: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub stop_sla_timer: Option<bool>,
    #[serde(default)]
    pub deleted: Option<bool>,
}

impl RawStatusChoice {
    /// The status code this choice stands for, when one reads as a number.
    pub fn code(&self) -> Option<i64> {
        let num = |v: &Option<String>| v.as_deref().and_then(|v| v.trim().parse::<i64>().ok());
        num(&self.value).or_else(|| num(&self.id))
    }
}

/// A row of `GET /api/v2/sla_policies` (a bare JSON array).
#[derive(Debug, Clone, Deserialize)]
pub struct RawSlaPolicy {
    #[serde(deserialize_with = "id")]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub is_default: Option<bool>,
    #[serde(default)]
    pub position: Option<i64>,
    /// `priority_1` .. `priority_4`.
    #[serde(default)]
    pub sla_target: std::collections::BTreeMap<String, RawSlaTarget>,
    /// Conditions, keys pluralized: `group_ids`, `sources`, `ticket_types`,
    /// `company_ids`, `product_ids`. Absent or empty on the default policy.
    #[serde(default)]
    pub applicable_to: Option<RawApplicableTo>,
}

/// One priority's targets, in seconds.
#[derive(Debug, Clone, Deserialize)]
pub struct RawSlaTarget {
    #[serde(default)]
    pub respond_within: Option<i64>,
    /// Only with the next-response SLA enabled.
    #[serde(default)]
    pub next_respond_within: Option<i64>,
    #[serde(default)]
    pub resolve_within: Option<i64>,
    /// True: business hours (the ticket group's calendar); false: calendar time.
    #[serde(default = "yes")]
    pub business_hours: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawApplicableTo {
    #[serde(default, deserialize_with = "ids")]
    pub group_ids: Vec<String>,
    #[serde(default, deserialize_with = "ids")]
    pub sources: Vec<String>,
    #[serde(default, deserialize_with = "null_vec")]
    pub ticket_types: Vec<String>,
    #[serde(default, deserialize_with = "ids")]
    pub company_ids: Vec<String>,
    #[serde(default, deserialize_with = "ids")]
    pub product_ids: Vec<String>,
}

/// `GET /api/v2/business_hours/{id}` (and rows of the list, which carry no
/// `holiday_list`): 12-hour times, a Rails time-zone name, yearly holidays
/// as `["Jan 16", "name"]` pairs.
#[derive(Debug, Clone, Deserialize)]
pub struct RawBusinessHours {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub is_default: Option<bool>,
    pub time_zone: String,
    /// `monday` .. `sunday`; a day that is not listed is closed.
    #[serde(default)]
    pub business_hours: std::collections::BTreeMap<String, RawDayHours>,
    #[serde(default, deserialize_with = "null_vec")]
    pub holiday_list: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawDayHours {
    /// `"8:00 am"`, `"08:00:00 am"`.
    pub start_time: String,
    pub end_time: String,
}

/// A list of ids, each a number or a string; null is empty.
fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        N(u64),
        S(String),
    }
    Ok(Option::<Vec<Id>>::deserialize(d)?
        .unwrap_or_default()
        .into_iter()
        .map(|i| match i {
            Id::N(n) => n.to_string(),
            Id::S(s) => s,
        })
        .collect())
}

/// A row of `GET /api/v2/tickets/{id}/conversations` (a bare JSON array):
/// replies and notes, oldest first.
#[derive(Debug, Clone, Deserialize)]
pub struct RawConversation {
    #[serde(deserialize_with = "id")]
    pub id: String,
    /// True when the requester (or another contact) wrote it.
    #[serde(default)]
    pub incoming: bool,
    /// A private note, not seen by the requester.
    #[serde(default)]
    pub private: bool,
    /// 0 reply, 2 note, 5 tweet, 6 survey feedback, 7 Facebook, 8 forwarded
    /// email, 9 phone, 11 e-commerce.
    #[serde(default)]
    pub source: Option<i64>,
    pub created_at: Timestamp,
}
