//! Providers: pull items from helpdesk APIs and map vendor JSON to the neutral model.
//!
//! Every vendor sits behind one small trait, [`Provider`], whose only job is to
//! fetch the next page of changes after a [`Cursor`]. A sync is a loop of
//! `fetch_page` calls until [`Page::done`]; the caller persists [`Page::next`]
//! after every page, so a restart resumes mid-sync. The cursor is opaque JSON
//! owned by the provider: LiveAgent keeps a high-water mark per endpoint,
//! Zendesk would keep `after_cursor`, Freshdesk an `updated_since` and a page,
//! JSM a `start` offset (see `docs/providers.md`).
//!
//! Each provider splits IO (its `*.rs` file, using the shared [`client`]) from a
//! pure mapping of vendor JSON to [`crate::model::Item`] that tests run on
//! fixtures without HTTP.

pub mod client;
pub mod liveagent;
pub mod liveagent_map;
pub mod liveagent_raw;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::civil::Weekday;
use serde::{Deserialize, Serialize};

use crate::model::{Channel, Item, Target};
use crate::secret::Secret;

pub use client::{ClientMetrics, ClientSettings, HttpClient};
pub use liveagent::{LiveAgentProvider, LiveAgentSettings};

/// A boxed, sendable future: what makes [`Provider`] usable as `Arc<dyn Provider>`
/// from a tokio task without an extra crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One helpdesk source. Implementations are cheap to share (`Arc<dyn Provider>`)
/// and keep no sync state of their own beyond caches: everything needed to
/// resume lives in the [`Cursor`].
pub trait Provider: Send + Sync {
    /// The configured source name (the `source` label).
    fn source(&self) -> &str;

    /// Fetch the next page of changes after `cursor`. On error the caller keeps
    /// the old cursor and retries on its next poll; nothing is half-applied.
    fn fetch_page<'a>(&'a self, cursor: &'a Cursor) -> BoxFuture<'a, Result<Page, ProviderError>>;

    /// The vendor's own SLA levels, for `use_vendor_sla_levels: true`. Vendors
    /// without such a notion return an empty list.
    fn sla_levels(&self) -> BoxFuture<'_, Result<Vec<VendorSlaLevel>, ProviderError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// Where a provider stands in its sync: opaque JSON the provider reads back.
/// `Cursor::default()` (JSON null) means "never synced": start from the
/// configured initial lookback.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub serde_json::Value);

impl Cursor {
    pub fn is_initial(&self) -> bool {
        self.0.is_null()
    }
}

/// One page of changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// New or changed items, each complete: the store replaces by `(source, id)`.
    pub items: Vec<Item>,
    /// Ids the vendor deleted or marked as spam since the last sync: the store
    /// forgets them.
    pub removed: Vec<String>,
    /// Persist this after applying the page; pass it to the next call.
    pub next: Cursor,
    /// True when the source is caught up: wait for the poll interval, then call
    /// again with `next`.
    pub done: bool,
}

/// Everything a provider needs, as the lead builds it from one `sources[]` entry.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub name: String,
    /// `sources[].type`, e.g. `liveagent`.
    pub kind: String,
    pub base_url: String,
    pub api_key: Secret,
    pub channels: Vec<Channel>,
    pub page_size: u32,
    pub initial_lookback: jiff::SignedDuration,
    pub requests_per_minute: u32,
    pub timeout: Duration,
}

/// Builds a provider from its spec and the shared client metrics.
pub type Constructor = fn(&SourceSpec, &ClientMetrics) -> Result<Arc<dyn Provider>, BuildError>;

/// The source types the exporter knows, by their `type:` name in the config.
pub const SOURCE_TYPES: &[(&str, Constructor)] = &[("liveagent", liveagent::build)];

/// Look up `spec.kind` in [`SOURCE_TYPES`] and build the provider.
pub fn build(spec: &SourceSpec, metrics: &ClientMetrics) -> Result<Arc<dyn Provider>, BuildError> {
    let (_, constructor) = SOURCE_TYPES
        .iter()
        .find(|(name, _)| *name == spec.kind)
        .ok_or_else(|| BuildError::UnknownType(spec.kind.clone()))?;
    constructor(spec, metrics)
}

/// Why a provider could not be built (a config problem, reported once).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("unknown source type {0:?}; known: liveagent")]
    UnknownType(String),
    #[error("invalid base_url {url:?}: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Why a fetch failed. Texts are one line and never contain the API key: the
/// key travels only in a request header and no variant carries headers.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("GET {endpoint}: rate limited by the vendor, retry after {}s", retry_after.as_secs())]
    RateLimited {
        endpoint: String,
        retry_after: Duration,
    },
    #[error("GET {endpoint}: authentication failed (HTTP {code}); check the API key")]
    Auth { endpoint: String, code: u16 },
    #[error("GET {endpoint}: unexpected HTTP status {code}")]
    Status { endpoint: String, code: u16 },
    #[error("GET {endpoint}: cannot decode the response: {reason}")]
    Decode { endpoint: String, reason: String },
    #[error("GET {endpoint}: timed out")]
    Timeout { endpoint: String },
    #[error("GET {endpoint}: connection failed: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("GET {endpoint}: response body larger than {limit} bytes")]
    BodyTooLarge { endpoint: String, limit: usize },
}

impl ProviderError {
    /// The `reason` label of `helpdesk_sla_source_sync_errors_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::Auth { .. } => "auth",
            ProviderError::Status { .. } => "status",
            ProviderError::Decode { .. } => "decode",
            ProviderError::Timeout { .. } => "timeout",
            ProviderError::Connect { .. } => "connect",
            ProviderError::BodyTooLarge { .. } => "body_too_large",
        }
    }
}

/// A vendor-defined SLA level (LiveAgent `/slas`), neutral enough for the lead
/// to turn into a policy: one target duration per [`Target`] and a calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorSlaLevel {
    pub id: String,
    /// The level name; for LiveAgent this is also the item's `priority`.
    pub name: String,
    /// Target durations in seconds; targets the level leaves at 0 are absent.
    pub targets: Vec<(Target, u64)>,
    pub business_hours: Option<VendorBusinessHours>,
}

/// A vendor calendar: a time zone, weekday windows and holiday dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorBusinessHours {
    /// An IANA zone name as the vendor spells it (not validated here).
    pub time_zone: String,
    /// `(weekday, "HH:MM", "HH:MM")`; a weekday without a window is closed.
    pub windows: Vec<(Weekday, String, String)>,
    /// `YYYY-MM-DD` dates.
    pub holidays: Vec<String>,
}
