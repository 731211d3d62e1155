//! The binary under hostile or careless use: malformed and huge command lines, a consumer that
//! stops reading, an unwritable log file. Each test is named after the behaviour it protects
//! (issue 14).

use std::process::Stdio;
use std::time::Duration;

use scrapetop::exporter::{Exporter, ExporterConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BIN: &str = env!("CARGO_BIN_EXE_scrapetop");

struct Proc {
    child: Child,
    out: Lines<BufReader<ChildStdout>>,
}

fn spawn_with(args: &[String], stderr: Stdio) -> Proc {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("binary runs");
    let out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    Proc { child, out }
}

fn spawn(args: &[String]) -> Proc {
    spawn_with(args, Stdio::null())
}

impl Proc {
    async fn next_event(&mut self, what: &str, within: Duration) -> Value {
        let line = tokio::time::timeout(within, self.out.next_line())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("read stdout")
            .unwrap_or_else(|| panic!("stdout ended waiting for {what}"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"))
    }

    async fn next_matching(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let v = self.next_event(what, left).await;
            if pred(&v) {
                return v;
            }
        }
    }

    async fn send_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(bytes).await.expect("write");
        stdin.flush().await.expect("flush");
    }

    async fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\n").as_bytes()).await;
    }

    /// Wait for the exit while stdin stays open (tokio's `wait` would close it first).
    async fn exit_code_stdin_open(&mut self, within: Duration) -> i32 {
        let _stdin = self.child.stdin.take();
        let st = tokio::time::timeout(within, self.child.wait())
            .await
            .expect("exits in time")
            .expect("wait");
        st.code().unwrap_or(-1)
    }
}

async fn exporter() -> Exporter {
    Exporter::start(
        "127.0.0.1:0".parse().expect("an address"),
        ExporterConfig::default(),
    )
    .await
    .expect("exporter starts")
}

fn headless_args(target: &Exporter, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--headless".into(),
        "--interval".into(),
        "1s".into(),
        "--target".into(),
        target.addr().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[tokio::test]
async fn a_command_line_that_is_not_utf8_is_reported_and_reading_goes_on() {
    let e = exporter().await;
    let mut p = spawn(&headless_args(&e, &["--exit-on-eof"]));
    p.next_matching("target_added", Duration::from_secs(5), |v| {
        v["event"] == "target_added"
    })
    .await;
    p.send_bytes(b"{\"cmd\":\"pa\xffuse\"}\n").await;
    let err = p
        .next_matching("error", Duration::from_secs(5), |v| v["event"] == "error")
        .await;
    let msg = err["error"].as_str().unwrap_or("");
    assert!(msg.contains("UTF-8"), "{err}");
    // The reader is still alive: the next command is carried out.
    p.send(r#"{"cmd":"pause"}"#).await;
    p.next_matching("paused", Duration::from_secs(5), |v| {
        v["event"] == "paused" && v["paused"] == true
    })
    .await;
    p.send(r#"{"cmd":"quit"}"#).await;
    assert_eq!(p.exit_code_stdin_open(Duration::from_secs(10)).await, 0);
}

#[tokio::test]
async fn an_over_long_command_line_is_discarded_unbuffered_and_reported_truncated() {
    let e = exporter().await;
    let mut p = spawn(&headless_args(&e, &[]));
    let pid = p.child.id().expect("pid");
    p.next_matching("target_added", Duration::from_secs(5), |v| {
        v["event"] == "target_added"
    })
    .await;
    let before = vm_hwm_kib(pid);
    // 256 MiB on one line, starting with something that looks like a secret.
    let mut stdin = p.child.stdin.take().expect("stdin");
    let writer = tokio::spawn(async move {
        stdin
            .write_all(b"{\"cmd\":\"load\",\"path\":\"http://user:hunter2@host/")
            .await?;
        let block = vec![b'x'; 1 << 20];
        for _ in 0..256 {
            stdin.write_all(&block).await?;
        }
        stdin.write_all(b"\"}\n{\"cmd\":\"pause\"}\n").await?;
        stdin.flush().await?;
        Ok::<_, std::io::Error>(stdin)
    });
    let err = p
        .next_matching("error", Duration::from_secs(60), |v| v["event"] == "error")
        .await;
    let msg = err["error"].as_str().unwrap_or("");
    assert!(msg.len() < 1000, "error echoes {} bytes", msg.len());
    assert!(msg.contains("longer than"), "{msg}");
    assert!(!msg.contains("hunter2"), "secret echoed: {msg}");
    p.next_matching("paused", Duration::from_secs(10), |v| {
        v["event"] == "paused" && v["paused"] == true
    })
    .await;
    let grown = vm_hwm_kib(pid).saturating_sub(before);
    assert!(
        grown < 32 * 1024,
        "peak RSS grew by {grown} KiB reading a 256 MiB line"
    );
    let mut stdin = writer.await.expect("writer").expect("write");
    stdin
        .write_all(b"{\"cmd\":\"quit\"}\n")
        .await
        .expect("quit");
    p.child.stdin = Some(stdin);
    assert_eq!(p.exit_code_stdin_open(Duration::from_secs(10)).await, 0);
}

#[tokio::test]
async fn error_events_keep_their_place_among_command_acks() {
    let e = exporter().await;
    let mut p = spawn(&headless_args(&e, &[]));
    p.next_matching("target_added", Duration::from_secs(5), |v| {
        v["event"] == "target_added"
    })
    .await;
    const ROUNDS: usize = 40;
    let mut burst = String::new();
    for i in 0..ROUNDS {
        burst.push_str(&format!("bad line {i}\n{{\"cmd\":\"re_resolve\"}}\n"));
    }
    p.send_bytes(burst.as_bytes()).await;
    let mut seen = Vec::new();
    while seen.len() < 2 * ROUNDS {
        let v = p
            .next_matching("errors and acks", Duration::from_secs(10), |v| {
                v["event"] == "error" || (v["event"] == "command_ack" && v["cmd"] == "re_resolve")
            })
            .await;
        seen.push(v["event"].as_str().unwrap_or("").to_owned());
    }
    // Line 2i is bad, line 2i+1 a command: the i-th error must come before the i-th ack
    // (acks of earlier commands may come later still: the engine answers in its own time).
    let at = |kind: &str| -> Vec<usize> { (0..seen.len()).filter(|&i| seen[i] == kind).collect() };
    for (i, (err, ack)) in at("error").into_iter().zip(at("command_ack")).enumerate() {
        assert!(
            err < ack,
            "error {i} after the ack of a later command: {seen:?}"
        );
    }
    p.send(r#"{"cmd":"quit"}"#).await;
    assert_eq!(p.exit_code_stdin_open(Duration::from_secs(10)).await, 0);
}

#[tokio::test]
async fn unknown_fields_on_engine_wide_commands_are_refused() {
    let e = exporter().await;
    let mut p = spawn(&headless_args(&e, &[]));
    p.next_matching("target_added", Duration::from_secs(5), |v| {
        v["event"] == "target_added"
    })
    .await;
    p.send(r#"{"cmd":"pause","job":"node"}"#).await;
    let err = p
        .next_matching("error", Duration::from_secs(5), |v| {
            v["event"] == "error" || v["event"] == "paused"
        })
        .await;
    assert_eq!(err["event"], "error", "pause with a selector was accepted");
    assert!(err["error"].as_str().unwrap_or("").contains("job"), "{err}");
    p.send(r#"{"cmd":"quit","now":true}"#).await;
    let err = p
        .next_matching("error", Duration::from_secs(5), |v| v["event"] == "error")
        .await;
    assert!(err["error"].as_str().unwrap_or("").contains("now"), "{err}");
    p.send(r#"{"cmd":"quit"}"#).await;
    assert_eq!(p.exit_code_stdin_open(Duration::from_secs(10)).await, 0);
}

/// Fill stdout (nobody reads it) with `state` answers until the process says it drops events,
/// then end the run with `how`; it must exit 0 within a few seconds and say in its log how
/// many events were dropped.
async fn ends_while_stdout_is_blocked(how: &str) {
    let e = exporter().await;
    let mut p = spawn_with(&headless_args(&e, &[]), Stdio::piped());
    let stderr = p.child.stderr.take().expect("stderr");
    let (log_tx, mut log_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            let _ = log_tx.send(l);
        }
    });
    p.next_matching("a scrape", Duration::from_secs(5), |v| {
        v["event"] == "scrape"
    })
    .await;
    // From here on nobody reads stdout: 64 KiB of pipe, then its 16 MiB queue, then the
    // process is on its own. `state` answers fill both, in batches, until it says it drops.
    let mut stdin = p.child.stdin.take().expect("stdin");
    let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    let filler = tokio::spawn(async move {
        let batch = "{\"cmd\":\"state\"}\n".repeat(1000);
        for _ in 0..500 {
            if stop.try_recv().is_ok() {
                break;
            }
            stdin.write_all(batch.as_bytes()).await.expect("write");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stdin
    });
    let mut log = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(l) = log_rx.recv().await {
            log.push_str(&l);
            log.push('\n');
            if l.contains("dropping events") {
                return;
            }
        }
    })
    .await
    .expect("the process says it drops events");
    let _ = stop_tx.send(());
    p.child.stdin = Some(filler.await.expect("filler"));
    match how {
        "quit" => p.send(r#"{"cmd":"quit"}"#).await,
        _ => {
            let pid =
                rustix::process::Pid::from_raw(p.child.id().expect("pid") as i32).expect("pid");
            rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("kill");
        }
    }
    let start = std::time::Instant::now();
    assert_eq!(p.exit_code_stdin_open(Duration::from_secs(10)).await, 0);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(8), "took {took:?} to exit");
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(l) = log_rx.recv().await {
            log.push_str(&l);
            log.push('\n');
        }
    })
    .await
    .expect("stderr closes");
    assert!(
        log.contains("events dropped while running"),
        "the log does not say what was dropped: {log}"
    );
}

#[tokio::test]
async fn quit_ends_the_run_within_seconds_while_stdout_is_blocked() {
    ends_while_stdout_is_blocked("quit").await;
}

#[tokio::test]
async fn sigterm_ends_the_run_within_seconds_while_stdout_is_blocked() {
    ends_while_stdout_is_blocked("sigterm").await;
}

#[test]
fn a_log_file_that_cannot_be_written_is_refused_with_status_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").expect("write");
    for path in [file.join("scrapetop.log"), dir.path().to_path_buf()] {
        for mode in [&["--headless"][..], &[]] {
            let out = std::process::Command::new(BIN)
                .args(mode)
                .args(["--exit-on-eof", "--target", "127.0.0.1:9", "--log-file"])
                .arg(&path)
                .stdin(Stdio::null())
                .output()
                .expect("runs");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{mode:?} {path:?}: {err}");
            assert!(
                err.contains("--log-file") && err.contains(&*path.to_string_lossy()),
                "{err}"
            );
            assert!(
                out.stdout.is_empty(),
                "the terminal was touched: {:?}",
                out.stdout
            );
        }
    }
}

#[tokio::test]
async fn the_headless_log_has_no_colours_when_stderr_is_not_a_terminal() {
    let e = exporter().await;
    let mut p = spawn_with(&headless_args(&e, &[]), Stdio::piped());
    let mut stderr = p.child.stderr.take().expect("stderr");
    p.next_matching("a scrape", Duration::from_secs(5), |v| {
        v["event"] == "scrape"
    })
    .await;
    p.send(r#"{"cmd":"quit"}"#).await;
    assert_eq!(p.exit_code_stdin_open(Duration::from_secs(10)).await, 0);
    let mut log = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut log)
        .await
        .expect("stderr");
    assert!(log.contains("scrapetop starting"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colours in a non-terminal log: {log:?}"
    );
}

#[tokio::test]
async fn quit_ends_the_run_even_while_a_load_waits_on_a_fifo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("targets.fifo");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(st.success());
    let e = exporter().await;
    let mut p = spawn(&headless_args(&e, &[]));
    p.next_matching("a scrape", Duration::from_secs(5), |v| {
        v["event"] == "scrape"
    })
    .await;
    let load = serde_json::json!({"cmd": "load", "path": fifo}).to_string();
    p.send(&load).await;
    p.send(r#"{"cmd":"quit"}"#).await;
    // Whatever the engine does with the FIFO (refuse it, or wait on it), quit wins.
    assert_eq!(p.exit_code_stdin_open(Duration::from_secs(8)).await, 0);
}

#[tokio::test]
async fn a_reader_that_pauses_loses_no_events_while_they_fit_the_queue() {
    let e = exporter().await;
    let mut p = spawn(&headless_args(&e, &[]));
    p.next_matching("a scrape", Duration::from_secs(5), |v| {
        v["event"] == "scrape"
    })
    .await;
    // 300 answers, each its own hand-over: far more pieces than the pipe holds, far fewer
    // bytes than the queue. The reader looks away while they are written.
    p.send_bytes("{\"cmd\":\"state\"}\n".repeat(300).as_bytes())
        .await;
    p.send(r#"{"cmd":"pause"}"#).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut states = 0;
    loop {
        let v = p
            .next_event("300 states, then paused", Duration::from_secs(10))
            .await;
        assert_ne!(v["event"], "dropped", "events lost to a 2 s pause: {v}");
        if v["event"] == "state" {
            states += 1;
        }
        if v["event"] == "paused" {
            break;
        }
    }
    assert_eq!(states, 300);
    p.send(r#"{"cmd":"quit"}"#).await;
    assert_eq!(p.exit_code_stdin_open(Duration::from_secs(10)).await, 0);
}

#[tokio::test]
async fn quit_ends_the_run_while_stdout_and_stderr_share_one_full_pipe() {
    // `scrapetop --headless 2>&1 | consumer` with a consumer that reads nothing: the pipe is
    // full before scrapetop starts, so its very first log line, like every event, would block.
    let (read_end, mut write_end) = std::io::pipe().expect("pipe");
    rustix::fs::fcntl_setfl(&write_end, rustix::fs::OFlags::NONBLOCK).expect("nonblocking");
    let block = [b'#'; 4096];
    let mut filled = 0;
    loop {
        match std::io::Write::write(&mut write_end, &block) {
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("filling the pipe: {e}"),
        }
        assert!(filled < 64 << 20, "the pipe never fills");
    }
    rustix::fs::fcntl_setfl(&write_end, rustix::fs::OFlags::empty()).expect("blocking again");
    let e = exporter().await;
    let mut child = Command::new(BIN)
        .args(headless_args(&e, &[]))
        .stdin(Stdio::piped())
        .stdout(Stdio::from(write_end.try_clone().expect("dup")))
        .stderr(Stdio::from(write_end))
        .kill_on_drop(true)
        .spawn()
        .expect("binary runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"{\"cmd\":\"state\"}\n{\"cmd\":\"quit\"}\n")
        .await
        .expect("write");
    let st = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits in time")
        .expect("wait");
    assert_eq!(st.code(), Some(0));
    drop(read_end);
}
