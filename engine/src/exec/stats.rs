//! `set_stats`: custom statistics the run gathers (`data`, per host with `per_host`, added to
//! what was there with `aggregate`, the default), shown after the recap as `CUSTOM STATS`
//! when `show_custom_stats` is on, as ansible-core's default callback does.

use super::play::PlayRun;
use crate::value::{ansible_bool, Map, Value};

/// Where run-wide stats are kept (ansible-core's `_run`).
pub const RUN: &str = "_run";

/// `what` added to `old` as ansible-core aggregates a stat: mappings merged recursively,
/// lists concatenated, numbers added, text appended; a value of another type is ignored.
pub fn aggregate(old: Option<&Value>, what: Value) -> Option<Value> {
    let Some(old) = old else { return Some(what) };
    Some(match (old, what) {
        (Value::Object(a), Value::Object(b)) => {
            let mut m = a.clone();
            for (k, v) in b {
                let merged = match (m.get(&k), &v) {
                    (Some(Value::Object(_)), Value::Object(_)) => aggregate(m.get(&k), v),
                    _ => Some(v),
                };
                if let Some(merged) = merged {
                    m.insert(k, merged);
                }
            }
            Value::Object(m)
        }
        (Value::Array(a), Value::Array(b)) => Value::Array(a.iter().cloned().chain(b).collect()),
        (Value::String(a), Value::String(b)) => Value::String(format!("{a}{b}")),
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => Value::from(x + y),
            _ => serde_json::json!(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0)),
        },
        (Value::Bool(a), Value::Bool(b)) => Value::from(i64::from(*a) + i64::from(b)),
        _ => return None,
    })
}

impl PlayRun {
    pub(super) fn set_stats(&self, host: &str, args: &Map) -> Result<Map, String> {
        let Some(Value::Object(data)) = args.get("data") else {
            return Err("The 'data' option needs to be a dictionary/hash".into());
        };
        let flag = |k: &str, default: bool| match args.get(k) {
            None => Ok(default),
            Some(v) => ansible_bool(v)
                .ok_or_else(|| format!("The '{k}' option needs to be a boolean, got: {v}")),
        };
        let per_host = flag("per_host", false)?;
        let aggregate_on = flag("aggregate", true)?;
        let key = if per_host { host } else { RUN };
        if let Ok(mut all) = self.runner.custom_stats.lock() {
            let stats = all.entry(key.to_string()).or_default();
            for (k, v) in data {
                let new = if aggregate_on {
                    aggregate(stats.get(k), v.clone())
                } else {
                    Some(v.clone())
                };
                if let Some(new) = new {
                    stats.insert(k.clone(), new);
                }
            }
        }
        let mut result = Map::new();
        result.insert("changed".into(), Value::Bool(false));
        result.insert(
            "ansible_stats".into(),
            serde_json::json!({"data": data, "per_host": per_host, "aggregate": aggregate_on}),
        );
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aggregating_adds_numbers_and_joins_lists() {
        assert_eq!(aggregate(Some(&json!(2)), json!(3)), Some(json!(5)));
        assert_eq!(
            aggregate(Some(&json!([1])), json!([2])),
            Some(json!([1, 2]))
        );
        assert_eq!(aggregate(Some(&json!("a")), json!("b")), Some(json!("ab")));
        assert_eq!(aggregate(None, json!({"x": 1})), Some(json!({"x": 1})));
    }

    #[test]
    fn aggregating_merges_mappings_recursively() {
        let old = json!({"a": {"x": 1, "y": 2}, "b": 1});
        let new = json!({"a": {"y": 3}, "c": 4});
        assert_eq!(
            aggregate(Some(&old), new),
            Some(json!({"a": {"x": 1, "y": 3}, "b": 1, "c": 4}))
        );
    }

    #[test]
    fn a_value_of_another_type_is_ignored() {
        assert_eq!(aggregate(Some(&json!([1])), json!(2)), None);
    }
}
