//! Target sources for the engine's reloads: the command line's `--config`, `--targets` and
//! `--target`, re-read on reload, and target list files added or swapped in at run time.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::config::{self, SourceArgs};
use crate::engine::{Discovery, Sources, TargetSet, TargetsFuture};

/// The sources given on the command line, re-read on every reload.
pub struct ConfigSources {
    args: Arc<Mutex<SourceArgs>>,
}

impl ConfigSources {
    /// Sources as given.
    pub fn new(args: SourceArgs) -> Self {
        ConfigSources {
            args: Arc::new(Mutex::new(args)),
        }
    }

    fn current(&self) -> SourceArgs {
        match self.args.lock() {
            Ok(a) => a.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// Read `args` and turn the result into a target set; errors are the user-facing text.
pub async fn read(args: &SourceArgs, sd: &impl config::SdResolver) -> Result<TargetSet, String> {
    config::load(args, sd)
        .await
        .map(|l| TargetSet {
            targets: l.targets,
            notices: l.notices,
        })
        .map_err(|e| e.to_string())
}

impl Sources for ConfigSources {
    fn reload(&self, sd: Discovery) -> TargetsFuture {
        let args = self.current();
        Box::pin(async move { read(&args, &sd).await })
    }

    fn load(&self, path: String, replace: bool, sd: Discovery) -> TargetsFuture {
        let mut next = self.current();
        let file = PathBuf::from(&path);
        if replace {
            next.config = None;
            next.targets.clear();
            next.targets_files = vec![file];
        } else if !next.targets_files.contains(&file) {
            next.targets_files.push(file);
        }
        let shared = self.args.clone();
        Box::pin(async move {
            let set = read(&next, &sd).await?;
            // Only a source that loaded becomes current: a bad file loses nothing.
            match shared.lock() {
                Ok(mut a) => *a = next,
                Err(p) => *p.into_inner() = next,
            }
            Ok(set)
        })
    }
}
