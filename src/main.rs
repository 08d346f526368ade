//! The binary: parse flags, set up logging, load config, bind, run. Everything
//! else lives in the library so tests can run the real exporter in-process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use helpdesk_sla_exporter::app::{App, Options};
use helpdesk_sla_exporter::config::ConfigSource;
use helpdesk_sla_exporter::shard::Shard;
use helpdesk_sla_exporter::web::WebConfigFile;
use helpdesk_sla_exporter::{heap, logging};

/// The default port: 9100-9999 of the Prometheus default port allocations are
/// all taken, so the exporter uses one above them.
const DEFAULT_LISTEN: &str = ":10042";

#[derive(Debug, Parser)]
#[command(name = "helpdesk-sla-exporter", version = version(), about = "Prometheus exporter for helpdesk SLAs")]
struct Flags {
    #[command(subcommand)]
    command: Option<Command>,
    /// Path to the configuration file.
    #[arg(long = "config.file", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Validate the configuration file, print every problem, and exit.
    #[arg(long = "config.check", requires = "config_file")]
    config_check: bool,
    /// Run against the built-in demo helpdesk (no credentials needed).
    #[arg(long, conflicts_with = "config_file")]
    demo: bool,
    /// Address to listen on for the web interface and telemetry.
    #[arg(long = "web.listen-address", value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    listen_address: String,
    /// Path under which to expose metrics.
    #[arg(
        long = "web.telemetry-path",
        value_name = "PATH",
        default_value = "/metrics"
    )]
    telemetry_path: String,
    /// Path to a web configuration file (exporter-toolkit format) that turns on
    /// TLS, client certificates, basic auth and response headers.
    #[arg(long = "web.config.file", value_name = "FILE")]
    web_config_file: Option<PathBuf>,
    /// Enable the lifecycle endpoint `POST /-/reload` (as in Prometheus). Without
    /// it the endpoint answers 403; SIGHUP reloads either way.
    #[arg(long = "web.enable-lifecycle")]
    enable_lifecycle: bool,
    /// Directory for the embedded state store.
    #[arg(long = "storage.path", value_name = "DIR", default_value = "data")]
    storage_path: PathBuf,
    /// How many replicas share the configured sources. Each replica syncs and
    /// serves only the sources whose name hashes to its shard.
    #[arg(long = "shard.count", value_name = "N", default_value_t = 1)]
    shard_count: u32,
    /// This replica's shard, 0 to --shard.count minus 1. When omitted with
    /// --shard.count above 1, the ordinal at the end of the hostname is used
    /// (a StatefulSet pod `name-2` is shard 2).
    #[arg(long = "shard.index", value_name = "N")]
    shard_index: Option<u32>,
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    log_level: logging::Level,
    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    log_format: logging::Format,
    /// Evaluate SLAs as of this fixed RFC 3339 instant instead of the wall clock
    /// (for golden tests and reproducible demos).
    #[arg(long = "debug.fixed-time", value_name = "RFC3339", hide = true)]
    fixed_time: Option<jiff::Timestamp>,
    /// With --demo: the simulated API also accepts the undocumented filters
    /// (`date_changed` on /tickets, `conversation_id` on /tickets/history), so
    /// a first sync takes about 750 requests instead of 3,700.
    #[arg(long = "debug.demo-undocumented", hide = true, requires = "demo")]
    demo_undocumented: bool,
    /// Hold every evaluation this long before it starts (for tests that need
    /// an evaluation in progress, such as shutdown during one).
    #[arg(long = "debug.evaluation-delay", value_name = "DURATION", hide = true, value_parser = parse_delay)]
    evaluation_delay: Option<std::time::Duration>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Write one row per (item, target, cycle), evaluated as of --at.
    Report(ReportArgs),
    /// Print the source's own SLA levels (LiveAgent /slas, Freshdesk SLA
    /// policies and business hours) as calendars and policies config to
    /// review and paste.
    Levels(LevelsArgs),
    /// Probe each source's API (auth, endpoints, assumptions) and say whether it can be synced.
    #[command(name = "check-source")]
    CheckSource(CheckSourceArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of the exporter, or of one subcommand.
    Man {
        /// A subcommand (report, levels, check-source, completions).
        subcommand: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
struct CheckSourceArgs {
    #[arg(long = "config.file", value_name = "FILE")]
    config_file: PathBuf,
    /// Only this source (default: every source).
    #[arg(long)]
    source: Option<String>,
}

#[derive(Debug, clap::Args)]
struct LevelsArgs {
    /// Path to the configuration file with the source.
    #[arg(long = "config.file", value_name = "FILE")]
    config_file: PathBuf,
    /// The source to read; the only one when omitted.
    #[arg(long, value_name = "NAME")]
    source: Option<String>,
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// Path to the configuration file.
    #[arg(long = "config.file", value_name = "FILE")]
    config_file: PathBuf,
    /// Evaluate as of this RFC 3339 instant; events after it are ignored.
    #[arg(long, value_name = "RFC3339")]
    at: jiff::Timestamp,
    /// Pull the sources from this RFC 3339 instant (default: --at minus each
    /// source's initial_lookback). Not used with --from-store.
    #[arg(long, value_name = "RFC3339", conflicts_with = "from_store")]
    since: Option<jiff::Timestamp>,
    #[arg(long, value_enum, default_value = "csv")]
    format: ReportFormat,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Read the items from the exporter's store instead of pulling the sources.
    #[arg(long = "from-store")]
    from_store: bool,
    /// Directory of the store, with --from-store.
    #[arg(long = "storage.path", value_name = "DIR", default_value = "data")]
    storage_path: PathBuf,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Csv,
    Json,
}

fn version() -> &'static str {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (revision ",
        env!("HSE_GIT_REVISION"),
        ", rustc ",
        env!("HSE_RUSTC_VERSION"),
        ")"
    )
}

fn main() -> ExitCode {
    heap::configure();
    let mut flags = Flags::parse();
    if let Some(command) = flags.command.take() {
        logging::init(flags.log_level, flags.log_format);
        let (name, result) = match command {
            Command::Report(args) => ("report", report(args)),
            Command::Levels(args) => ("levels", levels(args)),
            Command::CheckSource(args) => ("check-source", check_source(args)),
            Command::Completions { shell } => ("completions", completions(shell)),
            Command::Man { subcommand } => ("man", man(subcommand)),
        };
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{name}: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if flags.config_check {
        return check_config(flags.config_file.as_deref().expect("clap requires it"));
    }
    logging::init(flags.log_level, flags.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(flags));
    // Dropping the runtime would wait for blocking tasks, such as an
    // evaluation that shutdown left behind; the documented 5 s bound on
    // SIGTERM must hold, so give them only a moment.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "exiting");
            ExitCode::FAILURE
        }
    }
}

/// `--config.check`: every problem on its own line to stderr; exit 0 or 1.
fn check_config(path: &std::path::Path) -> ExitCode {
    match helpdesk_sla_exporter::config::load(path) {
        Ok(config) => {
            println!(
                "{}: OK ({} sources, {} policies)",
                path.display(),
                config.sources.len(),
                config.policies.policies().len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the completion script for `shell` to standard output.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    use clap::CommandFactory;
    let mut cmd = Flags::command();
    clap_complete::generate(
        shell,
        &mut cmd,
        "helpdesk-sla-exporter",
        &mut std::io::stdout(),
    );
    Ok(())
}

/// Writes a man page (roff) to standard output: the exporter's, or with a
/// subcommand name that subcommand's (`helpdesk-sla-exporter-report(1)`).
fn man(subcommand: Option<String>) -> anyhow::Result<()> {
    use clap::CommandFactory;
    let cmd = Flags::command();
    let page = match subcommand {
        None => clap_mangen::Man::new(cmd),
        Some(name) => {
            let sub = cmd
                .find_subcommand(&name)
                .ok_or_else(|| anyhow::anyhow!("no subcommand {name:?}"))?
                .clone();
            let full = format!("helpdesk-sla-exporter-{name}");
            clap_mangen::Man::new(sub.bin_name(format!("helpdesk-sla-exporter {name}"))).title(full)
        }
    };
    page.render(&mut std::io::stdout().lock())?;
    Ok(())
}

fn report(args: ReportArgs) -> anyhow::Result<()> {
    use helpdesk_sla_exporter::report;
    let config = helpdesk_sla_exporter::config::load(&args.config_file)?;
    let items = if args.from_store {
        let store = helpdesk_sla_exporter::store::Store::open(&args.storage_path)?;
        report::items_from_store(&config, &store)?
    } else {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(report::items_from_sources(&config, args.at, args.since))?
    };
    let rows = report::rows(&items, &config.policies, args.at);
    let mut out: Box<dyn std::io::Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match args.format {
        ReportFormat::Csv => report::write_csv(&rows, &mut out)?,
        ReportFormat::Json => report::write_json(&rows, &mut out)?,
    }
    out.flush()?;
    Ok(())
}

fn check_source(args: CheckSourceArgs) -> anyhow::Result<()> {
    use helpdesk_sla_exporter::check_source;
    let config = helpdesk_sla_exporter::config::load(&args.config_file)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let checked = rt.block_on(check_source::check(&config, args.source.as_deref()))?;
    check_source::print(&checked, &mut std::io::stdout().lock())?;
    let failed: Vec<&str> = checked
        .iter()
        .filter(|c| !c.ok())
        .map(|c| c.source.as_str())
        .collect();
    if !failed.is_empty() {
        anyhow::bail!("cannot sync: {}", failed.join(", "));
    }
    Ok(())
}

fn levels(args: LevelsArgs) -> anyhow::Result<()> {
    use helpdesk_sla_exporter::providers::{self, ClientMetrics};
    let config = helpdesk_sla_exporter::config::load(&args.config_file)?;
    let source = match &args.source {
        Some(name) => config.sources.iter().find(|s| &s.name == name),
        None if config.sources.len() == 1 => config.sources.first(),
        None => anyhow::bail!("the config has several sources; name one with --source"),
    }
    .ok_or_else(|| anyhow::anyhow!("no source named {:?}", args.source.unwrap_or_default()))?;
    let metrics = ClientMetrics::new(&prometheus::Registry::new())?;
    let provider = providers::build(source, &metrics)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if let Some(yaml) = rt.block_on(provider.levels_config())? {
        print!("{yaml}");
        return Ok(());
    }
    let levels = rt.block_on(provider.sla_levels())?;
    print!(
        "{}",
        helpdesk_sla_exporter::levels::to_yaml(&source.name, &levels)
    );
    Ok(())
}

async fn run(flags: Flags) -> anyhow::Result<()> {
    let shard = Shard::resolve(flags.shard_index, flags.shard_count, hostname)
        .map_err(|e| anyhow::anyhow!(e))?;
    let source = match (&flags.config_file, flags.demo) {
        (Some(path), _) => ConfigSource::File(path.clone()),
        (None, true) => {
            helpdesk_sla_exporter::demo::start(flags.fixed_time, flags.demo_undocumented).await?
        }
        (None, false) => anyhow::bail!(
            "no --config.file given; run with --demo to try the built-in demo helpdesk"
        ),
    };
    let config = source.load().map_err(|e| {
        for p in &e.problems {
            tracing::error!(file = %e.file.display(), key = %p.key, reason = %p.reason, "invalid configuration");
        }
        anyhow::anyhow!("invalid configuration in {}", e.file.display())
    })?;
    let web = match &flags.web_config_file {
        Some(path) => Some(std::sync::Arc::new(WebConfigFile::open(path).map_err(|e| {
            tracing::error!(file = %e.file.display(), key = %e.key, reason = %e.reason, "invalid web configuration");
            anyhow::anyhow!("invalid web configuration: {e}")
        })?)),
        None => None,
    };
    let addr = parse_listen_address(&flags.listen_address)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let app = App::sharded(
        Options {
            config: source,
            telemetry_path: flags.telemetry_path,
            enable_lifecycle: flags.enable_lifecycle,
            storage_path: flags.storage_path,
            fixed_time: flags.fixed_time,
            evaluation_delay: flags.evaluation_delay,
            web,
        },
        config,
        shard,
    )?;
    let handle = app.handle();
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP received; reloading configuration");
            let _ = handle.reload().await;
        }
    });
    app.run(listener, shutdown_signal()).await
}

/// The host name (in Kubernetes, the pod name): `$HOSTNAME`, else the kernel's.
fn hostname() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// `:10042` means every interface, as in Go exporters.
fn parse_listen_address(text: &str) -> anyhow::Result<SocketAddr> {
    let full = if text.starts_with(':') {
        format!("0.0.0.0{text}")
    } else {
        text.to_owned()
    };
    full.parse().map_err(|_| {
        anyhow::anyhow!(
            "--web.listen-address: invalid address {text:?} (expected host:port or :port)"
        )
    })
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "shutting down"),
    }
}

fn parse_delay(text: &str) -> Result<std::time::Duration, String> {
    let d = helpdesk_sla_exporter::config::duration::parse(text)?;
    std::time::Duration::try_from(d).map_err(|e| e.to_string())
}
