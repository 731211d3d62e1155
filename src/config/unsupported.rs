//! What scrapetop does instead, for every Prometheus setting it accepts without acting on it.
//! A bare "ignored" would leave the operator guessing whether scrapetop's picture still matches
//! their Prometheus; each notice says how it differs.

use std::collections::BTreeMap;

use super::raw::{RawGlobal, UNSUPPORTED_SD, VERSIONED_KEYS};

/// How scrapetop's behaviour differs from Prometheus's when `key` is set; `None` for keys that
/// change only what Prometheus stores, which nothing in scrapetop depends on.
pub(super) fn consequence(key: &str) -> Option<&'static str> {
    if UNSUPPORTED_SD.contains(&key) {
        return Some(
            "Prometheus would discover targets here; scrapetop does not, so they are missing (use --prometheus URL to watch a running Prometheus)",
        );
    }
    Some(match key {
        "oauth2" => {
            "scrapetop does not fetch OAuth 2.0 tokens: the targets are scraped without credentials"
        }
        "proxy_url" | "proxy_from_environment" => {
            "scrapetop does not use proxies: the targets are dialled directly"
        }
        "no_proxy" | "proxy_connect_header" => {
            "only used with a proxy, which scrapetop does not use: the targets are dialled directly"
        }
        "http_headers" => {
            "scrapetop does not send configured headers: the targets are scraped without them"
        }
        "target_limit" => {
            "not enforced by scrapetop: Prometheus fails every target of a job with more targets than this; scrapetop scrapes them"
        }
        "native_histogram_bucket_limit" => {
            "scrapetop does not enforce it: a scrape Prometheus fails for exceeding it is up here"
        }
        "metric_relabel_configs" => {
            "scrapetop counts samples before metric relabelling: sample_limit may fail here where Prometheus passes"
        }
        "metric_name_validation_scheme" => {
            "scrapetop validates names as --compat says, for every job alike"
        }
        "enable_compression" => "scrapetop asks for gzip anyway (Prometheus's default)",
        _ => return None,
    })
}

/// Keys set in `global` that scrapetop does not act on.
pub(super) fn global_keys(g: &RawGlobal) -> Vec<&'static str> {
    let present = [
        ("target_limit", g.target_limit.is_some()),
        (
            "native_histogram_bucket_limit",
            g.native_histogram_bucket_limit.is_some(),
        ),
        (
            "metric_name_validation_scheme",
            g.metric_name_validation_scheme.is_some(),
        ),
    ];
    present
        .iter()
        .filter(|(_, y)| *y)
        .map(|(k, _)| *k)
        .collect()
}

/// Keys not every supported Prometheus (2.40 to 3.x) knows, gathered like [`Unsupported`]: the
/// file loads in some versions only, which the operator should know before relying on it.
#[derive(Debug, Default)]
pub(super) struct Versioned {
    by_key: BTreeMap<&'static str, Vec<String>>,
}

impl Versioned {
    /// `key` is set in `job` (`None`: at the top level or in `global`).
    pub fn add(&mut self, key: &'static str, job: Option<&str>) {
        let jobs = self.by_key.entry(key).or_default();
        if let Some(j) = job {
            jobs.push(format!("{j:?}"));
        }
    }

    /// One notice per key, in release order.
    pub fn notices(&self) -> Vec<String> {
        VERSIONED_KEYS
            .iter()
            .filter_map(|(k, since)| {
                let jobs = self.by_key.get(k)?;
                let place = match jobs.len() {
                    0 => String::new(),
                    1 => format!(" (job {})", jobs[0]),
                    _ => format!(" (jobs {})", jobs.join(", ")),
                };
                Some(if since.contains("refuses") {
                    format!("{k}{place}: known to Prometheus {since}")
                } else {
                    format!(
                        "{k}{place} needs Prometheus {since} or later: older versions refuse this file"
                    )
                })
            })
            .collect()
    }
}

/// Unsupported keys met in jobs (and `global`), gathered so that one notice per key names every
/// job, instead of one line per key per job.
#[derive(Debug, Default)]
pub(super) struct Unsupported {
    by_key: BTreeMap<&'static str, Vec<String>>,
    order: Vec<&'static str>,
}

impl Unsupported {
    /// `key` is set in `job` (`None`: in `global`).
    pub fn add(&mut self, key: &'static str, job: Option<&str>) {
        if consequence(key).is_none() {
            return;
        }
        let jobs = self.by_key.entry(key).or_insert_with(|| {
            self.order.push(key);
            Vec::new()
        });
        jobs.push(job.map_or_else(|| "global".to_owned(), |j| format!("{j:?}")));
    }

    /// One notice per key, in the order first met.
    pub fn notices(&self) -> Vec<String> {
        self.order
            .iter()
            .filter_map(|k| {
                let jobs = self.by_key.get(k)?;
                let what = consequence(k)?;
                let global = jobs.iter().any(|j| j == "global");
                let named: Vec<&str> = jobs
                    .iter()
                    .filter(|j| *j != "global")
                    .map(String::as_str)
                    .collect();
                let in_jobs = match named.as_slice() {
                    [] => String::new(),
                    [one] => format!("job {one}"),
                    many => format!("jobs {}", many.join(", ")),
                };
                let place = match (global, in_jobs.is_empty()) {
                    (true, true) => "in global".to_owned(),
                    (true, false) => format!("in global and {in_jobs}"),
                    (false, _) => format!("in {in_jobs}"),
                };
                Some(format!("{k} {place}: {what}"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_newer_than_prometheus_2_40_are_warned_once() {
        let mut v = Versioned::default();
        v.add("extra_scrape_metrics", Some("a"));
        v.add("scrape_protocols", None);
        v.add("scrape_protocols", Some("b"));
        v.add("scrape_classic_histograms", Some("c"));
        assert_eq!(
            v.notices(),
            [
                "scrape_classic_histograms (job \"c\"): known to Prometheus 2.45 to 2.55 (Prometheus 3 refuses it)",
                "scrape_protocols (job \"b\") needs Prometheus 2.49 or later: older versions refuse this file",
                "extra_scrape_metrics (job \"a\") needs Prometheus 3.10 or later: older versions refuse this file",
            ]
        );
    }

    #[test]
    fn one_notice_per_key_naming_every_job() {
        let mut u = Unsupported::default();
        u.add("kubernetes_sd_configs", Some("pods"));
        u.add("oauth2", Some("api"));
        u.add("kubernetes_sd_configs", Some("nodes"));
        u.add("honor_labels", Some("federate"));
        u.add("scrape_classic_histograms", Some("federate"));
        u.add("target_limit", None);
        u.add("target_limit", Some("api"));
        assert_eq!(
            u.notices(),
            [
                "kubernetes_sd_configs in jobs \"pods\", \"nodes\": Prometheus would discover targets here; scrapetop does not, so they are missing (use --prometheus URL to watch a running Prometheus)",
                "oauth2 in job \"api\": scrapetop does not fetch OAuth 2.0 tokens: the targets are scraped without credentials",
                "target_limit in global and job \"api\": not enforced by scrapetop: Prometheus fails every target of a job with more targets than this; scrapetop scrapes them",
            ]
        );
    }
}
