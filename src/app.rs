//! Wiring: the shared state behind every endpoint, config reloads, and the
//! lifetime of the HTTP server and the source pollers.
//!
//! `main` parses flags and hands a bound listener and a shutdown future to
//! [`App::run`], so tests run the real exporter on `127.0.0.1:0`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock::{self, Clock};
use crate::config::{Config, ConfigError, ConfigSource};
use crate::engine::{self, Engine};
use crate::heap;
use crate::http;
use crate::metrics::SelfMetrics;
use crate::metrics::source::SourceMetrics;
use crate::providers::{self, ClientMetrics};
use crate::shard::Shard;
use crate::store::Store;
use crate::sync;
use crate::web::WebConfigFile;

#[derive(Clone)]
pub struct Options {
    pub config: ConfigSource,
    /// Path of the metrics endpoint (`--web.telemetry-path`).
    pub telemetry_path: String,
    /// `POST /-/reload` is served only when set (`--web.enable-lifecycle`), so
    /// anyone who can reach the port cannot make the exporter re-read its files.
    pub enable_lifecycle: bool,
    /// Directory of the embedded store (`--storage.path`).
    pub storage_path: PathBuf,
    /// Evaluate as of this fixed instant instead of the wall clock (golden
    /// tests and reproducible demos).
    pub fixed_time: Option<jiff::Timestamp>,
    /// Holds every evaluation this long before it starts (`--debug.evaluation-delay`,
    /// hidden; tests of shutdown during an evaluation).
    pub evaluation_delay: Option<std::time::Duration>,
    /// TLS, basic auth and headers (`--web.config.file`), loaded and checked
    /// before the exporter starts; `None` serves plain, open HTTP.
    pub web: Option<Arc<WebConfigFile>>,
}

/// What the landing page and `/-/ready` know about one configured source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStatus {
    pub name: String,
    pub kind: &'static str,
    /// The first sync finished (successfully or not); `/-/ready` waits for it.
    pub first_sync_done: bool,
    pub up: bool,
    /// The last sync error, one line, never containing a secret.
    pub last_error: Option<String>,
    /// Set while a sync is under way and has reported how far it has come.
    pub progress: Option<SyncProgress>,
    /// When the last successful sync finished (wall clock).
    pub last_success: Option<jiff::Timestamp>,
}

/// How far a running sync has come (see [`sync::SyncEvent::Progress`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SyncProgress {
    pub ratio: f64,
    pub items: u64,
    pub eta_seconds: Option<f64>,
}

struct Shared {
    options: Options,
    config: RwLock<Arc<Config>>,
    self_metrics: SelfMetrics,
    sources: RwLock<Vec<SourceStatus>>,
    engine: Arc<Engine>,
    client_metrics: ClientMetrics,
    /// The sources this replica owns; every loaded config is cut down to them.
    shard: Shard,
    /// Cancels the pollers of the config in force; replaced on every reload.
    pollers: std::sync::Mutex<CancellationToken>,
    /// Serialises reloads so two concurrent ones cannot interleave.
    reload_lock: tokio::sync::Mutex<()>,
    /// The exclusive lock on the store directory, held while the app lives.
    _store_lock: std::fs::File,
}

/// A cheap, cloneable handle to the running exporter: reload it, read its state.
#[derive(Clone)]
pub struct Handle(Arc<Shared>);

pub struct App {
    shared: Arc<Shared>,
}

impl App {
    /// Builds the exporter around an already validated config: opens the store
    /// and loads what it holds. Nothing runs until [`App::run`].
    pub fn new(options: Options, config: Config) -> anyhow::Result<App> {
        App::sharded(options, config, Shard::ALL)
    }

    /// [`App::new`] for one shard of several: only the sources `shard` owns
    /// are loaded, synced and served, now and after every reload.
    pub fn sharded(options: Options, mut config: Config, shard: Shard) -> anyhow::Result<App> {
        own_sources(&mut config, shard);
        let self_metrics = SelfMetrics::new();
        self_metrics.record_reload(true, now_seconds());
        let client_metrics = ClientMetrics::new(&self_metrics.registry)?;
        let source_metrics = SourceMetrics::new(&self_metrics.registry)?;
        let lock = Store::lock_dir(&options.storage_path)?;
        let store = Store::open(&options.storage_path)?;
        let clock: Clock = options.fixed_time.map_or_else(clock::wall, clock::fixed);
        let engine = Arc::new(Engine::new(store, source_metrics, clock));
        engine.load(&config)?;
        let sources = source_statuses(&config);
        Ok(App {
            shared: Arc::new(Shared {
                options,
                config: RwLock::new(Arc::new(config)),
                self_metrics,
                sources: RwLock::new(sources),
                engine,
                client_metrics,
                shard,
                pollers: std::sync::Mutex::new(CancellationToken::new()),
                reload_lock: tokio::sync::Mutex::new(()),
                _store_lock: lock,
            }),
        })
    }

    pub fn handle(&self) -> Handle {
        Handle(self.shared.clone())
    }

    /// Serves until `shutdown` completes, then stops the pollers (a page being
    /// written finishes its transaction), lets requests in flight finish, and
    /// returns.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let addr = listener.local_addr()?;
        let handle = self.handle();
        let stop = CancellationToken::new();
        let evaluator = tokio::spawn(evaluate_loop(handle.clone(), stop.clone()));
        handle.start_pollers();
        tracing::info!(address = %addr, telemetry_path = %self.shared.options.telemetry_path, "listening");
        http::serve(listener, handle.clone(), shutdown).await;
        stop.cancel();
        handle.0.pollers.lock().expect("lock poisoned").cancel();
        let _ = evaluator.await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Re-evaluates after every sync and every [`engine::EVALUATION_INTERVAL`].
async fn evaluate_loop(handle: Handle, stop: CancellationToken) {
    loop {
        let config = handle.config();
        let engine = handle.0.engine.clone();
        let started = std::time::Instant::now();
        let delay = handle.0.options.evaluation_delay;
        let evaluation = tokio::task::spawn_blocking(move || {
            if let Some(delay) = delay {
                std::thread::sleep(delay);
            }
            // The store's page cache settles small once no source backfills.
            // What it and the pages written since the last evaluation freed,
            // on the threads that wrote them, goes back before this one
            // allocates: freed in another thread's arena it would not serve
            // this one. What the evaluation freed goes back before the next
            // sync.
            engine.settle_cache();
            heap::release_free_memory();
            let result = engine.evaluate(&config);
            heap::release_free_memory();
            result
        });
        // Shutdown never waits for an evaluation in progress (it can take
        // seconds on a large store): the task is left behind, main shuts the
        // runtime down without waiting for it, and SQLite rolls back whatever
        // transaction it had open, so nothing half-written is kept.
        let result = tokio::select! {
            result = evaluation => result.inspect(|r| handle.0.engine.note_store_write("evaluation", r)),
            () = stop.cancelled() => {
                tracing::info!("shutting down without waiting for the evaluation in progress");
                return;
            }
        };
        match result {
            Ok(Ok(counted)) => tracing::debug!(
                duration_seconds = started.elapsed().as_secs_f64(),
                new_outcomes = counted,
                "evaluated"
            ),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "evaluation failed; serving the previous snapshot")
            }
            Err(e) => tracing::error!(error = %e, "evaluation task failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(engine::EVALUATION_INTERVAL) => {}
            () = handle.0.engine.evaluate_now.notified() => {}
            () = stop.cancelled() => return,
        }
    }
}

impl Handle {
    /// Re-reads and validates the config; applies it only if it is valid. A bad
    /// config keeps the old one running and is logged and counted.
    pub async fn reload(&self) -> Result<(), ConfigError> {
        let _guard = self.0.reload_lock.lock().await;
        let source = &self.0.options.config;
        match source.load() {
            Ok(mut config) => {
                own_sources(&mut config, self.0.shard);
                let statuses = source_statuses(&config);
                {
                    let mut current = self.0.sources.write().expect("lock poisoned");
                    // Keep what we know about sources that survive the reload.
                    let merged = statuses
                        .into_iter()
                        .map(|new| {
                            current
                                .iter()
                                .find(|old| old.name == new.name && old.kind == new.kind)
                                .cloned()
                                .unwrap_or(new)
                        })
                        .collect();
                    *current = merged;
                }
                let names: Vec<String> = config.sources.iter().map(|s| s.name.clone()).collect();
                for old in self
                    .config()
                    .sources
                    .iter()
                    .filter(|s| !names.contains(&s.name))
                {
                    self.0.engine.source_metrics.forget_source(&old.name);
                }
                *self.0.config.write().expect("lock poisoned") = Arc::new(config);
                self.start_pollers();
                self.0.engine.evaluate_now.notify_one();
                self.0.self_metrics.record_reload(true, now_seconds());
                tracing::info!(file = %source.describe(), "configuration reloaded");
                Ok(())
            }
            Err(e) => {
                self.0.self_metrics.record_reload(false, now_seconds());
                for p in &e.problems {
                    tracing::error!(file = %e.file.display(), key = %p.key, reason = %p.reason, "configuration reload failed; keeping the previous configuration");
                }
                Err(e)
            }
        }
    }

    /// Stops the running pollers and starts one per configured source. They
    /// resume from the stored cursors, so a restart costs no re-pull.
    fn start_pollers(&self) {
        let config = self.config();
        let token = CancellationToken::new();
        let old = std::mem::replace(
            &mut *self.0.pollers.lock().expect("lock poisoned"),
            token.clone(),
        );
        old.cancel();
        // New sources' stored items; a no-op at start, where App::new loaded.
        if let Err(e) = self.0.engine.load(&config) {
            tracing::error!(error = %e, "cannot load stored items");
        }
        for source in &config.sources {
            self.0.engine.source_metrics.register_source(&source.name);
            let provider = match providers::build(source, &self.0.client_metrics) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(source = %source.name, error = %e, "cannot start the source");
                    self.on_sync(&source.name, sync::SyncEvent::Finished(Err(e.to_string())));
                    continue;
                }
            };
            let handle = self.clone();
            let on_sync: sync::OnSync = Arc::new(move |name, event| handle.on_sync(name, event));
            tokio::spawn(sync::run_source(
                self.0.engine.clone(),
                provider,
                source.clone(),
                token.clone(),
                on_sync,
            ));
        }
    }

    fn on_sync(&self, name: &str, event: sync::SyncEvent) {
        let mut sources = self.0.sources.write().expect("lock poisoned");
        let Some(s) = sources.iter_mut().find(|s| s.name == name) else {
            return;
        };
        match event {
            sync::SyncEvent::Progress {
                ratio,
                items,
                eta_seconds,
            } => {
                s.progress = Some(SyncProgress {
                    ratio,
                    items,
                    eta_seconds,
                })
            }
            sync::SyncEvent::Finished(result) => {
                s.first_sync_done = true;
                s.up = result.is_ok();
                if s.up {
                    s.last_success = Some(jiff::Timestamp::now());
                }
                s.last_error = result.err();
                s.progress = None;
            }
        }
    }

    /// The web config (`--web.config.file`), if any.
    pub fn web(&self) -> Option<&Arc<WebConfigFile>> {
        self.0.options.web.as_ref()
    }

    /// The flags the exporter was started with.
    pub fn options(&self) -> &Options {
        &self.0.options
    }

    /// The exporter's own metrics (build info, reloads, process, client, sources).
    pub fn self_metrics(&self) -> &SelfMetrics {
        &self.0.self_metrics
    }

    /// The SLA families of the latest evaluation.
    pub fn rendered_sla(&self) -> Arc<String> {
        self.0.engine.rendered()
    }

    /// The configuration currently in force.
    pub fn config(&self) -> Arc<Config> {
        self.0.config.read().expect("lock poisoned").clone()
    }

    pub fn sources(&self) -> Vec<SourceStatus> {
        self.0.sources.read().expect("lock poisoned").clone()
    }

    /// The open rows and compliance of the last evaluation, for the pages.
    pub fn view(&self) -> Arc<crate::pages::View> {
        self.0.engine.view()
    }

    /// Items held in memory per source.
    pub fn tracked(&self) -> std::collections::HashMap<String, usize> {
        self.0.engine.tracked()
    }

    /// Ready once every configured source has finished its first sync.
    pub fn is_ready(&self) -> bool {
        self.store_failure().is_none() && self.sources().iter().all(|s| s.first_sync_done)
    }

    /// Why the last store write failed, while no later one has succeeded.
    pub fn store_failure(&self) -> Option<String> {
        self.0.engine.store_failure()
    }
}

/// Drops the sources another shard owns, saying which ones this replica keeps.
fn own_sources(config: &mut Config, shard: Shard) {
    if shard == Shard::ALL {
        return;
    }
    let total = config.sources.len();
    config.sources.retain(|s| shard.owns(&s.name));
    let owned: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    tracing::info!(shard = %shard, sources = %owned.join(","), owned = owned.len(), configured = total, "sources of this shard");
}

fn source_statuses(config: &Config) -> Vec<SourceStatus> {
    config
        .sources
        .iter()
        .map(|s| SourceStatus {
            name: s.name.clone(),
            kind: s.kind,
            first_sync_done: false,
            up: false,
            last_error: None,
            progress: None,
            last_success: None,
        })
        .collect()
}

pub(crate) fn now_seconds() -> f64 {
    jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
}
