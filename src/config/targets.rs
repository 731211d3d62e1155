//! Jobs and their targets: the command line's target lists and `--target`, and the
//! construction of one target from a discovered address, as Prometheus's `PopulateLabels`.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::discovery::DnsPlan;
use super::prometheus::parse_prometheus;
use super::relabel::{self, Labels, Rule};
use super::sd::{self, Format, Group};
use super::units::{self, format_duration};
use super::{Compat, ConfigError, Loc, SourceArgs, files};
use crate::engine::spec::{JobSettings, Scheme, TargetSpec, invalid_host, split_host_port};
use crate::redact::quote;

/// A job as configured, before discovery.
#[derive(Debug, Clone)]
pub(super) struct JobPlan {
    pub(super) settings: Arc<JobSettings>,
    pub(super) scheme: String,
    pub(super) metrics_path: String,
    pub(super) params: BTreeMap<String, Vec<String>>,
    pub(super) rules: Vec<Rule>,
    pub(super) groups: Vec<Group>,
    pub(super) file_sd: Vec<(Vec<PathBuf>, Duration)>,
    pub(super) dns_sd: Vec<DnsPlan>,
    /// Command-line targets (plain lists, `--target`): parsed as given, URLs allowed.
    pub(super) plain: Vec<(String, Option<Loc>)>,
    /// Whose label-name rules apply to discovered groups.
    pub(super) compat: Compat,
    /// A command-line source: a malformed written target is an error, not a skipped target.
    pub(super) strict: bool,
}

impl JobPlan {
    pub(super) fn new(settings: JobSettings) -> Self {
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
            compat: Compat::default(),
            strict: false,
        }
    }
}

pub(super) fn plan_sources(args: &SourceArgs) -> Result<(Vec<JobPlan>, Vec<String>), ConfigError> {
    let (mut plans, notices) = match &args.config {
        Some(p) => parse_prometheus(p, args.compat)?,
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
        s.compat = args.compat.into();
        let mut plan = JobPlan::new(s);
        plan.compat = args.compat;
        plan.strict = true;
        plan
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
            f => plan.groups = sd::parse_sd_file(file, &text, f, args.compat)?,
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

/// Build one target from a discovered address and its group's labels, as Prometheus's
/// `PopulateLabels` does. `Ok(None)`: dropped by relabelling.
pub(super) fn populate(
    plan: &JobPlan,
    group: &Labels,
    addr: &str,
) -> Result<Option<TargetSpec>, String> {
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
        Some(other) => {
            return Err(format!(
                "unsupported protocol scheme {}: http and https only",
                quote(other)
            ));
        }
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

    let (interval, timeout) = target_timing(&lb)?;
    lb.retain(|k, _| !k.starts_with("__meta_"));
    if lb.get("instance").is_none_or(String::is_empty) {
        lb.insert("instance".into(), addr.clone());
    }

    let path_and_query = url_path(&plan.params, &lb);
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

/// `__scrape_interval__` and `__scrape_timeout__` after relabelling, checked as Prometheus does.
fn target_timing(lb: &Labels) -> Result<(Duration, Duration), String> {
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
    Ok((interval, timeout))
}

/// The request's path and query: `__metrics_path__`, the job's `params` overridden by
/// `__param_<name>` labels, escaped as Go's URL type would.
fn url_path(job_params: &BTreeMap<String, Vec<String>>, lb: &Labels) -> String {
    let mut path = lb.get("__metrics_path__").cloned().unwrap_or_default();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let mut params = job_params.clone();
    for (k, v) in lb {
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
    if query.is_empty() {
        escape_path(&path)
    } else {
        format!("{}?{}", escape_path(&path), query.join("&"))
    }
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
