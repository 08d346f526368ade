//! Per-source health metrics, updated by the sync loop.

use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct SourceMetrics {
    up: GaugeVec,
    last_success: GaugeVec,
    duration: GaugeVec,
    items: IntCounterVec,
    errors: IntCounterVec,
    progress: GaugeVec,
    rejected: IntCounterVec,
}

impl SourceMetrics {
    pub fn new(registry: &Registry) -> Result<SourceMetrics, prometheus::Error> {
        let gauge = |name: &str, help: &str| GaugeVec::new(Opts::new(name, help), &["source"]);
        let m = SourceMetrics {
            up: gauge(
                "helpdesk_sla_source_up",
                "Whether the last sync of the source succeeded (1) or not (0). Metrics keep the last good data while it is 0.",
            )?,
            last_success: gauge(
                "helpdesk_sla_source_last_success_timestamp_seconds",
                "When the last successful sync of the source finished, in seconds since the Unix epoch.",
            )?,
            duration: gauge(
                "helpdesk_sla_source_sync_duration_seconds",
                "How long the last sync of the source took, successful or not.",
            )?,
            items: IntCounterVec::new(
                Opts::new(
                    "helpdesk_sla_source_items_synced_total",
                    "New or changed items received from the source.",
                ),
                &["source", "channel"],
            )?,
            errors: IntCounterVec::new(
                Opts::new(
                    "helpdesk_sla_source_sync_errors_total",
                    "Failed syncs of the source, by reason.",
                ),
                &["source", "reason"],
            )?,
            progress: gauge(
                "helpdesk_sla_source_sync_progress_ratio",
                "How far the current (or last) sync of the source has come, from 0 to 1: the cursor's position between the start of its window and now. Below 1 for long during a first sync on a rate-limited API.",
            )?,
            rejected: IntCounterVec::new(
                Opts::new(
                    "helpdesk_sla_source_rows_rejected_total",
                    "Vendor rows skipped because they could not be decoded, by stream and reason; the rest of their page was applied.",
                ),
                &["source", "stream", "reason"],
            )?,
        };
        registry.register(Box::new(m.progress.clone()))?;
        registry.register(Box::new(m.rejected.clone()))?;
        registry.register(Box::new(m.up.clone()))?;
        registry.register(Box::new(m.last_success.clone()))?;
        registry.register(Box::new(m.duration.clone()))?;
        registry.register(Box::new(m.items.clone()))?;
        registry.register(Box::new(m.errors.clone()))?;
        Ok(m)
    }

    /// Every `reason` of `helpdesk_sla_source_sync_errors_total`.
    pub const ERROR_REASONS: [&'static str; 10] = [
        "rate_limited",
        "auth",
        "status",
        "decode",
        "timeout",
        "connect",
        "body_too_large",
        "redirect",
        "paging_loop",
        "store",
    ];

    /// Makes a source's series exist from the start (up 0, every error
    /// counter at 0), so alerts and `rate()` work before anything happens.
    pub fn register_source(&self, source: &str) {
        self.up.with_label_values(&[source]).set(0.0);
        self.progress.with_label_values(&[source]).set(0.0);
        for reason in Self::ERROR_REASONS {
            self.errors.with_label_values(&[source, reason]);
        }
    }

    /// Drops every series of a source removed by a reload.
    pub fn forget_source(&self, source: &str) {
        let _ = self.up.remove_label_values(&[source]);
        let _ = self.last_success.remove_label_values(&[source]);
        let _ = self.duration.remove_label_values(&[source]);
        let _ = self.progress.remove_label_values(&[source]);
        for reason in Self::ERROR_REASONS {
            let _ = self.errors.remove_label_values(&[source, reason]);
        }
    }

    pub fn success(&self, source: &str, finished_at: f64, duration: f64) {
        self.up.with_label_values(&[source]).set(1.0);
        self.progress.with_label_values(&[source]).set(1.0);
        self.last_success
            .with_label_values(&[source])
            .set(finished_at);
        self.duration.with_label_values(&[source]).set(duration);
    }

    pub fn failure(&self, source: &str, reason: &str, duration: f64) {
        self.up.with_label_values(&[source]).set(0.0);
        self.duration.with_label_values(&[source]).set(duration);
        self.errors.with_label_values(&[source, reason]).inc();
    }

    pub fn progress(&self, source: &str, ratio: f64) {
        self.progress.with_label_values(&[source]).set(ratio);
    }

    pub fn rows_rejected(&self, source: &str, stream: &str, reason: &str) {
        self.rejected
            .with_label_values(&[source, stream, reason])
            .inc();
    }

    pub fn items_synced(&self, source: &str, channel: &str, n: u64) {
        self.items.with_label_values(&[source, channel]).inc_by(n);
    }
}
