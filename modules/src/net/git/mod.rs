//! `git` (ansible.builtin.git): a working copy (or bare repository) at `dest` checked out at
//! `version` (a branch, tag, commit or `HEAD`), cloned or fetched by the host's own git from a
//! repository the host can reach — offline that is a local path, a `file://` URL, a bundle
//! file or a mirror on the network. `before`/`after` are the commits, `changed` when they
//! differ (or the remote URL changed); local modifications refuse the update unless `force`.
//! Check mode asks the remote (`git ls-remote`) and changes nothing.
//!
//! `query` reads the working copy (its commit, remote URL, local modifications) and asks the
//! remote which commit `version` names; `plan` (plan.rs) decides clone, update or nothing;
//! `apply` (apply.rs) runs git and reports the commit it reached.

mod apply;
mod plan;
#[cfg(test)]
mod tests;

use crate::common::args::{p, Args, Param, Spec};
use crate::common::reads::ensure_ok;
use crate::common::run_sh;
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;
pub use plan::{resolve_remote, Changes};

const PARAMS: &[Param] = &[
    p("repo", &["name"])
        .str()
        .required()
        .doc("Repository: a path, `file://` URL, bundle file or URL the host can reach."),
    p("dest", &[])
        .path()
        .doc("Where the working copy lives (required unless clone=false)."),
    p("version", &[])
        .str()
        .default_str("HEAD")
        .doc("Branch, tag, commit, or HEAD (the remote's default branch)."),
    p("remote", &[])
        .str()
        .default_str("origin")
        .doc("Name of the remote."),
    p("force", &[])
        .flag(false)
        .doc("Discard local modifications."),
    p("depth", &[])
        .int()
        .doc("Shallow clone with this many commits."),
    p("clone", &[])
        .flag(true)
        .doc("Clone when `dest` has no repository."),
    p("update", &[])
        .flag(true)
        .doc("Fetch and check out `version` when the repository exists."),
    p("bare", &[]).flag(false).doc("A bare repository."),
    p("single_branch", &[])
        .flag(false)
        .doc("Clone only the history of `version`."),
    p("recursive", &[])
        .flag(true)
        .doc("Also clone and update submodules."),
    p("refspec", &[]).str().doc("Extra refspec to fetch."),
    p("umask", &[])
        .str()
        .doc("Umask for the git commands (octal)."),
    p("executable", &[]).path().doc("The git to run."),
    p("accept_hostkey", &[])
        .flag(false)
        .doc("Accepted (SSH remotes only)."),
    p("accept_newhostkey", &[])
        .flag(false)
        .doc("Accepted (SSH remotes only)."),
    p("key_file", &[])
        .path()
        .doc("SSH key for an SSH remote (`GIT_SSH_COMMAND`)."),
    p("ssh_opts", &[])
        .str()
        .doc("Extra ssh options for an SSH remote."),
    p("reference", &[])
        .str()
        .doc("Reference repository (`--reference`)."),
    p("track_submodules", &[]).flag(false).doc("Accepted."),
    p("verify_commit", &[])
        .flag(false)
        .doc("Not supported: refused when true."),
];

/// `git`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "git",
    "Deploy software (or files) from git checkouts",
    &[PARAMS],
);

/// The checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitArgs {
    pub repo: String,
    /// Empty only with `clone: false` and no `dest`.
    pub dest: String,
    pub version: String,
    pub remote: String,
    pub force: bool,
    pub depth: Option<i64>,
    pub clone: bool,
    pub update: bool,
    pub bare: bool,
    pub single_branch: bool,
    pub recursive: bool,
    pub refspec: Option<String>,
    pub reference: Option<String>,
    pub git: String,
    /// What every git script starts with: the git check, no prompts, umask, ssh key.
    pub prelude: String,
}

/// The environment every git script runs in.
fn prelude(a: &Args, git: &str) -> Result<String, ModuleError> {
    let mut pre = format!(
        "command -v {g} >/dev/null 2>&1 || {{ echo 'Failed to find required executable {g} on the host' >&2; exit 127; }}\nexport GIT_TERMINAL_PROMPT=0\n",
        g = sh_quote(git)
    );
    if let Some(u) = a.str("umask")? {
        if u32::from_str_radix(&u, 8).is_err() {
            return Err(ModuleError::new("umask must be an octal integer"));
        }
        pre.push_str(&format!("umask {}\n", sh_quote(&u)));
    }
    if let Some(k) = a.str("key_file")? {
        let opts = a.str("ssh_opts")?.unwrap_or_default();
        pre.push_str(&format!(
            "export GIT_SSH_COMMAND={}\n",
            sh_quote(&format!(
                "ssh -i {} -o IdentitiesOnly=yes {opts}",
                sh_quote(&k)
            ))
        ));
    }
    Ok(pre)
}

impl GitArgs {
    pub fn parse(args: Map) -> Result<GitArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        if a.flag("verify_commit") {
            return Err(ModuleError::new(
                "git: verify_commit is not supported by kplay",
            ));
        }
        let clone = a.flag("clone");
        let dest = match a.str("dest")? {
            Some(d) => d,
            None if !clone => String::new(),
            None => {
                return Err(ModuleError::new(
                    "the destination directory must be specified unless clone=no",
                ))
            }
        };
        let git = a.str("executable")?.unwrap_or_else(|| "git".into());
        Ok(GitArgs {
            repo: a.required_str("repo")?,
            dest,
            version: a.required_str("version")?,
            remote: a.required_str("remote")?,
            force: a.flag("force"),
            depth: a.int("depth"),
            clone,
            update: a.flag("update"),
            bare: a.flag("bare"),
            single_branch: a.flag("single_branch"),
            recursive: a.flag("recursive"),
            refspec: a.str("refspec")?,
            reference: a.str("reference")?,
            prelude: prelude(&a, &git)?,
            git,
        })
    }

    /// Where the repository's own files are (`HEAD`, `config`).
    fn gitdir(&self) -> String {
        if self.bare {
            self.dest.clone()
        } else {
            format!("{}/.git", self.dest)
        }
    }
}

/// Run `script` after the prelude; its trimmed stdout, or its stderr as the failure.
async fn run_git(
    ctx: &ModuleContext<'_>,
    a: &GitArgs,
    script: &str,
) -> Result<String, ModuleError> {
    let out = run_sh(ctx, format!("{}{script}", a.prelude), None).await?;
    ensure_ok(&out, |_, e| e.trim().to_string())?;
    Ok(out.stdout_str().trim().to_string())
}

/// The working copy at `dest`, when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// The checked-out commit (`git rev-parse HEAD`).
    pub before: String,
    /// The remote's URL; empty when the remote is not configured.
    pub url: String,
    /// Tracked files are modified (never for a bare repository).
    pub dirty: bool,
}

/// What `query` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `None`: no repository at `dest` (or no `dest`).
    pub local: Option<Local>,
    /// `git ls-remote` of `repo`; not asked when nothing will be fetched (`update: false`).
    pub ls_remote: Option<String>,
}

/// Reads the working copy in one script: `present`, the commit, the URL line, the dirty flag.
async fn read_local(ctx: &ModuleContext<'_>, a: &GitArgs) -> Result<Option<Local>, ModuleError> {
    if a.dest.is_empty() {
        return Ok(None);
    }
    let (g, d, rem) = (sh_quote(&a.git), sh_quote(&a.dest), sh_quote(&a.remote));
    let dirty = if a.bare {
        "echo clean".to_string()
    } else {
        format!("if [ -n \"$({g} status --porcelain --untracked-files=no)\" ]; then echo dirty; else echo clean; fi")
    };
    let script = format!(
        "[ -e {head} ] || {{ echo absent; exit 0; }}\ncd {d} || exit 1\necho present\n{g} rev-parse HEAD || exit 1\n{dirty}\n{g} remote get-url {rem} 2>/dev/null || true\n",
        head = sh_quote(&format!("{}/HEAD", a.gitdir())),
    );
    let out = run_git(ctx, a, &script).await?;
    let mut lines = out.lines();
    if lines.next() != Some("present") {
        return Ok(None);
    }
    let before = lines.next().unwrap_or_default().trim().to_string();
    let dirty = lines.next() == Some("dirty");
    let url = lines.next().unwrap_or_default().trim().to_string();
    Ok(Some(Local { before, url, dirty }))
}

pub struct GitModule;

#[async_trait]
impl QueryPlanApply for GitModule {
    type Args = GitArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "git"
    }

    fn parse(&self, args: Map) -> Result<GitArgs, ModuleError> {
        GitArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &GitArgs) -> Result<Seen, ModuleError> {
        let local = read_local(ctx, a).await?;
        let ask_remote = local.is_none() || a.update;
        let ls_remote = if ask_remote {
            let script = format!("{} ls-remote {}", sh_quote(&a.git), sh_quote(&a.repo));
            Some(run_git(ctx, a, &script).await?)
        } else {
            None
        };
        Ok(Seen { local, ls_remote })
    }

    fn plan(a: &GitArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        plan::plan(a, seen)
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &GitArgs,
        c: Changes,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        apply::apply(ctx, a, c, result).await
    }
}
