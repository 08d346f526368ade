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

/// Freshdesk renders its own levels: SLA policies per priority on each
/// group's business calendar, through the same subcommand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freshdesk_policies_and_business_hours_become_config() {
    use wiremock::matchers::path;
    use wiremock::{Mock, ResponseTemplate};

    let server = wiremock::MockServer::start().await;
    for (p, file) in [
        ("/api/v2/sla_policies", "sla_policies.json"),
        ("/api/v2/groups", "groups.json"),
        ("/api/v2/business_hours", "business_hours.json"),
        ("/api/v2/business_hours/7000", "business_hours_7000.json"),
        ("/api/v2/business_hours/7001", "business_hours_7001.json"),
    ] {
        let body = std::fs::read(format!(
            "{}/tests/fixtures/freshdesk/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        Mock::given(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
            .mount(&server)
            .await;
    }
    let dir = common::scratch("levels-freshdesk");
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - {{name: desk, type: freshdesk, base_url: '{}/api/v2', api_key_env: FRESHDESK_API_KEY}}\n",
            server.uri()
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(common::BIN)
            .args(["levels", "--config.file", config.to_str().unwrap()])
            .env("FRESHDESK_API_KEY", "levels-key")
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
    assert!(
        yaml.contains("  - name: fd-chennai-desk-7001\n    time_zone: \"Asia/Kolkata\""),
        "{yaml}"
    );
    assert!(
        yaml.contains("  - name: \"Default SLA Policy / urgent / fd-general-working-hours-7000\""),
        "{yaml}"
    );
    assert!(!yaml.contains("levels-key"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Zendesk renders its own levels: SLA policies (paged) per priority, with
/// group, priority and tag conditions as `match`, the rest listed as not
/// importable, and schedules with holidays as calendars.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zendesk_policies_and_schedules_become_config() {
    use wiremock::matchers::{path, query_param, query_param_is_missing};
    use wiremock::{Mock, ResponseTemplate};

    let server = wiremock::MockServer::start().await;
    let body = |file: &str| {
        let body = std::fs::read(format!(
            "{}/tests/fixtures/zendesk/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        ResponseTemplate::new(200).set_body_raw(body, "application/json")
    };
    Mock::given(path("/api/v2/slas/policies.json"))
        .and(query_param_is_missing("page"))
        .respond_with(body("sla_policies.json"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v2/slas/policies.json"))
        .and(query_param("page", "2"))
        .respond_with(body("sla_policies_page2.json"))
        .expect(1)
        .mount(&server)
        .await;
    for (p, file) in [
        ("/api/v2/business_hours/schedules.json", "schedules.json"),
        (
            "/api/v2/business_hours/schedules/1850/holidays.json",
            "holidays_1850.json",
        ),
        (
            "/api/v2/business_hours/schedules/1851/holidays.json",
            "holidays_1851.json",
        ),
        ("/api/v2/groups.json", "groups.json"),
    ] {
        Mock::given(path(p))
            .respond_with(body(file))
            .expect(1)
            .mount(&server)
            .await;
    }
    let dir = common::scratch("levels-zendesk");
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - {{name: desk, type: zendesk, base_url: '{}/api/v2', api_key_env: ZENDESK_API_KEY, zendesk: {{email: sla@acme.example}}}}\n",
            server.uri()
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(common::BIN)
            .args(["levels", "--config.file", config.to_str().unwrap()])
            .env("ZENDESK_API_KEY", "levels-key")
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
    assert!(!yaml.contains("levels-key"));
    assert!(
        yaml.contains("default schedule"),
        "the schedule choice is stated: {yaml}"
    );
    // From the fixtures: intervals are minutes from Sunday 00:00 (1980 =
    // Monday 09:00), the Rails zone becomes IANA, a two-day holiday two
    // dates; a whole day is two halves. "Enterprise" keeps its group (by
    // name) and tags; "Standard" admits priorities below urgent, and its
    // `any` of two fields is not importable. Targets in seconds.
    let body: String = yaml
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        body,
        r#"calendars:
  - name: zd-north-america-1850
    time_zone: "America/New_York"
    hours:
      monday: ["09:00-17:00"]
      tuesday: ["09:00-17:00"]
      wednesday: ["09:00-17:00"]
      thursday: ["09:00-17:00"]
      friday: ["09:00-17:00"]
    holidays: ["2025-12-25", "2025-12-26", "2026-07-03"]
  - name: zd-tokyo-weekend-desk-1851
    time_zone: "Asia/Tokyo"
    hours:
      saturday: ["00:00-12:00", "12:00-24:00"]
      sunday: ["00:00-12:00", "12:00-24:00"]
    holidays: []
policies:
  - name: "Enterprise / urgent"
    match: {priorities: ["urgent"], teams: ["Technical Support"], tags: ["vip", "enterprise"]}
    # not importable: periodic_update_time (no such target in the exporter)
    targets:
      first_response: {within: 30m, objective: 0.95, calendar: zd-north-america-1850}
      resolution: {within: 4h, objective: 0.95, calendar: zd-north-america-1850, pause_statuses: [pending]}
  - name: "Enterprise / high"
    match: {priorities: ["high"], teams: ["Technical Support"], tags: ["vip", "enterprise"]}
    targets:
      first_response: {within: 1h, objective: 0.95, calendar: zd-north-america-1850}
      next_response: {within: 2h, objective: 0.95, calendar: zd-north-america-1850}
      resolution: {within: 8h, objective: 0.95, pause_statuses: [pending, on_hold]}
  - name: "Standard / normal"
    # not importable: any of: organization_id is 57542
    # not importable: any of: via_id is 4
    match: {priorities: ["normal"]}
    targets:
      first_response: {within: 8h, objective: 0.95, calendar: zd-north-america-1850}
      resolution: {within: 2d, objective: 0.95, pause_statuses: [pending]}
  # "Standard / low": no target the exporter can measure (pausable_update_time (no such target in the exporter))
"#
    );
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
    assert_eq!(
        names,
        [
            "Enterprise / urgent",
            "Enterprise / high",
            "Standard / normal"
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
