//! `selinux` (ansible.posix.selinux): the SELinux mode and policy, both in the boot
//! configuration (`SELINUX=` / `SELINUXTYPE=` in /etc/selinux/config) and, where the kernel
//! allows it, at run time (`setenforce`). Turning SELinux on or off entirely needs a reboot,
//! reported as `reboot_required` as Ansible does. One round trip reads the runtime mode; the
//! configuration file goes through the editing modules' probe and atomic commit.

use crate::common::args::{p, Param, Spec};
use crate::common::reads::{failure, read_all, Read};
use crate::common::text::{commit, read, with_diff, Found, WriteOpts};
use crate::common::{fail_rc, run_sh};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
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

#[async_trait]
impl Module for SelinuxModule {
    fn name(&self) -> &'static str {
        "selinux"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["ansible.posix"]
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let state = a.required_str("state")?;
        let configfile = a.required_str("configfile")?;
        if a.flag("update_kernel_param") {
            return Err(ModuleError::new(
                "update_kernel_param=true is not supported by kplay (it needs grubby); set the kernel argument with the `cmdline` module",
            ));
        }
        let probed = read(ctx, &configfile).await?;
        let original = match &probed.found {
            Found::File { content, .. } => content.clone(),
            _ => {
                let mut e = fail_rc(format!("Unable to find file {configfile}"), 1);
                e.result.insert(
                    "details".into(),
                    "Please install SELinux-policy package, if this package is not installed previously.".into(),
                );
                return Err(e);
            }
        };
        let policy = match a.str("policy")? {
            Some(p) => p,
            None if state == "disabled" => {
                config_value(&original, "SELINUXTYPE").unwrap_or_default()
            }
            None => {
                return Err(ModuleError::new(
                    "Policy is required if state is not 'disabled'",
                ))
            }
        };
        let replies = read_all(
            ctx,
            &[Read::new(
                "enforce",
                "cat /sys/fs/selinux/enforce || cat /selinux/enforce",
            )],
        )
        .await?;
        let enforce = replies.get("enforce");
        let runtime = runtime_mode(&enforce.out, enforce.ok());

        let mut msgs = Vec::new();
        let mut text = original.clone();
        if config_value(&text, "SELINUXTYPE").as_deref() != Some(policy.as_str())
            && !policy.is_empty()
        {
            text = set_config(&text, "SELINUXTYPE", &policy);
            msgs.push(format!("Config SELinux policy changed to '{policy}'"));
        }
        if config_value(&text, "SELINUX").as_deref() != Some(state.as_str()) {
            text = set_config(&text, "SELINUX", &state);
            msgs.push(format!("Config SELinux state changed to '{state}'"));
        }
        let (setenforce, reboot_required) = runtime_plan(&runtime, &state);
        if let Some(v) = setenforce {
            msgs.push(format!(
                "Running SELinux state changed from '{runtime}' to '{}'",
                if v == "1" { "enforcing" } else { "permissive" }
            ));
        }
        if reboot_required {
            msgs.push("Reboot required for the SELinux state change to take effect".into());
        }
        let file_changed = text != original;
        let changed = file_changed || setenforce.is_some();
        if !ctx.check_mode {
            if let Some(v) = setenforce {
                let out = run_sh(ctx, format!("setenforce {v}"), None).await?;
                if out.rc != 0 {
                    let (o, e) = (out.stdout_str(), out.stderr_str());
                    return Err(failure(
                        format!("setenforce {v} failed: {}", e.trim()),
                        out.rc,
                        &o,
                        &e,
                    ));
                }
            }
        }
        commit(
            ctx,
            &configfile,
            &probed,
            file_changed.then_some(text.as_str()),
            &WriteOpts::default(),
        )
        .await?;
        let r = ModuleResult::new(changed)
            .set("msg", msgs.join(", "))
            .set("policy", policy.as_str())
            .set("state", state.as_str())
            .set("configfile", configfile.as_str())
            .set("reboot_required", reboot_required);
        Ok(with_diff(ctx, r, &configfile, &original, &text))
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
}
