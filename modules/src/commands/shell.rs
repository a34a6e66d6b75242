//! `shell`: `command` through a shell, so pipes, redirections and `$VAR` work. The string goes
//! to `executable -c` (default `/bin/sh`) and is the result's `cmd`.

use crate::command::{run_spec, CommandSpec, COMMAND_PARAMS};
use crate::common::args::{Args, Spec};
use crate::common::fail_rc;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

/// `shell`'s declared arguments (those of `command`).
pub static SPEC: Spec = Spec::new(
    "shell",
    "Execute shell commands on targets",
    &[COMMAND_PARAMS],
);

/// Run checked `command`-style args through a shell (shared with `command` given `_uses_shell`).
pub(crate) async fn run_shell(
    ctx: &ModuleContext<'_>,
    a: &Args,
) -> Result<ModuleResult, ModuleError> {
    if a.has("argv") {
        return Err(ModuleError::new(
            "Unsupported parameters for (shell) module: argv.",
        ));
    }
    let text = match (a.str("cmd")?, a.str("_raw_params")?) {
        (Some(c), _) => c,
        (None, Some(r)) => r,
        (None, None) => String::new(),
    };
    if text.trim().is_empty() {
        return Err(fail_rc("no command given", 256));
    }
    let executable = a
        .str("executable")?
        .unwrap_or_else(|| "/bin/sh".to_string());
    let words = format!("{} -c {}", sh_quote(&executable), sh_quote(&text));
    let spec = CommandSpec::options(a, words, Value::String(text))?;
    run_spec(ctx, spec).await
}

/// `ansible.builtin.shell`.
///
/// Not query → plan → apply ([`crate::planned`]): Runs what it is told: there is no state to query or plan, only `creates`/`removes` guards.
pub struct ShellModule;

#[async_trait]
impl Module for ShellModule {
    fn name(&self) -> &'static str {
        "shell"
    }

    fn free_form(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        run_shell(ctx, &a).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    fn env() -> (tempfile::TempDir, TestEnv) {
        let d = tempfile::tempdir().unwrap();
        let e = TestEnv::new(d.path());
        (d, e)
    }

    #[tokio::test]
    async fn pipes_work_and_cmd_is_the_string() {
        let (_d, e) = env();
        let r = ShellModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "printf 'a\\nb\\n' | wc -l"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["stdout"].as_str().unwrap().trim(), "2");
        assert_eq!(r["cmd"], json!("printf 'a\\nb\\n' | wc -l"));
        assert_eq!(r["changed"], json!(true));
    }

    #[tokio::test]
    async fn task_environment_is_visible() {
        let (_d, e) = env();
        let mut c = ctx(&e, false, false);
        c.environment = vec![("KP_SHELL_VAR".into(), "v1".into())];
        let r = ShellModule
            .run(&c, args(json!({"cmd": "echo \"$KP_SHELL_VAR\""})))
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["stdout"], json!("v1"));
    }

    #[tokio::test]
    async fn exit_status_fails_the_task() {
        let (_d, e) = env();
        let err = ShellModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "echo hi; exit 3"})),
            )
            .await
            .unwrap_err();
        assert_eq!(err.msg, "non-zero return code");
        assert_eq!(err.result["rc"], json!(3));
        assert_eq!(err.result["stdout"], json!("hi"));
    }

    #[tokio::test]
    async fn executable_chooses_the_shell() {
        let (_d, e) = env();
        let r = ShellModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "echo $0", "executable": "/bin/sh"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["stdout"], json!("/bin/sh"));
    }

    #[tokio::test]
    async fn stdin_reaches_the_shell() {
        let (_d, e) = env();
        let r = ShellModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "cat | tr a-z A-Z", "stdin": "foo"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["stdout"], json!("FOO"));
    }

    #[tokio::test]
    async fn check_mode_skips() {
        let (d, e) = env();
        let f = d.path().join("x");
        let r = ShellModule
            .run(
                &ctx(&e, true, false),
                args(json!({"_raw_params": format!("touch {}", f.display())})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["skipped"], json!(true));
        assert!(!f.exists());
    }
}
