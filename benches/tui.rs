//! TUI benchmark: event ingestion and frame rendering with 10,000 targets.
//!
//! `cargo bench --bench tui` prints p50/p99 of: applying engine events in the run loop's
//! batches, rebuilding the sorted+filtered index, and drawing one frame of several screens into
//! a TestBackend (what `terminal.draw` costs minus the terminal's own output). Every tenth
//! target (the first included, which the detail screen shows) has reconnected 40 times, so the
//! timeline and the table's strips draw bars and ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use scrapetop::event::{CloseReason, DnsCause, Event, EventKind, TargetRef};
use scrapetop::model::Model;
use scrapetop::tui::app::{App, Facts};
use scrapetop::tui::format::Theme;
use scrapetop::tui::keys::{Action, Bindings};
use scrapetop::tui::{BATCH, render};

const TARGETS: u64 = 10_000;

fn base() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn targets() -> Vec<Arc<TargetRef>> {
    (0..TARGETS)
        .map(|i| {
            Arc::new(TargetRef {
                id: scrapetop::event::TargetId(i),
                job: format!("job{}", i % 20).into(),
                instance: format!("10.{}.{}.{}:9100", i / 65536, (i / 256) % 256, i % 256).into(),
            })
        })
        .collect()
}

fn pool_key(t: &TargetRef) -> scrapetop::event::PoolKey {
    let (host, port) = t.instance.rsplit_once(':').unwrap_or((&t.instance, "9100"));
    scrapetop::event::PoolKey {
        job: t.job.clone(),
        scheme: scrapetop::event::Scheme::Http,
        host: host.into(),
        port: port.parse().unwrap_or(9100),
    }
}

fn setup_events(ts: &[Arc<TargetRef>]) -> Vec<Event> {
    let mut out = Vec::new();
    for (i, t) in ts.iter().enumerate() {
        let at = base() + Duration::from_millis(i as u64);
        let ev = |kind| Event {
            ts: at,
            target: Some(t.clone()),
            source: None,
            kind,
        };
        let ip = t
            .instance
            .split(':')
            .next()
            .unwrap_or("10.0.0.1")
            .to_string();
        out.push(ev(EventKind::TargetAdded {
            url: format!("http://{}/metrics", t.instance),
            pool: pool_key(t),
            interval_s: 15.0,
            timeout_s: 10.0,
            labels: Default::default(),
        }));
        out.push(ev(EventKind::DialStarted {
            host: format!("host{i}.example"),
            port: 9100,
        }));
        out.push(ev(EventKind::DnsResolved {
            host: format!("host{i}.example"),
            addrs: vec![ip.parse().unwrap_or([10, 0, 0, 1].into())],
            ttl_s: 300,
            duration_ms: 1.5,
            cause: DnsCause::Dial,
        }));
        let peer: SocketAddr = t.instance.parse().unwrap_or(([10, 0, 0, 1], 9100).into());
        if i % 10 == 0 {
            // Every tenth target reconnected 40 times (every 3 s, three reasons), so the
            // detail timeline and the table strips have bars and ends to draw.
            for k in 0..40u64 {
                let conn_id = TARGETS * (k + 1) + i as u64;
                let open_at = base() + Duration::from_secs(10 + 3 * k);
                out.push(Event {
                    ts: open_at,
                    target: Some(t.clone()),
                    source: None,
                    kind: EventKind::ConnOpened(scrapetop::event::ConnInfo {
                        conn_id,
                        pool: pool_key(t),
                        fd: 10 + i as i32,
                        local: ([127, 0, 0, 1], 20_000 + (k % 40_000) as u16).into(),
                        peer,
                        connect_ms: 0.3,
                        tls: None,
                    }),
                });
                let reason = [
                    CloseReason::Timeout,
                    CloseReason::Reset,
                    CloseReason::PeerClosed,
                ][(k % 3) as usize];
                out.push(Event {
                    ts: open_at + Duration::from_secs(2),
                    target: Some(t.clone()),
                    source: None,
                    kind: EventKind::ConnClosed {
                        conn_id,
                        fd: 10 + i as i32,
                        reason,
                        lifetime_s: 2.0,
                        requests: 1,
                    },
                });
            }
        }
        out.push(ev(EventKind::ConnOpened(scrapetop::event::ConnInfo {
            conn_id: i as u64,
            pool: pool_key(t),
            fd: 10 + i as i32,
            local: ([127, 0, 0, 1], 20_000 + (i % 40_000) as u16).into(),
            peer,
            connect_ms: 0.3,
            tls: None,
        })));
    }
    out
}

fn scrape(t: &Arc<TargetRef>, n: u64) -> Event {
    let up = !n.is_multiple_of(50);
    Event {
        ts: base()
            + Duration::from_secs(15 + n / TARGETS * 15)
            + Duration::from_micros(n % TARGETS),
        target: Some(t.clone()),
        source: None,
        kind: EventKind::Scrape(scrapetop::event::ScrapeResult {
            conn_id: Some(t.id.0),
            reused: true,
            status: Some(200),
            duration_ms: 2.0 + (n % 17) as f64,
            bytes: 40_000,
            samples: 900,
            up,
            error: (!up).then(|| "server returned HTTP status 503".to_string()),
        }),
    }
}

fn pct(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    (at(0.50), at(0.99), v[v.len() - 1])
}

fn report(what: &str, v: Vec<Duration>) {
    let n = v.len();
    let (p50, p99, max) = pct(v);
    println!("{what:<48} n={n:<6} p50 {p50:>10.1?}  p99 {p99:>10.1?}  max {max:>10.1?}");
}

fn main() {
    let ts = targets();
    let facts = Facts::default();
    let mut app = App::new(
        Model::new(),
        Bindings::defaults(),
        Theme { color: true },
        facts,
    );
    app.model.log_scrapes = true;

    // Ingestion: the setup burst, then steady scrapes, in the run loop's batch size.
    let setup = setup_events(&ts);
    let total_setup = setup.len();
    let mut batches = Vec::new();
    let start = Instant::now();
    let mut it = setup.into_iter().peekable();
    while it.peek().is_some() {
        let b: Vec<Event> = it.by_ref().take(BATCH).collect();
        let t0 = Instant::now();
        app.apply(b);
        batches.push(t0.elapsed());
    }
    let setup_time = start.elapsed();
    report(
        &format!("ingest setup burst, per batch of {BATCH}"),
        batches,
    );
    println!(
        "  {total_setup} events in {setup_time:.1?} = {:.0} events/s",
        total_setup as f64 / setup_time.as_secs_f64()
    );

    let mut n = 0u64;
    let mut scrapes: Vec<Event> = Vec::new();
    let mut batches = Vec::new();
    let rounds = 20 * TARGETS;
    let start_all = Instant::now();
    for _ in 0..rounds / BATCH as u64 {
        scrapes.clear();
        for _ in 0..BATCH {
            scrapes.push(scrape(&ts[(n % TARGETS) as usize], n));
            n += 1;
        }
        let b = std::mem::take(&mut scrapes);
        let t0 = Instant::now();
        app.apply(b);
        batches.push(t0.elapsed());
    }
    let all = start_all.elapsed();
    report(&format!("ingest scrapes, per batch of {BATCH}"), batches);
    println!(
        "  {n} scrape events (with event construction) in {all:.1?} = {:.0} events/s",
        n as f64 / all.as_secs_f64()
    );

    // Index rebuild (filter + sort of all 10,000 targets), forced.
    let now = base() + Duration::from_secs(20 * 15 + 30);
    for (label, sort_steps) in [("job", 0), ("state", 3), ("scrape duration", 12)] {
        app.targets.view = Default::default();
        for _ in 0..sort_steps {
            app.on_action(Action::SortNext);
        }
        let mut v = Vec::new();
        for _ in 0..200 {
            app.invalidate();
            let t0 = Instant::now();
            app.refresh(Instant::now(), now);
            v.push(t0.elapsed());
        }
        report(&format!("index rebuild, 10k targets, sort by {label}"), v);
    }
    app.targets.view = Default::default();
    app.invalidate();
    app.refresh(Instant::now(), now);

    // Frames: between frames a batch of scrapes arrives (so the model always changed) and the
    // index is refreshed as the run loop does (throttled to 4 Hz, so mostly a no-op).
    for (w, h) in [(80u16, 24u16), (160, 48), (240, 70)] {
        for (screen, action) in [
            ("targets", Action::ScreenTargets),
            ("detail", Action::ScreenDetail),
            ("pools", Action::ScreenPools),
            ("events", Action::ScreenLog),
        ] {
            app.on_action(action);
            app.invalidate();
            app.refresh(Instant::now(), now);
            let mut term = match Terminal::new(TestBackend::new(w, h)) {
                Ok(t) => t,
                Err(e) => panic!("test backend: {e}"),
            };
            let mut draws = Vec::new();
            let mut turns = Vec::new();
            for f in 0u32..300 {
                let t_turn = Instant::now();
                let b: Vec<Event> = (0..BATCH)
                    .map(|_| {
                        n += 1;
                        scrape(&ts[(n % TARGETS) as usize], n)
                    })
                    .collect();
                app.apply(b);
                app.refresh(Instant::now(), now);
                if f.is_multiple_of(10) {
                    app.on_action(Action::PageDown);
                }
                let t0 = Instant::now();
                let _ = term.draw(|fr| render::draw(fr, &mut app, now));
                draws.push(t0.elapsed());
                turns.push(t_turn.elapsed());
            }
            report(&format!("draw {screen} {w}x{h}"), draws);
            report(
                &format!("  loop turn (batch+refresh+draw) {screen} {w}x{h}"),
                turns,
            );
        }
    }
}
