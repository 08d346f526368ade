//! Wiring: the shared state behind every endpoint, config reloads, and the
//! lifetime of the HTTP server and the source pollers.
//!
//! `main` parses flags and hands a bound listener and a shutdown future to
//! [`App::run`], so tests run the real exporter on `127.0.0.1:0`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::net::TcpListener;

use crate::config::{self, Config, ConfigError};
use crate::http;
use crate::metrics::SelfMetrics;

/// Where the configuration comes from, so a reload knows what to re-read.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    File(PathBuf),
    /// A config held in memory (the demo); reloading re-validates the same text.
    Embedded {
        name: String,
        text: String,
    },
}

impl ConfigSource {
    pub fn load(&self) -> Result<Config, ConfigError> {
        match self {
            ConfigSource::File(path) => config::load(path),
            ConfigSource::Embedded { name, text } => {
                let file = PathBuf::from(name);
                config::parse(text, &file, &PathBuf::from("."), &|v| std::env::var(v).ok())
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            ConfigSource::File(path) => path.display().to_string(),
            ConfigSource::Embedded { name, .. } => name.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub config: ConfigSource,
    /// Path of the metrics endpoint (`--web.telemetry-path`).
    pub telemetry_path: String,
    /// Directory of the embedded store (`--storage.path`).
    pub storage_path: PathBuf,
}

/// What the landing page and `/-/ready` know about one configured source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStatus {
    pub name: String,
    pub kind: &'static str,
    /// The first sync finished (successfully or not); `/-/ready` waits for it.
    pub first_sync_done: bool,
    pub up: bool,
    /// The last sync error, one line, never containing a secret.
    pub last_error: Option<String>,
}

pub(crate) struct Shared {
    pub(crate) options: Options,
    pub(crate) config: RwLock<Arc<Config>>,
    pub(crate) self_metrics: SelfMetrics,
    pub(crate) sources: RwLock<Vec<SourceStatus>>,
    /// Serialises reloads so two concurrent ones cannot interleave.
    reload_lock: tokio::sync::Mutex<()>,
}

/// A cheap, cloneable handle to the running exporter: reload it, read its state.
#[derive(Clone)]
pub struct Handle(pub(crate) Arc<Shared>);

pub struct App {
    shared: Arc<Shared>,
}

impl App {
    /// Builds the exporter around an already validated config.
    pub fn new(options: Options, config: Config) -> App {
        let self_metrics = SelfMetrics::new();
        self_metrics.record_reload(true, now_seconds());
        let sources = source_statuses(&config);
        App {
            shared: Arc::new(Shared {
                options,
                config: RwLock::new(Arc::new(config)),
                self_metrics,
                sources: RwLock::new(sources),
                reload_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn handle(&self) -> Handle {
        Handle(self.shared.clone())
    }

    /// Serves until `shutdown` completes, then stops accepting, lets requests in
    /// flight finish, and returns.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let addr = listener.local_addr()?;
        tracing::info!(address = %addr, telemetry_path = %self.shared.options.telemetry_path, "listening");
        http::serve(listener, self.handle(), shutdown).await;
        tracing::info!("stopped");
        Ok(())
    }
}

impl Handle {
    /// Re-reads and validates the config; applies it only if it is valid. A bad
    /// config keeps the old one running and is logged and counted.
    pub async fn reload(&self) -> Result<(), ConfigError> {
        let _guard = self.0.reload_lock.lock().await;
        let source = &self.0.options.config;
        match source.load() {
            Ok(config) => {
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
                *self.0.config.write().expect("lock poisoned") = Arc::new(config);
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

    /// The configuration currently in force.
    pub fn config(&self) -> Arc<Config> {
        self.0.config.read().expect("lock poisoned").clone()
    }

    pub fn sources(&self) -> Vec<SourceStatus> {
        self.0.sources.read().expect("lock poisoned").clone()
    }

    /// Ready once every configured source has finished its first sync.
    pub fn is_ready(&self) -> bool {
        self.sources().iter().all(|s| s.first_sync_done)
    }
}

fn source_statuses(config: &Config) -> Vec<SourceStatus> {
    config
        .sources
        .iter()
        .map(|s| SourceStatus {
            name: s.name.clone(),
            kind: s.kind.as_str(),
            first_sync_done: false,
            up: false,
            last_error: None,
        })
        .collect()
}

pub(crate) fn now_seconds() -> f64 {
    jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
}
