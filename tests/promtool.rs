//! The README's first command for real: `--demo` serves SLA metrics for
//! tickets, chats and calls, and `promtool check metrics` finds nothing in the
//! live `/metrics` output.

mod common;

use std::time::Duration;

use common::{Exporter, get, promtool_check_metrics};

#[test]
fn demo_serves_sla_metrics_that_pass_promtool() {
    let dir = std::env::temp_dir().join(format!("hse-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exporter = Exporter::start(
        // A Tuesday morning in the demo's Ljubljana office hours. The lenient
        // demo API: through the documented fallbacks a first sync takes about
        // a minute (docs/providers.md), longer than this test waits.
        &[
            "--demo",
            "--debug.demo-undocumented",
            "--storage.path",
            dir.join("data").to_str().unwrap(),
            "--debug.fixed-time",
            "2026-11-24T09:30:00Z",
        ],
        &[],
        &dir,
    );
    // Readiness probe: 503 until the first sync, then 200.
    let mut ready = false;
    for _ in 0..1200 {
        if get(&exporter.url("/-/ready")).0 == 200 {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(ready, "demo never became ready: {}", exporter.log_text());
    let mut body = String::new();
    // Ready means the first sync ended; the evaluation it triggers may still be
    // running (or an earlier one, from before chats and calls arrived, may be
    // what is served), so wait for outcomes of every channel.
    let has = |body: &str, channel: &str| {
        body.contains(&format!(
            "helpdesk_sla_outcomes_total{{source=\"demo\",channel=\"{channel}\""
        ))
    };
    for _ in 0..1200 {
        body = get(&exporter.url("/metrics")).2;
        if ["ticket", "chat", "call"].iter().all(|c| has(&body, c)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    for channel in ["ticket", "chat", "call"] {
        let series = format!("helpdesk_sla_outcomes_total{{source=\"demo\",channel=\"{channel}\"");
        assert!(body.contains(&series), "no outcomes for {channel}:\n{body}");
    }
    assert!(body.contains("helpdesk_sla_open_items{source=\"demo\",channel=\"ticket\""));
    assert!(body.contains("helpdesk_sla_time_to_breach_seconds_bucket{source=\"demo\""));
    assert!(body.contains("helpdesk_sla_source_up{source=\"demo\"} 1"));
    let (code, output) = promtool_check_metrics(&body);
    assert_eq!(
        (code, output.as_str()),
        (0, ""),
        "promtool found problems in:\n{body}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn promtool_rejects_a_broken_exposition() {
    // Proves the check above can fail: a counter without `_total` is a finding.
    let (code, output) =
        promtool_check_metrics("# HELP x_bad A counter.\n# TYPE x_bad counter\nx_bad 1\n");
    assert_eq!(code, 3, "{output}");
    assert!(
        output.contains("counter metrics should have \"_total\" suffix"),
        "{output}"
    );
}
