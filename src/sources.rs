//! Target sources for the engine's reloads: the command line's `--config`, `--targets` and
//! `--target`, re-read on reload, and target list files added or swapped in at run time.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::config::{self, ConfigError, SourceArgs};
use crate::engine::spec::TargetSpec;
use crate::engine::{Discovery, Sources, TargetSet, TargetsFuture};

/// The sources given on the command line, re-read on every reload, plus fixed targets that
/// are always there (the demo fleet).
pub struct ConfigSources {
    args: Arc<Mutex<SourceArgs>>,
    base: Vec<TargetSpec>,
}

impl ConfigSources {
    /// Sources as given.
    pub fn new(args: SourceArgs) -> Self {
        ConfigSources {
            args: Arc::new(Mutex::new(args)),
            base: Vec::new(),
        }
    }

    /// Sources with `base` targets that every reload keeps (files loaded at run time add to
    /// them, or replace only the files).
    pub fn with_base(args: SourceArgs, base: Vec<TargetSpec>) -> Self {
        ConfigSources {
            args: Arc::new(Mutex::new(args)),
            base,
        }
    }

    fn current(&self) -> SourceArgs {
        match self.args.lock() {
            Ok(a) => a.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// What a read of the sources gives: the targets, and what should trigger the next reload.
#[derive(Debug, Default)]
pub struct Read {
    /// Targets and notices.
    pub set: TargetSet,
    /// file_sd patterns and `--targets` files to watch.
    pub watch: config::watch::Watched,
    /// The shortest dns_sd refresh interval.
    pub dns_sd_refresh: Option<std::time::Duration>,
}

/// Read `args` and turn the result, after `base`, into a target set. No sources at all read as
/// no targets.
pub async fn read(
    args: &SourceArgs,
    base: &[TargetSpec],
    sd: &impl config::SdResolver,
) -> Result<Read, ConfigError> {
    let empty = args.config.is_none() && args.targets_files.is_empty() && args.targets.is_empty();
    let mut r = Read::default();
    r.set.targets = base.to_vec();
    if !empty {
        let l = config::load(args, sd).await?;
        r.set.targets.extend(l.targets);
        r.set.notices = l.notices;
        r.watch = l.watch;
        r.dns_sd_refresh = l.dns_sd_refresh;
    }
    Ok(r)
}

impl Sources for ConfigSources {
    fn reload(&self, sd: Discovery) -> TargetsFuture {
        let args = self.current();
        let base = self.base.clone();
        Box::pin(async move { Ok(read(&args, &base, &sd).await?.set) })
    }

    fn load(&self, path: String, replace: bool, sd: Discovery) -> TargetsFuture {
        let mut next = self.current();
        let file = PathBuf::from(&path);
        if replace {
            // Replaces the file sources only: `--target`s are not a file, they stay.
            next.config = None;
            next.targets_files = vec![file];
        } else if !next.targets_files.contains(&file) {
            next.targets_files.push(file);
        }
        let shared = self.args.clone();
        let base = self.base.clone();
        Box::pin(async move {
            let set = read(&next, &base, &sd).await?.set;
            // Only a source that loaded becomes current: a bad file loses nothing.
            match shared.lock() {
                Ok(mut a) => *a = next,
                Err(p) => *p.into_inner() = next,
            }
            Ok(set)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SourcesError;

    /// A bad source is a [`ConfigError`] whose message is the one the CLI prints at start, and
    /// a reload's error (a [`SourcesError`]) shows exactly that message, secrets redacted.
    #[tokio::test]
    async fn errors_are_config_errors_with_the_same_text() {
        let args = SourceArgs {
            targets: vec!["http://user:hunter2@h:1".into()],
            ..SourceArgs::default()
        };
        let e = read(&args, &[], &config::NoLookups)
            .await
            .expect_err("userinfo in --target");
        assert!(matches!(e, ConfigError::Args(_)), "{e:?}");
        let text = e.to_string();
        assert!(
            text.starts_with("--target: credentials in the target address are not supported"),
            "{text}"
        );
        assert!(!text.contains("hunter2") && !format!("{e:?}").contains("hunter2"));
        let reload: SourcesError = e.into();
        assert_eq!(reload.to_string(), text);
        assert!(!format!("{reload:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn no_sources_read_as_the_base_targets() {
        let r = read(&SourceArgs::default(), &[], &config::NoLookups)
            .await
            .expect("no sources is no targets");
        assert!(r.set.targets.is_empty() && r.set.notices.is_empty());
    }
}
