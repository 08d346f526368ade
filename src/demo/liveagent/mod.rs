//! The simulated LiveAgent v3 API: served over real HTTP on a listener the
//! caller binds, read by the real LiveAgent provider.
//!
//! `sim` generates a seed-deterministic world and `api` shapes it like the
//! vendor API as of the injected clock.

pub mod api;
pub mod sim;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use jiff::{SignedDuration, Timestamp};
use tokio::net::TcpListener;

use super::DEMO_API_KEY;
use crate::clock::Clock;
use crate::config::SourceConfig;
use crate::providers::liveagent;
use crate::secret::Secret;

/// What the simulation needs.
#[derive(Clone)]
pub struct DemoConfig {
    /// Same seed, same world.
    pub seed: u64,
    /// How far back items exist; older ones are "archived". Must exceed the
    /// provider's initial lookback.
    pub retention: SignedDuration,
    /// "Now" for the API; tests fix it.
    pub clock: Clock,
    /// Undocumented behaviours switched on; none (the documented API) by default.
    pub undocumented: api::Undocumented,
    /// Requests a minute per API key before a 429 (LiveAgent's documented
    /// limit, [`VENDOR_REQUESTS_PER_MINUTE`], by default); `None`: no limit.
    pub rate_limit: Option<u32>,
}

/// LiveAgent's rate limit: 180 requests a minute per API key (vendor KB
/// 217359, as summarised in helpdesk-apis.md "Transport").
pub const VENDOR_REQUESTS_PER_MINUTE: u32 = 180;

/// The demo's rate limit: fixed one-minute windows per API key, on the tokio
/// clock (so tests advance a paused clock instead of sleeping).
pub struct RateLimit {
    per_minute: u32,
    windows: std::sync::Mutex<HashMap<String, (tokio::time::Instant, u32)>>,
}

impl RateLimit {
    pub fn new(per_minute: u32) -> RateLimit {
        RateLimit {
            per_minute,
            windows: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request with `key` at `now`: `true` while the key's window
    /// has room. A window starts with the first request after the last one
    /// ended.
    pub fn admit(&self, key: &str, now: tokio::time::Instant) -> bool {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let window = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(window.0) >= std::time::Duration::from_secs(60) {
            *window = (now, 0);
        }
        window.1 += 1;
        window.1 <= self.per_minute
    }
}

impl DemoConfig {
    pub fn new(seed: u64) -> DemoConfig {
        DemoConfig {
            seed,
            retention: SignedDuration::from_hours(24 * 31),
            clock: crate::clock::wall(),
            undocumented: api::Undocumented::default(),
            rate_limit: Some(VENDOR_REQUESTS_PER_MINUTE),
        }
    }

    /// Another rate limit per API key, or none.
    pub fn with_rate_limit(mut self, per_minute: Option<u32>) -> DemoConfig {
        self.rate_limit = per_minute;
        self
    }

    /// Switches on undocumented behaviours (`api::Undocumented::ALL`: all).
    pub fn with_undocumented(mut self, undocumented: api::Undocumented) -> DemoConfig {
        self.undocumented = undocumented;
        self
    }

    pub fn with_clock(
        mut self,
        clock: impl Fn() -> Timestamp + Send + Sync + 'static,
    ) -> DemoConfig {
        self.clock = Arc::new(clock);
        self
    }
}

/// The demo source, given the served base URL (`http://127.0.0.1:PORT/api/v3`).
pub fn source_config(source: &str, base_url: &str) -> SourceConfig {
    liveagent::source_config(source, base_url, Secret::new(DEMO_API_KEY))
}

/// Serve the demo API on `listener` until `shutdown` completes. Connections
/// still open at shutdown are dropped with the runtime.
pub async fn serve(
    listener: TcpListener,
    config: DemoConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let limit = Arc::new(config.rate_limit.map(RateLimit::new));
    let config = Arc::new(config);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Transient (EMFILE, aborted handshakes): keep serving.
                        tracing::warn!(error = %e, "demo: accept failed");
                        continue;
                    }
                };
                let config = config.clone();
                let limit = limit.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let config = config.clone();
                        let limit = limit.clone();
                        async move { Ok::<_, Infallible>(handle(&config, limit.as_ref().as_ref(), req)) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "demo: connection ended");
                    }
                });
            }
        }
    }
}

fn handle(
    config: &DemoConfig,
    limit: Option<&RateLimit>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            reqwest::Url::parse(&format!("http://demo/?{q}"))
                .map(|u| {
                    u.query_pairs()
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect()
                })
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let key = headers.get("apikey").cloned().unwrap_or_default();
    let reply = if limit.is_some_and(|l| !l.admit(&key, tokio::time::Instant::now())) {
        api::Reply::too_many_requests()
    } else if req.method() == hyper::Method::GET {
        api::respond_as(
            config.undocumented,
            config.seed,
            config.retention,
            (config.clock)(),
            req.uri().path(),
            &query,
            &headers,
        )
    } else {
        api::Reply {
            status: 405,
            headers: vec![],
            body: r#"{"message":"GET only"}"#.into(),
        }
    };
    let mut response = Response::builder()
        .status(reply.status)
        .header("content-type", "application/json");
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response
        .body(Full::new(Bytes::from(reply.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
