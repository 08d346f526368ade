//! The source API self-metrics of the contract, shared by every client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{CounterVec, IntCounterVec, Opts, Registry};

use super::Budget;

/// The source API self-metrics, and the request budgets. Cheap to clone; all
/// clones share the counters and the budgets. One exists per running exporter
/// and outlives config reloads, so a reload neither resets a counter nor
/// refills a source's request budget.
#[derive(Clone)]
pub struct ClientMetrics {
    requests: IntCounterVec,
    waits: IntCounterVec,
    wait_seconds: CounterVec,
    fallbacks: IntCounterVec,
    /// `(source, requests_per_minute)` -> its budget. A source whose budget
    /// setting is unchanged keeps its bucket across reloads; the map grows
    /// only with distinct settings ever configured.
    budgets: Arc<Mutex<Budgets>>,
}

/// `(source, requests_per_minute)` -> the budget of that setting.
type Budgets = HashMap<(String, u32), Arc<Budget>>;

impl ClientMetrics {
    /// Register the three counters in `registry`. Registering twice in the same
    /// registry is an error, not a panic.
    pub fn new(registry: &Registry) -> Result<ClientMetrics, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "helpdesk_sla_source_api_requests_total",
                "HTTP requests sent to the helpdesk API, by endpoint and status class.",
            ),
            &["source", "endpoint", "status_class"],
        )?;
        let waits = IntCounterVec::new(
            Opts::new(
                "helpdesk_sla_source_rate_limit_waits_total",
                "Times a request waited for the client-side budget or a vendor Retry-After.",
            ),
            &["source"],
        )?;
        let wait_seconds = CounterVec::new(
            Opts::new(
                "helpdesk_sla_source_rate_limit_wait_seconds_total",
                "Seconds spent waiting for the client-side budget or a vendor Retry-After.",
            ),
            &["source"],
        )?;
        let fallbacks = IntCounterVec::new(
            Opts::new(
                "helpdesk_sla_source_assumption_fallbacks_total",
                "Times the provider found that the vendor refused or ignored an undocumented request it relies on, and switched to the documented fallback, by assumption.",
            ),
            &["source", "assumption"],
        )?;
        registry.register(Box::new(fallbacks.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(waits.clone()))?;
        registry.register(Box::new(wait_seconds.clone()))?;
        Ok(ClientMetrics {
            requests,
            waits,
            wait_seconds,
            fallbacks,
            budgets: Arc::default(),
        })
    }

    pub(super) fn request(&self, source: &str, endpoint: &str, class: &str) {
        self.requests
            .with_label_values(&[source, endpoint, class])
            .inc();
    }

    /// Starts a source's wait counters at 0, so `rate()` works from the first
    /// scrape instead of from the first wait.
    pub(super) fn init_source(&self, source: &str) {
        self.waits.with_label_values(&[source]);
        self.wait_seconds.with_label_values(&[source]);
    }

    /// Starts a provider's assumption counters at 0 (a small closed set per
    /// vendor, listed in METRICS.md), so an alert can use `increase()`.
    pub fn init_assumptions(&self, source: &str, assumptions: &[&str]) {
        for a in assumptions {
            self.fallbacks.with_label_values(&[source, a]);
        }
    }

    /// An undocumented request was refused or ignored; the provider falls back.
    pub fn assumption_failed(&self, source: &str, assumption: &str) {
        self.fallbacks
            .with_label_values(&[source, assumption])
            .inc();
    }

    pub(super) fn wait(&self, source: &str, waited: Duration) {
        self.waits.with_label_values(&[source]).inc();
        self.wait_seconds
            .with_label_values(&[source])
            .inc_by(waited.as_secs_f64());
    }

    /// The request budget of `source` at `rpm`: the same bucket every time it
    /// is asked for, so a rebuilt client (a reload) continues where the old one
    /// stood instead of starting with a full burst.
    pub(crate) fn budget(&self, source: &str, rpm: u32) -> Arc<Budget> {
        self.budgets
            .lock()
            .expect("budget registry lock")
            .entry((source.to_owned(), rpm))
            .or_insert_with(|| Arc::new(Budget::new(rpm)))
            .clone()
    }
}
