//! The sync loop: one tokio task per source pulls pages into the store and the
//! engine's item set, then wakes the evaluator.
//!
//! A failed sync logs one line, marks the source down and leaves everything
//! else as it was: the previous items keep being evaluated and served.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::config::SourceConfig;
use crate::engine::Engine;
use crate::model::Channel;
use crate::providers::{Cursor, Provider};
use crate::store::StoreError;

/// The store's endpoint name for a provider's whole-source cursor.
const CURSOR: &str = "sync";

/// What a poller reports back after each sync attempt.
pub type OnSync = Arc<dyn Fn(&str, Result<(), String>) + Send + Sync>;

/// Polls one source until `cancel` fires: sync, then wait the poll interval
/// (with ±10% jitter so several exporters do not hit a vendor in step).
pub async fn run_source(
    engine: Arc<Engine>,
    provider: Arc<dyn Provider>,
    source: SourceConfig,
    cancel: CancellationToken,
    on_sync: OnSync,
) {
    loop {
        let started = Instant::now();
        let result = tokio::select! {
            r = sync_once(&engine, provider.as_ref(), &source, &cancel) => r,
            () = cancel.cancelled() => return,
        };
        let took = started.elapsed().as_secs_f64();
        match &result {
            Ok(n) => {
                engine.source_metrics.success(
                    &source.name,
                    (engine.clock)().as_millisecond() as f64 / 1000.0,
                    took,
                );
                tracing::info!(source = %source.name, items = n, duration_seconds = took, "sync finished");
            }
            Err(e) => {
                engine
                    .source_metrics
                    .failure(&source.name, e.reason(), took);
                tracing::warn!(source = %source.name, reason = e.reason(), error = %e, "sync failed; serving the last good data");
            }
        }
        on_sync(&source.name, result.map(|_| ()).map_err(|e| e.to_string()));
        engine.evaluate_now.notify_one();
        let jitter = 0.9 + fastrand::f64() * 0.2;
        let wait = source.poll_interval.mul_f64(jitter);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = cancel.cancelled() => return,
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error(transparent)]
    Provider(#[from] crate::providers::ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("store task failed: {0}")]
    Join(String),
}

impl SyncError {
    fn reason(&self) -> &'static str {
        match self {
            SyncError::Provider(e) => e.reason(),
            SyncError::Store(_) | SyncError::Join(_) => "store",
        }
    }
}

/// Fetches pages until the source is caught up, storing each page and its
/// cursor in one transaction. Returns the number of items received.
async fn sync_once(
    engine: &Arc<Engine>,
    provider: &dyn Provider,
    source: &SourceConfig,
    cancel: &CancellationToken,
) -> Result<u64, SyncError> {
    let name = source.name.clone();
    let stored = blocking(engine, move |e| e.store.cursor(&name, CURSOR)).await?;
    let mut cursor = match stored {
        Some(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(source = %source.name, error = %e, "stored cursor unreadable; starting from the initial lookback");
            Cursor::default()
        }),
        None => Cursor::default(),
    };
    let mut total = 0;
    loop {
        let page = provider.fetch_page(&cursor).await?;
        let next = serde_json::to_string(&page.next).expect("cursors serialize");
        let mut per_channel = [0u64; 3];
        for item in &page.items {
            per_channel[Channel::ALL
                .iter()
                .position(|c| *c == item.channel)
                .unwrap_or(0)] += 1;
        }
        let (name, items, removed) = (source.name.clone(), page.items, page.removed);
        total += items.len() as u64;
        let items = blocking(engine, move |e| {
            e.store.apply_page(&name, CURSOR, &items, &removed, &next)?;
            e.apply(&name, items, &removed);
            Ok(())
        })
        .await;
        items?;
        for (c, n) in Channel::ALL.iter().zip(per_channel) {
            if n > 0 {
                engine
                    .source_metrics
                    .items_synced(&source.name, c.as_str(), n);
            }
        }
        cursor = page.next;
        if page.done || cancel.is_cancelled() {
            return Ok(total);
        }
    }
}

async fn blocking<T: Send + 'static>(
    engine: &Arc<Engine>,
    f: impl FnOnce(&Engine) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, SyncError> {
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || f(&engine))
        .await
        .map_err(|e| SyncError::Join(e.to_string()))?
        .map_err(SyncError::from)
}
