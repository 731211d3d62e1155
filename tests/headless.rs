//! The real binary in headless mode: JSON events out, JSON commands in, descriptors counted.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

mod common;

use scrapetop::exporter::{Exporter, ExporterConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_scrapetop");

struct Proc {
    child: Child,
    out: Lines<BufReader<ChildStdout>>,
}

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

impl Proc {
    async fn next_matching(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let line = tokio::time::timeout_at(deadline, self.out.next_line())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .expect("read stdout")
                .unwrap_or_else(|| panic!("stdout ended waiting for {what}"));
            let v: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"));
            assert!(v["ts"].is_string() && v["event"].is_string(), "{line}");
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

    /// Wait for the exit while stdin stays open (tokio's `wait` would close it first).
    async fn exit_code_stdin_open(mut self, within: Duration) -> i32 {
        let _stdin = self.child.stdin.take();
        self.exit_code(within).await
    }

    async fn exit_code(mut self, within: Duration) -> i32 {
        let st = tokio::time::timeout(within, self.child.wait())
            .await
            .expect("exits in time")
            .expect("wait");
        st.code().unwrap_or(-1)
    }
}

fn socket_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("proc")
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|l| l.to_string_lossy().starts_with("socket:"))
        .count() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_targets_hold_two_hundred_sockets_and_the_census_matches_proc() {
    let exporters = common::exporters(200, 5).await;
    let mut args: Vec<String> = vec![
        "--headless".into(),
        "--interval".into(),
        "1s".into(),
        "--timeout".into(),
        "900ms".into(),
    ];
    args.extend(common::target_args(&exporters));
    let mut p = spawn(&args);
    let pid = p.child.id().expect("pid");
    let mut opened = HashSet::new();
    let mut fds = HashSet::new();
    while opened.len() < 200 {
        let v = p
            .next_matching("200 connections", Duration::from_secs(10), |v| {
                v["event"] == "conn_opened"
            })
            .await;
        opened.insert(v["conn_id"].as_u64().expect("conn_id"));
        assert!(
            fds.insert(v["fd"].as_i64().expect("fd")),
            "fd reused while open: {v}"
        );
    }
    // The census runs every second; the next one sees all 200 connections.
    let census = p
        .next_matching("census", Duration::from_secs(3), |v| v["event"] == "fds")
        .await;
    let sockets = census["sockets"].as_u64().expect("sockets");
    assert!(
        (200..210).contains(&sockets),
        "sockets = targets + a small constant: {census}"
    );
    assert_eq!(socket_fds(pid), sockets, "census equals what /proc shows");
    let total = census["total"].as_u64().expect("total");
    assert!(
        (200..230).contains(&total),
        "fds = targets + a small constant: {census}"
    );
    assert!(census["soft_limit"].as_u64() >= Some(200));
    assert_eq!(
        census["soft_limit"], census["hard_limit"],
        "soft limit raised to the hard limit"
    );
    for e in &exporters {
        assert_eq!(e.accepts(), 1);
    }
    // quit ends the process even though stdin stays open.
    p.send(r#"{"cmd":"quit"}"#).await;
    assert_eq!(p.exit_code_stdin_open(Duration::from_secs(10)).await, 0);
}

#[tokio::test]
async fn malformed_commands_get_an_error_event_and_eof_quits_with_exit_on_eof() {
    let e = Exporter::start("127.0.0.1:0".parse().unwrap(), ExporterConfig::default())
        .await
        .unwrap();
    let mut p = spawn(&[
        "--headless".into(),
        "--exit-on-eof".into(),
        "--interval".into(),
        "200ms".into(),
        "--target".into(),
        e.addr().to_string(),
    ]);
    p.next_matching("target_added", Duration::from_secs(5), |v| {
        v["event"] == "target_added"
    })
    .await;
    p.send("this is not json").await;
    let err = p
        .next_matching("error", Duration::from_secs(5), |v| v["event"] == "error")
        .await;
    assert!(
        err["error"].as_str().unwrap_or("").contains("bad command"),
        "{err}"
    );
    p.next_matching("a scrape", Duration::from_secs(5), |v| {
        v["event"] == "scrape"
    })
    .await;
    p.send(r#"{"cmd":"state"}"#).await;
    let st = p
        .next_matching("state", Duration::from_secs(5), |v| v["event"] == "state")
        .await;
    assert_eq!(st["targets"][0]["instance"], e.addr().to_string(), "{st}");
    assert_eq!(st["targets"][0]["health"], "up", "{st}");
    assert_eq!(st["totals"]["conns_open"], 1, "{st}");
    p.send(r#"{"cmd":"pause"}"#).await;
    p.next_matching("paused", Duration::from_secs(5), |v| {
        v["event"] == "paused" && v["paused"] == true
    })
    .await;
    drop(p.child.stdin.take());
    assert_eq!(p.exit_code(Duration::from_secs(10)).await, 0);
}

#[tokio::test]
async fn sigterm_ends_cleanly() {
    let e = Exporter::start("127.0.0.1:0".parse().unwrap(), ExporterConfig::default())
        .await
        .unwrap();
    let mut p = spawn(&["--headless".into(), "--target".into(), e.addr().to_string()]);
    p.next_matching("target_added", Duration::from_secs(5), |v| {
        v["event"] == "target_added"
    })
    .await;
    let pid = rustix::process::Pid::from_raw(p.child.id().expect("pid") as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill");
    assert_eq!(p.exit_code(Duration::from_secs(10)).await, 0);
}

#[test]
fn a_timeout_above_the_interval_is_refused_with_status_2() {
    let out = std::process::Command::new(BIN)
        .args([
            "--headless",
            "--target",
            "127.0.0.1:9",
            "--interval",
            "10s",
            "--timeout",
            "15s",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--timeout 15s is above --interval 10s"),
        "{err}"
    );
}

#[test]
fn a_bad_target_is_refused_with_status_2() {
    let out = std::process::Command::new(BIN)
        .args(["--headless", "--target", "http://user:hunter2@host:1"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--target"), "{err}");
    assert!(!err.contains("hunter2"), "secret leaked: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_descriptors_fails_only_the_excess_dials() {
    let exporters = common::exporters(80, 5).await;
    // prlimit sets soft = hard = 50 for the child: fewer descriptors than targets.
    let mut args: Vec<String> = vec![
        "--nofile=50:50".into(),
        BIN.into(),
        "--headless".into(),
        "--interval".into(),
        "500ms".into(),
        "--timeout".into(),
        "400ms".into(),
    ];
    args.extend(common::target_args(&exporters));
    let mut child = Command::new("prlimit")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prlimit runs");
    let out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut p = Proc { child, out };
    let failed = p
        .next_matching("an emfile failure", Duration::from_secs(10), |v| {
            v["event"] == "conn_failed" && v["kind"] == "emfile"
        })
        .await;
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or("")
            .contains("too many open files"),
        "{failed}"
    );
    // The targets that got a descriptor keep scraping.
    let mut up = HashSet::new();
    while up.len() < 20 {
        let v = p
            .next_matching("scrapes going on", Duration::from_secs(5), |v| {
                v["event"] == "scrape" && v["up"] == true
            })
            .await;
        up.insert(v["instance"].as_str().unwrap_or("").to_owned());
    }
    let census = p
        .next_matching("census", Duration::from_secs(3), |v| v["event"] == "fds")
        .await;
    assert_eq!(census["soft_limit"], 50, "{census}");
    p.send(r#"{"cmd":"quit"}"#).await;
    assert_eq!(p.exit_code(Duration::from_secs(10)).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_headless_and_shows_its_story() {
    let mut p = spawn(&[
        "demo".into(),
        "--headless".into(),
        "--demo-speed".into(),
        "10".into(),
    ]);
    let mut added = 0;
    while added < 40 {
        p.next_matching("40 demo targets", Duration::from_secs(10), |v| {
            v["event"] == "target_added"
        })
        .await;
        added += 1;
    }
    let stale = p
        .next_matching("a moved address", Duration::from_secs(30), |v| {
            v["event"] == "stale_peer"
        })
        .await;
    assert!(
        stale["instance"]
            .as_str()
            .unwrap_or("")
            .starts_with("api-2.demo.test"),
        "{stale}"
    );
    // node-3 refuses new connections while its established one goes on (other hidden
    // failures, e.g. probes during the DNS outage, may come first).
    let probe = p
        .next_matching("node-3's hidden failure", Duration::from_secs(30), |v| {
            v["event"] == "probe"
                && v["hidden_failure"] == true
                && v["kind"] == "refused"
                && v["instance"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("node-3.demo.test")
        })
        .await;
    assert_eq!(probe["ok"], false, "{probe}");
    p.send(r#"{"cmd":"quit"}"#).await;
    assert_eq!(p.exit_code(Duration::from_secs(15)).await, 0);
}
