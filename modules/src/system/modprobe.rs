//! `modprobe` (community.general.modprobe): a kernel module is loaded (with `params`) or not,
//! and optionally kept so across boots (`persistent`: `/etc/modules-load.d/NAME.conf` and
//! `/etc/modprobe.d/NAME.conf`). A module counts as loaded when `/proc/modules` lists it, when
//! `/sys/module/NAME` exists, or when `modules.builtin` names it: built-in modules cannot be
//! loaded and are already there. One round trip reads all of that; one more changes it.

use crate::common::args::{p, Param, Spec};
use crate::common::reads::{ensure_ok, read_all, Read, Replies};
use crate::common::run_sh;
use crate::planned::{Plan, Presence, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[
    p("name", &[]).required().doc("Name of the kernel module."),
    p("state", &[]).choices(&["present", "absent"]).default_str("present").doc("Whether the module should be loaded."),
    p("params", &[]).doc("Module parameters (`numdummies=2`)."),
    p("persistent", &[]).choices(&["disabled", "absent", "present"]).doc("`present` writes /etc/modules-load.d (and modprobe.d for params), `absent` removes them, `disabled` leaves them."),
];

/// `modprobe`'s declared arguments.
pub static SPEC: Spec = Spec::new("modprobe", "Load or unload kernel modules", &[PARAMS]);

/// `community.general.modprobe`.
pub struct ModprobeModule;

/// `persistent`: what to do with the boot-time configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Persistent {
    /// Leave it alone.
    #[default]
    Disabled,
    /// Load at boot (with `params`).
    Present,
    /// Remove every boot-time mention.
    Absent,
}

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModprobeArgs {
    pub name: String,
    pub state: Presence,
    pub params: String,
    pub persistent: Persistent,
}

impl ModprobeArgs {
    pub fn parse(args: Map) -> Result<ModprobeArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let name = a.str("name")?.unwrap_or_default();
        if name.is_empty()
            || name.contains('/')
            || name.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ModuleError::new(format!("invalid module name: {name:?}")));
        }
        let m = ModprobeArgs {
            name,
            state: Presence::from_arg(&a, "state")?,
            params: a.str("params")?.unwrap_or_default(),
            persistent: match a
                .choice("persistent", &["disabled", "absent", "present"])?
                .as_deref()
            {
                Some("present") => Persistent::Present,
                Some("absent") => Persistent::Absent,
                _ => Persistent::Disabled,
            },
        };
        if m.persistent == Persistent::Present && m.state == Presence::Absent {
            return Err(ModuleError::new(
                "persistent=present requires state=present",
            ));
        }
        Ok(m)
    }

    /// The kernel's spelling (`-` and `_` are the same to it).
    pub fn kernel_name(&self) -> String {
        self.name.replace('-', "_")
    }

    pub fn modules_load_file(&self) -> String {
        format!("/etc/modules-load.d/{}.conf", self.name)
    }

    pub fn modprobe_file(&self) -> String {
        format!("/etc/modprobe.d/{}.conf", self.name)
    }

    /// The `options` line for `params`, `None` without params.
    pub fn options_line(&self) -> Option<String> {
        (!self.params.trim().is_empty())
            .then(|| format!("options {} {}", self.name, self.params.trim()))
    }
}

/// `s` as a POSIX extended regular expression matching itself (for `grep -E` and `sed -E`; the
/// result is still sh-quoted where it is used).
fn ere_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if ".[]()*+?{}|^$\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The reads: /proc/modules, /sys/module, modules.builtin, and the persistence files.
pub fn reads(m: &ModprobeArgs) -> Vec<Read> {
    let k = sh_quote(&m.kernel_name());
    let n = sh_quote(&m.name);
    vec![
        Read::new("proc", format!("grep -q \"^\"{k}\" \" /proc/modules")),
        Read::new("sys", format!("[ -d /sys/module/{k} ]")),
        // Only loadable modules have an initstate; built-ins do not and cannot be removed.
        Read::new(
            "loadable_loaded",
            format!("[ -e /sys/module/{k}/initstate ]"),
        ),
        Read::new(
            "builtin",
            format!(
                "r=$(uname -r); grep -qE {} \"/lib/modules/$r/modules.builtin\"",
                sh_quote(&format!(
                    "/({}|{})\\.ko(\\.[a-z]+)?$",
                    ere_escape(&m.name),
                    ere_escape(&m.kernel_name())
                ))
            ),
        ),
        Read::new(
            "load_conf",
            format!("grep -hsxF -- {n} /etc/modules-load.d/*.conf /etc/modules"),
        ),
        Read::new(
            "options_conf",
            format!("grep -hs -- \"^options \"{n}\" \" /etc/modprobe.d/*.conf"),
        ),
    ]
}

/// What the read found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seen {
    /// Loaded or built in (what `present` needs).
    pub present: bool,
    /// Loaded as a removable module (what `absent` removes).
    pub removable: bool,
    pub persistent_load: bool,
    pub options: Vec<String>,
}

pub fn seen(r: &Replies) -> Seen {
    let proc = r.get("proc").ok();
    Seen {
        present: proc || r.get("sys").ok() || r.get("builtin").ok(),
        removable: proc || r.get("loadable_loaded").ok(),
        persistent_load: r.get("load_conf").ok(),
        options: r
            .get("options_conf")
            .out
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
    }
}

/// The sh that makes the change, `None` when nothing is needed.
pub fn change_script(m: &ModprobeArgs, s: &Seen) -> Option<String> {
    let mut sh = Vec::new();
    let n = sh_quote(&m.name);
    let present = m.state == Presence::Present;
    if present && !s.present {
        let params = if m.params.trim().is_empty() {
            String::new()
        } else {
            format!(" {}", m.params.trim())
        };
        sh.push(format!("modprobe {n}{params}"));
    } else if !present && s.removable {
        sh.push(format!("modprobe -r {n}"));
    }
    match m.persistent {
        Persistent::Present => {
            if !s.persistent_load {
                sh.push(format!(
                    "mkdir -p /etc/modules-load.d && printf '%s\\n' {n} > {}",
                    sh_quote(&m.modules_load_file())
                ));
            }
            let want = m.options_line();
            if let Some(line) = want.as_ref().filter(|l| !s.options.contains(l)) {
                sh.push(format!(
                    "mkdir -p /etc/modprobe.d && printf '%s\\n' {} > {}",
                    sh_quote(line),
                    sh_quote(&m.modprobe_file())
                ));
            }
        }
        Persistent::Absent => {
            if s.persistent_load {
                sh.push(format!("for f in /etc/modules-load.d/*.conf /etc/modules; do [ -f \"$f\" ] && grep -qxF -- {n} \"$f\" && sed -i -E {} \"$f\"; done; true", sh_quote(&format!("/^{}$/d", ere_escape(&m.name)))));
            }
            if !s.options.is_empty() {
                sh.push(format!("for f in /etc/modprobe.d/*.conf; do [ -f \"$f\" ] && sed -i -E {} \"$f\"; done; true", sh_quote(&format!("/^options {} /d", ere_escape(&m.name)))));
            }
        }
        Persistent::Disabled => {}
    }
    (!sh.is_empty()).then(|| sh.join(" &&\n"))
}

#[async_trait]
impl QueryPlanApply for ModprobeModule {
    type Args = ModprobeArgs;
    type Seen = Seen;
    /// The sh that makes the change.
    type Changes = String;

    fn name(&self) -> &'static str {
        "modprobe"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["community.general", "ansible.posix"]
    }

    fn parse(&self, args: Map) -> Result<ModprobeArgs, ModuleError> {
        ModprobeArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, m: &ModprobeArgs) -> Result<Seen, ModuleError> {
        Ok(seen(&read_all(ctx, &reads(m)).await?))
    }

    fn plan(m: &ModprobeArgs, s: &Seen) -> Result<Plan<String>, ModuleError> {
        let result = ModuleResult::new(false)
            .set("name", m.name.as_str())
            .set("params", m.params.as_str())
            .set("state", m.state.as_str());
        Ok(Plan::maybe(change_script(m, s), result))
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        m: &ModprobeArgs,
        script: String,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let out = run_sh(ctx, script, None).await?;
        ensure_ok(&out, |_, e| e.trim().to_string()).map_err(|mut err| {
            err.result.insert("name".into(), m.name.clone().into());
            err
        })?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned::Planned;
    use crate::testutil::{args, ctx, TestEnv};
    use kplay_engine::module::Module;
    use serde_json::json;

    fn ma(v: serde_json::Value) -> ModprobeArgs {
        ModprobeArgs::parse(args(v)).unwrap()
    }

    #[test]
    fn name_is_required_and_persistent_checked() {
        assert_eq!(
            ModprobeArgs::parse(args(json!({}))).unwrap_err().msg,
            "missing required arguments: name"
        );
        assert!(
            ModprobeArgs::parse(args(json!({"name": "x", "persistent": "yes"})))
                .unwrap_err()
                .msg
                .starts_with("value of persistent must be one of: disabled, absent, present")
        );
    }

    #[test]
    fn builtin_or_sysfs_module_counts_as_present() {
        let mut r = Replies::default();
        r.insert("sys", "", 0);
        let s = seen(&r);
        assert!(s.present && !s.removable);
        assert_eq!(change_script(&ma(json!({"name": "overlay"})), &s), None);
        assert_eq!(
            change_script(&ma(json!({"name": "overlay", "state": "absent"})), &s),
            None
        );
    }

    #[test]
    fn missing_module_is_loaded_with_params() {
        let s = Seen::default();
        assert_eq!(
            change_script(&ma(json!({"name": "dummy", "params": "numdummies=2"})), &s).unwrap(),
            "modprobe dummy numdummies=2"
        );
    }

    #[test]
    fn persistent_present_writes_both_files() {
        let s = Seen {
            present: true,
            ..Default::default()
        };
        let sh = change_script(
            &ma(json!({"name": "br_netfilter", "params": "a=1", "persistent": "present"})),
            &s,
        )
        .unwrap();
        assert!(sh.contains("printf '%s\\n' br_netfilter > /etc/modules-load.d/br_netfilter.conf"));
        assert!(sh.contains(
            "printf '%s\\n' 'options br_netfilter a=1' > /etc/modprobe.d/br_netfilter.conf"
        ));
        let done = Seen {
            present: true,
            persistent_load: true,
            options: vec!["options br_netfilter a=1".into()],
            ..Default::default()
        };
        assert_eq!(
            change_script(
                &ma(json!({"name": "br_netfilter", "params": "a=1", "persistent": "present"})),
                &done
            ),
            None
        );
    }

    #[test]
    fn loaded_module_is_removed_for_absent() {
        let s = Seen {
            present: true,
            removable: true,
            ..Default::default()
        };
        assert_eq!(
            change_script(&ma(json!({"name": "dummy", "state": "absent"})), &s).unwrap(),
            "modprobe -r dummy"
        );
    }

    #[test]
    fn plan_loads_a_missing_module_and_reports_its_arguments() {
        let m = ma(json!({"name": "dummy", "params": "numdummies=2"}));
        let p = ModprobeModule::plan(&m, &Seen::default()).unwrap();
        assert_eq!(p.changes.as_deref(), Some("modprobe dummy numdummies=2"));
        let r = p.result.into_map();
        assert_eq!(
            (&r["changed"], &r["name"], &r["params"], &r["state"]),
            (
                &json!(true),
                &json!("dummy"),
                &json!("numdummies=2"),
                &json!("present")
            )
        );
    }

    #[test]
    fn plan_leaves_a_builtin_module_alone_even_for_absent() {
        let builtin = Seen {
            present: true,
            ..Default::default()
        };
        let m = ma(json!({"name": "overlay", "state": "absent"}));
        let p = ModprobeModule::plan(&m, &builtin).unwrap();
        assert!(p.changes.is_none() && !p.result.changed);
        assert_eq!(p.result.into_map()["state"], json!("absent"));
    }

    #[test]
    fn persistent_absent_needs_no_unload_to_clean_boot_files() {
        let m = ma(json!({"name": "dummy", "state": "absent", "persistent": "absent"}));
        assert_eq!(m.persistent, Persistent::Absent);
        let s = Seen {
            persistent_load: true,
            ..Default::default()
        };
        let sh = ModprobeModule::plan(&m, &s).unwrap().changes.unwrap();
        assert!(
            sh.starts_with("for f in /etc/modules-load.d/*.conf"),
            "{sh}"
        );
        assert!(!sh.contains("modprobe -r"));
    }

    #[test]
    fn kernel_name_uses_underscores() {
        assert_eq!(
            ma(json!({"name": "nf-conntrack"})).kernel_name(),
            "nf_conntrack"
        );
    }

    #[tokio::test]
    async fn module_visible_in_sysfs_is_ok_without_change() {
        // Any directory under /sys/module is either built in or loaded: present must be a no-op.
        let Some(name) = std::fs::read_dir("/sys/module")
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
        else {
            return;
        };
        let d = tempfile::tempdir().unwrap();
        let env = TestEnv::new(d.path());
        let r = Planned(ModprobeModule)
            .run(&ctx(&env, false, false), args(json!({"name": name})))
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], json!(false));
    }

    #[tokio::test]
    async fn loading_a_missing_module_fails_with_modprobes_message() {
        let d = tempfile::tempdir().unwrap();
        let env = TestEnv::new(d.path());
        let e = Planned(ModprobeModule)
            .run(
                &ctx(&env, false, false),
                args(json!({"name": "kplay_no_such_module"})),
            )
            .await
            .unwrap_err();
        assert!(!e.msg.is_empty());
        assert_ne!(e.result["rc"], json!(0));
        let r = Planned(ModprobeModule)
            .run(
                &ctx(&env, true, false),
                args(json!({"name": "kplay_no_such_module"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], json!(true));
    }
}
