//! The fault suite: vendor behaviour found by fault probes of the release build,
//! each guarded by a test named after the behaviour it guards. Client-level
//! faults run against wiremock; faults where the process matters run the real
//! binary against a wiremock LiveAgent.

mod common;

use std::time::Duration;

use common::Exporter;
use helpdesk_sla_exporter::providers::ProviderError;
use helpdesk_sla_exporter::providers::client::{Auth, ClientMetrics, ClientSettings, HttpClient};
use helpdesk_sla_exporter::secret::Secret;
use prometheus::Registry;
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "fault-suite-key-never-leaves";

fn settings(base: &str, auth: Auth, rpm: u32) -> ClientSettings {
    ClientSettings::new("support", base, auth, Duration::from_secs(5), rpm).without_io_timers()
}

#[tokio::test]
async fn credentials_never_follow_a_redirect_to_another_host() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("[]", "application/json"))
        .mount(&elsewhere)
        .await;
    let vendor = MockServer::start().await;
    Mock::given(path("/tickets"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/stolen", elsewhere.uri()).as_str()),
        )
        .mount(&vendor)
        .await;
    let kinds = [
        Auth::Header {
            name: "apikey",
            value: Secret::new(KEY),
        },
        Auth::Basic {
            user: "agent@example.com".into(),
            password: Secret::new(KEY),
        },
        Auth::Bearer(Secret::new(KEY)),
    ];
    for auth in kinds {
        let label = format!("{auth:?}");
        let metrics = ClientMetrics::new(&Registry::new()).unwrap();
        let client = HttpClient::new(settings(&vendor.uri(), auth, 6000), metrics).unwrap();
        let err = client.get("/tickets", &[]).await.unwrap_err();
        assert_eq!(err.reason(), "redirect", "{label}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("HTTP 302") && text.contains(&elsewhere.uri()),
            "{text}"
        );
        assert!(!text.contains(KEY));
    }
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "a request reached the other host"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rebuilt_client_keeps_the_request_budget_of_its_source() {
    // A reload rebuilds every provider and its client; the budget must carry
    // over, or each reload would grant a fresh burst (100 reloads once sent
    // 308 requests against a 60/min budget).
    let server = MockServer::start().await;
    Mock::given(path("/tickets"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("[]", "application/json"))
        .mount(&server)
        .await;
    let metrics = ClientMetrics::new(&Registry::new()).unwrap();
    let auth = || Auth::Bearer(Secret::new(KEY));
    let start = Instant::now();
    // 60/min: a burst of 6, then one a second.
    for _ in 0..6 {
        let client = HttpClient::new(settings(&server.uri(), auth(), 60), metrics.clone()).unwrap();
        client.get("/tickets", &[]).await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    let rebuilt = HttpClient::new(settings(&server.uri(), auth(), 60), metrics.clone()).unwrap();
    rebuilt.get("/tickets", &[]).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    // A changed budget is a new setting, with its own bucket.
    let changed = HttpClient::new(settings(&server.uri(), auth(), 120), metrics).unwrap();
    changed.get("/tickets", &[]).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

/// Runs the exporter against `server` until the source's sync errors with
/// `reason` once; returns the metrics text and the log.
async fn sync_fails_with(name: &str, server: &MockServer, reason: &str) -> (String, String) {
    let (dir, _) = common::liveagent::scratch_with_config(name, &server.uri());
    let d = dir.clone();
    let exporter = tokio::task::spawn_blocking(move || {
        Exporter::start(
            &[
                "--config.file",
                d.join("config.yml").to_str().unwrap(),
                "--storage.path",
                d.join("data").to_str().unwrap(),
                "--debug.fixed-time",
                "2025-01-03T12:00:00Z",
            ],
            &[("LIVEAGENT_API_KEY", KEY)],
            &d,
        )
    })
    .await
    .unwrap();
    let line = format!(
        "helpdesk_sla_source_sync_errors_total{{reason=\"{reason}\",source=\"support\"}} 1"
    );
    let body = tokio::task::block_in_place(|| exporter.wait_metrics(|b| b.contains(&line)));
    let log = exporter.log_text();
    let _ = std::fs::remove_dir_all(&dir);
    (body, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_repeating_its_cursor_ends_the_sync_as_a_paging_loop() {
    let server = MockServer::start().await;
    // /calls answers every request, with or without a cursor, with a full page
    // and the same next cursor.
    let call = |id: &str| serde_json::json!({"id": id, "type": "I", "dateCreated": "2025-01-02 09:00:00", "dateAnswered": null, "dateFinished": "2025-01-02 09:01:00"});
    Mock::given(path("/api/v3/calls"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(
                    serde_json::json!([call("k1"), call("k2")]).to_string(),
                    "application/json",
                )
                .insert_header("next_page_cursor", "same-every-time"),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    common::liveagent::serve(&server).await;
    let (body, log) = sync_fails_with("fault-cursor", &server, "paging_loop").await;
    assert!(body.contains("helpdesk_sla_source_up{source=\"support\"} 0"));
    let calls = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/v3/calls")
        .count();
    assert!(calls <= 3, "{calls} requests to /calls");
    let line = log
        .lines()
        .find(|l| l.contains("sync failed"))
        .expect("a warning line");
    assert!(line.contains("paging does not advance"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_style_endpoint_ignoring_the_page_ends_as_a_paging_loop() {
    let server = MockServer::start().await;
    // /chats ignores `_page`: every page is the same full page of chats.
    let chats: Vec<serde_json::Value> = (0..500)
        .map(|i| {
            serde_json::json!({"id": format!("c{i}"), "date_created": "2025-01-02 10:00:00",
            "status_date_started": "2025-01-02 10:00:30", "rstatus": "R", "status": "T",
            "departmentId": "zbmc7d61", "agentId": null})
        })
        .collect();
    Mock::given(path("/api/v3/chats"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            serde_json::Value::from(chats).to_string(),
            "application/json",
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    common::liveagent::serve(&server).await;
    let (_, log) = sync_fails_with("fault-page", &server, "paging_loop").await;
    let pages = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/v3/chats")
        .count();
    assert_eq!(pages, 2, "the second identical page ends the sync");
    assert!(
        log.contains("the same 500 items as the page before"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_history_cursor_ends_the_sync_as_a_paging_loop() {
    let server = MockServer::start().await;
    // Every history request, whatever its cursor, answers a row and the same
    // next cursor.
    Mock::given(path("/api/v3/tickets/history"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(
                    serde_json::json!([{"id": "h1", "conversation_id": "a1b2c3d4", "status": "N",
                        "date_from": "2025-01-02 08:00:00", "date_to": null}])
                    .to_string(),
                    "application/json",
                )
                .insert_header("next_page_cursor", "loop"),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    common::liveagent::serve(&server).await;
    let (_, log) = sync_fails_with("fault-history", &server, "paging_loop").await;
    let history = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/v3/tickets/history")
        .count();
    assert!(history <= 3, "{history} history requests");
    assert!(log.contains("next_page_cursor repeats"), "{log}");
}

#[test]
fn error_reasons_include_redirect_and_paging_loop() {
    let e = ProviderError::PagingLoop {
        endpoint: "/calls".into(),
        detail: "x".into(),
    };
    assert_eq!(e.reason(), "paging_loop");
    assert!(
        helpdesk_sla_exporter::metrics::source::SourceMetrics::ERROR_REASONS
            .contains(&"paging_loop")
    );
    assert!(
        helpdesk_sla_exporter::metrics::source::SourceMetrics::ERROR_REASONS.contains(&"redirect")
    );
}
