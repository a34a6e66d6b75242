//! A module task on one host: find the module, decide check/diff, resolve the connection, build
//! the module's context, then run it under the task's retry policy, with `changed_when`,
//! `failed_when` and `until` applied to each run's result.

use super::call::ModuleCall;
use super::outcome::Outcome;
use super::play::PlayRun;
use super::retry::{self, Next, RetryPolicy};
use super::task::{kw_bool, TaskRun};
use crate::module::{Delegation, Module, ModuleContext};
use crate::output::Event;
use crate::value::{to_display_string, Map, Value};
use std::sync::Arc;
use std::time::Duration;

impl PlayRun {
    /// Run the task's module (with retries); the engine's own actions never get here.
    pub(super) async fn run_module(self: &Arc<Self>, t: &TaskRun<'_>, args: Map) -> Outcome {
        let runner = &self.runner;
        let templar = &runner.templar;
        let leaf = t.leaf;
        let module = runner
            .registry
            .get(&leaf.task.action)
            .or_else(|| super::call::engine_module(leaf.task.kind));
        let Some(module) = module else {
            return Outcome::failed(format!(
                "couldn't resolve module/action '{}'",
                leaf.task.action
            ));
        };
        let check =
            kw_bool(&leaf.keywords.check_mode, &t.scope, templar).unwrap_or(runner.opts.check);
        let diff = kw_bool(&leaf.keywords.diff, &t.scope, templar).unwrap_or(runner.opts.diff);
        if check && !module.supports_check_mode() {
            return Outcome::skipped_because("msg", "Check mode is not supported for this task.");
        }
        let conn = match self.connect(leaf, &t.host, &t.scope, module.as_ref()).await {
            Ok(c) => c,
            Err(msg) => return Outcome::unreachable(msg),
        };
        let transport = self.traced(t, &conn);
        let target = match self.delegation_target(t, module.as_ref(), &conn).await {
            Ok(target) => target,
            Err(msg) => return Outcome::unreachable(msg),
        };
        let become_ = self.become_for(leaf, &t.scope);
        let delegation = target.as_ref().map(|(delegate, tr)| Delegation {
            delegate: delegate.clone(),
            target: tr.as_ref(),
            become_: become_.clone(),
        });
        let env = self.task_env(t);
        let ctx = ModuleContext {
            host: &t.host,
            transport: transport.as_ref(),
            check_mode: check,
            diff,
            become_,
            environment: self.environment_for(leaf, &t.scope),
            env: &env,
            delegation,
        };
        let call = ModuleCall {
            module: &module,
            ctx,
            spec: self.job_spec(leaf, &t.scope, check),
            conn: &conn,
            task: t,
        };
        self.run_attempts(&call, args).await
    }

    /// For a delegated task of a module that works between two hosts: the delegate's name
    /// and the connection to the inventory host (the same one when delegated to itself).
    async fn delegation_target(
        &self,
        t: &TaskRun<'_>,
        module: &dyn Module,
        conn: &super::call::Conn,
    ) -> Result<Option<(String, Arc<dyn crate::transport::Transport>)>, String> {
        if !module.wants_delegation_target() {
            return Ok(None);
        }
        let Some(delegate) = self.delegate_of(t.leaf, &t.scope) else {
            return Ok(None);
        };
        if conn.host == t.host {
            return Ok(Some((delegate, self.traced(t, conn))));
        }
        let target = self
            .connect_to(t.leaf, &t.host, None, &t.scope, module)
            .await?;
        Ok(Some((delegate, self.traced(t, &target))))
    }

    /// The connection's transport, traced at `-vvv` (quietly under `no_log`).
    fn traced(
        &self,
        t: &TaskRun<'_>,
        conn: &super::call::Conn,
    ) -> Arc<dyn crate::transport::Transport> {
        let runner = &self.runner;
        let no_log = kw_bool(&t.leaf.keywords.no_log, &t.scope, &runner.templar).unwrap_or(false);
        super::trace::wrap(
            conn.transport.clone(),
            &conn.host,
            &runner.out,
            runner.opts.verbosity,
            no_log,
        )
    }

    /// The task's retry policy from its rendered `retries` and `delay`.
    fn retry_policy(&self, t: &TaskRun<'_>) -> RetryPolicy {
        let task = &t.leaf.task;
        let number = |v: &Option<Value>| -> Option<f64> {
            let v = self
                .runner
                .templar
                .render_value(v.as_ref()?, &t.scope.ctx())
                .ok()?;
            to_display_string(&v).trim().parse().ok()
        };
        let retries = number(&task.retries).map(|r| r as i64);
        RetryPolicy::new(retries, !task.until.is_empty(), number(&task.delay))
    }

    /// Run the module until the retry policy is done with it.
    async fn run_attempts(self: &Arc<Self>, call: &ModuleCall<'_>, args: Map) -> Outcome {
        let t = call.task;
        let policy = self.retry_policy(t);
        let mut attempt = 0u64;
        loop {
            attempt += 1;
            let mut o = self.attempt(call, args.clone()).await;
            if o.unreachable {
                return o;
            }
            if policy.retrying() {
                retry::mark_attempt(&mut o, attempt);
            }
            self.apply_result_conditions(t, &mut o);
            let held = match self.until_holds(t, &o, &policy) {
                Ok(h) => h,
                Err(e) => {
                    o.failed = true;
                    o.result.insert("failed".into(), Value::Bool(true));
                    o.result.insert("msg".into(), Value::String(e));
                    return o;
                }
            };
            match policy.next(attempt, held) {
                Next::Done => return o,
                Next::GiveUp { attempts } => {
                    retry::give_up(&mut o, attempts);
                    return o;
                }
                Next::Retry { left } => {
                    self.announce_retry(t, &o, left);
                    tokio::time::sleep(Duration::from_secs_f64(policy.delay)).await;
                }
            }
        }
    }

    /// One run of the module, its return mapped to an outcome.
    async fn attempt(self: &Arc<Self>, call: &ModuleCall<'_>, args: Map) -> Outcome {
        let called = self.call_module(call, args).await;
        let mut o = Outcome::from_module(called, self.runner.opts.verbosity);
        if call.conn.host != call.task.host {
            o.result.insert(
                "_kplay_delegated_to".into(),
                Value::String(call.conn.host.clone()),
            );
        }
        o
    }

    /// `until` (or, with `retries` alone, "did not fail") on this run's result.
    fn until_holds(
        &self,
        t: &TaskRun<'_>,
        o: &Outcome,
        policy: &RetryPolicy,
    ) -> Result<bool, String> {
        if !policy.retrying() {
            return Ok(true);
        }
        let until = &t.leaf.task.until;
        if until.is_empty() {
            return Ok(!o.failed);
        }
        self.eval_on_result(t, &o.result, until)
            .map_err(|e| format!("The conditional check on until failed: {e}"))
    }

    /// `FAILED - RETRYING: [host]: task (N retries left).`
    fn announce_retry(&self, t: &TaskRun<'_>, o: &Outcome, left: u64) {
        let runner = &self.runner;
        let result = if super::nolog::hidden(&t.leaf.keywords.no_log, &t.scope, &runner.templar) {
            super::nolog::censored(&o.result)
        } else {
            o.result.clone()
        };
        runner.out.emit(&Event::Retrying {
            host: t.host.clone(),
            task: t.leaf.display_name.clone(),
            retries_left: left,
            result,
            id: super::slot::current(),
        });
    }

    /// What a module may ask of the engine while it runs, bound to this task's variables.
    pub(super) fn task_env(&self, t: &TaskRun<'_>) -> super::taskenv::ExecTaskEnv {
        super::taskenv::ExecTaskEnv {
            run: self.runner.vars.clone(),
            host: t.host.clone(),
            layers: t.layers.clone(),
            scope: t.scope.clone(),
            templar: self.runner.templar.clone(),
            search: self.search_path(t.leaf),
        }
    }
}
