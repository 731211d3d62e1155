//! Config-driven targets in the engine: https with a private CA, auth headers, and reloads
//! under each policy, checked on the server side.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use scrapetop::config::{self, SourceArgs};
use scrapetop::engine::dns::Dns;
use scrapetop::engine::{self, EngineOptions, ReloadPolicy, TargetSet};
use scrapetop::event::{CloseReason, Command, ConnFailKind, EventKind};
use scrapetop::exporter::{Exporter, ExporterConfig};
use scrapetop::sources::ConfigSources;

const S: Duration = Duration::from_secs(1);

fn opts() -> EngineOptions {
    EngineOptions {
        census_every: Duration::from_secs(3600),
        ..Default::default()
    }
}

/// Start the engine on `args` exactly as the binary does: first load, then ConfigSources.
async fn start_with(args: SourceArgs, o: EngineOptions) -> Run {
    let dns = Dns::new(None).expect("resolver");
    let loaded = config::load(&args, &dns)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let set = TargetSet {
        targets: loaded.targets,
        notices: loaded.notices,
    };
    let handle = engine::start(o, set, Arc::new(ConfigSources::new(args))).expect("engine");
    Run {
        handle,
        seen: Vec::new(),
    }
}

struct Pki {
    _dir: tempfile::TempDir,
    ca_pem: std::path::PathBuf,
    server: Arc<rustls::ServerConfig>,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("test setup");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("test setup");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "scrapetop test CA");
    let ca = ca_params.self_signed(&ca_key).expect("test setup");
    let leaf_key = KeyPair::generate().expect("test setup");
    let leaf_params = CertificateParams::new(vec!["localhost".to_owned()]).expect("test setup");
    let leaf = leaf_params
        .signed_by(&leaf_key, &Issuer::new(ca_params, ca_key))
        .expect("test setup");
    let dir = tempfile::tempdir().expect("test setup");
    let ca_pem = dir.path().join("ca.pem");
    std::fs::write(&ca_pem, ca.pem()).expect("test setup");
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("test setup");
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("test setup")
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key)
    .expect("test setup");
    Pki {
        _dir: dir,
        ca_pem,
        server: Arc::new(server),
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("test setup");
}

#[tokio::test]
async fn https_with_a_private_ca_works_with_ca_file_and_fails_clearly_without() {
    let pki = pki();
    let ex = Exporter::start(
        "127.0.0.1:0".parse().expect("test setup"),
        ExporterConfig {
            tls: Some(pki.server.clone()),
            ..Default::default()
        },
    )
    .await
    .expect("test setup");
    let dir = tempfile::tempdir().expect("test setup");
    let cfg = dir.path().join("prometheus.yml");
    write(
        &cfg,
        &format!(
            "scrape_configs:\n  - job_name: good\n    scheme: https\n    scrape_interval: 200ms\n    scrape_timeout: 150ms\n    tls_config:\n      ca_file: {}\n    static_configs:\n      - targets: ['localhost:{port}']\n  - job_name: untrusted\n    scheme: https\n    scrape_interval: 200ms\n    scrape_timeout: 150ms\n    static_configs:\n      - targets: ['localhost:{port}']\n",
            pki.ca_pem.display(),
            port = ex.addr().port()
        ),
    );
    let mut run = start_with(
        SourceArgs {
            config: Some(cfg),
            ..Default::default()
        },
        opts(),
    )
    .await;
    let opened = run
        .wait_for("tls conn", 3 * S, |e| {
            matches!(
                e.kind,
                EventKind::ConnOpened(scrapetop::event::ConnInfo { .. })
            ) && e.target.as_ref().is_some_and(|t| &*t.job == "good")
        })
        .await;
    let EventKind::ConnOpened(scrapetop::event::ConnInfo { tls, .. }) = &opened.kind else {
        unreachable!()
    };
    let tls = tls.as_ref().expect("tls facts on an https connection");
    assert_eq!(tls.tls_version, "TLSv1.3");
    assert!(tls.tls_ms > 0.0);
    assert!(tls.cert_expiry.is_some());
    run.wait_for("https scrape up", 2 * S, |e| {
        scrape_up(e) && e.target.as_ref().is_some_and(|t| &*t.job == "good")
    })
    .await;
    let failed = run
        .wait_for("untrusted fails", 2 * S, |e| {
            matches!(e.kind, EventKind::ConnFailed { .. })
                && e.target.as_ref().is_some_and(|t| &*t.job == "untrusted")
        })
        .await;
    let EventKind::ConnFailed { kind, error, .. } = &failed.kind else {
        unreachable!()
    };
    assert_eq!(*kind, ConnFailKind::Tls);
    assert!(
        error.contains("certificate verify failed: UnknownIssuer"),
        "{error}"
    );
    run.quit().await;
}

#[tokio::test]
async fn basic_auth_is_sent_and_never_shown() {
    let ex = Exporter::start(
        "127.0.0.1:0".parse().expect("test setup"),
        ExporterConfig::default(),
    )
    .await
    .expect("test setup");
    let dir = tempfile::tempdir().expect("test setup");
    let pw = dir.path().join("pw");
    write(&pw, "s3cret-pw\n");
    let cfg = dir.path().join("prometheus.yml");
    write(
        &cfg,
        &format!(
            "scrape_configs:\n  - job_name: auth\n    scrape_interval: 100ms\n    scrape_timeout: 80ms\n    basic_auth:\n      username: scraper\n      password_file: {}\n    static_configs:\n      - targets: ['{}']\n",
            pw.display(),
            ex.addr()
        ),
    );
    let mut run = start_with(
        SourceArgs {
            config: Some(cfg),
            ..Default::default()
        },
        opts(),
    )
    .await;
    run.wait_for("scrape", 2 * S, scrape_up).await;
    // base64("scraper:s3cret-pw")
    assert_eq!(
        ex.last_authorization().as_deref(),
        Some("Basic c2NyYXBlcjpzM2NyZXQtcHc=")
    );
    run.send(Command::Probe(scrapetop::event::Selector {
        job: None,
        instance: None,
        ..scrapetop::event::Selector::all()
    }));
    run.wait_for("probe", S, |e| {
        matches!(
            e.kind,
            EventKind::Probe(scrapetop::event::ProbeResult { ok: true, .. })
        )
    })
    .await;
    let all = run.recent(1000);
    assert!(
        !all.contains("s3cret") && !all.contains("c2NyYXBlcjpzM2NyZXQtcHc"),
        "secret in events"
    );
    run.quit().await;
}

/// Two exporters listed in a targets file; then the file changes and the engine reloads.
struct Fleet {
    a: Exporter,
    b: Exporter,
    c: Exporter,
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
}

async fn fleet() -> Fleet {
    let mk = || {
        Exporter::start(
            "127.0.0.1:0".parse().expect("test setup"),
            ExporterConfig::default(),
        )
    };
    let (a, b, c) = (
        mk().await.expect("test setup"),
        mk().await.expect("test setup"),
        mk().await.expect("test setup"),
    );
    let dir = tempfile::tempdir().expect("test setup");
    let file = dir.path().join("fleet.txt");
    write(
        &file,
        &format!("# two targets\n{}\n{}\n", a.addr(), b.addr()),
    );
    Fleet {
        a,
        b,
        c,
        _dir: dir,
        file,
    }
}

async fn reload_run(policy: ReloadPolicy) -> (Fleet, Run) {
    let f = fleet().await;
    let args = SourceArgs {
        targets_files: vec![f.file.clone()],
        interval: Some(Duration::from_millis(100)),
        timeout: Some(Duration::from_millis(80)),
        ..Default::default()
    };
    let mut run = start_with(
        args,
        EngineOptions {
            reload_policy: policy,
            ..opts()
        },
    )
    .await;
    run.wait_n("both scraped", 4, 2 * S, scrape_up).await;
    // b leaves, c arrives, a stays.
    write(&f.file, &format!("{}\n{}\n", f.a.addr(), f.c.addr()));
    run.send(Command::Reload);
    (f, run)
}

fn reload_event(e: &scrapetop::event::Event) -> bool {
    matches!(e.kind, EventKind::Reload { .. })
}

#[tokio::test]
async fn reload_prometheus_policy_keeps_unchanged_connections_and_a_departed_idle_one() {
    let (f, mut run) = reload_run(ReloadPolicy::Prometheus).await;
    let r = run.wait_for("reload", 2 * S, reload_event).await;
    assert!(
        matches!(
            r.kind,
            EventKind::Reload {
                added: 1,
                removed: 1,
                changed: 0,
                error: None,
                ..
            }
        ),
        "{r:?}"
    );
    run.wait_for("c scraped", 2 * S, |e| {
        scrape_up(e)
            && e.target
                .as_ref()
                .is_some_and(|t| *t.instance == f.c.addr().to_string())
    })
    .await;
    run.wait_n("more scrapes", 4, 2 * S, scrape_up).await;
    assert_eq!(f.a.accepts(), 1, "unchanged target keeps its connection");
    assert_eq!(
        f.b.open(),
        1,
        "a departed target's idle connection stays until the idle timeout"
    );
    assert!(
        !run.seen
            .iter()
            .any(|e| matches!(e.kind, EventKind::ConnClosed { .. })),
        "{}",
        run.recent(20)
    );
    run.quit().await;
}

#[tokio::test]
async fn reload_keep_policy_closes_only_removed_targets() {
    let (f, mut run) = reload_run(ReloadPolicy::Keep).await;
    // The reload report and the close (reported by the connection's own task) come in either
    // order.
    let c = run
        .wait_for("b closed", 2 * S, |e| {
            matches!(e.kind, EventKind::ConnClosed { .. })
        })
        .await;
    assert!(
        matches!(
            c.kind,
            EventKind::ConnClosed {
                reason: CloseReason::TargetRemoved,
                ..
            }
        ),
        "{c:?}"
    );
    assert_eq!(
        c.target.as_ref().map(|t| t.instance.to_string()),
        Some(f.b.addr().to_string())
    );
    if !run.seen.iter().any(reload_event) {
        run.wait_for("reload", 2 * S, reload_event).await;
    }
    run.wait_n("more scrapes", 4, 2 * S, scrape_up).await;
    assert_eq!(f.a.accepts(), 1);
    assert_eq!(f.c.accepts(), 1);
    run.quit().await;
}

#[tokio::test]
async fn reload_reconnect_policy_closes_every_connection() {
    let (f, mut run) = reload_run(ReloadPolicy::Reconnect).await;
    let r = run.wait_for("reload", 2 * S, reload_event).await;
    assert!(
        matches!(
            r.kind,
            EventKind::Reload {
                conns_closed: 2,
                conns_kept: 0,
                ..
            }
        ),
        "{r:?}"
    );
    run.wait_for("a re-dialled", 2 * S, |e| {
        matches!(
            e.kind,
            EventKind::ConnOpened(scrapetop::event::ConnInfo { .. })
        ) && e
            .target
            .as_ref()
            .is_some_and(|t| *t.instance == f.a.addr().to_string())
    })
    .await;
    assert_accepts(&f.a, 2).await;
    let reasons: Vec<_> = run
        .seen
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ConnClosed { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    // a's connection closes for the reload; b's because its target is gone.
    assert!(
        reasons.contains(&CloseReason::Reload) && reasons.contains(&CloseReason::TargetRemoved),
        "{reasons:?}"
    );
    run.quit().await;
}

#[tokio::test]
async fn a_changed_job_reconnects_and_an_invalid_reload_loses_nothing() {
    let ex = Exporter::start(
        "127.0.0.1:0".parse().expect("test setup"),
        ExporterConfig::default(),
    )
    .await
    .expect("test setup");
    let other = Exporter::start(
        "127.0.0.1:0".parse().expect("test setup"),
        ExporterConfig::default(),
    )
    .await
    .expect("test setup");
    let dir = tempfile::tempdir().expect("test setup");
    let cfg = dir.path().join("prometheus.yml");
    let text = |interval: &str| {
        format!(
            "scrape_configs:\n  - job_name: node\n    scrape_interval: {interval}\n    scrape_timeout: 50ms\n    static_configs:\n      - targets: ['{}']\n  - job_name: steady\n    scrape_interval: 100ms\n    scrape_timeout: 50ms\n    static_configs:\n      - targets: ['{}']\n",
            ex.addr(),
            other.addr()
        )
    };
    write(&cfg, &text("100ms"));
    let mut run = start_with(
        SourceArgs {
            config: Some(cfg.clone()),
            ..Default::default()
        },
        opts(),
    )
    .await;
    run.wait_n("scrapes", 4, 2 * S, scrape_up).await;

    // A broken file: the reload is refused and everything keeps running.
    write(
        &cfg,
        "scrape_configs:\n  - job_name: node\n    scrape_intervall: 1s\n",
    );
    run.send(Command::Reload);
    let r = run.wait_for("refused reload", 2 * S, reload_event).await;
    let EventKind::Reload { error: Some(e), .. } = &r.kind else {
        panic!("{r:?}")
    };
    assert!(e.contains("prometheus.yml:3:5"), "{e}");
    run.wait_n("still scraping", 4, 2 * S, scrape_up).await;
    assert_eq!(ex.accepts(), 1);

    // The node job changes (interval): its connection closes with reason reload; steady keeps.
    write(&cfg, &text("150ms"));
    run.send(Command::Reload);
    let c = run
        .wait_for("reload close", 2 * S, |e| {
            matches!(e.kind, EventKind::ConnClosed { .. })
        })
        .await;
    assert!(
        matches!(
            c.kind,
            EventKind::ConnClosed {
                reason: CloseReason::Reload,
                ..
            }
        ),
        "{c:?}"
    );
    let r = match run
        .seen
        .iter()
        .rev()
        .find(|e| reload_event(e))
        .filter(|e| matches!(e.kind, EventKind::Reload { error: None, .. }))
    {
        Some(r) => r.clone(),
        None => run.wait_for("reload", 2 * S, reload_event).await,
    };
    assert!(
        matches!(
            r.kind,
            EventKind::Reload {
                changed: 1,
                added: 0,
                removed: 0,
                error: None,
                ..
            }
        ),
        "{r:?}"
    );
    run.wait_for("node re-dialled", 2 * S, |e| {
        matches!(
            e.kind,
            EventKind::ConnOpened(scrapetop::event::ConnInfo { .. })
        )
    })
    .await;
    assert_accepts(&ex, 2).await;
    assert_eq!(other.accepts(), 1, "an unchanged job keeps its connection");
    run.quit().await;
}

#[tokio::test]
async fn load_adds_a_target_list_and_a_bad_file_changes_nothing() {
    let a = Exporter::start(
        "127.0.0.1:0".parse().expect("test setup"),
        ExporterConfig::default(),
    )
    .await
    .expect("test setup");
    let b = Exporter::start(
        "127.0.0.1:0".parse().expect("test setup"),
        ExporterConfig::default(),
    )
    .await
    .expect("test setup");
    let dir = tempfile::tempdir().expect("test setup");
    let extra = dir.path().join("extra.txt");
    write(&extra, &format!("{}\n", b.addr()));
    let args = SourceArgs {
        targets: vec![a.addr().to_string()],
        interval: Some(Duration::from_millis(100)),
        timeout: Some(Duration::from_millis(80)),
        ..Default::default()
    };
    let mut run = start_with(args, opts()).await;
    run.wait_for("a", 2 * S, scrape_up).await;
    run.send(Command::Load {
        path: dir.path().join("missing.txt").display().to_string(),
        replace: true,
    });
    let r = run.wait_for("refused load", 2 * S, reload_event).await;
    assert!(
        matches!(&r.kind, EventKind::Reload { error: Some(e), .. } if e.contains("missing.txt")),
        "{r:?}"
    );
    run.send(Command::Load {
        path: extra.display().to_string(),
        replace: false,
    });
    let added = run
        .wait_for("b added", 2 * S, |e| {
            matches!(e.kind, EventKind::TargetAdded { .. })
        })
        .await;
    assert_eq!(
        added.target.as_ref().map(|t| t.job.to_string()),
        Some("extra".to_owned())
    );
    run.wait_for("b scraped", 2 * S, |e| {
        scrape_up(e) && e.target.as_ref().is_some_and(|t| &*t.job == "extra")
    })
    .await;
    assert_eq!(
        a.accepts(),
        1,
        "adding a list keeps the running targets' connections"
    );
    run.quit().await;
}

/// `{"cmd":"load","path":<FIFO>}`: opening a FIFO blocks until a writer comes. The read happens
/// off the command loop, so the engine keeps answering and quits at once. (Two workers: were
/// the read on the loop, it would block one and the bounded waits below would fail.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_of_a_fifo_never_blocks_the_engine() {
    let a = Exporter::start(
        "127.0.0.1:0".parse().expect("test setup"),
        ExporterConfig::default(),
    )
    .await
    .expect("test setup");
    let dir = tempfile::tempdir().expect("test setup");
    let fifo = dir.path().join("targets.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let args = SourceArgs {
        targets: vec![a.addr().to_string()],
        interval: Some(Duration::from_millis(100)),
        timeout: Some(Duration::from_millis(80)),
        ..Default::default()
    };
    let mut run = start_with(args, opts()).await;
    run.wait_for("a", 2 * S, scrape_up).await;
    run.send(Command::Load {
        path: fifo.display().to_string(),
        replace: false,
    });
    // The engine still carries out commands and scrapes while the FIFO has no writer.
    run.send(Command::Pause);
    expect_event!(run, S, EventKind::Paused { paused: true });
    run.send(Command::Resume);
    expect_event!(run, S, EventKind::Paused { paused: false });
    run.wait_for("scraping goes on", 2 * S, scrape_up).await;
    let done = {
        let _ = run.handle.commands.send(Command::Quit).await;
        tokio::time::timeout(2 * S, run.handle.done).await
    };
    assert!(done.is_ok(), "quit waited for the FIFO");
    // Let the blocked reader go: a writer that closes at once gives it end-of-file.
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(&fifo);
}

/// `load … replace:true` replaces the file sources; `--target`s are not a file source and stay.
#[tokio::test]
async fn load_replace_keeps_command_line_targets() {
    let mut ex = Vec::new();
    for _ in 0..3 {
        ex.push(
            Exporter::start(
                "127.0.0.1:0".parse().expect("test setup"),
                ExporterConfig::default(),
            )
            .await
            .expect("test setup"),
        );
    }
    let dir = tempfile::tempdir().expect("test setup");
    let first = dir.path().join("first.txt");
    let second = dir.path().join("second.txt");
    write(&first, &format!("{}\n", ex[1].addr()));
    write(&second, &format!("{}\n", ex[2].addr()));
    let args = SourceArgs {
        targets: vec![ex[0].addr().to_string()],
        targets_files: vec![first],
        interval: Some(Duration::from_millis(100)),
        timeout: Some(Duration::from_millis(80)),
        ..Default::default()
    };
    let mut run = start_with(args, opts()).await;
    run.wait_n("both scraped", 2, 2 * S, scrape_up).await;
    run.send(Command::Load {
        path: second.display().to_string(),
        replace: true,
    });
    let (_, counts) = expect_event!(
        run,
        2 * S,
        EventKind::Reload { added, removed, error: None, .. } => (*added, *removed)
    );
    assert_eq!(counts, (1, 1), "first.txt's target out, second.txt's in");
    let removed: Vec<String> = run
        .seen
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TargetRemoved {}))
        .filter_map(|e| e.target.as_ref().map(|t| t.instance.to_string()))
        .collect();
    assert_eq!(removed, vec![ex[1].addr().to_string()]);
    run.quit().await;
}
