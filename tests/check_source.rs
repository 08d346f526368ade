//! `check-source`: probes the configured account, prints one line per probe
//! with the requests used, and exits non-zero when a source cannot be synced.

mod common;

use std::process::{Command, Output};

use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn check_source(name: &str, server: &MockServer) -> Output {
    let (_dir, config) = common::liveagent::scratch_with_config(name, &server.uri());
    tokio::task::spawn_blocking(move || {
        Command::new(common::BIN)
            .args(["check-source", "--config.file", config.to_str().unwrap()])
            .env("LIVEAGENT_API_KEY", "check-source-key")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_account_can_be_synced() {
    let server = MockServer::start().await;
    common::liveagent::serve(&server).await;
    let out = check_source("check-source-ok", &server).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("source support (type liveagent):"),
        "{stdout}"
    );
    // One line per endpoint and assumption. The fixture server ignores
    // filters, so the date_changed filter is found ignored and the provider's
    // fallback is named.
    for line in [
        "works      GET /departments",
        "works      GET /tickets by date_created",
        "fallback   date_changed filter on /tickets",
        "works      GET /tickets/{id}/history",
        "works      GET /tickets/{id}/sla",
        // The fixture log's rows are older than the probe's week.
        "fallback   date_closed filter on /grid/tickets/sla",
        "works      GET /chats",
        "works      GET /calls",
        "works      GET /settings",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    assert!(
        stdout.contains("ignored (rows outside the filter or out of order)"),
        "{stdout}"
    );
    // The first page of tickets costs /departments, /tickets and /tickets/history.
    let sent = server.received_requests().await.unwrap().len();
    assert!(
        stdout.contains(&format!("=> can be synced; {sent} requests used")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_cannot_be_synced_and_is_never_printed() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/departments"))
        .respond_with(ResponseTemplate::new(401).set_body_string("{}"))
        .with_priority(1)
        .mount(&server)
        .await;
    common::liveagent::serve(&server).await;
    let out = check_source("check-source-401", &server).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("refused    GET /departments"), "{stdout}");
    assert!(
        stdout.contains("authentication failed (HTTP 401)"),
        "{stdout}"
    );
    assert!(stdout.contains("=> CANNOT be synced"), "{stdout}");
    assert!(
        stderr.contains("check-source: cannot sync: support"),
        "{stderr}"
    );
    assert!(!stdout.contains("check-source-key") && !stderr.contains("check-source-key"));
}

/// A Freshdesk account answering with the documented fixtures: the list and
/// its `stats` embed, a plan the account matches, groups, the status field.
async fn serve_freshdesk(server: &MockServer, tickets: ResponseTemplate) {
    let fixture = |name: &str| {
        std::fs::read(format!(
            "{}/tests/fixtures/freshdesk/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let ok =
        |name: &str| ResponseTemplate::new(200).set_body_raw(fixture(name), "application/json");
    Mock::given(path("/api/v2/tickets"))
        .respond_with(tickets)
        .mount(server)
        .await;
    Mock::given(path("/api/v2/groups"))
        .respond_with(ok("groups.json"))
        .mount(server)
        .await;
    Mock::given(path("/api/v2/admin/ticket_fields"))
        .respond_with(ok("ticket_fields.json"))
        .mount(server)
        .await;
    Mock::given(path("/api/v2/admin/ticket_fields/60000004"))
        .respond_with(ok("ticket_field_status.json"))
        .mount(server)
        .await;
}

async fn check_freshdesk(name: &str, server: &MockServer) -> Output {
    let dir = common::scratch(name);
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: desk\n    type: freshdesk\n    base_url: {}/api/v2\n    api_key_env: FRESHDESK_API_KEY\n    freshdesk: {{plan: pro}}\npolicies:\n  - name: all\n    targets:\n      first_response: {{within: 1h, objective: 0.9}}\n",
            server.uri()
        ),
    )
    .unwrap();
    tokio::task::spawn_blocking(move || {
        Command::new(common::BIN)
            .args(["check-source", "--config.file", config.to_str().unwrap()])
            .env("FRESHDESK_API_KEY", "freshdesk-check-key")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_freshdesk_account_can_be_synced() {
    let server = MockServer::start().await;
    let fixture = std::fs::read(format!(
        "{}/tests/fixtures/freshdesk/tickets_page2.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serve_freshdesk(
        &server,
        ResponseTemplate::new(200)
            .set_body_raw(fixture, "application/json")
            .insert_header("x-ratelimit-total", "400")
            .insert_header("x-ratelimit-remaining", "397")
            .insert_header("x-ratelimit-used-currentrequest", "3"),
    )
    .await;
    let out = check_freshdesk("check-source-freshdesk", &server).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("source desk (type freshdesk):"), "{stdout}");
    assert!(
        stdout.contains("include=stats on the ticket list"),
        "{stdout}"
    );
    assert!(stdout.contains("plan pro (400 credits/min)"), "{stdout}");
    assert!(
        stdout.contains("statuses that stop the SLA timer: Closed (5), Pending (3), Resolved (4), Waiting on Customer (6)"),
        "{stdout}"
    );
    assert!(!stdout.contains("freshdesk-check-key") && !stderr.contains("freshdesk-check-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_freshdesk_key_cannot_be_synced_and_is_never_printed() {
    let server = MockServer::start().await;
    serve_freshdesk(&server, ResponseTemplate::new(401).set_body_string("{}")).await;
    let out = check_freshdesk("check-source-freshdesk-401", &server).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("authentication failed (HTTP 401)"),
        "{stdout}"
    );
    assert!(stdout.contains("=> CANNOT be synced"), "{stdout}");
    // Neither the key nor its Basic form.
    for secret in ["freshdesk-check-key", "ZnJlc2hkZXNrLWNoZWNrLWtleTpY"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_refusing_undocumented_filters_syncs_through_fallbacks() {
    let server = MockServer::start().await;
    // LiveAgent's error body for a filter it does not support.
    let refused = || {
        ResponseTemplate::new(400).set_body_string(
            r#"{"response":{"status":"ERROR","statuscode":400,"errormessage":"Unsupported filter"}}"#,
        )
    };
    for field in ["date_changed", "conversation_id"] {
        Mock::given(wiremock::matchers::query_param_contains("_filters", field))
            .respond_with(refused())
            .with_priority(1)
            .mount(&server)
            .await;
    }
    common::liveagent::serve(&server).await;
    let out = check_source("check-source-strict", &server).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for line in [
        "fallback   date_changed filter on /tickets",
        "fallback   conversation_id filter on /tickets/history",
        "works      GET /tickets/{id}/history",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    assert!(
        stdout.contains("refused (GET /tickets: unexpected HTTP status 400)"),
        "{stdout}"
    );
    assert!(stdout.contains("=> can be synced"), "{stdout}");
}

/// `check-source` against the simulated LiveAgent as the vendor documents it
/// (the demo's default): both undocumented filters are refused, and the
/// output names the documented fallback the provider takes for each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_strict_demo_reports_the_fallbacks_it_takes() {
    use helpdesk_sla_exporter::demo;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/api/v3", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(demo::serve(
        listener,
        demo::DemoConfig::new(demo::SEED),
        async move {
            let _ = stopped.await;
        },
    ));
    let dir = common::scratch("check-source-strict-demo");
    let config = dir.join("config.yaml");
    std::fs::write(&config, demo::config_text(&base_url)).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(common::BIN)
            .args(["check-source", "--config.file", config.to_str().unwrap()])
            .env(demo::DEMO_KEY_ENV, demo::DEMO_API_KEY)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let _ = stop.send(());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for line in [
        "works      GET /tickets by date_created",
        "fallback   date_changed filter on /tickets",
        "the open tickets created before it by status",
        "fallback   conversation_id filter on /tickets/history",
        "the provider reads /tickets/{id}/history per ticket",
        "works      GET /tickets/{id}/history",
        "works      GET /chats",
        "works      GET /calls",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    // Refused with LiveAgent's error answer, not ignored.
    assert!(
        stdout.contains("refused (GET /tickets: unexpected HTTP status 400)"),
        "{stdout}"
    );
    assert!(stdout.contains("=> can be synced"), "{stdout}");
}
