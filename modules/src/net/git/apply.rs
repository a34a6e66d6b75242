//! `git`'s effect: clone, or fetch and check out `version`, with the host's git; the result's
//! `after` is the commit reached.

use super::{run_git, Changes, GitArgs};
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;

/// See [`crate::planned::QueryPlanApply::apply`].
pub async fn apply(
    ctx: &ModuleContext<'_>,
    a: &GitArgs,
    c: Changes,
    r: ModuleResult,
) -> Result<ModuleResult, ModuleError> {
    match c {
        Changes::Clone => {
            let after = run_git(ctx, a, &clone_script(a)).await?;
            Ok(r.set("after", after))
        }
        Changes::Update { set_url, reset } => update(ctx, a, set_url, reset, r).await,
    }
}

/// `git clone`, then the `version` checkout and submodules; prints the commit reached.
fn clone_script(a: &GitArgs) -> String {
    let (g, d) = (sh_quote(&a.git), sh_quote(&a.dest));
    let vq = sh_quote(&a.version);
    let mut c = format!("{g} clone --origin {}", sh_quote(&a.remote));
    if a.bare {
        c.push_str(" --bare");
    }
    if let Some(n) = a.depth {
        c.push_str(&format!(" --depth {n}"));
        if a.version != "HEAD" && !a.version.chars().all(|x| x.is_ascii_hexdigit()) {
            c.push_str(&format!(" --branch {vq}"));
        }
    }
    if a.single_branch {
        c.push_str(" --single-branch");
    }
    if let Some(rf) = &a.reference {
        c.push_str(&format!(" --reference {}", sh_quote(rf)));
    }
    c.push_str(&format!(" -- {} {d}", sh_quote(&a.repo)));
    let mut script = format!("{c} >&2\n");
    if a.version != "HEAD" && !a.bare {
        script.push_str(&format!("cd {d} && {g} checkout --force {vq} >&2\n"));
    }
    if a.recursive && !a.bare {
        script.push_str(&format!("cd {d} && if [ -f .gitmodules ]; then {g} submodule update --init --recursive >&2; fi\n"));
    }
    script.push_str(&format!("cd {d} && {g} rev-parse HEAD"));
    script
}

/// `git fetch` of branches and tags (into the branches themselves for a bare repository, as
/// ansible-core does, so its `HEAD` moves).
fn fetch_script(a: &GitArgs) -> String {
    let g = sh_quote(&a.git);
    let remq = sh_quote(&a.remote);
    let mut fetch = if a.bare {
        format!(
            "{g} fetch --force {remq} '+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*' >&2"
        )
    } else {
        format!("{g} fetch --tags --force {remq} >&2 && {g} fetch {remq} '+refs/heads/*:refs/remotes/'{remq}'/*' >&2")
    };
    if let Some(rs) = &a.refspec {
        fetch.push_str(&format!(" && {g} fetch {remq} {} >&2", sh_quote(rs)));
    }
    fetch
}

/// Prints the commit `version` names after the fetch (a remote branch first), or fails as
/// ansible-core does when there is none.
fn target_script(a: &GitArgs) -> String {
    let g = sh_quote(&a.git);
    let (remq, vq) = (sh_quote(&a.remote), sh_quote(&a.version));
    let rev = if a.version == "HEAD" {
        format!(
            "$({g} symbolic-ref --short refs/remotes/{remq}/HEAD 2>/dev/null || echo {remq}/HEAD)"
        )
    } else {
        format!("$(if {g} rev-parse -q --verify {remq}/{vq} >/dev/null; then echo {remq}/{vq}; else echo {vq}; fi)")
    };
    let shown = a.version.replace(['"', '$', '`', '\\'], "");
    format!("{g} rev-parse --verify -q \"{rev}^{{commit}}\" || {{ echo \"Failed to find version {shown} in the repository\" >&2; exit 1; }}")
}

/// Moves the working copy to `target`: a branch is checked out (and reset) by name, `HEAD`
/// resets the current branch, a tag or commit is checked out detached.
async fn switch_version(
    ctx: &ModuleContext<'_>,
    a: &GitArgs,
    cd: &str,
    target: &str,
) -> Result<(), ModuleError> {
    let g = sh_quote(&a.git);
    let (remq, vq) = (sh_quote(&a.remote), sh_quote(&a.version));
    let is_branch = a.version != "HEAD"
        && run_git(
            ctx,
            a,
            &format!("{cd}{g} rev-parse -q --verify {remq}/{vq} >/dev/null && echo y || true"),
        )
        .await?
            == "y";
    let t = sh_quote(target);
    let mut co = if is_branch {
        format!("{cd}{g} checkout --force -B {vq} {t} >&2")
    } else if a.version == "HEAD" {
        format!("{cd}{g} reset --hard {t} >&2")
    } else {
        format!("{cd}{g} checkout --force {t} >&2")
    };
    if a.recursive {
        co.push_str(&format!(
            "\nif [ -f .gitmodules ]; then {g} submodule update --init --recursive >&2; fi"
        ));
    }
    run_git(ctx, a, &co).await.map(|_| ())
}

/// The update: remote URL, discarded modifications, fetch, checkout; `changed` is whether
/// any of them changed something.
async fn update(
    ctx: &ModuleContext<'_>,
    a: &GitArgs,
    set_url: bool,
    reset: bool,
    mut r: ModuleResult,
) -> Result<ModuleResult, ModuleError> {
    let g = sh_quote(&a.git);
    let cd = format!("cd {} || exit 1\n", sh_quote(&a.dest));
    let before = run_git(ctx, a, &format!("{cd}{g} rev-parse HEAD")).await?;
    if set_url {
        let (remq, rq) = (sh_quote(&a.remote), sh_quote(&a.repo));
        run_git(ctx, a, &format!("{cd}{g} remote set-url {remq} {rq}")).await?;
    }
    if reset {
        run_git(ctx, a, &format!("{cd}{g} reset --hard HEAD >&2")).await?;
        r.insert(
            "msg",
            format!("Local modifications exist in the destination: {}", a.dest),
        );
    }
    run_git(ctx, a, &format!("{cd}{}", fetch_script(a))).await?;
    if !a.bare {
        let target = run_git(ctx, a, &format!("{cd}{}", target_script(a))).await?;
        if target != before {
            switch_version(ctx, a, &cd, &target).await?;
        }
    }
    let after = run_git(ctx, a, &format!("{cd}{g} rev-parse HEAD")).await?;
    r.changed = after != before || set_url || reset;
    Ok(r.set("after", after))
}
