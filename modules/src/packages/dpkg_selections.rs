//! `dpkg_selections` (ansible.builtin.dpkg_selections): a package's dpkg selection state
//! (`install`, `hold`, `deinstall`, `purge`), read with `dpkg --get-selections` and set with
//! `dpkg --set-selections` only when it differs (query → plan → apply).

use crate::common::args::{p, Param, Spec};
use crate::common::reads::{ensure_ok, read_all, Read};
use crate::common::run_sh;
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[
    p("name", &[]).str().required().doc("Name of the package."),
    p("selection", &[])
        .choices(&["install", "hold", "deinstall", "purge"])
        .required()
        .doc("The selection state to set."),
];

/// `dpkg_selections`' declared arguments.
pub static SPEC: Spec = Spec::new(
    "dpkg_selections",
    "Dpkg package selection selections",
    &[PARAMS],
);

/// `ansible.builtin.dpkg_selections`.
pub struct DpkgSelectionsModule;

/// The selection `dpkg --get-selections NAME` printed, `not present` when none.
pub fn current(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            let pkg = f.next()?;
            let base = pkg.split(':').next().unwrap_or(pkg);
            (pkg == name || base == name).then(|| f.next().unwrap_or("").to_string())
        })
        .unwrap_or_else(|| "not present".into())
}

/// `selection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    Install,
    Hold,
    Deinstall,
    Purge,
}

impl Selection {
    pub fn as_str(self) -> &'static str {
        match self {
            Selection::Install => "install",
            Selection::Hold => "hold",
            Selection::Deinstall => "deinstall",
            Selection::Purge => "purge",
        }
    }
}

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectionArgs {
    pub name: String,
    pub selection: Selection,
}

#[async_trait]
impl QueryPlanApply for DpkgSelectionsModule {
    type Args = SelectionArgs;
    /// The current selection (`not present` when dpkg knows none).
    type Seen = String;
    /// Nothing to carry but the wish: `dpkg --set-selections`.
    type Changes = ();

    fn name(&self) -> &'static str {
        "dpkg_selections"
    }

    fn parse(&self, args: Map) -> Result<SelectionArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let name = a.required_str("name")?;
        let selection = match a.required_str("selection")?.as_str() {
            "install" => Selection::Install,
            "hold" => Selection::Hold,
            "deinstall" => Selection::Deinstall,
            _ => Selection::Purge,
        };
        Ok(SelectionArgs { name, selection })
    }

    async fn query(
        &self,
        ctx: &ModuleContext<'_>,
        a: &SelectionArgs,
    ) -> Result<String, ModuleError> {
        let q = sh_quote(&a.name);
        let r = read_all(
            ctx,
            &[Read::new("sel", format!("dpkg --get-selections {q}"))],
        )
        .await?;
        Ok(current(&r.get("sel").out, &a.name))
    }

    fn plan(a: &SelectionArgs, before: &String) -> Result<Plan<()>, ModuleError> {
        let result = ModuleResult::new(false)
            .set("before", before.as_str())
            .set("after", a.selection.as_str());
        Ok(if before == a.selection.as_str() {
            Plan::nothing(result)
        } else {
            Plan::change((), result)
        })
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &SelectionArgs,
        _: (),
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let out = run_sh(
            ctx,
            format!(
                "printf '%s %s\\n' {} {} | dpkg --set-selections",
                sh_quote(&a.name),
                a.selection.as_str()
            ),
            None,
        )
        .await?;
        ensure_ok(&out, |_, e| e.trim().to_string())?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testutil::args;
    use serde_json::json;

    #[test]
    fn plan_sets_only_a_different_selection() {
        let m = DpkgSelectionsModule;
        let a = m
            .parse(args(json!({"name": "docker-ce", "selection": "hold"})))
            .unwrap();
        assert_eq!(a.selection, Selection::Hold);
        let p = DpkgSelectionsModule::plan(&a, &"install".to_string()).unwrap();
        assert!(p.changes.is_some());
        let r = p.result.into_map();
        assert_eq!(
            (&r["changed"], &r["before"], &r["after"]),
            (&json!(true), &json!("install"), &json!("hold"))
        );
        let same = DpkgSelectionsModule::plan(&a, &"hold".to_string()).unwrap();
        assert!(same.changes.is_none() && !same.result.changed);
        let e = m
            .parse(args(json!({"name": "x", "selection": "keep"})))
            .unwrap_err();
        assert!(
            e.msg.starts_with(
                "value of selection must be one of: install, hold, deinstall, purge, got: keep"
            ),
            "{}",
            e.msg
        );
    }

    #[test]
    fn selection_is_read_by_name_with_or_without_arch() {
        assert_eq!(current("docker-ce\t\t\t\thold\n", "docker-ce"), "hold");
        assert_eq!(current("libc6:amd64\tinstall\n", "libc6"), "install");
        assert_eq!(current("", "nope"), "not present");
    }
}
