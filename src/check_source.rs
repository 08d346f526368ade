//! The `check-source` subcommand: runs each provider's probes against the
//! configured account and prints, per endpoint or assumption, whether it works,
//! with the requests it cost. A user runs it once at setup; it exits non-zero
//! when a source cannot be synced.

use std::io::Write;

use crate::config::{Config, SourceConfig};
use crate::providers::{self, ClientMetrics, Probe, ProbeResult};

/// One source's probes and what they cost.
#[derive(Debug)]
pub struct Checked {
    pub source: String,
    pub kind: &'static str,
    pub probes: Vec<Probe>,
    /// Requests sent to the vendor by the probes (all attempts, retries included).
    pub requests: u64,
}

impl Checked {
    /// The source can be synced: every required probe works or has a fallback.
    pub fn ok(&self) -> bool {
        self.probes
            .iter()
            .all(|p| !p.required || matches!(p.result, ProbeResult::Works | ProbeResult::Fallback))
    }
}

/// Probes `only` (a source name) or every source of `config`.
pub async fn check(config: &Config, only: Option<&str>) -> anyhow::Result<Vec<Checked>> {
    let sources: Vec<&SourceConfig> = config
        .sources
        .iter()
        .filter(|s| only.is_none_or(|n| s.name == n))
        .collect();
    if sources.is_empty() {
        anyhow::bail!("no source named {:?}", only.unwrap_or_default());
    }
    let mut out = Vec::new();
    for source in sources {
        let registry = prometheus::Registry::new();
        let metrics = ClientMetrics::new(&registry)?;
        let provider = providers::build(source, &metrics)?;
        let probes = provider.probes().await;
        out.push(Checked {
            source: source.name.clone(),
            kind: source.kind,
            probes,
            requests: requests_sent(&registry),
        });
    }
    Ok(out)
}

/// Prints one line per probe, then a verdict per source.
pub fn print(checked: &[Checked], out: &mut dyn Write) -> std::io::Result<()> {
    for c in checked {
        writeln!(out, "source {} (type {}):", c.source, c.kind)?;
        for p in &c.probes {
            let need = if p.required { "required" } else { "optional" };
            writeln!(
                out,
                "  {:<10} {:<42} {need:<8}  {}",
                p.result.as_str(),
                p.name,
                p.detail
            )?;
        }
        let verdict = if c.ok() {
            "can be synced"
        } else {
            "CANNOT be synced"
        };
        writeln!(out, "  => {verdict}; {} requests used", c.requests)?;
    }
    Ok(())
}

fn requests_sent(registry: &prometheus::Registry) -> u64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == "helpdesk_sla_source_api_requests_total")
        .flat_map(|f| f.get_metric())
        .map(|m| m.get_counter().get_value() as u64)
        .sum()
}
