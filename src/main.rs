//! The scrapetop binary.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use scrapetop::cli::{Cli, Sub};
use scrapetop::engine::spec::{JobSettings, TargetSpec};
use scrapetop::engine::{self, EngineOptions, FixedSources};

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

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(Sub::Check { .. }) = &cli.command {
        return Ok(usage_error("check: not implemented yet"));
    }
    if !cli.has_sources() || matches!(cli.command, Some(Sub::Demo)) {
        return Ok(usage_error(
            "the demo is not implemented yet; give --target HOST:PORT",
        ));
    }
    let interval = cli.interval.unwrap_or(Duration::from_secs(60));
    let timeout = cli.timeout.unwrap_or(Duration::from_secs(10).min(interval));
    if timeout > interval {
        return Ok(usage_error(format!(
            "--timeout {} is greater than --interval {}: a scrape timeout must not exceed the scrape interval",
            scrapetop::duration::format(timeout),
            scrapetop::duration::format(interval)
        )));
    }
    if interval.is_zero() || timeout.is_zero() {
        return Ok(usage_error(
            "--interval and --timeout must be greater than zero",
        ));
    }
    let mut job = JobSettings::new("targets");
    job.interval = interval;
    job.timeout = timeout;
    let job = Arc::new(job);
    let mut targets = Vec::new();
    for t in &cli.targets {
        match TargetSpec::parse(t, job.clone()) {
            Ok(s) => targets.push(s),
            Err(e) => {
                let shown = scrapetop::engine::spec::redact_userinfo(t);
                return Ok(usage_error(format!("--target {shown:?}: {e}")));
            }
        }
    }
    let opts = EngineOptions {
        dns_server: cli.dns_server,
        idle_timeout: cli.idle_timeout,
        max_conn_age: cli.max_conn_age,
        recheck_dns: cli.recheck_dns,
        probe_every: cli.probe_every,
        reload_policy: cli.reload_policy,
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        init_logging(&cli, true);
        let sources = Arc::new(FixedSources(targets.clone()));
        let handle = engine::start(opts, targets, sources).map_err(anyhow::Error::msg)?;
        scrapetop::headless::run(handle, cli.exit_on_eof).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging(cli: &Cli, stderr: bool) {
    use tracing_subscriber::fmt;
    let level = tracing::Level::INFO;
    let file = cli.log_file.as_ref().and_then(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    });
    if let Some(f) = file {
        let _ = fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .try_init();
    } else if stderr {
        let _ = fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .try_init();
    }
}
