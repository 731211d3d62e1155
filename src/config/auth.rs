//! Credentials and TLS of a job (`basic_auth`, `authorization`, `bearer_token(_file)`,
//! `tls_config`), checked as prometheus/common's HTTP client config checks them.

use std::path::{Path, PathBuf};

use super::raw::{RawScrapeConfig, RawTls};
use super::{ConfigError, Loc, files, resolve};
use crate::engine::spec::{Auth, Secret, TlsSettings};

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

pub(super) fn build_auth(
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

pub(super) fn build_tls(
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
