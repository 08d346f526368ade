//! Pure mapping of Freshdesk JSON to the neutral model: no IO, no clock.
//!
//! A ticket comes from the ticket list with its `stats` embed. Freshdesk's
//! public API has no status history, so the item holds what a snapshot can
//! say: the first and the latest agent response, the latest requester
//! response, the current status since `status_updated_at` (open before it),
//! the last resolution and the last reopening. Past pauses cannot be
//! replayed; Freshdesk's own due instants (`fr_due_by`, `nr_due_by`,
//! `due_by`), which it recomputes on every resume, travel in
//! [`Item::vendor_due`] (see `docs/providers.md` for which targets the
//! exporter computes and which it takes from Freshdesk).
//!
//! Statuses follow Freshdesk's own pause rule: a status whose
//! `stop_sla_timer` flag is on (Pending by default, and any custom status so
//! configured) becomes the neutral `pending`, one whose flag is off becomes
//! `open`; Resolved and Closed keep their meaning. A policy with
//! `pause_statuses: [pending]` therefore pauses exactly when Freshdesk does.

use std::collections::HashMap;

pub use super::raw::{
    RawConversation, RawGroup, RawStats, RawStatusChoice, RawStatusField, RawTicket, RawTicketField,
};
use crate::model::{Channel, Item, Status, StatusInterval, Target, VendorDue};

/// Decode a JSON body, naming the JSON path of the first problem.
pub use crate::providers::client::decode;

/// The status codes Freshdesk defines itself.
pub const OPEN: i64 = 2;
pub const PENDING: i64 = 3;
pub const RESOLVED: i64 = 4;
pub const CLOSED: i64 = 5;

/// `group_id -> (name, business_hours_id)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups(pub HashMap<String, Group>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: Option<String>,
    pub business_hours_id: Option<String>,
}

impl Groups {
    pub fn from_rows(rows: &[RawGroup]) -> Groups {
        Groups(
            rows.iter()
                .map(|g| {
                    let group = Group {
                        name: g.name.clone().filter(|n| !n.is_empty()),
                        business_hours_id: g.business_hours_id.clone(),
                    };
                    (g.id.clone(), group)
                })
                .collect(),
        )
    }

    /// The team label of a group: its name, else its id.
    pub fn team(&self, id: &str) -> String {
        self.0
            .get(id)
            .and_then(|g| g.name.clone())
            .unwrap_or_else(|| id.to_owned())
    }
}

/// Which statuses stop the SLA timer: `status code -> stop_sla_timer`, read
/// from the status field. Codes it does not list fall back to Freshdesk's
/// defaults (Pending, Resolved and Closed stop the timer, Open runs), and a
/// custom status it does not list counts as running.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopSet(pub HashMap<i64, bool>);

impl StopSet {
    /// From the status field's choices; choices without a code or a flag are
    /// left out (their status falls back to the default).
    pub fn from_choices(choices: &[RawStatusChoice]) -> StopSet {
        StopSet(
            choices
                .iter()
                .filter_map(|c| Some((c.code()?, c.stop_sla_timer?)))
                .collect(),
        )
    }

    pub fn stops(&self, code: i64) -> bool {
        self.0
            .get(&code)
            .copied()
            .unwrap_or(matches!(code, PENDING | RESOLVED | CLOSED))
    }
}

/// What a listed ticket becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketOutcome {
    Item(Box<Item>),
    /// Spam or deleted: the store should forget the id.
    Removed(String),
    /// A channel the source does not read.
    Skipped(String),
}

/// The neutral status of a Freshdesk status code under `stops`.
pub fn status(code: i64, stops: &StopSet) -> Status {
    match code {
        RESOLVED => Status::Resolved,
        CLOSED => Status::Closed,
        c if stops.stops(c) => Status::Pending,
        _ => Status::Open,
    }
}

/// The channel of a ticket from `source`: phone tickets are calls, chat
/// tickets are chats, everything else (email, portal, feedback widget,
/// outbound email, social, ...) is a ticket.
pub fn channel(source: Option<i64>) -> Channel {
    match source {
        Some(3) => Channel::Call,
        Some(7) => Channel::Chat,
        _ => Channel::Ticket,
    }
}

/// The `priority` label: 1-4 by name, `none` otherwise.
pub fn priority(p: Option<i64>) -> &'static str {
    match p {
        Some(1) => "low",
        Some(2) => "medium",
        Some(3) => "high",
        Some(4) => "urgent",
        _ => "none",
    }
}

/// Map a listed ticket. `channels` are the channels the source reads.
pub fn ticket_item(
    source: &str,
    t: &RawTicket,
    groups: &Groups,
    stops: &StopSet,
    channels: &[Channel],
) -> TicketOutcome {
    if t.spam == Some(true) || t.deleted == Some(true) {
        return TicketOutcome::Removed(t.id.clone());
    }
    let ch = channel(t.source);
    if !channels.contains(&ch) {
        return TicketOutcome::Skipped(t.id.clone());
    }
    let created = t.created_at;
    let mut item = Item::new(source, &t.id, ch, created);
    item.team = t.group_id.as_deref().map(|g| groups.team(g));
    item.priority = Some(priority(t.priority).to_owned());
    item.tags = t.tags.clone();
    if let Some(ty) = t.ticket_type.as_deref().filter(|s| !s.is_empty()) {
        // `match` has no ticket-type key: the type is matched as a tag.
        item.tags.push(format!("type:{ty}"));
    }
    item.updated_at = t.updated_at;

    let stats = t.stats.clone().unwrap_or_default();
    let after = |at: Option<jiff::Timestamp>| at.filter(|at| *at >= created);
    let first = after(stats.first_responded_at);
    let last_agent = after(stats.agent_responded_at);
    let last_requester = after(stats.requester_responded_at).filter(|at| *at > created);
    item.customer_messages.push(created);
    item.customer_messages.extend(last_requester);
    item.agent_replies.extend(first);
    if let Some(last) = last_agent.filter(|l| first.is_none_or(|f| *l > f)) {
        item.agent_replies.push(last);
    }

    let current = status(t.status, stops);
    item.statuses = intervals(created, current, &stats);
    item.set_resolutions_from_statuses();
    if matches!(ch, Channel::Chat | Channel::Call) {
        item.answered_at = first;
        if current.is_done() {
            item.ended_at = item.resolutions.last().copied();
        }
    }
    item.vendor_due = vendor_due(t, ch, &item, last_agent, last_requester);
    TicketOutcome::Item(Box::new(item))
}

/// Whether a ticket has next-response cycles that `stats` cannot show: the
/// requester wrote after the first response. Only such tickets are worth a
/// conversations request.
pub fn needs_conversations(t: &RawTicket) -> bool {
    let Some(s) = &t.stats else { return false };
    match (s.first_responded_at, s.requester_responded_at) {
        (Some(first), Some(requester)) => requester > first,
        _ => false,
    }
}

/// Completes an item's replies and customer messages from its conversations:
/// an incoming conversation is a customer message; an outgoing public one
/// is an agent reply, except a forward (source 8), which goes to a third
/// party. Private notes are neither. The instants `stats` gave stay.
pub fn apply_conversations(item: &mut Item, conversations: &[RawConversation]) {
    for c in conversations
        .iter()
        .filter(|c| c.created_at >= item.created_at)
    {
        if c.incoming {
            item.customer_messages.push(c.created_at);
        } else if !c.private && c.source != Some(8) {
            item.agent_replies.push(c.created_at);
        }
    }
    for list in [&mut item.customer_messages, &mut item.agent_replies] {
        list.sort();
        list.dedup();
    }
}

/// The status timeline a snapshot supports. Before the current status the
/// ticket is taken as open, with the last resolution and reopening in
/// between when `stats` shows them: the time a ticket spent in timer-stopping
/// statuses before its current one is not in the public API.
fn intervals(created: jiff::Timestamp, current: Status, s: &RawStats) -> Vec<StatusInterval> {
    let iv = |status, start, end| StatusInterval { status, start, end };
    let at = |t: Option<jiff::Timestamp>| t.filter(|t| *t >= created);
    let resolved = at(s.resolved_at);
    let closed = at(s.closed_at);
    let reopened = at(s.reopened_at);
    let since = at(if current == Status::Pending {
        s.pending_since.or(s.status_updated_at)
    } else {
        s.status_updated_at
    });
    let mut out = Vec::new();
    // Where the open stretch before the current status starts.
    let mut open_from = created;
    match current {
        Status::Resolved | Status::Closed => {
            let done = if current == Status::Resolved {
                resolved.or(since).unwrap_or(created)
            } else {
                resolved
                    .filter(|r| closed.is_none_or(|c| *r <= c))
                    .or(closed)
                    .or(since)
                    .unwrap_or(created)
            };
            if done > created {
                out.push(iv(Status::Open, created, Some(done)));
            }
            match closed.filter(|c| current == Status::Closed && *c > done) {
                Some(c) => {
                    out.push(iv(Status::Resolved, done, Some(c)));
                    out.push(iv(Status::Closed, c, None));
                }
                None => out.push(iv(current, done, None)),
            }
            return out;
        }
        _ => {
            if let (Some(r), Some(o)) = (resolved, reopened)
                && r < o
            {
                out.push(iv(Status::Open, created, Some(r)));
                out.push(iv(Status::Resolved, r, Some(o)));
                open_from = o;
            }
        }
    }
    match since.filter(|s| *s > open_from && current != Status::Open) {
        Some(s) => {
            out.push(iv(Status::Open, open_from, Some(s)));
            out.push(iv(current, s, None));
        }
        None => out.push(iv(current, open_from, None)),
    }
    out
}

/// Freshdesk's own deadlines. `fr_due_by` is the first response (a chat's
/// pickup, a call's answer), completed at the first response; `nr_due_by`
/// the next response, completed when the latest agent response came after
/// the latest requester response; `due_by` the resolution, completed at the
/// resolution of a resolved or closed ticket. An escalation flag that is set
/// is Freshdesk's stated verdict (breached); one that is not set says
/// nothing, since escalation can be off for a priority.
pub fn vendor_due(
    t: &RawTicket,
    ch: Channel,
    item: &Item,
    last_agent: Option<jiff::Timestamp>,
    last_requester: Option<jiff::Timestamp>,
) -> Vec<VendorDue> {
    let verdict = |flag: Option<bool>| (flag == Some(true)).then_some(true);
    let mut out = Vec::new();
    let first = item.agent_replies.first().copied();
    if let Some(due_at) = t.fr_due_by {
        let target = match ch {
            Channel::Ticket => Target::FirstResponse,
            Channel::Chat => Target::Pickup,
            Channel::Call => Target::Answer,
        };
        out.push(VendorDue {
            target,
            due_at,
            completed_at: first,
            breached: verdict(t.fr_escalated),
        });
    }
    if ch != Channel::Ticket {
        return out;
    }
    if let Some(due_at) = t.nr_due_by {
        let answered = match (last_agent, last_requester) {
            (Some(a), Some(r)) if a > r => Some(a),
            _ => None,
        };
        out.push(VendorDue {
            target: Target::NextResponse,
            due_at,
            completed_at: answered,
            breached: verdict(t.nr_escalated),
        });
    }
    if let Some(due_at) = t.due_by {
        let done = item
            .statuses
            .last()
            .is_some_and(|s| s.status.is_done())
            .then(|| item.resolutions.last().copied())
            .flatten();
        out.push(VendorDue {
            target: Target::Resolution,
            due_at,
            completed_at: done,
            breached: verdict(t.is_escalated),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let stops = StopSet::default();
        assert_eq!(status(OPEN, &stops), Status::Open);
        assert_eq!(status(PENDING, &stops), Status::Pending);
        assert_eq!(status(RESOLVED, &stops), Status::Resolved);
        assert_eq!(status(CLOSED, &stops), Status::Closed);
        assert_eq!(status(7, &stops), Status::Open, "unknown custom: running");
        let custom = StopSet([(7, true), (PENDING, false)].into_iter().collect());
        assert_eq!(status(7, &custom), Status::Pending);
        assert_eq!(status(PENDING, &custom), Status::Open);
        assert_eq!(channel(Some(3)), Channel::Call);
        assert_eq!(channel(Some(7)), Channel::Chat);
        assert_eq!(channel(Some(10)), Channel::Ticket);
        assert_eq!(channel(None), Channel::Ticket);
        assert_eq!(priority(Some(4)), "urgent");
        assert_eq!(priority(Some(9)), "none");
        assert_eq!(priority(None), "none");
    }
}
