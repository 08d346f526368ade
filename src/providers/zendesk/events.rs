//! Pure mapping of Zendesk's ticket metric events to timeline events: no IO.
//!
//! The Ticket Metric Events export is Zendesk's own account of each ticket's
//! clocks, for every ticket whether or not an SLA policy measures it:
//!
//! - `reply_time` `activate` is a customer message that starts a reply cycle
//!   (instance 1 at creation, 2 and up for next replies); `fulfill` is the
//!   agent's public reply that ends it.
//! - `requester_wait_time` pauses while a ticket is pending and is fulfilled
//!   when it is solved; `agent_work_time` pauses while it is pending or on
//!   hold. Each status change moves both clocks at the same instant, so the
//!   events of one ticket at one instant name the status it entered:
//!
//! | events at one instant | status |
//! |---|---|
//! | `requester_wait_time` fulfill | resolved |
//! | `requester_wait_time` pause (with or without `agent_work_time` pause) | pending |
//! | `agent_work_time` pause alone | on hold |
//! | `requester_wait_time` activate alone (pending → on hold) | on hold |
//! | `agent_work_time` activate, with or without `requester_wait_time` activate | open |
//!
//! The activations at creation (those with `reply_time` instance 1) start no
//! status: the ticket's own creation status stays. Other event types
//! (`apply_sla`, `breach`, `update_status`, `measure`) carry no timeline fact.
//!
//! Keys: replies and messages by the event's id; a status by its instant, so a
//! time-based page that re-reads an instant (the next page starts at the last
//! one's `end_time`) replaces what an earlier page derived from part of it.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::raw::RawMetricEvent;
use crate::model::Status;
use crate::timeline::{EventKind, TimelineEvent};

/// `(ticket id, event)` for each fact the events state.
pub fn timeline(events: &[RawMetricEvent]) -> Vec<(String, TimelineEvent)> {
    let mut out = Vec::new();
    let mut instants: BTreeMap<(&str, Timestamp), Vec<&RawMetricEvent>> = BTreeMap::new();
    for e in events {
        if let ("reply_time", kind @ ("activate" | "fulfill")) =
            (e.metric.as_str(), e.kind.as_str())
        {
            let kind = if kind == "activate" {
                EventKind::CustomerMessage
            } else {
                EventKind::AgentReply
            };
            out.push((
                e.ticket_id.clone(),
                TimelineEvent {
                    key: format!("metric:{}", e.id),
                    at: e.time,
                    kind,
                },
            ));
        }
        instants
            .entry((e.ticket_id.as_str(), e.time))
            .or_default()
            .push(e);
    }
    for ((ticket, at), group) in instants {
        if let Some(status) = status_at(&group) {
            out.push((
                ticket.to_owned(),
                TimelineEvent {
                    key: format!("status:{}", at.as_second()),
                    at,
                    kind: EventKind::Status(status),
                },
            ));
        }
    }
    out
}

/// The status a ticket entered at one instant, from the events there.
fn status_at(group: &[&RawMetricEvent]) -> Option<Status> {
    let has = |metric: &str, kind: &str| group.iter().any(|e| e.metric == metric && e.kind == kind);
    let creation = group
        .iter()
        .any(|e| e.metric == "reply_time" && e.kind == "activate" && e.instance_id == Some(1));
    const RWT: &str = "requester_wait_time";
    const AWT: &str = "agent_work_time";
    if has(RWT, "fulfill") {
        Some(Status::Resolved)
    } else if has(RWT, "pause") {
        Some(Status::Pending)
    } else if creation {
        None
    } else if has(AWT, "activate") {
        Some(Status::Open)
    } else if has(AWT, "pause") || has(RWT, "activate") {
        Some(Status::OnHold)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(
        id: u32,
        ticket: &str,
        metric: &str,
        kind: &str,
        instance: i64,
        at: &str,
    ) -> RawMetricEvent {
        RawMetricEvent {
            id: id.to_string(),
            ticket_id: ticket.into(),
            metric: metric.into(),
            instance_id: Some(instance),
            kind: kind.into(),
            time: format!("2025-03-03T{at}:00Z").parse().unwrap(),
        }
    }

    fn statuses(out: &[(String, TimelineEvent)]) -> Vec<(String, Status)> {
        out.iter()
            .filter_map(|(_, e)| match e.kind {
                EventKind::Status(s) => Some((e.at.to_string()[11..16].to_owned(), s)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_instant_names_the_status_it_entered() {
        let rwt = "requester_wait_time";
        let awt = "agent_work_time";
        let events = [
            ev(1, "7", "reply_time", "activate", 1, "09:00"),
            ev(2, "7", rwt, "activate", 1, "09:00"),
            ev(3, "7", awt, "activate", 1, "09:00"),
            ev(4, "7", awt, "pause", 1, "10:00"),
            ev(5, "7", rwt, "pause", 1, "10:00"),
            ev(6, "7", rwt, "activate", 1, "11:00"),
            ev(7, "7", awt, "activate", 1, "12:00"),
            ev(8, "7", awt, "pause", 1, "13:00"),
            ev(9, "7", rwt, "pause", 1, "14:00"),
            ev(10, "7", rwt, "fulfill", 1, "15:00"),
            ev(11, "7", awt, "fulfill", 1, "15:00"),
            ev(12, "7", rwt, "activate", 1, "16:00"),
            ev(13, "7", awt, "activate", 1, "16:00"),
            ev(14, "7", "reply_time", "apply_sla", 1, "09:00"),
            ev(15, "7", "reply_time", "breach", 1, "09:45"),
        ];
        let out = timeline(&events);
        assert_eq!(
            statuses(&out),
            [
                ("10:00".into(), Status::Pending),
                ("11:00".into(), Status::OnHold),
                ("12:00".into(), Status::Open),
                ("13:00".into(), Status::OnHold),
                ("14:00".into(), Status::Pending),
                ("15:00".into(), Status::Resolved),
                ("16:00".into(), Status::Open),
            ]
        );
        assert!(out.iter().all(|(t, _)| t == "7"));
    }

    #[test]
    fn replies_and_messages_by_event_id() {
        let events = [
            ev(1, "7", "reply_time", "activate", 1, "09:00"),
            ev(2, "7", "reply_time", "fulfill", 1, "09:30"),
            ev(3, "7", "reply_time", "activate", 2, "10:00"),
            ev(4, "7", "reply_time", "fulfill", 2, "10:20"),
            ev(5, "8", "reply_time", "activate", 1, "09:05"),
        ];
        let out = timeline(&events);
        let facts: Vec<(&str, &str, EventKind)> = out
            .iter()
            .map(|(t, e)| (t.as_str(), e.key.as_str(), e.kind))
            .collect();
        assert_eq!(
            facts,
            [
                ("7", "metric:1", EventKind::CustomerMessage),
                ("7", "metric:2", EventKind::AgentReply),
                ("7", "metric:3", EventKind::CustomerMessage),
                ("7", "metric:4", EventKind::AgentReply),
                ("8", "metric:5", EventKind::CustomerMessage),
            ]
        );
    }
}
