//! `git` (ansible.builtin.git): a working copy (or bare repository) at `dest` checked out at
//! `version` (a branch, tag, commit or `HEAD`), cloned or fetched by the host's own git from a
//! repository the host can reach — offline that is a local path, a `file://` URL, a bundle
//! file or a mirror on the network. `before`/`after` are the commits, `changed` when they
//! differ (or the remote URL changed); local modifications refuse the update unless `force`.
//! Check mode asks the remote (`git ls-remote`) and changes nothing.

use crate::common::args::{p, Param, Spec};
use crate::common::reads::failure;
use crate::common::run_sh;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

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

/// The commit `version` names among `ls-remote` lines, or `version` itself when it looks like a
/// commit id (an abbreviated one can only be resolved after fetching).
pub fn resolve_remote(ls_remote: &str, version: &str) -> Option<String> {
    let refs: Vec<(&str, &str)> = ls_remote
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .collect();
    let find = |name: &str| {
        refs.iter()
            .find(|(_, r)| *r == name)
            .map(|(s, _)| s.to_string())
    };
    if version == "HEAD" {
        return find("HEAD");
    }
    find(&format!("refs/heads/{version}"))
        .or_else(|| find(&format!("refs/tags/{version}^{{}}")))
        .or_else(|| find(&format!("refs/tags/{version}")))
        .or_else(|| {
            (version.len() >= 7 && version.chars().all(|c| c.is_ascii_hexdigit()))
                .then(|| version.to_string())
        })
}

pub struct GitModule;

#[async_trait]
impl Module for GitModule {
    fn name(&self) -> &'static str {
        "git"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        if a.flag("verify_commit") {
            return Err(ModuleError::new(
                "git: verify_commit is not supported by kplay",
            ));
        }
        let repo = a.required_str("repo")?;
        let version = a.required_str("version")?;
        let remote = a.required_str("remote")?;
        let bare = a.flag("bare");
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
        let mut pre = format!(
            "command -v {g} >/dev/null 2>&1 || {{ echo 'Failed to find required executable {g} on the host' >&2; exit 127; }}\nexport GIT_TERMINAL_PROMPT=0\n",
            g = sh_quote(&git)
        );
        if let Some(u) = a.str("umask")? {
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
        let g = sh_quote(&git);
        let d = sh_quote(&dest);
        let (rq, vq, remq) = (sh_quote(&repo), sh_quote(&version), sh_quote(&remote));
        let run = |script: String| {
            let pre = pre.clone();
            async move {
                let out = run_sh(ctx, format!("{pre}{script}"), None).await?;
                if out.rc != 0 {
                    let (o, e) = (out.stdout_str(), out.stderr_str());
                    return Err(failure(e.trim().to_string(), out.rc, &o, &e));
                }
                Ok::<String, ModuleError>(out.stdout_str().trim().to_string())
            }
        };
        let gitdir = if bare {
            dest.clone()
        } else {
            format!("{dest}/.git")
        };
        let exists = !dest.is_empty()
            && run(format!(
                "if [ -e {} ]; then echo y; fi",
                sh_quote(&format!("{gitdir}/HEAD"))
            ))
            .await?
                == "y";
        let mut r = ModuleResult::new(false);
        if !exists {
            if !clone {
                let ls = run(format!("{g} ls-remote {rq}")).await?;
                let after = resolve_remote(&ls, &version);
                return Ok(r
                    .set("before", Value::Null)
                    .set("after", after.map(Value::String).unwrap_or(Value::Null)));
            }
            if ctx.check_mode {
                let ls = run(format!("{g} ls-remote {rq}")).await?;
                let after = resolve_remote(&ls, &version);
                return Ok(ModuleResult::new(true)
                    .set("before", Value::Null)
                    .set("after", after.map(Value::String).unwrap_or(Value::Null)));
            }
            let mut c = format!("{g} clone --origin {remq}");
            if bare {
                c.push_str(" --bare");
            }
            if let Some(n) = a.int("depth") {
                c.push_str(&format!(" --depth {n}"));
                if version != "HEAD" && !version.chars().all(|x| x.is_ascii_hexdigit()) {
                    c.push_str(&format!(" --branch {vq}"));
                }
            }
            if a.flag("single_branch") {
                c.push_str(" --single-branch");
            }
            if let Some(rf) = a.str("reference")? {
                c.push_str(&format!(" --reference {}", sh_quote(&rf)));
            }
            c.push_str(&format!(" -- {rq} {d}"));
            let mut script = format!("{c} >&2\n");
            if version != "HEAD" && !bare {
                script.push_str(&format!("cd {d} && {g} checkout --force {vq} >&2\n"));
            }
            if a.flag("recursive") && !bare {
                script.push_str(&format!("cd {d} && if [ -f .gitmodules ]; then {g} submodule update --init --recursive >&2; fi\n"));
            }
            script.push_str(&format!("cd {d} && {g} rev-parse HEAD"));
            let after = run(script).await?;
            return Ok(ModuleResult::new(true)
                .set("before", Value::Null)
                .set("after", after));
        }
        let cd = format!("cd {d} || exit 1\n");
        let before = run(format!("{cd}{g} rev-parse HEAD")).await?;
        r.insert("before", before.clone());
        // Remote URL.
        let url = run(format!("{cd}{g} remote get-url {remq} 2>/dev/null || true")).await?;
        let url_changed = !url.is_empty() && url != repo;
        if url_changed {
            r.insert("remote_url_changed", true);
            if !ctx.check_mode {
                run(format!("{cd}{g} remote set-url {remq} {rq}")).await?;
            }
        }
        if !bare {
            let dirty = run(format!("{cd}{g} status --porcelain --untracked-files=no")).await?;
            if !dirty.is_empty() && !a.flag("force") {
                return Err(ModuleError::new(format!(
                    "Local modifications exist in the destination: {dest} (force=no)."
                )));
            }
        }
        if !a.flag("update") {
            return Ok(r.set("after", before).set("changed", url_changed));
        }
        if ctx.check_mode {
            let ls = run(format!("{g} ls-remote {rq}")).await?;
            let after = resolve_remote(&ls, &version).unwrap_or_else(|| before.clone());
            let moved = !before.starts_with(&after) && !after.starts_with(&before);
            return Ok(r.set("after", after).set("changed", moved || url_changed));
        }
        let mut fetch = format!("{cd}{g} fetch --tags --force {remq} >&2");
        if let Some(rs) = a.str("refspec")? {
            fetch.push_str(&format!(" && {g} fetch {remq} {} >&2", sh_quote(&rs)));
        }
        if !bare {
            fetch.push_str(&format!(
                " && {g} fetch {remq} '+refs/heads/*:refs/remotes/'{remq}'/*' >&2"
            ));
        }
        run(fetch).await?;
        let target = if bare {
            run(format!("{cd}{g} rev-parse HEAD")).await?
        } else {
            let rev = if version == "HEAD" {
                format!("$({g} symbolic-ref --short refs/remotes/{remq}/HEAD 2>/dev/null || echo {remq}/HEAD)")
            } else {
                format!("$(if {g} rev-parse -q --verify {remq}/{vq} >/dev/null; then echo {remq}/{vq}; else echo {vq}; fi)")
            };
            run(format!("{cd}{g} rev-parse --verify -q \"{rev}^{{commit}}\" || {{ echo \"Failed to find version {version} in the repository\" >&2; exit 1; }}", version = version.replace(['"', '$', '`', '\\'], ""))).await?
        };
        if bare || target == before {
            return Ok(r.set("after", before).set("changed", url_changed));
        }
        let is_branch = version != "HEAD"
            && run(format!(
                "{cd}{g} rev-parse -q --verify {remq}/{vq} >/dev/null && echo y || true"
            ))
            .await?
                == "y";
        let mut co = if is_branch {
            format!("{cd}{g} checkout --force -B {vq} {} >&2", sh_quote(&target))
        } else if version == "HEAD" {
            format!("{cd}{g} reset --hard {} >&2", sh_quote(&target))
        } else {
            format!("{cd}{g} checkout --force {} >&2", sh_quote(&target))
        };
        if a.flag("recursive") {
            co.push_str(&format!(
                "\nif [ -f .gitmodules ]; then {g} submodule update --init --recursive >&2; fi"
            ));
        }
        run(co).await?;
        let after = run(format!("{cd}{g} rev-parse HEAD")).await?;
        let changed = after != before || url_changed;
        Ok(r.set("after", after).set("changed", changed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;
    use std::path::Path;
    use std::process::Command;

    fn git(dir: &Path, a: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(a)
            .current_dir(dir)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {a:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn commit(dir: &Path, file: &str, text: &str) -> String {
        std::fs::write(dir.join(file), text).expect("write");
        git(dir, &["add", file]);
        git(dir, &["commit", "-q", "-m", file]);
        git(dir, &["rev-parse", "HEAD"])
    }

    #[test]
    fn versions_resolve_among_remote_refs() {
        let ls = "aaa\tHEAD\naaa\trefs/heads/main\nbbb\trefs/tags/v1\nccc\trefs/tags/v1^{}\n";
        assert_eq!(resolve_remote(ls, "HEAD").as_deref(), Some("aaa"));
        assert_eq!(resolve_remote(ls, "main").as_deref(), Some("aaa"));
        assert_eq!(resolve_remote(ls, "v1").as_deref(), Some("ccc"));
        assert_eq!(
            resolve_remote(ls, "deadbeef12").as_deref(),
            Some("deadbeef12")
        );
        assert_eq!(resolve_remote(ls, "nope"), None);
    }

    crate::testutil::both_paths! {
    async fn clones_updates_and_pins_versions_from_a_local_repository() {
        if Command::new("git").arg("--version").output().is_err() {
            eprintln!("SKIP: no git");
            return;
        }
        let d = tempfile::tempdir().expect("tempdir");
        let src = d.path().join("src");
        std::fs::create_dir(&src).expect("mkdir");
        git(&src, &["init", "-q"]);
        let c1 = commit(&src, "a", "one\n");
        git(&src, &["tag", "v1"]);
        let env = TestEnv::new(d.path());
        let dest = d.path().join("wc").to_string_lossy().into_owned();
        let repo = src.to_string_lossy().into_owned();
        let a = json!({"repo": repo, "dest": dest});
        let r = GitModule.run(&ctx(&env, true, false), args(a.clone())).await.map(|r| r.into_map()).expect("check");
        assert_eq!((r["changed"].clone(), r["after"].clone()), (json!(true), json!(c1)));
        assert!(!Path::new(&dest).exists(), "check mode cloned");
        let r = GitModule.run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("clone");
        assert_eq!(r["after"], json!(c1));
        assert_eq!(std::fs::read_to_string(Path::new(&dest).join("a")).expect("a"), "one\n");
        let r = GitModule.run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("again");
        assert_eq!(r["changed"], json!(false), "{r:?}");
        let c2 = commit(&src, "a", "two\n");
        let r = GitModule.run(&ctx(&env, true, false), args(a.clone())).await.map(|r| r.into_map()).expect("check update");
        assert_eq!((r["changed"].clone(), r["after"].clone()), (json!(true), json!(c2)));
        let r = GitModule.run(&ctx(&env, false, false), args(a.clone())).await.map(|r| r.into_map()).expect("update");
        assert_eq!((r["before"].clone(), r["after"].clone(), r["changed"].clone()), (json!(c1), json!(c2), json!(true)));
        let pinned = json!({"repo": repo, "dest": dest, "version": "v1"});
        let r = GitModule.run(&ctx(&env, false, false), args(pinned.clone())).await.map(|r| r.into_map()).expect("tag");
        assert_eq!(r["after"], json!(c1));
        std::fs::write(Path::new(&dest).join("a"), "local edit\n").expect("edit");
        let e = GitModule.run(&ctx(&env, false, false), args(json!({"repo": repo, "dest": dest, "version": "main"}))).await.map(|r| r.into_map()).unwrap_err();
        assert_eq!(e.msg, format!("Local modifications exist in the destination: {dest} (force=no)."));
        let r = GitModule.run(&ctx(&env, false, false), args(json!({"repo": repo, "dest": dest, "version": "main", "force": true}))).await.map(|r| r.into_map()).expect("force");
        assert_eq!(r["after"], json!(c2));
        assert_eq!(std::fs::read_to_string(Path::new(&dest).join("a")).expect("a"), "two\n");
    }
    }
}
