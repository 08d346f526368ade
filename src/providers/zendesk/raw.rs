//! Zendesk JSON as it arrives: only the fields the SLA engine needs, with
//! lenient readers where the vendor documents (or has been seen sending)
//! nulls, and ids that may come as numbers or strings.
//!
//! Times are ISO 8601 in UTC (`2025-01-02T09:15:00Z`), read by jiff.

use jiff::Timestamp;
use serde::Deserialize;

use crate::providers::json::{id, null_vec, opt_id};

/// A page of `GET /api/v2/incremental/tickets/cursor.json` with
/// `include=metric_sets`: `tickets[]`, the sideloaded `metric_sets[]` (one per
/// ticket, joined by `ticket_id`), `after_cursor` and `end_of_stream`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawTicketPage {
    #[serde(default, deserialize_with = "null_vec")]
    pub tickets: Vec<serde_json::Value>,
    #[serde(default, deserialize_with = "null_vec")]
    pub metric_sets: Vec<serde_json::Value>,
    #[serde(default)]
    pub after_cursor: Option<String>,
    #[serde(default)]
    pub end_of_stream: bool,
}

/// A ticket row (Tickets API `TicketObject`).
#[derive(Debug, Clone, Deserialize)]
pub struct RawTicket {
    #[serde(deserialize_with = "id")]
    pub id: String,
    /// `new|open|pending|hold|solved|closed`, and `deleted` in exports.
    pub status: String,
    /// `urgent|high|normal|low`, or null.
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub group_id: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub assignee_id: Option<String>,
    #[serde(default)]
    pub via: Option<RawVia>,
    #[serde(default, deserialize_with = "null_vec")]
    pub tags: Vec<String>,
    pub created_at: Timestamp,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// Present with `include=slas`.
    #[serde(default)]
    pub slas: Option<RawSlas>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawVia {
    /// `email`, `web`, `api`, `chat`, `native_messaging`, `voice`, ...
    #[serde(default)]
    pub channel: Option<String>,
}

/// The `slas` sideload of a ticket.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawSlas {
    #[serde(default, deserialize_with = "null_vec")]
    pub policy_metrics: Vec<RawPolicyMetric>,
}

/// One SLA metric of the policy applied to a ticket. The `days`/`hours`/
/// `minutes` number next to it is a coarse, signed time until `breach_at`, not
/// the target, so it is not read.
#[derive(Debug, Clone, Deserialize)]
pub struct RawPolicyMetric {
    /// `first_reply_time`, `next_reply_time`, `requester_wait_time`, ...
    pub metric: String,
    /// `active`, `achieved`, `paused`, ...
    #[serde(default)]
    pub stage: Option<String>,
    /// Null while the metric is paused.
    #[serde(default)]
    pub breach_at: Option<Timestamp>,
}

/// A ticket metric set (Ticket Metrics API), sideloaded by `include=metric_sets`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawMetricSet {
    #[serde(deserialize_with = "id")]
    pub ticket_id: String,
    #[serde(default)]
    pub reply_time_in_minutes: Option<RawBusinessCalendar>,
    #[serde(default)]
    pub reply_time_in_seconds: Option<RawBusinessCalendar>,
    #[serde(default)]
    pub initially_assigned_at: Option<Timestamp>,
    #[serde(default)]
    pub solved_at: Option<Timestamp>,
    #[serde(default)]
    pub status_updated_at: Option<Timestamp>,
    #[serde(default)]
    pub reopens: Option<u32>,
}

/// `{calendar, business}`, either null.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawBusinessCalendar {
    #[serde(default)]
    pub calendar: Option<i64>,
    #[serde(default)]
    pub business: Option<i64>,
}

/// A page of `GET /api/v2/channels/voice/stats/incremental/calls.json`.
/// `next_page` is always present, so `count` says whether anything came.
#[derive(Debug, Clone, Deserialize)]
pub struct RawCallPage {
    #[serde(default, deserialize_with = "null_vec")]
    pub calls: Vec<serde_json::Value>,
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub end_time: Option<i64>,
    #[serde(default)]
    pub next_page: Option<String>,
}

/// One Talk call; it appears in the export once it is over.
#[derive(Debug, Clone, Deserialize)]
pub struct RawCall {
    #[serde(deserialize_with = "id")]
    pub id: String,
    pub created_at: Timestamp,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// `inbound` or `outbound`.
    #[serde(default)]
    pub direction: Option<String>,
    /// `completed`, `abandoned_in_queue`, `abandoned_in_ivr`, `voicemail`, ...
    #[serde(default)]
    pub completion_status: Option<String>,
    /// Seconds from the call's start to an agent answering; null when nobody did.
    #[serde(default)]
    pub time_to_answer: Option<i64>,
    #[serde(default)]
    pub wait_time: Option<i64>,
    /// Seconds, the whole call.
    #[serde(default)]
    pub duration: Option<i64>,
    /// Read, not used: a verdict without the instant a `VendorDue` needs
    /// (see `docs/providers.md`, Zendesk, "Not done yet").
    #[serde(default, alias = "exceeded_queue_time")]
    pub exceeded_queue_wait_time: Option<bool>,
    #[serde(default, deserialize_with = "opt_id")]
    pub agent_id: Option<String>,
}

/// A page of `GET /api/v2/groups.json` (cursor pagination: `meta.has_more`,
/// `meta.after_cursor`).
#[derive(Debug, Clone, Deserialize)]
pub struct RawGroupPage {
    #[serde(default, deserialize_with = "null_vec")]
    pub groups: Vec<RawGroup>,
    #[serde(default)]
    pub meta: Option<RawMeta>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawGroup {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawMeta {
    #[serde(default)]
    pub has_more: bool,
    #[serde(default)]
    pub after_cursor: Option<String>,
}

/// A page of `GET /api/v2/slas/policies.json` (SLA Policies API):
/// `sla_policies[]`, `count`, and `next_page` (null on the last page).
#[derive(Debug, Clone, Deserialize)]
pub struct RawSlaPolicyPage {
    #[serde(default, deserialize_with = "null_vec")]
    pub sla_policies: Vec<RawSlaPolicy>,
    #[serde(default)]
    pub next_page: Option<String>,
}

/// One SLA policy: `filter` (conditions), `policy_metrics` (targets per
/// priority), `position` (match order, first match wins).
#[derive(Debug, Clone, Deserialize)]
pub struct RawSlaPolicy {
    #[serde(deserialize_with = "id")]
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub position: Option<i64>,
    #[serde(default)]
    pub filter: RawFilter,
    #[serde(default, deserialize_with = "null_vec")]
    pub policy_metrics: Vec<RawPolicyTarget>,
}

/// Conditions as in the Conditions reference: every `all` condition and at
/// least one `any` condition (when there are any) must hold.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawFilter {
    #[serde(default, deserialize_with = "null_vec")]
    pub all: Vec<RawCondition>,
    #[serde(default, deserialize_with = "null_vec")]
    pub any: Vec<RawCondition>,
}

/// `{field, operator, value}`; the value is a string, a number or a list
/// depending on the field.
#[derive(Debug, Clone, Deserialize)]
pub struct RawCondition {
    pub field: String,
    pub operator: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

/// One target of a policy (Policy Metric object): `priority`, `metric`,
/// `target` in minutes, and whether it counts business hours.
#[derive(Debug, Clone, Deserialize)]
pub struct RawPolicyTarget {
    /// `low`, `normal`, `high`, `urgent`.
    pub priority: String,
    /// `first_reply_time`, `next_reply_time`, `periodic_update_time`,
    /// `requester_wait_time`, `agent_work_time`, `pausable_update_time`.
    pub metric: String,
    /// Minutes.
    #[serde(default)]
    pub target: Option<i64>,
    /// Seconds, where Zendesk sends it (finer than `target`).
    #[serde(default)]
    pub target_in_seconds: Option<i64>,
    #[serde(default)]
    pub business_hours: bool,
}

/// `GET /api/v2/business_hours/schedules.json` (Schedules API).
#[derive(Debug, Clone, Deserialize)]
pub struct RawSchedulePage {
    #[serde(default, deserialize_with = "null_vec")]
    pub schedules: Vec<RawSchedule>,
    #[serde(default)]
    pub next_page: Option<String>,
}

/// A schedule: a Rails time-zone name and weekly intervals.
#[derive(Debug, Clone, Deserialize)]
pub struct RawSchedule {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub time_zone: String,
    #[serde(default, deserialize_with = "null_vec")]
    pub intervals: Vec<RawInterval>,
}

/// Minutes since Sunday 00:00 in the schedule's zone; an interval does not
/// span calendar days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct RawInterval {
    pub start_time: i64,
    pub end_time: i64,
}

/// `GET /api/v2/business_hours/schedules/{id}/holidays.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct RawHolidayPage {
    #[serde(default, deserialize_with = "null_vec")]
    pub holidays: Vec<RawHoliday>,
    #[serde(default)]
    pub next_page: Option<String>,
}

/// A holiday: closed from `start_date` through `end_date` (both
/// `YYYY-MM-DD`, inclusive).
#[derive(Debug, Clone, Deserialize)]
pub struct RawHoliday {
    #[serde(default)]
    pub name: Option<String>,
    pub start_date: String,
    pub end_date: String,
}

/// A page of `GET /api/v2/incremental/ticket_metric_events?start_time=`
/// (time-based: `end_time` is the next `start_time`; `end_of_stream` says
/// the export is caught up).
#[derive(Debug, Clone, Deserialize)]
pub struct RawMetricEventPage {
    #[serde(default, deserialize_with = "null_vec")]
    pub ticket_metric_events: Vec<serde_json::Value>,
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub end_time: Option<i64>,
    #[serde(default)]
    pub end_of_stream: Option<bool>,
}

/// One ticket metric event (Ticket Metric Events API).
#[derive(Debug, Clone, Deserialize)]
pub struct RawMetricEvent {
    #[serde(deserialize_with = "id")]
    pub id: String,
    #[serde(deserialize_with = "id")]
    pub ticket_id: String,
    /// `reply_time`, `requester_wait_time`, `agent_work_time`, ...
    pub metric: String,
    /// 1 for the first reply, 2 and up for next replies (`reply_time`).
    #[serde(default)]
    pub instance_id: Option<i64>,
    /// `activate`, `pause`, `fulfill`, `apply_sla`, `breach`, `update_status`, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub time: Timestamp,
}
