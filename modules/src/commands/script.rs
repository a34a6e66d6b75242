//! `script`: send a controller script to the host, run it there, remove it. One round trip: the
//! snippet checks `creates`/`removes`, writes the script (from stdin) to a private temp file,
//! runs it in `chdir` with `executable` if given, and deletes it whatever happened.

use crate::cmdline::{lines_value, RunTests};
use crate::common::args::{p, Param, Spec};
use crate::common::run_sh;
use async_trait::async_trait;
use kplay_engine::module::{FileKind, Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;
use std::path::PathBuf;

const PARAMS: &[Param] = &[
    p("_raw_params", &[]).doc("Local script path followed by its arguments."),
    p("cmd", &[]).doc("Local script path followed by its arguments."),
    p("creates", &[]).doc("Skip the script when this remote path exists."),
    p("removes", &[]).doc("Run the script only when this remote path exists."),
    p("chdir", &[]).doc("Remote directory to change into before running the script."),
    p("executable", &[]).doc("Program that runs the script (e.g. `python3`)."),
    p("decrypt", &[])
        .flag(true)
        .doc("Decrypt a vaulted script (kplay always does)."),
];

/// `script`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "script",
    "Runs a local script on a remote node after transferring it",
    &[PARAMS],
);

/// Printed (before running) when the tests pass; check mode stops there.
const WOULD_RUN: &str = "__KPLAY_SCRIPT_WOULD_RUN_51c2__";
const RC_CHDIR: i32 = 90;
const RC_TEMP: i32 = 91;

/// Checked `script` arguments.
#[derive(Debug, Clone, PartialEq)]
struct ScriptArgs {
    /// The script on the controller.
    path: PathBuf,
    /// Arguments for the script, already quoted for sh.
    args: String,
    tests: RunTests,
    chdir: Option<String>,
    executable: Option<String>,
}

/// Split `path arg…` into the script name and its arguments quoted for sh.
fn split_command(raw: &str) -> Result<(String, String), ModuleError> {
    let words = shell_words::split(raw.trim())
        .map_err(|e| ModuleError::new(format!("could not parse the script command: {e}")))?;
    let mut it = words.into_iter();
    let first = it
        .next()
        .ok_or_else(|| ModuleError::new("script requires a script path (free form or cmd)"))?;
    let rest: Vec<String> = it.map(|w| sh_quote(&w)).collect();
    Ok((first, rest.join(" ")))
}

impl ScriptArgs {
    fn parse(args: Map, ctx: &ModuleContext<'_>) -> Result<ScriptArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        a.flag("decrypt");
        let raw = match (a.str("cmd")?, a.str("_raw_params")?) {
            (Some(c), _) => c,
            (None, Some(r)) => r,
            (None, None) => {
                return Err(ModuleError::new(
                    "script requires a script path (free form or cmd)",
                ))
            }
        };
        let (name, args) = split_command(&raw)?;
        let path = ctx.env.find_file(FileKind::Files, &name).ok_or_else(|| {
            ModuleError::new(format!(
                "Could not find or access '{name}' on the Ansible Controller."
            ))
        })?;
        Ok(ScriptArgs {
            path,
            args,
            tests: RunTests {
                creates: a.str("creates")?,
                removes: a.str("removes")?,
            },
            chdir: a.str("chdir")?,
            executable: a.str("executable")?,
        })
    }

    /// The snippet; with `test_only` it stops after the `creates`/`removes` tests.
    fn script(&self, test_only: bool) -> String {
        let mut s = self.tests.shell();
        if test_only {
            s.push_str(&format!("echo {WOULD_RUN}; exit 0\n"));
            return s;
        }
        s.push_str(&format!(
            "t=$(mktemp \"${{TMPDIR:-/tmp}}/.kplay-script.XXXXXX\") || exit {RC_TEMP}\n\
             trap 'rm -f \"$t\"' EXIT\ncat > \"$t\" || exit {RC_TEMP}\nchmod 700 \"$t\" || exit {RC_TEMP}\n"
        ));
        if let Some(d) = &self.chdir {
            s.push_str(&format!("cd {} || exit {RC_CHDIR}\n", sh_quote(d)));
        }
        let exe = self
            .executable
            .as_deref()
            .map(|e| format!("{e} "))
            .unwrap_or_default();
        s.push_str(&format!("{exe}\"$t\" {} < /dev/null\n", self.args));
        s
    }
}

/// The result when a `creates`/`removes` test stops the script (Ansible: skipped).
fn skipped(msg: String) -> Map {
    ModuleResult::new(false)
        .set("skipped", true)
        .set("msg", msg)
        .into_map()
}

/// Not query → plan → apply ([`crate::planned`]): Runs a controller script on the host: its effect is unknowable before it runs.
pub struct ScriptModule;

#[async_trait]
impl Module for ScriptModule {
    fn name(&self) -> &'static str {
        "script"
    }

    fn free_form(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = ScriptArgs::parse(args, ctx)?;
        if ctx.check_mode && !a.tests.any() {
            return Ok(ModuleResult::new(false)
                .set("skipped", true)
                .set("msg", "This module does not support check mode."));
        }
        let body = if ctx.check_mode {
            None
        } else {
            Some(std::fs::read(&a.path).map_err(|e| {
                ModuleError::new(format!("could not read {}: {e}", a.path.display()))
            })?)
        };
        let out = run_sh(ctx, a.script(ctx.check_mode), body).await?;
        let stdout = out.stdout_str();
        let first = stdout.lines().next().unwrap_or("");
        if let Some(skip) = a.tests.skipped(first).filter(|_| out.rc == 0) {
            return Ok(skipped(a.tests.reason(skip).1).into());
        }
        if ctx.check_mode {
            return Ok(ModuleResult::new(true));
        }
        match out.rc {
            RC_CHDIR => {
                return Err(ModuleError::new(format!(
                    "Unable to change directory to {}: {}",
                    a.chdir.as_deref().unwrap_or_default(),
                    out.stderr_str().trim()
                )))
            }
            RC_TEMP => {
                return Err(ModuleError::new(format!(
                    "could not put the script on the host: {}",
                    out.stderr_str().trim()
                )))
            }
            _ => {}
        }
        let stderr = out.stderr_str();
        let r = ModuleResult::new(true)
            .set("rc", out.rc)
            .set("stdout", stdout.as_str())
            .set("stdout_lines", lines_value(&stdout))
            .set("stderr", stderr.as_str())
            .set("stderr_lines", lines_value(&stderr));
        if out.rc != 0 {
            return Err(ModuleError::with_result(
                "non-zero return code",
                r.into_map(),
            ));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    fn fixture(body: &str) -> (tempfile::TempDir, TestEnv) {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("s.sh"), body).unwrap();
        let env = TestEnv::new(t.path());
        (t, env)
    }

    #[test]
    fn command_splits_path_from_quoted_arguments() {
        let (p, a) = split_command("files/x.sh 'a b' c").unwrap();
        assert_eq!(p, "files/x.sh");
        assert_eq!(a, "'a b' c");
    }

    #[tokio::test]
    async fn script_runs_with_arguments_in_chdir_and_is_removed() {
        let (t, env) = fixture("#!/bin/sh\necho \"$1|$2|$(pwd)\"\necho err >&2\n");
        let dir = t.path().to_str().unwrap();
        let r = ScriptModule
            .run(
                &ctx(&env, false, false),
                args(json!({"_raw_params": "s.sh 'a b' c", "chdir": dir})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], true);
        assert_eq!(r["rc"], 0);
        assert_eq!(r["stdout_lines"][0], format!("a b|c|{dir}"));
        assert_eq!(r["stderr"], "err\n");
    }

    #[tokio::test]
    async fn executable_runs_a_script_without_a_shebang() {
        let (_t, env) = fixture("echo via-sh\n");
        let r = ScriptModule
            .run(
                &ctx(&env, false, false),
                args(json!({"cmd": "s.sh", "executable": "/bin/sh"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["stdout"], "via-sh\n");
    }

    #[tokio::test]
    async fn non_zero_exit_fails_with_rc() {
        let (_t, env) = fixture("#!/bin/sh\nexit 3\n");
        let e = ScriptModule
            .run(
                &ctx(&env, false, false),
                args(json!({"_raw_params": "s.sh"})),
            )
            .await
            .unwrap_err();
        assert_eq!(e.msg, "non-zero return code");
        assert_eq!(e.result["rc"], 3);
    }

    #[tokio::test]
    async fn creates_skips_when_the_path_exists() {
        let (t, env) = fixture("#!/bin/sh\ntouch \"$0.ran\"\n");
        let r = ScriptModule
            .run(
                &ctx(&env, false, false),
                args(json!({"_raw_params": "s.sh", "creates": t.path().to_str().unwrap()})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], false);
        assert_eq!(
            r["msg"],
            format!("skipped, since {} exists", t.path().display())
        );
    }

    #[tokio::test]
    async fn check_mode_with_removes_reports_change_without_running() {
        let (t, env) = fixture("#!/bin/sh\ntouch marker\n");
        let dir = t.path().to_str().unwrap();
        let r = ScriptModule
            .run(
                &ctx(&env, true, false),
                args(json!({"_raw_params": "s.sh", "removes": dir, "chdir": dir})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], true);
        assert!(!t.path().join("marker").exists());
    }

    #[tokio::test]
    async fn missing_controller_script_is_reported() {
        let (_t, env) = fixture("");
        let e = ScriptModule
            .run(
                &ctx(&env, false, false),
                args(json!({"_raw_params": "nope.sh"})),
            )
            .await
            .unwrap_err();
        assert!(e.msg.contains("Could not find or access 'nope.sh'"));
    }
}
