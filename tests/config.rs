//! Configuration fixtures modelled on what people run, and invalid ones, each with the exact
//! targets or the exact error (file:line:column).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use scrapetop::config::{self, ConfigError, Loaded, LookupError, SdResolver, SourceArgs};
use scrapetop::engine::spec::Auth;
use scrapetop::event::DnsFailKind;

const DIR: &str = "tests/fixtures/configs";

/// DNS answers for dns_sd fixtures.
struct FakeDns {
    ips: HashMap<&'static str, Vec<IpAddr>>,
    srv: HashMap<&'static str, Vec<(String, u16)>>,
}

impl FakeDns {
    fn new() -> Self {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("{s}: {e}"));
        FakeDns {
            ips: HashMap::from([(
                "api.example.com",
                vec![ip("192.0.2.10"), ip("192.0.2.11"), ip("2001:db8::10")],
            )]),
            srv: HashMap::from([
                (
                    "_node-exporter._tcp.service.consul",
                    vec![
                        ("node-a.node.consul.".to_owned(), 9100),
                        ("node-b.node.consul.".to_owned(), 9100),
                    ],
                ),
                (
                    "_metrics._tcp.shards.example.com",
                    (1..=6)
                        .map(|i| (format!("shard-{i}.example.com."), 9000))
                        .collect(),
                ),
            ]),
        }
    }
}

fn nxdomain() -> LookupError {
    LookupError::Failed {
        kind: DnsFailKind::Nxdomain,
        message: "NXDOMAIN".to_owned(),
    }
}

impl SdResolver for FakeDns {
    async fn lookup_ip(&self, name: &str) -> Result<Vec<IpAddr>, LookupError> {
        self.ips.get(name).cloned().ok_or_else(nxdomain)
    }
    async fn lookup_srv(&self, name: &str) -> Result<Vec<(String, u16)>, LookupError> {
        self.srv.get(name).cloned().ok_or_else(nxdomain)
    }
}

fn path(rel: &str) -> PathBuf {
    Path::new(DIR).join(rel)
}

async fn load_config(rel: &str) -> Result<Loaded, ConfigError> {
    let args = SourceArgs {
        config: Some(path(rel)),
        ..SourceArgs::default()
    };
    config::load(&args, &FakeDns::new()).await
}

/// One line per target: `job interval/timeout url {labels}`.
fn summary(l: &Loaded) -> Vec<String> {
    l.targets
        .iter()
        .map(|t| {
            let labels: Vec<String> = t.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(
                "{} {}s/{}s {} {{{}}}",
                t.job.name,
                t.job.interval.as_secs(),
                t.job.timeout.as_secs(),
                t.url(),
                labels.join(",")
            )
        })
        .collect()
}

#[tokio::test]
async fn valid_fixtures_give_exact_targets() {
    let cases: &[(&str, &[&str])] = &[
        (
            "valid/node_fleet.yml",
            &[
                "prometheus 15s/10s http://localhost:9090/metrics {instance=localhost:9090,job=prometheus}",
                "node 30s/10s http://10.0.0.11:9100/metrics {host=10.0.0.11,instance=10.0.0.11:9100,job=node,rack=a}",
                "node 30s/10s http://10.0.0.12:9100/metrics {host=10.0.0.12,instance=10.0.0.12:9100,job=node,rack=a}",
                "node 30s/10s http://node-3.example.internal:9100/metrics {host=node-3.example.internal,instance=node-3.example.internal:9100,job=node,rack=b}",
                "node 30s/10s http://[2001:db8::13]:9100/metrics {host=2001:db8::13,instance=[2001:db8::13]:9100,job=node,rack=b}",
            ],
        ),
        (
            "valid/blackbox.yml",
            &[
                "blackbox-http 60s/15s http://blackbox-exporter:9115/probe?module=http_2xx&target=https%3A%2F%2Fexample.com {instance=https://example.com,job=blackbox-http}",
                "blackbox-http 60s/15s http://blackbox-exporter:9115/probe?module=http_2xx&target=https%3A%2F%2Fgrafana.example.com%2Flogin {instance=https://grafana.example.com/login,job=blackbox-http}",
                "blackbox-http 60s/15s http://blackbox-exporter:9115/probe?module=http_2xx&target=http%3A%2F%2Fintranet.example.local%3A8080%2Fhealth%3Ffull%3D1 {instance=http://intranet.example.local:8080/health?full=1,job=blackbox-http}",
                "blackbox-icmp 60s/10s http://blackbox-exporter:9115/probe?module=icmp&target=10.0.0.1 {instance=10.0.0.1,job=blackbox-icmp}",
                "blackbox-icmp 60s/10s http://blackbox-exporter:9115/probe?module=icmp&target=10.0.0.2 {instance=10.0.0.2,job=blackbox-icmp}",
            ],
        ),
        (
            "valid/file_sd.yml",
            &[
                "services 20s/10s http://web-1:8080/metrics {environment=prod,instance=web-1:8080,job=services,sd_file=web,team=web}",
                "services 20s/10s http://web-2:8080/metrics {environment=prod,instance=web-2:8080,job=services,sd_file=web,team=web}",
                "services 20s/10s https://db-1:9187/metrics {instance=db-1:9187,job=services,sd_file=db,team=data}",
                "services 20s/10s https://db-2:9187/metrics {instance=db-2:9187,job=services,sd_file=db,team=data}",
            ],
        ),
        (
            "valid/dns_sd.yml",
            &[
                "consul-nodes 60s/10s http://node-a.node.consul:9100/metrics {instance=node-a.node.consul:9100,job=consul-nodes}",
                "consul-nodes 60s/10s http://node-b.node.consul:9100/metrics {instance=node-b.node.consul:9100,job=consul-nodes}",
                "api 10s/10s http://192.0.2.10:9102/metrics {dns_name=api.example.com,instance=192.0.2.10:9102,job=api}",
                "api 10s/10s http://192.0.2.11:9102/metrics {dns_name=api.example.com,instance=192.0.2.11:9102,job=api}",
                "api 10s/10s http://[2001:db8::10]:9102/metrics {dns_name=api.example.com,instance=[2001:db8::10]:9102,job=api}",
                // hashmod 2 keeps the shards whose MD5 ends in an even number (checked
                // against Python's hashlib): all but shard-1.
                "shards 60s/10s http://shard-2.example.com:9000/metrics {instance=shard-2.example.com:9000,job=shards}",
                "shards 60s/10s http://shard-3.example.com:9000/metrics {instance=shard-3.example.com:9000,job=shards}",
                "shards 60s/10s http://shard-4.example.com:9000/metrics {instance=shard-4.example.com:9000,job=shards}",
                "shards 60s/10s http://shard-5.example.com:9000/metrics {instance=shard-5.example.com:9000,job=shards}",
                "shards 60s/10s http://shard-6.example.com:9000/metrics {instance=shard-6.example.com:9000,job=shards}",
            ],
        ),
        (
            "valid/https.yml",
            &[
                "secure 60s/10s https://metrics-1.internal:443/metrics {instance=metrics-1.internal:443,job=secure}",
                "secure 60s/10s https://metrics-2.internal:8443/metrics {instance=metrics-2.internal:8443,job=secure}",
                "self-signed 60s/10s https://appliance.lan:443/metrics {instance=appliance.lan:443,job=self-signed}",
            ],
        ),
        (
            "valid/auth.yml",
            &[
                "basic 60s/10s http://app-1:8080/metrics {instance=app-1:8080,job=basic}",
                "basic-inline 60s/10s http://app-2:8080/metrics {instance=app-2:8080,job=basic-inline}",
                "bearer 60s/10s http://app-3:8080/metrics {instance=app-3:8080,job=bearer}",
                "legacy-bearer 60s/10s http://app-4:8080/metrics {instance=app-4:8080,job=legacy-bearer}",
            ],
        ),
    ];
    for (file, want) in cases {
        let loaded = load_config(file)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let got = summary(&loaded);
        assert_eq!(got, want.to_vec(), "{file}");
    }
}

#[tokio::test]
async fn blackbox_probes_share_one_pool() {
    let l = load_config("valid/blackbox.yml")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let http: Vec<_> = l
        .targets
        .iter()
        .filter(|t| &*t.job.name == "blackbox-http")
        .collect();
    assert_eq!(http.len(), 3);
    assert!(
        http.iter()
            .all(|t| t.pool_key().endpoint() == "http://blackbox-exporter:9115")
    );
    // One job, one settings value shared by all its targets.
    assert!(http.iter().all(|t| Arc::ptr_eq(&t.job, &http[0].job)));
}

#[tokio::test]
async fn notices_report_ignored_sections_and_failed_lookups() {
    let l = load_config("valid/node_fleet.yml")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        l.notices,
        [
            "ignored: rule_files (scrapetop only scrapes targets)",
            "ignored: alerting (scrapetop only scrapes targets)",
            "ignored: remote_write (scrapetop only scrapes targets)",
        ]
    );
    let l = load_config("valid/dns_sd.yml")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        l.notices,
        ["dns_sd in job \"api\": A lookup of unresolvable.example.com failed: NXDOMAIN"]
    );
    assert_eq!(l.dns_sd_refresh, Some(Duration::from_secs(15)));
    let l = load_config("valid/file_sd.yml")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        l.notices,
        [
            "file_sd in job \"services\": no file matches tests/fixtures/configs/valid/sd/missing-*.yaml"
        ]
    );
    // The globs, each with its refresh_interval (default 5m), not the directory.
    assert_eq!(
        l.watch.patterns,
        [
            (path("valid/sd/*.json"), Duration::from_secs(60)),
            (path("valid/sd/*.yml"), Duration::from_secs(60)),
            (path("valid/sd/missing-*.yaml"), Duration::from_secs(300)),
        ]
    );
    let l = load_config("valid/https.yml")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // enable_http2 is honoured now (h2 by ALPN for https targets): no notice.
    assert!(l.notices.is_empty(), "{:?}", l.notices);
}

#[tokio::test]
async fn tls_and_auth_settings_are_read_relative_to_the_config() {
    let l = load_config("valid/https.yml")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tls = &l.targets[0].job.tls;
    assert_eq!(tls.ca_file, Some(path("valid/secrets/ca.pem")));
    assert_eq!(tls.key_file, Some(path("valid/secrets/client-key.pem")));
    assert_eq!(tls.server_name.as_deref(), Some("metrics.internal"));
    assert_eq!(tls.min_version.as_deref(), Some("TLS12"));
    assert!(l.targets[2].job.tls.insecure_skip_verify);
    // enable_http2 defaults to true, as in Prometheus; `false` is read.
    assert!(l.targets.iter().all(|t| t.job.enable_http2));
    let d = tempfile::tempdir().expect("tempdir");
    let f = d.path().join("p.yml");
    std::fs::write(
        &f,
        "scrape_configs:\n  - job_name: h1\n    scheme: https\n    enable_http2: false\n    \
         static_configs: [{targets: ['m:443']}]\n",
    )
    .expect("write");
    let args = SourceArgs {
        config: Some(f),
        ..SourceArgs::default()
    };
    let l = config::load(&args, &FakeDns::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!l.targets[0].job.enable_http2);

    let l = load_config("valid/auth.yml")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let auths: Vec<String> = l
        .targets
        .iter()
        .map(|t| match &t.job.auth {
            Auth::None => "none".to_owned(),
            Auth::Basic { username, password } => format!("basic {username} {}", password.expose()),
            Auth::Authorization { kind, credentials } => {
                format!("{kind} {}", credentials.expose())
            }
        })
        .collect();
    assert_eq!(
        auths,
        [
            "basic scraper file-pass-K3v",
            "basic scraper inline-pass-7Q2",
            "Bearer file-token-M8x",
            "Bearer legacy-token-Z9"
        ]
    );
    let debug = format!("{l:?}");
    for secret in [
        "file-pass-K3v",
        "inline-pass-7Q2",
        "file-token-M8x",
        "legacy-token-Z9",
    ] {
        assert!(!debug.contains(secret), "{secret} in Debug output");
    }
    assert_eq!(
        l.notices,
        [
            "kubernetes_sd_configs in job \"legacy-bearer\": Prometheus would discover targets here; scrapetop does not, so they are missing (use --prometheus URL to watch a running Prometheus)"
        ]
    );
}

#[tokio::test]
async fn invalid_fixtures_give_exact_errors() {
    let cases = [
        (
            "unknown_key.yml",
            "5:5: scrape_configs[0]: unknown field `scrape_intervall`, did you mean `scrape_interval`?",
        ),
        (
            "unknown_top_level.yml",
            "5:1: unknown field `scrape_config`, did you mean `scrape_configs`?",
        ),
        (
            "wrong_type.yml",
            "3:19: scrape_configs[0].sample_limit: invalid type: string \"lots\", expected u64",
        ),
        (
            "wrong_type_targets.yml",
            "4:18: scrape_configs[0].static_configs[0].targets: invalid type: string \"localhost:9100\", expected a sequence",
        ),
        (
            "duplicate_job.yml",
            "9:15: found multiple scrape configs with job name \"node\"",
        ),
        (
            "timeout_gt_interval.yml",
            "9:21: scrape timeout 20s greater than scrape interval 10s for scrape config with job name \"slow\"",
        ),
        (
            "global_timeout_gt_interval.yml",
            "3:19: global scrape timeout 10s greater than scrape interval 5s",
        ),
        (
            "url_target.yml",
            "6:13: \"http://localhost:9101/metrics\" is not a valid hostname",
        ),
        (
            "bad_duration.yml",
            "2:20: global.scrape_interval: not a valid duration string: \"15x\"",
        ),
        (
            "bad_regex.yml",
            "5:16: scrape_configs[0].relabel_configs[0].regex: invalid regular expression \"(.*:9100\": unclosed group",
        ),
        (
            "hashmod_no_modulus.yml",
            "6:7: relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            "bad_action.yml",
            "4:17: scrape_configs[0].relabel_configs[0].action: unknown variant `rewrite`, expected one of",
        ),
        (
            "two_auth.yml",
            "6:19: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ),
        (
            "bad_body_size.yml",
            "3:22: scrape_configs[0].body_size_limit: invalid byte size \"10XB\": unknown unit \"XB\"",
        ),
        (
            "bad_sd_path.yml",
            "4:17: path name \"targets/*.txt\" is not valid for file discovery",
        ),
        (
            "dns_a_without_port.yml",
            "4:16: a port is required in DNS-SD configs for all record types except SRV",
        ),
        (
            "unknown_tls_key.yml",
            "4:7: scrape_configs[0].tls_config: unknown field `verify`, expected one of `ca`, `ca_file`",
        ),
        (
            "not_yaml.yml",
            "3:4: did not find expected '-' indicator, while parsing a block collection at line 2 column 3",
        ),
    ];
    let mut all = String::new();
    for (file, want) in cases {
        let rel = format!("invalid/{file}");
        let err = match load_config(&rel).await {
            Ok(l) => panic!("{file}: accepted with {} targets", l.targets.len()),
            Err(e) => e.to_string(),
        };
        let want = format!("{DIR}/{rel}:{want}");
        assert!(err.starts_with(&want), "{file}:\n got: {err}\nwant: {want}");
        all.push_str(&err);
        all.push('\n');
        for secret in ["s3cr3t-never-shown", "another-s3cr3t"] {
            assert!(!err.contains(secret), "{file}: secret in {err}");
        }
    }
    // Every error in full, as an operator reads them.
    insta::assert_snapshot!("invalid_config_errors", all);
    // Every fixture in the directory is covered.
    let n = std::fs::read_dir(path("invalid")).map_or(0, |d| d.count());
    assert_eq!(n, cases.len());
}

#[tokio::test]
async fn targets_files_and_target_flags() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let plain = dir.path().join("edge.txt");
    std::fs::write(
        &plain,
        "# edge routers\n\nrouter-1:9100\n  https://router-2:9443/custom?x=1  # tls\n",
    )?;
    let json = dir.path().join("apps.json");
    std::fs::write(
        &json,
        r#"[{"targets": ["app:1"], "labels": {"tier": "front"}}]"#,
    )?;
    let yaml = dir.path().join("db.yaml");
    std::fs::write(&yaml, "- targets: [db:2]\n")?;
    let args = SourceArgs {
        config: None,
        targets_files: vec![plain.clone(), json, yaml],
        targets: vec!["localhost:9100".into(), "http://[::1]:9200/m".into()],
        interval: Some(Duration::from_secs(5)),
        timeout: None,
        compat: config::Compat::V3,
    };
    let l = config::load(&args, &FakeDns::new()).await?;
    assert_eq!(
        summary(&l),
        [
            "edge 5s/5s http://router-1:9100/metrics {instance=router-1:9100,job=edge}",
            "edge 5s/5s https://router-2:9443/custom?x=1 {instance=router-2:9443,job=edge}",
            "apps 5s/5s http://app:1/metrics {instance=app:1,job=apps,tier=front}",
            "db 5s/5s http://db:2/metrics {instance=db:2,job=db}",
            "targets 5s/5s http://localhost:9100/metrics {instance=localhost:9100,job=targets}",
            "targets 5s/5s http://[::1]:9200/m {instance=[::1]:9200,job=targets}",
        ]
    );
    // Every --targets file is watched (file_sd or plain), as README promises.
    assert_eq!(l.watch.paths().len(), 3);
    assert!(l.watch.paths().contains(&plain.as_path()));

    std::fs::write(&plain, "ok:1\n\n   bad host:1\n")?;
    let e = config::load(
        &SourceArgs {
            targets_files: vec![plain.clone()],
            ..SourceArgs::default()
        },
        &FakeDns::new(),
    )
    .await
    .err()
    .ok_or("bad plain list accepted")?;
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3:4: invalid target address \"bad host:1\": invalid character ' ' in host name",
            plain.display()
        )
    );

    let e = config::load(
        &SourceArgs {
            targets: vec!["a:1".into()],
            interval: Some(Duration::from_secs(15)),
            timeout: Some(Duration::from_secs(20)),
            ..SourceArgs::default()
        },
        &FakeDns::new(),
    )
    .await
    .err()
    .ok_or("timeout above interval accepted")?;
    assert_eq!(
        e.to_string(),
        "--timeout 20s is above --interval 15s: Prometheus refuses a scrape timeout greater than the scrape interval"
    );
    Ok(())
}

#[test]
fn check_output_snapshots() {
    let valid: Vec<PathBuf> = [
        "node_fleet.yml",
        "blackbox.yml",
        "file_sd.yml",
        "dns_sd.yml",
        "https.yml",
        "auth.yml",
    ]
    .iter()
    .map(|f| path(&format!("valid/{f}")))
    .collect();
    let (text, status) = config::check::check_report(&valid, false);
    assert_eq!(status, 0);
    insta::assert_snapshot!("check_valid", text);
    let (json, status) = config::check::check_report(&valid[..2], true);
    assert_eq!(status, 0);
    insta::assert_snapshot!("check_valid_json", json);

    let mixed = [path("valid/blackbox.yml"), path("invalid/two_auth.yml")];
    let (text, status) = config::check::check_report(&mixed, false);
    assert_eq!(status, 1);
    insta::assert_snapshot!("check_mixed", text);
    let (json, _) = config::check::check_report(&mixed, true);
    for out in [&text, &json] {
        for secret in [
            "file-pass-K3v",
            "inline-pass-7Q2",
            "file-token-M8x",
            "legacy-token-Z9",
            "s3cr3t-never-shown",
            "another-s3cr3t",
        ] {
            assert!(!out.contains(secret), "{secret} in check output");
        }
    }
    let (all, _) = config::check::check_report(&valid, true);
    for secret in [
        "file-pass-K3v",
        "inline-pass-7Q2",
        "file-token-M8x",
        "legacy-token-Z9",
    ] {
        assert!(!all.contains(secret), "{secret} in check --output json");
    }
}

#[tokio::test]
async fn secrets_of_any_yaml_type_never_reach_errors() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("p.yml");
    // Numbers and booleans are read as the secret string, never echoed in a type error.
    std::fs::write(
        &cfg,
        "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: 987654321}\n    static_configs: [{targets: ['h:1']}]\n",
    )?;
    let args = SourceArgs {
        config: Some(cfg.clone()),
        ..SourceArgs::default()
    };
    let l = config::load(&args, &FakeDns::new()).await?;
    match &l.targets[0].job.auth {
        Auth::Basic { password, .. } => assert_eq!(password.expose(), "987654321"),
        other => panic!("{other:?}"),
    }
    assert!(!format!("{l:?}").contains("987654321"));
    std::fs::write(
        &cfg,
        "scrape_configs:\n  - job_name: a\n    bearer_token: [987654321]\n",
    )?;
    let e = config::load(&args, &FakeDns::new())
        .await
        .err()
        .ok_or("accepted")?;
    assert!(!e.to_string().contains("987654321"), "{e}");
    Ok(())
}

#[test]
fn load_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let args = SourceArgs::default();
    let dns = FakeDns::new();
    let fut = config::load(&args, &dns);
    assert_send(&fut);
}

#[tokio::test]
async fn a_bad_discovered_target_is_skipped_with_its_location()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("sd"))?;
    std::fs::write(
        dir.path().join("sd/a.json"),
        "[{\"targets\": [\"good:1\",\n  \"bad host:2\"]}]",
    )?;
    let cfg = dir.path().join("p.yml");
    std::fs::write(
        &cfg,
        "scrape_configs:\n  - job_name: a\n    file_sd_configs: [{files: ['sd/*.json']}]\n",
    )?;
    let args = SourceArgs {
        config: Some(cfg),
        ..SourceArgs::default()
    };
    let l = config::load(&args, &FakeDns::new()).await?;
    assert_eq!(l.targets.len(), 1);
    let sd = dir.path().join("sd/a.json");
    assert_eq!(
        l.notices,
        [format!(
            "{}:2:3: skipped target \"bad host:2\" of job \"a\": invalid target address \"bad host:2\": invalid character ' ' in host name",
            sd.display()
        )]
    );
    Ok(())
}

/// Every malformed shape that once echoed a password, fed to every output this area controls:
/// load errors and notices (stderr at start, `reload` error events), `check` text and JSON, and
/// the binary's stderr.
#[tokio::test]
async fn malformed_input_never_echoes_a_secret() -> Result<(), Box<dyn std::error::Error>> {
    const S: &str = "Hunter2Pw";
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let write = |name: &str, text: String| -> std::io::Result<PathBuf> {
        let p = d.join(name);
        std::fs::write(&p, text)?;
        Ok(p)
    };
    // Targets: userinfo holding `/`, `?`, a second `@`; an unsupported scheme with userinfo;
    // userinfo without a scheme.
    let shapes = [
        format!("http://user:{S}/x@h:1/metrics"),
        format!("http://user:{S}?x@h:1"),
        format!("http://user:{S}@x@h:1"),
        format!("ftp://user:{S}@h:1"),
        format!("user:{S}@h:9100"),
        format!("user:{S} x@h:9100"),
    ];
    let mut configs = Vec::new();
    for (i, t) in shapes.iter().enumerate() {
        let yaml_target = t.replace('\'', "''");
        configs.push(write(
            &format!("static{i}.yml"),
            format!(
                "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['{yaml_target}']\n"
            ),
        )?);
        configs.push(write(&format!("list{i}.txt"), format!("ok:1\n{t}\n"))?);
    }
    // file_sd and relabelling produce `user:pass@host:port` (skipped with a notice).
    std::fs::create_dir(d.join("sd"))?;
    write(
        "sd/a.json",
        format!("[{{\"targets\": [\"good:1\", \"user:{S}@h:9100\"]}}]"),
    )?;
    let relabel = write(
        "relabel.yml",
        format!(
            "scrape_configs:\n  - job_name: a\n    file_sd_configs: [{{files: ['sd/*.json']}}]\n    relabel_configs:\n      - source_labels: [__address__]\n        target_label: __address__\n        replacement: 'u:{S}@$1'\n"
        ),
    )?;
    let sd = write(
        "sd.yml",
        "scrape_configs:\n  - job_name: a\n    file_sd_configs: [{files: ['sd/*.json']}]\n".into(),
    )?;
    // Auth given in the wrong shape: serde_yaml quotes the scalar.
    let auth_shapes = [
        format!("basic_auth: 'user:{S}'"),
        format!("basic_auth: {{username: u, password: [{S}]}}"),
        format!("authorization: 'Bearer {S}'"),
        format!("authorization: {{credentials: {S}, credentials_file: x}}"),
        format!("bearer_token: {{{S}: 1}}"),
        format!("tls_config: {{key: '{S}', ca_file: 1: 2}}"),
        format!(
            "oauth2: {{client_id: a, client_secret: '{S}', token_url: 5}}\n    basic_auth: 'u'"
        ),
    ];
    for (i, a) in auth_shapes.iter().enumerate() {
        configs.push(write(
            &format!("auth{i}.yml"),
            format!(
                "scrape_configs:\n  - job_name: a\n    {a}\n    static_configs: [{{targets: ['h:1']}}]\n"
            ),
        )?);
    }
    let mut outputs: Vec<(String, String)> = Vec::new();
    for c in configs.iter().chain([&relabel, &sd]) {
        let as_config = SourceArgs {
            config: Some(c.clone()),
            ..SourceArgs::default()
        };
        let as_list = SourceArgs {
            targets_files: vec![c.clone()],
            ..SourceArgs::default()
        };
        for args in [as_config, as_list] {
            // What the binary prints at start and what a reload's error event carries.
            let out = match scrapetop::sources::read(&args, &[], &FakeDns::new()).await {
                Ok(r) => r.set.notices.join("\n"),
                Err(e) => e.to_string(),
            };
            outputs.push((format!("load {}", c.display()), out));
        }
    }
    for t in &shapes {
        let args = SourceArgs {
            targets: vec![t.clone()],
            ..SourceArgs::default()
        };
        let e = config::load(&args, &FakeDns::new()).await.err();
        outputs.push((
            format!("--target {t}"),
            format!(
                "{e:?} {}",
                e.as_ref().map(ToString::to_string).unwrap_or_default()
            ),
        ));
    }
    let all: Vec<PathBuf> = configs.iter().chain([&relabel, &sd]).cloned().collect();
    for json in [false, true] {
        let (out, _) = config::check::check_report(&all, json);
        outputs.push((format!("check json={json}"), out));
    }
    // The binary: `check`, and a run whose sources are refused before anything starts.
    let bin = env!("CARGO_BIN_EXE_scrapetop");
    let run = |args: &[&std::ffi::OsStr]| -> std::io::Result<String> {
        let o = std::process::Command::new(bin)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()?;
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ))
    };
    let mut check_args: Vec<&std::ffi::OsStr> = vec!["check".as_ref()];
    check_args.extend(all.iter().map(|p| p.as_os_str()));
    outputs.push(("scrapetop check".into(), run(&check_args)?));
    for c in &configs {
        for flag in ["--config", "--targets"] {
            let o = run(&[
                "--headless".as_ref(),
                "--exit-on-eof".as_ref(),
                flag.as_ref(),
                c.as_os_str(),
            ])?;
            outputs.push((format!("scrapetop {flag} {}", c.display()), o));
        }
    }
    for t in &shapes {
        let o = run(&[
            "--headless".as_ref(),
            "--exit-on-eof".as_ref(),
            "--target".as_ref(),
            t.as_ref(),
        ])?;
        outputs.push((format!("scrapetop --target {t}"), o));
    }
    // Debug output of the errors too (a `{:?}` in a log).
    for c in &configs {
        let args = SourceArgs {
            config: Some(c.clone()),
            ..SourceArgs::default()
        };
        if let Err(e) = config::load(&args, &FakeDns::new()).await {
            outputs.push((format!("Debug of {}", c.display()), format!("{e:?}")));
        }
    }
    let mut refused = 0;
    for (what, out) in &outputs {
        assert!(!out.contains(S), "{what} leaks the secret:\n{out}");
        if out.contains("<secret>") {
            refused += 1;
        }
    }
    // The redaction did run (the shapes were not simply accepted or reported without value).
    assert!(refused > 20, "only {refused} outputs show <secret>");
    Ok(())
}

/// `--config /dev/zero`, a FIFO, a directory, an oversized file: refused at once with a message
/// (never read whole, never blocking); a file_sd JSON file with a byte-order mark is JSON; a
/// 50 MB single-line list is refused at its line, not taken as a host name.
#[tokio::test]
async fn sources_are_bounded_regular_files() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let fifo = d.join("fifo.txt");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()?
            .success()
    );
    let big = d.join("big.yml");
    std::fs::File::create(&big)?.set_len(config::MAX_FILE_BYTES + 1)?;
    let long_line = d.join("long.txt");
    std::fs::write(&long_line, "x".repeat(50_000_000))?;
    let cases: [(&str, &Path, String); 6] = [
        (
            "--config",
            Path::new("/dev/zero"),
            "/dev/zero: config is a character device: scrapetop reads only regular files".into(),
        ),
        (
            "--targets",
            &fifo,
            format!(
                "{}: target list is a FIFO: scrapetop reads only regular files",
                fifo.display()
            ),
        ),
        (
            "--config",
            d,
            format!(
                "{}: config is a directory: scrapetop reads only regular files",
                d.display()
            ),
        ),
        (
            "--targets",
            d,
            format!(
                "{}: target list is a directory: scrapetop reads only regular files",
                d.display()
            ),
        ),
        (
            "--config",
            &big,
            format!(
                "{}: config is larger than 64 MiB, the most scrapetop reads",
                big.display()
            ),
        ),
        (
            "--targets",
            &long_line,
            format!("{}:1:1: target \"xxxx", long_line.display()),
        ),
    ];
    let bin = env!("CARGO_BIN_EXE_scrapetop");
    for (flag, p, want) in &cases {
        let args = match *flag {
            "--config" => SourceArgs {
                config: Some(p.to_path_buf()),
                ..SourceArgs::default()
            },
            _ => SourceArgs {
                targets_files: vec![p.to_path_buf()],
                ..SourceArgs::default()
            },
        };
        let e = config::load(&args, &FakeDns::new())
            .await
            .err()
            .ok_or(format!("{flag} {} accepted", p.display()))?
            .to_string();
        assert!(e.starts_with(want.as_str()), "got  {e}\nwant {want}");
        assert!(e.len() < 500, "{} bytes of error", e.len());
        // The binary refuses it before anything starts: exit 2, in bounded time.
        let started = std::time::Instant::now();
        let out = std::process::Command::new(bin)
            .args(["--headless", "--exit-on-eof", flag])
            .arg(p)
            .stdin(std::process::Stdio::null())
            .output()?;
        assert_eq!(out.status.code(), Some(2), "{flag} {}", p.display());
        assert!(started.elapsed() < Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want.as_str()), "{stderr}");
    }

    let bom = d.join("apps.json");
    std::fs::write(
        &bom,
        "\u{feff}[{\"targets\": [\"app:1\"], \"labels\": {\"tier\": \"front\"}}]",
    )?;
    let l = config::load(
        &SourceArgs {
            targets_files: vec![bom],
            ..SourceArgs::default()
        },
        &FakeDns::new(),
    )
    .await?;
    assert_eq!(
        summary(&l),
        ["apps 60s/10s http://app:1/metrics {instance=app:1,job=apps,tier=front}"]
    );
    Ok(())
}

/// A file_sd file given with `--targets` reloads the running binary when it changes.
#[test]
fn a_targets_file_sd_file_is_watched_by_the_binary() -> Result<(), Box<dyn std::error::Error>> {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir()?;
    let f = dir.path().join("apps.json");
    std::fs::write(&f, r#"[{"targets": ["127.0.0.1:9"]}]"#)?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scrapetop"))
        .args(["--headless", "--interval", "1h", "--targets"])
        .arg(&f)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| -> Result<String, String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return Ok(l),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Err(format!("no event with {needle}"))
    };
    let first = wait_for("\"target_added\"");
    std::fs::write(&f, r#"[{"targets": ["127.0.0.1:9", "127.0.0.1:10"]}]"#)?;
    let reload = wait_for("\"reload\"");
    let _ = child.kill();
    let _ = child.wait();
    first?;
    let reload = reload?;
    assert!(reload.contains("\"added\":1"), "{reload}");
    Ok(())
}

/// A credentials or TLS file that cannot be read loads (as in Prometheus) and becomes the job's
/// scrape error, carried in `JobSettings::scrape_error` and said in a notice.
#[tokio::test]
async fn unreadable_secret_files_fail_the_job_not_the_file() {
    let l = load_config("valid/missing_secret_files.yml")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let errors: Vec<(String, Option<String>)> = l
        .targets
        .iter()
        .map(|t| (t.job.name.to_string(), t.job.scrape_error.clone()))
        .collect();
    assert_eq!(
        errors,
        [
            (
                "node".to_owned(),
                Some("unable to read basic auth password: unable to read file tests/fixtures/configs/valid/does-not-exist: No such file or directory (os error 2)".to_owned())
            ),
            (
                "bearer".to_owned(),
                Some("unable to read authorization credentials: unable to read file /nonexistent/token: No such file or directory (os error 2)".to_owned())
            ),
            (
                "tls".to_owned(),
                Some("unable to read CA cert: unable to read file tests/fixtures/configs/valid/missing-ca.pem: No such file or directory (os error 2)".to_owned())
            ),
        ]
    );
    // The kubernetes job has nothing scrapetop scrapes: no scrape to fail, no notice for it.
    assert_eq!(l.notices.len(), 4, "{:#?}", l.notices);
    assert!(l.notices[0].starts_with("job \"node\": every scrape will fail, as in Prometheus: unable to read basic auth password"), "{}", l.notices[0]);
    assert!(
        l.notices[3].starts_with("kubernetes_sd_configs in job \"kubernetes-pods\""),
        "{}",
        l.notices[3]
    );
}

fn yml_files(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(path(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// Every public configuration Prometheus loads, `scrapetop check` accepts (README in the folder
/// says where each comes from).
#[test]
fn public_configs_prometheus_accepts_are_accepted() {
    let mut files = yml_files("public/prometheus/testdata", ".good.yml");
    assert!(files.len() > 40, "{} good files", files.len());
    files.extend(yml_files(
        "public/prometheus/testdata/scrape_configs",
        ".good.yml",
    ));
    files.extend(yml_files("public/prometheus/examples", ".yml"));
    files.extend(yml_files("public/compose", ".yml"));
    files.extend(yml_files("public/operator", ".yml"));
    let mut failed = Vec::new();
    for f in &files {
        let (out, status) = config::check::check_report(std::slice::from_ref(f), false);
        if status != 0 {
            failed.push(out);
        }
    }
    assert!(failed.is_empty(), "refused:\n{}", failed.join("\n"));
}

/// The public configurations every Prometheus refuses, for a reason in what scrapetop reads
/// (scrape configs, relabelling, global scrape settings, scrape config files), are refused.
#[test]
fn public_configs_prometheus_rejects_are_rejected() {
    let refused = [
        "bearertoken.bad.yml",
        "bearertoken_basicauth.bad.yml",
        "dropequal.bad.yml",
        "dropequal1.bad.yml",
        "empty_metric_relabel_config.bad.yml",
        "empty_scrape_config.bad.yml",
        "empty_scrape_config_action.bad.yml",
        "empty_static_config.bad.yml",
        "empty_target_relabel_config.bad.yml",
        "jobname.bad.yml",
        "jobname_dup.bad.yml",
        "keepequal.bad.yml",
        "keepequal1.bad.yml",
        "labeldrop.bad.yml",
        "labeldrop2.bad.yml",
        "labeldrop3.bad.yml",
        "labeldrop4.bad.yml",
        "labeldrop5.bad.yml",
        "labelkeep.bad.yml",
        "labelkeep2.bad.yml",
        "labelkeep3.bad.yml",
        "labelkeep4.bad.yml",
        "labelkeep5.bad.yml",
        "lowercase.bad.yml",
        "lowercase3.bad.yml",
        "metric_name_validation_scheme.bad.yml",
        "modulus_missing.bad.yml",
        "regex.bad.yml",
        "scrape_body_size_limit.bad.yml",
        "scrape_config_files.bad.yml",
        "scrape_config_files_double_import.bad.yml",
        "scrape_config_files_duplicate.bad.yml",
        "scrape_config_files_fallback_scrape_protocol1.bad.yml",
        "scrape_config_files_fallback_scrape_protocol2.bad.yml",
        "scrape_config_files_glob.bad.yml",
        "scrape_config_files_global.bad.yml",
        "scrape_config_files_global_duplicate.bad.yml",
        "scrape_config_files_scrape_protocols.bad.yml",
        "scrape_config_files_scrape_protocols2.bad.yml",
        "scrape_config_utf8_conflicting.bad.yml",
        "scrape_interval.bad.yml",
        "section_key_dup.bad.yml",
        "static_config.bad.yml",
        "target_label_hashmod_missing.bad.yml",
        "target_label_missing.bad.yml",
        "unknown_attr.bad.yml",
        "unknown_global_attr.bad.yml",
        "uppercase.bad.yml",
        "uppercase3.bad.yml",
        "url_in_targetgroup.bad.yml",
    ];
    let mut files: Vec<PathBuf> = refused
        .iter()
        .map(|f| path(&format!("public/prometheus/testdata/{f}")))
        .collect();
    files.extend(yml_files("public/bad", ".yml"));
    let mut accepted = Vec::new();
    for f in &files {
        assert!(f.is_file(), "{} missing", f.display());
        let (out, status) = config::check::check_report(std::slice::from_ref(f), false);
        if status != 1 {
            accepted.push(out);
        }
    }
    assert!(accepted.is_empty(), "accepted:\n{}", accepted.join("\n"));
}

/// `--compat`: Prometheus 3 accepts UTF-8 label names (with a warning that Prometheus 2 does
/// not), Prometheus 2 refuses them.
#[tokio::test]
async fn label_names_follow_compat() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("p.yml");
    std::fs::write(
        &cfg,
        "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['h:1']\n        labels: {\"service.name\": web}\n    relabel_configs:\n      - target_label: ns-key\n        replacement: default\n",
    )?;
    let args = |compat| SourceArgs {
        config: Some(cfg.clone()),
        compat,
        ..SourceArgs::default()
    };
    let l = config::load(&args(config::Compat::V3), &FakeDns::new()).await?;
    assert_eq!(
        summary(&l),
        ["a 60s/10s http://h:1/metrics {instance=h:1,job=a,ns-key=default,service.name=web}"]
    );
    assert!(
        l.notices[0].ends_with(
            "label name \"service.name\" needs Prometheus 3 (UTF-8 names): Prometheus 2 refuses this file"
        ),
        "{:?}",
        l.notices
    );
    let e = config::load(&args(config::Compat::V2), &FakeDns::new())
        .await
        .err()
        .ok_or("compat 2 accepted a UTF-8 label name")?;
    assert!(
        e.to_string()
            .ends_with(":7:7: \"ns-key\" is invalid 'target_label' for replace action"),
        "{e}"
    );
    assert_eq!("2".parse::<config::Compat>()?, config::Compat::V2);
    assert_eq!(config::Compat::default(), config::Compat::V3);
    Ok(())
}

/// YAML merge keys and `scrape_config_files` (globs relative to the config, duplicate job
/// names across files refused) load as in Prometheus.
#[tokio::test]
async fn merge_keys_and_scrape_config_files() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    std::fs::create_dir(d.join("jobs"))?;
    std::fs::write(
        d.join("jobs/a.yml"),
        "scrape_configs:\n  - job_name: from-file\n    static_configs: [{targets: ['f:1']}]\n",
    )?;
    std::fs::write(d.join("jobs/notes.txt"), "not a config")?;
    let cfg = d.join("p.yml");
    std::fs::write(
        &cfg,
        "scrape_config_files: ['jobs/*.yml']\ndefaults: &defaults\n  scrape_interval: 5s\n  metrics_path: /m\nscrape_configs:\n  - <<: *defaults\n    job_name: merged\n    static_configs: [{targets: ['m:1']}]\n",
    )?;
    let args = SourceArgs {
        config: Some(cfg.clone()),
        ..SourceArgs::default()
    };
    // `defaults` is not a Prometheus key: refused, as Prometheus refuses it.
    let e = config::load(&args, &FakeDns::new())
        .await
        .err()
        .ok_or("accepted")?;
    assert!(e.to_string().contains("unknown field `defaults`"), "{e}");
    std::fs::write(
        &cfg,
        "scrape_config_files: ['jobs/*.yml']\nscrape_configs:\n  - &base\n    job_name: first\n    scrape_interval: 5s\n    metrics_path: /m\n    static_configs: [{targets: ['m:1']}]\n  - <<: *base\n    job_name: merged\n",
    )?;
    let l = config::load(&args, &FakeDns::new()).await?;
    assert_eq!(
        summary(&l),
        [
            "first 5s/5s http://m:1/m {instance=m:1,job=first}",
            "merged 5s/5s http://m:1/m {instance=m:1,job=merged}",
            "from-file 60s/10s http://f:1/metrics {instance=f:1,job=from-file}",
        ]
    );
    // A mistake elsewhere in a file with merge keys keeps its line and column.
    std::fs::write(
        d.join("bad.yml"),
        "scrape_configs:\n  - &base\n    job_name: a\n  - <<: *base\n    job_name: b\n    sample_limit: lots\n",
    )?;
    let e = config::load(
        &SourceArgs {
            config: Some(d.join("bad.yml")),
            ..SourceArgs::default()
        },
        &FakeDns::new(),
    )
    .await
    .err()
    .ok_or("accepted")?;
    assert!(
        e.to_string()
            .contains("bad.yml:6:19: scrape_configs[1].sample_limit: invalid type"),
        "{e}"
    );
    std::fs::write(
        d.join("jobs/b.yml"),
        "scrape_configs:\n  - job_name: first\n    static_configs: [{targets: ['x:1']}]\n",
    )?;
    let e = config::load(&args, &FakeDns::new())
        .await
        .err()
        .ok_or("accepted")?;
    assert_eq!(
        e.to_string(),
        format!(
            "{}:2:15: found multiple scrape configs with job name \"first\", first found in main config file",
            d.join("jobs/b.yml").display()
        )
    );
    Ok(())
}

/// What `check` says about settings scrapetop does not act on and about unreadable credentials
/// files: each with its consequence, every secret hidden.
#[test]
fn check_reports_what_happens_instead() {
    let files = [
        path("valid/unsupported.yml"),
        path("valid/missing_secret_files.yml"),
    ];
    let (text, status) = config::check::check_report(&files, false);
    assert_eq!(status, 0, "{text}");
    assert!(!text.contains("oauth-s3cr3t-never-shown"));
    insta::assert_snapshot!("check_fidelity", text);
    let (json, _) = config::check::check_report(&files, true);
    assert!(!json.contains("oauth-s3cr3t-never-shown"));
    assert!(
        json.contains("\"scrape_error\": \"unable to read basic auth password"),
        "{json}"
    );
}

/// A malformed static target does not make Prometheus refuse the file (only a URL does): the
/// target is skipped with a notice at its line, the rest of the job is scraped.
#[tokio::test]
async fn malformed_static_targets_are_skipped_with_a_notice() {
    let cases = [
        (
            "invalid_address.yml",
            "4:37: skipped target \"bad host:9100\" of job \"node\": invalid target address \"bad host:9100\": invalid character ' ' in host name (Prometheus loads this file and fails this target)",
        ),
        (
            "bad_port.yml",
            "4:19: skipped target \"localhost:99999\" of job \"node\": invalid target address \"localhost:99999\": expected host:port (Prometheus loads this file and fails this target)",
        ),
        (
            "bad_scheme.yml",
            "5:19: skipped target \"localhost:9100\" of job \"node\": unsupported protocol scheme \"ftp\": http and https only (Prometheus loads this file and fails this target)",
        ),
        (
            "relabel_empty_address.yml",
            "7:19: skipped target \"localhost:9100\" of job \"node\": no address (Prometheus loads this file and fails this target)",
        ),
    ];
    for (file, want) in cases {
        let rel = format!("warn/{file}");
        let l = load_config(&rel)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(l.notices, [format!("{DIR}/{rel}:{want}")], "{file}");
    }
}

/// Unsupported auth and proxy settings are said at run time too, as `notice` events.
#[test]
fn unsupported_settings_are_notices_at_run_time() -> Result<(), Box<dyn std::error::Error>> {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("p.yml");
    std::fs::write(
        &cfg,
        "scrape_configs:\n  - job_name: api\n    scrape_interval: 1h\n    oauth2: {client_id: a, client_secret: oauth-s3cr3t, token_url: 'http://127.0.0.1:9/t'}\n    proxy_url: http://127.0.0.1:3128\n    static_configs: [{targets: ['127.0.0.1:9']}]\n",
    )?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scrapetop"))
        .args(["--headless", "--config"])
        .arg(&cfg)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut notices = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while notices.len() < 2 {
        let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else {
            break;
        };
        match rx.recv_timeout(left) {
            Ok(l) if l.contains("\"event\":\"notice\"") => notices.push(l),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = notices.join("\n");
    assert!(all.contains("oauth2 in job \\\"api\\\": scrapetop does not fetch OAuth 2.0 tokens: the targets are scraped without credentials"), "{all}");
    assert!(all.contains("proxy_url in job \\\"api\\\": scrapetop does not use proxies: the targets are dialled directly"), "{all}");
    assert!(!all.contains("oauth-s3cr3t") && !stderr.contains("oauth-s3cr3t"));
    Ok(())
}

/// Prometheus 3's `scrape_protocols` decide the Accept header (global or per job), and
/// `scrape_native_histograms` without a list asks for protobuf first; `--compat 2` (2.42 has
/// neither key) keeps its own header.
#[tokio::test]
async fn scrape_protocols_and_native_histograms_reach_the_job()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("p.yml");
    std::fs::write(
        &cfg,
        "global:\n  scrape_protocols: [PrometheusText0.0.4]\nscrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['h:1']}]\n  - job_name: b\n    scrape_protocols: [PrometheusProto, OpenMetricsText1.0.0]\n    static_configs: [{targets: ['h:2']}]\n",
    )?;
    let cfg2 = dir.path().join("n.yml");
    std::fs::write(
        &cfg2,
        "scrape_configs:\n  - job_name: n\n    scrape_native_histograms: true\n    always_scrape_classic_histograms: true\n    static_configs: [{targets: ['h:3']}]\n",
    )?;
    let args = |c: &Path, compat| SourceArgs {
        config: Some(c.to_path_buf()),
        compat,
        ..SourceArgs::default()
    };
    let l = config::load(&args(&cfg, config::Compat::V3), &FakeDns::new()).await?;
    let accept: Vec<Option<String>> = l
        .targets
        .iter()
        .map(|t| t.job.accept.as_deref().map(str::to_owned))
        .collect();
    assert_eq!(
        accept,
        [
            Some("text/plain;version=0.0.4;q=0.6,*/*;q=0.5".to_owned()),
            Some("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,*/*;q=0.4".to_owned()),
        ]
    );
    let l = config::load(&args(&cfg2, config::Compat::V3), &FakeDns::new()).await?;
    let job = &l.targets[0].job;
    assert!(
        job.accept
            .as_deref()
            .is_some_and(|a| a.starts_with("application/vnd.google.protobuf"))
    );
    assert!(job.histograms.scrape_native && job.histograms.always_classic);
    let l = config::load(&args(&cfg2, config::Compat::V2), &FakeDns::new()).await?;
    let job = &l.targets[0].job;
    assert_eq!(
        (job.accept.as_deref(), job.histograms.scrape_native),
        (None, false)
    );
    Ok(())
}
