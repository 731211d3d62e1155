//! The scrapetop binary.
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use scrapetop::cli::{Cli, Sub};
use scrapetop::engine::spec::{JobSettings, TargetSpec};
use scrapetop::engine::{self, EngineOptions, FixedSources, Sources};
use scrapetop::tui::{self, TuiOptions};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("scrapetop: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// A user error detected before anything starts: message and exit status 2.
fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("scrapetop: {msg}");
    ExitCode::from(2)
}

/// Targets from the command line (`--target`), checked before anything starts.
fn cli_targets(cli: &Cli) -> Result<Vec<TargetSpec>, String> {
    let interval = cli.interval.unwrap_or(Duration::from_secs(60));
    let timeout = cli.timeout.unwrap_or(Duration::from_secs(10).min(interval));
    if interval.is_zero() || timeout.is_zero() {
        return Err("--interval and --timeout must be greater than zero".to_owned());
    }
    if timeout > interval {
        return Err(format!(
            "--timeout {} is greater than --interval {}: a scrape timeout must not exceed the scrape interval",
            scrapetop::duration::format(timeout),
            scrapetop::duration::format(interval)
        ));
    }
    let mut job = JobSettings::new("targets");
    job.interval = interval;
    job.timeout = timeout;
    let job = Arc::new(job);
    cli.targets
        .iter()
        .map(|t| {
            TargetSpec::parse(t, job.clone()).map_err(|e| {
                let shown = scrapetop::engine::spec::redact_userinfo(t);
                format!("--target {shown:?}: {e}")
            })
        })
        .collect()
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(Sub::Check { .. }) = &cli.command {
        return Ok(usage_error("check: not implemented yet"));
    }
    if !cli.has_sources() || matches!(cli.command, Some(Sub::Demo)) {
        return Ok(usage_error(
            "the demo is not implemented yet; give --target HOST:PORT",
        ));
    }
    let targets = match cli_targets(&cli) {
        Ok(t) => t,
        Err(e) => return Ok(usage_error(e)),
    };
    let sources: Arc<dyn Sources> = Arc::new(FixedSources(targets.clone()));
    let opts = EngineOptions {
        dns_server: cli.dns_server,
        idle_timeout: cli.idle_timeout,
        max_conn_age: cli.max_conn_age,
        recheck_dns: cli.recheck_dns,
        probe_every: cli.probe_every,
        reload_policy: cli.reload_policy,
        ..Default::default()
    };
    let mut tui_opts = TuiOptions {
        fps: cli.fps,
        mouse: cli.mouse,
        keys_file: cli.keys.clone(),
        ..Default::default()
    };
    if let Some(p) = &cli.log_file {
        tui_opts.log_file = p.clone();
    }
    // A bad keys file is a user error, reported before the terminal is touched.
    if !cli.headless
        && let Err(e) = tui::new_app(&tui_opts)
    {
        return Ok(usage_error(format!("{e:#}")));
    }
    let _log_guard = init_logging(&cli, &tui_opts.log_file);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tracing::info!(
        targets = targets.len(),
        headless = cli.headless,
        version = env!("CARGO_PKG_VERSION"),
        "scrapetop starting"
    );
    rt.block_on(async move {
        let handle = engine::start(opts, targets, sources).map_err(anyhow::Error::msg)?;
        if cli.headless {
            scrapetop::headless::run(handle, cli.exit_on_eof).await
        } else {
            let engine::EngineHandle {
                commands,
                events,
                done,
            } = handle;
            let res = tui::run(tui_opts, events, commands).await;
            let _ = tokio::time::timeout(Duration::from_secs(3), done).await;
            res
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Logs go to `--log-file`; in headless mode without one, to stderr; with the TUI, to the
/// default log file (never the screen). The guard flushes on drop.
fn init_logging(
    cli: &Cli,
    default_file: &Path,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::fmt;
    let level = tracing::Level::INFO;
    let path = match (&cli.log_file, cli.headless) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => None,
        (None, false) => Some(default_file.to_path_buf()),
    };
    let Some(path) = path else {
        let _ = fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .try_init();
        return None;
    };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let _ = fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
    Some(guard)
}
