//! What a task's outcome leaves behind: handler notifications, facts, the result line, the
//! registered variable, the recap counts and the host's failure state.

use super::hoststate::HostRun;
use super::outcome::Outcome;
use super::play::PlayRun;
use super::task::kw_bool;
use crate::output::Event;
use crate::plan::Leaf;
use crate::playbook::action::{Action, ModuleKind};
use crate::value::{to_display_string, Map, Value};
use crate::vars::scope::Scope;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The task's error-handling keywords, rendered for the host.
struct Tolerance {
    ignore_errors: bool,
    ignore_unreachable: bool,
}

impl PlayRun {
    /// Count, register, notify, merge facts, and print the task's final result.
    pub(super) fn record(self: &Arc<Self>, h: usize, leaf: &Arc<Leaf>, o: Outcome) -> Option<Map> {
        let host = self.plan.hosts[h].clone();
        let host_scope = Scope::for_host(&self.runner.vars, &host);
        let templar = &self.runner.templar;
        let tol = Tolerance {
            ignore_errors: kw_bool(&leaf.keywords.ignore_errors, &host_scope, templar)
                .unwrap_or(false),
            ignore_unreachable: kw_bool(&leaf.keywords.ignore_unreachable, &host_scope, templar)
                .unwrap_or(false),
        };
        let mut o = self.notify(h, leaf, &host_scope, o);
        self.apply_facts(&host, leaf, &o.result);
        self.show_final(&host, leaf, &mut o, tol.ignore_errors);
        let registered = registered_result(&o);
        if let Some(reg) = &leaf.task.register {
            let r = registered.clone();
            self.runner.vars.update_host(&host, |s| {
                Arc::make_mut(&mut s.set_facts).insert(reg.clone(), Value::Object(r));
                Arc::make_mut(&mut s.unsafe_names).insert(reg.clone());
            });
        }
        if !o.uncounted {
            self.count(h, leaf, &o, &registered, &tol);
        }
        Some(registered)
    }

    /// Handler notification (only when changed), checked against the play's handlers; an
    /// unknown handler fails the task.
    fn notify(&self, h: usize, leaf: &Leaf, scope: &Arc<Scope>, o: Outcome) -> Outcome {
        if !o.changed || o.failed || leaf.task.notify.is_empty() {
            return o;
        }
        for name in &leaf.task.notify {
            let name = self
                .runner
                .templar
                .render_str(name, &scope.ctx())
                .map(|v| to_display_string(&v))
                .unwrap_or_else(|_| name.clone());
            let exists = self.all_handlers().iter().any(|hl| {
                hl.task.name.as_deref() == Some(name.as_str())
                    || hl.display_name == name
                    || hl.task.listen.contains(&name)
            });
            if !exists {
                return Outcome::failed(format!("The requested handler '{name}' was not found in either the main handlers list nor in the listening handlers list"));
            }
            if let Ok(mut hr) = self.hosts[h].lock() {
                hr.notified.insert(name);
            }
        }
        o
    }

    /// The task's result line (a looped task's items were shown one by one already).
    fn show_final(&self, host: &str, leaf: &Leaf, o: &mut Outcome, ignore_errors: bool) {
        let meta_skipped = leaf.task.kind == Action::Meta && o.skipped;
        if meta_skipped {
            // meta tasks never enter the recap, even when skipped (but the skip is shown).
            o.uncounted = true;
        }
        if o.uncounted && !meta_skipped {
            return;
        }
        let no_items = o
            .result
            .get("results")
            .and_then(Value::as_array)
            .map(|r| r.is_empty())
            .unwrap_or(true);
        if leaf.task.loop_.is_none() || no_items {
            self.emit(host, leaf, o, None, false);
        } else if o.failed && ignore_errors {
            self.emit(host, leaf, o, None, true);
        }
    }

    /// Recap counts and the host's failure state.
    fn count(&self, h: usize, leaf: &Leaf, o: &Outcome, registered: &Map, tol: &Tolerance) {
        let runner = &self.runner;
        let host = self.plan.hosts[h].as_str();
        if o.unreachable {
            if tol.ignore_unreachable {
                runner.stat(host, |s| s.ignored += 1);
            } else {
                runner.stat(host, |s| s.unreachable += 1);
                if let Ok(mut hr) = self.hosts[h].lock() {
                    hr.unreachable = true;
                }
                self.leave_play(host);
            }
        } else if o.failed && tol.ignore_errors {
            runner.stat(host, |s| {
                s.ok += 1;
                s.ignored += 1;
                s.changed += u32::from(o.changed);
            });
        } else if o.failed {
            self.count_failure(h, leaf, registered);
        } else if o.skipped {
            runner.stat(host, |s| s.skipped += 1);
        } else {
            runner.stat(host, |s| {
                s.ok += 1;
                s.changed += u32::from(o.changed);
            });
        }
    }

    /// A failure not ignored: rescued (the rescue sees `ansible_failed_*`) or failing the host.
    fn count_failure(&self, h: usize, leaf: &Leaf, registered: &Map) {
        let runner = &self.runner;
        let host = self.plan.hosts[h].as_str();
        if HostRun::will_rescue(&leaf.blocks) {
            runner.stat(host, |s| s.rescued += 1);
            let failed_task = serde_json::json!({"name": leaf.task.name.clone().unwrap_or_default(), "action": leaf.task.action.clone(), "path": leaf.task.span.to_string()});
            let res = Value::Object(registered.clone());
            runner.vars.update_host(host, |s| {
                let m = Arc::make_mut(&mut s.set_facts);
                m.insert("ansible_failed_task".into(), failed_task);
                m.insert("ansible_failed_result".into(), res);
                Arc::make_mut(&mut s.unsafe_names).insert("ansible_failed_result".into());
            });
        } else {
            runner.stat(host, |s| s.failed += 1);
            let host_scope = Scope::for_host(&runner.vars, host);
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
        let failed = self.hosts[h]
            .lock()
            .map(|mut hr| {
                hr.fail_at(&leaf.blocks);
                hr.failed
            })
            .unwrap_or(false);
        if failed {
            self.leave_play(host);
        }
    }

    /// The host leaves `ansible_play_hosts`.
    fn leave_play(&self, host: &str) {
        if let Ok(mut f) = self.runner.vars.failed_in_play.write() {
            f.insert(host.to_string());
        }
    }

    /// Merge the facts a module returned into the right layer of the host (or of the delegate
    /// with `delegate_facts`).
    pub(super) fn apply_facts(&self, host: &str, leaf: &Leaf, result: &Map) {
        let Some(Value::Object(facts)) = result.get("ansible_facts") else {
            return;
        };
        let runner = &self.runner;
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
        let kind = leaf.task.kind;
        let data: Vec<String> = match result.get(super::args::DATA_FACTS) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        runner.vars.update_host(&target, |s| {
            let layer = match kind {
                Action::Module(ModuleKind::SetFact) => &mut s.set_facts,
                Action::Module(ModuleKind::IncludeVars) => &mut s.include_vars,
                _ => &mut s.facts,
            };
            if kind == Action::Module(ModuleKind::SetFact) {
                // Values rendered from module results stay data; others are plain again.
                let u = Arc::make_mut(&mut s.unsafe_names);
                for k in facts.keys() {
                    if data.contains(k) {
                        u.insert(k.clone());
                    } else {
                        u.remove(k);
                    }
                }
            }
            Arc::make_mut(layer).extend(facts);
        });
    }

    /// Print a result line (or JSON event).
    pub(super) fn emit(
        &self,
        host: &str,
        leaf: &Leaf,
        o: &Outcome,
        item: Option<Value>,
        summary: bool,
    ) {
        // Keywords are rarely set: build a scope only when one needs rendering.
        let ignored = o.failed
            && leaf.keywords.ignore_errors.is_some()
            && kw_bool(
                &leaf.keywords.ignore_errors,
                &Scope::for_host(&self.runner.vars, host),
                &self.runner.templar,
            )
            .unwrap_or(false);
        // Decided where the task's scope was at hand (see `nolog`).
        let no_log = o.result.contains_key(super::nolog::KEY);
        let delegated_to = o
            .result
            .get("_kplay_delegated_to")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut result = o.result.clone();
        result.remove("_kplay_delegated_to");
        result.remove(super::nolog::KEY);
        result.remove(super::args::DATA_FACTS);
        self.runner.out.emit(&Event::HostResult {
            host: host.to_string(),
            task: leaf.display_name.clone(),
            span: leaf.task.span.clone(),
            status: o.status(),
            result,
            item,
            ignored,
            no_log,
            verbose_always: leaf.task.kind == Action::Module(ModuleKind::Report),
            delegated_to,
            summary,
            handler: leaf.is_handler(),
            id: super::slot::current(),
        });
    }
}

/// The result as `register` stores it: without the engine's internal keys or ansible-core's
/// `_ansible_*` ones, and with `failed` set as ansible-core sets it.
fn registered_result(o: &Outcome) -> Map {
    let mut registered = o.result.clone();
    registered.remove("_kplay_delegated_to");
    registered.remove(super::nolog::KEY);
    registered.remove(super::args::DATA_FACTS);
    registered.retain(|k, _| !k.starts_with("_ansible_"));
    if o.failed {
        registered.insert("failed".into(), Value::Bool(true));
    } else if !o.skipped {
        // ansible-core adds `failed: false` to results of tasks that ran, not skipped ones.
        registered.entry("failed").or_insert(Value::Bool(false));
    }
    registered
}
