//! The sync loop: one tokio task per source pulls pages into the store and the
//! engine's item set, then wakes the evaluator.
//!
//! A failed sync logs one line, marks the source down and leaves everything
//! else as it was: the previous items keep being evaluated and served.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::config::SourceConfig;
use crate::engine::Engine;
use crate::model::Channel;
use crate::providers::{
    Cursor, Page, Progress, Provider, ProviderError, RejectedRow, StreamFailure, StreamReport,
};
use crate::store::{Cache, PageWrite, StoreError, Written};

/// The store's endpoint name for a provider's whole-source cursor.
const CURSOR: &str = "sync";

/// What a poller reports back: progress during a sync, the result after it.
pub type OnSync = Arc<dyn Fn(&str, SyncEvent) + Send + Sync>;

/// One report of a poller.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncEvent {
    /// The sync has come this far (0 to 1); `eta_seconds` is a linear estimate
    /// of the time left, once there is enough progress to extrapolate.
    Progress {
        ratio: f64,
        items: u64,
        eta_seconds: Option<f64>,
    },
    /// The sync ended: `Err` holds its one-line error.
    Finished(Result<(), String>),
}

/// Rejected rows already logged, so a bad row that stays bad logs once, not
/// on every poll. Bounded: when full it starts over (and logs again).
const MAX_LOGGED_REJECTIONS: usize = 10_000;

/// A sync shorter than this logs no progress lines: an incremental poll
/// finishes in seconds and its progress would only be noise.
const PROGRESS_LOG_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Polls one source until `cancel` fires: sync, then wait the poll interval
/// (with ±10% jitter so several exporters do not hit a vendor in step).
pub async fn run_source(
    engine: Arc<Engine>,
    provider: Arc<dyn Provider>,
    source: SourceConfig,
    cancel: CancellationToken,
    on_sync: OnSync,
) {
    let mut logged = HashSet::new();
    // Whether the provider's keyed state is the store's (plus what it
    // changed since): false at start and after a sync that failed, whose
    // fetched pages may have changed it without being stored.
    let mut restored = false;
    loop {
        let started = Instant::now();
        let mut run = Run {
            engine: &engine,
            source: &source,
            on_sync: &on_sync,
            started,
            logged: &mut logged,
            initial: false,
            items: 0,
            logged_decile: 0,
            stream_failure: None,
        };
        let mut result = tokio::select! {
            r = run.sync_once(provider.as_ref(), &mut restored, &cancel) => r,
            () = cancel.cancelled() => return,
        };
        // A failed stream undid its own changes; any other failure may
        // leave changes of pages that were never stored.
        restored &= result.is_ok();
        // A stream that failed leaves the source down (its data is stale)
        // although the other streams were applied; it was logged when it failed.
        if let (Ok(_), Some(failure)) = (&result, run.stream_failure.take()) {
            result = Err(SyncError::Stream(failure));
        }
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
                if let SyncError::Stream((stream, _)) = e {
                    // Its one warning was logged when the stream failed.
                    tracing::info!(source = %source.name, failed_stream = stream, duration_seconds = took, "sync finished; the other streams were applied");
                } else {
                    tracing::warn!(source = %source.name, reason = e.reason(), error = %e, "sync failed; serving the last good data");
                }
            }
        }
        on_sync(
            &source.name,
            SyncEvent::Finished(result.map(|_| ()).map_err(|e| e.to_string())),
        );
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
    /// A stream failed and the others were read (`Provider::take_stream_reports`).
    #[error("stream {stream} failed: {message}", stream = .0.0, message = .0.1.message)]
    Stream((&'static str, StreamFailure)),
}

impl SyncError {
    fn reason(&self) -> &'static str {
        match self {
            SyncError::Provider(e) => e.reason(),
            SyncError::Store(_) | SyncError::Join(_) => "store",
            SyncError::Stream((_, f)) => f.reason,
        }
    }
}

/// One sync attempt of one source.
struct Run<'a> {
    engine: &'a Arc<Engine>,
    source: &'a SourceConfig,
    on_sync: &'a OnSync,
    started: Instant,
    logged: &'a mut HashSet<(&'static str, String)>,
    /// The sync started from no cursor: a first sync (backfill).
    initial: bool,
    items: u64,
    /// The last tenth of progress that was logged.
    logged_decile: u32,
    /// The first stream that failed in this sync, if any.
    stream_failure: Option<(&'static str, StreamFailure)>,
}

impl Run<'_> {
    /// Fetches pages until the source is caught up, storing each page and its
    /// cursor in one transaction. Returns the number of items received.
    async fn sync_once(
        &mut self,
        provider: &dyn Provider,
        restored: &mut bool,
        cancel: &CancellationToken,
    ) -> Result<u64, SyncError> {
        let (engine, source) = (self.engine, self.source);
        if !*restored {
            let name = source.name.clone();
            let rows = blocking(engine, move |e| e.store.provider_state(&name)).await?;
            provider.restore(rows).await;
            *restored = true;
        }
        let name = source.name.clone();
        let stored = blocking(engine, move |e| e.store.cursor(&name, CURSOR)).await?;
        let mut cursor = match stored {
            Some(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(source = %source.name, error = %e, "stored cursor unreadable; starting from the initial lookback");
                Cursor::default()
            }),
            None => Cursor::default(),
        };
        self.initial = cursor.is_initial();
        let _backfill = self.initial.then(|| engine.backfill(&source.name));
        if self.initial {
            // Off the async workers: a long evaluation may hold the store.
            blocking(engine, |e| {
                e.store.set_cache(Cache::Backfill);
                Ok(())
            })
            .await?;
        }
        let mut pages: u32 = 0;
        let mut previous_ids: Vec<String> = Vec::new();
        // Page N is written (decoded items into the store and the item set,
        // one blocking task) while page N+1 is fetched: on a vendor with a
        // real round trip the writes hide behind the requests. Writes stay in
        // page order: the next one starts only after the previous finished.
        let mut writing: Option<StoreTask<()>> = None;
        loop {
            let (page, written) =
                tokio::join!(provider.fetch_page(&cursor), finish(writing.take()));
            written?;
            self.stream_reports(provider.take_stream_reports());
            let page = page?;
            pages += 1;
            if !page.done {
                check_paging(&page, &cursor, &mut previous_ids, pages, source)?;
            }
            self.quarantine(&page.rejected);
            let next = serde_json::to_string(&page.next).expect("cursors serialize");
            let per_channel = per_channel(&page);
            let Page {
                items,
                mut removed,
                retain_only,
                progress,
                done,
                next: next_cursor,
                events,
                state,
                ..
            } = page;
            let name = source.name.clone();
            self.items += items.len() as u64;
            writing = Some(spawn_store(engine, move |e| {
                let retain_only = checked_retain_only(e, &name, retain_only)?;
                // The store merges stored timeline events into each item it
                // writes (and writes back stored items the page's events
                // touch); the item set gets the items as written.
                let page = PageWrite {
                    items,
                    removed: &removed,
                    events: &events,
                    retain_only: retain_only.as_deref(),
                    state: &state,
                };
                let written = e.store.apply_sync_page(&name, CURSOR, page, &next);
                e.note_store_write(&format!("source {name}"), &written);
                let Written { items, forgotten } = written?;
                if let Some(listed) = &retain_only {
                    tracing::info!(source = %name, listed = listed.len(), removed = forgotten.len(), "reconciled with the source's complete id list; items it no longer has were forgotten");
                }
                removed.extend(forgotten);
                e.apply(&name, items, &removed);
                Ok(())
            }));
            for (c, n) in Channel::ALL.iter().zip(per_channel) {
                if n > 0 {
                    engine
                        .source_metrics
                        .items_synced(&source.name, c.as_str(), n);
                }
            }
            if let Some(p) = progress.filter(|_| !done) {
                self.progress(&p);
            }
            cursor = next_cursor;
            if done || cancel.is_cancelled() {
                finish(writing.take()).await?;
                return Ok(self.items);
            }
        }
    }

    /// Publishes how each stream ended; a failed one is logged (one line) and
    /// remembered, so the sync ends with the source down once every other
    /// stream has been read.
    fn stream_reports(&mut self, reports: Vec<StreamReport>) {
        for r in reports {
            let reason = r.error.as_ref().map(|f| f.reason);
            self.engine
                .source_metrics
                .stream(&self.source.name, r.stream, reason);
            if let Some(failure) = r.error {
                tracing::warn!(
                    source = %self.source.name,
                    stream = r.stream,
                    reason = failure.reason,
                    error = %failure.message,
                    "stream failed; its cursor stays and the other streams go on"
                );
                self.stream_failure.get_or_insert((r.stream, failure));
            }
        }
    }

    /// Counts each rejected row and logs it once, with its id and field but
    /// never its content.
    fn quarantine(&mut self, rejected: &[RejectedRow]) {
        for row in rejected {
            self.engine
                .source_metrics
                .rows_rejected(&self.source.name, row.stream, row.kind());
            let id = row.id.clone().unwrap_or_default();
            if self.logged.len() >= MAX_LOGGED_REJECTIONS {
                self.logged.clear();
            }
            if self.logged.insert((row.stream, id)) {
                tracing::warn!(
                    source = %self.source.name,
                    stream = row.stream,
                    id = row.id.as_deref().unwrap_or("unknown"),
                    field = %row.field,
                    reason = %row.reason,
                    "row skipped: it cannot be decoded; the rest of the page was applied"
                );
            }
        }
    }

    /// Publishes progress (gauge and landing page) and logs each further tenth
    /// of a long sync with an estimate of the time left.
    fn progress(&mut self, p: &Progress) {
        let now = (self.engine.clock)();
        let ratio = p.ratio(now);
        let elapsed = self.started.elapsed();
        let eta_seconds = (ratio >= 0.01).then(|| elapsed.as_secs_f64() * (1.0 - ratio) / ratio);
        self.engine
            .source_metrics
            .progress(&self.source.name, ratio);
        (self.on_sync)(
            &self.source.name,
            SyncEvent::Progress {
                ratio,
                items: self.items,
                eta_seconds,
            },
        );
        let decile = (ratio * 10.0).floor() as u32;
        if decile > self.logged_decile && (self.initial || elapsed >= PROGRESS_LOG_AFTER) {
            self.logged_decile = decile;
            tracing::info!(
                source = %self.source.name,
                stream = p.stream,
                streams = p.streams,
                position = %p.position,
                progress = format!("{:.0}%", ratio * 100.0),
                items = self.items,
                eta_seconds = eta_seconds.map(|s| s.round()).unwrap_or(f64::NAN),
                "sync in progress"
            );
        }
    }
}

/// Ends a sync whose paging does not advance: the same cursor again, the same
/// items as the page before, or more pages than the source allows. Without
/// this a vendor that repeats itself would be polled forever with the source
/// reported up.
fn check_paging(
    page: &Page,
    cursor: &Cursor,
    previous_ids: &mut Vec<String>,
    pages: u32,
    source: &SourceConfig,
) -> Result<(), ProviderError> {
    let fail = |detail: String| {
        Err(ProviderError::PagingLoop {
            endpoint: "(sync)".to_owned(),
            detail,
        })
    };
    if page.next == *cursor {
        return fail("the provider returned the cursor it was given".to_owned());
    }
    if pages > source.max_pages_per_sync {
        return fail(format!(
            "more than {} pages in one sync (sources[].max_pages_per_sync)",
            source.max_pages_per_sync
        ));
    }
    let ids: Vec<String> = page.items.iter().map(|i| i.id.clone()).collect();
    if !ids.is_empty() && ids == *previous_ids {
        return fail(format!("the same {} items as the page before", ids.len()));
    }
    *previous_ids = ids;
    Ok(())
}

/// A provider's complete id list, unless it is empty while the store holds
/// items of the source: a listing that suddenly sees nothing (a permission
/// change, a project renamed in the config, a vendor hiccup) must not wipe
/// the source, so it is logged and skipped.
fn checked_retain_only(
    e: &Engine,
    source: &str,
    retain_only: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, StoreError> {
    match retain_only {
        Some(ids) if ids.is_empty() => {
            let stored = e.store.count_items(source)?;
            if stored > 0 {
                tracing::warn!(source = %source, stored, "reconciliation skipped: the source listed no items while {stored} are stored; nothing was forgotten (check the account's permissions and the configured projects)");
                return Ok(None);
            }
            Ok(Some(ids))
        }
        other => Ok(other),
    }
}

fn per_channel(page: &Page) -> [u64; 3] {
    let mut counts = [0u64; 3];
    for item in &page.items {
        counts[Channel::ALL
            .iter()
            .position(|c| *c == item.channel)
            .unwrap_or(0)] += 1;
    }
    counts
}

type StoreTask<T> = tokio::task::JoinHandle<Result<T, StoreError>>;

/// Starts `f` on the blocking pool (SQLite blocks).
fn spawn_store<T: Send + 'static>(
    engine: &Arc<Engine>,
    f: impl FnOnce(&Engine) -> Result<T, StoreError> + Send + 'static,
) -> StoreTask<T> {
    let engine = engine.clone();
    tokio::task::spawn_blocking(move || f(&engine))
}

async fn joined<T>(task: StoreTask<T>) -> Result<T, SyncError> {
    task.await
        .map_err(|e| SyncError::Join(e.to_string()))?
        .map_err(SyncError::from)
}

/// Waits for a page write started by `sync_once`, if there is one.
async fn finish(writing: Option<StoreTask<()>>) -> Result<(), SyncError> {
    match writing {
        Some(w) => joined(w).await,
        None => Ok(()),
    }
}

async fn blocking<T: Send + 'static>(
    engine: &Arc<Engine>,
    f: impl FnOnce(&Engine) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, SyncError> {
    joined(spawn_store(engine, f)).await
}
