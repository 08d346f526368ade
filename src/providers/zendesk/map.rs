//! Pure mapping of Zendesk JSON to the neutral model: no IO, no clock.
//!
//! A ticket comes from the incremental ticket export with its metric set
//! (`include=metric_sets`) and its SLA metrics (`include=slas`). The metric set
//! is a snapshot, so the item's timeline is rebuilt from it alone and the item
//! is complete: the first reply is `created_at` plus `reply_time_in_seconds`
//! (else minutes), the first assignment is `initially_assigned_at`, the last
//! solve is `solved_at`, and the current status began at `status_updated_at`.
//! What a snapshot cannot hold (pauses before the current status, next-reply
//! cycles, earlier solves of a reopened ticket) is not invented here: the
//! ticket metric events ([`super::events`]) add it when the store merges
//! them in ([`crate::timeline`]); see `docs/providers.md`.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

pub use super::raw::{
    RawCall, RawCallPage, RawGroup, RawGroupPage, RawMetricSet, RawPolicyMetric, RawTicket,
    RawTicketPage,
};
use crate::model::{Channel, Item, Status, StatusInterval, Target, VendorDue};

/// `group_id -> name`, for readable team labels.
pub type Groups = HashMap<String, String>;

/// Decode a JSON body, naming the JSON path of the first problem.
pub use crate::providers::client::decode;

/// What an exported ticket becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketOutcome {
    Item(Box<Item>),
    /// Deleted (`status: deleted`): the store should forget the id.
    Removed(String),
    /// Not an item of this source: a voice ticket (the call is counted from
    /// the Talk export, so the conversation is not counted twice) or a channel
    /// the source does not read.
    Skipped(String),
}

/// Zendesk ticket statuses. `deleted` has no neutral meaning: `None`.
pub fn status(s: &str) -> Option<Status> {
    Some(match s {
        "new" => Status::New,
        "open" => Status::Open,
        "pending" => Status::Pending,
        "hold" => Status::OnHold,
        "solved" => Status::Resolved,
        "closed" => Status::Closed,
        "deleted" => return None,
        _ => Status::Other,
    })
}

/// The neutral channel of a ticket from `via.channel`: live chat and
/// messaging are chats, voice is a call, everything else is a ticket.
pub fn channel(via_channel: Option<&str>) -> Channel {
    match via_channel {
        Some("chat" | "native_messaging" | "messaging" | "chat_transcript") => Channel::Chat,
        Some("voice") => Channel::Call,
        _ => Channel::Ticket,
    }
}

/// The `priority` label: Zendesk's priority, or `none` when unset.
pub fn priority(p: Option<&str>) -> String {
    match p {
        Some(p @ ("urgent" | "high" | "normal" | "low")) => p.to_owned(),
        Some(other) if !other.is_empty() => other.to_owned(),
        _ => "none".to_owned(),
    }
}

/// Map an exported ticket and its metric set (if the export sent one).
/// `channels` are the channels the source reads.
pub fn ticket_item(
    source: &str,
    t: &RawTicket,
    metrics: Option<&RawMetricSet>,
    groups: &Groups,
    channels: &[Channel],
) -> TicketOutcome {
    let Some(current) = status(&t.status) else {
        return TicketOutcome::Removed(t.id.clone());
    };
    let ch = channel(t.via.as_ref().and_then(|v| v.channel.as_deref()));
    if ch == Channel::Call || !channels.contains(&ch) {
        return TicketOutcome::Skipped(t.id.clone());
    }
    let mut item = Item::new(source, &t.id, ch, t.created_at);
    item.team = t
        .group_id
        .as_ref()
        .map(|g| groups.get(g).cloned().unwrap_or_else(|| g.clone()));
    item.priority = Some(priority(t.priority.as_deref()));
    item.tags = t.tags.clone();
    item.updated_at = t.updated_at.unwrap_or(t.created_at);
    item.customer_messages.push(t.created_at);

    let m = metrics.filter(|m| m.ticket_id == t.id);
    let first_reply = m.and_then(|m| first_reply(t.created_at, m));
    if let Some(at) = first_reply {
        item.agent_replies.push(at);
        if ch == Channel::Chat {
            item.answered_at = Some(at);
        }
    }
    item.first_assigned_at = m
        .and_then(|m| m.initially_assigned_at)
        .filter(|at| *at >= t.created_at);
    let solved_at = m.and_then(|m| m.solved_at).filter(|at| *at >= t.created_at);
    let since = m
        .and_then(|m| m.status_updated_at)
        .filter(|at| *at > t.created_at);
    item.statuses = intervals(t.created_at, current, since, solved_at);
    item.set_resolutions_from_statuses();
    if ch == Channel::Chat && current.is_done() {
        item.ended_at = item.resolutions.last().copied();
    }
    item.vendor_due = vendor_due(t, ch, &item);
    TicketOutcome::Item(Box::new(item))
}

/// `created_at` plus the first reply time, in seconds when Zendesk gives them
/// (`reply_time_in_seconds.calendar`), else in minutes. Null: no reply yet.
fn first_reply(created: Timestamp, m: &RawMetricSet) -> Option<Timestamp> {
    let secs = m
        .reply_time_in_seconds
        .as_ref()
        .and_then(|r| r.calendar)
        .or_else(|| {
            m.reply_time_in_minutes
                .as_ref()
                .and_then(|r| r.calendar)
                .map(|min| min * 60)
        })?;
    (secs >= 0).then(|| created + SignedDuration::from_secs(secs))
}

/// The status timeline a snapshot supports: the current status since
/// `status_updated_at`; before it the ticket was open (new when it never
/// left `new`), with the last solve in between for a ticket reopened since.
fn intervals(
    created: Timestamp,
    current: Status,
    since: Option<Timestamp>,
    solved_at: Option<Timestamp>,
) -> Vec<StatusInterval> {
    let iv = |status, start, end| StatusInterval { status, start, end };
    let Some(since) = since.filter(|_| current != Status::New) else {
        return vec![iv(current, created, None)];
    };
    let mut out = Vec::new();
    match solved_at {
        // Solved earlier, then reopened (or closed) at `since`: the solve is
        // the resolution, leaving it a reopening.
        Some(solved) if current != Status::Resolved && solved < since => {
            out.push(iv(Status::Open, created, Some(solved)));
            out.push(iv(Status::Resolved, solved, Some(since)));
        }
        _ => out.push(iv(Status::Open, created, Some(since))),
    }
    out.push(iv(current, since, None));
    out
}

/// Zendesk's own deadlines from `slas.policy_metrics`: `breach_at` per metric
/// (null while paused: skipped). `first_reply_time` is the first response
/// (a chat's pickup), `next_reply_time` the next response,
/// `requester_wait_time` (else `total_resolution_time`) the resolution; the
/// other metrics have no neutral target. An `achieved` metric is completed at
/// the instant the item knows for it, if any.
pub fn vendor_due(t: &RawTicket, ch: Channel, item: &Item) -> Vec<VendorDue> {
    let Some(slas) = &t.slas else {
        return Vec::new();
    };
    let has_rwt = slas
        .policy_metrics
        .iter()
        .any(|p| p.metric == "requester_wait_time" && p.breach_at.is_some());
    let mut out: Vec<VendorDue> = Vec::new();
    for p in &slas.policy_metrics {
        let Some(due_at) = p.breach_at else { continue };
        let (target, done_at) = match p.metric.as_str() {
            "first_reply_time" if ch == Channel::Chat => (Target::Pickup, item.answered_at),
            "first_reply_time" => (Target::FirstResponse, item.agent_replies.first().copied()),
            "next_reply_time" => (Target::NextResponse, None),
            "requester_wait_time" => (Target::Resolution, item.resolutions.last().copied()),
            "total_resolution_time" if !has_rwt => {
                (Target::Resolution, item.resolutions.last().copied())
            }
            _ => continue,
        };
        if out.iter().any(|d| d.target == target) {
            continue;
        }
        let stage = p.stage.as_deref();
        out.push(VendorDue {
            target,
            due_at,
            completed_at: done_at.filter(|_| stage == Some("achieved")),
            // Zendesk keeps a breached metric `active`; only the rare
            // `breached` stage states the verdict, else it is read from the
            // instants.
            breached: (stage == Some("breached")).then_some(true),
        });
    }
    out.sort_by_key(|d| d.target);
    out
}

/// Map a Talk call. Only inbound calls (or calls without a direction) wait
/// for an answer, so outbound calls give `None`. Answered = start plus
/// `time_to_answer`; ended = start plus `duration`.
pub fn call_item(source: &str, c: &RawCall) -> Option<Item> {
    if c.direction.as_deref().is_some_and(|d| d != "inbound") {
        return None;
    }
    let secs = |s: Option<i64>| s.filter(|s| *s >= 0).map(SignedDuration::from_secs);
    let mut item = Item::new(source, &c.id, Channel::Call, c.created_at);
    item.answered_at = secs(c.time_to_answer).map(|d| c.created_at + d);
    item.ended_at = Some(c.created_at + secs(c.duration).unwrap_or_default());
    item.updated_at = c.updated_at.unwrap_or(c.created_at);
    Some(item)
}

/// `group_id -> name` from group rows; unnamed groups are left out.
pub fn groups(rows: &[RawGroup]) -> Groups {
    rows.iter()
        .filter_map(|g| g.name.clone().map(|n| (g.id.clone(), n)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_channels() {
        assert_eq!(status("hold"), Some(Status::OnHold));
        assert_eq!(status("pending"), Some(Status::Pending));
        assert_eq!(status("solved"), Some(Status::Resolved));
        assert_eq!(status("deleted"), None);
        assert_eq!(status("custom"), Some(Status::Other));
        assert_eq!(channel(Some("native_messaging")), Channel::Chat);
        assert_eq!(channel(Some("voice")), Channel::Call);
        assert_eq!(channel(Some("email")), Channel::Ticket);
        assert_eq!(channel(None), Channel::Ticket);
        assert_eq!(priority(None), "none");
        assert_eq!(priority(Some("urgent")), "urgent");
    }
}
