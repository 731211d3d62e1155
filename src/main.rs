//! The scrapetop binary.
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::sync::mpsc;

use scrapetop::cli::{Cli, Sub};
use scrapetop::config::{self, SourceArgs};
use scrapetop::demo::{Demo, DemoOptions};
use scrapetop::engine::dns::Dns;
use scrapetop::engine::{self, EngineOptions, Sources};
use scrapetop::event::Command;
use scrapetop::metrics;
use scrapetop::sources::{self, ConfigSources};
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

/// Write generated text to stdout (a closed pipe, as in `| head`, is not an error).
fn print(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// A user error detected before anything starts: message and exit status 2.
fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("scrapetop: {msg}");
    ExitCode::from(2)
}

// Just over 100 lines: the start-up steps in the order their errors must be reported (before
// the terminal is taken over), each already one call or a few lines.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Some(Sub::Completions { shell }) => return print(&Cli::completions(*shell)),
        Some(Sub::Man) => return print(&Cli::man_page()?),
        _ => {}
    }
    if let Some(Sub::Check { files, output }) = &cli.command {
        let code = config::check::check_main_with(files, output == "json", cli.compat);
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
    }
    if let Some(Sub::Attach { pid }) = &cli.command {
        return run_attach(&cli, *pid);
    }
    // `--prometheus URL` without `attach`: the running Prometheus's targets for our engine.
    let from_api = cli.prometheus.clone();
    let demo = (!cli.has_sources() && from_api.is_none()) || matches!(cli.command, Some(Sub::Demo));
    let args = source_args(&cli);
    let mut opts = engine_options(&cli);
    let mut tui_opts = TuiOptions {
        fps: cli.fps,
        mouse: cli.mouse,
        keys_file: cli.keys.clone(),
        demo,
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
    let Prepared {
        listener: metrics_listener,
        publisher,
        rt,
    } = match prepare(&cli, &mut tui_opts)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };

    // Read every source before anything else, so a bad file is reported (exit 2) before the
    // terminal is taken over.
    let first = rt.block_on(read_first(
        from_api.as_deref(),
        cli.http_config_file.as_deref(),
        &args,
        cli.dns_server,
    ));
    let first = match first {
        Ok(l) => l,
        Err(e) => return Ok(usage_error(e)),
    };
    if cli.headless {
        for n in &first.set.notices {
            eprintln!("scrapetop: {n}");
        }
    }
    let mut initial = first.set;
    let (watch, refresh) = (first.watch, first.dns_sd_refresh);

    let _log_guard = match init_logging(&cli, &tui_opts.log_file) {
        Ok(g) => g,
        Err(e) => return Ok(usage_error(e)),
    };
    let result = rt.block_on(async move {
        // The demo fleet runs in this process, on loopback only, for this run only.
        let fleet = if demo {
            let d = Demo::start(DemoOptions {
                speed: cli.demo_speed,
            })
            .await?;
            opts = d.engine_options(opts);
            initial.targets.splice(0..0, d.targets());
            tui_opts.hints = d.hints();
            Some(d)
        } else {
            None
        };
        tracing::info!(
            targets = initial.targets.len(),
            headless = cli.headless,
            demo,
            version = env!("SCRAPETOP_VERSION"),
            "scrapetop starting"
        );
        let sources: Arc<dyn Sources> = match &fleet {
            Some(d) => Arc::new(ConfigSources::with_base(args, d.targets())),
            None => match from_api {
                Some(url) => Arc::new(scrapetop::attach::targets::PrometheusSources::new(
                    url,
                    cli.http_config_file.clone(),
                )),
                None => Arc::new(ConfigSources::new(args)),
            },
        };
        if let (Some(l), Some(p)) = (metrics_listener, &publisher) {
            metrics::serve(l, p)?;
        }
        let engine = engine::EngineSource {
            opts,
            initial,
            sources,
        };
        let handle = scrapetop::source::start_on_own_thread(engine, "scrapetop-engine")
            .map_err(anyhow::Error::msg)?;
        spawn_reload_triggers(handle.commands.clone(), watch, refresh);
        let res = run_front(&cli, handle, publisher, tui_opts).await;
        if let Some(d) = fleet {
            d.stop().await;
        }
        res
    });
    // The stdin reader sits in a blocking read that only the end of stdin would finish: do
    // not wait for it (`quit` must end the process while stdin stays open).
    rt.shutdown_timeout(Duration::from_millis(200));
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Show the events: as JSON lines (headless) or in the terminal UI, until quit.
async fn run_front(
    cli: &Cli,
    handle: engine::EngineHandle,
    publisher: Option<metrics::Publisher>,
    mut tui_opts: TuiOptions,
) -> anyhow::Result<()> {
    if cli.headless {
        scrapetop::headless::run(handle, cli.exit_on_eof, publisher).await
    } else {
        let engine::EngineHandle {
            commands,
            events,
            done,
            capabilities,
        } = handle;
        tui_opts.capabilities = capabilities;
        let res = tui::run(tui_opts, events, commands).await;
        let _ = tokio::time::timeout(Duration::from_secs(3), done).await;
        res
    }
}

/// The sources named on the command line.
/// What the engine and attach both set up before starting: `/metrics`' listener and its
/// publisher (also handed to the TUI), and the runtime.
struct Prepared {
    listener: Option<std::net::TcpListener>,
    publisher: Option<metrics::Publisher>,
    rt: tokio::runtime::Runtime,
}

/// Bind `/metrics` now: a bad or busy `--web.listen-address` is a user error (the inner
/// `Err`, exit 2), reported before the terminal is touched.
fn prepare(cli: &Cli, tui_opts: &mut TuiOptions) -> anyhow::Result<Result<Prepared, ExitCode>> {
    let listener = match cli.web_listen_address.as_deref().map(metrics::bind) {
        Some(Err(e)) => return Ok(Err(usage_error(e))),
        Some(Ok(l)) => Some(l),
        None => None,
    };
    let publisher = listener.as_ref().map(|_| metrics::Publisher::new());
    tui_opts.metrics = publisher.clone();
    // The front end's runtime (the terminal or the JSON lines, /metrics, the demo fleet): one
    // thread. Sources start on threads of their own (`start_on_own_thread`).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(Ok(Prepared {
        listener,
        publisher,
        rt,
    }))
}

fn source_args(cli: &Cli) -> SourceArgs {
    SourceArgs {
        config: cli.config.clone(),
        targets_files: cli.targets_files.clone(),
        targets: cli.targets.clone(),
        interval: cli.interval,
        timeout: cli.timeout,
        compat: cli.compat,
    }
}

/// The engine's options from the command line.
fn engine_options(cli: &Cli) -> EngineOptions {
    EngineOptions {
        dns_server: cli.dns_server,
        idle_timeout: cli.idle_timeout,
        max_conn_age: cli.max_conn_age,
        recheck_dns: cli.recheck_dns,
        probe_every: cli.probe_every,
        reload_policy: cli.reload_policy,
        ..Default::default()
    }
}

/// Read every source once: from `--prometheus URL`'s API, or from the files and flags.
async fn read_first(
    from_api: Option<&str>,
    http_config: Option<&std::path::Path>,
    args: &SourceArgs,
    dns_server: Option<std::net::SocketAddr>,
) -> Result<sources::Read, String> {
    if let Some(url) = from_api {
        // Refreshed as Prometheus's targets change: a reload every 30 s.
        return scrapetop::attach::targets::read(url, http_config)
            .await
            .map(|set| sources::Read {
                set,
                watch: Default::default(),
                dns_sd_refresh: Some(Duration::from_secs(30)),
            });
    }
    let dns = Dns::new(dns_server).map_err(|e| format!("DNS: {e}"))?;
    sources::read(args, &[], &dns)
        .await
        .map_err(|e| e.to_string())
}

/// `scrapetop attach`: the observer of a running Prometheus as the source, shown the same way.
fn run_attach(cli: &Cli, pid: Option<i32>) -> anyhow::Result<ExitCode> {
    use scrapetop::attach::{AttachOptions, AttachSource};
    let opts = AttachOptions {
        pid,
        api_url: cli.prometheus.clone(),
        http_config: cli.http_config_file.clone(),
    };
    let source = match AttachSource::new(&opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("scrapetop attach: {e}");
            return Ok(ExitCode::from(e.exit_code()));
        }
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
    if !cli.headless
        && let Err(e) = tui::new_app(&tui_opts)
    {
        return Ok(usage_error(format!("{e:#}")));
    }
    // /metrics works the same in attach mode: what the observer sees, for the user's Prometheus.
    let Prepared {
        listener: metrics_listener,
        publisher,
        rt,
    } = match prepare(cli, &mut tui_opts)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let _log_guard = init_logging(cli, &tui_opts.log_file);
    let result = rt.block_on(async move {
        use scrapetop::source::{OwnThreadError, start_on_own_thread};
        let handle = match start_on_own_thread(source, "scrapetop-attach") {
            Ok(h) => h,
            Err(OwnThreadError::Source(e)) => {
                eprintln!("scrapetop attach: {e}");
                return Ok(Some(e.exit_code()));
            }
            Err(e) => return Err(e.into()),
        };
        if let (Some(l), Some(p)) = (metrics_listener, &publisher) {
            metrics::serve(l, p)?;
        }
        if cli.headless {
            scrapetop::headless::run(handle, cli.exit_on_eof, publisher).await?;
        } else {
            tui_opts.capabilities = handle.capabilities;
            tui::run(tui_opts, handle.events, handle.commands).await?;
            let _ = tokio::time::timeout(Duration::from_secs(3), handle.done).await;
        }
        anyhow::Ok(None)
    });
    rt.shutdown_timeout(Duration::from_millis(200));
    Ok(match result? {
        Some(code) => ExitCode::from(code),
        None => ExitCode::SUCCESS,
    })
}

/// Reload when file_sd files change on disk (polled, debounced) and at the dns_sd refresh
/// interval, as Prometheus's discovery does.
fn spawn_reload_triggers(
    commands: mpsc::Sender<Command>,
    watch: config::watch::Watched,
    dns_sd_refresh: Option<Duration>,
) {
    if !watch.is_empty() {
        let mut changed =
            config::watch::spawn(watch, Duration::from_secs(1), Duration::from_millis(500));
        let tx = commands.clone();
        tokio::spawn(async move {
            while changed.recv().await.is_some() {
                if tx.send(Command::Reload).await.is_err() {
                    break;
                }
            }
        });
    }
    if let Some(every) = dns_sd_refresh.filter(|d| !d.is_zero()) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if commands.send(Command::Reload).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// The log's writer thread, behind a queue of at most 4,096 lines (more are dropped, as the
/// default 128,000 would be): the default queue is allocated and touched whole at start, 4 MB
/// of a budget of 100 MB at 10,000 targets (issue 13), for a log that writes a few lines a minute.
fn log_writer<W: std::io::Write + Send + 'static>(
    w: W,
) -> (
    tracing_appender::non_blocking::NonBlocking,
    tracing_appender::non_blocking::WorkerGuard,
) {
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(4096)
        .finish(w)
}

/// Logs go to `--log-file`; in headless mode without one, to stderr (coloured only on a
/// terminal, and never with `NO_COLOR`); with the TUI, to the default log file (never the
/// screen). The guard flushes on drop. A `--log-file` that cannot be written is a user error
/// (a run whose log silently goes nowhere cannot be diagnosed); an unwritable default file is
/// said once on stderr and the run goes on without a log.
fn init_logging(
    cli: &Cli,
    default_file: &Path,
) -> Result<Option<tracing_appender::non_blocking::WorkerGuard>, String> {
    use std::io::IsTerminal;
    use tracing_subscriber::fmt;
    let level = tracing::Level::INFO;
    let path = match (&cli.log_file, cli.headless) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => None,
        (None, false) => Some(default_file.to_path_buf()),
    };
    let Some(path) = path else {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        // Through a thread of its own: a consumer that reads neither stdout nor stderr (or
        // both from one pipe) must not block whatever logs, the quit path included.
        let (writer, guard) = log_writer(std::io::stderr());
        let _ = fmt()
            .with_max_level(level)
            .with_ansi(colour)
            .with_writer(writer)
            .try_init();
        return Ok(Some(guard));
    };
    let open = || -> std::io::Result<std::fs::File> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
    };
    let file = match open() {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("cannot write the log file {}: {e}", path.display());
            if cli.log_file.is_some() {
                return Err(format!("--log-file: {msg}"));
            }
            eprintln!("scrapetop: {msg}; running without a log");
            return Ok(None);
        }
    };
    let (writer, guard) = log_writer(file);
    let _ = fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_writer(writer)
        .try_init();
    Ok(Some(guard))
}
