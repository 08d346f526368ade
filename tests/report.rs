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

/// A LiveAgent that honours the `D>=` date filters the provider sends, as the
/// real API does (the shared mock serves every row whatever the filter).
struct DateFiltered(&'static str);

impl wiremock::Respond for DateFiltered {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let rows: Vec<serde_json::Value> =
            serde_json::from_slice(&common::liveagent::fixture(self.0)).unwrap();
        let filters: Vec<(String, String)> = request
            .url
            .query_pairs()
            .filter(|(k, _)| k == "_filters")
            .flat_map(|(_, v)| serde_json::from_str::<Vec<Vec<String>>>(&v).unwrap())
            .filter(|f| f[1] == "D>=")
            .map(|f| (f[0].clone(), f[2].clone()))
            .collect();
        // LiveAgent times are "YYYY-MM-DD HH:MM:SS" UTC, so text order is time
        // order; an unchanged ticket has a null date_changed and counts as created.
        let kept: Vec<_> = rows
            .into_iter()
            .filter(|row| {
                filters.iter().all(|(field, since)| {
                    let value = row[field.as_str()]
                        .as_str()
                        .or(row["date_created"].as_str())
                        .unwrap_or_default();
                    value >= since.as_str()
                })
            })
            .collect();
        wiremock::ResponseTemplate::new(200)
            .insert_header("content-type", "application/json")
            .set_body_json(kept)
    }
}

/// `report --at` months back pulls the items of that period: from `--at`
/// minus `initial_lookback` (here 30d), not from today minus it, which with a
/// date-filtering vendor would find none of the January 2025 fixtures.
/// `--since` moves the start explicitly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_months_back_pulls_the_items_of_that_period() {
    use wiremock::matchers::{header_exists, method, path};
    let server = wiremock::MockServer::start().await;
    for (endpoint, file) in [
        ("/api/v3/tickets", "tickets.json"),
        ("/api/v3/chats", "chats.json"),
        ("/api/v3/calls", "calls.json"),
    ] {
        wiremock::Mock::given(method("GET"))
            .and(path(endpoint))
            .and(header_exists("apikey"))
            .respond_with(DateFiltered(file))
            .mount(&server)
            .await;
    }
    common::liveagent::serve(&server).await;
    let dir = common::scratch("report-months-back");
    let config = dir.join("config.yml");
    let text = common::liveagent::config(&server.uri()).replace(
        "    initial_lookback: 1095d\n",
        "    initial_lookback: 30d\n",
    );
    assert!(text.contains("initial_lookback: 30d"));
    std::fs::write(&config, text).unwrap();
    let c = config.to_str().unwrap().to_owned();

    let (code, csv, err) = {
        let c = c.clone();
        tokio::task::spawn_blocking(move || report(&["--config.file", &c, "--at", AT]))
            .await
            .unwrap()
    };
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        csv,
        expected(),
        "the report as of {AT} lists that period's items"
    );

    // The filter really cuts: a start after every fixture event finds nothing.
    let (code, late, err) = tokio::task::spawn_blocking(move || {
        report(&[
            "--config.file",
            &c,
            "--at",
            AT,
            "--since",
            "2025-01-03T00:00:00Z",
        ])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(late.lines().count(), 1, "only the header: {late}");
    let _ = std::fs::remove_dir_all(&dir);
}
