//! Prometheus's HTTP API as the observer reads it, and a minimal HTTP/1 client that the
//! observer's probes share. Every socket is created by the calling thread, which lives in the
//! attached process's network namespace.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;

use crate::engine::spec::{Auth, TlsSettings};

/// One HTTP exchange's outcome.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body, decompressed.
    pub body: Vec<u8>,
    /// Connect time.
    pub connect: Duration,
    /// Time to the response headers (from the start).
    pub first_byte: Duration,
}

/// Where an HTTP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The TCP connect failed.
    #[error("connect {addr}: {err}")]
    Connect {
        /// Address dialled.
        addr: SocketAddr,
        /// Why.
        err: std::io::Error,
    },
    /// No answer in time.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// Which phase.
        what: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The TLS handshake failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// HTTP-level failure.
    #[error("HTTP: {0}")]
    Http(String),
}

/// What a request needs beyond plain HTTP: TLS and credentials, as a Prometheus HTTP client
/// configuration gives them (a job's, or `--http.config.file` for the API). The credentials
/// are never shown: `Debug` names only their kind.
#[derive(Clone, Default)]
pub struct Client {
    /// TLS client configuration, for https.
    tls: Option<Arc<rustls::ClientConfig>>,
    /// `tls_config.server_name`: the name verified and sent as SNI instead of the host.
    server_name: Option<String>,
    /// The `Authorization` header value.
    auth: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("tls", &self.tls.is_some())
            .field("server_name", &self.server_name)
            .field("auth", &self.auth.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

impl Client {
    /// A client with `auth` and, for https, `tls` (its files are read now; errors name the
    /// file, never a credential).
    pub fn new(auth: &Auth, tls: &TlsSettings, https: bool) -> Result<Client, String> {
        let auth = match auth {
            Auth::None => None,
            Auth::Basic { username, password } => Some(format!(
                "Basic {}",
                crate::engine::target::base64(
                    format!("{username}:{}", password.expose()).as_bytes()
                )
            )),
            Auth::Authorization { kind, credentials } => {
                Some(format!("{kind} {}", credentials.expose()))
            }
        };
        // A value a header cannot carry is refused here, without quoting it.
        if auth
            .as_deref()
            .is_some_and(|a| http::HeaderValue::from_str(a).is_err())
        {
            return Err("the credentials contain characters an HTTP header cannot carry".into());
        }
        let tls_cfg = if https {
            // The API is read over HTTP/1.1 (one request at a time): no h2 offered.
            Some(crate::engine::tls::client_config(tls, false)?)
        } else {
            None
        };
        Ok(Client {
            tls: tls_cfg,
            server_name: tls.server_name.clone(),
            auth,
        })
    }

    /// Whether requests carry credentials.
    pub fn has_auth(&self) -> bool {
        self.auth.is_some()
    }

    /// Whether requests go over TLS.
    pub fn is_https(&self) -> bool {
        self.tls.is_some()
    }
}

/// One request on a fresh connection (no keep-alive: the observer must not hold sockets in
/// the process it watches longer than a request). `host` is the `Host` header (`name:port`);
/// its name part is what TLS verifies unless the client names another.
pub async fn request(
    addr: SocketAddr,
    method: http::Method,
    host: &str,
    path_and_query: &str,
    timeout: Duration,
    client: &Client,
) -> Result<Response, HttpError> {
    let start = Instant::now();
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| HttpError::Timeout {
            what: "connect",
            after: timeout,
        })?
        .map_err(|err| HttpError::Connect { addr, err })?;
    let connect = start.elapsed();
    let left = timeout.saturating_sub(connect);
    let exchange = async {
        let req = http::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(http::header::HOST, host)
            .header(http::header::ACCEPT_ENCODING, "gzip")
            .header(http::header::USER_AGENT, "scrapetop-attach");
        let req = match &client.auth {
            Some(a) => req.header(http::header::AUTHORIZATION, a.as_str()),
            None => req,
        };
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|_| HttpError::Http("building the request".into()))?;
        let (status, gzip, raw, first_byte) = match &client.tls {
            Some(cfg) => {
                let name = client
                    .server_name
                    .clone()
                    .unwrap_or_else(|| host_name(host).to_owned());
                let (tls, _) = crate::engine::tls::handshake(stream, &name, cfg.clone())
                    .await
                    .map_err(HttpError::Tls)?;
                exchange(tls, req, start).await?
            }
            None => exchange(stream, req, start).await?,
        };
        let body = if gzip {
            let mut out = Vec::with_capacity(raw.len() * 8);
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .map_err(|e| HttpError::Http(format!("gzip body: {e}")))?;
            out
        } else {
            raw.to_vec()
        };
        Ok(Response {
            status,
            body,
            connect,
            first_byte,
        })
    };
    tokio::time::timeout(left, exchange)
        .await
        .map_err(|_| HttpError::Timeout {
            what: "response",
            after: timeout,
        })?
}

/// The name part of a `Host` header (`name:port`, `[v6]:port`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Send `req` over `io`; status, gzip-encoded, raw body, time to the headers.
async fn exchange<I>(
    io: I,
    req: http::Request<Empty<Bytes>>,
    start: Instant,
) -> Result<(u16, bool, Bytes, Duration), HttpError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| HttpError::Http(e.to_string()))?;
    let conn = tokio::spawn(conn);
    let resp = send
        .send_request(req)
        .await
        .map_err(|e| HttpError::Http(e.to_string()))?;
    let first_byte = start.elapsed();
    let status = resp.status().as_u16();
    let gzip = resp
        .headers()
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let raw = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| HttpError::Http(e.to_string()))?
        .to_bytes();
    conn.abort();
    Ok((status, gzip, raw, first_byte))
}

/// One active target as `/api/v1/targets` shows it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiTarget {
    /// Final labels (`job`, `instance`, …).
    pub labels: BTreeMap<String, String>,
    /// The scrape pool (job name in the configuration).
    pub scrape_pool: String,
    /// The URL Prometheus scrapes.
    pub scrape_url: String,
    /// Last error, empty when the last scrape succeeded.
    #[serde(default)]
    pub last_error: String,
    /// When the last scrape started (RFC 3339), `0001-01-01T00:00:00Z` before the first.
    #[serde(default)]
    pub last_scrape: String,
    /// Seconds the last scrape took.
    #[serde(default)]
    pub last_scrape_duration: f64,
    /// `up`, `down` or `unknown`.
    #[serde(default)]
    pub health: String,
    /// Scrape interval (Prometheus duration), absent before 2.27.
    #[serde(default)]
    pub scrape_interval: Option<String>,
    /// Scrape timeout.
    #[serde(default)]
    pub scrape_timeout: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    #[serde(default)]
    active_targets: Vec<ApiTarget>,
}

/// Parse the body of `/api/v1/targets`.
pub fn parse_targets(body: &[u8]) -> Result<Vec<ApiTarget>, String> {
    let env: Envelope = serde_json::from_slice(body)
        .map_err(|e| format!("/api/v1/targets: not the expected JSON: {e}"))?;
    if env.status != "success" {
        return Err(format!(
            "/api/v1/targets: status {:?}: {}",
            env.status,
            env.error.unwrap_or_default()
        ));
    }
    Ok(env.data.map(|d| d.active_targets).unwrap_or_default())
}

#[derive(Deserialize)]
struct ConfigEnvelope {
    status: String,
    #[serde(default)]
    data: Option<ConfigData>,
}

#[derive(Deserialize)]
struct ConfigData {
    yaml: String,
}

/// The `proxy_url` of each job, from `/api/v1/status/config` (the running configuration as
/// Prometheus shows it, secrets redacted; proxy_url is only there, not in the targets).
/// Jobs without one map to `None`.
pub fn parse_config_proxies(body: &[u8]) -> Result<BTreeMap<String, Option<String>>, String> {
    let env: ConfigEnvelope = serde_json::from_slice(body)
        .map_err(|e| format!("/api/v1/status/config: not the expected JSON: {e}"))?;
    let yaml = match (env.status.as_str(), env.data) {
        ("success", Some(d)) => d.yaml,
        (s, _) => return Err(format!("/api/v1/status/config: status {s:?}")),
    };
    let v: serde_yaml::Value = serde_yaml::from_str(&yaml)
        .map_err(|e| format!("/api/v1/status/config: unreadable YAML: {e}"))?;
    let mut out = BTreeMap::new();
    for j in v
        .get("scrape_configs")
        .and_then(|s| s.as_sequence())
        .into_iter()
        .flatten()
    {
        let Some(name) = j.get("job_name").and_then(|n| n.as_str()) else {
            continue;
        };
        let proxy = j
            .get("proxy_url")
            .and_then(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .map(str::to_owned);
        out.insert(name.to_owned(), proxy);
    }
    Ok(out)
}

/// The parts of a scrape URL a probe needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    /// `http` or `https`.
    pub scheme: crate::event::Scheme,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (the scheme's default when absent).
    pub port: u16,
    /// Path and query.
    pub path_and_query: String,
}

/// Split a scrape URL. Userinfo is dropped (never shown).
pub fn split_url(url: &str) -> Option<UrlParts> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = match uri.scheme_str()? {
        "http" => crate::event::Scheme::Http,
        "https" => crate::event::Scheme::Https,
        _ => return None,
    };
    let host = uri.host()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .to_owned();
    Some(UrlParts {
        scheme,
        port: uri.port_u16().unwrap_or(scheme.default_port()),
        host,
        path_and_query: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_of_prometheus_2_42_parse() {
        let body = br#"{"status":"success","data":{"activeTargets":[{"discoveredLabels":{"__address__":"10.0.0.2:9100"},"labels":{"instance":"10.0.0.2:9100","job":"node"},"scrapePool":"node","scrapeUrl":"http://10.0.0.2:9100/metrics","globalUrl":"http://10.0.0.2:9100/metrics","lastError":"","lastScrape":"2026-11-29T10:00:00.123456789Z","lastScrapeDuration":0.0042,"health":"up","scrapeInterval":"1s","scrapeTimeout":"800ms"}],"droppedTargets":[]}}"#;
        let t = parse_targets(body).expect("parses");
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].scrape_pool, "node");
        assert_eq!(t[0].labels["instance"], "10.0.0.2:9100");
        assert_eq!(t[0].scrape_interval.as_deref(), Some("1s"));
        assert!(parse_targets(br#"{"status":"error","error":"x"}"#).is_err());
        assert!(parse_targets(b"<html>").is_err());
    }

    #[test]
    fn proxies_come_from_the_running_configuration() {
        let body = br#"{"status":"success","data":{"yaml":"global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: a\n  proxy_url: http://127.0.0.1:3128\n  follow_redirects: true\n- job_name: b\n"}}"#;
        let p = parse_config_proxies(body).expect("parses");
        assert_eq!(p["a"].as_deref(), Some("http://127.0.0.1:3128"));
        assert_eq!(p["b"], None);
        assert!(parse_config_proxies(br#"{"status":"error"}"#).is_err());
    }

    #[test]
    fn urls_split() {
        let u = split_url("http://u:p@[::1]:9100/probe?target=a").expect("url");
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, 9100);
        assert_eq!(u.path_and_query, "/probe?target=a");
        let u = split_url("https://h.example/metrics").expect("url");
        assert_eq!(u.port, 443);
        assert!(split_url("ftp://h/").is_none());
    }
}
