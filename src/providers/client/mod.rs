//! The one HTTP client every provider uses: auth, user agent, timeouts, a body
//! size limit, retries with backoff and jitter, `Retry-After`, a client-side
//! request budget, and the source API self-metrics.
//!
//! All waits use `tokio::time`, so tests with a paused clock run instantly and
//! can assert exact waits with `tokio::time::Instant`.

use std::time::Duration;

use jiff::Timestamp;
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

mod budget;
mod decode;
mod metrics;

pub use budget::{Budget, header_pause, parse_retry_after};
pub use decode::{decode, decode_rows, decode_values};
pub use metrics::ClientMetrics;

use super::ProviderError;
use crate::secret::Secret;

/// How to authenticate; chosen per vendor.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A header carrying the key as is (LiveAgent: `apikey`).
    Header {
        name: &'static str,
        value: Secret,
    },
    /// HTTP Basic (Zendesk `email/token:tok`, Freshdesk `key:X`, JSM).
    Basic {
        user: String,
        password: Secret,
    },
    Bearer(Secret),
}

/// Retry and wait limits. Defaults keep one request's worst case to a few
/// minutes so a sync never hangs on a sick vendor.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt, for 5xx, connection errors, timeouts and 429.
    pub max_retries: u32,
    /// The first backoff; doubled per retry, then jittered down to 50-100%.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The sum of backoff waits (not 429 waits) one request may spend.
    pub max_total_backoff: Duration,
    /// A longer `Retry-After` is surfaced as `RateLimited` instead of slept.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_total_backoff: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(600),
        }
    }
}

/// Everything that shapes one source's client.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub source: String,
    /// The vendor API root, e.g. `https://acme.ladesk.com/api/v3`.
    pub base_url: String,
    pub auth: Auth,
    /// Headers sent on every request (LiveAgent: `Timezone-Offset: 0`).
    pub headers: Vec<(&'static str, String)>,
    /// The whole-request deadline, body included. `None` only in paused-clock
    /// tests: a paused tokio clock jumps to the next pending timer while a
    /// request waits on real IO, which would fire any timeout at once.
    pub timeout: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    /// Client-side budget; LiveAgent allows 180/min per key.
    pub requests_per_minute: u32,
    /// Responses larger than this fail with `BodyTooLarge` (a page of 500
    /// tickets is well under 2 MiB).
    pub body_limit: usize,
    pub retry: RetryPolicy,
}

impl ClientSettings {
    /// Production defaults: 10s connect timeout, 16 MiB body limit, default retries.
    pub fn new(source: &str, base_url: &str, auth: Auth, timeout: Duration, rpm: u32) -> Self {
        ClientSettings {
            source: source.to_owned(),
            base_url: base_url.to_owned(),
            auth,
            headers: Vec::new(),
            timeout: Some(timeout),
            connect_timeout: Some(Duration::from_secs(10).min(timeout)),
            requests_per_minute: rpm,
            body_limit: 16 << 20,
            retry: RetryPolicy::default(),
        }
    }

    /// No timers besides the ones the client sleeps on itself, for tests that
    /// run on a paused tokio clock (see [`ClientSettings::timeout`]).
    pub fn without_io_timers(mut self) -> Self {
        self.timeout = None;
        self.connect_timeout = None;
        self
    }
}

/// A successful (2xx) response, fully read.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One source's client. Share it by reference; it holds a connection pool and
/// the request budget.
pub struct HttpClient {
    inner: reqwest::Client,
    base: String,
    source: String,
    body_limit: usize,
    retry: RetryPolicy,
    budget: std::sync::Arc<Budget>,
    metrics: ClientMetrics,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("source", &self.source)
            .field("base", &self.base)
            .finish()
    }
}

/// Why a client could not be built: a config problem, reported once. No
/// variant carries a credential.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid base_url {url:?}: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("the API credentials contain characters not allowed in an HTTP header")]
    Credentials,
    #[error("invalid value for the {name} header")]
    Header { name: &'static str },
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

impl HttpClient {
    pub fn new(
        settings: ClientSettings,
        metrics: ClientMetrics,
    ) -> Result<HttpClient, ClientError> {
        Url::parse(&settings.base_url).map_err(|e| ClientError::BaseUrl {
            url: settings.base_url.clone(),
            reason: e.to_string(),
        })?;
        metrics.init_source(&settings.source);
        let mut headers = HeaderMap::new();
        let auth_value = match &settings.auth {
            Auth::Header { value, .. } => value.expose().to_owned(),
            Auth::Basic { user, password } => basic(user, password.expose()),
            Auth::Bearer(token) => format!("Bearer {}", token.expose()),
        };
        let auth_name = match &settings.auth {
            Auth::Header { name, .. } => HeaderName::from_static(name),
            _ => reqwest::header::AUTHORIZATION,
        };
        // An invalid key must not echo itself in the error.
        let mut value = HeaderValue::from_str(&auth_value).map_err(|_| ClientError::Credentials)?;
        value.set_sensitive(true);
        headers.insert(auth_name, value);
        for (name, value) in &settings.headers {
            let value = HeaderValue::from_str(value).map_err(|_| ClientError::Header { name })?;
            headers.insert(HeaderName::from_static(name), value);
        }
        // Redirects are never followed: a vendor answering 3xx to another host
        // would otherwise receive the credentials (reqwest strips only the
        // standard auth headers on a cross-origin redirect, not `apikey`).
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("helpdesk-sla-exporter/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers);
        if let Some(t) = settings.timeout {
            builder = builder.timeout(t);
        } else {
            // The pool's idle reaper is a timer too; see `ClientSettings::timeout`.
            builder = builder.pool_max_idle_per_host(0);
        }
        if let Some(t) = settings.connect_timeout {
            builder = builder.connect_timeout(t);
        }
        let inner = builder
            .build()
            .map_err(|e| ClientError::Build(e.without_url().to_string()))?;
        let budget = metrics.budget(&settings.source, settings.requests_per_minute);
        Ok(HttpClient {
            inner,
            base: settings.base_url.trim_end_matches('/').to_owned(),
            source: settings.source,
            body_limit: settings.body_limit,
            retry: settings.retry,
            budget,
            metrics,
        })
    }

    /// GET `base_url + endpoint` with `query`, retrying as the policy allows.
    /// `endpoint` is the path template used as the metric label.
    pub async fn get(
        &self,
        endpoint: &str,
        query: &[(&str, String)],
    ) -> Result<Response, ProviderError> {
        self.get_path(endpoint, endpoint, query).await
    }

    /// Like [`HttpClient::get`] for a path with ids in it (`/issue/10001/changelog`):
    /// `endpoint` is the template (`/issue/{id}/changelog`) that names the request
    /// in metrics and errors, so ids never become label values.
    pub async fn get_path(
        &self,
        endpoint: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Response, ProviderError> {
        let mut url =
            Url::parse(&format!("{}{}", self.base, path)).map_err(|e| ProviderError::Connect {
                endpoint: endpoint.to_owned(),
                reason: e.to_string(),
            })?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut retries = 0;
        let mut backoff_spent = Duration::ZERO;
        loop {
            let waited = self.budget.acquire().await;
            if !waited.is_zero() {
                self.metrics.wait(&self.source, waited);
            }
            let err = match self.attempt(endpoint, url.clone()).await {
                Ok(response) => return Ok(response),
                Err(Attempt::Fatal(err)) => return Err(err),
                Err(Attempt::RateLimited(retry_after)) => {
                    let wait = retry_after.unwrap_or_else(|| self.backoff(retries));
                    let err = ProviderError::RateLimited {
                        endpoint: endpoint.to_owned(),
                        retry_after: wait,
                    };
                    if wait > self.retry.max_retry_after || retries >= self.retry.max_retries {
                        return Err(err);
                    }
                    tracing::debug!(source = %self.source, endpoint, wait_s = wait.as_secs_f64(), "429, waiting");
                    tokio::time::sleep(wait).await;
                    self.metrics.wait(&self.source, wait);
                    retries += 1;
                    continue;
                }
                Err(Attempt::Retryable(err)) => err,
            };
            let wait = self.backoff(retries);
            if retries >= self.retry.max_retries
                || backoff_spent + wait > self.retry.max_total_backoff
            {
                return Err(err);
            }
            tracing::debug!(source = %self.source, endpoint, error = %err, "retrying");
            tokio::time::sleep(wait).await;
            backoff_spent += wait;
            retries += 1;
        }
    }

    async fn attempt(&self, endpoint: &str, url: Url) -> Result<Response, Attempt> {
        let result = self.inner.get(url).send().await;
        let mut response = match result {
            Ok(r) => r,
            Err(e) => {
                self.metrics.request(&self.source, endpoint, "error");
                return Err(Attempt::Retryable(transport_error(endpoint, e)));
            }
        };
        let code = response.status().as_u16();
        self.metrics
            .request(&self.source, endpoint, status_class(code));
        let endpoint_owned = || endpoint.to_owned();
        match code {
            200..=299 => {}
            429 => {
                let header = |name| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v: &HeaderValue| v.to_str().ok())
                };
                let now = Timestamp::now();
                let retry_after = header(RETRY_AFTER.as_str())
                    .and_then(|v| parse_retry_after(v, now))
                    .or_else(|| header("x-ratelimit-reset").and_then(|v| parse_reset(v, now)));
                return Err(Attempt::RateLimited(retry_after));
            }
            300..=399 => {
                let to = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| response.url().join(l).ok())
                    .map(|u| u.origin().ascii_serialization())
                    .unwrap_or_else(|| "an unknown location".to_owned());
                return Err(Attempt::Fatal(ProviderError::Redirect {
                    endpoint: endpoint_owned(),
                    code,
                    to,
                }));
            }
            401 | 403 => {
                return Err(Attempt::Fatal(ProviderError::Auth {
                    endpoint: endpoint_owned(),
                    code,
                }));
            }
            500..=599 => {
                return Err(Attempt::Retryable(ProviderError::Status {
                    endpoint: endpoint_owned(),
                    code,
                }));
            }
            _ => {
                return Err(Attempt::Fatal(ProviderError::Status {
                    endpoint: endpoint_owned(),
                    code,
                }));
            }
        }
        let too_large = || {
            Attempt::Fatal(ProviderError::BodyTooLarge {
                endpoint: endpoint_owned(),
                limit: self.body_limit,
            })
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.body_limit as u64)
        {
            return Err(too_large());
        }
        let headers = response.headers().clone();
        // The vendor says its window is used up: slow down before a 429.
        if let Some(pause) = header_pause(&headers) {
            tracing::debug!(source = %self.source, endpoint, pause_s = pause.as_secs_f64(), "rate limit headers: holding requests");
            self.budget
                .hold_until(tokio::time::Instant::now() + pause)
                .await;
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.body_limit {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(Attempt::Retryable(transport_error(endpoint, e))),
            }
        }
        Ok(Response {
            status: code,
            headers,
            body,
        })
    }

    /// Exponential backoff with jitter: 50-100% of `base * 2^retry`, capped.
    fn backoff(&self, retry: u32) -> Duration {
        let full = self
            .retry
            .base_backoff
            .saturating_mul(1 << retry.min(16))
            .min(self.retry.max_backoff);
        full.mul_f64(0.5 + 0.5 * fastrand::f64())
    }
}

enum Attempt {
    Retryable(ProviderError),
    RateLimited(Option<Duration>),
    Fatal(ProviderError),
}

fn transport_error(endpoint: &str, e: reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        return ProviderError::Timeout {
            endpoint: endpoint.to_owned(),
        };
    }
    // The innermost cause is the useful part ("connection refused"); the URL
    // is dropped to keep the line short.
    let mut reason = None;
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        reason = Some(s.to_string());
        source = s.source();
    }
    let reason = reason.unwrap_or_else(|| e.without_url().to_string());
    ProviderError::Connect {
        endpoint: endpoint.to_owned(),
        reason,
    }
}

/// `X-RateLimit-Reset` as an ISO 8601 instant (Jira Cloud: `2026-03-06T00:01Z`),
/// used when a 429 has no `Retry-After`. A bare number is ignored: vendors use
/// it for epoch seconds or for seconds to wait, and guessing wrong would wait
/// for decades or not at all.
pub(super) fn parse_reset(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    let at: Timestamp = value.parse().ok().or_else(|| {
        // Jira writes minutes without seconds, which RFC 3339 requires.
        let (date_time, zone) = value.split_at(value.len().checked_sub(1)?);
        (zone == "Z").then(|| format!("{date_time}:00Z").parse().ok())?
    })?;
    Some(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO))
}

fn status_class(code: u16) -> &'static str {
    match code {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "error",
    }
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_reset_instants() {
        let now: Timestamp = "2026-03-06T00:00:30Z".parse().unwrap();
        let d = |v| parse_reset(v, now);
        assert_eq!(d("2026-03-06T00:01Z"), Some(Duration::from_secs(30)));
        assert_eq!(d("2026-03-06T00:02:00Z"), Some(Duration::from_secs(90)));
        assert_eq!(d("2026-03-06T00:00Z"), Some(Duration::ZERO));
        assert_eq!(d("1772755260"), None);
        assert_eq!(d("soon"), None);
    }

    #[test]
    fn basic_auth_encoding() {
        assert_eq!(
            basic("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic("a", "b"), "Basic YTpi");
    }
}
