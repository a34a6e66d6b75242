//! `copy` of a controller directory: `src/` copies its contents into `dest`, `src` the
//! directory itself. `query` walks it and probes the remote directories and files (two round
//! trips in all); `apply` creates the missing directories, then writes each changed file.

use crate::common::reads::ensure_status;
use super::{check_written, CopyArgs};
use crate::common::install::{self, Queried, Source, Step};
use crate::common::probe::{probe, PathKind, ProbeRequest};
use crate::common::{basename, join_remote, run_sh};
use crate::planned::Plan;
use kplay_engine::module::{Diff, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use std::path::{Path, PathBuf};

/// What `query` found for a directory source.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeSeen {
    pub root: PathBuf,
    /// Remote directories to exist, parents first, with whether they are missing.
    pub dirs: Vec<(String, bool)>,
    /// Mode of a created directory (`directory_mode` against the host's umask).
    pub dir_mode: Option<u32>,
    pub files: Vec<Queried>,
}

/// What `apply` does for a tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeChanges {
    pub mkdirs: Vec<String>,
    pub dir_mode: Option<u32>,
    pub steps: Vec<Step>,
}

/// Walk `root` on the controller and probe its counterparts under `dest`.
pub async fn query(
    ctx: &ModuleContext<'_>,
    a: &CopyArgs,
    root: PathBuf,
    name: &str,
) -> Result<TreeSeen, ModuleError> {
    let base = if name.ends_with('/') {
        a.dest.clone()
    } else {
        join_remote(&a.dest, &basename(name))
    };
    let mut dirs = vec![base.clone()];
    let mut files = Vec::new();
    walk_local(&root, &base, &mut dirs, &mut files)?;
    let reqs: Vec<ProbeRequest> = dirs
        .iter()
        .map(|d| ProbeRequest::new(d).follow(true).checksum(None))
        .collect();
    let pr = probe(ctx, &reqs).await?;
    let umask = pr.host.umask;
    let dirs = dirs
        .into_iter()
        .zip(pr.paths.iter().map(|st| st.kind != PathKind::Directory))
        .collect();
    let mut installs = Vec::with_capacity(files.len());
    for (local, remote) in files {
        let mut attrs = a.attrs.clone();
        attrs.resolve_preserve(&local)?;
        let header = local.display().to_string();
        let mut inst = a.install(&remote, Source::File(local), attrs, header);
        // ansible-core follows links only for a single file; tree directories come first.
        inst.follow = false;
        inst.needs_parent = false;
        installs.push(inst);
    }
    Ok(TreeSeen {
        root,
        dirs,
        dir_mode: a
            .directory_mode
            .as_ref()
            .map(|m| m.resolve(0o777 & !umask, true, umask)),
        files: install::query(ctx, installs).await?,
    })
}

/// Each file's plan; changed when a directory is missing or a file changes.
pub fn plan(a: &CopyArgs, t: &TreeSeen) -> Result<Plan<super::CopyChanges>, ModuleError> {
    let mkdirs: Vec<String> = t
        .dirs
        .iter()
        .filter(|(_, missing)| *missing)
        .map(|(d, _)| d.clone())
        .collect();
    let mut steps = Vec::new();
    let mut diffs = Vec::new();
    for f in &t.files {
        let p = install::plan(f)?;
        if let Diff::Many(d) = p.result.diff {
            diffs.extend(d);
        }
        steps.extend(p.changes);
    }
    let mut result = ModuleResult::new(false)
        .set("dest", a.dest.as_str())
        .set("src", t.root.display().to_string());
    if !diffs.is_empty() {
        result.diff = Diff::Many(diffs);
    }
    Ok(if mkdirs.is_empty() && steps.is_empty() {
        Plan::nothing(result)
    } else {
        let changes = TreeChanges {
            mkdirs,
            dir_mode: t.dir_mode,
            steps,
        };
        Plan::change(super::CopyChanges::Tree(changes), result)
    })
}

/// Create the missing directories, then write each file.
pub async fn apply(
    ctx: &ModuleContext<'_>,
    a: &CopyArgs,
    t: TreeChanges,
    result: ModuleResult,
) -> Result<ModuleResult, ModuleError> {
    make_dirs(ctx, &t.mkdirs, t.dir_mode).await?;
    for step in t.steps {
        check_written(a, &step)?;
        install::apply(ctx, step, ModuleResult::default()).await?;
    }
    Ok(result)
}

/// Collect remote directory and (local file, remote file) pairs under `dir`, sorted.
fn walk_local(
    dir: &Path,
    remote: &str,
    dirs: &mut Vec<String>,
    files: &mut Vec<(PathBuf, String)>,
) -> Result<(), ModuleError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| ModuleError::new(format!("could not read {}: {e}", dir.display())))?;
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let r = join_remote(remote, &name);
        if p.is_dir() {
            dirs.push(r.clone());
            walk_local(&p, &r, dirs, files)?;
        } else if p.is_file() {
            files.push((p, r));
        }
    }
    Ok(())
}

/// `mkdir -p` each of `dirs` still missing (parents first), then `chmod` it to `mode`.
async fn make_dirs(
    ctx: &ModuleContext<'_>,
    dirs: &[String],
    mode: Option<u32>,
) -> Result<(), ModuleError> {
    if dirs.is_empty() {
        return Ok(());
    }
    let mut script = String::new();
    for d in dirs {
        let q = sh_quote(d);
        let chmod = match mode {
            Some(m) => format!(" && chmod {m:o} {q}"),
            None => String::new(),
        };
        script.push_str(&format!(
            "if [ ! -d {q} ]; then mkdir -p {q}{chmod} || exit 1; fi\n"
        ));
    }
    let out = run_sh(ctx, script, None).await?;
    ensure_status(&out, |e| format!("could not create directories: {e}"))?;
    Ok(())
}
