//! A wiremock LiveAgent v3 API serving the fixtures in `tests/fixtures/liveagent/`,
//! for tests that run the real binary against it.

use std::path::PathBuf;

use wiremock::matchers::{header_exists, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/liveagent/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Mounts every endpoint the provider reads, each answering with one short
/// page (so paging ends) and no `next_page_cursor` header. Requests without
/// the `apikey` header get 401, as from the real API.
pub async fn serve(server: &MockServer) {
    for (endpoint, file) in [
        ("/api/v3/departments", "departments.json"),
        ("/api/v3/tickets", "tickets.json"),
        ("/api/v3/tickets/history", "history.json"),
        ("/api/v3/chats", "chats.json"),
        ("/api/v3/calls", "calls.json"),
        ("/api/v3/slas", "slas.json"),
        ("/api/v3/settings", "settings.json"),
        ("/api/v3/tags", "tags.json"),
        ("/api/v3/grid/tickets/sla", "sla_log_tickets.json"),
        ("/api/v3/grid/chats/sla", "sla_log_chats.json"),
        ("/api/v3/grid/calls/sla", "sla_log_calls.json"),
    ] {
        Mock::given(method("GET"))
            .and(path(endpoint))
            .and(header_exists("apikey"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/json")
                    .set_body_bytes(fixture(file)),
            )
            .mount(server)
            .await;
    }
    // The documented per-ticket history (the fallback of the history filter).
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v3/tickets/[^/]+/history$"))
        .and(header_exists("apikey"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_bytes(fixture("history.json")),
        )
        .mount(server)
        .await;
    // `GET /tickets/{ticketId}/sla`: each ticket's own row of the fixture,
    // 404 for a ticket it does not list.
    let levels: Vec<serde_json::Value> =
        serde_json::from_slice(&fixture("ticket_sla.json")).unwrap();
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v3/tickets/[^/]+/sla$"))
        .and(header_exists("apikey"))
        .respond_with(move |req: &wiremock::Request| {
            let id = req.url.path().split('/').nth(4).unwrap_or_default();
            match levels.iter().find(|l| l["conversationid"] == id) {
                Some(row) => ResponseTemplate::new(200)
                    .insert_header("content-type", "application/json")
                    .set_body_string(row.to_string()),
                None => ResponseTemplate::new(404).set_body_string("{\"message\":\"Not found\"}"),
            }
        })
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401).set_body_string("{\"message\":\"Invalid API key\"}"),
        )
        .mount(server)
        .await;
}

/// A scratch directory holding `config.yml` for a LiveAgent at `base_url`;
/// returns the directory and the config path.
pub fn scratch_with_config(name: &str, base_url: &str) -> (PathBuf, PathBuf) {
    let dir = super::scratch(name);
    let config = dir.join("config.yml");
    std::fs::write(&config, self::config(base_url)).unwrap();
    (dir, config)
}

/// A config for the fixtures: one LiveAgent source at `base_url`, an office
/// calendar and policies for tickets, chats and calls.
pub fn config(base_url: &str) -> String {
    format!(
        r#"sources:
  - name: support
    type: liveagent
    base_url: {base_url}/api/v3
    api_key_env: LIVEAGENT_API_KEY
    poll_interval: 10m
    # The fixtures are from January 2025 and the mock serves them whatever the
    # filter: the window must hold them, or the provider rightly finds the
    # `date_changed` filter ignored (rows before `since`) and drops them.
    initial_lookback: 1095d
calendars:
  - name: office
    time_zone: Europe/Bratislava
    hours:
      monday: ["08:00-17:00"]
      tuesday: ["08:00-17:00"]
      wednesday: ["08:00-17:00"]
      thursday: ["08:00-17:00"]
      friday: ["08:00-17:00"]
    holidays: ["*-01-01"]
policies:
  - name: tickets
    match: {{channels: [ticket]}}
    targets:
      first_response: {{within: 1h, objective: 0.95, calendar: office, at_risk: 25%}}
      next_response: {{within: 2h, objective: 0.9, calendar: office}}
      resolution: {{within: 1d, objective: 0.9, calendar: office, pause_statuses: [answered]}}
      assignment: {{within: 30m, objective: 0.95, calendar: office}}
  - name: realtime
    targets:
      pickup: {{within: 60s, objective: 0.9}}
      answer: {{within: 30s, objective: 0.9}}
"#
    )
}
