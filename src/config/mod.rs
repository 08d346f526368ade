//! Configuration: YAML -> [`raw`] serde types -> validated [`Config`].
//!
//! Validation collects every problem instead of stopping at the first, so
//! `--config.check` can list them all; each names the file, the key path and
//! the reason. Secrets are read here (from a file or an environment variable)
//! straight into [`crate::secret::Secret`], so no later code ever sees them as plain strings.

pub mod duration;
mod policies;
pub mod raw;
mod source;
mod yaml_nodes;

pub use policies::MAX_TARGET;
pub use source::{
    DEFAULT_MAX_PAGES_PER_SYNC, INITIAL_LOOKBACK_RANGE, MAX_KEY_FILE_BYTES, POLL_INTERVAL_RANGE,
    SourceConfig, TIMEOUT_RANGE, VendorBlock,
};

use std::fmt;
use std::path::{Path, PathBuf};

use jiff::SignedDuration;

use crate::model::Channel;
use crate::sla::policy::PolicySet;
use raw::RawConfig;

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

/// The largest config file read (1 MiB); a longer one is refused unread.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The most YAML nodes a config may expand to once aliases are resolved. A
/// large config has a few thousand; a file of repeated aliases (a "billion
/// laughs") has billions, and yaml_serde itself only bounds nested aliases.
pub const MAX_YAML_NODES: usize = 100_000;

/// Reads and validates the config file at `path`, taking secrets from the
/// process environment.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = read_config_file(path).map_err(|reason| ConfigError {
        file: path.to_owned(),
        problems: vec![Problem {
            key: "(file)".into(),
            reason,
        }],
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, path, base, &|name| std::env::var(name).ok())
}

/// The config text, at most [`MAX_CONFIG_BYTES`] of it.
fn read_config_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let too_big = || format!("larger than the {} MiB limit", MAX_CONFIG_BYTES >> 20);
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if meta.is_dir() {
        return Err("cannot read: is a directory".into());
    }
    if meta.is_file() && meta.len() > MAX_CONFIG_BYTES {
        return Err(too_big());
    }
    // Read one byte past the limit, whatever the file is (a FIFO has no length).
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|_| "cannot read: the file is not UTF-8 text".into())
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
    let one = |key: &str, reason: String| {
        fail(vec![Problem {
            key: key.into(),
            reason,
        }])
    };
    if text.len() as u64 > MAX_CONFIG_BYTES {
        let reason = format!("larger than the {} MiB limit", MAX_CONFIG_BYTES >> 20);
        return Err(one("(file)", reason));
    }
    // Walk the document once without keeping it, counting nodes as aliases
    // expand, before anything buffers it (the vendor blocks are kept as values).
    if let Err(e) = yaml_nodes::check(text, MAX_YAML_NODES) {
        return Err(one("(root)", e));
    }
    let deserializer = yaml_serde::Deserializer::from_str(text);
    let raw: RawConfig = match serde_path_to_error::deserialize(deserializer) {
        Ok(raw) => raw,
        Err(e) => {
            let key = e.path().to_string();
            let key = if key == "." { "(root)".into() } else { key };
            // The YAML error repeats (part of) the path; keep only the reason.
            let mut reason = e.into_inner().to_string();
            if let Some((prefix, rest)) = reason.split_once(": ")
                && key.starts_with(prefix)
            {
                reason = rest.to_owned();
            }
            return Err(fail(vec![Problem { key, reason }]));
        }
    };
    let mut problems = Problems::default();
    if raw.sources.is_empty() {
        // An empty file deserializes to the defaults; without a source the
        // exporter would serve nothing, and a reload would drop every source.
        problems.add("sources", "no source defined; define at least one source");
    }
    let metrics = validate_metrics(&raw, &mut problems);
    let mut sources = Vec::new();
    for (i, source) in raw.sources.iter().enumerate() {
        if let Some(s) = source::validate(
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
