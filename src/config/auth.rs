//! Credentials and TLS of a job (`basic_auth`, `authorization`, `bearer_token(_file)`,
//! `tls_config`), checked as prometheus/common's HTTP client config checks them.
//!
//! Conflicting keys are load errors, as in every Prometheus version. A credentials or TLS file
//! that cannot be read is not: Prometheus reads those per request or per job client, so the
//! configuration loads and that job's scrapes fail. scrapetop does the same: the message goes
//! into [`JobSettings::scrape_error`](crate::engine::spec::JobSettings::scrape_error).

use std::path::{Path, PathBuf};

use super::raw::{RawScrapeConfig, RawTls};
use super::{ConfigError, Loc, files, resolve};
use crate::engine::spec::{Auth, Secret, TlsSettings};

/// A job's credentials and TLS settings, and what its scrapes fail with (a file that could not
/// be read) plus notices about what scrapetop does instead of unsupported settings.
#[derive(Debug, Default)]
pub(super) struct JobAuth {
    pub auth: Auth,
    pub tls: TlsSettings,
    pub scrape_error: Option<String>,
    pub notices: Vec<String>,
}

/// Read a credentials file (trimmed, as Prometheus does); the error is Prometheus's wording.
fn read_secret(dir: &Path, file: &str, what: &str) -> Result<Secret, String> {
    let p = resolve(dir, file);
    files::read_bounded(&p, "file")
        .map(|s| Secret::new(s.trim()))
        .map_err(|e| {
            let why = e.msg.trim_start_matches("reading file: ");
            format!(
                "unable to read {what}: unable to read file {}: {why}",
                p.display()
            )
        })
}

/// Credentials and TLS of job `j`, paths resolved against `dir`; `at` locates a key.
pub(super) fn build_job_auth(
    j: &RawScrapeConfig,
    dir: &Path,
    at: &dyn Fn(&str) -> Loc,
) -> Result<JobAuth, ConfigError> {
    check_conflicts(j, at)?;
    let mut out = JobAuth::default();
    let fail = |e: String, out: &mut JobAuth| {
        out.scrape_error.get_or_insert(e);
    };
    if let Some(b) = &j.basic_auth {
        let username = match &b.username_file {
            Some(f) => match read_secret(dir, f, "basic auth username") {
                Ok(s) => s.expose().to_owned(),
                Err(e) => {
                    fail(e, &mut out);
                    String::new()
                }
            },
            None => b.username.clone().unwrap_or_default(),
        };
        let password = match (&b.password, &b.password_file) {
            (Some(p), _) => p.0.clone(),
            (None, Some(f)) => read_secret(dir, f, "basic auth password").unwrap_or_else(|e| {
                fail(e, &mut out);
                Secret::new("")
            }),
            (None, None) => Secret::new(""),
        };
        if b.username_ref.is_some() || b.password_ref.is_some() {
            out.notices.push(
                "basic_auth username_ref/password_ref need a secret manager, which scrapetop does not have: scraped without them".into(),
            );
        }
        out.auth = Auth::Basic { username, password };
    } else if let Some(a) = &j.authorization {
        let kind = a
            .kind
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .unwrap_or("Bearer")
            .to_owned();
        let credentials = match (&a.credentials, &a.credentials_file) {
            (Some(c), _) => c.0.clone(),
            (None, Some(f)) => {
                read_secret(dir, f, "authorization credentials").unwrap_or_else(|e| {
                    fail(e, &mut out);
                    Secret::new("")
                })
            }
            (None, None) => Secret::new(""),
        };
        if a.credentials_ref.is_some() {
            out.notices.push(
                "authorization credentials_ref needs a secret manager, which scrapetop does not have: scraped without it".into(),
            );
        }
        out.auth = Auth::Authorization { kind, credentials };
    } else if let Some(t) = &j.bearer_token {
        out.auth = Auth::Authorization {
            kind: "Bearer".into(),
            credentials: t.0.clone(),
        };
    } else if let Some(f) = &j.bearer_token_file {
        let credentials = read_secret(dir, f, "authorization credentials").unwrap_or_else(|e| {
            fail(e, &mut out);
            Secret::new("")
        });
        out.auth = Auth::Authorization {
            kind: "Bearer".into(),
            credentials,
        };
    }
    if let Some(t) = &j.tls_config {
        let (tls, err) = build_tls(t, dir, at, &mut out.notices)?;
        out.tls = tls;
        if let Some(e) = err {
            fail(e, &mut out);
        }
    }
    Ok(out)
}

/// The combinations every Prometheus version refuses (prometheus/common `Validate`).
fn check_conflicts(j: &RawScrapeConfig, at: &dyn Fn(&str) -> Loc) -> Result<(), ConfigError> {
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
    let err = |loc: Loc, msg: &str| Err(ConfigError::at(&loc, msg));
    if j.bearer_token.is_some() && j.bearer_token_file.is_some() {
        return err(
            at("bearer_token"),
            "at most one of bearer_token & bearer_token_file must be configured",
        );
    }
    if bearer && (basic || oauth) {
        return err(
            last(&[
                ("bearer_token", j.bearer_token.is_some()),
                ("bearer_token_file", j.bearer_token_file.is_some()),
                ("basic_auth", basic),
                ("oauth2", oauth),
            ]),
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        );
    }
    if let Some(b) = &j.basic_auth {
        let n = |v: &[bool]| v.iter().filter(|b| **b).count();
        if n(&[
            b.username.is_some(),
            b.username_file.is_some(),
            b.username_ref.is_some(),
        ]) > 1
        {
            return err(
                at("basic_auth"),
                "at most one of basic_auth username, username_file & username_ref must be configured",
            );
        }
        if n(&[
            b.password.is_some(),
            b.password_file.is_some(),
            b.password_ref.is_some(),
        ]) > 1
        {
            return err(
                at("basic_auth"),
                "at most one of basic_auth password, password_file & password_ref must be configured",
            );
        }
    }
    if let Some(a) = &j.authorization {
        if bearer {
            return err(
                at("authorization"),
                "authorization is not compatible with bearer_token & bearer_token_file",
            );
        }
        let set = [
            a.credentials.is_some(),
            a.credentials_file.is_some(),
            a.credentials_ref.is_some(),
        ];
        if set.iter().filter(|b| **b).count() > 1 {
            return err(
                at("authorization"),
                "at most one of authorization credentials & credentials_file must be configured",
            );
        }
        let kind = a.kind.as_deref().map(str::trim).unwrap_or("");
        if kind.eq_ignore_ascii_case("basic") {
            return err(
                at("authorization"),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            );
        }
    }
    if [basic, authz, oauth].iter().filter(|b| **b).count() > 1 {
        return err(
            last(&[
                ("basic_auth", basic),
                ("authorization", authz),
                ("oauth2", oauth),
            ]),
            "at most one of basic_auth, oauth2 & authorization must be configured",
        );
    }
    Ok(())
}

/// `tls_config`: settings, the error its scrapes fail with (a file that cannot be read), and
/// notices for what scrapetop does instead of inline certificates.
fn build_tls(
    t: &RawTls,
    dir: &Path,
    at: &dyn Fn(&str) -> Loc,
    notices: &mut Vec<String>,
) -> Result<(TlsSettings, Option<String>), ConfigError> {
    let pairs = [
        ("ca", t.ca.is_some(), "ca_file", t.ca_file.is_some()),
        ("cert", t.cert.is_some(), "cert_file", t.cert_file.is_some()),
        ("key", t.key.is_some(), "key_file", t.key_file.is_some()),
    ];
    for (inline, a, file, b) in pairs {
        if a && b {
            return Err(ConfigError::at(
                &at("tls_config"),
                format!("at most one of {inline} and {file} must be configured"),
            ));
        }
    }
    let has_cert = t.cert.is_some() || t.cert_file.is_some() || t.cert_ref.is_some();
    let has_key = t.key.is_some() || t.key_file.is_some() || t.key_ref.is_some();
    if has_cert && !has_key {
        return Err(ConfigError::at(
            &at("cert_file"),
            "exactly one of key or key_file must be configured when a client certificate is configured",
        ));
    }
    if has_key && !has_cert {
        return Err(ConfigError::at(
            &at("key_file"),
            "exactly one of cert or cert_file must be configured when a client key is configured",
        ));
    }
    if t.ca.is_some() || t.ca_ref.is_some() {
        notices.push(
            "tls_config ca given inline or by reference: scrapetop reads CA certificates from ca_file only, so the server is verified against the system roots".into(),
        );
    }
    let inline_client = t.cert.is_some() || t.key.is_some();
    if inline_client || t.cert_ref.is_some() || t.key_ref.is_some() {
        notices.push(
            "tls_config client certificate given inline or by reference: scrapetop reads it from cert_file and key_file only, so it is scraped without a client certificate".into(),
        );
    }
    let mut error = None;
    let mut file = |v: &Option<String>, what: &str| -> Option<PathBuf> {
        let p = resolve(dir, v.as_deref()?);
        if let Err(e) = files::read_bounded(&p, "file") {
            let why = e.msg.trim_start_matches("reading file: ").to_owned();
            error.get_or_insert(format!(
                "unable to read {what}: unable to read file {}: {why}",
                p.display()
            ));
        }
        Some(p)
    };
    let ca_file = file(&t.ca_file, "CA cert");
    let cert_file = file(&t.cert_file, "specified client cert");
    let key_file = file(&t.key_file, "specified client key");
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
        notices.push("tls_config max_version: scrapetop negotiates up to TLS 1.3".to_owned());
    }
    let settings = TlsSettings {
        ca_file,
        cert_file,
        key_file,
        server_name: t.server_name.clone().filter(|s| !s.is_empty()),
        insecure_skip_verify: t.insecure_skip_verify.unwrap_or(false),
        min_version,
    };
    Ok((settings, error))
}

/// An HTTP client configuration file, the format of promtool's `--http.config.file` (the
/// client half of prometheus/common's `HTTPClientConfig`): scrapetop attach reads a
/// Prometheus API with it. As strict as Prometheus; keys scrapetop does not use are refused
/// rather than silently ignored, since the API would then be read without them.
#[derive(Debug, serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawHttpClientFile {
    basic_auth: Option<super::raw::RawBasicAuth>,
    authorization: Option<super::raw::RawAuthorization>,
    bearer_token: Option<super::raw::YamlSecret>,
    bearer_token_file: Option<String>,
    tls_config: Option<RawTls>,
    follow_redirects: Option<bool>,
    enable_http2: Option<bool>,
}

/// Read an HTTP client configuration file (`--http.config.file`): credentials and TLS, with
/// paths relative to the file, checked as a job's are. Unlike a job (whose scrapes fail), an
/// unreadable credentials or CA file is an error here: there is nothing to fall back to.
pub(crate) fn http_client_file(
    path: &Path,
) -> Result<(Auth, TlsSettings, Vec<String>), ConfigError> {
    let text = files::read_source(path, "HTTP client configuration")?;
    let raw: RawHttpClientFile =
        serde_yaml::from_str(&text).map_err(|e| super::sd::yaml_error(path, &e))?;
    let o = super::outline::Outline::new(&text);
    let at = |k: &str| Loc {
        file: path.to_owned(),
        pos: o
            .key(o.all(), k)
            .map(|(_, p)| p)
            .unwrap_or_else(|| o.start(o.all())),
    };
    let job = RawScrapeConfig {
        basic_auth: raw.basic_auth,
        authorization: raw.authorization,
        bearer_token: raw.bearer_token,
        bearer_token_file: raw.bearer_token_file,
        tls_config: raw.tls_config,
        follow_redirects: raw.follow_redirects,
        enable_http2: raw.enable_http2,
        ..Default::default()
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let ja = build_job_auth(&job, dir, &at)?;
    if let Some(e) = ja.scrape_error {
        return Err(ConfigError::File {
            file: path.to_owned(),
            msg: e,
        });
    }
    Ok((ja.auth, ja.tls, ja.notices))
}
