//! Target lists: a Prometheus configuration file, file_sd files, plain lists and `--target`,
//! turned into [`TargetSpec`]s exactly as Prometheus would build its scrape targets.
//!
//! Strict like Prometheus: unknown keys, wrong types, duplicate job names, a timeout above the
//! interval and invalid addresses are errors that name the file, line, column and value.
//! Sections scrapetop does not use are accepted and reported as notices `ignored: …`.
//! Secrets are read into [`crate::engine::spec::Secret`] and never printed.

mod auth;
pub mod check;
mod discovery;
mod files;
mod outline;
mod prometheus;
mod raw;
pub mod relabel;
pub mod sd;
mod targets;
pub mod units;
mod unsupported;
mod values;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub(crate) use auth::http_client_file;
pub use check::check_main;
pub use files::MAX_FILE_BYTES;
pub use outline::Pos;
pub use sd::{LookupError, NoLookups, SdResolver};

use crate::engine::spec::{JobSettings, TargetSpec};
use discovery::discover;
use prometheus::parse_prometheus;
use targets::plan_sources;

/// Where something was written: file, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    /// The file.
    pub file: PathBuf,
    /// Line and column.
    pub pos: Pos,
}

/// A configuration that cannot be used. `Display` names the file, line and column and quotes
/// the offending value; every message passes through [`crate::redact::text`] when shown, so
/// nothing written in a source reaches an error unredacted, whoever built the message.
#[derive(thiserror::Error)]
pub enum ConfigError {
    /// An error at a known place in a file.
    #[error("{}:{line}:{column}: {}", file.display(), crate::redact::text(msg))]
    At {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, quoting the value.
        msg: String,
    },
    /// An error about a whole file (unreadable, or no position known).
    #[error("{}: {}", file.display(), crate::redact::text(msg))]
    File {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// An error in command-line values (`--target`, `--interval`, `--timeout`).
    #[error("{}", crate::redact::text(.0))]
    Args(String),
}

/// Debug output is the redacted message too: a `{:?}` in a log must not leak what `Display`
/// hides.
impl std::fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConfigError({:?})", self.to_string())
    }
}

impl ConfigError {
    /// The one constructor of errors in a file: at `pos` when known, else about the whole file.
    pub(crate) fn located(file: &Path, pos: Option<Pos>, msg: impl Into<String>) -> Self {
        match pos {
            Some(p) => ConfigError::At {
                file: file.to_owned(),
                line: p.line,
                column: p.column,
                msg: msg.into(),
            },
            None => ConfigError::File {
                file: file.to_owned(),
                msg: msg.into(),
            },
        }
    }

    /// An error at `loc`.
    pub(crate) fn at(loc: &Loc, msg: impl Into<String>) -> Self {
        Self::located(&loc.file, Some(loc.pos), msg)
    }
}

/// Which Prometheus scrapetop behaves as (`--compat 2|3`): for configurations, which label
/// names are valid (Prometheus 3 accepts any UTF-8, Prometheus 2 only `[a-zA-Z_][a-zA-Z0-9_]*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compat {
    /// Prometheus 2.40 and later 2.x.
    V2,
    /// Prometheus 3.x (the default).
    #[default]
    V3,
}

impl From<Compat> for crate::expo::Compat {
    /// The same choice for reading pages.
    fn from(c: Compat) -> Self {
        match c {
            Compat::V2 => crate::expo::Compat::V2,
            Compat::V3 => crate::expo::Compat::V3,
        }
    }
}

impl std::str::FromStr for Compat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "2" => Ok(Compat::V2),
            "3" => Ok(Compat::V3),
            other => Err(format!("{other:?}: expected 2 or 3")),
        }
    }
}

impl std::fmt::Display for Compat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compat::V2 => "2",
            Compat::V3 => "3",
        })
    }
}

/// Where targets come from (the command line's view).
#[derive(Debug, Clone, Default)]
pub struct SourceArgs {
    /// `--config prometheus.yml`.
    pub config: Option<PathBuf>,
    /// `--targets FILE` (plain list or file_sd JSON/YAML), one job per file named after its stem.
    pub targets_files: Vec<PathBuf>,
    /// `--target host:port|URL`, forming the job `targets`.
    pub targets: Vec<String>,
    /// `--interval` for the command-line jobs (default 1m).
    pub interval: Option<Duration>,
    /// `--timeout` for the command-line jobs (default min(10s, interval)).
    pub timeout: Option<Duration>,
    /// `--compat`: which Prometheus's validation rules apply (default 3).
    pub compat: Compat,
}

/// Everything the sources describe.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Targets to scrape, in job order then discovery order. Targets of one job share one
    /// `Arc<JobSettings>`, except those whose interval or timeout relabelling changed.
    pub targets: Vec<TargetSpec>,
    /// Things to tell the operator once (`ignored: …`, failed dns_sd lookups, empty globs).
    pub notices: Vec<String>,
    /// file_sd patterns and `--targets` files: a change means the targets may have changed.
    pub watch: watch::Watched,
    /// The shortest dns_sd `refresh_interval`, if any job uses dns_sd.
    pub dns_sd_refresh: Option<Duration>,
}

/// A job after discovery, as `scrapetop check` lists it.
#[derive(Debug, Clone)]
pub(crate) struct JobReport {
    pub settings: Arc<JobSettings>,
    pub targets: Vec<TargetSpec>,
    pub dropped: usize,
    pub sd: Vec<String>,
    /// dns_sd is configured but no lookups were made (check mode).
    pub dns_unresolved: bool,
}

/// Read every source, run discovery (file_sd reads, dns_sd lookups through `sd`) and
/// relabelling, and return the targets. Nothing is printed; notices are returned.
pub async fn load(args: &SourceArgs, sd: &impl SdResolver) -> Result<Loaded, ConfigError> {
    let (plans, mut notices) = plan_sources(args)?;
    let mut loaded = Loaded::default();
    let mut watch = watch::Watched::default();
    for f in &args.targets_files {
        watch.add(f.clone(), watch::DEFAULT_REFRESH);
    }
    for plan in &plans {
        let report = discover(plan, Some(sd), &mut notices, &mut watch).await?;
        loaded.targets.extend(report.targets);
        for d in &plan.dns_sd {
            loaded.dns_sd_refresh = Some(
                loaded
                    .dns_sd_refresh
                    .map_or(d.refresh, |r: Duration| r.min(d.refresh)),
            );
        }
    }
    loaded.notices = notices.iter().map(|n| crate::redact::text(n)).collect();
    watch.seal();
    loaded.watch = watch;
    Ok(loaded)
}

/// Validate one Prometheus configuration and list its jobs without DNS lookups.
pub(crate) async fn check_file(
    path: &Path,
    compat: Compat,
) -> Result<(Vec<JobReport>, Vec<String>), ConfigError> {
    let (plans, mut notices) = parse_prometheus(path, compat)?;
    let mut reports = Vec::new();
    let mut watch = watch::Watched::default();
    for plan in &plans {
        reports.push(discover(plan, None::<&NoLookups>, &mut notices, &mut watch).await?);
    }
    let notices = notices.iter().map(|n| crate::redact::text(n)).collect();
    Ok((reports, notices))
}

/// `p` relative to `dir` unless absolute, as Prometheus resolves paths in a config file.
fn resolve(dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_owned()
    } else {
        dir.join(p)
    }
}
