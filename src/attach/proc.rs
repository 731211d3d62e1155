//! The attached process as /proc shows it: which process is Prometheus, how it was started
//! (listen address, route prefix, lifecycle API), its descriptor table and its limits.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::engine::fds::{Kind, classify};

/// A running Prometheus found in /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Its pid.
    pub pid: i32,
    /// Its executable (`/proc/PID/exe`), kept to recognise a restart of the same program.
    pub exe: PathBuf,
    /// Inode of its network namespace (`/proc/PID/ns/net`), as `ip netns identify` would name
    /// it; 0 when it cannot be read (no ptrace rights: it is assumed to be scrapetop's own).
    pub netns: u64,
    /// What its command line says.
    pub flags: Flags,
    /// Its real uid (`/proc/PID/status`, readable by anyone): without rights to its
    /// descriptors, its sockets are the namespace's sockets of this uid.
    pub uid: Option<u32>,
    /// What could not be read about it and what that costs, one sentence each (shown as
    /// notices: permissions degrade, never silently).
    pub missing: Vec<String>,
}

/// The command-line flags of Prometheus that decide how to reach its API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flags {
    /// `--web.listen-address` (default `0.0.0.0:9090`, written `:9090`).
    pub listen: String,
    /// `--web.route-prefix` (default `/`; Prometheus derives it from `--web.external-url`'s
    /// path when not given).
    pub route_prefix: String,
    /// `--web.enable-lifecycle`: whether `POST /-/reload` is allowed.
    pub lifecycle: bool,
    /// `--config.file` as given (relative to the process's working directory).
    pub config_file: String,
    /// `--web.config.file`, if given: its `tls_server_config` makes the API https.
    pub web_config_file: Option<String>,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            listen: ":9090".to_owned(),
            route_prefix: "/".to_owned(),
            lifecycle: false,
            config_file: "prometheus.yml".to_owned(),
            web_config_file: None,
        }
    }
}

/// Read the flags from an argument vector (`argv[1..]`), as Go's kingpin accepts them:
/// `--flag=value` or `--flag value`, and `--[no-]bool`.
pub fn parse_flags<S: AsRef<str>>(args: &[S]) -> Flags {
    let mut f = Flags::default();
    let mut external_path: Option<String> = None;
    let mut prefix_given = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_ref();
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (a, None),
        };
        let value = |i: &mut usize| -> Option<String> {
            inline.clone().or_else(|| {
                *i += 1;
                args.get(*i).map(|s| s.as_ref().to_owned())
            })
        };
        match name {
            "--web.listen-address" => {
                if let Some(v) = value(&mut i) {
                    f.listen = v;
                }
            }
            "--web.route-prefix" => {
                if let Some(v) = value(&mut i) {
                    f.route_prefix = v;
                    prefix_given = true;
                }
            }
            "--web.external-url" => {
                if let Some(v) = value(&mut i) {
                    external_path = url_path(&v);
                }
            }
            "--config.file" => {
                if let Some(v) = value(&mut i) {
                    f.config_file = v;
                }
            }
            "--web.config.file" => f.web_config_file = value(&mut i),
            "--web.enable-lifecycle" => f.lifecycle = inline.as_deref() != Some("false"),
            "--no-web.enable-lifecycle" => f.lifecycle = false,
            _ => {}
        }
        i += 1;
    }
    if !prefix_given && let Some(p) = external_path {
        f.route_prefix = p;
    }
    if !f.route_prefix.starts_with('/') {
        f.route_prefix.insert(0, '/');
    }
    while f.route_prefix.len() > 1 && f.route_prefix.ends_with('/') {
        f.route_prefix.pop();
    }
    f
}

fn url_path(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
    Some(path.to_owned())
}

/// Why no process could be attached to.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// No process runs an executable named `prometheus` (that we can see: without root,
    /// other users' executables cannot be read, and the message says so).
    #[error(
        "no running process whose executable is named prometheus{0} (give its PID: scrapetop attach PID)"
    )]
    None(&'static str),
    /// Several do; the operator must choose.
    #[error("several Prometheus processes run; choose one with scrapetop attach PID:\n{0}")]
    Several(String),
    /// The given pid does not exist or cannot be read.
    #[error("process {pid}: {why}")]
    Unreadable {
        /// The pid.
        pid: i32,
        /// What failed.
        why: String,
    },
}

/// Read one process. Without ptrace rights over it (another user's process, no root) its
/// executable and namespace cannot be read: its command line and `comm` still say whether it
/// is Prometheus, and what is missing is listed in [`Process::missing`].
pub fn process(pid: i32) -> Result<Process, FindError> {
    let base = PathBuf::from(format!("/proc/{pid}"));
    let un = |what: &str, e: std::io::Error| FindError::Unreadable {
        pid,
        why: if e.kind() == std::io::ErrorKind::PermissionDenied {
            format!(
                "{what}: {e} (another process's /proc entries need root with ptrace rights \
                 over it: CAP_SYS_PTRACE)"
            )
        } else {
            format!("{what}: {e}")
        },
    };
    let cmdline = fs::read(base.join("cmdline")).map_err(|e| un("reading its command line", e))?;
    let mut argv = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let argv0 = argv.next().unwrap_or_default();
    let args: Vec<String> = argv.collect();
    let uid = fs::read_to_string(base.join("status"))
        .ok()
        .and_then(|s| parse_uid(&s));
    let me = rustix::process::getuid().as_raw();
    let who = match uid {
        Some(u) => format!("Prometheus runs as uid {u}, scrapetop as uid {me}"),
        None => format!("scrapetop runs as uid {me}"),
    };
    let mut missing = Vec::new();
    let exe = match fs::read_link(base.join("exe")) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            let comm = fs::read_to_string(base.join("comm")).unwrap_or_default();
            let named = is_prometheus(Path::new(&argv0)) || comm.trim() == "prometheus";
            if !named {
                return Err(un("reading its executable", e));
            }
            PathBuf::from(argv0)
        }
        Err(e) => return Err(un("reading its executable", e)),
    };
    let netns = match netns_inode(pid) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            missing.push(format!(
                "cannot read /proc/{pid}/ns/net or /proc/{pid}/root ({who}, without ptrace \
                 rights over it): its network namespace and files are assumed to be scrapetop's \
                 own (its API, DNS and probes are reached from here); run as root"
            ));
            0
        }
        Err(e) => return Err(un("reading its network namespace", e)),
    };
    if fs::read_dir(base.join("fd")).is_err() {
        missing.push(format!(
            "cannot read /proc/{pid}/fd ({who}): connections are matched to targets by owner \
             uid and peer address only, without fd numbers, and the descriptor census is \
             unavailable; reconnect needs CAP_NET_ADMIN; run as root"
        ));
    }
    Ok(Process {
        pid,
        exe,
        netns,
        flags: parse_flags(&args),
        uid,
        missing,
    })
}

/// Whether `p` still runs (the same executable under its pid; without ptrace rights, the same
/// command name).
pub fn still_running(p: &Process) -> bool {
    match fs::read_link(format!("/proc/{}/exe", p.pid)) {
        Ok(e) => e == p.exe,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            process(p.pid).is_ok_and(|q| q.exe == p.exe)
        }
        Err(_) => false,
    }
}

/// The real uid from `/proc/PID/status` (`Uid:\treal\teffective\t…`).
fn parse_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The process's configuration file as this process can open it: through its root
/// (`/proc/PID/root`, its mount namespace) or its working directory for a relative path.
pub fn config_path(p: &Process) -> PathBuf {
    own_path(p, &p.flags.config_file)
}

/// Whether the process serves its API over TLS: its `--web.config.file` has a
/// `tls_server_config`. `None` when there is no such file or it cannot be read.
pub fn serves_tls(p: &Process) -> Option<bool> {
    let f = p.flags.web_config_file.as_deref()?;
    let text = fs::read_to_string(own_path(p, f)).ok()?;
    let v: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
    Some(v.get("tls_server_config").is_some_and(|t| !t.is_null()))
}

/// A path the process named, as this process can open it.
fn own_path(p: &Process, f: &str) -> PathBuf {
    let f = Path::new(f);
    let root = PathBuf::from(format!("/proc/{}/root", p.pid));
    if f.is_absolute() {
        // Without ptrace rights its root cannot be entered: scrapetop's own root stands in
        // (its namespace is assumed to be ours too, and the notice says so).
        if fs::read_link(&root).is_err() {
            return f.to_owned();
        }
        root.join(f.strip_prefix("/").unwrap_or(f))
    } else {
        PathBuf::from(format!("/proc/{}/cwd", p.pid)).join(f)
    }
}

/// The inode of a process's network namespace.
pub fn netns_inode(pid: i32) -> std::io::Result<u64> {
    let link = fs::read_link(format!("/proc/{pid}/ns/net"))?;
    let s = link.to_string_lossy();
    s.strip_prefix("net:[")
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("unexpected namespace link {s:?}")))
}

/// Whether an executable path is Prometheus (`…/prometheus`, also after an upgrade replaced
/// the file: `…/prometheus (deleted)`).
pub fn is_prometheus(exe: &Path) -> bool {
    let name = exe.file_name().map(|n| n.to_string_lossy().into_owned());
    matches!(name.as_deref(), Some("prometheus" | "prometheus (deleted)"))
}

/// Every process whose executable is Prometheus, sorted by pid.
pub fn all_prometheus() -> Vec<Process> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<Process> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            match fs::read_link(format!("/proc/{pid}/exe")) {
                Ok(exe) => is_prometheus(&exe),
                // Another user's process: its name is still readable.
                Err(_) => fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "prometheus"),
            }
        })
        .filter_map(|pid| process(pid).ok())
        .collect();
    found.sort_by_key(|p| p.pid);
    found
}

/// The one Prometheus to attach to: `pid` if given, else the only one running.
pub fn find(pid: Option<i32>) -> Result<Process, FindError> {
    if let Some(pid) = pid {
        return process(pid);
    }
    let mut all = all_prometheus();
    match all.len() {
        0 if !rustix::process::geteuid().is_root() => Err(FindError::None(
            " among those readable without root (other users' processes cannot be read: run as root)",
        )),
        0 => Err(FindError::None("")),
        1 => Ok(all.remove(0)),
        _ => Err(FindError::Several(
            all.iter()
                .map(|p| {
                    format!(
                        "  PID {:<8} netns net:[{}]  listen {}",
                        p.pid, p.netns, p.flags.listen
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
        )),
    }
}

/// A process's descriptor table: socket inodes by fd, and a census.
#[derive(Debug, Default, Clone)]
pub struct FdTable {
    /// fd of every socket, by socket inode.
    pub sockets: HashMap<u64, i32>,
    /// Regular files (TSDB blocks, WAL, chunks, …), directories and devices.
    pub files: u64,
    /// Of which under the TSDB's data directory, as far as the paths tell (`wal`, `chunks`,
    /// `chunks_head`, block directories).
    pub tsdb_files: u64,
    /// Pipes.
    pub pipes: u64,
    /// Anything else (eventfd, epoll, …).
    pub other: u64,
}

impl FdTable {
    /// Every open descriptor.
    pub fn total(&self) -> u64 {
        self.sockets.len() as u64 + self.files + self.pipes + self.other
    }
}

/// Read `/proc/PID/fd` (needs root or CAP_DAC_READ_SEARCH for another user's process).
pub fn fd_table(pid: i32) -> std::io::Result<FdTable> {
    let dir = PathBuf::from(format!("/proc/{pid}/fd"));
    let mut t = FdTable::default();
    for e in fs::read_dir(&dir)? {
        let Ok(e) = e else { continue };
        let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        // A descriptor closed between the listing and the readlink is simply gone.
        let Ok(link) = fs::read_link(e.path()) else {
            continue;
        };
        let link = link.to_string_lossy();
        match classify(&link) {
            Kind::Socket => {
                if let Some(inode) = link
                    .strip_prefix("socket:[")
                    .and_then(|r| r.strip_suffix(']'))
                    .and_then(|n| n.parse().ok())
                {
                    t.sockets.insert(inode, fd);
                }
            }
            Kind::Pipe => t.pipes += 1,
            Kind::File => {
                t.files += 1;
                if is_tsdb_path(&link) {
                    t.tsdb_files += 1;
                }
            }
            Kind::Other => t.other += 1,
        }
    }
    Ok(t)
}

fn is_tsdb_path(p: &str) -> bool {
    p.contains("/wal/")
        || p.contains("/chunks_head/")
        || p.contains("/chunks/")
        || p.ends_with("/index")
        || p.ends_with("/lock")
        || p.contains("/queries.active")
}

/// Soft and hard "Max open files" from `/proc/PID/limits` (`u64::MAX` for unlimited).
pub fn nofile_limits(pid: i32) -> std::io::Result<(u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/limits"))?;
    Ok(parse_nofile(&text).unwrap_or((0, 0)))
}

fn parse_nofile(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let mut it = line["Max open files".len()..].split_whitespace();
    let num = |s: Option<&str>| match s? {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    };
    Some((num(it.next())?, num(it.next())?))
}

/// Shut down one of another process's sockets through a duplicate of its descriptor
/// (`pidfd_getfd`, needs ptrace rights over it): the fallback when SOCK_DESTROY is refused.
/// The duplicate is checked to be the same socket (same inode) before anything is done, so a
/// reused descriptor number is never touched.
pub fn shutdown_socket(pid: i32, fd: i32, inode: u64) -> std::io::Result<()> {
    use rustix::process::{Pid, PidfdFlags, PidfdGetfdFlags, pidfd_getfd, pidfd_open};
    let p = Pid::from_raw(pid).ok_or_else(|| std::io::Error::other("invalid pid"))?;
    let pidfd = pidfd_open(p, PidfdFlags::empty())?;
    let dup = pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty())?;
    let st = rustix::fs::fstat(&dup)?;
    if st.st_ino != inode {
        return Err(std::io::Error::other(format!(
            "fd {fd} is no longer the socket seen (inode {inode})"
        )));
    }
    socket2::Socket::from(dup).shutdown(std::net::Shutdown::Both)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_as_kingpin_reads_them() {
        let f = parse_flags::<&str>(&[]);
        assert_eq!(f, Flags::default());
        let f = parse_flags(&[
            "--config.file=/etc/p.yml",
            "--web.listen-address",
            "127.0.0.1:9191",
            "--web.route-prefix=/prom/",
            "--web.enable-lifecycle",
        ]);
        assert_eq!(f.listen, "127.0.0.1:9191");
        assert_eq!(f.route_prefix, "/prom");
        assert!(f.lifecycle);
        assert_eq!(f.config_file, "/etc/p.yml");
        assert_eq!(parse_uid("Name:\tp\nUid:\t105\t105\t105\t105\n"), Some(105));
        let f = parse_flags(&["--web.external-url=http://example.org/p/"]);
        assert_eq!(f.route_prefix, "/p");
        let f = parse_flags(&[
            "--web.external-url=http://example.org/p/",
            "--web.route-prefix=/",
        ]);
        assert_eq!(f.route_prefix, "/");
    }

    #[test]
    fn the_api_is_https_when_the_web_config_serves_tls() {
        let dir = tempfile::tempdir().expect("dir");
        let me = process(std::process::id() as i32).expect("own process");
        let with = |text: Option<&str>| {
            let mut p = me.clone();
            p.flags.web_config_file = text.map(|t| {
                let f = dir.path().join("web.yml");
                std::fs::write(&f, t).expect("write");
                f.display().to_string()
            });
            serves_tls(&p)
        };
        assert_eq!(with(None), None);
        assert_eq!(
            with(Some("tls_server_config:\n  cert_file: a\n  key_file: b\n")),
            Some(true)
        );
        assert_eq!(
            with(Some("basic_auth_users:\n  a: '$2b$04$x'\n")),
            Some(false)
        );
        assert_eq!(me.uid, Some(rustix::process::getuid().as_raw()));
        assert!(me.missing.is_empty(), "{:?}", me.missing);
    }

    #[test]
    fn limits_and_names() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max open files            1024                 524288               files     \n";
        assert_eq!(parse_nofile(text), Some((1024, 524288)));
        assert!(is_prometheus(Path::new("/usr/bin/prometheus")));
        assert!(is_prometheus(Path::new("/usr/bin/prometheus (deleted)")));
        assert!(!is_prometheus(Path::new(
            "/usr/bin/prometheus-node-exporter"
        )));
        let own = fd_table(std::process::id() as i32).expect("own fd table");
        assert!(own.total() >= 3);
    }

    #[test]
    fn a_socket_is_shut_down_through_a_duplicate_only_if_it_is_the_same() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let c = std::net::TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (mut server, _) = l.accept().expect("accept");
        let me = std::process::id() as i32;
        let fd = c.as_raw_fd();
        let inode = rustix::fs::fstat(&c).expect("fstat").st_ino;
        assert!(
            shutdown_socket(me, fd, inode + 1).is_err(),
            "another inode: refused"
        );
        shutdown_socket(me, fd, inode).expect("shutdown through the duplicate");
        let mut buf = [0u8; 8];
        assert_eq!(
            server.read(&mut buf).expect("read"),
            0,
            "the peer sees the close"
        );
    }
}
