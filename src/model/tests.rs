//! The model driven by short event scripts, and the running totals checked against a recount
//! after every step of many generated scripts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::event::{
    CloseReason, ConnFailKind, ConnInfo, DnsFailKind, PoolKey, ProbeFailKind, ProbeResult, Scheme,
    ScrapeResult,
};

fn tref(id: u64, instance: &str) -> Arc<TargetRef> {
    Arc::new(TargetRef {
        id: TargetId(id),
        job: Arc::from("blackbox"),
        instance: Arc::from(instance),
    })
}

fn pool() -> PoolKey {
    PoolKey {
        job: Arc::from("blackbox"),
        scheme: Scheme::Http,
        host: Arc::from("bb"),
        port: 9115,
    }
}

/// A model and a clock: each step is one event a second after the previous one.
struct Script {
    m: Model,
    secs: u64,
}

impl Script {
    fn new() -> Self {
        Script {
            m: Model::new(),
            secs: 1_800_000_000,
        }
    }

    fn ev(&mut self, t: Option<&Arc<TargetRef>>, kind: EventKind) -> &mut Self {
        self.secs += 1;
        self.m.apply(Event {
            ts: SystemTime::UNIX_EPOCH + Duration::from_secs(self.secs),
            target: t.cloned(),
            source: None,
            kind,
        });
        self
    }

    fn add(&mut self, t: &Arc<TargetRef>, url: &str, labels: &[(&str, &str)]) -> &mut Self {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.ev(
            Some(t),
            EventKind::TargetAdded {
                url: url.into(),
                pool: pool(),
                interval_s: 1.0,
                timeout_s: 1.0,
                labels,
            },
        )
    }

    fn open(&mut self, t: &Arc<TargetRef>, conn_id: u64) -> &mut Self {
        self.ev(
            Some(t),
            EventKind::ConnOpened(ConnInfo {
                conn_id,
                pool: pool(),
                fd: conn_id as i32 + 8,
                local: "127.0.0.1:5000".parse().expect("addr"),
                peer: "127.0.0.1:9115".parse().expect("addr"),
                connect_ms: 0.1,
                tls: None,
            }),
        )
    }

    fn scrape(&mut self, t: &Arc<TargetRef>, conn_id: Option<u64>, up: bool) -> &mut Self {
        self.ev(
            Some(t),
            EventKind::Scrape(ScrapeResult {
                conn_id,
                reused: true,
                status: Some(200),
                duration_ms: 1.0,
                bytes: 10,
                samples: 1,
                up,
                error: None,
            }),
        )
    }

    fn close(&mut self, t: &Arc<TargetRef>, conn_id: u64) -> &mut Self {
        self.ev(
            Some(t),
            EventKind::ConnClosed {
                conn_id,
                fd: 9,
                reason: CloseReason::Forced,
                lifetime_s: 1.0,
                requests: 2,
            },
        )
    }

    fn probe(&mut self, t: &Arc<TargetRef>, ok: bool, hidden: bool) -> &mut Self {
        self.ev(
            Some(t),
            EventKind::Probe(ProbeResult {
                ok,
                kind: (!ok).then_some(ProbeFailKind::Refused),
                error: None,
                resolve_ms: None,
                connect_ms: None,
                first_byte_ms: None,
                total_ms: 1.0,
                peer: None,
                status: None,
                hidden_failure: hidden,
            }),
        )
    }

    fn dns(&mut self, t: &Arc<TargetRef>, ok: bool) -> &mut Self {
        let kind = if ok {
            EventKind::DnsResolved {
                host: "bb".into(),
                addrs: vec!["127.0.0.2".parse().expect("ip")],
                ttl_s: 5,
                duration_ms: 1.0,
                cause: DnsCause::ReResolve,
            }
        } else {
            EventKind::DnsFailed {
                host: "bb".into(),
                kind: DnsFailKind::Timeout,
                error: "timeout".into(),
                duration_ms: 1.0,
                cause: DnsCause::Recheck,
            }
        };
        self.ev(Some(t), kind)
    }

    fn remove(&mut self, t: &Arc<TargetRef>) -> &mut Self {
        self.ev(Some(t), EventKind::TargetRemoved {})
    }

    fn check_totals(&self) {
        assert_eq!(self.m.totals, Totals::recount(&self.m));
    }
}

#[test]
fn a_shared_connection_belongs_to_every_target_using_it_until_it_closes() {
    let (a, b) = (tref(1, "a.example"), tref(2, "b.example"));
    let mut s = Script::new();
    s.add(&a, "http://bb:9115/probe?target=a", &[])
        .add(&b, "http://bb:9115/probe?target=b", &[])
        .open(&a, 7)
        .scrape(&a, Some(7), true)
        .scrape(&b, Some(7), true);
    let m = &s.m;
    assert_eq!(m.totals.up, 2);
    assert_eq!(m.targets[1].open_conn().map(|c| c.fd), Some(15));
    assert_eq!(m.targets[1].conn_state, ConnState::Idle);
    assert_eq!(m.totals.conns_open, 1);
    // The close is reported to the last user only; both targets see it.
    s.close(&b, 7);
    for i in 0..2 {
        let t = &s.m.targets[i];
        assert_eq!(t.conn_id, None, "target {i}");
        assert_eq!(t.conn_state, ConnState::Closed, "target {i}");
        let last = t.conns.back().and_then(|c| c.closed);
        assert_eq!(
            last.map(|(_, r)| r),
            Some(CloseReason::Forced),
            "target {i}"
        );
    }
    assert_eq!(s.m.totals.conns_open, 0);
    s.check_totals();
}

#[test]
fn targets_sharing_job_and_instance_are_separate_rows() {
    let (a, b) = (tref(1, "h:80"), tref(2, "h:80"));
    let mut s = Script::new();
    s.add(&a, "http://h:80/a", &[])
        .add(&b, "http://h:80/b", &[])
        .scrape(&a, None, false)
        .scrape(&b, None, true);
    assert_eq!(s.m.targets.len(), 2);
    assert_eq!(s.m.find(TargetId(1)).map(|t| t.health), Some(Health::Down));
    assert_eq!(s.m.find(TargetId(2)).map(|t| t.health), Some(Health::Up));
    assert_eq!(s.m.slots_with_instance("blackbox", "h:80"), &[0, 1]);
    assert_eq!(s.m.distinguishing(0).as_deref(), Some("/a"));
    assert_eq!(s.m.distinguishing(1).as_deref(), Some("/b"));
    s.check_totals();
}

#[test]
fn what_tells_targets_apart_is_the_path_or_the_differing_label() {
    let (a, b, c) = (tref(1, "h:80"), tref(2, "h:80"), tref(3, "other:80"));
    let mut s = Script::new();
    s.add(
        &a,
        "http://bb:9115/probe?module=http",
        &[("module", "http")],
    )
    .add(
        &b,
        "http://bb:9115/probe?module=icmp",
        &[("module", "icmp")],
    )
    .add(&c, "http://other:80/metrics", &[]);
    assert_eq!(s.m.distinguishing(0).as_deref(), Some("/probe?module=http"));
    assert_eq!(
        s.m.distinguishing(2),
        None,
        "a unique instance needs nothing"
    );
    // Same URL, labels differ (three target groups listing one address).
    let mut s = Script::new();
    s.add(&a, "http://h:80/metrics", &[("env", "prod"), ("team", "x")])
        .add(&b, "http://h:80/metrics", &[("env", "test"), ("team", "x")]);
    assert_eq!(s.m.distinguishing(0).as_deref(), Some("env=prod"));
    assert_eq!(s.m.distinguishing(1).as_deref(), Some("env=test"));
    // A removed peer no longer needs telling apart.
    s.remove(&b);
    assert_eq!(s.m.distinguishing(0), None);
}

#[test]
fn a_target_that_comes_back_keeps_its_history_and_counts_once() {
    let a = tref(1, "h:80");
    let mut s = Script::new();
    s.add(&a, "http://h:80/metrics", &[])
        .open(&a, 1)
        .scrape(&a, Some(1), true)
        .probe(&a, false, true)
        .remove(&a);
    assert_eq!(s.m.totals.targets, 0);
    assert_eq!(s.m.totals.hidden_failures, 0);
    s.check_totals();
    s.add(&a, "http://h:80/metrics", &[]);
    assert_eq!(s.m.totals.targets, 1);
    assert_eq!(s.m.targets.len(), 1);
    assert_eq!(s.m.targets[0].scrapes.len(), 1, "history kept");
    s.check_totals();
}

#[test]
fn events_for_a_removed_target_change_nothing_but_its_closing_connection() {
    let a = tref(1, "h:80");
    let mut s = Script::new();
    s.add(&a, "http://h:80/metrics", &[])
        .open(&a, 1)
        .remove(&a)
        .scrape(&a, Some(1), true)
        .dns(&a, false)
        .close(&a, 1);
    assert_eq!(s.m.totals.up, 0);
    assert_eq!(s.m.totals.conns_open, 0);
    s.check_totals();
}

/// Running totals equal a recount after every step of many pseudo-random scripts.
#[test]
fn running_totals_equal_a_recount_after_any_script() {
    let targets: Vec<Arc<TargetRef>> = (1..=4).map(|i| tref(i, "h:80")).collect();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: u64| {
        // xorshift64: deterministic, no dependency.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _ in 0..200 {
        let mut s = Script::new();
        let mut conn = 0u64;
        for _ in 0..60 {
            let t = &targets[next(4) as usize];
            let live = s.m.slot_of(t.id).and_then(|i| s.m.targets[i].conn_id);
            match next(11) {
                0 | 1 => {
                    s.add(t, &format!("http://h:80/{}", t.id), &[]);
                }
                2 => {
                    conn += 1;
                    s.open(t, conn);
                }
                3 => {
                    s.scrape(t, live, next(2) == 0);
                }
                4 => {
                    if let Some(c) = live {
                        s.close(t, c);
                    }
                }
                5 => {
                    s.probe(t, next(2) == 0, next(2) == 0);
                }
                6 => {
                    s.dns(t, next(2) == 0);
                }
                7 => {
                    s.remove(t);
                }
                8 => {
                    s.ev(
                        Some(t),
                        EventKind::ConnFailed {
                            addr: "h:80".into(),
                            kind: ConnFailKind::Refused,
                            error: "refused".into(),
                        },
                    );
                }
                9 => {
                    s.ev(
                        Some(t),
                        EventKind::DialStarted {
                            host: "h".into(),
                            port: 80,
                        },
                    );
                }
                _ => {
                    if let Some(c) = live {
                        s.ev(
                            Some(t),
                            EventKind::StalePeer {
                                conn_id: c,
                                peer: "127.0.0.1:80".parse().expect("addr"),
                                addrs: Vec::new(),
                            },
                        );
                    }
                }
            }
            s.check_totals();
        }
    }
}

#[test]
fn scrape_records_are_compact_and_serialize_as_the_payload_did() {
    // 30 of these per target are the model's largest part at scale (issue 13).
    assert!(std::mem::size_of::<ScrapeRecord>() <= 56);
    let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_764_421_200_123_456_789);
    let r = ScrapeResult {
        conn_id: Some(7),
        reused: true,
        status: Some(503),
        duration_ms: 12.345,
        bytes: 1 << 40,
        samples: 20,
        up: false,
        error: Some("server returned HTTP status 503 Service Unavailable".into()),
    };
    let a = ScrapeRecord::new(at, &r, None);
    assert_eq!(a.at(), at);
    assert_eq!(a.result(), r);
    // The old form: the time, then the payload's fields flattened, in order.
    let want = format!(
        "{{\"at\":\"2025-11-29T13:00:00.123Z\",{}",
        &serde_json::to_string(&r).unwrap()[1..]
    );
    assert_eq!(serde_json::to_string(&a).unwrap(), want);
    // The same failure again shares the message; another one does not.
    let b = ScrapeRecord::new(at, &r, Some(&a));
    assert!(std::ptr::eq(a.error().unwrap(), b.error().unwrap()));
    let other = ScrapeResult {
        error: Some("other".into()),
        ..r.clone()
    };
    let c = ScrapeRecord::new(at, &other, Some(&b));
    assert_eq!(c.error(), Some("other"));
    let none = ScrapeResult {
        conn_id: None,
        status: None,
        error: None,
        up: true,
        reused: false,
        ..r
    };
    let d = ScrapeRecord::new(at, &none, Some(&c));
    assert_eq!(d.result(), none);
    assert!(
        serde_json::to_string(&d)
            .unwrap()
            .contains(r#""conn_id":null,"reused":false,"status":null"#)
    );
}

#[test]
fn sparse_histories_grow_only_as_entries_arrive() {
    let mut q = std::collections::VecDeque::new();
    target::push_bounded(&mut q, 1u8, CONN_HISTORY);
    assert!(
        q.capacity() < CONN_HISTORY,
        "one entry reserved {}",
        q.capacity()
    );
    for i in 0..100u8 {
        target::push_bounded(&mut q, i, CONN_HISTORY);
    }
    assert_eq!(q.len(), CONN_HISTORY);
    assert_eq!(q.capacity(), CONN_HISTORY, "grows to the bound exactly");
    assert_eq!(q.back(), Some(&99));
    let mut odd = std::collections::VecDeque::new();
    for i in 0..10u8 {
        target::push_bounded(&mut odd, i, 3);
    }
    assert_eq!(odd.iter().copied().collect::<Vec<_>>(), vec![7, 8, 9]);
}

#[test]
fn a_steady_target_holds_its_bounded_histories_and_little_else() {
    // What one healthy target costs the model (issue 13: 10,000 of them in 100 MB with the
    // engine): one connection, a full scrape history, nothing reserved beyond what arrived.
    let t = tref(1, "a:9100");
    let mut s = Script::new();
    s.add(
        &t,
        "http://a:9100/metrics",
        &[("job", "node"), ("instance", "a:9100")],
    )
    .open(&t, 1);
    for _ in 0..2 * SCRAPE_HISTORY {
        s.scrape(&t, Some(1), true);
    }
    let st = &s.m.targets[0];
    assert_eq!(st.scrapes.len(), SCRAPE_HISTORY);
    assert_eq!(
        st.scrapes.capacity(),
        SCRAPE_HISTORY,
        "reserved once, exactly"
    );
    assert!(st.conns.capacity() <= 4, "conns {}", st.conns.capacity());
    assert_eq!(st.reconnect_times.capacity(), 0);
    assert_eq!(st.dns.capacity(), 0);
    assert_eq!(st.labels.len(), 2);
    assert_eq!(st.label("job"), Some("node"));
    assert_eq!(st.label("le"), None);
    let histories = st.scrapes.capacity() * std::mem::size_of::<ScrapeRecord>()
        + st.conns.capacity() * std::mem::size_of::<ConnRecord>();
    // 30 × 56 + 4 × 136: was 30 × 88 + 32 × 136 (7 KB) before.
    assert!(histories <= 2300, "{histories} bytes of history");
    assert!(std::mem::size_of::<TargetState>() <= 512);
}
