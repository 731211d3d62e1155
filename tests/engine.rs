//! The engine against real HTTP servers on loopback and a real DNS server.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::*;
use scrapetop::engine::EngineOptions;
use scrapetop::event::{CloseReason, Command, ConnFailKind, DnsCause, DnsFailKind, EventKind};
use scrapetop::exporter::{Exporter, ExporterConfig, Mode};

const S: Duration = Duration::from_secs(1);

async fn exporter() -> Exporter {
    Exporter::start(
        "127.0.0.1:0".parse().expect("test setup"),
        ExporterConfig::default(),
    )
    .await
    .expect("test setup")
}

fn opts() -> EngineOptions {
    EngineOptions {
        census_every: Duration::from_secs(3600),
        ..Default::default()
    }
}

#[tokio::test]
async fn one_connection_is_reused_across_scrapes() {
    let ex = exporter().await;
    let j = job("node", 50, 40);
    let mut run = start(opts(), vec![target(&ex.addr().to_string(), &j)]);
    let scrapes = run.wait_n("12 scrapes", 12, 5 * S, is_scrape).await;
    for (i, s) in scrapes.iter().enumerate() {
        let EventKind::Scrape(scrapetop::event::ScrapeResult {
            up,
            reused,
            samples,
            bytes,
            status,
            ..
        }) = &s.kind
        else {
            unreachable!()
        };
        assert!(*up, "scrape {i} down: {s:?}");
        assert_eq!(*reused, i > 0, "scrape {i}");
        assert_eq!(*samples, 20);
        assert!(*bytes > 500);
        assert_eq!(*status, Some(200));
    }
    assert_eq!(ex.accepts(), 1, "server saw more than one connection");
    assert!(ex.requests() >= 12);
    run.quit().await;
}

#[tokio::test]
async fn idle_connections_close_after_the_idle_timeout() {
    let ex = exporter().await;
    let j = job("node", 2000, 500);
    let o = EngineOptions {
        idle_timeout: Duration::from_millis(200),
        ..opts()
    };
    let mut run = start(o, vec![target(&ex.addr().to_string(), &j)]);
    run.wait_for("a scrape", 3 * S, scrape_up).await;
    let ev = run
        .wait_for("idle close", S, |e| {
            matches!(e.kind, EventKind::ConnClosed { .. })
        })
        .await;
    let EventKind::ConnClosed {
        reason, requests, ..
    } = ev.kind
    else {
        unreachable!()
    };
    assert_eq!(reason, CloseReason::IdleTimeout);
    assert_eq!(requests, 1);
    run.quit().await;
}

#[tokio::test]
async fn a_timeout_closes_the_connection_and_the_next_scrape_resolves_again() {
    let dns = dns_server().await;
    dns.set_addrs("slow", &["127.0.0.1".parse().expect("test setup")], 60)
        .await
        .expect("test setup");
    let ex = exporter().await;
    ex.set_mode(Mode::Slow(Duration::from_millis(400)));
    let j = job("node", 300, 150);
    let o = EngineOptions {
        dns_server: Some(dns.addr()),
        ..opts()
    };
    let mut run = start(
        o,
        vec![target(&format!("slow.test:{}", ex.addr().port()), &j)],
    );
    let s = run.wait_for("a failed scrape", 3 * S, is_scrape).await;
    let EventKind::Scrape(scrapetop::event::ScrapeResult { up, error, .. }) = &s.kind else {
        unreachable!()
    };
    assert!(!up);
    assert!(
        error
            .as_deref()
            .unwrap_or("")
            .contains("context deadline exceeded"),
        "{error:?}"
    );
    let c = run
        .wait_for("close", S, |e| {
            matches!(e.kind, EventKind::ConnClosed { .. })
        })
        .await;
    assert!(
        matches!(
            c.kind,
            EventKind::ConnClosed {
                reason: CloseReason::Timeout,
                ..
            }
        ),
        "{c:?}"
    );
    // The next scrape dials, and so resolves, again.
    run.wait_for("dial", 2 * S, |e| {
        matches!(e.kind, EventKind::DialStarted { .. })
    })
    .await;
    run.wait_for("lookup", S, |e| {
        matches!(
            e.kind,
            EventKind::DnsResolved {
                cause: DnsCause::Dial,
                ..
            }
        )
    })
    .await;
    run.quit().await;
}

#[tokio::test]
async fn a_500_keeps_the_connection() {
    let ex = exporter().await;
    ex.set_mode(Mode::Status(500));
    let j = job("node", 60, 50);
    let mut run = start(opts(), vec![target(&ex.addr().to_string(), &j)]);
    let scrapes = run.wait_n("5 scrapes", 5, 3 * S, is_scrape).await;
    for s in &scrapes {
        let EventKind::Scrape(scrapetop::event::ScrapeResult {
            up, status, error, ..
        }) = &s.kind
        else {
            unreachable!()
        };
        assert!(!up);
        assert_eq!(*status, Some(500));
        assert_eq!(
            error.as_deref(),
            Some("server returned HTTP status 500 Internal Server Error")
        );
    }
    assert_eq!(ex.accepts(), 1);
    assert!(
        !run.seen
            .iter()
            .any(|e| matches!(e.kind, EventKind::ConnClosed { .. }))
    );
    run.quit().await;
}

#[tokio::test]
async fn connection_close_closes_after_each_response() {
    let ex = exporter().await;
    ex.set_mode(Mode::ConnectionClose);
    let j = job("node", 60, 50);
    let mut run = start(opts(), vec![target(&ex.addr().to_string(), &j)]);
    let closes = run
        .wait_n("3 closes", 3, 3 * S, |e| {
            matches!(e.kind, EventKind::ConnClosed { .. })
        })
        .await;
    for c in closes {
        assert!(
            matches!(
                c.kind,
                EventKind::ConnClosed {
                    reason: CloseReason::ConnectionClose,
                    requests: 1,
                    ..
                }
            ),
            "{c:?}"
        );
    }
    assert!(run.seen.iter().filter(|e| is_scrape(e)).all(scrape_up));
    assert!(ex.accepts() >= 3);
    run.quit().await;
}

#[tokio::test]
async fn a_server_closing_an_idle_connection_is_noticed_at_once() {
    let ex = Exporter::start(
        "127.0.0.1:0".parse().expect("test setup"),
        ExporterConfig {
            idle_close: Some(Duration::from_millis(100)),
            ..Default::default()
        },
    )
    .await
    .expect("test setup");
    let j = job("node", 800, 500);
    let mut run = start(opts(), vec![target(&ex.addr().to_string(), &j)]);
    let s1 = run.wait_for("scrape", 2 * S, scrape_up).await;
    let c = run
        .wait_for("close", S, |e| {
            matches!(e.kind, EventKind::ConnClosed { .. })
        })
        .await;
    assert!(
        matches!(
            c.kind,
            EventKind::ConnClosed {
                reason: CloseReason::PeerClosed,
                ..
            }
        ),
        "{c:?}"
    );
    let noticed = c.ts.duration_since(s1.ts).expect("test setup");
    assert!(
        noticed < Duration::from_millis(600),
        "noticed only after {noticed:?}"
    );
    let s2 = run.wait_for("next scrape", 2 * S, is_scrape).await;
    assert!(
        matches!(
            s2.kind,
            EventKind::Scrape(scrapetop::event::ScrapeResult {
                up: true,
                reused: false,
                ..
            })
        ),
        "{s2:?}"
    );
    assert_eq!(ex.accepts(), 2);
    run.quit().await;
}

#[tokio::test]
async fn a_reset_on_a_reused_connection_is_retried_once_on_a_fresh_one() {
    let ex = exporter().await;
    let j = job("node", 200, 150);
    let mut run = start(opts(), vec![target(&ex.addr().to_string(), &j)]);
    run.wait_for("first scrape", 2 * S, scrape_up).await;
    ex.set_mode(Mode::ResetReused);
    // The pooled connection was accepted before linger-0 was set, so drop it and let the next
    // one (accepted in ResetReused mode) serve one request, then reset the reuse.
    ex.drop_connections();
    let c = run
        .wait_for("reset close", 3 * S, |e| {
            matches!(
                e.kind,
                EventKind::ConnClosed {
                    reason: CloseReason::Reset,
                    ..
                }
            )
        })
        .await;
    let EventKind::ConnClosed {
        conn_id: reset_id, ..
    } = c.kind
    else {
        unreachable!()
    };
    // The scrape that hit the reset succeeded on a fresh connection.
    let s = run
        .wait_for(
            "retried scrape",
            2 * S,
            |e| matches!(e.kind, EventKind::Scrape(scrapetop::event::ScrapeResult { conn_id: Some(id), .. }) if id != reset_id),
        )
        .await;
    assert!(
        matches!(
            s.kind,
            EventKind::Scrape(scrapetop::event::ScrapeResult {
                up: true,
                reused: false,
                ..
            })
        ),
        "{s:?}\n{}",
        run.recent(20)
    );
    run.quit().await;
}

#[tokio::test]
async fn reconnect_re_resolve_and_probe_commands() {
    let dns = dns_server().await;
    dns.set_addrs("api", &["127.0.0.1".parse().expect("test setup")], 60)
        .await
        .expect("test setup");
    let ex = exporter().await;
    let j = job("api", 100, 80);
    let o = EngineOptions {
        dns_server: Some(dns.addr()),
        ..opts()
    };
    let mut run = start(
        o,
        vec![target(&format!("api.test:{}", ex.addr().port()), &j)],
    );
    run.wait_n("2 scrapes", 2, 2 * S, scrape_up).await;
    assert_eq!(ex.accepts(), 1);

    run.send(Command::ReResolve(scrapetop::event::Selector {
        job: Some("api".into()),
        instance: None,
        ..scrapetop::event::Selector::all()
    }));
    let r = run
        .wait_for("re_resolve", S, |e| {
            matches!(
                e.kind,
                EventKind::DnsResolved {
                    cause: DnsCause::ReResolve,
                    ..
                }
            )
        })
        .await;
    let EventKind::DnsResolved { addrs, ttl_s, .. } = &r.kind else {
        unreachable!()
    };
    assert_eq!(
        addrs,
        &vec!["127.0.0.1".parse::<IpAddr>().expect("test setup")]
    );
    assert!(*ttl_s > 0 && *ttl_s <= 60);
    assert_eq!(ex.accepts(), 1, "re_resolve must not touch the connection");

    run.send(Command::Probe(scrapetop::event::Selector {
        job: None,
        instance: None,
        ..scrapetop::event::Selector::all()
    }));
    let p = run
        .wait_for("probe", S, |e| {
            matches!(
                e.kind,
                EventKind::Probe(scrapetop::event::ProbeResult { .. })
            )
        })
        .await;
    let EventKind::Probe(scrapetop::event::ProbeResult {
        ok,
        resolve_ms,
        connect_ms,
        first_byte_ms,
        total_ms,
        peer,
        ..
    }) = &p.kind
    else {
        unreachable!()
    };
    assert!(*ok, "{p:?}");
    assert!(resolve_ms.is_some() && connect_ms.is_some() && first_byte_ms.is_some());
    assert!(*total_ms >= first_byte_ms.unwrap_or(0.0));
    assert_eq!(*peer, Some(ex.addr()));
    assert_eq!(ex.accepts(), 2, "the probe uses its own connection");
    run.wait_for("scrape after probe", S, |e| {
        matches!(
            e.kind,
            EventKind::Scrape(scrapetop::event::ScrapeResult { reused: true, .. })
        )
    })
    .await;

    run.send(Command::Reconnect(scrapetop::event::Selector {
        job: Some("api".into()),
        instance: Some(format!("api.test:{}", ex.addr().port())),
        ..scrapetop::event::Selector::all()
    }));
    let c = run
        .wait_for("forced close", S, |e| {
            matches!(e.kind, EventKind::ConnClosed { .. })
        })
        .await;
    assert!(
        matches!(
            c.kind,
            EventKind::ConnClosed {
                reason: CloseReason::Forced,
                ..
            }
        ),
        "{c:?}"
    );
    run.wait_for("lookup on redial", S, |e| {
        matches!(
            e.kind,
            EventKind::DnsResolved {
                cause: DnsCause::Dial,
                ..
            }
        )
    })
    .await;
    run.wait_for("new conn", S, |e| {
        matches!(
            e.kind,
            EventKind::ConnOpened(scrapetop::event::ConnInfo { .. })
        )
    })
    .await;
    assert_accepts(&ex, 3).await;
    run.quit().await;
}

/// Two exporters on the same port of two loopback addresses: the "old" and "new" host.
async fn two_hosts() -> (Exporter, Exporter) {
    for _ in 0..20 {
        let a = exporter().await;
        let b_addr = SocketAddr::new("127.0.0.2".parse().expect("test setup"), a.addr().port());
        if let Ok(b) = Exporter::start(b_addr, ExporterConfig::default()).await {
            return (a, b);
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

#[tokio::test]
async fn a_moved_record_marks_the_connection_stale_until_a_reconnect_follows_it() {
    let dns = dns_server().await;
    let (old, new) = two_hosts().await;
    dns.set_addrs("db", &[old.addr().ip()], 60)
        .await
        .expect("test setup");
    let j = job("db", 100, 80);
    let o = EngineOptions {
        dns_server: Some(dns.addr()),
        ..opts()
    };
    let mut run = start(
        o,
        vec![target(&format!("db.test:{}", old.addr().port()), &j)],
    );
    run.wait_for("scrape", 2 * S, scrape_up).await;

    dns.set_addrs("db", &[new.addr().ip()], 60)
        .await
        .expect("test setup");
    run.send(Command::ReResolve(scrapetop::event::Selector {
        job: None,
        instance: None,
        ..scrapetop::event::Selector::all()
    }));
    let st = run
        .wait_for("stale", S, |e| {
            matches!(e.kind, EventKind::StalePeer { .. })
        })
        .await;
    let EventKind::StalePeer { peer, addrs, .. } = &st.kind else {
        unreachable!()
    };
    assert_eq!(*peer, old.addr());
    assert_eq!(addrs, &vec![new.addr().ip()]);
    // Scraping stays on the old peer.
    let before = old.requests();
    run.wait_n("2 scrapes", 2, S, scrape_up).await;
    assert!(old.requests() >= before + 2);
    assert_eq!(new.accepts(), 0);

    run.send(Command::Reconnect(scrapetop::event::Selector {
        job: None,
        instance: None,
        ..scrapetop::event::Selector::all()
    }));
    let o = run
        .wait_for("new conn", 2 * S, |e| {
            matches!(
                e.kind,
                EventKind::ConnOpened(scrapetop::event::ConnInfo { .. })
            )
        })
        .await;
    assert!(
        matches!(o.kind, EventKind::ConnOpened(scrapetop::event::ConnInfo { peer, .. }) if peer == new.addr()),
        "{o:?}"
    );
    run.wait_for("scrape on new host", S, scrape_up).await;
    assert_eq!(new.accepts(), 1);
    run.quit().await;
}

#[tokio::test]
async fn the_background_recheck_flags_a_stale_peer_by_itself() {
    let dns = dns_server().await;
    let (old, new) = two_hosts().await;
    dns.set_addrs("db", &[old.addr().ip()], 1)
        .await
        .expect("test setup");
    let j = job("db", 200, 150);
    let o = EngineOptions {
        dns_server: Some(dns.addr()),
        recheck_dns: true,
        recheck_min: Duration::from_millis(500),
        ..opts()
    };
    let mut run = start(
        o,
        vec![target(&format!("db.test:{}", old.addr().port()), &j)],
    );
    run.wait_for("scrape", 2 * S, scrape_up).await;
    dns.set_addrs("db", &[new.addr().ip()], 1)
        .await
        .expect("test setup");
    // The recheck runs at TTL expiry (1 s here), at most every `recheck_min` per name.
    let st = run
        .wait_for("stale via recheck", 5 * S, |e| {
            matches!(e.kind, EventKind::StalePeer { .. })
        })
        .await;
    assert!(run.seen.iter().any(|e| matches!(
        e.kind,
        EventKind::DnsResolved {
            cause: DnsCause::Recheck,
            ..
        }
    )));
    assert!(st.ts.elapsed().is_ok());
    assert_eq!(new.accepts(), 0, "a recheck never reconnects");
    run.quit().await;
}

#[tokio::test]
async fn a_dead_dns_server_goes_unnoticed_until_a_reconnect() {
    let dns = dns_server().await;
    dns.set_addrs("web", &["127.0.0.1".parse().expect("test setup")], 60)
        .await
        .expect("test setup");
    let ex = exporter().await;
    let j = job("web", 200, 400);
    let j = {
        let mut s = (*j).clone();
        s.interval = Duration::from_millis(500);
        std::sync::Arc::new(s)
    };
    let o = EngineOptions {
        dns_server: Some(dns.addr()),
        ..opts()
    };
    let mut run = start(
        o,
        vec![target(&format!("web.test:{}", ex.addr().port()), &j)],
    );
    run.wait_for("scrape", 2 * S, scrape_up).await;
    dns.set_silent(true);
    // Scraping continues on the live connection.
    run.wait_n("2 scrapes while DNS is dead", 2, 2 * S, scrape_up)
        .await;
    run.send(Command::ReResolve(scrapetop::event::Selector {
        job: None,
        instance: None,
        ..scrapetop::event::Selector::all()
    }));
    let f = run
        .wait_for("dns failure", 2 * S, |e| {
            matches!(e.kind, EventKind::DnsFailed { .. })
        })
        .await;
    assert!(
        matches!(
            f.kind,
            EventKind::DnsFailed {
                kind: DnsFailKind::Timeout,
                cause: DnsCause::ReResolve,
                ..
            }
        ),
        "{f:?}"
    );
    run.send(Command::Reconnect(scrapetop::event::Selector {
        job: None,
        instance: None,
        ..scrapetop::event::Selector::all()
    }));
    let c = run
        .wait_for("dial failure", 3 * S, |e| {
            matches!(e.kind, EventKind::ConnFailed { .. })
        })
        .await;
    assert!(
        matches!(
            c.kind,
            EventKind::ConnFailed {
                kind: ConnFailKind::Resolution,
                ..
            }
        ),
        "{c:?}"
    );
    let s = run.wait_for("down scrape", S, is_scrape).await;
    assert!(
        matches!(
            s.kind,
            EventKind::Scrape(scrapetop::event::ScrapeResult {
                up: false,
                conn_id: None,
                ..
            })
        ),
        "{s:?}"
    );
    dns.set_silent(false);
    run.wait_for("up again", 3 * S, scrape_up).await;
    run.quit().await;
}

#[tokio::test]
async fn refused_dials_are_reported_and_retried_every_scrape() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("test setup");
        l.local_addr().expect("test setup").port()
    };
    let j = job("gone", 100, 80);
    let mut run = start(opts(), vec![target(&format!("127.0.0.1:{port}"), &j)]);
    let fails = run
        .wait_n("3 refused", 3, 2 * S, |e| {
            matches!(e.kind, EventKind::ConnFailed { .. })
        })
        .await;
    for f in fails {
        let EventKind::ConnFailed { kind, error, .. } = &f.kind else {
            unreachable!()
        };
        assert_eq!(*kind, ConnFailKind::Refused);
        assert!(error.contains("connection refused"), "{error}");
    }
    run.quit().await;
}

#[tokio::test]
async fn a_probe_reveals_a_target_refusing_new_connections() {
    let ex = exporter().await;
    let j = job("node", 100, 80);
    let mut run = start(opts(), vec![target(&ex.addr().to_string(), &j)]);
    run.wait_n("scrapes", 2, 2 * S, scrape_up).await;
    ex.set_accepting(false).await.expect("test setup");
    run.wait_n("still up on the old connection", 2, S, scrape_up)
        .await;
    run.send(Command::Probe(scrapetop::event::Selector {
        job: None,
        instance: None,
        ..scrapetop::event::Selector::all()
    }));
    let p = run
        .wait_for("probe", S, |e| {
            matches!(
                e.kind,
                EventKind::Probe(scrapetop::event::ProbeResult { .. })
            )
        })
        .await;
    let EventKind::Probe(scrapetop::event::ProbeResult {
        ok,
        kind,
        hidden_failure,
        ..
    }) = &p.kind
    else {
        unreachable!()
    };
    assert!(!ok);
    assert_eq!(*kind, Some(scrapetop::event::ProbeFailKind::Refused));
    assert!(
        *hidden_failure,
        "the pooled connection works while a fresh one fails"
    );
    run.quit().await;
}

#[tokio::test]
async fn max_conn_age_recycles_connections() {
    let ex = exporter().await;
    let j = job("node", 50, 40);
    let o = EngineOptions {
        max_conn_age: Some(Duration::from_millis(200)),
        ..opts()
    };
    let mut run = start(o, vec![target(&ex.addr().to_string(), &j)]);
    let c = run
        .wait_for("max age close", 2 * S, |e| {
            matches!(e.kind, EventKind::ConnClosed { .. })
        })
        .await;
    assert!(
        matches!(
            c.kind,
            EventKind::ConnClosed {
                reason: CloseReason::MaxAge,
                ..
            }
        ),
        "{c:?}"
    );
    run.wait_for("new conn", S, |e| {
        matches!(
            e.kind,
            EventKind::ConnOpened(scrapetop::event::ConnInfo { .. })
        )
    })
    .await;
    run.quit().await;
}

#[tokio::test]
async fn body_size_limit_fails_the_scrape_but_keeps_the_connection() {
    let ex = Exporter::start(
        "127.0.0.1:0".parse().expect("test setup"),
        ExporterConfig {
            lines: 500,
            ..Default::default()
        },
    )
    .await
    .expect("test setup");
    let mut j = (*job("big", 80, 60)).clone();
    j.body_size_limit = 1000;
    let j = std::sync::Arc::new(j);
    let mut run = start(opts(), vec![target(&ex.addr().to_string(), &j)]);
    let scrapes = run.wait_n("3 scrapes", 3, 2 * S, is_scrape).await;
    for s in scrapes {
        let EventKind::Scrape(scrapetop::event::ScrapeResult { up, error, .. }) = &s.kind else {
            unreachable!()
        };
        assert!(!up);
        assert!(
            error
                .as_deref()
                .unwrap_or("")
                .contains("body size limit exceeded"),
            "{error:?}"
        );
    }
    assert_eq!(ex.accepts(), 1);
    run.quit().await;
}

#[tokio::test]
async fn pause_stops_scraping_and_resume_restarts_it() {
    let ex = exporter().await;
    let j = job("node", 50, 40);
    let mut run = start(opts(), vec![target(&ex.addr().to_string(), &j)]);
    run.wait_for("scrape", S, scrape_up).await;
    run.send(Command::Pause);
    run.wait_for("paused", S, |e| {
        matches!(e.kind, EventKind::Paused { paused: true })
    })
    .await;
    // A scrape already in flight may still finish; after that nothing.
    run.drain_for(Duration::from_millis(100)).await;
    let quiet = run.drain_for(Duration::from_millis(300)).await;
    assert!(!quiet.iter().any(is_scrape), "scraped while paused");
    run.send(Command::Resume);
    run.wait_for("scrape after resume", S, scrape_up).await;
    run.quit().await;
}

#[tokio::test]
async fn a_probe_also_notices_a_stale_pooled_connection() {
    let dns = dns_server().await;
    let (old, new) = two_hosts().await;
    dns.set_addrs("db", &[old.addr().ip()], 60)
        .await
        .expect("test setup");
    let j = job("db", 100, 80);
    let o = EngineOptions {
        dns_server: Some(dns.addr()),
        recheck_dns: false,
        ..opts()
    };
    let mut run = start(
        o,
        vec![target(&format!("db.test:{}", old.addr().port()), &j)],
    );
    run.wait_for("scrape", 2 * S, scrape_up).await;
    dns.set_addrs("db", &[new.addr().ip()], 60)
        .await
        .expect("test setup");
    run.send(Command::Probe(scrapetop::event::Selector {
        job: None,
        instance: None,
        ..scrapetop::event::Selector::all()
    }));
    run.wait_for("stale via probe", S, |e| {
        matches!(e.kind, EventKind::StalePeer { .. })
    })
    .await;
    let p = run
        .wait_for("probe", S, |e| {
            matches!(
                e.kind,
                EventKind::Probe(scrapetop::event::ProbeResult { .. })
            )
        })
        .await;
    assert!(
        matches!(p.kind, EventKind::Probe(scrapetop::event::ProbeResult { ok: true, peer: Some(a), .. }) if a == new.addr()),
        "{p:?}"
    );
    assert_eq!(new.accepts(), 1, "the probe went to the new address");
    assert!(old.requests() >= 1);
    run.quit().await;
}

#[tokio::test]
async fn a_job_with_a_scrape_error_fails_every_scrape_without_dialling() {
    let ex = exporter().await;
    let mut j = (*job("creds", 60, 50)).clone();
    j.scrape_error = Some("unable to read basic auth password file /nope: no such file".into());
    let j = std::sync::Arc::new(j);
    let mut run = start(opts(), vec![target(&ex.addr().to_string(), &j)]);
    let scrapes = run.wait_n("3 scrapes", 3, 2 * S, is_scrape).await;
    for s in scrapes {
        let EventKind::Scrape(scrapetop::event::ScrapeResult {
            up, error, conn_id, ..
        }) = &s.kind
        else {
            unreachable!()
        };
        assert!(!up);
        assert_eq!(conn_id, &None);
        assert_eq!(
            error.as_deref(),
            Some("unable to read basic auth password file /nope: no such file")
        );
    }
    assert_eq!(ex.accepts(), 0, "a failing job must not dial");
    run.quit().await;
}

#[tokio::test]
async fn label_limit_fails_the_scrape_with_prometheus_wording_and_keeps_the_connection() {
    let ex = exporter().await;
    let mut j = (*job("labels", 80, 60)).clone();
    // Every sample carries job and instance, plus its own labels: 1 is always exceeded.
    j.label_limit = 1;
    let j = std::sync::Arc::new(j);
    let mut run = start(opts(), vec![target(&ex.addr().to_string(), &j)]);
    let scrapes = run.wait_n("3 scrapes", 3, 2 * S, is_scrape).await;
    for s in scrapes {
        let EventKind::Scrape(scrapetop::event::ScrapeResult { up, error, .. }) = &s.kind else {
            unreachable!()
        };
        assert!(!up);
        assert!(
            error
                .as_deref()
                .unwrap_or("")
                .contains("label_limit exceeded"),
            "{error:?}"
        );
    }
    assert_eq!(ex.accepts(), 1, "a refused page keeps the connection");
    run.quit().await;
}
