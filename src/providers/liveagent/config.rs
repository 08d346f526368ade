//! The `liveagent` row of the source registry: defaults, the vendor block and
//! how the block builds the provider.

use std::sync::Arc;

use serde::Deserialize;

use super::LiveAgentProvider;
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

/// The `liveagent:` block. LiveAgent needs nothing beyond the common keys
/// (`base_url` names the account), so the block has no keys yet; it exists so
/// that a mistyped vendor key is an error rather than silently ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map of liveagent settings")]
pub struct LiveAgentConfig {}

fn validate(block: &mut VendorBlock<'_>) -> Option<Arc<dyn VendorConfig>> {
    let config: LiveAgentConfig = block.parse()?;
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
        Ok(Arc::new(LiveAgentProvider::new(
            source.clone(),
            metrics.clone(),
        )?))
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
