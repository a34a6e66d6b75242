//! A task's arguments as its action receives them: `module_defaults` under the task's own
//! arguments, rendered with the host's variables, `omit` dropped, and arguments given as one
//! expression merged in.

use super::outcome::Outcome;
use super::play::PlayRun;
use super::task::TaskRun;
use crate::plan::Leaf;
use crate::playbook::action::short_name;
use crate::value::{to_display_string, Map, Value};
use crate::vars::OMIT;

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

/// Arguments given as one expression (`module: "{{ defaults | combine(x) }}"`): it must give
/// a mapping, and entries under `args:` win over it.
fn merge_expression(mut args: Map, action: &str) -> Result<Map, String> {
    let Some(v) = args.remove(crate::playbook::load::ARGS_EXPR) else {
        return Ok(args);
    };
    match strip_omit(v) {
        Value::Object(m) => {
            for (k, v) in m {
                args.entry(k).or_insert(v);
            }
            Ok(args)
        }
        other => Err(format!(
            "the arguments of '{action}' must render to a mapping, got: {}",
            to_display_string(&other)
        )),
    }
}

/// The value of the first of `names` (an argument and its aliases, in order of precedence)
/// that `args` has.
pub(super) fn first_arg<'a>(args: &'a Map, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| args.get(*n))
}

/// The task's arguments over the `module_defaults` that apply to its action (innermost layer
/// wins, the task's own arguments win over all).
pub(super) fn with_module_defaults(leaf: &Leaf) -> Map {
    if leaf.keywords.module_defaults.is_empty() {
        return leaf.task.args.clone();
    }
    let short = short_name(&leaf.task.action);
    let names = [
        short.to_string(),
        format!("ansible.builtin.{short}"),
        format!("ansible.legacy.{short}"),
        leaf.task.action.clone(),
    ];
    let mut args = Map::new();
    for layer in &leaf.keywords.module_defaults {
        let maps: Vec<&Value> = match layer {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for m in maps.into_iter().filter_map(Value::as_object) {
            for (k, v) in m {
                if let (true, Value::Object(defaults)) = (names.contains(k), v) {
                    args.extend(defaults.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
    }
    args.extend(leaf.task.args.iter().map(|(k, v)| (k.clone(), v.clone())));
    args
}

/// The result key naming `set_fact` values rendered from module results (data from now on).
pub(super) const DATA_FACTS: &str = "_kplay_data_facts";

impl PlayRun {
    /// `set_fact`'s arguments rendered one by one, with the names of those rendered from
    /// module results: they stay data, as ansible-core keeps such values unsafe.
    pub(super) fn render_fact_args(&self, t: &TaskRun<'_>) -> Result<(Map, Vec<String>), Outcome> {
        let mut args = Map::new();
        let mut data = Vec::new();
        t.scope.take_data_used();
        for (k, v) in with_module_defaults(t.leaf) {
            let rendered = self.render_map(t, Map::from_iter([(k, v)]))?;
            let from_data = t.scope.take_data_used();
            for (k, v) in rendered {
                match (&v, from_data) {
                    (Value::Object(m), true) if k == crate::playbook::load::ARGS_EXPR => {
                        data.extend(m.keys().cloned())
                    }
                    (_, true) => data.push(k.clone()),
                    _ => {}
                }
                args.insert(k, v);
            }
        }
        let args =
            merge_expression(args, short_name(&t.leaf.task.action)).map_err(Outcome::failed)?;
        Ok((args, data))
    }

    /// The task's arguments, rendered; `Err` is the failed outcome naming the template error.
    pub(super) fn render_args(&self, t: &TaskRun<'_>) -> Result<Map, Outcome> {
        let args = self.render_map(t, with_module_defaults(t.leaf))?;
        merge_expression(args, short_name(&t.leaf.task.action)).map_err(Outcome::failed)
    }

    fn render_map(&self, t: &TaskRun<'_>, raw: Map) -> Result<Map, Outcome> {
        let raw = Value::Object(raw);
        let args = match self.runner.templar.render_value(&raw, &t.scope.ctx()) {
            Ok(v) => match strip_omit(v) {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            Err(e) => {
                let msg = self.template_error(t.leaf, &t.scope, &e.to_string());
                return Err(Outcome::failed(msg));
            }
        };
        Ok(args)
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
    fn omitted_arguments_are_dropped_at_any_depth() {
        let v = json!({"a": OMIT, "b": {"c": OMIT, "d": 1}, "e": [OMIT, 2]});
        assert_eq!(strip_omit(v), json!({"b": {"d": 1}, "e": [2]}));
    }

    #[test]
    fn an_argument_expression_merges_under_the_explicit_arguments() {
        let args = map(
            json!({"_kplay_args_expr": {"path": "/a", "mode": "0644", "x": OMIT}, "mode": "0600"}),
        );
        let args = merge_expression(args, "file");
        assert_eq!(args, Ok(map(json!({"mode": "0600", "path": "/a"}))));
    }

    #[test]
    fn an_argument_expression_must_give_a_mapping() {
        let args = map(json!({"_kplay_args_expr": "text"}));
        assert_eq!(
            merge_expression(args, "file"),
            Err("the arguments of 'file' must render to a mapping, got: text".into())
        );
    }
}
