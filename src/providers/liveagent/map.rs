//! Pure mapping of LiveAgent v3 JSON to the neutral model: no IO, no clock.
//!
//! Field names follow the vendor's OpenAPI `attribute_map` exactly, mixed casing
//! included: tickets say `departmentid`, history rows `department_id`, chats
//! `departmentId`, calls are all camelCase. Times are `YYYY-MM-DD HH:MM:SS` in
//! UTC because the client always sends `Timezone-Offset: 0`.
//!
//! History rows join tickets by `conversation_id == ticket.id`. A ticket's
//! timeline is rebuilt from its rows alone: each status change is an event
//! (see [`ticket_item`]), so the item is complete and the store can replace it.

use std::collections::HashMap;

use jiff::civil::Weekday;

pub use super::cursor::CachedLevel;
pub use super::raw::{
    RawBusinessHours, RawCall, RawChat, RawDepartment, RawHistoryRow, RawSetting, RawSlaLevel,
    RawTag, RawTicket, RawTicketSla, format_time, parse_time,
};
use crate::model::{Channel, Item, Status, StatusInterval, Target, VendorDue};
use crate::providers::{VendorBusinessHours, VendorSlaLevel};

/// `department_id -> name`, for readable team labels.
pub type Departments = HashMap<String, String>;

/// `tag id -> name`, from `/tags`: rows carry tag ids.
pub type Tags = HashMap<String, String>;

/// The tags of a row as policies match them: each value as sent (an id) and,
/// when `/tags` names it, its name too, so `match: {tags: [vip]}` works on a
/// real account (ids) and on one that sends names. Deduplicated, order kept.
pub fn with_tag_names(raw: &[String], tags: &Tags) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len() * 2);
    for value in raw {
        for v in std::iter::once(value).chain(tags.get(value)) {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
    }
    out
}

/// What a `/tickets` row becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketOutcome {
    Item(Box<Item>),
    /// Deleted (`X`) or spam (`B`): the store should forget the id.
    Removed(String),
    /// A chat or call conversation: LiveAgent lists it as a ticket too, but
    /// it is one item, read from `/chats` or `/calls` (see [`conversation_channel`]).
    Elsewhere(Channel),
}

/// The channel a conversation started in, from the ticket's `channel_type`:
/// `B` (contact button) and `I` (invitation) are chats, `C` (call) and `W`
/// (call button) are calls, every other letter (or none) is a ticket.
///
/// The rule (docs/providers.md, "One item per conversation"): a chat or call
/// conversation is one item in its channel, never also a ticket item, even
/// when LiveAgent later lists it as New (a missed chat or unanswered call)
/// or Open. Its pickup or answer target is what the SLA measures; the
/// email-style follow-up of such a conversation is not a second item.
pub fn conversation_channel(channel_type: Option<&str>) -> Channel {
    match channel_type.map(str::trim) {
        Some("B" | "I") => Channel::Chat,
        Some("C" | "W") => Channel::Call,
        _ => Channel::Ticket,
    }
}

/// Decode a JSON body, naming the JSON path of the first problem.
pub use crate::providers::client::decode;

/// LiveAgent status letters. `X` (deleted) and `B` (spam) have no neutral
/// meaning: `None`, and the caller drops the item or the history row.
pub fn status(letter: &str) -> Option<Status> {
    Some(match letter {
        "I" | "N" => Status::New,
        "C" | "T" | "P" => Status::Open,
        "A" => Status::Answered,
        "W" => Status::Postponed,
        "R" => Status::Resolved,
        "L" => Status::Closed,
        "X" | "B" => return None,
        _ => Status::Other,
    })
}

/// Map a ticket and its history rows (any order, other tickets' rows ignored).
///
/// Events are status changes: `->Answered` is an agent reply, `Answered->Open`
/// and `Resolved/Closed->Open` are customer messages (creation is the first),
/// `->Resolved/Closed` is a resolution, leaving Resolved/Closed a reopening,
/// and the first row with an `agent_id` is the first assignment. Without
/// history the current status is all we know (see `docs/providers.md`).
/// `date_due` is LiveAgent's next due date: a first-response due while no agent
/// has answered, a next-response due while the ticket is open after an answer.
pub fn ticket_item(
    source: &str,
    t: &RawTicket,
    history: &[RawHistoryRow],
    departments: &Departments,
) -> TicketOutcome {
    let Some(current) = status(&t.status).filter(|_| t.date_deleted.is_none()) else {
        return TicketOutcome::Removed(t.id.clone());
    };
    let channel = conversation_channel(t.channel_type.as_deref());
    if channel != Channel::Ticket {
        return TicketOutcome::Elsewhere(channel);
    }
    let mut item = Item::new(source, &t.id, Channel::Ticket, t.date_created);
    item.team = t
        .departmentid
        .as_ref()
        .map(|d| departments.get(d).cloned().unwrap_or_else(|| d.clone()));
    item.tags = t.tags.clone();
    item.updated_at = t.date_changed.unwrap_or(t.date_created);
    item.customer_messages.push(t.date_created);

    let mut rows: Vec<&RawHistoryRow> = history
        .iter()
        .filter(|r| r.conversation_id == t.id)
        .collect();
    rows.sort_by(|a, b| a.date_from.cmp(&b.date_from).then_with(|| a.id.cmp(&b.id)));
    item.first_assigned_at = rows
        .iter()
        .find(|r| r.agent_id.is_some())
        .map(|r| r.date_from);
    item.statuses = intervals(&rows, current);
    if item.statuses.is_empty() {
        item.statuses = fallback_intervals(t, current);
    }

    let mut prev: Option<Status> = None;
    for s in &item.statuses {
        let done = |x: Option<Status>| x.is_some_and(Status::is_done);
        if s.status == Status::Answered && prev != Some(Status::Answered) {
            item.agent_replies.push(s.start);
        }
        if s.status == Status::Open
            && matches!(
                prev,
                Some(Status::Answered | Status::Resolved | Status::Closed)
            )
        {
            item.customer_messages.push(s.start);
        }
        if s.status.is_done() && !done(prev) {
            item.resolutions.push(s.start);
        }
        if !s.status.is_done() && done(prev) {
            item.reopenings.push(s.start);
        }
        prev = Some(s.status);
    }

    if let Some(due_at) = t.date_due.filter(|_| !current.is_done()) {
        let target = if item.agent_replies.is_empty() {
            Some(Target::FirstResponse)
        } else if current == Status::Open {
            Some(Target::NextResponse)
        } else {
            None
        };
        if let Some(target) = target {
            item.vendor_due.push(VendorDue {
                target,
                due_at,
                completed_at: None,
                breached: None,
            });
        }
    }
    TicketOutcome::Item(Box::new(item))
}

/// Puts a ticket's SLA level on its item: the level's name is the item's
/// `priority`, and, when the level was read at the ticket's current change,
/// the vendor's due instant per SLA type replaces the `date_due` guess for
/// the targets still open (first answer before the first reply, next answer
/// while open after one, first resolve before resolution, first assign
/// before an agent is assigned). `date_due` is one instant for whichever
/// answer is next; `/tickets/{id}/sla` names the type, so it is the better
/// source where present.
pub fn apply_level(item: &mut Item, level: &CachedLevel) {
    if let Some(name) = &level.name {
        item.priority = Some(name.clone());
    }
    if level.changed != item.updated_at {
        return;
    }
    let current = item.statuses.last().map(|s| s.status);
    let done = current.is_some_and(Status::is_done);
    for (target, due_at) in &level.due {
        let open = match target {
            Target::FirstResponse => item.agent_replies.is_empty() && !done,
            Target::NextResponse => !item.agent_replies.is_empty() && current == Some(Status::Open),
            Target::Resolution => !done,
            Target::Assignment => item.first_assigned_at.is_none() && !done,
            _ => false,
        };
        if !open {
            continue;
        }
        item.vendor_due.retain(|v| v.target != *target);
        item.vendor_due.push(VendorDue {
            target: *target,
            due_at: *due_at,
            completed_at: None,
            breached: None,
        });
    }
}

/// The source's clock rules (`liveagent:` block) on a ticket item:
/// `next_answer_on_any_reopen` makes Postponed -> Open (the system, or an
/// agent, reopening a postponed ticket) a reopening, which starts a Next
/// answer cycle as LiveAgent does; Answered/Resolved/Closed -> Open count
/// either way. `resolve_voids_answers` marks the item so that a resolution
/// while New or Open voids the answer cycle it ends.
pub fn apply_rules(item: &mut Item, any_reopen: bool, voids: bool) {
    item.resolve_voids_answers = voids;
    if !any_reopen {
        return;
    }
    let mut added = false;
    for w in item.statuses.windows(2) {
        let postponed = w[0].status == Status::Postponed;
        if postponed && w[1].status == Status::Open && !item.reopenings.contains(&w[1].start) {
            item.reopenings.push(w[1].start);
            added = true;
        }
    }
    if added {
        item.reopenings.sort();
    }
}

/// Contiguous intervals from sorted rows: deleted/spam rows are skipped, a
/// row without `date_to` ends where the next begins, and rows that only
/// change the agent or department merge into one interval.
fn intervals(rows: &[&RawHistoryRow], current: Status) -> Vec<StatusInterval> {
    let mut out: Vec<StatusInterval> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Some(s) = status(&row.status) else {
            continue;
        };
        let end = row.date_to.or_else(|| rows.get(i + 1).map(|n| n.date_from));
        match out.last_mut() {
            Some(last) if last.status == s => last.end = end,
            Some(last) => {
                last.end = Some(row.date_from);
                out.push(StatusInterval {
                    status: s,
                    start: row.date_from,
                    end,
                });
            }
            None => out.push(StatusInterval {
                status: s,
                start: row.date_from,
                end,
            }),
        }
    }
    // History can lag the ticket: a closed last row means the ticket moved on.
    if let Some(last) = out.last().cloned()
        && let Some(end) = last.end
    {
        if last.status == current {
            out.last_mut().expect("non-empty").end = None;
        } else {
            out.push(StatusInterval {
                status: current,
                start: end,
                end: None,
            });
        }
    }
    out
}

fn fallback_intervals(t: &RawTicket, current: Status) -> Vec<StatusInterval> {
    match t.date_resolved.or(t.date_changed) {
        Some(at) if current.is_done() && at > t.date_created => vec![
            StatusInterval {
                status: Status::Open,
                start: t.date_created,
                end: Some(at),
            },
            StatusInterval {
                status: current,
                start: at,
                end: None,
            },
        ],
        _ => vec![StatusInterval {
            status: current,
            start: t.date_created,
            end: None,
        }],
    }
}

/// Map a chat. Pickup is `status_date_started`. LiveAgent gives no end time,
/// so a finished chat (`rstatus` R or `status` T) ends at its last known
/// instant: the pickup, or creation for a missed chat.
pub fn chat_item(source: &str, c: &RawChat, departments: &Departments) -> Item {
    let mut item = Item::new(source, &c.id, Channel::Chat, c.date_created);
    item.team = c
        .department_id
        .as_ref()
        .map(|d| departments.get(d).cloned().unwrap_or_else(|| d.clone()));
    item.tags = c.tags.clone();
    item.answered_at = c.status_date_started;
    let finished = c.rstatus.as_deref() == Some("R") || c.status.as_deref() == Some("T");
    if finished {
        item.ended_at = Some(c.status_date_started.unwrap_or(c.date_created));
    }
    item.updated_at = c.status_date_started.unwrap_or(c.date_created);
    item
}

/// Map a call; only inbound calls (`type` I, or absent) have an answer SLA,
/// so outbound and internal calls give `None`.
pub fn call_item(source: &str, c: &RawCall) -> Option<Item> {
    if c.kind.as_deref().is_some_and(|k| k != "I") {
        return None;
    }
    let mut item = Item::new(source, &c.id, Channel::Call, c.date_created);
    item.answered_at = c.date_answered;
    item.ended_at = c.date_finished;
    item.updated_at = c
        .date_finished
        .or(c.date_answered)
        .unwrap_or(c.date_created);
    Some(item)
}

/// Map an SLA level. `values` are taken as seconds (the vendor does not say;
/// the UI's defaults only make sense as seconds).
pub fn sla_level(raw: &RawSlaLevel) -> VendorSlaLevel {
    const KEYS: [(&str, Target); 6] = [
        ("first_answer", Target::FirstResponse),
        ("next_answer", Target::NextResponse),
        ("first_resolve", Target::Resolution),
        ("first_assign", Target::Assignment),
        ("chat_answer", Target::Pickup),
        ("call_answer", Target::Answer),
    ];
    let values = raw.values.clone().unwrap_or_default();
    let targets = KEYS
        .iter()
        .filter_map(|(key, target)| match values.get(*key) {
            Some(Some(v)) if *v > 0 => Some((*target, *v as u64)),
            _ => None,
        })
        .collect();
    VendorSlaLevel {
        id: raw.id.clone(),
        name: raw.name.clone(),
        targets,
        business_hours: raw.business_hours.as_ref().map(business_hours),
    }
}

fn business_hours(raw: &RawBusinessHours) -> VendorBusinessHours {
    const DAYS: [(&str, Weekday); 7] = [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ];
    let hhmm = |v: &serde_json::Value| v.as_str().map(|s| s.chars().take(5).collect::<String>());
    let windows = DAYS
        .iter()
        .filter_map(|(key, day)| {
            let d = raw.days.get(*key)?;
            Some((*day, hhmm(d.get("start")?)?, hhmm(d.get("end")?)?))
        })
        .collect();
    VendorBusinessHours {
        time_zone: raw.timezone.clone().unwrap_or_else(|| "UTC".to_owned()),
        windows,
        holidays: raw.exclude_holidays.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc() {
        let t = parse_time("2025-01-02 09:15:00").unwrap();
        assert_eq!(t.to_string(), "2025-01-02T09:15:00Z");
        assert_eq!(format_time(t), "2025-01-02 09:15:00");
        assert_eq!(parse_time("2025-13-02 09:15:00"), None);
    }

    /// The fast path for the usual form agrees with the general one, and
    /// leaves every other form and every invalid instant to it.
    #[test]
    fn the_usual_form_reads_as_the_general_path_reads_it() {
        let general = |s: &str| {
            let dt: jiff::civil::DateTime = s.trim().replacen(' ', "T", 1).parse().ok()?;
            jiff::tz::TimeZone::UTC.to_timestamp(dt).ok()
        };
        for s in [
            "2025-01-02 09:15:00",
            "1999-12-31 23:59:59",
            "2024-02-29 00:00:00",
            "2025-02-29 00:00:00",
            "2025-04-31 10:00:00",
            "2025-01-02 24:00:00",
            "2025-01-02 23:60:00",
            "2025-00-10 10:00:00",
            "2025-1-02 09:15:00",
            "2025-01-02 09:15:0x",
            "+025-01-02 09:15:00",
            " 2025-01-02 09:15:00 ",
            "2025-01-02 09:15:60",
        ] {
            assert_eq!(parse_time(s), general(s), "{s:?}");
        }
    }

    #[test]
    fn rfc3339_times_are_converted_and_zero_dates_are_absent() {
        let z = parse_time("2025-01-02T09:15:00Z").unwrap();
        assert_eq!(z.to_string(), "2025-01-02T09:15:00Z");
        // An offset is converted, never dropped.
        let plus = parse_time("2025-01-02T11:15:00+02:00").unwrap();
        assert_eq!(plus, z);
        let minus = parse_time("2025-01-02 02:15:00-07:00").unwrap();
        assert_eq!(minus, z);
        assert_eq!(
            parse_time("2025-01-02T09:15:00.250Z")
                .unwrap()
                .subsec_millisecond(),
            250
        );

        let chat: RawChat = serde_json::from_value(serde_json::json!({
            "id": "c1", "date_created": "2025-01-02T11:15:00+02:00",
            "status_date_started": "0000-00-00 00:00:00", "chat_order": ""
        }))
        .unwrap();
        assert_eq!(chat.date_created, z);
        assert_eq!(chat.status_date_started, None);
        let call: RawCall = serde_json::from_value(serde_json::json!({
            "id": "k1", "dateCreated": "2025-01-02T09:15:00Z", "dateAnswered": "", "ticketId": "t9"
        }))
        .unwrap();
        assert_eq!(
            (call.date_answered, call.ticket_id.as_deref()),
            (None, Some("t9"))
        );
        // A required time that is unset or unreadable is a decode error that
        // names no value.
        for bad in ["0000-00-00 00:00:00", "", "yesterday 9:00"] {
            let e = serde_json::from_value::<RawChat>(
                serde_json::json!({"id": "c2", "date_created": bad}),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("RFC 3339") || e.contains("not set"), "{e}");
            assert!(!e.contains("yesterday"), "{e}");
        }
    }

    #[test]
    fn chat_and_call_conversations_are_not_tickets() {
        assert_eq!(conversation_channel(Some("B")), Channel::Chat);
        assert_eq!(conversation_channel(Some("I")), Channel::Chat);
        assert_eq!(conversation_channel(Some("C")), Channel::Call);
        assert_eq!(conversation_channel(Some("W")), Channel::Call);
        for other in [Some("E"), Some("M"), Some("F"), None] {
            assert_eq!(conversation_channel(other), Channel::Ticket);
        }
        let row = |channel: &str, status: &str, deleted: bool| -> RawTicket {
            serde_json::from_value(serde_json::json!({
                "id": "t1", "status": status, "channel_type": channel,
                "date_created": "2025-01-02 09:00:00",
                "date_deleted": if deleted { "2025-01-03 09:00:00" } else { "" },
            }))
            .unwrap()
        };
        let d = Departments::new();
        // A chat being chatted, a missed chat turned New, a call in progress:
        // one item each, in their own stream, never a ticket.
        for (channel, status) in [("B", "T"), ("I", "N"), ("C", "P"), ("W", "N"), ("B", "C")] {
            let out = ticket_item("s", &row(channel, status, false), &[], &d);
            assert!(
                matches!(out, TicketOutcome::Elsewhere(c) if c != Channel::Ticket),
                "{channel}{status}: {out:?}"
            );
        }
        // A deleted chat conversation is still removed.
        assert_eq!(
            ticket_item("s", &row("B", "R", true), &[], &d),
            TicketOutcome::Removed("t1".into())
        );
        assert!(matches!(
            ticket_item("s", &row("E", "N", false), &[], &d),
            TicketOutcome::Item(_)
        ));
    }

    #[test]
    fn tag_ids_gain_their_names() {
        let tags: Tags = [("t9".to_owned(), "vip".to_owned())].into();
        let raw = ["t9".to_owned(), "unknown".to_owned(), "vip".to_owned()];
        assert_eq!(with_tag_names(&raw, &tags), ["t9", "vip", "unknown"]);
        assert!(with_tag_names(&[], &tags).is_empty());
    }

    #[test]
    fn status_letters() {
        assert_eq!(status("N"), Some(Status::New));
        assert_eq!(status("T"), Some(Status::Open));
        assert_eq!(status("W"), Some(Status::Postponed));
        assert_eq!(status("B"), None);
        assert_eq!(status("?"), Some(Status::Other));
    }
}
