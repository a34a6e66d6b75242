//! `reboot` (ansible.builtin.reboot): reboot the host and wait until it is back. The boot id
//! (`boot_time_command`) is read first; the reboot command runs detached so its answer comes
//! back before the connection drops; then, after `post_reboot_delay`, kplay reconnects (a new
//! SSH connection with the same settings, for every later task too) until the boot id has
//! changed and `test_command` succeeds, or `reboot_timeout` runs out. Check mode reports the
//! reboot without doing it, as Ansible does. Over a connection kplay cannot re-establish (a
//! `local` one would reboot the controller) it refuses before touching anything.

use crate::common::reads::ensure_status;
use crate::common::args::{p, Param, Spec};
use crate::wait_for_connection::seconds;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::{sh_quote, ExecRequest};
use kplay_engine::value::Map;
use std::time::{Duration, Instant};

const PARAMS: &[Param] = &[
    p("msg", &[])
        .str()
        .default_str("Reboot initiated by Ansible")
        .doc("Message shown to logged-in users."),
    p("pre_reboot_delay", &[])
        .doc("Seconds before the reboot (passed to shutdown in whole minutes, rounded down)."),
    p("post_reboot_delay", &[]).doc("Seconds to wait after the reboot command before checking."),
    p("reboot_timeout", &[])
        .doc("Seconds to wait for the host to come back and pass test_command (600)."),
    p("connect_timeout", &[]).doc("Seconds one reconnection attempt may take."),
    p("test_command", &[])
        .str()
        .default_str("whoami")
        .doc("Command that must succeed once the host is back."),
    p("boot_time_command", &[])
        .str()
        .default_str("cat /proc/sys/kernel/random/boot_id")
        .doc("Command whose output changes on every boot."),
    p("reboot_command", &[])
        .str()
        .doc("Command that reboots (default: shutdown -r +MINUTES MSG, found in search_paths)."),
    p("search_paths", &[])
        .list()
        .doc("Where to look for shutdown."),
];

/// `reboot`'s declared arguments.
pub static SPEC: Spec = Spec::new("reboot", "Reboot a machine", &[PARAMS]);

/// Not query → plan → apply ([`crate::planned`]): its effect is the reboot and the wait for the host to come back, every run.
pub struct RebootModule;

/// The detached reboot: it must answer before the host goes down.
fn reboot_script(a: &crate::common::args::Args, pre_delay: f64) -> Result<String, ModuleError> {
    let cmd = match a.str("reboot_command")? {
        Some(c) => c,
        None => {
            let mut paths = a.list("search_paths");
            if paths.is_empty() {
                paths = ["/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
            }
            let msg = a.str("msg")?.unwrap_or_default();
            let minutes = (pre_delay / 60.0).floor() as u64;
            let dirs: String = paths.iter().map(|d| format!(" {}", sh_quote(d))).collect();
            return Ok(format!(
                "s=''; for d in{dirs}; do if [ -x \"$d/shutdown\" ]; then s=\"$d/shutdown\"; break; fi; done\n\
                 if [ -z \"$s\" ]; then echo 'Unable to find command \"shutdown\" in search paths' >&2; exit 127; fi\n\
                 (sleep 1; exec \"$s\" -r +{minutes} {m}) </dev/null >/dev/null 2>&1 &\n",
                m = sh_quote(&msg)
            ));
        }
    };
    Ok(format!(
        "(sleep 1; exec {cmd}) </dev/null >/dev/null 2>&1 &\n"
    ))
}

#[async_trait]
impl Module for RebootModule {
    fn name(&self) -> &'static str {
        "reboot"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let pre = seconds(&a, "pre_reboot_delay", 0.0)?;
        let post = seconds(&a, "post_reboot_delay", 0.0)?;
        let timeout = seconds(&a, "reboot_timeout", 600.0)?;
        let connect_timeout = seconds(&a, "connect_timeout", 30.0)?.max(1.0);
        let boot_cmd = a.required_str("boot_time_command")?;
        let test_cmd = a.required_str("test_command")?;
        let script = reboot_script(&a, pre)?;
        if ctx.check_mode {
            return Ok(ModuleResult::new(true)
                .set("elapsed", 0)
                .set("rebooted", true));
        }
        if !ctx.transport.can_reconnect() {
            return Err(ModuleError::new(format!(
                "reboot: kplay cannot reconnect over {} after a reboot; refusing to reboot (with a local connection this would reboot the control node)",
                ctx.transport.describe()
            )));
        }
        let run = |cmd: String| async move {
            let mut req = ExecRequest::sh(cmd).with_become(ctx.become_.clone());
            req.env = ctx.environment.clone();
            ctx.transport.exec(req).await
        };
        let before = run(boot_cmd.clone()).await?;
        ensure_status(&before, |e| format!("reboot: the boot time command failed ({}): {e}", before.rc))?;
        let before = before.stdout_str().trim().to_string();
        let start = Instant::now();
        let out = run(script).await?;
        ensure_status(&out, |e| format!("Reboot command failed. Error was: {e}"))?;
        tokio::time::sleep(Duration::from_secs_f64(post)).await;
        let deadline = Instant::now() + Duration::from_secs_f64(pre.max(0.0) + timeout);
        let mut pause = Duration::from_secs(1);
        let mut last = String::from("the host did not go down");
        loop {
            if Instant::now() >= deadline {
                return Err(ModuleError::with_result(
                    format!(
                        "Timed out waiting for the host to come back (timeout={timeout}): {last}"
                    ),
                    ModuleResult::new(false)
                        .set("rebooted", true)
                        .set("elapsed", start.elapsed().as_secs())
                        .into_map(),
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(10));
            let back = tokio::time::timeout(
                Duration::from_secs_f64(connect_timeout),
                ctx.transport.reconnect(),
            )
            .await;
            match back {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    last = e.to_string();
                    continue;
                }
                Err(_) => {
                    last = "connecting timed out".into();
                    continue;
                }
            }
            match run(boot_cmd.clone()).await {
                Ok(o)
                    if o.rc == 0
                        && !o.stdout_str().trim().is_empty()
                        && o.stdout_str().trim() != before => {}
                Ok(_) => {
                    last = "the boot id has not changed yet".into();
                    continue;
                }
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            }
            match run(test_cmd.clone()).await {
                Ok(o) if o.rc == 0 => {
                    return Ok(ModuleResult::new(true)
                        .set("rebooted", true)
                        .set("elapsed", start.elapsed().as_secs()))
                }
                Ok(o) => last = format!("test command failed: {}", o.stderr_str().trim()),
                Err(e) => last = e.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use kplay_engine::transport::{ExecOutput, Transport, TransportError};
    use serde_json::json;
    use std::sync::Mutex;

    /// A host that reboots when told: down for `down` reconnection attempts, then up with a
    /// new boot id (or never up again).
    struct FakeHost {
        state: Mutex<(u32, i32, Vec<String>)>,
        comes_back: bool,
    }

    impl FakeHost {
        fn new(comes_back: bool) -> Self {
            FakeHost {
                state: Mutex::new((1, 0, vec![])),
                comes_back,
            }
        }
    }

    #[async_trait]
    impl Transport for FakeHost {
        fn describe(&self) -> String {
            "fake".into()
        }
        fn can_reconnect(&self) -> bool {
            true
        }
        async fn reconnect(&self) -> Result<(), TransportError> {
            let mut s = self.state.lock().expect("lock");
            if s.1 > 0 && (s.1 > 1 || !self.comes_back) {
                s.1 -= 1;
                return Err(TransportError::Unreachable("connection refused".into()));
            }
            s.1 = 0;
            Ok(())
        }
        async fn exec(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
            let mut s = self.state.lock().expect("lock");
            s.2.push(req.cmd.clone());
            if s.1 > 0 {
                return Err(TransportError::Unreachable("connection closed".into()));
            }
            let stdout = if req.cmd.contains("boot_id") {
                format!("boot-{}\n", s.0).into_bytes()
            } else if req.cmd.contains("shutdown") {
                s.0 += 1;
                s.1 = 3;
                vec![]
            } else {
                b"root\n".to_vec()
            };
            Ok(ExecOutput {
                rc: 0,
                stdout,
                stderr: vec![],
            })
        }
    }

    fn fake_ctx<'a>(env: &'a TestEnv, t: &'a FakeHost) -> ModuleContext<'a> {
        let mut c = ctx(env, false, false);
        c.transport = t;
        c
    }

    #[tokio::test]
    async fn waits_for_a_new_boot_id_and_the_test_command() {
        let env = TestEnv::new(std::path::Path::new("/"));
        let host = FakeHost::new(true);
        let r = RebootModule
            .run(
                &fake_ctx(&env, &host),
                args(
                    json!({"reboot_timeout": 60, "msg": "kernel update", "pre_reboot_delay": 130}),
                ),
            )
            .await
            .map(|r| r.into_map())
            .expect("reboot");
        assert_eq!(
            (r["changed"].clone(), r["rebooted"].clone()),
            (json!(true), json!(true))
        );
        let cmds = host.state.lock().expect("lock").2.clone();
        assert!(
            cmds.iter().any(|c| c.contains("-r +2 'kernel update'")),
            "{cmds:?}"
        );
        assert!(
            cmds.last().is_some_and(|c| c.contains("whoami")),
            "{cmds:?}"
        );
    }

    #[tokio::test]
    async fn a_host_that_never_returns_times_out_with_the_last_error() {
        let env = TestEnv::new(std::path::Path::new("/"));
        let host = FakeHost::new(false);
        let e = RebootModule
            .run(&fake_ctx(&env, &host), args(json!({"reboot_timeout": 3})))
            .await
            .map(|r| r.into_map())
            .unwrap_err();
        assert!(
            e.msg
                .starts_with("Timed out waiting for the host to come back (timeout=3)"),
            "{}",
            e.msg
        );
        assert!(e.msg.contains("connection refused"), "{}", e.msg);
    }

    crate::testutil::both_paths! {
    async fn local_connection_is_refused_and_check_mode_only_reports() {
        let env = TestEnv::new(std::path::Path::new("/"));
        let e = RebootModule.run(&ctx(&env, false, false), args(json!({}))).await.map(|r| r.into_map()).unwrap_err();
        assert!(e.msg.contains("would reboot the control node"), "{}", e.msg);
        let r = RebootModule.run(&ctx(&env, true, false), args(json!({}))).await.map(|r| r.into_map()).expect("check");
        assert_eq!((r["changed"].clone(), r["rebooted"].clone()), (json!(true), json!(true)));
    }
    }
}
