//! `assert`: evaluate conditions with the host's variables; fail on the first false one.
//! Runs on the controller only.

use crate::common::args::{p, Args, Param, Spec};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{to_display_string, Map, Value};

const PARAMS: &[Param] = &[
    p("that", &[]).doc("Expressions (or a list of them) that must all be true."),
    p("fail_msg", &["msg"]).doc("Message when an assertion fails."),
    p("success_msg", &[]).doc("Message when all assertions pass."),
    p("quiet", &[]).flag(false).doc("Print less on success."),
];

/// `assert`'s declared arguments.
pub static SPEC: Spec = Spec::new("assert", "Asserts given expressions are true", &[PARAMS]);

/// `ansible.builtin.assert`.
///
/// Not query → plan → apply ([`crate::planned`]): Controller-side expressions only: nothing on a host to query or change.
pub struct AssertModule;

/// `that` as a list of expressions: a string is one condition.
fn conditions(v: &Value) -> Result<Vec<String>, ModuleError> {
    match v {
        Value::Array(items) => Ok(items.iter().map(condition_text).collect()),
        Value::Null => Err(ModuleError::new("conditional required in \"that\" string")),
        other => Ok(vec![condition_text(other)]),
    }
}

fn condition_text(v: &Value) -> String {
    match v {
        // A bare boolean (already templated) is a literal condition.
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => to_display_string(other),
    }
}

/// `fail_msg`/`success_msg` may be a string or a list of strings (Ansible allows both).
fn message(a: &Args, name: &str) -> Result<Option<Value>, ModuleError> {
    match a.raw(name) {
        None => Ok(None),
        Some(v @ Value::String(_)) | Some(v @ Value::Array(_)) => Ok(Some(v.clone())),
        Some(other) => Err(ModuleError::new(format!(
            "Incorrect type for {name} or msg, expected a string or list and got {}",
            match other {
                Value::Object(_) => "<class 'dict'>",
                Value::Bool(_) => "<class 'bool'>",
                _ => "<class 'int'>",
            }
        ))),
    }
}

#[async_trait]
impl Module for AssertModule {
    fn name(&self) -> &'static str {
        "assert"
    }

    fn controller_only(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let that = a
            .raw("that")
            .ok_or_else(|| ModuleError::new("conditional required in \"that\" string"))?;
        let fail_msg = message(&a, "fail_msg")?;
        let success_msg = message(&a, "success_msg")?;
        let _quiet = a.flag("quiet");
        for cond in conditions(that)? {
            let ok = ctx.env.eval_condition(&cond).map_err(ModuleError::new)?;
            if !ok {
                let msg = fail_msg
                    .clone()
                    .unwrap_or_else(|| Value::String("Assertion failed".into()));
                let mut r = Map::new();
                r.insert("assertion".into(), Value::String(cond));
                r.insert("changed".into(), Value::Bool(false));
                r.insert("evaluated_to".into(), Value::Bool(false));
                r.insert("msg".into(), msg.clone());
                return Err(ModuleError::with_result(to_display_string(&msg), r));
            }
        }
        let mut m = Map::new();
        m.insert("changed".into(), Value::Bool(false));
        m.insert(
            "msg".into(),
            success_msg.unwrap_or_else(|| Value::String("All assertions passed".into())),
        );
        Ok(m.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    fn env() -> TestEnv {
        let mut e = TestEnv::new(std::path::Path::new("/nonexistent"));
        e.vars.insert("yes_var".into(), json!(true));
        e.vars.insert("no_var".into(), json!(false));
        e
    }

    #[tokio::test]
    async fn all_true_passes_with_default_message() {
        let e = env();
        let r = AssertModule
            .run(
                &ctx(&e, false, false),
                args(json!({"that": ["yes_var", "true"]})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["msg"], json!("All assertions passed"));
        assert_eq!(r["changed"], json!(false));
    }

    #[tokio::test]
    async fn success_msg_replaces_default() {
        let e = env();
        let r = AssertModule
            .run(
                &ctx(&e, false, false),
                args(json!({"that": "yes_var", "success_msg": "yay"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["msg"], json!("yay"));
    }

    #[tokio::test]
    async fn false_condition_fails_with_assertion_details() {
        let e = env();
        let err = AssertModule
            .run(
                &ctx(&e, false, false),
                args(json!({"that": ["yes_var", "no_var"]})),
            )
            .await
            .unwrap_err();
        assert_eq!(err.msg, "Assertion failed");
        assert_eq!(err.result["assertion"], json!("no_var"));
        assert_eq!(err.result["evaluated_to"], json!(false));
    }

    #[tokio::test]
    async fn fail_msg_and_its_alias_msg_are_used() {
        let e = env();
        let err = AssertModule
            .run(
                &ctx(&e, false, false),
                args(json!({"that": "no_var", "fail_msg": "boom"})),
            )
            .await
            .unwrap_err();
        assert_eq!(err.msg, "boom");
        let err = AssertModule
            .run(
                &ctx(&e, false, false),
                args(json!({"that": "no_var", "msg": "bang"})),
            )
            .await
            .unwrap_err();
        assert_eq!(err.result["msg"], json!("bang"));
    }

    #[tokio::test]
    async fn evaluation_error_fails_the_task() {
        let e = env();
        let err = AssertModule
            .run(
                &ctx(&e, false, false),
                args(json!({"that": "undefined_thing"})),
            )
            .await
            .unwrap_err();
        assert!(err.msg.contains("undefined"), "{}", err.msg);
    }

    #[tokio::test]
    async fn missing_that_is_an_error() {
        let e = env();
        assert!(AssertModule
            .run(&ctx(&e, false, false), Map::new())
            .await
            .is_err());
    }
}
