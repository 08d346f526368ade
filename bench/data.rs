//! Generated LiveAgent v3 data for the benchmarks: seed-deterministic tickets
//! with status history, chats and calls, each row rendered once as vendor JSON
//! so the mock serves a page by joining pre-rendered strings.
//!
//! Shared by the mock (`bench/mock.rs`) and the memory figure
//! (`benches/memory.rs`) through `#[path]`, so both see the same rows.

#![allow(dead_code)]

use helpdesk_sla_exporter::providers::liveagent::map::format_time;
use jiff::Timestamp;
use serde_json::{Value, json};

/// How much to generate.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub tickets: usize,
    pub chats: usize,
    pub calls: usize,
    /// Distinct departments: the `team` label, so this drives the series count.
    pub departments: usize,
}

/// One ticket status change; `agent` holds the ticket from then on.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: i64,
    pub status: char,
    pub agent: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct Ticket {
    pub id: String,
    pub dept: usize,
    pub vip: bool,
    pub created: i64,
    pub events: Vec<Event>,
    /// `date_changed`: the last event.
    pub changed: i64,
    /// The `/tickets` row.
    pub row: String,
    /// `(date_from, row id, JSON)` per `/tickets/history` row.
    pub history: Vec<(i64, String, String)>,
}

/// A chat or call row, keyed by its creation second.
#[derive(Debug, Clone)]
pub struct Row {
    pub created: i64,
    pub id: String,
    pub row: String,
}

pub struct Data {
    pub now: i64,
    /// Sorted by `(changed, id)`, as `/tickets?_sortField=date_changed` wants.
    pub tickets: Vec<Ticket>,
    /// Sorted by `(created, id)`.
    pub chats: Vec<Row>,
    pub calls: Vec<Row>,
    pub departments: Vec<String>,
    rng: fastrand::Rng,
    next_chat: usize,
    next_call: usize,
}

pub fn dept_id(d: usize) -> String {
    format!("dep-{d:03}")
}

pub fn dept_name(d: usize) -> String {
    format!("Team {d:03}")
}

fn t(s: i64) -> String {
    format_time(Timestamp::from_second(s).expect("in range"))
}

fn opt(s: Option<i64>) -> Value {
    s.map_or(Value::Null, |s| Value::String(t(s)))
}

/// Tickets created over the 29 days before `now` (inside a 30-day initial
/// lookback), chats and calls likewise; every chat and call has ended, so a
/// steady-state sync rescans only the newest second.
pub fn generate(sizes: Sizes, seed: u64, now: i64) -> Data {
    let mut rng = fastrand::Rng::with_seed(seed);
    let ndept = sizes.departments.max(1);
    let horizon = now - 60;
    let mut tickets: Vec<Ticket> = (0..sizes.tickets)
        .map(|i| {
            let created = now - rng.i64(3600..29 * 86_400);
            let dept = rng.usize(0..ndept);
            let agent = (dept * 4 + rng.usize(0..4)) as u16;
            let mut events = vec![Event {
                at: created,
                status: 'N',
                agent: None,
            }];
            let mut at = created;
            for _ in 0..rng.u32(0..4) {
                at += rng.i64(600..8 * 3600);
                if at > horizon {
                    break;
                }
                events.push(Event {
                    at,
                    status: 'A',
                    agent: Some(agent),
                });
                at += rng.i64(600..24 * 3600);
                if at > horizon {
                    break;
                }
                events.push(Event {
                    at,
                    status: 'C',
                    agent: Some(agent),
                });
            }
            if events.last().is_some_and(|e| e.status == 'A') && rng.bool() {
                at += rng.i64(60..7200);
                if at <= horizon {
                    events.push(Event {
                        at,
                        status: 'R',
                        agent: Some(agent),
                    });
                }
            }
            let mut tk = Ticket {
                id: format!("t{i:07x}"),
                dept,
                vip: rng.u8(0..10) == 0,
                created,
                events,
                changed: 0,
                row: String::new(),
                history: Vec::new(),
            };
            render_ticket(&mut tk);
            tk
        })
        .collect();
    tickets.sort_by(|a, b| (a.changed, &a.id).cmp(&(b.changed, &b.id)));
    let mut d = Data {
        now,
        tickets,
        chats: Vec::new(),
        calls: Vec::new(),
        departments: (0..ndept).map(dept_name).collect(),
        rng,
        next_chat: 0,
        next_call: 0,
    };
    for _ in 0..sizes.chats {
        let created = now - d.rng.i64(3600..29 * 86_400);
        d.push_chat(created);
    }
    for _ in 0..sizes.calls {
        let created = now - d.rng.i64(3600..29 * 86_400);
        d.push_call(created);
    }
    d.chats
        .sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    d.calls
        .sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    d
}

/// (Re)renders a ticket's `/tickets` row and history rows from its events.
pub fn render_ticket(tk: &mut Ticket) {
    let last = tk.events.last().expect("creation is an event");
    tk.changed = last.at;
    let resolved = (last.status == 'R').then_some(last.at);
    let due = match last.status {
        'N' => Some(tk.created + 4 * 3600),
        'C' => Some(last.at + 8 * 3600),
        _ => None,
    };
    let agent = |a: Option<u16>| a.map(|a| format!("agent-{a:04}"));
    tk.row = json!({
        "id": tk.id, "code": format!("BEN-{}", tk.id), "owner_contactid": format!("c-{}", tk.id),
        "owner_email": format!("customer-{}@example.com", tk.id), "owner_name": "Bench Customer",
        "departmentid": dept_id(tk.dept), "agentid": agent(last.agent), "status": last.status.to_string(),
        "tags": if tk.vip { vec!["vip"] } else { vec![] }, "channel_type": "E",
        "date_created": t(tk.created), "date_changed": t(last.at), "date_resolved": opt(resolved),
        "date_due": opt(due), "date_deleted": null, "last_activity": t(last.at),
        "last_activity_public": t(last.at), "public_access_urlcode": "bench",
        "subject": "Benchmark ticket", "custom_fields": [],
    })
    .to_string();
    tk.history = tk
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let to = tk.events.get(i + 1).map(|n| n.at);
            let id = format!("{}-{i}", tk.id);
            let row = json!({
                "id": id, "conversation_id": tk.id, "department_id": dept_id(tk.dept),
                "department_name": dept_name(tk.dept), "agent_id": agent(e.agent),
                "status": e.status.to_string(), "date_from": t(e.at), "date_to": opt(to),
                "elapsed_time": to.map(|to| to - e.at),
            })
            .to_string();
            (e.at, id, row)
        })
        .collect();
}

impl Data {
    fn push_chat(&mut self, created: i64) {
        let i = self.next_chat;
        self.next_chat += 1;
        let dept = self.rng.usize(0..self.departments.len());
        // No instant after the data's `now`: an API lists what happened so
        // far (a chat created in the last ten seconds was picked up by now).
        let started =
            (self.rng.u8(0..10) > 0).then(|| (created + self.rng.i64(5..300)).min(self.now));
        let id = format!("c{i:07x}");
        let row = json!({
            "id": id, "subject": "Benchmark chat", "preview": "", "chat_order": 0,
            "date_created": t(created), "status_date_started": opt(started), "tags": [],
            "rstatus": "R", "status": "T", "departmentId": dept_id(dept),
            "agentId": started.map(|_| format!("agent-{:04}", dept * 4)), "emails": [],
        })
        .to_string();
        self.chats.push(Row { created, id, row });
    }

    fn push_call(&mut self, created: i64) {
        let i = self.next_call;
        self.next_call += 1;
        let answered =
            (self.rng.u8(0..10) > 0).then(|| (created + self.rng.i64(3..90)).min(self.now));
        let finished = (answered.unwrap_or(created) + self.rng.i64(30..900)).min(self.now);
        let id = format!("k{i:07x}");
        let row = json!({
            "id": id, "ticketId": null, "type": "I", "fromNumber": "+38610000000",
            "fromName": "Caller", "toNumber": "+38620000000", "toName": "Support",
            "viaNumber": "+38620000000", "dateCreated": t(created), "dateAnswered": opt(answered),
            "dateFinished": t(finished),
            "callDuration": answered.map_or(0, |a| finished - a).to_string(),
        })
        .to_string();
        self.calls.push(Row { created, id, row });
    }

    /// The steady-state change at instant `now`: `fraction` of tickets get a
    /// new status change (answered, customer reply or reopen), and as many new
    /// (already ended) chats and calls arrive as `fraction` of each, created in
    /// the last ten seconds (polls are at least ten seconds apart, so they are
    /// newer than anything a previous sync saw) and ended by `now`.
    /// Returns (tickets changed, chats added, calls added).
    pub fn mutate(&mut self, fraction: f64, now: i64) -> (usize, usize, usize) {
        self.now = now;
        let n = (self.tickets.len() as f64 * fraction).round() as usize;
        let mut picked = std::collections::BTreeSet::new();
        while picked.len() < n.min(self.tickets.len()) {
            picked.insert(self.rng.usize(0..self.tickets.len()));
        }
        for &i in &picked {
            let tk = &mut self.tickets[i];
            let last = tk.events.last().expect("creation").clone();
            let status = match last.status {
                'N' | 'C' => 'A',
                _ => 'C',
            };
            let agent = last.agent.or(Some((tk.dept * 4) as u16));
            tk.events.push(Event {
                at: now.max(last.at + 1),
                status,
                agent,
            });
            render_ticket(tk);
        }
        self.tickets
            .sort_by(|a, b| (a.changed, &a.id).cmp(&(b.changed, &b.id)));
        let chats = (self.chats.len() as f64 * fraction).round() as usize;
        let calls = (self.calls.len() as f64 * fraction).round() as usize;
        for _ in 0..chats {
            let created = now - self.rng.i64(1..10);
            self.push_chat(created);
        }
        for _ in 0..calls {
            let created = now - self.rng.i64(1..10);
            self.push_call(created);
        }
        self.chats
            .sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        self.calls
            .sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        (n, chats, calls)
    }
}
