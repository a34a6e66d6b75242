//! One host's progress through a play: failure state per block (for rescue/always), notified
//! handlers, and whether it is still in the play.
//!
//! A failure inside a block is "pending" until the host leaves that block (its `always` has
//! run); then it either was rescued or propagates to the enclosing block, and at the top level
//! fails the host — the same state machine Ansible's play iterator implements.

use crate::plan::BlockRef;
use crate::playbook::Section;
use indexmap::IndexSet;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, Default)]
struct BlockState {
    failed_block: bool,
    failed_rescue: bool,
    failed_always: bool,
}

#[derive(Debug, Default)]
pub struct HostRun {
    pub failed: bool,
    pub unreachable: bool,
    /// `meta: end_host` / `end_play`.
    pub ended: bool,
    blocks: HashMap<usize, BlockState>,
    /// Failures waiting for the host to leave their block: (block, its enclosing blocks).
    pending: Vec<(usize, Vec<BlockRef>)>,
    /// Handler names notified and not yet run, in notification order.
    pub notified: IndexSet<String>,
}

impl HostRun {
    /// Whether the host is out of the play.
    pub fn done(&self) -> bool {
        self.failed || self.unreachable || self.ended
    }

    /// Propagate failures of blocks the host has now left (call before each task).
    pub fn settle(&mut self, leaf_blocks: &[BlockRef]) {
        loop {
            let Some(pos) = self
                .pending
                .iter()
                .position(|(id, _)| !leaf_blocks.iter().any(|b| b.id == *id))
            else {
                return;
            };
            // Only unhandled failures are pending (a rescued one never is): pass it up.
            let (_, parents) = self.pending.remove(pos);
            self.fail_at(&parents);
        }
    }

    /// Whether a task inside these blocks runs for this host now.
    pub fn eligible(&self, leaf_blocks: &[BlockRef]) -> bool {
        if self.done() {
            return false;
        }
        for b in leaf_blocks {
            let st = self.blocks.get(&b.id).copied().unwrap_or_default();
            let ok = match b.section {
                Section::Block => !st.failed_block,
                Section::Rescue => st.failed_block && !st.failed_rescue,
                Section::Always => !st.failed_always,
            };
            if !ok {
                return false;
            }
        }
        true
    }

    /// Whether a failure of a task inside these blocks will be rescued by some enclosing block
    /// (Ansible counts it as `rescued`, not `failed`).
    pub fn will_rescue(leaf_blocks: &[BlockRef]) -> bool {
        leaf_blocks
            .iter()
            .rev()
            .any(|b| b.section == Section::Block && b.has_rescue)
    }

    /// Record a (non-ignored) task failure inside these blocks.
    pub fn fail_at(&mut self, leaf_blocks: &[BlockRef]) {
        let Some((inner, parents)) = leaf_blocks.split_last() else {
            self.failed = true;
            return;
        };
        let st = self.blocks.entry(inner.id).or_default();
        match inner.section {
            Section::Block => {
                st.failed_block = true;
                if inner.has_rescue {
                    return;
                }
            }
            Section::Rescue => st.failed_rescue = true,
            Section::Always => st.failed_always = true,
        }
        if !self.pending.iter().any(|(id, _)| *id == inner.id) {
            self.pending.push((inner.id, parents.to_vec()));
        }
    }

    /// End of play: failures still pending fail the host.
    pub fn finish(&mut self) {
        self.settle(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(id: usize, section: Section, has_rescue: bool) -> BlockRef {
        BlockRef {
            id,
            section,
            has_rescue,
            has_always: true,
        }
    }

    #[test]
    fn failure_in_block_with_rescue_runs_rescue_and_always_only() {
        let mut h = HostRun::default();
        h.fail_at(&[b(1, Section::Block, true)]);
        assert!(!h.eligible(&[b(1, Section::Block, true)]));
        assert!(h.eligible(&[b(1, Section::Rescue, true)]));
        assert!(h.eligible(&[b(1, Section::Always, true)]));
        h.finish();
        assert!(!h.failed, "a rescued failure does not fail the host");
    }

    #[test]
    fn failure_without_rescue_fails_host_after_always() {
        let mut h = HostRun::default();
        h.fail_at(&[b(1, Section::Block, false)]);
        h.settle(&[b(1, Section::Always, false)]);
        assert!(h.eligible(&[b(1, Section::Always, false)]));
        h.settle(&[]);
        assert!(h.failed);
    }

    #[test]
    fn rescue_is_skipped_when_nothing_failed() {
        let h = HostRun::default();
        assert!(!h.eligible(&[b(1, Section::Rescue, true)]));
    }

    #[test]
    fn failing_rescue_propagates_to_outer_block_rescue() {
        let mut h = HostRun::default();
        let outer = b(1, Section::Block, true);
        h.fail_at(&[outer.clone(), b(2, Section::Rescue, true)]);
        h.settle(&[outer.clone(), b(3, Section::Block, false)]);
        assert!(h.eligible(&[b(1, Section::Rescue, true)]));
        assert!(!h.failed);
        assert!(HostRun::will_rescue(&[outer, b(2, Section::Rescue, true)]));
    }
}
