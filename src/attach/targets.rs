//! `scrapetop --prometheus URL` without `attach`: the running Prometheus's active targets
//! (whatever service discovery found them: kubernetes, consul, EC2, …) become the targets of
//! scrapetop's own engine, with URL, labels, interval and timeout as the API gives them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::api::{self, ApiTarget};
use crate::engine::spec::{JobSettings, TargetSpec};
use crate::engine::{Discovery, Sources, SourcesError, TargetSet, TargetsFuture};

/// Where the API is: address to connect to, `Host` header, path prefix.
#[derive(Debug, Clone)]
struct Endpoint {
    host: String,
    port: u16,
    prefix: String,
    https: bool,
}

fn endpoint(url: &str) -> Result<Endpoint, String> {
    let shown = crate::engine::spec::redact_userinfo(url);
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("--prometheus {shown:?}: {e}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => {
            return Err(format!(
                "--prometheus {shown:?}: expected http(s)://host:port[/prefix]"
            ));
        }
    };
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(format!(
            "--prometheus {shown:?}: credentials in the URL are not supported (give them in --http.config.file)"
        ));
    }
    let host = uri
        .host()
        .ok_or_else(|| format!("--prometheus {shown:?}: no host"))?;
    Ok(Endpoint {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
        prefix: uri.path().trim_end_matches('/').to_owned(),
        https,
    })
}

/// Turn the API's active targets into engine targets. Targets of one scrape pool with the
/// same interval and timeout share one job (and so one connection pool).
pub fn to_specs(list: &[ApiTarget]) -> (Vec<TargetSpec>, Vec<String>) {
    let mut jobs: HashMap<(String, Duration, Duration), Arc<JobSettings>> = HashMap::new();
    let mut out = Vec::with_capacity(list.len());
    let mut notices = Vec::new();
    let dur = |s: &Option<String>, d: u64| {
        s.as_deref()
            .and_then(|s| crate::config::units::parse_duration(s).ok())
            .unwrap_or(Duration::from_secs(d))
    };
    for a in list {
        let Some(u) = api::split_url(&a.scrape_url) else {
            notices.push(format!(
                "Prometheus target {:?} skipped: unreadable scrapeUrl",
                crate::engine::spec::redact_userinfo(&a.scrape_url)
            ));
            continue;
        };
        let interval = dur(&a.scrape_interval, 60);
        let timeout = dur(&a.scrape_timeout, 10).min(interval);
        let job = jobs
            .entry((a.scrape_pool.clone(), interval, timeout))
            .or_insert_with(|| {
                let mut j = JobSettings::new(&a.scrape_pool);
                j.interval = interval;
                j.timeout = timeout;
                Arc::new(j)
            })
            .clone();
        let mut t = TargetSpec {
            job,
            instance: a.labels.get("instance").cloned().unwrap_or_default(),
            scheme: u.scheme,
            host: u.host,
            port: u.port,
            path_and_query: u.path_and_query,
            labels: a.labels.clone(),
        };
        if t.instance.is_empty() {
            t.instance = t.host_port();
        }
        out.push(t);
    }
    (out, notices)
}

/// Read the active targets of the Prometheus at `url` (`http(s)://host:port[/prefix]`), with
/// the credentials and TLS of `http_config` (`--http.config.file`, read at every call as
/// Prometheus reads credential files per request).
pub async fn read(url: &str, http_config: Option<&Path>) -> Result<TargetSet, String> {
    let ep = endpoint(url)?;
    let shown = crate::engine::spec::redact_userinfo(url);
    let (client, mut notices) =
        super::api_client(http_config, ep.https).map_err(|e| e.to_string())?;
    let addr: SocketAddr = tokio::net::lookup_host((ep.host.as_str(), ep.port))
        .await
        .map_err(|e| format!("--prometheus {shown:?}: resolving {}: {e}", ep.host))?
        .next()
        .ok_or_else(|| format!("--prometheus {shown:?}: no address for {}", ep.host))?;
    let host = if ep.host.contains(':') {
        format!("[{}]:{}", ep.host, ep.port)
    } else {
        format!("{}:{}", ep.host, ep.port)
    };
    let path = format!("{}/api/v1/targets?state=active", ep.prefix);
    let resp = api::request(
        addr,
        http::Method::GET,
        &host,
        &path,
        Duration::from_secs(30),
        &client,
    )
    .await
    .map_err(|e| format!("--prometheus {shown:?}: {e}"))?;
    if resp.status == 401 || resp.status == 403 {
        return Err(format!(
            "--prometheus {shown:?}: {path}: HTTP {}: {}",
            resp.status,
            if client.has_auth() {
                "the credentials of --http.config.file were refused"
            } else {
                "the API requires credentials; give them with --http.config.file FILE"
            }
        ));
    }
    if resp.status != 200 {
        return Err(format!(
            "--prometheus {shown:?}: {path}: HTTP {}",
            resp.status
        ));
    }
    let list =
        api::parse_targets(&resp.body).map_err(|e| format!("--prometheus {shown:?}: {e}"))?;
    let (targets, more) = to_specs(&list);
    notices.extend(more);
    Ok(TargetSet { targets, notices })
}

/// The running Prometheus as the engine's target source: a reload asks its API again.
pub struct PrometheusSources {
    url: String,
    http_config: Option<PathBuf>,
}

impl PrometheusSources {
    /// For the API at `url`, with `--http.config.file`.
    pub fn new(url: String, http_config: Option<PathBuf>) -> Self {
        PrometheusSources { url, http_config }
    }
}

impl Sources for PrometheusSources {
    fn can_load(&self) -> bool {
        false
    }

    fn reload(&self, _sd: Discovery) -> TargetsFuture {
        let url = self.url.clone();
        let http_config = self.http_config.clone();
        Box::pin(async move {
            read(&url, http_config.as_deref())
                .await
                .map_err(SourcesError::Prometheus)
        })
    }

    fn load(&self, _path: String, _replace: bool, _sd: Discovery) -> TargetsFuture {
        Box::pin(async {
            Err(SourcesError::Prometheus(
                "load: the targets come from Prometheus's API (--prometheus)".to_owned(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_targets_become_engine_targets_with_the_same_ids() {
        let body = br#"{"status":"success","data":{"activeTargets":[
          {"labels":{"instance":"a:9100","job":"node","env":"x"},"scrapePool":"node","scrapeUrl":"http://a:9100/metrics","health":"up","scrapeInterval":"15s","scrapeTimeout":"10s"},
          {"labels":{"instance":"b:9100","job":"node"},"scrapePool":"node","scrapeUrl":"http://b:9100/metrics","health":"up","scrapeInterval":"15s","scrapeTimeout":"10s"},
          {"labels":{"instance":"http://x","job":"bb"},"scrapePool":"bb","scrapeUrl":"http://127.0.0.1:9115/probe?module=m&target=http%3A%2F%2Fx","health":"up","scrapeInterval":"1m","scrapeTimeout":"20s"}]}}"#;
        let list = api::parse_targets(body).expect("parses");
        let (specs, notices) = to_specs(&list);
        assert!(notices.is_empty());
        assert_eq!(specs.len(), 3);
        assert!(
            Arc::ptr_eq(&specs[0].job, &specs[1].job),
            "one job, one pool set"
        );
        assert_eq!(specs[0].job.interval, Duration::from_secs(15));
        assert_eq!(
            specs[2].path_and_query,
            "/probe?module=m&target=http%3A%2F%2Fx"
        );
        for (s, a) in specs.iter().zip(&list) {
            assert_eq!(s.url(), a.scrape_url);
            let id = crate::event::TargetId::in_pool(
                a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                &a.scrape_url,
                &a.scrape_pool,
            );
            assert_eq!(s.id(), id, "same identity as Prometheus's target");
        }
    }

    #[test]
    fn bad_urls_are_refused_without_showing_credentials() {
        let e = endpoint("http://u:hunter2@h:9090").expect_err("userinfo");
        assert!(!e.contains("hunter2"), "{e}");
        assert!(endpoint("https://h:9090").is_ok_and(|e| e.https));
        assert!(endpoint("ftp://h:9090").is_err());
        let ep = endpoint("http://[::1]:9091/prom/").expect("ok");
        assert_eq!(
            (ep.host.as_str(), ep.port, ep.prefix.as_str()),
            ("::1", 9091, "/prom")
        );
    }
}
