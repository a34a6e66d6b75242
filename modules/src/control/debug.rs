//! `debug`: show a message or a variable. Runs on the controller only.
//!
//! `verbosity` is for the engine to act on (it hides the result below that `-v` level, as
//! Ansible reports "Verbosity threshold not met."): the module passes it through as the
//! result's `min_verbosity`.

use crate::common::args::{p, Param, Spec};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("msg", &[]).doc("The message to print."),
    p("var", &[]).doc("A variable (expression) to print."),
    p("verbosity", &[]).doc("Print only at this `-v` level or above."),
];

/// `debug`'s declared arguments.
pub static SPEC: Spec = Spec::new("debug", "Print statements during execution", &[PARAMS]);

/// What Ansible shows for a `var` that does not evaluate.
pub const UNDEFINED_TEXT: &str = "VARIABLE IS NOT DEFINED!";

/// `ansible.builtin.debug`.
///
/// Not query → plan → apply ([`crate::planned`]): Controller-side output only: nothing on a host to query or change.
pub struct DebugModule;

#[async_trait]
impl Module for DebugModule {
    fn name(&self) -> &'static str {
        "debug"
    }

    fn controller_only(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        if a.has("msg") && a.has("var") {
            return Err(ModuleError::new("'msg' and 'var' are incompatible options"));
        }
        let mut m = Map::new();
        if let Some(var) = a.str("var")? {
            let value = ctx
                .env
                .eval_expr(&var)
                .unwrap_or_else(|_| Value::String(UNDEFINED_TEXT.into()));
            m.insert(var, value);
        } else {
            let msg = a
                .raw("msg")
                .cloned()
                .unwrap_or_else(|| Value::String("Hello world!".into()));
            m.insert("msg".into(), msg);
        }
        m.insert("changed".into(), Value::Bool(false));
        let mut r = ModuleResult::from(m);
        if let Some(v) = a.raw("verbosity") {
            let level = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| ModuleError::new("argument 'verbosity' is not a valid integer"))?;
            r.min_verbosity = u8::try_from(level.max(0)).unwrap_or(u8::MAX);
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    fn env() -> TestEnv {
        let mut e = TestEnv::new(std::path::Path::new("/nonexistent"));
        e.vars.insert("foo".into(), json!([1, 2]));
        e
    }

    #[tokio::test]
    async fn var_is_shown_under_its_own_name() {
        let e = env();
        let r = DebugModule
            .run(&ctx(&e, false, false), args(json!({"var": "foo"})))
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["foo"], json!([1, 2]));
        assert_eq!(r["changed"], json!(false));
    }

    #[tokio::test]
    async fn undefined_var_says_so() {
        let e = env();
        let r = DebugModule
            .run(&ctx(&e, false, false), args(json!({"var": "nope"})))
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["nope"], json!(UNDEFINED_TEXT));
    }

    #[tokio::test]
    async fn msg_defaults_to_hello_world() {
        let e = env();
        let r = DebugModule
            .run(&ctx(&e, false, false), Map::new())
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["msg"], json!("Hello world!"));
    }

    #[tokio::test]
    async fn msg_keeps_its_type() {
        let e = env();
        let r = DebugModule
            .run(&ctx(&e, false, false), args(json!({"msg": [1, {"a": 2}]})))
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["msg"], json!([1, {"a": 2}]));
    }

    #[tokio::test]
    async fn msg_and_var_together_are_rejected() {
        let e = env();
        let err = DebugModule
            .run(
                &ctx(&e, false, false),
                args(json!({"msg": "x", "var": "foo"})),
            )
            .await
            .unwrap_err();
        assert_eq!(err.msg, "'msg' and 'var' are incompatible options");
    }

    #[tokio::test]
    async fn verbosity_is_passed_to_the_engine() {
        let e = env();
        let r = DebugModule
            .run(
                &ctx(&e, false, false),
                args(json!({"msg": "x", "verbosity": "2"})),
            )
            .await
            .unwrap();
        assert_eq!(r.min_verbosity, 2);
        assert!(!r.into_map().contains_key("min_verbosity"));
    }
}
