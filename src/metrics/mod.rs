//! Metrics: the exporter's own metrics (build info, config reloads, process) in a
//! `prometheus::Registry`, rendered in the text exposition format 0.0.4.
//!
//! `/metrics` only ever reads what is already in memory; it never waits on a
//! vendor API.

pub mod sla;
pub mod source;
pub mod text;

use prometheus::{Encoder, Gauge, GaugeVec, Opts, Registry, TextEncoder};

/// The content type of the classic text format, which Prometheus 3 requires to
/// be explicit.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("HSE_GIT_REVISION");
pub const RUSTC: &str = env!("HSE_RUSTC_VERSION");

/// Metrics about the exporter itself.
#[derive(Clone)]
pub struct SelfMetrics {
    pub registry: Registry,
    reload_successful: Gauge,
    reload_success_timestamp: Gauge,
}

impl SelfMetrics {
    pub fn new() -> SelfMetrics {
        let registry = Registry::new();
        let build_info = GaugeVec::new(
            Opts::new(
                "helpdesk_sla_exporter_build_info",
                "A metric with a constant '1' value labeled by version, revision and rustc version of the exporter.",
            ),
            &["version", "revision", "rustc"],
        )
        .expect("static metric definition");
        build_info
            .with_label_values(&[VERSION, REVISION, RUSTC])
            .set(1.0);
        let reload_successful = Gauge::new(
            "helpdesk_sla_exporter_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful (1) or not (0).",
        )
        .expect("static metric definition");
        let reload_success_timestamp = Gauge::new(
            "helpdesk_sla_exporter_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration load, in seconds since the Unix epoch.",
        )
        .expect("static metric definition");
        for collector in [
            Box::new(build_info) as Box<dyn prometheus::core::Collector>,
            Box::new(reload_successful.clone()),
            Box::new(reload_success_timestamp.clone()),
        ] {
            registry.register(collector).expect("names are unique");
        }
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("names are unique");
        SelfMetrics {
            registry,
            reload_successful,
            reload_success_timestamp,
        }
    }

    /// Records a config (re)load attempt; `now` is seconds since the epoch.
    pub fn record_reload(&self, ok: bool, now: f64) {
        self.reload_successful.set(if ok { 1.0 } else { 0.0 });
        if ok {
            self.reload_success_timestamp.set(now);
        }
    }

    /// Renders every registered metric in the text format.
    pub fn render(&self, out: &mut Vec<u8>) {
        let families = self.registry.gather();
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&families, out);
    }
}

impl Default for SelfMetrics {
    fn default() -> Self {
        SelfMetrics::new()
    }
}
