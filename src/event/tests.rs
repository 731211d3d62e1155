//! The headless contract pinned: one JSON snapshot per event kind, names that cannot drift
//! from serde, and every event reading back as itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;

fn target() -> Arc<TargetRef> {
    let labels = [("job", "node"), ("instance", "h.example:9100")];
    Arc::new(TargetRef {
        id: TargetId::of(labels, "http://h.example:9100/metrics"),
        job: Arc::from("node"),
        instance: Arc::from("h.example:9100"),
    })
}

fn pool() -> PoolKey {
    PoolKey {
        job: Arc::from("node"),
        scheme: Scheme::Http,
        host: Arc::from("h.example"),
        port: 9100,
    }
}

/// One example of every event kind. A new kind must be added here (the match below fails to
/// compile otherwise), which gives it a name test, a round trip and a snapshot.
fn examples() -> Vec<EventKind> {
    let all = vec![
        EventKind::TargetAdded {
            url: "http://h.example:9100/metrics".into(),
            pool: pool(),
            interval_s: 15.0,
            timeout_s: 10.0,
            labels: BTreeMap::from([
                ("instance".to_owned(), "h.example:9100".to_owned()),
                ("job".to_owned(), "node".to_owned()),
                ("env".to_owned(), "prod".to_owned()),
            ]),
        },
        EventKind::TargetRemoved {},
        EventKind::DialStarted {
            host: "h.example".into(),
            port: 9100,
        },
        EventKind::DnsResolved {
            host: "h.example".into(),
            addrs: vec!["10.0.0.1".parse().expect("ip"), "::1".parse().expect("ip")],
            ttl_s: 30,
            duration_ms: 1.5,
            cause: DnsCause::Dial,
        },
        EventKind::DnsFailed {
            host: "h.example".into(),
            kind: DnsFailKind::Nxdomain,
            error: "no record".into(),
            duration_ms: 2.0,
            cause: DnsCause::ReResolve,
        },
        EventKind::ConnOpened(ConnInfo {
            conn_id: 7,
            pool: pool(),
            fd: 12,
            local: "10.0.0.9:50000".parse().expect("addr"),
            peer: "10.0.0.1:9100".parse().expect("addr"),
            connect_ms: 0.25,
            tls: Some(TlsInfo {
                tls_ms: 3.0,
                tls_version: "TLSv1.3".into(),
                cert_expiry: Some("2027-01-01T00:00:00Z".into()),
                alpn: Some("h2".into()),
            }),
        }),
        EventKind::ConnFailed {
            addr: "10.0.0.1:9100".into(),
            kind: ConnFailKind::Refused,
            error: "connection refused".into(),
        },
        EventKind::ConnClosed {
            conn_id: 7,
            fd: 12,
            reason: CloseReason::PeerClosed,
            lifetime_s: 60.5,
            requests: 4,
        },
        EventKind::Scrape(ScrapeResult {
            conn_id: Some(7),
            reused: true,
            status: Some(200),
            duration_ms: 4.5,
            bytes: 1024,
            samples: 20,
            up: true,
            error: None,
        }),
        EventKind::StalePeer {
            conn_id: 7,
            peer: "10.0.0.1:9100".parse().expect("addr"),
            addrs: vec!["10.0.0.2".parse().expect("ip")],
        },
        EventKind::Probe(ProbeResult {
            ok: false,
            kind: Some(ProbeFailKind::Timeout),
            error: Some("context deadline exceeded".into()),
            resolve_ms: Some(1.0),
            connect_ms: None,
            first_byte_ms: None,
            total_ms: 800.0,
            peer: None,
            status: None,
            hidden_failure: true,
        }),
        EventKind::Fds(FdCensus {
            total: 20,
            sockets: 10,
            files: 5,
            pipes: 2,
            other: 3,
            soft_limit: 1024,
            hard_limit: 4096,
            ..Default::default()
        }),
        EventKind::CommandAck {
            cmd: "reconnect".into(),
            targets: 2,
        },
        EventKind::Paused { paused: true },
        EventKind::Reload {
            added: 1,
            removed: 2,
            changed: 3,
            conns_kept: 4,
            conns_closed: 5,
            error: None,
        },
        EventKind::Dropped { count: 9 },
        EventKind::Error {
            error: "bad command".into(),
        },
        EventKind::notice("ignored: rule_files"),
    ];
    for k in &all {
        // Exhaustive on purpose: a new variant breaks this until it has an example above.
        match k {
            EventKind::TargetAdded { .. }
            | EventKind::TargetRemoved {}
            | EventKind::DialStarted { .. }
            | EventKind::DnsResolved { .. }
            | EventKind::DnsFailed { .. }
            | EventKind::ConnOpened(_)
            | EventKind::ConnFailed { .. }
            | EventKind::ConnClosed { .. }
            | EventKind::Scrape(_)
            | EventKind::StalePeer { .. }
            | EventKind::Probe(_)
            | EventKind::Fds(_)
            | EventKind::CommandAck { .. }
            | EventKind::Paused { .. }
            | EventKind::Reload { .. }
            | EventKind::Dropped { .. }
            | EventKind::Error { .. }
            | EventKind::Notice { .. } => {}
        }
    }
    all
}

fn is_about_a_target(k: &EventKind) -> bool {
    !matches!(
        k,
        EventKind::Fds(_)
            | EventKind::CommandAck { .. }
            | EventKind::Paused { .. }
            | EventKind::Reload { .. }
            | EventKind::Dropped { .. }
            | EventKind::Error { .. }
            | EventKind::Notice { .. }
    )
}

fn event(kind: EventKind) -> Event {
    let target = is_about_a_target(&kind).then(target);
    Event {
        ts: SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_123),
        target,
        source: None,
        kind,
    }
}

#[test]
fn every_event_name_is_the_serde_name() {
    for k in examples() {
        let v = serde_json::to_value(event(k.clone())).expect("serializes");
        assert_eq!(v["event"], k.name(), "{v}");
    }
}

#[test]
fn every_event_reads_back_as_itself() {
    for k in examples() {
        let ev = event(k);
        let line = serde_json::to_string(&ev).expect("serializes");
        let back: Event = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(back, ev, "{line}");
    }
}

#[test]
fn a_plain_connection_has_no_tls_fields_and_reads_back_without_them() {
    let mut info = ConnInfo {
        conn_id: 1,
        pool: pool(),
        fd: 3,
        local: "127.0.0.1:1".parse().expect("addr"),
        peer: "127.0.0.1:2".parse().expect("addr"),
        connect_ms: 0.1,
        tls: None,
    };
    let ev = event(EventKind::ConnOpened(info.clone()));
    let line = serde_json::to_string(&ev).expect("serializes");
    assert!(!line.contains("tls"), "{line}");
    let back: Event = serde_json::from_str(&line).expect("reads back");
    assert_eq!(back, ev);
    info.tls = None;
    assert_eq!(back.kind, EventKind::ConnOpened(info));
}

/// Attach mode says where a fact came from; the engine's events carry no `source` at all.
#[test]
fn source_is_written_only_when_given_and_reads_back() {
    for (origin, name) in [
        (Origin::Kernel, "kernel"),
        (Origin::Api, "api"),
        (Origin::Resolver, "resolver"),
        (Origin::Probe, "probe"),
    ] {
        assert_eq!(origin.as_str(), name);
        let ev = event(EventKind::Paused { paused: false }).from_origin(origin);
        let line = serde_json::to_string(&ev).expect("serializes");
        assert!(
            line.ends_with(&format!(r#","source":"{name}"}}"#)),
            "{line}"
        );
        let back: Event = serde_json::from_str(&line).expect("reads back");
        assert_eq!(back, ev);
    }
    for k in examples() {
        let line = serde_json::to_string(&event(k)).expect("serializes");
        assert!(!line.contains("\"source\""), "{line}");
    }
    let ev = event(EventKind::StalePeer {
        conn_id: 7,
        peer: "10.0.0.1:9100".parse().expect("addr"),
        addrs: vec!["10.0.0.2".parse().expect("ip")],
    })
    .from_origin(Origin::Resolver);
    insta::assert_snapshot!(
        "event_stale_peer_with_source",
        serde_json::to_string(&ev).expect("serializes")
    );
}

/// One snapshot per event kind: the headless JSON contract, field by field.
#[test]
fn headless_json_contract() {
    for k in examples() {
        let ev = event(k);
        let line = serde_json::to_string(&ev).expect("serializes");
        insta::assert_snapshot!(format!("event_{}", ev.name()), line);
    }
}

#[test]
fn commands_select_by_target_or_by_job_and_instance() {
    let t = target();
    let by_id: Command =
        serde_json::from_str(&format!(r#"{{"cmd":"probe","target":"{}"}}"#, t.id)).expect("parses");
    assert_eq!(by_id, Command::Probe(Selector::target(&t)));
    assert!(by_id.selector().is_some_and(|s| s.matches(&t)));
    let other = TargetRef {
        id: TargetId(1),
        ..(*t).clone()
    };
    assert!(!Selector::target(&t).matches(&other));
    // job + instance select every target sharing them.
    let sel = Selector::instance("node", "h.example:9100");
    assert!(sel.matches(&t) && sel.matches(&other));
    for bad in [
        r#"{"cmd":"probe","target":"xyz"}"#,
        r#"{"cmd":"probe","target":"0123"}"#,
        r#"{"cmd":"probe","tagret":"0123456789abcdef"}"#,
    ] {
        assert!(serde_json::from_str::<Command>(bad).is_err(), "{bad}");
    }
    for c in [
        Command::Reconnect(Selector::all()),
        Command::ReResolve(Selector::instance("a", "b")),
        Command::Probe(Selector::target(&t)),
        Command::Load {
            path: "x".into(),
            replace: true,
        },
        Command::Quit,
    ] {
        let line = serde_json::to_string(&c).expect("serializes");
        assert_eq!(
            serde_json::from_str::<Command>(&line).ok(),
            Some(c),
            "{line}"
        );
    }
}
