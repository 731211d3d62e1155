//! The Prometheus configuration file: `global` and `scrape_configs`, validated as Prometheus
//! validates them, turned into job plans (discovery runs later, in [`super::discovery`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::auth::build_job_auth;
use super::discovery::{dns_sd_plans, file_sd_plans};
use super::outline::{Outline, Span};
use super::raw::{RawConfig, RawGlobal, RawScrapeConfig, RawScrapeConfigs};
use super::relabel::{RelabelConfig, Rule, is_label_name, valid_label_name};
use super::sd::{self, Group};
use super::targets::JobPlan;
use super::units::format_duration;
use super::unsupported::{self, Unsupported, Versioned};
use super::values;
use super::{Compat, ConfigError, Loc, files, resolve};
use crate::engine::spec::JobSettings;
use crate::redact::quote;

/// A configuration file being read: its path, its directory (relative paths in it are resolved
/// against it, as Prometheus does) and its outline (to locate errors found after parsing).
pub(super) struct Doc<'a> {
    /// The file.
    pub path: &'a Path,
    /// Its directory.
    pub dir: PathBuf,
    /// Its lines.
    pub o: Outline<'a>,
    /// Whose label-name rules apply.
    pub compat: Compat,
}

impl Doc<'_> {
    /// Where `key` is written in `span` (or the span's start).
    pub fn loc(&self, span: Span, key: &str) -> Loc {
        let pos = self
            .o
            .key(span, key)
            .map(|(_, p)| p)
            .unwrap_or_else(|| self.o.start(span));
        Loc {
            file: self.path.to_owned(),
            pos,
        }
    }

    /// Where the scalar `value` is written in `span` (or `key`, when not found).
    pub fn value_loc(&self, span: Span, value: &str, key: &str) -> Loc {
        match self.o.value(span, value) {
            Some(pos) => Loc {
                file: self.path.to_owned(),
                pos,
            },
            None => self.loc(span, key),
        }
    }
}

/// Scrape defaults from `global:`.
struct Global {
    interval: Duration,
    timeout: Duration,
    raw: RawGlobal,
}

/// Parse YAML text into `T`, with serde_yaml's error located in `path`. YAML merge keys
/// (`<<: *anchor`) are applied as Prometheus's YAML library does.
fn parse_yaml<T: serde::de::DeserializeOwned + Default>(
    path: &Path,
    text: &str,
) -> Result<T, ConfigError> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    let direct = serde_yaml::from_str(text);
    let err = match direct {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if text.contains("<<") {
        // serde_yaml leaves merge keys to the caller: merge, then read the merged tree (its
        // errors carry the key path but no line).
        let mut tree: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| sd::yaml_error(path, &e))?;
        tree.apply_merge()
            .map_err(|e| ConfigError::located(path, None, e.to_string()))?;
        return serde_yaml::from_value(tree.clone()).map_err(|e| {
            if err.to_string().contains("`<<`") {
                merged_error(path, text, &tree, &e)
            } else {
                // Not about merging: the first error has a line and column.
                sd::yaml_error(path, &err)
            }
        });
    }
    if err.to_string().contains("expected struct RawConfig") {
        // A target list (or anything but a mapping) given as a configuration.
        return Err(ConfigError::located(
            path,
            None,
            "not a Prometheus configuration (a YAML mapping with scrape_configs): a list of targets goes to --targets",
        ));
    }
    Err(sd::yaml_error(path, &err))
}

/// An error in a document whose merge keys were applied: serde gives neither path nor place
/// for a merged tree, so the tree is written out and read again for the key path, and the path
/// (`scrape_configs[1].sample_limit`) is looked up in the original text.
fn merged_error(
    path: &Path,
    text: &str,
    tree: &serde_yaml::Value,
    e: &serde_yaml::Error,
) -> ConfigError {
    let Some(with_path) = serde_yaml::to_string(tree)
        .ok()
        .and_then(|t| serde_yaml::from_str::<RawConfig>(&t).err())
    else {
        return ConfigError::located(path, None, e.to_string());
    };
    let full = with_path.to_string();
    let msg = full.split(" at line ").next().unwrap_or(&full).to_owned();
    let o = Outline::new(text);
    let key_path = msg.split(": ").next().unwrap_or_default();
    let job = key_path
        .strip_prefix("scrape_configs[")
        .and_then(|r| r.split(']').next())
        .and_then(|n| n.parse::<usize>().ok());
    let last = key_path.rsplit('.').next().unwrap_or_default();
    let pos = job
        .and_then(|n| o.seq(o.all(), "scrape_configs").get(n).copied())
        .and_then(|span| o.key(span, last))
        .map(|(_, p)| p);
    ConfigError::located(path, pos, msg)
}

/// Parse and validate a prometheus.yml, and the files its `scrape_config_files` name, into
/// job plans and notices.
pub(super) fn parse_prometheus(
    path: &Path,
    compat: Compat,
) -> Result<(Vec<JobPlan>, Vec<String>), ConfigError> {
    let text = files::read_source(path, "config")?;
    let raw: RawConfig = parse_yaml(path, &text)?;
    let doc = Doc {
        path,
        dir: path.parent().unwrap_or(Path::new("")).to_owned(),
        o: Outline::new(&text),
        compat,
    };
    let mut notices: Vec<String> = raw
        .ignored_sections()
        .iter()
        .map(|s| format!("ignored: {s} (scrapetop only scrapes targets)"))
        .collect();
    let mut versioned = Versioned::default();
    for k in raw.versioned_keys() {
        versioned.add(k, None);
    }
    let global = parse_global(&doc, raw.global.unwrap_or_default(), &mut notices)?;
    let mut unsupported = Unsupported::default();
    for k in unsupported::global_keys(&global.raw) {
        unsupported.add(k, None);
    }
    let mut jobs = Jobs {
        global: &global,
        seen: HashMap::new(),
        plans: Vec::new(),
        notices: Vec::new(),
        unsupported,
        versioned,
    };
    jobs.add_file(
        &doc,
        raw.scrape_configs.unwrap_or_default(),
        "main config file",
    )?;
    for pattern in raw.scrape_config_files.iter().flatten() {
        let dir_part = pattern.rsplit_once('/').map_or("", |(d, _)| d);
        if dir_part.contains(['*', '?', '[']) {
            return Err(ConfigError::at(
                &doc.value_loc(doc.o.all(), pattern, "scrape_config_files"),
                format!("invalid scrape config file path {pattern:?}"),
            ));
        }
        let pat = resolve(&doc.dir, pattern);
        for file in sd::expand_glob(&pat) {
            let text = files::read_source(&file, "scrape config file")?;
            let more: RawScrapeConfigs = parse_yaml(&file, &text)?;
            let sub = Doc {
                path: &file,
                dir: file.parent().unwrap_or(Path::new("")).to_owned(),
                o: Outline::new(&text),
                compat,
            };
            let origin = format!("{:?}", file.display().to_string());
            jobs.add_file(&sub, more.scrape_configs.unwrap_or_default(), &origin)?;
        }
    }
    notices.extend(jobs.notices);
    notices.extend(jobs.unsupported.notices());
    notices.extend(jobs.versioned.notices());
    Ok((jobs.plans, notices))
}

/// Jobs gathered from the main file and its scrape config files.
struct Jobs<'g> {
    global: &'g Global,
    /// Job names and where they were first found.
    seen: HashMap<String, String>,
    plans: Vec<JobPlan>,
    notices: Vec<String>,
    unsupported: Unsupported,
    versioned: Versioned,
}

impl Jobs<'_> {
    /// The `scrape_configs` of one file (`origin` names it in duplicate-name errors).
    fn add_file(
        &mut self,
        doc: &Doc<'_>,
        raw_jobs: Vec<RawScrapeConfig>,
        origin: &str,
    ) -> Result<(), ConfigError> {
        let mut spans = doc.o.seq(doc.o.all(), "scrape_configs");
        if spans.len() != raw_jobs.len() {
            // Flow-style YAML or merge keys: point at the whole document rather than at a
            // wrong job.
            spans = vec![doc.o.all(); raw_jobs.len()];
        }
        for (j, span) in raw_jobs.into_iter().zip(spans) {
            let job_loc = doc.loc(span, "job_name");
            if j.job_name.is_empty() {
                return Err(ConfigError::at(&job_loc, "job_name is empty"));
            }
            if let Some(first) = self.seen.get(&j.job_name) {
                let msg = format!(
                    "found multiple scrape configs with job name {:?}",
                    j.job_name
                );
                return Err(ConfigError::at(
                    &job_loc,
                    if first == origin {
                        msg
                    } else {
                        format!("{msg}, first found in {first}")
                    },
                ));
            }
            self.seen.insert(j.job_name.clone(), origin.to_owned());
            for k in j.unsupported_keys() {
                self.unsupported.add(k, Some(&j.job_name));
            }
            for k in j.versioned_keys() {
                self.versioned.add(k, Some(&j.job_name));
            }
            let plan = plan_job(doc, self.global, &j, span, &mut self.notices)?;
            self.plans.push(plan);
        }
        Ok(())
    }
}

/// `global:` scrape defaults, checked as Prometheus checks them.
fn parse_global(
    doc: &Doc<'_>,
    raw: RawGlobal,
    notices: &mut Vec<String>,
) -> Result<Global, ConfigError> {
    let span = doc
        .o
        .key(doc.o.all(), "global")
        .map(|(l, _)| doc.o.block(l))
        .unwrap_or(doc.o.all());
    values::check_global(&raw, notices)
        .map_err(|e| ConfigError::at(&doc.loc(span, "global"), e))?;
    let interval = raw
        .scrape_interval
        .map(|d| d.0)
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(60));
    let timeout = match raw.scrape_timeout.map(|d| d.0).filter(|d| !d.is_zero()) {
        Some(t) if t > interval => {
            return Err(ConfigError::at(
                &doc.loc(span, "scrape_timeout"),
                format!(
                    "global scrape timeout {} greater than scrape interval {}",
                    format_duration(t),
                    format_duration(interval)
                ),
            ));
        }
        Some(t) => t,
        None => Duration::from_secs(10).min(interval),
    };
    for name in raw.external_labels.iter().flatten().map(|(k, _)| k) {
        check_label_name(doc, &doc.loc(span, name), name, notices)?;
    }
    Ok(Global {
        interval,
        timeout,
        raw,
    })
}

/// One `scrape_configs` entry as a job plan.
fn plan_job(
    doc: &Doc<'_>,
    global: &Global,
    j: &RawScrapeConfig,
    span: Span,
    notices: &mut Vec<String>,
) -> Result<JobPlan, ConfigError> {
    let name = j.job_name.as_str();
    let interval = j
        .scrape_interval
        .map(|d| d.0)
        .filter(|d| !d.is_zero())
        .unwrap_or(global.interval);
    let timeout = match j.scrape_timeout.map(|d| d.0).filter(|d| !d.is_zero()) {
        Some(t) => t,
        None => global.timeout.min(interval),
    };
    if timeout > interval {
        return Err(ConfigError::at(
            &doc.loc(span, "scrape_timeout"),
            format!(
                "scrape timeout {} greater than scrape interval {} for scrape config with job name {name:?}",
                format_duration(timeout),
                format_duration(interval)
            ),
        ));
    }
    // Prometheus does not check `scheme` at load: a job with another scheme loads and every
    // scrape fails ("unsupported protocol scheme"). Its targets are skipped with a notice.
    let scheme = j.scheme.clone().unwrap_or_else(|| "http".into());
    values::check_job(j, &global.raw, notices)
        .map_err(|e| ConfigError::at(&doc.loc(span, "job_name"), e))?;
    let at = |k: &str| doc.loc(span, k);
    let mut settings = JobSettings::new(name);
    settings.interval = interval;
    settings.timeout = timeout;
    settings.body_size_limit = j
        .body_size_limit
        .or(global.raw.body_size_limit)
        .map_or(0, |b| b.0);
    settings.sample_limit = j.sample_limit.or(global.raw.sample_limit).unwrap_or(0);
    settings.follow_redirects = j.follow_redirects.unwrap_or(true);
    settings.enable_http2 = j.enable_http2.unwrap_or(true);
    settings.label_limit = j.label_limit.or(global.raw.label_limit).unwrap_or(0);
    settings.label_name_length_limit = j
        .label_name_length_limit
        .or(global.raw.label_name_length_limit)
        .unwrap_or(0);
    settings.label_value_length_limit = j
        .label_value_length_limit
        .or(global.raw.label_value_length_limit)
        .unwrap_or(0);
    settings.compat = doc.compat.into();
    // Checked by `values::check_job` above: an unknown name has been refused already.
    settings.fallback_scrape_protocol = j
        .fallback_scrape_protocol
        .as_deref()
        .and_then(crate::expo::Format::from_protocol);
    if settings.compat == crate::expo::Compat::V3 {
        // Prometheus 3: the job's or global list; protobuf first when the job scrapes native
        // histograms and no list is set. (Prometheus 2.42 has neither key.)
        settings.histograms = crate::expo::Histograms {
            scrape_native: j
                .scrape_native_histograms
                .or(global.raw.scrape_native_histograms)
                .unwrap_or(false),
            always_classic: j
                .always_scrape_classic_histograms
                .or(global.raw.always_scrape_classic_histograms)
                .unwrap_or(false),
        };
        let protocols = j
            .scrape_protocols
            .as_ref()
            .or(global.raw.scrape_protocols.as_ref());
        settings.accept = match protocols {
            Some(list) => Some(crate::expo::accept_for_protocols(list).into()),
            None if settings.histograms.scrape_native => {
                Some(crate::expo::accept_for_protocols(crate::expo::PROTO_FIRST_PROTOCOLS).into())
            }
            None => None,
        };
    }
    let ja = build_job_auth(j, &doc.dir, &at)?;
    settings.auth = ja.auth;
    settings.tls = ja.tls;
    // A job with nothing scrapetop can discover has no scrape to fail: no notice for it.
    let scrapable =
        j.static_configs.is_some() || j.file_sd_configs.is_some() || j.dns_sd_configs.is_some();
    if let Some(e) = ja.scrape_error.as_ref().filter(|_| scrapable) {
        notices.push(format!(
            "job {name:?}: every scrape will fail, as in Prometheus: {e}"
        ));
    }
    settings.scrape_error = ja.scrape_error;
    notices.extend(
        ja.notices
            .into_iter()
            .map(|n| format!("{n} (job {name:?})")),
    );

    let mut plan = JobPlan::new(settings);
    plan.compat = doc.compat;
    plan.scheme = scheme;
    plan.metrics_path = j.metrics_path.clone().unwrap_or_else(|| "/metrics".into());
    plan.params = j.params.clone().unwrap_or_default();
    plan.rules = relabel_rules(doc, j.relabel_configs.as_deref(), span, "relabel_configs")?;
    // Metric relabelling is not applied (scrapetop keeps no samples) but validated, as
    // Prometheus refuses a file with a bad rule there too.
    relabel_rules(
        doc,
        j.metric_relabel_configs.as_deref(),
        span,
        "metric_relabel_configs",
    )?;
    plan.groups = static_groups(doc, j, span, notices)?;
    plan.file_sd = file_sd_plans(doc, j, span)?;
    plan.dns_sd = dns_sd_plans(doc, j, span, notices)?;
    Ok(plan)
}

/// `static_configs`: target groups with where each target is written.
fn static_groups(
    doc: &Doc<'_>,
    j: &RawScrapeConfig,
    span: Span,
    notices: &mut Vec<String>,
) -> Result<Vec<Group>, ConfigError> {
    let group_spans = doc.o.seq(span, "static_configs");
    let mut groups = Vec::new();
    for (i, g) in j.static_configs.iter().flatten().enumerate() {
        let gspan = group_spans.get(i).copied().unwrap_or(span);
        let Some(g) = g else {
            return Err(ConfigError::at(
                &doc.loc(gspan, "static_configs"),
                "empty or null section in static_configs",
            ));
        };
        for k in g.labels.keys() {
            check_label_name(doc, &doc.loc(gspan, k), k, notices)?;
        }
        let mut targets = Vec::new();
        for t in &g.targets {
            let tloc = doc.value_loc(gspan, t, "targets");
            // Prometheus refuses URLs in static targets unless relabelling may fix them.
            if j.relabel_configs.as_ref().is_none_or(Vec::is_empty) && t.contains('/') {
                return Err(ConfigError::at(
                    &tloc,
                    format!("{} is not a valid hostname", quote(t)),
                ));
            }
            targets.push((t.clone(), Some(tloc)));
        }
        groups.push(Group {
            targets,
            labels: g.labels.clone(),
        });
    }
    Ok(groups)
}

/// A label name written in the file: refused when the chosen Prometheus refuses it; under
/// Prometheus 3 rules, a name Prometheus 2 would refuse is accepted with a warning.
fn check_label_name(
    doc: &Doc<'_>,
    at: &Loc,
    name: &str,
    notices: &mut Vec<String>,
) -> Result<(), ConfigError> {
    if !valid_label_name(name, doc.compat) {
        return Err(ConfigError::at(
            at,
            format!("{name:?} is not a valid label name"),
        ));
    }
    if !is_label_name(name) {
        notices.push(format!(
            "{}:{}:{}: label name {name:?} needs Prometheus 3 (UTF-8 names): Prometheus 2 refuses this file",
            at.file.display(),
            at.pos.line,
            at.pos.column
        ));
    }
    Ok(())
}

/// The rules under `key` (`relabel_configs` or `metric_relabel_configs`) of a job, validated,
/// errors located at the rule.
fn relabel_rules(
    doc: &Doc<'_>,
    rules: Option<&[Option<RelabelConfig>]>,
    span: Span,
    key: &str,
) -> Result<Vec<Rule>, ConfigError> {
    let spans = doc.o.seq(span, key);
    let mut out = Vec::new();
    for (i, rc) in rules.unwrap_or_default().iter().enumerate() {
        let at = spans.get(i).map_or_else(
            || doc.loc(span, key),
            |s| Loc {
                file: doc.path.to_owned(),
                pos: doc.o.start(*s),
            },
        );
        let Some(rc) = rc else {
            let what = if key == "relabel_configs" {
                "target"
            } else {
                "metric"
            };
            return Err(ConfigError::at(
                &doc.loc(span, key),
                format!("empty or null {what} relabeling rule in scrape config"),
            ));
        };
        out.push(
            rc.validate_for(doc.compat)
                .map_err(|m| ConfigError::at(&at, m))?,
        );
    }
    Ok(out)
}
