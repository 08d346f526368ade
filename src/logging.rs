//! Structured logs with tracing: one event per line, facts in fields, as logfmt
//! (the exporter-toolkit default) or JSON.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Logfmt,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Installs the global subscriber, writing to stderr. Dependencies log only at
/// warn and above so that debug output stays about the exporter.
pub fn init(level: Level, format: Format) {
    let filter = EnvFilter::new(format!("warn,helpdesk_sla_exporter={}", level.as_str()));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        Format::Logfmt => registry
            .with(
                tracing_logfmt::builder()
                    .with_span_name(false)
                    .with_span_path(false)
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .init(),
        Format::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}
