//! Fault suite, defect 7 of issue 12: storage edge cases. A zero-length
//! database is damage, a second exporter on the same `--storage.path` refuses
//! to start, and a store the exporter cannot write is refused at start instead
//! of silently serving no SLA series.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Exporter;
use helpdesk_sla_exporter::model::{Channel, Item};
use helpdesk_sla_exporter::store::{Store, StoreError};

const CONFIG: &str = "sources:\n  - name: support\n    type: liveagent\n    base_url: http://127.0.0.1:9/api/v3\n    api_key_file: key.txt\n    timeout: 1s\n";

fn setup(name: &str) -> std::path::PathBuf {
    let dir = common::scratch(name);
    std::fs::write(dir.join("key.txt"), "k\n").unwrap();
    std::fs::write(dir.join("config.yml"), CONFIG).unwrap();
    dir
}

/// The real binary on `dir`'s config and `data` store, expected to exit; one
/// that keeps running past 30 s (the behaviour these tests guard against) is
/// killed and reported without an exit code.
fn run_to_exit(dir: &Path) -> Output {
    let mut child = Command::new(common::BIN)
        .args([
            "--config.file",
            dir.join("config.yml").to_str().unwrap(),
            "--storage.path",
            dir.join("data").to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

#[test]
fn a_zero_length_database_is_damage_not_a_fresh_start() {
    let dir = setup("faults-store-empty");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("state.sqlite"), b"").unwrap();
    match Store::open(&data) {
        Err(e @ StoreError::Unusable { .. }) => {
            assert!(
                e.to_string().contains("state.sqlite is empty (0 bytes)"),
                "{e}"
            )
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a zero-length store opened as a new one"),
    }
    let out = run_to_exit(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("state.sqlite is empty (0 bytes)"),
        "{stderr}"
    );
    // Never silently reset: the file is still empty, not a new database.
    assert_eq!(
        std::fs::metadata(data.join("state.sqlite")).unwrap().len(),
        0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_exporter_on_the_same_storage_path_refuses_to_start() {
    let dir = setup("faults-store-lock");
    let data = dir.join("data");
    let first = Exporter::start(
        &[
            "--config.file",
            dir.join("config.yml").to_str().unwrap(),
            "--storage.path",
            data.to_str().unwrap(),
        ],
        &[],
        &dir,
    );
    let out = run_to_exit(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "store {} is in use by another exporter",
            data.display()
        )),
        "{stderr}"
    );
    // The first one is unharmed.
    assert_eq!(common::get(&first.url("/-/healthy")).0, 200);
    drop(first);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_store_that_cannot_be_written_is_refused_at_start() {
    let dir = setup("faults-store-readonly");
    let data = dir.join("data");
    {
        let store = Store::open(&data).unwrap();
        let item = Item::new(
            "support",
            "t1",
            Channel::Ticket,
            "2026-11-02T09:00:00Z".parse().unwrap(),
        );
        store
            .apply_page("support", "tickets", &[item], &[], "c")
            .unwrap();
    }
    // Read-only the way a read-only mount is for the exporter. Permissions
    // stop a non-root user; root ignores them, so as root the file is also
    // made immutable (chattr +i, which root cannot write through either).
    let db = data.join("state.sqlite");
    let mut perms = std::fs::metadata(&db).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&db, perms).unwrap();
    let writable = std::fs::OpenOptions::new().write(true).open(&db).is_ok();
    let immutable = writable && {
        let status = Command::new("chattr").args(["+i"]).arg(&db).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "running as root and chattr +i failed: cannot make the store read-only here"
        );
        true
    };
    let out = run_to_exit(&dir);
    if immutable {
        let _ = Command::new("chattr").args(["-i"]).arg(&db).status();
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the database is read-only"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `chattr` on `files` (as root, the only way to stop root writing an
/// already open file).
fn chattr(flag: &str, files: &[std::path::PathBuf]) {
    let status = Command::new("chattr").arg(flag).args(files).status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "chattr {flag} failed: cannot make the store read-only here"
    );
}

/// Polls `/-/ready` (bounded, a readiness probe rather than a sleep) until it
/// answers `want`, and returns the body.
fn wait_ready(exporter: &Exporter, want: u16) -> String {
    for _ in 0..1000 {
        let (status, _, body) = common::get(&exporter.url("/-/ready"));
        if status == want {
            return body;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "/-/ready never answered {want}; log: {}",
        exporter.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_becomes_read_only_while_running_makes_the_exporter_unready() {
    let server = wiremock::MockServer::start().await;
    common::liveagent::serve(&server).await;
    let (dir, config) =
        common::liveagent::scratch_with_config("faults-store-ro-running", &server.uri());
    let data = dir.join("data");
    let exporter = tokio::task::spawn_blocking(move || {
        let exporter = Exporter::start(
            &[
                "--config.file",
                config.to_str().unwrap(),
                "--storage.path",
                data.to_str().unwrap(),
            ],
            &[("LIVEAGENT_API_KEY", "ro-key")],
            &dir,
        );
        wait_ready(&exporter, 200);
        // Every file SQLite writes through: the database and its WAL.
        let files: Vec<_> = ["state.sqlite", "state.sqlite-wal"]
            .iter()
            .map(|f| data.join(f))
            .filter(|f| f.exists())
            .collect();
        assert!(!files.is_empty());
        chattr("+i", &files);
        // A reload restarts the poller, whose sync writes its page at once.
        exporter.signal("HUP");
        let body = wait_ready(&exporter, 503);
        chattr("-i", &files);
        assert!(
            body.starts_with("Not ready: the store cannot be written: source support:"),
            "{body}"
        );
        // Still serving, and the sync failure is counted as a store error.
        let metrics = exporter.wait_metrics(|m| {
            m.contains(
                "helpdesk_sla_source_sync_errors_total{reason=\"store\",source=\"support\"} 1",
            )
        });
        assert!(metrics.contains("helpdesk_sla_source_up{source=\"support\"} 0"));
        // Writable again: the next sync clears it.
        exporter.signal("HUP");
        wait_ready(&exporter, 200);
        (exporter, dir)
    })
    .await
    .unwrap();
    let (_exporter, dir) = exporter;
    let _ = std::fs::remove_dir_all(&dir);
}
