//! Checks of values Prometheus validates that scrapetop otherwise does not use: scrape
//! protocols and name validation schemes. A file every Prometheus refuses is refused here too,
//! with Prometheus's wording.

use super::raw::{RawGlobal, RawScrapeConfig};

/// Scrape protocols Prometheus knows; `PrometheusText1.0.0` arrived with Prometheus 3.
const PROTOCOLS: &[&str] = &[
    "OpenMetricsText0.0.1",
    "OpenMetricsText1.0.0",
    "PrometheusProto",
    "PrometheusText0.0.4",
    "PrometheusText1.0.0",
];

fn protocol(p: &str, notices: &mut Vec<String>) -> Result<(), String> {
    if !PROTOCOLS.contains(&p) {
        return Err(format!(
            "unknown scrape protocol {p}, supported: [{}]",
            PROTOCOLS.join(" ")
        ));
    }
    if p == "PrometheusText1.0.0" {
        notices.push(
            "scrape protocol PrometheusText1.0.0 needs Prometheus 3: Prometheus 2 refuses this file"
                .into(),
        );
    }
    Ok(())
}

fn protocols(list: &[String], notices: &mut Vec<String>) -> Result<(), String> {
    for (i, p) in list.iter().enumerate() {
        protocol(p, notices)?;
        if list[..i].contains(p) {
            return Err(format!(
                "duplicated protocol in scrape_protocols, got {list:?}"
            ));
        }
    }
    Ok(())
}

/// Name validation and escaping schemes, and whether they agree.
fn schemes(validation: Option<&str>, escaping: Option<&str>) -> Result<(), String> {
    match validation {
        None | Some("" | "utf8" | "legacy") => {}
        Some(v) => return Err(format!("unrecognized ValidationScheme: {v:?}")),
    }
    match escaping {
        None | Some("" | "allow-utf-8" | "underscores" | "dots" | "values") => {}
        Some(e) => return Err(format!("unrecognized escaping scheme {e:?}")),
    }
    if validation == Some("legacy") && escaping == Some("allow-utf-8") {
        return Err("utf8 metric names requested but validation scheme is not set to UTF8".into());
    }
    Ok(())
}

/// `global`'s protocol and scheme values.
pub(super) fn check_global(g: &RawGlobal, notices: &mut Vec<String>) -> Result<(), String> {
    if let Some(list) = &g.scrape_protocols {
        protocols(list, notices).map_err(|e| format!("scrape_protocols: {e}"))?;
    }
    schemes(
        g.metric_name_validation_scheme.as_deref(),
        g.metric_name_escaping_scheme.as_deref(),
    )
}

/// A job's protocol and scheme values (`global` fills what the job leaves unset).
pub(super) fn check_job(
    j: &RawScrapeConfig,
    g: &RawGlobal,
    notices: &mut Vec<String>,
) -> Result<(), String> {
    let name = &j.job_name;
    if let Some(list) = &j.scrape_protocols {
        protocols(list, notices).map_err(|e| {
            format!("scrape_protocols: {e} for scrape config with job name {name:?}")
        })?;
    }
    if let Some(p) = &j.fallback_scrape_protocol {
        protocol(p, notices).map_err(|e| {
            format!(
                "invalid fallback_scrape_protocol for scrape config with job name {name:?}: {e}"
            )
        })?;
    }
    schemes(
        j.metric_name_validation_scheme
            .as_deref()
            .or(g.metric_name_validation_scheme.as_deref()),
        j.metric_name_escaping_scheme
            .as_deref()
            .or(g.metric_name_escaping_scheme.as_deref()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_every_prometheus_refuses() {
        let mut n = Vec::new();
        assert!(protocols(&["PrometheusProto".into()], &mut n).is_ok());
        let e = protocols(&["prometheusproto".into()], &mut n).unwrap_err();
        assert!(
            e.starts_with(
                "unknown scrape protocol prometheusproto, supported: [OpenMetricsText0.0.1"
            ),
            "{e}"
        );
        assert!(
            protocols(
                &["PrometheusProto".into(), "PrometheusProto".into()],
                &mut n
            )
            .is_err()
        );
        assert_eq!(
            schemes(Some("invalid_scheme"), None).unwrap_err(),
            "unrecognized ValidationScheme: \"invalid_scheme\""
        );
        assert!(schemes(Some("legacy"), Some("allow-utf-8")).is_err());
        assert!(schemes(Some("utf8"), Some("underscores")).is_ok());
        assert!(n.is_empty());
        protocol("PrometheusText1.0.0", &mut n).unwrap_or_default();
        assert_eq!(n.len(), 1, "Prometheus 2 and 3 differ: a warning");
    }
}
