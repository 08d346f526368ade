//! Bad input loses nothing: after a good sync, a malformed page, a field of the
//! wrong type or an auth failure logs one line, marks the source down and
//! counts the reason, while the last good SLA data keeps serving.

mod common;

use common::{Exporter, get};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const NOW: &str = "2025-01-03T12:00:00Z";

fn sla_lines(body: &str) -> Vec<String> {
    body.lines()
        .filter(|l| {
            l.starts_with("helpdesk_sla_outcomes_total{")
                || l.starts_with("helpdesk_sla_open_items{")
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_after_a_good_sync_keep_the_last_good_data() {
    let server = MockServer::start().await;
    common::liveagent::serve(&server).await;
    let (dir, _) = common::liveagent::scratch_with_config("degraded", &server.uri());
    let d = dir.clone();
    let exporter = tokio::task::spawn_blocking(move || {
        Exporter::start(
            &[
                "--web.enable-lifecycle",
                "--config.file",
                d.join("config.yml").to_str().unwrap(),
                "--storage.path",
                d.join("data").to_str().unwrap(),
                "--debug.fixed-time",
                NOW,
            ],
            &[("LIVEAGENT_API_KEY", "degraded-key")],
            &d,
        )
    })
    .await
    .unwrap();
    let e = &exporter;
    let good = tokio::task::block_in_place(|| {
        e.wait_metrics(|b| b.contains("target=\"answer\",outcome=\"met\""))
    });
    let good_sla = sla_lines(&good);
    assert!(!good_sla.is_empty());

    // Each failure in turn; a reload restarts the poller for an immediate sync.
    let cases: [(&str, ResponseTemplate, &str); 3] = [
        (
            "/api/v3/tickets",
            ResponseTemplate::new(200).set_body_string("[{\"id\": \"x\", "),
            "decode",
        ),
        (
            "/api/v3/chats",
            ResponseTemplate::new(200).set_body_string("{\"id\": 42}"),
            "decode",
        ),
        (
            "/api/v3/departments",
            ResponseTemplate::new(401).set_body_string("{}"),
            "auth",
        ),
    ];
    let mut expected_errors = std::collections::HashMap::new();
    for (endpoint, response, reason) in cases {
        server.reset().await;
        Mock::given(method("GET"))
            .and(path(endpoint))
            .respond_with(response)
            .with_priority(1)
            .mount(&server)
            .await;
        common::liveagent::serve(&server).await;
        *expected_errors.entry(reason).or_insert(0) += 1;
        let n = expected_errors[reason];
        let status = reqwest::Client::new()
            .post(exporter.url("/-/reload"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        let line = format!(
            "helpdesk_sla_source_sync_errors_total{{reason=\"{reason}\",source=\"support\"}} {n}"
        );
        let body = tokio::task::block_in_place(|| e.wait_metrics(|b| b.lines().any(|l| l == line)));
        assert!(
            body.contains("helpdesk_sla_source_up{source=\"support\"} 0"),
            "{endpoint}"
        );
        assert_eq!(
            sla_lines(&body),
            good_sla,
            "SLA data changed after a failing {endpoint}"
        );
        let (_, _, page) = get(&exporter.url("/"));
        assert!(page.contains(">down</span>"), "{page}");
        // A failing stream is named, and the others were read to their end.
        if endpoint == "/api/v3/tickets" {
            let up = |stream: &str, v: u8| {
                format!(
                    "helpdesk_sla_source_stream_up{{source=\"support\",stream=\"{stream}\"}} {v}"
                )
            };
            for line in [up("tickets", 0), up("chats", 1), up("calls", 1)] {
                assert!(body.lines().any(|l| l == line), "{line}\n{body}");
            }
            let errors = "helpdesk_sla_source_stream_errors_total{reason=\"decode\",source=\"support\",stream=\"tickets\"} 1";
            assert!(body.lines().any(|l| l == errors), "{body}");
        }
    }
    // One warning line per failure (a failed stream, or a sync that could
    // not start), each naming the endpoint and reason, and never the key.
    let log = exporter.log_text();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("sync failed") || l.contains("stream failed"))
        .collect();
    assert_eq!(warnings.len(), 3, "{log}");
    assert!(
        warnings[0].contains("\"reason\":\"decode\"") && warnings[0].contains("GET /tickets"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[2].contains("\"reason\":\"auth\"") && warnings[2].contains("GET /departments"),
        "{}",
        warnings[2]
    );
    assert!(!log.contains("degraded-key"));

    // A row of the wrong type is no failure: it is skipped and counted, the
    // source stays up, and the rows already stored keep serving.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/api/v3/chats"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string("[{\"id\": 42, \"date_created\": true}]"),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    common::liveagent::serve(&server).await;
    let status = reqwest::Client::new()
        .post(exporter.url("/-/reload"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let line = "helpdesk_sla_source_rows_rejected_total{reason=\"invalid_type\",source=\"support\",stream=\"chats\"} 1";
    let body = tokio::task::block_in_place(|| {
        e.wait_metrics(|b| {
            b.lines().any(|l| l == line)
                && b.contains("helpdesk_sla_source_up{source=\"support\"} 1")
        })
    });
    assert_eq!(
        sla_lines(&body),
        good_sla,
        "SLA data changed after a bad row"
    );
    let log = exporter.log_text();
    let skipped: Vec<&str> = log.lines().filter(|l| l.contains("row skipped")).collect();
    assert_eq!(skipped.len(), 1, "{log}");
    assert!(
        skipped[0].contains("\"id\":\"42\"") && skipped[0].contains("\"field\":\"date_created\""),
        "{}",
        skipped[0]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
