//! Tests of the UI without a terminal: a model built from a short script of events with fixed
//! timestamps, drawn into a TestBackend of fixed size (`screens`), and keys turned into commands
//! (`keys`).

mod keys;
mod screens;
mod timeline;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{App, Facts, Screen};
use super::format::Theme;
use super::keys::Bindings;
use super::prompt::Prompt;
use super::render;
use crate::event::{
    CloseReason, Command, ConnFailKind, DnsCause, DnsFailKind, Event, EventKind, TargetRef,
};
use crate::model::{Model, Pending};

/// 2023-11-14T22:13:20Z: every timestamp is an offset from here.
pub(super) fn base() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// "Now" of every snapshot: ten minutes after `base`.
pub(super) fn now() -> SystemTime {
    base() + Duration::from_secs(600)
}

pub(super) fn target(id: u64, job: &str, instance: &str) -> Arc<TargetRef> {
    Arc::new(TargetRef {
        id: crate::event::TargetId(id),
        job: job.into(),
        instance: instance.into(),
    })
}

pub(super) fn pool_key(s: &str) -> crate::event::PoolKey {
    s.parse().expect("pool key")
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

pub(super) fn ip(s: &str) -> IpAddr {
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
            source: None,
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

    #[allow(clippy::too_many_arguments)]
    fn close(
        &mut self,
        secs: f64,
        t: &Arc<TargetRef>,
        conn: u64,
        fd: i32,
        reason: CloseReason,
        lifetime_s: f64,
        requests: u64,
    ) {
        self.at(
            secs,
            Some(t),
            EventKind::ConnClosed {
                conn_id: conn,
                fd,
                reason,
                lifetime_s,
                requests,
            },
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

/// Seven targets in four jobs: healthy, refusing, stale-with-failing-DNS, a shared blackbox
/// pool, a hidden probe failure, one that reconnects (peer_closed, forced, reset, then a timeout
/// every 3 s since 22:22:10, its DNS answer moved once and a probe failed), and one removed
/// target.
pub(super) fn sample_model() -> Model {
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

    flapping_web(&mut s);

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
        EventKind::notice("ignored remote_write section"),
    );

    let mut m = Model::new();
    s.events.sort_by_key(|e| e.ts);
    for e in s.events {
        m.apply(e);
    }
    m
}

/// web/web-1.example:8000: connections that ended for different reasons, then a timeout every
/// 3 s from 530 s (22:22:10) to 587 s; the last connection, opened at 590 s, is open.
fn flapping_web(s: &mut Script) {
    let web = target(8, "web", "web-1.example:8000");
    let pool = "web/http://web-1.example:8000";
    s.add(
        0.0,
        &web,
        "http://web-1.example:8000/metrics",
        "http://web-1.example:8000",
    );
    s.resolved(9.9, &web, "web-1.example", &["10.0.4.4"], DnsCause::Dial);
    s.open(10.0, &web, 20, pool, 30, "127.0.0.1:41000", "10.0.4.4:8000");
    s.scrape(10.5, &web, Some(20), 5.0, None);
    s.close(120.0, &web, 20, 30, CloseReason::PeerClosed, 110.0, 8);
    // The name moved while the first connection lived.
    s.resolved(121.0, &web, "web-1.example", &["10.0.4.5"], DnsCause::Dial);
    s.open(
        121.1,
        &web,
        21,
        pool,
        30,
        "127.0.0.1:41001",
        "10.0.4.5:8000",
    );
    s.scrape(121.5, &web, Some(21), 5.0, None);
    s.at(
        200.0,
        Some(&web),
        EventKind::Probe(crate::event::ProbeResult {
            ok: true,
            kind: None,
            error: None,
            resolve_ms: Some(1.0),
            connect_ms: Some(0.3),
            first_byte_ms: Some(2.0),
            total_ms: 3.5,
            peer: Some(sa("10.0.4.5:8000")),
            status: Some(200),
            hidden_failure: false,
        }),
    );
    s.close(300.0, &web, 21, 30, CloseReason::Forced, 178.9, 12);
    s.resolved(300.9, &web, "web-1.example", &["10.0.4.5"], DnsCause::Dial);
    s.open(
        301.0,
        &web,
        22,
        pool,
        31,
        "127.0.0.1:41002",
        "10.0.4.5:8000",
    );
    s.scrape(301.5, &web, Some(22), 5.0, None);
    s.close(400.0, &web, 22, 31, CloseReason::Reset, 99.0, 6);
    for k in 0..=20u32 {
        let at = 530.0 + 3.0 * f64::from(k);
        let conn = 100 + u64::from(k);
        let local = format!("127.0.0.1:{}", 42000 + k);
        s.open(at, &web, conn, pool, 32, &local, "10.0.4.5:8000");
        if k < 20 {
            s.scrape(
                at + 2.5,
                &web,
                Some(conn),
                2500.0,
                Some("context deadline exceeded"),
            );
            s.close(at + 2.5, &web, conn, 32, CloseReason::Timeout, 2.5, 1);
        }
    }
    s.at(
        560.0,
        Some(&web),
        EventKind::Probe(crate::event::ProbeResult {
            ok: false,
            kind: Some(crate::event::ProbeFailKind::Timeout),
            error: Some("context deadline exceeded".into()),
            resolve_ms: Some(1.0),
            connect_ms: Some(0.3),
            first_byte_ms: None,
            total_ms: 10_000.0,
            peer: Some(sa("10.0.4.5:8000")),
            status: None,
            hidden_failure: false,
        }),
    );
}

pub(super) fn app_with(model: Model) -> App {
    let facts = Facts {
        demo: false,
        export_dir: "/tmp/scrapetop-exports".into(),
        log_file: "/home/op/.local/state/scrapetop/scrapetop.log".into(),
        keys_file: None,
        hints: Vec::new(),
    };
    let mut app = App::new(model, Bindings::defaults(), Theme { color: true }, facts);
    // The script starts at `base`: as if the UI had seen its events from there.
    app.first_event = Some(base());
    app.refresh(Instant::now(), now());
    app
}

pub(super) fn screen(app: &mut App, w: u16, h: u16) -> String {
    app.invalidate();
    app.refresh(Instant::now(), now());
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    term.draw(|f| render::draw(f, app, now())).expect("draw");
    term.backend().to_string()
}

pub(super) fn press(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
    app.refresh(Instant::now(), now());
}

pub(super) fn ch(app: &mut App, c: char) {
    press(app, KeyCode::Char(c));
}

pub(super) fn selected_is(app: &App, job: &str, instance: &str) {
    let t = &app.model.targets[app.targets.selected.expect("a selection")];
    assert_eq!((&*t.job, &*t.instance), (job, instance));
}
