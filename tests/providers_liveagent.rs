//! LiveAgent: the pure mapping on fixtures (no HTTP), then the provider against
//! a wiremock server shaped like the real API (paging, cursors, filters, headers).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use helpdesk_sla_exporter::config::SourceConfig;
use helpdesk_sla_exporter::model::{Channel, Item, Status, StatusInterval, Target, VendorDue};
use helpdesk_sla_exporter::providers::liveagent::map::{
    self as map, RawCall, RawChat, RawHistoryRow, RawTicket, TicketOutcome,
};
use helpdesk_sla_exporter::providers::liveagent::{self, LiveAgentCursor, LiveAgentProvider};
use helpdesk_sla_exporter::providers::{
    ClientMetrics, Cursor, Page, Provider, ProviderError, StateRows,
};
use helpdesk_sla_exporter::secret::Secret;
use jiff::{SignedDuration, Timestamp};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "la-test-key-0123456789";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/liveagent/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn ts(s: &str) -> Timestamp {
    map::parse_time(s).unwrap()
}

fn departments() -> map::Departments {
    let rows: Vec<map::RawDepartment> =
        map::decode("/departments", &fixture("departments.json")).unwrap();
    rows.into_iter()
        .map(|d| (d.department_id, d.name.unwrap()))
        .collect()
}

fn tickets() -> HashMap<String, TicketOutcome> {
    let tickets: Vec<RawTicket> = map::decode("/tickets", &fixture("tickets.json")).unwrap();
    let history: Vec<RawHistoryRow> =
        map::decode("/tickets/history", &fixture("history.json")).unwrap();
    let deps = departments();
    tickets
        .iter()
        .map(|t| {
            (
                t.id.clone(),
                map::ticket_item("support", t, &history, &deps),
            )
        })
        .collect()
}

fn item(outcome: &TicketOutcome) -> &Item {
    match outcome {
        TicketOutcome::Item(item) => item,
        TicketOutcome::Removed(id) => panic!("{id} was removed"),
        TicketOutcome::Elsewhere(c) => panic!("a {c:?} conversation, not a ticket"),
    }
}

fn iv(status: Status, start: &str, end: Option<&str>) -> StatusInterval {
    StatusInterval {
        status,
        start: ts(start),
        end: end.map(ts),
    }
}

#[test]
fn ticket_with_a_next_answer_cycle() {
    let all = tickets();
    let t = item(&all["a1b2c3d4"]);
    assert_eq!(t.channel, Channel::Ticket);
    assert_eq!(t.team.as_deref(), Some("Billing"));
    assert_eq!(t.priority, None);
    assert_eq!(t.tags, ["fqr2"]);
    assert_eq!(
        t.statuses,
        [
            iv(
                Status::New,
                "2025-01-02 09:15:00",
                Some("2025-01-02 10:00:00")
            ),
            iv(
                Status::Answered,
                "2025-01-02 10:00:00",
                Some("2025-01-02 10:30:00")
            ),
            iv(Status::Open, "2025-01-02 10:30:00", None),
        ]
    );
    assert_eq!(t.first_assigned_at, Some(ts("2025-01-02 09:45:00")));
    assert_eq!(t.agent_replies, [ts("2025-01-02 10:00:00")]);
    assert_eq!(
        t.customer_messages,
        [ts("2025-01-02 09:15:00"), ts("2025-01-02 10:30:00")]
    );
    assert!(t.resolutions.is_empty() && t.reopenings.is_empty());
    // Open after an answer: date_due is the next answer's due.
    assert_eq!(
        t.vendor_due,
        [VendorDue {
            target: Target::NextResponse,
            due_at: ts("2025-01-02 12:30:00"),
            completed_at: None,
            breached: None,
        }]
    );
    assert_eq!(t.updated_at, ts("2025-01-02 10:30:00"));
}

#[test]
fn ticket_resolved_reopened_and_closed() {
    let all = tickets();
    let t = item(&all["b2c3d4e5"]);
    assert_eq!(t.team.as_deref(), Some("Technical Support"));
    assert_eq!(t.statuses.len(), 7);
    assert_eq!(
        t.status_at(ts("2025-01-02 08:45:00")),
        Some(Status::Postponed)
    );
    assert_eq!(
        t.agent_replies,
        [ts("2025-01-02 08:20:00"), ts("2025-01-02 12:30:00")]
    );
    assert_eq!(
        t.customer_messages,
        [ts("2025-01-02 08:00:00"), ts("2025-01-02 12:00:00")]
    );
    assert_eq!(
        t.resolutions,
        [ts("2025-01-02 09:00:00"), ts("2025-01-02 13:00:00")]
    );
    assert_eq!(t.reopenings, [ts("2025-01-02 12:00:00")]);
    assert_eq!(t.first_assigned_at, Some(ts("2025-01-02 08:00:00")));
    assert!(t.vendor_due.is_empty());
}

#[test]
fn ticket_without_history_and_spam() {
    let all = tickets();
    let t = item(&all["c3d4e5f6"]);
    // Unknown department: the id is the best label there is.
    assert_eq!(t.team.as_deref(), Some("unknown1"));
    assert!(t.tags.is_empty());
    assert_eq!(t.statuses, [iv(Status::New, "2025-01-02 14:00:00", None)]);
    assert_eq!(
        t.vendor_due,
        [VendorDue {
            target: Target::FirstResponse,
            due_at: ts("2025-01-02 18:00:00"),
            completed_at: None,
            breached: None,
        }]
    );
    assert_eq!(all["d4e5f6g7"], TicketOutcome::Removed("d4e5f6g7".into()));
}

#[test]
fn chats_pickup_missed_and_queued() {
    let chats: Vec<RawChat> = map::decode("/chats", &fixture("chats.json")).unwrap();
    let items: Vec<Item> = chats
        .iter()
        .map(|c| map::chat_item("support", c, &departments()))
        .collect();
    assert_eq!(items[0].team.as_deref(), Some("Billing"));
    assert_eq!(items[0].answered_at, Some(ts("2025-01-02 10:00:40")));
    assert_eq!(items[0].ended_at, Some(ts("2025-01-02 10:00:40")));
    assert_eq!(items[1].answered_at, None);
    assert_eq!(items[1].ended_at, Some(ts("2025-01-02 10:05:00")));
    assert_eq!(
        (
            items[2].answered_at,
            items[2].ended_at,
            items[2].team.as_ref()
        ),
        (None, None, None)
    );
}

#[test]
fn calls_answered_missed_outbound_ringing() {
    let calls: Vec<RawCall> = map::decode("/calls", &fixture("calls.json")).unwrap();
    let items: Vec<Item> = calls
        .iter()
        .filter_map(|c| map::call_item("support", c))
        .collect();
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        ["c1", "c2", "c4"],
        "the outbound call has no answer SLA"
    );
    assert_eq!(items[0].answered_at, Some(ts("2025-01-02 09:00:25")));
    assert_eq!(items[0].ended_at, Some(ts("2025-01-02 09:04:00")));
    assert_eq!(
        (items[1].answered_at, items[1].ended_at),
        (None, Some(ts("2025-01-02 09:11:30")))
    );
    assert_eq!((items[2].answered_at, items[2].ended_at), (None, None));
}

#[test]
fn sla_levels_map_to_targets_and_calendars() {
    let raw: Vec<map::RawSlaLevel> = map::decode("/slas", &fixture("slas.json")).unwrap();
    let gold = map::sla_level(&raw[0]);
    assert_eq!(gold.name, "Gold");
    assert!(gold.targets.contains(&(Target::FirstResponse, 14400)));
    assert!(gold.targets.contains(&(Target::Answer, 30)));
    assert_eq!(gold.targets.len(), 6);
    let hours = gold.business_hours.unwrap();
    assert_eq!(hours.time_zone, "Europe/Bratislava");
    assert_eq!(hours.windows.len(), 2);
    assert_eq!(
        hours.windows[0],
        (jiff::civil::Weekday::Monday, "09:00".into(), "17:00".into())
    );
    assert_eq!(hours.holidays, ["2025-12-25"]);
    let basic = map::sla_level(&raw[1]);
    assert_eq!(basic.targets.len(), 4, "zero and null targets are absent");
    assert!(basic.business_hours.is_none());
}

#[test]
fn wrong_types_are_decode_errors_naming_the_field() {
    let err = map::decode::<Vec<RawTicket>>(
        "/tickets",
        br#"[{"id":"x","status":"N","date_created":12}]"#,
    )
    .unwrap_err();
    assert_eq!(err.reason(), "decode");
    let text = err.to_string();
    assert!(
        text.contains("/tickets") && text.contains("[0].date_created"),
        "{text}"
    );
    let err = map::decode::<Vec<RawTicket>>("/tickets", b"[{\"id\":").unwrap_err();
    assert_eq!(err.reason(), "decode");
}

// --- The provider over HTTP -------------------------------------------------

fn settings(server: &MockServer, channels: &[Channel], page_size: u32) -> SourceConfig {
    let mut s = liveagent::source_config(
        "support",
        &format!("{}/api/v3", server.uri()),
        Secret::new(KEY),
    );
    s.channels = channels.to_vec();
    s.page_size = page_size;
    s.initial_lookback = SignedDuration::from_hours(24);
    s.requests_per_minute = 6000;
    s.timeout = Duration::from_secs(5);
    s
}

fn provider(server: &MockServer, channels: &[Channel], page_size: u32) -> LiveAgentProvider {
    let metrics = ClientMetrics::new(&prometheus::Registry::new()).unwrap();
    let s = settings(server, channels, page_size);
    let mut client = liveagent::client_settings(&s);
    client.retry.max_retries = 0;
    LiveAgentProvider::with_client_settings(s, client, metrics)
        .unwrap()
        .with_clock(|| "2025-01-03T00:00:00Z".parse().unwrap())
}

async fn sync(p: &dyn Provider, cursor: Cursor) -> Result<(Vec<Page>, Cursor), ProviderError> {
    common::sync_pages(p, cursor, 50).await
}

/// The provider's keyed state as the store keeps it, after each page.
#[derive(Debug, Default)]
struct Stored(StateRows);

impl Stored {
    fn apply(&mut self, pages: &[Page]) {
        for page in pages {
            self.0.apply(&page.state);
        }
    }

    /// The keys of one list, sorted.
    fn keys(&self, list: &str) -> Vec<&str> {
        let keys = self.0.0.keys().filter(|(l, _)| l == list);
        keys.map(|(_, k)| k.as_str()).collect()
    }

    /// A provider after a restart: built anew and given the stored state, as
    /// the sync loop does.
    async fn restore<P: Provider>(&self, p: P) -> P {
        p.restore(self.0.rows()).await;
        p
    }
}

fn json(value: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(value.to_string(), "application/json")
}

fn ticket(id: &str, changed: &str, status: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "departmentid": "zbmc7d61", "status": status, "tags": [],
        "date_created": "2025-01-02 08:00:00", "date_changed": changed, "date_due": null})
}

async fn mount_departments(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/v3/departments"))
        .and(query_param("_page", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("departments.json"), "application/json"),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/departments"))
        .and(query_param("_page", "2"))
        .respond_with(json(serde_json::json!([])))
        .mount(server)
        .await;
}

fn tickets_since(since: &str, page: u32) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets"))
        .and(header("APIKEY", KEY))
        .and(header("Timezone-Offset", "0"))
        .and(query_param(
            "_filters",
            format!(r#"[["date_changed","D>=","{since}"]]"#),
        ))
        .and(query_param("_sortField", "date_changed"))
        .and(query_param("_sortDir", "ASC"))
        .and(query_param("_perPage", "2"))
        .and(query_param("_page", page.to_string()))
}

#[tokio::test]
async fn tickets_page_to_the_end_with_history_cursor_paging() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    // The first sync starts a day before the fixed clock.
    tickets_since("2025-01-02 00:00:00", 1)
        .respond_with(json(serde_json::json!([
            ticket("t1", "2025-01-02 10:00:00", "A"),
            ticket("t2", "2025-01-02 10:30:00", "C")
        ])))
        .expect(1)
        .mount(&server)
        .await;
    // Keyset: the next page starts at the boundary second and skips t2.
    tickets_since("2025-01-02 10:30:00", 1)
        .respond_with(json(serde_json::json!([
            ticket("t2", "2025-01-02 10:30:00", "C"),
            ticket("t3", "2025-01-02 11:00:00", "X")
        ])))
        .expect(1)
        .mount(&server)
        .await;
    tickets_since("2025-01-02 11:00:00", 1)
        .respond_with(json(serde_json::json!([ticket(
            "t3",
            "2025-01-02 11:00:00",
            "X"
        )])))
        .expect(1)
        .mount(&server)
        .await;
    // The next sync starts the default overlap (5 minutes) before the cursor.
    tickets_since("2025-01-02 10:55:00", 1)
        .respond_with(json(serde_json::json!([ticket(
            "t3",
            "2025-01-02 11:00:00",
            "X"
        )])))
        .expect(1)
        .mount(&server)
        .await;
    let row = |conv: &str, status: &str, from: &str, to: Option<&str>| {
        serde_json::json!({"id": format!("{conv}{status}"), "conversation_id": conv, "agent_id": "ag1",
            "status": status, "date_from": from, "date_to": to})
    };
    Mock::given(path("/api/v3/tickets/history"))
        .and(header("apikey", KEY))
        .and(query_param(
            "_filters",
            r#"[["conversation_id","IN","t1,t2"]]"#,
        ))
        .and(query_param_is_missing("_cursor"))
        .respond_with(
            json(serde_json::json!([
                row(
                    "t1",
                    "N",
                    "2025-01-02 08:00:00",
                    Some("2025-01-02 10:00:00")
                ),
                row(
                    "t2",
                    "N",
                    "2025-01-02 08:00:00",
                    Some("2025-01-02 09:00:00")
                )
            ]))
            .insert_header("next_page_cursor", "cur-2"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/tickets/history"))
        .and(query_param("_cursor", "cur-2"))
        .respond_with(json(serde_json::json!([
            row("t1", "A", "2025-01-02 10:00:00", None),
            row(
                "t2",
                "A",
                "2025-01-02 09:00:00",
                Some("2025-01-02 10:30:00")
            ),
            row("t2", "C", "2025-01-02 10:30:00", None)
        ])))
        .expect(1)
        .mount(&server)
        .await;

    let p = provider(&server, &[Channel::Ticket], 2);
    let (pages, cursor) = sync(&p, Cursor::default()).await.unwrap();
    let items: Vec<&Item> = pages.iter().flat_map(|p| &p.items).collect();
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["t1", "t2"]);
    assert_eq!(
        pages.iter().flat_map(|p| &p.removed).collect::<Vec<_>>(),
        ["t3"]
    );
    assert_eq!(items[1].agent_replies, [ts("2025-01-02 09:00:00")]);
    assert_eq!(
        items[1].customer_messages,
        [ts("2025-01-02 08:00:00"), ts("2025-01-02 10:30:00")]
    );
    assert_eq!(items[0].team.as_deref(), Some("Billing"));

    let state: LiveAgentCursor = serde_json::from_value(cursor.0.clone()).unwrap();
    assert_eq!(state.tickets.since, Some(ts("2025-01-02 11:00:00")));
    assert_eq!(state.tickets.seen, ["t3"]);
    // The next poll re-reads the overlap and the boundary second and yields
    // nothing new.
    let (pages, _) = sync(&p, cursor).await.unwrap();
    assert!(
        pages
            .iter()
            .all(|p| p.items.is_empty() && p.removed.is_empty())
    );
}

#[tokio::test]
async fn a_restart_resumes_mid_sync_from_the_persisted_cursor() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    tickets_since("2025-01-02 00:00:00", 1)
        .respond_with(json(serde_json::json!([
            ticket("t1", "2025-01-02 10:00:00", "N"),
            ticket("t2", "2025-01-02 10:30:00", "N")
        ])))
        .expect(1)
        .mount(&server)
        .await;
    tickets_since("2025-01-02 10:30:00", 1)
        .respond_with(json(serde_json::json!([ticket(
            "t2",
            "2025-01-02 10:30:00",
            "N"
        )])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/tickets/history"))
        .respond_with(json(serde_json::json!([])))
        .mount(&server)
        .await;
    let first = provider(&server, &[Channel::Ticket], 2)
        .fetch_page(&Cursor::default())
        .await
        .unwrap();
    assert!(!first.done);
    // A new provider (a restart) continues from the stored JSON.
    let stored = serde_json::to_string(&first.next).unwrap();
    let cursor: Cursor = serde_json::from_str(&stored).unwrap();
    let second = provider(&server, &[Channel::Ticket], 2)
        .fetch_page(&cursor)
        .await
        .unwrap();
    assert!(second.done && second.items.is_empty());
}

#[tokio::test]
async fn chats_page_style_and_calls_cursor_style() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    let chat = |id: &str, created: &str, started: Option<&str>| {
        serde_json::json!({"id": id, "date_created": created, "status_date_started": started,
            "rstatus": if started.is_some() { "R" } else { "I" },
            "status": if started.is_some() { "T" } else { "Q" }, "departmentId": "zbmc7d61", "agentId": null})
    };
    let chats = Mock::given(path("/api/v3/chats"))
        .and(header("timezone-offset", "0"))
        .and(query_param(
            "_filters",
            r#"[["date_created","D>=","2025-01-02 00:00:00"]]"#,
        ))
        .and(query_param("_sortField", "date_created"));
    chats
        .and(query_param("_page", "1"))
        .respond_with(json(serde_json::json!([
            chat("ch1", "2025-01-02 10:00:00", Some("2025-01-02 10:00:30")),
            chat("ch2", "2025-01-02 11:00:00", None)
        ])))
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/chats"))
        .and(query_param("_page", "2"))
        .respond_with(json(serde_json::json!([chat(
            "ch3",
            "2025-01-02 12:00:00",
            Some("2025-01-02 12:00:10")
        )])))
        .mount(&server)
        .await;
    let call = |id: &str, created: &str| serde_json::json!({"id": id, "type": "I", "dateCreated": created, "dateAnswered": null, "dateFinished": created});
    Mock::given(path("/api/v3/calls"))
        .and(query_param(
            "_filters",
            r#"[["dateCreated","D>=","2025-01-02 00:00:00"]]"#,
        ))
        .and(query_param("_sortField", "dateCreated"))
        .and(query_param_is_missing("_cursor"))
        .respond_with(
            json(serde_json::json!([
                call("k1", "2025-01-02 09:00:00"),
                call("k2", "2025-01-02 09:01:00")
            ]))
            .insert_header("next_page_cursor", "abc"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/calls"))
        .and(query_param("_cursor", "abc"))
        .respond_with(json(serde_json::json!([call("k3", "2025-01-02 09:02:00")])))
        .mount(&server)
        .await;

    let p = provider(&server, &[Channel::Chat, Channel::Call], 2);
    let (pages, cursor) = sync(&p, Cursor::default()).await.unwrap();
    let ids: Vec<&str> = pages
        .iter()
        .flat_map(|p| &p.items)
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(ids, ["ch1", "ch2", "ch3", "k1", "k2", "k3"]);
    assert_eq!(pages.len(), 4);
    let state: LiveAgentCursor = serde_json::from_value(cursor.0).unwrap();
    // ch2 is still waiting, so the next chat sync starts at its creation.
    assert_eq!(state.chats.since, Some(ts("2025-01-02 11:00:00")));
    assert_eq!(state.calls.since, Some(ts("2025-01-02 09:02:00")));
    assert_eq!(state.active, None);

    // Progress: chats are stream 0 of 2, calls stream 1; each page says how far
    // its stream's cursor has come in a window from the lookback start
    // (2025-01-02 00:00) to now (2025-01-03 00:00).
    let now = ts("2025-01-03 00:00:00");
    let progress: Vec<_> = pages.iter().map(|p| p.progress.unwrap()).collect();
    assert_eq!(
        progress
            .iter()
            .map(|p| (p.stream, p.streams))
            .collect::<Vec<_>>(),
        [(0, 2), (0, 2), (1, 2), (1, 2)]
    );
    assert_eq!(progress[0].from, ts("2025-01-02 00:00:00"));
    assert_eq!(progress[0].position, ts("2025-01-02 11:00:00"));
    // Half a day into chats: (0 + 11/24) / 2.
    assert!((progress[0].ratio(now) - 11.0 / 48.0).abs() < 1e-9);
    let ratios: Vec<f64> = progress.iter().map(|p| p.ratio(now)).collect();
    assert!(ratios.windows(2).all(|w| w[0] <= w[1]), "{ratios:?}");
    assert!(ratios[2] >= 0.5, "{ratios:?}");
}

#[tokio::test]
async fn a_bad_row_is_quarantined_and_its_page_goes_on() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    Mock::given(path("/api/v3/chats"))
        .respond_with(json(serde_json::json!([
            {"id": "ch1", "date_created": "2025-01-02 10:00:00", "status_date_started": "2025-01-02 10:00:30",
             "rstatus": "R", "status": "T", "departmentId": "zbmc7d61", "agentId": null},
            {"id": "bad1", "date_created": "not a date", "rstatus": "R", "status": "T"},
            {"id": "ch3", "date_created": "2025-01-02 12:00:00", "status_date_started": null,
             "rstatus": "I", "status": "Q", "departmentId": "zbmc7d61", "agentId": null}
        ])))
        .mount(&server)
        .await;
    let p = provider(&server, &[Channel::Chat], 3);
    let page = p.fetch_page(&Cursor::default()).await.unwrap();
    let ids: Vec<&str> = page.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["ch1", "ch3"]);
    assert_eq!(page.rejected.len(), 1);
    let bad = &page.rejected[0];
    assert_eq!(
        (bad.stream, bad.id.as_deref(), bad.field.as_str()),
        ("chats", Some("bad1"), "date_created")
    );
    assert!(!bad.reason.contains("not a date"), "{bad:?}");
    // Three rows arrived on a page of three: the stream is not done yet.
    assert!(!page.done);
}

#[tokio::test]
async fn errors_are_typed_and_never_show_the_key() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    Mock::given(path("/api/v3/tickets"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("[{\"id\":\"t1\", \"status\": 5", "application/json"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/chats"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/calls"))
        .respond_with(json(serde_json::json!({"id": "k1", "dateCreated": true})))
        .mount(&server)
        .await;

    // A stream's own error is reported with the stream (the sync goes on);
    // an account-wide one (the key) fails the page.
    let stream_error = |p: &LiveAgentProvider| {
        let mut reports = p.take_stream_reports();
        assert_eq!(reports.len(), 1, "{reports:?}");
        reports.remove(0).error.expect("the stream failed")
    };
    let p = provider(&server, &[Channel::Ticket], 2);
    assert!(p.fetch_page(&Cursor::default()).await.unwrap().done);
    let err = stream_error(&p);
    assert_eq!(err.reason, "decode");
    let chats = provider(&server, &[Channel::Chat], 2)
        .fetch_page(&Cursor::default())
        .await
        .unwrap_err();
    assert_eq!(chats.reason(), "auth");
    let p = provider(&server, &[Channel::Call], 2);
    p.fetch_page(&Cursor::default()).await.unwrap();
    let calls = stream_error(&p);
    assert_eq!(calls.reason, "decode");
    assert!(calls.message.contains("expected a sequence"), "{calls:?}");
    for text in [
        err.message.clone(),
        format!("{err:?}"),
        chats.to_string(),
        format!("{chats:?}"),
        format!("{:?}", settings(&server, &[], 1)),
    ] {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }
}

#[tokio::test]
async fn sla_levels_over_http() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/slas"))
        .and(query_param("_page", "1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(fixture("slas.json"), "application/json"),
        )
        .mount(&server)
        .await;
    let levels = provider(&server, &[], 10).sla_levels().await.unwrap();
    let names: Vec<&str> = levels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["Gold", "Basic"]);
}

// --- One item per conversation, quarantine in every stream ------------------

/// Every stream of one sync, each served as one short page.
async fn mount_streams(
    server: &MockServer,
    tickets: serde_json::Value,
    history: serde_json::Value,
    chats: serde_json::Value,
    calls: serde_json::Value,
) {
    for (endpoint, body) in [
        ("/api/v3/tickets", tickets),
        ("/api/v3/tickets/history", history),
        ("/api/v3/chats", chats),
        ("/api/v3/calls", calls),
    ] {
        Mock::given(method("GET"))
            .and(path(endpoint))
            .respond_with(json(body))
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn chat_and_call_conversations_are_counted_once_in_their_channel() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    let conversation = |id: &str, channel: &str, status: &str| {
        serde_json::json!({"id": id, "departmentid": "zbmc7d61", "status": status, "channel_type": channel,
            "tags": [], "date_created": "2025-01-02 08:00:00", "date_changed": "2025-01-02 08:05:00"})
    };
    // LiveAgent lists every conversation as a ticket: an email, a chat being
    // chatted, a missed chat turned New, a call in progress.
    let tickets = serde_json::json!([
        conversation("e1", "E", "N"),
        conversation("ch1", "B", "T"),
        conversation("ch2", "I", "N"),
        conversation("kt1", "C", "P"),
    ]);
    // History is asked for the email ticket alone.
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets/history"))
        .and(query_param(
            "_filters",
            r#"[["conversation_id","IN","e1"]]"#,
        ))
        .respond_with(json(serde_json::json!([
            {"id": "h1", "conversation_id": "e1", "status": "N", "date_from": "2025-01-02 08:00:00", "date_to": null}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let chats = serde_json::json!([
        {"id": "ch1", "date_created": "2025-01-02T09:00:00+01:00", "status_date_started": "2025-01-02T08:00:20Z",
         "rstatus": "T", "status": "C", "departmentId": "zbmc7d61", "chat_order": "2025-01-02T08:00:00Z"},
        {"id": "ch2", "date_created": "2025-01-02T08:00:00Z", "status_date_started": "0000-00-00 00:00:00",
         "rstatus": "R", "status": "T", "departmentId": "zbmc7d61"}
    ]);
    let calls = serde_json::json!([
        {"id": "k1", "ticketId": "kt1", "type": "I", "dateCreated": "2025-01-02T08:00:00Z",
         "dateAnswered": "2025-01-02T08:00:12Z", "dateFinished": "", "callDuration": "0"}
    ]);
    mount_streams(&server, tickets, serde_json::json!([]), chats, calls).await;

    let p = provider(&server, &Channel::ALL, 10);
    let (pages, _) = sync(&p, Cursor::default()).await.unwrap();
    let items: Vec<(&str, Channel)> = pages
        .iter()
        .flat_map(|p| &p.items)
        .map(|i| (i.id.as_str(), i.channel))
        .collect();
    assert_eq!(
        items,
        [
            ("e1", Channel::Ticket),
            ("ch1", Channel::Chat),
            ("ch2", Channel::Chat),
            ("k1", Channel::Call)
        ]
    );
    assert!(
        pages
            .iter()
            .all(|p| p.removed.is_empty() && p.rejected.is_empty())
    );
    let all: Vec<&Item> = pages.iter().flat_map(|p| &p.items).collect();
    // The offset is converted: 09:00+01:00 is 08:00Z, picked up 20 s later.
    assert_eq!(all[1].created_at, ts("2025-01-02 08:00:00"));
    assert_eq!(all[1].answered_at, Some(ts("2025-01-02 08:00:20")));
    // The all-zero date is "not picked up": a missed chat.
    assert_eq!(all[2].answered_at, None);
    assert_eq!(all[3].answered_at, Some(ts("2025-01-02 08:00:12")));
}

#[tokio::test]
async fn a_bad_row_in_each_stream_is_quarantined_and_the_rest_goes_on() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    let tickets = serde_json::json!([
        ticket("t1", "2025-01-02 09:00:00", "N"),
        {"id": "t-bad", "status": "N", "date_created": "0000-00-00 00:00:00"},
        ticket("t3", "2025-01-02 09:10:00", "N"),
    ]);
    let history = serde_json::json!([
        {"id": "h1", "conversation_id": "t1", "status": "N", "date_from": "2025-01-02 08:00:00", "date_to": null},
        {"id": "h-bad", "conversation_id": "t3", "status": "N", "date_from": 17},
    ]);
    let chats = serde_json::json!([
        {"id": "ch-bad", "date_created": "2025-01-02T08:00:00Z", "tags": "vip"},
        {"id": "ch1", "date_created": "2025-01-02T08:00:00Z"}
    ]);
    let calls = serde_json::json!([
        {"id": "k-bad", "type": "I"},
        {"id": "k1", "type": "I", "dateCreated": "2025-01-02T08:00:00Z"}
    ]);
    mount_streams(&server, tickets, history, chats, calls).await;

    let p = provider(&server, &Channel::ALL, 10);
    let (pages, cursor) = sync(&p, Cursor::default()).await.unwrap();
    let ids: Vec<&str> = pages
        .iter()
        .flat_map(|p| &p.items)
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(ids, ["t1", "t3", "ch1", "k1"]);
    let rejected: Vec<(&str, Option<&str>, &str)> = pages
        .iter()
        .flat_map(|p| &p.rejected)
        .map(|r| (r.stream, r.id.as_deref(), r.field.as_str()))
        .collect();
    assert_eq!(
        rejected,
        [
            ("tickets", Some("t-bad"), "date_created"),
            ("ticket_history", Some("h-bad"), "date_from"),
            ("chats", Some("ch-bad"), "tags"),
            ("calls", Some("k-bad"), "dateCreated"),
        ]
    );
    // Every stream moved on past its page.
    let state: LiveAgentCursor = serde_json::from_value(cursor.0).unwrap();
    assert_eq!(state.tickets.since, Some(ts("2025-01-02 09:10:00")));
    assert_eq!(state.calls.since, Some(ts("2025-01-02 08:00:00")));
    assert_eq!(state.active, None);
}

// --- Independent streams ------------------------------------------------------

#[tokio::test]
async fn a_failing_stream_keeps_its_cursor_and_never_stops_the_others() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    // Tickets answer a page that does not decode; chats answer; calls are refused.
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets"))
        .respond_with(json(serde_json::json!({"unexpected": "shape"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/chats"))
        .respond_with(json(serde_json::json!([
            {"id": "ch1", "date_created": "2025-01-02 10:00:00", "status_date_started": "2025-01-02 10:00:30",
             "rstatus": "R", "status": "T", "departmentId": "zbmc7d61"}
        ])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/calls"))
        .respond_with(
            ResponseTemplate::new(500).set_body_raw(r#"{"message":"oops"}"#, "application/json"),
        )
        .mount(&server)
        .await;

    let p = provider(&server, &Channel::ALL, 10);
    let (pages, cursor) = sync(&p, Cursor::default()).await.unwrap();
    let ids: Vec<&str> = pages
        .iter()
        .flat_map(|p| &p.items)
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(ids, ["ch1"]);
    let reports: Vec<(&str, Option<&str>)> = p
        .take_stream_reports()
        .into_iter()
        .map(|r| (r.stream, r.error.map(|e| e.reason)))
        .collect();
    assert_eq!(
        reports,
        [
            ("tickets", Some("decode")),
            ("chats", None),
            ("calls", Some("status"))
        ]
    );
    assert!(p.take_stream_reports().is_empty(), "reports are drained");
    let state: LiveAgentCursor = serde_json::from_value(cursor.0).unwrap();
    // The failed streams stay where they were (never synced); chats moved on.
    assert_eq!(state.tickets, Default::default());
    assert_eq!(state.calls.since, None);
    assert_eq!(state.chats.since, Some(ts("2025-01-02 10:00:00")));
    assert_eq!(state.active, None);

    // An account-wide error (the key) still ends the sync at once.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let p = provider(&server, &Channel::ALL, 10);
    let err = p.fetch_page(&Cursor::default()).await.unwrap_err();
    assert_eq!(err.reason(), "auth");
}

// --- Undocumented requests: detection and documented fallbacks ----------------

fn provider_with_metrics(
    server: &MockServer,
    channels: &[Channel],
    page_size: u32,
) -> (LiveAgentProvider, prometheus::Registry) {
    let registry = prometheus::Registry::new();
    let metrics = ClientMetrics::new(&registry).unwrap();
    let s = settings(server, channels, page_size);
    let mut client = liveagent::client_settings(&s);
    client.retry.max_retries = 0;
    let p = LiveAgentProvider::with_client_settings(s, client, metrics)
        .unwrap()
        .with_clock(|| "2025-01-03T00:00:00Z".parse().unwrap());
    (p, registry)
}

fn fallbacks_counted(registry: &prometheus::Registry, assumption: &str) -> u64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == "helpdesk_sla_source_assumption_fallbacks_total")
        .flat_map(|f| f.get_metric())
        .filter(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == "assumption" && l.value() == assumption)
        })
        .map(|m| m.get_counter().get_value() as u64)
        .sum()
}

/// One ticket page with t1 and t2 (email tickets), and their per-ticket
/// history at the documented `/tickets/{id}/history`.
async fn mount_tickets_and_per_ticket_history(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets"))
        .respond_with(json(serde_json::json!([
            ticket("t1", "2025-01-02 09:00:00", "A"),
            ticket("t2", "2025-01-02 09:30:00", "N"),
        ])))
        .mount(server)
        .await;
    for (id, rows) in [
        (
            "t1",
            serde_json::json!([
                {"id": "h1", "status": "N", "date_from": "2025-01-02 08:00:00", "date_to": "2025-01-02 08:40:00"},
                {"id": "h2", "status": "A", "date_from": "2025-01-02 08:40:00", "date_to": null}
            ]),
        ),
        (
            "t2",
            serde_json::json!([{"id": "h3", "conversation_id": "t2", "status": "N", "date_from": "2025-01-02 08:00:00"}]),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/api/v3/tickets/{id}/history")))
            .respond_with(json(rows))
            .expect(1)
            .mount(server)
            .await;
    }
}

async fn assert_history_fell_back(server: &MockServer, assumption: &str) {
    let (p, registry) = provider_with_metrics(server, &[Channel::Ticket], 10);
    let (pages, _) = sync(&p, Cursor::default()).await.unwrap();
    let items: Vec<&Item> = pages.iter().flat_map(|p| &p.items).collect();
    assert_eq!(items.len(), 2);
    // t1's history came per ticket: answered at 08:40.
    assert_eq!(items[0].id, "t1");
    assert_eq!(items[0].agent_replies, [ts("2025-01-02 08:40:00")]);
    assert!(p.fallbacks().history_per_ticket);
    assert_eq!(fallbacks_counted(&registry, assumption), 1);
    assert!(p.take_stream_reports().iter().all(|r| r.error.is_none()));
}

#[tokio::test]
async fn history_filter_refused_falls_back_to_per_ticket_history() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    mount_tickets_and_per_ticket_history(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets/history"))
        .respond_with(
            ResponseTemplate::new(400).set_body_raw(
                r#"{"response":{"status":"ERROR","statuscode":400,"errormessage":"Unknown filter field conversation_id"}}"#,
                "application/json",
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    assert_history_fell_back(&server, "history_conversation_filter").await;
}

#[tokio::test]
async fn history_filter_ignored_falls_back_to_per_ticket_history() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    mount_tickets_and_per_ticket_history(&server).await;
    // The server drops the filter and answers with other tickets' rows.
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets/history"))
        .respond_with(json(serde_json::json!([
            {"id": "x1", "conversation_id": "zz9", "status": "N", "date_from": "2024-01-01 00:00:00"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    assert_history_fell_back(&server, "history_conversation_filter").await;
}

#[tokio::test]
async fn a_full_history_page_without_cursor_header_falls_back() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    mount_tickets_and_per_ticket_history(&server).await;
    // Ten rows on a page of ten, and no `next_page_cursor`: more may exist.
    let rows: Vec<serde_json::Value> = (0..10)
        .map(|i| serde_json::json!({"id": format!("r{i}"), "conversation_id": if i % 2 == 0 { "t1" } else { "t2" },
            "status": "N", "date_from": "2025-01-02 08:00:00"}))
        .collect();
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets/history"))
        .respond_with(json(serde_json::Value::Array(rows)))
        .expect(1)
        .mount(&server)
        .await;
    assert_history_fell_back(&server, "next_page_cursor_header").await;
}

/// A ticket list that answers the documented `date_created` filter.
fn tickets_by_created() -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets"))
        .and(query_param(
            "_filters",
            r#"[["date_created","D>=","2025-01-02 00:00:00"]]"#,
        ))
}

async fn assert_tickets_fell_back(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets/history"))
        .respond_with(json(serde_json::json!([])))
        .mount(server)
        .await;
    let (p, registry) = provider_with_metrics(server, &[Channel::Ticket], 2);
    // The cursor says: changed since 09:00 already read.
    let cursor = Cursor(serde_json::json!({"active": null,
        "tickets": {"since": "2025-01-02T09:00:00Z", "seen": [], "page": 1},
        "chats": {"page": 0}, "calls": {"page": 0}}));
    let (pages, next) = sync(&p, cursor).await.unwrap();
    let ids: Vec<&str> = pages
        .iter()
        .flat_map(|p| &p.items)
        .map(|i| i.id.as_str())
        .collect();
    // The scan reads the lookback window by creation and keeps what changed
    // since 09:00; the older t0 is not emitted again.
    assert_eq!(ids, ["t5", "t7", "t9"]);
    assert!(p.fallbacks().tickets_by_created);
    assert_eq!(
        fallbacks_counted(&registry, "tickets_date_changed_filter"),
        1
    );
    let state: LiveAgentCursor = serde_json::from_value(next.0).unwrap();
    // Next time: everything changed since the scan began, less the skew margin.
    assert_eq!(state.tickets.since, Some(ts("2025-01-02 23:55:00")));
    assert_eq!(state.tickets.scan_page, 0);
}

async fn mount_scan(server: &MockServer) {
    tickets_by_created()
        .and(query_param("_page", "1"))
        .respond_with(json(serde_json::json!([
            ticket("t0", "2025-01-02 08:00:00", "N"),
            ticket("t5", "2025-01-02 10:00:00", "N"),
        ])))
        .mount(server)
        .await;
    tickets_by_created()
        .and(query_param("_page", "2"))
        .respond_with(json(serde_json::json!([
            ticket("t7", "2025-01-02 09:00:00", "N"),
            ticket("t9", "2025-01-02 12:00:00", "N"),
        ])))
        .mount(server)
        .await;
    tickets_by_created()
        .and(query_param("_page", "3"))
        .respond_with(json(serde_json::json!([])))
        .mount(server)
        .await;
    // The open pass over tickets created before the window: none.
    open_pass("2025-01-02 00:00:00")
        .respond_with(json(serde_json::json!([])))
        .mount(server)
        .await;
}

/// The fallback's pass over open tickets created before `before`
/// (documented: `status IN`, `date_created D<`).
fn open_pass(before: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets"))
        .and(query_param(
            "_filters",
            format!(r#"[["status","IN","I,N,C,A,W,T,P"],["date_created","D<","{before}"]]"#),
        ))
        .and(query_param_is_missing("_sortField"))
}

#[tokio::test]
async fn date_changed_filter_refused_falls_back_to_the_created_scan() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    mount_scan(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets"))
        .and(query_param("_sortField", "date_changed"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            r#"{"response":{"status":"ERROR","statuscode":400,"errormessage":"Unsupported filter"}}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    assert_tickets_fell_back(&server).await;
}

#[tokio::test]
async fn date_changed_filter_ignored_or_unsorted_falls_back() {
    for rows in [
        // A row changed before the requested `since`: the filter was ignored.
        serde_json::json!([
            ticket("t0", "2025-01-02 08:00:00", "N"),
            ticket("t5", "2025-01-02 10:00:00", "N")
        ]),
        // In range but out of order: the sort was ignored.
        serde_json::json!([
            ticket("t9", "2025-01-02 12:00:00", "N"),
            ticket("t5", "2025-01-02 10:00:00", "N")
        ]),
    ] {
        let server = MockServer::start().await;
        mount_departments(&server).await;
        mount_scan(&server).await;
        Mock::given(method("GET"))
            .and(path("/api/v3/tickets"))
            .and(query_param("_sortField", "date_changed"))
            .respond_with(json(rows))
            .expect(1)
            .mount(&server)
            .await;
        assert_tickets_fell_back(&server).await;
    }
}

// --- The overlap window -------------------------------------------------------

#[tokio::test]
async fn the_overlap_window_catches_a_late_change_and_counts_nothing_twice() {
    use helpdesk_sla_exporter::engine::Engine;
    use helpdesk_sla_exporter::metrics::source::SourceMetrics;
    use helpdesk_sla_exporter::store::Store;

    let server = MockServer::start().await;
    mount_departments(&server).await;
    let answered = |id: &str, changed: &str| {
        serde_json::json!({"id": id, "status": "A", "channel_type": "E", "tags": [],
            "date_created": "2025-01-02 08:00:00", "date_changed": changed})
    };
    let history = |ids: &[&str]| {
        let rows: Vec<serde_json::Value> = ids
            .iter()
            .flat_map(|id| {
                [
                    serde_json::json!({"id": format!("{id}-n"), "conversation_id": id, "status": "N",
                        "date_from": "2025-01-02 08:00:00", "date_to": "2025-01-02 08:30:00"}),
                    serde_json::json!({"id": format!("{id}-a"), "conversation_id": id, "status": "A",
                        "agent_id": "ag1", "date_from": "2025-01-02 08:30:00", "date_to": null}),
                ]
            })
            .collect();
        json(serde_json::Value::Array(rows))
    };
    // First sync: t0 and t1.
    tickets_since_page_of_ten("2025-01-02 00:00:00")
        .respond_with(json(serde_json::json!([
            answered("t0", "2025-01-02 09:57:00"),
            answered("t1", "2025-01-02 10:00:00")
        ])))
        .expect(1)
        .mount(&server)
        .await;
    // Second sync, 5 minutes before the cursor (10:00): t0 again, and t2,
    // whose change at 09:58 the search index only now shows.
    tickets_since_page_of_ten("2025-01-02 09:55:00")
        .respond_with(json(serde_json::json!([
            answered("t0", "2025-01-02 09:57:00"),
            answered("t2", "2025-01-02 09:58:00")
        ])))
        .expect(1)
        .mount(&server)
        .await;
    // The second sync asks history for t2 only: t0's change at 09:57 was
    // taken by the first sync, so the overlap re-read skips it.
    for ids in [&["t0", "t1"][..], &["t2"][..]] {
        Mock::given(method("GET"))
            .and(path("/api/v3/tickets/history"))
            .and(query_param(
                "_filters",
                format!(r#"[["conversation_id","IN","{}"]]"#, ids.join(",")),
            ))
            .respond_with(history(ids))
            .expect(1)
            .mount(&server)
            .await;
    }

    let dir = std::env::temp_dir().join(format!("la-overlap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = format!(
        "sources:\n  - name: support\n    type: liveagent\n    base_url: {}/api/v3\n    api_key_env: KEY\n    channels: [ticket]\n\
         policies:\n  - name: tickets\n    targets:\n      first_response: {{within: 1h, objective: 0.9}}\n",
        server.uri()
    );
    let config = helpdesk_sla_exporter::config::parse(&yaml, &dir.join("c.yml"), &dir, &|_| {
        Some(KEY.to_owned())
    })
    .unwrap();
    // A fresh engine per sync over the same store: what the store counted
    // is all that carries over, as after a restart.
    let engine = || {
        Engine::new(
            Store::open(&dir).unwrap(),
            SourceMetrics::new(&prometheus::Registry::new()).unwrap(),
            helpdesk_sla_exporter::clock::fixed("2025-01-03T00:00:00Z".parse().unwrap()),
        )
    };
    let met = |engine: &Engine| -> u64 {
        engine
            .store
            .counters()
            .unwrap()
            .iter()
            .filter(|(series, name, _)| series.ends_with("first_response") && name == "met")
            .map(|(_, _, v)| v)
            .sum()
    };

    let p = provider(&server, &[Channel::Ticket], 10);
    let mut cursor = Cursor::default();
    let mut emitted = Vec::new();
    let mut counted = Vec::new();
    for _ in 0..2 {
        let engine = engine();
        let (pages, next) = sync(&p, cursor).await.unwrap();
        for page in &pages {
            let text = serde_json::to_string(&page.next).unwrap();
            engine
                .store
                .apply_page("support", "sync", &page.items, &page.removed, &text)
                .unwrap();
            emitted.extend(page.items.iter().map(|i| i.id.clone()));
        }
        cursor = next;
        engine.load(&config).unwrap();
        engine.evaluate(&config).unwrap();
        counted.push(met(&engine));
    }
    // t0 was read again in the overlap but not re-sent (its change was
    // taken), t2 was caught late, t1 not re-read (the boundary second).
    assert_eq!(emitted, ["t0", "t1", "t2"]);
    // Three tickets answered in time: three outcomes, none counted twice.
    assert_eq!(counted, [2, 3]);
    let state: LiveAgentCursor = serde_json::from_value(cursor.0).unwrap();
    assert_eq!(state.tickets.since, Some(ts("2025-01-02 10:00:00")));
    assert_eq!(state.tickets.overlap_from, None);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tickets_since_page_of_ten(since: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets"))
        .and(query_param(
            "_filters",
            format!(r#"[["date_changed","D>=","{since}"]]"#),
        ))
        .and(query_param("_perPage", "10"))
        .and(query_param("_page", "1"))
}

#[tokio::test]
async fn settings_are_read_once_and_every_request_asks_for_utc() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/settings"))
        .and(header("Timezone-Offset", "0"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(fixture("settings.json"), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let p = provider(&server, &[Channel::Ticket], 2);
    assert_eq!(
        p.check_settings().await.as_deref(),
        Some("Europe/Bratislava")
    );
    assert_eq!(p.check_settings().await, None, "read once per process");
    // A fetch does not read it again, and a missing /settings is no failure.
    mount_departments(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets"))
        .and(header("Timezone-Offset", "0"))
        .respond_with(json(serde_json::json!([])))
        .mount(&server)
        .await;
    assert!(p.fetch_page(&Cursor::default()).await.unwrap().done);
    let other = MockServer::start().await;
    mount_departments(&other).await;
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets"))
        .respond_with(json(serde_json::json!([])))
        .mount(&other)
        .await;
    let q = provider(&other, &[Channel::Ticket], 2);
    assert_eq!(q.check_settings().await, None);
    assert!(q.fetch_page(&Cursor::default()).await.unwrap().done);
}

#[tokio::test]
async fn tags_are_matched_by_name_through_the_tag_list() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/v3/tags"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(fixture("tags.json"), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut t = ticket("t1", "2025-01-02 09:00:00", "N");
    t["tags"] = serde_json::json!(["fqr2", "zz00"]);
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets"))
        .respond_with(json(serde_json::json!([t])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets/history"))
        .respond_with(json(serde_json::json!([])))
        .mount(&server)
        .await;
    let p = provider(&server, &[Channel::Ticket], 10);
    let (pages, cursor) = sync(&p, Cursor::default()).await.unwrap();
    let item = &pages[0].items[0];
    // The id as sent, its name from /tags, and an unknown id kept as is.
    assert_eq!(item.tags, ["fqr2", "vip", "zz00"]);
    // A policy written with the name matches.
    let config = {
        let yaml = "sources:\n  - name: s\n    type: liveagent\n    base_url: http://x/api/v3\n    api_key_env: K\n\
                    policies:\n  - name: vip\n    match: {tags: [vip]}\n    targets:\n      first_response: {within: 1h, objective: 0.9}\n";
        let dir = std::env::temp_dir();
        helpdesk_sla_exporter::config::parse(yaml, &dir.join("c.yml"), &dir, &|_| Some("k".into()))
            .unwrap()
    };
    assert_eq!(
        config.policies.select(item).map(|p| p.name.as_str()),
        Some("vip")
    );
    let mut without_name = item.clone();
    without_name.tags = vec!["fqr2".into()];
    assert_eq!(
        config
            .policies
            .select(&without_name)
            .map(|p| p.name.as_str()),
        None
    );
    // The list is read once an hour, not per page.
    sync(&p, cursor).await.unwrap();

    // Without /tags the sync goes on with ids.
    let server = MockServer::start().await;
    mount_departments(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets"))
        .respond_with(json(serde_json::json!([t])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets/history"))
        .respond_with(json(serde_json::json!([])))
        .mount(&server)
        .await;
    let p = provider(&server, &[Channel::Ticket], 10);
    let (pages, _) = sync(&p, Cursor::default()).await.unwrap();
    assert_eq!(pages[0].items[0].tags, ["fqr2", "zz00"]);
}

// --- SLA levels per ticket (`/tickets/{id}/sla`) --------------------------

fn open_ticket(id: &str, changed: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "status": "C", "channel_type": "E", "tags": [],
        "date_created": "2025-01-02 08:00:00", "date_changed": changed, "date_due": "2025-01-02 20:00:00"})
}

async fn mount_level(server: &MockServer, id: &str, name: &str, first_answer: &str, times: u64) {
    Mock::given(method("GET"))
        .and(path(format!("/api/v3/tickets/{id}/sla")))
        .and(header("apikey", KEY))
        .respond_with(json(serde_json::json!({
            "conversationid": id, "sla_level_id": format!("id-{name}"), "sla_level_name": name,
            "first_answer": first_answer, "first_assign": null, "first_resolve": null, "next_answer": null
        })))
        .expect(times)
        .mount(server)
        .await;
}

/// A share of 1/4096 of 6000 requests a minute: 2 requests per sync.
fn two_level_requests() -> liveagent::LiveAgentConfig {
    liveagent::LiveAgentConfig {
        sla_level_requests_share: 1.0 / 4096.0,
        ..liveagent::LiveAgentConfig::default()
    }
}

/// The second sync after [`mount_three_open_tickets`]: it re-reads the
/// overlap, t2 and t3 again (unchanged; t2 inside the overlap window, t3 at
/// the boundary second) and t1, changed since; t3, deferred by the first
/// sync's share of level requests, is read once with its row.
async fn mount_second_sync(server: &MockServer) {
    tickets_since_page_of_ten("2025-01-02 10:55:00")
        .respond_with(json(serde_json::json!([
            open_ticket("t2", "2025-01-02 10:58:00"),
            open_ticket("t3", "2025-01-02 11:00:00"),
            open_ticket("t1", "2025-01-02 12:00:00")
        ])))
        .expect(1)
        .mount(server)
        .await;
    mount_level(server, "t3", "Gold", "2025-01-02 14:00:00", 1).await;
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets/t3"))
        .respond_with(json(open_ticket("t3", "2025-01-02 11:00:00")))
        .expect(1)
        .mount(server)
        .await;
}

/// Departments, no history, and a first page of three open tickets (t1, t2,
/// t3), listed once.
async fn mount_three_open_tickets(server: &MockServer) {
    mount_departments(server).await;
    Mock::given(path("/api/v3/tickets/history"))
        .respond_with(json(serde_json::json!([])))
        .mount(server)
        .await;
    tickets_since_page_of_ten("2025-01-02 00:00:00")
        .respond_with(json(serde_json::json!([
            open_ticket("t1", "2025-01-02 10:00:00"),
            open_ticket("t2", "2025-01-02 10:58:00"),
            open_ticket("t3", "2025-01-02 11:00:00")
        ])))
        .expect(1)
        .mount(server)
        .await;
}

/// Polls under a minute apart get the poll interval's part of the share:
/// 1/4096 of 6000 requests a minute is 2 a sync at one-minute polls but 1 at
/// 30 s polls (the share is per minute, not per sync).
#[tokio::test]
async fn the_level_share_is_per_minute_when_polls_are_closer() {
    let server = MockServer::start().await;
    mount_three_open_tickets(&server).await;
    mount_level(&server, "t1", "Gold", "2025-01-02 12:30:00", 1).await;
    mount_level(&server, "t2", "Basic", "2025-01-02 13:00:00", 0).await;
    mount_level(&server, "t3", "Gold", "2025-01-02 14:00:00", 0).await;
    let metrics = ClientMetrics::new(&prometheus::Registry::new()).unwrap();
    let mut s = settings(&server, &[Channel::Ticket], 10);
    s.poll_interval = Duration::from_secs(30);
    let mut client = liveagent::client_settings(&s);
    client.retry.max_retries = 0;
    let p = LiveAgentProvider::with_client_settings(s, client, metrics)
        .unwrap()
        .with_clock(|| "2025-01-03T00:00:00Z".parse().unwrap())
        .with_options(two_level_requests());
    let (pages, _) = sync(&p, Cursor::default()).await.unwrap();
    let levelled: Vec<&str> = pages
        .iter()
        .flat_map(|p| &p.items)
        .filter(|i| i.priority.is_some())
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(levelled, ["t1"], "one level read in a 30 s sync");
}

#[tokio::test]
async fn levels_are_read_once_per_change_within_the_share_and_survive_a_restart() {
    let server = MockServer::start().await;
    mount_three_open_tickets(&server).await;
    mount_second_sync(&server).await;
    // t1 is read twice (it changed), t2 once (skipped in the overlap after
    // the restart: its change was taken).
    mount_level(&server, "t1", "Gold", "2025-01-02 12:30:00", 2).await;
    mount_level(&server, "t2", "Basic", "2025-01-02 13:00:00", 1).await;

    let build = || provider(&server, &[Channel::Ticket], 10).with_options(two_level_requests());
    let mut stored = Stored::default();
    let (pages, cursor) = sync(&build(), Cursor::default()).await.unwrap();
    stored.apply(&pages);
    let items: HashMap<&str, &Item> = pages
        .iter()
        .flat_map(|p| &p.items)
        .map(|i| (i.id.as_str(), i))
        .collect();
    assert_eq!(items["t1"].priority.as_deref(), Some("Gold"));
    assert_eq!(items["t2"].priority.as_deref(), Some("Basic"));
    assert_eq!(items["t3"].priority, None, "deferred: the share was spent");
    // The level's first answer due replaces the `date_due` guess.
    assert_eq!(
        items["t2"].vendor_due,
        [VendorDue {
            target: Target::FirstResponse,
            due_at: ts("2025-01-02 13:00:00"),
            completed_at: None,
            breached: None
        }]
    );
    assert_eq!(stored.keys("levels_pending"), ["t3"]);
    assert_eq!(stored.keys("levels"), ["t1", "t2"]);

    // A restart: a new provider continues from the stored cursor JSON and
    // the stored state.
    let text: Cursor = serde_json::from_str(&serde_json::to_string(&cursor).unwrap()).unwrap();
    let (pages, cursor) = sync(&stored.restore(build()).await, text).await.unwrap();
    stored.apply(&pages);
    let items: HashMap<&str, &Item> = pages
        .iter()
        .flat_map(|p| &p.items)
        .map(|i| (i.id.as_str(), i))
        .collect();
    assert_eq!(items["t3"].priority.as_deref(), Some("Gold"));
    // t2, unchanged in the overlap, is skipped: its change was taken.
    assert!(
        !items.contains_key("t2"),
        "an unchanged overlap row is not re-sent"
    );
    // t1 changed, but t3's level and row spent this sync's two requests:
    // t1 keeps the level cached before the restart and waits for the next
    // sync.
    assert_eq!(items["t1"].priority.as_deref(), Some("Gold"), "cached");
    assert_eq!(stored.keys("levels_pending"), ["t1"]);
    // The third sync reads t1's level again (its second read).
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets/t1"))
        .respond_with(json(open_ticket("t1", "2025-01-02 12:00:00")))
        .expect(1)
        .mount(&server)
        .await;
    tickets_since_page_of_ten("2025-01-02 11:55:00")
        .respond_with(json(serde_json::json!([open_ticket(
            "t1",
            "2025-01-02 12:00:00"
        )])))
        .expect(1)
        .mount(&server)
        .await;
    let (pages, _) = sync(&stored.restore(build()).await, cursor).await.unwrap();
    stored.apply(&pages);
    let t1 = pages.iter().flat_map(|p| &p.items).find(|i| i.id == "t1");
    assert_eq!(
        t1.unwrap().vendor_due[0].due_at,
        ts("2025-01-02 12:30:00"),
        "the level read at t1's change gives its due"
    );
    assert!(stored.keys("levels_pending").is_empty());
    assert_eq!(stored.keys("levels"), ["t1", "t2", "t3"]);
    // Request counts are checked by each mock's `expect` when the server drops.
}

/// The cursor of `levels_are_read_once_per_change_within_the_share_and_survive_a_restart`
/// after its first sync, as the version before issue 19 stored it: instants as
/// RFC 3339 strings, id lists and the overlap set as JSON arrays.
fn previous_version_cursor() -> Cursor {
    Cursor(serde_json::json!({
        "active": null,
        "tickets": {
            "since": "2025-01-02T11:00:00Z", "seen": ["t3"], "page": 1,
            "levels": {
                "t1": {"changed": "2025-01-02T10:00:00Z", "name": "Gold",
                       "due": [["first_response", "2025-01-02T12:30:00Z"]]},
                "t2": {"changed": "2025-01-02T10:58:00Z", "name": "Basic",
                       "due": [["first_response", "2025-01-02T13:00:00Z"]]}
            },
            "levels_pending": ["t3"],
            "level_requests": 2,
            "recent": [["t2", "2025-01-02T10:58:00Z"], ["t3", "2025-01-02T11:00:00Z"]]
        },
        "chats": {"since": null, "page": 0, "cursor": null, "oldest_running": null, "newest": null},
        "calls": {"since": null, "page": 0, "cursor": null, "oldest_running": null, "newest": null},
        "sla_log": {"tickets": {"since": "2025-01-02T00:00:00Z"}, "chats": {"since": null},
                    "calls": {"since": null}, "records": {}}
    }))
}

/// An upgrade must not start over: a cursor stored by a version that kept the
/// level cache, the pending list and the overlap set inside it (in the
/// encoding before issue 19, too) resumes with them, and the first page moves
/// them into the provider's keyed state, out of the cursor.
#[tokio::test]
async fn a_cursor_stored_by_the_previous_version_resumes_with_levels_pending_and_overlap() {
    let server = MockServer::start().await;
    mount_three_open_tickets(&server).await;
    mount_level(&server, "t1", "Gold", "2025-01-02 12:30:00", 1).await;
    mount_level(&server, "t2", "Basic", "2025-01-02 13:00:00", 1).await;
    let build = || provider(&server, &[Channel::Ticket], 10).with_options(two_level_requests());
    let mut this_version = Stored::default();
    let (pages, written) = sync(&build(), Cursor::default()).await.unwrap();
    this_version.apply(&pages);
    let old = previous_version_cursor();
    let read = |c: &Cursor| serde_json::from_value::<LiveAgentCursor>(c.0.clone()).unwrap();
    let state = read(&old);
    assert_eq!(state.tickets.levels.len(), 2, "the old lists read");
    assert_eq!(
        state.tickets.recent.len(),
        2,
        "the old overlap set reads too"
    );
    assert_eq!(
        written.0["tickets"].get("levels"),
        None,
        "this version keeps them out of the cursor"
    );

    // The resumed sync, as after the restart in the test above but with no
    // stored state (the store of the previous version had none): t2 is
    // skipped (the overlap set), t3's pending level is read first, t1 keeps
    // its cached level. A cursor that started over would read from the
    // lookback again (the first page's mock allows one call) and re-read
    // t1's level.
    mount_second_sync(&server).await;
    let stored: Cursor = serde_json::from_str(&old.0.to_string()).unwrap();
    let (pages, cursor) = sync(&build(), stored).await.unwrap();
    let items: HashMap<&str, &Item> = pages
        .iter()
        .flat_map(|p| &p.items)
        .map(|i| (i.id.as_str(), i))
        .collect();
    assert!(!items.contains_key("t2"), "the overlap set survived");
    assert_eq!(
        items["t3"].priority.as_deref(),
        Some("Gold"),
        "pending read"
    );
    assert_eq!(
        items["t1"].priority.as_deref(),
        Some("Gold"),
        "cached level"
    );
    // The pages stored the adopted lists: the same state as the test above
    // after its restart.
    let mut upgraded = Stored::default();
    upgraded.apply(&pages);
    assert_eq!(upgraded.keys("levels_pending"), ["t1"]);
    assert_eq!(upgraded.keys("levels"), ["t1", "t2", "t3"]);
    assert_eq!(read(&cursor).tickets.levels.len(), 0);
    assert!(
        !cursor.0.to_string().contains("levels"),
        "the new cursor carries no list"
    );
    // Request counts are checked by each mock's `expect` when the server drops.
}

/// A tickets stream that fails after its pending levels were read undoes what
/// its page changed: the page stores no change, and the level stays pending,
/// read first by the next sync.
#[tokio::test]
async fn a_failed_tickets_stream_keeps_its_pending_levels() {
    let server = MockServer::start().await;
    mount_three_open_tickets(&server).await;
    mount_level(&server, "t1", "Gold", "2025-01-02 12:30:00", 1).await;
    mount_level(&server, "t2", "Basic", "2025-01-02 13:00:00", 1).await;
    let p = provider(&server, &[Channel::Ticket], 10).with_options(two_level_requests());
    let mut stored = Stored::default();
    let (pages, cursor) = sync(&p, Cursor::default()).await.unwrap();
    stored.apply(&pages);
    assert_eq!(stored.keys("levels_pending"), ["t3"]);

    // The second sync reads t3's row and level, then its list fails.
    tickets_since_page_of_ten("2025-01-02 10:55:00")
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    mount_level(&server, "t3", "Gold", "2025-01-02 14:00:00", 2).await;
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets/t3"))
        .respond_with(json(open_ticket("t3", "2025-01-02 11:00:00")))
        .expect(2)
        .mount(&server)
        .await;
    let (pages, cursor) = sync(&p, cursor).await.unwrap();
    let failed = p.take_stream_reports();
    assert!(
        failed
            .iter()
            .any(|r| r.stream == "tickets" && r.error.is_some())
    );
    assert!(pages.iter().all(|p| p.items.is_empty()));
    assert!(
        pages.iter().all(|p| p.state.is_empty()),
        "a failed stream stores no change"
    );

    // The third sync reads t3 first again; its list has nothing new.
    tickets_since_page_of_ten("2025-01-02 10:55:00")
        .respond_with(json(serde_json::json!([open_ticket(
            "t3",
            "2025-01-02 11:00:00"
        )])))
        .expect(1)
        .mount(&server)
        .await;
    let (pages, _) = sync(&p, cursor).await.unwrap();
    stored.apply(&pages);
    let t3 = pages.iter().flat_map(|p| &p.items).find(|i| i.id == "t3");
    assert_eq!(t3.unwrap().priority.as_deref(), Some("Gold"));
    assert!(stored.keys("levels_pending").is_empty());
    assert_eq!(stored.keys("levels"), ["t1", "t2", "t3"]);
    // Request counts are checked by each mock's `expect` when the server drops.
}

/// One sync of `p` through the real poller into the store in `dir`.
async fn sync_into_store(
    p: LiveAgentProvider,
    server: &MockServer,
    dir: &std::path::Path,
) -> std::sync::Arc<helpdesk_sla_exporter::engine::Engine> {
    let source = settings(server, &[Channel::Ticket], 10);
    let now = "2025-01-03T00:00:00Z".parse().unwrap();
    common::sync_into_store(std::sync::Arc::new(p), source, dir, now).await
}

/// The level cache, the pending reads and the overlap set survive a restart
/// through the real store and sync loop: the second process's provider is
/// restored from the store before its first page, so t3's deferred level is
/// read first and t2's overlap row is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_state_survives_a_restart_through_the_store() {
    let server = MockServer::start().await;
    let dir = common::scratch("liveagent-state");
    mount_three_open_tickets(&server).await;
    mount_level(&server, "t1", "Gold", "2025-01-02 12:30:00", 1).await;
    mount_level(&server, "t2", "Basic", "2025-01-02 13:00:00", 1).await;
    let build = || provider(&server, &[Channel::Ticket], 10).with_options(two_level_requests());
    let engine = sync_into_store(build(), &server, &dir).await;
    let keys = |engine: &helpdesk_sla_exporter::engine::Engine, list: &str| {
        let rows = engine.store.provider_state("support").unwrap();
        let mut keys: Vec<String> = rows
            .into_iter()
            .filter(|r| r.list == list)
            .map(|r| r.key)
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&engine, "levels_pending"), ["t3"]);
    assert_eq!(keys(&engine, "levels"), ["t1", "t2"]);
    drop(engine);

    mount_second_sync(&server).await;
    let engine = sync_into_store(build(), &server, &dir).await;
    let items = engine.store.items("support").unwrap();
    let t3 = items.iter().find(|i| i.id == "t3").unwrap();
    assert_eq!(
        t3.priority.as_deref(),
        Some("Gold"),
        "the pending level read"
    );
    assert_eq!(keys(&engine, "levels_pending"), ["t1"]);
    assert_eq!(keys(&engine, "levels"), ["t1", "t2", "t3"]);
    // The overlap set keeps the changes within its window (5 minutes) of
    // the newest: t1's at 12:00.
    assert_eq!(keys(&engine, "recent"), ["t1"]);
    // t2's overlap row was skipped and t3's row read once: each mock's
    // `expect` is checked when the server drops.
}

#[tokio::test]
async fn a_share_of_zero_reads_no_levels() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    Mock::given(path("/api/v3/tickets/history"))
        .respond_with(json(serde_json::json!([])))
        .mount(&server)
        .await;
    tickets_since_page_of_ten("2025-01-02 00:00:00")
        .respond_with(json(serde_json::json!([open_ticket(
            "t1",
            "2025-01-02 10:00:00"
        )])))
        .mount(&server)
        .await;
    mount_level(&server, "t1", "Gold", "2025-01-02 12:30:00", 0).await;
    let options = liveagent::LiveAgentConfig {
        sla_level_requests_share: 0.0,
        ..liveagent::LiveAgentConfig::default()
    };
    let p = provider(&server, &[Channel::Ticket], 10).with_options(options);
    let (pages, _) = sync(&p, Cursor::default()).await.unwrap();
    assert_eq!(pages[0].items[0].priority, None);
    let mut stored = Stored::default();
    stored.apply(&pages);
    assert!(stored.keys("levels_pending").is_empty() && stored.keys("levels").is_empty());
    // Without a level the ticket's `date_due` is the first answer's due.
    assert_eq!(
        pages[0].items[0].vendor_due[0].due_at,
        ts("2025-01-02 20:00:00")
    );
}

// --- LiveAgent's clock rules (`liveagent:` block) -------------------------

/// A ticket answered, postponed, back to open, and resolved while open.
async fn mount_postponed_ticket(server: &MockServer) {
    mount_departments(server).await;
    tickets_since_page_of_ten("2025-01-02 00:00:00")
        .respond_with(json(serde_json::json!([{
            "id": "p1", "status": "R", "channel_type": "E", "tags": [],
            "date_created": "2025-01-02 08:00:00", "date_changed": "2025-01-02 13:00:00"
        }])))
        .mount(server)
        .await;
    let row = |status: &str, from: &str, to: Option<&str>| {
        serde_json::json!({"id": format!("p1{status}"), "conversation_id": "p1", "status": status,
            "date_from": from, "date_to": to})
    };
    Mock::given(path("/api/v3/tickets/history"))
        .respond_with(json(serde_json::json!([
            row("N", "2025-01-02 08:00:00", Some("2025-01-02 08:30:00")),
            row("A", "2025-01-02 08:30:00", Some("2025-01-02 09:00:00")),
            row("W", "2025-01-02 09:00:00", Some("2025-01-02 10:00:00")),
            row("C", "2025-01-02 10:00:00", Some("2025-01-02 13:00:00")),
            row("R", "2025-01-02 13:00:00", None)
        ])))
        .mount(server)
        .await;
}

fn next_answer_policy() -> helpdesk_sla_exporter::sla::Policy {
    use helpdesk_sla_exporter::sla::calendar::Calendar;
    use helpdesk_sla_exporter::sla::policy::TargetSpec;
    let spec = TargetSpec::new(
        Target::NextResponse,
        SignedDuration::from_hours(1),
        0.9,
        std::sync::Arc::new(Calendar::always()),
    );
    helpdesk_sla_exporter::sla::Policy {
        name: "p".into(),
        matcher: None,
        targets: vec![spec],
    }
}

#[tokio::test]
async fn postponed_to_open_starts_a_next_answer_cycle_by_default_and_resolving_voids_it() {
    use helpdesk_sla_exporter::sla::{State, evaluate};
    let server = MockServer::start().await;
    mount_postponed_ticket(&server).await;
    let now: Timestamp = "2025-01-03T00:00:00Z".parse().unwrap();

    // LiveAgent's rules (the default): a Next answer cycle from 10:00; the
    // resolution at 13:00, while open, leaves no record: not applicable.
    let p = provider(&server, &[Channel::Ticket], 10);
    let (pages, _) = sync(&p, Cursor::default()).await.unwrap();
    let item = &pages[0].items[0];
    assert_eq!(item.reopenings, [ts("2025-01-02 10:00:00")]);
    assert!(item.resolve_voids_answers);
    let out = evaluate(item, &next_answer_policy(), now);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].started_at, out[0].state),
        (ts("2025-01-02 10:00:00"), State::NotApplicable)
    );

    // Only the void rule off: the same cycle, breached (due 11:00, resolved 13:00).
    let options = liveagent::LiveAgentConfig {
        resolve_voids_answers: false,
        ..liveagent::LiveAgentConfig::default()
    };
    let p = provider(&server, &[Channel::Ticket], 10).with_options(options.clone());
    let (pages, _) = sync(&p, Cursor::default()).await.unwrap();
    let out = evaluate(&pages[0].items[0], &next_answer_policy(), now);
    assert_eq!(out[0].state, State::Breached);

    // Both off: Postponed -> Open is no reopening, so no cycle at all.
    let options = liveagent::LiveAgentConfig {
        next_answer_on_any_reopen: false,
        ..options
    };
    let p = provider(&server, &[Channel::Ticket], 10).with_options(options);
    let (pages, _) = sync(&p, Cursor::default()).await.unwrap();
    let item = &pages[0].items[0];
    assert!(item.reopenings.is_empty() && !item.resolve_voids_answers);
    assert!(evaluate(item, &next_answer_policy(), now).is_empty());
}

// --- The SLA log: LiveAgent's own verdict ---------------------------------

fn log_row(id: &str, conv: &str, sla_type: &str, due: &str, closed: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "conversationid": conv, "sla_type": sla_type,
        "date_created": "2025-01-02 08:00:00", "date_due": due, "date_closed": closed})
}

#[tokio::test]
async fn the_sla_log_is_compared_with_our_verdict() {
    use helpdesk_sla_exporter::sla::calendar::Calendar;
    use helpdesk_sla_exporter::sla::policy::TargetSpec;
    use helpdesk_sla_exporter::sla::{Policy, PolicySet};
    use helpdesk_sla_exporter::snapshot::{LabelCaps, evaluate_all};

    let server = MockServer::start().await;
    mount_departments(&server).await;
    let answered = |id: &str, changed: &str| {
        serde_json::json!({"id": id, "status": "A", "channel_type": "E", "tags": [],
            "date_created": "2025-01-02 08:00:00", "date_changed": changed})
    };
    tickets_since_page_of_ten("2025-01-02 00:00:00")
        .respond_with(json(serde_json::json!([
            answered("t1", "2025-01-02 08:30:00"),
            answered("t2", "2025-01-02 09:30:00")
        ])))
        .mount(&server)
        .await;
    let row = |conv: &str, status: &str, from: &str, to: Option<&str>| {
        serde_json::json!({"id": format!("{conv}{status}"), "conversation_id": conv, "status": status,
            "agent_id": "ag1", "date_from": from, "date_to": to})
    };
    Mock::given(path("/api/v3/tickets/history"))
        .respond_with(json(serde_json::json!([
            row(
                "t1",
                "N",
                "2025-01-02 08:00:00",
                Some("2025-01-02 08:30:00")
            ),
            row("t1", "A", "2025-01-02 08:30:00", None),
            row(
                "t2",
                "N",
                "2025-01-02 08:00:00",
                Some("2025-01-02 09:30:00")
            ),
            row("t2", "A", "2025-01-02 09:30:00", None)
        ])))
        .mount(&server)
        .await;
    // First sync: the log from the lookback start. t1 met (both agree); t2
    // met for LiveAgent (its level allowed 2h) but breached for our 1h
    // policy; a row of a type we cannot name is counted, not used.
    Mock::given(method("GET"))
        .and(path("/api/v3/grid/tickets/sla"))
        .and(header("apikey", KEY))
        .and(query_param(
            "_filters",
            r#"[["date_closed","D>=","2025-01-02 00:00:00"]]"#,
        ))
        .and(query_param("_sortField", "date_closed"))
        .and(query_param("_sortDir", "ASC"))
        .respond_with(json(serde_json::json!([
            log_row(
                "l1",
                "t1",
                "first_answer",
                "2025-01-02 09:00:00",
                "2025-01-02 08:30:00"
            ),
            log_row(
                "l9",
                "t2",
                "Q",
                "2025-01-02 09:00:00",
                "2025-01-02 09:00:00"
            ),
            log_row(
                "l2",
                "t2",
                "first_answer",
                "2025-01-02 10:00:00",
                "2025-01-02 09:30:00"
            )
        ])))
        .expect(1)
        .mount(&server)
        .await;
    // The next sync goes on from the newest `date_closed` read.
    Mock::given(method("GET"))
        .and(path("/api/v3/grid/tickets/sla"))
        .and(query_param(
            "_filters",
            r#"[["date_closed","D>=","2025-01-02 09:30:00"]]"#,
        ))
        .respond_with(json(serde_json::json!([log_row(
            "l2",
            "t2",
            "first_answer",
            "2025-01-02 10:00:00",
            "2025-01-02 09:30:00"
        )])))
        .expect(1)
        .mount(&server)
        .await;

    let p = provider(&server, &[Channel::Ticket], 10);
    let (pages, cursor) = sync(&p, Cursor::default()).await.unwrap();
    let rejected: Vec<_> = pages.iter().flat_map(|p| &p.rejected).collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        (rejected[0].stream, rejected[0].kind()),
        ("sla_log", "unknown_variant")
    );
    let items: Vec<Item> = pages.into_iter().flat_map(|p| p.items).collect();
    let t2 = items.iter().find(|i| i.id == "t2").unwrap();
    assert_eq!(
        t2.vendor_due,
        [VendorDue {
            target: Target::FirstResponse,
            due_at: ts("2025-01-02 10:00:00"),
            completed_at: Some(ts("2025-01-02 09:30:00")),
            breached: None
        }]
    );

    let policy = Policy {
        name: "p".into(),
        matcher: None,
        targets: vec![TargetSpec::new(
            Target::FirstResponse,
            SignedDuration::from_hours(1),
            0.9,
            std::sync::Arc::new(Calendar::always()),
        )],
    };
    let mut caps = LabelCaps {
        team_limit: 10,
        priority_limit: 10,
        ..LabelCaps::default()
    };
    let eval = evaluate_all(
        &items,
        &PolicySet::new(vec![policy]),
        ts("2025-01-02 12:00:00"),
        &mut caps,
    );
    let count = |result: &str| {
        eval.vendor
            .get(&("support".to_owned(), "ticket", "first_response", result))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(
        (count("agree_met"), count("exporter_breached_only")),
        (1, 1)
    );
    assert_eq!(count("agree_breached") + count("vendor_breached_only"), 0);

    // The second sync re-reads the boundary second and takes nothing twice.
    let (pages, _) = sync(&p, cursor).await.unwrap();
    assert!(pages.iter().all(|p| p.rejected.is_empty()));
}

// --- The tickets fallback: tickets created before the window ------------------

fn old_ticket(id: &str, created: &str, changed: &str, status: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "departmentid": "zbmc7d61", "status": status, "tags": [],
        "channel_type": "E", "date_created": created, "date_changed": changed, "date_due": null})
}

/// The documented API only: `date_changed` and `conversation_id` filters are
/// answered 400, as LiveAgent answers a filter it does not support.
async fn mount_strict(server: &MockServer) {
    mount_departments(server).await;
    let refused = || {
        ResponseTemplate::new(400).set_body_raw(
            r#"{"response":{"status":"ERROR","statuscode":400,"errormessage":"Unsupported filter"}}"#,
            "application/json",
        )
    };
    for field in ["date_changed", "conversation_id"] {
        Mock::given(wiremock::matchers::query_param_contains("_filters", field))
            .respond_with(refused())
            .with_priority(1)
            .mount(server)
            .await;
    }
    // Nothing was created inside either sync's window.
    Mock::given(method("GET"))
        .and(path("/api/v3/tickets"))
        .and(wiremock::matchers::query_param_contains(
            "_filters",
            r#"["date_created","D>=""#,
        ))
        .respond_with(json(serde_json::json!([])))
        .mount(server)
        .await;
}

fn strict_provider(server: &MockServer, now: &'static str) -> LiveAgentProvider {
    let metrics = ClientMetrics::new(&prometheus::Registry::new()).unwrap();
    let s = settings(server, &[Channel::Ticket], 10);
    let mut client = liveagent::client_settings(&s);
    client.retry.max_retries = 0;
    LiveAgentProvider::with_client_settings(s, client, metrics)
        .unwrap()
        .with_options(liveagent::LiveAgentConfig {
            sla_level_requests_share: 0.0,
            ..liveagent::LiveAgentConfig::default()
        })
        .with_clock(move || now.parse().unwrap())
}

/// Requests so far, by path and whether they carried `_filters`.
async fn requests(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let filters = r
                .url
                .query_pairs()
                .find(|(k, _)| k == "_filters")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            format!("{} {filters}", r.url.path())
        })
        .collect()
}

#[tokio::test]
async fn the_fallback_sees_old_tickets_that_change_resolve_or_reopen() {
    let server = MockServer::start().await;
    mount_strict(&server).await;
    // Sync 1 (window from 2025-01-02 00:00): two open tickets from December.
    // o1 last changed before the window (not emitted, but listed), o2 inside.
    open_pass("2025-01-02 00:00:00")
        .respond_with(json(serde_json::json!([
            old_ticket("o1", "2024-12-20 08:00:00", "2024-12-28 08:00:00", "C"),
            old_ticket("o2", "2024-12-25 08:00:00", "2025-01-02 10:00:00", "N"),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/tickets/o2/history"))
        .respond_with(json(serde_json::json!([
            {"id": "h1", "status": "N", "date_from": "2024-12-25 08:00:00", "date_to": null}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let p = strict_provider(&server, "2025-01-03T00:00:00Z");
    let (pages, cursor) = sync(&p, Cursor::default()).await.unwrap();
    let ids: Vec<&str> = pages
        .iter()
        .flat_map(|p| &p.items)
        .map(|i| i.id.as_str())
        .collect();
    assert_eq!(ids, ["o2"]);
    assert!(p.fallbacks().tickets_by_created && p.fallbacks().history_per_ticket);
    let state: LiveAgentCursor = serde_json::from_value(cursor.0.clone()).unwrap();
    assert_eq!(state.tickets.open_old, ["o1", "o2"]);
    assert_eq!(state.tickets.since, Some(ts("2025-01-02 23:55:00")));
    let first = requests(&server).await.len();

    // Sync 2, an hour later: o1 was resolved (it left the open statuses, so
    // it is read by id), r1 (resolved in November) was reopened, o2 did not
    // change.
    open_pass("2025-01-02 01:00:00")
        .respond_with(json(serde_json::json!([
            old_ticket("r1", "2024-11-01 08:00:00", "2025-01-03 00:30:00", "C"),
            old_ticket("o2", "2024-12-25 08:00:00", "2025-01-02 10:00:00", "N"),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/tickets/o1"))
        .respond_with(json(old_ticket(
            "o1",
            "2024-12-20 08:00:00",
            "2025-01-03 00:20:00",
            "R",
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/tickets/o1/history"))
        .respond_with(json(serde_json::json!([
            {"id": "h2", "status": "C", "date_from": "2024-12-20 08:00:00", "date_to": "2025-01-03 00:20:00"},
            {"id": "h3", "status": "R", "date_from": "2025-01-03 00:20:00", "date_to": null}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/tickets/r1/history"))
        .respond_with(json(serde_json::json!([
            {"id": "h4", "status": "N", "date_from": "2024-11-01 08:00:00", "date_to": "2024-11-01 09:00:00"},
            {"id": "h5", "status": "R", "date_from": "2024-11-01 09:00:00", "date_to": "2025-01-03 00:30:00"},
            {"id": "h6", "status": "C", "date_from": "2025-01-03 00:30:00", "date_to": null}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let p = strict_provider(&server, "2025-01-03T01:00:00Z");
    let (pages, cursor) = sync(&p, cursor).await.unwrap();
    let mut items: Vec<&Item> = pages.iter().flat_map(|p| &p.items).collect();
    items.sort_by(|a, b| a.id.cmp(&b.id));
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["o1", "r1"]);
    assert_eq!(items[0].resolutions, [ts("2025-01-03 00:20:00")]);
    assert_eq!(items[0].statuses.last().unwrap().status, Status::Resolved);
    assert_eq!(items[1].reopenings, [ts("2025-01-03 00:30:00")]);
    assert_eq!(items[1].statuses.last().unwrap().status, Status::Open);
    let state: LiveAgentCursor = serde_json::from_value(cursor.0).unwrap();
    assert_eq!(state.tickets.open_old, ["o2", "r1"]);
    assert_eq!(state.tickets.open_page, 0);
    // The cost of sync 2 in tickets requests: the refused date_changed
    // filter, one scan page, one open-pass page, one read by id, the refused
    // history filter, and one history per emitted ticket (the SLA log's
    // `/grid/tickets/sla` is not a tickets request).
    let all = requests(&server).await;
    let second: Vec<&String> = all[first..]
        .iter()
        .filter(|r| r.starts_with("/api/v3/tickets"))
        .collect();
    let count = |pred: &dyn Fn(&str) -> bool| second.iter().filter(|r| pred(r)).count();
    assert_eq!(count(&|r| r.contains("date_changed")), 1, "{second:?}");
    assert_eq!(
        count(&|r| r.contains(r#""date_created","D>=""#)),
        1,
        "{second:?}"
    );
    assert_eq!(count(&|r| r.contains(r#""status","IN""#)), 1, "{second:?}");
    assert_eq!(
        count(&|r| r.starts_with("/api/v3/tickets/o1 ")),
        1,
        "{second:?}"
    );
    assert_eq!(count(&|r| r.contains("conversation_id")), 1, "{second:?}");
    assert_eq!(count(&|r| r.ends_with("/history ")), 2, "{second:?}");
    assert_eq!(second.len(), 7, "{second:?}");
}

#[tokio::test]
async fn chats_and_calls_outside_their_filter_are_counted_and_kept() {
    let server = MockServer::start().await;
    mount_departments(&server).await;
    // The server ignores both `date_created` filters: an old chat and an old
    // call (before the lookback start, 2025-01-02 00:00) come back first.
    let chat = |id: &str, created: &str| {
        serde_json::json!({"id": id, "date_created": created, "status_date_started": created,
            "rstatus": "R", "status": "T", "departmentId": "zbmc7d61", "agentId": null})
    };
    Mock::given(path("/api/v3/chats"))
        .respond_with(json(serde_json::json!([
            chat("old", "2025-01-01 10:00:00"),
            chat("new", "2025-01-02 10:00:00")
        ])))
        .mount(&server)
        .await;
    let call = |id: &str, created: &str| serde_json::json!({"id": id, "type": "I", "dateCreated": created, "dateAnswered": null, "dateFinished": created});
    Mock::given(path("/api/v3/calls"))
        .respond_with(json(serde_json::json!([
            call("k-new", "2025-01-02 09:00:00"),
            call("k-old", "2025-01-01 09:00:00")
        ])))
        .mount(&server)
        .await;

    let (p, registry) = provider_with_metrics(&server, &[Channel::Chat, Channel::Call], 10);
    let (pages, _) = sync(&p, Cursor::default()).await.unwrap();
    let mut ids: Vec<&str> = pages
        .iter()
        .flat_map(|p| &p.items)
        .map(|i| i.id.as_str())
        .collect();
    ids.sort_unstable();
    // Nothing is lost: every row is still taken (old ones replace
    // themselves in the store), and the cost is counted.
    assert_eq!(ids, ["k-new", "k-old", "new", "old"]);
    assert!(p.fallbacks().scans_filtered_here);
    assert_eq!(fallbacks_counted(&registry, liveagent::CHATS_FILTER), 1);
    assert_eq!(fallbacks_counted(&registry, liveagent::CALLS_FILTER), 1);
    assert!(p.take_stream_reports().iter().all(|r| r.error.is_none()));
}
