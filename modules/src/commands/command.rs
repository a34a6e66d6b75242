//! `command`: run a program on the host without a shell, and the runner `shell` shares.
//!
//! One round trip per task: the snippet sent to the host does `chdir`, then the
//! `creates`/`removes` tests, then `exec`s the command. When a test decides the command must not
//! run, the snippet prints a marker instead, so the module knows why nothing ran.

use crate::cmdline::{
    format_delta, format_timestamp, lines_value, quote_arg_expanding, RunTests, Skip,
};
use crate::common::args::{p, Args, Param, Spec};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::{sh_quote, ExecRequest};
use kplay_engine::value::{Map, Value};

/// Parameters shared by `command` and `shell` (Ansible's `command` argument spec).
pub(crate) const COMMAND_PARAMS: &[Param] = &[
    p("_raw_params", &[]).doc("The command to run, as free-form text (`command: ls -l /tmp`)."),
    p("cmd", &[]).doc("The command to run, as one string."),
    p("argv", &[]).doc("The command as a list of arguments (no splitting, no quoting)."),
    p("chdir", &[]).doc("Directory to change into before running the command."),
    p("creates", &[]).doc("Skip the command when this path exists (a glob)."),
    p("removes", &[]).doc("Run the command only when this path exists (a glob)."),
    p("stdin", &[]).doc("Text fed to the command's standard input."),
    p("stdin_add_newline", &[])
        .flag(true)
        .doc("Add a newline after `stdin`."),
    p("strip_empty_ends", &[])
        .flag(true)
        .doc("Strip trailing empty lines from stdout and stderr."),
    p("expand_argument_vars", &[])
        .flag(true)
        .doc("Expand `$VAR` in the arguments as the shell would."),
    p("executable", &[]).doc("The shell for `shell` (default /bin/sh); ignored by `command`."),
    p("_uses_shell", &[])
        .flag(false)
        .doc("Internal: run through the shell (set by `shell`)."),
];

/// `command`'s declared arguments.
pub static SPEC: Spec = Spec::new("command", "Execute commands on targets", &[COMMAND_PARAMS]);

/// Printed on stderr when `chdir` fails.
const CHDIR_FAILED: &str = "__KPLAY_CMD_CHDIR_FAILED_7f3a__";

/// What to run, already decided by `command` or `shell`.
pub(crate) struct CommandSpec {
    /// The sh words that run the command (`exec` is prepended).
    pub exec_words: String,
    /// The `cmd` key of the result: a list of arguments for `command`, the string for `shell`.
    pub cmd_value: Value,
    pub chdir: Option<String>,
    pub tests: RunTests,
    pub stdin: Option<String>,
    pub stdin_add_newline: bool,
    pub strip_empty_ends: bool,
}

impl CommandSpec {
    /// Read the options both modules share from checked args.
    pub(crate) fn options(
        a: &Args,
        exec_words: String,
        cmd_value: Value,
    ) -> Result<CommandSpec, ModuleError> {
        Ok(CommandSpec {
            exec_words,
            cmd_value,
            chdir: a.str("chdir")?,
            tests: RunTests {
                creates: a.str("creates")?,
                removes: a.str("removes")?,
            },
            stdin: a.str("stdin")?,
            stdin_add_newline: a.flag("stdin_add_newline"),
            strip_empty_ends: a.flag("strip_empty_ends"),
        })
    }

    /// The snippet: chdir, then the tests, then the command unless `test_only`.
    fn script(&self, test_only: bool) -> String {
        let mut s = String::new();
        if let Some(dir) = &self.chdir {
            s.push_str(&format!(
                "cd {} || {{ echo {CHDIR_FAILED} >&2; exit 1; }}\n",
                sh_quote(dir)
            ));
        }
        s.push_str(&self.tests.shell());
        if test_only {
            s.push_str("exit 0\n");
        } else {
            s.push_str("exec ");
            s.push_str(&self.exec_words);
            s.push('\n');
        }
        s
    }
}

/// A result with `changed`, `stdout` … in the order Ansible prints them.
fn base_result(changed: bool, stdout: &str, stderr: &str, rc: i32, cmd: &Value) -> Map {
    let mut m = Map::new();
    m.insert("changed".into(), Value::Bool(changed));
    m.insert("stdout".into(), Value::String(stdout.to_string()));
    m.insert("stderr".into(), Value::String(stderr.to_string()));
    m.insert("rc".into(), Value::from(rc));
    m.insert("cmd".into(), cmd.clone());
    m
}

/// [`base_result`] for a command that did not run: `rc: 0`, no output, `start`/`end`/`delta`
/// null.
fn not_run_result(changed: bool, stdout: &str, cmd: &Value) -> Map {
    let mut m = base_result(changed, stdout, "", 0, cmd);
    for k in ["start", "end", "delta"] {
        m.insert(k.into(), Value::Null);
    }
    m
}

fn finish(mut m: Map, msg: &str) -> Map {
    let stdout = m
        .get("stdout")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let stderr = m
        .get("stderr")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    m.insert("msg".into(), Value::String(msg.to_string()));
    m.insert("stdout_lines".into(), lines_value(&stdout));
    m.insert("stderr_lines".into(), lines_value(&stderr));
    m
}

/// The result when `creates`/`removes` decided not to run: `changed: false`, `rc: 0`, no timing.
fn skipped_by_test(spec: &CommandSpec, skip: Skip, check_mode: bool) -> Map {
    let verb = if check_mode {
        "Would not run"
    } else {
        "Did not run"
    };
    let (path, stdout) = spec.tests.reason(skip);
    let msg = match skip {
        Skip::Creates => format!("{verb} command since '{path}' exists"),
        Skip::Removes => format!("{verb} command since '{path}' does not exist"),
    };
    finish(not_run_result(false, &stdout, &spec.cmd_value), &msg)
}

/// Run a `command`/`shell` task: Ansible's result shape, `failed` on a non-zero rc, and in check
/// mode only the `creates`/`removes` tests: without them ansible-core 2.18 skips the task; with
/// them it reports `changed` when the tests would let the command run.
pub(crate) async fn run_spec(
    ctx: &ModuleContext<'_>,
    spec: CommandSpec,
) -> Result<ModuleResult, ModuleError> {
    if ctx.check_mode && !spec.tests.any() {
        let mut m = not_run_result(false, "", &spec.cmd_value);
        m.insert(
            "msg".into(),
            Value::String("Command would have run if not in check mode".into()),
        );
        m.insert("skipped".into(), Value::Bool(true));
        m.insert("stdout_lines".into(), Value::Array(vec![]));
        m.insert("stderr_lines".into(), Value::Array(vec![]));
        return Ok(m.into());
    }
    let stdin = spec.stdin.as_ref().map(|s| {
        let mut data = s.clone().into_bytes();
        if spec.stdin_add_newline {
            data.push(b'\n');
        }
        data
    });
    let req = ExecRequest {
        cmd: spec.script(ctx.check_mode),
        stdin,
        env: ctx.environment.clone(),
        become_: ctx.become_.clone(),
        cwd: None,
    };
    let start = chrono::Local::now();
    let out = ctx.transport.exec(req).await?;
    let end = chrono::Local::now();
    let mut stdout = out.stdout_str();
    let mut stderr = out.stderr_str();
    if out.rc == 0 {
        if let Some(skip) = spec.tests.skipped(&stdout) {
            return Ok(skipped_by_test(&spec, skip, ctx.check_mode).into());
        }
    }
    if ctx.check_mode {
        // Tests passed: ansible-core 2.18 supports check mode once creates/removes is given and
        // reports the command as a change it would have made (not a skip); nothing ran.
        let m = not_run_result(true, "", &spec.cmd_value);
        return Ok(finish(m, "Command would have run if not in check mode").into());
    }
    if out.rc == 1 && stderr.contains(CHDIR_FAILED) {
        let why = stderr.replace(CHDIR_FAILED, "");
        let dir = spec.chdir.as_deref().unwrap_or_default();
        return Err(ModuleError::new(format!(
            "Unable to change directory before execution: {dir}: {}",
            why.trim()
        )));
    }
    if spec.strip_empty_ends {
        stdout = stdout.trim_end_matches(['\r', '\n']).to_string();
        stderr = stderr.trim_end_matches(['\r', '\n']).to_string();
    }
    let mut m = base_result(true, &stdout, &stderr, out.rc, &spec.cmd_value);
    m.insert("start".into(), Value::String(format_timestamp(&start)));
    m.insert("end".into(), Value::String(format_timestamp(&end)));
    m.insert("delta".into(), Value::String(format_delta(end - start)));
    if out.rc != 0 {
        return Err(ModuleError::with_result(
            "non-zero return code",
            finish(m, "non-zero return code"),
        ));
    }
    Ok(finish(m, "").into())
}

/// The argument list of a `command` task: `argv`, or `cmd`/free form split with shell rules.
fn command_argv(a: &Args) -> Result<Vec<String>, ModuleError> {
    let text = match (a.str("cmd")?, a.str("_raw_params")?) {
        (Some(c), _) => Some(c),
        (None, Some(r)) => Some(r),
        (None, None) => None,
    };
    let argv = match (a.raw("argv"), text) {
        (Some(_), Some(_)) => return Err(not_run("only command or argv can be given, not both")),
        (Some(Value::Array(items)), None) => items
            .iter()
            .map(kplay_engine::value::to_display_string)
            .collect(),
        (Some(_), None) => {
            return Err(ModuleError::new(
                "argument 'argv' is of type <class 'str'> and we were unable to convert to list",
            ))
        }
        (None, Some(t)) => shell_words::split(&t)
            .map_err(|e| ModuleError::new(format!("Unable to parse command: {e}")))?,
        (None, None) => Vec::new(),
    };
    if argv.iter().all(|s| s.trim().is_empty()) {
        return Err(not_run("no command given"));
    }
    Ok(argv)
}

/// A command that never started: ansible-core's result still carries every command key
/// (`rc` 256, empty output, `cmd`/`start`/`end`/`delta` null), so `register` sees the same.
fn not_run(msg: &str) -> ModuleError {
    let mut m = Map::new();
    m.insert("rc".into(), Value::from(256));
    for k in ["cmd", "start", "end", "delta"] {
        m.insert(k.into(), Value::Null);
    }
    for k in ["stdout", "stderr"] {
        m.insert(k.into(), Value::String(String::new()));
        m.insert(format!("{k}_lines"), Value::Array(vec![]));
    }
    ModuleError::with_result(msg, m)
}

/// `ansible.builtin.command`.
///
/// Not query → plan → apply ([`crate::planned`]): Runs what it is told: there is no state to query or plan, only `creates`/`removes` guards.
pub struct CommandModule;

#[async_trait]
impl Module for CommandModule {
    fn name(&self) -> &'static str {
        "command"
    }

    fn free_form(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        if a.flag("_uses_shell") {
            return crate::shell::run_shell(ctx, &a).await;
        }
        let argv = command_argv(&a)?;
        let expand = a.flag("expand_argument_vars");
        let words: Vec<String> = argv
            .iter()
            .map(|w| {
                if expand {
                    quote_arg_expanding(w)
                } else {
                    sh_quote(w)
                }
            })
            .collect();
        let cmd_value = Value::Array(argv.into_iter().map(Value::String).collect());
        let spec = CommandSpec::options(&a, words.join(" "), cmd_value)?;
        run_spec(ctx, spec).await
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
    async fn runs_free_form_and_reports_changed_rc_stdout() {
        let (_d, e) = env();
        let r = CommandModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "echo 'a  b' c"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], json!(true));
        assert_eq!(r["rc"], json!(0));
        assert_eq!(r["stdout"], json!("a  b c"));
        assert_eq!(r["stdout_lines"], json!(["a  b c"]));
        assert_eq!(r["cmd"], json!(["echo", "a  b", "c"]));
        assert_eq!(r["msg"], json!(""));
        assert!(r["delta"].as_str().unwrap().starts_with("0:00:0"));
    }

    #[tokio::test]
    async fn does_not_interpret_shell_syntax() {
        let (_d, e) = env();
        let r = CommandModule
            .run(
                &ctx(&e, false, false),
                args(json!({"cmd": "echo a | wc -l; true"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["stdout"], json!("a | wc -l; true"));
    }

    #[tokio::test]
    async fn argv_list_is_passed_verbatim() {
        let (_d, e) = env();
        let r = CommandModule
            .run(
                &ctx(&e, false, false),
                args(json!({"argv": ["printf", "%s|", "x y", "*"]})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["stdout"], json!("x y|*|"));
    }

    #[tokio::test]
    async fn non_zero_rc_fails_with_result() {
        let (_d, e) = env();
        let err = CommandModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "sh -c 'echo oops >&2; exit 3'"})),
            )
            .await
            .unwrap_err();
        assert_eq!(err.msg, "non-zero return code");
        assert_eq!(err.result["rc"], json!(3));
        assert_eq!(err.result["stderr"], json!("oops"));
        assert_eq!(err.result["changed"], json!(true));
    }

    #[tokio::test]
    async fn creates_existing_path_skips_without_change() {
        let (d, e) = env();
        let f = d.path().join("there");
        std::fs::write(&f, "").unwrap();
        let creates = format!("{}/th*", d.path().display());
        let r = CommandModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "false", "creates": creates})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], json!(false));
        assert_eq!(r["rc"], json!(0));
        assert_eq!(
            r["msg"],
            json!(format!("Did not run command since '{creates}' exists"))
        );
    }

    #[tokio::test]
    async fn removes_missing_path_skips_without_change() {
        let (d, e) = env();
        let gone = d.path().join("gone").display().to_string();
        let r = CommandModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "false", "removes": gone})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], json!(false));
        assert_eq!(
            r["msg"],
            json!(format!("Did not run command since '{gone}' does not exist"))
        );
    }

    #[tokio::test]
    async fn creates_missing_path_runs_command() {
        let (d, e) = env();
        let target = d.path().join("made");
        let r = CommandModule
            .run(&ctx(&e, false, false), args(json!({"argv": ["touch", target.display().to_string()], "creates": target.display().to_string()})))
            .await
            .unwrap().into_map();
        assert_eq!(r["changed"], json!(true));
        assert!(target.exists());
    }

    #[tokio::test]
    async fn chdir_runs_in_directory() {
        let (d, e) = env();
        let r = CommandModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "pwd", "chdir": d.path().display().to_string()})),
            )
            .await
            .unwrap()
            .into_map();
        let real = std::fs::canonicalize(d.path()).unwrap();
        assert_eq!(
            std::fs::canonicalize(r["stdout"].as_str().unwrap()).unwrap(),
            real
        );
    }

    #[tokio::test]
    async fn missing_chdir_fails_with_ansible_message() {
        let (d, e) = env();
        let err = CommandModule.run(&ctx(&e, false, false), args(json!({"_raw_params": "pwd", "chdir": d.path().join("nope").display().to_string()}))).await.unwrap_err();
        assert!(
            err.msg
                .starts_with("Unable to change directory before execution"),
            "{}",
            err.msg
        );
    }

    #[tokio::test]
    async fn stdin_is_fed_with_trailing_newline() {
        let (_d, e) = env();
        let r = CommandModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "od -c", "stdin": "hi", "strip_empty_ends": false})),
            )
            .await
            .unwrap()
            .into_map();
        assert!(
            r["stdout"].as_str().unwrap().contains("h   i  \\n"),
            "{}",
            r["stdout"]
        );
    }

    #[tokio::test]
    async fn strip_empty_ends_off_keeps_trailing_newlines() {
        let (_d, e) = env();
        let r = CommandModule
            .run(
                &ctx(&e, false, false),
                args(json!({"argv": ["printf", "a\n\n"], "strip_empty_ends": "no"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["stdout"], json!("a\n\n"));
    }

    #[tokio::test]
    async fn check_mode_does_not_run_and_reports_skip() {
        let (d, e) = env();
        let target = d.path().join("never");
        let r = CommandModule
            .run(
                &ctx(&e, true, false),
                args(json!({"argv": ["touch", target.display().to_string()]})),
            )
            .await
            .unwrap()
            .into_map();
        assert!(!target.exists());
        assert_eq!(r["skipped"], json!(true));
        assert_eq!(r["changed"], json!(false));
        assert_eq!(
            r["msg"],
            json!("Command would have run if not in check mode")
        );
    }

    #[tokio::test]
    async fn check_mode_honours_creates() {
        let (d, e) = env();
        let c = d.path().display().to_string();
        let r = CommandModule
            .run(
                &ctx(&e, true, false),
                args(json!({"_raw_params": "false", "creates": c})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(
            r["msg"],
            json!(format!("Would not run command since '{c}' exists"))
        );
        assert!(r.get("skipped").is_none());
    }

    #[tokio::test]
    async fn check_mode_reports_change_when_creates_would_let_it_run() {
        let (d, e) = env();
        let target = d.path().join("x");
        let t = target.display().to_string();
        let r = CommandModule
            .run(
                &ctx(&e, true, false),
                args(json!({"argv": ["touch", t.clone()], "creates": t.clone()})),
            )
            .await
            .unwrap();
        assert!(!target.exists());
        // ansible-core 2.18's exact result (register'd, minus the engine's `failed`).
        assert_eq!(
            Value::Object(r.into_map()),
            json!({"changed": true, "stdout": "", "stderr": "", "rc": 0, "cmd": ["touch", t],
                   "start": null, "end": null, "delta": null,
                   "msg": "Command would have run if not in check mode",
                   "stdout_lines": [], "stderr_lines": []})
        );
    }

    #[tokio::test]
    async fn check_mode_reports_change_when_removes_exists() {
        let (d, e) = env();
        let r = CommandModule
            .run(
                &ctx(&e, true, false),
                args(json!({"_raw_params": "false", "removes": d.path().display().to_string()})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], json!(true));
        assert!(r.get("skipped").is_none());
    }

    #[tokio::test]
    async fn unknown_parameter_is_rejected() {
        let (_d, e) = env();
        let err = CommandModule
            .run(
                &ctx(&e, false, false),
                args(json!({"_raw_params": "true", "bogus": 1})),
            )
            .await
            .unwrap_err();
        assert!(
            err.msg
                .starts_with("Unsupported parameters for (command) module: bogus."),
            "{}",
            err.msg
        );
    }

    #[tokio::test]
    async fn environment_reaches_the_command_and_expands_arguments() {
        let (_d, e) = env();
        let mut c = ctx(&e, false, false);
        c.environment = vec![("KP_GREETING".into(), "hello".into())];
        let r = CommandModule
            .run(&c, args(json!({"_raw_params": "echo $KP_GREETING"})))
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["stdout"], json!("hello"));
    }

    #[tokio::test]
    async fn empty_command_is_an_error() {
        let (_d, e) = env();
        let err = CommandModule
            .run(&ctx(&e, false, false), args(json!({"_raw_params": "  "})))
            .await
            .unwrap_err();
        assert_eq!(err.msg, "no command given");
    }
}
