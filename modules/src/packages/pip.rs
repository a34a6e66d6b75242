//! `pip` (ansible.builtin.pip): Python packages through the host's own pip (`executable`, the
//! `virtualenv`'s pip, else `pip3`, `pip` or `python3 -m pip`). Installed packages are read
//! with `pip list --format=freeze` first, so `present`/`absent` run pip only when something is
//! missing or there; `latest`, `forcereinstall` and `requirements` run pip and report a change
//! when the installed set moved. A host without pip gets a clear refusal, nothing is installed
//! behind the user's back. Offline, pip needs an index or wheel directory given through
//! `extra_args` (`--no-index --find-links DIR`) or pip.conf.

use crate::common::args::{p, Param, Spec};
use crate::common::reads::failure;
use crate::common::run_sh;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};
use std::collections::BTreeMap;

const PARAMS: &[Param] = &[
    p("name", &[])
        .list()
        .doc("Package names, each optionally with a version specifier (`foo>=1.2`)."),
    p("version", &[])
        .str()
        .doc("Version for a single `name` (`==VERSION`)."),
    p("requirements", &[])
        .str()
        .doc("A requirements file on the host."),
    p("virtualenv", &[])
        .path()
        .doc("Install into this virtualenv (made with `virtualenv_command` when missing)."),
    p("virtualenv_command", &[])
        .str()
        .default_str("virtualenv")
        .doc("Command that makes the virtualenv (`python3 -m venv` works offline)."),
    p("virtualenv_python", &[])
        .str()
        .doc("Python for the new virtualenv (`-p`)."),
    p("virtualenv_site_packages", &[])
        .flag(false)
        .doc("Let the virtualenv see the global site-packages."),
    p("state", &[])
        .choices(&["absent", "forcereinstall", "latest", "present"])
        .default_str("present")
        .doc("What should be true of the packages."),
    p("extra_args", &[])
        .str()
        .doc("Extra arguments for pip (`--no-index --find-links /srv/wheels`)."),
    p("editable", &[])
        .flag(false)
        .doc("Install in editable mode (`-e`)."),
    p("chdir", &[]).path().doc("Run pip in this directory."),
    p("executable", &[])
        .path()
        .doc("The pip to use (not with virtualenv)."),
    p("umask", &[])
        .str()
        .doc("Octal umask for the installation."),
    p("break_system_packages", &[])
        .flag(false)
        .doc("Pass `--break-system-packages` (PEP 668 distributions)."),
];

/// `pip`'s declared arguments.
pub static SPEC: Spec = Spec::new("pip", "Manages Python library dependencies", &[PARAMS])
    .mutually_exclusive(&[&["name", "requirements"], &["executable", "virtualenv"]])
    .required_one_of(&[&["name", "requirements"]]);

/// A package name the way pip compares them (PEP 503).
fn normalize(name: &str) -> String {
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
fn installed(freeze: &str) -> BTreeMap<String, String> {
    freeze
        .lines()
        .filter_map(|l| l.split_once("=="))
        .map(|(n, v)| (normalize(n.trim()), v.trim().to_string()))
        .collect()
}

/// A requested package: its name and an optional `(operator, version)`.
fn split_spec(s: &str) -> (String, Option<(String, String)>) {
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
fn satisfied(have: &str, want: &Option<(String, String)>) -> bool {
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

pub struct PipModule;

#[async_trait]
impl Module for PipModule {
    fn name(&self) -> &'static str {
        "pip"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let state = a.required_str("state")?;
        let mut names = a.list("name");
        if let Some(v) = a.str("version")? {
            if names.len() != 1 {
                return Err(ModuleError::new(
                    "version is incompatible with state=latest and with more than one name",
                ));
            }
            if split_spec(&names[0]).1.is_some() {
                return Err(ModuleError::new("The 'version' argument conflicts with any version specifier provided along with a package name. Please keep the version specifier, but remove the 'version' argument."));
            }
            names[0] = format!("{}=={v}", names[0]);
        }
        let requirements = a.str("requirements")?;
        let venv = a.str("virtualenv")?;
        let cd = match a.str("chdir")? {
            Some(d) => format!("cd {} || exit 1\n", sh_quote(&d)),
            None => String::new(),
        };
        let umask = match a.str("umask")? {
            Some(u) => format!("umask {}\n", sh_quote(&u)),
            None => String::new(),
        };
        // Which pip: printed as one line, or a refusal.
        let mut find = String::new();
        if let Some(v) = &venv {
            let vq = sh_quote(v);
            let mut make = a.required_str("virtualenv_command")?;
            if a.flag("virtualenv_site_packages") {
                make.push_str(" --system-site-packages");
            }
            if let Some(py) = a.str("virtualenv_python")? {
                if !make.contains("-m venv") {
                    make.push_str(&format!(" -p {}", sh_quote(&py)));
                }
            }
            find.push_str(&format!(
                "if [ ! -x {vq}/bin/pip ]; then {make} {vq} >&2 || {{ echo 'kplay-pip: making the virtualenv failed' >&2; exit 5; }}; fi\nPIP={}\n",
                sh_quote(&format!("{v}/bin/pip"))
            ));
        } else if let Some(e) = a.str("executable")? {
            find.push_str(&format!("PIP={}\n", sh_quote(&e)));
        } else {
            find.push_str(
                "if command -v pip3 >/dev/null 2>&1; then PIP=pip3\n\
                 elif command -v pip >/dev/null 2>&1; then PIP=pip\n\
                 elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then PIP='python3 -m pip'\n\
                 else echo 'kplay-pip: no pip' >&2; exit 4; fi\n",
            );
        }
        let prelude = format!("{umask}{cd}{find}");
        let freeze = format!("{prelude}$PIP list --format=freeze --disable-pip-version-check 2>/dev/null || $PIP freeze\n");
        let out = run_sh(ctx, freeze.clone(), None).await?;
        let (o, e) = (out.stdout_str(), out.stderr_str());
        match out.rc {
            0 => {}
            4 => {
                return Err(failure(
                    "Unable to find any of pip3, pip to use.  pip needs to be installed.",
                    out.rc,
                    &o,
                    &e,
                ))
            }
            _ => {
                return Err(failure(
                    format!("pip could not list the installed packages: {}", e.trim()),
                    out.rc,
                    &o,
                    &e,
                ))
            }
        }
        let before = installed(&o);
        let wanted: Vec<(String, Option<(String, String)>)> =
            names.iter().map(|n| split_spec(n)).collect();
        let mut result = ModuleResult::new(false)
            .set(
                "name",
                Value::Array(names.iter().cloned().map(Value::String).collect()),
            )
            .set("state", state.as_str())
            .set(
                "requirements",
                requirements
                    .clone()
                    .map(Value::String)
                    .unwrap_or(Value::Null),
            )
            .set(
                "version",
                a.str("version")?.map(Value::String).unwrap_or(Value::Null),
            )
            .set(
                "virtualenv",
                venv.clone().map(Value::String).unwrap_or(Value::Null),
            );
        // Decide whether pip must run at all.
        let (verb, needed) = match state.as_str() {
            "absent" => (
                "uninstall -y",
                wanted
                    .iter()
                    .any(|(n, _)| before.contains_key(&normalize(n))),
            ),
            "present" if requirements.is_none() => (
                "install",
                wanted.iter().any(|(n, v)| {
                    !before
                        .get(&normalize(n))
                        .is_some_and(|have| satisfied(have, v))
                }),
            ),
            "latest" => ("install -U", true),
            "forcereinstall" => ("install -U --force-reinstall", true),
            _ => ("install", true),
        };
        if !needed {
            return Ok(result);
        }
        if ctx.check_mode {
            result.insert("changed", true);
            return Ok(result);
        }
        let mut cmd = format!("$PIP {verb} --disable-pip-version-check");
        if a.flag("break_system_packages") {
            cmd.push_str(" --break-system-packages");
        }
        if let Some(x) = a.str("extra_args")? {
            cmd.push(' ');
            cmd.push_str(&x);
        }
        if let Some(r) = &requirements {
            cmd.push_str(&format!(" -r {}", sh_quote(r)));
        }
        for n in &names {
            if a.flag("editable") {
                cmd.push_str(" -e");
            }
            cmd.push_str(&format!(" {}", sh_quote(n)));
        }
        let out = run_sh(ctx, format!("{prelude}{cmd}"), None).await?;
        let (o, e) = (out.stdout_str(), out.stderr_str());
        result.insert("cmd", cmd.replace("$PIP", "pip"));
        result.insert("stdout", o.clone());
        result.insert("stderr", e.clone());
        if out.rc != 0 {
            return Err(failure(format!("pip failed: {}", e.trim()), out.rc, &o, &e));
        }
        let after = run_sh(ctx, freeze, None).await?;
        let changed = installed(&after.stdout_str()) != before;
        result.insert("changed", changed);
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    #[test]
    fn specs_names_and_versions_compare_like_pip() {
        assert_eq!(normalize("Foo_Bar.baz"), "foo-bar-baz");
        assert_eq!(
            split_spec("requests[socks]>=2.0"),
            ("requests".into(), Some((">=".into(), "2.0".into())))
        );
        assert!(satisfied("2.10.0", &Some((">=".into(), "2.9".into()))));
        assert!(!satisfied("2.10.0", &Some(("==".into(), "2.9".into()))));
        assert!(satisfied("1.4.2", &Some(("==".into(), "1.4.*".into()))));
        assert_eq!(
            installed("A_b==1.0\nc==2\n").get("a-b").map(String::as_str),
            Some("1.0")
        );
    }

    crate::testutil::both_paths! {
    async fn no_pip_on_the_host_is_a_clear_refusal() {
        let env = TestEnv::new(std::path::Path::new("/"));
        let mut c = ctx(&env, false, false);
        c.environment = vec![("PATH".into(), "/nonexistent".into())];
        let e = PipModule.run(&c, args(json!({"name": "requests"}))).await.map(|r| r.into_map()).unwrap_err();
        assert_eq!(e.msg, "Unable to find any of pip3, pip to use.  pip needs to be installed.");
    }

    async fn present_and_absent_run_pip_only_when_needed() {
        let Some(pip) = ["/root/.pyenv/shims/pip3", "/usr/bin/pip3"].into_iter().find(|p| std::path::Path::new(p).exists()) else {
            eprintln!("SKIP: no pip3 here");
            return;
        };
        let env = TestEnv::new(std::path::Path::new("/"));
        let r = PipModule.run(&ctx(&env, false, false), args(json!({"name": ["PIP"], "executable": pip}))).await.map(|r| r.into_map()).expect("pip");
        assert_eq!(r["changed"], json!(false), "{r:?}");
        assert!(r.get("cmd").is_none(), "pip must not have run: {r:?}");
        let r = PipModule.run(&ctx(&env, false, false), args(json!({"name": "kplay-no-such-package", "state": "absent", "executable": pip}))).await.map(|r| r.into_map()).expect("pip");
        assert_eq!(r["changed"], json!(false));
        let r = PipModule.run(&ctx(&env, true, false), args(json!({"name": "kplay-no-such-package", "executable": pip}))).await.map(|r| r.into_map()).expect("pip");
        assert_eq!(r["changed"], json!(true), "check mode predicts the install");
        let e = PipModule.run(&ctx(&env, false, false), args(json!({"name": "kplay-no-such-package", "executable": pip, "extra_args": "--no-index"}))).await.map(|r| r.into_map()).unwrap_err();
        assert!(e.msg.starts_with("pip failed:"), "{}", e.msg);
    }
    }
}
