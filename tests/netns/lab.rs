//! A small lab of network namespaces for one scenario, torn down when dropped.
//!
//! Layout (star, no forwarding, no link to the root namespace):
//!
//! ```text
//!            10.213.1.0/24            10.213.2.0/24
//!   [t1] .2 ─────────── .1 [scraper] .1 ─────────── .2 [t2]
//!                           .1 │
//!                              │ 10.213.3.0/24
//!                           .2 │
//!                            [dns]
//! ```
//!
//! Every host is a namespace named `st<pid>-<scenario>-<host>`, so parallel tests and parallel
//! runs never collide; the addresses exist only inside these namespaces. Everything the lab
//! starts runs through `ip netns exec`, which execs in place, so the pid we hold is the
//! program's own. `Drop` kills what runs in the namespaces (by pid), deletes the namespaces
//! (which deletes their veths and iptables rules) and the temporary directory.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use scrapetop::event::{
    CloseReason, ConnFailKind, ConnInfo, DnsCause, Event, EventKind, FdCensus, ProbeResult,
    ScrapeResult,
};
use serde_json::Value;

pub const SCRAPETOP: &str = env!("CARGO_BIN_EXE_scrapetop");
pub const HELPER: &str = env!("CARGO_BIN_EXE_scrapetop-testexporter");

/// Programs the suite needs on PATH.
const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ss", "iproute2"),
    ("iptables", "iptables"),
    ("conntrack", "conntrack"),
    ("dnsmasq", "dnsmasq-base"),
    ("nginx", "nginx-light"),
    ("prometheus", "prometheus"),
    ("prometheus-node-exporter", "prometheus-node-exporter"),
    ("prlimit", "util-linux"),
    ("mount", "mount"),
];

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Why the suite cannot run here, if it cannot.
fn missing_prerequisites() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("not root: network namespaces and iptables need root".to_owned());
    }
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|(t, _)| find_tool(t).is_none())
        .map(|(t, p)| format!("{t} (Debian package {p})"))
        .collect();
    if !missing.is_empty() {
        return Some(format!("missing tools: {}", missing.join(", ")));
    }
    None
}

/// Under CI a missing prerequisite fails the test; elsewhere the scenario is skipped, loudly.
fn prerequisites_or_skip(scenario: &str) -> bool {
    let Some(why) = missing_prerequisites() else {
        return true;
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("netns scenario {scenario}: prerequisites missing under CI=true: {why}");
    }
    // Straight to the process's stderr: the test harness captures `eprintln!` of passing
    // tests, and a skip must be seen.
    let msg = format!(
        "\n*** SKIPPED netns scenario {scenario}: {why}\n*** (run as root with the packages \
         .ci/run installs; under CI=true this is a failure)\n"
    );
    let _ = std::io::stderr().write_all(msg.as_bytes());
    false
}

/// Run a command to completion; panic with its output if it fails (a broken lab is a failed
/// test).
pub fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Like [`run`] but the failure is returned.
pub fn try_run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {args:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{args:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Hosts of the star. `t1`, `t2` and `dns` hang off `scraper`, each on its own /24.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Scraper,
    T1,
    T2,
    Dns,
}

impl Host {
    fn name(self) -> &'static str {
        match self {
            Host::Scraper => "scraper",
            Host::T1 => "t1",
            Host::T2 => "t2",
            Host::Dns => "dns",
        }
    }
    fn subnet(self) -> u8 {
        match self {
            Host::Scraper => 0,
            Host::T1 => 1,
            Host::T2 => 2,
            Host::Dns => 3,
        }
    }
    /// The host's address (the scraper's address on the link to `t1`).
    pub fn ip(self) -> String {
        match self {
            Host::Scraper => "10.213.1.1".to_owned(),
            h => format!("10.213.{}.2", h.subnet()),
        }
    }
}

/// A process the lab started (inside a namespace).
struct Proc {
    what: String,
    child: Child,
}

/// One scenario's namespaces, processes and files.
pub struct Lab {
    pub scenario: String,
    prefix: String,
    pub dir: tempfile::TempDir,
    namespaces: Vec<String>,
    procs: Vec<Proc>,
    dnsmasq: Option<usize>,
    /// How many scrapetops were started (each gets its own stderr file).
    scrapetops: usize,
    pub started: Instant,
}

impl Lab {
    /// The lab with a scraper and the given target hosts, or `None` when skipped.
    pub fn new(scenario: &str, hosts: &[Host]) -> Option<Lab> {
        if !prerequisites_or_skip(scenario) {
            return None;
        }
        remove_leftovers();
        let prefix = format!("st{}-{scenario}", std::process::id());
        let mut lab = Lab {
            scenario: scenario.to_owned(),
            prefix,
            dir: tempfile::Builder::new()
                .prefix(&format!("scrapetop-netns-{scenario}-"))
                .tempdir()
                .expect("temp dir"),
            namespaces: Vec::new(),
            procs: Vec::new(),
            dnsmasq: None,
            scrapetops: 0,
            started: Instant::now(),
        };
        lab.add_ns(Host::Scraper);
        for &h in hosts {
            lab.add_ns(h);
            let (s, t) = (lab.ns(Host::Scraper), lab.ns(h));
            let vs = format!("v{}", h.name());
            run(&[
                "ip", "-n", &s, "link", "add", &vs, "type", "veth", "peer", "name", "eth0",
                "netns", &t,
            ]);
            let n = h.subnet();
            run(&[
                "ip",
                "-n",
                &s,
                "addr",
                "add",
                &format!("10.213.{n}.1/24"),
                "dev",
                &vs,
            ]);
            run(&[
                "ip",
                "-n",
                &t,
                "addr",
                "add",
                &format!("10.213.{n}.2/24"),
                "dev",
                "eth0",
            ]);
            run(&["ip", "-n", &s, "link", "set", &vs, "up"]);
            run(&["ip", "-n", &t, "link", "set", "eth0", "up"]);
        }
        Some(lab)
    }

    fn add_ns(&mut self, h: Host) {
        let name = self.ns(h);
        run(&["ip", "netns", "add", &name]);
        self.namespaces.push(name.clone());
        run(&["ip", "-n", &name, "link", "set", "lo", "up"]);
    }

    /// The namespace name of a host.
    pub fn ns(&self, h: Host) -> String {
        format!("{}-{}", self.prefix, h.name())
    }

    /// Run a command inside a host, to completion.
    pub fn exec(&self, h: Host, args: &[&str]) -> String {
        let ns = self.ns(h);
        let mut all = vec!["ip", "netns", "exec", &ns];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Like [`Lab::exec`], failure returned.
    pub fn try_exec(&self, h: Host, args: &[&str]) -> Result<String, String> {
        let ns = self.ns(h);
        let mut all = vec!["ip", "netns", "exec", &ns];
        all.extend_from_slice(args);
        try_run(&all)
    }

    /// Add an iptables rule (`-A INPUT ...`) inside a host.
    pub fn iptables(&self, h: Host, rule: &[&str]) {
        let mut args = vec!["iptables", "-w"];
        args.extend_from_slice(rule);
        self.exec(h, &args);
    }

    /// Load conntrack for the host's INPUT chain: accept ESTABLISHED,RELATED. Must come before
    /// anything connects, or the flows are first seen mid-stream and count as NEW.
    pub fn conntrack_established_accept(&self, h: Host) {
        self.iptables(
            h,
            &[
                "-A",
                "INPUT",
                "-m",
                "conntrack",
                "--ctstate",
                "ESTABLISHED,RELATED",
                "-j",
                "ACCEPT",
            ],
        );
    }

    /// Established TCP connections on the host's local `port` (server side), as `ss` shows.
    pub fn established_on_port(&self, h: Host, port: u16) -> Vec<String> {
        let filter = format!("( sport = :{port} )");
        self.exec(h, &["ss", "-tnH", "state", "established", &filter])
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// Start a long-running program inside a host; returns its index. `ready` (if given) is a
    /// line to wait for on stdout.
    pub fn spawn(&mut self, h: Host, what: &str, args: &[&str], ready: Option<&str>) -> usize {
        let log = self.dir.path().join(format!("{what}.log"));
        let err = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns(h)])
            .args(args)
            .stdin(Stdio::null())
            .stdout(if ready.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        if let Some(ready) = ready {
            let out = child.stdout.take().expect("stdout");
            let (tx, rx) = channel();
            let ready = ready.to_owned();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if line.trim() == ready {
                        let _ = tx.send(());
                    }
                }
            });
            if rx.recv_timeout(Duration::from_secs(10)).is_err() {
                let _ = child.kill();
                panic!("{what} not ready in 10s: {}", read(&log));
            }
        }
        self.procs.push(Proc {
            what: what.to_owned(),
            child,
        });
        self.procs.len() - 1
    }

    /// Kill one started program (by its pid) and wait for it.
    pub fn kill(&mut self, idx: usize) {
        let p = &mut self.procs[idx];
        let _ = p.child.kill();
        let _ = p.child.wait();
    }

    /// Wait until something accepts TCP connections on `ip:port` from the scraper.
    pub fn wait_listening(&self, h: Host, port: u16, within: Duration) {
        let deadline = Instant::now() + within;
        let filter = format!("( sport = :{port} )");
        loop {
            let out = self.exec(h, &["ss", "-tlnH", &filter]);
            if !out.trim().is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nothing listens on {h:?}:{port} after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The project's own exporter on `ports` (e.g. `9100` or `20000-20499`) of host `h`.
    pub fn testexporter(&mut self, h: Host, ports: &str) -> usize {
        let ip = h.ip();
        self.spawn(
            h,
            &format!("testexporter-{}", h.name()),
            &[HELPER, "serve", &ip, ports, "20"],
            Some("ready"),
        )
    }

    /// prometheus-node-exporter from Debian on `addr` inside `h`.
    pub fn node_exporter(&mut self, h: Host, addr: &str) -> usize {
        let listen = format!("--web.listen-address={addr}");
        let port: u16 = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        let i = self.spawn(
            h,
            &format!("node-exporter-{}", h.name()),
            &[
                "prometheus-node-exporter",
                &listen,
                "--collector.disable-defaults",
                "--collector.loadavg",
                "--collector.meminfo",
                "--collector.time",
            ],
            None,
        );
        self.wait_listening(h, port, Duration::from_secs(10));
        i
    }

    fn hosts_file(&self) -> PathBuf {
        self.dir.path().join("dns-hosts")
    }

    /// Point `name` at `ip` in the DNS server's records (and make it re-read them if running).
    pub fn dns_record(&self, name: &str, ip: &str) {
        std::fs::write(self.hosts_file(), format!("{ip} {name}\n")).expect("hosts file");
        if let Some(i) = self.dnsmasq {
            let pid = self.procs[i].child.id() as i32;
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::HUP);
            }
        }
    }

    /// dnsmasq from Debian on the `dns` host, port 53, answering only from the lab's records
    /// (no /etc/hosts, no upstream from /etc/resolv.conf), TTL 1 s.
    pub fn start_dns(&mut self) {
        let hosts = format!("--addn-hosts={}", self.hosts_file().display());
        let listen = format!("--listen-address={}", Host::Dns.ip());
        let log = format!(
            "--log-facility={}",
            self.dir.path().join("dnsmasq-queries.log").display()
        );
        let i = self.spawn(
            Host::Dns,
            "dnsmasq",
            &[
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                &hosts,
                &listen,
                "--bind-interfaces",
                "--port=53",
                "--local-ttl=1",
                "--pid-file=",
                "--user=root",
                "--group=root",
                "--log-queries",
                &log,
            ],
            None,
        );
        self.dnsmasq = Some(i);
        self.wait_udp_listening(Host::Dns, 53);
    }

    fn wait_udp_listening(&self, h: Host, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let filter = format!("( sport = :{port} )");
        while self.exec(h, &["ss", "-ulnH", &filter]).trim().is_empty() {
            assert!(
                Instant::now() < deadline,
                "DNS server not listening after 10s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the DNS server (the records stay for a restart).
    pub fn stop_dns(&mut self) {
        if let Some(i) = self.dnsmasq.take() {
            self.kill(i);
        }
    }

    /// The DNS server's address for `--dns-server`.
    pub fn dns_server(&self) -> String {
        format!("{}:53", Host::Dns.ip())
    }

    /// Start scrapetop headless inside the scraper host. `prefix` goes before the binary
    /// (e.g. `prlimit --nofile=N:N`).
    pub fn scrapetop(&mut self, prefix: &[&str], args: &[&str]) -> Scrapetop {
        self.scrapetops += 1;
        let log = match self.scrapetops {
            1 => self.dir.path().join("scrapetop.stderr"),
            n => self.dir.path().join(format!("scrapetop-{n}.stderr")),
        };
        let err = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns(Host::Scraper)])
            .args(prefix)
            .arg(SCRAPETOP)
            .arg("--headless")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("start scrapetop");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                // Every line must be an event of the contract (typed: a renamed or missing
                // field fails here), else the scenario fails on it with the reason.
                let ev = match crate::lines::check(&line) {
                    Ok(crate::lines::Line::Event(ev)) => Ok(ev),
                    Ok(crate::lines::Line::State(_)) => Err(format!("unasked state: {line}")),
                    Err(e) => Err(e),
                };
                if tx.send(ev).is_err() {
                    break;
                }
            }
        });
        Scrapetop {
            child,
            rx,
            recent: VecDeque::new(),
            scenario: self.scenario.clone(),
            started: Instant::now(),
            stderr: log,
        }
    }

    /// The real Prometheus (Debian) inside the scraper host, scraping `targets` as job
    /// `targets` every second. Its resolver is pointed at the lab's DNS server by a bind mount
    /// over /etc/resolv.conf, private to the mount namespace `ip netns exec` creates.
    pub fn prometheus(&mut self, targets: &[&str]) -> Prometheus {
        let dir = self.dir.path().join("prometheus");
        std::fs::create_dir_all(dir.join("data")).expect("prometheus dir");
        let list = targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let cfg = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 800ms\nscrape_configs:\n  \
             - job_name: targets\n    static_configs:\n      - targets: [{list}]\n"
        );
        let cfg_path = dir.join("prometheus.yml");
        std::fs::write(&cfg_path, cfg).expect("prometheus config");
        let resolv = dir.join("resolv.conf");
        std::fs::write(
            &resolv,
            format!(
                "nameserver {}\noptions timeout:1 attempts:1\n",
                Host::Dns.ip()
            ),
        )
        .expect("resolv.conf");
        let config = format!("--config.file={}", cfg_path.display());
        let data = format!("--storage.tsdb.path={}", dir.join("data").display());
        let resolv = resolv.display().to_string();
        self.spawn(
            Host::Scraper,
            "prometheus",
            &[
                "sh",
                "-c",
                "mount --bind \"$0\" /etc/resolv.conf && exec prometheus \"$@\"",
                &resolv,
                &config,
                &data,
                "--web.listen-address=127.0.0.1:9090",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            None,
        );
        self.wait_listening(Host::Scraper, 9090, Duration::from_secs(20));
        Prometheus {
            ns: self.ns(Host::Scraper),
        }
    }

    /// Contents of a log file the lab wrote, for failure messages.
    pub fn log(&self, what: &str) -> String {
        read(&self.dir.path().join(format!("{what}.log")))
    }

    /// Seconds since the lab was built, for timing lines.
    pub fn t(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Print a step with its time, so `--nocapture` shows the scenario's timeline.
    pub fn step(&self, what: &str) {
        eprintln!("[{} +{:6.2}s] {what}", self.scenario, self.t());
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        for ns in &self.namespaces {
            kill_namespace_pids(ns);
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        if std::thread::panicking() {
            eprintln!(
                "[{}] failed; processes: {}",
                self.scenario,
                self.procs
                    .iter()
                    .map(|p| p.what.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
}

/// Kill whatever still runs in one of the lab's own namespaces (all started by the lab).
fn kill_namespace_pids(ns: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if let Some(pid) = pid.parse().ok().and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Namespaces left by an earlier run of this suite that was killed before its `Drop` ran
/// (named `st<pid>-…` with that pid gone).
fn remove_leftovers() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix("st")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let ours = name.split('-').count() == 3
            && ["-scraper", "-t1", "-t2", "-dns"]
                .iter()
                .any(|h| name.ends_with(h));
        if !ours || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        kill_namespace_pids(name);
        let _ = Command::new("ip").args(["netns", "del", name]).status();
    }
}

/// scrapetop running headless in the lab: its typed events, and commands to it.
pub struct Scrapetop {
    pub child: Child,
    rx: Receiver<Result<Event, String>>,
    recent: VecDeque<String>,
    scenario: String,
    started: Instant,
    stderr: PathBuf,
}

impl Scrapetop {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next event within `deadline`: `None` on timeout or end; a line that is not an
    /// event of the contract fails the scenario here.
    fn next(&mut self, deadline: Instant) -> Result<Event, RecvTimeoutError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = match self.rx.recv_timeout(left)? {
            Ok(ev) => ev,
            Err(e) => panic!("[{}] {e}; last events:\n{}", self.scenario, self.recent()),
        };
        if self.recent.len() == 60 {
            self.recent.pop_front();
        }
        self.recent.push_back(show(&ev));
        Ok(ev)
    }

    fn recent(&self) -> String {
        self.recent.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// The next event matching `pred`, within `within`; panics with the last events otherwise.
    pub fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Event {
        let deadline = Instant::now() + within;
        loop {
            match self.next(deadline) {
                Ok(ev) if pred(&ev) => return ev,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!(
                    "[{}] timed out after {within:?} waiting for {what}; last events:\n{}",
                    self.scenario,
                    self.recent()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "[{}] scrapetop's output ended waiting for {what}; last events:\n{}",
                    self.scenario,
                    self.recent()
                ),
            }
        }
    }

    /// The next event of a kind, within `within`: what `get` takes out of it (`scrape`,
    /// `conn_opened`, …).
    pub fn wait_kind<T>(
        &mut self,
        what: &str,
        within: Duration,
        get: impl Fn(&Event) -> Option<T>,
    ) -> T {
        let ev = self.wait_for(what, within, |e| get(e).is_some());
        get(&ev).unwrap_or_else(|| unreachable!())
    }

    /// Every event for `d`.
    pub fn collect(&mut self, d: Duration) -> Vec<Event> {
        let deadline = Instant::now() + d;
        let mut got = Vec::new();
        while let Ok(ev) = self.next(deadline) {
            got.push(ev);
        }
        got
    }

    /// Every event until one matches `pred` (included), within `within`.
    pub fn collect_until(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Vec<Event> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        loop {
            match self.next(deadline) {
                Ok(ev) => {
                    let hit = pred(&ev);
                    got.push(ev);
                    if hit {
                        return got;
                    }
                }
                Err(_) => panic!(
                    "[{}] no {what} within {within:?}; last events:\n{}",
                    self.scenario,
                    self.recent()
                ),
            }
        }
    }

    /// Send a JSON command line.
    pub fn send(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("write command");
        stdin.flush().expect("flush command");
    }

    /// Send `quit` (stdin stays open) and return the exit status.
    pub fn quit(mut self) -> Option<i32> {
        self.send(r#"{"cmd":"quit"}"#);
        if let Some(code) = self.wait_exit(Duration::from_secs(5)) {
            return code;
        }
        panic!(
            "[{}] scrapetop did not exit within 5s of quit; last events:\n{}\nstderr:\n{}",
            self.scenario,
            self.recent(),
            read(&self.stderr)
        );
    }

    fn wait_exit(&mut self, within: Duration) -> Option<Option<i32>> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st.code());
            }
            let _ = self.collect(Duration::from_millis(50));
        }
        None
    }

    /// Seconds since start.
    pub fn t(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

impl Drop for Scrapetop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real Prometheus in the scraper host, read through its HTTP API.
pub struct Prometheus {
    ns: String,
}

/// One target as `/api/v1/targets` shows it.
#[derive(Debug, Clone)]
pub struct PromTarget {
    pub health: String,
    pub last_error: String,
    pub last_scrape: String,
}

impl Prometheus {
    /// The state of the (only) target, if Prometheus answers and has scraped it.
    pub fn target(&self) -> Option<PromTarget> {
        let out = try_run(&[
            "ip",
            "netns",
            "exec",
            &self.ns,
            HELPER,
            "get",
            "http://127.0.0.1:9090/api/v1/targets",
        ])
        .ok()?;
        let v: Value = serde_json::from_str(&out).ok()?;
        let t = v["data"]["activeTargets"].get(0)?;
        Some(PromTarget {
            health: t["health"].as_str()?.to_owned(),
            last_error: t["lastError"].as_str().unwrap_or("").to_owned(),
            last_scrape: t["lastScrape"].as_str().unwrap_or("").to_owned(),
        })
    }

    /// Wait until Prometheus reports `health` ("up"/"down") for its target.
    pub fn wait_health(&self, health: &str, within: Duration) -> PromTarget {
        let deadline = Instant::now() + within;
        let mut last = None;
        loop {
            if let Some(t) = self.target() {
                if t.health == health {
                    return t;
                }
                last = Some(t);
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus did not report {health} within {within:?}; last: {last:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Watch Prometheus for `d`: every observed scrape must report `health`. Returns how many
    /// distinct scrapes were seen.
    pub fn stays(&self, health: &str, d: Duration) -> usize {
        let deadline = Instant::now() + d;
        let mut seen = std::collections::HashSet::new();
        while Instant::now() < deadline {
            if let Some(t) = self.target() {
                assert_eq!(t.health, health, "Prometheus changed its mind: {t:?}");
                seen.insert(t.last_scrape);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        seen.len()
    }
}

/// An event as its JSON line, for failure messages.
pub fn show(ev: &Event) -> String {
    serde_json::to_string(ev).unwrap_or_else(|e| format!("{ev:?} ({e})"))
}

/// Events as JSON lines, for failure messages.
pub fn show_all<'a>(evs: impl IntoIterator<Item = &'a Event>) -> String {
    evs.into_iter().map(show).collect::<Vec<_>>().join("\n")
}

/// The instance of the target an event is about ("" for engine-wide events).
pub fn instance(ev: &Event) -> &str {
    ev.target.as_ref().map_or("", |t| &*t.instance)
}

/// The job of the target an event is about ("" for engine-wide events).
pub fn job(ev: &Event) -> &str {
    ev.target.as_ref().map_or("", |t| &*t.job)
}

/// Typed views of one event kind each, for `filter_map` and [`Scrapetop::wait_kind`].
pub fn scrape(ev: &Event) -> Option<&ScrapeResult> {
    match &ev.kind {
        EventKind::Scrape(s) => Some(s),
        _ => None,
    }
}

pub fn probe(ev: &Event) -> Option<&ProbeResult> {
    match &ev.kind {
        EventKind::Probe(p) => Some(p),
        _ => None,
    }
}

pub fn opened(ev: &Event) -> Option<&ConnInfo> {
    match &ev.kind {
        EventKind::ConnOpened(c) => Some(c),
        _ => None,
    }
}

pub fn census(ev: &Event) -> Option<&FdCensus> {
    match &ev.kind {
        EventKind::Fds(c) => Some(c),
        _ => None,
    }
}

/// A `conn_closed`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Closed {
    pub conn_id: u64,
    pub reason: CloseReason,
    pub lifetime_s: f64,
    pub requests: u64,
}

pub fn closed(ev: &Event) -> Option<Closed> {
    match ev.kind {
        EventKind::ConnClosed {
            conn_id,
            reason,
            lifetime_s,
            requests,
            ..
        } => Some(Closed {
            conn_id,
            reason,
            lifetime_s,
            requests,
        }),
        _ => None,
    }
}

/// A `conn_failed`: its kind and error text.
pub fn conn_failed(ev: &Event) -> Option<(ConnFailKind, &str)> {
    match &ev.kind {
        EventKind::ConnFailed { kind, error, .. } => Some((*kind, error.as_str())),
        _ => None,
    }
}

/// A lookup's outcome: `Ok(addresses)` from `dns_resolved`, `Err(kind)` from `dns_failed`,
/// with its cause.
pub fn lookup(
    ev: &Event,
) -> Option<(
    DnsCause,
    Result<&[std::net::IpAddr], scrapetop::event::DnsFailKind>,
)> {
    match &ev.kind {
        EventKind::DnsResolved { addrs, cause, .. } => Some((*cause, Ok(addrs.as_slice()))),
        EventKind::DnsFailed { kind, cause, .. } => Some((*cause, Err(*kind))),
        _ => None,
    }
}

/// A `stale_peer`: the connection, its peer, the current answer.
pub fn stale_peer(ev: &Event) -> Option<(u64, std::net::SocketAddr, Vec<std::net::IpAddr>)> {
    match &ev.kind {
        EventKind::StalePeer {
            conn_id,
            peer,
            addrs,
        } => Some((*conn_id, *peer, addrs.clone())),
        _ => None,
    }
}

/// A `reload`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reload {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub conns_kept: u64,
    pub conns_closed: u64,
    pub error: Option<String>,
}

pub fn reload(ev: &Event) -> Option<Reload> {
    match &ev.kind {
        EventKind::Reload {
            added,
            removed,
            changed,
            conns_kept,
            conns_closed,
            error,
        } => Some(Reload {
            added: *added,
            removed: *removed,
            changed: *changed,
            conns_kept: *conns_kept,
            conns_closed: *conns_closed,
            error: error.clone(),
        }),
        _ => None,
    }
}

/// A scrape that succeeded / failed.
pub fn is_up(ev: &Event) -> bool {
    scrape(ev).is_some_and(|s| s.up)
}

pub fn is_down(ev: &Event) -> bool {
    scrape(ev).is_some_and(|s| !s.up)
}

/// Predicates over JSON values, for suites with a reader of their own (attach).
pub fn is(ev: &Value, name: &str) -> bool {
    ev["event"] == name
}

pub fn scrape_up(ev: &Value) -> bool {
    is(ev, "scrape") && ev["up"] == true
}
