//! [`Outcome`]: what one execution of a task on a host produced (its result dictionary and the
//! flags the recap counts), and the pure mappings into it: a module's return, an engine
//! action's, a skip, and a loop's items into the task's aggregate.

use crate::module::{ModuleError, ModuleResult};
use crate::output::Status;
use crate::value::{truthy, Map, Value};

/// What one execution (one item, or the task without a loop) produced.
#[derive(Debug, Clone)]
pub(super) struct Outcome {
    pub result: Map,
    pub failed: bool,
    pub changed: bool,
    pub skipped: bool,
    pub unreachable: bool,
    /// include_* and meta results are not counted in the recap.
    pub uncounted: bool,
}

impl Outcome {
    /// The one place a module's return becomes a task outcome (Ansible's result dictionary):
    /// `failed`/`skipped`/`changed` read from it, errors turned into `msg` plus `failed` or
    /// `unreachable`, and results below the run's verbosity (`debug: verbosity: N`) skipped.
    pub fn from_module(called: Result<ModuleResult, ModuleError>, verbosity: u8) -> Outcome {
        let r = match called {
            Ok(r) => r,
            Err(e) => return Outcome::from_module_error(e),
        };
        // `debug: verbosity: N` shows only with at least N `-v`.
        if r.min_verbosity > verbosity {
            return Outcome::skipped_because("skipped_reason", "Verbosity threshold not met.");
        }
        let (failed, skipped) = (r.failed, r.skipped);
        let mut o = Outcome::ok(r.into_map());
        o.failed = failed;
        o.skipped = skipped;
        o
    }

    fn from_module_error(e: ModuleError) -> Outcome {
        let ModuleError {
            msg,
            mut result,
            unreachable,
        } = e;
        result.insert("msg".into(), Value::String(msg));
        let flag = if unreachable { "unreachable" } else { "failed" };
        result.insert(flag.into(), Value::Bool(true));
        result.entry("changed").or_insert(Value::Bool(false));
        let changed = result.get("changed").map(truthy).unwrap_or(false);
        Outcome {
            result,
            failed: !unreachable,
            changed,
            skipped: false,
            unreachable,
            uncounted: false,
        }
    }

    /// The result of an action the engine carries out itself.
    pub fn from_engine(r: Result<Map, String>) -> Self {
        match r {
            Ok(m) => Outcome::ok(m),
            Err(msg) => Outcome::failed(msg),
        }
    }

    pub fn ok(result: Map) -> Self {
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

    /// An unchanged result the recap does not count (includes, meta).
    pub fn uncounted() -> Self {
        let mut o = Outcome::ok(unchanged());
        o.uncounted = true;
        o
    }

    pub fn failed(msg: impl Into<String>) -> Self {
        let mut m = unchanged();
        m.insert("failed".into(), Value::Bool(true));
        m.insert("msg".into(), Value::String(msg.into()));
        Outcome {
            failed: true,
            ..Outcome::ok(m)
        }
    }

    /// The host could not be reached (`msg` says why).
    pub fn unreachable(msg: impl Into<String>) -> Self {
        let mut m = unchanged();
        m.insert("msg".into(), Value::String(msg.into()));
        m.insert("unreachable".into(), Value::Bool(true));
        Outcome {
            unreachable: true,
            ..Outcome::ok(m)
        }
    }

    /// Skipped by a false `when` condition.
    pub fn skipped(cond: &Value) -> Self {
        let mut o = Outcome::skipped_because("skip_reason", "Conditional result was False");
        o.result.insert("false_condition".into(), cond.clone());
        o
    }

    /// Skipped for a reason other than `when` (the reason under `key`).
    pub fn skipped_because(key: &str, reason: &str) -> Self {
        let mut m = unchanged();
        m.insert("skipped".into(), Value::Bool(true));
        m.insert(key.into(), Value::String(reason.into()));
        Outcome {
            skipped: true,
            ..Outcome::ok(m)
        }
    }

    pub fn status(&self) -> Status {
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

fn unchanged() -> Map {
    Map::from_iter([("changed".to_string(), Value::Bool(false))])
}

/// A loop's items folded into the task's result, as ansible-core reports a looped task:
/// `results`, `changed` if any item changed, `failed` if any failed, `skipped` if all skipped.
#[derive(Debug)]
pub(super) struct LoopTally {
    results: Vec<Value>,
    changed: bool,
    failed: bool,
    all_skipped: bool,
    unreachable: bool,
    all_uncounted: bool,
}

impl Default for LoopTally {
    fn default() -> Self {
        LoopTally {
            results: Vec::new(),
            changed: false,
            failed: false,
            all_skipped: true,
            unreachable: false,
            all_uncounted: true,
        }
    }
}

impl LoopTally {
    pub fn add(&mut self, o: Outcome) {
        self.all_uncounted &= o.uncounted;
        self.changed |= o.changed;
        self.failed |= o.failed;
        self.all_skipped &= o.skipped;
        self.unreachable |= o.unreachable;
        self.results.push(Value::Object(o.result));
    }

    pub fn finish(self) -> Outcome {
        let mut agg = Map::new();
        agg.insert("changed".into(), Value::Bool(self.changed));
        // ansible-core: an empty loop gives `skipped_reason`, no `msg`.
        let (key, msg) = match (self.results.is_empty(), self.failed) {
            (true, _) => ("skipped_reason", "No items in the list"),
            (_, true) => ("msg", "One or more items failed"),
            _ => ("msg", "All items completed"),
        };
        agg.insert(key.into(), Value::String(msg.into()));
        if self.failed {
            agg.insert("failed".into(), Value::Bool(true));
        }
        if self.all_skipped {
            agg.insert("skipped".into(), Value::Bool(true));
        }
        // A looped include counts once per included file (done by `include`), not once more here.
        let uncounted = self.all_uncounted && !self.results.is_empty();
        agg.insert("results".into(), Value::Array(self.results));
        Outcome {
            result: agg,
            failed: self.failed,
            changed: self.changed,
            skipped: self.all_skipped,
            unreachable: self.unreachable,
            uncounted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_module_result_keeps_its_keys_and_flags() {
        let o = Outcome::from_module(Ok(map(json!({"changed": true, "rc": 0})).into()), 0);
        assert!(o.changed && !o.failed && !o.skipped);
        assert_eq!(o.status(), Status::Changed);
        assert_eq!(o.result["rc"], json!(0));
        let o = Outcome::from_module(Ok(map(json!({"failed": true, "msg": "x"})).into()), 0);
        assert!(o.failed);
        assert_eq!(o.status(), Status::Failed);
        let o = Outcome::from_module(Ok(map(json!({"skipped": true})).into()), 0);
        assert_eq!(o.status(), Status::Skipped);
    }

    #[test]
    fn a_module_error_becomes_a_failed_result_with_its_message() {
        let e = ModuleError::with_result("boom", map(json!({"rc": 2})));
        let o = Outcome::from_module(Err(e), 0);
        assert!(o.failed && !o.unreachable);
        assert_eq!(
            o.result,
            map(json!({"rc": 2, "msg": "boom", "failed": true, "changed": false}))
        );
    }

    #[test]
    fn an_unreachable_error_is_not_a_failure() {
        let e: ModuleError = crate::transport::TransportError::Unreachable("gone".into()).into();
        let o = Outcome::from_module(Err(e), 0);
        assert!(o.unreachable && !o.failed);
        assert_eq!(o.status(), Status::Unreachable);
        assert_eq!(o.result.get("unreachable"), Some(&json!(true)));
        assert_eq!(o.result.get("failed"), None);
        let o = Outcome::unreachable("gone");
        assert_eq!(o.result.get("failed"), None);
        assert_eq!(o.status(), Status::Unreachable);
    }

    #[test]
    fn debug_verbosity_above_the_run_is_skipped() {
        let mut m: ModuleResult = map(json!({"msg": "hi"})).into();
        m.min_verbosity = 2;
        let o = Outcome::from_module(Ok(m.clone()), 1);
        assert!(o.skipped);
        assert_eq!(
            o.result["skipped_reason"],
            json!("Verbosity threshold not met.")
        );
        let o = Outcome::from_module(Ok(m), 2);
        assert!(!o.skipped);
        assert!(!o.result.contains_key("_kplay_verbosity"));
    }

    #[test]
    fn a_loop_fails_if_any_item_failed_and_skips_only_if_all_skipped() {
        let mut t = LoopTally::default();
        t.add(Outcome::skipped(&json!("x")));
        t.add(Outcome::ok(map(json!({"changed": true}))));
        t.add(Outcome::failed("no"));
        let o = t.finish();
        assert!(o.failed && o.changed && !o.skipped && !o.uncounted);
        assert_eq!(o.result["msg"], json!("One or more items failed"));
        assert_eq!(o.result["results"].as_array().map(Vec::len), Some(3));

        let mut t = LoopTally::default();
        t.add(Outcome::skipped(&json!("x")));
        let o = t.finish();
        assert!(o.skipped && !o.failed);
        assert_eq!(o.result["msg"], json!("All items completed"));
    }

    #[test]
    fn an_empty_loop_is_skipped_and_counted() {
        let o = LoopTally::default().finish();
        assert!(o.skipped && !o.uncounted);
        assert_eq!(o.result["results"], json!([]));
    }
}
