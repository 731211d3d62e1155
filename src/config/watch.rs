//! Notice changes of file_sd files and `--targets` files, as Prometheus's file discovery does:
//! by polling what matches the configured globs (no inotify dependency), with a debounce so an
//! editor's write-rename-chmod sequence makes one notification, and by re-reading every matched
//! file at its `refresh_interval` whatever the modification times say.
//!
//! Only files matching a pattern are looked at: a busy log file in the same directory changes
//! nothing (it used to: every entry of the directory was compared, so a file appended every
//! 0.4 s postponed reloads forever).

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::sd::expand_glob;

/// Prometheus's default file_sd `refresh_interval`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);

/// A change that keeps going (a matched file rewritten continuously) is reported after this
/// long even without a quiet debounce period.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// What a reload depends on: file patterns, each re-read at its refresh interval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watched {
    /// Files, or patterns with `*`/`?` in their last component, and how often every file they
    /// match is re-read even when its modification time and size are unchanged.
    pub patterns: Vec<(PathBuf, Duration)>,
    /// What the files looked like when the sources were read, so that a change made before
    /// the watcher starts still counts.
    baseline: Option<Baseline>,
}

/// Stat of every matched file and the content hash of every pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Baseline {
    snapshot: BTreeMap<PathBuf, Stat>,
    contents: Vec<u64>,
}

impl Watched {
    /// Nothing to watch.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Add `pattern` (once; the shortest refresh wins).
    pub fn add(&mut self, pattern: PathBuf, refresh: Duration) {
        match self.patterns.iter_mut().find(|(p, _)| *p == pattern) {
            Some((_, r)) => *r = (*r).min(refresh),
            None => self.patterns.push((pattern, refresh)),
        }
    }

    /// Record the files as they are now (right after the sources were read): the watcher
    /// compares against this, not against what it finds when it starts.
    pub fn seal(&mut self) {
        self.baseline = Some(Baseline {
            snapshot: snapshot(self),
            contents: self.patterns.iter().map(|(p, _)| content(p)).collect(),
        });
    }

    /// The patterns alone.
    pub fn paths(&self) -> Vec<&Path> {
        self.patterns.iter().map(|(p, _)| p.as_path()).collect()
    }
}

type Stat = Option<(SystemTime, u64)>;

fn stat(p: &Path) -> Stat {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Matched files and their modification time and size.
fn snapshot(w: &Watched) -> BTreeMap<PathBuf, Stat> {
    let mut s = BTreeMap::new();
    for (pattern, _) in &w.patterns {
        s.insert(pattern.clone(), stat(pattern));
        for f in expand_glob(pattern) {
            let st = stat(&f);
            s.insert(f, st);
        }
    }
    s
}

/// A hash of the content of every file `pattern` matches (bounded reads).
fn content(pattern: &Path) -> u64 {
    let mut h = DefaultHasher::new();
    for f in expand_glob(pattern) {
        f.hash(&mut h);
        match super::files::read_bounded(&f, "file") {
            Ok(text) => text.hash(&mut h),
            Err(e) => e.msg.hash(&mut h),
        }
    }
    h.finish()
}

/// Watch `w`: every `every`, look at what its patterns match; once a change has been followed
/// by `debounce` of quiet (or has lasted 5 s), send one `()`. Each pattern's files are also
/// re-read at its refresh interval and a changed content counts as a change. The task ends
/// when the receiver is dropped.
pub fn spawn(w: Watched, every: Duration, debounce: Duration) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let base = match &w.baseline {
            Some(b) => b.clone(),
            None => Baseline {
                snapshot: snapshot(&w),
                contents: w.patterns.iter().map(|(p, _)| content(p)).collect(),
            },
        };
        let mut last = base.snapshot;
        let start = Instant::now();
        let mut contents: Vec<(u64, Instant)> =
            base.contents.into_iter().map(|h| (h, start)).collect();
        let mut changed: Option<(Instant, Instant)> = None;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            if tx.is_closed() {
                return;
            }
            let now = Instant::now();
            let mut moved = false;
            let snap = snapshot(&w);
            if snap != last {
                last = snap;
                moved = true;
            }
            for ((pattern, refresh), (hash, read_at)) in w.patterns.iter().zip(&mut contents) {
                if now.duration_since(*read_at) >= *refresh {
                    *read_at = now;
                    let h = content(pattern);
                    if h != *hash {
                        *hash = h;
                        moved = true;
                    }
                }
            }
            changed = match (changed, moved) {
                (None, true) => Some((now, now)),
                (Some((first, _)), true) => Some((first, now)),
                (c, false) => c,
            };
            if let Some((first, latest)) = changed
                && (now.duration_since(latest) >= debounce
                    || now.duration_since(first) >= MAX_DELAY)
            {
                changed = None;
                // A full channel already holds a pending notification: coalesce.
                if let Err(mpsc::error::TrySendError::Closed(())) = tx.try_send(()) {
                    return;
                }
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched(pattern: PathBuf, refresh: Duration) -> Watched {
        let mut w = Watched::default();
        w.add(pattern, refresh);
        w
    }

    #[tokio::test]
    async fn notices_a_changed_file_once() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let f = dir.path().join("a.json");
        std::fs::write(&f, "[]")?;
        let mut rx = spawn(
            watched(dir.path().join("*.json"), DEFAULT_REFRESH),
            Duration::from_millis(10),
            Duration::from_millis(30),
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(rx.try_recv().is_err(), "no change yet");
        std::fs::write(&f, "[{\"targets\": [\"a:1\"]}]")?;
        std::fs::write(dir.path().join("b.json"), "[]")?;
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await?
            .ok_or("watcher ended")?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(rx.try_recv().is_err(), "one notification per burst");
        Ok(())
    }

    /// A change made after the sources were read but before the watcher started counts.
    #[tokio::test]
    async fn a_change_before_the_watcher_starts_counts() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let f = dir.path().join("a.json");
        std::fs::write(&f, "[]")?;
        let mut w = watched(f.clone(), DEFAULT_REFRESH);
        w.seal();
        std::fs::write(&f, "[{\"targets\": [\"a:1\"]}]")?;
        let mut rx = spawn(w, Duration::from_millis(10), Duration::from_millis(20));
        tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await?
            .ok_or("watcher ended")?;
        Ok(())
    }

    /// A log file appended every few milliseconds beside the watched file neither triggers
    /// reloads nor starves the real change.
    #[tokio::test]
    async fn a_busy_neighbour_neither_triggers_nor_starves()
    -> Result<(), Box<dyn std::error::Error>> {
        use std::io::Write as _;
        let dir = tempfile::tempdir()?;
        let f = dir.path().join("a.yml");
        std::fs::write(&f, "[]")?;
        let log_path = dir.path().join("busy.log");
        let mut rx = spawn(
            watched(dir.path().join("*.yml"), DEFAULT_REFRESH),
            Duration::from_millis(10),
            Duration::from_millis(50),
        );
        let mut log = std::fs::File::create(&log_path)?;
        for i in 0..30 {
            writeln!(log, "line {i}")?;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(rx.try_recv().is_err(), "the neighbour triggered a reload");
        std::fs::write(&f, "- targets: [a:1]\n")?;
        let appender = tokio::spawn(async move {
            for i in 0..400 {
                let _ = writeln!(log, "line {i}");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await?
            .ok_or("watcher ended")?;
        appender.abort();
        Ok(())
    }

    /// A rewrite that keeps the size and the modification time is seen at the refresh interval.
    #[tokio::test]
    async fn content_is_reread_at_the_refresh_interval() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let f = dir.path().join("a.json");
        std::fs::write(&f, "[\"a:1\"]")?;
        let mtime = std::fs::metadata(&f)?.modified()?;
        let mut rx = spawn(
            watched(f.clone(), Duration::from_millis(200)),
            Duration::from_millis(10),
            Duration::from_millis(20),
        );
        let mut control = spawn(
            watched(f.clone(), DEFAULT_REFRESH),
            Duration::from_millis(10),
            Duration::from_millis(20),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Same size, same mtime, swapped in atomically: only a re-read can tell.
        let tmp = dir.path().join("a.tmp");
        std::fs::write(&tmp, "[\"b:1\"]")?;
        std::fs::File::options()
            .write(true)
            .open(&tmp)?
            .set_modified(mtime)?;
        std::fs::rename(&tmp, &f)?;
        tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await?
            .ok_or("watcher ended")?;
        assert!(
            control.try_recv().is_err(),
            "polling alone saw it: the test proves nothing"
        );
        Ok(())
    }
}
