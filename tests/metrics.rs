//! `--web.listen-address`: the real binary, headless, scraping real loopback exporters through
//! a real DNS server, and its `/metrics` read over HTTP and parsed, while the hidden problems
//! are made to happen one by one (moved address, refused fresh connections, silent DNS, a
//! forced reconnect).

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::time::Duration;

mod common;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_scrapetop");

struct Proc {
    child: Child,
    out: Lines<BufReader<ChildStdout>>,
}

impl Proc {
    fn spawn(args: &[String]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("binary runs");
        let out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Proc { child, out }
    }

    async fn wait_event(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let line = tokio::time::timeout_at(deadline, self.out.next_line())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .expect("read stdout")
                .unwrap_or_else(|| panic!("stdout ended waiting for {what}"));
            let v: Value = serde_json::from_str(&line).expect("JSON event");
            if pred(&v) {
                return v;
            }
        }
    }

    async fn send(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("write");
        stdin.flush().await.expect("flush");
    }
}

/// A port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// GET `path` over HTTP/1.0; status line and body.
async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("metrics port answers");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .expect("response");
    let text = String::from_utf8(buf).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("headers end");
    (head.to_owned(), body.to_owned())
}

/// One sample of the text format: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), Vec::new()),
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').expect("labels close");
                let mut labels = Vec::new();
                for pair in rest.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                    labels.push((k.to_owned(), v.trim_end_matches('"').to_owned()));
                }
                (name.to_owned(), labels)
            }
        };
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    out
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.value)
}

/// Scrape until `pred` holds (snapshots are published at most once a second), bounded.
async fn until(addr: SocketAddr, what: &str, pred: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        let (head, body) = get(addr, "/metrics").await;
        assert!(head.starts_with("HTTP/1.0 200"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "{head}"
        );
        let s = parse(&body);
        if pred(&s) {
            return s;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for {what}; last /metrics:\n{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_each_hidden_problem_per_target() {
    let dns = common::dns_server().await;
    // A named target on 127.0.0.2 (its address will move) and one by address.
    let named = scrapetop::exporter::Exporter::start(
        "127.0.0.2:0".parse().expect("addr"),
        Default::default(),
    )
    .await
    .expect("exporter on 127.0.0.2");
    let plain = common::exporters(1, 5).await;
    let ip2: IpAddr = "127.0.0.2".parse().expect("ip");
    dns.set_addrs("moving", &[ip2], 1).await.expect("A record");
    let named_inst = format!("moving.test:{}", named.addr().port());
    let plain_inst = plain[0].addr().to_string();
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");

    let args: Vec<String> = [
        "--headless",
        "--interval",
        "1s",
        "--timeout",
        "900ms",
        "--recheck-dns",
        "false",
        "--dns-server",
        &dns.addr().to_string(),
        "--web.listen-address",
        &listen.to_string(),
        "--target",
        &named_inst,
        "--target",
        &plain_inst,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut p = Proc::spawn(&args);
    let named_l = [("job", "targets"), ("instance", named_inst.as_str())];
    let plain_l = [("job", "targets"), ("instance", plain_inst.as_str())];

    // The port is bound before the engine starts: once it speaks, /metrics answers.
    p.wait_event("a scrape", |v| v["event"] == "scrape").await;
    // Both up, on one connection each, the name resolved, the census there.
    let s = until(listen, "both targets up", |s| {
        value(s, "scrapetop_target_up", &named_l) == Some(1.0)
            && value(s, "scrapetop_target_up", &plain_l) == Some(1.0)
    })
    .await;
    for l in [&named_l, &plain_l] {
        assert_eq!(value(&s, "scrapetop_target_stale_peer", l), Some(0.0));
        assert_eq!(value(&s, "scrapetop_target_dns_failing", l), Some(0.0));
        assert_eq!(value(&s, "scrapetop_target_probe_failing", l), Some(0.0));
        let age = value(&s, "scrapetop_target_connection_age_seconds", l).expect("age");
        assert!((0.0..30.0).contains(&age), "connection age {age}");
        let reqs = value(&s, "scrapetop_target_connection_requests", l).expect("requests");
        assert!(reqs >= 1.0, "requests {reqs}");
    }
    let dns_age = value(&s, "scrapetop_target_dns_resolution_age_seconds", &named_l)
        .expect("the name resolved when dialled");
    assert!((0.0..30.0).contains(&dns_age), "dns age {dns_age}");
    assert_eq!(
        value(&s, "scrapetop_target_dns_resolution_age_seconds", &plain_l),
        None,
        "an address is never resolved"
    );
    let total = value(&s, "scrapetop_open_fds_total", &[]).expect("census");
    let sockets = value(&s, "scrapetop_open_fds", &[("kind", "socket")]).expect("sockets");
    assert!(sockets >= 3.0 && total >= sockets, "{sockets} of {total}");
    assert!(value(&s, "scrapetop_fd_limit", &[("limit", "soft")]) >= Some(total));
    assert!(
        s.iter()
            .all(|x| x.labels.iter().all(|(k, _)| k != "conn_id")),
        "never a label per connection"
    );

    // The name moves; a re-resolve sees it while the connection stays on the old address.
    dns.set_addrs("moving", &["127.0.0.3".parse().expect("ip")], 1)
        .await
        .expect("A record");
    p.send(&format!(
        r#"{{"cmd":"re_resolve","job":"targets","instance":"{named_inst}"}}"#
    ))
    .await;
    p.wait_event("stale_peer", |v| v["event"] == "stale_peer")
        .await;
    until(listen, "stale peer", |s| {
        value(s, "scrapetop_target_stale_peer", &named_l) == Some(1.0)
            && value(s, "scrapetop_target_up", &named_l) == Some(1.0)
    })
    .await;

    // A fresh connection to the new address is refused while the pooled one works.
    p.send(&format!(
        r#"{{"cmd":"probe","job":"targets","instance":"{named_inst}"}}"#
    ))
    .await;
    p.wait_event("probe", |v| v["event"] == "probe").await;
    until(listen, "probe failing", |s| {
        value(s, "scrapetop_target_probe_failing", &named_l) == Some(1.0)
            && value(s, "scrapetop_target_probe_failing", &plain_l) == Some(0.0)
    })
    .await;

    // The DNS server goes silent: the lookup fails, scraping goes on.
    dns.set_silent(true);
    p.send(&format!(
        r#"{{"cmd":"re_resolve","job":"targets","instance":"{named_inst}"}}"#
    ))
    .await;
    p.wait_event("dns_failed", |v| v["event"] == "dns_failed")
        .await;
    until(listen, "dns failing", |s| {
        value(s, "scrapetop_target_dns_failing", &named_l) == Some(1.0)
            && value(s, "scrapetop_target_up", &named_l) == Some(1.0)
    })
    .await;

    // A forced reconnect is counted once, under its reason, for that target only.
    p.send(&format!(
        r#"{{"cmd":"reconnect","job":"targets","instance":"{plain_inst}"}}"#
    ))
    .await;
    p.wait_event("conn_closed", |v| {
        v["event"] == "conn_closed" && v["reason"] == "forced"
    })
    .await;
    let forced = [
        ("job", "targets"),
        ("instance", plain_inst.as_str()),
        ("reason", "forced"),
    ];
    let s = until(listen, "reconnect counted", |s| {
        value(s, "scrapetop_target_reconnects_total", &forced) == Some(1.0)
    })
    .await;
    assert!(
        !s.iter()
            .any(|x| x.name == "scrapetop_target_reconnects_total"
                && x.labels
                    .iter()
                    .any(|(k, v)| k == "instance" && *v == named_inst)),
        "no reconnect for the named target"
    );
    // Counters never count a close twice across snapshots.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, body) = get(listen, "/metrics").await;
    assert_eq!(
        value(&parse(&body), "scrapetop_target_reconnects_total", &forced),
        Some(1.0)
    );

    let (head, _) = get(listen, "/nope").await;
    assert!(head.starts_with("HTTP/1.0 404"), "{head}");

    p.send(r#"{"cmd":"quit"}"#).await;
    let st = tokio::time::timeout(Duration::from_secs(10), p.child.wait())
        .await
        .expect("exits")
        .expect("wait");
    assert_eq!(st.code(), Some(0));
}

#[test]
fn a_bad_or_busy_listen_address_exits_2_before_anything_starts() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = busy.local_addr().expect("addr").to_string();
    for (addr, says) in [
        ("nope", "expected HOST:PORT"),
        ("127.0.0.1:70000", "expected HOST:PORT"),
        (busy.as_str(), "cannot listen on"),
    ] {
        let out = std::process::Command::new(BIN)
            .args([
                "--headless",
                "--target",
                "127.0.0.1:1",
                "--web.listen-address",
                addr,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{addr}: {err}");
        assert!(err.contains(says), "{addr}: {err}");
        assert!(out.stdout.is_empty(), "nothing started for {addr}");
    }
}

/// promtool, or `None` (said loudly) when it is not installed outside CI.
fn promtool() -> Option<&'static str> {
    let found = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("promtool");
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "promtool missing under CI=true (Debian package prometheus; .ci/run installs it)"
    );
    eprintln!("SKIPPED: promtool not installed (Debian package prometheus)");
    None
}

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    let Some(promtool) = promtool() else { return };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/assets");
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
    ] {
        let out = std::process::Command::new(promtool)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The rules name only metrics scrapetop serves.
    let rules = std::fs::read_to_string(format!("{dir}/alerts.yml")).expect("alerts.yml");
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/metrics.rs"))
        .expect("metrics.rs");
    for word in rules.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if word.starts_with("scrapetop_") {
            assert!(src.contains(&format!("\"{word}\"")), "{word} is not served");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_ui_serves_metrics_too() {
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tmux is required under CI=true"
        );
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let ex = common::exporters(1, 5).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let sock = format!("scrapetop-metrics-{}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .arg("-L")
            .arg(&sock)
            .args(args)
            .output()
            .expect("tmux runs")
    };
    struct Kill<F: Fn(&[&str]) -> std::process::Output>(F);
    impl<F: Fn(&[&str]) -> std::process::Output> Drop for Kill<F> {
        fn drop(&mut self) {
            let _ = (self.0)(&["kill-server"]);
        }
    }
    let tmux = Kill(tmux);
    let cmd = format!(
        "{BIN} --interval 300ms --timeout 250ms --target {} --web.listen-address {listen} \
         --log-file {}",
        ex[0].addr(),
        dir.path().join("log").display()
    );
    (tmux.0)(&[
        "new-session",
        "-d",
        "-s",
        "st",
        "-x",
        "120",
        "-y",
        "40",
        &cmd,
    ]);
    // The UI owns the model; it publishes it for /metrics like the headless loop does.
    let instance = ex[0].addr().to_string();
    let labels = [("job", "targets"), ("instance", instance.as_str())];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let samples = loop {
        let got = match tokio::net::TcpStream::connect(listen).await {
            Ok(_) => Some(parse(&get(listen, "/metrics").await.1)),
            Err(_) => None,
        };
        if let Some(s) = got
            && value(&s, "scrapetop_target_up", &labels) == Some(1.0)
        {
            break s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the UI's /metrics never showed the target up; screen:\n{}",
            String::from_utf8_lossy(&(tmux.0)(&["capture-pane", "-p", "-t", "st"]).stdout)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let reqs = value(&samples, "scrapetop_target_connection_requests", &labels);
    assert!(reqs >= Some(1.0), "{reqs:?}");
    (tmux.0)(&["send-keys", "-t", "st", "q"]);
}
