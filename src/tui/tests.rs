//! Snapshot tests of every screen (TestBackend, fixed sizes, a model built from hand-made events
//! with fixed timestamps) and key-handling tests.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{App, Facts, Prompt, Screen};
use super::format::Theme;
use super::keys::Bindings;
use super::render;
use crate::event::{
    CloseReason, Command, ConnFailKind, DnsCause, DnsFailKind, Event, EventKind, TargetRef,
};
use crate::model::{Model, Pending};

/// 2023-11-14T22:13:20Z: every timestamp is an offset from here.
fn base() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// "Now" of every snapshot: ten minutes after `base`.
fn now() -> SystemTime {
    base() + Duration::from_secs(600)
}

fn target(id: u64, job: &str, instance: &str) -> Arc<TargetRef> {
    Arc::new(TargetRef {
        id: crate::event::TargetId(id),
        job: job.into(),
        instance: instance.into(),
    })
}

fn pool_key(s: &str) -> crate::event::PoolKey {
    s.parse().expect("pool key")
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

struct Script {
    events: Vec<Event>,
}

impl Script {
    fn at(&mut self, secs: f64, t: Option<&Arc<TargetRef>>, kind: EventKind) {
        self.events.push(Event {
            ts: base() + Duration::from_secs_f64(secs),
            target: t.cloned(),
            kind,
        });
    }

    fn add(&mut self, secs: f64, t: &Arc<TargetRef>, url: &str, pool: &str) {
        self.at(
            secs,
            Some(t),
            EventKind::TargetAdded {
                url: url.into(),
                pool: pool_key(&format!("{}/{pool}", t.job)),
                interval_s: 15.0,
                timeout_s: 10.0,
                labels: Default::default(),
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn open(
        &mut self,
        secs: f64,
        t: &Arc<TargetRef>,
        conn: u64,
        pool: &str,
        fd: i32,
        local: &str,
        peer: &str,
    ) {
        self.at(
            secs,
            Some(t),
            EventKind::ConnOpened(crate::event::ConnInfo {
                conn_id: conn,
                pool: pool_key(pool),
                fd,
                local: sa(local),
                peer: sa(peer),
                connect_ms: 0.4,
                tls: None,
            }),
        );
    }

    fn scrape(
        &mut self,
        secs: f64,
        t: &Arc<TargetRef>,
        conn: Option<u64>,
        ms: f64,
        error: Option<&str>,
    ) {
        self.at(
            secs,
            Some(t),
            EventKind::Scrape(crate::event::ScrapeResult {
                conn_id: conn,
                reused: secs > 20.0,
                status: error.is_none().then_some(200),
                duration_ms: ms,
                bytes: 12_345,
                samples: 321,
                up: error.is_none(),
                error: error.map(str::to_string),
            }),
        );
    }

    fn resolved(
        &mut self,
        secs: f64,
        t: &Arc<TargetRef>,
        host: &str,
        addrs: &[&str],
        cause: DnsCause,
    ) {
        self.at(
            secs,
            Some(t),
            EventKind::DnsResolved {
                host: host.into(),
                addrs: addrs.iter().map(|a| ip(a)).collect(),
                ttl_s: 300,
                duration_ms: 1.7,
                cause,
            },
        );
    }
}

/// Six targets in three jobs: healthy, refusing, stale-with-failing-DNS, a shared blackbox pool,
/// a hidden probe failure, and one removed target.
fn sample_model() -> Model {
    let mut s = Script { events: Vec::new() };
    let n1 = target(1, "node", "10.0.0.1:9100");
    let n2 = target(2, "node", "10.0.0.2:9100");
    let n3 = target(3, "node", "db.example:9100");
    let b1 = target(4, "blackbox", "https://a.example");
    let b2 = target(5, "blackbox", "https://b.example");
    let api = target(6, "api", "api.example:8080");
    let gone = target(7, "api", "old.example:8080");

    s.add(
        0.0,
        &n1,
        "http://10.0.0.1:9100/metrics",
        "http://10.0.0.1:9100",
    );
    s.add(
        0.0,
        &n2,
        "http://10.0.0.2:9100/metrics",
        "http://10.0.0.2:9100",
    );
    s.add(
        0.0,
        &n3,
        "http://db.example:9100/metrics",
        "http://db.example:9100",
    );
    s.add(
        0.0,
        &b1,
        "http://bb:9115/probe?target=https://a.example",
        "http://bb:9115",
    );
    s.add(
        0.0,
        &b2,
        "http://bb:9115/probe?target=https://b.example",
        "http://bb:9115",
    );
    s.add(
        0.0,
        &api,
        "http://api.example:8080/metrics",
        "http://api.example:8080",
    );
    s.add(
        0.0,
        &gone,
        "http://old.example:8080/metrics",
        "http://old.example:8080",
    );

    // node 1: a connection that broke once and was replaced.
    s.at(
        1.0,
        Some(&n1),
        EventKind::DialStarted {
            host: "10.0.0.1".into(),
            port: 9100,
        },
    );
    s.open(
        1.1,
        &n1,
        1,
        "node/http://10.0.0.1:9100",
        11,
        "127.0.0.1:40001",
        "10.0.0.1:9100",
    );
    s.scrape(1.2, &n1, Some(1), 4.1, None);
    s.at(
        200.0,
        Some(&n1),
        EventKind::ConnClosed {
            conn_id: 1,
            fd: 11,
            reason: CloseReason::PeerClosed,
            lifetime_s: 198.9,
            requests: 14,
        },
    );
    s.open(
        200.1,
        &n1,
        8,
        "node/http://10.0.0.1:9100",
        11,
        "127.0.0.1:40007",
        "10.0.0.1:9100",
    );
    for i in 0..12 {
        s.scrape(
            200.2 + 15.0 * f64::from(i),
            &n1,
            Some(8),
            3.0 + f64::from(i % 5),
            None,
        );
    }

    // node 2: refused on every dial.
    s.at(
        5.0,
        Some(&n2),
        EventKind::DialStarted {
            host: "10.0.0.2".into(),
            port: 9100,
        },
    );
    s.at(
        5.1,
        Some(&n2),
        EventKind::ConnFailed {
            addr: "10.0.0.2:9100".into(),
            kind: ConnFailKind::Refused,
            error: "connection refused".into(),
        },
    );
    s.scrape(
        5.2,
        &n2,
        None,
        0.3,
        Some("dial tcp 10.0.0.2:9100: connect: connection refused"),
    );

    // node 3: connected to an address DNS no longer returns; then DNS fails.
    s.at(
        2.0,
        Some(&n3),
        EventKind::DialStarted {
            host: "db.example".into(),
            port: 9100,
        },
    );
    s.resolved(2.1, &n3, "db.example", &["10.0.1.5"], DnsCause::Dial);
    s.open(
        2.2,
        &n3,
        2,
        "node/http://db.example:9100",
        12,
        "127.0.0.1:40002",
        "10.0.1.5:9100",
    );
    s.scrape(2.3, &n3, Some(2), 9.5, None);
    s.resolved(
        310.0,
        &n3,
        "db.example",
        &["10.0.1.9", "10.0.1.10"],
        DnsCause::Recheck,
    );
    s.at(
        520.0,
        Some(&n3),
        EventKind::DnsFailed {
            host: "db.example".into(),
            kind: DnsFailKind::Timeout,
            error: "request timed out".into(),
            duration_ms: 5000.0,
            cause: DnsCause::Recheck,
        },
    );
    s.scrape(590.0, &n3, Some(2), 8.8, None);

    // blackbox: two targets sharing one pool with two connections.
    s.open(
        3.0,
        &b1,
        3,
        "blackbox/http://bb:9115",
        13,
        "127.0.0.1:40003",
        "10.0.2.1:9115",
    );
    s.scrape(3.5, &b1, Some(3), 120.0, None);
    s.open(
        3.1,
        &b2,
        4,
        "blackbox/http://bb:9115",
        14,
        "127.0.0.1:40004",
        "10.0.2.1:9115",
    );
    s.scrape(590.0, &b2, Some(4), 250.0, None);
    s.at(
        595.0,
        Some(&b2),
        EventKind::DialStarted {
            host: "bb".into(),
            port: 9115,
        },
    );
    s.open(
        595.1,
        &b2,
        9,
        "blackbox/http://bb:9115",
        15,
        "127.0.0.1:40009",
        "10.0.2.1:9115",
    );

    // api: the pooled connection works, a fresh one fails (the hidden problem).
    s.at(
        4.0,
        Some(&api),
        EventKind::DialStarted {
            host: "api.example".into(),
            port: 8080,
        },
    );
    s.resolved(4.1, &api, "api.example", &["10.0.3.3"], DnsCause::Dial);
    s.open(
        4.2,
        &api,
        5,
        "api/http://api.example:8080",
        16,
        "127.0.0.1:40005",
        "10.0.3.3:8080",
    );
    s.scrape(4.3, &api, Some(5), 22.0, None);
    s.at(
        580.0,
        Some(&api),
        EventKind::Probe(crate::event::ProbeResult {
            ok: false,
            kind: Some(crate::event::ProbeFailKind::Timeout),
            error: Some("connect timed out".into()),
            resolve_ms: Some(1.2),
            connect_ms: None,
            first_byte_ms: None,
            total_ms: 10_000.0,
            peer: None,
            status: None,
            hidden_failure: true,
        }),
    );
    s.scrape(590.0, &api, Some(5), 24.0, None);

    // A removed target: kept in the model, not shown.
    s.at(6.0, Some(&gone), EventKind::TargetRemoved {});

    s.at(
        599.0,
        None,
        EventKind::Fds(crate::event::FdCensus {
            total: 42,
            sockets: 12,
            files: 18,
            pipes: 4,
            other: 8,
            soft_limit: 1024,
            hard_limit: 524_288,
            ..Default::default()
        }),
    );
    s.at(599.5, None, EventKind::Dropped { count: 3 });
    s.at(
        599.6,
        None,
        EventKind::Notice {
            message: "ignored remote_write section".into(),
        },
    );

    let mut m = Model::new();
    s.events.sort_by_key(|e| e.ts);
    for e in s.events {
        m.apply(e);
    }
    m
}

fn app_with(model: Model) -> App {
    let facts = Facts {
        demo: false,
        export_dir: "/tmp/scrapetop-exports".into(),
        log_file: "/home/op/.local/state/scrapetop/scrapetop.log".into(),
        keys_file: None,
        hints: Vec::new(),
    };
    let mut app = App::new(model, Bindings::defaults(), Theme { color: true }, facts);
    app.refresh(Instant::now(), now());
    app
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    app.invalidate();
    app.refresh(Instant::now(), now());
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    term.draw(|f| render::draw(f, app, now())).expect("draw");
    term.backend().to_string()
}

fn press(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
    app.refresh(Instant::now(), now());
}

fn ch(app: &mut App, c: char) {
    press(app, KeyCode::Char(c));
}

// ---- snapshots ----

#[test]
fn snapshot_every_screen_at_both_sizes() {
    for (w, h) in [(80, 24), (160, 48)] {
        for (key, name) in [
            ('1', "targets"),
            ('2', "detail"),
            ('3', "pools"),
            ('4', "descriptors"),
            ('5', "events"),
            ('?', "help"),
        ] {
            let mut app = app_with(sample_model());
            ch(&mut app, key);
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen(&mut app, w, h));
        }
    }
}

#[test]
fn snapshot_too_small() {
    let mut app = app_with(sample_model());
    insta::assert_snapshot!("too_small_79x24", screen(&mut app, 79, 24));
}

#[test]
fn snapshot_pending_row_shows_reconnecting_at_once() {
    let mut app = app_with(sample_model());
    // Sorted by job: api, blackbox, blackbox, node… select the first node target.
    for _ in 0..3 {
        ch(&mut app, 'j');
    }
    ch(&mut app, 'r');
    let out = screen(&mut app, 80, 24);
    assert!(out.contains("reconnecting…"), "{out}");
    insta::assert_snapshot!("pending_reconnect_80x24", out);
}

#[test]
fn snapshot_confirm_prompt_and_frozen_demo_header() {
    let mut app = app_with(sample_model());
    app.facts.demo = true;
    ch(&mut app, ' ');
    ch(&mut app, 'R');
    insta::assert_snapshot!("confirm_frozen_demo_80x24", screen(&mut app, 80, 24));
}

#[test]
fn snapshot_filtered_sorted_no_color() {
    let mut app = app_with(sample_model());
    app.theme = Theme { color: false };
    ch(&mut app, '/');
    for c in "node".chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Enter);
    ch(&mut app, 's'); // instance
    ch(&mut app, 'i'); // descending
    insta::assert_snapshot!("filtered_sorted_80x24", screen(&mut app, 80, 24));
}

// ---- keys → commands ----

fn selected_is(app: &App, job: &str, instance: &str) {
    let t = &app.model.targets[app.selected.expect("a selection")];
    assert_eq!((&*t.job, &*t.instance), (job, instance));
}

#[test]
fn per_target_keys_send_commands_and_mark_pending() {
    let mut app = app_with(sample_model());
    selected_is(&app, "api", "api.example:8080");
    // Exactly the selected target, by id: another target may share its job and instance.
    let sel = crate::event::Selector::target(&target(6, "api", "api.example:8080"));
    for (c, cmd, pending) in [
        ('r', Command::Reconnect(sel.clone()), Pending::Reconnecting),
        ('d', Command::ReResolve(sel.clone()), Pending::Resolving),
        ('p', Command::Probe(sel.clone()), Pending::Probing),
    ] {
        ch(&mut app, c);
        assert_eq!(app.outbox.drain(..).collect::<Vec<_>>(), vec![cmd]);
        let slot = app.selected.expect("selected");
        assert_eq!(app.model.targets[slot].pending, Some(pending));
    }
}

#[test]
fn bulk_keys_ask_then_send_one_command_per_whole_job() {
    let mut app = app_with(sample_model());
    ch(&mut app, 'R');
    assert!(matches!(
        app.prompt,
        Some(Prompt::Confirm { targets: 6, .. })
    ));
    assert!(
        app.outbox.is_empty(),
        "nothing is sent before the confirmation"
    );
    ch(&mut app, 'y');
    let jobs = |j: &str| {
        Command::Reconnect(crate::event::Selector {
            job: Some(j.into()),
            ..crate::event::Selector::all()
        })
    };
    assert_eq!(
        app.outbox.drain(..).collect::<Vec<_>>(),
        vec![jobs("api"), jobs("blackbox"), jobs("node")]
    );
    assert!(
        app.model
            .targets
            .iter()
            .filter(|t| !t.removed)
            .all(|t| t.pending == Some(Pending::Reconnecting))
    );

    // A filter that shows part of a job: one command per target.
    let mut app = app_with(sample_model());
    ch(&mut app, 'f');
    for c in "10.0.0".chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Enter);
    ch(&mut app, 'P');
    ch(&mut app, 'y');
    let probe =
        |id: u64, i: &str| Command::Probe(crate::event::Selector::target(&target(id, "node", i)));
    assert_eq!(
        app.outbox.drain(..).collect::<Vec<_>>(),
        vec![probe(1, "10.0.0.1:9100"), probe(2, "10.0.0.2:9100")]
    );

    // Declining sends nothing.
    let mut app = app_with(sample_model());
    ch(&mut app, 'D');
    ch(&mut app, 'n');
    assert!(app.outbox.is_empty() && app.prompt.is_none());
}

#[test]
fn quit_reload_and_load_keys() {
    let mut app = app_with(sample_model());
    app.on_key(KeyEvent::new(KeyCode::Char('l'), KeyModifiers::CONTROL));
    assert_eq!(
        app.outbox.drain(..).collect::<Vec<_>>(),
        vec![Command::Reload]
    );

    ch(&mut app, 'L');
    for c in "/etc/targets.yml".chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.prompt, Some(Prompt::LoadMode { .. })));
    ch(&mut app, 'r');
    assert_eq!(
        app.outbox.drain(..).collect::<Vec<_>>(),
        vec![Command::Load {
            path: "/etc/targets.yml".into(),
            replace: true
        }]
    );

    ch(&mut app, 'L');
    for c in "t.txt".chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Enter);
    ch(&mut app, 'a');
    assert_eq!(
        app.outbox.drain(..).collect::<Vec<_>>(),
        vec![Command::Load {
            path: "t.txt".into(),
            replace: false
        }]
    );

    ch(&mut app, 'q');
    assert!(app.quit);
    assert_eq!(
        app.outbox.drain(..).collect::<Vec<_>>(),
        vec![Command::Quit]
    );

    let mut app = app_with(sample_model());
    app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(app.quit);
}

#[test]
fn releases_and_repeats_do_nothing() {
    let mut app = app_with(sample_model());
    for kind in [KeyEventKind::Release, KeyEventKind::Repeat] {
        let mut ev = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        ev.kind = kind;
        assert!(!app.on_key(ev));
        assert!(!app.quit && app.outbox.is_empty());
    }
}

#[test]
fn navigation_and_screens() {
    let mut app = app_with(sample_model());
    ch(&mut app, 'G');
    selected_is(&app, "node", "db.example:9100");
    ch(&mut app, 'g');
    selected_is(&app, "api", "api.example:8080");
    press(&mut app, KeyCode::Down);
    selected_is(&app, "blackbox", "https://a.example");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.screen, Screen::Detail);
    ch(&mut app, 'j'); // next target, still in detail
    selected_is(&app, "blackbox", "https://b.example");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.screen, Screen::Targets);
    let mut seen = vec![];
    for _ in 0..5 {
        press(&mut app, KeyCode::Tab);
        seen.push(app.screen);
    }
    assert_eq!(
        seen,
        vec![
            Screen::Detail,
            Screen::Pools,
            Screen::Descriptors,
            Screen::Log,
            Screen::Targets
        ]
    );
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.screen, Screen::Log);
    ch(&mut app, '?');
    assert_eq!(app.screen, Screen::Help);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.screen, Screen::Log);
}

#[test]
fn sort_filter_and_state_filter() {
    let mut app = app_with(sample_model());
    assert_eq!(app.rows.len(), 6, "the removed target is not shown");
    ch(&mut app, 't'); // down
    assert_eq!(app.rows.len(), 1);
    selected_is(&app, "node", "10.0.0.2:9100");
    ch(&mut app, 't'); // failing
    ch(&mut app, 't'); // flagged
    assert_eq!(app.rows.len(), 2, "stale+dns and probe-failed");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.rows.len(), 6);

    ch(&mut app, '/');
    for c in "is:stale".chars() {
        ch(&mut app, c);
    }
    assert_eq!(app.rows.len(), 1, "filters while typing");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.rows.len(), 6, "esc restores the previous filter");

    // Sort by scrape duration, descending: the slow blackbox probe first.
    while app.view.sort != super::index::Column::Scrape {
        ch(&mut app, 's');
    }
    ch(&mut app, 'i');
    let first = &app.model.targets[app.rows[0]];
    assert_eq!(&*first.instance, "https://b.example");
    ch(&mut app, 'S');
    assert_eq!(app.view.sort, super::index::Column::Flags);
}

#[test]
fn freeze_keeps_showing_the_frozen_copy() {
    let mut app = app_with(sample_model());
    ch(&mut app, ' ');
    let before = app.shown().version;
    let t = target(99, "late", "x:1");
    app.apply([Event {
        ts: now(),
        target: Some(t),
        kind: EventKind::TargetAdded {
            url: "http://x:1/metrics".into(),
            pool: pool_key("late/http://x:1"),
            interval_s: 15.0,
            timeout_s: 10.0,
            labels: Default::default(),
        },
    }]);
    app.invalidate();
    app.refresh(Instant::now(), now());
    assert_eq!(app.shown().version, before);
    assert_eq!(app.rows.len(), 6);
    assert_eq!(
        app.model.totals.targets, 7,
        "the live model keeps applying events"
    );
    ch(&mut app, ' ');
    assert_eq!(app.rows.len(), 7);
}

#[test]
fn export_writes_json_and_shows_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = app_with(sample_model());
    app.facts.export_dir = dir.path().join("exports");
    app.export(now());
    let status = app.status.clone().expect("status");
    let path = status.strip_prefix("exported to ").expect("path shown");
    let text = std::fs::read_to_string(path).expect("file written");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["targets"].as_array().map(Vec::len), Some(7));
    assert_eq!(v["totals"]["targets"], 6);
    assert!(
        v["targets"][0]["scrapes"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(v["events"].as_array().is_some_and(|e| !e.is_empty()));
    // A second export in the same second does not overwrite the first.
    app.export(now());
    assert_ne!(app.status.as_deref(), Some(status.as_str()));
}

#[test]
fn path_completion() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("targets-a.yml"), "").expect("write");
    std::fs::write(dir.path().join("targets-b.yml"), "").expect("write");
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    let d = dir.path().display().to_string();
    let (c, cands) = super::app::complete_path(&format!("{d}/ta"));
    assert_eq!(c, format!("{d}/targets-"));
    assert_eq!(cands, vec!["targets-a.yml", "targets-b.yml"]);
    let (c, cands) = super::app::complete_path(&format!("{d}/s"));
    assert_eq!(c, format!("{d}/sub/"));
    assert!(cands.is_empty());
    let (c, _) = super::app::complete_path(&format!("{d}/nothing"));
    assert_eq!(c, format!("{d}/nothing"));

    // Tab in the load prompt uses it.
    let mut app = app_with(sample_model());
    ch(&mut app, 'L');
    for c in format!("{d}/targets-a").chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Tab);
    assert_eq!(
        app.prompt,
        Some(Prompt::LoadPath {
            input: format!("{d}/targets-a.yml"),
            candidates: vec![]
        })
    );
}

#[test]
fn engine_answer_clears_pending() {
    let mut app = app_with(sample_model());
    ch(&mut app, 'r');
    let slot = app.selected.expect("selected");
    let t = app.model.targets[slot].target.clone();
    app.apply([Event {
        ts: now(),
        target: Some(t),
        kind: EventKind::ConnClosed {
            conn_id: 5,
            fd: 16,
            reason: CloseReason::Forced,
            lifetime_s: 596.0,
            requests: 40,
        },
    }]);
    assert_eq!(app.model.targets[slot].pending, None);
}

#[test]
fn mouse_scroll_and_click() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut app = app_with(sample_model());
    let _ = screen(&mut app, 80, 24);
    let top = render::table_top(ratatui::layout::Rect::new(0, 0, 80, 24));
    let click = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: 5,
        row: top + 2,
        modifiers: KeyModifiers::NONE,
    };
    assert!(app.on_mouse(click, top));
    selected_is(&app, "blackbox", "https://b.example");
    let scroll = MouseEvent {
        kind: MouseEventKind::ScrollDown,
        ..click
    };
    assert!(app.on_mouse(scroll, top));
    selected_is(&app, "node", "db.example:9100");
}

#[test]
fn a_key_the_source_cannot_honour_says_so_and_is_not_left_pending() {
    let mut app = app_with(sample_model());
    ch(&mut app, 'p');
    let cmd = app.outbox.pop().expect("a probe command");
    let slot = app.selected.expect("selected");
    assert_eq!(app.model.targets[slot].pending, Some(Pending::Probing));
    let caps = crate::source::Capabilities::all().without(crate::source::Capability::Probe);
    let why = caps.check(&cmd).expect_err("refused");
    app.refuse(&cmd, &why);
    assert_eq!(app.model.targets[slot].pending, None);
    assert!(
        app.status
            .as_deref()
            .is_some_and(|s| s.contains("probe capability")),
        "{:?}",
        app.status
    );
}
