//! Records the git revision and rustc version for `helpdesk_sla_exporter_build_info`.

use std::process::Command;

fn main() {
    let run = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    // HSE_REVISION wins: container builds have no .git (the Dockerfile passes it).
    let revision = std::env::var("HSE_REVISION")
        .ok()
        .filter(|r| !r.is_empty() && r != "unknown")
        .or_else(|| run("git", &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = run(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HSE_GIT_REVISION={revision}");
    println!("cargo:rustc-env=HSE_RUSTC_VERSION={rustc_version}");
    println!("cargo:rerun-if-env-changed=HSE_REVISION");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
}
