//! Jira Service Management: the pure mapping on fixtures shaped like Atlassian's
//! documented responses (no HTTP), then the provider against wiremock (JQL,
//! `nextPageToken` paging, changelog paging, resume after restart, 429).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use helpdesk_sla_exporter::config::SourceConfig;
use helpdesk_sla_exporter::model::{Channel, Item, Status, StatusInterval, Target, VendorDue};
use helpdesk_sla_exporter::providers::jira_sm::map::{
    self as map, Fields, RawChangelogPage, RawField, RawIssue, RawMyself, RawSearchPage,
};
use helpdesk_sla_exporter::providers::jira_sm::{
    self as jsm, AuthKind, JsmConfig, JsmCursor, JsmProvider, TeamField,
};
use helpdesk_sla_exporter::providers::{ClientMetrics, Cursor, Page, Provider, ProviderError};
use helpdesk_sla_exporter::secret::Secret;
use helpdesk_sla_exporter::sla::{Calendar, Policy, PolicySet, TargetSpec};
use helpdesk_sla_exporter::snapshot::{LabelCaps, evaluate_all};
use jiff::{SignedDuration, Timestamp};
use tokio::time::Instant;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "jsm-test-token-0123456789";
const EMAIL: &str = "sla-bot@acme.example";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/jira_sm/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn config() -> JsmConfig {
    JsmConfig {
        site: Some("acme.atlassian.net".into()),
        email: Some(EMAIL.into()),
        auth: AuthKind::Basic,
        projects: vec!["ITS".into(), "HR".into()],
        team_field: Some(TeamField::RequestType),
        sla_fields: vec![
            ("Time to first response".into(), Target::FirstResponse),
            ("time to resolution".into(), Target::Resolution),
            ("Time to nothing".into(), Target::Assignment),
        ],
        statuses: vec![],
        deployment: jsm::Deployment::Cloud,
        reconcile_interval: jsm::DEFAULT_RECONCILE_INTERVAL,
    }
}

fn fields() -> Fields {
    let rows: Vec<RawField> = map::decode("/rest/api/3/field", &fixture("fields.json")).unwrap();
    map::resolve_fields(&rows, &config())
}

/// Every issue of a search page fixture, by key, mapped with the given histories
/// (the embedded changelog when `None`) and, `with_comments`, its comments (the
/// embedded ones, or the `/comment` page fixtures where the search cut them).
fn issues(
    name: &str,
    full: Option<&HashMap<&str, Vec<map::RawHistory>>>,
    with_comments: bool,
) -> HashMap<String, Item> {
    let page: RawSearchPage = map::decode("/rest/api/3/search/jql", &fixture(name)).unwrap();
    let f = fields();
    page.issues
        .into_iter()
        .map(|v| {
            let issue: RawIssue = serde_json::from_value(v).unwrap();
            let histories = full
                .and_then(|m| m.get(issue.id.as_str()).cloned())
                .unwrap_or_else(|| issue.changelog.clone().unwrap().histories);
            let comments = match issue.fields.comment.clone() {
                _ if !with_comments => Vec::new(),
                Some(c) if !c.is_truncated() => c.comments,
                _ => full_comments(&issue.id),
            };
            let item = map::issue_item("jsm", &issue, &histories, &comments, &f, &[]);
            (issue.key.clone(), item)
        })
        .collect()
}

/// The `/comment` page fixtures of one issue, concatenated.
fn full_comments(id: &str) -> Vec<map::RawComment> {
    (1..=2)
        .flat_map(|n| {
            let page: map::RawCommentPage =
                map::decode("/comment", &fixture(&format!("comments-{id}-page{n}.json"))).unwrap();
            page.comments
        })
        .collect()
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

// --- Mapping, one test per endpoint -------------------------------------------

#[test]
fn field_list_finds_sla_fields_by_schema_not_by_name() {
    let f = fields();
    // A text field also named "Time to resolution" comes first in the list and
    // is not taken; names match case-insensitively.
    assert_eq!(
        f.sla,
        [
            ("customfield_10030".to_owned(), Target::FirstResponse),
            ("customfield_10031".to_owned(), Target::Resolution)
        ]
    );
    assert_eq!(f.missing_sla, ["Time to nothing"]);
    assert_eq!(f.team.as_deref(), Some("customfield_10010"));
    let mut c = config();
    c.team_field = Some(TeamField::Organizations);
    let rows: Vec<RawField> = map::decode("/rest/api/3/field", &fixture("fields.json")).unwrap();
    assert_eq!(
        map::resolve_fields(&rows, &c).team.as_deref(),
        Some("customfield_10002")
    );
}

#[test]
fn myself_gives_the_zone_jql_dates_are_read_in() {
    let me: RawMyself = map::decode("/rest/api/3/myself", &fixture("myself.json")).unwrap();
    assert_eq!(me.time_zone.as_deref(), Some("Europe/Berlin"));
}

#[test]
fn search_page_maps_timeline_team_priority_and_jsm_verdicts() {
    let all = issues("search-page1.json", None, true);
    let t = &all["ITS-1"];
    assert_eq!(t.id, "10001");
    assert_eq!(t.channel, Channel::Ticket);
    // `+0100` offsets: 09:00 Berlin is 08:00 UTC.
    assert_eq!(t.created_at, ts("2026-03-02T08:00:00Z"));
    assert_eq!(t.updated_at, ts("2026-03-02T12:00:00Z"));
    assert_eq!(t.team.as_deref(), Some("Get IT help"));
    assert_eq!(t.priority.as_deref(), Some("High"));
    assert_eq!(
        t.statuses,
        [
            iv(Status::Open, "2026-03-02T08:00Z", Some("2026-03-02T09:30Z")),
            iv(
                Status::Answered,
                "2026-03-02T09:30Z",
                Some("2026-03-02T10:00Z")
            ),
            iv(Status::Open, "2026-03-02T10:00Z", Some("2026-03-02T12:00Z")),
            iv(Status::Resolved, "2026-03-02T12:00Z", None),
        ]
    );
    assert_eq!(t.agent_replies, [ts("2026-03-02T09:30Z")]);
    assert_eq!(
        t.customer_messages,
        [ts("2026-03-02T08:00Z"), ts("2026-03-02T10:00Z")]
    );
    assert_eq!(t.resolutions, [ts("2026-03-02T12:00Z")]);
    assert!(t.reopenings.is_empty());
    assert_eq!(t.first_assigned_at, Some(ts("2026-03-02T08:15Z")));
    // A met first response and a breached (completed) resolution cycle.
    assert_eq!(
        t.vendor_due,
        [
            due(
                Target::FirstResponse,
                "2026-03-02T12:00Z",
                Some("2026-03-02T09:30Z"),
                Some(false)
            ),
            due(
                Target::Resolution,
                "2026-03-02T10:00Z",
                Some("2026-03-02T12:00Z"),
                Some(true)
            ),
        ]
    );

    let t = &all["ITS-2"];
    assert_eq!(t.team.as_deref(), Some("Report a bug"));
    assert_eq!(t.priority, None);
    assert_eq!(t.first_assigned_at, None);
    assert_eq!(t.statuses, [iv(Status::Open, "2026-03-03T07:00Z", None)]);
    // The ongoing breached cycle gives its breach instant; the paused one (no
    // breachTime) gives nothing, so the engine keeps its own clock.
    assert_eq!(
        t.vendor_due,
        [due(
            Target::FirstResponse,
            "2026-03-03T11:00Z",
            None,
            Some(true)
        )]
    );
}

#[test]
fn changelog_endpoint_completes_a_truncated_changelog() {
    let p1: RawChangelogPage =
        map::decode("/changelog", &fixture("changelog-10003-page1.json")).unwrap();
    let p2: RawChangelogPage =
        map::decode("/changelog", &fixture("changelog-10003-page2.json")).unwrap();
    assert_eq!((p1.is_last, p2.is_last), (Some(false), Some(true)));
    let page: RawSearchPage =
        map::decode("/rest/api/3/search/jql", &fixture("search-page2.json")).unwrap();
    let its3: RawIssue = serde_json::from_value(page.issues[0].clone()).unwrap();
    assert!(its3.changelog.as_ref().unwrap().is_truncated());

    // With only the two newest entries, the first reply is lost...
    let cut = issues("search-page2.json", None, false);
    assert!(cut["ITS-3"].agent_replies.is_empty());
    // ...with the whole changelog it is there, with the resolution and reopening.
    let full: HashMap<&str, Vec<map::RawHistory>> =
        HashMap::from([("10003", [p1.values, p2.values].concat())]);
    let all = issues("search-page2.json", Some(&full), true);
    let t = &all["ITS-3"];
    assert_eq!(t.agent_replies, [ts("2026-03-04T08:30Z")]);
    assert_eq!(t.resolutions, [ts("2026-03-04T09:00Z")]);
    assert_eq!(t.reopenings, [ts("2026-03-04T11:00Z")]);
    // The reporter's public comment at 10:30Z (resolved then) is a customer
    // message; the agent's public comment at 08:30Z is the reply the changelog
    // also shows, and their internal note at 08:40Z is neither.
    assert_eq!(
        t.customer_messages,
        [
            ts("2026-03-04T08:00Z"),
            ts("2026-03-04T10:30Z"),
            ts("2026-03-04T11:00Z")
        ]
    );
    assert_eq!(
        t.statuses.last(),
        Some(&iv(Status::Open, "2026-03-04T11:00Z", None))
    );
    // Several cycles: the ongoing second resolution cycle is JSM's verdict.
    assert_eq!(
        t.vendor_due,
        [
            due(
                Target::FirstResponse,
                "2026-03-04T12:00Z",
                Some("2026-03-04T08:30Z"),
                Some(false)
            ),
            // Ongoing and not breached yet: no verdict.
            due(Target::Resolution, "2026-03-04T19:00Z", None, None),
        ]
    );
    // An SLA without cycles and a null SLA field give nothing; no request type.
    let t = &all["HR-4"];
    assert!(t.vendor_due.is_empty());
    assert_eq!(t.team, None);
    assert_eq!(t.statuses, [iv(Status::New, "2026-03-05T10:00Z", None)]);
    // A public agent comment without a status change is the first reply.
    assert_eq!(t.agent_replies, [ts("2026-03-05T10:05Z")]);
    assert_eq!(t.customer_messages, [ts("2026-03-05T10:00Z")]);
}

#[test]
fn public_comments_are_replies_or_customer_messages_internal_notes_are_neither() {
    let user = |acc: &str| map::RawUser {
        account_id: Some(acc.into()),
        ..map::RawUser::default()
    };
    let c = |at: &str, author: Option<map::RawUser>, public: Option<bool>| map::RawComment {
        id: None,
        author,
        created: ts(at),
        jsd_public: public,
    };
    let created = ts("2026-03-02T08:00Z");
    let reporter = user("cust");
    let comments = [
        c("2026-03-02T09:00Z", Some(user("agent")), Some(true)),
        c("2026-03-02T08:30Z", Some(user("agent")), Some(false)),
        c("2026-03-02T10:00Z", Some(reporter.clone()), Some(true)),
        c("2026-03-02T10:10Z", Some(user("agent")), None),
        c("2026-03-02T10:20Z", None, Some(true)),
        c("2026-03-02T07:00Z", Some(user("other-agent")), Some(true)),
    ];
    let (replies, messages) = map::comment_events(created, Some(&reporter), &comments);
    // The comment before creation (clock skew) counts at creation.
    assert_eq!(replies, [created, ts("2026-03-02T09:00Z")]);
    assert_eq!(messages, [ts("2026-03-02T10:00Z")]);
    // Without a reporter no author can be told apart: nothing is invented.
    assert_eq!(
        map::comment_events(created, None, &comments),
        (vec![], vec![])
    );
    // Data Center names users by key, not accountId.
    let dc = |key: &str| map::RawUser {
        key: Some(key.into()),
        name: Some(key.into()),
        ..map::RawUser::default()
    };
    let dc_comments = [c(
        "2026-03-02T09:00Z",
        Some(dc("JIRAUSER10100")),
        Some(true),
    )];
    assert_eq!(
        map::comment_events(created, Some(&dc("JIRAUSER10100")), &dc_comments).1,
        [ts("2026-03-02T09:00Z")]
    );
}

#[test]
fn statuses_endpoint_gives_categories_to_statuses_in_the_changelog() {
    let rows: Vec<map::RawStatus> =
        map::decode("/rest/api/3/status", &fixture("statuses.json")).unwrap();
    let categories = map::status_categories(&rows);
    assert_eq!(categories["fixed in production"], "done");
    assert_eq!(categories["triage"], "indeterminate");
    let issue: RawIssue = serde_json::from_value(serde_json::json!({
        "id": "10009", "key": "ITS-9",
        "fields": {"created": "2026-03-02T09:00:00.000+0100", "updated": "2026-03-02T12:00:00.000+0100",
                   "status": {"name": "Closed", "statusCategory": {"key": "done"}}},
        "changelog": {"startAt": 0, "maxResults": 2, "total": 2, "histories": [
            {"id": "2", "created": "2026-03-02T12:00:00.000+0100", "items": [{"field": "status", "fieldId": "status",
                "from": "10004", "fromString": "Fixed in production", "to": "6", "toString": "Closed"}]},
            {"id": "1", "created": "2026-03-02T11:00:00.000+0100", "items": [{"field": "status", "fieldId": "status",
                "from": "10001", "fromString": "Waiting for support", "to": "10004", "toString": "Fixed in production"}]}
        ]}
    }))
    .unwrap();
    let histories = issue.changelog.clone().unwrap().histories;
    let mut f = fields();
    // Without categories a custom done status is `other`: the resolution
    // would come an hour late, at Closed.
    let item = map::issue_item("jsm", &issue, &histories, &[], &f, &[]);
    assert_eq!(item.resolutions, [ts("2026-03-02T11:00Z")]);
    f.status_categories = categories;
    let item = map::issue_item("jsm", &issue, &histories, &[], &f, &[]);
    assert_eq!(item.resolutions, [ts("2026-03-02T10:00Z")]);
    assert_eq!(
        item.statuses,
        [
            iv(Status::Open, "2026-03-02T08:00Z", Some("2026-03-02T10:00Z")),
            iv(
                Status::Resolved,
                "2026-03-02T10:00Z",
                Some("2026-03-02T11:00Z")
            ),
            iv(Status::Closed, "2026-03-02T11:00Z", None),
        ]
    );
}

#[test]
fn status_names_overrides_and_categories() {
    let o = vec![("escalated to vendor".to_owned(), Status::Pending)];
    assert_eq!(
        map::status("Waiting for customer", None, &o),
        Status::Answered
    );
    assert_eq!(
        map::status("Escalated to vendor", None, &o),
        Status::Pending
    );
    assert_eq!(
        map::status("Fixed in prod", Some("done"), &o),
        Status::Resolved
    );
    assert_eq!(map::status("Triage", None, &o), Status::Other);
}

// --- The provider over HTTP -------------------------------------------------

fn source(server: &MockServer, page_size: u32) -> SourceConfig {
    let mut s = SourceConfig::with_defaults(
        "jsm",
        &jsm::SOURCE_TYPE,
        &server.uri(),
        Secret::new(TOKEN),
        Arc::new(config()),
    );
    s.page_size = page_size;
    s.requests_per_minute = 6000;
    s.timeout = Duration::from_secs(5);
    s
}

fn provider(server: &MockServer) -> JsmProvider {
    let metrics = ClientMetrics::new(&prometheus::Registry::new()).unwrap();
    let s = source(server, 2);
    let mut client = jsm::client_settings(&s, &config());
    client.retry.max_retries = 1;
    JsmProvider::with_client_settings(s, config(), client.without_io_timers(), metrics)
        .unwrap()
        .with_clock(|| "2026-03-06T00:00:00Z".parse().unwrap())
}

fn json_file(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(name), "application/json")
}

fn basic() -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}"));
    format!("Basic {b}")
}

/// The first sync's JQL: 30 days before 2026-03-06T00:00Z, minus a minute,
/// written in Europe/Berlin (+01:00).
const FIRST_JQL: &str =
    "project in (\"ITS\", \"HR\") AND updated >= \"2026-02-04 00:59\" ORDER BY updated ASC";

async fn mount_meta(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/rest/api/3/field"))
        .and(header("authorization", basic().as_str()))
        .respond_with(json_file("fields.json"))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/myself"))
        .respond_with(json_file("myself.json"))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/status"))
        .respond_with(json_file("statuses.json"))
        .mount(server)
        .await;
}

async fn mount_search(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/rest/api/3/search/jql"))
        .and(query_param("jql", FIRST_JQL))
        .and(query_param("expand", "changelog"))
        .and(query_param("maxResults", "2"))
        .and(query_param(
            "fields",
            "created,updated,status,priority,assignee,resolutiondate,reporter,comment,customfield_10030,customfield_10031,customfield_10010",
        ))
        .and(query_param_is_missing("nextPageToken"))
        .respond_with(json_file("search-page1.json"))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/3/search/jql"))
        .and(query_param("jql", FIRST_JQL))
        .and(query_param("nextPageToken", "CAEaAggD"))
        .respond_with(json_file("search-page2.json"))
        .mount(server)
        .await;
    for (start, file) in [
        ("0", "comments-10003-page1.json"),
        ("2", "comments-10003-page2.json"),
    ] {
        Mock::given(method("GET"))
            .and(path("/rest/api/3/issue/10003/comment"))
            .and(query_param("startAt", start))
            .and(query_param("maxResults", "100"))
            .and(query_param("orderBy", "created"))
            .respond_with(json_file(file))
            .mount(server)
            .await;
    }
    for (start, file) in [
        ("0", "changelog-10003-page1.json"),
        ("2", "changelog-10003-page2.json"),
    ] {
        Mock::given(method("GET"))
            .and(path("/rest/api/3/issue/10003/changelog"))
            .and(query_param("startAt", start))
            .respond_with(json_file(file))
            .mount(server)
            .await;
    }
}

async fn count(server: &MockServer, p: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == p)
        .count()
}

async fn sync(p: &dyn Provider, cursor: Cursor) -> Result<(Vec<Page>, Cursor), ProviderError> {
    common::sync_pages(p, cursor, 20).await
}

fn ids(page: &Page) -> Vec<&str> {
    page.items.iter().map(|i| i.id.as_str()).collect()
}

#[tokio::test]
async fn pages_to_the_end_with_next_page_token_and_full_changelogs() {
    let server = MockServer::start().await;
    mount_meta(&server).await;
    mount_search(&server).await;
    let p = provider(&server);
    let (pages, cursor) = sync(&p, Cursor::default()).await.unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(ids(&pages[0]), ["10001", "10002"]);
    assert!(!pages[0].done);
    assert_eq!(ids(&pages[1]), ["10003", "10004"]);
    assert!(pages[1].done);
    // The truncated changelog of ITS-3 was read in full (two pages).
    assert_eq!(pages[1].items[0].agent_replies, [ts("2026-03-04T08:30Z")]);
    assert_eq!(count(&server, "/rest/api/3/issue/10003/changelog").await, 2);
    // Its comments were cut too (1 of 3): two `/comment` pages; the others
    // came whole with the search.
    assert_eq!(count(&server, "/rest/api/3/issue/10003/comment").await, 2);
    assert_eq!(
        pages[1].items[0].customer_messages,
        [
            ts("2026-03-04T08:00Z"),
            ts("2026-03-04T10:30Z"),
            ts("2026-03-04T11:00Z")
        ]
    );
    // 3 look-ups, 2 searches, 2 changelog and 2 comment pages: nothing per
    // issue for the issues whose comments came whole.
    assert_eq!(server.received_requests().await.unwrap().len(), 9);
    // Field list and zone once per process, one search per page.
    assert_eq!(count(&server, "/rest/api/3/field").await, 1);
    assert_eq!(count(&server, "/rest/api/3/myself").await, 1);
    assert_eq!(count(&server, "/rest/api/3/search/jql").await, 2);
    // The next sync starts at the newest `updated` read (HR-4, 10:05Z).
    let c: JsmCursor = serde_json::from_value(cursor.0).unwrap();
    assert_eq!(
        c,
        JsmCursor {
            since: Some(ts("2026-03-05T10:05:00Z")),
            // The first sync starts the reconciliation clock without a listing.
            reconciled_at: Some(ts("2026-03-06T00:00:00Z")),
            ..JsmCursor::default()
        }
    );
    assert!(pages.iter().all(|p| p.retain_only.is_none()));
    assert_eq!(count_listings(&server).await, 0);
    let progress = pages[1].progress.as_ref().unwrap();
    assert_eq!(progress.from, ts("2026-02-04T00:00Z"));
    assert_eq!(progress.position, ts("2026-03-05T10:05:00Z"));
    assert!(pages.iter().all(|p| p.rejected.is_empty()));
}

#[tokio::test]
async fn resumes_from_a_stored_cursor_after_a_restart() {
    let server = MockServer::start().await;
    mount_meta(&server).await;
    mount_search(&server).await;
    let first = provider(&server)
        .fetch_page(&Cursor::default())
        .await
        .unwrap();
    let stored: JsmCursor = serde_json::from_value(first.next.0.clone()).unwrap();
    assert_eq!(stored.page_token.as_deref(), Some("CAEaAggD"));
    assert_eq!(stored.from, Some(ts("2026-02-04T00:00Z")));
    server.reset().await;
    mount_meta(&server).await;
    mount_search(&server).await;

    // A new process: the same window, from the stored token, no first page again.
    let (pages, _) = sync(&provider(&server), first.next).await.unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!(ids(&pages[0]), ["10003", "10004"]);
    let searches: Vec<_> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/rest/api/3/search/jql")
        .collect();
    assert_eq!(searches.len(), 1);
    assert!(
        searches[0]
            .url
            .query()
            .unwrap()
            .contains("nextPageToken=CAEaAggD")
    );
    // 3 look-ups (fields, statuses, myself) + 1 search + 2 changelog pages
    // + 2 comment pages.
    assert_eq!(server.received_requests().await.unwrap().len(), 8);
}

#[tokio::test]
async fn next_sync_overlaps_the_newest_change_by_a_minute() {
    let server = MockServer::start().await;
    mount_meta(&server).await;
    // 10:05Z is 11:05 in Berlin; one minute earlier.
    let jql =
        "project in (\"ITS\", \"HR\") AND updated >= \"2026-03-05 11:04\" ORDER BY updated ASC";
    Mock::given(path("/rest/api/3/search/jql"))
        .and(query_param("jql", jql))
        .respond_with(json_file("search-empty.json"))
        .expect(1)
        .mount(&server)
        .await;
    let cursor = JsmCursor {
        since: Some(ts("2026-03-05T10:05:00Z")),
        // The last listing was an hour ago: none is due.
        reconciled_at: Some(ts("2026-03-05T23:00:00Z")),
        ..JsmCursor::default()
    };
    let page = provider(&server)
        .fetch_page(&Cursor(serde_json::to_value(&cursor).unwrap()))
        .await
        .unwrap();
    assert!(page.done && page.items.is_empty());
    let next: JsmCursor = serde_json::from_value(page.next.0).unwrap();
    assert_eq!(next, cursor, "an empty sync keeps its position");
}

#[tokio::test]
async fn an_expired_page_token_restarts_the_window() {
    let server = MockServer::start().await;
    mount_meta(&server).await;
    Mock::given(path("/rest/api/3/search/jql"))
        .and(query_param("nextPageToken", "stale"))
        .respond_with(ResponseTemplate::new(400))
        .expect(1)
        .mount(&server)
        .await;
    mount_search(&server).await;
    let cursor = JsmCursor {
        from: Some(ts("2026-02-04T00:00Z")),
        page_token: Some("stale".into()),
        ..JsmCursor::default()
    };
    let page = provider(&server)
        .fetch_page(&Cursor(serde_json::to_value(&cursor).unwrap()))
        .await
        .unwrap();
    assert_eq!(ids(&page), ["10001", "10002"]);
}

#[tokio::test(start_paused = true)]
async fn a_429_waits_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    mount_meta(&server).await;
    Mock::given(path("/rest/api/3/search/jql"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "7")
                .insert_header("X-RateLimit-Reset", "2026-03-06T00:01Z")
                .insert_header("RateLimit-Reason", "jira-burst-based"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_search(&server).await;
    let p = provider(&server);
    let start = Instant::now();
    let page = p.fetch_page(&Cursor::default()).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(7));
    assert_eq!(ids(&page), ["10001", "10002"]);
    assert_eq!(count(&server, "/rest/api/3/search/jql").await, 2);
}

#[tokio::test]
async fn a_malformed_issue_is_rejected_not_the_page() {
    let server = MockServer::start().await;
    mount_meta(&server).await;
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("search-page1.json")).unwrap();
    body["issues"][1]["fields"]["created"] = "2026-03-03 07:00".into();
    body["nextPageToken"] = serde_json::Value::Null;
    body["isLast"] = true.into();
    Mock::given(path("/rest/api/3/search/jql"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json"))
        .mount(&server)
        .await;
    let page = provider(&server)
        .fetch_page(&Cursor::default())
        .await
        .unwrap();
    assert_eq!(ids(&page), ["10001"]);
    assert!(page.done);
    assert_eq!(page.rejected.len(), 1);
    assert_eq!(page.rejected[0].stream, "issues");
    assert_eq!(page.rejected[0].id.as_deref(), Some("10002"));
    assert_eq!(page.rejected[0].field, "fields.created");
}

#[tokio::test]
async fn bearer_auth_sends_the_token_alone() {
    let server = MockServer::start().await;
    Mock::given(path("/rest/api/3/field"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    let metrics = ClientMetrics::new(&prometheus::Registry::new()).unwrap();
    let mut c = config();
    c.auth = AuthKind::Bearer;
    c.email = None;
    let s = source(&server, 2);
    let client = jsm::client_settings(&s, &c);
    let p = JsmProvider::with_client_settings(s, c, client, metrics).unwrap();
    let err = p.fetch_page(&Cursor::default()).await.unwrap_err();
    assert_eq!(err.reason(), "auth");
    assert!(!err.to_string().contains(TOKEN));
}

// --- JSM's verdict against ours ----------------------------------------------

/// Every fixture issue, the truncated one with its full changelog.
fn all_fixture_items() -> Vec<Item> {
    let p1: RawChangelogPage =
        map::decode("/changelog", &fixture("changelog-10003-page1.json")).unwrap();
    let p2: RawChangelogPage =
        map::decode("/changelog", &fixture("changelog-10003-page2.json")).unwrap();
    let full: HashMap<&str, Vec<map::RawHistory>> =
        HashMap::from([("10003", [p1.values, p2.values].concat())]);
    let mut items: Vec<Item> = issues("search-page1.json", None, true)
        .into_values()
        .collect();
    items.extend(issues("search-page2.json", Some(&full), true).into_values());
    items.sort_by(|a, b| a.id.cmp(&b.id));
    items
}

fn jsm_policy(vendor: bool) -> PolicySet {
    let spec = |target, hours| {
        let mut s = TargetSpec::new(
            target,
            SignedDuration::from_hours(hours),
            0.9,
            Arc::new(Calendar::always()),
        );
        s.use_vendor_due = vendor;
        s
    };
    PolicySet::new(vec![Policy {
        name: "jsm".into(),
        matcher: None,
        targets: vec![spec(Target::FirstResponse, 2), spec(Target::Resolution, 4)],
    }])
}

#[test]
fn jsm_cycles_feed_the_agreement_comparison() {
    let items = all_fixture_items();
    let now = ts("2026-03-06T00:00:00Z");
    let mut caps = LabelCaps {
        team_limit: 10,
        priority_limit: 10,
        ..LabelCaps::default()
    };
    let eval = evaluate_all(&items, &jsm_policy(false), now, &mut caps);
    let got: Vec<(&str, &str, u64)> = eval.vendor.iter().map(|(k, n)| (k.2, k.3, *n)).collect();
    // first_response: ITS-1 (reply after 1h30m of 2h; JSM met), ITS-3 (30m; JSM
    // met) agree met; ITS-2 (no reply; JSM breached) agrees breached.
    // resolution: ITS-1 resolved at exactly our 4h (met) but JSM's 2h goal
    // breached; ITS-3 open since its reopening (ours 38h > 4h) and past JSM's
    // breach instant 19:00Z: both breached. ITS-2's paused cycle and HR-4 give
    // no JSM verdict.
    assert_eq!(
        got,
        [
            ("first_response", "agree_breached", 1),
            ("first_response", "agree_met", 2),
            ("resolution", "agree_breached", 1),
            ("resolution", "vendor_breached_only", 1),
        ]
    );
    // Targets measured by JSM's own instants are not compared with themselves.
    let eval = evaluate_all(&items, &jsm_policy(true), now, &mut caps);
    assert!(eval.vendor.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_429_with_only_x_ratelimit_reset_waits_until_the_reset() {
    let server = MockServer::start().await;
    mount_meta(&server).await;
    // Jira's format has minutes only: two minutes ahead, rounded down, is a
    // wait of 60-120 s from the real clock the client reads.
    let reset = (Timestamp::now() + SignedDuration::from_mins(2))
        .strftime("%Y-%m-%dT%H:%MZ")
        .to_string();
    Mock::given(path("/rest/api/3/search/jql"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-RateLimit-Reset", reset.as_str())
                .insert_header("RateLimit-Reason", "jira-burst-based"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_search(&server).await;
    let start = Instant::now();
    let page = provider(&server)
        .fetch_page(&Cursor::default())
        .await
        .unwrap();
    let waited = start.elapsed();
    assert!(
        (Duration::from_secs(59)..=Duration::from_secs(120)).contains(&waited),
        "{waited:?}"
    );
    assert_eq!(ids(&page), ["10001", "10002"]);
}

// --- check-source ----------------------------------------------------------

#[tokio::test]
async fn probes_report_auth_projects_sla_fields_and_the_search() {
    let server = MockServer::start().await;
    mount_meta(&server).await;
    Mock::given(path("/rest/api/3/project/ITS"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"self":"https://acme.atlassian.net/rest/api/3/project/10000","id":"10000","key":"ITS","name":"IT Support","projectTypeKey":"service_desk","simplified":false,"style":"classic","isPrivate":false}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(path("/rest/api/3/project/HR"))
        .respond_with(ResponseTemplate::new(404).set_body_raw(
            r#"{"errorMessages":["No project could be found with key 'HR'."],"errors":{}}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    Mock::given(path("/rest/api/3/search/jql"))
        .and(query_param("maxResults", "1"))
        .and(query_param("jql", FIRST_JQL))
        .respond_with(json_file("search-page1.json"))
        .mount(&server)
        .await;
    let probes = provider(&server).probes().await;
    let got: Vec<(&str, &str, bool)> = probes
        .iter()
        .map(|p| (p.name.as_str(), p.result.as_str(), p.required))
        .collect();
    assert_eq!(
        got,
        [
            (
                "GET /rest/api/3/myself (authentication, time zone)",
                "works",
                true
            ),
            ("GET /rest/api/3/project/{id} (ITS)", "works", true),
            ("GET /rest/api/3/project/{id} (HR)", "refused", true),
            (
                "SLA field \"Time to first response\" (first_response)",
                "works",
                false
            ),
            (
                "SLA field \"time to resolution\" (resolution)",
                "works",
                false
            ),
            (
                "SLA field \"Time to nothing\" (assignment)",
                "refused",
                false
            ),
            ("team field request_type", "works", false),
            (
                "GET /rest/api/3/search/jql (JQL over the projects)",
                "works",
                true
            ),
        ]
    );
    assert_eq!(probes[0].detail, "JQL dates are read in Europe/Berlin");
    assert_eq!(
        probes[5].detail,
        "no sd-sla-field of this name; the site has: Time to first response, Time to resolution, Time to close after resolution"
    );
    assert!(probes.iter().all(|p| !p.detail.contains(TOKEN)));
}

/// The real binary: a JSM user's config (`base_url` pointing at the mock, as a
/// Data Center or proxy user would write it) runs `check-source` end to end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_source_from_the_binary_with_a_jsm_config() {
    let server = MockServer::start().await;
    mount_meta(&server).await;
    for key in ["ITS", "HR"] {
        Mock::given(path(format!("/rest/api/3/project/{key}")))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                format!(r#"{{"id":"1","key":"{key}","projectTypeKey":"service_desk"}}"#),
                "application/json",
            ))
            .mount(&server)
            .await;
    }
    Mock::given(path("/rest/api/3/search/jql"))
        .respond_with(json_file("search-empty.json"))
        .mount(&server)
        .await;
    let dir = common::scratch("jsm-check-source");
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: itsm\n    type: jira_service_management\n    base_url: {}\n    api_key_env: JSM_API_TOKEN\n    jira_service_management:\n      email: {EMAIL}\n      projects: [ITS, HR]\n      team_field: request_type\n      sla_fields:\n        Time to first response: first_response\n",
            server.uri()
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(common::BIN)
            .args(["check-source", "--config.file", config.to_str().unwrap()])
            .env("JSM_API_TOKEN", TOKEN)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("source itsm (type jira_service_management):"),
        "{stdout}"
    );
    assert!(stdout.contains("=> can be synced"), "{stdout}");
    assert!(
        stdout.contains("SLA field \"Time to first response\" (first_response)"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    let _ = std::fs::remove_dir_all(dir);
}

// --- Reconciliation: deleted and moved issues leave ---------------------------

/// The id listing's JQL: every issue of the projects, no date.
const LIST_JQL: &str = "project in (\"ITS\", \"HR\")";

/// Search requests that list ids (`fields=id`).
async fn count_listings(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            r.url.path() == "/rest/api/3/search/jql"
                && r.url.query_pairs().any(|(k, v)| k == "fields" && v == "id")
        })
        .count()
}

async fn mount_listing(server: &MockServer, token: Option<&str>, body: ResponseTemplate) {
    let m = Mock::given(method("GET"))
        .and(path("/rest/api/3/search/jql"))
        .and(query_param("jql", LIST_JQL))
        .and(query_param("fields", "id"))
        .and(query_param("maxResults", "5000"));
    let m = match token {
        Some(t) => m.and(query_param("nextPageToken", t)),
        None => m.and(query_param_is_missing("nextPageToken")),
    };
    m.respond_with(body).mount(server).await;
}

/// The incremental search after the first sync (newest change 10:05Z, read
/// from 11:04 Berlin): nothing changed.
async fn mount_quiet_search(server: &MockServer) {
    let jql =
        "project in (\"ITS\", \"HR\") AND updated >= \"2026-03-05 11:04\" ORDER BY updated ASC";
    Mock::given(path("/rest/api/3/search/jql"))
        .and(query_param("jql", jql))
        .respond_with(json_file("search-empty.json"))
        .mount(server)
        .await;
}

fn ids_body(ids: &[&str], token: Option<&str>) -> ResponseTemplate {
    let issues: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| serde_json::json!({"id": id, "self": format!("https://acme.atlassian.net/rest/api/3/issue/{id}")}))
        .collect();
    let body = match token {
        Some(t) => serde_json::json!({"issues": issues, "nextPageToken": t, "isLast": false}),
        None => serde_json::json!({"issues": issues, "isLast": true}),
    };
    ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json")
}

/// Holds each `fetch_page` until the test allows one more page, so the test
/// can change the mock vendor between syncs of the real sync loop.
struct Gated {
    inner: JsmProvider,
    pages: Arc<tokio::sync::Semaphore>,
}

impl Provider for Gated {
    fn fetch_page<'a>(
        &'a self,
        cursor: &'a Cursor,
    ) -> helpdesk_sla_exporter::providers::BoxFuture<'a, Result<Page, ProviderError>> {
        Box::pin(async move {
            self.pages.acquire().await.unwrap().forget();
            self.inner.fetch_page(cursor).await
        })
    }

    fn take_stream_reports(&self) -> Vec<helpdesk_sla_exporter::providers::StreamReport> {
        self.inner.take_stream_reports()
    }
}

struct Loop {
    engine: Arc<helpdesk_sla_exporter::engine::Engine>,
    registry: prometheus::Registry,
    pages: Arc<tokio::sync::Semaphore>,
    finished: tokio::sync::mpsc::UnboundedReceiver<Result<(), String>>,
    clock: Arc<std::sync::atomic::AtomicI64>,
    cancel: tokio_util::sync::CancellationToken,
}

impl Loop {
    /// The real sync loop over the JSM provider, on an in-memory store.
    fn start(server: &MockServer) -> Loop {
        use helpdesk_sla_exporter::sync::{SyncEvent, run_source};
        use std::sync::atomic::{AtomicI64, Ordering};
        let registry = prometheus::Registry::new();
        let clock = Arc::new(AtomicI64::new(ts("2026-03-06T00:00:00Z").as_second()));
        let now = {
            let c = clock.clone();
            move || Timestamp::from_second(c.load(Ordering::Relaxed)).unwrap()
        };
        let engine = Arc::new(helpdesk_sla_exporter::engine::Engine::new(
            helpdesk_sla_exporter::store::Store::in_memory().unwrap(),
            helpdesk_sla_exporter::metrics::source::SourceMetrics::new(&registry).unwrap(),
            Arc::new(now.clone()),
        ));
        let mut s = source(server, 2);
        s.poll_interval = Duration::from_millis(1);
        let mut client = jsm::client_settings(&s, &config());
        client.retry.max_retries = 1;
        let inner = JsmProvider::with_client_settings(
            s.clone(),
            config(),
            client.without_io_timers(),
            ClientMetrics::new(&prometheus::Registry::new()).unwrap(),
        )
        .unwrap()
        .with_clock(now);
        let pages = Arc::new(tokio::sync::Semaphore::new(0));
        let provider = Arc::new(Gated {
            inner,
            pages: pages.clone(),
        });
        let (tx, finished) = tokio::sync::mpsc::unbounded_channel();
        let on_sync: helpdesk_sla_exporter::sync::OnSync = Arc::new(move |_, event| {
            if let SyncEvent::Finished(r) = event {
                let _ = tx.send(r);
            }
        });
        let cancel = tokio_util::sync::CancellationToken::new();
        tokio::spawn(run_source(
            engine.clone(),
            provider,
            s,
            cancel.clone(),
            on_sync,
        ));
        Loop {
            engine,
            registry,
            pages,
            finished,
            clock,
            cancel,
        }
    }

    /// Lets one sync of `pages` pages run at `hours` after the first; returns its result.
    async fn sync(&mut self, hours: i64, pages: usize) -> Result<(), String> {
        self.clock.store(
            ts("2026-03-06T00:00:00Z").as_second() + hours * 3600,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.pages.add_permits(pages);
        self.finished.recv().await.unwrap()
    }

    fn stored(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .engine
            .store
            .items("jsm")
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        ids.sort();
        assert_eq!(
            self.engine.tracked().get("jsm").copied().unwrap_or(0),
            ids.len(),
            "the evaluated item set and the store agree"
        );
        ids
    }

    fn metric(&self, line_start: &str) -> String {
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(line_start))
            .unwrap_or("(absent)")
            .to_owned()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[tokio::test(start_paused = true)]
async fn reconciliation_forgets_deleted_and_moved_issues_and_only_after_a_complete_listing() {
    let server = MockServer::start().await;
    mount_meta(&server).await;
    mount_search(&server).await;
    let mut l = Loop::start(&server);

    // Sync 1 (two search pages): four issues; the reconciliation clock starts.
    assert_eq!(l.sync(0, 2).await, Ok(()));
    assert_eq!(l.stored(), ["10001", "10002", "10003", "10004"]);
    assert_eq!(count_listings(&server).await, 0);

    // One hour later: nothing changed and the listing is not due yet.
    server.reset().await;
    mount_meta(&server).await;
    mount_quiet_search(&server).await;
    assert_eq!(l.sync(1, 1).await, Ok(()));
    assert_eq!(count_listings(&server).await, 0);

    // Seven hours later: ITS-3 (10003) was deleted and HR-2 (10002) moved to a
    // project that is not configured. The listing has two pages.
    server.reset().await;
    mount_meta(&server).await;
    mount_quiet_search(&server).await;
    mount_listing(&server, None, json_file("ids-page1.json")).await;
    mount_listing(&server, Some("CAEaAggE"), json_file("ids-page2.json")).await;
    assert_eq!(l.sync(7, 1).await, Ok(()));
    assert_eq!(l.stored(), ["10001", "10004"]);
    // One search for changes and two listing pages of up to 5,000 ids.
    assert_eq!(count_listings(&server).await, 2);
    assert_eq!(count(&server, "/rest/api/3/search/jql").await, 3);
    assert_eq!(
        l.metric("helpdesk_sla_source_stream_up{source=\"jsm\",stream=\"reconcile\"}"),
        "helpdesk_sla_source_stream_up{source=\"jsm\",stream=\"reconcile\"} 1"
    );

    // Fourteen hours: the listing's second page fails (500, retried once).
    // Its first page lacks 10004, which must not be forgotten.
    server.reset().await;
    mount_meta(&server).await;
    mount_quiet_search(&server).await;
    mount_listing(&server, None, ids_body(&["10001"], Some("p2"))).await;
    mount_listing(&server, Some("p2"), ResponseTemplate::new(500)).await;
    let result = l.sync(14, 1).await;
    assert!(
        result
            .as_ref()
            .is_err_and(|e| e.contains("reconcile") && e.contains("500")),
        "{result:?}"
    );
    assert_eq!(l.stored(), ["10001", "10004"]);
    assert_eq!(count_listings(&server).await, 3);
    assert_eq!(
        l.metric("helpdesk_sla_source_stream_up{source=\"jsm\",stream=\"reconcile\"}"),
        "helpdesk_sla_source_stream_up{source=\"jsm\",stream=\"reconcile\"} 0"
    );
    assert_eq!(
        l.metric("helpdesk_sla_source_up{source=\"jsm\"}"),
        "helpdesk_sla_source_up{source=\"jsm\"} 0"
    );

    // The next sync retries at once (the failed listing moved no clock), and
    // the listing comes back empty while two items are stored: suspicious,
    // so it is skipped and nothing is forgotten.
    server.reset().await;
    mount_meta(&server).await;
    mount_quiet_search(&server).await;
    mount_listing(&server, None, json_file("search-empty.json")).await;
    assert_eq!(l.sync(15, 1).await, Ok(()));
    assert_eq!(count_listings(&server).await, 1);
    assert_eq!(l.stored(), ["10001", "10004"]);
}

#[tokio::test]
async fn a_listing_that_repeats_its_token_is_a_paging_loop_and_forgets_nothing() {
    let server = MockServer::start().await;
    mount_meta(&server).await;
    mount_quiet_search(&server).await;
    mount_listing(&server, None, ids_body(&["10001"], Some("same"))).await;
    mount_listing(&server, Some("same"), ids_body(&["10004"], Some("same"))).await;
    let cursor = JsmCursor {
        since: Some(ts("2026-03-05T10:05:00Z")),
        reconciled_at: Some(ts("2026-03-05T00:00:00Z")),
        ..JsmCursor::default()
    };
    let p = provider(&server);
    let page = p
        .fetch_page(&Cursor(serde_json::to_value(&cursor).unwrap()))
        .await
        .unwrap();
    assert!(page.done);
    assert_eq!(page.retain_only, None);
    let reports = p.take_stream_reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].stream, "reconcile");
    assert_eq!(reports[0].error.as_ref().unwrap().reason, "paging_loop");
    assert_eq!(count_listings(&server).await, 2);
    // The clock of the last good listing stays, so the next sync retries.
    let next: JsmCursor = serde_json::from_value(page.next.0).unwrap();
    assert_eq!(next.reconciled_at, Some(ts("2026-03-05T00:00:00Z")));
}

// --- Data Center: REST v2, keyset paging ------------------------------------

const DC_TOKEN: &str = "dc-personal-access-token-0123";

fn dc_config() -> JsmConfig {
    JsmConfig {
        site: None,
        email: None,
        auth: AuthKind::Bearer,
        deployment: jsm::Deployment::DataCenter,
        ..config()
    }
}

fn dc_provider(server: &MockServer) -> JsmProvider {
    let metrics = ClientMetrics::new(&prometheus::Registry::new()).unwrap();
    let mut s = source(server, 2);
    s.api_key = Secret::new(DC_TOKEN);
    s.vendor = Arc::new(dc_config());
    let mut client = jsm::client_settings(&s, &dc_config());
    client.retry.max_retries = 1;
    JsmProvider::with_client_settings(s, dc_config(), client.without_io_timers(), metrics)
        .unwrap()
        .with_clock(|| "2026-03-06T00:00:00Z".parse().unwrap())
}

/// The v2 look-ups, each only with the personal access token as bearer.
async fn mount_dc_meta(server: &MockServer) {
    let bearer = format!("Bearer {DC_TOKEN}");
    for (p, file) in [
        ("/rest/api/2/field", "fields.json"),
        ("/rest/api/2/status", "statuses.json"),
        ("/rest/api/2/myself", "dc-myself.json"),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .and(header("authorization", bearer.as_str()))
            .respond_with(json_file(file))
            .mount(server)
            .await;
    }
}

fn dc_jql(literal: &str) -> String {
    format!(
        "project in (\"ITS\", \"HR\") AND updated >= \"{literal}\" ORDER BY updated ASC, key ASC"
    )
}

async fn mount_dc_search(
    server: &MockServer,
    literal: &str,
    start_at: &str,
    body: ResponseTemplate,
) {
    Mock::given(method("GET"))
        .and(path("/rest/api/2/search"))
        .and(query_param("jql", dc_jql(literal).as_str()))
        .and(query_param("startAt", start_at))
        .and(query_param("maxResults", "2"))
        .and(query_param("expand", "changelog"))
        .and(query_param(
            "fields",
            "created,updated,status,priority,assignee,resolutiondate,reporter,customfield_10030,customfield_10031,customfield_10010",
        ))
        .respond_with(body)
        .expect(1)
        .mount(server)
        .await;
}

/// A v2 search page of issues that changed at the given local Berlin times.
fn dc_page(rows: &[(&str, &str)], total: u64) -> ResponseTemplate {
    let issues: Vec<serde_json::Value> = rows
        .iter()
        .map(|(id, updated)| {
            serde_json::json!({
                "id": id, "key": format!("SD-{id}"),
                "self": format!("https://jira.acme.example/rest/api/2/issue/{id}"),
                "changelog": {"startAt": 0, "maxResults": 0, "total": 0, "histories": []},
                "fields": {"created": "2026-03-04T09:00:00.000+0100", "updated": updated,
                           "status": {"name": "Waiting for support", "statusCategory": {"key": "indeterminate"}}}
            })
        })
        .collect();
    let body = serde_json::json!({"startAt": 0, "maxResults": 2, "total": total, "issues": issues});
    ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json")
}

#[tokio::test]
async fn data_center_pages_v2_search_by_keyset_and_reads_cut_changelogs_whole() {
    let server = MockServer::start().await;
    mount_dc_meta(&server).await;
    // Page 1 from the lookback (30 days, a minute earlier, in Berlin).
    mount_dc_search(
        &server,
        "2026-02-04 00:59",
        "0",
        json_file("dc-search-page1.json"),
    )
    .await;
    // Page 2 starts at the newest `updated` read (SD-2, 09:00Z = 10:00 Berlin,
    // a minute earlier), not at offset 2: SD-2 is read again, nothing skipped.
    mount_dc_search(
        &server,
        "2026-03-03 09:59",
        "0",
        json_file("dc-search-page2.json"),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/rest/api/2/issue/10103"))
        .and(query_param("expand", "changelog"))
        .respond_with(json_file("dc-issue-10103-changelog.json"))
        .expect(1)
        .mount(&server)
        .await;
    let p = dc_provider(&server);
    let (pages, cursor) = sync(&p, Cursor::default()).await.unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(ids(&pages[0]), ["10101", "10102"]);
    assert_eq!(ids(&pages[1]), ["10102", "10103"]);
    // SD-3's cut changelog was read whole: the reply at 09:45 Berlin.
    let sd3 = &pages[1].items[1];
    assert_eq!(sd3.agent_replies, [ts("2026-03-04T08:45Z")]);
    assert_eq!(sd3.resolutions, [ts("2026-03-04T11:00Z")]);
    let c: JsmCursor = serde_json::from_value(cursor.0).unwrap();
    assert_eq!(c.since, Some(ts("2026-03-04T11:00Z")));
    assert_eq!((c.query_from, c.start_at), (None, None));
    // 3 look-ups, 2 searches, 1 issue; no Cloud path, no comment request.
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 6);
    assert!(
        requests
            .iter()
            .all(|r| r.url.path().starts_with("/rest/api/2/"))
    );
}

#[tokio::test]
async fn data_center_pages_by_offset_only_inside_the_boundary_minutes() {
    let server = MockServer::start().await;
    mount_dc_meta(&server).await;
    // Both rows of the first page lie in the minutes the next query would
    // read again: moving the window would return them again, so the same
    // query goes on at offset 2.
    mount_dc_search(
        &server,
        "2026-03-04 11:59",
        "0",
        dc_page(
            &[
                ("10201", "2026-03-04T12:00:30.000+0100"),
                ("10202", "2026-03-04T12:00:40.000+0100"),
            ],
            3,
        ),
    )
    .await;
    mount_dc_search(
        &server,
        "2026-03-04 11:59",
        "2",
        dc_page(&[("10203", "2026-03-04T12:00:50.000+0100")], 3),
    )
    .await;
    let cursor = JsmCursor {
        since: Some(ts("2026-03-04T11:00:00Z")),
        reconciled_at: Some(ts("2026-03-05T23:00:00Z")),
        ..JsmCursor::default()
    };
    let (pages, _) = sync(
        &dc_provider(&server),
        Cursor(serde_json::to_value(&cursor).unwrap()),
    )
    .await
    .unwrap();
    let all: Vec<&str> = pages.iter().flat_map(ids).collect();
    assert_eq!(all, ["10201", "10202", "10203"]);
    assert_eq!(count(&server, "/rest/api/2/search").await, 2);
}

#[tokio::test]
async fn data_center_reconciliation_lists_ids_by_created_keyset() {
    let server = MockServer::start().await;
    mount_dc_meta(&server).await;
    mount_dc_search(&server, "2026-03-04 11:59", "0", dc_page(&[], 0)).await;
    let listing = |jql: &str, body: serde_json::Value| {
        Mock::given(method("GET"))
            .and(path("/rest/api/2/search"))
            .and(query_param("jql", jql))
            .and(query_param("fields", "created"))
            .and(query_param("maxResults", "1000"))
            .and(query_param("startAt", "0"))
            .respond_with(
                ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json"),
            )
            .expect(1)
    };
    let row = |id: &str, created: &str| serde_json::json!({"id": id, "key": format!("SD-{id}"), "fields": {"created": created}});
    listing(
        "project in (\"ITS\", \"HR\") ORDER BY created ASC, key ASC",
        serde_json::json!({"startAt": 0, "maxResults": 1000, "total": 3, "issues": [
            row("10101", "2026-03-02T09:00:00.000+0100"), row("10102", "2026-03-03T09:00:00.000+0100")]}),
    )
    .mount(&server)
    .await;
    // The server capped the page at 2: the next query starts at the newest
    // `created` read, a minute earlier in Berlin.
    listing(
        "project in (\"ITS\", \"HR\") AND created >= \"2026-03-03 08:59\" ORDER BY created ASC, key ASC",
        serde_json::json!({"startAt": 0, "maxResults": 1000, "total": 2, "issues": [
            row("10102", "2026-03-03T09:00:00.000+0100"), row("10103", "2026-03-04T09:00:00.000+0100")]}),
    )
    .mount(&server)
    .await;
    let cursor = JsmCursor {
        since: Some(ts("2026-03-04T11:00:00Z")),
        reconciled_at: Some(ts("2026-03-05T00:00:00Z")),
        ..JsmCursor::default()
    };
    let p = dc_provider(&server);
    let page = p
        .fetch_page(&Cursor(serde_json::to_value(&cursor).unwrap()))
        .await
        .unwrap();
    assert!(page.done);
    assert_eq!(
        page.retain_only.as_deref(),
        Some(&["10101".to_owned(), "10102".to_owned(), "10103".to_owned()][..])
    );
    assert_eq!(p.take_stream_reports()[0].error, None);
    // One search for changes and two listing pages.
    assert_eq!(count(&server, "/rest/api/2/search").await, 3);
}

#[test]
fn retain_only_forgets_only_this_sources_unlisted_items_and_keeps_the_page() {
    use helpdesk_sla_exporter::store::{PageWrite, Store};
    let store = Store::in_memory().unwrap();
    let item =
        |source: &str, id: &str| Item::new(source, id, Channel::Ticket, ts("2026-03-02T08:00Z"));
    let stored = [item("jsm", "1"), item("jsm", "2"), item("jsm", "3")];
    store.apply_page("jsm", "sync", &stored, &[], "c1").unwrap();
    store
        .apply_page(
            "other",
            "sync",
            &[item("other", "2"), item("other", "9")],
            &[],
            "c",
        )
        .unwrap();
    // The listing has 1 only; 4 arrives with the page itself (created after
    // the listing was read) and stays.
    let listed = ["1".to_owned()];
    let page = PageWrite {
        items: vec![item("jsm", "4")],
        removed: &[],
        events: &[],
        retain_only: Some(&listed),
        state: &[],
    };
    let mut forgotten = store
        .apply_sync_page("jsm", "sync", page, "c2")
        .unwrap()
        .forgotten;
    forgotten.sort();
    assert_eq!(forgotten, ["2", "3"]);
    let ids =
        |s: &str| -> Vec<String> { store.items(s).unwrap().into_iter().map(|i| i.id).collect() };
    assert_eq!(ids("jsm"), ["1", "4"]);
    assert_eq!(ids("other"), ["2", "9"]);
    assert_eq!(store.cursor("jsm", "sync").unwrap().as_deref(), Some("c2"));
    assert_eq!(store.count_items("jsm").unwrap(), 2);
}

#[tokio::test]
async fn data_center_check_source_probes_the_v2_paths() {
    let server = MockServer::start().await;
    mount_dc_meta(&server).await;
    for key in ["ITS", "HR"] {
        Mock::given(path(format!("/rest/api/2/project/{key}")))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                format!(r#"{{"id":"1","key":"{key}","projectTypeKey":"service_desk"}}"#),
                "application/json",
            ))
            .mount(&server)
            .await;
    }
    Mock::given(path("/rest/api/2/search"))
        .and(query_param("maxResults", "1"))
        .and(query_param("startAt", "0"))
        .respond_with(dc_page(&[("10101", "2026-03-02T10:00:00.000+0100")], 3))
        .expect(1)
        .mount(&server)
        .await;
    let probes = dc_provider(&server).probes().await;
    let got: Vec<(&str, &str)> = probes
        .iter()
        .filter(|p| p.required)
        .map(|p| (p.name.as_str(), p.result.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "GET /rest/api/2/myself (authentication, time zone)",
                "works"
            ),
            ("GET /rest/api/2/project/{id} (ITS)", "works"),
            ("GET /rest/api/2/project/{id} (HR)", "works"),
            ("GET /rest/api/2/search (JQL over the projects)", "works"),
        ]
    );
    assert_eq!(
        probes.last().unwrap().detail,
        "1 issue(s) on a first page of 1, total 3"
    );
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests
            .iter()
            .all(|r| r.url.path().starts_with("/rest/api/2/"))
    );
}
