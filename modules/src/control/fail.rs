//! `fail`: fail the task with a message. Runs on the controller only.

use crate::common::args::{p, Param, Spec};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{to_display_string, Map, Value};

const PARAMS: &[Param] = &[p("msg", &[]).doc("The failure message.")];

/// `fail`'s declared arguments.
pub static SPEC: Spec = Spec::new("fail", "Fail with custom message", &[PARAMS]);

/// `ansible.builtin.fail`.
///
/// Not query → plan → apply ([`crate::planned`]): Fails the task on the controller: nothing on a host to query or change.
pub struct FailModule;

#[async_trait]
impl Module for FailModule {
    fn name(&self) -> &'static str {
        "fail"
    }

    fn controller_only(&self) -> bool {
        true
    }

    async fn run(&self, _ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let msg = a
            .raw("msg")
            .cloned()
            .unwrap_or_else(|| Value::String("Failed as requested from task".into()));
        let mut result = Map::new();
        result.insert("changed".into(), Value::Bool(false));
        // A non-string msg (a list, a dict) is kept as is in the result, as Ansible does.
        result.insert("msg".into(), msg.clone());
        Err(ModuleError::with_result(to_display_string(&msg), result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    #[tokio::test]
    async fn fails_with_default_message() {
        let e = TestEnv::new(std::path::Path::new("/nonexistent"));
        let err = FailModule
            .run(&ctx(&e, false, false), Map::new())
            .await
            .unwrap_err();
        assert_eq!(err.msg, "Failed as requested from task");
    }

    #[tokio::test]
    async fn fails_with_given_message() {
        let e = TestEnv::new(std::path::Path::new("/nonexistent"));
        let err = FailModule
            .run(&ctx(&e, false, false), args(json!({"msg": "stop here"})))
            .await
            .unwrap_err();
        assert_eq!(err.msg, "stop here");
        assert_eq!(err.result["msg"], json!("stop here"));
    }
}
