//! `run_once` inside an included file. The plan cannot see included tasks, so hosts run an
//! include each on its own; the hosts that include the same file with the same parameters meet
//! here. As in ansible-core the first of them (in play order) runs the task and every other
//! gets its registered result: a host arriving first waits while a host before it in play order
//! may still arrive (it is among the hosts the top-level task that led here runs on, and has not
//! finished it). A host waits only for hosts before it, so the first never waits, and a waiting
//! host gives back its fork slot. Where the hosts running the top-level task are not known
//! beforehand (a handler flushed for one host), the first host to arrive runs the task.

use super::play::PlayRun;
use super::task::IncludeCtx;
use crate::plan::{Leaf, PlanNode, PlayPlan};
use crate::value::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OnceCell, OwnedSemaphorePermit};

type Shared = Arc<OnceCell<Option<Map>>>;

/// How often a waiting host looks again.
const POLL: Duration = Duration::from_millis(5);

/// The play's shared `run_once` results, by include, task and pass.
#[derive(Default)]
pub struct IncludedOnce {
    cells: Mutex<HashMap<String, Shared>>,
    /// How often each host reached each key (an include run twice runs its task twice).
    passes: Mutex<HashMap<(usize, String), usize>>,
    /// (host, top-level leaf) pairs done: that host will reach nothing under that leaf.
    done: Mutex<HashSet<(usize, usize)>>,
    /// The hosts each top-level leaf runs on, where known.
    expected: Mutex<HashMap<usize, Vec<usize>>>,
    /// Each host's fork slot while it runs a top-level task (given back while it waits).
    permits: Mutex<HashMap<usize, OwnedSemaphorePermit>>,
}

/// Identifies a top-level leaf for the life of the play.
pub(super) fn leaf_key(leaf: &Arc<Leaf>) -> usize {
    Arc::as_ptr(leaf) as usize
}

impl IncludedOnce {
    /// Host `h` reached `key` once more; returns which pass this is.
    fn arrive(&self, h: usize, key: &str) -> usize {
        let Ok(mut p) = self.passes.lock() else {
            return 0;
        };
        let n = p.entry((h, key.to_string())).or_insert(0);
        *n += 1;
        *n
    }

    fn cell(&self, key: &str, pass: usize) -> Shared {
        match self.cells.lock() {
            Ok(mut c) => c.entry(format!("{key}#{pass}")).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// Host `h` is done with top-level leaf `root`.
    pub(super) fn finish(&self, h: usize, root: usize) {
        if let Ok(mut d) = self.done.lock() {
            d.insert((h, root));
        }
    }

    /// Top-level leaf `root` is about to run on `hosts` (a new round: none is done with it).
    pub(super) fn expect(&self, root: usize, hosts: &[usize]) {
        if let Ok(mut d) = self.done.lock() {
            d.retain(|(h, r)| *r != root || !hosts.contains(h));
        }
        if let Ok(mut e) = self.expected.lock() {
            e.insert(root, hosts.to_vec());
        }
    }

    /// The leaves every host of `plan` runs on its own: hosts meeting at a `run_once` inside
    /// one of their includes know whom to wait for.
    pub(super) fn expect_plan(&self, plan: &PlayPlan) {
        let all: Vec<usize> = (0..plan.hosts.len()).collect();
        for node in plan.graph.node_weights() {
            if let PlanNode::Task { host: 0, leaf } = node {
                self.expect(leaf_key(&plan.leaves[*leaf]), &all);
            }
        }
    }

    /// Whether a host before `h` may still reach the `run_once` task under `root`.
    fn earlier_may_come(&self, h: usize, root: usize) -> bool {
        let expected = match self.expected.lock() {
            Ok(e) => e.get(&root).cloned().unwrap_or_default(),
            Err(_) => return false,
        };
        let Ok(done) = self.done.lock() else {
            return false;
        };
        // An earlier host still in it runs the task here, or is on its way, or waits for one
        // before it: either way the task is not this host's to run yet.
        expected
            .iter()
            .any(|&e| e < h && !done.contains(&(e, root)))
    }

    pub(super) fn hold_permit(&self, h: usize, permit: Option<OwnedSemaphorePermit>) {
        if let (Some(p), Ok(mut m)) = (permit, self.permits.lock()) {
            m.insert(h, p);
        }
    }

    pub(super) fn release_permit(&self, h: usize) -> Option<OwnedSemaphorePermit> {
        self.permits.lock().ok().and_then(|mut m| m.remove(&h))
    }
}

impl PlayRun {
    /// Run an included `run_once` task for every host that reaches it through the same
    /// include: once, on the first of them in play order.
    pub(super) async fn run_once_included(
        self: &Arc<Self>,
        h: usize,
        leaf: &Arc<Leaf>,
        inc: &IncludeCtx,
    ) -> Option<Map> {
        let once = &self.included_once;
        let key = format!("{}|{}", inc.origin, leaf.task.span);
        let pass = once.arrive(h, &key);
        let cell = once.cell(&key, pass);
        if !cell.initialized() && once.earlier_may_come(h, inc.root) {
            self.wait_for_earlier(h, inc.root, &cell).await;
        }
        let mut ran_here = false;
        let shared = cell
            .get_or_init(|| {
                ran_here = true;
                async {
                    let outcome = self.execute(h, leaf, Some(inc)).await;
                    self.record(h, leaf, outcome)
                }
            })
            .await
            .clone();
        if !ran_here {
            self.take_shared(h, leaf, &shared);
        }
        shared
    }

    /// Wait (without a fork slot) until the task ran or no earlier host can come any more.
    async fn wait_for_earlier(&self, h: usize, root: usize, cell: &Shared) {
        let once = &self.included_once;
        let permit = once.release_permit(h);
        let gave_back = permit.is_some();
        drop(permit);
        while !cell.initialized() && once.earlier_may_come(h, root) {
            tokio::time::sleep(POLL).await;
        }
        if gave_back {
            let permit = self.runner.forks.clone().acquire_owned().await.ok();
            once.hold_permit(h, permit);
        }
    }

    /// Another host ran the task: its registered result and the facts it set become this
    /// host's too (ansible-core gives a `run_once` task's facts to every host).
    pub(super) fn take_shared(&self, h: usize, leaf: &Leaf, shared: &Option<Map>) {
        let Some(result) = shared else { return };
        let host = &self.plan.hosts[h];
        self.apply_facts(host, leaf, result);
        if let Some(reg) = &leaf.task.register {
            let r = result.clone();
            self.runner.vars.update_host(host, |s| {
                Arc::make_mut(&mut s.set_facts).insert(reg.clone(), Value::Object(r));
                Arc::make_mut(&mut s.unsafe_names).insert(reg.clone());
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_waits_only_for_earlier_hosts_still_running_the_task() {
        let once = IncludedOnce::default();
        // Unknown hosts (a handler flushed for one host): nobody is waited for.
        assert!(!once.earlier_may_come(2, 7));
        once.expect(7, &[0, 1, 2]);
        assert!(!once.earlier_may_come(0, 7), "the first host never waits");
        assert!(once.earlier_may_come(2, 7));
        once.finish(0, 7);
        assert!(!once.earlier_may_come(1, 7));
        assert!(once.earlier_may_come(2, 7));
        once.finish(1, 7);
        assert!(!once.earlier_may_come(2, 7));
        // A new round of the same task: nobody is done with it again.
        once.expect(7, &[1, 2]);
        assert!(once.earlier_may_come(2, 7));
        assert!(
            !once.earlier_may_come(1, 7),
            "host 0 does not run it this time"
        );
    }

    #[test]
    fn each_pass_through_an_include_has_its_own_cell() {
        let once = IncludedOnce::default();
        let (a1, b1) = (once.arrive(0, "k"), once.arrive(1, "k"));
        assert_eq!((a1, b1), (1, 1));
        assert!(Arc::ptr_eq(&once.cell("k", a1), &once.cell("k", b1)));
        let a2 = once.arrive(0, "k");
        assert_eq!(a2, 2);
        assert!(!Arc::ptr_eq(&once.cell("k", a1), &once.cell("k", a2)));
    }
}
