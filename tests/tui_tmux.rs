//! End to end: the real binary in a real terminal (tmux), driven by keys, read from the screen.

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
