//! A task's conditions: `when` before it runs, `changed_when`/`failed_when`/`until` on its
//! result (seen under the registered name), and the wording of template errors.

use super::outcome::Outcome;
use super::play::PlayRun;
use super::task::TaskRun;
use crate::plan::Leaf;
use crate::value::{truthy, Map, Value};
use crate::vars::scope::Scope;
use std::sync::Arc;

impl PlayRun {
    pub(super) fn template_error(&self, leaf: &Leaf, scope: &Arc<Scope>, e: &str) -> String {
        let detail = scope
            .take_error()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        format!("The task includes an option with an undefined variable or a template error: {e}{detail}. The error appears to be in '{}' (task '{}')", leaf.task.span, leaf.display_name)
    }

    /// `when`: all conditions must hold. `Err` carries the skipped (or failed) outcome.
    pub(super) fn check_when(&self, leaf: &Leaf, scope: &Arc<Scope>) -> Result<(), Outcome> {
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

    /// Evaluate conditions that see the result under the registered name (all must hold).
    pub(super) fn eval_on_result(
        &self,
        t: &TaskRun<'_>,
        result: &Map,
        conds: &[Value],
    ) -> Result<bool, String> {
        let mut layers = t.layers.clone();
        if let Some(reg) = &t.leaf.task.register {
            let r = Map::from_iter([(reg.clone(), Value::Object(result.clone()))]);
            layers.registered = Some(Arc::new(r));
        }
        let scope = Scope::for_task(&self.runner.vars, &t.host, &layers);
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
    pub(super) fn apply_result_conditions(&self, t: &TaskRun<'_>, o: &mut Outcome) {
        let task = &t.leaf.task;
        if !task.changed_when.is_empty() {
            match self.eval_on_result(t, &o.result, &task.changed_when) {
                Ok(c) => {
                    o.changed = c;
                    o.result.insert("changed".into(), Value::Bool(c));
                }
                Err(e) => condition_failed(o, "changed_when", &e),
            }
        }
        if !task.failed_when.is_empty() {
            // A list of conditions holds when all of them hold, as for `when`.
            match self.eval_on_result(t, &o.result, &task.failed_when) {
                Ok(f) => {
                    o.failed = f;
                    o.result.insert("failed_when_result".into(), Value::Bool(f));
                    if f {
                        o.result.insert("failed".into(), Value::Bool(true));
                    } else {
                        o.result.remove("failed");
                    }
                }
                Err(e) => condition_failed(o, "failed_when", &e),
            }
        }
    }
}

fn condition_failed(o: &mut Outcome, which: &str, e: &str) {
    o.failed = true;
    o.result.insert("failed".into(), Value::Bool(true));
    o.result.insert(
        "msg".into(),
        Value::String(format!("The conditional check on {which} failed: {e}")),
    );
}
