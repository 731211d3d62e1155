//! The seed story for real (issue 6): firewall, DNS and descriptor scenarios in network
//! namespaces, with real iptables/conntrack, dnsmasq, nginx, node-exporter and Prometheus.
//!
//! Needs root and the Debian packages `.ci/run` installs. Without them the scenarios print
//! loudly that they were skipped, except under `CI=true`, where that is a failure. Each
//! scenario builds its own namespaces (see `netns/lab.rs`), so they run in parallel.
//! `cargo test --test netns -- --nocapture` shows each scenario's timeline.

#[path = "netns/lab.rs"]
mod lab;
// The typed reader shared with the headless suite: every line scrapetop writes here is
// checked against the event contract.
#[allow(dead_code, unused_macros)]
#[path = "common/lines.rs"]
mod lines;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use lab::{Host, Lab, closed, conn_failed, is_down, is_up, lookup, opened, probe, scrape, show};
use scrapetop::event::{
    CloseReason, ConnFailKind, DnsCause, DnsFailKind, Event, EventKind, ProbeFailKind,
};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Events until `n` scrapes have finished.
fn scrapes(st: &mut lab::Scrapetop, n: usize, within: Duration) -> Vec<Event> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut count = 0;
    while count < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let evs = st.collect_until(&format!("{n} scrapes"), left, |e| scrape(e).is_some());
        count += 1;
        got.extend(evs);
    }
    got
}

/// The `T`s that `get` finds in `evs` (`of(&evs, scrape)`: every scrape result).
fn of<'a, T: 'a>(
    evs: &'a [Event],
    get: impl Fn(&'a Event) -> Option<T> + 'a,
) -> impl Iterator<Item = T> + 'a {
    evs.iter().filter_map(get)
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("lab address")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("lab address")
}

/// All scrapes in `evs` are up, on connection `conn`, reused, and no connection opened or
/// closed meanwhile.
fn assert_kept_on(evs: &[Event], conn: u64, why: &str) {
    for e in evs {
        if let Some(s) = scrape(e) {
            assert!(
                s.up && s.conn_id == Some(conn) && s.reused,
                "{why}: scrape not up on the kept connection {conn}: {}",
                show(e)
            );
        }
        assert!(
            opened(e).is_none() && closed(e).is_none(),
            "{why}: the connection changed: {}",
            show(e)
        );
    }
}

const DROP_NEW: &[&str] = &[
    "INPUT",
    "-p",
    "tcp",
    "--dport",
    "9100",
    "-m",
    "conntrack",
    "--ctstate",
    "NEW",
    "-j",
    "DROP",
];

fn rule<'a>(op: &'a str, r: &'a [&'a str]) -> Vec<&'a str> {
    let mut v = vec![op];
    v.extend_from_slice(r);
    v
}

/// Kill Prometheus's established connections to `peer_ip` from the scraper side: its
/// equivalent of scrapetop's `reconnect` (Prometheus has no such command). Call it when
/// scrapetop holds no established connection to that peer.
fn prometheus_reconnect(lab: &Lab, peer_ip: &str) {
    let filter = format!("( dst {peer_ip} )");
    lab.exec(
        Host::Scraper,
        &["ss", "-K", "-tn", "state", "established", &filter],
    );
}

/// Scenarios 1 and 9: a stateful firewall drops NEW connections, established ones go on.
/// scrapetop and the real Prometheus scrape node-exporter side by side and must agree.
#[test]
fn s1_firewall_drops_new_connections_established_scraping_goes_on() {
    let Some(mut lab) = Lab::new("s1", &[Host::T1]) else {
        return;
    };
    let ip = Host::T1.ip();
    let target = format!("{ip}:9100");
    // Conntrack must track the flows from their first packet (the pitfall).
    lab.conntrack_established_accept(Host::T1);
    lab.node_exporter(Host::T1, &target);
    let prom = lab.prometheus(&[&target]);
    let mut st = lab.scrapetop(
        &[],
        &[
            "--interval",
            "1s",
            "--timeout",
            "800ms",
            "--target",
            &target,
        ],
    );

    let conn = st.wait_kind("conn_opened", secs(10), |e| opened(e).map(|c| c.conn_id));
    st.wait_for("a scrape up", secs(5), is_up);
    prom.wait_health("up", secs(20));
    lab.step("step 1: both up");

    lab.iptables(Host::T1, &rule("-A", DROP_NEW));
    lab.step("DROP of NEW to :9100 loaded");
    let evs = scrapes(&mut st, 3, secs(6));
    assert_kept_on(&evs, conn, "after DROP NEW");
    assert!(prom.stays("up", secs(3)) >= 2, "Prometheus scraped");
    let server = lab.established_on_port(Host::T1, 9100);
    assert_eq!(
        server.len(),
        2,
        "node-exporter holds scrapetop's and Prometheus's: {server:?}"
    );
    lab.step("step 2: both still up through their established connections");

    st.send(r#"{"cmd":"probe"}"#);
    let p = st.wait_kind("probe", secs(3), |e| probe(e).cloned());
    assert!(
        !p.ok && p.kind == Some(ProbeFailKind::Timeout) && p.hidden_failure,
        "a fresh connection times out while the pooled one works: {p:?}"
    );
    lab.step("probe: fresh connection times out, hidden_failure");

    st.send(r#"{"cmd":"reconnect"}"#);
    let evs = st.collect_until("a failed scrape", secs(5), is_down);
    let c = of(&evs, closed)
        .next()
        .expect("conn_closed after reconnect");
    assert!(
        c.conn_id == conn && c.reason == CloseReason::Forced,
        "{c:?}"
    );
    let (kind, error) = of(&evs, conn_failed)
        .next()
        .expect("conn_failed after reconnect");
    assert_eq!(
        kind,
        ConnFailKind::Timeout,
        "connect times out behind DROP: {error}"
    );
    prometheus_reconnect(&lab, &ip);
    let pt = prom.wait_health("down", secs(10));
    assert!(
        pt.last_error.contains("deadline") || pt.last_error.contains("timeout"),
        "Prometheus's error: {pt:?}"
    );
    let evs = scrapes(&mut st, 2, secs(4));
    assert!(
        of(&evs, scrape).all(|s| !s.up),
        "stays down: {}",
        lab::show_all(&evs)
    );
    assert!(of(&evs, opened).next().is_none());
    lab.step("step 3: reconnect → both down (connect timeout)");

    lab.iptables(Host::T1, &rule("-D", DROP_NEW));
    let evs = st.collect_until("up again", secs(4), is_up);
    assert!(
        of(&evs, opened).next().is_some(),
        "a new connection: {}",
        lab::show_all(&evs)
    );
    prom.wait_health("up", secs(10));
    lab.step("step 4: rule removed → both up");
    assert_eq!(st.quit(), Some(0));
}

/// Scenario 2: the same with REJECT (tcp-reset): new connections are refused, fast.
#[test]
fn s2_firewall_rejects_new_connections_refused_fast() {
    let Some(mut lab) = Lab::new("s2", &[Host::T1]) else {
        return;
    };
    let target = format!("{}:9100", Host::T1.ip());
    lab.conntrack_established_accept(Host::T1);
    lab.node_exporter(Host::T1, &target);
    let mut st = lab.scrapetop(
        &[],
        &[
            "--interval",
            "1s",
            "--timeout",
            "800ms",
            "--target",
            &target,
        ],
    );
    let conn = st.wait_kind("conn_opened", secs(10), |e| opened(e).map(|c| c.conn_id));
    st.wait_for("up", secs(5), is_up);
    lab.step("up");

    let reject = [
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        "9100",
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ];
    lab.iptables(Host::T1, &rule("-A", &reject));
    let evs = scrapes(&mut st, 3, secs(6));
    assert_kept_on(&evs, conn, "after REJECT NEW");
    assert_eq!(lab.established_on_port(Host::T1, 9100).len(), 1);

    st.send(r#"{"cmd":"probe"}"#);
    let p = st.wait_kind("probe", secs(3), |e| probe(e).cloned());
    assert!(
        !p.ok && p.kind == Some(ProbeFailKind::Refused) && p.hidden_failure,
        "{p:?}"
    );
    assert!(p.total_ms < 200.0, "refused is fast: {p:?}");
    lab.step("probe refused");

    st.send(r#"{"cmd":"reconnect"}"#);
    let evs = st.collect_until("a failed scrape", secs(5), is_down);
    assert!(of(&evs, closed).any(|c| c.conn_id == conn && c.reason == CloseReason::Forced));
    let (kind, error) = of(&evs, conn_failed).next().expect("conn_failed");
    assert_eq!(kind, ConnFailKind::Refused, "{error}");
    let down = evs.last().and_then(scrape).expect("scrape");
    assert!(down.duration_ms < 200.0, "refused fast: {down:?}");
    lab.step("reconnect → refused, fast");

    lab.iptables(Host::T1, &rule("-D", &reject));
    let evs = st.collect_until("up again", secs(4), is_up);
    assert!(of(&evs, opened).next().is_some());
    lab.step("rule removed → up");
    assert_eq!(st.quit(), Some(0));
}

const NAME: &str = "target.scrapetop.test";

/// Scenarios 3 and 9: the DNS record moves to the other host; the connection does not.
#[test]
fn s3_dns_record_moves_connection_stays_on_old_peer() {
    let Some(mut lab) = Lab::new("s3", &[Host::T1, Host::T2, Host::Dns]) else {
        return;
    };
    let (ip1, ip2) = (Host::T1.ip(), Host::T2.ip());
    lab.testexporter(Host::T1, "9100");
    lab.testexporter(Host::T2, "9100");
    lab.dns_record(NAME, &ip1);
    lab.start_dns();
    let target = format!("{NAME}:9100");
    let prom = lab.prometheus(&[&target]);
    let dns = lab.dns_server();
    let mut st = lab.scrapetop(
        &[],
        &[
            "--interval",
            "1s",
            "--timeout",
            "800ms",
            "--dns-server",
            &dns,
            "--target",
            &target,
        ],
    );
    let evs = st.collect_until("conn_opened", secs(10), |e| opened(e).is_some());
    let res = of(&evs, lookup).next().expect("resolved at dial");
    assert_eq!(res, (DnsCause::Dial, Ok(&[ip(&ip1)][..])));
    let first = evs.last().and_then(opened).expect("conn_opened");
    assert_eq!(first.peer, addr(&format!("{ip1}:9100")));
    let conn = first.conn_id;
    st.wait_for("up", secs(5), is_up);
    prom.wait_health("up", secs(20));
    lab.step("both up on t1");

    lab.dns_record(NAME, &ip2);
    lab.step("record moved to t2");
    let evs = scrapes(&mut st, 3, secs(6));
    assert_kept_on(&evs, conn, "after the move");
    assert!(prom.stays("up", secs(2)) >= 1);
    assert_eq!(
        lab.established_on_port(Host::T1, 9100).len(),
        2,
        "both still on t1"
    );
    assert_eq!(
        lab.established_on_port(Host::T2, 9100).len(),
        0,
        "nobody on t2"
    );
    lab.step("both still up on t1");

    // dnsmasq re-reads its records on SIGHUP, asynchronously: ask until the answer moved.
    let deadline = Instant::now() + secs(5);
    let mut stale = None;
    loop {
        st.send(r#"{"cmd":"re_resolve"}"#);
        let evs = st.collect_until("re_resolve answer", secs(3), |e| {
            lookup(e).is_some_and(|(cause, _)| cause == DnsCause::ReResolve)
        });
        stale = stale.or_else(|| of(&evs, lab::stale_peer).next());
        let ans = evs.last().expect("answer");
        if lookup(ans).is_some_and(|(_, a)| a == Ok(&[ip(&ip2)][..])) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the record never moved: {}",
            show(ans)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let stale = match stale {
        Some(s) => s,
        None => st.wait_kind("stale_peer", secs(2), lab::stale_peer),
    };
    assert_eq!(
        stale,
        (conn, addr(&format!("{ip1}:9100")), vec![ip(&ip2)]),
        "stale_peer: the connection, its peer, the new answer"
    );
    lab.step("re_resolve → stale_peer");

    st.send(r#"{"cmd":"reconnect"}"#);
    let evs = st.collect_until("new connection", secs(5), |e| opened(e).is_some());
    assert!(of(&evs, closed).any(|c| c.conn_id == conn && c.reason == CloseReason::Forced));
    assert!(
        of(&evs, lookup).any(|r| r == (DnsCause::Dial, Ok(&[ip(&ip2)][..]))),
        "{}",
        lab::show_all(&evs)
    );
    let new = evs.last().and_then(opened).expect("conn_opened");
    assert_eq!(
        new.peer,
        addr(&format!("{ip2}:9100")),
        "follows the new address"
    );
    st.wait_for("up on t2", secs(3), is_up);
    assert_eq!(
        lab.established_on_port(Host::T2, 9100).len(),
        1,
        "scrapetop on t2"
    );
    assert_eq!(
        lab.established_on_port(Host::T1, 9100).len(),
        1,
        "Prometheus still on t1"
    );
    assert_eq!(prom.wait_health("up", secs(3)).health, "up");
    lab.step("reconnect → scrapetop on t2, Prometheus still on t1, both up");

    prometheus_reconnect(&lab, &ip1);
    let deadline = Instant::now() + secs(10);
    while lab.established_on_port(Host::T2, 9100).len() < 2 {
        assert!(Instant::now() < deadline, "Prometheus never moved to t2");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(lab.established_on_port(Host::T1, 9100).is_empty());
    prom.wait_health("up", secs(5));
    let evs = scrapes(&mut st, 2, secs(4));
    assert!(of(&evs, scrape).all(|s| s.up));
    lab.step("Prometheus's connection killed → it follows too; both up on t2");
    assert_eq!(st.quit(), Some(0));
}

/// Scenarios 4 and 9: the DNS server stops while connected.
#[test]
fn s4_dns_server_down_scraping_continues_until_reconnect() {
    let Some(mut lab) = Lab::new("s4", &[Host::T1, Host::Dns]) else {
        return;
    };
    let ip1 = Host::T1.ip();
    lab.testexporter(Host::T1, "9100");
    lab.dns_record(NAME, &ip1);
    lab.start_dns();
    let target = format!("{NAME}:9100");
    let prom = lab.prometheus(&[&target]);
    let dns = lab.dns_server();
    let mut st = lab.scrapetop(
        &[],
        &[
            "--interval",
            "1s",
            "--timeout",
            "800ms",
            "--dns-server",
            &dns,
            "--target",
            &target,
        ],
    );
    let conn = st.wait_kind("conn_opened", secs(10), |e| opened(e).map(|c| c.conn_id));
    st.wait_for("up", secs(5), is_up);
    prom.wait_health("up", secs(20));
    lab.step("both up");

    lab.stop_dns();
    let evs = scrapes(&mut st, 3, secs(6));
    assert_kept_on(&evs, conn, "DNS down");
    assert!(prom.stays("up", secs(2)) >= 1);
    lab.step("DNS stopped: both still up");

    st.send(r#"{"cmd":"re_resolve"}"#);
    let f = st.wait_for("re_resolve failure", secs(5), |e| {
        lookup(e).is_some_and(|(cause, _)| cause == DnsCause::ReResolve)
    });
    assert!(
        matches!(
            lookup(&f),
            Some((_, Err(DnsFailKind::NoServer | DnsFailKind::Timeout)))
        ),
        "a dead server is no_server (ICMP unreachable) or timeout: {}",
        show(&f)
    );
    lab.step(&format!("re_resolve → {}", show(&f)));

    st.send(r#"{"cmd":"reconnect"}"#);
    let evs = st.collect_until("a failed scrape", secs(5), is_down);
    assert!(of(&evs, closed).any(|c| c.conn_id == conn && c.reason == CloseReason::Forced));
    assert!(
        of(&evs, lookup).any(|(cause, r)| cause == DnsCause::Dial && r.is_err()),
        "{}",
        lab::show_all(&evs)
    );
    let (kind, error) = of(&evs, conn_failed).next().expect("conn_failed");
    assert_eq!(kind, ConnFailKind::Resolution, "{error}");
    prometheus_reconnect(&lab, &ip1);
    let pt = prom.wait_health("down", secs(10));
    // Go's resolver waits `timeout:1` for the dead server, longer than the 800ms scrape
    // timeout, so Prometheus usually says "context deadline exceeded" rather than "lookup".
    assert!(
        pt.last_error.contains("lookup") || pt.last_error.contains("deadline exceeded"),
        "Prometheus's error: {pt:?}"
    );
    lab.step(&format!("Prometheus down: {}", pt.last_error));
    lab.step("reconnect → both down with a resolution error");

    lab.start_dns();
    let evs = st.collect_until("up again", secs(4), is_up);
    assert!(of(&evs, opened).next().is_some());
    prom.wait_health("up", secs(10));
    lab.step("DNS back → both up");
    assert_eq!(st.quit(), Some(0));
}

/// Scenario 5: nginx closes idle keep-alive connections sooner than the next scrape.
#[test]
fn s5_nginx_keepalive_shorter_than_interval_reconnects_every_scrape() {
    let Some(mut lab) = Lab::new("s5", &[Host::T1]) else {
        return;
    };
    lab.node_exporter(Host::T1, "127.0.0.1:9100");
    let d = lab.dir.path().display().to_string();
    let ip = Host::T1.ip();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/nginx-error.log info;\nevents {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/nginx-body;\n  \
         proxy_temp_path {d}/nginx-proxy;\n  fastcgi_temp_path {d}/nginx-fastcgi;\n  \
         uwsgi_temp_path {d}/nginx-uwsgi;\n  scgi_temp_path {d}/nginx-scgi;\n  \
         upstream node {{ server 127.0.0.1:9100; keepalive 4; }}\n  \
         server {{\n    listen {ip}:8080;\n    keepalive_timeout 1s;\n    \
         location / {{ proxy_pass http://node; proxy_http_version 1.1; \
         proxy_set_header Connection \"\"; }}\n  }}\n  \
         server {{ listen 127.0.0.1:8081; location /status {{ stub_status; }} }}\n}}\n"
    );
    let path = lab.dir.path().join("nginx.conf");
    std::fs::write(&path, conf).expect("nginx.conf");
    let path = path.display().to_string();
    let errlog = format!("{d}/nginx-error.log");
    lab.spawn(
        Host::T1,
        "nginx",
        &["nginx", "-p", &d, "-e", &errlog, "-c", &path],
        None,
    );
    lab.wait_listening(Host::T1, 8080, secs(10));
    let target = format!("{ip}:8080");
    let mut st = lab.scrapetop(
        &[],
        &["--interval", "2s", "--timeout", "1s", "--target", &target],
    );
    let mut evs = st.collect_until("first scrape", secs(10), |e| scrape(e).is_some());
    lab.step("first scrape");
    evs.extend(scrapes(&mut st, 4, secs(12)));
    st.send(r#"{"cmd":"pause"}"#);
    evs.extend(st.collect_until("paused", secs(3), |e| {
        matches!(e.kind, EventKind::Paused { paused: true })
    }));
    // Let the last connection reach nginx's keepalive_timeout.
    evs.extend(st.collect(Duration::from_millis(1800)));
    lab.step("5 scrapes, paused");

    let scr: Vec<_> = of(&evs, scrape).collect();
    assert!(scr.len() >= 5, "{scr:?}");
    for s in &scr {
        assert!(s.up && !s.reused, "every scrape on a new connection: {s:?}");
    }
    let conns: HashSet<Option<u64>> = scr.iter().map(|s| s.conn_id).collect();
    assert_eq!(conns.len(), scr.len(), "one connection per scrape");
    assert!(!conns.contains(&None), "every scrape had a connection");
    let closes: Vec<_> = of(&evs, closed).collect();
    assert!(
        closes.len() >= scr.len(),
        "each connection closed: {closes:?}"
    );
    for c in &closes {
        assert!(
            c.reason == CloseReason::PeerClosed
                && c.requests == 1
                && (0.9..1.9).contains(&c.lifetime_s),
            "nginx closed it after keepalive_timeout 1s, noticed at once: {c:?}"
        );
    }
    let dialled = of(&evs, opened).count();
    let status = lab.exec(
        Host::T1,
        &[lab::HELPER, "get", "http://127.0.0.1:8081/status"],
    );
    // "Active connections: 1 \nserver accepts handled requests\n 6 6 6 \n..."
    let accepts: u64 = status
        .lines()
        .nth(2)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("stub_status: {status}"));
    assert_eq!(
        accepts,
        dialled as u64 + 1,
        "nginx accepted one connection per scrape plus this status request: {status}"
    );
    lab.step(&format!(
        "nginx accepts {accepts} = {dialled} connections + 1"
    ));
    assert_eq!(st.quit(), Some(0));
}

/// Scenario 6: the connection is killed by the network (RST from the target host's kernel
/// via `ss -K`): closed, re-dialled, re-resolved.
#[test]
fn s6_connection_killed_by_the_network_is_redialled_and_reresolved() {
    let Some(mut lab) = Lab::new("s6", &[Host::T1, Host::Dns]) else {
        return;
    };
    let ip1 = Host::T1.ip();
    lab.testexporter(Host::T1, "9100");
    lab.dns_record(NAME, &ip1);
    lab.start_dns();
    let dns = lab.dns_server();
    let target = format!("{NAME}:9100");
    let mut st = lab.scrapetop(
        &[],
        &[
            "--interval",
            "1s",
            "--timeout",
            "800ms",
            "--dns-server",
            &dns,
            "--target",
            &target,
        ],
    );
    let first = st.wait_kind("conn_opened", secs(10), |e| opened(e).cloned());
    let conn = first.conn_id;
    st.wait_for("up", secs(5), is_up);
    scrapes(&mut st, 1, secs(3));
    let before = lab.established_on_port(Host::T1, 9100);
    assert_eq!(before.len(), 1, "{before:?}");
    lab.step("up");

    lab.exec(
        Host::T1,
        &[
            "ss",
            "-K",
            "-tn",
            "state",
            "established",
            "( sport = :9100 )",
        ],
    );
    lab.step("server side socket killed (RST on the wire)");
    let evs = st.collect_until("a new connection", secs(5), |e| opened(e).is_some());
    let c = of(&evs, closed).next().expect("conn_closed");
    assert_eq!(c.conn_id, conn);
    assert_eq!(
        c.reason,
        CloseReason::Reset,
        "a RST closes it as reset: {c:?}"
    );
    let i_closed = evs.iter().position(|e| closed(e).is_some()).unwrap_or(0);
    assert!(
        of(&evs[i_closed..], lookup).any(|(cause, r)| cause == DnsCause::Dial && r.is_ok()),
        "re-resolved before re-dialling: {}",
        lab::show_all(&evs)
    );
    let new = evs.last().and_then(opened).expect("conn_opened");
    assert_ne!(new.conn_id, conn);
    assert_ne!(new.local, first.local);
    st.wait_for("up again", secs(3), is_up);
    let after = lab.established_on_port(Host::T1, 9100);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(before, after, "a different connection");
    lab.step("closed (reset), re-resolved, re-dialled, up");
    assert_eq!(st.quit(), Some(0));
}

fn many_targets(n: u16) -> Vec<String> {
    let ip = Host::T1.ip();
    let mut args = Vec::new();
    for p in 0..n {
        args.push("--target".to_owned());
        args.push(format!("{ip}:{}", 20000 + p));
    }
    args
}

fn proc_sockets(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("proc fd")
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|l| l.to_string_lossy().starts_with("socket:"))
        .count() as u64
}

fn established_many(lab: &Lab) -> usize {
    lab.exec(
        Host::T1,
        &[
            "ss",
            "-tnH",
            "state",
            "established",
            "( sport >= :20000 and sport <= :20499 )",
        ],
    )
    .lines()
    .filter(|l| !l.trim().is_empty())
    .count()
}

/// Scenario 7a: 500 targets hold 500 sockets; the census matches /proc and the server side.
#[test]
fn s7_five_hundred_targets_five_hundred_sockets() {
    let Some(mut lab) = Lab::new("s7a", &[Host::T1]) else {
        return;
    };
    lab.testexporter(Host::T1, "20000-20499");
    let mut args: Vec<String> = ["--interval", "2s", "--timeout", "1500ms"]
        .map(String::from)
        .into();
    args.extend(many_targets(500));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut st = lab.scrapetop(&[], &args);
    let pid = st.pid();
    let mut opened = HashSet::new();
    let deadline = Instant::now() + secs(30);
    while opened.len() < 500 {
        let left = deadline.saturating_duration_since(Instant::now());
        let v = st.wait_for("500 connections", left, |e| lab::opened(e).is_some());
        assert!(
            opened.insert(lab::instance(&v).to_owned()),
            "two connections for one target: {}",
            show(&v)
        );
    }
    lab.step("500 connections");
    let census = st.wait_kind("census", secs(3), |e| lab::census(e).copied());
    let sockets = census.sockets;
    assert!(
        (500..510).contains(&sockets),
        "500 sockets + a small constant: {census:?}"
    );
    assert_eq!(proc_sockets(pid), sockets, "census equals /proc/{pid}/fd");
    let total = census.total;
    assert!((500..530).contains(&total), "{census:?}");
    assert_eq!(established_many(&lab), 500, "the exporter side sees 500");
    // A full round more: still 500, no connection churn.
    let evs = st.collect(Duration::from_millis(2500));
    assert!(of(&evs, lab::opened).next().is_none() && of(&evs, closed).next().is_none());
    assert!(of(&evs, scrape).filter(|s| s.up).count() >= 500);
    lab.step(&format!(
        "census sockets {sockets} total {total} = /proc; server 500"
    ));
    assert_eq!(st.quit(), Some(0));
}

/// Scenario 7b: the soft limit below the target count: the excess fail with `emfile`, the
/// rest keep scraping, nothing crashes.
#[test]
fn s7_descriptor_limit_below_target_count_fails_only_the_excess() {
    let Some(mut lab) = Lab::new("s7b", &[Host::T1]) else {
        return;
    };
    lab.testexporter(Host::T1, "20000-20499");
    let mut args: Vec<String> = ["--interval", "2s", "--timeout", "1500ms"]
        .map(String::from)
        .into();
    args.extend(many_targets(500));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut st = lab.scrapetop(&["prlimit", "--nofile=300:300"], &args);
    let pid = st.pid();
    let emfile_failure = |e: &Event| conn_failed(e).is_some_and(|(k, _)| k == ConnFailKind::Emfile);
    let failed = st.wait_for("emfile", secs(15), emfile_failure);
    assert!(
        conn_failed(&failed).is_some_and(|(_, error)| error.contains("too many open files")),
        "{}",
        show(&failed)
    );
    lab.step("first emfile");
    let mut up = HashSet::new();
    let mut emfile = HashSet::new();
    let evs = st.collect(secs(6));
    for e in &evs {
        if is_up(e) {
            up.insert(lab::instance(e).to_owned());
        }
        if emfile_failure(e) {
            emfile.insert(lab::instance(e).to_owned());
        }
    }
    assert!(
        up.len() >= 250,
        "most of the 300 descriptors scrape: {} up",
        up.len()
    );
    assert!(
        emfile.len() >= 150,
        "the excess fail with emfile: {}",
        emfile.len()
    );
    assert!(
        up.len() + emfile.len() >= 480,
        "up {} + emfile {}",
        up.len(),
        emfile.len()
    );
    let census = evs.iter().rev().find_map(lab::census).expect("a census");
    assert_eq!(census.soft_limit, 300, "{census:?}");
    assert!(census.total <= 300, "{census:?}");
    let server = established_many(&lab);
    assert!((250..=300).contains(&server), "exporter side: {server}");
    assert!(
        st.child.try_wait().ok().flatten().is_none(),
        "still running"
    );
    assert!(proc_sockets(pid) <= 300);
    lab.step(&format!(
        "{} up, {} emfile, server {server}",
        up.len(),
        emfile.len()
    ));
    assert_eq!(st.quit(), Some(0));
}

/// Scenario 8's targets, one exporter port each: job `a` has A1 (stays) and A2 (removed by
/// the reload), job `b` has B (its scrape_interval changes 1s → 2s), job `c` has C
/// (unchanged), and job `d` with D is added by the reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum S8 {
    A1,
    A2,
    B,
    C,
    D,
}

const S8_ALL: [S8; 5] = [S8::A1, S8::A2, S8::B, S8::C, S8::D];

/// Scenario 8's exporter port of target `t` in the run whose ports follow `base`.
fn s8_port(base: u16, t: S8) -> u16 {
    base + 1 + S8_ALL.iter().position(|x| *x == t).unwrap_or(0) as u16
}

fn s8_instance(base: u16, t: S8) -> String {
    format!("{}:{}", Host::T1.ip(), s8_port(base, t))
}

/// Scenario 8's configuration before (`after == false`) and after the reload.
fn s8_config(base: u16, after: bool) -> String {
    let i = |t| format!("'{}'", s8_instance(base, t));
    let a = if after {
        i(S8::A1)
    } else {
        format!("{}, {}", i(S8::A1), i(S8::A2))
    };
    let b_interval = if after { "2s" } else { "1s" };
    let mut cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 800ms\nscrape_configs:\n  \
         - job_name: a\n    static_configs:\n      - targets: [{a}]\n  \
         - job_name: b\n    scrape_interval: {b_interval}\n    static_configs:\n      \
         - targets: [{}]\n  \
         - job_name: c\n    static_configs:\n      - targets: [{}]\n",
        i(S8::B),
        i(S8::C)
    );
    if after {
        cfg.push_str(&format!(
            "  - job_name: d\n    static_configs:\n      - targets: [{}]\n",
            i(S8::D)
        ));
    }
    cfg
}

/// One policy's scrapetop in scenario 8, with its exporter ports `base+1..=base+5`.
struct S8Run {
    policy: &'static str,
    base: u16,
    cfg: std::path::PathBuf,
    st: lab::Scrapetop,
}

impl S8Run {
    fn instance(&self, t: S8) -> String {
        s8_instance(self.base, t)
    }
    /// The target side of `t`: its established connections as `ss` shows them.
    fn server(&self, lab: &Lab, t: S8) -> Vec<String> {
        lab.established_on_port(Host::T1, s8_port(self.base, t))
    }
}

/// The client side (`ip:port`) of one `ss` line: the last field.
fn client(line: &str) -> &str {
    line.rsplit(' ').next().unwrap_or(line)
}

/// Scenario 8: a reload under each `--reload-policy`, checked on the target side and on the
/// `reload` and `conn_closed` events. The three policies run side by side, each its own
/// scrapetop with its own `--config` and exporter ports. The reload removes A2, changes job
/// `b`, leaves `a`'s A1 and job `c` alone and adds D; README's table says:
/// - `prometheus`: A1 and C keep their connection, B's is closed (`reload`) and re-dialled,
///   A2's idle connection stays until the idle timeout (`idle_timeout`);
/// - `keep`: A1, B and C keep theirs, A2's is closed (`target_removed`);
/// - `reconnect`: all are closed (`reload`; A2 `target_removed`), A1, B and C re-dial.
#[test]
fn s8_reload_under_each_policy_connections_survive_or_not_on_the_target_side() {
    let Some(mut lab) = Lab::new("s8", &[Host::T1]) else {
        return;
    };
    lab.testexporter(Host::T1, "9111-9135");
    let mut runs = Vec::new();
    for (policy, base) in [("prometheus", 9110u16), ("keep", 9120), ("reconnect", 9130)] {
        let dir = lab.dir.path().join(format!("s8-{policy}"));
        std::fs::create_dir_all(&dir).expect("config dir");
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, s8_config(base, false)).expect("write config");
        let path = cfg.display().to_string();
        let st = lab.scrapetop(
            &[],
            &[
                "--config",
                &path,
                "--reload-policy",
                policy,
                "--idle-timeout",
                "3s",
            ],
        );
        let run = S8Run {
            policy,
            base,
            cfg,
            st,
        };
        runs.push(run);
    }

    // Up: one connection per target, on the target side too.
    let mut before: Vec<Vec<(u64, String)>> = Vec::new();
    for run in &mut runs {
        let mut conns: Vec<Option<u64>> = vec![None; 4];
        let deadline = Instant::now() + secs(10);
        while conns.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = run
                .st
                .wait_for("a connection per target", left, |e| opened(e).is_some());
            let i = S8_ALL[..4]
                .iter()
                .position(|t| lab::instance(&v) == run.instance(*t))
                .unwrap_or_else(|| panic!("{}: unexpected connection {}", run.policy, show(&v)));
            assert!(
                conns[i].is_none(),
                "{}: two connections for {:?}: {}",
                run.policy,
                S8_ALL[i],
                show(&v)
            );
            conns[i] = opened(&v).map(|c| c.conn_id);
        }
        scrapes(&mut run.st, 8, secs(4));
        let mut b = Vec::new();
        for (i, t) in S8_ALL[..4].iter().enumerate() {
            let server = run.server(&lab, *t);
            assert_eq!(server.len(), 1, "{} {t:?}: {server:?}", run.policy);
            b.push((conns[i].unwrap_or_default(), server[0].clone()));
        }
        assert!(run.server(&lab, S8::D).is_empty(), "{}: D", run.policy);
        before.push(b);
    }
    lab.step("three scrapetops up, one connection per target on the target side");

    // No churn up to the reload: what the events say so far.
    for run in &mut runs {
        let evs = run.st.collect(Duration::ZERO);
        assert!(
            evs.iter()
                .all(|e| closed(e).is_none() && opened(e).is_none()),
            "{}: connections changed before the reload: {}",
            run.policy,
            lab::show_all(&evs)
        );
        std::fs::write(&run.cfg, s8_config(run.base, true)).expect("rewrite config");
    }
    for run in &mut runs {
        run.st.send(r#"{"cmd":"reload"}"#);
    }
    let reloaded = Instant::now();
    // Right after each reload event: the target side, and the events so far.
    let mut evs: Vec<Vec<Event>> = Vec::new();
    let mut just_after: Vec<Vec<Vec<String>>> = Vec::new();
    for run in &mut runs {
        let e = run
            .st
            .collect_until("reload", secs(5), |e| lab::reload(e).is_some());
        just_after.push(S8_ALL.iter().map(|t| run.server(&lab, *t)).collect());
        evs.push(e);
    }
    lab.step("reloaded");
    // Long enough for the idle timeout (3 s after A2's last scrape) and B's 2 s interval.
    for (i, run) in runs.iter_mut().enumerate() {
        let left =
            (reloaded + Duration::from_millis(5500)).saturating_duration_since(Instant::now());
        evs[i].extend(run.st.collect(left));
    }

    // Every policy is checked, and the failures reported together.
    let mut failed = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let policy = run.policy;
        let check = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let evs = &evs[i];
            let reload = of(evs, lab::reload).next().expect("a reload event");
            let at = evs
                .iter()
                .position(|e| lab::reload(e).is_some())
                .unwrap_or(0);
            // Closes and target events come before the reload event; scrapes after it are
            // under the new configuration.
            let post = &evs[at..];
            let conn = |t: S8| before[i][t as usize].0;
            let port = |t: S8| client(&before[i][t as usize].1).to_owned();
            let closed = |t: S8| -> Vec<lab::Closed> {
                of(evs, closed).filter(|c| c.conn_id == conn(t)).collect()
            };
            let opened = |t: S8| -> Vec<&Event> {
                evs.iter()
                    .filter(|e| opened(e).is_some() && lab::instance(e) == run.instance(t))
                    .collect()
            };
            let after: Vec<Vec<String>> = S8_ALL.iter().map(|t| run.server(&lab, *t)).collect();
            let mut timeline = String::new();
            for e in evs {
                if matches!(
                    e.kind,
                    EventKind::Reload { .. }
                        | EventKind::ConnClosed { .. }
                        | EventKind::ConnOpened(_)
                        | EventKind::TargetAdded { .. }
                        | EventKind::TargetRemoved {}
                ) {
                    timeline.push_str(&format!("\n  {}", show(e)));
                }
            }
            let ctx = format!(
                "{policy}: events:{timeline}\ntarget side (A1 A2 B C D) before: {:?}\n\
                 right after the reload event: {:?}\nin the end: {after:?}",
                before[i].iter().map(|b| &b.1).collect::<Vec<_>>(),
                just_after[i]
            );

            assert_eq!(reload.error, None, "{ctx}");
            assert!(
                reload.added == 1 && reload.removed == 1 && reload.changed == 1,
                "{ctx}\nreload: D added, A2 removed, B changed: {reload:?}"
            );
            // B is re-added with its new interval (target events come before the reload event).
            assert!(
                evs.iter().any(|e| lab::instance(e) == run.instance(S8::B)
                    && matches!(e.kind, EventKind::TargetAdded { interval_s, .. } if interval_s == 2.0)),
                "{ctx}\nB with interval 2s"
            );
            // D is new everywhere: dialled, one connection on the target side.
            assert_eq!(opened(S8::D).len(), 1, "{ctx}\nD dialled once");
            assert_eq!(
                after[S8::D as usize].len(),
                1,
                "{ctx}\nD on the target side"
            );
            // A2 gone from the target side in the end, whatever the policy.
            assert!(
                after[S8::A2 as usize].is_empty(),
                "{ctx}\nA2 closed on the target side"
            );
            assert!(opened(S8::A2).is_empty(), "{ctx}\nA2 not re-dialled");
            for t in [S8::A1, S8::B, S8::C] {
                assert_eq!(
                    after[t as usize].len(),
                    1,
                    "{ctx}\n{t:?}: one connection on the target side"
                );
            }
            // Which connections survived: same client port on the target side, same conn_id, no
            // close; or closed (with the policy's reason) and re-dialled from a new client port.
            let kept: &[S8] = match policy {
                "prometheus" => &[S8::A1, S8::C],
                "keep" => &[S8::A1, S8::B, S8::C],
                _ => &[],
            };
            for t in [S8::A1, S8::B, S8::C] {
                if kept.contains(&t) {
                    assert!(closed(t).is_empty(), "{ctx}\n{t:?} kept: closed");
                    assert!(opened(t).is_empty(), "{ctx}\n{t:?} kept: re-dialled");
                    assert_eq!(
                        after[t as usize][0], before[i][t as usize].1,
                        "{ctx}\n{t:?} kept: the same connection on the target side"
                    );
                    let on = post
                        .iter()
                        .filter(|e| lab::instance(e) == run.instance(t))
                        .filter_map(scrape)
                        .collect::<Vec<_>>();
                    assert!(
                        !on.is_empty()
                            && on
                                .iter()
                                .all(|s| s.up && s.conn_id == Some(conn(t)) && s.reused),
                        "{ctx}\n{t:?} kept: scrapes on the kept connection: {on:?}"
                    );
                } else {
                    let c = closed(t);
                    assert!(
                        c.len() == 1 && c[0].reason == CloseReason::Reload,
                        "{ctx}\n{t:?} closed with reason reload: {c:?}"
                    );
                    assert_eq!(opened(t).len(), 1, "{ctx}\n{t:?} re-dialled once");
                    assert_ne!(
                        client(&after[t as usize][0]),
                        port(t),
                        "{ctx}\n{t:?} re-dialled: a new client port on the target side"
                    );
                }
            }
            let a2 = closed(S8::A2);
            match policy {
                "prometheus" => {
                    assert_eq!(
                        just_after[i][S8::A2 as usize],
                        vec![before[i][S8::A2 as usize].1.clone()],
                        "{ctx}\nA2's idle connection stays open on the target side after the reload"
                    );
                    assert!(
                        a2.len() == 1 && a2[0].reason == CloseReason::IdleTimeout,
                        "{ctx}\nA2 closed by the idle timeout: {a2:?}"
                    );
                    assert!(
                        reload.conns_closed == 1 && reload.conns_kept == 3,
                        "{ctx}\nreload closes B's only: {reload:?}"
                    );
                }
                "keep" => {
                    assert!(
                        a2.len() == 1 && a2[0].reason == CloseReason::TargetRemoved,
                        "{ctx}\nA2 closed as target_removed: {a2:?}"
                    );
                    assert!(
                        reload.conns_closed == 1 && reload.conns_kept == 3,
                        "{ctx}\nreload closes A2's only: {reload:?}"
                    );
                }
                _ => {
                    assert!(
                        a2.len() == 1 && a2[0].reason == CloseReason::TargetRemoved,
                        "{ctx}\nA2 closed as target_removed: {a2:?}"
                    );
                    assert!(
                        reload.conns_closed == 4 && reload.conns_kept == 0,
                        "{ctx}\nreload closes all four: {reload:?}"
                    );
                }
            }
            lab.step(&format!("{policy}: as README says; {reload:?}"));
        }));
        if let Err(e) = check {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            lab.step(&format!("{policy}: FAILED"));
            failed.push(msg);
        }
    }
    for run in runs {
        assert_eq!(run.st.quit(), Some(0));
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n\n"));
}
