//! Discovery: `file_sd_configs` and `dns_sd_configs` validated into plans, then run (files
//! read, names resolved) and every discovered address turned into a target.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use super::prometheus::Doc;
use super::raw::RawScrapeConfig;
use super::sd::{self, DnsKind, Format, Group, SdResolver};
use super::targets::{JobPlan, populate};
use super::units::format_duration;
use super::watch::{DEFAULT_REFRESH, Watched};
use super::{ConfigError, JobReport, files, resolve};
use crate::engine::spec::TargetSpec;
use crate::redact::quote;

/// A dns_sd_configs entry, validated.
#[derive(Debug, Clone)]
pub(super) struct DnsPlan {
    pub names: Vec<String>,
    pub kind: DnsKind,
    pub port: u16,
    pub refresh: Duration,
}

/// `file_sd_configs` of a job: patterns (resolved against the config's directory) and refresh.
pub(super) fn file_sd_plans(
    doc: &Doc<'_>,
    j: &RawScrapeConfig,
    span: super::outline::Span,
) -> Result<Vec<(Vec<std::path::PathBuf>, Duration)>, ConfigError> {
    let file_spans = doc.o.seq(span, "file_sd_configs");
    let mut out = Vec::new();
    for (i, f) in j.file_sd_configs.iter().flatten().enumerate() {
        let fspan = file_spans.get(i).copied().unwrap_or(span);
        if f.files.is_empty() {
            return Err(ConfigError::at(
                &doc.loc(fspan, "files"),
                "file service discovery config must contain at least one path name",
            ));
        }
        let mut pats = Vec::new();
        for p in &f.files {
            if !sd::valid_sd_pattern(p) {
                return Err(ConfigError::at(
                    &doc.value_loc(fspan, p, "files"),
                    format!("path name {p:?} is not valid for file discovery"),
                ));
            }
            pats.push(resolve(&doc.dir, p));
        }
        let refresh = f.refresh_interval.map_or(DEFAULT_REFRESH, |d| d.0);
        out.push((pats, refresh));
    }
    Ok(out)
}

/// `dns_sd_configs` of a job, validated.
pub(super) fn dns_sd_plans(
    doc: &Doc<'_>,
    j: &RawScrapeConfig,
    span: super::outline::Span,
    notices: &mut Vec<String>,
) -> Result<Vec<DnsPlan>, ConfigError> {
    let name = &j.job_name;
    let dns_spans = doc.o.seq(span, "dns_sd_configs");
    let mut out = Vec::new();
    for (i, d) in j.dns_sd_configs.iter().flatten().enumerate() {
        let dspan = dns_spans.get(i).copied().unwrap_or(span);
        if d.names.is_empty() {
            return Err(ConfigError::at(
                &doc.loc(dspan, "names"),
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
                    &doc.loc(dspan, "type"),
                    format!("invalid DNS-SD records type {t:?}"),
                ));
            }
        };
        let port = match (kind, d.port) {
            (DnsKind::Srv, p) => p.unwrap_or(0),
            (_, Some(p)) if p != 0 => p,
            _ => {
                return Err(ConfigError::at(
                    &doc.loc(dspan, "names"),
                    "a port is required in DNS-SD configs for all record types except SRV",
                ));
            }
        };
        out.push(DnsPlan {
            names: d.names.clone(),
            kind,
            port,
            refresh: d.refresh_interval.map_or(Duration::from_secs(30), |r| r.0),
        });
    }
    Ok(out)
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
pub(super) async fn discover<R: SdResolver>(
    plan: &JobPlan,
    sd: Option<&R>,
    notices: &mut Vec<String>,
    watch: &mut Watched,
) -> Result<JobReport, ConfigError> {
    let (groups, descr) = run_sd(plan, sd, notices, watch).await?;
    let report = JobReport {
        settings: plan.settings.clone(),
        targets: Vec::new(),
        dropped: 0,
        sd: descr,
        dns_unresolved: sd.is_none() && !plan.dns_sd.is_empty(),
    };
    build_targets(plan, &groups, report, notices)
}

/// Read the job's file_sd files and resolve its dns_sd names (when `sd` is given): the job's
/// groups, written ones first, and a line describing each discovery.
async fn run_sd<R: SdResolver>(
    plan: &JobPlan,
    sd: Option<&R>,
    notices: &mut Vec<String>,
    watch: &mut Watched,
) -> Result<(Vec<Group>, Vec<String>), ConfigError> {
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
                groups.extend(sd::parse_sd_file(&f, &text, sd_format(&f), plan.compat)?);
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
    Ok((groups, descr))
}

/// Every target of the job: command-line ones parsed as given, group ones relabelled.
fn build_targets(
    plan: &JobPlan,
    groups: &[Group],
    mut report: JobReport,
    notices: &mut Vec<String>,
) -> Result<JobReport, ConfigError> {
    let job = &plan.settings.name;
    let mut seen = HashSet::new();
    let mut push = |t: TargetSpec, report: &mut JobReport| {
        if seen.insert((t.url(), t.labels.clone())) {
            report.targets.push(t);
        }
    };
    for (addr, loc) in &plan.plain {
        let mut t = TargetSpec::parse(addr, plan.settings.clone()).map_err(|m| match loc {
            Some(l) => ConfigError::at(l, m.to_string()),
            None => ConfigError::Args(format!("--target: {m}")),
        })?;
        t.labels.insert("job".into(), job.to_string());
        t.labels.insert("instance".into(), t.instance.clone());
        push(t, &mut report);
    }
    for (i, g) in groups.iter().enumerate() {
        // Targets written in a --targets file are errors when invalid (scrapetop's own input,
        // refused at load); everywhere else they are skipped with a notice: Prometheus loads
        // a configuration whose static target is malformed and fails only that target, and
        // logs and skips a bad discovered one.
        let written = plan.strict && i < plan.groups.len();
        let static_target = !plan.strict && i < plan.groups.len();
        for (addr, loc) in &g.targets {
            match populate(plan, &g.labels, addr) {
                Ok(Some(t)) => push(t, &mut report),
                Ok(None) => report.dropped += 1,
                Err(m) => match loc {
                    Some(l) if written => {
                        return Err(ConfigError::at(l, format!("job {job:?}: {m}")));
                    }
                    Some(l) => notices.push(format!(
                        "{}:{}:{}: skipped target {} of job {job:?}: {m}{}",
                        l.file.display(),
                        l.pos.line,
                        l.pos.column,
                        quote(addr),
                        if static_target {
                            " (Prometheus loads this file and fails this target)"
                        } else {
                            ""
                        }
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
