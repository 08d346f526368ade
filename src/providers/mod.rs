//! Providers: pull items from helpdesk APIs and map vendor JSON to the neutral model.
//!
//! Every vendor sits behind one small trait, [`Provider`], whose only job is to
//! fetch the next page of changes after a [`Cursor`]. A sync is a loop of
//! `fetch_page` calls until [`Page::done`]; the sync loop persists [`Page::next`]
//! after every page, so a restart resumes mid-sync. The cursor is opaque JSON
//! owned by the provider (LiveAgent keeps a high-water mark per stream).
//!
//! A vendor is one folder (`liveagent/`: `mod.rs` for IO, `config.rs` for its
//! config block, `raw.rs` for its JSON types, `map.rs` for the pure JSON →
//! model mapping) and one row in [`SOURCE_TYPES`]: its `type:` name, defaults,
//! and the function that validates its block into a [`VendorConfig`], which
//! then builds the provider. `docs/adding-a-provider.md` walks through it.
//! Every vendor uses the shared [`client`] for HTTP.

pub mod client;
pub mod freshdesk;
pub mod jira_sm;
pub mod json;
pub mod liveagent;
pub mod rails_zones;
pub mod zendesk;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::civil::Weekday;
use serde::{Deserialize, Serialize};

use crate::config::{SourceConfig, VendorBlock};
use crate::model::{Item, Target};
use crate::timeline::TimelineEvent;

pub use client::{ClientError, ClientMetrics, ClientSettings, HttpClient};
pub use liveagent::LiveAgentProvider;

/// A boxed, sendable future: what makes [`Provider`] usable as `Arc<dyn Provider>`
/// from a tokio task without an extra crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One helpdesk source. Implementations are cheap to share (`Arc<dyn Provider>`)
/// and keep no sync state of their own beyond caches: everything needed to
/// resume lives in the [`Cursor`] and, for state too big to write with every
/// page, in the keyed state the pages carry ([`Page::state`]).
pub trait Provider: Send + Sync {
    /// Fetch the next page of changes after `cursor`. On error the caller keeps
    /// the old cursor and retries on its next poll; nothing is half-applied.
    fn fetch_page<'a>(&'a self, cursor: &'a Cursor) -> BoxFuture<'a, Result<Page, ProviderError>>;

    /// Checks, request by request, what the account answers (`check-source`).
    /// The default fetches the first page of a sync and reports whether it
    /// worked; vendors with undocumented or plan-dependent endpoints probe each.
    fn probes(&self) -> BoxFuture<'_, Vec<Probe>> {
        Box::pin(async {
            let probe = match self.fetch_page(&Cursor::default()).await {
                Ok(page) => Probe::new(
                    "first page of a sync",
                    ProbeResult::Works,
                    format!(
                        "{} items, {} rows rejected",
                        page.items.len(),
                        page.rejected.len()
                    ),
                ),
                Err(e) => Probe::new("first page of a sync", ProbeResult::Refused, e.to_string()),
            };
            vec![probe]
        })
    }

    /// How each stream ended since the last call, oldest first, for providers
    /// whose streams are independent (LiveAgent): a stream that fails is
    /// reported here and the sync goes on with the next one, instead of the
    /// page failing. The sync loop drains this after every page. The default
    /// (one stream, failures fail the page) reports nothing.
    fn take_stream_reports(&self) -> Vec<StreamReport> {
        Vec::new()
    }

    /// The vendor's own SLA levels, for `use_vendor_sla_levels: true`. Vendors
    /// without such a notion return an empty list.
    fn sla_levels(&self) -> BoxFuture<'_, Result<Vec<VendorSlaLevel>, ProviderError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// The `levels` output for vendors whose SLA setup [`VendorSlaLevel`]
    /// cannot carry (Freshdesk: targets per priority, the group's calendar):
    /// `calendars` and `policies` YAML, rendered by the vendor. `None` (the
    /// default) renders [`Provider::sla_levels`] instead.
    fn levels_config(&self) -> BoxFuture<'_, Result<Option<String>, ProviderError>> {
        Box::pin(async { Ok(None) })
    }

    /// Replaces the provider's keyed state ([`Page::state`]) with what the
    /// store holds. The sync loop calls it before the first sync, and again
    /// after a sync failed (the provider may hold changes of pages that were
    /// never stored). Providers without keyed state ignore it.
    fn restore(&self, _rows: Vec<StateRow>) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// One entry of a provider's keyed state that a page changed: state that is
/// too big to write with every page as part of the [`Cursor`] (LiveAgent's
/// level cache, ~10k entries), so only changed entries are written, in the
/// page's transaction. `value: None` forgets the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// Which of the provider's lists (a small closed set per provider).
    pub list: &'static str,
    pub key: String,
    /// The entry, encoded by the provider.
    pub value: Option<String>,
}

/// A provider's keyed state as the store keeps it, in memory: every
/// [`StateChange`] applied in order, by `(list, key)`. What tests use in
/// place of the store.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StateRows(pub std::collections::BTreeMap<(String, String), String>);

impl StateRows {
    pub fn apply(&mut self, changes: &[StateChange]) {
        for change in changes {
            let key = (change.list.to_owned(), change.key.clone());
            match &change.value {
                Some(v) => self.0.insert(key, v.clone()),
                None => self.0.remove(&key),
            };
        }
    }

    /// The rows [`Provider::restore`] would get.
    pub fn rows(&self) -> Vec<StateRow> {
        let rows = self.0.iter().map(|((list, key), value)| StateRow {
            list: list.clone(),
            key: key.clone(),
            value: value.clone(),
        });
        rows.collect()
    }
}

/// One stored entry of a provider's keyed state, as [`Provider::restore`]
/// gets it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRow {
    pub list: String,
    pub key: String,
    pub value: String,
}

/// One check of `check-source`: an endpoint or an assumption about the
/// vendor's API, and what the account answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// `GET /tickets`, `date_changed filter on /tickets`, ...
    pub name: String,
    pub result: ProbeResult,
    /// One line: what was seen, or the error (never a secret).
    pub detail: String,
    /// Without it the source cannot be synced (else a feature is missing).
    pub required: bool,
}

impl Probe {
    /// A required probe; see [`Probe::optional`].
    pub fn new(name: impl Into<String>, result: ProbeResult, detail: impl Into<String>) -> Probe {
        Probe {
            name: name.into(),
            result,
            detail: detail.into(),
            required: true,
        }
    }

    pub fn optional(mut self) -> Probe {
        self.required = false;
        self
    }
}

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// The request or assumption holds.
    Works,
    /// The server accepted the request but ignored part of it (a filter, a sort).
    Ignored,
    /// The server refused it (an error status) or it failed.
    Refused,
    /// It does not hold, and the provider uses a documented fallback instead.
    Fallback,
}

impl ProbeResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeResult::Works => "works",
            ProbeResult::Ignored => "ignored",
            ProbeResult::Refused => "refused",
            ProbeResult::Fallback => "fallback",
        }
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

    /// The provider's typed cursor. One that does not read (written by another
    /// version) starts the sync over from the initial lookback, with a warning:
    /// the store's exactly-once counting makes a re-read harmless.
    pub fn read<T: serde::de::DeserializeOwned + Default>(&self, source: &str) -> T {
        // Read through a reference: cloning the whole JSON tree first would
        // cost as much as reading it (issue 19).
        T::deserialize(&self.0).unwrap_or_else(|e| {
            if !self.is_initial() {
                tracing::warn!(source = %source, error = %e, "unreadable cursor, starting over");
            }
            T::default()
        })
    }
}

/// What one page of one stream yields, for providers that read several
/// streams in turn and assemble a [`Page`] from it.
#[derive(Debug, Default)]
pub struct StreamPage {
    pub items: Vec<Item>,
    pub removed: Vec<String>,
    pub rejected: Vec<RejectedRow>,
    /// The stream is read to its end for this sync.
    pub done: bool,
    /// How far the stream's cursor has come (its high-water mark).
    pub position: Option<jiff::Timestamp>,
}

/// How one stream of a sync ended (see [`Provider::take_stream_reports`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamReport {
    /// `tickets`, `chats`, `calls`: a small closed set per vendor (a label).
    pub stream: &'static str,
    /// `None`: read to its end. `Some`: what ended it; its cursor stayed where
    /// it was and the other streams went on.
    pub error: Option<StreamFailure>,
}

/// Why a stream failed: the `reason` label of [`ProviderError::reason`] and
/// the error's one line (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFailure {
    pub reason: &'static str,
    pub message: String,
}

/// One page of changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// New or changed items, each complete: the store replaces by `(source, id)`.
    pub items: Vec<Item>,
    /// Ids the vendor deleted or marked as spam since the last sync: the store
    /// forgets them.
    pub removed: Vec<String>,
    /// The complete set of ids the source has now, from a listing that
    /// finished: the sync loop forgets every stored item of this source that
    /// is neither in it nor in this page, in the page's transaction. `None`
    /// (nearly always) forgets nothing; an empty list while items are stored
    /// is refused as suspicious.
    pub retain_only: Option<Vec<String>>,
    /// Persist this after applying the page; pass it to the next call.
    pub next: Cursor,
    /// True when the source is caught up: wait for the poll interval, then call
    /// again with `next`.
    pub done: bool,
    /// Where the sync stands, for backfill progress; `None` when the provider
    /// cannot tell.
    pub progress: Option<Progress>,
    /// Rows of this page that could not be decoded: skipped, counted and
    /// logged by the sync loop; the rest of the page is applied.
    pub rejected: Vec<RejectedRow>,
    /// Timeline events `(item id, event)` of an event stream (Zendesk's
    /// ticket metric events), for items that are not sent whole: the sync
    /// loop stores them by key in the page's transaction and merges them into
    /// the stored item, now or when it arrives ([`crate::timeline`]).
    pub events: Vec<(String, TimelineEvent)>,
    /// The provider's keyed state this page changed, stored in the page's
    /// transaction with [`Page::next`] (see [`StateChange`]).
    pub state: Vec<StateChange>,
}

/// How far a sync has come. A sync reads `streams` streams one after the other
/// (LiveAgent: tickets, chats, calls); within stream `stream` (0-based) the
/// cursor has reached `position` of a window that starts at `from` and ends now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub stream: usize,
    pub streams: usize,
    pub from: jiff::Timestamp,
    pub position: jiff::Timestamp,
}

impl Progress {
    /// The share of the whole sync done as of `now`, between 0 and 1.
    pub fn ratio(&self, now: jiff::Timestamp) -> f64 {
        let streams = self.streams.max(1) as f64;
        let window = now.duration_since(self.from).as_secs_f64();
        let done = self.position.duration_since(self.from).as_secs_f64();
        let within = if window <= 0.0 {
            1.0
        } else {
            (done / window).clamp(0.0, 1.0)
        };
        ((self.stream.min(self.streams) as f64 + within) / streams).clamp(0.0, 1.0)
    }
}

/// A row the provider skipped because it could not be decoded. Never carries
/// the row's content: only its id (when readable) and where it broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// `tickets`, `chats`, `calls`: a small closed set per vendor (a label).
    pub stream: &'static str,
    pub id: Option<String>,
    /// The JSON path of the first problem, e.g. `date_created`.
    pub field: String,
    /// The decoder's reason (type, format), without the value.
    pub reason: String,
}

impl RejectedRow {
    /// The `reason` label: a closed set derived from the decoder's message.
    pub fn kind(&self) -> &'static str {
        const KINDS: [(&str, &str); 5] = [
            ("invalid type", "invalid_type"),
            ("invalid value", "invalid_value"),
            ("missing field", "missing_field"),
            ("unknown variant", "unknown_variant"),
            ("invalid length", "invalid_length"),
        ];
        KINDS
            .iter()
            .find(|(prefix, _)| self.reason.starts_with(prefix))
            .map_or("invalid", |(_, kind)| kind)
    }
}

/// One source type: what `type: NAME` in the config means.
pub struct SourceType {
    /// The `type:` value and the name of the vendor block.
    pub name: &'static str,
    pub defaults: SourceDefaults,
    /// Validates the vendor block (absent means empty) into the vendor's
    /// settings; problems go to the block. `None` when it found problems.
    pub validate: fn(&mut VendorBlock<'_>) -> Option<Arc<dyn VendorConfig>>,
    /// The key of the vendor block the API root is derived from when
    /// `base_url` is not set (Zendesk's `subdomain`), named in the error
    /// when both are missing.
    pub base_url_from: Option<&'static str>,
}

/// Common keys whose defaults and limits differ between vendors.
#[derive(Debug, Clone, Copy)]
pub struct SourceDefaults {
    pub page_size: u32,
    /// The largest page the vendor serves.
    pub max_page_size: u32,
    /// The client-side budget, below the vendor's documented limit.
    pub requests_per_minute: u32,
}

/// Checks an account name that becomes the first label of the vendor's host
/// (`https://NAME.zendesk.com`): lowercase letters, digits and inner dashes,
/// at most 63 bytes. The error says what was expected, with `example_host`.
pub fn check_account_name(name: &str, example_host: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} must be the account name only, as in https://{example_host} \
             (lowercase letters, digits and inner dashes)"
        ))
    }
}

/// A vendor's validated config block. It knows how to build its provider from
/// the whole source config, which the provider keeps as its settings.
pub trait VendorConfig: std::fmt::Debug + Send + Sync {
    /// The API root when `base_url` is not set (Zendesk: from the subdomain).
    fn default_base_url(&self) -> Option<String> {
        None
    }

    /// The link to an item in the vendor's agent interface for `/items`, with
    /// `{id}` for the item id, derived from the API root; `None` when the
    /// vendor has no single link shape for every channel it serves.
    fn default_item_url(&self, _base_url: &str) -> Option<String> {
        None
    }

    fn build(
        &self,
        source: &SourceConfig,
        metrics: &ClientMetrics,
    ) -> Result<Arc<dyn Provider>, BuildError>;
}

/// The source types the exporter knows: one row per vendor.
pub const SOURCE_TYPES: &[SourceType] = &[
    liveagent::SOURCE_TYPE,
    zendesk::SOURCE_TYPE,
    jira_sm::SOURCE_TYPE,
    freshdesk::SOURCE_TYPE,
];

/// The row for a `type:` name.
pub fn source_type(name: &str) -> Option<&'static SourceType> {
    SOURCE_TYPES.iter().find(|t| t.name == name)
}

/// The known `type:` names, for error messages.
pub fn known_types() -> String {
    let names: Vec<&str> = SOURCE_TYPES.iter().map(|t| t.name).collect();
    names.join(", ")
}

/// Builds the provider of a validated source.
pub fn build(
    source: &SourceConfig,
    metrics: &ClientMetrics,
) -> Result<Arc<dyn Provider>, BuildError> {
    source.vendor.build(source, metrics)
}

/// Why a provider could not be built (a config problem, reported once).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Client(#[from] ClientError),
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
    /// The vendor answered 3xx. Redirects are not followed, so credentials
    /// never reach another origin; check `base_url`.
    #[error(
        "GET {endpoint}: the vendor redirected (HTTP {code}) to {to}; redirects are not followed, check base_url"
    )]
    Redirect {
        endpoint: String,
        code: u16,
        to: String,
    },
    /// The vendor's paging does not advance (a repeated cursor, the same page
    /// again) or a sync exceeded its page bound.
    #[error("GET {endpoint}: paging does not advance: {detail}")]
    PagingLoop { endpoint: String, detail: String },
}

impl ProviderError {
    /// Errors about the whole account rather than one endpoint (the key, the
    /// rate limit, the host, a redirect): every other stream would fail the
    /// same way, so they end the sync instead of only their stream.
    pub fn is_source_wide(&self) -> bool {
        matches!(
            self,
            ProviderError::Auth { .. }
                | ProviderError::RateLimited { .. }
                | ProviderError::Connect { .. }
                | ProviderError::Redirect { .. }
        )
    }

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
            ProviderError::Redirect { .. } => "redirect",
            ProviderError::PagingLoop { .. } => "paging_loop",
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
