//! Pure mapping of Jira/JSM JSON to the neutral model: no IO, no clock.
//!
//! One issue becomes one ticket [`Item`], keyed by the issue's numeric `id`
//! (stable across project moves). The status timeline is rebuilt from the
//! changelog's `status` entries; events come from status changes the same way
//! as for LiveAgent (see [`issue_item`]). JSM's own verdict comes from the SLA
//! custom fields, whose latest cycle becomes a [`VendorDue`] per mapped target.

use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::Value;

use super::config::{JsmConfig, TeamField};
pub use super::raw::{
    RawChangeItem, RawChangelog, RawChangelogPage, RawComment, RawCommentPage, RawCreatedIssue,
    RawCycle, RawField, RawHistory, RawIdPage, RawIssue, RawIssueChangelog, RawMyself,
    RawOffsetPage, RawSearchPage, RawSla, RawStatus, RawTime, RawUser, parse_time,
};
use crate::model::{Channel, Item, Status, StatusInterval, Target, VendorDue};

pub use crate::providers::client::decode;

/// `schema.custom` of JSM's SLA fields. A field merely *named* "SLA" is not one.
pub const SLA_FIELD_TYPE: &str = "com.atlassian.servicedesk:sd-sla-field";
/// `schema.custom` of the customer request type field.
pub const REQUEST_TYPE_FIELD_TYPE: &str = "com.atlassian.servicedesk:vp-origin";
/// `schema.custom` of the customer organizations field.
pub const ORGANIZATIONS_FIELD_TYPE: &str = "com.atlassian.servicedesk:sd-customer-organizations";

/// The configured field names resolved to field ids through `/rest/api/3/field`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    /// SLA field id (`customfield_10030`) → target.
    pub sla: Vec<(String, Target)>,
    /// Configured SLA names with no `sd-sla-field` of that name (check-source reports them).
    pub missing_sla: Vec<String>,
    /// Where the team label is read: a field id, or `components`.
    pub team: Option<String>,
    /// Status name (lower case) → category key (`new`, `indeterminate`,
    /// `done`) from `/rest/api/3/status`, for statuses in the changelog that
    /// are neither configured nor JSM defaults.
    pub status_categories: HashMap<String, String>,
}

/// Status name → category key from the `/rest/api/3/status` rows.
pub fn status_categories(rows: &[RawStatus]) -> HashMap<String, String> {
    rows.iter()
        .filter_map(|r| {
            let key = r.status_category.as_ref()?.key.clone()?;
            Some((r.name.trim().to_lowercase(), key))
        })
        .collect()
}

/// Matches the configured SLA names (case-insensitively) and the team field
/// against the site's field list.
pub fn resolve_fields(rows: &[RawField], config: &JsmConfig) -> Fields {
    let custom = |r: &RawField| r.schema.as_ref().and_then(|s| s.custom.clone());
    let mut out = Fields::default();
    for (name, target) in &config.sla_fields {
        let found = rows.iter().find(|r| {
            custom(r).as_deref() == Some(SLA_FIELD_TYPE)
                && r.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        });
        match found {
            Some(r) => out.sla.push((r.id.clone(), *target)),
            None => out.missing_sla.push(name.clone()),
        }
    }
    let by_type = |t: &str| {
        rows.iter()
            .find(|r| custom(r).as_deref() == Some(t))
            .map(|r| r.id.clone())
    };
    out.team = match &config.team_field {
        None => None,
        Some(TeamField::Components) => Some("components".to_owned()),
        Some(TeamField::RequestType) => by_type(REQUEST_TYPE_FIELD_TYPE),
        Some(TeamField::Organizations) => by_type(ORGANIZATIONS_FIELD_TYPE),
        Some(TeamField::Field(id)) => Some(id.clone()),
    };
    out
}

/// Status name → neutral status: the config's `statuses` first, then the
/// names of JSM's default service workflows, then the status's category
/// (`done` → resolved, `new` → new), else `other`.
pub fn status(name: &str, category: Option<&str>, overrides: &[(String, Status)]) -> Status {
    let lower = name.trim().to_lowercase();
    if let Some((_, s)) = overrides.iter().find(|(n, _)| *n == lower) {
        return *s;
    }
    match lower.as_str() {
        "new" | "open" | "to do" => Status::New,
        "waiting for support"
        | "in progress"
        | "work in progress"
        | "under investigation"
        | "investigating"
        | "escalated"
        | "reopened"
        | "under review" => Status::Open,
        "waiting for customer" => Status::Answered,
        "pending" | "waiting for approval" | "awaiting approval" => Status::Pending,
        "on hold" => Status::OnHold,
        "resolved" | "done" | "completed" | "canceled" | "cancelled" | "declined" => {
            Status::Resolved
        }
        "closed" => Status::Closed,
        _ => match category {
            Some("done") => Status::Resolved,
            Some("new") => Status::New,
            _ => Status::Other,
        },
    }
}

/// Maps one issue with its complete changelog (`histories`) and comments,
/// both in any order.
///
/// Events are status changes: `→ answered` ("Waiting for customer") is an agent
/// reply; `answered → open/new` a customer message (creation is the first);
/// `→ resolved/closed` a resolution; leaving resolved/closed a reopening (and a
/// customer message). Public comments are events too (see [`comment_events`]).
/// The first `assignee` change to someone is the first
/// assignment; an issue assigned now with no such change was assigned at
/// creation. Without status changes the item has only its current status.
pub fn issue_item(
    source: &str,
    issue: &RawIssue,
    histories: &[RawHistory],
    comments: &[RawComment],
    fields: &Fields,
    overrides: &[(String, Status)],
) -> Item {
    let f = &issue.fields;
    let mut item = Item::new(source, &issue.id, Channel::Ticket, f.created);
    item.updated_at = f.updated.unwrap_or(f.created);
    item.priority = f.priority.as_ref().and_then(|p| p.name.clone());
    item.team = fields.team.as_deref().and_then(|id| team(f, id));
    item.customer_messages.push(f.created);

    let mut rows: Vec<&RawHistory> = histories.iter().collect();
    rows.sort_by_key(|h| h.created);
    let changes: Vec<(Timestamp, &RawChangeItem)> = rows
        .iter()
        .flat_map(|h| h.items.iter().map(move |i| (h.created, i)))
        .collect();
    let is = |i: &RawChangeItem, name: &str| {
        i.field_id.as_deref() == Some(name) || i.field.as_deref() == Some(name)
    };

    let current_name = f.status.as_ref().map(|s| s.name.as_str());
    let category = f
        .status
        .as_ref()
        .and_then(|s| s.status_category.as_ref())
        .and_then(|c| c.key.as_deref());
    let neutral = |name: Option<&str>| {
        let cat = if name == current_name {
            category
        } else {
            name.and_then(|n| fields.status_categories.get(&n.trim().to_lowercase()))
                .map(String::as_str)
        };
        name.map_or(Status::Other, |n| status(n, cat, overrides))
    };
    let status_changes: Vec<(Timestamp, &RawChangeItem)> = changes
        .iter()
        .filter(|(_, i)| is(i, "status"))
        .copied()
        .collect();
    let first = status_changes
        .first()
        .map_or(current_name, |(_, i)| i.from_string.as_deref());
    let mut cur = neutral(first);
    let mut start = f.created;
    for (at, change) in &status_changes {
        let next = neutral(change.to_string.as_deref());
        let at = (*at).max(f.created);
        if at > start {
            item.statuses.push(StatusInterval {
                status: cur,
                start,
                end: Some(at),
            });
            start = at;
        }
        if next == Status::Answered && cur != Status::Answered {
            item.agent_replies.push(at);
        }
        if cur == Status::Answered && matches!(next, Status::Open | Status::New) {
            item.customer_messages.push(at);
        }
        if next.is_done() && !cur.is_done() {
            item.resolutions.push(at);
        }
        if cur.is_done() && !next.is_done() {
            item.reopenings.push(at);
            item.customer_messages.push(at);
        }
        cur = next;
    }
    item.statuses.push(StatusInterval {
        status: cur,
        start,
        end: None,
    });
    if item.resolutions.is_empty() && cur.is_done() {
        item.resolutions.push(f.resolutiondate.unwrap_or(start));
    }
    let (replies, messages) = comment_events(f.created, f.reporter.as_ref(), comments);
    item.agent_replies.extend(replies);
    item.customer_messages.extend(messages);
    for events in [&mut item.agent_replies, &mut item.customer_messages] {
        events.sort();
        events.dedup();
    }

    item.first_assigned_at = changes
        .iter()
        .find(|(_, i)| is(i, "assignee") && i.to.is_some())
        .map(|(at, _)| *at)
        .or_else(|| {
            let never_changed = !changes.iter().any(|(_, i)| is(i, "assignee"));
            (never_changed && f.assignee.as_ref().is_some_and(|a| !a.is_null()))
                .then_some(f.created)
        });

    for (id, target) in &fields.sla {
        let Some(value) = f.other.get(id).filter(|v| !v.is_null()) else {
            continue;
        };
        // A malformed SLA value loses only JSM's verdict for this target.
        let Ok(sla) = serde_json::from_value::<RawSla>(value.clone()) else {
            continue;
        };
        if let Some(due) = vendor_due(*target, &sla) {
            item.vendor_due.push(due);
        }
    }
    item
}

/// Agent replies and customer messages from comments, oldest first: a public
/// comment (`jsdPublic: true`) by the reporter is a customer message, by anyone
/// else an agent reply. Internal notes (`jsdPublic: false`) and comments whose
/// visibility is not stated are neither, and so is a comment whose author
/// cannot be compared with the reporter (no shared identifier, or no
/// reporter): counting it either way could invent a reply. Times before the
/// issue's creation are moved to it.
pub fn comment_events(
    created: Timestamp,
    reporter: Option<&RawUser>,
    comments: &[RawComment],
) -> (Vec<Timestamp>, Vec<Timestamp>) {
    let mut replies = Vec::new();
    let mut messages = Vec::new();
    for c in comments.iter().filter(|c| c.jsd_public == Some(true)) {
        let by_reporter = match (&c.author, reporter) {
            (Some(author), Some(reporter)) => author.same_as(reporter),
            _ => None,
        };
        match by_reporter {
            Some(true) => messages.push(c.created.max(created)),
            Some(false) => replies.push(c.created.max(created)),
            None => {}
        }
    }
    replies.sort();
    messages.sort();
    (replies, messages)
}

/// JSM's verdict for one SLA: its latest cycle (the ongoing one, else the last
/// completed one), because the engine applies a vendor due instant to the
/// target's latest cycle only.
///
/// - ongoing with a `breachTime`: due = breachTime, not completed, and JSM's
///   verdict only once `breached` is true (before that it is undecided);
/// - ongoing and paused, or without `breachTime`: nothing (the instant depends
///   on when the pause ends; the engine falls back to its own clock);
/// - completed: due = breachTime, completed = stopTime, verdict = `breached`. Without `breachTime`
///   it is left out rather than guessed: `remainingTime` is calendar time.
/// - no cycles (the SLA does not apply) or a null field: nothing.
pub fn vendor_due(target: Target, sla: &RawSla) -> Option<VendorDue> {
    if let Some(c) = &sla.ongoing_cycle {
        if c.paused == Some(true) {
            return None;
        }
        return Some(VendorDue {
            target,
            due_at: c.breach_time.as_ref()?.instant()?,
            completed_at: None,
            // A running cycle that has not breached yet is undecided, not met.
            breached: c.breached.filter(|b| *b),
        });
    }
    let c = sla.completed_cycles.last()?;
    Some(VendorDue {
        target,
        due_at: c.breach_time.as_ref()?.instant()?,
        completed_at: Some(c.stop_time.as_ref()?.instant()?),
        breached: c.breached,
    })
}

/// The team label from a field value: a string, an object's
/// `requestType.name`, `value` or `name`, or the first element of a list.
fn team(f: &super::raw::RawFields, id: &str) -> Option<String> {
    if id == "components" {
        return f.components.iter().find_map(|c| c.name.clone());
    }
    label(f.other.get(id)?)
}

fn label(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Array(items) => items.iter().find_map(label),
        Value::Object(o) => o
            .get("requestType")
            .and_then(|r| r.get("name"))
            .or_else(|| o.get("value"))
            .or_else(|| o.get("name"))
            .and_then(label),
        _ => None,
    }
}

/// The histories of a page's issues by issue id: the embedded changelog, to be
/// replaced by the full one where it was cut.
pub type Histories = HashMap<String, Vec<RawHistory>>;
