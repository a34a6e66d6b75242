//! `package`: the generic OS package manager module. It picks the manager (`use`, else the
//! `ansible_pkg_mgr` fact, else what the host has) and hands all other arguments to that
//! manager's module, whose own argument checks then apply, as Ansible does.
//!
//! Not query→plan→apply itself: it only picks the manager, then runs that manager's
//! `Planned` module (apt, dnf, yum), so their query, plan and check mode are reused as they are.

use crate::apt::AptModule;
use crate::common::args::{p, Param, Spec};
use crate::common::run_sh;
use crate::dnf::{run_rpm, RpmTool};
use crate::planned::Planned;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};

/// What the detection snippet looks for, in order (the first found wins).
const DETECT: &str = "for m in apt-get dnf yum zypper apk; do command -v $m >/dev/null 2>&1 && { echo $m; exit 0; }; done; echo unknown";

/// The manager's module name for a detected executable or a fact value.
pub fn manager_for(found: &str) -> &str {
    match found {
        "apt-get" => "apt",
        other => other,
    }
}

/// Split `use` off the arguments; `None` means auto.
fn take_use(args: &mut Map) -> Option<String> {
    match args.remove("use") {
        Some(Value::String(s)) if s != "auto" => Some(s),
        _ => None,
    }
}

/// The manager from the host's facts, if they were gathered.
fn from_facts(ctx: &ModuleContext<'_>) -> Option<String> {
    match ctx.env.eval_expr("ansible_pkg_mgr") {
        Ok(Value::String(s)) if !s.is_empty() && s != "unknown" => Some(s),
        _ => None,
    }
}

const PARAMS: &[Param] = &[
    p("name", &["pkg"]).list().required().doc("Package names (the manager's own syntax), a list or comma-separated."),
    p("state", &[]).str().doc("`present`, `absent`, `latest`…; passed to the manager's module."),
    p("use", &[]).default_str("auto").doc("The manager's module (`apt`, `dnf`, `yum`); `auto` uses `ansible_pkg_mgr` or what the host has."),
];

/// `package`'s documented arguments. Only `use` is its own: the rest go to the chosen manager's
/// module, whose spec then checks them (as Ansible's action plugin does), so this spec is for
/// `kplay doc` and not parsed here.
pub static SPEC: Spec = Spec::new("package", "Generic OS package manager", &[PARAMS]);

pub struct PackageModule;

#[async_trait]
impl Module for PackageModule {
    fn name(&self) -> &'static str {
        "package"
    }

    async fn run(
        &self,
        ctx: &ModuleContext<'_>,
        mut args: Map,
    ) -> Result<ModuleResult, ModuleError> {
        if !args.contains_key("name") {
            return Err(ModuleError::new("missing required arguments: name"));
        }
        let mgr = match take_use(&mut args).or_else(|| from_facts(ctx)) {
            Some(m) => m,
            None => {
                let out = run_sh(ctx, DETECT.to_string(), None).await?;
                manager_for(out.stdout_str().trim()).to_string()
            }
        };
        match mgr.as_str() {
            "apt" => Planned(AptModule).run(ctx, args).await,
            "dnf" | "dnf5" => run_rpm(ctx, "dnf", RpmTool::Dnf, args).await,
            "yum" => run_rpm(ctx, "yum", RpmTool::Yum, args).await,
            "unknown" => Err(ModuleError::new(
                "Could not detect which package manager to use. Try gathering facts or setting the \"use\" option.",
            )),
            other => Err(ModuleError::new(format!(
                "Could not find a module for {other}: kplay implements apt, dnf and yum"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    #[test]
    fn detected_apt_get_maps_to_apt() {
        assert_eq!(manager_for("apt-get"), "apt");
        assert_eq!(manager_for("dnf"), "dnf");
    }

    #[test]
    fn use_auto_means_detect() {
        let mut a = args(json!({"name": "x", "use": "auto"}));
        assert_eq!(take_use(&mut a), None);
        assert!(!a.contains_key("use"));
        let mut a = args(json!({"name": "x", "use": "yum"}));
        assert_eq!(take_use(&mut a).as_deref(), Some("yum"));
    }

    #[tokio::test]
    async fn unsupported_manager_is_named() {
        let env = TestEnv::new(std::path::Path::new("/"));
        let e = PackageModule
            .run(
                &ctx(&env, true, false),
                args(json!({"name": "x", "use": "zypper"})),
            )
            .await
            .unwrap_err();
        assert!(e.msg.contains("Could not find a module for zypper"));
    }

    #[tokio::test]
    async fn fact_selects_the_manager_and_its_checks_apply() {
        let mut env = TestEnv::new(std::path::Path::new("/"));
        env.vars.insert("ansible_pkg_mgr".into(), json!("apt"));
        let e = PackageModule
            .run(
                &ctx(&env, true, false),
                args(json!({"name": "x", "bogus": 1})),
            )
            .await
            .unwrap_err();
        assert!(e
            .msg
            .starts_with("Unsupported parameters for (apt) module: bogus."));
    }

    #[tokio::test]
    async fn installed_package_is_unchanged_in_check_mode_on_a_debian_host() {
        if !std::path::Path::new("/usr/bin/dpkg-query").exists() {
            return;
        }
        let env = TestEnv::new(std::path::Path::new("/"));
        let r = PackageModule
            .run(
                &ctx(&env, true, false),
                args(json!({"name": "dpkg", "state": "present"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], false);
        let r = PackageModule
            .run(
                &ctx(&env, true, true),
                args(json!({"name": "dpkg", "state": "absent"})),
            )
            .await
            .unwrap()
            .into_map();
        assert_eq!(r["changed"], true);
        assert_eq!(r["diff"]["prepared"], "Remove: dpkg\n");
    }
}
