//! `dpkg_selections` (ansible.builtin.dpkg_selections): a package's dpkg selection state
//! (`install`, `hold`, `deinstall`, `purge`), read with `dpkg --get-selections` and set with
//! `dpkg --set-selections` only when it differs. Check mode reports without setting.

use crate::common::args::{p, Param, Spec};
use crate::common::run_sh;
use crate::sysprobe::{failure, read_all, Read};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
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

#[async_trait]
impl Module for DpkgSelectionsModule {
    fn name(&self) -> &'static str {
        "dpkg_selections"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let name = a.required_str("name")?;
        let selection = a.required_str("selection")?;
        let q = sh_quote(&name);
        let r = read_all(
            ctx,
            &[Read::new("sel", format!("dpkg --get-selections {q}"))],
        )
        .await?;
        let before = current(&r.get("sel").out, &name);
        let changed = before != selection;
        let result = ModuleResult::new(changed)
            .set("before", before.as_str())
            .set("after", selection.as_str());
        if !changed || ctx.check_mode {
            return Ok(result);
        }
        let out = run_sh(
            ctx,
            format!(
                "printf '%s %s\\n' {q} {} | dpkg --set-selections",
                sh_quote(&selection)
            ),
            None,
        )
        .await?;
        if out.rc != 0 {
            let (o, e) = (out.stdout_str(), out.stderr_str());
            return Err(failure(e.trim().to_string(), out.rc, &o, &e));
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_is_read_by_name_with_or_without_arch() {
        assert_eq!(current("docker-ce\t\t\t\thold\n", "docker-ce"), "hold");
        assert_eq!(current("libc6:amd64\tinstall\n", "libc6"), "install");
        assert_eq!(current("", "nope"), "not present");
    }
}
