//! Restarts: a sync interrupted between pages resumes from the stored cursor,
//! and a SIGKILL in the middle of a sync neither counts an outcome twice nor
//! lowers a counter. Both compare against the uninterrupted run pinned in
//! `tests/golden/metrics.txt`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Exporter, get};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const NOW: &str = "2025-01-03T12:00:00Z";

/// The `helpdesk_sla_outcomes_total` lines of a scrape, sorted.
fn outcomes(body: &str) -> Vec<String> {
    let mut v: Vec<String> = body
        .lines()
        .filter(|l| l.starts_with("helpdesk_sla_outcomes_total{"))
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

fn golden_outcomes() -> Vec<String> {
    outcomes(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/metrics.txt"
        ))
        .unwrap(),
    )
}

fn start(dir: &Path) -> Exporter {
    Exporter::start(
        &[
            "--log.level",
            "debug",
            "--web.enable-lifecycle",
            "--config.file",
            dir.join("config.yml").to_str().unwrap(),
            "--storage.path",
            dir.join("data").to_str().unwrap(),
            "--debug.fixed-time",
            NOW,
        ],
        &[("LIVEAGENT_API_KEY", "restart-key")],
        dir,
    )
}

async fn requests_to(server: &MockServer, endpoint: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == endpoint)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_failing_between_pages_resumes_from_its_cursor() {
    let server = MockServer::start().await;
    // The calls page fails once (400 is not retried), after tickets and chats
    // were stored; every later request succeeds.
    Mock::given(method("GET"))
        .and(path("/api/v3/calls"))
        .respond_with(ResponseTemplate::new(400))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    common::liveagent::serve(&server).await;
    let (dir, _) = common::liveagent::scratch_with_config("restart-resume", &server.uri());

    let d = dir.clone();
    let first = tokio::task::spawn_blocking(move || {
        let mut exporter = start(&d);
        let body = exporter.wait_metrics(|b| {
            b.contains(
                "helpdesk_sla_source_sync_errors_total{reason=\"status\",source=\"support\"} 1",
            )
        });
        exporter.signal("TERM");
        assert_eq!(exporter.wait_exit(Duration::from_secs(5)), Some(0));
        body
    })
    .await
    .unwrap();
    assert!(first.contains("helpdesk_sla_source_up{source=\"support\"} 0"));
    assert_eq!(requests_to(&server, "/api/v3/tickets").await, 1);

    let d = dir.clone();
    let second = tokio::task::spawn_blocking(move || {
        let exporter = start(&d);
        exporter.wait_metrics(|b| {
            b.contains("helpdesk_sla_source_up{source=\"support\"} 1")
                && b.contains("target=\"answer\",outcome=\"met\"")
        })
    })
    .await
    .unwrap();
    // The failing calls stream kept its cursor while tickets and chats moved
    // on (streams are independent): the restart's sync reads calls again and
    // the others incrementally; nothing is counted twice.
    assert!(first.contains("helpdesk_sla_source_stream_up{source=\"support\",stream=\"calls\"} 0"));
    assert!(first.contains("helpdesk_sla_source_stream_up{source=\"support\",stream=\"chats\"} 1"));
    assert_eq!(requests_to(&server, "/api/v3/calls").await, 2);
    assert_eq!(outcomes(&second), golden_outcomes());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_sync_neither_double_counts_nor_lowers_a_counter() {
    let server = MockServer::start().await;
    common::liveagent::serve(&server).await;
    let (dir, _) = common::liveagent::scratch_with_config("restart-kill", &server.uri());

    // A complete first sync.
    let d = dir.clone();
    let (before, mut exporter) = tokio::task::spawn_blocking(move || {
        let exporter = start(&d);
        let body = exporter.wait_metrics(|b| b.contains("target=\"answer\",outcome=\"met\""));
        (outcomes(&body), exporter)
    })
    .await
    .unwrap();
    assert_eq!(before, golden_outcomes());

    // A second sync (a reload restarts the pollers) hangs on its calls page;
    // the process is killed while it waits.
    Mock::given(method("GET"))
        .and(path("/api/v3/calls"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(30))
                .set_body_string("[]"),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    let url = exporter.url("/-/reload");
    let status = reqwest::Client::new()
        .post(&url)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    for _ in 0..400 {
        if requests_to(&server, "/api/v3/calls").await >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        requests_to(&server, "/api/v3/calls").await,
        2,
        "the second sync never reached its calls page"
    );
    exporter.signal("KILL");
    assert_eq!(
        exporter.wait_exit(Duration::from_secs(5)),
        None,
        "SIGKILL has no exit code"
    );
    drop(exporter);

    server.reset().await;
    common::liveagent::serve(&server).await;
    let d = dir.clone();
    let after = tokio::task::spawn_blocking(move || {
        let exporter = start(&d);
        exporter.wait_metrics(|b| b.contains("helpdesk_sla_source_up{source=\"support\"} 1"));
        // The evaluation after the resumed sync re-evaluates every item and
        // finds nothing new to count.
        let mut evaluations = Vec::new();
        for _ in 0..400 {
            let log = exporter.log_text();
            let after_sync = log
                .split_once("sync finished")
                .map(|(_, rest)| rest.to_owned())
                .unwrap_or_default();
            evaluations = after_sync
                .lines()
                .filter(|l| l.contains("\"evaluated\""))
                .map(str::to_owned)
                .collect();
            if !evaluations.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        assert!(
            evaluations[0].contains("\"new_outcomes\":0"),
            "{evaluations:?}"
        );
        outcomes(&get(&exporter.url("/metrics")).2)
    })
    .await
    .unwrap();
    assert_eq!(after, before);
    let _ = std::fs::remove_dir_all(&dir);
}
