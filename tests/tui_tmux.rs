//! End to end: the real binary in a real terminal (tmux), driven by keys, read from the screen.

// Panicking on bad test data is the point in a test crate.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use scrapetop::exporter::{Exporter, ExporterConfig};

const BIN: &str = env!("CARGO_BIN_EXE_scrapetop");

struct Tmux {
    sock: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.sock)
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "st"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "st"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// A pane format variable (`alternate_on`, `cursor_flag`, `pane_tty`, …).
    fn var(&self, name: &str) -> String {
        self.run(&["display", "-p", "-t", "st", &format!("#{{{name}}}")])
            .trim()
            .to_string()
    }

    /// `stty -a` of the pane's terminal, read from outside (whatever runs in the pane).
    fn stty(&self) -> String {
        let tty = self.var("pane_tty");
        let out = Command::new("stty")
            .args(["-a", "-F", &tty])
            .output()
            .expect("stty runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait (bounded) until `pred` holds for a value read by `read`.
    fn wait_for<T: std::fmt::Debug>(
        &self,
        what: &str,
        within: Duration,
        read: impl Fn(&Self) -> T,
        pred: impl Fn(&T) -> bool,
    ) -> T {
        let start = Instant::now();
        loop {
            let v = read(self);
            if pred(&v) {
                return v;
            }
            if start.elapsed() > within {
                panic!(
                    "timed out waiting for {what}: {v:?}\nscreen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait (bounded) until the screen satisfies `pred`.
    fn wait(&self, what: &str, within: Duration, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if start.elapsed() > within {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.sock, "kill-server"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_act_on_the_selected_target_and_the_terminal_is_restored() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var("CI").is_err(), "tmux is required in CI");
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let a = Exporter::start("127.0.0.1:0".parse().unwrap(), ExporterConfig::default())
        .await
        .unwrap();
    let b = Exporter::start("127.0.0.1:0".parse().unwrap(), ExporterConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let t = Tmux {
        sock: format!("scrapetop-test-{}", std::process::id()),
    };
    let cmd = format!(
        "{BIN} --interval 300ms --timeout 250ms --target {} --target {} --log-file {}",
        a.addr(),
        b.addr(),
        log.display()
    );
    // A shell runs scrapetop, so after it quits we see what the shell gets back.
    t.run(&[
        "new-session",
        "-d",
        "-s",
        "st",
        "-x",
        "160",
        "-y",
        "40",
        "bash --norc --noprofile",
    ]);
    t.keys(&[&format!("{cmd}; echo EX\"\"IT=$?"), "Enter"]);
    let first = a.addr().to_string().min(b.addr().to_string());
    let first_exporter = if a.addr().to_string() == first {
        &a
    } else {
        &b
    };

    t.wait("both targets up", Duration::from_secs(10), |s| {
        s.lines()
            .filter(|l| l.contains("127.0.0.1:") && l.contains(" up "))
            .count()
            >= 2
    });
    assert_eq!(first_exporter.accepts(), 1);

    // r: reconnect the selected (first) row; the server sees a second connection.
    t.keys(&["r"]);
    t.wait("reconnect counted", Duration::from_secs(5), |s| {
        s.lines().any(|l| l.contains(&first) && l.contains("1/1"))
    });
    assert_eq!(first_exporter.accepts(), 2);
    // d and p: re-resolve and probe the selected row.
    t.keys(&["d"]);
    t.keys(&["p"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        first_exporter.accepts(),
        3,
        "the probe made one fresh connection"
    );

    // Enter: the detail screen shows all three effects.
    t.keys(&["Enter"]);
    let s = t.wait("detail", Duration::from_secs(5), |s| {
        s.contains("latest probe") && s.contains("forced")
    });
    assert!(s.contains(&format!("targets / {first}")), "{s}");
    assert!(s.contains("re_resolve"), "{s}");
    assert!(s.contains("· ok"), "{s}");

    t.keys(&["Escape"]);
    t.wait("back to the table", Duration::from_secs(5), |s| {
        s.contains("instance")
    });
    t.keys(&["q"]);
    let s = t.wait("exit", Duration::from_secs(10), |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
    // The terminal was given back: no alternate screen, cursor visible, no logs on screen.
    assert_eq!(
        t.run(&["display", "-p", "-t", "st", "#{alternate_on}"])
            .trim(),
        "0"
    );
    assert_eq!(
        t.run(&["display", "-p", "-t", "st", "#{cursor_flag}"])
            .trim(),
        "1"
    );
    assert!(
        !s.contains("INFO") && !s.contains("WARN"),
        "logs leaked to the terminal:\n{s}"
    );
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!logged.is_empty(), "the log file is written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_reload_or_quit_and_the_terminal_is_restored() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var("CI").is_err(), "tmux is required in CI");
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let a = Exporter::start("127.0.0.1:0".parse().unwrap(), ExporterConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let t = Tmux {
        sock: format!("scrapetop-sig-{}", std::process::id()),
    };
    t.run(&[
        "new-session",
        "-d",
        "-s",
        "st",
        "-x",
        "160",
        "-y",
        "40",
        "bash --norc --noprofile",
    ]);
    // In the foreground of the pane's terminal; `exec` keeps the pid that the shell wrote.
    let cmd = format!(
        "bash -c 'echo $$ > {}; exec {BIN} --interval 300ms --timeout 250ms --target {} --log-file {}'; echo EX\"\"IT=$?",
        pidfile.display(),
        a.addr(),
        dir.path().join("log").display(),
    );
    t.keys(&[&cmd, "Enter"]);
    t.wait("up", Duration::from_secs(10), |s| s.contains(" up "));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    // SIGHUP reloads: the UI stays and says so.
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
    t.wait("reloaded", Duration::from_secs(5), |s| {
        s.contains("reloaded")
    });
    // SIGINT from outside (not a key) quits cleanly.
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let s = t.wait("exit", Duration::from_secs(10), |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
    assert_eq!(
        t.run(&["display", "-p", "-t", "st", "#{alternate_on}"])
            .trim(),
        "0"
    );
}

/// In raw mode the terminal does not echo and reads byte by byte: `stty -a` says `-icanon`.
fn is_raw(stty: &str) -> bool {
    stty.split_whitespace().any(|w| w == "-icanon")
}

/// Starts scrapetop in the foreground of an interactive shell in a fresh tmux server (so job
/// control works: `fg` continues it) and waits until it shows its one target up. Returns the
/// tmux handle, scrapetop's pid, and the exporter and directory to keep alive.
async fn start_in_shell(
    name: &str,
    extra: &str,
    then: &str,
) -> Option<(Tmux, rustix::process::Pid, Exporter, tempfile::TempDir)> {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var("CI").is_err(), "tmux is required in CI");
        eprintln!("SKIPPED: tmux is not installed");
        return None;
    }
    let a = Exporter::start("127.0.0.1:0".parse().unwrap(), ExporterConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let t = Tmux {
        sock: format!("scrapetop-{name}-{}", std::process::id()),
    };
    t.run(&[
        "new-session",
        "-d",
        "-s",
        "st",
        "-x",
        "120",
        "-y",
        "40",
        "bash --norc --noprofile",
    ]);
    let cmd = format!(
        "bash -c 'echo $$ > {}; exec {BIN} --interval 300ms --timeout 250ms --target {} --log-file {} {extra}'{then}",
        pidfile.display(),
        a.addr(),
        dir.path().join("log").display(),
    );
    t.keys(&[&cmd, "Enter"]);
    let addr = a.addr().to_string();
    t.wait("the target's row up", Duration::from_secs(10), |s| {
        s.lines().any(|l| l.contains(&addr) && l.contains(" up "))
    });
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    assert_eq!(t.var("alternate_on"), "1");
    assert!(is_raw(&t.stty()), "raw while running:\n{}", t.stty());
    Some((t, pid, a, dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_gives_the_terminal_back_and_fg_redraws_everything() {
    let Some((t, pid, _exporter, _dir)) = start_in_shell("tstp", "--mouse", "").await else {
        return;
    };
    assert_eq!(t.var("mouse_any_flag"), "1", "--mouse captures the mouse");
    rustix::process::kill_process(pid, rustix::process::Signal::TSTP).unwrap();
    // Stopped: the shell has the terminal back in its normal state.
    t.wait(
        "the shell reports the stopped job",
        Duration::from_secs(5),
        |s| s.contains("Stopped"),
    );
    assert_eq!(t.var("alternate_on"), "0", "left the alternate screen");
    assert_eq!(t.var("cursor_flag"), "1", "cursor shown");
    assert_eq!(t.var("mouse_any_flag"), "0", "mouse released");
    // Cooked mode: a command typed now is echoed and run by the shell.
    t.keys(&[
        "stty -a | grep -o -- '-*icanon' | sed 's/^/MODE=/'",
        "Enter",
    ]);
    let s = t.wait("stty in the pane", Duration::from_secs(5), |s| {
        s.lines().any(|l| l.starts_with("MODE="))
    });
    assert!(
        s.lines().any(|l| l == "MODE=icanon"),
        "cooked while stopped:\n{s}"
    );

    // fg: raw mode and the alternate screen again, and the whole UI drawn, not half of it.
    // (A stopped job ends the shell's command list, so the exit status is echoed after fg.)
    t.keys(&["fg; echo EX\"\"IT=$?", "Enter"]);
    t.wait_for(
        "the alternate screen again",
        Duration::from_secs(5),
        |t| t.var("alternate_on"),
        |v| v == "1",
    );
    let row = |s: &str| {
        s.lines()
            .any(|l| l.contains("127.0.0.1:") && l.contains(" up ") && l.contains("idle"))
    };
    let s = t.wait("a full redraw", Duration::from_secs(5), |s| {
        s.contains("scrapetop") && s.contains("hidden by live conns") && row(s)
    });
    assert!(s.contains("instance"), "the table header is drawn:\n{s}");
    assert!(!s.contains("Stopped") && !s.contains("MODE="), "{s}");
    let stty = t.stty();
    assert!(is_raw(&stty), "raw after fg:\n{stty}");
    assert_eq!(t.var("mouse_any_flag"), "1", "mouse captured again");
    // And it still takes keys.
    t.keys(&["q"]);
    let s = t.wait("exit", Duration::from_secs(10), |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
    assert_eq!(t.var("alternate_on"), "0");
    assert_eq!(t.var("mouse_any_flag"), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigquit_restores_the_terminal_then_exits() {
    let Some((t, pid, _exporter, _dir)) =
        start_in_shell("quit", "--mouse", "; echo EX\"\"IT=$?").await
    else {
        return;
    };
    rustix::process::kill_process(pid, rustix::process::Signal::QUIT).unwrap();
    let s = t.wait("exit", Duration::from_secs(10), |s| s.contains("EXIT="));
    assert!(s.contains("EXIT=0"), "{s}");
    assert_eq!(t.var("alternate_on"), "0", "left the alternate screen");
    assert_eq!(t.var("cursor_flag"), "1", "cursor shown");
    assert_eq!(t.var("mouse_any_flag"), "0", "mouse released");
    // The shell keeps the modes a program leaves behind when it exits: a command run now
    // sees what scrapetop left.
    t.keys(&[
        "stty -a | grep -o -- '-*icanon' | sed 's/^/MODE=/'",
        "Enter",
    ]);
    let s = t.wait("stty in the pane", Duration::from_secs(5), |s| {
        s.lines().any(|l| l.starts_with("MODE="))
    });
    assert!(
        s.lines().any(|l| l == "MODE=icanon"),
        "cooked after SIGQUIT:\n{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_80x24_the_table_shows_fd_dns_and_reconnects_and_detail_why_each_ended() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var("CI").is_err(), "tmux is required in CI");
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let a = Exporter::start("127.0.0.1:0".parse().unwrap(), ExporterConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t = Tmux {
        sock: format!("scrapetop-small-{}", std::process::id()),
    };
    let cmd = format!(
        "{BIN} --interval 300ms --timeout 250ms --target {} --log-file {}",
        a.addr(),
        dir.path().join("log").display()
    );
    t.run(&[
        "new-session",
        "-d",
        "-s",
        "st",
        "-x",
        "80",
        "-y",
        "24",
        &cmd,
    ]);
    let addr = a.addr().to_string();
    let s = t.wait("the target up", Duration::from_secs(10), |s| {
        s.lines().any(|l| l.contains(&addr) && l.contains(" up "))
    });
    let head = s
        .lines()
        .find(|l| l.contains("instance"))
        .unwrap_or_default();
    for col in ["conn", "flags", "fd", "dns", "reconn"] {
        assert!(head.contains(col), "no {col} at 80x24:\n{s}");
    }
    // Two forced reconnects, then the detail: both ends, why, and the open connection.
    t.keys(&["r"]);
    t.wait("first reconnect", Duration::from_secs(5), |s| {
        s.contains("1/1")
    });
    // A reconnect that lands while the new connection's first scrape is still being dialled
    // has nothing to close yet: press again once the row is idle, a bounded number of times.
    for attempt in 0.. {
        t.wait("idle again", Duration::from_secs(5), |s| {
            s.lines().any(|l| l.contains("1/1") && l.contains("idle"))
        });
        t.keys(&["r"]);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) && !t.screen().contains("2/2") {
            std::thread::sleep(Duration::from_millis(100));
        }
        if t.screen().contains("2/2") {
            break;
        }
        assert!(attempt < 5, "no second reconnect:\n{}", t.screen());
    }
    t.keys(&["Enter"]);
    let s = t.wait("detail", Duration::from_secs(5), |s| {
        s.contains("2 reconnects") && s.lines().filter(|l| l.contains("forced")).count() >= 3
    });
    assert!(s.contains("f forced 2"), "{s}");
    assert!(s.lines().any(|l| l.contains(" open ")), "{s}");
    assert!(
        s.lines().any(|l| l.trim_start().starts_with("conns")),
        "the timeline:\n{s}"
    );
    t.keys(&["q"]);
}
