//! `scrapetop check FILE...`: like `promtool check config`, then the targets each job would
//! scrape (after relabelling; dns_sd is listed as configured, no lookups are made).

use std::fmt::Write as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use serde::Serialize;

use super::{Compat, JobReport, check_file};
use crate::config::units::format_duration;
use crate::engine::spec::{Auth, JobSettings};

#[derive(Serialize)]
struct FileJson {
    file: String,
    valid: bool,
    error: Option<String>,
    notices: Vec<String>,
    jobs: Vec<JobJson>,
}

#[derive(Serialize)]
struct JobJson {
    job: String,
    interval: String,
    timeout: String,
    auth: String,
    /// What every scrape of the job fails with (a credentials or TLS file that cannot be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    scrape_error: Option<String>,
    service_discovery: Vec<String>,
    dropped: usize,
    /// dns_sd targets are not listed: check makes no DNS lookups.
    dns_sd_resolved_at_run_time: bool,
    targets: Vec<TargetJson>,
}

#[derive(Serialize)]
struct TargetJson {
    url: String,
    instance: String,
    interval: String,
    timeout: String,
    labels: std::collections::BTreeMap<String, String>,
}

/// Drive a future that never waits on I/O readiness (check makes no lookups).
fn run_ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

fn describe_auth(s: &JobSettings) -> String {
    let auth = match &s.auth {
        Auth::None => "none".to_owned(),
        Auth::Basic { username, password } => {
            format!("basic_auth (username {username:?}, password {password})")
        }
        Auth::Authorization { kind, credentials } => {
            format!("authorization {kind} {credentials}")
        }
    };
    let t = &s.tls;
    let mut tls = Vec::new();
    if let Some(p) = &t.ca_file {
        tls.push(format!("ca_file {}", p.display()));
    }
    if let Some(p) = &t.cert_file {
        tls.push(format!("cert_file {}", p.display()));
    }
    if t.key_file.is_some() {
        tls.push("key_file <secret>".to_owned());
    }
    if let Some(n) = &t.server_name {
        tls.push(format!("server_name {n}"));
    }
    if t.insecure_skip_verify {
        tls.push("insecure_skip_verify".to_owned());
    }
    if let Some(v) = &t.min_version {
        tls.push(format!("min_version {v}"));
    }
    if tls.is_empty() {
        auth
    } else {
        format!("{auth}, tls: {}", tls.join(", "))
    }
}

fn job_json(r: &JobReport) -> JobJson {
    JobJson {
        job: r.settings.name.to_string(),
        interval: format_duration(r.settings.interval),
        timeout: format_duration(r.settings.timeout),
        auth: describe_auth(&r.settings),
        scrape_error: r.settings.scrape_error.as_deref().map(crate::redact::text),
        service_discovery: r.sd.clone(),
        dropped: r.dropped,
        dns_sd_resolved_at_run_time: r.dns_unresolved,
        targets: r
            .targets
            .iter()
            .map(|t| TargetJson {
                url: t.url(),
                instance: t.instance.clone(),
                interval: format_duration(t.job.interval),
                timeout: format_duration(t.job.timeout),
                labels: t.labels.clone(),
            })
            .collect(),
    }
}

fn check_one(path: &Path, compat: Compat) -> FileJson {
    match run_ready(check_file(path, compat)) {
        Ok((jobs, notices)) => FileJson {
            file: path.display().to_string(),
            valid: true,
            error: None,
            notices,
            jobs: jobs.iter().map(job_json).collect(),
        },
        Err(e) => FileJson {
            file: path.display().to_string(),
            valid: false,
            error: Some(e.to_string()),
            notices: Vec::new(),
            jobs: Vec::new(),
        },
    }
}

/// The report `scrapetop check` prints, and its exit status (0 valid, 1 any file invalid).
pub fn check_report(files: &[PathBuf], json: bool) -> (String, i32) {
    check_report_with(files, json, Compat::default())
}

/// [`check_report`] validating as the given Prometheus version (`--compat`).
pub fn check_report_with(files: &[PathBuf], json: bool, compat: Compat) -> (String, i32) {
    let results: Vec<FileJson> = files.iter().map(|f| check_one(f, compat)).collect();
    let status = i32::from(results.iter().any(|r| !r.valid));
    if json {
        let mut s = serde_json::to_string_pretty(&results).unwrap_or_else(|e| format!("{e}"));
        s.push('\n');
        return (s, status);
    }
    let mut out = String::new();
    for r in &results {
        let _ = writeln!(out, "Checking {}", r.file);
        if let Some(e) = &r.error {
            let _ = writeln!(out, "  FAILED: {e}");
            let _ = writeln!(out);
            continue;
        }
        let _ = writeln!(
            out,
            "  SUCCESS: {} is valid prometheus config file syntax",
            r.file
        );
        for n in &r.notices {
            let _ = writeln!(out, "  {n}");
        }
        for j in &r.jobs {
            let _ = writeln!(
                out,
                "\n  job {:?}: interval {}, timeout {}, auth {}",
                j.job, j.interval, j.timeout, j.auth
            );
            if let Some(e) = &j.scrape_error {
                let _ = writeln!(out, "    every scrape fails: {e}");
            }
            for sd in &j.service_discovery {
                let _ = writeln!(out, "    {sd}");
            }
            let _ = writeln!(
                out,
                "    {} target{}{}{}",
                j.targets.len(),
                if j.targets.len() == 1 { "" } else { "s" },
                if j.dropped > 0 {
                    format!(", {} dropped by relabelling", j.dropped)
                } else {
                    String::new()
                },
                if j.dns_sd_resolved_at_run_time {
                    " (+ dns_sd targets: no DNS lookups in check)"
                } else {
                    ""
                }
            );
            for t in &j.targets {
                let labels: Vec<String> =
                    t.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                let timing = if t.interval != j.interval || t.timeout != j.timeout {
                    format!(" (interval {}, timeout {})", t.interval, t.timeout)
                } else {
                    String::new()
                };
                let _ = writeln!(out, "    {}{timing} {{{}}}", t.url, labels.join(", "));
            }
        }
        let _ = writeln!(out);
    }
    (out, status)
}

/// Run `scrapetop check FILE...`: print the report to stdout and return the exit status
/// (0 when every file is valid, 1 otherwise).
pub fn check_main(files: &[PathBuf], json: bool) -> i32 {
    check_main_with(files, json, Compat::default())
}

/// [`check_main`] validating as the given Prometheus version (`--compat`).
pub fn check_main_with(files: &[PathBuf], json: bool, compat: Compat) -> i32 {
    let (out, status) = check_report_with(files, json, compat);
    print!("{out}");
    status
}
