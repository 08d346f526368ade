//! `--web.config.file` with real clients: certificates generated here (rcgen),
//! the exporter in-process on 127.0.0.1:0, and `curl` and `openssl s_client`
//! as the clients. TLS, basic auth, mTLS, headers, re-reading the file, and
//! the start-up error of a bad file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use helpdesk_sla_exporter::app::{App, Options};
use helpdesk_sla_exporter::config::ConfigSource;
use helpdesk_sla_exporter::web::{self, WebConfigFile};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A config needs a source; this one's vendor never answers (port 9), so its
/// first sync fails fast and `/-/ready` turns 200. Needs a `key` file.
const CONFIG: &str = "sources:\n  - {name: support, type: liveagent, base_url: 'http://127.0.0.1:9', api_key_file: key, timeout: 1s}\npolicies:\n  - name: default\n    targets:\n      pickup: {within: 60s, objective: 0.9}\n";
const PASSWORD: &str = "correct horse";

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM
/// files in `dir` under `prefix`.
fn pki(dir: &Path, prefix: &str) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("{prefix} test CA"));
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(dir.join(format!("{prefix}-ca.pem")), ca.pem()).unwrap();
    for (name, purpose) in [
        ("server", ExtendedKeyUsagePurpose::ServerAuth),
        ("client", ExtendedKeyUsagePurpose::ClientAuth),
    ] {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{prefix} {name}"));
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &ca).unwrap();
        std::fs::write(dir.join(format!("{prefix}-{name}.pem")), cert.pem()).unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-{name}.key")),
            key.serialize_pem(),
        )
        .unwrap();
    }
}

struct Running {
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

async fn start(dir: &Path, web_config: &Path) -> Running {
    let config_path = dir.join("config.yml");
    std::fs::write(&config_path, CONFIG).unwrap();
    std::fs::write(dir.join("key"), "k").unwrap();
    let source = ConfigSource::File(config_path);
    let config = source.load().unwrap();
    let web = WebConfigFile::open(web_config).expect("valid web config");
    let app = App::new(
        Options {
            config: source,
            telemetry_path: "/metrics".into(),
            enable_lifecycle: false,
            storage_path: dir.join("data"),
            fixed_time: None,
            evaluation_delay: None,
            web: Some(Arc::new(web)),
        },
        config,
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run(listener, async {
        let _ = rx.await;
    }));
    Running {
        port,
        stop: Some(tx),
        task,
    }
}

/// Runs a client tool off the runtime; returns (exit code, stdout, stderr).
async fn run(tool: &str, args: Vec<String>, stdin: &'static str) -> (i32, String, String) {
    let tool = common::require_tool(tool);
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(tool)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// `curl` over TLS trusting `ca`; returns (exit code, HTTP status or 0, headers + body).
async fn curl(dir: &Path, port: u16, path: &str, extra: &[&str]) -> (i32, u16, String) {
    let mut args: Vec<String> = vec![
        "-sS".into(),
        "-i".into(),
        "--cacert".into(),
        dir.join("a-ca.pem").display().to_string(),
        "-w".into(),
        "\n%{http_code}".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(format!("https://127.0.0.1:{port}{path}"));
    let (code, out, err) = run("curl", args, "").await;
    let (text, status) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (code, status.parse().unwrap_or(0), format!("{text}{err}"))
}

fn file(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_basic_auth_cover_every_endpoint_and_follow_the_file() {
    let dir = common::scratch("web-basic");
    pki(&dir, "a");
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let web_yml = write(
        &dir,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: a-server.pem\n  key_file: a-server.key\n\
             http_server_config:\n  headers:\n    X-Frame-Options: deny\n\
             basic_auth_users:\n  prometheus: '{hash}'\n"
        ),
    );
    let app = start(&dir, &web_yml).await;
    let good = format!("prometheus:{PASSWORD}");

    // The source's first sync (nobody answers on port 9) ends quickly; a
    // readiness probe, bounded, rather than a sleep.
    let mut ready = 0;
    for _ in 0..600 {
        ready = curl(&dir, app.port, "/-/ready", &["-u", &good]).await.1;
        if ready == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(ready, 200, "the source's first sync never ended");
    // TLS with the right password: every endpoint answers, with the header.
    for path in ["/metrics", "/", "/-/healthy", "/-/ready"] {
        let (code, status, text) = curl(&dir, app.port, path, &["-u", &good]).await;
        assert_eq!((code, status), (0, 200), "{path}: {text}");
        assert!(
            text.to_ascii_lowercase().contains("x-frame-options: deny"),
            "{path}: {text}"
        );
    }
    // No or wrong credentials: 401 on every endpoint, the landing page and probes included.
    for path in [
        "/metrics",
        "/",
        "/-/healthy",
        "/-/ready",
        "/-/reload",
        "/nope",
    ] {
        let (_, status, text) = curl(&dir, app.port, path, &[]).await;
        assert_eq!(status, 401, "{path} without credentials: {text}");
        assert!(
            text.contains("WWW-Authenticate: Basic") || text.contains("www-authenticate: Basic"),
            "{text}"
        );
        let (_, status, text) = curl(&dir, app.port, path, &["-u", "prometheus:wrong"]).await;
        assert_eq!(status, 401, "{path} with a wrong password: {text}");
        assert!(!text.contains(PASSWORD) && !text.contains(&hash));
    }
    // Plain HTTP on the TLS port gets no answer.
    let (code, out, _) = run(
        "curl",
        vec![
            "-sS".into(),
            format!("http://127.0.0.1:{}/-/healthy", app.port),
        ],
        "",
    )
    .await;
    assert_ne!(code, 0, "plain HTTP answered: {out}");

    // The file is re-read when it changes: a new password (and a second user) applies at once.
    let new_hash = bcrypt::hash("new password", 4).unwrap();
    write(
        &dir,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: a-server.pem\n  key_file: a-server.key\n\
             basic_auth_users:\n  prometheus: '{new_hash}'\n  grafana: '{new_hash}'\n"
        ),
    );
    let (_, status, _) = curl(&dir, app.port, "/metrics", &["-u", &good]).await;
    assert_eq!(status, 401, "the old password still works");
    let (_, status, text) = curl(&dir, app.port, "/metrics", &["-u", "grafana:new password"]).await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.to_ascii_lowercase().contains("x-frame-options"));

    // A broken edit is refused and the last good file stays in force.
    write(
        &dir,
        "web.yml",
        "basic_auth_users: {prometheus: plain-text}\n",
    );
    let (_, status, _) = curl(&dir, app.port, "/metrics", &["-u", "grafana:new password"]).await;
    assert_eq!(status, 200);
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_and_verify_client_cert_accepts_only_the_configured_ca() {
    let dir = common::scratch("web-mtls");
    pki(&dir, "a");
    pki(&dir, "b");
    let web_yml = write(
        &dir,
        "web.yml",
        "tls_server_config:\n  cert_file: a-server.pem\n  key_file: a-server.key\n  \
         client_ca_file: a-ca.pem\n  client_auth_type: RequireAndVerifyClientCert\n  \
         min_version: TLS12\n",
    );
    let app = start(&dir, &web_yml).await;
    let cert = |p: &str| {
        vec![
            "--cert".to_owned(),
            file(&dir, &format!("{p}-client.pem")),
            "--key".to_owned(),
            file(&dir, &format!("{p}-client.key")),
        ]
    };

    let a = cert("a");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (code, status, text) = curl(&dir, app.port, "/metrics", &a).await;
    assert_eq!((code, status), (0, 200), "{text}");

    // A client certificate from another CA, and none at all: no HTTP answer.
    let b = cert("b");
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    let (code, status, text) = curl(&dir, app.port, "/metrics", &b).await;
    assert!(
        code != 0 && status == 0,
        "another CA's cert got {status}: {text}"
    );
    let (code, status, text) = curl(&dir, app.port, "/metrics", &[]).await;
    assert!(code != 0 && status == 0, "no cert got {status}: {text}");

    // openssl s_client: the good certificate gets a response, the foreign one an alert.
    let s_client = |p: &str| {
        vec![
            "s_client".to_owned(),
            "-connect".to_owned(),
            format!("127.0.0.1:{}", app.port),
            "-CAfile".to_owned(),
            file(&dir, "a-ca.pem"),
            "-cert".to_owned(),
            file(&dir, &format!("{p}-client.pem")),
            "-key".to_owned(),
            file(&dir, &format!("{p}-client.key")),
            "-quiet".to_owned(),
        ]
    };
    let request = "GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let (_, out, err) = run("openssl", s_client("a"), request).await;
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}{err}");
    assert!(out.ends_with("Healthy.\n"), "{out}");
    let (_, out, err) = run("openssl", s_client("b"), request).await;
    assert!(
        !out.contains("HTTP/1.1"),
        "foreign cert was answered: {out}"
    );
    assert!(err.contains("alert"), "no TLS alert: {err}");
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// One invalid file per rule, each with its exact `file: key: reason`.
#[test]
fn invalid_web_configs_name_file_key_and_reason() {
    let dir = common::scratch("web-invalid");
    pki(&dir, "a");
    let tls = "tls_server_config:\n  cert_file: a-server.pem\n  key_file: a-server.key\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "bogus: 1\n",
            "bogus",
            "unknown field `bogus`, expected one of",
        ),
        (
            "tls_server_config:\n  cert_file: a-server.pem\n",
            "tls_server_config.key_file",
            "missing key_file",
        ),
        (
            "tls_server_config:\n  cert_file: nope.pem\n  key_file: a-server.key\n",
            "tls_server_config.cert_file",
            "nope.pem: No such file or directory (os error 2)",
        ),
        (
            &format!("{tls}  min_version: TLS11\n"),
            "tls_server_config.min_version",
            "TLS 1.0 and 1.1 are not supported (rustls speaks TLS12 and TLS13)",
        ),
        (
            &format!("{tls}  min_version: TLS13\n  max_version: TLS12\n"),
            "tls_server_config.min_version",
            "min_version is above max_version",
        ),
        (
            &format!("{tls}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"),
            "tls_server_config.cipher_suites[0]",
            "TLS_RSA_WITH_AES_128_CBC_SHA is not supported by rustls",
        ),
        (
            &format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n"),
            "tls_server_config.client_ca_file",
            "client_ca_file is required with client_auth_type RequireAndVerifyClientCert",
        ),
        (
            &format!("{tls}  client_auth_type: Sometimes\n"),
            "tls_server_config.client_auth_type",
            "unknown client_auth_type \"Sometimes\"",
        ),
        (
            &format!("{tls}  client_ca_file: a-ca.pem\n"),
            "tls_server_config.client_ca_file",
            "client_ca_file is set but client_auth_type NoClientCert never checks a certificate against it",
        ),
        (
            "basic_auth_users:\n  prometheus: secret-in-plain-text\n",
            "basic_auth_users.prometheus",
            "not a bcrypt hash",
        ),
        (
            "http_server_config:\n  headers:\n    Server: me\n",
            "http_server_config.headers.Server",
            "header not allowed",
        ),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
            "http_server_config.headers.X-Frame-Options",
            "invalid value \"allow\"",
        ),
    ];
    for (text, key, reason) in cases {
        let path = write(&dir, "web.yml", text);
        let e = web::load(&path).expect_err(text);
        assert_eq!(e.key, *key, "{text}");
        assert!(e.reason.contains(reason), "{text}: {}", e.reason);
        assert!(!e.to_string().contains("secret-in-plain-text"), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("{}: {key}: ", path.display())),
            "{e}"
        );
    }
    // Supported settings load.
    for extra in [
        "  client_auth_type: RequireAnyClientCert\n",
        "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: a-ca.pem\n",
        "  min_version: TLS13\n",
        "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305]\n  prefer_server_cipher_suites: true\n",
    ] {
        let path = write(&dir, "web.yml", &format!("{tls}{extra}"));
        let config = web::load(&path).unwrap_or_else(|e| panic!("{extra}: {e}"));
        assert!(config.tls.is_some());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The binary refuses to start on a bad web config, naming file, key and reason.
#[test]
fn a_bad_web_config_stops_the_start() {
    let dir = common::scratch("web-bad-start");
    std::fs::write(dir.join("config.yml"), CONFIG).unwrap();
    std::fs::write(dir.join("key"), "k").unwrap();
    std::fs::write(dir.join("web.yml"), "basic_auth_users: {prom: hunter2}\n").unwrap();
    let out = Command::new(common::BIN)
        .args([
            "--config.file",
            "config.yml",
            "--web.config.file",
            "web.yml",
            "--web.listen-address",
            "127.0.0.1:0",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("web.yml"), "{log}");
    assert!(log.contains("basic_auth_users.prom"), "{log}");
    assert!(log.contains("not a bcrypt hash"), "{log}");
    assert!(!log.contains("hunter2"), "the secret leaked: {log}");
    let _ = std::fs::remove_dir_all(&dir);
}
