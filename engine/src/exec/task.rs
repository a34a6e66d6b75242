//! One task (leaf) on one host: conditions, loops, the module call, retries, result handling,
//! registration, handler notification, recap counts and output.

use super::hoststate::HostRun;
use super::play::PlayRun;
use super::taskenv::ExecTaskEnv;
use crate::module::{ModuleContext, ModuleError, ModuleResult};
use crate::output::{Event, Status};
use crate::plan::{self, Leaf};
use crate::playbook::keywords::short_action;
use crate::transport::Become;
use crate::value::{ansible_bool, to_display_string, truthy, Map, Value};
use crate::vars::scope::{Scope, TaskLayers};
use crate::vars::OMIT;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Variables an include passes to the tasks it includes (include params precedence).
#[derive(Clone, Debug, Default)]
pub(crate) struct IncludeCtx {
    pub params: Vec<Arc<Map>>,
}

/// What one execution (one item, or the task without a loop) produced.
#[derive(Debug, Clone)]
struct Outcome {
    result: Map,
    failed: bool,
    changed: bool,
    skipped: bool,
    unreachable: bool,
    /// include_* results are not counted in the recap.
    uncounted: bool,
}

impl Outcome {
    /// The result of an action the engine carries out itself.
    fn from_engine(r: Result<Map, String>) -> Self {
        match r {
            Ok(m) => Outcome::ok(m),
            Err(msg) => Outcome::failed(msg),
        }
    }

    /// The one place a module's answer becomes the task's result (Ansible's dictionary);
    /// `None`: the result asks for more `-v` than the run has (the task counts as skipped).
    fn from_module(r: Result<ModuleResult, ModuleError>, verbosity: u8) -> Option<Self> {
        match r {
            Ok(r) if r.min_verbosity > verbosity => None,
            Ok(r) => {
                let (failed, skipped) = (r.failed, r.skipped);
                let mut o = Outcome::ok(r.into_map());
                o.failed = failed;
                o.skipped = skipped;
                Some(o)
            }
            Err(ModuleError {
                msg,
                mut result,
                unreachable,
            }) => {
                result.insert("msg".into(), Value::String(msg));
                if unreachable {
                    result.insert("unreachable".into(), Value::Bool(true));
                } else {
                    result.insert("failed".into(), Value::Bool(true));
                }
                result.entry("changed").or_insert(Value::Bool(false));
                let changed = result.get("changed").map(truthy).unwrap_or(false);
                Some(Outcome {
                    result,
                    failed: !unreachable,
                    changed,
                    skipped: false,
                    unreachable,
                    uncounted: false,
                })
            }
        }
    }

    fn ok(result: Map) -> Self {
        let changed = result.get("changed").map(truthy).unwrap_or(false);
        Outcome {
            result,
            failed: false,
            changed,
            skipped: false,
            unreachable: false,
            uncounted: false,
        }
    }
    fn failed(msg: impl Into<String>) -> Self {
        let mut m = Map::new();
        m.insert("failed".into(), Value::Bool(true));
        m.insert("msg".into(), Value::String(msg.into()));
        m.insert("changed".into(), Value::Bool(false));
        Outcome {
            result: m,
            failed: true,
            changed: false,
            skipped: false,
            unreachable: false,
            uncounted: false,
        }
    }
    fn skipped(cond: &Value) -> Self {
        let mut m = Map::new();
        m.insert("changed".into(), Value::Bool(false));
        m.insert("skipped".into(), Value::Bool(true));
        m.insert(
            "skip_reason".into(),
            Value::String("Conditional result was False".into()),
        );
        m.insert("false_condition".into(), cond.clone());
        Outcome {
            result: m,
            failed: false,
            changed: false,
            skipped: true,
            unreachable: false,
            uncounted: false,
        }
    }
    /// Skipped for a reason other than `when` (the reason under `key`).
    fn skipped_because(key: &str, reason: &str) -> Self {
        let mut m = Map::new();
        m.insert("changed".into(), Value::Bool(false));
        m.insert("skipped".into(), Value::Bool(true));
        m.insert(key.into(), Value::String(reason.into()));
        Outcome {
            result: m,
            failed: false,
            changed: false,
            skipped: true,
            unreachable: false,
            uncounted: false,
        }
    }

    fn status(&self) -> Status {
        if self.unreachable {
            Status::Unreachable
        } else if self.failed {
            Status::Failed
        } else if self.skipped {
            Status::Skipped
        } else if self.changed {
            Status::Changed
        } else {
            Status::Ok
        }
    }
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub(super) fn kw_bool(
    v: &Option<Value>,
    scope: &Arc<Scope>,
    templar: &crate::template::Templar,
) -> Option<bool> {
    let v = v.as_ref()?;
    let rendered = templar.render_value(v, &scope.ctx()).ok()?;
    ansible_bool(&rendered)
}

pub(super) fn kw_string(
    v: &Option<Value>,
    scope: &Arc<Scope>,
    templar: &crate::template::Templar,
) -> Option<String> {
    let v = v.as_ref()?;
    templar
        .render_value(v, &scope.ctx())
        .ok()
        .map(|x| to_display_string(&x))
        .filter(|s| !s.is_empty())
}

/// Drop arguments rendered to `omit`, at any depth of dict options.
fn strip_omit(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| v.as_str() != Some(OMIT))
                .map(|(k, v)| (k, strip_omit(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.into_iter()
                .filter(|v| v.as_str() != Some(OMIT))
                .map(strip_omit)
                .collect(),
        ),
        other => other,
    }
}

impl PlayRun {
    fn search_path(&self, leaf: &Leaf) -> Vec<PathBuf> {
        let mut v = Vec::new();
        if let Some(r) = &leaf.task.ctx.role {
            v.push(r.path.clone());
        }
        if let Some(dir) = std::path::Path::new(&*leaf.task.span.file).parent() {
            if !v.contains(&dir.to_path_buf()) {
                v.push(dir.to_path_buf());
            }
        }
        if !v.contains(&leaf.task.ctx.base_dir) {
            v.push(leaf.task.ctx.base_dir.clone());
        }
        if !v.contains(&self.play.base_dir) {
            v.push(self.play.base_dir.clone());
        }
        v
    }

    fn layers(
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
            search_path: self
                .search_path(leaf)
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
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
            let runner = &self.runner;
            {
                let Ok(mut hr) = self.hosts[h].lock() else {
                    return None;
                };
                hr.settle(&leaf.blocks);
                let handler_forced = leaf.is_handler() && self.force_handlers;
                if !(hr.eligible(&leaf.blocks) || handler_forced && !hr.unreachable) {
                    return None;
                }
            }
            if self.ended.load(Ordering::SeqCst) {
                return None;
            }
            let _permit = if inc.is_none() {
                runner.forks.clone().acquire_owned().await.ok()
            } else {
                None
            };
            // meta tasks run silently unless skipped (the output layer prints the banner then).
            if short_action(&leaf.task.action) != "meta" {
                if !self.step_allows(leaf).await {
                    return None;
                }
                self.announce(leaf);
            }
            if let Some(r) = &leaf.task.ctx.role {
                if let Ok(mut ran) = self.ran_roles.lock() {
                    ran.insert((
                        r.path.clone(),
                        serde_json::to_string(&*r.params).unwrap_or_default(),
                    ));
                }
            }
            let host = self.plan.hosts[h].clone();
            let outcome = self.execute(h, &host, leaf, inc).await;
            self.record(h, &host, leaf, outcome)
        })
    }

    /// Conditions, loop and action for one host.
    async fn execute(
        self: &Arc<Self>,
        h: usize,
        host: &str,
        leaf: &Arc<Leaf>,
        inc: Option<&IncludeCtx>,
    ) -> Outcome {
        let runner = &self.runner;
        let templar = &runner.templar;
        let base_layers = self.layers(leaf, inc, None);
        let scope = Scope::for_task(&runner.vars, host, &base_layers);
        let Some(spec) = &leaf.task.loop_ else {
            let mut o = match self.check_when(leaf, &scope) {
                Err(o) => o,
                Ok(()) => {
                    self.perform(h, host, leaf, inc, &base_layers, &scope, None)
                        .await
                }
            };
            if super::nolog::hidden(&leaf.keywords.no_log, &scope, templar) {
                o.result.insert(super::nolog::KEY.into(), Value::Bool(true));
            }
            return o;
        };
        // Loop: items rendered once, `when` evaluated per item.
        let rendered = match templar.render_value(&spec.value, &scope.ctx()) {
            Ok(v) => v,
            Err(e) => {
                // A `when` that is false for the whole task (not using the loop var) skips it
                // before the loop is rendered, as Ansible does when the list is undefined.
                if let Err(o) = self.check_when(leaf, &scope) {
                    return o;
                }
                return Outcome::failed(self.template_error(leaf, &scope, &e.to_string()));
            }
        };
        let items = match super::loops::items(&spec.kind, rendered, &self.search_path(leaf)) {
            Ok(i) => i,
            Err(e) => return Outcome::failed(e),
        };
        let lc = leaf
            .task
            .loop_control
            .as_ref()
            .and_then(|v| v.as_object())
            .cloned()
            .unwrap_or_default();
        let loop_var = lc
            .get("loop_var")
            .and_then(Value::as_str)
            .unwrap_or("item")
            .to_string();
        let index_var = lc
            .get("index_var")
            .and_then(Value::as_str)
            .map(str::to_string);
        let extended = lc.get("extended").and_then(ansible_bool).unwrap_or(false);
        let pause = lc
            .get("pause")
            .and_then(|v| v.as_f64().or_else(|| to_display_string(v).parse().ok()))
            .unwrap_or(0.0);
        let label_tpl = lc.get("label").cloned();
        let mut results = Vec::with_capacity(items.len());
        let (mut any_changed, mut any_failed, mut all_skipped, mut unreachable) =
            (false, false, true, false);
        let mut all_uncounted = true;
        let mut any_hidden = false;
        let n = items.len();
        for (i, item) in items.iter().enumerate() {
            let mut lv = Map::new();
            lv.insert(loop_var.clone(), item.clone());
            lv.insert("ansible_loop_var".into(), Value::String(loop_var.clone()));
            if let Some(iv) = &index_var {
                lv.insert(iv.clone(), Value::from(i));
                lv.insert("ansible_index_var".into(), Value::String(iv.clone()));
            }
            if extended {
                lv.insert(
                    "ansible_loop".into(),
                    serde_json::json!({
                        "index": i + 1, "index0": i, "revindex": n - i, "revindex0": n - i - 1,
                        "first": i == 0, "last": i + 1 == n, "length": n, "allitems": items,
                        "previtem": if i > 0 { items[i - 1].clone() } else { Value::Null },
                        "nextitem": items.get(i + 1).cloned().unwrap_or(Value::Null),
                    }),
                );
            }
            let layers = self.layers(leaf, inc, Some(Arc::new(lv)));
            let iscope = Scope::for_task(&runner.vars, host, &layers);
            let label = match &label_tpl {
                Some(t) => templar
                    .render_value(t, &iscope.ctx())
                    .unwrap_or_else(|_| item.clone()),
                None => item.clone(),
            };
            let mut o = match self.check_when(leaf, &iscope) {
                Err(o) => o,
                Ok(()) => {
                    self.perform(h, host, leaf, inc, &layers, &iscope, Some(label.clone()))
                        .await
                }
            };
            o.result.insert(loop_var.clone(), item.clone());
            o.result
                .insert("ansible_loop_var".into(), Value::String(loop_var.clone()));
            if let Some(iv) = &index_var {
                o.result.insert(iv.clone(), Value::from(i));
            }
            let item_hidden = super::nolog::hidden(&leaf.keywords.no_log, &iscope, templar);
            any_hidden |= item_hidden;
            if item_hidden {
                o.result.insert(super::nolog::KEY.into(), Value::Bool(true));
            }
            if !o.uncounted {
                self.emit(host, leaf, &o, Some(label), false);
            }
            o.result.remove(super::nolog::KEY);
            // Each item sees the facts the previous items set (set_fact accumulating in a loop).
            self.apply_facts(host, leaf, &o.result);
            all_uncounted &= o.uncounted;
            any_changed |= o.changed;
            any_failed |= o.failed;
            all_skipped &= o.skipped;
            unreachable |= o.unreachable;
            results.push(Value::Object(o.result));
            if pause > 0.0 && i + 1 < n {
                tokio::time::sleep(Duration::from_secs_f64(pause)).await;
            }
        }
        let mut agg = Map::new();
        agg.insert("changed".into(), Value::Bool(any_changed));
        agg.insert(
            "msg".into(),
            Value::String(
                if any_failed {
                    "One or more items failed"
                } else {
                    "All items completed"
                }
                .into(),
            ),
        );
        if any_failed {
            agg.insert("failed".into(), Value::Bool(true));
        }
        if all_skipped {
            agg.insert("skipped".into(), Value::Bool(true));
        }
        agg.insert("results".into(), Value::Array(results));
        if any_hidden
            || items.is_empty() && super::nolog::hidden(&leaf.keywords.no_log, &scope, templar)
        {
            agg.insert(super::nolog::KEY.into(), Value::Bool(true));
        }
        // A looped include counts once per included file (done by `include`), not once more here.
        let uncounted = all_uncounted && n > 0;
        Outcome {
            result: agg,
            failed: any_failed,
            changed: any_changed,
            skipped: all_skipped,
            unreachable,
            uncounted,
        }
    }

    fn template_error(&self, leaf: &Leaf, scope: &Arc<Scope>, e: &str) -> String {
        let detail = scope
            .take_error()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        format!("The task includes an option with an undefined variable or a template error: {e}{detail}. The error appears to be in '{}' (task '{}')", leaf.task.span, leaf.display_name)
    }

    /// `when`: all conditions must hold. `Err` carries the skipped (or failed) outcome.
    fn check_when(&self, leaf: &Leaf, scope: &Arc<Scope>) -> Result<(), Outcome> {
        for (cond, span) in &leaf.when {
            let ok = match cond {
                Value::Bool(b) => Ok(*b),
                Value::Null => Ok(false),
                Value::Number(_) => Ok(truthy(cond)),
                Value::String(s) => self.runner.templar.eval_condition(s, &scope.ctx()).map_err(|e| {
                    let detail = scope.take_error().map(|d| format!(" ({d})")).unwrap_or_default();
                    format!("The conditional check '{s}' failed. The error was: {e}{detail}. The error appears to be in '{span}'")
                }),
                other => Ok(truthy(other)),
            };
            match ok {
                Ok(true) => {}
                Ok(false) => return Err(Outcome::skipped(cond)),
                Err(msg) => return Err(Outcome::failed(msg)),
            }
        }
        Ok(())
    }

    /// The action itself (engine action or module), with retries/until and result conditions.
    #[allow(clippy::too_many_arguments)]
    async fn perform(
        self: &Arc<Self>,
        h: usize,
        host: &str,
        leaf: &Arc<Leaf>,
        inc: Option<&IncludeCtx>,
        layers: &TaskLayers,
        scope: &Arc<Scope>,
        _label: Option<Value>,
    ) -> Outcome {
        let runner = &self.runner;
        let templar = &runner.templar;
        let action = short_action(&leaf.task.action).to_string();
        let mut args =
            match templar.render_value(&Value::Object(self.task_args(leaf)), &scope.ctx()) {
                Ok(v) => match strip_omit(v) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                },
                Err(e) => return Outcome::failed(self.template_error(leaf, scope, &e.to_string())),
            };
        // Arguments given as one expression: it must give a mapping; `args:` entries win.
        if let Some(v) = args.remove(crate::playbook::load::ARGS_EXPR) {
            match strip_omit(v) {
                Value::Object(m) => {
                    for (k, v) in m {
                        args.entry(k).or_insert(v);
                    }
                }
                other => {
                    return Outcome::failed(format!(
                        "the arguments of '{action}' must render to a mapping, got: {}",
                        crate::value::to_display_string(&other)
                    ))
                }
            }
        }
        match action.as_str() {
            "include_tasks" | "include" | "include_role" => {
                return self.include(h, host, leaf, inc, &action, args, scope).await
            }
            "meta" => return self.meta(h, leaf, &args).await,
            "add_host" => return Outcome::from_engine(self.add_host(&args)),
            "group_by" => return Outcome::from_engine(self.group_by(host, &args)),
            "set_stats" => {
                return Outcome::ok(Map::from_iter([(
                    "changed".to_string(),
                    Value::Bool(false),
                )]))
            }
            "pause" => return Outcome::from_engine(self.pause(leaf, &args).await),
            _ => {}
        }
        let module = runner
            .registry
            .get(&leaf.task.action)
            .or_else(|| super::call::engine_module(&leaf.task.action));
        let Some(module) = module else {
            return Outcome::failed(format!(
                "couldn't resolve module/action '{}'",
                leaf.task.action
            ));
        };
        let check = kw_bool(&leaf.keywords.check_mode, scope, templar).unwrap_or(runner.opts.check);
        let diff = kw_bool(&leaf.keywords.diff, scope, templar).unwrap_or(runner.opts.diff);
        if check && !module.supports_check_mode() {
            return Outcome::skipped_because("msg", "Check mode is not supported for this task.");
        }
        let conn = match self.connect(leaf, host, scope, module.as_ref()).await {
            Ok(c) => c,
            Err(msg) => {
                let mut o = Outcome::failed(msg);
                o.unreachable = true;
                o.failed = false;
                o.result.remove("failed");
                o.result.insert("unreachable".into(), Value::Bool(true));
                return o;
            }
        };
        let no_log = kw_bool(&leaf.keywords.no_log, scope, templar).unwrap_or(false);
        let transport = super::trace::wrap(
            conn.transport.clone(),
            &conn.host,
            &runner.out,
            runner.opts.verbosity,
            no_log,
        );
        let delegate = Some(conn.host.clone()).filter(|d| d != host);
        let become_ = self.become_for(leaf, scope);
        let environment = self.environment_for(leaf, scope);
        let make_env = || ExecTaskEnv {
            run: runner.vars.clone(),
            host: host.to_string(),
            layers: layers.clone(),
            scope: scope.clone(),
            templar: templar.clone(),
            search: self.search_path(leaf),
        };
        let env = make_env();
        let job = self.job_spec(leaf, scope, check);
        let ctx = ModuleContext {
            host,
            transport: transport.as_ref(),
            check_mode: check,
            diff,
            become_,
            environment,
            env: &env,
        };
        let until = &leaf.task.until;
        let retries: u64 = leaf
            .task
            .retries
            .as_ref()
            .and_then(|v| templar.render_value(v, &scope.ctx()).ok())
            .and_then(|v| to_display_string(&v).parse().ok())
            .unwrap_or(if until.is_empty() { 0 } else { 3 });
        let delay: f64 = leaf
            .task
            .delay
            .as_ref()
            .and_then(|v| templar.render_value(v, &scope.ctx()).ok())
            .and_then(|v| to_display_string(&v).parse().ok())
            .unwrap_or(5.0);
        let mut attempt = 0u64;
        loop {
            attempt += 1;
            let called = self
                .call_module(&module, &ctx, args.clone(), job, &conn, leaf, &make_env)
                .await;
            let mut o = match Outcome::from_module(called, runner.opts.verbosity) {
                Some(o) => o,
                // `debug: verbosity: N` shows only with at least N `-v`.
                None => {
                    return Outcome::skipped_because(
                        "skipped_reason",
                        "Verbosity threshold not met.",
                    )
                }
            };
            if let Some(d) = &delegate {
                o.result
                    .insert("_kplay_delegated_to".into(), Value::String(d.clone()));
            }
            if o.unreachable {
                return o;
            }
            self.apply_result_conditions(leaf, layers, host, &mut o);
            if until.is_empty() {
                return o;
            }
            o.result.insert("attempts".into(), Value::from(attempt));
            let done = self
                .eval_on_result(leaf, layers, host, &o.result, until)
                .unwrap_or(false);
            if done {
                return o;
            }
            if attempt > retries {
                // Ansible reports the configured retries, not the number of runs, when it gives up.
                o.result.insert("attempts".into(), Value::from(retries));
                o.failed = true;
                o.result.insert("failed".into(), Value::Bool(true));
                return o;
            }
            let result = if super::nolog::hidden(&leaf.keywords.no_log, scope, templar) {
                super::nolog::censored(&o.result)
            } else {
                o.result.clone()
            };
            runner.out.emit(&Event::Retrying {
                host: host.to_string(),
                task: leaf.display_name.clone(),
                retries_left: retries + 1 - attempt,
                result,
                id: super::slot::current(),
            });
            tokio::time::sleep(Duration::from_secs_f64(delay.max(0.0))).await;
        }
    }

    /// Evaluate conditions that see the result under the registered name (all must hold).
    fn eval_on_result(
        &self,
        leaf: &Leaf,
        layers: &TaskLayers,
        host: &str,
        result: &Map,
        conds: &[Value],
    ) -> Result<bool, String> {
        let mut lv = layers.loop_vars.as_deref().cloned().unwrap_or_default();
        if let Some(reg) = &leaf.task.register {
            lv.insert(reg.clone(), Value::Object(result.clone()));
        }
        let mut l2 = layers.clone();
        l2.loop_vars = Some(Arc::new(lv));
        let scope = Scope::for_task(&self.runner.vars, host, &l2);
        for c in conds {
            let ok = match c {
                Value::String(s) => self
                    .runner
                    .templar
                    .eval_condition(s, &scope.ctx())
                    .map_err(|e| e.to_string())?,
                other => truthy(other),
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `changed_when` / `failed_when`.
    fn apply_result_conditions(
        &self,
        leaf: &Leaf,
        layers: &TaskLayers,
        host: &str,
        o: &mut Outcome,
    ) {
        if !leaf.task.changed_when.is_empty() {
            match self.eval_on_result(leaf, layers, host, &o.result, &leaf.task.changed_when) {
                Ok(c) => {
                    o.changed = c;
                    o.result.insert("changed".into(), Value::Bool(c));
                }
                Err(e) => {
                    o.failed = true;
                    o.result.insert("failed".into(), Value::Bool(true));
                    o.result.insert(
                        "msg".into(),
                        Value::String(format!("The conditional check on changed_when failed: {e}")),
                    );
                }
            }
        }
        if !leaf.task.failed_when.is_empty() {
            // A list of conditions holds when all of them hold, as for `when`.
            match self.eval_on_result(leaf, layers, host, &o.result, &leaf.task.failed_when) {
                Ok(f) => {
                    o.failed = f;
                    o.result.insert("failed_when_result".into(), Value::Bool(f));
                    if f {
                        o.result.insert("failed".into(), Value::Bool(true));
                    } else {
                        o.result.remove("failed");
                    }
                }
                Err(e) => {
                    o.failed = true;
                    o.result.insert("failed".into(), Value::Bool(true));
                    o.result.insert(
                        "msg".into(),
                        Value::String(format!("The conditional check on failed_when failed: {e}")),
                    );
                }
            }
        }
    }

    fn become_for(&self, leaf: &Leaf, scope: &Arc<Scope>) -> Option<Become> {
        let t = &self.runner.templar;
        let o = &self.runner.opts;
        let var_bool = |n: &str| scope.get_json(n).and_then(|v| ansible_bool(&v));
        let var_str = |n: &str| {
            scope
                .get_json(n)
                .map(|v| to_display_string(&v))
                .filter(|s| !s.is_empty())
        };
        let on = var_bool("ansible_become")
            .or_else(|| kw_bool(&leaf.keywords.become_, scope, t))
            .or(o.become_)
            .unwrap_or(false);
        if !on {
            return None;
        }
        Some(Become {
            method: var_str("ansible_become_method")
                .or_else(|| kw_string(&leaf.keywords.become_method, scope, t))
                .or_else(|| o.become_method.clone())
                .unwrap_or_else(|| "sudo".into()),
            user: var_str("ansible_become_user")
                .or_else(|| kw_string(&leaf.keywords.become_user, scope, t))
                .or_else(|| o.become_user.clone())
                .unwrap_or_else(|| "root".into()),
            password: var_str("ansible_become_password")
                .or_else(|| var_str("ansible_become_pass"))
                .or_else(|| o.become_password.clone()),
            exe: var_str("ansible_become_exe")
                .or_else(|| kw_string(&leaf.keywords.become_exe, scope, t)),
            flags: var_str("ansible_become_flags")
                .or_else(|| kw_string(&leaf.keywords.become_flags, scope, t)),
        })
    }

    fn environment_for(&self, leaf: &Leaf, scope: &Arc<Scope>) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        for layer in &leaf.keywords.environment {
            if let Ok(Value::Object(m)) = self.runner.templar.render_value(layer, &scope.ctx()) {
                for (k, v) in m {
                    env.retain(|(ek, _)| ek != &k);
                    env.push((k, to_display_string(&v)));
                }
            }
        }
        env
    }

    /// Print a result line (or JSON event).
    fn emit(&self, host: &str, leaf: &Leaf, o: &Outcome, item: Option<Value>, summary: bool) {
        // Keywords are rarely set: build a scope only when one needs rendering.
        let flag = |v: &Option<Value>| {
            v.is_some()
                && kw_bool(
                    v,
                    &Scope::for_host(&self.runner.vars, host),
                    &self.runner.templar,
                )
                .unwrap_or(false)
        };
        // Decided where the task's scope was at hand (see `nolog`).
        let no_log = o.result.contains_key(super::nolog::KEY);
        let ignored = o.failed && flag(&leaf.keywords.ignore_errors);
        let delegated_to = o
            .result
            .get("_kplay_delegated_to")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut result = o.result.clone();
        result.remove("_kplay_delegated_to");
        result.remove(super::nolog::KEY);
        self.runner.out.emit(&Event::HostResult {
            host: host.to_string(),
            task: leaf.display_name.clone(),
            span: leaf.task.span.clone(),
            status: o.status(),
            result,
            item,
            ignored,
            no_log,
            verbose_always: matches!(short_action(&leaf.task.action), "debug" | "assert"),
            delegated_to,
            summary,
            handler: leaf.is_handler(),
            id: super::slot::current(),
        });
    }

    /// Count, register, notify, merge facts, and print the task's final result.
    fn record(
        self: &Arc<Self>,
        h: usize,
        host: &str,
        leaf: &Arc<Leaf>,
        mut o: Outcome,
    ) -> Option<Map> {
        let runner = &self.runner;
        let host_scope = Scope::for_host(&runner.vars, host);
        let ignore_errors =
            kw_bool(&leaf.keywords.ignore_errors, &host_scope, &runner.templar).unwrap_or(false);
        let ignore_unreachable = kw_bool(
            &leaf.keywords.ignore_unreachable,
            &host_scope,
            &runner.templar,
        )
        .unwrap_or(false);
        let is_loop = leaf.task.loop_.is_some();
        // Handler notification (only when changed), checked against the play's handlers.
        if o.changed && !o.failed && !leaf.task.notify.is_empty() {
            for name in &leaf.task.notify {
                let name = runner
                    .templar
                    .render_str(name, &host_scope.ctx())
                    .map(|v| to_display_string(&v))
                    .unwrap_or_else(|_| name.clone());
                let exists = self.all_handlers().iter().any(|hl| {
                    hl.task.name.as_deref() == Some(name.as_str())
                        || hl.display_name == name
                        || hl.task.listen.contains(&name)
                });
                if !exists {
                    o = Outcome::failed(format!("The requested handler '{name}' was not found in either the main handlers list nor in the listening handlers list"));
                    break;
                }
                if let Ok(mut hr) = self.hosts[h].lock() {
                    hr.notified.insert(name);
                }
            }
        }
        self.apply_facts(host, leaf, &o.result);
        let is_meta = short_action(&leaf.task.action) == "meta";
        let meta_skipped = is_meta && o.skipped;
        if meta_skipped {
            // meta tasks never enter the recap, even when skipped (but the skip is shown).
            o.uncounted = true;
        }
        if !o.uncounted || meta_skipped {
            let no_items = o
                .result
                .get("results")
                .and_then(Value::as_array)
                .map(|r| r.is_empty())
                .unwrap_or(true);
            if !is_loop || no_items {
                self.emit(host, leaf, &o, None, false);
            } else if o.failed && ignore_errors {
                self.emit(host, leaf, &o, None, true);
            }
        }
        let mut registered = o.result.clone();
        registered.remove("_kplay_delegated_to");
        registered.remove(super::nolog::KEY);
        // As ansible-core registers results: without its internal `_ansible_*` keys.
        registered.retain(|k, _| !k.starts_with("_ansible_"));
        if let Some(reg) = &leaf.task.register {
            if o.failed {
                registered.insert("failed".into(), Value::Bool(true));
            } else if !o.skipped {
                // ansible-core adds `failed: false` to results of tasks that ran, not skipped ones.
                registered.entry("failed").or_insert(Value::Bool(false));
            }
            let r = registered.clone();
            runner.vars.update_host(host, |s| {
                Arc::make_mut(&mut s.set_facts).insert(reg.clone(), Value::Object(r));
            });
        }
        if o.uncounted {
            return Some(registered);
        }
        // Recap and failure state.
        if o.unreachable {
            if ignore_unreachable {
                runner.stat(host, |s| s.ignored += 1);
            } else {
                runner.stat(host, |s| s.unreachable += 1);
                if let Ok(mut hr) = self.hosts[h].lock() {
                    hr.unreachable = true;
                }
                if let Ok(mut f) = runner.vars.failed_in_play.write() {
                    f.insert(host.to_string());
                }
            }
        } else if o.failed {
            if ignore_errors {
                runner.stat(host, |s| {
                    s.ok += 1;
                    s.ignored += 1;
                    if o.changed {
                        s.changed += 1;
                    }
                });
            } else {
                let rescued = HostRun::will_rescue(&leaf.blocks);
                if rescued {
                    runner.stat(host, |s| s.rescued += 1);
                    let failed_task = serde_json::json!({"name": leaf.task.name.clone().unwrap_or_default(), "action": leaf.task.action.clone(), "path": leaf.task.span.to_string()});
                    let res = Value::Object(registered.clone());
                    runner.vars.update_host(host, |s| {
                        let m = Arc::make_mut(&mut s.set_facts);
                        m.insert("ansible_failed_task".into(), failed_task);
                        m.insert("ansible_failed_result".into(), res);
                    });
                } else {
                    runner.stat(host, |s| s.failed += 1);
                    let fatal = kw_bool(
                        &leaf.keywords.any_errors_fatal,
                        &host_scope,
                        &runner.templar,
                    )
                    .unwrap_or(false);
                    if fatal {
                        runner.abort.store(true, Ordering::SeqCst);
                    }
                }
                if let Ok(mut hr) = self.hosts[h].lock() {
                    hr.fail_at(&leaf.blocks);
                    if hr.failed {
                        if let Ok(mut f) = runner.vars.failed_in_play.write() {
                            f.insert(host.to_string());
                        }
                    }
                }
            }
        } else if o.skipped {
            runner.stat(host, |s| s.skipped += 1);
        } else {
            runner.stat(host, |s| {
                s.ok += 1;
                if o.changed {
                    s.changed += 1;
                }
            });
        }
        Some(registered)
    }

    /// Merge the facts a module returned into the right layer of the host (or of the delegate
    /// with `delegate_facts`).
    fn apply_facts(&self, host: &str, leaf: &Leaf, result: &Map) {
        let Some(Value::Object(facts)) = result.get("ansible_facts") else {
            return;
        };
        let runner = &self.runner;
        let action = short_action(&leaf.task.action);
        let delegate_facts = kw_bool(
            &leaf.keywords.delegate_facts,
            &Scope::for_host(&runner.vars, host),
            &runner.templar,
        );
        let target = match (result.get("_kplay_delegated_to"), delegate_facts) {
            (Some(Value::String(d)), Some(true)) => d.clone(),
            _ => host.to_string(),
        };
        let facts = facts.clone();
        runner.vars.update_host(&target, |s| {
            let layer = match action {
                "set_fact" => &mut s.set_facts,
                "include_vars" => &mut s.include_vars,
                _ => &mut s.facts,
            };
            Arc::make_mut(layer).extend(facts);
        });
    }

    /// `include_tasks` / `include_role`: load now, run the included tasks for this host.
    #[allow(clippy::too_many_arguments)]
    async fn include(
        self: &Arc<Self>,
        h: usize,
        host: &str,
        leaf: &Arc<Leaf>,
        inc: Option<&IncludeCtx>,
        action: &str,
        args: Map,
        scope: &Arc<Scope>,
    ) -> Outcome {
        let runner = &self.runner;
        let registry = runner.registry.clone();
        let templar = runner.templar.clone();
        let lctx = crate::playbook::LoadContext::new(
            &registry,
            &templar,
            runner.opts.roles_path.clone(),
            (*runner.vars.extra).clone(),
        );
        let (items, handlers, label, role) = if action == "include_role" {
            let Some(name) = args.get("name").and_then(Value::as_str) else {
                return Outcome::failed("include_role needs 'name'");
            };
            let mut loader =
                crate::playbook::role::RoleLoader::new(&lctx, &self.play.base_dir, &Map::new());
            let ran = self.ran_roles.lock().map(|r| r.clone()).unwrap_or_default();
            loader.set_seen(
                self.play
                    .role_seen
                    .iter()
                    .filter(|(p, params, _)| ran.contains(&(p.clone(), params.clone())))
                    .cloned()
                    .collect(),
            );
            let files = crate::playbook::role::role_files(&args);
            match loader.load_role(name, Map::new(), &leaf.task.span, &files, true) {
                Ok(l) => (
                    l.tasks,
                    l.handlers,
                    name.to_string(),
                    loader.instances().last().cloned(),
                ),
                Err(e) => return Outcome::failed(e.to_string()),
            }
        } else {
            let Some(file) = args
                .get("_raw_params")
                .or_else(|| args.get("file"))
                .map(to_display_string)
            else {
                return Outcome::failed("include_tasks needs a file name");
            };
            let Some(path) =
                crate::playbook::load::resolve_task_file(&file, &leaf.task.ctx, &leaf.task.span)
            else {
                return Outcome::failed(format!(
                    "Could not find or access '{file}' on the Ansible Controller."
                ));
            };
            let doc = match crate::playbook::load::load_single_doc(&path) {
                Ok(d) => d,
                Err(e) => return Outcome::failed(e.to_string()),
            };
            match crate::playbook::load::parse_task_list(
                Some(&doc),
                &leaf.task.ctx,
                &lctx,
                &runner.vars.extra,
            ) {
                Ok(items) => (items, vec![], path.display().to_string(), None),
                Err(e) => return Outcome::failed(e.to_string()),
            }
        };
        if !handlers.is_empty() {
            let flat = plan::flatten_items(
                &handlers,
                plan::IncludeInheritance {
                    keywords: Default::default(),
                    tags: Default::default(),
                    vars: vec![],
                    when: vec![],
                    blocks: vec![],
                },
                &plan::TagFilter::default(),
                plan::PlaySection::Handlers,
            );
            if let Ok(mut extra) = self.extra_handlers.lock() {
                // A role's handlers may already be in the play (it was also in `roles:`).
                let known: std::collections::HashSet<String> = extra
                    .iter()
                    .chain(self.plan.handlers.iter())
                    .map(|l| format!("{}", l.task.span))
                    .collect();
                extra.extend(
                    flat.into_iter()
                        .filter(|l| !known.contains(&format!("{}", l.task.span)))
                        .map(Arc::new),
                );
            }
        }
        // `public: true`: the role's defaults and vars stay visible to the rest of the play.
        if let (Some(r), true) = (
            &role,
            args.get("public").and_then(ansible_bool).unwrap_or(false),
        ) {
            let mut layers = (*runner.vars.current_play()).clone();
            layers.role_defaults.insert(0, r.defaults.clone());
            layers.role_vars.insert(0, r.vars.clone());
            runner.vars.set_play(layers);
        }
        // Include params: the include's args (other than the file) and its vars, plus the loop variables.
        let mut params = Map::new();
        for (k, v) in &args {
            if !matches!(
                k.as_str(),
                "_raw_params"
                    | "file"
                    | "name"
                    | "apply"
                    | "tasks_from"
                    | "vars_from"
                    | "defaults_from"
                    | "handlers_from"
                    | "public"
                    | "allow_duplicates"
                    | "rolespec_validate"
            ) {
                params.insert(k.clone(), v.clone());
            }
        }
        let mut new_inc = inc.cloned().unwrap_or_default();
        if let Some(Value::String(lv)) = scope.raw("ansible_loop_var") {
            if let Some(item) = scope.get_json(&lv) {
                params.insert(lv, item);
            }
        }
        new_inc.params.push(Arc::new(params));
        // Included tasks inherit the include's blocks, vars, keywords; `apply` adds keywords/tags.
        let mut kw = leaf.keywords.clone();
        let mut tags = if leaf.tags.contains("always") {
            leaf.tags.clone()
        } else {
            Default::default()
        };
        if let Some(Value::Object(apply)) = args.get("apply") {
            if let Some(t) = apply.get("tags") {
                match t {
                    Value::Array(a) => tags.extend(a.iter().map(to_display_string)),
                    other => tags.extend(
                        to_display_string(other)
                            .split(',')
                            .map(|s| s.trim().to_string()),
                    ),
                }
            }
            if let Some(b) = apply.get("become") {
                kw.become_ = Some(b.clone());
            }
        }
        let inherit = plan::IncludeInheritance {
            keywords: kw,
            tags,
            vars: leaf.vars.clone(),
            when: vec![],
            blocks: leaf.blocks.clone(),
        };
        let leaves = plan::flatten_items(&items, inherit, &runner.opts.tags, leaf.section);
        runner.out.emit(&Event::Included {
            file: label,
            host: host.to_string(),
            id: super::slot::current(),
        });
        // ansible-core counts each included file as one `ok` for the host.
        runner.stat(host, |s| s.ok += 1);
        for l in leaves {
            let l = Arc::new(l);
            self.run_leaf_on_host(h, &l, Some(&new_inc)).await;
            if self.hosts[h].lock().map(|hr| hr.done()).unwrap_or(true) {
                break;
            }
        }
        let mut o = Outcome::ok(Map::from_iter([(
            "changed".to_string(),
            Value::Bool(false),
        )]));
        o.uncounted = true;
        o
    }

    async fn meta(self: &Arc<Self>, h: usize, leaf: &Leaf, args: &Map) -> Outcome {
        let what = args
            .get("_raw_params")
            .map(to_display_string)
            .unwrap_or_default();
        let mut o = Outcome::ok(Map::from_iter([(
            "changed".to_string(),
            Value::Bool(false),
        )]));
        o.uncounted = true;
        match what.trim() {
            "flush_handlers" => self.flush_handlers(h).await,
            "end_host" => {
                if let Ok(mut hr) = self.hosts[h].lock() {
                    hr.ended = true;
                }
            }
            "end_play" | "end_batch" => {
                self.ended.store(true, Ordering::SeqCst);
                for hr in &self.hosts {
                    if let Ok(mut hr) = hr.lock() {
                        hr.ended = true;
                    }
                }
            }
            "clear_host_errors" => {
                if let Ok(mut hr) = self.hosts[h].lock() {
                    hr.failed = false;
                }
            }
            "clear_facts" => {
                let host = &self.plan.hosts[h];
                self.runner
                    .vars
                    .update_host(host, |s| s.facts = Arc::new(Map::new()));
            }
            "reset_connection" => self.runner.conns.reset(&self.plan.hosts[h]).await,
            "noop" | "" => {}
            other => {
                return Outcome::failed(format!(
                    "invalid meta action requested: {other} (task '{}')",
                    leaf.display_name
                ))
            }
        }
        o
    }
}
