//! `set_fact`: define host variables from the task's arguments. Runs on the controller only; the
//! engine merges the returned `ansible_facts` into the host's variables.

use crate::common::args::{p, Param, Spec};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};

/// Python's keywords, which Ansible's `isidentifier` refuses as variable names.
const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Whether `name` can be a variable: an ASCII identifier that is not a Python keyword.
pub fn is_valid_var_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !PYTHON_KEYWORDS.contains(&name)
}

const PARAMS: &[Param] = &[
    p("key_value", &[])
        .dict()
        .doc("Any `name: value` pairs: each becomes a host variable (the keys are the names)."),
    p("cacheable", &[])
        .flag(false)
        .doc("Accepted; kplay keeps no fact cache between runs."),
];

/// `set_fact`'s documented arguments. Its keys are the variables to set, so they cannot be
/// declared: the module checks each name itself and this spec is for `kplay doc`.
pub static SPEC: Spec = Spec::new("set_fact", "Set host variable(s) and fact(s)", &[PARAMS]);

/// `ansible.builtin.set_fact`.
///
/// Not query → plan → apply ([`crate::planned`]): Controller-side variables only: nothing on a host to query or change.
pub struct SetFactModule;

#[async_trait]
impl Module for SetFactModule {
    fn name(&self) -> &'static str {
        "set_fact"
    }

    fn controller_only(&self) -> bool {
        true
    }

    async fn run(&self, _ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let mut facts = Map::new();
        for (k, v) in args {
            match k.as_str() {
                "cacheable" => continue,
                "_raw_params" if v.as_str().is_some_and(|s| s.trim().is_empty()) => continue,
                _ => {}
            }
            if !is_valid_var_name(&k) {
                return Err(ModuleError::new(format!(
                    "The variable name '{k}' is not valid. Variables must start with a letter or underscore character, and contain only letters, numbers and underscores."
                )));
            }
            facts.insert(k, coerce_boolean_string(v));
        }
        if facts.is_empty() {
            return Err(ModuleError::new(
                "No key/value pairs provided, at least one is required for this action to succeed",
            ));
        }
        let mut m = Map::new();
        m.insert("ansible_facts".into(), Value::Object(facts));
        m.insert("changed".into(), Value::Bool(false));
        Ok(m.into())
    }
}

/// Ansible (without native Jinja) turns the strings `true/false/yes/no` (any case) into booleans.
fn coerce_boolean_string(v: Value) -> Value {
    if let Value::String(s) = &v {
        match s.to_ascii_lowercase().as_str() {
            "true" | "yes" => return Value::Bool(true),
            "false" | "no" => return Value::Bool(false),
            _ => {}
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    fn env() -> TestEnv {
        TestEnv::new(std::path::Path::new("/nonexistent"))
    }

    #[tokio::test]
    async fn keys_become_facts_and_cacheable_is_consumed() {
        let e = env();
        let r = SetFactModule
            .run(
                &ctx(&e, false, false),
                args(json!({"x": 1, "y": {"a": [1]}, "cacheable": true})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["ansible_facts"], json!({"x": 1, "y": {"a": [1]}}));
        assert_eq!(r["changed"], json!(false));
    }

    #[tokio::test]
    async fn boolean_words_become_booleans() {
        let e = env();
        let r = SetFactModule
            .run(
                &ctx(&e, false, false),
                args(json!({"a": "yes", "b": "False", "c": "maybe"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(
            r["ansible_facts"],
            json!({"a": true, "b": false, "c": "maybe"})
        );
    }

    #[tokio::test]
    async fn invalid_name_is_rejected() {
        let e = env();
        let err = SetFactModule
            .run(&ctx(&e, false, false), args(json!({"x-y": 1})))
            .await
            .unwrap_err();
        assert!(err.msg.starts_with("The variable name 'x-y' is not valid."));
    }

    #[tokio::test]
    async fn no_pairs_is_an_error() {
        let e = env();
        let err = SetFactModule
            .run(&ctx(&e, false, false), args(json!({"cacheable": true})))
            .await
            .unwrap_err();
        assert!(err.msg.starts_with("No key/value pairs provided"));
    }

    #[test]
    fn keywords_are_not_variable_names() {
        assert!(!is_valid_var_name("class"));
        assert!(is_valid_var_name("_x1"));
        assert!(!is_valid_var_name("1x"));
    }
}
