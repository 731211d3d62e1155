//! Target identity as Prometheus has it: labels + URL. Targets sharing a job and an instance
//! are distinct targets with their own events and scrapes; identical labels + URL are one.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use scrapetop::config::{self, SourceArgs};
use scrapetop::engine::dns::Dns;
use scrapetop::engine::{self, EngineOptions, TargetSet};
use scrapetop::event::{Event, EventKind, TargetId};
use scrapetop::exporter::{Exporter, ExporterConfig};
use scrapetop::sources::ConfigSources;

const S: Duration = Duration::from_secs(1);

fn opts() -> EngineOptions {
    EngineOptions {
        census_every: Duration::from_secs(3600),
        recheck_dns: false,
        ..Default::default()
    }
}

async fn exporter() -> Exporter {
    Exporter::start(
        "127.0.0.1:0".parse().expect("addr"),
        ExporterConfig::default(),
    )
    .await
    .expect("exporter starts")
}

/// Start the engine on a prometheus.yml as the binary does.
async fn start_config(yaml: &str) -> (tempfile::TempDir, Run) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, yaml).expect("write config");
    let args = SourceArgs {
        config: Some(cfg),
        ..Default::default()
    };
    let dns = Dns::new(None).expect("resolver");
    let loaded = config::load(&args, &dns)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let set = TargetSet {
        targets: loaded.targets,
        notices: loaded.notices,
    };
    let handle = engine::start(opts(), set, Arc::new(ConfigSources::new(args))).expect("engine");
    (
        dir,
        Run {
            handle,
            seen: Vec::new(),
        },
    )
}

/// The `target_added` events of `n` targets: id → (url, labels).
async fn added(run: &mut Run, n: usize) -> HashMap<TargetId, (String, BTreeMap<String, String>)> {
    let evs = run
        .wait_n("targets added", n, 3 * S, |e| {
            matches!(e.kind, EventKind::TargetAdded { .. })
        })
        .await;
    evs.into_iter()
        .map(|e| {
            let id = e.target.as_ref().expect("about a target").id;
            let EventKind::TargetAdded { url, labels, .. } = e.kind else {
                unreachable!()
            };
            (id, (url, labels))
        })
        .collect()
}

/// Wait until every id in `ids` has scraped successfully.
async fn scrapes_of(run: &mut Run, ids: &HashSet<TargetId>) {
    let mut seen = HashSet::new();
    while !ids.is_subset(&seen) {
        let ev = expect_event!(run, 3 * S, EventKind::Scrape(s) if s.up);
        seen.insert(ev.target.expect("about a target").id);
    }
}

fn id_of(ev: &Event) -> Option<TargetId> {
    ev.target.as_ref().map(|t| t.id)
}

#[tokio::test]
async fn two_paths_on_one_instance_are_two_targets_with_their_own_scrapes() {
    let ex = exporter().await;
    let j = job("targets", 200, 150);
    let a = target(&format!("http://{}/a", ex.addr()), &j);
    let b = target(&format!("http://{}/b", ex.addr()), &j);
    assert_eq!(a.instance, b.instance);
    let mut run = start(opts(), vec![a, b]);
    let added = added(&mut run, 2).await;
    let ids: HashSet<TargetId> = added.keys().copied().collect();
    assert_eq!(ids.len(), 2, "{added:?}");
    scrapes_of(&mut run, &ids).await;
    // Every event about a target names one of the two ids, and both have their own dial
    // history (one pool: they may share a connection, as Prometheus's pool does).
    assert!(
        run.seen
            .iter()
            .all(|e| id_of(e).is_none_or(|i| ids.contains(&i)))
    );
    run.quit().await;
}

#[tokio::test]
async fn identical_targets_are_one() {
    let ex = exporter().await;
    let j = job("targets", 200, 150);
    let t = target(&ex.addr().to_string(), &j);
    let mut run = start(opts(), vec![t.clone(), t]);
    added(&mut run, 1).await;
    let more = run.drain_for(S / 2).await;
    assert!(
        !more
            .iter()
            .any(|e| matches!(e.kind, EventKind::TargetAdded { .. })),
        "a duplicate was added: {}",
        run.recent(10)
    );
    run.quit().await;
}

#[tokio::test]
async fn three_target_groups_listing_one_address_with_different_labels_are_three_targets() {
    let ex = exporter().await;
    let addr = ex.addr();
    let yaml = format!(
        "scrape_configs:
  - job_name: node
    scrape_interval: 200ms
    scrape_timeout: 150ms
    static_configs:
      - targets: ['{addr}']
        labels: {{env: a}}
      - targets: ['{addr}']
        labels: {{env: b}}
      - targets: ['{addr}']
        labels: {{env: c}}
      - targets: ['{addr}']
        labels: {{env: c}}
"
    );
    let (_dir, mut run) = start_config(&yaml).await;
    let added = added(&mut run, 3).await;
    let envs: HashSet<&str> = added
        .values()
        .map(|(_, l)| l.get("env").map_or("", String::as_str))
        .collect();
    assert_eq!(envs, HashSet::from(["a", "b", "c"]), "{added:?}");
    let ids: HashSet<TargetId> = added.keys().copied().collect();
    scrapes_of(&mut run, &ids).await;
    let more = run.drain_for(S / 2).await;
    assert!(
        !more
            .iter()
            .any(|e| matches!(e.kind, EventKind::TargetAdded { .. })),
        "the identical fourth group was not deduplicated"
    );
    run.quit().await;
}

#[tokio::test]
async fn a_blackbox_pair_of_modules_for_one_site_is_two_targets() {
    let ex = exporter().await;
    let addr = ex.addr();
    let yaml = format!(
        "scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    scrape_interval: 200ms
    scrape_timeout: 150ms
    static_configs:
      - targets: ['{addr}']
        labels: {{__param_module: http_2xx}}
      - targets: ['{addr}']
        labels: {{__param_module: tcp_connect}}
"
    );
    let (_dir, mut run) = start_config(&yaml).await;
    let added = added(&mut run, 2).await;
    // Same labels, same instance: only the URL tells them apart.
    let labels: HashSet<_> = added.values().map(|(_, l)| l.clone()).collect();
    assert_eq!(labels.len(), 1, "{added:?}");
    let urls: HashSet<&str> = added.values().map(|(u, _)| u.as_str()).collect();
    assert_eq!(
        urls,
        HashSet::from([
            format!("http://{addr}/probe?module=http_2xx").as_str(),
            format!("http://{addr}/probe?module=tcp_connect").as_str(),
        ])
    );
    let ids: HashSet<TargetId> = added.keys().copied().collect();
    scrapes_of(&mut run, &ids).await;
    run.quit().await;
}

#[tokio::test]
async fn a_reload_keeps_a_target_whose_identity_is_unchanged() {
    let ex = exporter().await;
    let addr = ex.addr();
    let group =
        |env: &str| format!("      - targets: ['{addr}']\n        labels: {{env: {env}}}\n");
    let head = "scrape_configs:\n  - job_name: node\n    scrape_interval: 200ms\n    scrape_timeout: 150ms\n    static_configs:\n";
    let (dir, mut run) = start_config(&format!("{head}{}{}", group("a"), group("b"))).await;
    let before = added(&mut run, 2).await;
    // b's labels change: b is a new target (a new id), a stays.
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, format!("{head}{}{}", group("a"), group("z"))).expect("rewrite");
    run.send(scrapetop::event::Command::Reload);
    let (_, counts) = expect_event!(
        run,
        3 * S,
        EventKind::Reload { added, removed, changed, .. } => (*added, *removed, *changed)
    );
    assert_eq!(counts, (1, 1, 0));
    let removed: Vec<TargetId> = run
        .seen
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TargetRemoved {}))
        .filter_map(id_of)
        .collect();
    assert_eq!(removed.len(), 1);
    let kept: Vec<_> = before.keys().filter(|id| !removed.contains(id)).collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(before[kept[0]].1.get("env").map(String::as_str), Some("a"));
    run.quit().await;
}
