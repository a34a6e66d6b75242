//! `systemd` / `systemd_service` (ansible.builtin.systemd_service): a unit's run state, boot
//! enablement and mask, with `daemon_reload`/`daemon_reexec`, `scope` and `no_block`, deciding
//! as Ansible does (`systemctl show` for state, `systemctl is-enabled` for enablement and mask,
//! SysV scripts counted for enablement). `query`: one round trip (which also runs a requested
//! daemon-reload, as Ansible does before deciding, never in check mode) reads everything;
//! `plan` picks the mask/enable/start commands that are needed; `apply` runs them. The
//! `service` module reuses this for systemd hosts.

use crate::common::args::{p, Args, Param, Spec};
use crate::common::reads::{failure, read_all, Read, Replies};
use crate::common::run_sh;
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("name", &["service", "unit"]).doc("Unit name (`.service` may be left out)."),
    p("state", &[])
        .choices(STATES)
        .doc("`started`/`stopped` are idempotent; `restarted`/`reloaded` always act."),
    p("enabled", &[]).doc("Whether the unit starts on boot."),
    p("force", &[])
        .flag(false)
        .doc("Override existing symlinks when enabling."),
    p("masked", &[]).doc("Whether the unit is masked (cannot be started)."),
    p("daemon_reload", &["daemon-reload"])
        .flag(false)
        .doc("Run `systemctl daemon-reload` before anything else."),
    p("daemon_reexec", &["daemon-reexec"])
        .flag(false)
        .doc("Run `systemctl daemon-reexec` before anything else."),
    p("scope", &[])
        .choices(&["system", "user", "global"])
        .doc("Which systemd manager: `system`, `user` or `global`."),
    p("no_block", &[])
        .flag(false)
        .doc("Do not wait for the start/stop job to finish."),
];

/// `systemd`'s declared arguments.
pub static SPEC: Spec =
    Spec::new("systemd", "Manage systemd units", &[PARAMS]).required_one_of(&[&[
        "state",
        "enabled",
        "masked",
        "daemon_reload",
        "daemon_reexec",
    ]]);

pub const STATES: &[&str] = &["reloaded", "restarted", "started", "stopped"];

/// `state` of `systemd` and `service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceState {
    Started,
    Stopped,
    /// Always acts: restart (start when stopped).
    Restarted,
    /// Always acts: reload (start when stopped).
    Reloaded,
}

impl ServiceState {
    /// `state` of the checked arguments (choices [`STATES`]).
    pub fn from_arg(a: &Args) -> Result<Option<ServiceState>, ModuleError> {
        Ok(a.choice("state", STATES)?.map(|s| match s.as_str() {
            "started" => ServiceState::Started,
            "stopped" => ServiceState::Stopped,
            "restarted" => ServiceState::Restarted,
            _ => ServiceState::Reloaded,
        }))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Started => "started",
            ServiceState::Stopped => "stopped",
            ServiceState::Restarted => "restarted",
            ServiceState::Reloaded => "reloaded",
        }
    }
}

/// `ansible.builtin.systemd_service` (also `systemd`).
pub struct SystemdModule;

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SystemdArgs {
    pub name: Option<String>,
    pub state: Option<ServiceState>,
    pub enabled: Option<bool>,
    pub force: bool,
    pub masked: Option<bool>,
    pub daemon_reload: bool,
    pub daemon_reexec: bool,
    /// `system`, `user` or `global`.
    pub scope: String,
    pub no_block: bool,
}

fn opt_bool(a: &Args, name: &str) -> Result<Option<bool>, ModuleError> {
    if a.has(name) {
        a.bool(name, false).map(Some)
    } else {
        Ok(None)
    }
}

impl SystemdArgs {
    pub fn parse(args: Map) -> Result<SystemdArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let s = SystemdArgs {
            name: a.str("name")?,
            state: ServiceState::from_arg(&a)?,
            enabled: opt_bool(&a, "enabled")?,
            force: a.flag("force"),
            masked: opt_bool(&a, "masked")?,
            daemon_reload: a.flag("daemon_reload"),
            daemon_reexec: a.flag("daemon_reexec"),
            scope: a
                .choice("scope", &["system", "user", "global"])?
                .unwrap_or_else(|| "system".into()),
            no_block: a.flag("no_block"),
        };
        for (given, key) in [
            (s.state.is_some(), "state"),
            (s.enabled.is_some(), "enabled"),
            (s.masked.is_some(), "masked"),
        ] {
            if given && s.name.is_none() {
                return Err(ModuleError::new(format!(
                    "missing parameter(s) required by '{key}': name"
                )));
            }
        }
        if let Some(n) = &s.name {
            if let Some(g) = ["*", "?", "["].iter().find(|g| n.contains(**g)) {
                return Err(ModuleError::new(format!("This module does not currently support using glob patterns, found '{g}' in service name: {n}")));
            }
        }
        Ok(s)
    }

    /// `systemctl` with the scope, `--no-block` and `--force` flags.
    pub fn systemctl(&self) -> String {
        let mut s = String::from("systemctl");
        match self.scope.as_str() {
            "user" => s.push_str(" --user"),
            "global" => s.push_str(" --global"),
            _ => {}
        }
        if self.no_block {
            s.push_str(" --no-block");
        }
        if self.force {
            s.push_str(" --force");
        }
        s
    }

    /// User-scope systemctl needs the user's runtime directory, as Ansible sets it.
    fn env_prefix(&self) -> &'static str {
        if self.scope == "user" {
            "XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/run/user/$(id -u)}; export XDG_RUNTIME_DIR\n"
        } else {
            ""
        }
    }
}

/// The SysV script name for a unit (`foo.service` → `foo`).
fn sysv_name(unit: &str) -> &str {
    unit.strip_suffix(".service").unwrap_or(unit)
}

/// The read: daemon-reload/reexec when asked (not in check mode), then show, is-enabled and
/// the SysV script.
pub fn reads(a: &SystemdArgs, check_mode: bool) -> Vec<Read> {
    let sc = format!("{}{}", a.env_prefix(), a.systemctl());
    let mut v = Vec::new();
    if a.daemon_reload && !check_mode {
        v.push(Read::new("daemon_reload", format!("{sc} daemon-reload")).merged());
    }
    if a.daemon_reexec && !check_mode {
        v.push(Read::new("daemon_reexec", format!("{sc} daemon-reexec")).merged());
    }
    if let Some(n) = &a.name {
        let q = sh_quote(n);
        let sv = sh_quote(sysv_name(n));
        v.push(Read::new("show", format!("{sc} show {q}")));
        v.push(Read::new("is_enabled", format!("{sc} is-enabled {q} -l")));
        v.push(Read::new("initd", format!("[ -e /etc/init.d/{sv} ]")));
        v.push(Read::new(
            "sysv_enabled",
            format!("ls /etc/rc?.d/S??{sv} >/dev/null 2>&1"),
        ));
    }
    v
}

/// `systemctl show` output as a dict; `{ … }` values spanning lines are joined as Ansible does.
pub fn parse_show(out: &str) -> Map {
    let mut m = Map::new();
    let mut multi: Option<(String, Vec<String>)> = None;
    for line in out.lines() {
        if let Some((k, mut parts)) = multi.take() {
            parts.push(line.to_string());
            if line.trim_end().ends_with('}') {
                m.insert(k, Value::String(parts.join("\n")));
            } else {
                multi = Some((k, parts));
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if v.starts_with('{') && !v.trim_end().ends_with('}') {
            multi = Some((k.to_string(), vec![v.to_string()]));
        } else {
            m.insert(k.to_string(), Value::String(v.to_string()));
        }
    }
    if let Some((k, parts)) = multi {
        m.insert(k, Value::String(parts.join("\n")));
    }
    m
}

fn prop<'a>(status: &'a Map, k: &str) -> Option<&'a str> {
    status.get(k).and_then(Value::as_str)
}

/// What the read found about the unit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    pub status: Map,
    pub found: bool,
    pub enabled: bool,
    pub masked: bool,
}

/// Interpret the read (Ansible's `is_systemd`, `is_initd`, is-enabled rules).
pub fn seen(a: &SystemdArgs, r: &Replies) -> Result<Seen, ModuleError> {
    for key in ["daemon_reload", "daemon_reexec"] {
        let o = r.get(key);
        if (key == "daemon_reload" && a.daemon_reload || key == "daemon_reexec" && a.daemon_reexec)
            && o.rc > 0
        {
            return Err(ModuleError::new(format!(
                "failure {} during {}: {}",
                o.rc,
                key.replace('_', "-"),
                o.out.trim()
            )));
        }
    }
    let Some(unit) = &a.name else {
        return Ok(Seen::default());
    };
    let show = r.get("show");
    let status = if show.ok() {
        parse_show(&show.out)
    } else {
        Map::new()
    };
    let load = prop(&status, "LoadState");
    let is_systemd = load.is_some_and(|l| l != "not-found");
    if is_systemd && load != Some("masked") {
        if let Some(e) = prop(&status, "LoadError")
            .filter(|e| !e.is_empty() && !e.starts_with("\"\"") && *e != "\"\" \"\"")
        {
            return Err(ModuleError::new(format!(
                "Error loading unit file '{unit}': {e}"
            )));
        }
    }
    let is_initd = r.get("initd").ok();
    let ie = r.get("is_enabled");
    let lines: Vec<&str> = ie
        .out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let enabled = match ie.rc {
        0 => lines != ["indirect"] && lines != ["alias"],
        1 => {
            a.scope == "system"
                && is_initd
                && !ie.out.trim_end().ends_with("disabled")
                && r.get("sysv_enabled").ok()
        }
        _ => false,
    };
    Ok(Seen {
        masked: ie.out.trim() == "masked",
        enabled,
        found: is_systemd || is_initd,
        status,
    })
}

/// One `systemctl VERB` to run, with the word used in the failure message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub verb: &'static str,
}

/// The outcome of deciding.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    pub actions: Vec<Action>,
    pub result: Map,
}

fn not_found(unit: &str) -> ModuleError {
    ModuleError::new(format!("Could not find the requested service {unit}: host"))
}

/// Ansible's order: mask, then enable, then state.
pub fn decide(a: &SystemdArgs, s: &Seen) -> Result<Decision, ModuleError> {
    let mut p = Decision::default();
    let unit = a.name.clone().unwrap_or_default();
    p.result.insert(
        "name".into(),
        a.name.clone().map(Value::String).unwrap_or(Value::Null),
    );
    p.result.insert("changed".into(), Value::Bool(false));
    p.result
        .insert("status".into(), Value::Object(s.status.clone()));
    if a.name.is_none() {
        return Ok(p);
    }
    if let Some(m) = a.masked {
        if m != s.masked {
            p.actions.push(Action {
                verb: if m { "mask" } else { "unmask" },
            });
        }
    }
    if let Some(e) = a.enabled {
        if !s.found {
            return Err(not_found(&unit));
        }
        p.result.insert("enabled".into(), Value::Bool(e));
        if e != s.enabled {
            p.actions.push(Action {
                verb: if e { "enable" } else { "disable" },
            });
        }
    }
    if let Some(state) = a.state {
        if !s.found {
            return Err(not_found(&unit));
        }
        let Some(active) = prop(&s.status, "ActiveState") else {
            let mut m = Map::new();
            m.insert("status".into(), Value::Object(s.status.clone()));
            return Err(ModuleError::with_result("Service is in unknown state", m));
        };
        let running = active == "active" || active == "activating";
        let (reported, verb) = match state {
            ServiceState::Started => (state, (!running).then_some("start")),
            ServiceState::Stopped => (
                state,
                (running || active == "deactivating").then_some("stop"),
            ),
            other => (
                ServiceState::Started,
                Some(if !running {
                    "start"
                } else if other == ServiceState::Restarted {
                    "restart"
                } else {
                    "reload"
                }),
            ),
        };
        p.result
            .insert("state".into(), Value::String(reported.as_str().into()));
        if let Some(v) = verb {
            p.actions.push(Action { verb: v });
        }
    }
    p.result
        .insert("changed".into(), Value::Bool(!p.actions.is_empty()));
    Ok(p)
}

/// One script running the actions in order; a failing one exits 100 + its index.
pub fn change_script(a: &SystemdArgs, actions: &[Action]) -> String {
    let unit = sh_quote(a.name.as_deref().unwrap_or(""));
    let mut s = String::from(a.env_prefix());
    for (i, act) in actions.iter().enumerate() {
        s.push_str(&format!(
            "{} {} {unit} || exit {}\n",
            a.systemctl(),
            act.verb,
            100 + i
        ));
    }
    s
}

/// The plan of `systemd` (and of `service` on a systemd host): the actions to run.
pub fn plan_actions(a: &SystemdArgs, s: &Seen) -> Result<Plan<Vec<Action>>, ModuleError> {
    let d = decide(a, s)?;
    let result = ModuleResult::from(d.result);
    Ok(if d.actions.is_empty() {
        Plan::nothing(result)
    } else {
        Plan::change(d.actions, result)
    })
}

/// Run the planned actions; a failure names the step that failed, as Ansible does.
pub async fn run_actions(
    ctx: &ModuleContext<'_>,
    a: &SystemdArgs,
    actions: &[Action],
) -> Result<(), ModuleError> {
    let out = run_sh(ctx, change_script(a, actions), None).await?;
    if out.rc != 0 {
        let (o, e) = (out.stdout_str(), out.stderr_str());
        let idx = usize::try_from(out.rc - 100)
            .ok()
            .filter(|i| *i < actions.len());
        let msg = match idx {
            Some(i) => {
                let verb = actions[i].verb;
                let detail = if verb == "mask"
                    || verb == "unmask"
                    || verb == "enable"
                    || verb == "disable"
                {
                    format!("{o}{e}")
                } else {
                    e.clone()
                };
                format!(
                    "Unable to {verb} service {}: {}",
                    a.name.as_deref().unwrap_or(""),
                    detail.trim()
                )
            }
            None => format!("systemctl failed: {}", e.trim()),
        };
        return Err(failure(msg, out.rc, &o, &e));
    }
    Ok(())
}

#[async_trait]
impl QueryPlanApply for SystemdModule {
    type Args = SystemdArgs;
    type Seen = Seen;
    type Changes = Vec<Action>;

    fn name(&self) -> &'static str {
        "systemd"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["systemd_service"]
    }

    fn parse(&self, args: Map) -> Result<SystemdArgs, ModuleError> {
        SystemdArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &SystemdArgs) -> Result<Seen, ModuleError> {
        let replies = read_all(ctx, &reads(a, ctx.check_mode)).await?;
        seen(a, &replies)
    }

    fn plan(a: &SystemdArgs, s: &Seen) -> Result<Plan<Vec<Action>>, ModuleError> {
        plan_actions(a, s)
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &SystemdArgs,
        actions: Vec<Action>,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        run_actions(ctx, a, &actions).await?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::args;
    use serde_json::json;

    fn sa(v: serde_json::Value) -> SystemdArgs {
        SystemdArgs::parse(args(v)).unwrap()
    }

    fn replies(show: &str, enabled: (&str, i32), initd: bool) -> Replies {
        let mut r = Replies::default();
        r.insert("show", show, 0);
        r.insert("is_enabled", enabled.0, enabled.1);
        r.insert("initd", "", if initd { 0 } else { 1 });
        r.insert("sysv_enabled", "", 1);
        r
    }

    const RUNNING: &str = "Id=nginx.service\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nMainPID=42\n";
    const STOPPED: &str = "Id=nginx.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\nUnitFileState=disabled\nMainPID=0\n";

    #[test]
    fn one_of_the_actions_is_required() {
        assert_eq!(SystemdArgs::parse(args(json!({"name": "x"}))).unwrap_err().msg, "one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec");
        assert!(SystemdArgs::parse(args(json!({"daemon_reload": true}))).is_ok());
    }

    #[test]
    fn state_needs_a_name_and_globs_are_refused() {
        assert_eq!(
            SystemdArgs::parse(args(json!({"state": "started"})))
                .unwrap_err()
                .msg,
            "missing parameter(s) required by 'state': name"
        );
        assert!(
            SystemdArgs::parse(args(json!({"name": "a*", "state": "started"})))
                .unwrap_err()
                .msg
                .contains("glob patterns, found '*'")
        );
        assert!(
            SystemdArgs::parse(args(json!({"unit": "a", "state": "running"})))
                .unwrap_err()
                .msg
                .starts_with("value of state must be one of")
        );
    }

    #[test]
    fn systemctl_flags_follow_scope_and_no_block() {
        assert_eq!(
            sa(json!({"name": "a", "state": "started", "scope": "user", "no_block": true}))
                .systemctl(),
            "systemctl --user --no-block"
        );
    }

    #[test]
    fn show_parses_multiline_braces() {
        let m = parse_show("A=1\nExecStart={ path=/bin/x ; argv[]=/bin/x\n  -f ; }\nB=\n");
        assert_eq!(m["A"], "1");
        assert_eq!(m["ExecStart"], "{ path=/bin/x ; argv[]=/bin/x\n  -f ; }");
        assert_eq!(m["B"], "");
    }

    #[test]
    fn started_and_enabled_running_unit_changes_nothing() {
        let a = sa(json!({"name": "nginx", "state": "started", "enabled": true}));
        let s = seen(&a, &replies(RUNNING, ("enabled\n", 0), false)).unwrap();
        let p = decide(&a, &s).unwrap();
        assert!(p.actions.is_empty());
        assert_eq!(p.result["status"]["SubState"], "running");
        assert_eq!(p.result["state"], "started");
        assert_eq!(p.result["enabled"], true);
    }

    #[test]
    fn stopped_unit_is_enabled_then_started_and_restart_reports_started() {
        let a = sa(json!({"name": "nginx", "state": "started", "enabled": true, "masked": false}));
        let s = seen(&a, &replies(STOPPED, ("disabled\n", 1), false)).unwrap();
        let verbs: Vec<&str> = decide(&a, &s)
            .unwrap()
            .actions
            .iter()
            .map(|x| x.verb)
            .collect();
        assert_eq!(verbs, vec!["enable", "start"]);
        let r = sa(json!({"name": "nginx", "state": "restarted"}));
        let s = seen(&r, &replies(RUNNING, ("enabled\n", 0), false)).unwrap();
        let p = decide(&r, &s).unwrap();
        assert_eq!(
            (p.actions[0].verb, p.result["state"].clone()),
            ("restart", json!("started"))
        );
    }

    #[test]
    fn indirect_counts_as_disabled_and_masked_is_seen() {
        let a = sa(json!({"name": "x", "enabled": false, "masked": true}));
        let s = seen(&a, &replies(STOPPED, ("indirect\n", 0), false)).unwrap();
        assert!(!s.enabled);
        let s = seen(
            &a,
            &replies(
                "LoadState=masked\nActiveState=inactive\n",
                ("masked\n", 1),
                false,
            ),
        )
        .unwrap();
        assert!(s.masked && decide(&a, &s).unwrap().actions.is_empty());
    }

    #[test]
    fn missing_unit_fails_like_ansible() {
        let a = sa(json!({"name": "nope", "state": "started"}));
        let s = seen(
            &a,
            &replies(
                "Id=nope.service\nLoadState=not-found\nActiveState=inactive\n",
                ("", 4),
                false,
            ),
        )
        .unwrap();
        assert_eq!(
            decide(&a, &s).unwrap_err().msg,
            "Could not find the requested service nope: host"
        );
    }

    #[test]
    fn failed_daemon_reload_is_reported() {
        let a = sa(json!({"daemon_reload": true}));
        let mut r = Replies::default();
        r.insert("daemon_reload", "boom\n", 1);
        assert_eq!(
            seen(&a, &r).unwrap_err().msg,
            "failure 1 during daemon-reload: boom"
        );
    }

    #[test]
    fn plan_reports_the_status_and_changes_only_what_differs() {
        let a = sa(json!({"name": "nginx", "state": "stopped", "enabled": true}));
        assert_eq!(a.state, Some(ServiceState::Stopped));
        let s = seen(&a, &replies(RUNNING, ("enabled\n", 0), false)).unwrap();
        let p = SystemdModule::plan(&a, &s).unwrap();
        let verbs: Vec<&str> = p.changes.iter().flatten().map(|x| x.verb).collect();
        assert_eq!(verbs, vec!["stop"]);
        let r = p.result.into_map();
        assert_eq!(r["changed"], json!(true));
        assert_eq!(r["status"]["SubState"], "running");
        assert_eq!(
            (&r["state"], &r["enabled"]),
            (&json!("stopped"), &json!(true))
        );
        let stopped = seen(&a, &replies(STOPPED, ("enabled\n", 0), false)).unwrap();
        let p = SystemdModule::plan(&a, &stopped).unwrap();
        assert!(p.changes.is_none() && !p.result.changed);
    }

    #[test]
    fn plan_of_daemon_reload_alone_changes_nothing() {
        let a = sa(json!({"daemon_reload": true}));
        let p = SystemdModule::plan(&a, &Seen::default()).unwrap();
        assert!(p.changes.is_none());
        assert_eq!(p.result.into_map()["name"], json!(null));
    }

    #[test]
    fn change_script_exits_with_the_failing_step() {
        let a = sa(json!({"name": "a b", "state": "started"}));
        let s = change_script(&a, &[Action { verb: "enable" }, Action { verb: "start" }]);
        assert_eq!(
            s,
            "systemctl enable 'a b' || exit 100\nsystemctl start 'a b' || exit 101\n"
        );
    }

    #[test]
    fn reads_skip_daemon_reload_in_check_mode() {
        let a = sa(json!({"name": "x", "daemon_reload": true, "state": "started"}));
        assert_eq!(reads(&a, true).len(), 4);
        assert_eq!(reads(&a, false)[0].script, "systemctl daemon-reload");
    }
}
