//! `--web.config.file`: TLS, client certificates, basic auth and response
//! headers in the Prometheus exporter-toolkit format, so an SRE can reuse the
//! file they already give node_exporter.
//!
//! - `raw.rs`: the file as written (`deny_unknown_fields`).
//! - `tls.rs`: `tls_server_config` → a rustls `ServerConfig`.
//! - `auth.rs`: `basic_auth_users` (bcrypt) checked on every request.
//!
//! Like exporter-toolkit, the file is re-read while the exporter runs: every
//! request and every new connection compares the modification time and size of
//! the file and of the certificate, key and CA files it names, and reloads when
//! one changed. A changed file that does not validate is logged and the last
//! good one stays in force; whether TLS is on is fixed at start.

mod auth;
mod raw;
mod tls;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use hyper::header::{HeaderName, HeaderValue};

pub use auth::AuthCache;

/// A validated web configuration.
pub struct WebConfig {
    /// The TLS settings, certificates loaded; `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Added to every response (`http_server_config.headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// User name → bcrypt hash; empty means no authentication.
    users: BTreeMap<String, String>,
    /// The files whose change triggers a re-read: the config and what it names.
    watched: Vec<PathBuf>,
}

impl fmt::Debug for WebConfig {
    // The hashes stay out of logs and panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("headers", &self.headers)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A problem with the web config file: which file, which key, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfigError {
    pub file: PathBuf,
    pub key: String,
    pub reason: String,
}

impl fmt::Display for WebConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.key, self.reason)
    }
}

impl std::error::Error for WebConfigError {}

/// A key and reason; the file is added by [`load`].
pub(crate) struct Problem {
    key: String,
    reason: String,
}

impl Problem {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Problem {
        Problem {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Headers exporter-toolkit allows in `http_server_config.headers`, with the
/// values it accepts (`None`: any value).
const ALLOWED_HEADERS: [(&str, Option<&[&str]>); 5] = [
    ("Content-Security-Policy", None),
    ("Strict-Transport-Security", None),
    ("X-Content-Type-Options", Some(&["nosniff"])),
    ("X-Frame-Options", Some(&["deny", "sameorigin"])),
    ("X-XSS-Protection", None),
];

/// Reads and validates the file; relative paths in it resolve against its
/// directory, as in exporter-toolkit.
pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
    let fail = |p: Problem| WebConfigError {
        file: path.to_owned(),
        key: p.key,
        reason: p.reason,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(Problem::new("(file)", format!("cannot read: {e}"))))?;
    let raw: raw::RawWebConfig = if text.trim().is_empty() {
        raw::RawWebConfig::default()
    } else {
        let de = yaml_serde::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = match e.path().to_string() {
                k if k == "." => "(root)".to_owned(),
                k => k,
            };
            // The YAML error repeats the path; keep only the reason.
            let mut reason = e.into_inner().to_string();
            if let Some((prefix, rest)) = reason.split_once(": ")
                && key.starts_with(prefix)
            {
                reason = rest.to_owned();
            }
            fail(Problem::new(key, reason))
        })?
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut watched = vec![path.to_owned()];
    let tls = match &raw.tls_server_config {
        Some(t) => tls::server_config(t, base, &mut watched).map_err(fail)?,
        None => None,
    };
    let mut headers = Vec::new();
    if let Some(http) = &raw.http_server_config {
        for (name, value) in &http.headers {
            headers.push(header(name, value).map_err(fail)?);
        }
    }
    for (user, hash) in &raw.basic_auth_users {
        let key = format!("basic_auth_users.{user}");
        if user.is_empty() || user.contains(':') {
            return Err(fail(Problem::new(
                key,
                "a user name must be non-empty and contain no ':'",
            )));
        }
        // Never echo the hash: it is a secret too.
        if hash.parse::<bcrypt::HashParts>().is_err() {
            return Err(fail(Problem::new(
                key,
                "not a bcrypt hash (expected $2a$, $2b$ or $2y$ with a cost, e.g. from `htpasswd -nBC 10 user`)",
            )));
        }
    }
    Ok(WebConfig {
        tls,
        headers,
        users: raw.basic_auth_users,
        watched,
    })
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Problem> {
    let key = format!("http_server_config.headers.{name}");
    let Some((canonical, values)) = ALLOWED_HEADERS
        .iter()
        .find(|(allowed, _)| allowed.eq_ignore_ascii_case(name))
    else {
        let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
        return Err(Problem::new(
            key,
            format!("header not allowed (allowed: {})", names.join(", ")),
        ));
    };
    if let Some(values) = values
        && !values.iter().any(|v| v.eq_ignore_ascii_case(value))
    {
        return Err(Problem::new(
            key,
            format!("invalid value {value:?} (expected one of {values:?})"),
        ));
    }
    let value = HeaderValue::from_str(value)
        .map_err(|_| Problem::new(&key, "the value is not a valid header value"))?;
    let name = HeaderName::from_bytes(canonical.as_bytes()).expect("a valid header name");
    Ok((name, value))
}

/// What a file looked like when last read; a different one means re-read.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// The web config file of a running exporter, re-read when it changes.
pub struct WebConfigFile {
    path: PathBuf,
    tls: bool,
    state: Mutex<State>,
    auth_cache: AuthCache,
}

struct State {
    config: Arc<WebConfig>,
    stamps: Vec<Stamp>,
}

impl WebConfigFile {
    /// Loads the file; an invalid one is an error (the exporter does not start).
    pub fn open(path: &Path) -> Result<WebConfigFile, WebConfigError> {
        let config = load(path)?;
        let stamps = config.watched.iter().map(|p| stamp(p)).collect();
        Ok(WebConfigFile {
            path: path.to_owned(),
            tls: config.tls.is_some(),
            state: Mutex::new(State {
                config: Arc::new(config),
                stamps,
            }),
            auth_cache: AuthCache::default(),
        })
    }

    /// Whether connections are TLS; fixed at start.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The config in force, re-read first if the file or a file it names
    /// changed since the last look.
    pub fn current(&self) -> Arc<WebConfig> {
        let mut state = self.state.lock().expect("lock poisoned");
        let now: Vec<Stamp> = state.config.watched.iter().map(|p| stamp(p)).collect();
        if now == state.stamps {
            return state.config.clone();
        }
        // Whatever happens, do not retry until the files change again.
        state.stamps = now;
        match load(&self.path) {
            Ok(config) if config.tls.is_some() != self.tls => tracing::error!(
                file = %self.path.display(),
                "web config changed whether TLS is on; that needs a restart, keeping the previous web config"
            ),
            Ok(config) => {
                tracing::info!(file = %self.path.display(), "web config reloaded");
                state.stamps = config.watched.iter().map(|p| stamp(p)).collect();
                state.config = Arc::new(config);
            }
            Err(e) => tracing::error!(
                file = %e.file.display(), key = %e.key, reason = %e.reason,
                "invalid web config; keeping the previous one"
            ),
        }
        state.config.clone()
    }

    /// Whether the request's `Authorization` header names a configured user
    /// with the right password; always true without `basic_auth_users`.
    pub async fn authorized(&self, config: &WebConfig, header: Option<&HeaderValue>) -> bool {
        auth::check(&config.users, header, &self.auth_cache).await
    }
}
