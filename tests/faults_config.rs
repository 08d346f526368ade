//! Fault suite, defect 6 of issue 12: `--config.check` catches what would fail
//! at run time, and nothing a config file can say makes the loader panic, hang
//! or allocate without bound.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use helpdesk_sla_exporter::config;
use proptest::prelude::*;

const SOURCE: &str = "sources:\n  - name: support\n    type: liveagent\n    base_url: https://acme.ladesk.com/api/v3\n    api_key_file: key.txt\n";

fn check(dir: &Path, config: &str) -> (Option<i32>, String) {
    let path = dir.join("config.yml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(common::BIN)
        .args(["--config.file", path.to_str().unwrap(), "--config.check"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn config_check_rejects_what_would_fail_at_run_time() {
    let dir = common::scratch("faults-config-check");
    std::fs::write(dir.join("key.txt"), "good-key\n").unwrap();
    let (code, out) = check(&dir, SOURCE);
    assert_eq!(code, Some(0), "{out}");

    let cases = [
        (
            SOURCE.replace("key.txt\n", "key.txt\n    initial_lookback: 15000000w\n"),
            "sources[0].initial_lookback: \"15000000w\" is above the maximum 1095d",
        ),
        (
            format!(
                "{SOURCE}policies:\n  - name: d\n    targets:\n      resolution: {{within: 15000000w, objective: 0.9}}\n"
            ),
            "policies[0].targets.resolution.within: \"15000000w\" is above the maximum 366d",
        ),
        (
            SOURCE.replace("https://acme.ladesk.com/api/v3", "'http://'"),
            "sources[0].base_url: \"http://\" is not a valid URL: empty host",
        ),
        (
            SOURCE.replace("acme.ladesk.com", "acme.ladesk.com:99999"),
            "is not a valid URL: invalid port number",
        ),
        (
            SOURCE.replace("key.txt", "/dev/zero"),
            "sources[0].api_key_file: cannot read \"/dev/zero\": not a regular file",
        ),
        (String::new(), "sources: no source defined"),
    ];
    for (config, expected) in cases {
        let started = Instant::now();
        let (code, out) = check(&dir, &config);
        assert_eq!(code, Some(1), "{config}\n{out}");
        assert!(
            out.contains(expected),
            "{config}\nexpected {expected:?} in\n{out}"
        );
        assert!(started.elapsed() < Duration::from_secs(20), "{config}");
    }

    // A key with a line break inside is named as such, never echoed, and not
    // reported as a base_url problem.
    std::fs::write(dir.join("key.txt"), "secret-part-one\nsecret-part-two\n").unwrap();
    let (code, out) = check(&dir, SOURCE);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("sources[0].api_key_file: the API key contains control characters"),
        "{out}"
    );
    assert!(!out.contains("secret-part"), "{out}");
    assert!(!out.contains("base_url"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_file_over_one_mib_is_refused_unread() {
    let dir = common::scratch("faults-config-size");
    let path = dir.join("config.yml");
    let mut text = SOURCE.replace("api_key_file: key.txt", "api_key_env: K");
    text.push_str(&format!("# {}\n", "x".repeat(1024 * 1024)));
    std::fs::write(&path, &text).unwrap();
    let err = config::load(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("{}: (file): larger than the 1 MiB limit", path.display())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn repeated_aliases_in_a_one_mib_file_are_refused_before_expansion() {
    // One anchor of 100,000 nodes, repeated by aliases up to just under 1 MiB:
    // about 3 * 10^9 nodes once expanded (the probe's file needed 3.1 GB).
    let mut text = String::from(
        "sources:\n  - name: support\n    type: liveagent\n    base_url: https://x.invalid\n    api_key_env: K\n    liveagent:\n      a: &a [",
    );
    text.push_str(&vec!["x"; 100_000].join(","));
    text.push_str("]\n      b: [");
    let aliases = (1024 * 1024 - text.len() - 16) / 3;
    text.push_str(&vec!["*a"; aliases].join(","));
    text.push_str("]\n");
    assert!(text.len() as u64 <= config::MAX_CONFIG_BYTES);
    let started = Instant::now();
    let err = config::parse(&text, Path::new("c.yml"), Path::new("."), &|_| {
        Some("k".into())
    })
    .unwrap_err()
    .to_string();
    let took = started.elapsed();
    assert!(
        err.starts_with(&format!(
            "c.yml: (root): the YAML expands to more than {} nodes",
            config::MAX_YAML_NODES
        )),
        "{err}"
    );
    // Generous for a debug build on a shared machine; unbounded took minutes.
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn every_accepted_duration_leaves_the_clock_representable() {
    // The largest values the config accepts, applied the way the poller and the
    // engine apply them, from the latest and earliest representable instants a
    // clock could report.
    let max = config::INITIAL_LOOKBACK_RANGE.1;
    assert!(jiff::Timestamp::now().checked_sub(max).is_ok());
    assert!(
        jiff::Timestamp::now()
            .checked_add(config::MAX_TARGET)
            .is_ok()
    );
    assert!(config::POLL_INTERVAL_RANGE.1 <= jiff::SignedDuration::from_hours(24));
    assert!(config::TIMEOUT_RANGE.1 <= jiff::SignedDuration::from_mins(10));
}

/// A valid config that mutations start from.
const BASE: &str = "metrics:\n  compliance_windows: [7d, 30d]\n  label_limits: {team: 50, priority: 20}\nsources:\n  - name: support\n    type: liveagent\n    base_url: https://acme.ladesk.com/api/v3\n    api_key_env: K\n    poll_interval: 1m\n    initial_lookback: 30d\n    timeout: 30s\n    channels: [ticket, chat]\ncalendars:\n  - name: office\n    time_zone: Europe/Bratislava\n    hours: {monday: ['08:00-16:00']}\n    holidays: ['*-12-25']\npolicies:\n  - name: default\n    targets:\n      first_response: {within: 4h, objective: 0.95, calendar: office, at_risk: 25%}\n      resolution: {within: 2d, objective: 0.9, pause_statuses: [answered], reopen: restart}\n";

/// Tokens a mutation may splice in: YAML syntax, aliases, huge numbers,
/// durations at and past every limit, odd bytes.
const TOKENS: &[&str] = &[
    "&a ",
    "*a",
    "*b",
    "&b [*a,*a,*a,*a]",
    "[",
    "]",
    "{",
    "}",
    ":",
    "- ",
    "\n",
    "  ",
    "'",
    "\"",
    "15000000w",
    "99999999999999999999s",
    "0s",
    "1ms",
    "-5m",
    "http://",
    ":99999",
    "%",
    "150%",
    "\u{0}",
    "\t",
    "~",
    "null",
    "!!binary",
    "? ",
    "| \n",
    "1e309",
    "NaN",
    "\u{feff}",
    "#",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_yaml_never_panics_or_hangs(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3usize, prop::sample::select(TOKENS), any::<u8>()), 1..8)
    ) {
        let mut text = BASE.as_bytes().to_vec();
        for (at, op, token, byte) in edits {
            let i = at.index(text.len() + 1);
            match op {
                0 => { text.splice(i..i, token.bytes()); }
                1 => { let end = (i + usize::from(byte % 16)).min(text.len()); text.drain(i..end); }
                _ => { if i < text.len() { text[i] = byte; } }
            }
        }
        let text = String::from_utf8_lossy(&text).into_owned();
        let started = Instant::now();
        let result = config::parse(&text, Path::new("m.yml"), Path::new("."), &|_| Some("k".into()));
        prop_assert!(started.elapsed() < Duration::from_secs(5), "slow on {text:?}");
        if let Err(e) = result {
            prop_assert!(!e.problems.is_empty());
            for p in &e.problems {
                prop_assert!(!p.reason.is_empty(), "empty reason for {}", p.key);
            }
        }
    }
}
