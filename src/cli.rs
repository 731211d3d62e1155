//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::engine::ReloadPolicy;

fn duration(s: &str) -> Result<Duration, String> {
    crate::config::units::parse_duration(s)
}

/// `--reload-policy`: the engine's names, listed with their meaning in `--help`.
fn reload_policy() -> impl clap::builder::TypedValueParser<Value = ReloadPolicy> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(
        ReloadPolicy::ALL.map(|p| PossibleValue::new(p.as_str()).help(p.meaning())),
    )
    .try_map(|s| s.parse::<ReloadPolicy>())
}

/// Scrape Prometheus targets the way Prometheus does and watch every connection live.
///
/// With no target source, runs the built-in demo.
#[derive(Debug, Parser)]
#[command(name = "scrapetop", version = env!("SCRAPETOP_VERSION"), about, long_about = None)]
pub struct Cli {
    /// What to do (default: watch targets, or the demo when none are given).
    #[command(subcommand)]
    pub command: Option<Sub>,

    /// Prometheus configuration file (prometheus.yml).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// A target list: one host:port or URL per line, or a file_sd JSON/YAML file. Repeatable.
    #[arg(long = "targets", value_name = "FILE", global = true)]
    pub targets_files: Vec<PathBuf>,
    /// A target, host:port or URL. Repeatable.
    #[arg(long = "target", value_name = "TARGET", global = true)]
    pub targets: Vec<String>,
    /// Scrape interval for --target/--targets (Prometheus default 1m).
    #[arg(long, value_name = "DUR", value_parser = duration, global = true)]
    pub interval: Option<Duration>,
    /// Scrape timeout for --target/--targets (Prometheus default 10s; at most the interval).
    #[arg(long, value_name = "DUR", value_parser = duration, global = true)]
    pub timeout: Option<Duration>,
    /// Behave as Prometheus 2 or 3 does: the Accept header sent, how a missing or unknown
    /// Content-Type is read (3 needs fallback_scrape_protocol), UTF-8 names, error wording.
    #[arg(long, value_name = "2|3", default_value_t = crate::config::Compat::V3, global = true)]
    pub compat: crate::config::Compat,

    /// No terminal UI: JSON events on stdout, JSON commands on stdin.
    #[arg(long, global = true)]
    pub headless: bool,
    /// In headless mode, quit when stdin ends.
    #[arg(long, global = true)]
    pub exit_on_eof: bool,

    /// Resolve names with this DNS server (IP:PORT) instead of /etc/resolv.conf.
    #[arg(long, value_name = "IP:PORT", global = true)]
    pub dns_server: Option<SocketAddr>,
    /// Close connections idle this long (Prometheus: 5m).
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "5m", global = true)]
    pub idle_timeout: Duration,
    /// Close a connection after its current scrape once it is this old (off by default).
    #[arg(long, value_name = "DUR", value_parser = duration, global = true)]
    pub max_conn_age: Option<Duration>,
    /// Re-resolve names in the background at TTL expiry (≥ 30 s apart) and flag stale peers.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub recheck_dns: bool,
    /// Probe every target on a fresh connection this often (off by default).
    #[arg(long, value_name = "DUR", value_parser = duration, global = true)]
    pub probe_every: Option<Duration>,
    /// What a reload does to connections.
    #[arg(long, value_parser = reload_policy(), default_value_t = ReloadPolicy::Prometheus, global = true)]
    pub reload_policy: ReloadPolicy,

    /// Log file (default: $XDG_STATE_HOME/scrapetop/scrapetop.log). Headless mode logs to
    /// stderr unless this is given.
    #[arg(long, value_name = "FILE", global = true)]
    pub log_file: Option<PathBuf>,
    /// Maximum frames per second of the UI.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=60), global = true)]
    pub fps: u32,
    /// Enable mouse (scroll, click to select); it disables the terminal's copy and paste.
    #[arg(long, global = true)]
    pub mouse: bool,
    /// Key bindings file (YAML: action: key).
    #[arg(long, value_name = "FILE", global = true)]
    pub keys: Option<PathBuf>,
    /// Serve /metrics (Prometheus text format) on this address, e.g. 127.0.0.1:9985 or :9985.
    #[arg(long = "web.listen-address", value_name = "HOST:PORT", global = true)]
    pub web_listen_address: Option<String>,
    /// A running Prometheus's HTTP API (http(s)://host:port[/prefix]). With `attach`: where to
    /// read it from inside its network namespace (default: its own --web.listen-address).
    #[arg(long, value_name = "URL", global = true)]
    pub prometheus: Option<String>,
    /// Credentials and TLS for --prometheus's API (and attach's), in the HTTP client
    /// configuration format promtool reads: basic_auth, authorization, tls_config.
    #[arg(long = "http.config.file", value_name = "FILE", global = true)]
    pub http_config_file: Option<PathBuf>,
    /// Demo time compression (tests run the demo's script faster).
    #[arg(
        long,
        value_name = "X",
        default_value_t = 1.0,
        hide = true,
        global = true
    )]
    pub demo_speed: f64,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Watch a running Prometheus's real connections (needs root to enter its namespace).
    Attach {
        /// Its PID (default: the only process whose executable is `prometheus`).
        pid: Option<i32>,
    },
    /// Run the built-in demo fleet (the default with no target source).
    Demo,
    /// Validate configuration files and list the targets they would scrape.
    Check {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_parser = ["text", "json"], default_value = "text")]
        output: String,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout: `scrapetop man | man -l -`.
    Man,
}

impl Cli {
    /// The completion script for `shell`, generated from this definition.
    pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cmd = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut cmd, "scrapetop", &mut out);
        out
    }

    /// The manual page (roff), generated from this definition.
    pub fn man_page() -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut out)?;
        Ok(out)
    }

    /// Whether any target source was given.
    pub fn has_sources(&self) -> bool {
        self.config.is_some() || !self.targets_files.is_empty() || !self.targets.is_empty()
    }
}
