//! `report`: the CSV for the LiveAgent fixtures as of a fixed instant equals the
//! hand-checked `tests/fixtures/report/expected.csv`, pulled from the API and
//! read back from the store alike.

mod common;

use std::process::Command;

const AT: &str = "2025-01-03T12:00:00Z";

fn expected() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/report/expected.csv"
    ))
    .unwrap()
}

fn report(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::BIN)
        .arg("report")
        .args(args)
        .env("LIVEAGENT_API_KEY", "report-key")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csv_report_matches_the_hand_checked_file() {
    let server = wiremock::MockServer::start().await;
    common::liveagent::serve(&server).await;
    let (dir, config) = common::liveagent::scratch_with_config("report", &server.uri());
    let config = config.to_str().unwrap().to_owned();

    let c = config.clone();
    let (code, csv, err) =
        tokio::task::spawn_blocking(move || report(&["--config.file", &c, "--at", AT]))
            .await
            .unwrap();
    assert_eq!(code, 0, "{err}");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/report/expected.csv"
            ),
            &csv,
        )
        .unwrap();
    }
    assert_eq!(csv, expected());

    // JSON carries the same rows.
    let c = config.clone();
    let (code, json, err) = tokio::task::spawn_blocking(move || {
        report(&["--config.file", &c, "--at", AT, "--format", "json"])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.len(), expected().lines().count() - 1);
    assert_eq!(
        rows[0]["item_id"],
        expected()
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .nth(2)
            .unwrap()
    );

    // An instant before every event: nothing existed yet.
    let c = config.clone();
    let (code, early, _) = tokio::task::spawn_blocking(move || {
        report(&["--config.file", &c, "--at", "2024-12-31T00:00:00Z"])
    })
    .await
    .unwrap();
    assert_eq!(code, 0);
    assert_eq!(early.lines().count(), 1, "only the header: {early}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn report_names_a_bad_config_and_exits_non_zero() {
    let bad = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/config/invalid-objective.yaml"
    );
    let (code, out, err) = report(&["--config.file", bad, "--at", AT]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(
        err.contains("policies[0].targets.pickup.objective: must be a ratio"),
        "{err}"
    );
}
