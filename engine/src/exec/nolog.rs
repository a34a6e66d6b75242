//! `no_log`: whether a task's result may be shown. The keyword is rendered in the task's full
//! scope (task vars, the loop item, include params), like every other task keyword; a value that
//! cannot be rendered or does not read as a boolean hides the result: a typo must never print
//! a secret.

use crate::template::Templar;
use crate::value::{ansible_bool, Map, Value};
use crate::vars::scope::Scope;
use std::sync::Arc;

/// Marks a result as hidden on its way from the task to the output (never registered).
pub(crate) const KEY: &str = "_kplay_no_log";

/// Whether `no_log` hides the result in `scope`.
pub(crate) fn hidden(kw: &Option<Value>, scope: &Arc<Scope>, templar: &Templar) -> bool {
    let Some(v) = kw else { return false };
    match templar.render_value(v, &scope.ctx()) {
        Ok(r) => ansible_bool(&r).unwrap_or(true),
        Err(_) => {
            // The failure is not this task's error to report.
            let _ = scope.take_error();
            true
        }
    }
}

/// What is shown instead of a hidden result (as Ansible's `censored` result).
pub(crate) fn censored(result: &Map) -> Map {
    let mut m = Map::new();
    m.insert(
        "censored".into(),
        Value::String(crate::output::console::CENSORED.into()),
    );
    m.insert(
        "changed".into(),
        result.get("changed").cloned().unwrap_or(Value::Bool(false)),
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn censored_keeps_only_changed() {
        let mut r = Map::new();
        r.insert("stdout".into(), Value::String("s3cret".into()));
        r.insert("changed".into(), Value::Bool(true));
        let c = censored(&r);
        assert_eq!(c.len(), 2);
        assert_eq!(c["changed"], Value::Bool(true));
        assert!(!serde_json::to_string(&c)
            .unwrap_or_default()
            .contains("s3cret"));
    }
}
