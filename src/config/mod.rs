//! Target lists: a Prometheus configuration file, file_sd files, plain lists and `--target`,
//! turned into [`TargetSpec`]s exactly as Prometheus would build its scrape targets.
//!
//! Strict like Prometheus: unknown keys, wrong types, duplicate job names, a timeout above the
//! interval and invalid addresses are errors that name the file, line, column and value.
//! Sections scrapetop does not use are accepted and reported as notices `ignored: …`.
//! Secrets are read into [`crate::engine::spec::Secret`] and never printed.

pub mod check;
mod files;
mod outline;
mod prom;
pub mod relabel;
pub mod sd;
pub mod units;
pub mod watch;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use check::check_main;
pub use files::MAX_FILE_BYTES;
pub use outline::Pos;
pub use sd::{NoLookups, SdResolver};

use crate::engine::spec::{
    Auth, JobSettings, Scheme, Secret, TargetSpec, TlsSettings, invalid_host, split_host_port,
};
use crate::redact::quote;
use outline::{Outline, Span};
use prom::{RawConfig, RawScrapeConfig, RawTls};
use relabel::{Labels, Rule, is_label_name};
use sd::{DnsKind, Format, Group};
use units::format_duration;

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
#[derive(Debug, thiserror::Error)]
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

/// A dns_sd_configs entry, validated.
#[derive(Debug, Clone)]
struct DnsPlan {
    names: Vec<String>,
    kind: DnsKind,
    port: u16,
    refresh: Duration,
}

/// A job as configured, before discovery.
#[derive(Debug, Clone)]
struct JobPlan {
    settings: Arc<JobSettings>,
    scheme: String,
    metrics_path: String,
    params: BTreeMap<String, Vec<String>>,
    rules: Vec<Rule>,
    groups: Vec<Group>,
    file_sd: Vec<(Vec<PathBuf>, Duration)>,
    dns_sd: Vec<DnsPlan>,
    /// Command-line targets (plain lists, `--target`): parsed as given, URLs allowed.
    plain: Vec<(String, Option<Loc>)>,
}

impl JobPlan {
    fn new(settings: JobSettings) -> Self {
        JobPlan {
            settings: Arc::new(settings),
            scheme: "http".into(),
            metrics_path: "/metrics".into(),
            params: BTreeMap::new(),
            rules: Vec::new(),
            groups: Vec::new(),
            file_sd: Vec::new(),
            dns_sd: Vec::new(),
            plain: Vec::new(),
        }
    }
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
    loaded.watch = watch;
    Ok(loaded)
}

/// Validate one Prometheus configuration and list its jobs without DNS lookups.
pub(crate) async fn check_file(path: &Path) -> Result<(Vec<JobReport>, Vec<String>), ConfigError> {
    let (plans, mut notices) = parse_prometheus(path)?;
    let mut reports = Vec::new();
    let mut watch = watch::Watched::default();
    for plan in &plans {
        reports.push(discover(plan, None::<&NoLookups>, &mut notices, &mut watch).await?);
    }
    let notices = notices.iter().map(|n| crate::redact::text(n)).collect();
    Ok((reports, notices))
}

fn plan_sources(args: &SourceArgs) -> Result<(Vec<JobPlan>, Vec<String>), ConfigError> {
    let (mut plans, notices) = match &args.config {
        Some(p) => parse_prometheus(p)?,
        None => (Vec::new(), Vec::new()),
    };
    let interval = args.interval.unwrap_or(Duration::from_secs(60));
    if interval.is_zero() {
        return Err(ConfigError::Args("--interval must be above 0".into()));
    }
    let timeout = args
        .timeout
        .unwrap_or_else(|| Duration::from_secs(10).min(interval));
    if timeout > interval {
        return Err(ConfigError::Args(format!(
            "--timeout {} is above --interval {}: Prometheus refuses a scrape timeout greater than the scrape interval",
            format_duration(timeout),
            format_duration(interval)
        )));
    }
    if timeout.is_zero() {
        return Err(ConfigError::Args("--timeout must be above 0".into()));
    }
    let cli_job = |name: &str| {
        let mut s = JobSettings::new(name);
        s.interval = interval;
        s.timeout = timeout;
        JobPlan::new(s)
    };
    let mut names: HashSet<String> = plans.iter().map(|p| p.settings.name.to_string()).collect();
    let mut add = |plan: JobPlan, plans: &mut Vec<JobPlan>, from: &str| {
        if !names.insert(plan.settings.name.to_string()) {
            return Err(ConfigError::Args(format!(
                "job name {:?} from {from} is already used by another source",
                plan.settings.name
            )));
        }
        plans.push(plan);
        Ok(())
    };
    for file in &args.targets_files {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty())
            .unwrap_or("targets");
        let text = files::read_source(file, "target list")?;
        let mut plan = cli_job(name);
        match sd::detect(&text) {
            Format::Plain => {
                plan.plain = sd::parse_plain(file, &text)
                    .into_iter()
                    .map(|(t, l)| (t, Some(l)))
                    .collect();
            }
            f => plan.groups = sd::parse_sd_file(file, &text, f)?,
        }
        add(plan, &mut plans, &format!("--targets {}", file.display()))?;
    }
    if !args.targets.is_empty() {
        let mut plan = cli_job("targets");
        plan.plain = args.targets.iter().map(|t| (t.clone(), None)).collect();
        add(plan, &mut plans, "--target")?;
    }
    Ok((plans, notices))
}

fn resolve(dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_owned()
    } else {
        dir.join(p)
    }
}

/// Parse and validate a prometheus.yml into job plans and notices.
fn parse_prometheus(path: &Path) -> Result<(Vec<JobPlan>, Vec<String>), ConfigError> {
    let text = files::read_source(path, "config")?;
    let raw: RawConfig = if text.trim().is_empty() {
        RawConfig::default()
    } else {
        serde_yaml::from_str(&text).map_err(|e| {
            let err = sd::yaml_error(path, &e);
            if e.to_string().contains("expected struct RawConfig") {
                // A target list (or anything but a mapping) given as a configuration.
                ConfigError::located(
                    path,
                    None,
                    "not a Prometheus configuration (a YAML mapping with scrape_configs): a list of targets goes to --targets",
                )
            } else {
                err
            }
        })?
    };
    let dir = path.parent().unwrap_or(Path::new("")).to_owned();
    let o = Outline::new(&text);
    let loc = |span: Span, key: &str| -> Loc {
        let pos = o
            .key(span, key)
            .map(|(_, p)| p)
            .unwrap_or_else(|| o.start(span));
        Loc {
            file: path.to_owned(),
            pos,
        }
    };
    let mut notices: Vec<String> = raw
        .ignored_sections()
        .iter()
        .map(|s| format!("ignored: {s} (scrapetop only scrapes targets)"))
        .collect();

    let global = raw.global.unwrap_or_default();
    let gspan = o
        .key(o.all(), "global")
        .map(|(l, _)| o.block(l))
        .unwrap_or(o.all());
    let g_interval = global
        .scrape_interval
        .map(|d| d.0)
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(60));
    let g_timeout = match global.scrape_timeout.map(|d| d.0).filter(|d| !d.is_zero()) {
        Some(t) => {
            if t > g_interval {
                return Err(ConfigError::at(
                    &loc(gspan, "scrape_timeout"),
                    format!(
                        "global scrape timeout {} greater than scrape interval {}",
                        format_duration(t),
                        format_duration(g_interval)
                    ),
                ));
            }
            t
        }
        None => Duration::from_secs(10).min(g_interval),
    };
    for name in global.external_labels.iter().flatten().map(|(k, _)| k) {
        if !is_label_name(name) {
            return Err(ConfigError::at(
                &loc(gspan, name),
                format!("{name:?} is not a valid label name"),
            ));
        }
    }

    let raw_jobs = raw.scrape_configs.unwrap_or_default();
    let mut spans = o.seq(o.all(), "scrape_configs");
    if spans.len() != raw_jobs.len() {
        // Flow-style YAML: point at the whole document rather than at a wrong job.
        spans = vec![o.all(); raw_jobs.len()];
    }
    let mut seen = HashSet::new();
    let mut plans = Vec::new();
    for (j, span) in raw_jobs.into_iter().zip(spans) {
        let job_loc = loc(span, "job_name");
        let name = j.job_name.clone();
        if name.is_empty() {
            return Err(ConfigError::at(&job_loc, "job_name is empty"));
        }
        if !seen.insert(name.clone()) {
            return Err(ConfigError::at(
                &job_loc,
                format!("found multiple scrape configs with job name {name:?}"),
            ));
        }
        let interval = j
            .scrape_interval
            .map(|d| d.0)
            .filter(|d| !d.is_zero())
            .unwrap_or(g_interval);
        let timeout = match j.scrape_timeout.map(|d| d.0).filter(|d| !d.is_zero()) {
            Some(t) => t,
            None => g_timeout.min(interval),
        };
        if timeout > interval {
            return Err(ConfigError::at(
                &loc(span, "scrape_timeout"),
                format!(
                    "scrape timeout {} greater than scrape interval {} for scrape config with job name {name:?}",
                    format_duration(timeout),
                    format_duration(interval)
                ),
            ));
        }
        let scheme = j.scheme.clone().unwrap_or_else(|| "http".into());
        if scheme != "http" && scheme != "https" {
            return Err(ConfigError::at(
                &loc(span, "scheme"),
                format!("invalid scheme {scheme:?}: must be http or https"),
            ));
        }
        for key in j.ignored_keys() {
            notices.push(format!("ignored: {key} in job {name:?}"));
        }
        if j.enable_http2 == Some(true) {
            notices.push(format!(
                "ignored: enable_http2 in job {name:?} (scrapetop speaks HTTP/1.1)"
            ));
        }
        let mut settings = JobSettings::new(&name);
        settings.interval = interval;
        settings.timeout = timeout;
        settings.body_size_limit = j
            .body_size_limit
            .or(global.body_size_limit)
            .map_or(0, |b| b.0);
        settings.sample_limit = j.sample_limit.or(global.sample_limit).unwrap_or(0);
        settings.follow_redirects = j.follow_redirects.unwrap_or(true);
        settings.auth = build_auth(&j, &dir, &|k| loc(span, k))?;
        let (tls, tls_notices) = build_tls(j.tls_config.as_ref(), &dir, &|k| loc(span, k))?;
        settings.tls = tls;
        notices.extend(
            tls_notices
                .into_iter()
                .map(|n| format!("{n} in job {name:?}")),
        );

        let mut plan = JobPlan::new(settings);
        plan.scheme = scheme;
        plan.metrics_path = j.metrics_path.clone().unwrap_or_else(|| "/metrics".into());
        plan.params = j.params.clone().unwrap_or_default();
        let rule_spans = o.seq(span, "relabel_configs");
        for (i, rc) in j.relabel_configs.iter().flatten().enumerate() {
            let rule = rc.validate().map_err(|m| {
                let pos = rule_spans
                    .get(i)
                    .map(|s| o.start(*s))
                    .unwrap_or_else(|| loc(span, "relabel_configs").pos);
                ConfigError::located(path, Some(pos), m)
            })?;
            plan.rules.push(rule);
        }
        let group_spans = o.seq(span, "static_configs");
        for (i, g) in j.static_configs.iter().flatten().enumerate() {
            let gspan = group_spans.get(i).copied().unwrap_or(span);
            for k in g.labels.keys() {
                if !is_label_name(k) {
                    return Err(ConfigError::at(
                        &loc(gspan, k),
                        format!("{k:?} is not a valid label name"),
                    ));
                }
            }
            let mut targets = Vec::new();
            for t in &g.targets {
                let tloc = Loc {
                    file: path.to_owned(),
                    pos: o
                        .value(gspan, t)
                        .unwrap_or_else(|| loc(gspan, "targets").pos),
                };
                // Prometheus refuses URLs in static targets unless relabelling may fix them.
                if j.relabel_configs.as_ref().is_none_or(Vec::is_empty) && t.contains('/') {
                    return Err(ConfigError::at(
                        &tloc,
                        format!("{} is not a valid hostname", quote(t)),
                    ));
                }
                targets.push((t.clone(), Some(tloc)));
            }
            plan.groups.push(Group {
                targets,
                labels: g.labels.clone(),
            });
        }
        let file_spans = o.seq(span, "file_sd_configs");
        for (i, f) in j.file_sd_configs.iter().flatten().enumerate() {
            let fspan = file_spans.get(i).copied().unwrap_or(span);
            if f.files.is_empty() {
                return Err(ConfigError::at(
                    &loc(fspan, "files"),
                    "file service discovery config must contain at least one path name",
                ));
            }
            let mut pats = Vec::new();
            for p in &f.files {
                if !sd::valid_sd_pattern(p) {
                    let pos = o.value(fspan, p).unwrap_or_else(|| loc(fspan, "files").pos);
                    return Err(ConfigError::located(
                        path,
                        Some(pos),
                        format!("path name {p:?} is not valid for file discovery"),
                    ));
                }
                pats.push(resolve(&dir, p));
            }
            let refresh = f.refresh_interval.map_or(Duration::from_secs(300), |d| d.0);
            plan.file_sd.push((pats, refresh));
        }
        let dns_spans = o.seq(span, "dns_sd_configs");
        for (i, d) in j.dns_sd_configs.iter().flatten().enumerate() {
            let dspan = dns_spans.get(i).copied().unwrap_or(span);
            if d.names.is_empty() {
                return Err(ConfigError::at(
                    &loc(dspan, "names"),
                    "DNS-SD config must contain at least one SRV record name",
                ));
            }
            let t = d.kind.clone().unwrap_or_else(|| "SRV".into());
            let kind = match t.to_ascii_uppercase().as_str() {
                "SRV" => DnsKind::Srv,
                "A" => DnsKind::A,
                "AAAA" => DnsKind::Aaaa,
                "MX" | "NS" => {
                    notices.push(format!(
                        "ignored: dns_sd_configs of type {t} in job {name:?} (scrapetop resolves SRV, A and AAAA)"
                    ));
                    continue;
                }
                _ => {
                    return Err(ConfigError::at(
                        &loc(dspan, "type"),
                        format!("invalid DNS-SD records type {t:?}"),
                    ));
                }
            };
            let port = match (kind, d.port) {
                (DnsKind::Srv, p) => p.unwrap_or(0),
                (_, Some(p)) if p != 0 => p,
                _ => {
                    return Err(ConfigError::at(
                        &loc(dspan, "names"),
                        "a port is required in DNS-SD configs for all record types except SRV",
                    ));
                }
            };
            plan.dns_sd.push(DnsPlan {
                names: d.names.clone(),
                kind,
                port,
                refresh: d.refresh_interval.map_or(Duration::from_secs(30), |r| r.0),
            });
        }
        plans.push(plan);
    }
    Ok((plans, notices))
}

fn read_secret(
    dir: &Path,
    file: &str,
    key: &str,
    at: &dyn Fn(&str) -> Loc,
) -> Result<Secret, ConfigError> {
    let p = resolve(dir, file);
    files::read_bounded(&p, key)
        .map(|s| Secret::new(s.trim()))
        .map_err(|e| {
            ConfigError::at(
                &at(key),
                format!(
                    "reading {key} {:?}: {}",
                    p.display().to_string(),
                    e.msg.trim_start_matches(&format!("reading {key}: "))
                ),
            )
        })
}

fn build_auth(
    j: &RawScrapeConfig,
    dir: &Path,
    at: &dyn Fn(&str) -> Loc,
) -> Result<Auth, ConfigError> {
    let basic = j.basic_auth.is_some();
    let authz = j.authorization.is_some();
    let oauth = j.oauth2.is_some();
    let bearer = j.bearer_token.is_some() || j.bearer_token_file.is_some();
    // The second of two conflicting keys is the one to point at.
    let last = |keys: &[(&str, bool)]| {
        keys.iter()
            .filter(|(_, present)| *present)
            .map(|(k, _)| at(k))
            .max_by_key(|l| (l.pos.line, l.pos.column))
            .unwrap_or_else(|| at("job_name"))
    };
    if [basic, authz, oauth].iter().filter(|b| **b).count() > 1 {
        return Err(ConfigError::at(
            &last(&[
                ("basic_auth", basic),
                ("authorization", authz),
                ("oauth2", oauth),
            ]),
            "at most one of basic_auth, oauth2 & authorization must be configured",
        ));
    }
    if j.bearer_token.is_some() && j.bearer_token_file.is_some() {
        return Err(ConfigError::at(
            &at("bearer_token"),
            "at most one of bearer_token & bearer_token_file must be configured",
        ));
    }
    if bearer && (basic || oauth) {
        return Err(ConfigError::at(
            &last(&[
                ("bearer_token", j.bearer_token.is_some()),
                ("bearer_token_file", j.bearer_token_file.is_some()),
                ("basic_auth", basic),
                ("oauth2", oauth),
            ]),
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ));
    }
    if bearer && authz {
        return Err(ConfigError::at(
            &at("authorization"),
            "authorization is not compatible with bearer_token & bearer_token_file",
        ));
    }
    if let Some(b) = &j.basic_auth {
        if b.username.is_some() && b.username_file.is_some() {
            return Err(ConfigError::at(
                &at("basic_auth"),
                "at most one of basic_auth username & username_file must be configured",
            ));
        }
        if b.password.is_some() && b.password_file.is_some() {
            return Err(ConfigError::at(
                &at("basic_auth"),
                "at most one of basic_auth password & password_file must be configured",
            ));
        }
        let username = match &b.username_file {
            Some(f) => read_secret(dir, f, "username_file", at)?
                .expose()
                .to_owned(),
            None => b.username.clone().unwrap_or_default(),
        };
        let password = match (&b.password, &b.password_file) {
            (Some(p), _) => p.0.clone(),
            (None, Some(f)) => read_secret(dir, f, "password_file", at)?,
            (None, None) => Secret::new(""),
        };
        return Ok(Auth::Basic { username, password });
    }
    if let Some(a) = &j.authorization {
        let kind = a.kind.clone().unwrap_or_else(|| "Bearer".into());
        if kind.eq_ignore_ascii_case("basic") {
            return Err(ConfigError::at(
                &at("authorization"),
                format!("authorization type cannot be set to {kind:?}, use \"basic_auth\" instead"),
            ));
        }
        if a.credentials.is_some() && a.credentials_file.is_some() {
            return Err(ConfigError::at(
                &at("authorization"),
                "at most one of authorization credentials & credentials_file must be configured",
            ));
        }
        let credentials = match (&a.credentials, &a.credentials_file) {
            (Some(c), _) => c.0.clone(),
            (None, Some(f)) => read_secret(dir, f, "credentials_file", at)?,
            (None, None) => Secret::new(""),
        };
        return Ok(Auth::Authorization { kind, credentials });
    }
    if let Some(t) = &j.bearer_token {
        return Ok(Auth::Authorization {
            kind: "Bearer".into(),
            credentials: t.0.clone(),
        });
    }
    if let Some(f) = &j.bearer_token_file {
        return Ok(Auth::Authorization {
            kind: "Bearer".into(),
            credentials: read_secret(dir, f, "bearer_token_file", at)?,
        });
    }
    Ok(Auth::None)
}

fn build_tls(
    t: Option<&RawTls>,
    dir: &Path,
    at: &dyn Fn(&str) -> Loc,
) -> Result<(TlsSettings, Vec<String>), ConfigError> {
    let Some(t) = t else {
        return Ok((TlsSettings::default(), Vec::new()));
    };
    let mut notices = Vec::new();
    let inline = [
        ("ca", t.ca.is_some()),
        ("cert", t.cert.is_some()),
        ("key", t.key.is_some()),
        ("ca_ref", t.ca_ref.is_some()),
        ("cert_ref", t.cert_ref.is_some()),
        ("key_ref", t.key_ref.is_some()),
    ];
    if let Some((k, _)) = inline.iter().find(|(_, y)| *y) {
        return Err(ConfigError::at(
            &at(k),
            format!(
                "tls_config {k} is not supported by scrapetop: use ca_file, cert_file and key_file"
            ),
        ));
    }
    match (&t.cert_file, &t.key_file) {
        (Some(_), None) => {
            return Err(ConfigError::at(
                &at("cert_file"),
                "exactly one of key or key_file must be configured when a client certificate is configured",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::at(
                &at("key_file"),
                "exactly one of cert or cert_file must be configured when a client key is configured",
            ));
        }
        _ => {}
    }
    let file = |key: &str, v: &Option<String>| -> Result<Option<PathBuf>, ConfigError> {
        let Some(v) = v else { return Ok(None) };
        let p = resolve(dir, v);
        std::fs::metadata(&p).map_err(|e| {
            ConfigError::at(
                &at(key),
                format!("{key} {:?}: {e}", p.display().to_string()),
            )
        })?;
        Ok(Some(p))
    };
    let min_version = match t.min_version.as_deref() {
        None => None,
        Some(v @ ("TLS12" | "TLS13")) => Some(v.to_owned()),
        Some(v @ ("TLS10" | "TLS11")) => {
            notices.push(format!(
                "min_version {v} raised to TLS12 (rustls speaks TLS 1.2 and 1.3 only)"
            ));
            Some("TLS12".to_owned())
        }
        Some(v) => {
            return Err(ConfigError::at(
                &at("min_version"),
                format!("unknown TLS version: {v:?}"),
            ));
        }
    };
    if t.max_version.is_some() {
        notices.push("ignored: tls_config max_version".to_owned());
    }
    Ok((
        TlsSettings {
            ca_file: file("ca_file", &t.ca_file)?,
            cert_file: file("cert_file", &t.cert_file)?,
            key_file: file("key_file", &t.key_file)?,
            server_name: t.server_name.clone().filter(|s| !s.is_empty()),
            insecure_skip_verify: t.insecure_skip_verify.unwrap_or(false),
            min_version,
        },
        notices,
    ))
}

fn sd_format(path: &Path) -> Format {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ext == "json" {
        Format::Json
    } else {
        Format::Yaml
    }
}

/// Run discovery for one job and build its targets.
async fn discover<R: SdResolver>(
    plan: &JobPlan,
    sd: Option<&R>,
    notices: &mut Vec<String>,
    watch: &mut watch::Watched,
) -> Result<JobReport, ConfigError> {
    let job = &plan.settings.name;
    let mut groups = plan.groups.clone();
    let mut descr = Vec::new();
    for (patterns, refresh) in &plan.file_sd {
        for pat in patterns {
            watch.add(pat.clone(), *refresh);
            let files = sd::expand_glob(pat);
            if files.is_empty() {
                notices.push(format!(
                    "file_sd in job {job:?}: no file matches {}",
                    pat.display()
                ));
            }
            for f in files {
                let text = files::read_source(&f, "file_sd file")?;
                groups.extend(sd::parse_sd_file(&f, &text, sd_format(&f))?);
            }
        }
        let pats: Vec<String> = patterns.iter().map(|p| p.display().to_string()).collect();
        descr.push(format!(
            "file_sd {} (refresh {})",
            pats.join(", "),
            format_duration(*refresh)
        ));
    }
    for d in &plan.dns_sd {
        for name in &d.names {
            if let Some(r) = sd {
                match sd::dns_groups(r, name, d.kind, d.port).await {
                    Ok(g) => groups.extend(g),
                    Err(e) => notices.push(format!(
                        "dns_sd in job {job:?}: {} lookup of {name} failed: {e}",
                        d.kind.as_str()
                    )),
                }
            }
        }
        let port = if d.kind == DnsKind::Srv {
            String::new()
        } else {
            format!(" port {}", d.port)
        };
        descr.push(format!(
            "dns_sd {} {}{port} (refresh {})",
            d.kind.as_str(),
            d.names.join(", "),
            format_duration(d.refresh)
        ));
    }

    let mut report = JobReport {
        settings: plan.settings.clone(),
        targets: Vec::new(),
        dropped: 0,
        sd: descr,
        dns_unresolved: sd.is_none() && !plan.dns_sd.is_empty(),
    };
    let mut seen = HashSet::new();
    let mut push = |t: TargetSpec, report: &mut JobReport| {
        if seen.insert((t.url(), t.labels.clone())) {
            report.targets.push(t);
        }
    };
    for (addr, loc) in &plan.plain {
        let mut t = TargetSpec::parse(addr, plan.settings.clone()).map_err(|m| match loc {
            Some(l) => ConfigError::at(l, m),
            None => ConfigError::Args(format!("--target: {m}")),
        })?;
        t.labels.insert("job".into(), job.to_string());
        t.labels.insert("instance".into(), t.instance.clone());
        push(t, &mut report);
    }
    for (i, g) in groups.iter().enumerate() {
        // Targets written in the configuration or a --targets file are errors when invalid;
        // discovered ones (file_sd, dns_sd) are skipped with a notice, as Prometheus logs
        // and skips them.
        let written = i < plan.groups.len();
        for (addr, loc) in &g.targets {
            match populate(plan, &g.labels, addr) {
                Ok(Some(t)) => push(t, &mut report),
                Ok(None) => report.dropped += 1,
                Err(m) => match loc {
                    Some(l) if written => {
                        return Err(ConfigError::at(l, format!("job {job:?}: {m}")));
                    }
                    Some(l) => notices.push(format!(
                        "{}:{}:{}: skipped target {} of job {job:?}: {m}",
                        l.file.display(),
                        l.pos.line,
                        l.pos.column,
                        quote(addr)
                    )),
                    None => notices.push(format!(
                        "skipped target {} of job {job:?}: {m}",
                        quote(addr)
                    )),
                },
            }
        }
    }
    Ok(report)
}

/// Build one target from a discovered address and its group's labels, as Prometheus's
/// `PopulateLabels` does. `Ok(None)`: dropped by relabelling.
fn populate(plan: &JobPlan, group: &Labels, addr: &str) -> Result<Option<TargetSpec>, String> {
    let s = &plan.settings;
    let mut lb: Labels = group.clone();
    lb.insert("__address__".into(), addr.to_owned());
    let defaults = [
        ("job", s.name.to_string()),
        ("__scrape_interval__", format_duration(s.interval)),
        ("__scrape_timeout__", format_duration(s.timeout)),
        ("__metrics_path__", plan.metrics_path.clone()),
        ("__scheme__", plan.scheme.clone()),
    ];
    for (k, v) in defaults {
        if lb.get(k).is_none_or(String::is_empty) {
            lb.insert(k.into(), v);
        }
    }
    for (k, v) in &plan.params {
        let key = format!("__param_{k}");
        if let Some(first) = v.first()
            && lb.get(&key).is_none_or(String::is_empty)
        {
            lb.insert(key, first.clone());
        }
    }
    lb.retain(|_, v| !v.is_empty());
    if !relabel::process(&mut lb, &plan.rules) {
        return Ok(None);
    }
    let addr = lb.get("__address__").cloned().unwrap_or_default();
    if addr.is_empty() {
        return Err("no address".into());
    }
    let scheme = match lb.get("__scheme__").map(String::as_str) {
        Some("http") | None => Scheme::Http,
        Some("https") => Scheme::Https,
        Some(other) => return Err(format!("invalid scheme: {}", quote(other))),
    };
    if addr.contains('/') {
        return Err(format!("{} is not a valid hostname", quote(&addr)));
    }
    let (host, port) = split_host_port(&addr).ok_or_else(|| {
        let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
        match invalid_host(host) {
            Some(why) if !addr.starts_with('[') && !addr.contains('@') => {
                format!("invalid target address {}: {why}", quote(&addr))
            }
            _ => format!(
                "invalid target address {}: expected host:port",
                quote(&addr)
            ),
        }
    })?;
    let port = port.unwrap_or_else(|| scheme.default_port());
    let addr = sd::join_host_port(host, port);
    lb.insert("__address__".into(), addr.clone());

    let interval_s = lb.get("__scrape_interval__").cloned().unwrap_or_default();
    let interval = units::parse_duration(&interval_s)
        .map_err(|e| format!("error parsing scrape interval: {e}"))?;
    if interval.is_zero() {
        return Err("scrape interval cannot be 0".into());
    }
    let timeout_s = lb.get("__scrape_timeout__").cloned().unwrap_or_default();
    let timeout = units::parse_duration(&timeout_s)
        .map_err(|e| format!("error parsing scrape timeout: {e}"))?;
    if timeout.is_zero() {
        return Err("scrape timeout cannot be 0".into());
    }
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({timeout_s:?} > {interval_s:?})"
        ));
    }
    lb.retain(|k, _| !k.starts_with("__meta_"));
    if lb.get("instance").is_none_or(String::is_empty) {
        lb.insert("instance".into(), addr.clone());
    }

    let mut path = lb.get("__metrics_path__").cloned().unwrap_or_default();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let mut params = plan.params.clone();
    for (k, v) in &lb {
        if let Some(name) = k.strip_prefix("__param_") {
            let e = params.entry(name.to_owned()).or_default();
            match e.first_mut() {
                Some(first) => v.clone_into(first),
                None => e.push(v.clone()),
            }
        }
    }
    let query: Vec<String> = params
        .iter()
        .flat_map(|(k, vs)| {
            vs.iter()
                .map(move |v| format!("{}={}", query_escape(k), query_escape(v)))
        })
        .collect();
    let path_and_query = if query.is_empty() {
        escape_path(&path)
    } else {
        format!("{}?{}", escape_path(&path), query.join("&"))
    };
    let job = if interval == s.interval && timeout == s.timeout {
        s.clone()
    } else {
        let mut js = (**s).clone();
        js.interval = interval;
        js.timeout = timeout;
        Arc::new(js)
    };
    let labels: BTreeMap<String, String> = lb
        .iter()
        .filter(|(k, _)| !k.starts_with("__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Some(TargetSpec {
        job,
        instance: labels.get("instance").cloned().unwrap_or_default(),
        scheme,
        host: host.to_owned(),
        port,
        path_and_query,
        labels,
    }))
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Escape the characters that would end a URL path.
fn escape_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            ' ' => out.push_str("%20"),
            c => out.push(c),
        }
    }
    out
}
