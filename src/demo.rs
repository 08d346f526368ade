//! `--demo`: the built-in demo helpdesk. A simulated LiveAgent v3 API is served
//! on a loopback port inside the process and the real LiveAgent provider reads
//! it, so a new user sees real SLA metrics without an account or credentials.

use jiff::Timestamp;
use tokio::net::TcpListener;

use crate::app::ConfigSource;
use crate::providers::demo::{self, DEMO_API_KEY, DEMO_POLICY_YAML, DemoConfig};

/// The seed of the simulated world: the same for every user, so the demo's
/// numbers are reproducible.
const SEED: u64 = 20_261_128;

/// The environment variable the demo config reads its (dummy) API key from.
/// It is answered by the embedded config itself, never by the process env.
pub const DEMO_KEY_ENV: &str = "HELPDESK_SLA_DEMO_API_KEY";

/// Starts the demo helpdesk (as of `fixed_time`, or the wall clock) and returns
/// the config that points the LiveAgent provider at it.
pub async fn start(fixed_time: Option<Timestamp>) -> anyhow::Result<ConfigSource> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut sim = DemoConfig::new(SEED);
    if let Some(t) = fixed_time {
        sim = sim.with_clock(move || t);
    }
    tokio::spawn(async move {
        if let Err(e) = demo::serve(listener, sim, std::future::pending()).await {
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
        "sources:\n  - name: demo\n    type: liveagent\n    base_url: {base_url}\n    api_key_env: {DEMO_KEY_ENV}\n    poll_interval: 30s\n    requests_per_minute: 600\n{DEMO_POLICY_YAML}"
    )
}
