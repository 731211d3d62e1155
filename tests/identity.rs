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

/// Jobs sharing a target, through the real binary, as Prometheus has them: every scrape config
/// is a pool of its own, so a target listed by two jobs is scraped twice (two targets, two
/// connections), also when relabelling gives both the same labels and URL; inside one job,
/// identical labels and URL are one target (one connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_sharing_a_target_each_keep_theirs_and_one_job_lists_it_once() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (plain, relabelled) = (exporter().await, exporter().await);
    let (p, r) = (plain.addr(), relabelled.addr());
    let yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\nscrape_configs:\n\
         - job_name: a\n  static_configs:\n  - targets: ['{p}']\n  - targets: ['{p}']\n\
         - job_name: b\n  static_configs:\n  - targets: ['{p}']\n\
         - job_name: c1\n  static_configs:\n  - targets: ['{r}']\n    labels: {{job: shared}}\n\
         - job_name: c2\n  static_configs:\n  - targets: ['{r}']\n    labels: {{job: shared}}\n"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, yaml).expect("write config");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_scrapetop"))
        .arg("--headless")
        .arg("--config")
        .arg(&cfg)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary runs");
    let out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut out = common::lines::Events::new(out);

    // Four targets: a (once), b, c1 and c2, each under its own job with its own id.
    let added = out
        .wait_n("four targets", 4, 5 * S, |e| {
            matches!(e.kind, EventKind::TargetAdded { .. })
        })
        .await;
    let mut jobs: BTreeMap<String, (TargetId, String)> = BTreeMap::new();
    for ev in &added {
        let t = ev.target.as_ref().expect("about a target");
        let EventKind::TargetAdded { pool, labels, .. } = &ev.kind else {
            unreachable!()
        };
        assert_eq!(pool.job.as_ref(), &*t.job, "each job its own pool");
        let prev = jobs.insert(t.job.to_string(), (t.id, labels["job"].clone()));
        assert!(prev.is_none(), "job {} added twice", t.job);
    }
    assert_eq!(
        jobs.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b", "c1", "c2"]
    );
    assert_eq!(jobs["c1"].1, "shared");
    assert_eq!(jobs["c2"].1, "shared");
    let ids: HashSet<TargetId> = jobs.values().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), 4, "four identities: {jobs:?}");

    // Each scrapes, on a connection of its own: two per exporter, not one and not three.
    let mut up = HashSet::new();
    while up.len() < 4 {
        let ev = expect_event!(out, 5 * S, EventKind::Scrape(s) if s.up);
        up.insert(ev.target.expect("about a target").id);
    }
    assert_eq!(up, ids);
    assert_accepts(&plain, 2).await;
    assert_accepts(&relabelled, 2).await;
    // A few more rounds: no fifth target, no extra connection (a's second listing is not a
    // target that dials late).
    let deadline = tokio::time::Instant::now() + 3 * S;
    let mut scrapes_by_id: HashMap<TargetId, usize> = HashMap::new();
    while tokio::time::Instant::now() < deadline {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Ok(ev) = tokio::time::timeout(left, out.wait_for("events", 5 * S, |_| true)).await
        else {
            break;
        };
        assert!(
            !matches!(ev.kind, EventKind::TargetAdded { .. }),
            "a fifth target: {ev:?}"
        );
        if let EventKind::Scrape(s) = &ev.kind {
            assert!(s.reused, "a new connection: {ev:?}");
            *scrapes_by_id
                .entry(ev.target.expect("about a target").id)
                .or_default() += 1;
        }
    }
    assert_eq!(
        scrapes_by_id.keys().copied().collect::<HashSet<_>>(),
        ids,
        "every target scrapes on"
    );
    assert_eq!(plain.accepts(), 2);
    assert_eq!(relabelled.accepts(), 2);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"{\"cmd\":\"quit\"}\n")
        .await
        .expect("quit");
    let st = tokio::time::timeout(10 * S, child.wait())
        .await
        .expect("exits")
        .expect("wait");
    assert_eq!(st.code(), Some(0));
}
