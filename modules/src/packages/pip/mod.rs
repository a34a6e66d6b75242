//! `pip` (ansible.builtin.pip): Python packages through the host's own pip (`executable`, the
//! `virtualenv`'s pip, else `pip3`, `pip` or `python3 -m pip`). Installed packages are read
//! with `pip list --format=freeze` first, so `present`/`absent` run pip only when something is
//! missing or there; `latest`, `forcereinstall` and `requirements` run pip and report a change
//! when the installed set moved. A host without pip gets a clear refusal, nothing is installed
//! behind the user's back. Offline, pip needs an index or wheel directory given through
//! `extra_args` (`--no-index --find-links DIR`) or pip.conf.
//!
//! `query` finds the pip and lists what it has installed (or sees that the virtualenv is still
//! to be made), `plan` (plan.rs) decides whether pip must run, `apply` makes the virtualenv,
//! runs pip and compares the installed set before and after.

mod plan;
#[cfg(test)]
mod tests;

use crate::common::args::{p, Args, Param, Spec};
use crate::common::reads::failure;
use crate::common::run_sh;
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;
pub use plan::Changes;
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

/// `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipState {
    Present,
    Absent,
    Latest,
    ForceReinstall,
}

impl PipState {
    pub fn as_str(self) -> &'static str {
        match self {
            PipState::Present => "present",
            PipState::Absent => "absent",
            PipState::Latest => "latest",
            PipState::ForceReinstall => "forcereinstall",
        }
    }
}

/// `virtualenv` and how to make it when it is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Venv {
    pub path: String,
    /// The command that makes it, without the path.
    pub make: String,
}

/// The checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipArgs {
    pub state: PipState,
    /// The requested packages; `version`, when given, is joined to the one name.
    pub names: Vec<String>,
    pub version: Option<String>,
    pub requirements: Option<String>,
    pub venv: Option<Venv>,
    pub executable: Option<String>,
    pub chdir: Option<String>,
    pub umask: Option<String>,
    pub extra_args: Option<String>,
    pub editable: bool,
    pub break_system_packages: bool,
}

/// `name` with `version` joined as ansible-core's `Package` does: `==` before a bare version,
/// a space before one that starts with an operator (`>=1.0`).
fn with_version(names: &[String], version: &str) -> Result<String, ModuleError> {
    let [name] = names else {
        return Err(ModuleError::new(
            "'version' argument is ambiguous when installing multiple package distributions. \
             Please specify version restrictions next to each package in 'name' argument.",
        ));
    };
    if plan::split_spec(name).1.is_some() {
        return Err(ModuleError::new("The 'version' argument conflicts with any version specifier provided along with a package name. Please keep the version specifier, but remove the 'version' argument."));
    }
    let v = version.trim_start();
    let sep = if v.starts_with(|c: char| c.is_ascii_digit()) {
        "=="
    } else {
        " "
    };
    Ok(format!("{name}{sep}{v}"))
}

fn venv(a: &Args) -> Result<Option<Venv>, ModuleError> {
    let Some(path) = a.str("virtualenv")? else {
        return Ok(None);
    };
    let mut make = a.required_str("virtualenv_command")?;
    if a.flag("virtualenv_site_packages") {
        make.push_str(" --system-site-packages");
    }
    if let Some(py) = a.str("virtualenv_python")? {
        if !make.contains("-m venv") {
            make.push_str(&format!(" -p {}", sh_quote(&py)));
        }
    }
    Ok(Some(Venv { path, make }))
}

impl PipArgs {
    pub fn parse(args: Map) -> Result<PipArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let state = match a.required_str("state")?.as_str() {
            "absent" => PipState::Absent,
            "latest" => PipState::Latest,
            "forcereinstall" => PipState::ForceReinstall,
            _ => PipState::Present,
        };
        let version = a.str("version")?;
        let mut names = a.list("name");
        if let Some(v) = &version {
            if state == PipState::Latest {
                return Err(ModuleError::new(
                    "version is incompatible with state=latest",
                ));
            }
            names = vec![with_version(&names, v)?];
        }
        let umask = a.str("umask")?;
        if let Some(u) = &umask {
            if u32::from_str_radix(u, 8).is_err() {
                return Err(ModuleError::new("umask must be an octal integer"));
            }
        }
        Ok(PipArgs {
            state,
            names,
            version,
            requirements: a.str("requirements")?,
            venv: venv(&a)?,
            executable: a.str("executable")?,
            chdir: a.str("chdir")?,
            umask,
            extra_args: a.str("extra_args")?,
            editable: a.flag("editable"),
            break_system_packages: a.flag("break_system_packages"),
        })
    }

    /// `umask` and `chdir` for every script.
    fn prelude(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.umask {
            s.push_str(&format!("umask {}\n", sh_quote(u)));
        }
        if let Some(d) = &self.chdir {
            s.push_str(&format!("cd {} || exit 1\n", sh_quote(d)));
        }
        s
    }

    /// Sets `PIP`; exits 4 when there is no pip, 3 when the virtualenv is not made yet.
    fn find_pip(&self) -> String {
        if let Some(v) = &self.venv {
            let pip = sh_quote(&format!("{}/bin/pip", v.path));
            format!("[ -x {pip} ] || exit 3\nPIP={pip}\n")
        } else if let Some(e) = &self.executable {
            format!("PIP={}\n", sh_quote(e))
        } else {
            "if command -v pip3 >/dev/null 2>&1; then PIP=pip3\n\
             elif command -v pip >/dev/null 2>&1; then PIP=pip\n\
             elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then PIP='python3 -m pip'\n\
             else echo 'kplay-pip: no pip' >&2; exit 4; fi\n"
                .to_string()
        }
    }

    /// Makes the missing virtualenv (exit 5 when that fails).
    fn make_venv(&self) -> String {
        match &self.venv {
            Some(v) => format!(
                "{} {} >&2 || {{ echo 'kplay-pip: making the virtualenv failed' >&2; exit 5; }}\n",
                v.make,
                sh_quote(&v.path)
            ),
            None => String::new(),
        }
    }
}

/// What `query` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// `virtualenv` has no pip yet: it is to be made, and nothing is installed in it.
    pub venv_missing: bool,
    /// The installed packages (normalized name → version).
    pub installed: BTreeMap<String, String>,
}

/// The installed set as pip lists it, `None` when the virtualenv is still to be made.
async fn list_installed(
    ctx: &ModuleContext<'_>,
    a: &PipArgs,
) -> Result<Option<BTreeMap<String, String>>, ModuleError> {
    let script = format!(
        "{}{}$PIP list --format=freeze --disable-pip-version-check 2>/dev/null || $PIP freeze\n",
        a.prelude(),
        a.find_pip()
    );
    let out = run_sh(ctx, script, None).await?;
    let (o, e) = (out.stdout_str(), out.stderr_str());
    match out.rc {
        0 => Ok(Some(plan::installed(&o))),
        3 => Ok(None),
        4 => Err(failure(
            "Unable to find any of pip3, pip to use.  pip needs to be installed.",
            out.rc,
            &o,
            &e,
        )),
        _ => Err(failure(
            format!("pip could not list the installed packages: {}", e.trim()),
            out.rc,
            &o,
            &e,
        )),
    }
}

pub struct PipModule;

#[async_trait]
impl QueryPlanApply for PipModule {
    type Args = PipArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "pip"
    }

    fn parse(&self, args: Map) -> Result<PipArgs, ModuleError> {
        PipArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &PipArgs) -> Result<Seen, ModuleError> {
        Ok(match list_installed(ctx, a).await? {
            Some(installed) => Seen {
                venv_missing: false,
                installed,
            },
            None => Seen {
                venv_missing: true,
                installed: BTreeMap::new(),
            },
        })
    }

    fn plan(a: &PipArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        Ok(plan::plan(a, seen))
    }

    /// Runs pip; `changed` is whether the installed set moved (or the virtualenv was made).
    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &PipArgs,
        c: Changes,
        mut result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let make = if c.make_venv {
            a.make_venv()
        } else {
            String::new()
        };
        let script = format!("{}{make}{}{}\n", a.prelude(), a.find_pip(), c.cmd);
        let out = run_sh(ctx, script, None).await?;
        let (o, e) = (out.stdout_str(), out.stderr_str());
        result.insert("cmd", c.cmd.replace("$PIP", "pip"));
        result.insert("stdout", o.clone());
        result.insert("stderr", e.clone());
        match out.rc {
            0 => {}
            5 => return Err(failure(e.trim().to_string(), out.rc, &o, &e)),
            _ => return Err(failure(format!("pip failed: {}", e.trim()), out.rc, &o, &e)),
        }
        let after = list_installed(ctx, a).await?.unwrap_or_default();
        result.changed = c.make_venv || after != c.before;
        Ok(result)
    }
}
