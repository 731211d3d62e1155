//! `/metrics` cost at 10,000 targets: what publishing a snapshot of the model and encoding it
//! (one scrape of scrapetop's own `/metrics`) cost, each target with a full connection history
//! (33 connections opened and closed, so every per-target series and the history are filled).
//!
//! `cargo bench --bench metrics` prints the median and p99 of each step and the page size.
//! Formerly an `#[ignore]`d test in src/metrics.rs: a measurement is not a test that can fail.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use scrapetop::event::{CloseReason, ConnInfo, Event, EventKind, PoolKey, TargetId, TargetRef};
use scrapetop::metrics::{Publisher, render};
use scrapetop::model::Model;

const TARGETS: u64 = 10_000;
const CONNS_PER_TARGET: u64 = 33;
const ROUNDS: usize = 30;

fn model(now: SystemTime) -> Model {
    let mut m = Model::new();
    let pool: PoolKey = "node/http://h:80".parse().expect("pool key");
    let mut conn = 0;
    for i in 0..TARGETS {
        let t = Arc::new(TargetRef {
            id: TargetId(i),
            job: Arc::from("node"),
            instance: Arc::from(format!("host-{i}.example:9100").as_str()),
        });
        let ev = |kind| Event {
            ts: now,
            target: Some(t.clone()),
            source: None,
            kind,
        };
        m.apply(ev(EventKind::TargetAdded {
            url: "http://h/metrics".into(),
            pool: pool.clone(),
            interval_s: 15.0,
            timeout_s: 10.0,
            labels: Default::default(),
        }));
        for _ in 0..CONNS_PER_TARGET {
            conn += 1;
            m.apply(ev(EventKind::ConnOpened(ConnInfo {
                conn_id: conn,
                pool: pool.clone(),
                fd: 9,
                local: "127.0.0.1:5000".parse().expect("addr"),
                peer: "127.0.0.9:1".parse().expect("addr"),
                connect_ms: 0.1,
                tls: None,
            })));
            m.apply(ev(EventKind::ConnClosed {
                conn_id: conn,
                fd: 9,
                reason: CloseReason::Reset,
                lifetime_s: 1.0,
                requests: 1,
            }));
        }
    }
    m
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let p50 = times[times.len() / 2];
    let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
    println!(
        "{name:<36} p50 {:>8.2} ms  p99 {:>8.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}

fn main() {
    let now = SystemTime::now();
    let t = Instant::now();
    let m = model(now);
    println!(
        "model: {TARGETS} targets x {CONNS_PER_TARGET} connections built in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let p = Publisher::new();
    let (mut snap, mut enc) = (Vec::new(), Vec::new());
    let mut bytes = 0;
    for round in 0..=ROUNDS {
        let t0 = Instant::now();
        p.publish_now(&m);
        let t1 = Instant::now();
        let text = render(&p.latest(), now).expect("encodes");
        let t2 = Instant::now();
        bytes = black_box(text).len();
        // The first round warms the allocator and caches.
        if round > 0 {
            snap.push(t1 - t0);
            enc.push(t2 - t1);
        }
    }
    report("snapshot (publish_now)", snap);
    report("encode (one /metrics scrape)", enc);
    println!("page: {bytes} bytes");
}
