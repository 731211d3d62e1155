//! Configuration fixtures modelled on what people run, and invalid ones, each with the exact
//! targets or the exact error (file:line:column).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use scrapetop::config::{self, ConfigError, Loaded, SdResolver, SourceArgs};
use scrapetop::engine::spec::Auth;

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

impl SdResolver for FakeDns {
    async fn lookup_ip(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        self.ips
            .get(name)
            .cloned()
            .ok_or_else(|| "NXDOMAIN".to_owned())
    }
    async fn lookup_srv(&self, name: &str) -> Result<Vec<(String, u16)>, String> {
        self.srv
            .get(name)
            .cloned()
            .ok_or_else(|| "NXDOMAIN".to_owned())
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
    assert_eq!(
        l.watch,
        [
            path("valid/sd"),
            path("valid/sd/db.yml"),
            path("valid/sd/web.json")
        ]
    );
    let l = load_config("valid/https.yml")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        l.notices,
        ["ignored: enable_http2 in job \"self-signed\" (scrapetop speaks HTTP/1.1)"]
    );
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
        ["ignored: kubernetes_sd_configs in job \"legacy-bearer\""]
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
            "invalid_address.yml",
            "4:37: job \"node\": invalid target address \"bad host:9100\": expected host:port",
        ),
        (
            "bad_port.yml",
            "4:19: job \"node\": invalid target address \"localhost:99999\": expected host:port",
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
            "missing_password_file.yml",
            "5:22: reading password_file \"tests/fixtures/configs/invalid/does-not-exist\": No such file or directory (os error 2)",
        ),
        (
            "two_auth.yml",
            "6:19: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ),
        (
            "bad_scheme.yml",
            "3:13: invalid scheme \"ftp\": must be http or https",
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
            "relabel_empty_address.yml",
            "7:19: job \"node\": no address",
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
            "{}:3:4: invalid target address \"bad host:1\": expected host:port or URL",
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
            "{}:2:3: skipped target \"bad host:2\" of job \"a\": invalid target address \"bad host:2\": expected host:port",
            sd.display()
        )]
    );
    Ok(())
}
