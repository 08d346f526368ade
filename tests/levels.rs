//! `levels`: LiveAgent's own SLA levels become calendars and policies that the
//! config validation accepts as they are.

mod common;

use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveagent_levels_become_valid_policies() {
    let server = wiremock::MockServer::start().await;
    common::liveagent::serve(&server).await;
    let (dir, config) = common::liveagent::scratch_with_config("levels", &server.uri());
    let c = config.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(common::BIN)
            .args(["levels", "--config.file", c.to_str().unwrap()])
            .env("LIVEAGENT_API_KEY", "levels-key")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // From tests/fixtures/liveagent/slas.json: Gold has hours and a holiday;
    // Basic has no hours (24x7), and its zero and null values are left out.
    let body: String = yaml
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        body,
        r#"calendars:
  - name: gold-lvl1
    time_zone: "Europe/Bratislava"
    hours:
      monday: ["09:00-17:00"]
      friday: ["09:00-15:00"]
    holidays: ["2025-12-25"]
policies:
  - name: "Gold"
    match: {priorities: ["Gold"]}
    targets:
      first_response: {within: 4h, objective: 0.95, calendar: gold-lvl1}
      next_response: {within: 2h, objective: 0.95, calendar: gold-lvl1}
      resolution: {within: 1d, objective: 0.95, calendar: gold-lvl1, pause_statuses: [answered]}
      assignment: {within: 30m, objective: 0.95, calendar: gold-lvl1}
      pickup: {within: 1m, objective: 0.95, calendar: gold-lvl1}
      answer: {within: 30s, objective: 0.95, calendar: gold-lvl1}
  - name: "Basic"
    match: {priorities: ["Basic"]}
    targets:
      first_response: {within: 1d, objective: 0.95}
      next_response: {within: 2d, objective: 0.95}
      pickup: {within: 2m, objective: 0.95}
      answer: {within: 1m, objective: 0.95}
"#
    );
    // A config needs a source; the generated calendars and policies go with one.
    let yaml = format!(
        "sources:\n  - {{name: a, type: liveagent, base_url: 'https://x.invalid', api_key_env: K}}\n{yaml}"
    );
    let parsed = helpdesk_sla_exporter::config::parse(&yaml, Path::new("levels.yml"), &dir, &|v| {
        (v == "K").then(|| "k".to_owned())
    });
    let policies = parsed.expect("the output is valid config").policies;
    let names: Vec<&str> = policies
        .policies()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["Gold", "Basic"]);
    let _ = std::fs::remove_dir_all(&dir);
}
