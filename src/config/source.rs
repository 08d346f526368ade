//! One `sources[]` entry. The keys every vendor shares are validated here; the
//! vendor's own block (`liveagent: {...}`, named after the type) is validated by
//! the vendor's row in [`crate::providers::SOURCE_TYPES`], which also supplies
//! the defaults and limits that differ between vendors.
//!
//! The result is one [`SourceConfig`] per source, built once and handed to the
//! provider as is.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use serde::de::DeserializeOwned;

use super::raw::RawSource;
use super::{Problems, duration, parse_channel};
use crate::model::Channel;
use crate::providers::{self, SourceType, VendorConfig};
use crate::secret::Secret;

/// One validated source: the common settings plus the vendor's typed block.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    /// The registry name of the vendor (`liveagent`), as written in `type:`.
    pub kind: &'static str,
    /// The vendor API root, without a trailing slash.
    pub base_url: String,
    pub api_key: Secret,
    pub channels: Vec<Channel>,
    pub poll_interval: Duration,
    pub initial_lookback: SignedDuration,
    pub page_size: u32,
    pub requests_per_minute: u32,
    pub timeout: Duration,
    /// A sync that needs more pages than this ends with a `paging_loop` error:
    /// a guard against a vendor whose paging never ends.
    pub max_pages_per_sync: u32,
    /// The link to an item in the helpdesk's agent interface, `{id}` standing
    /// for the (percent-encoded) item id; used by `/items`, never in a label.
    /// Empty when the vendor has no default and none is configured.
    pub item_url: String,
    /// The vendor block, validated by the vendor; it also builds the provider.
    pub vendor: Arc<dyn VendorConfig>,
}

impl SourceConfig {
    /// A source of type `t` with every common key at its default, as the
    /// config builds it from `{name, type, base_url, api_key_env}` and the
    /// vendor block `vendor` (the demo and tests use it).
    pub fn with_defaults(
        name: &str,
        t: &SourceType,
        base_url: &str,
        api_key: Secret,
        vendor: Arc<dyn VendorConfig>,
    ) -> SourceConfig {
        SourceConfig {
            name: name.to_owned(),
            kind: t.name,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            channels: Channel::ALL.to_vec(),
            poll_interval: Duration::from_secs(60),
            initial_lookback: SignedDuration::from_hours(24 * 30),
            page_size: t.defaults.page_size,
            requests_per_minute: t.defaults.requests_per_minute,
            timeout: Duration::from_secs(30),
            max_pages_per_sync: DEFAULT_MAX_PAGES_PER_SYNC,
            item_url: vendor
                .default_item_url(base_url.trim_end_matches('/'))
                .unwrap_or_default(),
            vendor,
        }
    }
}

/// Generous: a first sync of a million tickets at 500 a page with their
/// history takes a few thousand pages.
pub const DEFAULT_MAX_PAGES_PER_SYNC: u32 = 100_000;

/// The common keys of a source, for the "unknown key" message.
const COMMON_KEYS: &[&str] = &[
    "name",
    "type",
    "base_url",
    "api_key_file",
    "api_key_env",
    "channels",
    "poll_interval",
    "initial_lookback",
    "page_size",
    "requests_per_minute",
    "timeout",
    "max_pages_per_sync",
    "item_url",
];

/// What a vendor's `validate` function sees: its block (absent when the user
/// wrote none) and a place to report problems under the block's key path.
pub struct VendorBlock<'a> {
    /// `sources[0].liveagent`
    pub key: String,
    pub block: Option<&'a yaml_serde::Value>,
    problems: &'a mut Problems,
}

impl VendorBlock<'_> {
    /// Deserializes the block into the vendor's raw type (which should deny
    /// unknown keys), reporting the exact key path on failure. An absent block
    /// is `T::default()`.
    pub fn parse<T: DeserializeOwned + Default>(&mut self) -> Option<T> {
        let Some(value) = self.block else {
            return Some(T::default());
        };
        if value.is_null() {
            return Some(T::default());
        }
        match serde_path_to_error::deserialize(value.clone()) {
            Ok(v) => Some(v),
            Err(e) => {
                let path = e.path().to_string();
                let key = if path == "." {
                    self.key.clone()
                } else {
                    format!("{}.{path}", self.key)
                };
                self.problems.add(key, e.into_inner().to_string());
                None
            }
        }
    }

    /// Reports a problem with `field` of the block (`""` for the block itself).
    pub fn problem(&mut self, field: &str, reason: impl Into<String>) {
        let key = if field.is_empty() {
            self.key.clone()
        } else {
            format!("{}.{field}", self.key)
        };
        self.problems.add(key, reason);
    }

    /// Runs a parse step, recording its error under `field`.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|reason| self.problem(field, reason)).ok()
    }
}

/// Validates one `sources[]` entry at key path `key` (`sources[0]`).
pub(super) fn validate(
    raw: &RawSource,
    key: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Option<SourceConfig> {
    let before = problems.0.len();
    check_name(&raw.name, key, problems);
    let source_type = providers::source_type(&raw.kind);
    if source_type.is_none() {
        problems.add(
            format!("{key}.type"),
            format!(
                "unknown source type {:?} (supported: {})",
                raw.kind,
                providers::known_types()
            ),
        );
    }
    let block = vendor_block(raw, key, source_type, problems);
    let vendor = source_type.and_then(|t| {
        (t.validate)(&mut VendorBlock {
            key: format!("{key}.{}", t.name),
            block,
            problems,
        })
    });
    let derived_from = source_type.and_then(|t| t.base_url_from.map(|k| (t.name, k)));
    let derivable = derived_from.is_some_and(|(_, k)| block.is_some_and(|b| b.get(k).is_some()));
    let base_url = base_url(
        raw,
        key,
        vendor.as_deref(),
        derived_from,
        derivable,
        problems,
    );
    let api_key = read_secret(raw, key, base_dir, env, problems);
    let channels = channels(raw, key, problems);
    let timing = timing(raw, key, problems);
    let (page_size, requests_per_minute) = match source_type {
        Some(t) => limits(raw, key, t, problems),
        None => (0, 0),
    };
    let max_pages_per_sync = raw.max_pages_per_sync.unwrap_or(DEFAULT_MAX_PAGES_PER_SYNC);
    if !(10..=10_000_000).contains(&max_pages_per_sync) {
        problems.add(
            format!("{key}.max_pages_per_sync"),
            format!("must be between 10 and 10000000, got {max_pages_per_sync}"),
        );
    }
    let item_url = item_url(raw, key, vendor.as_deref(), base_url.as_deref(), problems);
    if problems.0.len() > before {
        return None;
    }
    let (poll_interval, initial_lookback, timeout) = timing?;
    Some(SourceConfig {
        name: raw.name.clone(),
        kind: source_type?.name,
        base_url: base_url?,
        api_key: api_key?,
        channels,
        poll_interval,
        initial_lookback,
        page_size,
        requests_per_minute,
        timeout,
        max_pages_per_sync,
        item_url,
        vendor: vendor?,
    })
}

fn check_name(name: &str, key: &str, problems: &mut Problems) {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid {
        problems.add(
            format!("{key}.name"),
            format!("{name:?} must match [a-z0-9_-]+"),
        );
    }
}

/// The keys beyond the common ones: only a block named after the source's own
/// type is allowed. Returns that block.
fn vendor_block<'a>(
    raw: &'a RawSource,
    key: &str,
    source_type: Option<&SourceType>,
    problems: &mut Problems,
) -> Option<&'a yaml_serde::Value> {
    let mut block = None;
    for (name, value) in &raw.vendor {
        if source_type.is_some_and(|t| t.name == name) {
            block = Some(value);
        } else if providers::source_type(name).is_some() {
            problems.add(
                format!("{key}.{name}"),
                format!(
                    "a {name:?} block configures a source of type {name:?}, but this source is of type {:?}",
                    raw.kind
                ),
            );
        } else {
            let expected: Vec<String> = COMMON_KEYS.iter().map(|k| format!("`{k}`")).collect();
            let block_hint = source_type
                .map(|t| format!(", or a `{}` block", t.name))
                .unwrap_or_default();
            problems.add(
                format!("{key}.{name}"),
                format!(
                    "unknown field `{name}`, expected one of {}{block_hint}",
                    expected.join(", ")
                ),
            );
        }
    }
    block
}

/// `base_url` as written, else the vendor's default (Zendesk derives it from
/// the subdomain). When both are missing the error names the key it is
/// derived from; when that key is present but its block has problems of its
/// own, those are the error and nothing is added here. It must parse as a full http(s) URL with a host and a valid
/// port, and carry no credentials, query or fragment: paths are appended to it
/// and it is logged, so anything secret in it would leak.
fn base_url(
    raw: &RawSource,
    key: &str,
    vendor: Option<&dyn VendorConfig>,
    derived_from: Option<(&str, &str)>,
    derivable: bool,
    problems: &mut Problems,
) -> Option<String> {
    let k = format!("{key}.base_url");
    let Some(url) = raw
        .base_url
        .clone()
        .or_else(|| vendor.and_then(|v| v.default_base_url()))
    else {
        match derived_from {
            Some(_) if derivable && vendor.is_none() => {}
            Some((block, from)) => problems.add(
                k,
                format!(
                    "missing: set `{block}.{from}` (the API root is derived from it) or `base_url`"
                ),
            ),
            None => problems.add(k, "missing"),
        }
        return None;
    };
    match check_base_url(&url) {
        Ok(()) => Some(url.trim_end_matches('/').to_owned()),
        Err(why) => {
            problems.add(k, why);
            None
        }
    }
}

/// Why `url` cannot be a vendor API root, if it cannot.
fn check_base_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("{url:?} must start with https:// or http://"));
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a valid URL: {e}"))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url:?} has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Not echoed: the user info may be a credential.
        return Err(
            "must not contain a user name or password; use api_key_file or api_key_env".into(),
        );
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("{url:?} must not have a query or fragment"));
    }
    Ok(())
}

/// `item_url` as written (an http(s) URL containing `{id}`), else the
/// vendor's default derived from the API root, else none.
fn item_url(
    raw: &RawSource,
    key: &str,
    vendor: Option<&dyn VendorConfig>,
    base_url: Option<&str>,
    problems: &mut Problems,
) -> String {
    let k = format!("{key}.item_url");
    match &raw.item_url {
        Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
            problems.add(k, format!("{url:?} must start with https:// or http://"));
            String::new()
        }
        Some(url) if !url.contains("{id}") => {
            problems.add(
                k,
                format!("{url:?} must contain {{id}}, where the item id goes"),
            );
            String::new()
        }
        Some(url) => url.clone(),
        None => vendor
            .zip(base_url)
            .and_then(|(v, b)| v.default_item_url(b))
            .unwrap_or_default(),
    }
}

fn channels(raw: &RawSource, key: &str, problems: &mut Problems) -> Vec<Channel> {
    let Some(list) = &raw.channels else {
        return Channel::ALL.to_vec();
    };
    let mut out = Vec::new();
    for (i, c) in list.iter().enumerate() {
        match parse_channel(c) {
            Ok(c) if !out.contains(&c) => out.push(c),
            Ok(_) => problems.add(format!("{key}.channels[{i}]"), format!("duplicate {c:?}")),
            Err(e) => problems.add(format!("{key}.channels[{i}]"), e),
        }
    }
    if list.is_empty() {
        problems.add(format!("{key}.channels"), "must name at least one channel");
    }
    out
}

/// The accepted range of `poll_interval` (CONFIGURATION.md lists these).
pub const POLL_INTERVAL_RANGE: (SignedDuration, SignedDuration) = (
    SignedDuration::from_secs(10),
    SignedDuration::from_hours(24),
);
/// The accepted range of `initial_lookback`: up to three years of 365 days.
pub const INITIAL_LOOKBACK_RANGE: (SignedDuration, SignedDuration) = (
    SignedDuration::from_hours(1),
    SignedDuration::from_hours(24 * 365 * 3),
);
/// The accepted range of `timeout`.
pub const TIMEOUT_RANGE: (SignedDuration, SignedDuration) =
    (SignedDuration::from_secs(1), SignedDuration::from_mins(10));

/// Parses the duration at `key` and checks it against `(min, max)`.
pub(super) fn bounded(
    text: &str,
    key: &str,
    (min, max): (SignedDuration, SignedDuration),
    problems: &mut Problems,
) -> Option<SignedDuration> {
    let d = problems.check(key, duration::parse(text))?;
    if d < min {
        problems.add(
            key,
            format!(
                "{text:?} is below the minimum {}",
                duration::format_limit(min)
            ),
        );
        return None;
    }
    if d > max {
        problems.add(
            key,
            format!(
                "{text:?} is above the maximum {}",
                duration::format_limit(max)
            ),
        );
        return None;
    }
    Some(d)
}

/// `poll_interval`, `initial_lookback` and `timeout`, each within its range.
fn timing(
    raw: &RawSource,
    key: &str,
    problems: &mut Problems,
) -> Option<(Duration, SignedDuration, Duration)> {
    let mut dur = |field: &str, value: &Option<String>, default: &str, range| {
        let text = value.as_deref().unwrap_or(default);
        bounded(text, &format!("{key}.{field}"), range, problems)
    };
    let poll_interval = dur(
        "poll_interval",
        &raw.poll_interval,
        "1m",
        POLL_INTERVAL_RANGE,
    );
    let initial_lookback = dur(
        "initial_lookback",
        &raw.initial_lookback,
        "30d",
        INITIAL_LOOKBACK_RANGE,
    );
    let timeout = dur("timeout", &raw.timeout, "30s", TIMEOUT_RANGE);
    Some((
        poll_interval?.unsigned_abs(),
        initial_lookback?,
        timeout?.unsigned_abs(),
    ))
}

/// `page_size` and `requests_per_minute` with the vendor's defaults and caps.
fn limits(raw: &RawSource, key: &str, t: &SourceType, problems: &mut Problems) -> (u32, u32) {
    let d = &t.defaults;
    let page_size = raw.page_size.unwrap_or(d.page_size);
    if !(1..=d.max_page_size).contains(&page_size) {
        problems.add(
            format!("{key}.page_size"),
            format!("must be between 1 and {}, got {page_size}", d.max_page_size),
        );
    }
    let rpm = raw.requests_per_minute.unwrap_or(d.requests_per_minute);
    if !(1..=10_000).contains(&rpm) {
        problems.add(
            format!("{key}.requests_per_minute"),
            format!("must be between 1 and 10000, got {rpm}"),
        );
    }
    (page_size, rpm)
}

/// Reads the API key from exactly one of `api_key_file` or `api_key_env`.
/// Errors name the file or variable, never the value.
fn read_secret(
    raw: &RawSource,
    key: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Option<Secret> {
    let value = match (&raw.api_key_file, &raw.api_key_env) {
        (Some(_), Some(_)) => {
            problems.add(
                format!("{key}.api_key_file"),
                "give api_key_file or api_key_env, not both",
            );
            return None;
        }
        (None, None) => {
            problems.add(key, "missing api_key_file or api_key_env");
            return None;
        }
        (Some(file), None) => match read_key_file(&base_dir.join(file)) {
            Ok(text) => text,
            Err(why) => {
                problems.add(
                    format!("{key}.api_key_file"),
                    format!("cannot read {file:?}: {why}"),
                );
                return None;
            }
        },
        (None, Some(var)) => match env(var) {
            Some(v) => v,
            None => {
                problems.add(
                    format!("{key}.api_key_env"),
                    format!("environment variable {var} is not set"),
                );
                return None;
            }
        },
    };
    let field = if raw.api_key_file.is_some() {
        "api_key_file"
    } else {
        "api_key_env"
    };
    // Surrounding whitespace (the trailing newline editors add) is not part of
    // the key; anything else that is not printable is a mistake, and the key is
    // never echoed in the message.
    let value = value.trim();
    if value.is_empty() {
        problems.add(format!("{key}.{field}"), "the API key is empty");
        return None;
    }
    if value.chars().any(char::is_control) {
        problems.add(
            format!("{key}.{field}"),
            "the API key contains control characters (such as a line break inside it)",
        );
        return None;
    }
    Some(Secret::new(value))
}

/// The largest API key file read.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Reads an API key file if it is a regular file of at most
/// [`MAX_KEY_FILE_BYTES`]; a device (`/dev/zero`), a FIFO or a directory is
/// refused without reading from it. The reason never contains the content.
fn read_key_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let io_reason = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(io_reason)?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let too_big = || format!("larger than the {} KiB limit", MAX_KEY_FILE_BYTES / 1024);
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(too_big());
    }
    // The size may change between the check and the read; read at most one
    // byte past the limit either way.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(io_reason)?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text".to_owned())
}
