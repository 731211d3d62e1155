//! Operations on targets (reconnect, re-resolve, probe): on the selected one, or on every shown
//! one after a confirmation. A key's effect shows at once: the row is marked pending until the
//! engine's answering event clears it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::event::{Command, Selector};
use crate::model::Pending;

use super::app::App;
use super::prompt::Prompt;

/// A per-target operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetOp {
    /// Reconnect.
    Reconnect,
    /// Re-resolve.
    ReResolve,
    /// Probe.
    Probe,
}

impl TargetOp {
    fn command(self, sel: Selector) -> Command {
        match self {
            TargetOp::Reconnect => Command::Reconnect(sel),
            TargetOp::ReResolve => Command::ReResolve(sel),
            TargetOp::Probe => Command::Probe(sel),
        }
    }

    fn pending(self) -> Pending {
        match self {
            TargetOp::Reconnect => Pending::Reconnecting,
            TargetOp::ReResolve => Pending::Resolving,
            TargetOp::Probe => Pending::Probing,
        }
    }

    /// Verb for prompts.
    pub fn verb(self) -> &'static str {
        match self {
            TargetOp::Reconnect => "reconnect",
            TargetOp::ReResolve => "re-resolve",
            TargetOp::Probe => "probe",
        }
    }
}

impl App {
    /// The operation on the target in view (the detail's, else the table's selection).
    pub(super) fn target_op(&mut self, op: TargetOp) {
        let Some(slot) = self.current_target() else {
            self.status = Some("no target selected".to_string());
            return;
        };
        let Some(t) = self.shown().targets.get(slot) else {
            return;
        };
        let cmd = op.command(Selector::target(&t.target));
        self.outbox.push(cmd);
        self.mark_pending(vec![slot], op.pending());
    }

    /// A command that cannot be carried out (the source lacks the capability, or the engine's
    /// queue is full): say so, and stop showing it as pending.
    pub fn refuse(&mut self, cmd: &Command, why: &impl std::fmt::Display) {
        if let Some(p) = Pending::for_command(cmd) {
            self.model.clear_pending(p);
            if let Some(f) = self.frozen.as_deref_mut() {
                f.clear_pending(p);
            }
        }
        self.status = Some(why.to_string());
    }

    fn mark_pending(&mut self, slots: Vec<usize>, p: Pending) {
        // Slots are shared: the frozen copy is a clone of the live model.
        if let Some(f) = self.frozen.as_deref_mut() {
            f.set_pending(slots.iter().copied(), p);
        }
        self.model.set_pending(slots, p);
    }

    /// Ask before an operation on every shown target.
    pub(super) fn ask_all(&mut self, op: TargetOp) {
        if self.targets.rows.is_empty() {
            self.status = Some("no targets shown".to_string());
            return;
        }
        self.prompt = Some(Prompt::Confirm {
            op,
            targets: self.targets.rows.len(),
        });
    }

    /// Carry out an operation on every shown target; returns how many commands it took.
    pub(super) fn op_on_shown(&mut self, op: TargetOp) -> usize {
        let cmds = self.commands_for_shown(op);
        let n = cmds.len();
        self.outbox.extend(cmds);
        let slots = self.targets.rows.clone();
        self.mark_pending(slots, op.pending());
        n
    }

    /// Commands for every shown target: one per job when the whole job is shown, else one per
    /// target.
    pub fn commands_for_shown(&self, op: TargetOp) -> Vec<Command> {
        let m = self.shown();
        let mut per_job: Vec<(Arc<str>, Vec<usize>)> = Vec::new();
        let mut pos: HashMap<Arc<str>, usize> = HashMap::new();
        for &slot in &self.targets.rows {
            let Some(t) = m.targets.get(slot) else {
                continue;
            };
            let i = *pos.entry(t.job.clone()).or_insert_with(|| {
                per_job.push((t.job.clone(), Vec::new()));
                per_job.len() - 1
            });
            per_job[i].1.push(slot);
        }
        let mut out = Vec::new();
        for (job, slots) in per_job {
            let whole = self.derived.job_totals.get(&job).copied() == Some(slots.len());
            if whole {
                out.push(op.command(Selector {
                    job: Some(job.to_string()),
                    ..Selector::all()
                }));
            } else {
                for s in slots {
                    let t = &m.targets[s];
                    out.push(op.command(Selector::target(&t.target)));
                }
            }
        }
        out
    }
}
