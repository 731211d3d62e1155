//! Target groups from files (file_sd JSON/YAML, plain lists) and from DNS (dns_sd_configs).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::outline::{Outline, Pos};
use super::relabel::{Labels, valid_label_name};
use super::{ConfigError, Loc};

/// DNS lookups for `dns_sd_configs`. The engine implements it with its own resolver so the
/// lookups show in DNS history; tests use an in-memory table.
pub trait SdResolver {
    /// Addresses of `name` (A and AAAA; the caller keeps the family it asked for).
    fn lookup_ip(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<IpAddr>, LookupError>> + Send;
    /// SRV records of `name`: (target, port).
    fn lookup_srv(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<(String, u16)>, LookupError>> + Send;
}

/// Why a discovery lookup gave nothing. A failed lookup is not a configuration error: it
/// becomes the notice `dns_sd in job "J": SRV lookup of NAME failed: <Display>` and the job
/// keeps its other targets, as Prometheus logs and retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The resolver answered with a failure (or none in time); `message` is its own words.
    #[error("{message}")]
    Failed {
        /// Classified as the DNS events classify it.
        kind: crate::event::DnsFailKind,
        /// The resolver's message (names a host, never a secret).
        message: String,
    },
    /// `scrapetop check` makes no lookups.
    #[error("no lookup of {name} in check mode")]
    CheckMode {
        /// The name that would have been looked up.
        name: String,
    },
}

/// A resolver that answers nothing, for `scrapetop check` (no lookups are made there).
pub struct NoLookups;

impl SdResolver for NoLookups {
    async fn lookup_ip(&self, name: &str) -> Result<Vec<IpAddr>, LookupError> {
        Err(LookupError::CheckMode { name: name.into() })
    }
    async fn lookup_srv(&self, name: &str) -> Result<Vec<(String, u16)>, LookupError> {
        Err(LookupError::CheckMode { name: name.into() })
    }
}

/// A target group: addresses sharing labels, with where each address was written.
#[derive(Debug, Clone)]
pub struct Group {
    /// `__address__` values and their location.
    pub targets: Vec<(String, Option<Loc>)>,
    /// Labels of the group (including `__meta_*`).
    pub labels: Labels,
}

#[derive(Deserialize)]
struct JsonGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YamlGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Map a serde_yaml error to a located error, without serde_yaml's own " at line …" suffix.
pub(crate) fn yaml_error(file: &Path, e: &serde_yaml::Error) -> ConfigError {
    let mut msg = e.to_string();
    match e.location() {
        Some(loc) => {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            if let Some(i) = msg.find(&suffix) {
                msg.replace_range(i..i + suffix.len(), "");
            }
            msg = shorten_expected(&msg);
            ConfigError::located(
                file,
                Some(Pos {
                    line: loc.line(),
                    column: loc.column(),
                }),
                msg,
            )
        }
        None => ConfigError::located(file, None, msg),
    }
}

/// serde lists every accepted key after an unknown one (dozens for a scrape config); say
/// instead which key was probably meant.
fn shorten_expected(msg: &str) -> String {
    let Some(i) = msg.find(", expected one of ") else {
        return msg.to_owned();
    };
    let (head, list) = msg.split_at(i);
    let unknown = head.rsplit('`').nth(1).unwrap_or("");
    let best = list
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|k| (edit_distance(unknown, k), k))
        .min();
    match best {
        Some((d, k)) if d <= 3 && !unknown.is_empty() => format!("{head}, did you mean `{k}`?"),
        _ => format!("{head}{list}"),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Which format a file of targets is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// file_sd JSON.
    Json,
    /// file_sd YAML.
    Yaml,
    /// One `host:port` or URL per line.
    Plain,
}

/// Guess the format of a `--targets` file from its content.
pub fn detect(text: &str) -> Format {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    match first {
        Some(l) if l.starts_with('[') || l.starts_with('{') => Format::Json,
        Some(l) if l.starts_with("- ") || l == "-" || l.starts_with("targets:") => Format::Yaml,
        _ => Format::Plain,
    }
}

/// Parse a file_sd file's text (format by extension or detection), adding `__meta_filepath`.
pub fn parse_sd_file(
    path: &Path,
    text: &str,
    format: Format,
    compat: super::Compat,
) -> Result<Vec<Group>, ConfigError> {
    let raw: Vec<(Vec<String>, BTreeMap<String, String>)> = match format {
        Format::Json => {
            let g: Vec<JsonGroup> = serde_json::from_str(text).map_err(|e| {
                ConfigError::located(
                    path,
                    Some(Pos {
                        line: e.line(),
                        column: e.column(),
                    }),
                    e.to_string()
                        .split(" at line ")
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })?;
            g.into_iter().map(|g| (g.targets, g.labels)).collect()
        }
        Format::Yaml | Format::Plain => {
            if text.trim().is_empty() {
                Vec::new()
            } else {
                let g: Vec<YamlGroup> =
                    serde_yaml::from_str(text).map_err(|e| yaml_error(path, &e))?;
                g.into_iter().map(|g| (g.targets, g.labels)).collect()
            }
        }
    };
    let outline = Outline::new(text);
    let mut groups = Vec::new();
    for (targets, mut labels) in raw {
        for name in labels.keys() {
            if !valid_label_name(name, compat) {
                let pos = outline.value(outline.all(), name);
                return Err(ConfigError::located(
                    path,
                    pos,
                    format!("{name:?} is not a valid label name"),
                ));
            }
        }
        labels.insert(
            "__meta_filepath".to_owned(),
            path.to_string_lossy().into_owned(),
        );
        let targets = targets
            .into_iter()
            .map(|t| {
                let loc = outline.value(outline.all(), &t).map(|p| Loc {
                    file: path.to_owned(),
                    pos: p,
                });
                (t, loc)
            })
            .collect();
        groups.push(Group { targets, labels });
    }
    Ok(groups)
}

/// Parse a plain list: one `host:port` or URL per line, `#` comments, blank lines.
pub fn parse_plain(path: &Path, text: &str) -> Vec<(String, Loc)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let content = match line.find('#') {
            Some(c) => &line[..c],
            None => line,
        };
        let t = content.trim();
        if t.is_empty() {
            continue;
        }
        let col = content.len() - content.trim_start().len() + 1;
        out.push((
            t.to_owned(),
            Loc {
                file: path.to_owned(),
                pos: Pos {
                    line: i + 1,
                    column: col,
                },
            },
        ));
    }
    out
}

/// Whether a file_sd pattern is acceptable, as Prometheus checks it.
pub fn valid_sd_pattern(p: &str) -> bool {
    let name = p.rsplit('/').next().unwrap_or(p);
    let dir_has_glob = p.len() > name.len() && p[..p.len() - name.len()].contains('*');
    let lower = name.to_ascii_lowercase();
    let ext_ok = [".json", ".yml", ".yaml"]
        .iter()
        .any(|e| lower.ends_with(e))
        && [".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"]
            .iter()
            .any(|e| name.ends_with(e));
    !dir_has_glob && ext_ok
}

/// Match `name` against a glob with `*`, `?` and `[...]` classes (`[^...]` negated, `a-z`
/// ranges), as Go's `filepath.Match` that Prometheus uses.
fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    match (pat.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pat[1..], name) || (!name.is_empty() && glob_match(pat, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob_match(&pat[1..], &name[1..]),
        (Some(b'['), Some(&c)) => match class(&pat[1..], c) {
            Some((true, rest)) => glob_match(rest, &name[1..]),
            _ => false,
        },
        (Some(p), Some(n)) if p == n => glob_match(&pat[1..], &name[1..]),
        _ => false,
    }
}

/// Whether `c` is in the class whose text follows `[`, and the pattern after its `]`; `None`
/// for a class without `]` (a malformed pattern matches nothing).
fn class(pat: &[u8], c: u8) -> Option<(bool, &[u8])> {
    let (negated, mut p) = match pat.first() {
        Some(b'^') => (true, &pat[1..]),
        _ => (false, pat),
    };
    let mut hit = false;
    let mut first = true;
    loop {
        match p {
            [b']', rest @ ..] if !first => return Some((hit != negated, rest)),
            [lo, b'-', hi, rest @ ..] if *hi != b']' => {
                hit |= (*lo..=*hi).contains(&c);
                p = rest;
            }
            [x, rest @ ..] => {
                hit |= *x == c;
                p = rest;
            }
            [] => return None,
        }
        first = false;
    }
}

/// Files matching a pattern whose last component may hold `*` or `?`, sorted.
pub fn expand_glob(pattern: &Path) -> Vec<PathBuf> {
    let Some(name) = pattern.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    if !name.contains(['*', '?', '[']) {
        return if pattern.is_file() {
            vec![pattern.to_owned()]
        } else {
            Vec::new()
        };
    }
    let dir = match pattern.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name();
            // Go's filepath.Glob, which Prometheus uses, matches names starting with a dot too.
            n.to_str()
                .is_some_and(|n| glob_match(name.as_bytes(), n.as_bytes()))
        })
        .map(|e| pattern.with_file_name(e.file_name()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Record types of dns_sd_configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsKind {
    /// SRV records (the default).
    Srv,
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
}

impl DnsKind {
    /// As written in the configuration.
    pub fn as_str(&self) -> &'static str {
        match self {
            DnsKind::Srv => "SRV",
            DnsKind::A => "A",
            DnsKind::Aaaa => "AAAA",
        }
    }
}

/// Resolve one dns_sd name into groups, one per record (as Prometheus does).
pub async fn dns_groups(
    sd: &impl SdResolver,
    name: &str,
    kind: DnsKind,
    port: u16,
) -> Result<Vec<Group>, LookupError> {
    let mut groups = Vec::new();
    let mut push = |addr: String, extra: &[(&str, String)]| {
        let mut labels = Labels::new();
        labels.insert("__meta_dns_name".into(), name.to_owned());
        for (k, v) in extra {
            labels.insert((*k).to_owned(), v.clone());
        }
        groups.push(Group {
            targets: vec![(addr, None)],
            labels,
        });
    };
    match kind {
        DnsKind::Srv => {
            for (target, p) in sd.lookup_srv(name).await? {
                let addr = join_host_port(target.trim_end_matches('.'), p);
                push(
                    addr,
                    &[
                        ("__meta_dns_srv_record_target", target.clone()),
                        ("__meta_dns_srv_record_port", p.to_string()),
                    ],
                );
            }
        }
        DnsKind::A | DnsKind::Aaaa => {
            for ip in sd.lookup_ip(name).await? {
                if ip.is_ipv4() == (kind == DnsKind::A) {
                    push(join_host_port(&ip.to_string(), port), &[]);
                }
            }
        }
    }
    Ok(groups)
}

/// `host:port`, bracketing IPv6 addresses.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `check` resolves nothing: the lookup fails as its own variant, with the message the
    /// discovery notice quotes.
    #[tokio::test]
    async fn check_mode_lookups_fail_typed() {
        for kind in [DnsKind::Srv, DnsKind::A] {
            let e = dns_groups(&NoLookups, "_x._tcp.example", kind, 80)
                .await
                .expect_err("no lookups in check mode");
            assert_eq!(
                e,
                LookupError::CheckMode {
                    name: "_x._tcp.example".into()
                }
            );
            assert_eq!(e.to_string(), "no lookup of _x._tcp.example in check mode");
        }
    }

    #[test]
    fn globs_match_as_go_does() {
        let cases = [
            ("*.json", "a.json", true),
            ("*.json", "a.yml", false),
            ("node-?.yml", "node-1.yml", true),
            ("node-[0-9].yml", "node-7.yml", true),
            ("node-[0-9].yml", "node-x.yml", false),
            ("node-[^0-9].yml", "node-x.yml", true),
            ("node-[ab].yml", "node-b.yml", true),
            ("node-[ab.yml", "node-a.yml", false),
            ("[]a]*", "]x", true),
        ];
        for (pat, name, want) in cases {
            assert_eq!(
                glob_match(pat.as_bytes(), name.as_bytes()),
                want,
                "{pat} {name}"
            );
        }
    }
}
