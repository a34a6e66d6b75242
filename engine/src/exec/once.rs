//! `run_once` inside an included file. The plan cannot see included tasks, so hosts run an
//! include each on its own; the hosts that include the same file with the same parameters meet
//! here: the first to reach a `run_once` task runs it, the others wait and get its registered
//! result, as ansible-core runs it once for every host of the include.

use super::play::PlayRun;
use super::task::IncludeCtx;
use crate::plan::Leaf;
use crate::value::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

type Shared = Arc<OnceCell<Option<Map>>>;

/// The play's shared `run_once` results, by include, task and pass.
#[derive(Default)]
pub struct IncludedOnce {
    cells: Mutex<HashMap<String, Shared>>,
    /// How often each host reached each key (an include run twice runs its task twice).
    passes: Mutex<HashMap<(usize, String), usize>>,
}

impl IncludedOnce {
    /// The cell host `h` shares with the other hosts on this pass through `key`.
    fn cell(&self, h: usize, key: String) -> Shared {
        let pass = match self.passes.lock() {
            Ok(mut p) => {
                let n = p.entry((h, key.clone())).or_insert(0);
                *n += 1;
                *n
            }
            Err(_) => 0,
        };
        let key = format!("{key}#{pass}");
        match self.cells.lock() {
            Ok(mut c) => c.entry(key).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }
}

impl PlayRun {
    /// Run an included `run_once` task for every host that reaches it through the same
    /// include: once, on the first of them.
    pub(super) async fn run_once_included(
        self: &Arc<Self>,
        h: usize,
        leaf: &Arc<Leaf>,
        inc: Option<&IncludeCtx>,
    ) -> Option<Map> {
        let origin = inc.map(|i| i.origin.as_str()).unwrap_or_default();
        let cell = self
            .included_once
            .cell(h, format!("{origin}|{}", leaf.task.span));
        let mut ran_here = false;
        let shared = cell
            .get_or_init(|| {
                ran_here = true;
                async {
                    let outcome = self.execute(h, leaf, inc).await;
                    self.record(h, leaf, outcome)
                }
            })
            .await
            .clone();
        if !ran_here {
            if let (Some(result), Some(reg)) = (&shared, &leaf.task.register) {
                let r = result.clone();
                self.runner.vars.update_host(&self.plan.hosts[h], |s| {
                    Arc::make_mut(&mut s.set_facts).insert(reg.clone(), Value::Object(r));
                    Arc::make_mut(&mut s.unsafe_names).insert(reg.clone());
                });
            }
        }
        shared
    }
}
