//! The commands a source accepts, and which targets a per-target command applies to.

use serde::{Deserialize, Serialize};

use super::{TargetId, TargetRef};

/// A command to the source, as accepted on the headless stdin and sent by TUI keys.
///
/// JSON: `{"cmd":"reconnect","job":"node","instance":"h:9100"}`; omit `instance` for a whole
/// job, omit both for every target; or `{"cmd":"probe","target":"<16 hex digits>"}` for exactly
/// one target (several targets may share a job and instance).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Close the selected targets' idle connections now; in-flight scrapes finish first.
    Reconnect(Selector),
    /// Look the selected targets' names up now without touching their connections.
    ReResolve(Selector),
    /// Resolve, connect and GET on a fresh connection beside the pooled one.
    Probe(Selector),
    /// Stop scraping (connections stay until their idle timeout).
    Pause,
    /// Resume scraping.
    Resume,
    /// Reload the target sources.
    Reload,
    /// Load a target list file (plain list or file_sd JSON/YAML) as a target source.
    Load {
        /// Path of the file.
        path: String,
        /// Replace the current file sources instead of adding to them.
        #[serde(default)]
        replace: bool,
    },
    /// Shut down.
    Quit,
}

impl Command {
    /// The command's name as in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Reconnect(_) => "reconnect",
            Command::ReResolve(_) => "re_resolve",
            Command::Probe(_) => "probe",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Reload => "reload",
            Command::Load { .. } => "load",
            Command::Quit => "quit",
        }
    }

    /// The targets a per-target command applies to (`None` for source-wide commands).
    pub fn selector(&self) -> Option<&Selector> {
        match self {
            Command::Reconnect(s) | Command::ReResolve(s) | Command::Probe(s) => Some(s),
            _ => None,
        }
    }
}

/// Which targets a command applies to. Every given field must match; none given: every
/// target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Exactly this target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetId>,
    /// A job name; `None` means every job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// An instance within the job (or in any job when `job` is omitted); `None` means all
    /// (several targets may share one instance: all of them are selected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl Selector {
    /// Every target.
    pub fn all() -> Self {
        Selector::default()
    }

    /// Exactly one target.
    pub fn target(t: &TargetRef) -> Self {
        Selector {
            target: Some(t.id),
            job: None,
            instance: None,
        }
    }

    /// Every target of `job` with `instance`.
    pub fn instance(job: &str, instance: &str) -> Self {
        Selector {
            target: None,
            job: Some(job.to_owned()),
            instance: Some(instance.to_owned()),
        }
    }

    /// Whether a target is selected.
    pub fn matches(&self, t: &TargetRef) -> bool {
        self.target.is_none_or(|id| id == t.id)
            && self.job.as_deref().is_none_or(|j| j == &*t.job)
            && self.instance.as_deref().is_none_or(|i| i == &*t.instance)
    }
}

impl std::fmt::Display for Selector {
    /// How an error names the selection: `target 0123…`, `job "node" instance "h:1"`, `every
    /// target`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(t) = self.target {
            parts.push(format!("target {t}"));
        }
        if let Some(j) = &self.job {
            parts.push(format!("job {j:?}"));
        }
        if let Some(i) = &self.instance {
            parts.push(format!("instance {i:?}"));
        }
        if parts.is_empty() {
            f.write_str("every target")
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}
