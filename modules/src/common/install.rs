//! Putting one file in place, shared by `copy` and `template`: one probe (destination, the
//! "destination is a directory" candidate, its parent, a remote source), a checksum comparison,
//! then at most one write or one attribute change. Check mode stops after the comparison and
//! reports what would change; `--diff` gets Ansible's before/after.

use super::attrs::{path_info, AttrChanges, AttrSpec};
use super::diff::{content_diff, state_diff, Before, MAX_DIFF_SIZE};
use super::mode::ModeSpec;
use super::probe::{probe, PathKind, PathStat, ProbeRequest};
use super::write::{set_attrs, write_file, WriteRequest};
use super::{join_remote, remote_dirname};
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::Value;
use sha1::{Digest, Sha1};
use std::path::Path;

/// Where the new content comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// Bytes from the controller (rendered template, `content`, a controller file).
    Data(&'a [u8]),
    /// A controller file, hashed and sent in fixed-size chunks (never whole in memory).
    File(&'a Path),
    /// A file already on the host (`remote_src`).
    Remote(&'a str),
}

/// One file to install.
#[derive(Debug, Clone)]
pub struct Install<'a> {
    pub dest: &'a str,
    pub source: Source<'a>,
    /// Name used inside `dest` when `dest` is a directory (or ends with `/`); `None` refuses that.
    pub basename: Option<String>,
    /// Requested attributes, `mode: preserve` already replaced by the source's mode.
    pub attrs: AttrSpec,
    pub force: bool,
    pub backup: bool,
    pub validate: Option<&'a str>,
    /// Write through a symlinked destination to its target.
    pub follow: bool,
    /// Diff header of the new content (the source path, or the destination for `content`).
    pub after_header: String,
    /// Mode of parent directories created for a `dest` ending in `/` (copy's `directory_mode`).
    pub directory_mode: Option<ModeSpec>,
}

/// SHA-1 of bytes as hex, what `sha1sum` prints and Ansible's `checksum` is.
pub fn sha1_hex(data: &[u8]) -> String {
    hex::encode(Sha1::digest(data))
}

/// [`sha1_hex`] of a controller file, read in fixed-size chunks on a blocking thread.
pub async fn sha1_file(path: &Path) -> Result<String, ModuleError> {
    let p = path.to_path_buf();
    let hashed = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut f = std::fs::File::open(&p)?;
        let mut h = Sha1::new();
        std::io::copy(&mut f, &mut h)?;
        Ok(hex::encode(h.finalize()))
    })
    .await
    .map_err(|e| ModuleError::new(e.to_string()))?;
    hashed.map_err(|e| ModuleError::new(format!("could not read {}: {e}", path.display())))
}

/// At most the first `limit` bytes of a controller file (enough to tell a diff it is too large).
fn file_head(path: &Path, limit: u64) -> Result<Vec<u8>, ModuleError> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit).read_to_end(&mut out))
        .map_err(|e| ModuleError::new(format!("could not read {}: {e}", path.display())))?;
    Ok(out)
}

/// Install `inst.source` at `inst.dest`; the result has Ansible's copy keys (without `src`).
pub async fn install_file(
    ctx: &ModuleContext<'_>,
    inst: &Install<'_>,
) -> Result<ModuleResult, ModuleError> {
    let dir_syntax = inst.dest.ends_with('/');
    let limit = ctx.diff.then_some(MAX_DIFF_SIZE);
    let joined = inst.basename.as_ref().map(|b| join_remote(inst.dest, b));
    let mut reqs = vec![
        ProbeRequest::new(inst.dest)
            .follow(inst.follow)
            .content_up_to(limit),
        ProbeRequest::new(&remote_dirname(inst.dest)).checksum(None),
    ];
    if let Some(j) = &joined {
        reqs.push(
            ProbeRequest::new(j)
                .follow(inst.follow)
                .content_up_to(limit),
        );
    }
    if let Source::Remote(src) = inst.source {
        reqs.push(ProbeRequest::new(src).follow(true));
    }
    let pr = probe(ctx, &reqs).await?;
    let host = pr.host;
    let mut stats = pr.paths.into_iter();
    let dest_st = stats.next().unwrap_or_else(|| PathStat::absent(inst.dest));
    let parent_st = stats.next().unwrap_or_else(|| PathStat::absent(""));
    let joined_st = if joined.is_some() { stats.next() } else { None };

    let new_checksum = match inst.source {
        Source::Data(d) => sha1_hex(d),
        Source::File(p) => sha1_file(p).await?,
        Source::Remote(src) => {
            let st = stats.next().unwrap_or_else(|| PathStat::absent(src));
            match (st.kind, st.checksum) {
                (PathKind::File, Some(c)) => c,
                (PathKind::Absent, _) => {
                    return Err(ModuleError::new(format!("Source {src} not found")))
                }
                _ => {
                    return Err(ModuleError::new(format!(
                        "Source {src} is not a readable regular file"
                    )))
                }
            }
        }
    };

    // Pick the real target: `dest/` or an existing directory means "inside it".
    let mut create_parent = None;
    let (mut target, mut st) = if dir_syntax || dest_st.kind == PathKind::Directory {
        let (Some(j), Some(jst)) = (joined.clone(), joined_st) else {
            return Err(ModuleError::new("can not use content with a dir as dest"));
        };
        if dest_st.kind != PathKind::Directory {
            create_parent = Some(
                inst.directory_mode
                    .as_ref()
                    .map(|m| m.resolve(0o777 & !host.umask, true, host.umask)),
            );
        }
        (j, jst)
    } else {
        // ansible-core's copy/template actions answer `changed` in check mode before the
        // module looks at the destination's directory (it may come from an earlier task).
        let predicted_only = ctx.check_mode && !matches!(inst.source, Source::Remote(_));
        if parent_st.kind != PathKind::Directory && !predicted_only {
            return Err(ModuleError::new(format!(
                "Destination directory {} does not exist",
                remote_dirname(inst.dest)
            )));
        }
        (inst.dest.to_string(), dest_st)
    };
    if inst.follow {
        if let Some(real) = st.link_source.clone().filter(|_| st.link_target.is_some()) {
            target = real;
            st.path = target.clone();
        }
    }
    if st.kind == PathKind::Directory {
        return Err(ModuleError::new(format!(
            "Destination {target} is a directory"
        )));
    }

    if st.exists() && !inst.force {
        let mut r = ModuleResult::new(false).set("dest", target.as_str());
        if let Some(c) = &st.checksum {
            r.insert("checksum", c.as_str());
        }
        path_info(&st, &mut r.extra);
        return Ok(r);
    }

    let content_changed = st.checksum.as_deref() != Some(new_checksum.as_str());
    let base = if st.exists() {
        st.clone()
    } else {
        PathStat::new_by(&target, PathKind::File, &host)
    };
    let attr_changes = inst.attrs.changes(&base, host.umask);
    let changed = content_changed || !attr_changes.is_empty();

    let mut diffs = Vec::new();
    if ctx.diff {
        let after = match inst.source {
            Source::Data(d) => Some(std::borrow::Cow::Borrowed(d)),
            // Enough of the file to show it, or to say it is too large to.
            Source::File(p) => Some(std::borrow::Cow::Owned(file_head(p, MAX_DIFF_SIZE + 1)?)),
            Source::Remote(_) => None,
        };
        if let (true, Some(after)) = (content_changed, after) {
            let before = match (&st.content, st.exists()) {
                (_, false) => Before::Absent,
                (Some(c), true) => Before::Content(c),
                (None, true) => Before::TooLarge,
            };
            diffs.push(Value::Object(content_diff(
                &target,
                before,
                &after,
                &inst.after_header,
            )));
        }
        if !attr_changes.is_empty() {
            diffs.push(Value::Object(state_diff(
                &target,
                None,
                None,
                &attr_changes,
            )));
        }
    }

    let mut result = ModuleResult::new(changed)
        .set("dest", target.as_str())
        .set("checksum", new_checksum.as_str());
    let final_st = if ctx.check_mode || !changed {
        predicted(&base, &attr_changes, inst.source)
    } else if content_changed {
        let owner = attr_changes.owner.as_ref().map(|(_, o)| o.as_str());
        let group = attr_changes.group.as_ref().map(|(_, g)| g.as_str());
        let req = WriteRequest {
            dest: &target,
            data: match inst.source {
                Source::Data(d) => d,
                Source::File(_) | Source::Remote(_) => &[],
            },
            data_file: match inst.source {
                Source::File(p) => Some(p),
                _ => None,
            },
            checksum: Some(&new_checksum),
            mode: attr_changes.mode.map(|(_, m)| m),
            owner,
            group,
            validate: inst.validate,
            backup: inst.backup,
            backup_as: None,
            from_remote: match inst.source {
                Source::Remote(s) => Some(s),
                Source::Data(_) | Source::File(_) => None,
            },
            create_parent,
        };
        let out = write_file(ctx, &req).await?;
        if let Some(b) = out.backup_file {
            result.insert("backup_file", b);
        }
        out.stat
    } else {
        set_attrs(ctx, &target, &attr_changes, false).await?
    };
    path_info(&final_st, &mut result.extra);
    if !diffs.is_empty() {
        result.insert("diff", Value::Array(diffs));
    }
    Ok(result)
}

/// The destination as it will be once the changes are made (check mode, or nothing to do).
fn predicted(base: &PathStat, ch: &AttrChanges, source: Source<'_>) -> PathStat {
    let mut st = base.clone();
    st.kind = PathKind::File;
    match source {
        Source::Data(d) => st.size = d.len() as u64,
        Source::File(p) => st.size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(st.size),
        Source::Remote(_) => {}
    }
    if let Some((_, m)) = ch.mode {
        st.mode = m;
    }
    if let Some((_, o)) = &ch.owner {
        st.owner = o.clone();
    }
    if let Some((_, g)) = &ch.group {
        st.group = g.clone();
    }
    st
}
