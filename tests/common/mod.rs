//! Helpers shared by the integration tests: the real binary as a child process,
//! and the in-process exporter on `127.0.0.1:0`.
#![allow(dead_code)]

pub mod liveagent;
pub mod mutate;
pub mod vendor;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub const BIN: &str = env!("CARGO_BIN_EXE_helpdesk-sla-exporter");

/// The real exporter binary, started on a free loopback port. Its stderr is
/// collected so tests can assert on log lines.
pub struct Exporter {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Exporter {
    /// Starts the binary with `args` and waits for its "listening" log line.
    pub fn start(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Exporter {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--log.format",
                "json",
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start exporter");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("\"listening\"")
                    && let Some(tx) = tx.take()
                {
                    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                    let _ = tx.send(
                        v["address"]
                            .as_str()
                            .unwrap()
                            .parse::<SocketAddr>()
                            .unwrap(),
                    );
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("exporter did not start; log: {:?}", log.lock().unwrap());
            }
        };
        Exporter { child, addr, log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Polls `/metrics` (bounded, a readiness probe rather than a sleep) until
    /// `done` holds, and returns that body.
    pub fn wait_metrics(&self, done: impl Fn(&str) -> bool) -> String {
        for _ in 0..400 {
            let body = get(&self.url("/metrics")).2;
            if done(&body) {
                return body;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("condition never held; log: {}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking GET returning status, content type and body. It runs on its own
/// thread, so it works inside and outside a tokio runtime alike.
pub fn get(url: &str) -> (u16, String, String) {
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let r = reqwest::get(url).await.expect("GET");
                let status = r.status().as_u16();
                let ct = r
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                (status, ct, r.text().await.unwrap())
            })
        })
        .join()
        .unwrap()
    })
}

/// A fresh, empty scratch directory for one test, named after it.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hse-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The path of an external tool the test needs. A missing tool fails the test
/// (never skips it): `scripts/test` installs every tool the suite uses.
pub fn require_tool(name: &str) -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed; run scripts/test, which installs it"))
}

/// Runs `promtool check metrics` on `text`; returns (exit code, stdout + stderr).
pub fn promtool_check_metrics(text: &str) -> (i32, String) {
    use std::io::Write;
    let mut child = Command::new(require_tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let mut msg = String::from_utf8_lossy(&out.stdout).into_owned();
    msg.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), msg)
}

/// Pages one sync of `p` from `cursor` to its last page (at most `max`
/// pages, else the test fails), as the sync loop would; returns the pages and
/// the cursor after the last.
pub async fn sync_pages(
    p: &dyn helpdesk_sla_exporter::providers::Provider,
    mut cursor: helpdesk_sla_exporter::providers::Cursor,
    max: usize,
) -> Result<
    (
        Vec<helpdesk_sla_exporter::providers::Page>,
        helpdesk_sla_exporter::providers::Cursor,
    ),
    helpdesk_sla_exporter::providers::ProviderError,
> {
    let mut pages = Vec::new();
    for _ in 0..max {
        let page = p.fetch_page(&cursor).await?;
        cursor = page.next.clone();
        let done = page.done;
        pages.push(page);
        if done {
            return Ok((pages, cursor));
        }
    }
    panic!("sync did not finish within {max} pages");
}

/// One sync of `provider` through the real poller (`sync::run_source`) into
/// the store in `dir`, on a clock fixed at `now`; returns the engine once
/// the sync finished, and asserts that it worked.
pub async fn sync_into_store(
    provider: Arc<dyn helpdesk_sla_exporter::providers::Provider>,
    source: helpdesk_sla_exporter::config::SourceConfig,
    dir: &Path,
    now: jiff::Timestamp,
) -> Arc<helpdesk_sla_exporter::engine::Engine> {
    use helpdesk_sla_exporter::engine::Engine;
    use helpdesk_sla_exporter::metrics::source::SourceMetrics;
    use helpdesk_sla_exporter::store::Store;
    use helpdesk_sla_exporter::sync::{SyncEvent, run_source};
    use tokio_util::sync::CancellationToken;

    let engine = Arc::new(Engine::new(
        Store::open(dir).unwrap(),
        SourceMetrics::new(&prometheus::Registry::new()).unwrap(),
        helpdesk_sla_exporter::clock::fixed(now),
    ));
    let cancel = CancellationToken::new();
    let result = Arc::new(Mutex::new(None));
    let (c, r) = (cancel.clone(), result.clone());
    let on_sync = Arc::new(move |_: &str, e: SyncEvent| {
        if let SyncEvent::Finished(res) = e {
            *r.lock().unwrap() = Some(res);
            c.cancel();
        }
    });
    run_source(engine.clone(), provider, source, cancel, on_sync).await;
    let finished = result.lock().unwrap().take();
    assert_eq!(finished, Some(Ok(())), "the sync finished and worked");
    engine
}
