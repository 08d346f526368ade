//! Freshdesk: the pure mapping on fixtures shaped like the documented
//! responses (no HTTP), then the provider against a wiremock server (`Link`
//! paging, `updated_since` windows past the 300-page cap, resume after a
//! restart, custom statuses that stop the SLA timer, 429 with `Retry-After`,
//! `X-RateLimit-Remaining`, check-source).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use helpdesk_sla_exporter::config::SourceConfig;
use helpdesk_sla_exporter::model::{Channel, Item, Status, StatusInterval, Target, VendorDue};
use helpdesk_sla_exporter::providers::freshdesk::map::{
    self as map, Groups, RawGroup, RawStatusChoice, RawStatusField, RawTicket, StopSet,
    TicketOutcome,
};
use helpdesk_sla_exporter::providers::freshdesk::{
    self, FreshdeskCursor, FreshdeskProvider, MAX_PAGES, Plan,
};
use helpdesk_sla_exporter::providers::{
    ClientMetrics, Cursor, Page, ProbeResult, Provider, ProviderError,
};
use helpdesk_sla_exporter::secret::Secret;
use jiff::{SignedDuration, Timestamp};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const KEY: &str = "fd-test-key-0123456789";
/// Basic base64("fd-test-key-0123456789:X").
const BASIC: &str = "Basic ZmQtdGVzdC1rZXktMDEyMzQ1Njc4OTpY";
/// The fixed clock minus the one-day lookback.
const SINCE: &str = "2025-02-28T00:00:00Z";
const NOW: &str = "2025-03-01T00:00:00Z";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/freshdesk/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn groups() -> Groups {
    let rows: Vec<RawGroup> = map::decode("/groups", &fixture("groups.json")).unwrap();
    Groups::from_rows(&rows)
}

fn stop_set() -> StopSet {
    let field: RawStatusField = map::decode(
        "/admin/ticket_fields/{id}",
        &fixture("ticket_field_status.json"),
    )
    .unwrap();
    let choices: Vec<RawStatusChoice> = field
        .choices
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
    StopSet::from_choices(&choices)
}

fn tickets(file: &str, stops: &StopSet) -> Vec<TicketOutcome> {
    let rows: Vec<RawTicket> = map::decode("/tickets", &fixture(file)).unwrap();
    rows.iter()
        .map(|t| map::ticket_item("desk", t, &groups(), stops, &Channel::ALL))
        .collect()
}

fn item(outcome: &TicketOutcome) -> &Item {
    match outcome {
        TicketOutcome::Item(item) => item,
        other => panic!("not an item: {other:?}"),
    }
}

fn iv(status: Status, start: &str, end: Option<&str>) -> StatusInterval {
    StatusInterval {
        status,
        start: ts(start),
        end: end.map(ts),
    }
}

fn due(target: Target, at: &str, done: Option<&str>, breached: Option<bool>) -> VendorDue {
    VendorDue {
        target,
        due_at: ts(at),
        completed_at: done.map(ts),
        breached,
    }
}

// ---- mapping, per endpoint ----

#[test]
fn groups_map_names_calendars_and_string_ids() {
    let g = groups();
    assert_eq!(g.team("501"), "Tier 1");
    assert_eq!(g.team("502"), "Billing", "an id sent as a string");
    assert_eq!(g.team("999"), "999", "unknown group: its id");
    assert_eq!(g.0["501"].business_hours_id.as_deref(), Some("7001"));
    assert_eq!(g.0["502"].business_hours_id, None);
}

#[test]
fn the_status_field_gives_the_stop_set_custom_statuses_included() {
    let stops = stop_set();
    let flags: Vec<(i64, bool)> = (2..=8).map(|c| (c, stops.stops(c))).collect();
    assert_eq!(
        flags,
        [
            (2, false),
            (3, true),
            (4, true),
            (5, true),
            (6, true),  // "Waiting on Customer": stops the timer
            (7, false), // "In Progress": runs
            (8, false), // not listed: a custom status counts as running
        ]
    );
}

#[test]
fn ticket_list_maps_stats_labels_and_freshdesk_due_dates() {
    let all = tickets("tickets.json", &stop_set());
    assert_eq!(all.len(), 10);

    // An email ticket: the requester wrote last, so a next-response cycle is open.
    let t = item(&all[0]);
    assert_eq!((t.id.as_str(), t.channel), ("101", Channel::Ticket));
    assert_eq!(t.team.as_deref(), Some("Tier 1"));
    assert_eq!(t.priority.as_deref(), Some("high"));
    assert_eq!(t.tags, ["vip", "type:Incident"]);
    assert_eq!(t.agent_replies, [ts("2025-02-28T09:40:00Z")]);
    assert_eq!(
        t.customer_messages,
        [ts("2025-02-28T09:00:00Z"), ts("2025-02-28T11:00:00Z")]
    );
    assert_eq!(t.statuses, [iv(Status::Open, "2025-02-28T09:00:00Z", None)]);
    assert_eq!(
        t.vendor_due,
        [
            due(
                Target::FirstResponse,
                "2025-02-28T10:00:00Z",
                Some("2025-02-28T09:40:00Z"),
                None
            ),
            due(Target::NextResponse, "2025-02-28T13:00:00Z", None, None),
            due(Target::Resolution, "2025-03-01T09:00:00Z", None, None),
        ]
    );
    assert_eq!(t.updated_at, ts("2025-02-28T11:00:00Z"));

    // Pending since 10:00 (open before it); the agent answered the 09:00 message.
    let p = item(&all[1]);
    assert_eq!(p.team.as_deref(), Some("Billing"));
    assert_eq!(p.priority.as_deref(), Some("low"));
    assert_eq!(
        p.statuses,
        [
            iv(
                Status::Open,
                "2025-02-28T08:00:00Z",
                Some("2025-02-28T10:00:00Z")
            ),
            iv(Status::Pending, "2025-02-28T10:00:00Z", None),
        ]
    );
    assert_eq!(
        p.agent_replies,
        [ts("2025-02-28T08:30:00Z"), ts("2025-02-28T10:00:00Z")]
    );

    // Custom status 6 stops the timer: pending since 08:00. No group, null tags.
    let c = item(&all[2]);
    assert_eq!(c.team, None);
    assert_eq!(c.tags, ["type:Question"]);
    assert_eq!(
        c.statuses[1],
        iv(Status::Pending, "2025-02-28T08:00:00Z", None)
    );
    assert!(c.agent_replies.is_empty());
    assert_eq!(
        c.vendor_due[0],
        due(
            Target::FirstResponse,
            "2025-02-28T08:00:00Z",
            None,
            Some(true)
        ),
        "fr_escalated is Freshdesk's verdict"
    );

    // Custom status 7 runs; outbound email is a ticket; urgent.
    let r = item(&all[3]);
    assert_eq!(r.priority.as_deref(), Some("urgent"));
    assert_eq!(r.channel, Channel::Ticket);
    assert_eq!(r.statuses, [iv(Status::Open, "2025-02-28T10:00:00Z", None)]);

    // Resolved after due_by, escalated: completed at the resolution.
    let res = item(&all[4]);
    assert_eq!(res.resolutions, [ts("2025-02-28T12:00:00Z")]);
    assert_eq!(
        res.vendor_due[1],
        due(
            Target::Resolution,
            "2025-02-28T10:00:00Z",
            Some("2025-02-28T12:00:00Z"),
            Some(true)
        )
    );

    // Closed: resolved at 09:00, closed at 12:10.
    let closed = item(&all[5]);
    assert_eq!(
        closed.statuses,
        [
            iv(
                Status::Open,
                "2025-02-28T08:00:00Z",
                Some("2025-02-28T09:00:00Z")
            ),
            iv(
                Status::Resolved,
                "2025-02-28T09:00:00Z",
                Some("2025-02-28T12:10:00Z")
            ),
            iv(Status::Closed, "2025-02-28T12:10:00Z", None),
        ]
    );
    assert_eq!(closed.resolutions, [ts("2025-02-28T09:00:00Z")]);

    // Reopened at 11:00 after a resolution at 10:00.
    let re = item(&all[6]);
    assert_eq!(re.resolutions, [ts("2025-02-28T10:00:00Z")]);
    assert_eq!(re.reopenings, [ts("2025-02-28T11:00:00Z")]);
    assert_eq!(
        re.vendor_due[1],
        due(
            Target::NextResponse,
            "2025-02-28T12:00:00Z",
            None,
            Some(true)
        )
    );

    // A chat ticket is a chat: picked up at the first response, ended when resolved.
    let chat = item(&all[7]);
    assert_eq!(chat.channel, Channel::Chat);
    assert_eq!(chat.answered_at, Some(ts("2025-02-28T12:01:00Z")));
    assert_eq!(chat.ended_at, Some(ts("2025-02-28T12:20:00Z")));
    assert_eq!(
        chat.vendor_due,
        [due(
            Target::Pickup,
            "2025-02-28T12:02:00Z",
            Some("2025-02-28T12:01:00Z"),
            None
        )]
    );

    // A phone ticket is a call, not answered yet.
    let call = item(&all[8]);
    assert_eq!(call.channel, Channel::Call);
    assert_eq!((call.answered_at, call.ended_at), (None, None));
    assert_eq!(call.vendor_due[0].target, Target::Answer);

    // Spam: the store forgets it.
    assert_eq!(all[9], TicketOutcome::Removed("110".into()));
}

#[test]
fn without_the_status_field_freshdesks_default_stop_set_applies() {
    let all = tickets("tickets.json", &StopSet::default());
    // Pending still stops; custom status 6 is unknown and counts as running.
    assert_eq!(item(&all[1]).statuses[1].status, Status::Pending);
    assert_eq!(
        item(&all[2]).statuses,
        [iv(Status::Open, "2025-02-28T07:00:00Z", None)]
    );
}

#[test]
fn channels_the_source_does_not_read_are_skipped() {
    let rows: Vec<RawTicket> = map::decode("/tickets", &fixture("tickets.json")).unwrap();
    let out = map::ticket_item("desk", &rows[7], &groups(), &stop_set(), &[Channel::Ticket]);
    assert_eq!(out, TicketOutcome::Skipped("108".into()));
}

#[test]
fn wrong_types_are_decode_errors_naming_the_field() {
    let body = br#"[{"id": 1, "status": "open", "created_at": "2025-02-28T09:00:00Z", "updated_at": "2025-02-28T09:00:00Z"}]"#;
    let err = map::decode::<Vec<RawTicket>>("/tickets", body).unwrap_err();
    assert!(err.to_string().contains("[0].status"), "{err}");
    // A time without an offset is refused, not guessed.
    let body = br#"[{"id": 1, "status": 2, "created_at": "2025-02-28 09:00:00", "updated_at": "2025-02-28T09:00:00Z"}]"#;
    let err = map::decode::<Vec<RawTicket>>("/tickets", body).unwrap_err();
    assert!(err.to_string().contains("[0].created_at"), "{err}");
}

/// Hand-computed outcomes of fixture tickets through the engine, 24x7
/// calendar, pause set `[pending]` (Freshdesk's `stop_sla_timer` statuses).
#[test]
fn listed_tickets_through_the_engine() {
    use helpdesk_sla_exporter::sla::{Calendar, Policy, State, TargetSpec, evaluate};

    let all = tickets("tickets.json", &stop_set());
    let always = Arc::new(Calendar::always());
    let spec = |t, mins| {
        let mut s = TargetSpec::new(t, SignedDuration::from_mins(mins), 0.9, always.clone());
        s.pause_statuses = vec![Status::Pending];
        s
    };
    let policy = |targets| Policy {
        name: "freshdesk".into(),
        matcher: None,
        targets,
    };
    let now = ts("2025-02-28T13:00:00Z");

    // 103: created 07:00, status 6 (stops the timer) since 08:00. Resolution
    // 4 h: 1 h ran 07:00-08:00, then paused: paused with 3 h left.
    let out = evaluate(
        item(&all[2]),
        &policy(vec![spec(Target::Resolution, 240)]),
        now,
    );
    assert_eq!((out[0].state, out[0].due_at), (State::Paused, None));

    // 104: status 7 (runs) since 10:10, created 10:00: 4 h resolution due 14:00, running.
    let out = evaluate(
        item(&all[3]),
        &policy(vec![spec(Target::Resolution, 240)]),
        now,
    );
    assert_eq!(out[0].state, State::Running);
    assert_eq!(out[0].due_at, Some(ts("2025-02-28T14:00:00Z")));

    // 101: first response 09:00 -> 09:40 against 1 h: met. Next response:
    // the requester wrote at 11:00, no reply yet, 1 h target: due 12:00,
    // breached by 13:00 (Freshdesk's nr_due_by is 13:00).
    let out = evaluate(
        item(&all[0]),
        &policy(vec![
            spec(Target::FirstResponse, 60),
            spec(Target::NextResponse, 60),
        ]),
        now,
    );
    let fr = out
        .iter()
        .find(|o| o.target == Target::FirstResponse)
        .unwrap();
    assert_eq!(fr.state, State::Met);
    let nr = out
        .iter()
        .find(|o| o.target == Target::NextResponse)
        .unwrap();
    assert_eq!(nr.state, State::Breached);
    assert_eq!(nr.due_at, Some(ts("2025-02-28T12:00:00Z")));

    // The same with `use_vendor_due`: Freshdesk's 13:00 is the deadline, and
    // at 12:59 the cycle still runs.
    let mut vendor = spec(Target::NextResponse, 60);
    vendor.use_vendor_due = true;
    let out = evaluate(
        item(&all[0]),
        &policy(vec![vendor]),
        ts("2025-02-28T12:59:00Z"),
    );
    assert_eq!(out[0].state, State::Running);
    assert_eq!(out[0].due_at, Some(ts("2025-02-28T13:00:00Z")));
}

// ---- the provider over HTTP ----

fn settings(server: &MockServer, page_size: u32) -> SourceConfig {
    let mut s = freshdesk::source_config(
        "desk",
        &format!("{}/api/v2", server.uri()),
        Secret::new(KEY),
        Plan::Enterprise,
    );
    s.page_size = page_size;
    s.initial_lookback = SignedDuration::from_hours(24);
    s.requests_per_minute = 6000;
    s.timeout = Duration::from_secs(5);
    s
}

/// `list_rpm`: the ticket list budget (`None`: effectively unlimited).
fn provider_with(
    server: &MockServer,
    page_size: u32,
    list_rpm: Option<u32>,
    paused: bool,
) -> FreshdeskProvider {
    let metrics = ClientMetrics::new(&prometheus::Registry::new()).unwrap();
    let s = settings(server, page_size);
    let config = freshdesk::FreshdeskConfig {
        domain: None,
        plan: Plan::Enterprise,
        conversations: false,
    };
    let (mut list, mut api) = config.client_settings(&s);
    list.requests_per_minute = list_rpm.unwrap_or(60_000);
    for c in [&mut list, &mut api] {
        c.retry.max_retries = if paused { 2 } else { 0 };
        if paused {
            *c = c.clone().without_io_timers();
        }
    }
    FreshdeskProvider::new(s, Plan::Enterprise, list, api, metrics)
        .unwrap()
        .with_clock(|| NOW.parse().unwrap())
}

fn provider(server: &MockServer) -> FreshdeskProvider {
    provider_with(server, 100, None, false)
}

async fn sync(
    p: &dyn Provider,
    cursor: Cursor,
    max: usize,
) -> Result<(Vec<Page>, Cursor), ProviderError> {
    common::sync_pages(p, cursor, max).await
}

fn body(file: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_raw(fixture(file), "application/json")
        .insert_header("x-ratelimit-total", "700")
        .insert_header("x-ratelimit-remaining", "690")
        .insert_header("x-ratelimit-used-currentrequest", "1")
}

async fn mount_lookups(server: &MockServer, times: u64) {
    Mock::given(method("GET"))
        .and(path("/api/v2/groups"))
        .and(header("authorization", BASIC))
        .and(query_param("per_page", "100"))
        .respond_with(body("groups.json"))
        .expect(times)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/admin/ticket_fields"))
        .and(header("authorization", BASIC))
        .respond_with(body("ticket_fields.json"))
        .expect(times)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/admin/ticket_fields/60000004"))
        .and(header("authorization", BASIC))
        .respond_with(body("ticket_field_status.json"))
        .expect(times)
        .mount(server)
        .await;
}

fn tickets_request(since: &str, page: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path("/api/v2/tickets"))
        .and(header("authorization", BASIC))
        .and(query_param("updated_since", since))
        .and(query_param("order_by", "updated_at"))
        .and(query_param("order_type", "asc"))
        .and(query_param("include", "stats"))
        .and(query_param("per_page", "100"))
        .and(query_param("page", page))
}

fn next_link(page: u32) -> String {
    format!(
        "<https://acme.freshdesk.com/api/v2/tickets?updated_since=2025-02-28T00%3A00%3A00Z&order_by=updated_at&order_type=asc&per_page=100&include=stats&page={page}>; rel=\"next\""
    )
}

fn cursor_of(page: &Page) -> FreshdeskCursor {
    serde_json::from_value(page.next.0.clone()).unwrap()
}

#[tokio::test]
async fn link_paging_to_the_end_then_the_next_sync_starts_at_the_newest_update() {
    let server = MockServer::start().await;
    mount_lookups(&server, 1).await;
    tickets_request(SINCE, "1")
        .respond_with(body("tickets.json").insert_header("link", next_link(2)))
        .expect(1)
        .mount(&server)
        .await;
    // Keyset: page 1 of a window a second before page 1's newest update
    // (12:30), not page 2 of the first window.
    tickets_request("2025-02-28T12:29:59Z", "1")
        .respond_with(body("tickets_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    // The next sync: a second before the newest updated_at read (111:
    // 12:45), in case updated_since is exclusive.
    tickets_request("2025-02-28T12:44:59Z", "1")
        .respond_with(ResponseTemplate::new(200).set_body_string("[]"))
        .expect(1)
        .mount(&server)
        .await;
    let p = provider(&server);
    let (pages, cursor) = sync(&p, Cursor::default(), 5).await.unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].items.len(), 9);
    assert_eq!(pages[0].removed, ["110"]);
    assert!(!pages[0].done);
    assert_eq!(
        (cursor_of(&pages[0]).window, cursor_of(&pages[0]).page),
        (Some(ts("2025-02-28T12:29:59Z")), 1)
    );
    let progress = pages[0].progress.unwrap();
    assert_eq!(
        (progress.from, progress.position),
        (ts(SINCE), ts("2025-02-28T12:30:00Z"))
    );
    assert!(pages[1].done);
    assert_eq!(pages[1].items[0].id, "111");
    let end: FreshdeskCursor = serde_json::from_value(cursor.0.clone()).unwrap();
    assert_eq!(
        end,
        FreshdeskCursor {
            window: None,
            page: 0,
            position: Some(ts("2025-02-28T12:45:00Z")),
            from: None,
        }
    );
    let (again, _) = sync(&p, cursor, 2).await.unwrap();
    assert!(again[0].done && again[0].items.is_empty());
    server.verify().await;
}

#[tokio::test]
async fn a_restart_mid_sync_resumes_at_the_stored_window_and_page() {
    let server = MockServer::start().await;
    mount_lookups(&server, 2).await;
    tickets_request(SINCE, "1")
        .respond_with(body("tickets.json").insert_header("link", next_link(2)))
        .expect(1)
        .mount(&server)
        .await;
    tickets_request("2025-02-28T12:29:59Z", "1")
        .respond_with(body("tickets_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    let first = provider(&server)
        .fetch_page(&Cursor::default())
        .await
        .unwrap();
    // The process dies here; a new one starts from the stored cursor.
    let stored = serde_json::to_string(&first.next).unwrap();
    let restarted = provider(&server);
    let cursor: Cursor = serde_json::from_str(&stored).unwrap();
    let (pages, _) = sync(&restarted, cursor, 3).await.unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].items[0].id, "111");
    server.verify().await;
}

/// A ticket list that behaves like Freshdesk's: `updated_since` filters,
/// `updated_at` ascending, `per_page`, `Link` only when another page exists,
/// and page 301 refused with 400.
struct CappedList {
    /// `updated_at` per ticket id (index + 1).
    updated: std::sync::Mutex<Vec<Timestamp>>,
    /// After this many requests, ticket `.1` (1-based id) is updated at
    /// `.2`: a change made while the sync pages.
    touch: Option<(usize, usize, Timestamp)>,
    /// Whether `updated_since` keeps tickets updated at that very instant
    /// (Freshdesk does not say).
    inclusive: bool,
    requests: Arc<AtomicUsize>,
    over_cap: Arc<AtomicUsize>,
    first_pages: Arc<AtomicUsize>,
}

impl Respond for CappedList {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let mut updated = self.updated.lock().unwrap();
        if let Some((after, id, at)) = self.touch
            && n == after + 1
        {
            updated[id - 1] = at;
        }
        let q = |k: &str| {
            req.url
                .query_pairs()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.into_owned())
        };
        let page: usize = q("page").unwrap().parse().unwrap();
        let per_page: usize = q("per_page").unwrap().parse().unwrap();
        let since: Timestamp = q("updated_since")
            .expect("never rely on the 30-day default")
            .parse()
            .unwrap();
        if page > MAX_PAGES as usize {
            self.over_cap.fetch_add(1, Ordering::SeqCst);
            return ResponseTemplate::new(400).set_body_string(
                r#"{"description":"Validation failed","errors":[{"field":"page","message":"Must be a number between 1 and 300","code":"invalid_value"}]}"#,
            );
        }
        if page == 1 {
            self.first_pages.fetch_add(1, Ordering::SeqCst);
        }
        let mut matching: Vec<(usize, Timestamp)> = updated
            .iter()
            .enumerate()
            .filter(|(_, u)| {
                if self.inclusive {
                    **u >= since
                } else {
                    **u > since
                }
            })
            .map(|(i, u)| (i + 1, *u))
            .collect();
        matching.sort_by_key(|(id, u)| (*u, *id));
        let rows: Vec<serde_json::Value> = matching
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|(id, u)| {
                serde_json::json!({
                    "id": id, "status": 2, "priority": 1, "source": 1, "group_id": null,
                    "tags": [], "spam": false, "created_at": "2025-02-20T00:00:00Z",
                    "updated_at": u.to_string(), "due_by": null, "fr_due_by": null,
                    "fr_escalated": false, "is_escalated": false, "stats": null
                })
            })
            .collect();
        let mut response = ResponseTemplate::new(200).set_body_json(rows);
        if matching.len() > page * per_page {
            response = response.insert_header(
                "link",
                format!(
                    "<https://acme.freshdesk.com/api/v2/tickets?page={}>; rel=\"next\"",
                    page + 1
                ),
            );
        }
        response
    }
}

#[tokio::test]
async fn a_backfill_past_the_300_page_cap_advances_the_window() {
    for inclusive in [true, false] {
        backfill_past_the_cap(inclusive).await;
    }
}

/// 650 tickets, two sharing each minute after the first (ticket k is
/// updated k/2 minutes after SINCE plus one), read one a page: paged by
/// number that is 650 pages, past the cap. By keyset each page starts a
/// window a second before the newest update read; a page that gets no
/// further than its window's start (the second ticket of a minute) goes on by
/// page number. Ticket 1 costs 3 requests (its window, its re-read, page 2),
/// each of the 324 pairs 3 more: 975 requests, none past page 3, every
/// ticket read, whether or not `updated_since` keeps its own instant.
async fn backfill_past_the_cap(inclusive: bool) {
    let server = MockServer::start().await;
    mount_lookups(&server, 1).await;
    let start = ts(SINCE);
    let updated: Vec<Timestamp> = (1..=650)
        .map(|k| start + SignedDuration::from_mins(1 + k / 2))
        .collect();
    let (requests, over_cap, first_pages, pages) =
        capped_sync(&server, updated, None, inclusive).await;
    assert_eq!(requests, 975, "inclusive: {inclusive}");
    assert_eq!(over_cap, 0, "never asked for page 301");
    assert_eq!(first_pages, 326, "a window per minute, and one to start");
    assert_eq!(pages.len(), 975);
    assert_eq!(
        read_ids(&pages),
        (1..=650).collect::<Vec<_>>(),
        "every ticket read (inclusive: {inclusive})"
    );
    assert!(pages.iter().all(|p| cursor_of(p).page <= 3));
    server.verify().await;
}

/// Runs one sync against a [`CappedList`] read one ticket a page; returns
/// requests, requests past the cap, first pages, and the pages.
async fn capped_sync(
    server: &MockServer,
    updated: Vec<Timestamp>,
    touch: Option<(usize, usize, Timestamp)>,
    inclusive: bool,
) -> (usize, usize, usize, Vec<Page>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let over_cap = Arc::new(AtomicUsize::new(0));
    let first_pages = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path("/api/v2/tickets"))
        .and(header("authorization", BASIC))
        .respond_with(CappedList {
            updated: std::sync::Mutex::new(updated),
            touch,
            inclusive,
            requests: requests.clone(),
            over_cap: over_cap.clone(),
            first_pages: first_pages.clone(),
        })
        .mount(server)
        .await;
    let p = provider_with(server, 1, None, false);
    let (pages, _) = sync(&p, Cursor::default(), 2000).await.unwrap();
    (
        requests.load(Ordering::SeqCst),
        over_cap.load(Ordering::SeqCst),
        first_pages.load(Ordering::SeqCst),
        pages,
    )
}

fn read_ids(pages: &[Page]) -> Vec<u32> {
    let mut ids: Vec<u32> = pages
        .iter()
        .flat_map(|p| p.items.iter().map(|i| i.id.parse().unwrap()))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Ten tickets a minute apart, read one a page; after the third request
/// ticket 2, already read, changes and moves to the end of the list. Paged by
/// number, every later row would shift up one place and ticket 4 would be
/// skipped; by keyset every ticket is read, ticket 2 twice.
#[tokio::test]
async fn a_ticket_changed_while_paging_shifts_nothing_past_the_sync() {
    let server = MockServer::start().await;
    mount_lookups(&server, 1).await;
    let start = ts(SINCE);
    let updated: Vec<Timestamp> = (1..=10)
        .map(|k| start + SignedDuration::from_mins(k))
        .collect();
    let touched = start + SignedDuration::from_mins(30);
    let (_, over_cap, _, pages) = capped_sync(&server, updated, Some((3, 2, touched)), true).await;
    assert_eq!(over_cap, 0);
    assert_eq!(read_ids(&pages), (1..=10).collect::<Vec<_>>());
    let last = pages.last().unwrap();
    assert!(last.done);
    assert!(
        pages
            .iter()
            .flat_map(|p| &p.items)
            .any(|i| i.id == "2" && i.updated_at == touched),
        "the change to ticket 2 was read"
    );
    server.verify().await;
}

#[tokio::test]
async fn page_301_is_a_400_and_fails_the_sync_without_moving_the_cursor() {
    // A stored cursor from an older version pointing past the cap: Freshdesk
    // refuses it; the error is typed and the cursor is the caller's to keep.
    let server = MockServer::start().await;
    mount_lookups(&server, 1).await;
    Mock::given(path("/api/v2/tickets"))
        .and(query_param("page", "301"))
        .respond_with(ResponseTemplate::new(400))
        .expect(1)
        .mount(&server)
        .await;
    let cursor = FreshdeskCursor {
        window: Some(ts(SINCE)),
        page: 301,
        position: None,
        from: Some(ts(SINCE)),
    };
    let err = provider(&server)
        .fetch_page(&Cursor(serde_json::to_value(cursor).unwrap()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Status { code: 400, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn without_the_status_field_the_default_stop_set_applies() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v2/groups"))
        .respond_with(body("groups.json"))
        .mount(&server)
        .await;
    Mock::given(path("/api/v2/admin/ticket_fields"))
        .respond_with(ResponseTemplate::new(403))
        .expect(1)
        .mount(&server)
        .await;
    tickets_request(SINCE, "1")
        .respond_with(body("tickets.json"))
        .mount(&server)
        .await;
    let page = provider(&server)
        .fetch_page(&Cursor::default())
        .await
        .unwrap();
    let by_id = |id: &str| page.items.iter().find(|i| i.id == id).unwrap();
    assert_eq!(by_id("102").statuses[1].status, Status::Pending);
    assert_eq!(by_id("103").statuses[0].status, Status::Open);
    server.verify().await;
}

#[tokio::test]
async fn custom_statuses_that_stop_the_timer_come_from_the_status_field() {
    let server = MockServer::start().await;
    mount_lookups(&server, 1).await;
    tickets_request(SINCE, "1")
        .respond_with(body("tickets.json"))
        .mount(&server)
        .await;
    let p = provider(&server);
    let page = p.fetch_page(&Cursor::default()).await.unwrap();
    let by_id = |id: &str| page.items.iter().find(|i| i.id == id).unwrap();
    assert_eq!(
        by_id("103").statuses.last().unwrap().status,
        Status::Pending
    );
    assert_eq!(by_id("104").statuses.last().unwrap().status, Status::Open);
    assert_eq!(by_id("101").team.as_deref(), Some("Tier 1"));
    // The lookups are cached for an hour: a second page reads none again.
    p.fetch_page(&Cursor::default()).await.unwrap();
    server.verify().await;
}

#[tokio::test]
async fn a_malformed_row_is_quarantined_not_the_page() {
    let server = MockServer::start().await;
    mount_lookups(&server, 1).await;
    let mut rows: Vec<serde_json::Value> =
        serde_json::from_slice(&fixture("tickets.json")).unwrap();
    rows[1]["created_at"] = serde_json::json!(1740729600);
    tickets_request(SINCE, "1")
        .respond_with(ResponseTemplate::new(200).set_body_json(&rows))
        .mount(&server)
        .await;
    let page = provider(&server)
        .fetch_page(&Cursor::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 8);
    assert_eq!(page.rejected.len(), 1);
    let r = &page.rejected[0];
    assert_eq!(
        (r.stream, r.id.as_deref(), r.field.as_str(), r.kind()),
        ("tickets", Some("102"), "created_at", "invalid_type")
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_waits_for_retry_after() {
    let server = MockServer::start().await;
    mount_lookups(&server, 1).await;
    // Freshdesk's 429 carries Retry-After and no X-RateLimit-* headers.
    Mock::given(path("/api/v2/tickets"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "37")
                .set_body_string(
                    r#"{"message":"You have exceeded the limit of requests per minute"}"#,
                ),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    tickets_request(SINCE, "1")
        .respond_with(body("tickets_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    let p = provider_with(&server, 100, Some(60), true);
    let start = tokio::time::Instant::now();
    let page = p.fetch_page(&Cursor::default()).await.unwrap();
    assert!(page.done);
    assert_eq!(start.elapsed(), Duration::from_secs(37));
    server.verify().await;
}

#[tokio::test(start_paused = true)]
async fn x_ratelimit_remaining_below_a_requests_cost_holds_the_next_request() {
    let server = MockServer::start().await;
    mount_lookups(&server, 1).await;
    tickets_request(SINCE, "1")
        .respond_with(
            body("tickets.json")
                .insert_header("link", next_link(2))
                .insert_header("x-ratelimit-remaining", "2")
                .insert_header("x-ratelimit-used-currentrequest", "3"),
        )
        .expect(1)
        .mount(&server)
        .await;
    tickets_request("2025-02-28T12:29:59Z", "1")
        .respond_with(body("tickets_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    let p = provider_with(&server, 100, Some(60), true);
    let start = tokio::time::Instant::now();
    let (pages, _) = sync(&p, Cursor::default(), 3).await.unwrap();
    assert_eq!(pages.len(), 2);
    // 2 credits left, 3 needed: the rest of the minute, instead of the
    // budget's 1 s spacing and a 429.
    assert_eq!(start.elapsed(), Duration::from_secs(60));
    server.verify().await;
}

#[tokio::test(start_paused = true)]
async fn the_plans_list_budget_spaces_ticket_list_requests() {
    let server = MockServer::start().await;
    mount_lookups(&server, 1).await;
    tickets_request(SINCE, "1")
        .respond_with(body("tickets_page2.json"))
        .mount(&server)
        .await;
    // Growth: 5 list requests a minute, one every 12 s (lookups are not spaced).
    let p = provider_with(
        &server,
        100,
        Some(Plan::Growth.ticket_list_requests_per_minute()),
        true,
    );
    let start = tokio::time::Instant::now();
    for _ in 0..3 {
        p.fetch_page(&Cursor::default()).await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::from_secs(24));
}

#[tokio::test]
async fn errors_are_typed_and_never_show_the_key() {
    let server = MockServer::start().await;
    mount_lookups(&server, 1).await;
    Mock::given(path("/api/v2/tickets"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_string(r#"{"code":"invalid_credentials","message":"You have to be logged in to perform this action."}"#),
        )
        .mount(&server)
        .await;
    let err = provider(&server)
        .fetch_page(&Cursor::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Auth { code: 401, .. }),
        "{err}"
    );
    let text = format!("{err} {err:?}");
    assert!(!text.contains(KEY), "{text}");
    assert!(!text.contains("ZmQtdGVzdC1rZXkt"), "{text}");
}

#[tokio::test]
async fn check_source_probes_each_endpoint_the_embed_and_the_plan() {
    let server = MockServer::start().await;
    mount_lookups(&server, 1).await;
    Mock::given(path("/api/v2/tickets"))
        .and(query_param("per_page", "1"))
        .and(query_param("include", "stats"))
        .and(query_param("updated_since", "2025-02-28T23:00:00Z"))
        .respond_with(body("tickets_page2.json").insert_header("x-ratelimit-total", "200"))
        .expect(1)
        .mount(&server)
        .await;
    let probes = provider(&server).probes().await;
    let found: Vec<(&str, ProbeResult, bool)> = probes
        .iter()
        .map(|p| (p.name.as_str(), p.result, p.required))
        .collect();
    assert_eq!(
        found,
        [
            (
                "GET /tickets?updated_since=…&include=stats",
                ProbeResult::Works,
                true
            ),
            ("include=stats on the ticket list", ProbeResult::Works, true),
            (
                "plan enterprise (700 credits/min)",
                ProbeResult::Refused,
                true
            ),
            ("GET /groups", ProbeResult::Works, false),
            (
                "GET /admin/ticket_fields/{id} (status)",
                ProbeResult::Works,
                false
            ),
        ]
    );
    assert!(
        probes[2].detail.contains("only 200"),
        "{}",
        probes[2].detail
    );
    assert_eq!(
        probes[4].detail,
        "statuses that stop the SLA timer: Closed (5), Pending (3), Resolved (4), Waiting on Customer (6)"
    );
    server.verify().await;
}

/// Freshdesk's due instants against the exporter's outcomes in the shared
/// vendor comparison (`helpdesk_sla_vendor_comparison_items`), 24x7,
/// `pause_statuses: [pending]`, first response 50m, next response 1h,
/// resolution 4h, at 2025-02-28T13:00Z.
#[test]
fn freshdesk_due_dates_feed_the_agreement_comparison() {
    use common::vendor::{compared, policy};

    let items: Vec<Item> = tickets("tickets.json", &stop_set())
        .iter()
        .filter_map(|o| match o {
            TicketOutcome::Item(i) => Some((**i).clone()),
            _ => None,
        })
        .collect();
    let targets = [
        (Target::FirstResponse, 50),
        (Target::NextResponse, 60),
        (Target::Resolution, 240),
    ];
    let now = ts("2025-02-28T13:00:00Z");
    // first_response: 101 (40m), 102 (30m), 104 (10m), 105 (15m), 106 (20m),
    // 107 (30m) met on both sides; 103 never answered, open 07:00-08:00 = 60m
    // > 50m before its stopping status, and fr_escalated: both breached.
    // next_response: 107's requester wrote at 11:00 after a reopening, no
    // reply by 13:00 (due 12:00), nr_escalated: both breached; 101's nr_due_by
    // is 13:00, not passed: no vendor verdict yet.
    // resolution: 105 resolved after 26h, is_escalated: both breached; 106
    // resolved after 1h, before due_by 16:00: both met; the others are open
    // before their due_by: undecided. Chats and calls have no pickup/answer
    // target here.
    let expected = [
        ("ticket first_response agree_breached", 1),
        ("ticket first_response agree_met", 6),
        ("ticket next_response agree_breached", 1),
        ("ticket resolution agree_breached", 1),
        ("ticket resolution agree_met", 1),
    ]
    .map(|(k, n)| (k.to_owned(), n));
    assert_eq!(compared(&items, &policy(&targets, false), now), expected);
    // Targets measured by Freshdesk's own instants are not compared with themselves.
    assert!(compared(&items, &policy(&targets, true), now).is_empty());
}

async fn mount_levels(server: &MockServer) {
    for (p, file) in [
        ("/api/v2/sla_policies", "sla_policies.json"),
        ("/api/v2/groups", "groups.json"),
        ("/api/v2/business_hours", "business_hours.json"),
        ("/api/v2/business_hours/7000", "business_hours_7000.json"),
        ("/api/v2/business_hours/7001", "business_hours_7001.json"),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .and(header("authorization", BASIC))
            .respond_with(body(file))
            .expect(1)
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn levels_import_policies_per_priority_on_each_groups_calendar() {
    let server = MockServer::start().await;
    mount_levels(&server).await;
    let yaml = provider(&server).levels_config().await.unwrap().unwrap();
    server.verify().await;
    let body: String = yaml
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    // Calendars: Rails zones mapped, 12-hour times in 24-hour form, a full
    // Saturday (12:00 am-11:59 pm) as two halves of the day, yearly holidays.
    let calendars = r#"calendars:
  - name: fd-general-working-hours-7000
    time_zone: "America/New_York"
    hours:
      monday: ["08:00-17:00"]
      tuesday: ["08:00-17:00"]
      wednesday: ["08:00-17:00"]
      thursday: ["08:00-17:00"]
      friday: ["08:00-17:00"]
    holidays: ["*-07-04", "*-11-22", "*-12-25", "*-01-01"]
  - name: fd-chennai-desk-7001
    time_zone: "Asia/Kolkata"
    hours:
      monday: ["09:00-18:30"]
      tuesday: ["09:00-18:30"]
      wednesday: ["09:00-18:30"]
      thursday: ["09:00-18:30"]
      friday: ["09:00-18:30"]
      saturday: ["00:00-12:00", "12:00-24:00"]
    holidays: ["*-01-26", "*-08-15", "*-10-02"]
policies:
"#;
    assert!(body.starts_with(calendars), "{body}");
    // VIP (groups 501 on Chennai, "502" on the default; Incident; email and
    // portal): urgent is in calendar time, so one policy for both teams.
    assert!(body.contains(
        r#"  - name: "VIP customers / urgent"
    match: {priorities: ["urgent"], channels: [ticket], teams: ["Tier 1", "Billing"], tags: ["type:Incident"]}
    targets:
      first_response: {within: 15m, objective: 0.95, pause_statuses: [pending]}
      next_response: {within: 30m, objective: 0.95, pause_statuses: [pending], use_vendor_due: true}
      resolution: {within: 4h, objective: 0.95, pause_statuses: [pending], use_vendor_due: true}
"#
    ), "{body}");
    // High is in business hours: Billing on the default calendar, Tier 1 on Chennai's.
    assert!(body.contains(
        r#"  - name: "VIP customers / high / fd-chennai-desk-7001"
    match: {priorities: ["high"], channels: [ticket], teams: ["Tier 1"], tags: ["type:Incident"]}
    targets:
      first_response: {within: 1h, objective: 0.95, calendar: fd-chennai-desk-7001, pause_statuses: [pending]}
      next_response: {within: 1h, objective: 0.95, calendar: fd-chennai-desk-7001, pause_statuses: [pending], use_vendor_due: true}
      resolution: {within: 8h, objective: 0.95, calendar: fd-chennai-desk-7001, pause_statuses: [pending], use_vendor_due: true}
"#
    ), "{body}");
    // The default policy: Tier 1 on its group's calendar first, then every
    // other ticket of the priority on the default calendar; no next response
    // target where Freshdesk has none.
    assert!(body.ends_with(
        r#"  - name: "Default SLA Policy / low / fd-chennai-desk-7001"
    match: {priorities: ["low"], teams: ["Tier 1"]}
    targets:
      first_response: {within: 1d, objective: 0.95, calendar: fd-chennai-desk-7001, pause_statuses: [pending]}
      resolution: {within: 3d, objective: 0.95, calendar: fd-chennai-desk-7001, pause_statuses: [pending], use_vendor_due: true}
  - name: "Default SLA Policy / low / fd-general-working-hours-7000"
    match: {priorities: ["low"]}
    targets:
      first_response: {within: 1d, objective: 0.95, calendar: fd-general-working-hours-7000, pause_statuses: [pending]}
      resolution: {within: 3d, objective: 0.95, calendar: fd-general-working-hours-7000, pause_statuses: [pending], use_vendor_due: true}
"#
    ), "{body}");
    assert!(!body.contains("Retired"), "inactive policies are left out");
    assert!(
        yaml.contains("sources [\"1\", \"2\"]"),
        "the unmatched condition is said"
    );

    // The output is config the validation accepts as it is.
    let config = format!(
        "sources:\n  - {{name: desk, type: freshdesk, base_url: 'https://acme.freshdesk.com/api/v2', api_key_env: TEST_API_KEY}}\n{yaml}"
    );
    let env = |n: &str| (n == "TEST_API_KEY").then(|| "k".to_owned());
    let parsed = helpdesk_sla_exporter::config::parse(
        &config,
        std::path::Path::new("levels.yml"),
        std::path::Path::new("."),
        &env,
    )
    .unwrap();
    // VIP: urgent 1 + high, medium, low 2 each = 7; default: 4 priorities x 2 calendars = 8.
    assert_eq!(parsed.policies.policies().len(), 15);
}

#[tokio::test]
async fn levels_refuse_an_unknown_time_zone_naming_it() {
    let server = MockServer::start().await;
    let mut detail: serde_json::Value =
        serde_json::from_slice(&fixture("business_hours_7001.json")).unwrap();
    detail["time_zone"] = serde_json::json!("Atlantis");
    for (p, file) in [
        ("/api/v2/sla_policies", "sla_policies.json"),
        ("/api/v2/groups", "groups.json"),
        ("/api/v2/business_hours", "business_hours.json"),
        ("/api/v2/business_hours/7000", "business_hours_7000.json"),
    ] {
        Mock::given(path(p))
            .respond_with(body(file))
            .mount(&server)
            .await;
    }
    Mock::given(path("/api/v2/business_hours/7001"))
        .respond_with(ResponseTemplate::new(200).set_body_json(detail))
        .mount(&server)
        .await;
    let err = provider(&server).levels_config().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("business hours 7001: unknown time zone \"Atlantis\""),
        "{err}"
    );
}

#[tokio::test]
async fn conversations_complete_next_response_cycles_only_where_stats_show_them() {
    use helpdesk_sla_exporter::sla::{Calendar, Policy, State, TargetSpec, evaluate};

    let server = MockServer::start().await;
    mount_lookups(&server, 2).await;
    tickets_request(SINCE, "1")
        .respond_with(body("tickets.json"))
        .expect(2)
        .mount(&server)
        .await;
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&fixture("conversations_101.json")).unwrap();
    Mock::given(path("/api/v2/tickets/101/conversations"))
        .and(header("authorization", BASIC))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&rows[..3]).insert_header(
            "link",
            "<https://acme.freshdesk.com/api/v2/tickets/101/conversations?per_page=100&page=2>; rel=\"next\"",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v2/tickets/101/conversations"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&rows[3..]))
        .expect(1)
        .mount(&server)
        .await;
    // 102 and 105 also had the requester write after the first response;
    // 107 was deleted since it was listed (404): it keeps its stats timeline.
    for id in ["102", "105"] {
        Mock::given(path(format!("/api/v2/tickets/{id}/conversations")))
            .respond_with(ResponseTemplate::new(200).set_body_string("[]"))
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(path("/api/v2/tickets/107/conversations"))
        .respond_with(ResponseTemplate::new(404).set_body_string(r#"{"code":"access_denied"}"#))
        .expect(1)
        .mount(&server)
        .await;
    let p = provider(&server).with_conversations(true);
    let page = p.fetch_page(&Cursor::default()).await.unwrap();
    let gone = page.items.iter().find(|i| i.id == "107").unwrap();
    assert_eq!(
        gone.agent_replies,
        [ts("2025-02-28T08:30:00Z"), ts("2025-02-28T09:30:00Z")]
    );
    let t = page.items.iter().find(|i| i.id == "101").unwrap();
    // Incoming 10:05 and 11:00 are messages; the replies at 09:40 and 10:20
    // are replies; the private note (10:10) and the forward (10:30) are neither.
    assert_eq!(
        t.customer_messages,
        [
            ts("2025-02-28T09:00:00Z"),
            ts("2025-02-28T10:05:00Z"),
            ts("2025-02-28T11:00:00Z")
        ]
    );
    assert_eq!(
        t.agent_replies,
        [ts("2025-02-28T09:40:00Z"), ts("2025-02-28T10:20:00Z")]
    );
    // Next response 1h, 24x7, at 13:00: 10:05 -> 10:20 met (15m); 11:00 open,
    // due 12:00: breached.
    let spec = TargetSpec::new(
        Target::NextResponse,
        SignedDuration::from_hours(1),
        0.9,
        Arc::new(Calendar::always()),
    );
    let policy = Policy {
        name: "nr".into(),
        matcher: None,
        targets: vec![spec],
    };
    let out = evaluate(t, &policy, ts("2025-02-28T13:00:00Z"));
    let states: Vec<(u32, State)> = out.iter().map(|o| (o.cycle, o.state)).collect();
    assert_eq!(states, [(1, State::Met), (2, State::Breached)]);

    // Off (the default): no conversation request at all.
    let before = server.received_requests().await.unwrap().len();
    let page = provider(&server)
        .fetch_page(&Cursor::default())
        .await
        .unwrap();
    let after = server.received_requests().await.unwrap();
    // One ticket page and the three lookups of the new provider.
    assert_eq!(after.len() - before, 4);
    let t = page.items.iter().find(|i| i.id == "101").unwrap();
    assert_eq!(t.agent_replies, [ts("2025-02-28T09:40:00Z")]);
    server.verify().await;
}

/// The real binary with a Freshdesk source: the sync loop, the store, the
/// evaluation and `/metrics` give the same families as for the other
/// vendors, Freshdesk's due dates in the shared vendor comparison (the
/// numbers of `freshdesk_due_dates_feed_the_agreement_comparison`, at the
/// same fixed time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_serves_freshdesk_metrics_end_to_end() {
    let server = MockServer::start().await;
    for (p, file) in [
        ("/api/v2/tickets", "tickets.json"),
        ("/api/v2/groups", "groups.json"),
        ("/api/v2/admin/ticket_fields", "ticket_fields.json"),
        (
            "/api/v2/admin/ticket_fields/60000004",
            "ticket_field_status.json",
        ),
    ] {
        Mock::given(path(p))
            .and(header("authorization", "Basic ZTJlLWtleTpY"))
            .respond_with(body(file))
            .mount(&server)
            .await;
    }
    let dir = common::scratch("freshdesk-e2e");
    std::fs::write(
        dir.join("config.yml"),
        format!(
            "sources:\n  - name: desk\n    type: freshdesk\n    base_url: {}/api/v2\n    api_key_env: FRESHDESK_API_KEY\n    channels: [ticket]\n    poll_interval: 10m\npolicies:\n  - name: freshdesk\n    targets:\n      first_response: {{within: 50m, objective: 0.9, pause_statuses: [pending]}}\n      next_response: {{within: 1h, objective: 0.9, pause_statuses: [pending]}}\n      resolution: {{within: 4h, objective: 0.9, pause_statuses: [pending]}}\n",
            server.uri()
        ),
    )
    .unwrap();
    let d = dir.clone();
    let exporter = tokio::task::spawn_blocking(move || {
        common::Exporter::start(
            &[
                "--config.file",
                d.join("config.yml").to_str().unwrap(),
                "--storage.path",
                d.join("data").to_str().unwrap(),
                "--debug.fixed-time",
                "2025-02-28T13:00:00Z",
            ],
            // base64("e2e-key:X") = ZTJlLWtleTpY
            &[("FRESHDESK_API_KEY", "e2e-key")],
            &d,
        )
    })
    .await
    .unwrap();
    let e = &exporter;
    let metrics = tokio::task::block_in_place(|| {
        e.wait_metrics(|b| b.contains("helpdesk_sla_vendor_comparison_items{source=\"desk\""))
    });
    assert!(
        metrics.contains("helpdesk_sla_source_up{source=\"desk\"} 1"),
        "{metrics}"
    );
    let comparison: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("helpdesk_sla_vendor_comparison_items{"))
        .collect();
    let series = |target: &str, result: &str, n: u32| {
        format!(
            "helpdesk_sla_vendor_comparison_items{{source=\"desk\",channel=\"ticket\",target=\"{target}\",result=\"{result}\"}} {n}"
        )
    };
    assert_eq!(
        comparison,
        [
            series("first_response", "agree_breached", 1),
            series("first_response", "agree_met", 6),
            series("next_response", "agree_breached", 1),
            series("resolution", "agree_breached", 1),
            series("resolution", "agree_met", 1),
        ],
        "{metrics}"
    );
    // Teams are group names, priorities Freshdesk's; no ticket id in a label.
    assert!(metrics.contains("team=\"Tier 1\""), "{metrics}");
    assert!(metrics.contains("priority=\"urgent\""), "{metrics}");
    assert!(!metrics.contains("\"101\""));
    assert!(!e.log_text().contains("e2e-key"));
    drop(exporter);
    let _ = std::fs::remove_dir_all(&dir);
}
