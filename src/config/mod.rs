//! Configuration: YAML -> [`raw`] serde types -> validated [`Config`].
//!
//! Validation collects every problem instead of stopping at the first, so
//! `--config.check` can list them all; each names the file, the key path and
//! the reason. Secrets are read here (from a file or an environment variable)
//! straight into [`Secret`], so no later code ever sees them as plain strings.

pub mod duration;
mod policies;
pub mod raw;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::SignedDuration;

use crate::model::Channel;
use crate::secret::Secret;
use crate::sla::policy::PolicySet;
use raw::{RawConfig, RawSource};

/// The validated configuration. Built only by [`load`] or [`parse`].
#[derive(Debug)]
pub struct Config {
    pub metrics: MetricsConfig,
    pub sources: Vec<SourceConfig>,
    pub policies: PolicySet,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// Rolling compliance windows as `(label, length)`, e.g. `("7d", 7 days)`.
    /// The calendar month to date is always reported in addition, as `month`.
    pub compliance_windows: Vec<(String, SignedDuration)>,
    /// Distinct team label values per source before the rest fold into `other`.
    pub team_limit: usize,
    pub priority_limit: usize,
}

/// Which vendor API a source talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    LiveAgent,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::LiveAgent => "liveagent",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    pub base_url: String,
    pub api_key: Secret,
    pub channels: Vec<Channel>,
    pub poll_interval: Duration,
    pub initial_lookback: SignedDuration,
    pub page_size: u32,
    pub requests_per_minute: u32,
    pub timeout: Duration,
    /// The link to an item in the helpdesk's agent interface, `{id}` standing
    /// for the (percent-encoded) item id; used by `/items`, never in a label.
    pub item_url: String,
}

/// Where the configuration comes from, so a reload knows what to re-read.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    File(PathBuf),
    /// A config held in memory (the demo); reloading re-validates the same text.
    Embedded {
        name: String,
        text: String,
        env: Vec<(String, String)>,
    },
}

impl ConfigSource {
    pub fn load(&self) -> Result<Config, ConfigError> {
        match self {
            ConfigSource::File(path) => load(path),
            ConfigSource::Embedded { name, text, env } => {
                let file = PathBuf::from(name);
                let lookup = |v: &str| env.iter().find(|(k, _)| k == v).map(|(_, val)| val.clone());
                parse(text, &file, &PathBuf::from("."), &lookup)
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

/// Every problem found in one config file.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

/// One problem: where (`sources[0].poll_interval`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {}: {}", self.file.display(), p.key, p.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Collects problems while validating; keys are built by the caller.
#[derive(Default)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    pub(crate) fn add(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            reason: reason.into(),
        });
    }

    /// Runs a parse step, recording its error under `key`.
    pub(crate) fn check<T>(&mut self, key: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|reason| self.add(key, reason)).ok()
    }
}

/// Reads and validates the config file at `path`, taking secrets from the
/// process environment.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_owned(),
        problems: vec![Problem {
            key: "(file)".into(),
            reason: format!("cannot read: {e}"),
        }],
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, path, base, &|name| std::env::var(name).ok())
}

/// Validates config `text`. `file` names it in errors; relative `*_file` paths
/// resolve against `base_dir`; `env` looks up environment variables.
pub fn parse(
    text: &str,
    file: &Path,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let fail = |problems| ConfigError {
        file: file.to_owned(),
        problems,
    };
    let deserializer = yaml_serde::Deserializer::from_str(text);
    let raw: RawConfig = match serde_path_to_error::deserialize(deserializer) {
        Ok(raw) => raw,
        Err(e) => {
            let key = e.path().to_string();
            let key = if key == "." { "(root)".into() } else { key };
            // The YAML error repeats (part of) the path; keep only the reason.
            let mut reason = e.into_inner().to_string();
            if let Some((prefix, rest)) = reason.split_once(": ") {
                if key.starts_with(prefix) {
                    reason = rest.to_owned();
                }
            }
            return Err(fail(vec![Problem { key, reason }]));
        }
    };

    let mut problems = Problems::default();
    let metrics = validate_metrics(&raw, &mut problems);
    let mut sources = Vec::new();
    for (i, source) in raw.sources.iter().enumerate() {
        if let Some(s) = validate_source(
            source,
            &format!("sources[{i}]"),
            base_dir,
            env,
            &mut problems,
        ) {
            if sources.iter().any(|o: &SourceConfig| o.name == s.name) {
                problems.add(
                    format!("sources[{i}].name"),
                    format!("duplicate source name {:?}", s.name),
                );
            }
            sources.push(s);
        }
    }
    let policies = policies::validate(&raw.calendars, &raw.policies, &mut problems);
    if problems.0.is_empty() {
        Ok(Config {
            metrics,
            sources,
            policies,
        })
    } else {
        Err(fail(problems.0))
    }
}

fn validate_metrics(raw: &RawConfig, problems: &mut Problems) -> MetricsConfig {
    let windows = raw
        .metrics
        .compliance_windows
        .clone()
        .unwrap_or_else(|| vec!["7d".into(), "30d".into()]);
    let mut compliance_windows = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        let key = format!("metrics.compliance_windows[{i}]");
        if w == "month" {
            problems.add(
                key,
                "\"month\" is always reported; list only rolling windows",
            );
            continue;
        }
        if let Some(d) = problems.check(&key, duration::parse(w)) {
            if d < SignedDuration::from_hours(1) || d > SignedDuration::from_hours(24 * 366) {
                problems.add(key, format!("window {w:?} must be between 1h and 366d"));
            } else if compliance_windows.iter().any(|(_, o)| *o == d) {
                problems.add(key, format!("duplicate window {w:?}"));
            } else {
                // The label is the window as written (`7d`, not `1w`), so
                // dashboards and alerts match what the config says.
                compliance_windows.push((w.clone(), d));
            }
        }
    }
    let limits = &raw.metrics.label_limits;
    let mut limit = |key: &str, value: Option<usize>, default: usize| {
        let v = value.unwrap_or(default);
        if !(1..=1000).contains(&v) {
            problems.add(key, format!("must be between 1 and 1000, got {v}"));
        }
        v
    };
    MetricsConfig {
        compliance_windows,
        team_limit: limit("metrics.label_limits.team", limits.team, 50),
        priority_limit: limit("metrics.label_limits.priority", limits.priority, 20),
    }
}

fn validate_source(
    raw: &RawSource,
    key: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Option<SourceConfig> {
    let before = problems.0.len();
    let valid_name = !raw.name.is_empty()
        && raw
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid_name {
        problems.add(
            format!("{key}.name"),
            format!("{:?} must match [a-z0-9_-]+", raw.name),
        );
    }
    let kind = match raw.kind.as_str() {
        "liveagent" => Some(SourceKind::LiveAgent),
        other => {
            problems.add(
                format!("{key}.type"),
                format!("unknown source type {other:?} (supported: liveagent)"),
            );
            None
        }
    };
    let base_url = match &raw.base_url {
        None => {
            problems.add(format!("{key}.base_url"), "missing");
            String::new()
        }
        Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
            problems.add(
                format!("{key}.base_url"),
                format!("{url:?} must start with https:// or http://"),
            );
            String::new()
        }
        Some(url) => url.trim_end_matches('/').to_owned(),
    };
    let api_key = read_secret(raw, key, base_dir, env, problems);
    let channels = match &raw.channels {
        None => Channel::ALL.to_vec(),
        Some(list) => {
            let mut out = Vec::new();
            for (i, c) in list.iter().enumerate() {
                match parse_channel(c) {
                    Ok(c) if !out.contains(&c) => out.push(c),
                    Ok(_) => {
                        problems.add(format!("{key}.channels[{i}]"), format!("duplicate {c:?}"))
                    }
                    Err(e) => problems.add(format!("{key}.channels[{i}]"), e),
                }
            }
            if list.is_empty() {
                problems.add(format!("{key}.channels"), "must name at least one channel");
            }
            out
        }
    };
    let mut dur = |field: &str, value: &Option<String>, default: &str, min: SignedDuration| {
        let text = value.as_deref().unwrap_or(default);
        let k = format!("{key}.{field}");
        let d = problems.check(&k, duration::parse(text))?;
        if d < min {
            problems.add(
                k,
                format!("{text:?} is below the minimum {}", duration::format(min)),
            );
            return None;
        }
        Some(d)
    };
    let poll_interval = dur(
        "poll_interval",
        &raw.poll_interval,
        "1m",
        SignedDuration::from_secs(10),
    );
    let initial_lookback = dur(
        "initial_lookback",
        &raw.initial_lookback,
        "30d",
        SignedDuration::from_hours(1),
    );
    let timeout = dur("timeout", &raw.timeout, "30s", SignedDuration::from_secs(1));
    let page_size = raw.page_size.unwrap_or(500);
    if !(1..=1000).contains(&page_size) {
        problems.add(
            format!("{key}.page_size"),
            format!("must be between 1 and 1000, got {page_size}"),
        );
    }
    let requests_per_minute = raw.requests_per_minute.unwrap_or(150);
    if !(1..=10_000).contains(&requests_per_minute) {
        problems.add(
            format!("{key}.requests_per_minute"),
            format!("must be between 1 and 10000, got {requests_per_minute}"),
        );
    }
    let item_url = match (&raw.item_url, kind) {
        (Some(url), _) if !(url.starts_with("https://") || url.starts_with("http://")) => {
            problems.add(
                format!("{key}.item_url"),
                format!("{url:?} must start with https:// or http://"),
            );
            String::new()
        }
        (Some(url), _) if !url.contains("{id}") => {
            problems.add(
                format!("{key}.item_url"),
                format!("{url:?} must contain {{id}}, where the item id goes"),
            );
            String::new()
        }
        (Some(url), _) => url.clone(),
        (None, Some(kind)) => default_item_url(kind, &base_url),
        (None, None) => String::new(),
    };
    if problems.0.len() > before {
        return None;
    }
    Some(SourceConfig {
        name: raw.name.clone(),
        kind: kind?,
        base_url,
        api_key: api_key?,
        channels,
        poll_interval: poll_interval?.unsigned_abs(),
        initial_lookback: initial_lookback?,
        page_size,
        requests_per_minute,
        timeout: timeout?.unsigned_abs(),
        item_url,
    })
}

/// Each vendor's agent-interface link for an item, derived from the API base
/// URL. LiveAgent: the agent panel at the account root, e.g.
/// `https://acme.ladesk.com/agent/#Conversation;id={id}` for
/// `https://acme.ladesk.com/api/v3`.
fn default_item_url(kind: SourceKind, base_url: &str) -> String {
    match kind {
        SourceKind::LiveAgent => {
            let root = base_url
                .trim_end_matches('/')
                .trim_end_matches("/api/v3")
                .trim_end_matches("/api");
            format!("{root}/agent/#Conversation;id={{id}}")
        }
    }
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
        (Some(file), None) => {
            let path = base_dir.join(file);
            match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    let why = match e.kind() {
                        std::io::ErrorKind::NotFound => "no such file".to_owned(),
                        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
                        _ => e.to_string(),
                    };
                    problems.add(
                        format!("{key}.api_key_file"),
                        format!("cannot read {file:?}: {why}"),
                    );
                    return None;
                }
            }
        }
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
    let value = value.trim();
    if value.is_empty() {
        let field = if raw.api_key_file.is_some() {
            "api_key_file"
        } else {
            "api_key_env"
        };
        problems.add(format!("{key}.{field}"), "the API key is empty");
        return None;
    }
    Some(Secret::new(value))
}

pub(crate) fn parse_channel(text: &str) -> Result<Channel, String> {
    match text {
        "ticket" => Ok(Channel::Ticket),
        "chat" => Ok(Channel::Chat),
        "call" => Ok(Channel::Call),
        other => Err(format!(
            "unknown channel {other:?} (expected ticket, chat or call)"
        )),
    }
}
