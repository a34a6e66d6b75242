//! `ping`: prove the connection works by running a trivial command on the host.

use crate::common::args::{p, Param, Spec};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::{sh_quote, ExecRequest};
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[p("data", &[]).doc("What to return as `ping`; `crash` fails.")];

/// `ping`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "ping",
    "Try to connect to host, verify a usable shell and return pong on success",
    &[PARAMS],
);

/// `ansible.builtin.ping`.
///
/// Not query → plan → apply ([`crate::planned`]): Checks the connection: nothing to plan or change.
pub struct PingModule;

#[async_trait]
impl Module for PingModule {
    fn name(&self) -> &'static str {
        "ping"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let data = a.str("data")?.unwrap_or_else(|| "pong".to_string());
        // Ansible's ping raises an exception for `crash`, to test error handling.
        if data == "crash" {
            return Err(ModuleError::new("boom"));
        }
        let req = ExecRequest {
            cmd: format!("echo {}", sh_quote(&data)),
            become_: ctx.become_.clone(),
            env: ctx.environment.clone(),
            ..Default::default()
        };
        let out = ctx.transport.exec(req).await?;
        if out.rc != 0 {
            return Err(ModuleError::new(format!(
                "ping failed (rc={}): {}",
                out.rc,
                out.stderr_str().trim()
            )));
        }
        let mut m = Map::new();
        m.insert("ping".into(), Value::String(data));
        m.insert("changed".into(), Value::Bool(false));
        Ok(m.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    #[tokio::test]
    async fn answers_pong() {
        let e = TestEnv::new(std::path::Path::new("/nonexistent"));
        let r = PingModule
            .run(&ctx(&e, false, false), Map::new())
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["ping"], json!("pong"));
        assert_eq!(r["changed"], json!(false));
    }

    #[tokio::test]
    async fn echoes_data() {
        let e = TestEnv::new(std::path::Path::new("/nonexistent"));
        let r = PingModule
            .run(&ctx(&e, false, false), args(json!({"data": "hi there"})))
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["ping"], json!("hi there"));
    }

    #[tokio::test]
    async fn crash_fails() {
        let e = TestEnv::new(std::path::Path::new("/nonexistent"));
        assert!(PingModule
            .run(&ctx(&e, false, false), args(json!({"data": "crash"})))
            .await
            .is_err());
    }
}
