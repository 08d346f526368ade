//! The `liveagent` row of the source registry: defaults, the vendor block and
//! how the block builds the provider.

use std::sync::Arc;

use jiff::SignedDuration;
use serde::Deserialize;

use super::LiveAgentProvider;
use crate::config::duration;
use crate::config::{SourceConfig, VendorBlock};
use crate::providers::client::{Auth, ClientMetrics, ClientSettings};
use crate::providers::{BuildError, Provider, SourceDefaults, SourceType, VendorConfig};
use crate::secret::Secret;

/// `type: liveagent`.
pub const SOURCE_TYPE: SourceType = SourceType {
    name: "liveagent",
    defaults: SourceDefaults {
        page_size: 500,
        // LiveAgent's description gives no maximum for `_perPage`; larger pages
        // than this made no difference in our measurements (bench/RESULTS.md).
        max_page_size: 1000,
        // LiveAgent allows 180 requests a minute per API key; stay below it so
        // agents' own integrations keep some room.
        requests_per_minute: 150,
    },
    validate,
    base_url_from: None,
};

/// The `liveagent:` block as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map of liveagent settings")]
struct RawLiveAgentConfig {
    #[serde(default)]
    ticket_overlap: Option<String>,
    #[serde(default)]
    sla_level_requests_share: Option<f64>,
    #[serde(default)]
    next_answer_on_any_reopen: Option<bool>,
    #[serde(default)]
    resolve_voids_answers: Option<bool>,
}

/// The validated `liveagent:` block (`base_url` names the account).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveAgentConfig {
    /// How far before the ticket cursor each sync reads again. LiveAgent's
    /// ticket list is served from a search index that can lag the database,
    /// so a change can surface with a `date_changed` older than what the
    /// cursor already passed; re-reading a few minutes costs one page and the
    /// store's exactly-once counting makes it harmless.
    pub ticket_overlap: SignedDuration,
    /// The share of the source's `requests_per_minute` one sync may spend
    /// on `/tickets/{id}/sla` (and on re-reading tickets whose level was
    /// deferred); 0 reads no levels. Levels cost one request per changed
    /// open ticket, so an unbounded share could starve the ticket list.
    pub sla_level_requests_share: f64,
    /// LiveAgent's rule: every reopen (Postponed -> Open included, by a
    /// customer, an agent or the system) starts a Next answer clock. `false`
    /// counts only Answered/Resolved/Closed -> Open.
    pub next_answer_on_any_reopen: bool,
    /// LiveAgent's rule: a ticket resolved while New or Open logs no First or
    /// Next answer record, so that cycle is not applicable even when its due
    /// instant had passed. `false` counts it breached then.
    pub resolve_voids_answers: bool,
}

/// The default `sla_level_requests_share`: a quarter of the budget leaves
/// the rest to the ticket list, history, chats and calls.
pub const DEFAULT_SLA_LEVEL_REQUESTS_SHARE: f64 = 0.25;

/// The default `ticket_overlap`.
pub const DEFAULT_TICKET_OVERLAP: SignedDuration = SignedDuration::from_mins(5);
/// The largest `ticket_overlap`: beyond it every poll re-reads too much.
const MAX_TICKET_OVERLAP: SignedDuration = SignedDuration::from_hours(6);

impl Default for LiveAgentConfig {
    fn default() -> Self {
        LiveAgentConfig {
            ticket_overlap: DEFAULT_TICKET_OVERLAP,
            sla_level_requests_share: DEFAULT_SLA_LEVEL_REQUESTS_SHARE,
            next_answer_on_any_reopen: true,
            resolve_voids_answers: true,
        }
    }
}

fn validate(block: &mut VendorBlock<'_>) -> Option<Arc<dyn VendorConfig>> {
    let raw: RawLiveAgentConfig = block.parse()?;
    let mut config = LiveAgentConfig::default();
    if let Some(text) = raw.ticket_overlap.as_deref() {
        let parsed = duration::parse(text).and_then(|d| {
            if d > MAX_TICKET_OVERLAP {
                Err(format!("{text:?} is longer than the maximum of 6h"))
            } else {
                Ok(d)
            }
        });
        config.ticket_overlap = block.check("ticket_overlap", parsed)?;
    }
    if let Some(share) = raw.sla_level_requests_share {
        let checked = if (0.0..=1.0).contains(&share) {
            Ok(share)
        } else {
            Err(format!("must be between 0 and 1, got {share}"))
        };
        config.sla_level_requests_share = block.check("sla_level_requests_share", checked)?;
    }
    if let Some(on) = raw.next_answer_on_any_reopen {
        config.next_answer_on_any_reopen = on;
    }
    if let Some(on) = raw.resolve_voids_answers {
        config.resolve_voids_answers = on;
    }
    Some(Arc::new(config))
}

impl VendorConfig for LiveAgentConfig {
    /// The agent panel at the account root: `https://acme.ladesk.com/agent/#Conversation;id={id}`
    /// for `https://acme.ladesk.com/api/v3`. Not confirmed in LiveAgent's
    /// documentation (CONFIGURATION.md says so); `item_url` overrides it.
    fn default_item_url(&self, base_url: &str) -> Option<String> {
        let root = base_url
            .trim_end_matches('/')
            .trim_end_matches("/api/v3")
            .trim_end_matches("/api");
        Some(format!("{root}/agent/#Conversation;id={{id}}"))
    }

    fn build(
        &self,
        source: &SourceConfig,
        metrics: &ClientMetrics,
    ) -> Result<Arc<dyn Provider>, BuildError> {
        Ok(Arc::new(
            LiveAgentProvider::new(source.clone(), metrics.clone())?.with_options(self.clone()),
        ))
    }
}

/// The shared client's settings for a LiveAgent source: the `apikey` header,
/// `Timezone-Offset: 0` so every time comes back in UTC, and the source's
/// budget and timeout.
pub fn client_settings(source: &SourceConfig) -> ClientSettings {
    let auth = Auth::Header {
        name: "apikey",
        value: source.api_key.clone(),
    };
    let mut s = ClientSettings::new(
        &source.name,
        &source.base_url,
        auth,
        source.timeout,
        source.requests_per_minute,
    );
    s.headers.push(("timezone-offset", "0".to_owned()));
    s
}

/// A LiveAgent source with the registry's defaults, as the config would build
/// it from `{name, type: liveagent, base_url, api_key_env}` (the demo, tests).
pub fn source_config(name: &str, base_url: &str, api_key: Secret) -> SourceConfig {
    SourceConfig::with_defaults(
        name,
        &SOURCE_TYPE,
        base_url,
        api_key,
        Arc::new(LiveAgentConfig::default()),
    )
}
