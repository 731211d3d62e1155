//! `e`: the shown model (the frozen copy while frozen) with every history, as one JSON file,
//! readable by the user only.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::event::Event;
use crate::model::Model;

use super::app::App;

impl App {
    /// Write the shown model (the frozen copy while frozen) and its histories as JSON to a new
    /// file in the export directory, and show its path.
    ///
    /// Runs synchronously: it is local disk, not network, and a copy handed to a blocking task
    /// would cost as much as the serialisation itself.
    pub fn export(&mut self, now: SystemTime) {
        match export_to(
            &self.facts.export_dir,
            self.shown(),
            self.frozen.is_some(),
            now,
        ) {
            Ok(path) => self.status = Some(format!("exported to {}", path.display())),
            Err(e) => {
                tracing::warn!("export failed: {e:#}");
                self.status = Some(format!("export failed: {e:#}"));
            }
        }
    }
}

/// The export document.
#[derive(serde::Serialize)]
struct Export<'a> {
    exported_at: String,
    frozen: bool,
    totals: &'a crate::model::Totals,
    fds: &'a Option<crate::model::FdCensus>,
    dropped: u64,
    paused: bool,
    targets: Vec<ExportTarget<'a>>,
    open_conns: Vec<&'a crate::model::OpenConn>,
    events: &'a std::collections::VecDeque<Event>,
}

#[derive(serde::Serialize)]
struct ExportTarget<'a> {
    #[serde(flatten)]
    state: &'a crate::model::TargetState,
    reconnect_times: Vec<String>,
}

/// Write the export file; returns its path.
///
/// The file is readable by the user only (0600) and its directory is created 0700: an export
/// holds every target's URL, addresses and errors. It is created with `create_new`, so an
/// existing file (or a link planted in its place) is never written through.
pub fn export_to(dir: &Path, m: &Model, frozen: bool, now: SystemTime) -> anyhow::Result<PathBuf> {
    use anyhow::Context as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let stamp: String = humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .filter(|c| *c != ':' && *c != '-')
        .collect();
    let mut n = 1;
    let (path, file) = loop {
        let path = if n == 1 {
            dir.join(format!("scrapetop-{stamp}.json"))
        } else {
            dir.join(format!("scrapetop-{stamp}-{n}.json"))
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => break (path, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
    };
    let mut open_conns: Vec<_> = m.conns.values().collect();
    open_conns.sort_by_key(|c| c.conn_id);
    let doc = Export {
        exported_at: humantime::format_rfc3339_millis(now).to_string(),
        frozen,
        totals: &m.totals,
        fds: &m.fds,
        dropped: m.dropped,
        paused: m.paused,
        targets: m
            .targets
            .iter()
            .map(|t| ExportTarget {
                state: t,
                reconnect_times: t
                    .reconnect_times
                    .iter()
                    .map(|t| humantime::format_rfc3339_millis(*t).to_string())
                    .collect(),
            })
            .collect(),
        open_conns,
        events: &m.log,
    };
    let mut w = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut w, &doc)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::flush(&mut w).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
