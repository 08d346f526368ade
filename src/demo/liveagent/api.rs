//! The simulated LiveAgent v3 API surface: JSON rows shaped like the vendor's
//! (mixed casing included), `_filters`, sorting, both paging styles, the
//! `apikey` check and the `Timezone-Offset` quirk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::sim::{self, DEPARTMENTS, Event, World};
use crate::providers::liveagent::map::{format_time, parse_time};

/// Without `Timezone-Offset`, an account from before mid-2019 answers in
/// America/Phoenix (UTC-7), a newer one in UTC (vendor KB 271981, as
/// summarised in helpdesk-apis.md "Transport"); filters are UTC either way.
/// With [`Undocumented::old_account_time_shift`] the demo is such an old
/// account, so a client that forgets the header reads shifted times.
const OLD_ACCOUNT_OFFSET_SECS: i64 = -7 * 3600;

/// The undocumented behaviours the simulated API can switch on, one at a time.
/// All off is the API as the vendor documents it: filters only on the fields
/// the vendor lists for an endpoint, anything else answered 400.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Undocumented {
    /// `/tickets/history` accepts `conversation_id` filters.
    pub history_filter: bool,
    /// `/tickets` accepts `date_changed` filters.
    pub date_changed_filter: bool,
    /// An account from before mid-2019: without `Timezone-Offset`, times
    /// come back in UTC-7 (the vendor's KB describes it; not in the API
    /// description). Off: a newer account, UTC.
    pub old_account_time_shift: bool,
}

impl Undocumented {
    /// Every undocumented behaviour on: the API the provider was first built
    /// against (fast demo syncs: one history request per page of tickets).
    pub const ALL: Undocumented = Undocumented {
        history_filter: true,
        date_changed_filter: true,
        old_account_time_shift: true,
    };
}

/// Filter fields the vendor documents per endpoint. `/tickets`: its filter
/// page lists `date_created`, `status`, `channel_type`, `departmentid` and
/// `tags`; the others: the creation field of their model (our reading of the
/// facts file), none for `/tickets/history`.
fn documented_filter(path: &str, field: &str, extra: Undocumented) -> bool {
    match path {
        "/tickets" => {
            [
                "date_created",
                "status",
                "channel_type",
                "departmentid",
                "tags",
            ]
            .contains(&field)
                || (extra.date_changed_filter && field == "date_changed")
        }
        "/tickets/history" => extra.history_filter && field == "conversation_id",
        "/chats" => ["date_created", "departmentId"].contains(&field),
        "/calls" => ["dateCreated"].contains(&field),
        _ => true,
    }
}

/// The id of the demo's one tag: rows carry tag ids, `/tags` names them.
pub const VIP_TAG_ID: &str = "tg7f3a1c";

/// A response: status, extra headers, JSON body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    /// LiveAgent's error envelope for a request it refuses.
    fn refused(message: &str) -> Reply {
        Reply {
            status: 400,
            headers: vec![],
            body:
                json!({"response": {"status": "ERROR", "statuscode": 400, "errormessage": message}})
                    .to_string(),
        }
    }

    /// Beyond the rate limit: 429 with LiveAgent's error envelope (our
    /// reading; the vendor documents no rate-limit headers, so none are sent).
    pub fn too_many_requests() -> Reply {
        Reply {
            status: 429,
            headers: vec![],
            body: json!({"response": {"status": "ERROR", "statuscode": 429,
                "errormessage": "Too many requests"}})
            .to_string(),
        }
    }

    fn error(status: u16, message: &str) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: json!({ "message": message }).to_string(),
        }
    }
}

/// Answer one GET as of `now` with every undocumented behaviour on (see
/// [`respond_as`]). `query` is decoded; header names are lowercase.
pub fn respond(
    seed: u64,
    retention: SignedDuration,
    now: Timestamp,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HashMap<String, String>,
) -> Reply {
    respond_as(
        Undocumented::ALL,
        seed,
        retention,
        now,
        path,
        query,
        headers,
    )
}

/// Answer one GET with the undocumented behaviours in `extra` switched on.
pub fn respond_as(
    extra: Undocumented,
    seed: u64,
    retention: SignedDuration,
    now: Timestamp,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HashMap<String, String>,
) -> Reply {
    if headers.get("apikey").is_none_or(|k| k.is_empty()) {
        return Reply::error(401, "missing apikey header");
    }
    let offset = match headers
        .get("timezone-offset")
        .map(|v| v.trim().parse::<i64>())
    {
        None if extra.old_account_time_shift => OLD_ACCOUNT_OFFSET_SECS,
        None => 0,
        Some(Ok(secs)) => secs,
        Some(Err(_)) => return Reply::error(400, "invalid Timezone-Offset"),
    };
    // The documented forms: a list of [column, operator, value], or the
    // object form {"column": "value"} (equality).
    let filters: Vec<(String, String, String)> = match query.get("_filters") {
        None => vec![],
        Some(raw) => match serde_json::from_str(raw) {
            Ok(f) => f,
            Err(_) => match serde_json::from_str::<HashMap<String, String>>(raw) {
                Ok(map) => map
                    .into_iter()
                    .map(|(k, v)| (k, "E".to_owned(), v))
                    .collect(),
                Err(_) => return Reply::refused("invalid _filters"),
            },
        },
    };
    let path = path.strip_prefix("/api/v3").unwrap_or(path);
    if let Some((field, _, _)) = filters
        .iter()
        .find(|(f, _, _)| !documented_filter(path, f, extra))
    {
        return Reply::refused(&format!("Unsupported filter field: {field}"));
    }
    if path == "/tags" {
        let body = json!([{"id": VIP_TAG_ID, "name": "vip", "color": "FFFFFF", "background_color": "D32F2F",
            "is_public": "Y", "is_archived": "N"}]);
        return Reply {
            status: 200,
            headers: vec![],
            body: body.to_string(),
        };
    }
    if path == "/settings" {
        let body = json!([{"name": "TIMEZONE", "value": "Europe/Ljubljana"},
            {"name": "regional_settings_is_default", "value": "N"}]);
        return Reply {
            status: 200,
            headers: vec![],
            body: body.to_string(),
        };
    }
    // `GET /tickets/{ticketId}` and `GET /tickets/{ticketId}/sla`: one
    // object each, 404 for a ticket the world does not (yet) have.
    if let Some(rest) = path.strip_prefix("/tickets/")
        && rest != "history"
        && !rest.ends_with("/history")
    {
        let (id, sla) = match rest.strip_suffix("/sla") {
            Some(id) => (id, true),
            None => (rest, false),
        };
        let w = world(seed, now, retention);
        let Some(tk) = w
            .tickets
            .iter()
            .find(|tk| tk.created <= now && tk.id == id && !id.contains('/'))
        else {
            return Reply::error(404, "not found");
        };
        let mut body = if sla {
            ticket_sla(tk, now)
        } else {
            ticket_row(tk, now)
        };
        if offset != 0 {
            shift_times(&mut body, offset);
        }
        return Reply {
            status: 200,
            headers: vec![],
            body: body.to_string(),
        };
    }
    // The documented per-ticket history: the whole list, no paging.
    if let Some(id) = path
        .strip_prefix("/tickets/")
        .and_then(|rest| rest.strip_suffix("/history"))
        .filter(|id| !id.contains('/'))
    {
        let w = world(seed, now, retention);
        let mut rows: Vec<Value> = w
            .tickets
            .iter()
            .filter(|tk| tk.created <= now && tk.id == id)
            .flat_map(|tk| ticket_history(tk, now))
            .collect();
        if offset != 0 {
            rows.iter_mut().for_each(|r| shift_times(r, offset));
        }
        return Reply {
            status: 200,
            headers: vec![],
            body: Value::Array(rows).to_string(),
        };
    }
    let (rows, cursor_style) = match path {
        "/ping" => {
            return Reply {
                status: 200,
                headers: vec![],
                body: "{}".into(),
            };
        }
        "/departments" => (departments(), false),
        "/slas" => (slas(), false),
        "/tickets" => (tickets(&world(seed, now, retention), now), false),
        "/tickets/history" => (history(&world(seed, now, retention), now), true),
        "/chats" => (chats(&world(seed, now, retention), now), false),
        "/calls" => (calls(&world(seed, now, retention), now), true),
        "/grid/tickets/sla" => (ticket_sla_log(&world(seed, now, retention), now), true),
        "/grid/chats/sla" => (chat_sla_log(&world(seed, now, retention), now), true),
        // Demo calls belong to no ticket, and the log names a call by its ticket.
        "/grid/calls/sla" => (vec![], true),
        _ => return Reply::error(404, "not found"),
    };
    let mut rows: Vec<Value> = rows
        .into_iter()
        .filter(|r| filters.iter().all(|f| matches(r, f)))
        .collect();
    if let Some(field) = query.get("_sortField") {
        rows.sort_by(|a, b| {
            key(a, field)
                .cmp(&key(b, field))
                .then_with(|| key(a, "id").cmp(&key(b, "id")))
        });
        if query
            .get("_sortDir")
            .is_some_and(|d| d.eq_ignore_ascii_case("DESC"))
        {
            rows.reverse();
        }
    }
    let per_page = query
        .get("_perPage")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 1000);
    let mut headers = vec![];
    let (from, to) = if cursor_style {
        let from = match query.get("_cursor") {
            None => 0,
            Some(c) => match c.strip_prefix("demo-").and_then(|n| n.parse().ok()) {
                Some(n) => n,
                None => return Reply::error(400, "invalid _cursor"),
            },
        };
        // Like a real cursor API, a full page carries a cursor even when the
        // next page turns out empty.
        if from + per_page <= rows.len() {
            headers.push(("next_page_cursor", format!("demo-{}", from + per_page)));
        }
        (from, from + per_page)
    } else {
        let page = query
            .get("_page")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        ((page - 1) * per_page, page * per_page)
    };
    let mut page: Vec<Value> = rows.into_iter().skip(from).take(to - from).collect();
    if offset != 0 {
        page.iter_mut().for_each(|r| shift_times(r, offset));
    }
    Reply {
        status: 200,
        headers,
        body: Value::Array(page).to_string(),
    }
}

/// The world as of `now`: generated once per 10-minute bucket and reused, since
/// a sync asks for dozens of pages and generating a month of a busy helpdesk
/// for each was most of a demo sync's time. Items created after `now` are
/// still in it; the row functions below skip them.
fn world(seed: u64, now: Timestamp, retention: SignedDuration) -> Arc<World> {
    /// A few worlds, so demos at different instants in one process (tests)
    /// do not evict each other.
    const KEEP: usize = 4;
    type Memo = Mutex<Vec<((u64, i64, i64), Arc<World>)>>;
    static RECENT: Memo = Mutex::new(Vec::new());
    let (first, last) = sim::buckets(now, retention);
    let key = (seed, first, last);
    if let Some((_, w)) = RECENT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(k, _)| *k == key)
    {
        return w.clone();
    }
    let w = Arc::new(sim::world_buckets(seed, first, last));
    let mut recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    if recent.len() >= KEEP {
        recent.remove(0);
    }
    recent.push((key, w.clone()));
    w
}

/// Filters are evaluated in UTC (as LiveAgent does); LA times compare as strings.
fn matches(row: &Value, (field, op, value): &(String, String, String)) -> bool {
    let have = key(row, field);
    let list = || value.split(',').map(str::trim).collect::<Vec<_>>();
    match op.as_str() {
        "E" => have == *value,
        "NE" => have != *value,
        "IN" => list().contains(&have.as_str()),
        "NI" => !list().contains(&have.as_str()),
        "D>=" => !have.is_empty() && have >= *value,
        "D>" => !have.is_empty() && have > *value,
        "D<=" => !have.is_empty() && have <= *value,
        "D<" => !have.is_empty() && have < *value,
        _ => true,
    }
}

fn key(row: &Value, field: &str) -> String {
    match row.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn shift_times(row: &mut Value, offset: i64) {
    if let Value::Object(map) = row {
        for v in map.values_mut() {
            if let Some(t) = v.as_str().and_then(parse_time) {
                *v = Value::String(format_time(t + SignedDuration::from_secs(offset)));
            }
        }
    }
}

fn t(at: Timestamp) -> Value {
    Value::String(format_time(at))
}

fn opt(at: Option<Timestamp>, now: Timestamp) -> Value {
    at.filter(|a| *a <= now).map_or(Value::Null, t)
}

fn departments() -> Vec<Value> {
    DEPARTMENTS
        .iter()
        .map(|(id, name, _)| {
            json!({"department_id": id, "agent_count": 3, "name": name, "online_status": "I", "agent_ids": [], "mailaccount_id": null})
        })
        .collect()
}

fn slas() -> Vec<Value> {
    let day = json!({"start": "08:00", "end": "16:00"});
    let hours = json!({"timezone": "Europe/Ljubljana", "monday": day, "tuesday": day, "wednesday": day,
        "thursday": day, "friday": day, "exclude_holidays": ["2026-12-25", "2026-12-26"]});
    vec![
        json!({"id": "sla-gold", "name": "Gold", "values": {"first_answer": 3600, "first_assign": 1800, "first_resolve": 86400,
            "next_answer": 14400, "chat_answer": 60, "call_answer": 30}, "business_hours": hours}),
        json!({"id": "sla-standard", "name": "Standard", "values": {"first_answer": 14400, "first_assign": 3600,
            "first_resolve": 172800, "next_answer": 28800, "chat_answer": 60, "call_answer": 30}, "business_hours": hours}),
    ]
}

fn visible(events: &[Event], now: Timestamp) -> &[Event] {
    &events[..events.iter().take_while(|e| e.at <= now).count()]
}

/// `/tickets` lists every conversation, as LiveAgent does: tickets, and chats
/// (`channel_type` `B` contact button, `I` invitation; status `T` chatting
/// while waiting or running) and calls (`C` call, `W` call button; status `P`
/// calling while running), both resolved (`R`) once they end.
fn tickets(w: &World, now: Timestamp) -> Vec<Value> {
    let tickets = w
        .tickets
        .iter()
        .filter(|tk| tk.created <= now)
        .map(|tk| ticket_row(tk, now));
    let chats = w.chats.iter().filter(|c| c.created <= now).map(|c| {
        let ended = c.ended <= now;
        let changed = if ended {
            c.ended
        } else {
            c.started.filter(|s| *s <= now).unwrap_or(c.created)
        };
        let kind = if c.id.bytes().last().unwrap_or(0) % 2 == 0 {
            "B"
        } else {
            "I"
        };
        let dept = Some(DEPARTMENTS[c.dept].0);
        conversation_row(
            &c.id,
            kind,
            if ended { "R" } else { "T" },
            dept,
            c.created,
            changed,
        )
    });
    let calls = w.calls.iter().filter(|c| c.created <= now).map(|c| {
        let ended = c.finished <= now;
        let changed = if ended {
            c.finished
        } else {
            c.answered.filter(|a| *a <= now).unwrap_or(c.created)
        };
        let kind = if c.inbound { "C" } else { "W" };
        conversation_row(
            &c.id,
            kind,
            if ended { "R" } else { "P" },
            None,
            c.created,
            changed,
        )
    });
    tickets.chain(chats).chain(calls).collect()
}

/// A chat or call as a `/tickets` row.
fn conversation_row(
    id: &str,
    channel_type: &str,
    status: &str,
    dept: Option<&str>,
    created: Timestamp,
    changed: Timestamp,
) -> Value {
    json!({
        "id": id, "code": format!("DEM-{id}"), "owner_contactid": format!("c-{id}"),
        "owner_email": null, "owner_name": "Demo Customer", "departmentid": dept, "agentid": null,
        "status": status, "tags": [], "channel_type": channel_type,
        "date_created": t(created), "date_changed": t(changed),
        "date_resolved": if status == "R" { t(changed) } else { Value::Null },
        "date_due": null, "date_deleted": null, "last_activity": t(changed),
        "last_activity_public": t(changed), "public_access_urlcode": "demo",
        "subject": "Demo conversation", "custom_fields": [],
    })
}

/// The SLA level the demo's rules give a ticket: `Gold` for VIP tickets,
/// `Standard` for the rest (both listed by `/slas`), with their first and
/// next answer targets in hours.
fn level(tk: &sim::SimTicket) -> (&'static str, &'static str, i64, i64) {
    if tk.vip {
        ("sla-gold", "Gold", 1, 4)
    } else {
        ("sla-standard", "Standard", 4, 8)
    }
}

/// `TicketSla` as of `now`: the level and the due instant of each answer
/// type still open (the one `date_due` shows), null for the rest.
fn ticket_sla(tk: &sim::SimTicket, now: Timestamp) -> Value {
    let events = visible(&tk.events, now);
    let last = events.last().expect("creation is always visible");
    let (id, name, first, next) = level(tk);
    let first_answer = (last.status == 'N')
        .then(|| sim::HOURS[tk.dept].next_open(tk.created) + SignedDuration::from_hours(first));
    let next_answer = (last.status == 'C').then(|| last.at + SignedDuration::from_hours(next));
    json!({
        "conversationid": tk.id, "sla_level_id": id, "sla_level_name": name,
        "first_answer": first_answer.map_or(Value::Null, t), "first_assign": null,
        "first_resolve": null, "next_answer": next_answer.map_or(Value::Null, t),
    })
}

/// One ticket as `/tickets` and `/tickets/{ticketId}` show it at `now`.
fn ticket_row(tk: &sim::SimTicket, now: Timestamp) -> Value {
    let events = visible(&tk.events, now);
    let last = events.last().expect("creation is always visible");
    let resolved = events.iter().rev().find(|e| e.status == 'R').map(|e| e.at);
    let sla = ticket_sla(tk, now);
    let due = sla["first_answer"]
        .as_str()
        .or(sla["next_answer"].as_str())
        .map_or(Value::Null, |d| Value::String(d.to_owned()));
    json!({
        "id": tk.id, "code": format!("DEM-{}", tk.id), "owner_contactid": format!("c-{}", tk.id),
        "owner_email": format!("customer-{}@example.com", tk.id), "owner_name": "Demo Customer",
        "departmentid": DEPARTMENTS[tk.dept].0, "agentid": last.agent, "status": last.status.to_string(),
        "tags": if tk.vip { vec![VIP_TAG_ID] } else { vec![] }, "channel_type": "E",
        "date_created": t(tk.created), "date_changed": t(last.at),
        "date_resolved": if matches!(last.status, 'R' | 'L') { resolved.map_or(Value::Null, t) } else { Value::Null },
        "date_due": due, "date_deleted": null,
        "last_activity": t(last.at), "last_activity_public": t(last.at), "public_access_urlcode": "demo",
        "subject": "Demo ticket", "custom_fields": [],
    })
}

/// The SLA log of tickets (`SlaLogRow`), fulfilled records only: a First
/// answer record at a ticket's first New -> Answered, a Next answer record at
/// each Open -> Answered, each with its level's due instant.
fn ticket_sla_log(w: &World, now: Timestamp) -> Vec<Value> {
    let mut rows = Vec::new();
    for tk in w.tickets.iter().filter(|tk| tk.created <= now) {
        let (level_id, name, first, next) = level(tk);
        let events = visible(&tk.events, now);
        for (i, pair) in events.windows(2).enumerate() {
            let (from, to) = (&pair[0], &pair[1]);
            let (kind, opened, due) = match (from.status, to.status) {
                ('N', 'A') => (
                    "first_answer",
                    tk.created,
                    sim::HOURS[tk.dept].next_open(tk.created) + SignedDuration::from_hours(first),
                ),
                ('C', 'A') => (
                    "next_answer",
                    from.at,
                    from.at + SignedDuration::from_hours(next),
                ),
                _ => continue,
            };
            rows.push(json!({
                "id": format!("{}-sla-{i}", tk.id), "conversationid": tk.id, "code": format!("DEM-{}", tk.id),
                "sla_ticket_id": tk.id, "departmentid": DEPARTMENTS[tk.dept].0, "department_name": DEPARTMENTS[tk.dept].1,
                "levelid": level_id, "sla_level_id": level_id, "sla_level_name": name, "sla_type": kind,
                "date_created": t(opened), "date_due": t(due), "date_closed": t(to.at),
                "responsible_agent_id": to.agent, "resolving_agent_id": to.agent,
            }));
        }
    }
    rows
}

/// The SLA log of chats: a Chat answer record per picked-up chat (60 s, as
/// both levels in `/slas`).
fn chat_sla_log(w: &World, now: Timestamp) -> Vec<Value> {
    w.chats
        .iter()
        .filter_map(|c| {
            let started = c.started.filter(|s| *s <= now)?;
            Some(json!({
                "id": format!("{}-sla", c.id), "conversationid": c.id, "departmentid": DEPARTMENTS[c.dept].0,
                "department_name": DEPARTMENTS[c.dept].1, "levelid": "sla-standard", "sla_level_id": "sla-standard",
                "sla_level_name": "Standard", "sla_type": "chat_answer", "date_created": t(c.created),
                "date_due": t(c.created + SignedDuration::from_secs(60)), "date_closed": t(started),
            }))
        })
        .collect()
}

fn history(w: &World, now: Timestamp) -> Vec<Value> {
    w.tickets
        .iter()
        .filter(|tk| tk.created <= now)
        .flat_map(|tk| ticket_history(tk, now))
        .collect()
}

/// One ticket's status rows as of `now`.
fn ticket_history(tk: &sim::SimTicket, now: Timestamp) -> Vec<Value> {
    let events = visible(&tk.events, now);
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let to = events.get(i + 1).map(|n| n.at);
            json!({
                "id": format!("{}-{i}", tk.id), "conversation_id": tk.id, "department_id": DEPARTMENTS[tk.dept].0,
                "department_name": DEPARTMENTS[tk.dept].1, "agent_id": e.agent, "status": e.status.to_string(),
                "date_from": t(e.at), "date_to": to.map_or(Value::Null, t),
                "elapsed_time": to.map(|to| to.duration_since(e.at).as_secs().to_string()),
            })
        })
        .collect()
}

fn chats(w: &World, now: Timestamp) -> Vec<Value> {
    w.chats
        .iter()
        .filter(|c| c.created <= now)
        .map(|c| {
            let started = c.started.filter(|s| *s <= now);
            let (status, rstatus) = if c.ended <= now {
                ("T", "R")
            } else if started.is_some() {
                ("C", "T")
            } else {
                ("Q", "I")
            };
            json!({
                "id": c.id, "subject": "Demo chat", "preview": "", "chat_order": t(c.created), "date_created": t(c.created),
                "status_date_started": opt(started, now), "tags": [], "rstatus": rstatus, "status": status,
                "departmentId": DEPARTMENTS[c.dept].0, "agentId": started.map(|_| format!("agent-{}-1", c.dept)),
                "emails": [],
            })
        })
        .collect()
}

fn calls(w: &World, now: Timestamp) -> Vec<Value> {
    w.calls
        .iter()
        .filter(|c| c.created <= now)
        .map(|c| {
            json!({
                "id": c.id, "ticketId": null, "type": if c.inbound { "I" } else { "O" },
                "fromNumber": "+38610000000", "fromName": "Caller", "toNumber": "+38620000000", "toName": "Support",
                "viaNumber": "+38620000000", "dateCreated": t(c.created), "dateAnswered": opt(c.answered, now),
                "dateFinished": opt(Some(c.finished), now),
                "callDuration": c.answered.filter(|a| c.finished <= now && *a <= now)
                    .map_or("0".to_owned(), |a| c.finished.duration_since(a).as_secs().to_string()),
            })
        })
        .collect()
}
