//! The real HTTP server, in-process on 127.0.0.1:0: every endpoint's status,
//! content type and body, and config reloads through `POST /-/reload`.

mod common;

use std::path::{Path, PathBuf};

use helpdesk_sla_exporter::app::{App, Handle, Options};
use helpdesk_sla_exporter::config::ConfigSource;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// One source nobody answers for (port 9) and one policy: a config without a
/// source is refused, so every test config has one. Needs a `key` file.
const ONE_SOURCE: &str = "sources:\n  - {name: support, type: liveagent, base_url: 'http://127.0.0.1:9', api_key_file: key}\npolicies:\n  - name: default\n    targets:\n      pickup: {within: 60s, objective: 0.9}\n";

struct Running {
    base: String,
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

async fn start(config_path: &Path, enable_lifecycle: bool) -> Running {
    let source = ConfigSource::File(config_path.to_owned());
    let config = source.load().expect("valid config");
    let app = App::new(
        Options {
            config: source,
            telemetry_path: "/metrics".into(),
            enable_lifecycle,
            storage_path: config_path.parent().unwrap().join("data"),
            fixed_time: None,
            evaluation_delay: None,
            web: None,
        },
        config,
    )
    .unwrap();
    let handle = app.handle();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run(listener, async {
        let _ = rx.await;
    }));
    Running {
        base,
        handle,
        stop: Some(tx),
        task,
    }
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.yml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn get(url: &str) -> (u16, String, String) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    (status, ct, r.text().await.unwrap())
}

async fn post(url: &str) -> (u16, String) {
    let r = reqwest::Client::new().post(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn metric_value(body: &str, name: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("{name} not in metrics"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn endpoints_answer_with_status_type_and_body() {
    let dir = common::scratch("http-endpoints");
    std::fs::write(dir.join("key"), "k").unwrap();
    let app = start(&write_config(&dir, ONE_SOURCE), false).await;

    let (status, ct, body) = get(&format!("{}/metrics", app.base)).await;
    assert_eq!(status, 200);
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert!(body.contains("# TYPE helpdesk_sla_exporter_build_info gauge"));
    assert!(body.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))));
    assert_eq!(
        metric_value(&body, "helpdesk_sla_exporter_config_last_reload_successful"),
        1.0
    );
    assert!(body.contains("process_resident_memory_bytes"));

    let (status, ct, body) = get(&format!("{}/", app.base)).await;
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(body.contains("<h1>Helpdesk SLA Exporter</h1>"));
    assert!(body.contains("href=\"/metrics\""));
    assert!(body.contains("<td>support</td>"), "{body}");

    let (status, ct, body) = get(&format!("{}/-/healthy", app.base)).await;
    assert_eq!(
        (status, ct.as_str(), body.as_str()),
        (200, "text/plain; charset=utf-8", "Healthy.\n")
    );

    // The source has not synced (nobody answers on port 9).
    let (status, _, body) = get(&format!("{}/-/ready", app.base)).await;
    assert_eq!(
        (status, body.as_str()),
        (503, "Not ready: waiting for the first sync of support.\n")
    );

    let (status, _, _) = get(&format!("{}/nope", app.base)).await;
    assert_eq!(status, 404);
    let (status, _, body) = get(&format!("{}/-/reload", app.base)).await;
    assert_eq!((status, body.as_str()), (405, "Use POST to reload.\n"));
    let (status, _) = post(&format!("{}/metrics", app.base)).await;
    assert_eq!(status, 405);
    // Lifecycle endpoints are opt-in: without the flag a reload is refused.
    let (status, body) = post(&format!("{}/-/reload", app.base)).await;
    assert_eq!(
        (status, body.as_str()),
        (403, helpdesk_sla_exporter::http::LIFECYCLE_DISABLED)
    );
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn ready_waits_for_the_first_sync_of_every_source() {
    let dir = common::scratch("http-ready");
    std::fs::write(dir.join("key"), "k").unwrap();
    let app = start(&write_config(&dir, ONE_SOURCE), false).await;
    let (status, _, body) = get(&format!("{}/-/ready", app.base)).await;
    assert_eq!(status, 503);
    assert_eq!(body, "Not ready: waiting for the first sync of support.\n");
    let (_, _, page) = get(&format!("{}/", app.base)).await;
    assert!(
        page.contains("<td>support</td><td>liveagent</td>"),
        "{page}"
    );
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn reload_applies_a_good_config_and_keeps_the_old_one_on_a_bad_one() {
    let dir = common::scratch("http-reload");
    std::fs::write(dir.join("key"), "k").unwrap();
    let path = write_config(&dir, ONE_SOURCE);
    let app = start(&path, true).await;
    assert_eq!(app.handle.config().policies.policies().len(), 1);

    // A good config with a second policy is applied.
    let two = format!(
        "{ONE_SOURCE}  - name: other\n    targets:\n      answer: {{within: 30s, objective: 0.9}}\n"
    );
    let two = two.replacen(
        "  - name: default\n",
        "  - name: first\n    match: {channels: [chat]}\n",
        1,
    );
    std::fs::write(&path, &two).unwrap();
    let (status, body) = post(&format!("{}/-/reload", app.base)).await;
    assert_eq!((status, body.as_str()), (200, "Configuration reloaded.\n"));
    assert_eq!(app.handle.config().policies.policies().len(), 2);
    let (_, _, metrics) = get(&format!("{}/metrics", app.base)).await;
    assert_eq!(
        metric_value(
            &metrics,
            "helpdesk_sla_exporter_config_last_reload_successful"
        ),
        1.0
    );
    let good_at = metric_value(
        &metrics,
        "helpdesk_sla_exporter_config_last_reload_success_timestamp_seconds",
    );

    // A bad one is rejected with its reason; the two-policy config stays.
    std::fs::write(
        &path,
        "policies: [{name: x, targets: {pickup: {within: soon, objective: 0.9}}}]\n",
    )
    .unwrap();
    let (status, body) = post(&format!("{}/-/reload", app.base)).await;
    assert_eq!(status, 500);
    assert!(
        body.ends_with(&format!(
            "{}: policies[0].targets.pickup.within: invalid duration \"soon\" (expected e.g. 30s, 5m, 1h30m, 2d)\n",
            path.display()
        )),
        "{body}"
    );
    assert_eq!(app.handle.config().policies.policies().len(), 2);
    let (_, _, metrics) = get(&format!("{}/metrics", app.base)).await;
    assert_eq!(
        metric_value(
            &metrics,
            "helpdesk_sla_exporter_config_last_reload_successful"
        ),
        0.0
    );
    assert_eq!(
        metric_value(
            &metrics,
            "helpdesk_sla_exporter_config_last_reload_success_timestamp_seconds"
        ),
        good_at
    );
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every line but the process collector's and the source's, which move
/// between two scrapes (the source's first sync may end in between).
fn stable(body: &str) -> String {
    body.lines()
        .filter(|l| !l.contains("process_") && !l.contains("helpdesk_sla_source_"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn metrics_are_gzipped_only_when_the_scraper_asks() {
    use std::io::Read;
    let dir = common::scratch("http-gzip");
    std::fs::write(dir.join("key"), "k").unwrap();
    let app = start(&write_config(&dir, ONE_SOURCE), false).await;
    let url = format!("{}/metrics", app.base);
    let client = reqwest::Client::new();
    // Both scrapes must see an evaluation: wait (a bounded probe) for the
    // first to be rendered; later evaluations of this source, which never
    // answers, render the same families.
    for _ in 0..500 {
        if !app.handle.rendered_sla().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        !app.handle.rendered_sla().is_empty(),
        "no evaluation in 10 s"
    );

    let plain = client.get(&url).send().await.unwrap();
    assert_eq!(plain.headers()["vary"], "Accept-Encoding");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.text().await.unwrap();
    assert!(plain.contains("# TYPE helpdesk_sla_exporter_build_info gauge"));

    // What Prometheus sends.
    let packed = client
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(packed.status(), 200);
    assert_eq!(packed.headers()["content-encoding"], "gzip");
    assert_eq!(packed.headers()["vary"], "Accept-Encoding");
    assert_eq!(
        packed.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let bytes = packed.bytes().await.unwrap();
    assert!(bytes.len() < plain.len() / 2, "{} bytes", bytes.len());
    let mut unpacked = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut unpacked)
        .unwrap();
    assert_eq!(stable(&unpacked), stable(&plain));

    // A refused coding gets identity.
    let refused = client
        .get(&url)
        .header("accept-encoding", "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none());

    // curl --compressed, a client that decodes on its own.
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(common::require_tool("curl"))
            .args(["-sS", "--compressed", "-D", "-", &format!("{base}/metrics")])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{head}"
    );
    assert_eq!(stable(body), stable(&plain));
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
