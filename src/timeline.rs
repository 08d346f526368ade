//! Timeline events from a vendor's event stream, merged into stored items.
//!
//! Some vendors export an item's history as a stream of events that arrive
//! over many syncs (Zendesk's ticket metric events), while the item itself
//! comes whole from another stream. A provider hands such events over in
//! [`crate::providers::Page::events`]; the store keeps every event of an item
//! under its key (a re-read replaces, never doubles) and the item it writes is
//! always [`merge`] of the item as the provider last sent it and all its
//! events. Pure: no IO, no clock.
//!
//! The merge treats the events as the truth for the span they cover, from the
//! first event to the last; the item's own facts stay before that span (the
//! stream started later than the item) and after it (the stream lags the
//! item's export). Merging again with the same events gives the same item.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::model::{Channel, Item, Status, StatusInterval};

/// One fact about an item at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// Unique within the item, stable across re-reads (the vendor's event id,
    /// or an instant and a kind): the store replaces an event with the same key.
    pub key: String,
    pub at: Timestamp,
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "status")]
pub enum EventKind {
    /// The customer wrote (opens a response cycle).
    CustomerMessage,
    /// An agent replied to the customer.
    AgentReply,
    /// The item entered this status.
    Status(Status),
    /// The item was assigned to an agent.
    Assigned,
}

/// `item` with `events` merged in (see the module documentation). Events
/// need not be sorted; an empty list leaves the item as it is.
pub fn merge(item: &mut Item, events: &[TimelineEvent]) {
    let mut events: Vec<&TimelineEvent> = events.iter().collect();
    events.sort_by(|a, b| (a.at, &a.key).cmp(&(b.at, &b.key)));
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return;
    };
    let (from, to) = (first.at, last.at);
    let outside = |t: &Timestamp| *t < from || *t > to;
    let of = |kind: EventKind| events.iter().filter(move |e| e.kind == kind).map(|e| e.at);

    let mut messages: Vec<Timestamp> = item
        .customer_messages
        .iter()
        .copied()
        .filter(outside)
        .collect();
    messages.extend(of(EventKind::CustomerMessage));
    let mut replies: Vec<Timestamp> = item.agent_replies.iter().copied().filter(outside).collect();
    replies.extend(of(EventKind::AgentReply));
    for list in [&mut messages, &mut replies] {
        list.sort();
        list.dedup();
    }
    item.customer_messages = messages;
    item.agent_replies = replies;
    if let Some(at) = of(EventKind::Assigned).min() {
        item.first_assigned_at = Some(item.first_assigned_at.map_or(at, |a| a.min(at)));
    }

    // Status change points: the item's own before the span (its first one,
    // the creation, always), the events' within it, the item's own after it.
    let mut points: Vec<(Timestamp, Status)> = Vec::new();
    for (i, s) in item.statuses.iter().enumerate() {
        if i == 0 || s.start < from {
            points.push((s.start, s.status));
        }
    }
    points.extend(events.iter().filter_map(|e| match e.kind {
        EventKind::Status(s) => Some((e.at, s)),
        _ => None,
    }));
    points.extend(
        item.statuses
            .iter()
            .skip(1)
            .filter(|s| s.start > to)
            .map(|s| (s.start, s.status)),
    );
    // Stable: at one instant the later source (events over the item's own)
    // wins.
    points.sort_by_key(|(at, _)| *at);
    let mut statuses: Vec<StatusInterval> = Vec::new();
    for (at, status) in points {
        let at = at.max(item.created_at);
        match statuses.last_mut() {
            Some(prev) if prev.start == at => prev.status = status,
            Some(prev) if prev.status == status => {}
            Some(prev) => {
                prev.end = Some(at);
                statuses.push(StatusInterval {
                    status,
                    start: at,
                    end: None,
                });
            }
            None => statuses.push(StatusInterval {
                status,
                start: at,
                end: None,
            }),
        }
    }
    // Two instants merged into one can leave equal neighbours: join them.
    statuses.dedup_by(|next, prev| {
        if next.status == prev.status {
            prev.end = next.end;
            true
        } else {
            false
        }
    });
    item.statuses = statuses;

    item.set_resolutions_from_statuses();
    if item.channel == Channel::Chat {
        item.answered_at = item.agent_replies.first().copied();
        let done = item.statuses.last().is_some_and(|s| s.status.is_done());
        item.ended_at = if done {
            item.resolutions.last().copied()
        } else {
            None
        };
    }
    item.updated_at = item.updated_at.max(to);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        format!("2025-03-03T{s}:00Z").parse().unwrap()
    }

    fn ev(key: &str, at: &str, kind: EventKind) -> TimelineEvent {
        TimelineEvent {
            key: key.into(),
            at: ts(at),
            kind,
        }
    }

    fn snapshot() -> Item {
        // As the Zendesk snapshot maps it: created 09:00, first reply 09:30,
        // open since, pending since 12:00 (status_updated_at).
        let mut item = Item::new("zd", "1", Channel::Ticket, ts("09:00"));
        item.customer_messages = vec![ts("09:00")];
        item.agent_replies = vec![ts("09:30")];
        item.statuses = vec![
            StatusInterval {
                status: Status::Open,
                start: ts("09:00"),
                end: Some(ts("12:00")),
            },
            StatusInterval {
                status: Status::Pending,
                start: ts("12:00"),
                end: None,
            },
        ];
        item.updated_at = ts("12:00");
        item
    }

    #[test]
    fn events_replace_the_span_they_cover_and_merging_again_changes_nothing() {
        let events = [
            ev("a", "09:00", EventKind::CustomerMessage),
            ev("b", "09:30", EventKind::AgentReply),
            ev("c", "10:00", EventKind::Status(Status::Pending)),
            ev("d", "10:30", EventKind::Status(Status::Open)),
            ev("e", "10:30", EventKind::CustomerMessage),
            ev("f", "11:00", EventKind::AgentReply),
        ];
        let mut item = snapshot();
        merge(&mut item, &events);
        assert_eq!(item.customer_messages, [ts("09:00"), ts("10:30")]);
        assert_eq!(item.agent_replies, [ts("09:30"), ts("11:00")]);
        // The pause at 10:00 is new; the snapshot's pending since 12:00 lies
        // after the last event, so it stays.
        let spans: Vec<(Status, Timestamp)> =
            item.statuses.iter().map(|s| (s.status, s.start)).collect();
        assert_eq!(
            spans,
            [
                (Status::Open, ts("09:00")),
                (Status::Pending, ts("10:00")),
                (Status::Open, ts("10:30")),
                (Status::Pending, ts("12:00")),
            ]
        );
        assert_eq!(item.statuses[1].end, Some(ts("10:30")));
        assert_eq!(item.statuses[3].end, None);
        let once = item.clone();
        merge(&mut item, &events);
        assert_eq!(item, once, "a second merge is a no-op");
        // Events in another order merge the same way.
        let mut shuffled = snapshot();
        let mut rev = events.to_vec();
        rev.reverse();
        merge(&mut shuffled, &rev);
        assert_eq!(shuffled, once);
    }

    #[test]
    fn a_solve_and_a_reopen_become_a_resolution_and_a_reopening() {
        let events = [
            ev("a", "10:00", EventKind::Status(Status::Resolved)),
            ev("b", "11:00", EventKind::Status(Status::Open)),
            ev("c", "11:00", EventKind::CustomerMessage),
        ];
        let mut item = snapshot();
        merge(&mut item, &events);
        assert_eq!(item.resolutions, [ts("10:00")]);
        assert_eq!(item.reopenings, [ts("11:00")]);
        // The snapshot's first reply lies before the events: kept.
        assert_eq!(item.agent_replies, [ts("09:30")]);
        assert_eq!(item.customer_messages, [ts("09:00"), ts("11:00")]);
    }

    #[test]
    fn no_events_leave_the_item_alone() {
        let mut item = snapshot();
        merge(&mut item, &[]);
        assert_eq!(item, snapshot());
    }
}
