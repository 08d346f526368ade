//! The shared HTTP client against wiremock: retries, `Retry-After`, the request
//! budget, timeouts, body limits and metrics. Waits run on a paused tokio clock
//! and are asserted exactly with `tokio::time::Instant`.

use std::time::Duration;

use helpdesk_sla_exporter::providers::ProviderError;
use helpdesk_sla_exporter::providers::client::{Auth, ClientMetrics, ClientSettings, HttpClient};
use helpdesk_sla_exporter::secret::Secret;
use prometheus::Registry;
use tokio::time::Instant;
use wiremock::matchers::{header, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "secret-key-that-must-not-leak";

// Every test starts its own (unpooled) mock server: with wiremock's pool a
// server is handed to the next test while a client of the previous one may
// still be retrying against its port, and the request counts here are exact.
fn settings(base: &str, rpm: u32) -> ClientSettings {
    let auth = Auth::Header {
        name: "apikey",
        value: Secret::new(KEY),
    };
    ClientSettings::new("support", base, auth, Duration::from_secs(5), rpm).without_io_timers()
}

fn client(settings: ClientSettings) -> (HttpClient, Registry) {
    let registry = Registry::new();
    let metrics = ClientMetrics::new(&registry).unwrap();
    (HttpClient::new(settings, metrics).unwrap(), registry)
}

/// The value of one sample in the registry, 0 when absent.
fn sample(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    let families = registry.gather();
    let Some(family) = families.iter().find(|f| f.name() == name) else {
        return 0.0;
    };
    family
        .get_metric()
        .iter()
        .find(|m| {
            labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            })
        })
        .map_or(0.0, |m| m.get_counter().get_value())
}

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw("[]", "application/json")
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_is_obeyed_exactly() {
    let server = MockServer::builder().start().await;
    Mock::given(path("/tickets"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "7"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/tickets"))
        .and(header("APIKEY", KEY))
        .respond_with(ok())
        .mount(&server)
        .await;
    let (c, registry) = client(settings(&server.uri(), 6000));
    let start = Instant::now();
    let response = c.get("/tickets", &[]).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(7));
    assert_eq!(response.body, b"[]");
    assert_eq!(
        sample(
            &registry,
            "helpdesk_sla_source_rate_limit_waits_total",
            &[("source", "support")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &registry,
            "helpdesk_sla_source_rate_limit_wait_seconds_total",
            &[]
        ),
        7.0
    );
    let class = |c| {
        sample(
            &registry,
            "helpdesk_sla_source_api_requests_total",
            &[("endpoint", "/tickets"), ("status_class", c)],
        )
    };
    assert_eq!((class("4xx"), class("2xx")), (1.0, 1.0));
}

#[tokio::test(start_paused = true)]
async fn an_absurd_retry_after_is_surfaced_not_slept() {
    let server = MockServer::builder().start().await;
    Mock::given(path("/tickets"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let (c, _) = client(settings(&server.uri(), 6000));
    let start = Instant::now();
    let err = c.get("/tickets", &[]).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(
        matches!(err, ProviderError::RateLimited { retry_after, .. } if retry_after == Duration::from_secs(3600))
    );
    assert_eq!(err.reason(), "rate_limited");
    assert_eq!(
        err.to_string(),
        "GET /tickets: rate limited by the vendor, retry after 3600s"
    );
}

#[tokio::test(start_paused = true)]
async fn repeated_429_without_retry_after_backs_off_then_gives_up() {
    let server = MockServer::builder().start().await;
    Mock::given(path("/calls"))
        .respond_with(ResponseTemplate::new(429))
        .expect(4)
        .mount(&server)
        .await;
    let (c, registry) = client(settings(&server.uri(), 6000));
    let start = Instant::now();
    let err = c.get("/calls", &[]).await.unwrap_err();
    assert_eq!(err.reason(), "rate_limited");
    // Three jittered backoffs of 50-100% of 1s, 2s and 4s.
    assert!(
        start.elapsed() >= Duration::from_millis(3500) && start.elapsed() <= Duration::from_secs(7)
    );
    assert_eq!(
        sample(&registry, "helpdesk_sla_source_rate_limit_waits_total", &[]),
        3.0
    );
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_then_succeed() {
    let server = MockServer::builder().start().await;
    Mock::given(path("/chats"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(path("/chats"))
        .respond_with(ok())
        .mount(&server)
        .await;
    let (c, registry) = client(settings(&server.uri(), 6000));
    c.get("/chats", &[]).await.unwrap();
    let class = |c| {
        sample(
            &registry,
            "helpdesk_sla_source_api_requests_total",
            &[("status_class", c)],
        )
    };
    assert_eq!((class("5xx"), class("2xx")), (2.0, 1.0));
    // Backoff is not a rate-limit wait.
    assert_eq!(
        sample(&registry, "helpdesk_sla_source_rate_limit_waits_total", &[]),
        0.0
    );
}

#[tokio::test(start_paused = true)]
async fn persistent_server_errors_give_a_status_error_after_the_retry_budget() {
    let server = MockServer::builder().start().await;
    Mock::given(path("/chats"))
        .respond_with(ResponseTemplate::new(502))
        .expect(4)
        .mount(&server)
        .await;
    let (c, _) = client(settings(&server.uri(), 6000));
    let err = c.get("/chats", &[]).await.unwrap_err();
    assert!(matches!(err, ProviderError::Status { code: 502, .. }));
    assert_eq!(err.to_string(), "GET /chats: unexpected HTTP status 502");
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_not_retried() {
    let server = MockServer::builder().start().await;
    Mock::given(path("/slas"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/departments"))
        .respond_with(ResponseTemplate::new(403))
        .expect(1)
        .mount(&server)
        .await;
    let (c, _) = client(settings(&server.uri(), 6000));
    assert!(matches!(
        c.get("/slas", &[]).await,
        Err(ProviderError::Status { code: 404, .. })
    ));
    let auth = c.get("/departments", &[]).await.unwrap_err();
    assert_eq!(auth.reason(), "auth");
    assert!(!auth.to_string().contains(KEY) && !format!("{auth:?}").contains(KEY));
    assert!(!format!("{c:?}").contains(KEY));
}

#[tokio::test(start_paused = true)]
async fn a_slow_server_times_out() {
    let server = MockServer::builder().start().await;
    Mock::given(path("/tickets"))
        .respond_with(ok().set_delay(Duration::from_secs(3600)))
        .mount(&server)
        .await;
    // Real IO timers here: the paused clock jumps straight to the deadline.
    let mut s = settings(&server.uri(), 6000);
    s.timeout = Some(Duration::from_secs(2));
    let (c, registry) = client(s);
    let err = c.get("/tickets", &[]).await.unwrap_err();
    assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
    assert_eq!(err.to_string(), "GET /tickets: timed out");
    assert_eq!(
        sample(
            &registry,
            "helpdesk_sla_source_api_requests_total",
            &[("status_class", "error")]
        ),
        4.0
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let (c, _) = client(settings(&base, 6000));
    let err = c.get("/tickets", &[]).await.unwrap_err();
    assert_eq!(err.reason(), "connect");
    assert!(
        err.to_string()
            .starts_with("GET /tickets: connection failed: "),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_oversized_body_is_refused() {
    let server = MockServer::builder().start().await;
    Mock::given(path("/tickets"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(vec![b' '; 4096], "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let mut s = settings(&server.uri(), 6000);
    s.body_limit = 1024;
    let (c, _) = client(s);
    let err = c.get("/tickets", &[]).await.unwrap_err();
    assert!(matches!(
        err,
        ProviderError::BodyTooLarge { limit: 1024, .. }
    ));
    assert_eq!(err.reason(), "body_too_large");
}

#[tokio::test(start_paused = true)]
async fn the_request_budget_spaces_requests_exactly() {
    let server = MockServer::builder().start().await;
    Mock::given(path("/tickets"))
        .respond_with(ok())
        .expect(61)
        .mount(&server)
        .await;
    // 60/min: a burst of 6, then one request per second.
    let (c, registry) = client(settings(&server.uri(), 60));
    let start = Instant::now();
    for _ in 0..61 {
        c.get("/tickets", &[]).await.unwrap();
    }
    assert_eq!(start.elapsed(), Duration::from_secs(55));
    assert_eq!(
        sample(&registry, "helpdesk_sla_source_rate_limit_waits_total", &[]),
        55.0
    );
    assert_eq!(
        sample(
            &registry,
            "helpdesk_sla_source_rate_limit_wait_seconds_total",
            &[]
        ),
        55.0
    );
}

#[test]
fn registering_the_metrics_twice_is_an_error_not_a_panic() {
    let registry = Registry::new();
    assert!(ClientMetrics::new(&registry).is_ok());
    assert!(ClientMetrics::new(&registry).is_err());
}

#[tokio::test]
async fn query_and_user_agent_are_sent() {
    let server = MockServer::builder().start().await;
    Mock::given(path("/api/v3/tickets"))
        .and(wiremock::matchers::query_param(
            "_filters",
            r#"[["a","E","b c"]]"#,
        ))
        .and(header(
            "user-agent",
            concat!("helpdesk-sla-exporter/", env!("CARGO_PKG_VERSION")),
        ))
        .respond_with(ok())
        .expect(1)
        .mount(&server)
        .await;
    let (c, _) = client(settings(&format!("{}/api/v3/", server.uri()), 6000));
    c.get(
        "/tickets",
        &[("_filters", r#"[["a","E","b c"]]"#.to_owned())],
    )
    .await
    .unwrap();
}
