//! Freshdesk v2 JSON as it arrives: only the fields the SLA engine needs,
//! lenient where Freshdesk documents nulls or optional keys, and ids that may
//! come as numbers or strings (some payloads send them as strings).
//!
//! Times are ISO 8601 in UTC (`2025-02-17T11:00:26Z`), read by jiff, which
//! refuses a time without an offset rather than guessing one.

use jiff::Timestamp;
use serde::{Deserialize, Deserializer};

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

/// An id sent as a number or a string.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_id(d)?.ok_or_else(|| serde::de::Error::custom("id is null"))
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        N(u64),
        S(String),
    }
    Ok(match Option::<Id>::deserialize(d)? {
        Some(Id::N(n)) => Some(n.to_string()),
        Some(Id::S(s)) if !s.is_empty() => Some(s),
        _ => None,
    })
}

/// A list that may be null.
fn null_vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}
