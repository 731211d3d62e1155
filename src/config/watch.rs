//! Notice changes of file_sd files by polling modification times (no inotify dependency), with
//! a debounce so an editor's write-rename-chmod sequence makes one notification.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

type Snapshot = BTreeMap<PathBuf, Option<(SystemTime, u64)>>;

fn stat(p: &std::path::Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Presence, mtime and size of every path, and of every entry of the directories among them.
fn snapshot(paths: &[PathBuf]) -> Snapshot {
    let mut s = Snapshot::new();
    for p in paths {
        s.insert(p.clone(), stat(p));
        if p.is_dir()
            && let Ok(rd) = std::fs::read_dir(p)
        {
            for e in rd.filter_map(Result::ok) {
                let ep = e.path();
                let st = stat(&ep);
                s.insert(ep, st);
            }
        }
    }
    s
}

/// Watch `paths` (files and directories, as in [`super::Loaded::watch`]): every `every`, look
/// at them; once a change has been followed by `debounce` of quiet, send one `()`.
/// The task ends when the receiver is dropped.
pub fn spawn(paths: Vec<PathBuf>, every: Duration, debounce: Duration) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut last = snapshot(&paths);
        let mut changed_at: Option<tokio::time::Instant> = None;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            if tx.is_closed() {
                return;
            }
            let now = snapshot(&paths);
            if now != last {
                last = now;
                changed_at = Some(tokio::time::Instant::now());
            } else if let Some(t) = changed_at
                && t.elapsed() >= debounce
            {
                changed_at = None;
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

    #[tokio::test]
    async fn notices_a_changed_file_once() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let f = dir.path().join("a.json");
        std::fs::write(&f, "[]")?;
        let mut rx = spawn(
            vec![dir.path().to_owned()],
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
}
