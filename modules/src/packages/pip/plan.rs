//! `pip`'s decision, without a host: which requested packages pip's installed set already
//! satisfies (names compared as pip does, versions numerically) and so whether pip must run,
//! and the pip command line it then runs.

use super::{PipArgs, PipState, Seen};
use crate::planned::Plan;
use kplay_engine::module::ModuleResult;
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Value;
use std::collections::BTreeMap;

/// What `apply` does: make the virtualenv first when it is missing, then run `cmd` (its `$PIP`
/// stands for the pip found on the host), then compare the installed set with `before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub make_venv: bool,
    pub cmd: String,
    pub before: BTreeMap<String, String>,
}

/// A package name the way pip compares them (PEP 503).
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `pip list --format=freeze` as normalized name → version.
pub fn installed(freeze: &str) -> BTreeMap<String, String> {
    freeze
        .lines()
        .filter_map(|l| l.split_once("=="))
        .map(|(n, v)| (normalize(n.trim()), v.trim().to_string()))
        .collect()
}

/// A requested package: its name and an optional `(operator, version)`.
pub fn split_spec(s: &str) -> (String, Option<(String, String)>) {
    let s = s.trim();
    match s.find(['=', '<', '>', '!', '~']) {
        Some(i) => {
            let (n, rest) = s.split_at(i);
            let op_len = rest.chars().take_while(|c| "=<>!~".contains(*c)).count();
            let (op, v) = rest.split_at(op_len);
            let n = n.split('[').next().unwrap_or(n);
            (
                n.trim().to_string(),
                Some((op.to_string(), v.trim().to_string())),
            )
        }
        None => (s.split('[').next().unwrap_or(s).to_string(), None),
    }
}

/// Compare dotted versions numerically where they are numbers.
fn cmp_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| -> Vec<(u64, String)> {
        s.split('.')
            .map(|p| {
                let digits: String = p.chars().take_while(|c| c.is_ascii_digit()).collect();
                (digits.parse().unwrap_or(0), p[digits.len()..].to_string())
            })
            .collect()
    };
    let (mut x, mut y) = (parts(a), parts(b));
    let n = x.len().max(y.len());
    x.resize(n, (0, String::new()));
    y.resize(n, (0, String::new()));
    x.cmp(&y)
}

/// Whether `have` satisfies the requested version (`None`: any version does).
pub fn satisfied(have: &str, want: &Option<(String, String)>) -> bool {
    use std::cmp::Ordering::*;
    let Some((op, v)) = want else { return true };
    let o = cmp_versions(have, v);
    match op.as_str() {
        "==" | "===" => {
            have == v || (v.ends_with(".*") && have.starts_with(v.trim_end_matches('*')))
        }
        "!=" => o != Equal,
        ">=" => o != Less,
        "<=" => o != Greater,
        ">" => o == Greater,
        "<" => o == Less,
        "~=" => o != Less,
        _ => false,
    }
}

/// Whether pip must run. As ansible-core's check mode: `extra_args`, a requirements file,
/// `latest` and `forcereinstall` always run it (what they do cannot be read off the installed
/// set); otherwise only when a named package is missing (`present`) or there (`absent`).
fn pip_needed(a: &PipArgs, installed: &BTreeMap<String, String>) -> bool {
    if a.extra_args.is_some() || a.requirements.is_some() {
        return true;
    }
    let wanted = a.names.iter().map(|n| split_spec(n));
    match a.state {
        PipState::Present => wanted.into_iter().any(|(n, v)| {
            !installed
                .get(&normalize(&n))
                .is_some_and(|h| satisfied(h, &v))
        }),
        PipState::Absent => wanted
            .into_iter()
            .any(|(n, _)| installed.contains_key(&normalize(&n))),
        PipState::Latest | PipState::ForceReinstall => true,
    }
}

/// The pip command line (`$PIP` is the pip `apply` finds). `break_system_packages` goes
/// through pip's environment variable, as ansible-core does, so a pip older than 23.0.1 still
/// runs.
pub fn command(a: &PipArgs) -> String {
    let verb = match a.state {
        PipState::Absent => "uninstall -y",
        PipState::Present => "install",
        PipState::Latest => "install -U",
        PipState::ForceReinstall => "install -U --force-reinstall",
    };
    let mut cmd = String::new();
    if a.break_system_packages {
        cmd.push_str("PIP_BREAK_SYSTEM_PACKAGES=1 ");
    }
    cmd.push_str(&format!("$PIP {verb} --disable-pip-version-check"));
    if let Some(x) = &a.extra_args {
        cmd.push(' ');
        cmd.push_str(x);
    }
    if let Some(r) = &a.requirements {
        cmd.push_str(&format!(" -r {}", sh_quote(r)));
    }
    for n in &a.names {
        if a.editable {
            cmd.push_str(" -e");
        }
        cmd.push_str(&format!(" {}", sh_quote(n)));
    }
    cmd
}

/// The result every run reports, whatever pip does.
fn base_result(a: &PipArgs) -> ModuleResult {
    let opt = |s: &Option<String>| s.clone().map(Value::String).unwrap_or(Value::Null);
    ModuleResult::new(false)
        .set(
            "name",
            Value::Array(a.names.iter().cloned().map(Value::String).collect()),
        )
        .set("state", a.state.as_str())
        .set("requirements", opt(&a.requirements))
        .set("version", opt(&a.version))
        .set("virtualenv", opt(&a.venv.as_ref().map(|v| v.path.clone())))
}

/// See [`crate::planned::QueryPlanApply::plan`]: a missing virtualenv is made (and pip run
/// in it); otherwise pip runs when [`pip_needed`].
pub fn plan(a: &PipArgs, seen: &Seen) -> Plan<Changes> {
    let r = base_result(a);
    let make_venv = seen.venv_missing;
    if make_venv || pip_needed(a, &seen.installed) {
        Plan::change(
            Changes {
                make_venv,
                cmd: command(a),
                before: seen.installed.clone(),
            },
            r,
        )
    } else {
        Plan::nothing(r)
    }
}
