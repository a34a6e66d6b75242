//! `selinux` (ansible.posix.selinux): the SELinux mode and policy, both in the boot
//! configuration (`SELINUX=` / `SELINUXTYPE=` in /etc/selinux/config) and, where the kernel
//! allows it, at run time (`setenforce`). Turning SELinux on or off entirely needs a reboot,
//! reported as `reboot_required` as Ansible does. `query` reads the configuration file and the
//! runtime mode, `plan` computes the new file, the `setenforce` and the messages, `apply`
//! runs `setenforce` and writes the file through the shared rendered-file pipeline
//! ([`crate::packages::repo_files`]).

use crate::common::args::{p, Param, Spec};
use crate::common::attrs::AttrSpec;
use crate::common::reads::{ensure_ok, read_all, Read};
use crate::common::text::{TextFile, WriteOpts};
use crate::common::{fail_rc, run_sh};
use crate::packages::repo_files::{plan_file, query_file, FileEdit};
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[
    p("state", &[]).choices(&["enforcing", "permissive", "disabled"]).required().doc("The SELinux mode."),
    p("policy", &[]).str().doc("The policy (`targeted`); required unless state=disabled, else taken from the configuration file."),
    p("configfile", &["conf", "file"]).path().default_str("/etc/selinux/config").doc("The SELinux configuration file."),
    p("update_kernel_param", &[]).flag(false).doc("Not supported by kplay (needs grubby); true is refused."),
];

/// `selinux`'s declared arguments.
pub static SPEC: Spec = Spec::new("selinux", "Change policy and state of SELinux", &[PARAMS]);

/// `ansible.posix.selinux`.
pub struct SelinuxModule;

/// `KEY=value` of the configuration file, `None` when absent.
fn config_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim();
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The file with `KEY=value` set (existing line replaced in place, else appended).
fn set_config(text: &str, key: &str, value: &str) -> String {
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            let is_key = l
                .trim()
                .split_once('=')
                .is_some_and(|(k, _)| k.trim() == key && !l.trim_start().starts_with('#'));
            if is_key && !found {
                found = true;
                format!("{key}={value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        out.push(format!("{key}={value}"));
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// The runtime mode as `getenforce` spells it, lowercased: `enforcing`, `permissive` or
/// `disabled` (no SELinux filesystem mounted).
fn runtime_mode(enforce_file: &str, ok: bool) -> String {
    match (ok, enforce_file.trim()) {
        (true, "1") => "enforcing".into(),
        (true, "0") => "permissive".into(),
        _ => "disabled".into(),
    }
}

/// What to do at run time: the `setenforce` argument (if any) and whether a reboot is needed.
fn runtime_plan(runtime: &str, want: &str) -> (Option<&'static str>, bool) {
    match (runtime, want) {
        (r, w) if r == w => (None, false),
        ("disabled", _) => (None, true),
        (_, "enforcing") => (Some("1"), false),
        (_, "permissive") => (Some("0"), false),
        // enabled → disabled: permissive now, disabled after the reboot.
        ("enforcing", "disabled") => (Some("0"), true),
        (_, _) => (None, true),
    }
}

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelinuxArgs {
    /// `enforcing`, `permissive` or `disabled`.
    pub state: String,
    pub policy: Option<String>,
    pub configfile: String,
}

impl SelinuxArgs {
    pub fn parse(args: Map) -> Result<SelinuxArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        if a.flag("update_kernel_param") {
            return Err(ModuleError::new(
                "update_kernel_param=true is not supported by kplay (it needs grubby); set the kernel argument with the `cmdline` module",
            ));
        }
        Ok(SelinuxArgs {
            state: a.required_str("state")?,
            policy: a.str("policy")?,
            configfile: a.required_str("configfile")?,
        })
    }
}

/// What `query` found: the configuration file and the running mode.
#[derive(Debug, Clone)]
pub struct Seen {
    pub file: TextFile,
    /// `enforcing`, `permissive` or `disabled`.
    pub runtime: String,
}

/// What `apply` does, in this order.
#[derive(Debug, Clone)]
pub struct Changes {
    /// `setenforce 1|0`.
    pub setenforce: Option<&'static str>,
    pub file: Option<FileEdit>,
}

#[async_trait]
impl QueryPlanApply for SelinuxModule {
    type Args = SelinuxArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "selinux"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["ansible.posix"]
    }

    fn parse(&self, args: Map) -> Result<SelinuxArgs, ModuleError> {
        SelinuxArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &SelinuxArgs) -> Result<Seen, ModuleError> {
        let file = query_file(ctx, &a.configfile).await?;
        let replies = read_all(
            ctx,
            &[Read::new(
                "enforce",
                "cat /sys/fs/selinux/enforce || cat /selinux/enforce",
            )],
        )
        .await?;
        let enforce = replies.get("enforce");
        Ok(Seen {
            file,
            runtime: runtime_mode(&enforce.out, enforce.ok()),
        })
    }

    fn plan(a: &SelinuxArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        let Some(original) = seen.file.content() else {
            let mut e = fail_rc(format!("Unable to find file {}", a.configfile), 1);
            e.result.insert(
                "details".into(),
                "Please install SELinux-policy package, if this package is not installed previously.".into(),
            );
            return Err(e);
        };
        let state = a.state.as_str();
        let policy = match &a.policy {
            Some(p) => p.clone(),
            None if state == "disabled" => {
                config_value(original, "SELINUXTYPE").unwrap_or_default()
            }
            None => {
                return Err(ModuleError::new(
                    "Policy is required if state is not 'disabled'",
                ))
            }
        };
        let mut msgs = Vec::new();
        let mut text = original.to_string();
        if !policy.is_empty()
            && config_value(&text, "SELINUXTYPE").as_deref() != Some(policy.as_str())
        {
            text = set_config(&text, "SELINUXTYPE", &policy);
            msgs.push(format!("Config SELinux policy changed to '{policy}'"));
        }
        if config_value(&text, "SELINUX").as_deref() != Some(state) {
            text = set_config(&text, "SELINUX", state);
            msgs.push(format!("Config SELinux state changed to '{state}'"));
        }
        let (setenforce, reboot_required) = runtime_plan(&seen.runtime, state);
        if let Some(v) = setenforce {
            let to = if v == "1" { "enforcing" } else { "permissive" };
            msgs.push(format!(
                "Running SELinux state changed from '{}' to '{to}'",
                seen.runtime
            ));
        }
        if reboot_required {
            msgs.push("Reboot required for the SELinux state change to take effect".into());
        }
        let fp = plan_file(&seen.file, Some(&text), &AttrSpec::default());
        let result = ModuleResult::new(false)
            .set("msg", msgs.join(", "))
            .set("policy", policy.as_str())
            .set("state", state)
            .set("configfile", a.configfile.as_str())
            .set("reboot_required", reboot_required)
            .with_diff(&a.configfile, &a.configfile, original, &text);
        let file = fp.change.map(|c| c.on(&a.configfile, &seen.file));
        if file.is_none() && setenforce.is_none() {
            return Ok(Plan::nothing(result));
        }
        Ok(Plan::change(Changes { setenforce, file }, result))
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        _: &SelinuxArgs,
        c: Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        if let Some(v) = c.setenforce {
            let out = run_sh(ctx, format!("setenforce {v}"), None).await?;
            ensure_ok(&out, |_, e| format!("setenforce {v} failed: {}", e.trim()))?;
        }
        if let Some(edit) = &c.file {
            edit.apply(ctx, &WriteOpts::default()).await?;
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines_are_replaced_in_place_or_appended() {
        let t = "# SELINUX=enforcing\nSELINUX=enforcing\nSELINUXTYPE=targeted\n";
        assert_eq!(config_value(t, "SELINUX").as_deref(), Some("enforcing"));
        assert_eq!(
            set_config(t, "SELINUX", "permissive"),
            "# SELINUX=enforcing\nSELINUX=permissive\nSELINUXTYPE=targeted\n"
        );
        assert_eq!(set_config("", "SELINUX", "disabled"), "SELINUX=disabled\n");
    }

    #[test]
    fn runtime_changes_and_reboots_follow_ansible() {
        assert_eq!(runtime_plan("enforcing", "enforcing"), (None, false));
        assert_eq!(runtime_plan("enforcing", "permissive"), (Some("0"), false));
        assert_eq!(runtime_plan("permissive", "enforcing"), (Some("1"), false));
        assert_eq!(runtime_plan("enforcing", "disabled"), (Some("0"), true));
        assert_eq!(runtime_plan("permissive", "disabled"), (None, true));
        assert_eq!(runtime_plan("disabled", "permissive"), (None, true));
        assert_eq!(runtime_mode("1\n", true), "enforcing");
        assert_eq!(runtime_mode("", false), "disabled");
    }

    use crate::packages::repo_files::{seen_file, FileChange};
    use crate::testutil::args;
    use serde_json::json;

    const CONF: &str = "SELINUX=enforcing\nSELINUXTYPE=targeted\n";

    fn plan(
        v: serde_json::Value,
        conf: Option<&str>,
        runtime: &str,
    ) -> Result<Plan<Changes>, ModuleError> {
        let a = SelinuxArgs::parse(args(v)).expect("args");
        let seen = Seen {
            file: seen_file("/etc/selinux/config", conf, 0o644),
            runtime: runtime.into(),
        };
        SelinuxModule::plan(&a, &seen)
    }

    #[test]
    fn plan_is_empty_when_file_and_kernel_agree() {
        let p = plan(
            json!({"state": "enforcing", "policy": "targeted"}),
            Some(CONF),
            "enforcing",
        )
        .expect("plan");
        assert!(p.changes.is_none() && !p.result.changed);
        assert_eq!(p.result.into_map()["reboot_required"], json!(false));
    }

    #[test]
    fn plan_to_permissive_writes_the_file_and_runs_setenforce() {
        let p = plan(
            json!({"state": "permissive", "policy": "targeted"}),
            Some(CONF),
            "enforcing",
        )
        .expect("plan");
        let c = p.changes.expect("changes");
        assert_eq!(c.setenforce, Some("0"));
        assert_eq!(
            c.file.map(|f| f.change),
            Some(FileChange::Write(
                "SELINUX=permissive\nSELINUXTYPE=targeted\n".into()
            ))
        );
        let r = p.result.into_map();
        assert_eq!(r["changed"], json!(true));
        assert_eq!(
            r["msg"],
            json!("Config SELinux state changed to 'permissive', Running SELinux state changed from 'enforcing' to 'permissive'")
        );
        assert_eq!(
            r["diff"][0]["after"],
            json!("SELINUX=permissive\nSELINUXTYPE=targeted\n")
        );
    }

    #[test]
    fn plan_to_disabled_needs_a_reboot_and_keeps_the_policy() {
        let p = plan(json!({"state": "disabled"}), Some(CONF), "permissive").expect("plan");
        let r = p.result.clone().into_map();
        assert_eq!(
            (r["reboot_required"].clone(), r["policy"].clone()),
            (json!(true), json!("targeted"))
        );
        let c = p.changes.expect("changes");
        assert!(c.setenforce.is_none() && c.file.is_some());
    }

    #[test]
    fn plan_fails_like_ansible_without_file_or_policy() {
        let e = plan(
            json!({"state": "enforcing", "policy": "targeted"}),
            None,
            "enforcing",
        )
        .expect_err("no file");
        assert_eq!(e.msg, "Unable to find file /etc/selinux/config");
        assert!(e.result.contains_key("details"));
        let e =
            plan(json!({"state": "enforcing"}), Some(CONF), "enforcing").expect_err("no policy");
        assert_eq!(e.msg, "Policy is required if state is not 'disabled'");
        assert!(SelinuxArgs::parse(args(
            json!({"state": "enforcing", "update_kernel_param": true})
        ))
        .is_err());
    }
}
