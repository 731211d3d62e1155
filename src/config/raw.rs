//! The shape of a Prometheus configuration file, as strict as Prometheus: unknown keys are
//! errors, keys of features scrapetop does not use are accepted and reported.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

use super::relabel::RelabelConfig;
use super::units::{ByteSize, PromDuration};
use crate::engine::spec::Secret;

/// A secret read from YAML: the value never reaches an error message or Debug output.
#[derive(Debug, Clone)]
pub struct YamlSecret(pub Secret);

impl<'de> Deserialize<'de> for YamlSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Deserialize through an owned string; serde's type errors name only the YAML type.
        String::deserialize(d).map(|s| YamlSecret(Secret::new(s)))
    }
}

/// Top level of prometheus.yml.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    pub global: Option<RawGlobal>,
    pub scrape_configs: Option<Vec<RawScrapeConfig>>,
    pub runtime: Option<IgnoredAny>,
    pub rule_files: Option<IgnoredAny>,
    pub scrape_config_files: Option<Vec<String>>,
    pub alerting: Option<IgnoredAny>,
    pub remote_write: Option<IgnoredAny>,
    pub remote_read: Option<IgnoredAny>,
    pub storage: Option<IgnoredAny>,
    pub tracing: Option<IgnoredAny>,
    pub otlp: Option<IgnoredAny>,
}

impl RawConfig {
    /// Names of top-level sections present that scrapetop does not use.
    pub fn ignored_sections(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let present = [
            ("runtime", self.runtime.is_some()),
            ("rule_files", self.rule_files.is_some()),
            ("alerting", self.alerting.is_some()),
            ("remote_write", self.remote_write.is_some()),
            ("remote_read", self.remote_read.is_some()),
            ("storage", self.storage.is_some()),
            ("tracing", self.tracing.is_some()),
            ("otlp", self.otlp.is_some()),
        ];
        for (name, yes) in present {
            if yes {
                v.push(name);
            }
        }
        v
    }
}

/// A file named by `scrape_config_files`: only `scrape_configs`, as strict as the main file.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawScrapeConfigs {
    pub scrape_configs: Option<Vec<RawScrapeConfig>>,
}

/// `global:`.
#[derive(Debug, Deserialize, Default)]
#[allow(
    dead_code,
    reason = "keys are typed to be validated like Prometheus, not all used"
)]
#[serde(default, deny_unknown_fields)]
pub struct RawGlobal {
    pub scrape_interval: Option<PromDuration>,
    pub scrape_timeout: Option<PromDuration>,
    pub external_labels: Option<BTreeMap<String, String>>,
    pub body_size_limit: Option<ByteSize>,
    pub sample_limit: Option<u64>,
    pub evaluation_interval: Option<PromDuration>,
    pub rule_query_offset: Option<PromDuration>,
    pub query_log_file: Option<String>,
    pub scrape_failure_log_file: Option<String>,
    pub scrape_protocols: Option<Vec<String>>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    pub target_limit: Option<u64>,
    pub keep_dropped_targets: Option<u64>,
    pub metric_name_validation_scheme: Option<String>,
    pub metric_name_escaping_scheme: Option<String>,
    pub always_scrape_classic_histograms: Option<bool>,
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    pub scrape_native_histograms: Option<bool>,
    pub native_histogram_bucket_limit: Option<u64>,
    pub native_histogram_min_bucket_factor: Option<f64>,
    pub extra_scrape_metrics: Option<bool>,
}

/// `basic_auth:`.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawBasicAuth {
    pub username: Option<String>,
    pub username_file: Option<String>,
    pub password: Option<YamlSecret>,
    pub password_file: Option<String>,
    pub username_ref: Option<String>,
    pub password_ref: Option<String>,
}

/// `authorization:`.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawAuthorization {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub credentials: Option<YamlSecret>,
    pub credentials_file: Option<String>,
    pub credentials_ref: Option<String>,
}

/// `tls_config:`.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawTls {
    pub ca: Option<YamlSecret>,
    pub ca_file: Option<String>,
    pub ca_ref: Option<String>,
    pub cert: Option<YamlSecret>,
    pub cert_file: Option<String>,
    pub cert_ref: Option<String>,
    pub key: Option<YamlSecret>,
    pub key_file: Option<String>,
    pub key_ref: Option<String>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: Option<bool>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
}

/// One `static_configs` entry (a target group).
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawGroup {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// `file_sd_configs` entry.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawFileSd {
    pub files: Vec<String>,
    pub refresh_interval: Option<PromDuration>,
}

/// `dns_sd_configs` entry.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawDnsSd {
    pub names: Vec<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub port: Option<u16>,
    pub refresh_interval: Option<PromDuration>,
}

/// One `scrape_configs` entry.
#[derive(Debug, Deserialize, Default)]
#[allow(
    dead_code,
    reason = "keys are typed to be validated like Prometheus, not all used"
)]
#[serde(default, deny_unknown_fields)]
pub struct RawScrapeConfig {
    pub job_name: String,
    pub scrape_interval: Option<PromDuration>,
    pub scrape_timeout: Option<PromDuration>,
    pub metrics_path: Option<String>,
    pub scheme: Option<String>,
    pub params: Option<BTreeMap<String, Vec<String>>>,
    pub honor_labels: Option<bool>,
    pub honor_timestamps: Option<bool>,
    pub track_timestamps_staleness: Option<bool>,
    pub body_size_limit: Option<ByteSize>,
    pub sample_limit: Option<u64>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
    pub enable_compression: Option<bool>,
    pub basic_auth: Option<RawBasicAuth>,
    pub authorization: Option<RawAuthorization>,
    pub bearer_token: Option<YamlSecret>,
    pub bearer_token_file: Option<String>,
    pub tls_config: Option<RawTls>,
    pub relabel_configs: Option<Vec<Option<RelabelConfig>>>,
    pub metric_relabel_configs: Option<Vec<Option<RelabelConfig>>>,
    pub static_configs: Option<Vec<Option<RawGroup>>>,
    pub file_sd_configs: Option<Vec<RawFileSd>>,
    pub dns_sd_configs: Option<Vec<RawDnsSd>>,
    // Keys scrapetop does not act on: accepted, each reported with its consequence.
    pub oauth2: Option<IgnoredAny>,
    pub proxy_url: Option<IgnoredAny>,
    pub no_proxy: Option<IgnoredAny>,
    pub proxy_from_environment: Option<bool>,
    pub proxy_connect_header: Option<IgnoredAny>,
    pub http_headers: Option<IgnoredAny>,
    pub scrape_protocols: Option<Vec<String>>,
    pub fallback_scrape_protocol: Option<String>,
    pub scrape_classic_histograms: Option<IgnoredAny>,
    pub always_scrape_classic_histograms: Option<bool>,
    pub convert_classic_histograms_to_nhcb: Option<IgnoredAny>,
    pub scrape_native_histograms: Option<bool>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    pub target_limit: Option<IgnoredAny>,
    pub keep_dropped_targets: Option<IgnoredAny>,
    pub native_histogram_bucket_limit: Option<IgnoredAny>,
    pub native_histogram_min_bucket_factor: Option<IgnoredAny>,
    pub metric_name_validation_scheme: Option<String>,
    pub metric_name_escaping_scheme: Option<String>,
    pub scrape_failure_log_file: Option<IgnoredAny>,
    pub extra_scrape_metrics: Option<IgnoredAny>,
    pub aws_sd_configs: Option<IgnoredAny>,
    pub azure_sd_configs: Option<IgnoredAny>,
    pub consul_sd_configs: Option<IgnoredAny>,
    pub digitalocean_sd_configs: Option<IgnoredAny>,
    pub docker_sd_configs: Option<IgnoredAny>,
    pub dockerswarm_sd_configs: Option<IgnoredAny>,
    pub ec2_sd_configs: Option<IgnoredAny>,
    pub ecs_sd_configs: Option<IgnoredAny>,
    pub elasticache_sd_configs: Option<IgnoredAny>,
    pub eureka_sd_configs: Option<IgnoredAny>,
    pub gce_sd_configs: Option<IgnoredAny>,
    pub hetzner_sd_configs: Option<IgnoredAny>,
    pub http_sd_configs: Option<IgnoredAny>,
    pub ionos_sd_configs: Option<IgnoredAny>,
    pub kubernetes_sd_configs: Option<IgnoredAny>,
    pub kuma_sd_configs: Option<IgnoredAny>,
    pub lightsail_sd_configs: Option<IgnoredAny>,
    pub linode_sd_configs: Option<IgnoredAny>,
    pub marathon_sd_configs: Option<IgnoredAny>,
    pub msk_sd_configs: Option<IgnoredAny>,
    pub nerve_sd_configs: Option<IgnoredAny>,
    pub nomad_sd_configs: Option<IgnoredAny>,
    pub oci_sd_configs: Option<IgnoredAny>,
    pub openstack_sd_configs: Option<IgnoredAny>,
    pub outscale_sd_configs: Option<IgnoredAny>,
    pub ovhcloud_sd_configs: Option<IgnoredAny>,
    pub puppetdb_sd_configs: Option<IgnoredAny>,
    pub rds_sd_configs: Option<IgnoredAny>,
    pub scaleway_sd_configs: Option<IgnoredAny>,
    pub serverset_sd_configs: Option<IgnoredAny>,
    pub stackit_sd_configs: Option<IgnoredAny>,
    pub triton_sd_configs: Option<IgnoredAny>,
    pub uyuni_sd_configs: Option<IgnoredAny>,
    pub vultr_sd_configs: Option<IgnoredAny>,
}

/// `(key, present)` for each named `Option` field.
macro_rules! present {
    ($s:ident; $($k:ident),* $(,)?) => {
        [$((stringify!($k), $s.$k.is_some())),*]
    };
}

/// Service discovery kinds Prometheus has (2.40 to 3.x) and scrapetop does not run.
pub const UNSUPPORTED_SD: &[&str] = &[
    "aws_sd_configs",
    "azure_sd_configs",
    "consul_sd_configs",
    "digitalocean_sd_configs",
    "docker_sd_configs",
    "dockerswarm_sd_configs",
    "ec2_sd_configs",
    "ecs_sd_configs",
    "elasticache_sd_configs",
    "eureka_sd_configs",
    "gce_sd_configs",
    "hetzner_sd_configs",
    "http_sd_configs",
    "ionos_sd_configs",
    "kubernetes_sd_configs",
    "kuma_sd_configs",
    "lightsail_sd_configs",
    "linode_sd_configs",
    "marathon_sd_configs",
    "msk_sd_configs",
    "nerve_sd_configs",
    "nomad_sd_configs",
    "oci_sd_configs",
    "openstack_sd_configs",
    "outscale_sd_configs",
    "ovhcloud_sd_configs",
    "puppetdb_sd_configs",
    "rds_sd_configs",
    "scaleway_sd_configs",
    "serverset_sd_configs",
    "stackit_sd_configs",
    "triton_sd_configs",
    "uyuni_sd_configs",
    "vultr_sd_configs",
];

/// Keys Prometheus 2.40 does not know, with the release that brought them (read from the
/// `config/config.go` of each Prometheus release tag); `scrape_classic_histograms` is the one
/// Prometheus 3 dropped.
pub const VERSIONED_KEYS: &[(&str, &str)] = &[
    ("scrape_config_files", "2.43"),
    (
        "scrape_classic_histograms",
        "2.45 to 2.55 (Prometheus 3 refuses it)",
    ),
    ("native_histogram_bucket_limit", "2.45"),
    ("keep_dropped_targets", "2.47"),
    ("track_timestamps_staleness", "2.48"),
    ("scrape_protocols", "2.49"),
    ("enable_compression", "2.49"),
    ("native_histogram_min_bucket_factor", "2.50"),
    ("runtime", "2.53"),
    ("rule_query_offset", "2.53"),
    ("metric_name_validation_scheme", "2.55"),
    ("scrape_failure_log_file", "2.55"),
    ("otlp", "2.55"),
    ("fallback_scrape_protocol", "3.0"),
    ("always_scrape_classic_histograms", "3.0"),
    ("convert_classic_histograms_to_nhcb", "3.0"),
    ("metric_name_escaping_scheme", "3.4"),
    ("scrape_native_histograms", "3.8"),
    ("extra_scrape_metrics", "3.10"),
];

impl RawConfig {
    /// Keys of [`VERSIONED_KEYS`] set at the top level or in `global`.
    pub fn versioned_keys(&self) -> Vec<&'static str> {
        let mut present = present!(self; scrape_config_files, runtime, otlp).to_vec();
        if let Some(g) = &self.global {
            present.extend(present!(g;
                scrape_protocols,
                rule_query_offset,
                scrape_failure_log_file,
                keep_dropped_targets,
                metric_name_validation_scheme,
                metric_name_escaping_scheme,
                always_scrape_classic_histograms,
                convert_classic_histograms_to_nhcb,
                scrape_native_histograms,
                native_histogram_bucket_limit,
                native_histogram_min_bucket_factor,
                extra_scrape_metrics,
            ));
        }
        present
            .iter()
            .filter(|(_, y)| *y)
            .map(|(k, _)| *k)
            .collect()
    }
}

impl RawScrapeConfig {
    /// Keys of [`VERSIONED_KEYS`] set in this job.
    pub fn versioned_keys(&self) -> Vec<&'static str> {
        let present = present!(self;
            scrape_protocols,
            fallback_scrape_protocol,
            scrape_classic_histograms,
            always_scrape_classic_histograms,
            convert_classic_histograms_to_nhcb,
            scrape_native_histograms,
            enable_compression,
            keep_dropped_targets,
            track_timestamps_staleness,
            native_histogram_bucket_limit,
            native_histogram_min_bucket_factor,
            metric_name_validation_scheme,
            metric_name_escaping_scheme,
            scrape_failure_log_file,
            extra_scrape_metrics,
        );
        present
            .iter()
            .filter(|(_, y)| *y)
            .map(|(k, _)| *k)
            .collect()
    }

    /// Keys present in this job that scrapetop accepts but does not act on, in the order of
    /// [`UNSUPPORTED_SD`] then the other keys.
    pub fn unsupported_keys(&self) -> Vec<&'static str> {
        let mut present = present!(self;
            aws_sd_configs,
            azure_sd_configs,
            consul_sd_configs,
            digitalocean_sd_configs,
            docker_sd_configs,
            dockerswarm_sd_configs,
            ec2_sd_configs,
            ecs_sd_configs,
            elasticache_sd_configs,
            eureka_sd_configs,
            gce_sd_configs,
            hetzner_sd_configs,
            http_sd_configs,
            ionos_sd_configs,
            kubernetes_sd_configs,
            kuma_sd_configs,
            lightsail_sd_configs,
            linode_sd_configs,
            marathon_sd_configs,
            msk_sd_configs,
            nerve_sd_configs,
            nomad_sd_configs,
            oci_sd_configs,
            openstack_sd_configs,
            outscale_sd_configs,
            ovhcloud_sd_configs,
            puppetdb_sd_configs,
            rds_sd_configs,
            scaleway_sd_configs,
            serverset_sd_configs,
            stackit_sd_configs,
            triton_sd_configs,
            uyuni_sd_configs,
            vultr_sd_configs,
            oauth2,
            proxy_url,
            no_proxy,
            proxy_connect_header,
            http_headers,
            scrape_protocols,
            scrape_classic_histograms,
            always_scrape_classic_histograms,
            convert_classic_histograms_to_nhcb,
            scrape_native_histograms,
            target_limit,
            keep_dropped_targets,
            native_histogram_bucket_limit,
            native_histogram_min_bucket_factor,
            metric_name_validation_scheme,
            metric_name_escaping_scheme,
            scrape_failure_log_file,
            extra_scrape_metrics,
            metric_relabel_configs,
            honor_labels,
            honor_timestamps,
            track_timestamps_staleness,
        )
        .to_vec();
        present.push((
            "proxy_from_environment",
            self.proxy_from_environment == Some(true),
        ));
        present.push(("enable_compression", self.enable_compression == Some(false)));
        present
            .iter()
            .filter(|(_, y)| *y)
            .map(|(n, _)| *n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every discovery kind is known and reported, and so is every other unused key.
    #[test]
    fn every_unsupported_key_is_reported() {
        let mut yaml = String::from("job_name: a\n");
        for k in UNSUPPORTED_SD {
            yaml.push_str(&format!("{k}: []\n"));
        }
        let others = [
            "oauth2: {client_id: a, token_url: 'http://t'}",
            "proxy_url: http://p:3128",
            "no_proxy: localhost",
            "proxy_from_environment: true",
            "proxy_connect_header: {a: [b]}",
            "http_headers: {X-A: {values: [b]}}",
            "scrape_protocols: [PrometheusProto]",
            "target_limit: 1",
            "enable_compression: false",
            "metric_relabel_configs: []",
        ];
        for o in others {
            yaml.push_str(o);
            yaml.push('\n');
        }
        let j: RawScrapeConfig = serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}"));
        let keys = j.unsupported_keys();
        for k in UNSUPPORTED_SD {
            assert!(keys.contains(k), "{k} not reported");
        }
        for o in others {
            let k = o.split(':').next().unwrap_or_default();
            assert!(keys.contains(&k), "{k} not reported");
        }
        // Enforced since the scrape path reads bodies through the exposition parser.
        let quiet: RawScrapeConfig = serde_yaml::from_str(
            "job_name: a\nenable_compression: true\nproxy_from_environment: false\n\
             fallback_scrape_protocol: PrometheusText0.0.4\nlabel_limit: 1\n\
             label_name_length_limit: 1\nlabel_value_length_limit: 1\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(quiet.unsupported_keys().is_empty());
    }
}
