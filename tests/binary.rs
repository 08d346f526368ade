//! The real binary as operators run it: signals, reloads, shutdown, and the
//! promise that a secret never leaks into logs, metrics, pages or errors.

mod common;

use std::time::Duration;

use common::{Exporter, get};

const SECRET: &str = "s3cr3t-api-key-0a9b8c7d";

fn config(extra_policy: &str) -> String {
    format!(
        "sources:\n  - name: support\n    type: liveagent\n    base_url: http://127.0.0.1:9/api/v3\n    api_key_file: key.txt\n    timeout: 1s\npolicies:\n  - name: default\n    targets:\n      pickup: {{within: 60s, objective: 0.9{extra_policy}}}\n"
    )
}

#[test]
fn sighup_reloads_and_sigterm_exits_zero_without_leaking_the_secret() {
    let dir = common::scratch("bin-signals");
    std::fs::write(dir.join("key.txt"), format!("{SECRET}\n")).unwrap();
    let path = dir.join("config.yml");
    std::fs::write(&path, config("")).unwrap();
    let mut exporter = Exporter::start(
        &[
            "--config.file",
            path.to_str().unwrap(),
            "--log.level",
            "debug",
            "--storage.path",
            dir.join("data").to_str().unwrap(),
        ],
        &[],
        &dir,
    );

    let mut seen = Vec::new();
    for p in ["/metrics", "/", "/-/ready", "/-/healthy"] {
        seen.push(get(&exporter.url(p)).2);
    }

    // A bad config on SIGHUP is rejected and the failure shows in the metrics.
    std::fs::write(&path, config(", at_risk: always")).unwrap();
    exporter.signal("HUP");
    seen.push(exporter.wait_metrics(|b| {
        b.lines()
            .any(|l| l == "helpdesk_sla_exporter_config_last_reload_successful 0")
    }));
    // Without --web.enable-lifecycle, POST /-/reload is refused (SIGHUP still works).
    let reload = std::process::Command::new("curl")
        .args([
            "-s",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            &exporter.url("/-/reload"),
        ])
        .output()
        .unwrap();
    let reload = String::from_utf8_lossy(&reload.stdout).into_owned();
    assert_eq!(
        reload,
        "Lifecycle API is not enabled; start the exporter with --web.enable-lifecycle.\n403"
    );
    // A good one on the next SIGHUP is applied.
    std::fs::write(&path, config(", at_risk: 10s")).unwrap();
    exporter.signal("HUP");
    seen.push(exporter.wait_metrics(|b| {
        b.lines()
            .any(|l| l == "helpdesk_sla_exporter_config_last_reload_successful 1")
    }));

    exporter.signal("TERM");
    assert_eq!(
        exporter.wait_exit(Duration::from_secs(5)),
        Some(0),
        "log: {}",
        exporter.log_text()
    );

    let log = exporter.log_text();
    assert!(log.contains("configuration reload failed"), "{log}");
    assert!(
        log.contains("\"key\":\"policies[0].targets.pickup.at_risk\""),
        "{log}"
    );
    assert!(log.contains("\"signal\":\"SIGTERM\""), "{log}");
    for text in seen.iter().chain([&log]) {
        assert!(!text.contains(SECRET), "secret leaked into: {text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_config_and_no_demo_is_a_clear_error() {
    let out = std::process::Command::new(common::BIN).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no --config.file given; run with --demo to try the built-in demo helpdesk"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sigterm_during_a_long_evaluation_exits_at_once() {
    let dir = common::scratch("bin-term-evaluating");
    std::fs::write(dir.join("key.txt"), format!("{SECRET}\n")).unwrap();
    let path = dir.join("config.yml");
    std::fs::write(&path, config("")).unwrap();
    // Every evaluation is held for ten minutes before it starts, so the first
    // one is still in progress when the signal arrives.
    let mut exporter = Exporter::start(
        &[
            "--config.file",
            path.to_str().unwrap(),
            "--storage.path",
            dir.join("data").to_str().unwrap(),
            "--debug.evaluation-delay",
            "10m",
        ],
        &[],
        &dir,
    );
    assert_eq!(get(&exporter.url("/-/healthy")).0, 200);
    exporter.signal("TERM");
    assert_eq!(
        exporter.wait_exit(Duration::from_secs(5)),
        Some(0),
        "log: {}",
        exporter.log_text()
    );
    let log = exporter.log_text();
    assert!(
        log.contains("shutting down without waiting for the evaluation in progress"),
        "{log}"
    );
    assert!(log.contains("\"message\":\"stopped\""), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the binary with `args`; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(common::BIN)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The bash completion script parses, registers itself and completes the
/// subcommands and the dotted flags in a real bash; zsh and fish scripts name
/// them too.
#[test]
fn shell_completions_complete_subcommands_and_flags() {
    let bash = common::require_tool("bash");
    let (code, script, err) = run(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    let dir = common::scratch("completions");
    let file = dir.join("completion.bash");
    std::fs::write(&file, &script).unwrap();
    // Source the script, then ask its function what follows a prefix, the way
    // bash does on TAB (COMP_WORDS / COMP_CWORD in, COMPREPLY out).
    let complete = |words: &str, cword: usize| {
        let probe = format!(
            "source {file}; complete -p helpdesk-sla-exporter >/dev/null || exit 3; \
             COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE=\"{words}\"; COMP_POINT=${{#COMP_LINE}}; \
             $(complete -p helpdesk-sla-exporter | sed -E 's/.*-F ([^ ]+).*/\\1/') \
             helpdesk-sla-exporter \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file = file.display()
        );
        let out = std::process::Command::new(&bash)
            .args(["--norc", "--noprofile", "-c", &probe])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let subs = complete("helpdesk-sla-exporter rep", 1);
    assert_eq!(subs.trim(), "report", "{subs}");
    let flags = complete("helpdesk-sla-exporter --web.l", 1);
    assert_eq!(flags.trim(), "--web.listen-address", "{flags}");
    let report_flags = complete("helpdesk-sla-exporter report --si", 2);
    assert_eq!(report_flags.trim(), "--since", "{report_flags}");

    for shell in ["zsh", "fish"] {
        let (code, script, err) = run(&["completions", shell]);
        assert_eq!(code, 0, "{err}");
        for word in ["check-source", "web.listen-address", "since"] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
    assert_ne!(
        run(&["completions", "tcsh"]).0,
        0,
        "an unknown shell is an error"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The man pages are valid roff (groff renders them without a warning) and
/// document the flags of the exporter and of each subcommand.
#[test]
fn man_pages_render_and_document_the_flags() {
    let groff = common::require_tool("groff");
    for (args, title, flags) in [
        (
            vec!["man"],
            "helpdesk-sla-exporter",
            vec!["web.listen-address", "web.config.file", "config.check"],
        ),
        (
            vec!["man", "report"],
            "helpdesk-sla-exporter-report",
            vec!["at", "since", "from-store"],
        ),
        (
            vec!["man", "check-source"],
            "helpdesk-sla-exporter-check-source",
            vec!["config.file", "source"],
        ),
    ] {
        let (code, roff, err) = run(&args);
        assert_eq!(code, 0, "{err}");
        assert!(roff.contains(&format!(".TH {title} 1")), "{roff}");
        let mut child = std::process::Command::new(&groff)
            .args(["-Tutf8", "-man", "-ww", "-P-cbou"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(roff.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && warnings.is_empty(),
            "groff: {warnings}"
        );
        for flag in flags {
            assert!(
                text.contains(&format!("--{flag}")),
                "{args:?} lacks --{flag}:\n{text}"
            );
        }
    }
    let (code, _, err) = run(&["man", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no subcommand \"nope\""), "{err}");
}
