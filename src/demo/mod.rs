//! `--demo`: the built-in demo helpdesk. A simulated LiveAgent v3 API is served
//! on a loopback port inside the process and the real LiveAgent provider reads
//! it, so a new user sees real SLA metrics without an account or credentials.
//!
//! The demo is not a provider: each simulated vendor is a server in its own
//! folder here (`liveagent/`), and the real provider talks to it over HTTP.
//! [`DEMO_POLICY_YAML`] holds calendars and policies that match the simulated
//! departments.

pub mod liveagent;

use jiff::Timestamp;
use tokio::net::TcpListener;

use crate::config::ConfigSource;

pub use liveagent::{
    DemoConfig, RateLimit, VENDOR_REQUESTS_PER_MINUTE, api, serve, sim, source_config,
};

/// The seed of the simulated world: the same for every user, so the demo's
/// numbers are reproducible.
pub const SEED: u64 = 20_261_128;

/// The environment variable the demo config reads its (dummy) API key from.
/// It is answered by the embedded config itself, never by the process env.
pub const DEMO_KEY_ENV: &str = "HELPDESK_SLA_DEMO_API_KEY";

/// Starts the demo helpdesk (as of `fixed_time`, or the wall clock) and returns
/// the config that points the LiveAgent provider at it. `undocumented`
/// switches the undocumented filters on (the hidden
/// `--debug.demo-undocumented` flag).
pub async fn start(
    fixed_time: Option<Timestamp>,
    undocumented: bool,
) -> anyhow::Result<ConfigSource> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // `--demo` serves the API as the vendor documents it, so the provider
    // syncs through its documented fallbacks (history one ticket at a time:
    // about 3,700 requests for the first sync's 30 days, docs/providers.md).
    // The hidden flag switches the undocumented filters on (about 750
    // requests), for tests that wait for a first sync. The demo's budget is
    // above the vendor's 180 a minute (the API is local), so the simulated
    // limit is off.
    let extra = if undocumented {
        liveagent::api::Undocumented::ALL
    } else {
        liveagent::api::Undocumented::default()
    };
    let mut sim = DemoConfig::new(SEED)
        .with_undocumented(extra)
        .with_rate_limit(None);
    if let Some(t) = fixed_time {
        sim = sim.with_clock(move || t);
    }
    tokio::spawn(async move {
        if let Err(e) = serve(listener, sim, std::future::pending()).await {
            tracing::error!(error = %e, "demo helpdesk stopped");
        }
    });
    tracing::info!(address = %addr, "demo helpdesk serving a simulated LiveAgent API");
    Ok(ConfigSource::Embedded {
        name: "<demo>".into(),
        text: config_text(&format!("http://{addr}/api/v3")),
        env: vec![(DEMO_KEY_ENV.into(), DEMO_API_KEY.into())],
    })
}

/// The demo's config: one LiveAgent source at `base_url` plus the demo's
/// calendars and policies. The budget is higher than for a real account since
/// the API is local, so the first sync finishes in seconds.
pub fn config_text(base_url: &str) -> String {
    format!(
        "sources:\n  - name: demo\n    type: liveagent\n    base_url: {base_url}\n    api_key_env: {DEMO_KEY_ENV}\n    poll_interval: 30s\n    requests_per_minute: 10000\n{DEMO_POLICY_YAML}"
    )
}

/// The key the demo source sends; the demo API only checks one is present.
pub const DEMO_API_KEY: &str = "demo";

/// Calendars and policies (the contract's config shape) for the simulated
/// company: Billing in Ljubljana, Sales in New York, Onboarding in Tokyo and
/// Returns in Los Angeles on office-hour calendars with their holidays,
/// Technical Support around the clock (no calendar), stricter targets for VIP
/// billing, and live channels. The hours match `sim::HOURS`.
pub const DEMO_POLICY_YAML: &str = r#"calendars:
  - name: demo-ljubljana
    time_zone: Europe/Ljubljana
    hours:
      monday: ["08:00-16:00"]
      tuesday: ["08:00-16:00"]
      wednesday: ["08:00-16:00"]
      thursday: ["08:00-16:00"]
      friday: ["08:00-16:00"]
    holidays: ["*-01-01", "*-12-25", "*-12-26"]
  - name: demo-new-york
    time_zone: America/New_York
    hours:
      monday: ["09:00-17:00"]
      tuesday: ["09:00-17:00"]
      wednesday: ["09:00-17:00"]
      thursday: ["09:00-17:00"]
      friday: ["09:00-17:00"]
    holidays: ["*-01-01", "*-07-04", "*-12-25"]
  - name: demo-tokyo
    time_zone: Asia/Tokyo
    hours:
      monday: ["09:00-18:00"]
      tuesday: ["09:00-18:00"]
      wednesday: ["09:00-18:00"]
      thursday: ["09:00-18:00"]
      friday: ["09:00-18:00"]
    holidays: ["*-01-01", "*-01-02", "*-01-03"]
  - name: demo-los-angeles
    time_zone: America/Los_Angeles
    hours:
      monday: ["08:00-16:00"]
      tuesday: ["08:00-16:00"]
      wednesday: ["08:00-16:00"]
      thursday: ["08:00-16:00"]
      friday: ["08:00-16:00"]
    holidays: ["*-01-01", "*-07-04", "*-12-25"]
policies:
  - name: vip-billing
    match: {channels: [ticket], teams: [Billing], tags: [vip]}
    targets:
      first_response: {within: 1h, objective: 0.95, calendar: demo-ljubljana, at_risk: 25%}
      next_response: {within: 4h, objective: 0.9, calendar: demo-ljubljana, at_risk: 25%}
      resolution: {within: 1d, objective: 0.9, calendar: demo-ljubljana, pause_statuses: [answered, postponed], reopen: continue}
      assignment: {within: 30m, objective: 0.95, calendar: demo-ljubljana}
  - name: support-24x7
    match: {channels: [ticket], teams: ["Technical Support"]}
    targets:
      first_response: {within: 4h, objective: 0.95, at_risk: 50%}
      next_response: {within: 8h, objective: 0.9, at_risk: 25%}
      resolution: {within: 2d, objective: 0.9, pause_statuses: [answered, postponed], reopen: continue, at_risk: 25%}
      assignment: {within: 1h, objective: 0.9, at_risk: 50%}
  - name: tickets-ljubljana
    match: {channels: [ticket], teams: ["Billing"]}
    targets:
      first_response: {within: 4h, objective: 0.95, calendar: demo-ljubljana, at_risk: 50%}
      next_response: {within: 8h, objective: 0.9, calendar: demo-ljubljana, at_risk: 25%}
      resolution: {within: 2d, objective: 0.9, calendar: demo-ljubljana, pause_statuses: [answered, postponed], reopen: continue, at_risk: 25%}
      assignment: {within: 1h, objective: 0.9, calendar: demo-ljubljana, at_risk: 50%}
  - name: tickets-new-york
    match: {channels: [ticket], teams: ["Sales"]}
    targets:
      first_response: {within: 4h, objective: 0.95, calendar: demo-new-york, at_risk: 50%}
      next_response: {within: 8h, objective: 0.9, calendar: demo-new-york, at_risk: 25%}
      resolution: {within: 2d, objective: 0.9, calendar: demo-new-york, pause_statuses: [answered, postponed], reopen: continue, at_risk: 25%}
      assignment: {within: 1h, objective: 0.9, calendar: demo-new-york, at_risk: 50%}
  - name: tickets-tokyo
    match: {channels: [ticket], teams: ["Onboarding"]}
    targets:
      first_response: {within: 4h, objective: 0.95, calendar: demo-tokyo, at_risk: 50%}
      next_response: {within: 8h, objective: 0.9, calendar: demo-tokyo, at_risk: 25%}
      resolution: {within: 2d, objective: 0.9, calendar: demo-tokyo, pause_statuses: [answered, postponed], reopen: continue, at_risk: 25%}
      assignment: {within: 1h, objective: 0.9, calendar: demo-tokyo, at_risk: 50%}
  - name: tickets-los-angeles
    match: {channels: [ticket], teams: ["Returns"]}
    targets:
      first_response: {within: 4h, objective: 0.95, calendar: demo-los-angeles, at_risk: 50%}
      next_response: {within: 8h, objective: 0.9, calendar: demo-los-angeles, at_risk: 25%}
      resolution: {within: 2d, objective: 0.9, calendar: demo-los-angeles, pause_statuses: [answered, postponed], reopen: continue, at_risk: 25%}
      assignment: {within: 1h, objective: 0.9, calendar: demo-los-angeles, at_risk: 50%}
  - name: live
    targets:
      pickup: {within: 60s, objective: 0.9, unanswered: breach, at_risk: 50%}
      answer: {within: 30s, objective: 0.9}
"#;
