//! Per-source health metrics, updated by the sync loop.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

#[derive(Clone)]
pub struct SourceMetrics {
    stream_up: GaugeVec,
    stream_errors: IntCounterVec,
    /// `(source, stream)` pairs with series, so a removed source loses them.
    streams: Arc<Mutex<BTreeSet<(String, String)>>>,
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
            stream_up: GaugeVec::new(
                Opts::new(
                    "helpdesk_sla_source_stream_up",
                    "Whether the stream (tickets, chats, calls) was read to its end in its last sync (1) or failed (0); a failing stream keeps its cursor and the other streams go on.",
                ),
                &["source", "stream"],
            )?,
            stream_errors: IntCounterVec::new(
                Opts::new(
                    "helpdesk_sla_source_stream_errors_total",
                    "Syncs in which the stream failed, by reason; the other streams of the source went on.",
                ),
                &["source", "stream", "reason"],
            )?,
            streams: Arc::default(),
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
        registry.register(Box::new(m.stream_up.clone()))?;
        registry.register(Box::new(m.stream_errors.clone()))?;
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

    /// The `reason`s a single stream can fail with; the others (auth, rate
    /// limit, connection, redirect, store) end the whole sync instead.
    pub const STREAM_ERROR_REASONS: [&'static str; 5] = [
        "status",
        "decode",
        "timeout",
        "body_too_large",
        "paging_loop",
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
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        for (_, stream) in streams.iter().filter(|(s, _)| s == source) {
            let _ = self.stream_up.remove_label_values(&[source, stream]);
            for reason in Self::STREAM_ERROR_REASONS {
                let _ = self
                    .stream_errors
                    .remove_label_values(&[source, stream, reason]);
            }
        }
        streams.retain(|(s, _)| s != source);
    }

    /// How a stream ended: up 1, or up 0 and its error counted. A stream's
    /// error counters all exist (at 0) from its first report on.
    pub fn stream(&self, source: &str, stream: &str, error_reason: Option<&str>) {
        let new = self
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((source.to_owned(), stream.to_owned()));
        if new {
            for reason in Self::STREAM_ERROR_REASONS {
                self.stream_errors
                    .with_label_values(&[source, stream, reason]);
            }
        }
        let up = self.stream_up.with_label_values(&[source, stream]);
        match error_reason {
            None => up.set(1.0),
            Some(reason) => {
                up.set(0.0);
                self.stream_errors
                    .with_label_values(&[source, stream, reason])
                    .inc();
            }
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
