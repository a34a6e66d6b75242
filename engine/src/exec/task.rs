//! One task (leaf) on one host, as a sequence of named steps: eligibility, conditions, the loop
//! (`task_loop`), argument rendering (`args`), dispatch on the task's [`Action`], the module
//! call with its retries (`invoke`), and the result's registration, counts and output
//! (`record`).

use super::outcome::Outcome;
use super::play::PlayRun;
use crate::plan::Leaf;
use crate::playbook::action::{Action, ModuleKind};
use crate::value::{ansible_bool, to_display_string, Map, Value};
use crate::vars::scope::{Scope, TaskLayers};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Variables an include passes to the tasks it includes (include params precedence).
#[derive(Clone, Debug, Default)]
pub(crate) struct IncludeCtx {
    pub params: Vec<Arc<Map>>,
    /// Which include (task and parameters, outermost first) brought the tasks in: hosts that
    /// share it share the `run_once` tasks inside.
    pub origin: String,
    /// The top-level task the include chain started from (see `once`).
    pub root: usize,
}

/// One task on one host with the variables it sees: what every step of running it needs.
pub(super) struct TaskRun<'a> {
    pub h: usize,
    pub host: String,
    pub leaf: &'a Arc<Leaf>,
    pub inc: Option<&'a IncludeCtx>,
    pub layers: TaskLayers,
    pub scope: Arc<Scope>,
}

pub(super) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A keyword's value rendered in the task's scope; `None` when unset or it does not render.
fn kw_rendered(
    v: &Option<Value>,
    scope: &Arc<Scope>,
    templar: &crate::template::Templar,
) -> Option<Value> {
    templar.render_value(v.as_ref()?, &scope.ctx()).ok()
}

pub(super) fn kw_bool(
    v: &Option<Value>,
    scope: &Arc<Scope>,
    templar: &crate::template::Templar,
) -> Option<bool> {
    ansible_bool(&kw_rendered(v, scope, templar)?)
}

/// A keyword's rendered value as text; `None` when unset, unrenderable or empty.
pub(super) fn kw_string(
    v: &Option<Value>,
    scope: &Arc<Scope>,
    templar: &crate::template::Templar,
) -> Option<String> {
    Some(to_display_string(&kw_rendered(v, scope, templar)?)).filter(|s| !s.is_empty())
}

impl PlayRun {
    pub(super) fn search_path(&self, leaf: &Leaf) -> Vec<PathBuf> {
        let mut v = Vec::new();
        let mut add = |p: PathBuf| {
            if !v.contains(&p) {
                v.push(p);
            }
        };
        if let Some(r) = &leaf.task.ctx.role {
            add(r.path.clone());
        }
        if let Some(dir) = std::path::Path::new(&*leaf.task.span.file).parent() {
            add(dir.to_path_buf());
        }
        add(leaf.task.ctx.base_dir.clone());
        add(self.play.base_dir.clone());
        v
    }

    pub(super) fn layers(
        &self,
        leaf: &Leaf,
        inc: Option<&IncludeCtx>,
        loop_vars: Option<Arc<Map>>,
    ) -> TaskLayers {
        TaskLayers {
            task_vars: leaf.vars.clone(),
            role: leaf.task.ctx.role.clone(),
            include_params: inc
                .map(|i| i.params.iter().rev().cloned().collect())
                .unwrap_or_default(),
            loop_vars,
            registered: None,
            search_path: self
                .search_path(leaf)
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        }
    }

    /// The task on host `h`, seeing `loop_vars` (a loop item) when given.
    pub(super) fn task_run<'a>(
        &self,
        h: usize,
        leaf: &'a Arc<Leaf>,
        inc: Option<&'a IncludeCtx>,
        loop_vars: Option<Arc<Map>>,
    ) -> TaskRun<'a> {
        let host = self.plan.hosts[h].clone();
        let layers = self.layers(leaf, inc, loop_vars);
        let scope = Scope::for_task(&self.runner.vars, &host, &layers);
        TaskRun {
            h,
            host,
            leaf,
            inc,
            layers,
            scope,
        }
    }

    /// Run a leaf on one host. Returns the (registered) result when the task ran.
    pub(crate) fn run_leaf_on_host<'a>(
        self: &'a Arc<Self>,
        h: usize,
        leaf: &'a Arc<Leaf>,
        inc: Option<&'a IncludeCtx>,
    ) -> BoxFut<'a, Option<Map>> {
        Box::pin(async move {
            let Some(inc) = inc else {
                // A top-level task holds a fork slot while it runs (included tasks share it).
                let permit = self.runner.forks.clone().acquire_owned().await.ok();
                self.included_once.hold_permit(h, permit);
                let r = self.run_leaf(h, leaf, None).await;
                drop(self.included_once.release_permit(h));
                self.included_once.finish(h, super::once::leaf_key(leaf));
                return r;
            };
            self.run_leaf(h, leaf, Some(inc)).await
        })
    }

    async fn run_leaf(
        self: &Arc<Self>,
        h: usize,
        leaf: &Arc<Leaf>,
        inc: Option<&IncludeCtx>,
    ) -> Option<Map> {
        if !self.may_run(h, leaf) {
            return None;
        }
        // meta tasks run silently unless skipped (the output layer prints the banner then).
        if leaf.task.kind != Action::Meta {
            if !self.step_allows(leaf).await {
                return None;
            }
            self.announce(leaf);
        }
        self.note_role_ran(leaf);
        if let (true, Some(inc)) = (leaf.run_once, inc) {
            return self.run_once_included(h, leaf, inc).await;
        }
        let outcome = self.execute(h, leaf, inc).await;
        self.record(h, leaf, outcome)
    }

    /// Whether host `h` still runs tasks here (not failed out of the block, the play not ended).
    fn may_run(&self, h: usize, leaf: &Leaf) -> bool {
        if leaf.section == crate::plan::PlaySection::Facts
            && self
                .plan
                .hosts
                .get(h)
                .is_some_and(|host| super::play::smart_skips(&self.runner, host))
        {
            return false;
        }
        {
            let Ok(mut hr) = self.hosts[h].lock() else {
                return false;
            };
            hr.settle(&leaf.blocks);
            let handler_forced = leaf.is_handler() && self.force_handlers;
            if !(hr.eligible(&leaf.blocks) || handler_forced && !hr.unreachable) {
                return false;
            }
        }
        !self.ended.load(Ordering::SeqCst)
    }

    /// Remember that the task's role ran (for `include_role`'s duplicate check).
    fn note_role_ran(&self, leaf: &Leaf) {
        if let Some(r) = &leaf.task.ctx.role {
            if let Ok(mut ran) = self.ran_roles.lock() {
                ran.insert((
                    r.path.clone(),
                    serde_json::to_string(&*r.params).unwrap_or_default(),
                ));
            }
        }
    }

    /// Conditions, loop and action for one host.
    pub(super) async fn execute(
        self: &Arc<Self>,
        h: usize,
        leaf: &Arc<Leaf>,
        inc: Option<&IncludeCtx>,
    ) -> Outcome {
        let t = self.task_run(h, leaf, inc, None);
        if leaf.task.loop_.is_some() {
            return self.execute_loop(&t).await;
        }
        let mut o = match self.check_when(leaf, &t.scope) {
            Err(o) => o,
            Ok(()) => self.perform(&t).await,
        };
        if super::nolog::hidden(&leaf.keywords.no_log, &t.scope, &self.runner.templar) {
            o.result.insert(super::nolog::KEY.into(), Value::Bool(true));
        }
        o
    }

    /// The action itself: the engine's, or the module's with retries and result conditions.
    pub(super) async fn perform(self: &Arc<Self>, t: &TaskRun<'_>) -> Outcome {
        if t.leaf.task.kind == Action::Module(ModuleKind::SetFact) {
            return self.set_fact(t).await;
        }
        let args = match self.render_args(t) {
            Ok(a) => a,
            Err(o) => return o,
        };
        match t.leaf.task.kind {
            Action::IncludeTasks | Action::IncludeRole => self.include(t, args).await,
            Action::Meta => self.meta(t.h, t.leaf, &args).await,
            Action::AddHost => Outcome::from_engine(self.add_host(&args)),
            Action::GroupBy => Outcome::from_engine(self.group_by(&t.host, &args)),
            Action::SetStats => Outcome::from_engine(self.set_stats(&t.host, &args)),
            Action::ValidateArgSpec => validate_arg_spec(t, &args),
            Action::Pause => Outcome::from_engine(self.pause(t.leaf, &args).await),
            Action::ImportTasks | Action::ImportRole | Action::ImportPlaybook => {
                Outcome::failed(format!("'{}' is resolved when loading", t.leaf.task.action))
            }
            Action::Module(_) => self.run_module(t, args).await,
        }
    }

    /// `set_fact`, noting which values came from module results (they stay data).
    async fn set_fact(self: &Arc<Self>, t: &TaskRun<'_>) -> Outcome {
        let (args, data) = match self.render_fact_args(t) {
            Ok(a) => a,
            Err(o) => return o,
        };
        let mut o = self.run_module(t, args).await;
        if !data.is_empty() {
            o.result
                .insert(super::args::DATA_FACTS.into(), Value::from(data));
        }
        o
    }
}

/// `validate_argument_spec`: the spec's options read from the task's variables.
fn validate_arg_spec(t: &TaskRun<'_>, args: &Map) -> Outcome {
    match crate::argspec::action::run(args, |name| t.scope.get_json(name)) {
        Ok(result) => Outcome::ok(result),
        Err((msg, result)) => {
            let mut o = Outcome::failed(msg);
            o.result.extend(result);
            o
        }
    }
}
