//! Config validation: one `fixtures/config/invalid-*.yaml` per rule, each asserted
//! with its exact message, and `--config.check` exit codes from the real binary.
//!
//! Each fixture starts with `# expect: <message>` lines (the file name is left
//! out so fixtures can move). `UPDATE_EXPECT=1 cargo test --test config`
//! rewrites them; review the diff before committing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use helpdesk_sla_exporter::config;

const EXPECT: &str = "# expect: ";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

/// The environment the fixtures see: one set key, one empty key.
fn env(name: &str) -> Option<String> {
    match name {
        "TEST_API_KEY" => Some("test-secret-value".into()),
        "EMPTY_API_KEY" => Some("  ".into()),
        _ => None,
    }
}

#[test]
fn every_invalid_fixture_fails_with_its_exact_message() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut paths: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("invalid-")
        })
        .collect();
    paths.sort();
    assert!(paths.len() >= 40, "fixtures went missing: {}", paths.len());
    let mut mismatches = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let body: String = text
            .lines()
            .filter(|l| !l.starts_with(EXPECT))
            .map(|l| format!("{l}\n"))
            .collect();
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix(EXPECT))
            .collect();
        let name = path.file_name().unwrap().to_str().unwrap();
        let actual: Vec<String> = match config::parse(&body, Path::new(name), &fixtures(), &env) {
            Ok(_) => vec!["(valid)".into()],
            Err(e) => e
                .to_string()
                .lines()
                .map(|l| l.strip_prefix(&format!("{name}: ")).unwrap_or(l).to_owned())
                .collect(),
        };
        if update {
            let header: String = actual.iter().map(|m| format!("{EXPECT}{m}\n")).collect();
            std::fs::write(path, header + &body).unwrap();
        } else if expected != actual {
            mismatches.push(format!(
                "{name}:\n  expected {expected:?}\n  actual   {actual:?}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn the_annotated_examples_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let lookup = |name: &str| {
        [
            "LIVEAGENT_API_KEY",
            "ZENDESK_API_TOKEN",
            "JSM_API_TOKEN",
            "FRESHDESK_API_KEY",
        ]
        .contains(&name)
        .then(|| "example-key".to_owned())
    };
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        // Configs only: examples/ also holds a systemd unit.
        if path.extension().is_none_or(|e| e != "yml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if let Err(e) = config::parse(&text, &path, &dir, &lookup) {
            panic!("{e}");
        }
    }
}

#[test]
fn secrets_never_show_in_debug_output_or_errors() {
    let ok = "sources:\n  - {name: a, type: liveagent, base_url: 'https://x.invalid', api_key_env: TEST_API_KEY}\n";
    let config = config::parse(ok, Path::new("c.yml"), Path::new("."), &env).unwrap();
    assert_eq!(config.sources[0].api_key.expose(), "test-secret-value");
    assert!(!format!("{config:?}").contains("test-secret-value"));
    // An error elsewhere in a source that has a valid key names the key path only.
    let bad = ok.replace("}\n", ", timeout: forever}\n");
    let err = config::parse(&bad, Path::new("c.yml"), Path::new("."), &env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "c.yml: sources[0].timeout: invalid duration \"forever\" (expected e.g. 30s, 5m, 1h30m, 2d)"
    );
}

#[test]
fn config_check_exit_codes_from_the_real_binary() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/liveagent.yml");
    let out = Command::new(common::BIN)
        .args(["--config.file", example.to_str().unwrap(), "--config.check"])
        .env("LIVEAGENT_API_KEY", "example-key")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}: OK (1 sources, 3 policies)\n", example.display())
    );

    // Every problem is listed, one per line, and the exit code is 1.
    let bad = fixtures().join("invalid-api-key-both.yaml");
    let out = Command::new(common::BIN)
        .args(["--config.file", bad.to_str().unwrap(), "--config.check"])
        .env("TEST_API_KEY", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "{}: sources[0].api_key_file: give api_key_file or api_key_env, not both\n",
            bad.display()
        )
    );
    assert!(out.stdout.is_empty());

    let missing = fixtures().join("no-such-file.yaml");
    let out = Command::new(common::BIN)
        .args(["--config.file", missing.to_str().unwrap(), "--config.check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with(&format!("{}: (file): cannot read: ", missing.display()))
    );
}

#[test]
fn bad_config_at_start_exits_non_zero_naming_file_key_and_reason() {
    let bad = fixtures().join("invalid-objective.yaml");
    let out = Command::new(common::BIN)
        .args([
            "--config.file",
            bad.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("key=policies[0].targets.pickup.objective"),
        "{log}"
    );
    assert!(log.contains(&format!("file={}", bad.display())), "{log}");
    assert!(
        log.contains(
            "reason=\"must be a ratio between 0 and 1 exclusive (0.95 means 95%), got 95\""
        ),
        "{log}"
    );
}

#[test]
fn the_zendesk_example_is_valid_and_derives_its_base_url() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/zendesk.yml");
    let text = std::fs::read_to_string(&example).unwrap();
    let env = |name: &str| (name == "ZENDESK_API_TOKEN").then(|| "example-token".to_owned());
    let config = config::parse(&text, &example, Path::new("."), &env).unwrap();
    let source = &config.sources[0];
    assert_eq!(source.kind, "zendesk");
    assert_eq!(source.base_url, "https://acme.zendesk.com/api/v2");
    assert_eq!((source.page_size, source.requests_per_minute), (1000, 160));
    assert_eq!(config.policies.policies().len(), 3);

    // An explicit base_url wins over the subdomain; OAuth needs no email.
    let oauth = "sources:\n  - name: zd\n    type: zendesk\n    base_url: http://127.0.0.1:9/api/v2\n    api_key_env: TEST_API_KEY\n    zendesk: {subdomain: acme, auth: oauth}\n";
    let config = config::parse(oauth, Path::new("c.yml"), Path::new("."), &env_with_key).unwrap();
    assert_eq!(config.sources[0].base_url, "http://127.0.0.1:9/api/v2");
    assert!(!format!("{:?}", config.sources[0]).contains("test-secret-value"));
}

#[test]
fn the_freshdesk_example_is_valid_and_derives_its_base_url() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/freshdesk.yml");
    let text = std::fs::read_to_string(&example).unwrap();
    let env = |name: &str| (name == "FRESHDESK_API_KEY").then(|| "example-key".to_owned());
    let config = config::parse(&text, &example, Path::new("."), &env).unwrap();
    let source = &config.sources[0];
    assert_eq!(source.kind, "freshdesk");
    assert_eq!(source.base_url, "https://acme.freshdesk.com/api/v2");
    assert_eq!(source.item_url, "https://acme.freshdesk.com/a/tickets/{id}");
    assert_eq!((source.page_size, source.requests_per_minute), (100, 30));
    assert_eq!(config.policies.policies().len(), 3);
    assert!(!format!("{source:?}").contains("example-key"));

    // The plan defaults to growth; an explicit base_url wins over the domain.
    let plain = "sources:\n  - name: fd\n    type: freshdesk\n    base_url: http://127.0.0.1:9/api/v2\n    api_key_env: TEST_API_KEY\n    freshdesk: {domain: acme}\n";
    let config = config::parse(plain, Path::new("c.yml"), Path::new("."), &env_with_key).unwrap();
    assert_eq!(config.sources[0].base_url, "http://127.0.0.1:9/api/v2");
    assert!(format!("{:?}", config.sources[0].vendor).contains("Growth"));
}

fn env_with_key(name: &str) -> Option<String> {
    env(name)
}

#[test]
fn item_links_default_per_vendor_and_can_be_set() {
    let parse = |extra: &str| {
        let text = format!(
            "sources:\n  - {{name: a, type: liveagent, base_url: 'https://acme.ladesk.com/api/v3/', api_key_env: TEST_API_KEY{extra}}}\n"
        );
        config::parse(&text, Path::new("c.yml"), Path::new("."), &env)
            .unwrap()
            .sources[0]
            .item_url
            .clone()
    };
    assert_eq!(
        parse(""),
        "https://acme.ladesk.com/agent/#Conversation;id={id}"
    );
    assert_eq!(
        parse(", item_url: 'https://desk.example/t/{id}'"),
        "https://desk.example/t/{id}"
    );
}
