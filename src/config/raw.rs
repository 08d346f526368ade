//! The config file exactly as written: serde types with every key optional where
//! a default exists and unknown keys rejected. Nothing here is trusted; `validate`
//! turns it into typed config and reports every problem with its key path.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub metrics: RawMetrics,
    #[serde(default)]
    pub sources: Vec<RawSource>,
    #[serde(default)]
    pub calendars: Vec<RawCalendar>,
    #[serde(default)]
    pub policies: Vec<RawPolicy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub compliance_windows: Option<Vec<String>>,
    #[serde(default)]
    pub label_limits: RawLabelLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLabelLimits {
    pub team: Option<usize>,
    pub priority: Option<usize>,
}

/// The common keys of a source. Unknown keys are collected in `vendor` instead
/// of rejected by serde, since the one named after the type is the vendor's
/// block; `config::source` rejects every other one with the same message serde
/// would give.
#[derive(Debug, Deserialize)]
pub struct RawSource {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub base_url: Option<String>,
    pub api_key_file: Option<String>,
    pub api_key_env: Option<String>,
    pub channels: Option<Vec<String>>,
    pub poll_interval: Option<String>,
    pub initial_lookback: Option<String>,
    pub page_size: Option<u32>,
    pub requests_per_minute: Option<u32>,
    pub timeout: Option<String>,
    /// Link to an item in the helpdesk's agent interface; `{id}` is the item id.
    pub item_url: Option<String>,
    pub max_pages_per_sync: Option<u32>,
    /// Every other key: the vendor block (`liveagent: {...}`) or a mistake.
    #[serde(flatten)]
    pub vendor: BTreeMap<String, yaml_serde::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCalendar {
    pub name: String,
    pub time_zone: String,
    /// Weekday name -> list of `HH:MM-HH:MM`.
    #[serde(default)]
    pub hours: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub holidays: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub name: String,
    #[serde(rename = "match")]
    pub matcher: Option<RawMatcher>,
    /// Target name -> its spec; a map so each target appears once.
    pub targets: BTreeMap<String, RawTarget>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatcher {
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub priorities: Vec<String>,
    #[serde(default)]
    pub teams: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub within: String,
    pub objective: f64,
    pub calendar: Option<String>,
    #[serde(default)]
    pub pause_statuses: Vec<String>,
    pub at_risk: Option<String>,
    pub reopen: Option<String>,
    pub unanswered: Option<String>,
    #[serde(default)]
    pub use_vendor_due: bool,
}
