//! The HTTP surface on hyper 1: `/metrics`, the landing page, `/-/healthy`,
//! `/-/ready` and `POST /-/reload`.
//!
//! Handlers only read in-memory state; none of them calls a vendor API, so a
//! slow helpdesk can never make a scrape slow.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::app::Handle;
use crate::metrics::{self, CONTENT_TYPE as METRICS_CONTENT_TYPE};

/// How long requests in flight may take to finish after shutdown begins; the
/// exporter must exit within 5 s of SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Protects against clients that open a connection and never send headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown` completes, then drains.
pub async fn serve(listener: TcpListener, handle: Handle, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Usually EMFILE; back off briefly instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let handle = handle.clone();
                let service = hyper::service::service_fn(move |req| {
                    let handle = handle.clone();
                    async move { Ok::<_, Infallible>(route(&handle, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after drain timeout; closing them");
    }
}

async fn route(handle: &Handle, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let telemetry = handle.options().telemetry_path.as_str();
    match (req.method(), path) {
        (&Method::GET | &Method::HEAD, p) if p == telemetry => {
            let mut body = Vec::with_capacity(16 * 1024);
            handle.self_metrics().render(&mut body);
            body.extend_from_slice(handle.rendered_sla().as_bytes());
            respond(StatusCode::OK, METRICS_CONTENT_TYPE, body)
        }
        (&Method::GET | &Method::HEAD, "/") => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            landing_page(handle),
        ),
        (&Method::GET | &Method::HEAD, "/-/healthy") => text(StatusCode::OK, "Healthy.\n"),
        (&Method::GET | &Method::HEAD, "/-/ready") => {
            let waiting: Vec<String> = handle
                .sources()
                .into_iter()
                .filter(|s| !s.first_sync_done)
                .map(|s| s.name)
                .collect();
            if waiting.is_empty() {
                text(StatusCode::OK, "Ready.\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!(
                        "Not ready: waiting for the first sync of {}.\n",
                        waiting.join(", ")
                    ),
                )
            }
        }
        (&Method::POST | &Method::PUT, "/-/reload") => match handle.reload().await {
            Ok(()) => text(StatusCode::OK, "Configuration reloaded.\n"),
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("Reload failed; the previous configuration stays in force.\n{e}\n"),
            ),
        },
        (_, "/-/reload") => {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "Use POST to reload.\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST, PUT"));
            r
        }
        (_, p) if p == telemetry || matches!(p, "/" | "/-/healthy" | "/-/ready") => {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        }
        _ => text(StatusCode::NOT_FOUND, "Not found.\n"),
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    respond(
        status,
        "text/plain; charset=utf-8",
        body.as_bytes().to_vec(),
    )
}

fn landing_page(handle: &Handle) -> Vec<u8> {
    let telemetry = escape(&handle.options().telemetry_path);
    let mut rows = String::new();
    for s in handle.sources() {
        let health = match (s.first_sync_done, s.up) {
            (false, _) => "waiting for first sync",
            (true, true) => "up",
            (true, false) => "down",
        };
        let error = s.last_error.as_deref().map(escape).unwrap_or_default();
        let progress = s.progress.as_ref().map(sync_progress).unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{health}</td><td>{progress}</td><td>{error}</td></tr>\n",
            escape(&s.name),
            s.kind,
        ));
    }
    if rows.is_empty() {
        rows.push_str("<tr><td colspan=\"5\">No sources configured.</td></tr>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Helpdesk SLA Exporter</title></head>\n<body>\n\
         <h1>Helpdesk SLA Exporter</h1>\n<p>Version {version} (revision {revision})</p>\n\
         <ul><li><a href=\"{telemetry}\">Metrics</a></li><li><a href=\"/-/healthy\">Health</a></li>\
         <li><a href=\"/-/ready\">Readiness</a></li></ul>\n\
         <h2>Sources</h2>\n<table>\n<tr><th>Source</th><th>Type</th><th>Health</th><th>Sync in progress</th><th>Last error</th></tr>\n{rows}</table>\n\
         </body></html>\n",
        version = metrics::VERSION,
        revision = metrics::REVISION,
    )
    .into_bytes()
}

/// `42% (1234 items, about 5 min left)`.
fn sync_progress(p: &crate::app::SyncProgress) -> String {
    let left = match p.eta_seconds {
        Some(s) if s >= 90.0 => format!(", about {} min left", (s / 60.0).round()),
        Some(s) => format!(", about {} s left", s.round()),
        None => String::new(),
    };
    format!("{:.0}% ({} items{left})", p.ratio * 100.0, p.items)
}

/// Escapes text for HTML; source names and errors come from config and vendors.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
