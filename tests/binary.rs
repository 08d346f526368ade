//! The real binary as operators run it: signals, reloads, shutdown, and the
//! promise that a secret never leaks into logs, metrics, pages or errors.

mod common;

use std::time::Duration;

use common::{Exporter, get};

const SECRET: &str = "s3cr3t-api-key-0a9b8c7d";

fn config(extra_policy: &str) -> String {
    format!(
        "sources:\n  - name: support\n    type: liveagent\n    base_url: http://127.0.0.1:9/api/v3\n    api_key_file: key.txt\n    timeout: 1s\npolicies:\n  - name: default\n    targets:\n      pickup: {{within: 60s, objective: 0.9{extra_policy}}}\n"
    )
}

#[test]
fn sighup_reloads_and_sigterm_exits_zero_without_leaking_the_secret() {
    let dir = common::scratch("bin-signals");
    std::fs::write(dir.join("key.txt"), format!("{SECRET}\n")).unwrap();
    let path = dir.join("config.yml");
    std::fs::write(&path, config("")).unwrap();
    let mut exporter = Exporter::start(
        &[
            "--config.file",
            path.to_str().unwrap(),
            "--log.level",
            "debug",
            "--storage.path",
            dir.join("data").to_str().unwrap(),
        ],
        &[],
        &dir,
    );

    let mut seen = Vec::new();
    for p in ["/metrics", "/", "/-/ready", "/-/healthy"] {
        seen.push(get(&exporter.url(p)).2);
    }

    // A bad config on SIGHUP is rejected and the failure shows in the metrics.
    std::fs::write(&path, config(", at_risk: always")).unwrap();
    exporter.signal("HUP");
    seen.push(exporter.wait_metrics(|b| {
        b.lines()
            .any(|l| l == "helpdesk_sla_exporter_config_last_reload_successful 0")
    }));
    // Without --web.enable-lifecycle, POST /-/reload is refused (SIGHUP still works).
    let reload = std::process::Command::new("curl")
        .args([
            "-s",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            &exporter.url("/-/reload"),
        ])
        .output()
        .unwrap();
    let reload = String::from_utf8_lossy(&reload.stdout).into_owned();
    assert_eq!(
        reload,
        "Lifecycle API is not enabled; start the exporter with --web.enable-lifecycle.\n403"
    );
    // A good one on the next SIGHUP is applied.
    std::fs::write(&path, config(", at_risk: 10s")).unwrap();
    exporter.signal("HUP");
    seen.push(exporter.wait_metrics(|b| {
        b.lines()
            .any(|l| l == "helpdesk_sla_exporter_config_last_reload_successful 1")
    }));

    exporter.signal("TERM");
    assert_eq!(
        exporter.wait_exit(Duration::from_secs(5)),
        Some(0),
        "log: {}",
        exporter.log_text()
    );

    let log = exporter.log_text();
    assert!(log.contains("configuration reload failed"), "{log}");
    assert!(
        log.contains("\"key\":\"policies[0].targets.pickup.at_risk\""),
        "{log}"
    );
    assert!(log.contains("\"signal\":\"SIGTERM\""), "{log}");
    for text in seen.iter().chain([&log]) {
        assert!(!text.contains(SECRET), "secret leaked into: {text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_config_and_no_demo_is_a_clear_error() {
    let out = std::process::Command::new(common::BIN).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no --config.file given; run with --demo to try the built-in demo helpdesk"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigterm_during_a_long_evaluation_exits_at_once() {
    let dir = common::scratch("bin-term-evaluating");
    std::fs::write(dir.join("key.txt"), format!("{SECRET}\n")).unwrap();
    let path = dir.join("config.yml");
    std::fs::write(&path, config("")).unwrap();
    // Every evaluation is held for ten minutes before it starts, so the first
    // one is still in progress when the signal arrives.
    let mut exporter = Exporter::start(
        &[
            "--config.file",
            path.to_str().unwrap(),
            "--storage.path",
            dir.join("data").to_str().unwrap(),
            "--debug.evaluation-delay",
            "10m",
        ],
        &[],
        &dir,
    );
    assert_eq!(get(&exporter.url("/-/healthy")).0, 200);
    exporter.signal("TERM");
    assert_eq!(
        exporter.wait_exit(Duration::from_secs(5)),
        Some(0),
        "log: {}",
        exporter.log_text()
    );
    let log = exporter.log_text();
    assert!(
        log.contains("shutting down without waiting for the evaluation in progress"),
        "{log}"
    );
    assert!(log.contains("\"message\":\"stopped\""), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
