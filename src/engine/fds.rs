//! The process's own descriptors: a census from /proc/self/fd and RLIMIT_NOFILE.

use std::sync::Arc;
use std::time::Duration;

use rustix::process::{Resource, getrlimit, setrlimit};

use crate::event::EventKind;

use super::ctx::Ctx;

/// Counts of open descriptors by kind, plus the limits (the event's payload).
pub type Census = crate::event::FdCensus;

/// Soft and hard RLIMIT_NOFILE (`u64::MAX` for unlimited).
pub fn limits() -> (u64, u64) {
    let l = getrlimit(Resource::Nofile);
    (l.current.unwrap_or(u64::MAX), l.maximum.unwrap_or(u64::MAX))
}

/// Raise the soft limit to the hard limit, as Go's runtime does for Prometheus. Returns the
/// limits in force afterwards.
pub fn raise_soft_limit() -> (u64, u64) {
    let mut l = getrlimit(Resource::Nofile);
    if l.current != l.maximum {
        l.current = l.maximum;
        let _ = setrlimit(Resource::Nofile, l);
    }
    limits()
}

/// Classify one `/proc/<pid>/fd` link target.
pub fn classify(link: &str) -> Kind {
    if link.starts_with("socket:") {
        Kind::Socket
    } else if link.starts_with("pipe:") {
        Kind::Pipe
    } else if link.starts_with('/') {
        Kind::File
    } else {
        Kind::Other
    }
}

/// Kind of descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Socket.
    Socket,
    /// Pipe.
    Pipe,
    /// Path.
    File,
    /// Other.
    Other,
}

/// Reads this process's descriptor table through a directory handle opened once, so a
/// census still works when the process has run out of descriptors — exactly when it matters.
pub struct Scanner {
    dir: rustix::fs::Dir,
    own: i32,
    /// Kinds seen by the last census, by fd number: between full passes only fd numbers not
    /// seen before are read with `readlink` (one syscall per descriptor was 8 % of the CPU at
    /// 10,000 targets). A number reused for another kind is corrected by the next full pass.
    known: std::collections::HashMap<i32, Kind>,
    runs: u64,
}

/// At most this many periodic censuses in a row reuse the last listing (see `census_loop`).
const QUICK_RUNS: u32 = 4;

/// Every this many censuses, every descriptor is classified afresh.
const FULL_PASS_EVERY: u64 = 10;

impl Scanner {
    /// Open /proc/self/fd.
    pub fn open() -> std::io::Result<Scanner> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::open(
            "/proc/self/fd",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let own = std::os::fd::AsRawFd::as_raw_fd(&fd);
        let dir = rustix::fs::Dir::new(fd)?;
        Ok(Scanner {
            dir,
            own,
            known: std::collections::HashMap::new(),
            runs: 0,
        })
    }

    /// How many descriptors are open, the scanner's own handle included, from the size that
    /// Linux (6.2 and later) gives the fd directory: one `fstat` instead of reading a
    /// directory entry per descriptor. `None` where the kernel says 0 (older kernels).
    pub fn open_count(&self) -> Option<u64> {
        let fd = self.dir.fd().ok()?;
        let size = rustix::fs::fstat(fd).ok()?.st_size;
        u64::try_from(size).ok().filter(|n| *n > 0)
    }

    /// Count descriptors by kind. The scanner's own handle is not counted.
    pub fn census(&mut self) -> std::io::Result<Census> {
        let (soft_limit, hard_limit) = limits();
        let mut c = Census {
            soft_limit,
            hard_limit,
            ..Default::default()
        };
        self.dir.rewind();
        let mut buf = Vec::with_capacity(64);
        // The directory handle is borrowed for readlinkat while entries are read.
        let mut names = Vec::new();
        while let Some(entry) = self.dir.read() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            names.push(entry.file_name().to_owned());
        }
        let dirfd = self.dir.fd()?;
        let full = self.runs.is_multiple_of(FULL_PASS_EVERY);
        self.runs += 1;
        let mut known = std::collections::HashMap::with_capacity(names.len());
        for name in names {
            let n: i32 = name
                .to_str()
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(-1);
            if n == self.own {
                continue;
            }
            let kind = match self.known.get(&n) {
                Some(k) if !full => *k,
                _ => {
                    let Ok(link) =
                        rustix::fs::readlinkat(dirfd, name.as_c_str(), std::mem::take(&mut buf))
                    else {
                        continue; // closed while we looked
                    };
                    let k = classify(&link.to_string_lossy());
                    buf = link.into_bytes();
                    buf.clear();
                    k
                }
            };
            known.insert(n, kind);
            c.total += 1;
            match kind {
                Kind::Socket => c.sockets += 1,
                Kind::Pipe => c.pipes += 1,
                Kind::File => c.files += 1,
                Kind::Other => c.other += 1,
            }
        }
        self.known = known;
        Ok(c)
    }
}

/// Take a census every `census_every` (emitted each time, so a reader always has a fresh one),
/// and soon after connections change (emitted when it differs). Also reports dropped events.
pub(super) async fn census_loop(ctx: Arc<Ctx>) {
    let mut last = None;
    let mut scanner = match Scanner::open() {
        Ok(s) => Some(s),
        Err(e) => {
            ctx.emit.emit(
                None,
                EventKind::Error {
                    error: format!("descriptor census unavailable: {e}"),
                },
            );
            None
        }
    };
    let (mut listed_at, mut quick) = (None, 0);
    let mut tick = tokio::time::interval(ctx.opts.census_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let periodic = tokio::select! {
            _ = tick.tick() => true,
            _ = ctx.fd_poke.notified() => {
                // Let a burst of opens/closes settle, and bound the census rate under churn
                // (reading /proc/self/fd costs a readlink per descriptor).
                tokio::time::sleep(Duration::from_millis(200)).await;
                false
            }
        };
        ctx.emit.report_dropped();
        let Some(mut sc) = scanner.take() else {
            continue;
        };
        // A periodic census with as many descriptors open as the last one found, no
        // connection opened or closed since (that pokes), and a full listing within the last
        // QUICK_RUNS ticks: the same census again, for one fstat instead of a directory read
        // (the listing was 3-5 % of the CPU at 2,000 targets).
        let count = sc.open_count();
        if periodic
            && let Some(c) = last
            && count.is_some()
            && count == listed_at
            && quick < QUICK_RUNS
        {
            quick += 1;
            scanner = Some(sc);
            ctx.emit.emit(None, EventKind::Fds(c));
            continue;
        }
        quick = 0;
        let Ok((sc, c)) = tokio::task::spawn_blocking(move || {
            let c = sc.census();
            (sc, c)
        })
        .await
        else {
            continue;
        };
        // What the directory held when listed (the listing may see a descriptor come or go:
        // then the next tick lists again).
        listed_at = sc.open_count().filter(|n| Some(*n) == count);
        scanner = Some(sc);
        let Ok(c) = c else { continue };
        if periodic || last != Some(c) {
            last = Some(c);
            ctx.emit.emit(None, EventKind::Fds(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_links() {
        assert_eq!(classify("socket:[123]"), Kind::Socket);
        assert_eq!(classify("pipe:[9]"), Kind::Pipe);
        assert_eq!(classify("/dev/null"), Kind::File);
        assert_eq!(classify("anon_inode:[eventpoll]"), Kind::Other);
    }

    #[test]
    fn census_sees_a_new_socket() {
        let before = Scanner::open().unwrap().census().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let after = Scanner::open().unwrap().census().unwrap();
        assert!(after.sockets > before.sockets || after.sockets >= 1);
        drop(l);
        assert!(before.soft_limit > 0 && before.hard_limit >= before.soft_limit);
    }
}
