//! `scrapetop attach` against a real Prometheus (Debian's 2.42) in a network namespace, with
//! scrapetop itself in the host namespace: what it reports is checked against the kernel (`ss`
//! in Prometheus's namespace) and the targets' side of each connection.
//!
//! Needs root and the packages `tests/netns/lab.rs` lists; skipped loudly otherwise (a failure
//! under `CI=true`). Run under the suite lock:
//! `flock /tmp/scrapetop-suite.lock cargo test --test attach -- --nocapture`.

#[path = "netns/lab.rs"]
mod lab;
// lab.rs checks every scrapetop line against the event contract through the shared reader.
#[allow(dead_code, unused_macros)]
#[path = "common/lines.rs"]
mod lines;

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use lab::{HELPER, Host, Lab, SCRAPETOP, is};
use serde_json::Value;

/// The scenarios run one at a time: "the one Prometheus running" must be the only one.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// scrapetop attach, headless, in the host namespace.
struct Attached {
    child: Child,
    rx: Receiver<Value>,
    recent: VecDeque<Value>,
    stderr: std::path::PathBuf,
}

impl Attached {
    fn start(lab: &Lab, args: &[&str]) -> Attached {
        Attached::start_under(lab, "attach", &[], args)
    }

    /// Started through `prefix` (e.g. `setpriv …`), its stderr in `NAME.stderr`.
    fn start_under(lab: &Lab, name: &str, prefix: &[&str], args: &[&str]) -> Attached {
        let stderr = lab.dir.path().join(format!("{name}.stderr"));
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(SCRAPETOP);
                c
            }
            None => Command::new(SCRAPETOP),
        };
        let mut child = cmd
            .arg("attach")
            .args(args)
            .arg("--headless")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start scrapetop attach");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| Value::String(format!("NOT JSON ({e}): {line}")));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Attached {
            child,
            rx,
            recent: VecDeque::new(),
            stderr,
        }
    }

    fn context(&self) -> String {
        let evs: Vec<String> = self.recent.iter().map(|v| v.to_string()).collect();
        format!(
            "last events:\n{}\nstderr:\n{}",
            evs.join("\n"),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// Every event until `pred` matches (included).
    fn until(&mut self, what: &str, within: Duration, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(v) => {
                    assert!(v["event"].is_string(), "not an event: {v}");
                    if self.recent.len() == 80 {
                        self.recent.pop_front();
                    }
                    self.recent.push_back(v.clone());
                    let hit = pred(&v);
                    got.push(v);
                    if hit {
                        return got;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {what} within {within:?}; {}", self.context())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("output ended waiting for {what}; {}", self.context())
                }
            }
        }
    }

    /// The next event before `deadline`.
    fn next_before(&mut self, deadline: Instant, what: &str) -> Value {
        self.until(
            what,
            deadline.saturating_duration_since(Instant::now()),
            |_| true,
        )
        .pop()
        .expect("one event")
    }

    fn wait_for(&mut self, what: &str, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        self.until(what, within, pred).pop().expect("matched event")
    }

    fn collect(&mut self, d: Duration) -> Vec<Value> {
        let deadline = Instant::now() + d;
        let mut got = Vec::new();
        while let Ok(v) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            got.push(v);
        }
        got
    }

    fn send(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("write command");
        stdin.flush().expect("flush");
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One of Prometheus's established sockets as `ss -tnp` shows it in its namespace.
#[derive(Debug, Clone, PartialEq)]
struct Kernel {
    local: SocketAddr,
    peer: SocketAddr,
    fd: i32,
}

fn plain_addr(s: &str) -> Option<SocketAddr> {
    let s = s.replace("[::ffff:", "").replace("]:", ":");
    s.parse().ok()
}

/// Prometheus's established TCP sockets, from `ss` in its namespace.
fn kernel_sockets(lab: &Lab, pid: i32) -> Vec<Kernel> {
    let out = lab.exec(Host::Scraper, &["ss", "-tnpH", "state", "established"]);
    let needle = format!("pid={pid},fd=");
    out.lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let users = cols.get(4..)?.join(" ");
            let at = users.find(&needle)? + needle.len();
            let fd: i32 = users[at..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
                .parse()
                .ok()?;
            Some(Kernel {
                local: plain_addr(cols.get(2)?)?,
                peer: plain_addr(cols.get(3)?)?,
                fd,
            })
        })
        .collect()
}

/// The client side addresses of the connections established to a target's `port`, as the
/// target's own kernel shows them (the "accept log").
fn accepted_from(lab: &Lab, h: Host, port: u16) -> Vec<SocketAddr> {
    lab.established_on_port(h, port)
        .iter()
        .filter_map(|l| l.split_whitespace().nth(3).and_then(plain_addr))
        .collect()
}

fn addr(v: &Value, field: &str) -> SocketAddr {
    v[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{field} of {v}"))
}

/// Prometheus (Debian) in the scraper namespace with its own hosts file and resolv.conf
/// (bind mounts private to the mount namespace `ip netns exec` creates). Returns its pid and
/// the path of its hosts file.
fn prometheus(lab: &mut Lab, config: &str) -> (i32, std::path::PathBuf, usize) {
    let dir = lab.dir.path().join("prometheus");
    std::fs::create_dir_all(dir.join("data")).expect("prometheus dir");
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, config).expect("config");
    let resolv = dir.join("resolv.conf");
    std::fs::write(
        &resolv,
        format!(
            "nameserver {}\noptions timeout:1 attempts:1\n",
            Host::Dns.ip()
        ),
    )
    .expect("resolv.conf");
    let hosts = dir.join("hosts");
    std::fs::write(
        &hosts,
        format!("127.0.0.1 localhost\n{} files.lab\n", Host::T1.ip()),
    )
    .expect("hosts");
    let config = format!("--config.file={}", cfg.display());
    let data = format!("--storage.tsdb.path={}", dir.join("data").display());
    let idx = lab.spawn(
        Host::Scraper,
        "prometheus",
        &[
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/resolv.conf && mount --bind \"$1\" /etc/hosts && shift \
             && exec prometheus \"$@\"",
            &resolv.display().to_string(),
            &hosts.display().to_string(),
            &config,
            &data,
            "--web.listen-address=127.0.0.1:9090",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ],
        None,
    );
    lab.wait_listening(Host::Scraper, 9090, secs(20));
    (prometheus_pid(lab), hosts, idx)
}

fn prometheus_pid(lab: &Lab) -> i32 {
    let out = lab::run(&["ip", "netns", "pids", &lab.ns(Host::Scraper)]);
    out.split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .find(|p| {
            std::fs::read_link(format!("/proc/{p}/exe"))
                .is_ok_and(|e| e.file_name().is_some_and(|n| n == "prometheus"))
        })
        .expect("prometheus pid")
}

/// Prometheus's `/api/v1/targets`, read from inside its namespace.
fn api_targets(lab: &Lab) -> Vec<Value> {
    let out = lab.exec(
        Host::Scraper,
        &[HELPER, "get", "http://127.0.0.1:9090/api/v1/targets"],
    );
    let v: Value = serde_json::from_str(&out).expect("targets JSON");
    v["data"]["activeTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A client of Prometheus's own listener, held open from inside its namespace: an inbound
/// socket scrapetop must not attribute to any target.
fn hold_inbound(lab: &Lab) -> TcpStream {
    let ns = format!("/var/run/netns/{}", lab.ns(Host::Scraper));
    std::thread::spawn(move || {
        let f = std::fs::File::open(&ns).expect("netns file");
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&f),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns");
        TcpStream::connect("127.0.0.1:9090").expect("connect to Prometheus")
    })
    .join()
    .expect("inbound thread")
}

const CONFIG: &str = "global:
  scrape_interval: 1s
  scrape_timeout: 800ms
scrape_configs:
  - job_name: byip
    static_configs:
      - targets: ['10.213.1.2:9100', '10.213.2.2:9100']
  - job_name: byname
    static_configs:
      - targets: ['files.lab:9101', 'dns.lab:9103']
  - job_name: blackbox
    metrics_path: /probe
    params:
      module: [http_2xx]
    static_configs:
      - targets: ['http://a.example', 'http://b.example']
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 10.213.2.2:9102
  - job_name: self
    static_configs:
      - targets: ['127.0.0.1:9090']
  - job_name: proxied
    proxy_url: http://127.0.0.1:3128
    static_configs:
      - targets: ['10.213.2.2:9102', '10.213.2.2:9103']
";

/// A small forward proxy (Python's standard library) for the job with `proxy_url`.
const FORWARD_PROXY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/netns/forward_proxy.py");
const PROXY_POOL: &str = "proxied/http://127.0.0.1:3128";

/// Attributed connections still open, by conn id, kept from the event stream.
#[derive(Default)]
struct Open(HashMap<u64, Value>);

impl Open {
    fn apply(&mut self, e: &Value) {
        let id = e["conn_id"].as_u64();
        if is(e, "conn_opened") {
            self.0.insert(id.expect("conn_id"), e.clone());
        } else if is(e, "conn_closed") {
            self.0.remove(&id.expect("conn_id"));
        }
    }

    fn in_pool(&self, pool: &str) -> Vec<&Value> {
        self.0.values().filter(|c| c["pool"] == pool).collect()
    }

    fn as_kernel(&self) -> Vec<Kernel> {
        let mut v: Vec<Kernel> = self
            .0
            .values()
            .map(|c| Kernel {
                local: addr(c, "local"),
                peer: addr(c, "peer"),
                fd: c["fd"].as_i64().expect("fd") as i32,
            })
            .collect();
        v.sort_by_key(|k| (k.local, k.peer));
        v
    }
}

const POOLS: [&str; 7] = [
    "byip/http://10.213.1.2:9100",
    "byip/http://10.213.2.2:9100",
    "byname/http://files.lab:9101",
    "byname/http://dns.lab:9103",
    "blackbox/http://10.213.2.2:9102",
    "self/http://127.0.0.1:9090",
    PROXY_POOL,
];

/// Read events for `d`, applying them to `open`; returns them.
fn drain(st: &mut Attached, open: &mut Open, d: Duration) -> Vec<Value> {
    let evs = st.collect(d);
    for e in &evs {
        open.apply(e);
    }
    evs
}

/// The whole story on one Prometheus: attribution checked against the kernel, inbound sockets
/// left alone, a moved name flagged stale while Prometheus stays on the old peer, a reconnect
/// that makes it dial the new address, probes (one hiding a failure), reload, and a restart
/// re-attached by itself.
#[test]
fn attach_sees_what_the_kernel_sees_and_acts_on_it() {
    let _serial = serial();
    let Some(mut lab) = Lab::new("attach", &[Host::T1, Host::T2, Host::Dns]) else {
        return;
    };
    lab.conntrack_established_accept(Host::T1);
    lab.testexporter(Host::T1, "9100-9101");
    lab.testexporter(Host::T2, "9100-9103");
    lab.dns_record("dns.lab", &Host::T2.ip());
    lab.start_dns();
    lab.spawn(
        Host::Scraper,
        "forward-proxy",
        &["python3", FORWARD_PROXY, "127.0.0.1", "3128"],
        Some("ready"),
    );
    let (pid, hosts, prom_idx) = prometheus(&mut lab, CONFIG);
    lab.step(&format!("prometheus pid {pid}"));
    let inbound = hold_inbound(&lab);
    let inbound_local = inbound.local_addr().expect("inbound addr");

    let pid_s = pid.to_string();
    let mut st = Attached::start(&lab, &[&pid_s]);
    let mut open = Open::default();
    let mut added: HashMap<String, Value> = HashMap::new();
    let mut scraped: HashMap<String, bool> = HashMap::new();
    let deadline = Instant::now() + secs(40);
    while !(POOLS.iter().all(|p| !open.in_pool(p).is_empty()) && scraped.len() == 9) {
        let missing: Vec<&str> = POOLS
            .iter()
            .filter(|p| open.in_pool(p).is_empty())
            .copied()
            .collect();
        let what = format!(
            "a connection in each pool (missing {missing:?}) and 9 targets up (have {})",
            scraped.len()
        );
        let e = st.next_before(deadline, &what);
        open.apply(&e);
        // Each fact says where it came from.
        let origin = match e["event"].as_str().unwrap_or("") {
            "conn_opened" | "conn_closed" | "fds" => "kernel",
            "target_added" | "scrape" => "api",
            "dns_resolved" | "dns_failed" | "stale_peer" => "resolver",
            _ => "",
        };
        if !origin.is_empty() {
            assert_eq!(e["source"], origin, "{e}");
        } else {
            assert!(e.get("source").is_none(), "{e}");
        }
        if is(&e, "target_added") {
            added.insert(e["target"].as_str().expect("id").to_owned(), e.clone());
        }
        if is(&e, "scrape") && e["up"] == true {
            scraped.insert(e["target"].as_str().expect("id").to_owned(), true);
        }
    }
    lab.step("every pool has its connection");

    // The target ids are those of Prometheus's own labels + scrapeUrl.
    let api = api_targets(&lab);
    assert_eq!(api.len(), 9, "{api:?}");
    for t in &api {
        let labels: Vec<(&str, &str)> = t["labels"]
            .as_object()
            .expect("labels")
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
            .collect();
        let id = scrapetop::event::TargetId::of(labels, t["scrapeUrl"].as_str().expect("url"));
        assert!(added.contains_key(&id.to_string()), "{t} not added as {id}");
    }
    assert_eq!(added.len(), 9);
    // A proxied job's targets share the proxy's pool: their connections lead there.
    let proxied: Vec<&Value> = added.values().filter(|e| e["job"] == "proxied").collect();
    assert_eq!(proxied.len(), 2, "{proxied:?}");
    for e in &proxied {
        assert_eq!(e["pool"], PROXY_POOL, "{e}");
        assert!(
            e["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("http://10.213.2.2:910")),
            "{e}"
        );
    }

    // Against the kernel: the attributed connections are exactly Prometheus's outbound
    // sockets, with the right fd, local and peer; the inbound ones (its listener's clients,
    // including ours and the one held here) are not attributed.
    let mut last = (Vec::new(), Vec::new());
    let mut agreed = false;
    for _ in 0..10 {
        drain(&mut st, &mut open, Duration::from_millis(1200));
        let mut outbound: Vec<Kernel> = kernel_sockets(&lab, pid)
            .into_iter()
            .filter(|k| k.local.port() != 9090)
            .collect();
        outbound.sort_by_key(|k| (k.local, k.peer));
        let ours = open.as_kernel();
        if ours == outbound {
            agreed = true;
            break;
        }
        last = (ours, outbound);
    }
    assert!(
        agreed,
        "attributed vs kernel outbound:\n{:?}\n{:?}",
        last.0, last.1
    );
    let ks = kernel_sockets(&lab, pid);
    assert!(
        ks.iter()
            .any(|k| k.peer == inbound_local && k.local.port() == 9090),
        "the held inbound socket is Prometheus's: {ks:?}"
    );
    for c in open.0.values() {
        assert_ne!(addr(c, "local").port(), 9090, "inbound attributed: {c}");
    }
    // The proxy pool: Prometheus's sockets to the proxy, nothing else. The proxy's own
    // sockets to the targets (the kernel shows them, owned by python3) are not Prometheus's and
    // not attributed: no socket of the proxied targets is bound to them.
    let via_proxy = open.in_pool(PROXY_POOL);
    assert!(!via_proxy.is_empty());
    for c in &via_proxy {
        assert_eq!(addr(c, "peer"), "127.0.0.1:3128".parse().expect("a"), "{c}");
    }
    let ss = lab.exec(Host::Scraper, &["ss", "-tnpH", "state", "established"]);
    let upstream: Vec<&str> = ss
        .lines()
        .filter(|l| l.contains("python3") && l.contains("10.213.2.2:910"))
        .collect();
    assert!(!upstream.is_empty(), "the proxy's upstream sockets:\n{ss}");
    for l in &upstream {
        let local = l
            .split_whitespace()
            .nth(2)
            .and_then(plain_addr)
            .expect("local");
        assert!(
            open.0.values().all(|c| addr(c, "local") != local),
            "the proxy's socket {l} attributed"
        );
    }
    // One connection per plain target, as the target's own kernel sees it.
    for (h, port, pool) in [
        (Host::T1, 9100, POOLS[0]),
        (Host::T2, 9100, POOLS[1]),
        (Host::T1, 9101, POOLS[2]),
    ] {
        let conns = open.in_pool(pool);
        assert_eq!(conns.len(), 1, "{pool}: {conns:?}");
        let accepted = accepted_from(&lab, h, port);
        assert_eq!(
            accepted,
            vec![addr(conns[0], "local")],
            "{pool} as {h:?} sees it"
        );
    }

    // The descriptor census of the attached process.
    let fds = st.wait_for("an fds census", secs(10), |e| is(e, "fds"));
    let target_sockets = fds["target_sockets"].as_u64().expect("target_sockets");
    assert!(target_sockets >= 6, "{fds}");
    assert!(
        fds["sockets"].as_u64().expect("sockets") > target_sockets,
        "{fds}"
    );
    assert!(fds["soft_limit"].as_u64().expect("limit") > 0, "{fds}");
    assert!(fds["tsdb_files"].as_u64().expect("tsdb") >= 1, "{fds}");

    // A DNS move (Prometheus's hosts file): flagged stale while Prometheus stays on the old
    // peer and stays up.
    let files_id = added
        .iter()
        .find(|(_, e)| e["pool"] == POOLS[2])
        .map(|(id, _)| id.clone())
        .expect("files.lab target");
    lab.step("moving files.lab to t2");
    std::fs::write(
        &hosts,
        format!("127.0.0.1 localhost\n{} files.lab\n", Host::T2.ip()),
    )
    .expect("hosts");
    let old = open.in_pool(POOLS[2])[0].clone();
    let evs = st.until("stale_peer for files.lab", secs(20), |e| {
        is(e, "stale_peer") && e["target"] == files_id.as_str()
    });
    for e in &evs {
        open.apply(e);
    }
    let stale = evs.last().expect("stale");
    assert_eq!(stale["source"], "resolver", "{stale}");
    assert_eq!(stale["conn_id"], old["conn_id"]);
    assert_eq!(addr(stale, "peer"), addr(&old, "peer"));
    assert_eq!(stale["addrs"][0], Host::T2.ip().as_str());
    let t1_peer: SocketAddr = format!("{}:9101", Host::T1.ip()).parse().expect("addr");
    assert!(
        kernel_sockets(&lab, pid).iter().any(|k| k.peer == t1_peer),
        "Prometheus left the old peer by itself"
    );
    let files = api_targets(&lab)
        .into_iter()
        .find(|t| t["labels"]["instance"] == "files.lab:9101")
        .expect("files target");
    assert_eq!(files["health"], "up", "{files}");

    // A reconnect: Prometheus dials afresh, resolves again, reaches the new address; the
    // row follows.
    lab.step("reconnect files.lab");
    st.send(&format!(r#"{{"cmd":"reconnect","target":"{files_id}"}}"#));
    let evs = st.until("the old connection closed as forced", secs(10), |e| {
        is(e, "conn_closed") && e["conn_id"] == old["conn_id"]
    });
    for e in &evs {
        open.apply(e);
    }
    assert_eq!(evs.last().expect("closed")["reason"], "forced");
    let evs = st.until("a connection to the new address", secs(15), |e| {
        is(e, "conn_opened") && e["pool"] == POOLS[2]
    });
    for e in &evs {
        open.apply(e);
    }
    let new = evs.last().expect("opened");
    assert_eq!(
        addr(new, "peer"),
        format!("{}:9101", Host::T2.ip()).parse().expect("a")
    );
    assert_eq!(
        accepted_from(&lab, Host::T2, 9101),
        vec![addr(new, "local")],
        "t2 accepted exactly the new connection"
    );
    assert!(
        accepted_from(&lab, Host::T1, 9101).is_empty(),
        "the old one is gone at t1"
    );

    // Probes from Prometheus's namespace, with the target's path and params.
    st.send(r#"{"cmd":"probe","job":"blackbox"}"#);
    for _ in 0..2 {
        let p = st.wait_for("a blackbox probe", secs(10), |e| is(e, "probe"));
        assert_eq!(p["ok"], true, "{p}");
        assert_eq!(p["peer"], "10.213.2.2:9102");
        assert_eq!(p["source"], "probe", "{p}");
    }
    st.send(r#"{"cmd":"probe","job":"proxied","instance":"10.213.2.2:9102"}"#);
    let p = st.wait_for("a probe through the proxy", secs(10), |e| is(e, "probe"));
    assert_eq!(p["ok"], true, "{p}");
    assert_eq!(p["peer"], "127.0.0.1:3128", "{p}");
    st.send(r#"{"cmd":"re_resolve","job":"byname"}"#);
    let r = st.wait_for("a re_resolve answer", secs(10), |e| {
        is(e, "dns_resolved") && e["cause"] == "re_resolve"
    });
    assert!(r["host"] == "files.lab" || r["host"] == "dns.lab", "{r}");

    // `scrapetop --prometheus URL` (no attach): the engine scrapes exactly the API's targets.
    lab.step("scrapetop --prometheus");
    let mut own = lab.scrapetop(&[], &["--prometheus", "http://127.0.0.1:9090"]);
    let mut ids = std::collections::HashSet::new();
    let mut up = std::collections::HashSet::new();
    let added_kind = |e: &scrapetop::event::Event| {
        matches!(e.kind, scrapetop::event::EventKind::TargetAdded { .. })
    };
    let deadline = Instant::now() + secs(20);
    while ids.len() < 9 || up.len() < 5 {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = own.wait_for("9 targets added and 5 up", left, |e| {
            added_kind(e) || lab::is_up(e)
        });
        let id = e.target.as_ref().expect("about a target").id.to_string();
        if added_kind(&e) {
            assert!(
                added.contains_key(&id),
                "not one of Prometheus's targets: {}",
                lab::show(&e)
            );
            ids.insert(id);
        } else {
            up.insert(id);
        }
    }
    let extra = own.collect(Duration::from_millis(1500));
    assert!(
        !extra.iter().any(added_kind),
        "more targets than the API's: {}",
        lab::show_all(&extra)
    );
    drop(own);

    // DROP NEW on t1:9100: Prometheus keeps scraping over its pooled connection; a fresh one
    // fails — the hidden failure.
    lab.iptables(
        Host::T1,
        &[
            "-A",
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
        ],
    );
    st.send(r#"{"cmd":"probe","job":"byip","instance":"10.213.1.2:9100"}"#);
    let p = st.wait_for("the blocked probe", secs(10), |e| is(e, "probe"));
    assert_eq!(p["ok"], false, "{p}");
    assert_eq!(p["hidden_failure"], true, "{p}");
    let t1 = api_targets(&lab)
        .into_iter()
        .find(|t| t["labels"]["instance"] == "10.213.1.2:9100")
        .expect("t1 target");
    assert_eq!(t1["health"], "up", "Prometheus does not see it: {t1}");

    // Reload through the lifecycle API.
    st.send(r#"{"cmd":"reload"}"#);
    st.wait_for("the reload notice", secs(10), |e| {
        is(e, "notice") && e["message"] == "Prometheus reloaded its configuration"
    });

    // Without CAP_NET_ADMIN, SOCK_DESTROY is refused and said so; the fallback (a duplicate
    // of Prometheus's descriptor, shut down) closes the connection and Prometheus re-dials.
    let mut nonet = Attached::start_under(
        &lab,
        "attach-no-net-admin",
        &["setpriv", "--bounding-set", "-net_admin", "--"],
        &[&pid_s],
    );
    let c = nonet.wait_for("a byip connection", secs(10), |e| {
        is(e, "conn_opened") && e["pool"] == POOLS[1]
    });
    nonet.send(r#"{"cmd":"reconnect","job":"byip","instance":"10.213.2.2:9100"}"#);
    let n = nonet.wait_for("the fallback notice", secs(10), |e| {
        is(e, "notice")
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("pidfd_getfd"))
    });
    assert!(
        n["message"]
            .as_str()
            .expect("text")
            .contains("CAP_NET_ADMIN"),
        "{n}"
    );
    let closed = nonet.wait_for("the forced close", secs(10), |e| {
        is(e, "conn_closed") && e["conn_id"] == c["conn_id"]
    });
    assert_eq!(closed["reason"], "forced", "{closed}");
    nonet.wait_for("Prometheus's new connection", secs(10), |e| {
        is(e, "conn_opened") && e["pool"] == POOLS[1]
    });
    drop(nonet);

    // Without ptrace rights over Prometheus its namespace, root and descriptors cannot be
    // read: attach degrades (its namespace assumed to be ours) and says exactly that.
    let out = Command::new("timeout")
        .args([
            "20",
            "setpriv",
            "--bounding-set",
            "-net_admin,-sys_ptrace",
            "--",
            SCRAPETOP,
        ])
        .args(["attach", &pid_s, "--headless", "--exit-on-eof"])
        .stdin(Stdio::null())
        .output()
        .expect("run attach without ptrace rights");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout.contains(&format!("cannot read /proc/{pid}/ns/net"))
            && stdout.contains("without ptrace rights over it"),
        "{stdout}"
    );

    // A restarted Prometheus (new pid, same namespace) is re-attached by itself.
    lab.step("restarting prometheus");
    lab.kill(prom_idx);
    let gone = st.wait_for("connections gone with the process", secs(10), |e| {
        is(e, "conn_closed")
    });
    assert_eq!(gone["reason"], "gone", "{gone}");
    let (pid2, _, _) = prometheus(&mut lab, CONFIG);
    assert_ne!(pid2, pid);
    let msg = format!("re-attached to PID {pid2}");
    st.wait_for("re-attached", secs(20), |e| {
        is(e, "notice") && e["message"].as_str().is_some_and(|m| m.contains(&msg))
    });
    let c = st.wait_for("a connection of the new process", secs(20), |e| {
        is(e, "conn_opened")
    });
    let ks = kernel_sockets(&lab, pid2);
    assert!(
        ks.iter()
            .any(|k| k.local == addr(&c, "local") && k.fd == c["fd"].as_i64().expect("fd") as i32),
        "{c} not among {ks:?}"
    );
    drop(inbound);

    // Without a PID: the one Prometheus running is found by itself ...
    let out = Command::new(SCRAPETOP)
        .args(["attach", "--headless", "--exit-on-eof"])
        .stdin(Stdio::null())
        .output()
        .expect("run attach without pid");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("attached to Prometheus PID {pid2} ")),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ... and with two, both are listed with namespace and listen address, exit 2.
    let dir2 = lab.dir.path().join("prometheus-2");
    std::fs::create_dir_all(&dir2).expect("dir");
    std::fs::write(dir2.join("p.yml"), "scrape_configs: []\n").expect("config");
    let cfg2 = format!("--config.file={}", dir2.join("p.yml").display());
    let data2 = format!("--storage.tsdb.path={}", dir2.join("data").display());
    lab.spawn(
        Host::Dns,
        "prometheus-2",
        &[
            "prometheus",
            &cfg2,
            &data2,
            "--web.listen-address=127.0.0.1:9191",
        ],
        None,
    );
    lab.wait_listening(Host::Dns, 9191, secs(20));
    let out = Command::new(SCRAPETOP)
        .args(["attach", "--headless"])
        .stdin(Stdio::null())
        .output()
        .expect("run attach without pid");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("PID {pid2} ")), "{err}");
    assert!(err.contains("listen 127.0.0.1:9191"), "{err}");
    assert!(err.contains("listen 127.0.0.1:9090"), "{err}");
    assert!(err.contains("netns net:["), "{err}");
}

/// Without a PID and with no Prometheus running in the lab, the choice is explained (exit 2):
/// either none runs, or several do and are listed.
#[test]
fn attach_without_pid_explains_the_choice() {
    let out = Command::new(SCRAPETOP)
        .args(["attach", "--headless", "999999999"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("process 999999999"), "{err}");
}

/// Programs started in the host namespace by a test, killed when it ends.
#[derive(Default)]
struct HostProcs(Vec<Child>);

impl HostProcs {
    fn spawn(&mut self, dir: &std::path::Path, what: &str, args: &[&str]) -> u32 {
        let log = std::fs::File::create(dir.join(format!("{what}.log"))).expect("log file");
        let child = Command::new(args[0])
            .args(&args[1..])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        let pid = child.id();
        self.0.push(child);
        pid
    }
}

impl Drop for HostProcs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A free port on 127.0.0.1 (the host namespace is shared: never a fixed one).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn wait_port(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on :{port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A private CA and a server certificate for `localhost` and `127.0.0.1`, as PEM files.
fn write_pki(dir: &std::path::Path) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "scrapetop attach test CA");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let leaf_key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&leaf_key, &Issuer::new(ca_params, ca_key))
        .expect("leaf");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("ca.pem");
    std::fs::write(dir.join("server.pem"), leaf.pem()).expect("server.pem");
    std::fs::write(dir.join("server.key"), leaf_key.serialize_pem()).expect("server.key");
}

/// The password of every basic-auth server here; `HASH` is its bcrypt (cost 4: Go checks it
/// at each request, a higher cost would load the machine).
const PASSWORD: &str = "attach-secret-pw";
const HASH: &str = "$2b$04$1FpViSYRrOTYe/SQas1WEOzIPxnqAB0yDwdTCkDLzDgC8eEngWSQy";

/// A Prometheus whose API wants basic auth over TLS, scraping an https target and a
/// basic-auth target (Debian's node exporter with a web config) and a plain one, all on
/// loopback in the host namespace. Attach without the right HTTP client file is refused with
/// the reason; with it, the API is read and probes use each job's scheme, TLS and credentials
/// from Prometheus's own configuration. Then scrapetop runs as an unprivileged user: what the
/// API and the socket table give is shown, and notices name what is missing and why.
#[test]
fn attach_with_credentials_tls_and_without_root() {
    let _serial = serial();
    let Some(lab) = Lab::new("attach-auth", &[]) else {
        return;
    };
    // Readable by the unprivileged user below (the lab's own directory is root's alone).
    let dir = lab.dir.path().join("world");
    std::fs::create_dir_all(dir.join("data")).expect("dir");
    write_pki(&dir);
    let d = |f: &str| dir.join(f).display().to_string();
    let [api, plain, tls, auth] = [free_port(), free_port(), free_port(), free_port()];
    let files = [
        (
            "web.yml",
            format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  admin: '{HASH}'\n",
                d("server.pem"),
                d("server.key")
            ),
        ),
        (
            "ne-tls.yml",
            format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
                d("server.pem"),
                d("server.key")
            ),
        ),
        (
            "ne-auth.yml",
            format!("basic_auth_users:\n  admin: '{HASH}'\n"),
        ),
        ("pw", format!("{PASSWORD}\n")),
        (
            "http-full.yml",
            format!(
                "basic_auth:\n  username: admin\n  password_file: pw\ntls_config:\n  ca_file: {}\n",
                d("ca.pem")
            ),
        ),
        (
            "http-tls-only.yml",
            format!("tls_config:\n  ca_file: {}\n", d("ca.pem")),
        ),
        (
            "prom.yml",
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 800ms\nscrape_configs:\n\
                 \x20 - job_name: plain\n    static_configs: [{{targets: ['127.0.0.1:{plain}']}}]\n\
                 \x20 - job_name: tls\n    scheme: https\n    tls_config: {{ca_file: {}, server_name: localhost}}\n\
                 \x20   static_configs: [{{targets: ['127.0.0.1:{tls}']}}]\n\
                 \x20 - job_name: auth\n    basic_auth: {{username: admin, password_file: {}}}\n\
                 \x20   static_configs: [{{targets: ['127.0.0.1:{auth}']}}]\n",
                d("ca.pem"),
                d("pw")
            ),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).expect("file");
    }
    lab::run(&["chmod", "-R", "a+rX", &lab.dir.path().display().to_string()]);

    let mut procs = HostProcs::default();
    procs.spawn(
        &dir,
        "testexporter",
        &[HELPER, "serve", "127.0.0.1", &plain.to_string(), "20"],
    );
    for (port, web) in [(tls, "ne-tls.yml"), (auth, "ne-auth.yml")] {
        procs.spawn(
            &dir,
            &format!("node-exporter-{port}"),
            &[
                "prometheus-node-exporter",
                &format!("--web.listen-address=127.0.0.1:{port}"),
                &format!("--web.config.file={}", d(web)),
                "--collector.disable-defaults",
            ],
        );
    }
    let pid = procs.spawn(
        &dir,
        "prometheus",
        &[
            "prometheus",
            &format!("--config.file={}", d("prom.yml")),
            &format!("--storage.tsdb.path={}", d("data")),
            &format!("--web.listen-address=127.0.0.1:{api}"),
            &format!("--web.config.file={}", d("web.yml")),
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ],
    );
    for p in [api, plain, tls, auth] {
        wait_port(p, secs(20));
    }
    let pid_s = pid.to_string();
    let full = d("http-full.yml");

    // Without a client file the API's TLS is not trusted; with TLS only, it answers 401: both
    // end attach with the reason and exit 2.
    for (file, want) in [
        (None, "tls_config"),
        (Some(d("http-tls-only.yml")), "HTTP 401"),
    ] {
        let mut cmd = Command::new("timeout");
        cmd.args(["20", SCRAPETOP, "attach", &pid_s, "--headless"]);
        if let Some(f) = &file {
            cmd.args(["--http.config.file", f]);
        }
        let out = cmd.stdin(Stdio::null()).output().expect("run attach");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file:?}: {out:?}");
        assert!(err.contains(want), "{file:?}: {err}");
        assert!(err.contains("--http.config.file"), "{file:?}: {err}");
    }

    // With it: the three targets from the API, each scraped up.
    let mut st = Attached::start(&lab, &[&pid_s, "--http.config.file", &full]);
    let mut up = std::collections::HashSet::new();
    let mut all = Vec::new();
    let tls_pool = format!("tls/https://127.0.0.1:{tls}");
    let deadline = Instant::now() + secs(30);
    while up.len() < 3
        || !all
            .iter()
            .any(|e| is(e, "conn_opened") && e["pool"] == tls_pool.as_str())
    {
        let e = st.next_before(
            deadline,
            "the three targets up, and the https one's connection",
        );
        if is(&e, "scrape") && e["up"] == true {
            up.insert(e["job"].as_str().unwrap_or("").to_owned());
        }
        all.push(e);
    }
    // Probes with each job's scheme, TLS and credentials (from Prometheus's --config.file).
    for job in ["tls", "auth"] {
        st.send(&format!(r#"{{"cmd":"probe","job":"{job}"}}"#));
        let p = st.wait_for("a probe", secs(10), |e| is(e, "probe"));
        assert_eq!(p["job"], job, "{p}");
        assert_eq!(p["ok"], true, "{p}");
        assert_eq!(p["status"], 200, "{p}");
        all.push(p);
    }
    let c = all
        .iter()
        .find(|e| is(e, "conn_opened") && e["pool"] == tls_pool.as_str())
        .unwrap_or_else(|| panic!("no connection in {tls_pool}: {all:?}"));
    assert!(c["fd"].as_i64().expect("fd") > 0, "{c}");
    assert_eq!(c["source"], "kernel", "{c}");
    drop(st);
    let stderr = std::fs::read_to_string(dir.join("../attach.stderr")).unwrap_or_default();
    let shown = format!("{all:?}{stderr}");
    assert!(!shown.contains(PASSWORD), "the password was shown");

    // `scrapetop --prometheus https://… --http.config.file` (no attach): the same file reads
    // the API; the engine takes exactly its three targets.
    let mut own = Command::new(SCRAPETOP)
        .args(["--headless", "--prometheus"])
        .arg(format!("https://127.0.0.1:{api}"))
        .args(["--http.config.file", &full])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start scrapetop --prometheus");
    let (tx, rx) = channel();
    let out = own.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut jobs = Vec::new();
    let deadline = Instant::now() + secs(15);
    while jobs.len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("3 targets from the API; have {jobs:?}"));
        assert!(!line.contains(PASSWORD), "{line}");
        let v: Value = serde_json::from_str(&line).expect("json");
        if is(&v, "target_added") {
            jobs.push(v["job"].as_str().unwrap_or("").to_owned());
        }
    }
    jobs.sort();
    assert_eq!(jobs, ["auth", "plain", "tls"]);
    let _ = own.kill();
    let _ = own.wait();

    // As an unprivileged user: the API and the socket table of Prometheus's uid; notices name
    // what cannot be read and why; reconnect is refused with the reason.
    let mut nobody = Attached::start_under(
        &lab,
        "attach-nobody",
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ],
        &[&pid_s, "--http.config.file", &full],
    );
    let fd_note = format!("cannot read /proc/{pid}/fd");
    let evs = nobody.until("the notice about /proc/PID/fd", secs(10), |e| {
        is(e, "notice") && e["message"].as_str().is_some_and(|m| m.contains(&fd_note))
    });
    let note = evs.last().expect("notice")["message"]
        .as_str()
        .expect("text")
        .to_owned();
    assert!(
        note.contains("Prometheus runs as uid 0, scrapetop as uid 65534"),
        "{note}"
    );
    assert!(note.contains("run as root"), "{note}");
    // A lasting limitation, kept as the TUI's banner and in `state`.
    assert_eq!(evs.last().expect("notice")["limitation"], true, "{evs:?}");
    assert!(
        evs.iter().any(|e| is(e, "notice")
            && e["limitation"] == true
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("/proc/{pid}/ns/net")))),
        "{evs:?}"
    );
    let plain_pool = format!("plain/http://127.0.0.1:{plain}");
    let mut seen_up = std::collections::HashSet::new();
    let mut conn = None;
    let deadline = Instant::now() + secs(20);
    while seen_up.len() < 3 || conn.is_none() {
        let e = nobody.next_before(deadline, "3 targets up and the plain target's connection");
        if is(&e, "scrape") && e["up"] == true {
            assert_eq!(e["source"], "api", "{e}");
            seen_up.insert(e["job"].as_str().unwrap_or("").to_owned());
        }
        assert!(
            !is(&e, "fds"),
            "no census without the descriptor table: {e}"
        );
        if is(&e, "conn_opened") && e["pool"] == plain_pool.as_str() {
            conn = Some(e);
        }
    }
    let conn = conn.expect("conn");
    assert_eq!(conn["fd"], -1, "{conn}");
    let local = addr(&conn, "local");
    let ss = lab::run(&["ss", "-tnpH", "state", "established"]);
    assert!(
        ss.lines()
            .any(|l| l.contains(&format!("127.0.0.1:{}", local.port()))
                && l.contains(&format!("127.0.0.1:{plain}"))
                && l.contains(&format!("pid={pid},"))),
        "{conn} is not Prometheus's in ss:\n{ss}"
    );
    nobody.send(r#"{"cmd":"reconnect","job":"plain"}"#);
    let e = nobody.wait_for("the refused reconnect", secs(10), |e| is(e, "error"));
    let msg = e["error"].as_str().expect("text");
    assert!(msg.contains("CAP_NET_ADMIN"), "{msg}");
    assert!(msg.contains(&format!("/proc/{pid}/fd")), "{msg}");
}
