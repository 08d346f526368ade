//! `promtool check metrics` on the live `/metrics` output of the real binary.

mod common;

use common::{Exporter, get, promtool_check_metrics};

#[test]
fn live_metrics_pass_promtool_check_metrics() {
    let dir = std::env::temp_dir().join(format!("hse-promtool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/liveagent.yml");
    let exporter = Exporter::start(
        &[
            "--config.file",
            example,
            "--storage.path",
            dir.join("data").to_str().unwrap(),
        ],
        &[("LIVEAGENT_API_KEY", "example-key")],
        &dir,
    );
    let (status, _, body) = get(&exporter.url("/metrics"));
    assert_eq!(status, 200);
    assert!(body.contains("helpdesk_sla_exporter_build_info"));
    let (code, output) = promtool_check_metrics(&body);
    assert_eq!(
        (code, output.as_str()),
        (0, ""),
        "promtool found problems in:\n{body}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn promtool_rejects_a_broken_exposition() {
    // Proves the check above can fail: a counter without `_total` is a finding.
    let (code, output) =
        promtool_check_metrics("# HELP x_bad A counter.\n# TYPE x_bad counter\nx_bad 1\n");
    assert_eq!(code, 3, "{output}");
    assert!(
        output.contains("counter metrics should have \"_total\" suffix"),
        "{output}"
    );
}
