//! The `validate_argument_spec` action: the arguments a task (or a role's implicit first
//! task) gives, checked with [`super::validate`]. As ansible-core, the values come from the
//! variables named in the spec, overridden by `provided_arguments`.

use super::validate;
use crate::value::{Map, Value};

/// The action's result: `Ok` with the result keys, or `Err` with the failure's message and
/// result keys (`argument_errors`, `argument_spec_data`, `validate_args_context`).
pub type ActionResult = Result<Map, (String, Map)>;

/// Runs the action on rendered `args`; `var` gives a variable's rendered value, if defined.
pub fn run(args: &Map, var: impl Fn(&str) -> Option<Value>) -> ActionResult {
    let mut result = Map::new();
    let context = args
        .get("validate_args_context")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    result.insert("validate_args_context".into(), context);
    let Some(spec) = args.get("argument_spec") else {
        let shown = super::types::py_str(&Value::Object(args.clone()));
        return Err((
            format!("\"argument_spec\" arg is required in args: {shown}"),
            result,
        ));
    };
    let Value::Object(spec) = spec else {
        let msg = format!(
            "Incorrect type for argument_spec, expected dict and got {}",
            super::types::py_type(spec)
        );
        return Err((msg, result));
    };
    let provided = match args.get("provided_arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            let msg = format!(
                "Incorrect type for provided_arguments, expected dict and got {}",
                super::types::py_type(other)
            );
            return Err((msg, result));
        }
    };
    let mut params: Map = spec
        .keys()
        .filter_map(|name| var(name).map(|v| (name.clone(), v)))
        .collect();
    params.extend(provided);
    let checked = validate(spec, &params);
    if checked.errors.is_empty() {
        result.insert("changed".into(), Value::Bool(false));
        result.insert("msg".into(), "The arg spec validation passed".into());
        return Ok(result);
    }
    let msg = format!(
        "Validation of arguments failed:\n{}",
        checked.errors.join("\n")
    );
    result.insert("argument_spec_data".into(), Value::Object(spec.clone()));
    result.insert(
        "argument_errors".into(),
        Value::Array(checked.errors.into_iter().map(Value::String).collect()),
    );
    Err((msg, result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn variables_are_checked_and_provided_arguments_win() {
        let a = args(json!({
            "argument_spec": {"port": {"type": "int"}, "name": {"required": true}},
            "provided_arguments": {"name": "web"},
        }));
        let vars = |n: &str| (n == "port").then(|| json!("8080"));
        let r = run(&a, vars).unwrap();
        assert_eq!(r["msg"], json!("The arg spec validation passed"));
        let bad = |n: &str| (n == "port").then(|| json!("eighty"));
        let (msg, r) = run(&a, bad).unwrap_err();
        assert_eq!(
            msg,
            "Validation of arguments failed:\nargument 'port' is of type <class 'str'> and we \
             were unable to convert to int: \"'eighty'\" cannot be converted to an int"
        );
        assert_eq!(r["argument_errors"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn bad_action_arguments_are_refused() {
        let (msg, _) = run(&Map::new(), |_| None).unwrap_err();
        assert!(msg.starts_with("\"argument_spec\" arg is required in args"));
        let (msg, _) = run(&args(json!({"argument_spec": [1]})), |_| None).unwrap_err();
        assert_eq!(
            msg,
            "Incorrect type for argument_spec, expected dict and got <class 'list'>"
        );
    }
}
