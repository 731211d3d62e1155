//! The real binary in headless mode: JSON events out, JSON commands in, descriptors counted.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

mod common;

use common::lines::Events;
use scrapetop::event::{ConnFailKind, EventKind, ProbeFailKind, ProbeResult, TargetId};
use scrapetop::exporter::{Exporter, ExporterConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_scrapetop");

struct Proc {
    child: Child,
    out: Events<Lines<BufReader<ChildStdout>>>,
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
    let out = Events::new(BufReader::new(child.stdout.take().expect("stdout")).lines());
    Proc { child, out }
}

impl Proc {
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
        let (_, (conn_id, fd)) = expect_event!(
            p.out,
            Duration::from_secs(10),
            EventKind::ConnOpened(c) => (c.conn_id, c.fd)
        );
        opened.insert(conn_id);
        assert!(fds.insert(fd), "fd {fd} reused while open");
    }
    // The census runs every second; the next one sees all 200 connections.
    let (_, census) = expect_event!(p.out, Duration::from_secs(3), EventKind::Fds(c) => *c);
    assert!(
        (200..210).contains(&census.sockets),
        "sockets = targets + a small constant: {census:?}"
    );
    assert_eq!(
        socket_fds(pid),
        census.sockets,
        "census equals what /proc shows"
    );
    assert!(
        (200..230).contains(&census.total),
        "fds = targets + a small constant: {census:?}"
    );
    assert!(census.soft_limit >= 200);
    assert_eq!(
        census.soft_limit, census.hard_limit,
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
    let added = expect_event!(p.out, Duration::from_secs(5), EventKind::TargetAdded { .. });
    let id = added.target.as_ref().expect("about a target").id;
    p.send("this is not json").await;
    let (_, err) = expect_event!(
        p.out,
        Duration::from_secs(5),
        EventKind::Error { error } => error.clone()
    );
    assert!(err.contains("bad command"), "{err}");
    expect_event!(p.out, Duration::from_secs(5), EventKind::Scrape(_));
    p.send(r#"{"cmd":"state"}"#).await;
    let st = p.out.wait_state(Duration::from_secs(5)).await;
    assert_eq!(st["targets"][0]["instance"], e.addr().to_string(), "{st}");
    assert_eq!(st["targets"][0]["target"], id.to_string(), "{st}");
    assert_eq!(st["targets"][0]["health"], "up", "{st}");
    assert_eq!(st["totals"]["conns_open"], 1, "{st}");
    // A selector that matches nothing is an error naming it, not an acknowledgement.
    p.send(r#"{"cmd":"probe","job":"nope"}"#).await;
    let (_, err) = expect_event!(
        p.out,
        Duration::from_secs(5),
        EventKind::Error { error } => error.clone()
    );
    assert!(err.contains(r#"no target matches job "nope""#), "{err}");
    p.send(r#"{"cmd":"pause"}"#).await;
    expect_event!(
        p.out,
        Duration::from_secs(5),
        EventKind::Paused { paused: true }
    );
    drop(p.child.stdin.take());
    assert_eq!(p.exit_code(Duration::from_secs(10)).await, 0);
}

#[tokio::test]
async fn sigterm_ends_cleanly() {
    let e = Exporter::start("127.0.0.1:0".parse().unwrap(), ExporterConfig::default())
        .await
        .unwrap();
    let mut p = spawn(&["--headless".into(), "--target".into(), e.addr().to_string()]);
    expect_event!(p.out, Duration::from_secs(5), EventKind::TargetAdded { .. });
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
    let out = Events::new(BufReader::new(child.stdout.take().expect("stdout")).lines());
    let mut p = Proc { child, out };
    let (_, error) = expect_event!(
        p.out,
        Duration::from_secs(10),
        EventKind::ConnFailed { kind: ConnFailKind::Emfile, error, .. } => error.clone()
    );
    assert!(error.contains("too many open files"), "{error}");
    // The targets that got a descriptor keep scraping.
    let mut up = HashSet::new();
    while up.len() < 20 {
        let ev = expect_event!(p.out, Duration::from_secs(5), EventKind::Scrape(s) if s.up);
        up.insert(ev.target.expect("about a target").id);
    }
    let (_, census) = expect_event!(p.out, Duration::from_secs(3), EventKind::Fds(c) => *c);
    assert_eq!(census.soft_limit, 50, "{census:?}");
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
    p.out
        .wait_n("40 demo targets", 40, Duration::from_secs(10), |e| {
            matches!(e.kind, EventKind::TargetAdded { .. })
        })
        .await;
    let instance = |e: &scrapetop::event::Event| {
        e.target
            .as_ref()
            .map_or(String::new(), |t| t.instance.to_string())
    };
    let stale = expect_event!(p.out, Duration::from_secs(30), EventKind::StalePeer { .. });
    assert!(instance(&stale).starts_with("api-2.demo.test"), "{stale:?}");
    // node-3 refuses new connections while its established one goes on (other hidden
    // failures, e.g. probes during the DNS outage, may come first).
    let probe = p
        .out
        .wait_for("node-3's hidden failure", Duration::from_secs(30), |e| {
            matches!(
                e.kind,
                EventKind::Probe(ProbeResult {
                    hidden_failure: true,
                    kind: Some(ProbeFailKind::Refused),
                    ..
                })
            ) && instance(e).starts_with("node-3.demo.test")
        })
        .await;
    assert!(
        matches!(probe.kind, EventKind::Probe(ProbeResult { ok: false, .. })),
        "{probe:?}"
    );
    p.send(r#"{"cmd":"quit"}"#).await;
    assert_eq!(p.exit_code(Duration::from_secs(15)).await, 0);
}

/// `--target http://h/a --target http://h/b`: one job, one instance, two targets (Prometheus
/// identifies a target by labels + URL), each with its own events and scrapes; a command by
/// `target` reaches exactly one, job + instance reaches both.
#[tokio::test]
async fn two_targets_sharing_job_and_instance_are_two_targets() {
    let e = Exporter::start("127.0.0.1:0".parse().unwrap(), ExporterConfig::default())
        .await
        .unwrap();
    let urls = [
        format!("http://{}/a", e.addr()),
        format!("http://{}/b", e.addr()),
    ];
    let mut p = spawn(&[
        "--headless".into(),
        "--interval".into(),
        "200ms".into(),
        "--timeout".into(),
        "150ms".into(),
        "--target".into(),
        urls[0].clone(),
        "--target".into(),
        urls[1].clone(),
    ]);
    let added = p
        .out
        .wait_n("two targets", 2, Duration::from_secs(5), |e| {
            matches!(e.kind, EventKind::TargetAdded { .. })
        })
        .await;
    let mut by_url = std::collections::HashMap::new();
    for ev in &added {
        let t = ev.target.as_ref().expect("about a target");
        assert_eq!(&*t.instance, e.addr().to_string());
        assert_eq!(&*t.job, "targets");
        let EventKind::TargetAdded { url, labels, .. } = &ev.kind else {
            unreachable!()
        };
        assert_eq!(labels.get("instance"), Some(&e.addr().to_string()));
        by_url.insert(url.clone(), t.id);
    }
    let (a, b) = (by_url[&urls[0]], by_url[&urls[1]]);
    assert_ne!(a, b, "two ids");
    // Two series of scrapes.
    let mut scraped: HashSet<TargetId> = HashSet::new();
    while scraped.len() < 2 {
        let ev = expect_event!(p.out, Duration::from_secs(5), EventKind::Scrape(s) if s.up);
        scraped.insert(ev.target.expect("about a target").id);
    }
    assert_eq!(scraped, HashSet::from([a, b]));
    // By id: exactly one target.
    p.send(&format!(r#"{{"cmd":"probe","target":"{a}"}}"#))
        .await;
    expect_event!(
        p.out,
        Duration::from_secs(5),
        EventKind::CommandAck { targets: 1, .. }
    );
    let probe = expect_event!(p.out, Duration::from_secs(5), EventKind::Probe(_));
    assert_eq!(probe.target.map(|t| t.id), Some(a));
    // By job + instance: both.
    p.send(&format!(
        r#"{{"cmd":"probe","job":"targets","instance":"{}"}}"#,
        e.addr()
    ))
    .await;
    expect_event!(
        p.out,
        Duration::from_secs(5),
        EventKind::CommandAck { targets: 2, .. }
    );
    p.send(r#"{"cmd":"quit"}"#).await;
    assert_eq!(p.exit_code_stdin_open(Duration::from_secs(10)).await, 0);
}

/// At the descriptor limit a reload must still open its file: dials stop a few descriptors
/// short of the limit (`conn_failed` kind `emfile`), keeping those for the engine itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_at_the_descriptor_limit_still_opens_its_file() {
    let exporters = common::exporters(80, 5).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("fleet.txt");
    let lines: Vec<String> = exporters.iter().map(|e| e.addr().to_string()).collect();
    std::fs::write(&list, lines.join("\n")).expect("write list");
    let args: Vec<String> = vec![
        "--nofile=50:50".into(),
        BIN.into(),
        "--headless".into(),
        "--interval".into(),
        "500ms".into(),
        "--timeout".into(),
        "400ms".into(),
        "--targets".into(),
        list.display().to_string(),
    ];
    let mut child = Command::new("prlimit")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prlimit runs");
    let out = Events::new(BufReader::new(child.stdout.take().expect("stdout")).lines());
    let mut p = Proc { child, out };
    expect_event!(
        p.out,
        Duration::from_secs(10),
        EventKind::ConnFailed {
            kind: ConnFailKind::Emfile,
            ..
        }
    );
    // Scrapes keep failing for want of descriptors; a reload reads its file all the same.
    p.send(r#"{"cmd":"reload"}"#).await;
    let (_, error) = expect_event!(
        p.out,
        Duration::from_secs(5),
        EventKind::Reload { error, .. } => error.clone()
    );
    assert_eq!(error, None, "the reload could not read its file");
    p.send(r#"{"cmd":"quit"}"#).await;
    assert_eq!(p.exit_code(Duration::from_secs(10)).await, 0);
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A burst of 100,000 commands: the engine's queue is bounded, so the reader stops taking
/// stdin while it is full (the writer waits on the pipe) instead of queueing without bound.
/// Every command is answered in order (each `pause` its `command_ack`, or counted in a
/// `dropped` report if stdout fell behind), the process's peak memory stays small, and the
/// `quit` after the burst ends the process at once. Lines are told apart by their event name
/// (a typed parse of 200,000 lines in a debug build would take most of a minute); the ones
/// that count are parsed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_commands_is_answered_in_bounded_memory_and_quit_still_works() {
    const N: usize = 100_000;
    let e = Exporter::start("127.0.0.1:0".parse().unwrap(), ExporterConfig::default())
        .await
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["--headless", "--interval", "10s", "--target"])
        .arg(e.addr().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary runs");
    let pid = child.id().expect("running");
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stdin = child.stdin.take().expect("stdin");
    // About 20 s in a debug build on a quiet machine; the bound is for a loaded one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut next = async || -> String {
        match tokio::time::timeout_at(deadline, out.next_line()).await {
            Ok(Ok(Some(l))) => l,
            other => panic!("no answer in time: {other:?}"),
        }
    };
    while !next().await.contains(r#""event":"target_added""#) {}
    let before = status_kib(pid, "VmRSS:");
    let writer = tokio::spawn(async move {
        // One write of the whole burst: the pipe, not this test, sets the pace.
        let mut burst = b"{\"cmd\":\"pause\"}\n".repeat(N);
        burst.extend_from_slice(b"{\"cmd\":\"probe\",\"job\":\"flood-end\"}\n");
        stdin.write_all(&burst).await.expect("write the burst");
        stdin.flush().await.expect("flush");
        stdin
    });
    let (mut acks, mut dropped) = (0u64, 0u64);
    loop {
        let line = next().await;
        if line.contains(r#""event":"command_ack""#) {
            match common::lines::parse(&line) {
                common::lines::Line::Event(ev) => match ev.kind {
                    EventKind::CommandAck { cmd, .. } => {
                        assert_eq!(cmd, "pause", "{line}");
                        acks += 1;
                    }
                    other => panic!("not an ack: {other:?}"),
                },
                other => panic!("not an event: {other:?}"),
            }
        } else if line.contains(r#""event":"dropped""#) {
            let ev = common::lines::parse(&line);
            if let common::lines::Line::Event(ev) = ev
                && let EventKind::Dropped { count } = ev.kind
            {
                dropped += count;
            }
        } else if line.contains(r#""event":"error""#) {
            // In order: the last command's answer comes after every pause's.
            assert!(line.contains(r#"job \"flood-end\""#), "{line}");
            break;
        }
    }
    let peak = status_kib(pid, "VmHWM:");
    let mut stdin = writer.await.expect("writer");
    assert!(acks as usize <= N, "{acks} acks");
    assert!(
        acks + dropped >= N as u64,
        "{acks} acks + {dropped} dropped of {N} commands"
    );
    eprintln!("flood: {acks} acks, {dropped} events dropped, RSS {before} kB, peak {peak} kB");
    assert!(
        peak < before + 64 * 1024,
        "peak RSS {peak} kB from {before} kB: the command path grew"
    );
    stdin
        .write_all(b"{\"cmd\":\"quit\"}\n")
        .await
        .expect("quit");
    let st = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("quit ends the process in time")
        .expect("wait");
    assert_eq!(st.code(), Some(0));
    drop(stdin);
}
