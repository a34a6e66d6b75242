//! `raw`: send the string to the host as is — no chdir, no tests, no output trimming. It is what
//! bootstraps hosts that have nothing installed, so it must not depend on anything.

use crate::cmdline::lines_value;
use crate::common::args::{p, Param, Spec};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::{sh_quote, ExecRequest};
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("_raw_params", &[]).doc("The command, run as is by the host's shell."),
    p("executable", &[]).doc("The shell to run it with."),
];

/// `raw`'s declared arguments.
pub static SPEC: Spec = Spec::new("raw", "Executes a low-down and dirty command", &[PARAMS]);

/// `ansible.builtin.raw`.
///
/// Not query → plan → apply ([`crate::planned`]): Runs what it is told, without kplay on the host: nothing to query or plan.
pub struct RawModule;

#[async_trait]
impl Module for RawModule {
    fn name(&self) -> &'static str {
        "raw"
    }

    fn free_form(&self) -> bool {
        true
    }

    /// Ansible skips `raw` in check mode: it cannot know what an arbitrary string would do.
    fn supports_check_mode(&self) -> bool {
        false
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let text = a.str("_raw_params")?.unwrap_or_default();
        if text.trim().is_empty() {
            return Err(ModuleError::new("no command given"));
        }
        let cmd = match a.str("executable")? {
            Some(exe) => format!("exec {} -c {}", sh_quote(&exe), sh_quote(&text)),
            None => text,
        };
        let req = ExecRequest {
            cmd,
            stdin: None,
            env: ctx.environment.clone(),
            become_: ctx.become_.clone(),
            cwd: None,
        };
        let out = ctx.transport.exec(req).await?;
        let (stdout, stderr) = (out.stdout_str(), out.stderr_str());
        let mut m = Map::new();
        m.insert("rc".into(), Value::from(out.rc));
        m.insert("stdout".into(), Value::String(stdout.clone()));
        m.insert("stdout_lines".into(), lines_value(&stdout));
        m.insert("stderr".into(), Value::String(stderr.clone()));
        m.insert("stderr_lines".into(), lines_value(&stderr));
        m.insert("changed".into(), Value::Bool(true));
        if out.rc != 0 {
            m.insert("msg".into(), Value::String("non-zero return code".into()));
            return Err(ModuleError::with_result("non-zero return code", m));
        }
        Ok(m.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    #[tokio::test]
    async fn runs_string_as_is_and_keeps_trailing_newline() {
        let d = tempfile::tempdir().unwrap();
        let e = TestEnv::new(d.path());
        let r = RawModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "echo a | tr a b"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["stdout"], json!("b\n"));
        assert_eq!(r["stdout_lines"], json!(["b"]));
        assert_eq!(r["changed"], json!(true));
        assert_eq!(r["rc"], json!(0));
    }

    #[tokio::test]
    async fn non_zero_rc_fails() {
        let d = tempfile::tempdir().unwrap();
        let e = TestEnv::new(d.path());
        let err = RawModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "echo hi; exit 3"})),
            )
            .await
            .unwrap_err();
        assert_eq!(err.msg, "non-zero return code");
        assert_eq!(err.result["rc"], json!(3));
    }

    #[test]
    fn is_skipped_in_check_mode() {
        assert!(!RawModule.supports_check_mode());
    }

    #[tokio::test]
    async fn chdir_is_not_a_raw_parameter() {
        let d = tempfile::tempdir().unwrap();
        let e = TestEnv::new(d.path());
        let err = RawModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "true", "chdir": "/tmp"})),
            )
            .await
            .unwrap_err();
        assert!(err
            .msg
            .starts_with("Unsupported parameters for (raw) module: chdir."));
    }
}
