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
