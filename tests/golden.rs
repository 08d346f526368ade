//! The metric contract: the real binary against a wiremock LiveAgent with a
//! fixed clock; `/metrics` minus process-level series must equal
//! `tests/golden/metrics.txt` (`UPDATE_EXPECT=1` rewrites it), and the whole
//! output passes `promtool check metrics`.

mod common;

use std::time::Duration;

use common::{Exporter, get, promtool_check_metrics};

/// Fixed "now": the day after the fixtures' tickets, in business hours.
const NOW: &str = "2025-01-03T12:00:00Z";

/// Drops process-level series and masks the values that differ per build or
/// run (build revision, rustc, sync duration), keeping their presence.
fn normalize(body: &str) -> String {
    let mut out = String::new();
    for line in body.lines() {
        if line.contains("process_") {
            continue;
        }
        let line = if line.starts_with("helpdesk_sla_exporter_build_info{") {
            "helpdesk_sla_exporter_build_info{revision=\"…\",rustc=\"…\",version=\"…\"} 1"
                .to_owned()
        } else if line.starts_with("helpdesk_sla_source_sync_duration_seconds{") {
            format!("{} …", line.rsplit_once(' ').unwrap().0)
        } else if line
            .starts_with("helpdesk_sla_exporter_config_last_reload_success_timestamp_seconds ")
        {
            "helpdesk_sla_exporter_config_last_reload_success_timestamp_seconds …".to_owned()
        } else {
            line.to_owned()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_the_golden_file() {
    let server = wiremock::MockServer::start().await;
    common::liveagent::serve(&server).await;
    let (dir, config) = common::liveagent::scratch_with_config("golden", &server.uri());

    let body = tokio::task::spawn_blocking(move || {
        let exporter = Exporter::start(
            &[
                "--config.file",
                config.to_str().unwrap(),
                "--storage.path",
                dir.join("data").to_str().unwrap(),
                "--debug.fixed-time",
                NOW,
            ],
            &[("LIVEAGENT_API_KEY", "golden-key")],
            &dir,
        );
        // Readiness: the first sync is done and its evaluation rendered.
        let mut body = String::new();
        for _ in 0..400 {
            body = get(&exporter.url("/metrics")).2;
            if body.contains("helpdesk_sla_source_up{source=\"support\"} 1")
                && body.contains("helpdesk_sla_outcomes_total{")
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = std::fs::remove_dir_all(&dir);
        body
    })
    .await
    .unwrap();

    let (code, lint) = promtool_check_metrics(&body);
    assert_eq!(
        (code, lint.as_str()),
        (0, ""),
        "promtool check metrics:\n{body}"
    );

    let actual = normalize(&body);
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/metrics.txt");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::create_dir_all(std::path::Path::new(golden).parent().unwrap()).unwrap();
        std::fs::write(golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(golden)
        .expect("tests/golden/metrics.txt (UPDATE_EXPECT=1 writes it)");
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .filter(|l| !actual.lines().any(|a| a == *l))
            .map(|l| format!("- {l}"))
            .chain(
                actual
                    .lines()
                    .filter(|l| !expected.lines().any(|e| e == *l))
                    .map(|l| format!("+ {l}")),
            )
            .collect();
        panic!(
            "/metrics differs from tests/golden/metrics.txt:\n{}",
            diff.join("\n")
        );
    }
}
