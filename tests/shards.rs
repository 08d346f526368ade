//! Sharding over replicas: three exporter processes share one config of nine
//! sources (`--shard.count 3`; two take `--shard.index`, the third the
//! StatefulSet ordinal from its hostname). Each source must be synced by
//! exactly one of them, and the union of their source series must equal what
//! one replica serving all nine exposes.

mod common;

use std::collections::BTreeSet;

use common::{Exporter, get};

/// Fixed "now", as in the golden test, so every replica renders the same.
const NOW: &str = "2025-01-03T12:00:00Z";

const SOURCES: [&str; 9] = [
    "helpdesk-1",
    "helpdesk-2",
    "helpdesk-3",
    "helpdesk-4",
    "helpdesk-5",
    "helpdesk-6",
    "helpdesk-7",
    "helpdesk-8",
    "helpdesk-9",
];

/// The fixtures' config with its one source replaced by nine, all reading
/// the same mock (each with its own cursor and counters).
fn config(base_url: &str) -> String {
    let single = common::liveagent::config(base_url);
    let rest = &single[single
        .find("calendars:")
        .expect("the fixture config has calendars")..];
    let mut text = String::from("sources:\n");
    for name in SOURCES {
        text.push_str(&format!(
            "  - name: {name}\n    type: liveagent\n    base_url: {base_url}/api/v3\n    api_key_env: LIVEAGENT_API_KEY\n    poll_interval: 10m\n"
        ));
    }
    text.push_str(rest);
    text
}

/// The series of a finished replica that carry a `source` label, with the
/// sync duration (which differs per run) masked.
fn source_series(body: &str) -> Vec<String> {
    body.lines()
        .filter(|l| !l.starts_with('#') && l.contains("source=\""))
        .map(|l| {
            if l.starts_with("helpdesk_sla_source_sync_duration_seconds{") {
                format!("{} …", l.rsplit_once(' ').unwrap().0)
            } else {
                l.to_owned()
            }
        })
        .collect()
}

/// Sources named in a replica's series.
fn sources_in(series: &[String]) -> BTreeSet<String> {
    series
        .iter()
        .filter_map(|l| {
            let start = l.find("source=\"")? + "source=\"".len();
            let end = start + l[start..].find('"')?;
            Some(l[start..end].to_owned())
        })
        .collect()
}

/// Waits until the replica is ready and every source it syncs is up with its
/// outcomes rendered; returns that `/metrics` body.
fn settled(exporter: &Exporter) -> String {
    for _ in 0..800 {
        if get(&exporter.url("/-/ready")).0 == 200 {
            let body = get(&exporter.url("/metrics")).2;
            let owned = sources_in(&source_series(&body));
            let done = owned.iter().all(|s| {
                body.contains(&format!("helpdesk_sla_source_up{{source=\"{s}\"}} 1"))
                    && body.contains(&format!("helpdesk_sla_outcomes_total{{source=\"{s}\""))
            });
            if done {
                return body;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("the replica never settled; log: {}", exporter.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_serve_what_one_replica_serves() {
    let server = wiremock::MockServer::start().await;
    common::liveagent::serve(&server).await;
    let dir = common::scratch("shards");
    let config_path = dir.join("config.yml");
    std::fs::write(&config_path, config(&server.uri())).unwrap();

    let (single, shards) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            let start = |name: &str, extra: &[&str], env: &[(&str, &str)]| {
                let store = dir.join(name);
                let mut args = vec![
                    "--config.file",
                    config_path.to_str().unwrap(),
                    "--storage.path",
                    store.to_str().unwrap(),
                    "--debug.fixed-time",
                    NOW,
                ];
                args.extend_from_slice(extra);
                let mut env = env.to_vec();
                env.push(("LIVEAGENT_API_KEY", "shard-key"));
                Exporter::start(&args, &env, &dir)
            };
            let replicas = [
                start("single", &[], &[]),
                start(
                    "shard-0",
                    &["--shard.count", "3", "--shard.index", "0"],
                    &[],
                ),
                start(
                    "shard-1",
                    &["--shard.count", "3", "--shard.index", "1"],
                    &[],
                ),
                // No index: the ordinal of a StatefulSet pod's hostname.
                start(
                    "shard-2",
                    &["--shard.count", "3"],
                    &[("HOSTNAME", "helpdesk-sla-exporter-2")],
                ),
            ];
            let bodies: Vec<String> = replicas.iter().map(settled).collect();
            let mut bodies = bodies.into_iter();
            let single = bodies.next().unwrap();
            (single, bodies.collect::<Vec<_>>())
        }
    })
    .await
    .unwrap();

    let all = source_series(&single);
    assert_eq!(
        sources_in(&all),
        SOURCES.iter().map(|s| s.to_string()).collect(),
        "the single replica serves all nine"
    );

    // Each source lives in exactly one shard, and every shard has some.
    let per_shard: Vec<Vec<String>> = shards.iter().map(|b| source_series(b)).collect();
    for (i, series) in per_shard.iter().enumerate() {
        assert!(!series.is_empty(), "shard {i} owns no source");
    }
    for source in SOURCES {
        let owners: Vec<usize> = per_shard
            .iter()
            .enumerate()
            .filter(|(_, s)| sources_in(s).contains(source))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(owners.len(), 1, "{source} is served by shards {owners:?}");
    }

    // The union of the shards' series equals the single replica's, line by line.
    let mut union: Vec<String> = per_shard.into_iter().flatten().collect();
    union.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(union, expected);

    // Synced by exactly one replica: the mock saw the single replica's
    // requests twice (once from it, once from the shards together), never more.
    let requests: f64 = all
        .iter()
        .filter(|l| l.starts_with("helpdesk_sla_source_api_requests_total{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum();
    assert!(requests >= SOURCES.len() as f64, "requests: {requests}");
    let received = server.received_requests().await.unwrap().len();
    assert_eq!(received as f64, 2.0 * requests);

    let _ = std::fs::remove_dir_all(&dir);
}
