//! `service` (ansible.builtin.service): on a systemd host it behaves as `systemd` does (as
//! Ansible's action plugin hands it to `systemd_service`, dropping `pattern`, `runlevel`,
//! `sleep` and `arguments`); elsewhere it drives `/etc/init.d` scripts, with enablement through
//! `rc-update` (OpenRC), `chkconfig` or `update-rc.d`. One round trip detects the service
//! manager and reads everything either path needs; one more makes the changes.

use crate::common::args::{p, Param, Spec};
use crate::common::reads::{ensure_ok, read_all, Read, Replies};
use crate::common::run_sh;
use crate::planned::{Plan, QueryPlanApply};
use crate::systemd::{self, ServiceState, SystemdArgs};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("name", &[]).required().doc("Name of the service."),
    p("state", &[])
        .choices(systemd::STATES)
        .doc("`started`/`stopped` are idempotent; `restarted`/`reloaded` always act."),
    p("sleep", &[])
        .int()
        .doc("Seconds between stop and start on `restarted`."),
    p("pattern", &[]).doc("Accepted; status comes from systemd."),
    p("enabled", &[])
        .flag(false)
        .doc("Whether the service starts on boot."),
    p("runlevel", &[]).doc("Accepted; systemd has no runlevels."),
    p("arguments", &["args"]).doc("Accepted; systemd units take no extra arguments."),
    p("use", &[]).doc("The service manager; kplay's targets use `systemd` (`auto` picks it)."),
    // What Ansible's service action hands on to systemd on a systemd host.
    p("daemon_reload", &["daemon-reload"])
        .flag(false)
        .doc("systemd hosts: `systemctl daemon-reload` first (ignored elsewhere)."),
    p("daemon_reexec", &["daemon-reexec"])
        .flag(false)
        .doc("systemd hosts: `systemctl daemon-reexec` first (ignored elsewhere)."),
    p("masked", &[])
        .flag(false)
        .doc("systemd hosts: whether the unit is masked (ignored elsewhere)."),
    p("scope", &[])
        .choices(&["system", "user", "global"])
        .doc("systemd hosts: the unit's scope (ignored elsewhere)."),
    p("no_block", &[])
        .flag(false)
        .doc("systemd hosts: do not wait for the job to finish (ignored elsewhere)."),
];

/// `service`'s declared arguments.
pub static SPEC: Spec = Spec::new("service", "Manage services", &[PARAMS]).required_one_of(&[&[
    "state",
    "enabled",
    "masked",
    "daemon_reload",
    "daemon_reexec",
]]);

/// `ansible.builtin.service`.
pub struct ServiceModule;

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceArgs {
    pub name: String,
    pub state: Option<ServiceState>,
    pub enabled: Option<bool>,
    pub sleep: Option<u32>,
    pub pattern: Option<String>,
    pub runlevel: String,
    pub arguments: String,
    /// `auto`, `systemd`, or anything else meaning "not systemd" (sysvinit, openrc, service).
    pub use_: String,
    /// Handed on to systemd on a systemd host.
    pub systemd_only: SystemdOnly,
}

/// The arguments only systemd understands, ignored by the other service managers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SystemdOnly {
    pub daemon_reload: bool,
    pub daemon_reexec: bool,
    pub masked: Option<bool>,
    pub scope: Option<String>,
    pub no_block: bool,
}

impl ServiceArgs {
    pub fn parse(args: Map) -> Result<ServiceArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let s = ServiceArgs {
            name: a.str("name")?.unwrap_or_default(),
            state: ServiceState::from_arg(&a)?,
            enabled: if a.has("enabled") {
                Some(a.flag("enabled"))
            } else {
                None
            },
            sleep: a.u32("sleep")?,
            pattern: a.str("pattern")?,
            runlevel: a.str("runlevel")?.unwrap_or_else(|| "default".into()),
            arguments: a.str("arguments")?.unwrap_or_default(),
            use_: a.str("use")?.unwrap_or_else(|| "auto".into()),
            systemd_only: SystemdOnly {
                daemon_reload: a.flag("daemon_reload"),
                daemon_reexec: a.flag("daemon_reexec"),
                masked: if a.has("masked") {
                    Some(a.flag("masked"))
                } else {
                    None
                },
                scope: a.str("scope")?,
                no_block: a.flag("no_block"),
            },
        };
        Ok(s)
    }

    /// The systemd arguments for a systemd host.
    pub fn as_systemd(&self) -> SystemdArgs {
        let o = &self.systemd_only;
        SystemdArgs {
            name: Some(self.name.clone()),
            state: self.state,
            enabled: self.enabled,
            masked: o.masked,
            daemon_reload: o.daemon_reload,
            daemon_reexec: o.daemon_reexec,
            scope: o.scope.clone().unwrap_or_else(|| "system".into()),
            no_block: o.no_block,
            ..Default::default()
        }
    }
}

/// The sh that prints `systemd` when PID 1 is systemd (Ansible's `service_mgr` rule: the
/// `/run/systemd/system` directory, or `/proc/1/comm`), else `openrc` or `sysv`.
pub const DETECT: &str = "if command -v systemctl >/dev/null 2>&1 && { [ -d /run/systemd/system ] || [ \"$(cat /proc/1/comm 2>/dev/null)\" = systemd ]; }; then echo systemd; elif command -v rc-service >/dev/null 2>&1; then echo openrc; else echo sysv; fi";

/// Every read for both paths; systemd's reads are skipped on other hosts.
pub fn reads(a: &ServiceArgs, check_mode: bool) -> Vec<Read> {
    let mut v = vec![Read::new("mgr", DETECT)];
    let guard = "[ -d /run/systemd/system ] || [ \"$(cat /proc/1/comm 2>/dev/null)\" = systemd ] || exit 99\n";
    if a.use_ == "auto" || a.use_ == "systemd" {
        for r in systemd::reads(&a.as_systemd(), check_mode) {
            let g = if a.use_ == "systemd" { "" } else { guard };
            v.push(Read {
                script: format!("{g}{}", r.script),
                ..r
            });
        }
    }
    let n = sh_quote(&a.name);
    let status = match &a.pattern {
        Some(pat) => format!("ps -eo args | grep -v grep | grep -q -- {}", sh_quote(pat)),
        None => format!("if command -v rc-service >/dev/null 2>&1; then rc-service {n} status; elif [ -x /etc/init.d/{n} ]; then /etc/init.d/{n} status; else service {n} status; fi"),
    };
    v.push(Read::new("sysv_status", status));
    v.push(Read::new(
        "sysv_enabled",
        format!(
            "if command -v rc-update >/dev/null 2>&1; then rc-update show {rl} | grep -qw -- {n}; elif command -v chkconfig >/dev/null 2>&1; then chkconfig {n}; else ls /etc/rc[2345].d/S??{n} >/dev/null 2>&1; fi",
            rl = sh_quote(&a.runlevel)
        ),
    ));
    v.push(Read::new("sysv_exists", format!("[ -e /etc/init.d/{n} ] || {{ command -v rc-service >/dev/null 2>&1 && rc-service -e {n}; }}")));
    v
}

/// What the SysV reads found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SysvSeen {
    pub exists: bool,
    pub running: bool,
    pub enabled: bool,
}

impl SysvSeen {
    pub fn from_replies(r: &Replies) -> SysvSeen {
        SysvSeen {
            exists: r.get("sysv_exists").ok(),
            running: r.get("sysv_status").ok(),
            enabled: r.get("sysv_enabled").ok(),
        }
    }
}

/// The SysV plan from the reads: commands in order and the result.
pub fn sysv_plan(a: &ServiceArgs, r: &Replies) -> Result<(Vec<String>, Map), ModuleError> {
    sysv_decide(a, &SysvSeen::from_replies(r))
}

/// The SysV plan: commands in order and the result.
pub fn sysv_decide(a: &ServiceArgs, seen: &SysvSeen) -> Result<(Vec<String>, Map), ModuleError> {
    if !seen.exists {
        return Err(ModuleError::new(format!(
            "Could not find the requested service {}: host",
            a.name
        )));
    }
    let (running, enabled) = (seen.running, seen.enabled);
    let n = sh_quote(&a.name);
    let args = if a.arguments.is_empty() {
        String::new()
    } else {
        format!(" {}", a.arguments)
    };
    let script = |verb: &str| {
        format!("if command -v rc-service >/dev/null 2>&1; then rc-service {n} {verb}{args}; elif [ -x /etc/init.d/{n} ]; then /etc/init.d/{n} {verb}{args}; else service {n} {verb}{args}; fi")
    };
    let mut cmds = Vec::new();
    let mut result = Map::new();
    result.insert("name".into(), Value::String(a.name.clone()));
    if let Some(e) = a.enabled {
        result.insert("enabled".into(), Value::Bool(e));
        if e != enabled {
            let rl = sh_quote(&a.runlevel);
            let (rc, chk, upd) = if e {
                ("add", "on", "defaults")
            } else {
                ("del", "off", "disable")
            };
            cmds.push(format!(
                "if command -v rc-update >/dev/null 2>&1; then rc-update {rc} {n} {rl}; elif command -v chkconfig >/dev/null 2>&1; then chkconfig {n} {chk}; else update-rc.d {n} {upd}{}; fi",
                if e { format!(" && update-rc.d {n} enable") } else { String::new() }
            ));
        }
    }
    if let Some(state) = a.state {
        result.insert("state".into(), Value::String(state.as_str().into()));
        match state {
            ServiceState::Started if !running => cmds.push(script("start")),
            ServiceState::Stopped if running => cmds.push(script("stop")),
            ServiceState::Restarted => match (running, a.sleep) {
                (true, Some(s)) => cmds.push(format!(
                    "{{ {}; }} ; sleep {s}; {}",
                    script("stop"),
                    script("start")
                )),
                (true, None) => cmds.push(script("restart")),
                (false, _) => cmds.push(script("start")),
            },
            ServiceState::Reloaded => cmds.push(if running {
                script("reload")
            } else {
                script("start")
            }),
            _ => {}
        }
    }
    result.insert("changed".into(), Value::Bool(!cmds.is_empty()));
    Ok((cmds, result))
}

/// What `query` found, by service manager.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Systemd(systemd::Seen),
    Sysv(SysvSeen),
}

/// What `apply` runs, by service manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    Systemd(Vec<systemd::Action>),
    /// Init-script commands, in order.
    Sysv(Vec<String>),
}

#[async_trait]
impl QueryPlanApply for ServiceModule {
    type Args = ServiceArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "service"
    }

    fn parse(&self, args: Map) -> Result<ServiceArgs, ModuleError> {
        ServiceArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &ServiceArgs) -> Result<Seen, ModuleError> {
        let r = read_all(ctx, &reads(a, ctx.check_mode)).await?;
        let mgr = r.get("mgr").out.trim().to_string();
        Ok(
            if a.use_ == "systemd" || (a.use_ == "auto" && mgr == "systemd") {
                Seen::Systemd(systemd::seen(&a.as_systemd(), &r)?)
            } else {
                Seen::Sysv(SysvSeen::from_replies(&r))
            },
        )
    }

    fn plan(a: &ServiceArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        match seen {
            Seen::Systemd(s) => {
                let p = systemd::plan_actions(&a.as_systemd(), s)?;
                Ok(Plan {
                    changes: p.changes.map(Changes::Systemd),
                    result: p.result,
                })
            }
            Seen::Sysv(s) => {
                let (cmds, result) = sysv_decide(a, s)?;
                let result = ModuleResult::from(result);
                Ok(if cmds.is_empty() {
                    Plan::nothing(result)
                } else {
                    Plan::change(Changes::Sysv(cmds), result)
                })
            }
        }
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &ServiceArgs,
        changes: Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let cmds = match changes {
            Changes::Systemd(actions) => {
                systemd::run_actions(ctx, &a.as_systemd(), &actions).await?;
                return Ok(result);
            }
            Changes::Sysv(cmds) => cmds,
        };
        let script: String = cmds
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} || exit {}\n", 100 + i))
            .collect();
        let out = run_sh(ctx, script, None).await?;
        ensure_ok(&out, |o, e| {
            format!(
                "Unable to change the state of service {}: {}",
                a.name,
                format!("{o}{e}").trim()
            )
        })?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned::Planned;
    use crate::testutil::args;
    use kplay_engine::module::Module;
    use serde_json::json;

    #[test]
    fn systemd_only_arguments_are_handed_to_systemd() {
        let a = ServiceArgs::parse(args(json!({"name": "containerd", "daemon_reload": true, "state": "stopped", "masked": false})))
            .unwrap_or_else(|e| panic!("{}", e.msg));
        let s = a.as_systemd();
        assert!(s.daemon_reload);
        assert_eq!(s.masked, Some(false));
        assert_eq!(s.scope, "system");
        let alone = ServiceArgs::parse(args(json!({"name": "x", "daemon_reload": true})));
        assert!(
            alone.is_ok(),
            "daemon_reload alone is enough, as for systemd"
        );
    }

    fn sa(v: serde_json::Value) -> ServiceArgs {
        ServiceArgs::parse(args(v)).unwrap()
    }

    fn sysv(status: i32, enabled: i32) -> Replies {
        let mut r = Replies::default();
        r.insert("mgr", "sysv\n", 0);
        r.insert("sysv_exists", "", 0);
        r.insert("sysv_status", "", status);
        r.insert("sysv_enabled", "", enabled);
        r
    }

    /// On a systemd host ansible-core hands `service` to systemd, whose rule this is.
    #[test]
    fn state_or_enabled_is_required() {
        assert_eq!(
            ServiceArgs::parse(args(json!({"name": "x"})))
                .unwrap_err()
                .msg,
            "one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec"
        );
        assert_eq!(
            ServiceArgs::parse(args(json!({"state": "started"})))
                .unwrap_err()
                .msg,
            "missing required arguments: name"
        );
    }

    #[test]
    fn args_alias_and_systemd_translation() {
        let a = sa(json!({"name": "ssh", "state": "restarted", "args": "-v", "enabled": "yes"}));
        assert_eq!(a.arguments, "-v");
        let s = a.as_systemd();
        assert_eq!(
            (
                s.name.as_deref(),
                s.state.map(ServiceState::as_str),
                s.enabled
            ),
            (Some("ssh"), Some("restarted"), Some(true))
        );
    }

    #[test]
    fn systemd_reads_are_guarded_by_detection() {
        let r = reads(&sa(json!({"name": "ssh", "state": "started"})), false);
        assert_eq!(r[0].name, "mgr");
        assert!(r
            .iter()
            .find(|x| x.name == "show")
            .unwrap()
            .script
            .contains("|| exit 99\nsystemctl show ssh"));
    }

    #[test]
    fn sysv_running_service_started_is_unchanged() {
        let (cmds, res) = sysv_plan(
            &sa(json!({"name": "cron", "state": "started", "enabled": true})),
            &sysv(0, 0),
        )
        .unwrap();
        assert!(cmds.is_empty());
        assert_eq!(res["changed"], false);
    }

    #[test]
    fn sysv_stopped_service_is_enabled_and_started() {
        let (cmds, res) = sysv_plan(
            &sa(json!({"name": "cron", "state": "started", "enabled": true})),
            &sysv(3, 1),
        )
        .unwrap();
        assert_eq!(cmds.len(), 2);
        assert!(cmds[0].contains("update-rc.d cron defaults && update-rc.d cron enable"));
        assert!(cmds[1].contains("/etc/init.d/cron start"));
        assert_eq!(res["changed"], true);
    }

    #[test]
    fn sysv_restart_always_changes_and_honours_sleep() {
        let (cmds, _) = sysv_plan(
            &sa(json!({"name": "cron", "state": "restarted", "sleep": 2})),
            &sysv(0, 0),
        )
        .unwrap();
        assert!(cmds[0].contains("; sleep 2; "));
    }

    #[tokio::test]
    async fn unknown_service_fails_on_this_host_and_changes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let env = crate::testutil::TestEnv::new(d.path());
        let c = crate::testutil::ctx(&env, false, false);
        let e = Planned(ServiceModule)
            .run(
                &c,
                args(json!({"name": "kplay-no-such-service", "state": "started"})),
            )
            .await
            .unwrap_err();
        assert_eq!(
            e.msg,
            "Could not find the requested service kplay-no-such-service: host"
        );
    }

    #[test]
    fn plan_on_sysv_enables_then_starts() {
        let a = sa(json!({"name": "ntp", "state": "started", "enabled": true}));
        let seen = Seen::Sysv(SysvSeen {
            exists: true,
            ..Default::default()
        });
        let p = ServiceModule::plan(&a, &seen).unwrap();
        let Some(Changes::Sysv(cmds)) = &p.changes else {
            panic!("no sysv commands: {:?}", p.changes)
        };
        assert_eq!(cmds.len(), 2);
        assert!(cmds[0].contains("update-rc.d ntp defaults") && cmds[1].contains(" start"));
        assert_eq!(p.result.into_map()["state"], json!("started"));
        let running = Seen::Sysv(SysvSeen {
            exists: true,
            running: true,
            enabled: true,
        });
        assert!(ServiceModule::plan(&a, &running).unwrap().changes.is_none());
    }

    #[test]
    fn plan_on_systemd_uses_systemds_rules() {
        let a = sa(json!({"name": "ntp", "state": "restarted"}));
        let mut status = Map::new();
        status.insert("ActiveState".into(), json!("active"));
        let seen = Seen::Systemd(systemd::Seen {
            status,
            found: true,
            enabled: true,
            masked: false,
        });
        let p = ServiceModule::plan(&a, &seen).unwrap();
        assert_eq!(
            p.changes,
            Some(Changes::Systemd(vec![systemd::Action { verb: "restart" }]))
        );
        assert_eq!(p.result.into_map()["state"], json!("started"));
    }

    #[test]
    fn missing_sysv_service_fails() {
        let mut r = sysv(3, 1);
        r.insert("sysv_exists", "", 1);
        assert_eq!(
            sysv_plan(&sa(json!({"name": "nope", "state": "started"})), &r)
                .unwrap_err()
                .msg,
            "Could not find the requested service nope: host"
        );
    }
}
