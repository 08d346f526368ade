//! The demo helpdesk served on 127.0.0.1:0 and read end to end by the real
//! LiveAgent provider, with the clock fixed on both sides.

use std::collections::HashMap;

use helpdesk_sla_exporter::demo::{self, DemoConfig, api};
use helpdesk_sla_exporter::model::{Channel, Item};
use helpdesk_sla_exporter::providers::{ClientMetrics, Cursor, LiveAgentProvider, Page, Provider};
use jiff::{SignedDuration, Timestamp};
use tokio::sync::oneshot;

/// A Wednesday at 13:00 in Ljubljana: the office is open.
const NOW: &str = "2026-03-11T12:00:00Z";

async fn sync(p: &dyn Provider, mut cursor: Cursor) -> (Vec<Page>, Cursor) {
    let mut pages = Vec::new();
    for _ in 0..200 {
        let page = p.fetch_page(&cursor).await.expect("demo pages decode");
        cursor = page.next.clone();
        let done = page.done;
        pages.push(page);
        if done {
            return (pages, cursor);
        }
    }
    panic!("sync did not finish");
}

struct Served {
    base_url: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start(now: Timestamp) -> Served {
    start_with(DemoConfig::new(42).with_clock(move || now)).await
}

/// Serves `config` without the simulated rate limit: the tests' provider
/// budgets are far above it (the limit has its own test).
async fn start_with(config: DemoConfig) -> Served {
    serve_as(config.with_rate_limit(None)).await
}

async fn serve_as(config: DemoConfig) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/api/v3", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(demo::serve(listener, config, async move {
        let _ = stopped.await;
    }));
    Served {
        base_url,
        stop: Some(stop),
    }
}

fn provider(base_url: &str, now: Timestamp) -> LiveAgentProvider {
    let mut settings = demo::source_config("demo", base_url);
    settings.requests_per_minute = 600_000;
    let metrics = ClientMetrics::new(&prometheus::Registry::new()).unwrap();
    LiveAgentProvider::new(settings, metrics)
        .unwrap()
        .with_clock(move || now)
}

fn by_channel(pages: &[Page]) -> HashMap<Channel, Vec<&Item>> {
    let mut out: HashMap<Channel, Vec<&Item>> = HashMap::new();
    for item in pages.iter().flat_map(|p| &p.items) {
        out.entry(item.channel).or_default().push(item);
    }
    out
}

#[tokio::test]
async fn the_real_provider_reads_the_demo_end_to_end() {
    let now: Timestamp = NOW.parse().unwrap();
    let served = start(now).await;
    let p = provider(&served.base_url, now);
    let (pages, cursor) = sync(&p, Cursor::default()).await;
    let items = by_channel(&pages);
    let tickets = &items[&Channel::Ticket];
    let (chats, calls) = (&items[&Channel::Chat], &items[&Channel::Call]);
    assert!(tickets.len() > 300, "{} tickets", tickets.len());
    assert!(
        chats.len() > 300 && calls.len() > 300,
        "{} chats, {} calls",
        chats.len(),
        calls.len()
    );

    // Realistic mix: answered, resolved, reopened, still open, missed.
    assert!(tickets.iter().any(|t| !t.agent_replies.is_empty()));
    assert!(
        tickets
            .iter()
            .any(|t| t.resolutions.len() > 1 && !t.reopenings.is_empty())
    );
    assert!(
        tickets
            .iter()
            .any(|t| t.resolutions.is_empty() && !t.vendor_due.is_empty())
    );
    assert!(tickets.iter().any(|t| t.first_assigned_at.is_some()));
    assert!(
        chats
            .iter()
            .any(|c| c.answered_at.is_none() && c.ended_at.is_some())
    );
    assert!(
        calls
            .iter()
            .any(|c| c.answered_at.is_none() && c.ended_at.is_some())
    );
    assert!(
        !pages.iter().all(|p| p.removed.is_empty()),
        "some spam is removed"
    );
    let teams: std::collections::BTreeSet<_> =
        tickets.iter().filter_map(|t| t.team.as_deref()).collect();
    assert_eq!(teams.len(), 5, "{teams:?}");
    // Every ticket's timeline starts at its creation and is in the past.
    for t in tickets {
        assert_eq!(
            t.statuses.first().map(|s| s.start),
            Some(t.created_at),
            "{}",
            t.id
        );
        assert!(t.updated_at <= now);
    }

    // Ten minutes later the same cursor yields only what moved.
    let later = now + SignedDuration::from_mins(10);
    drop(served);
    let served = start(later).await;
    let p = provider(&served.base_url, later);
    let (pages, _) = sync(&p, cursor).await;
    let moved = pages.iter().map(|p| p.items.len()).sum::<usize>();
    assert!(
        moved > 0 && moved < 200,
        "{moved} items moved in 10 minutes"
    );
}

#[tokio::test]
async fn the_demo_is_deterministic_and_vendor_levels_are_served() {
    let now: Timestamp = NOW.parse().unwrap();
    let served = start(now).await;
    let a = sync(&provider(&served.base_url, now), Cursor::default())
        .await
        .0;
    let b = sync(&provider(&served.base_url, now), Cursor::default())
        .await
        .0;
    assert_eq!(a, b);
    let levels = provider(&served.base_url, now).sla_levels().await.unwrap();
    assert_eq!(
        levels.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["Gold", "Standard"]
    );
}

#[test]
fn the_api_checks_the_key_and_honours_the_time_zone_quirk() {
    let now: Timestamp = NOW.parse().unwrap();
    let retention = SignedDuration::from_hours(48);
    let query: HashMap<String, String> = [("_perPage", "1"), ("_sortField", "dateCreated")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    let headers = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let denied = api::respond(42, retention, now, "/api/v3/calls", &query, &headers(&[]));
    assert_eq!(denied.status, 401);
    let utc = api::respond(
        42,
        retention,
        now,
        "/api/v3/calls",
        &query,
        &headers(&[("apikey", "k"), ("timezone-offset", "0")]),
    );
    let phoenix = api::respond(
        42,
        retention,
        now,
        "/api/v3/calls",
        &query,
        &headers(&[("apikey", "k")]),
    );
    let created = |body: &str| {
        let rows: serde_json::Value = serde_json::from_str(body).unwrap();
        helpdesk_sla_exporter::providers::liveagent::map::parse_time(
            rows[0]["dateCreated"].as_str().unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        created(&utc.body) - created(&phoenix.body),
        SignedDuration::from_hours(7)
    );
    assert!(utc.headers.iter().any(|(k, _)| *k == "next_page_cursor"));
}

#[test]
fn the_demo_policies_name_the_simulated_departments() {
    let yaml: serde_json::Value = yaml_serde::from_str(demo::DEMO_POLICY_YAML).unwrap();
    let teams = &yaml["policies"][0]["match"]["teams"];
    for team in teams.as_array().unwrap() {
        assert!(
            demo::sim::DEPARTMENTS
                .iter()
                .any(|d| d.1 == team.as_str().unwrap()),
            "{team}"
        );
    }
    assert_eq!(yaml["calendars"][0]["time_zone"], "Europe/Ljubljana");
}

/// Syncs the demo as of `now` (three days back, enough for the states asked
/// about; a shorter world keeps the test fast) and evaluates it with the demo's
/// own policies.
async fn evaluate_demo_at(now: Timestamp) -> helpdesk_sla_exporter::snapshot::Evaluation {
    let mut config = DemoConfig::new(demo::SEED).with_clock(move || now);
    config.retention = SignedDuration::from_hours(96);
    let served = start_with(config).await;
    let mut settings = demo::source_config("demo", &served.base_url);
    settings.requests_per_minute = 600_000;
    settings.initial_lookback = SignedDuration::from_hours(72);
    let metrics = ClientMetrics::new(&prometheus::Registry::new()).unwrap();
    let p = LiveAgentProvider::new(settings, metrics)
        .unwrap()
        .with_clock(move || now);
    let (pages, _) = sync(&p, Cursor::default()).await;
    // The demo's default API is the strict one `--demo` serves: the states
    // below come through the documented fallbacks.
    let fell_back = p.fallbacks();
    assert!(
        fell_back.tickets_by_created && fell_back.history_per_ticket,
        "{fell_back:?}"
    );
    let mut items: HashMap<String, Item> = HashMap::new();
    for page in pages {
        for id in &page.removed {
            items.remove(id);
        }
        items.extend(page.items.into_iter().map(|i| (i.id.clone(), i)));
    }
    let config = helpdesk_sla_exporter::config::parse(
        &demo::config_text(&served.base_url),
        std::path::Path::new("<demo>"),
        std::path::Path::new("."),
        &|_| Some("demo".into()),
    )
    .unwrap();
    let mut caps = helpdesk_sla_exporter::snapshot::LabelCaps {
        team_limit: 20,
        priority_limit: 20,
        ..Default::default()
    };
    helpdesk_sla_exporter::snapshot::evaluate_all(items.values(), &config.policies, now, &mut caps)
}

/// The demo is alive at all hours: whatever the instant (a weekend night, the
/// small hours of a weekday, a public holiday), there are running, at-risk,
/// breached and met items, and chats and calls among them.
#[tokio::test]
async fn the_demo_has_every_state_at_any_hour() {
    for at in [
        "2026-11-29T19:30:00Z", // Sunday evening UTC: only the 24x7 desk works.
        "2026-12-01T03:00:00Z", // Tuesday 03:00 UTC: Tokyo works, Europe and America sleep.
        "2026-12-25T10:00:00Z", // Christmas: a holiday in most calendars.
        "2027-01-01T00:00:00Z", // New Year's midnight UTC.
        "2026-03-11T12:00:00Z", // Wednesday noon: most offices open.
    ] {
        let now: Timestamp = at.parse().unwrap();
        let eval = evaluate_demo_at(now).await;
        let open: std::collections::BTreeSet<&str> = eval.open.keys().map(|(_, s)| *s).collect();
        for state in ["running", "at_risk", "breached"] {
            assert!(
                open.contains(state),
                "{at}: no {state} item; states {open:?}"
            );
        }
        let met_channels: std::collections::BTreeSet<&str> = eval
            .finals
            .iter()
            .filter(|f| f.state.as_str() == "met")
            .map(|f| f.series.channel)
            .collect();
        assert_eq!(
            met_channels.into_iter().collect::<Vec<_>>(),
            ["call", "chat", "ticket"],
            "{at}: met items per channel"
        );
        // Live channels arrived in the last hour, whatever the hour.
        let recent_live: std::collections::BTreeSet<&str> = eval
            .finals
            .iter()
            .filter(|f| f.series.channel != "ticket")
            .filter(|f| f.started_at > now - SignedDuration::from_hours(1))
            .map(|f| f.series.channel)
            .collect();
        assert_eq!(
            recent_live.len(),
            2,
            "{at}: recent chats and calls {recent_live:?}"
        );
        let teams: std::collections::BTreeSet<&str> = eval
            .open
            .iter()
            .filter(|((_, state), _)| *state == "at_risk")
            .map(|((s, _), _)| s.team.as_str())
            .collect();
        assert!(!teams.is_empty(), "{at}");
    }
}

/// The documented API (the simulated default) refuses the undocumented
/// filters; the provider's fallbacks then read the same items as the
/// undocumented requests would have, but for the first sync's one gap.
#[tokio::test]
async fn the_documented_demo_is_synced_through_fallbacks() {
    let now: Timestamp = NOW.parse().unwrap();
    let strict = start(now).await;
    let lenient = start_with(
        DemoConfig::new(42)
            .with_clock(move || now)
            .with_undocumented(api::Undocumented::ALL),
    )
    .await;
    let read = |base: String| async move {
        let mut settings = demo::source_config("demo", &base);
        settings.requests_per_minute = 600_000;
        settings.initial_lookback = SignedDuration::from_hours(24 * 3);
        let p = LiveAgentProvider::new(
            settings,
            ClientMetrics::new(&prometheus::Registry::new()).unwrap(),
        )
        .unwrap()
        .with_clock(move || now);
        let (pages, _) = sync(&p, Cursor::default()).await;
        let mut items: Vec<Item> = pages.into_iter().flat_map(|p| p.items).collect();
        items.sort_by(|a, b| a.id.cmp(&b.id));
        items.iter_mut().for_each(|i| i.updated_at = i.created_at);
        (items, p.fallbacks(), p.take_stream_reports())
    };
    let (documented, fell_back, reports) = read(strict.base_url.clone()).await;
    let (undocumented, none, _) = read(lenient.base_url.clone()).await;
    assert!(
        fell_back.tickets_by_created && fell_back.history_per_ticket,
        "{fell_back:?}"
    );
    assert!(
        !none.tickets_by_created && !none.history_per_ticket,
        "{none:?}"
    );
    assert!(reports.iter().all(|r| r.error.is_none()), "{reports:?}");
    let tickets = documented
        .iter()
        .filter(|i| i.channel == Channel::Ticket)
        .count();
    assert!(tickets > 20, "{tickets} tickets");
    // Everything the fallbacks read is what the undocumented requests read.
    let lenient: HashMap<&str, &Item> = undocumented.iter().map(|i| (i.id.as_str(), i)).collect();
    for item in &documented {
        assert_eq!(Some(&item), lenient.get(item.id.as_str()), "{}", item.id);
    }
    // Tickets created before the lookback window and changed inside it come
    // through the fallback's open pass (and, from the second sync on, its
    // reads by id). What the first sync cannot see (docs/providers.md): a
    // ticket created before the window that was resolved, closed or deleted
    // inside it, before the exporter started.
    let window_start = now - SignedDuration::from_hours(24 * 3);
    let strict: std::collections::HashSet<&str> =
        documented.iter().map(|i| i.id.as_str()).collect();
    let missing: Vec<&Item> = undocumented
        .iter()
        .filter(|i| !strict.contains(i.id.as_str()))
        .collect();
    for i in &missing {
        let last = i.statuses.last().map(|s| s.status);
        assert!(
            i.channel == Channel::Ticket
                && i.created_at < window_start
                && last.is_some_and(|s| s.is_done()),
            "{} {:?} {} {last:?}",
            i.id,
            i.channel,
            i.created_at
        );
    }
    let old_open = documented
        .iter()
        .filter(|i| i.channel == Channel::Ticket && i.created_at < window_start)
        .filter(|i| i.statuses.last().is_some_and(|s| !s.status.is_done()))
        .count();
    assert!(
        old_open > 0,
        "no open ticket from before the window: the open pass is not covered"
    );
    eprintln!(
        "tickets fallback, first sync: {} of {} items not seen (created before the window, resolved inside it); {old_open} old open tickets seen",
        missing.len(),
        undocumented.len()
    );

    // The documented API answers 400 with LiveAgent's error envelope.
    let query: HashMap<String, String> = [(
        "_filters",
        r#"[["date_changed","D>=","2026-03-10 00:00:00"]]"#,
    )]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    let headers: HashMap<String, String> = [("apikey", "k"), ("timezone-offset", "0")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    let refused = api::respond_as(
        api::Undocumented::default(),
        42,
        SignedDuration::from_hours(48),
        now,
        "/api/v3/tickets",
        &query,
        &headers,
    );
    assert_eq!(refused.status, 400);
    let body: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(body["response"]["statuscode"], 400);
    // The object form is documented and accepted.
    let object: HashMap<String, String> = [("_filters", r#"{"status":"N"}"#)]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    let ok = api::respond_as(
        api::Undocumented::default(),
        42,
        SignedDuration::from_hours(48),
        now,
        "/api/v3/tickets",
        &object,
        &headers,
    );
    assert_eq!(ok.status, 200);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&ok.body).unwrap();
    assert!(rows.iter().all(|r| r["status"] == "N"));
}

/// LiveAgent's documented limit, 180 requests a minute per API key: fixed
/// one-minute windows on the tokio clock (no sleeping: instants are given).
#[test]
fn the_rate_limit_counts_per_key_in_one_minute_windows() {
    assert_eq!(demo::VENDOR_REQUESTS_PER_MINUTE, 180);
    let limit = demo::RateLimit::new(demo::VENDOR_REQUESTS_PER_MINUTE);
    let t0 = tokio::time::Instant::now();
    for i in 0..180 {
        assert!(
            limit.admit("a", t0 + std::time::Duration::from_millis(i)),
            "{i}"
        );
    }
    let later = t0 + std::time::Duration::from_secs(59);
    assert!(!limit.admit("a", later), "the 181st request in a minute");
    assert!(limit.admit("b", later), "another key has its own window");
    assert!(limit.admit("a", t0 + std::time::Duration::from_secs(60)));
}

/// Over HTTP, a request beyond the limit is answered 429 with LiveAgent's
/// error envelope, and no rate-limit headers (the vendor documents none).
#[tokio::test]
async fn the_served_api_answers_429_beyond_the_limit() {
    let now: Timestamp = NOW.parse().unwrap();
    let served = serve_as(
        DemoConfig::new(42)
            .with_clock(move || now)
            .with_rate_limit(Some(3)),
    )
    .await;
    let client = reqwest::Client::new();
    let get = |key: &'static str| {
        client
            .get(format!("{}/ping", served.base_url))
            .header("apikey", key)
            .send()
    };
    for _ in 0..3 {
        assert_eq!(get("k1").await.unwrap().status(), 200);
    }
    let refused = get("k1").await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_none());
    let body: serde_json::Value = serde_json::from_str(&refused.text().await.unwrap()).unwrap();
    assert_eq!(body["response"]["statuscode"], 429);
    assert_eq!(body["response"]["status"], "ERROR");
    assert_eq!(get("k2").await.unwrap().status(), 200);
}

/// Every `/tickets` page of the served API, with `filters`.
fn all_rows(
    path: &str,
    filters: &str,
    now: Timestamp,
    retention: SignedDuration,
) -> Vec<serde_json::Value> {
    let headers: HashMap<String, String> = [("apikey", "k"), ("timezone-offset", "0")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    let mut out = Vec::new();
    for page in 1.. {
        let query: HashMap<String, String> = [
            ("_filters", filters.to_owned()),
            ("_perPage", "500".to_owned()),
            ("_page", page.to_string()),
        ]
        .map(|(k, v)| (k.to_owned(), v))
        .into();
        let reply = api::respond_as(
            api::Undocumented::default(),
            42,
            retention,
            now,
            path,
            &query,
            &headers,
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let rows: Vec<serde_json::Value> = serde_json::from_str(&reply.body).unwrap();
        let short = rows.len() < 500;
        out.extend(rows);
        if short {
            return out;
        }
    }
    unreachable!()
}

/// `/tickets` lists chats (`B`/`I`, `T` while running) and calls (`C`/`W`,
/// `P` while running) as LiveAgent does; the provider counts each
/// conversation once, in its own channel.
#[tokio::test]
async fn chats_and_calls_listed_as_tickets_are_counted_once() {
    let now: Timestamp = NOW.parse().unwrap();
    // Over an afternoon, some chats and calls are running at some minute:
    // listed as chatting (T) and calling (P).
    let mut running: std::collections::BTreeSet<(String, String)> = Default::default();
    for minute in (0..240).step_by(3) {
        let at = now + SignedDuration::from_mins(minute);
        let rows = all_rows(
            "/api/v3/tickets",
            r#"[["status","IN","T,P"]]"#,
            at,
            SignedDuration::from_hours(2),
        );
        for r in rows {
            running.insert((r["channel_type"].to_string(), r["status"].to_string()));
        }
    }
    let is = |kinds: &[&str], status: &str| {
        running
            .iter()
            .any(|(k, s)| kinds.iter().any(|x| k.contains(x)) && s.contains(status))
    };
    assert!(is(&["B", "I"], "T") && is(&["C", "W"], "P"), "{running:?}");
    assert!(
        running
            .iter()
            .all(|(k, s)| (k.contains('B') || k.contains('I')) == s.contains('T')),
        "{running:?}"
    );
    let conversations = all_rows(
        "/api/v3/tickets",
        r#"[["channel_type","IN","B,I,C,W"]]"#,
        now,
        SignedDuration::from_hours(2),
    );
    assert!(conversations.iter().any(|r| r["status"] == "R"));

    let served = start(now).await;
    let p = provider(&served.base_url, now);
    let (pages, _) = sync(&p, Cursor::default()).await;
    let items = by_channel(&pages);
    let ids = |c: Channel| -> std::collections::HashSet<&str> {
        items[&c].iter().map(|i| i.id.as_str()).collect()
    };
    let (tickets, chats, calls) = (ids(Channel::Ticket), ids(Channel::Chat), ids(Channel::Call));
    for c in Channel::ALL {
        assert_eq!(items[&c].len(), ids(c).len(), "{c:?} items twice");
    }
    assert!(tickets.is_disjoint(&chats) && tickets.is_disjoint(&calls));
    // Every chat created in the lookback window is one chat item, and the
    // conversations' ticket rows for them were read but not counted again.
    let start = now - demo::source_config("demo", "http://x").initial_lookback;
    let window = format!(
        r#"[["date_created","D>=","{}"]]"#,
        helpdesk_sla_exporter::providers::liveagent::map::format_time(start)
    );
    let retention = DemoConfig::new(42).retention;
    assert_eq!(
        chats.len(),
        all_rows("/api/v3/chats", &window, now, retention).len()
    );
    let listed_chats = all_rows("/api/v3/tickets", &window, now, retention)
        .into_iter()
        .filter(|r| matches!(r["channel_type"].as_str(), Some("B" | "I")))
        .count();
    assert_eq!(listed_chats, chats.len());
}

/// The old-account switch, on its own: without `Timezone-Offset` an old
/// account answers in UTC-7 and a newer one (the default) in UTC; with the
/// header both answer in the zone it asks for.
#[test]
fn the_old_account_time_shift_is_a_switch_of_its_own() {
    let now: Timestamp = NOW.parse().unwrap();
    let query: HashMap<String, String> = [("_perPage", "1"), ("_sortField", "date_created")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    let created = |extra: api::Undocumented, offset: Option<&str>| {
        let mut headers: HashMap<String, String> = HashMap::from([("apikey".into(), "k".into())]);
        if let Some(o) = offset {
            headers.insert("timezone-offset".into(), o.into());
        }
        let reply = api::respond_as(
            extra,
            42,
            SignedDuration::from_hours(48),
            now,
            "/api/v3/tickets",
            &query,
            &headers,
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let rows: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        helpdesk_sla_exporter::providers::liveagent::map::parse_time(
            rows[0]["date_created"].as_str().unwrap(),
        )
        .unwrap()
    };
    let old = api::Undocumented {
        old_account_time_shift: true,
        ..api::Undocumented::default()
    };
    let new = api::Undocumented::default();
    let utc = created(new, Some("0"));
    assert_eq!(created(new, None), utc);
    assert_eq!(created(old, Some("0")), utc);
    assert_eq!(utc - created(old, None), SignedDuration::from_hours(7));
    // The other switches stay off: the date_changed filter is still refused.
    let refused: HashMap<String, String> = [(
        "_filters",
        r#"[["date_changed","D>=","2026-03-10 00:00:00"]]"#,
    )]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    let headers: HashMap<String, String> = HashMap::from([("apikey".into(), "k".into())]);
    let reply = api::respond_as(
        old,
        42,
        SignedDuration::from_hours(48),
        now,
        "/api/v3/tickets",
        &refused,
        &headers,
    );
    assert_eq!(reply.status, 400);
}

/// One sync of the demo as of `now` with `extra` switched on, from `cursor`
/// (3-day lookback): the items in page order, the next cursor, and the
/// requests by endpoint.
async fn sync_demo_at(
    extra: api::Undocumented,
    now: Timestamp,
    cursor: Cursor,
) -> (Vec<Item>, Cursor, HashMap<String, u64>) {
    let served = start_with(
        DemoConfig::new(42)
            .with_clock(move || now)
            .with_undocumented(extra),
    )
    .await;
    let mut settings = demo::source_config("demo", &served.base_url);
    settings.requests_per_minute = 600_000;
    settings.initial_lookback = SignedDuration::from_hours(24 * 3);
    let registry = prometheus::Registry::new();
    let p = LiveAgentProvider::new(settings, ClientMetrics::new(&registry).unwrap())
        .unwrap()
        .with_clock(move || now);
    let (pages, next) = sync(&p, cursor).await;
    let mut requests = HashMap::new();
    for family in registry.gather() {
        if family.name() != "helpdesk_sla_source_api_requests_total" {
            continue;
        }
        for m in family.get_metric() {
            let endpoint = m
                .get_label()
                .iter()
                .find(|l| l.name() == "endpoint")
                .map(|l| l.value().to_owned())
                .unwrap_or_default();
            *requests.entry(endpoint).or_default() += m.get_counter().get_value() as u64;
        }
    }
    let items = pages.into_iter().flat_map(|p| p.items).collect();
    (items, next, requests)
}

/// From the second sync on, the strict demo's tickets fallback sees every
/// change the undocumented `date_changed` filter sees: an afternoon later,
/// each ticket that changed in between ends in the same state both ways,
/// old tickets that were resolved included (read by id).
#[tokio::test]
async fn the_strict_demo_misses_no_change_from_the_second_sync_on() {
    let first: Timestamp = NOW.parse().unwrap();
    let later = first + SignedDuration::from_hours(4);
    let strict = api::Undocumented::default();
    let lenient = api::Undocumented::ALL;
    let (_, strict_cursor, _) = sync_demo_at(strict, first, Cursor::default()).await;
    let (_, lenient_cursor, _) = sync_demo_at(lenient, first, Cursor::default()).await;
    let (strict_items, _, requests) = sync_demo_at(strict, later, strict_cursor).await;
    let (lenient_items, _, _) = sync_demo_at(lenient, later, lenient_cursor).await;
    // The last state each sync emitted, by id.
    let last = |items: Vec<Item>| -> HashMap<String, Item> {
        items
            .into_iter()
            .map(|mut i| {
                i.updated_at = i.created_at;
                (i.id.clone(), i)
            })
            .collect()
    };
    let (strict_items, lenient_items) = (last(strict_items), last(lenient_items));
    let changed: Vec<&Item> = lenient_items
        .values()
        .filter(|i| i.channel == Channel::Ticket)
        .filter(|i| i.statuses.last().is_some_and(|s| s.start > first))
        .collect();
    assert!(changed.len() > 20, "{} tickets changed", changed.len());
    let window_start = later - SignedDuration::from_hours(24 * 3);
    let old = changed
        .iter()
        .filter(|i| i.created_at < window_start)
        .count();
    assert!(old > 0, "no ticket from before the window changed");
    for item in &changed {
        assert_eq!(
            strict_items.get(&item.id),
            Some(*item),
            "{} created {}",
            item.id,
            item.created_at
        );
    }
    // Old tickets that left the open statuses were read by id.
    assert!(
        requests.get("/tickets/{id}").is_some_and(|n| *n > 0),
        "{requests:?}"
    );
    eprintln!(
        "second sync: {} tickets changed ({old} created before the window), requests {requests:?}",
        changed.len()
    );
}
