//! The HTTP surface on hyper 1: `/metrics`, the status page (`/`), `/items`,
//! `/-/healthy`, `/-/ready` and `POST /-/reload`. The pages live in `pages/`.
//!
//! Handlers only read in-memory state; none of them calls a vendor API, so a
//! slow helpdesk can never make a scrape slow.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    ALLOW, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, VARY, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::TcpListener;

use crate::app::Handle;
use crate::metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;

mod gzip;
use crate::pages;

/// How long requests in flight may take to finish after shutdown begins; the
/// exporter must exit within 5 s of SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Protects against clients that open a connection and never send headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The answer to `POST /-/reload` without `--web.enable-lifecycle`.
pub const LIFECYCLE_DISABLED: &str =
    "Lifecycle API is not enabled; start the exporter with --web.enable-lifecycle.\n";

/// Accepts connections until `shutdown` completes, then drains. With a web
/// config ([`crate::web`]) connections are TLS when it says so, and every
/// request passes its basic auth and gets its headers.
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
                let watcher = graceful.watcher();
                let handle = handle.clone();
                // The current TLS settings, re-read if their files changed.
                let tls = handle
                    .web()
                    .filter(|w| w.tls())
                    .and_then(|w| w.current().tls.clone());
                tokio::spawn(async move {
                    match tls {
                        None => serve_connection(TokioIo::new(stream), handle, watcher).await,
                        Some(config) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(config);
                            match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => serve_connection(TokioIo::new(tls), handle, watcher).await,
                                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            }
                        }
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

async fn serve_connection<IO>(io: IO, handle: Handle, watcher: Watcher)
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let handle = handle.clone();
        async move { Ok::<_, Infallible>(guarded(&handle, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(io, service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection error");
    }
}

/// Basic auth (every endpoint, as in exporter-toolkit) and the configured
/// response headers around [`route`].
async fn guarded(handle: &Handle, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(web) = handle.web() else {
        return route(handle, req).await;
    };
    let config = web.current();
    let mut response = if web
        .authorized(&config, req.headers().get(AUTHORIZATION))
        .await
    {
        route(handle, req).await
    } else {
        let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized.\n");
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"helpdesk-sla-exporter\""),
        );
        r
    };
    for (name, value) in &config.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

async fn route(handle: &Handle, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let telemetry = handle.options().telemetry_path.as_str();
    match (req.method(), path) {
        (&Method::GET | &Method::HEAD, p) if p == telemetry => {
            let mut body = Vec::with_capacity(16 * 1024);
            handle.self_metrics().render(&mut body);
            body.extend_from_slice(handle.rendered_sla().as_bytes());
            let gzip = gzip::accepts_gzip(req.headers());
            let body = if gzip { gzip::compress(&body) } else { body };
            let mut r = respond(StatusCode::OK, METRICS_CONTENT_TYPE, body);
            // Caches and proxies must not hand a gzip body to a client that did not ask for one.
            r.headers_mut()
                .insert(VARY, HeaderValue::from_static("Accept-Encoding"));
            if gzip {
                r.headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        }
        (&Method::GET | &Method::HEAD, "/") => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            pages::status_page(handle),
        ),
        (&Method::GET | &Method::HEAD, "/items") => {
            // The first read of an evaluation's view builds and sorts its
            // rows (up to ~0.3 s at 100k tickets): off the async workers, so
            // scrapes never wait.
            let (h, query) = (handle.clone(), req.uri().query().map(str::to_owned));
            let answer =
                tokio::task::spawn_blocking(move || pages::items_response(&h, query.as_deref()));
            match answer.await {
                Ok(Ok((content_type, body))) => respond(StatusCode::OK, content_type, body),
                Ok(Err(e)) => text(StatusCode::BAD_REQUEST, &format!("Bad query: {e}\n")),
                Err(e) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("The items page failed: {e}\n"),
                ),
            }
        }
        (&Method::GET | &Method::HEAD, "/-/healthy") => text(StatusCode::OK, "Healthy.\n"),
        (&Method::GET | &Method::HEAD, "/-/ready") => {
            let waiting: Vec<String> = handle
                .sources()
                .into_iter()
                .filter(|s| !s.first_sync_done)
                .map(|s| s.name)
                .collect();
            if let Some(failure) = handle.store_failure() {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("Not ready: the store cannot be written: {failure}\n"),
                )
            } else if waiting.is_empty() {
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
        (&Method::POST | &Method::PUT, "/-/reload") if !handle.options().enable_lifecycle => {
            text(StatusCode::FORBIDDEN, LIFECYCLE_DISABLED)
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
        (_, p) if p == telemetry || matches!(p, "/" | "/items" | "/-/healthy" | "/-/ready") => {
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
