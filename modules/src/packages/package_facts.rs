//! `package_facts` (ansible.builtin.package_facts): the installed packages as
//! `ansible_facts.packages = {NAME: [{name, version, arch, source, …}]}` (a list per name:
//! several versions or architectures can be installed). kplay reads the dpkg database
//! (`dpkg-query`, source `apt`) and the rpm database (`rpm -qa`, source `rpm`); `auto` takes
//! the first of them the host has, `strategy: all` every one. One round trip; nothing on the
//! host changes, so check mode runs it too.

use crate::common::args::{p, Param, Spec};
use crate::common::reads::{read_all, Read};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};
use serde_json::json;

const PARAMS: &[Param] = &[
    p("manager", &[])
        .list()
        .doc("Package managers to read: `auto`, `apt`, `rpm` (others are refused)."),
    p("strategy", &[])
        .choices(&["first", "all"])
        .default_str("first")
        .doc("`first`: the first manager found; `all`: every one found."),
];

/// `package_facts`' declared arguments.
pub static SPEC: Spec = Spec::new("package_facts", "Package information as facts", &[PARAMS]);

/// `ansible.builtin.package_facts`.
///
/// Not query → plan → apply ([`crate::planned`]): Only reads the host (facts): nothing to plan or change.
pub struct PackageFactsModule;

const DPKG: &str = "command -v dpkg-query >/dev/null && dpkg-query -W -f='${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\n'";
const RPM: &str = "command -v rpm >/dev/null && rpm -qa --qf '%{NAME}\\t%{VERSION}\\t%{RELEASE}\\t%{EPOCH}\\t%{ARCH}\\n'";

fn push(out: &mut Map, name: &str, entry: Value) {
    if let Value::Array(list) = out
        .entry(name.to_string())
        .or_insert_with(|| Value::Array(vec![]))
    {
        list.push(entry);
    }
}

/// Installed packages from `dpkg-query` lines (status, name, version, arch).
pub fn parse_dpkg(text: &str, out: &mut Map) {
    for l in text.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        if f.len() < 4 || !f[0].starts_with("ii") {
            continue;
        }
        push(
            out,
            f[1],
            json!({"name": f[1], "version": f[2], "arch": f[3], "category": "", "origin": "", "source": "apt"}),
        );
    }
}

/// Installed packages from `rpm -qa` lines (name, version, release, epoch, arch).
pub fn parse_rpm(text: &str, out: &mut Map) {
    for l in text.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        if f.len() < 5 {
            continue;
        }
        let epoch = f[3].parse::<u64>().ok();
        push(
            out,
            f[0],
            json!({"name": f[0], "version": f[1], "release": f[2], "epoch": epoch, "arch": f[4], "source": "rpm"}),
        );
    }
}

#[async_trait]
impl Module for PackageFactsModule {
    fn name(&self) -> &'static str {
        "package_facts"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let mut managers = a.list("manager");
        if managers.is_empty() || managers.iter().any(|m| m == "auto") {
            managers = vec!["apt".into(), "rpm".into()];
        }
        if let Some(m) = managers.iter().find(|m| *m != "apt" && *m != "rpm") {
            return Err(ModuleError::new(format!(
                "package manager '{m}' is not supported by kplay's package_facts (apt, rpm, auto)"
            )));
        }
        let all = a.required_str("strategy")? == "all";
        let r = read_all(ctx, &[Read::new("apt", DPKG), Read::new("rpm", RPM)]).await?;
        let mut packages = Map::new();
        let mut found = false;
        for m in &managers {
            let out = r.get(m);
            if !out.ok() {
                continue;
            }
            found = true;
            if m == "apt" {
                parse_dpkg(&out.out, &mut packages);
            } else {
                parse_rpm(&out.out, &mut packages);
            }
            if !all {
                break;
            }
        }
        if !found {
            return Err(ModuleError::new(format!(
                "Could not detect a supported package manager from the following list: {managers:?}, or the required Python library is not installed. Check warnings for details."
            )));
        }
        let mut facts = Map::new();
        facts.insert("packages".into(), Value::Object(packages));
        let mut res = ModuleResult::new(false).into_map();
        res.insert("ansible_facts".into(), Value::Object(facts));
        Ok(res.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_and_rpm_listings_become_package_lists() {
        let mut m = Map::new();
        parse_dpkg(
            "ii \tbash\t5.2-1\tamd64\nrc \tgone\t1.0\tamd64\nii \tlibc6\t2.36\tamd64\nii \tlibc6\t2.36\ti386\n",
            &mut m,
        );
        assert_eq!(
            m["bash"],
            json!([{"name": "bash", "version": "5.2-1", "arch": "amd64", "category": "", "origin": "", "source": "apt"}])
        );
        assert!(!m.contains_key("gone"));
        assert_eq!(m["libc6"].as_array().map(Vec::len), Some(2));
        let mut r = Map::new();
        parse_rpm("kernel\t5.14.0\t1.el9\t(none)\tx86_64\n", &mut r);
        assert_eq!(r["kernel"][0]["epoch"], Value::Null);
        assert_eq!(r["kernel"][0]["release"], json!("1.el9"));
    }
}
