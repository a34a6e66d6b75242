//! The pure decision for one file: which path is the real target, whether its content or
//! attributes differ, and the result and diff ansible-core's copy reports.

use super::{Install, Queried, Seen, SourceSeen, Step, Write};
use crate::common::attrs::{path_info, AttrChanges};
use crate::common::diff::{content_diff, state_diff, Before};
use crate::common::probe::{PathKind, PathStat};
use crate::common::remote_dirname;
use crate::planned::Plan;
use kplay_engine::module::{Diff, ModuleError, ModuleResult};

/// Decide what installing `q.install` changes, from what `q.seen` holds only.
pub fn plan(q: &Queried) -> Result<Plan<Step>, ModuleError> {
    let (inst, seen) = (&q.install, &q.seen);
    let new = NewContent::of(seen)?;
    let Target {
        path: target,
        stat: st,
        create_parent,
        missing_parent,
    } = target(inst, seen)?;
    if st.kind == PathKind::Directory {
        return Err(ModuleError::new(format!(
            "Destination {target} is a directory"
        )));
    }
    if st.exists() && !inst.force {
        // ansible-core's action skips the file: only `dest` (and `src`) are reported.
        return Ok(Plan::nothing(
            ModuleResult::new(false).set("dest", inst.dest.as_str()),
        ));
    }

    let content_changed = st.checksum.as_deref() != Some(new.checksum);
    let base = match st.exists() {
        true => st.clone(),
        false => PathStat::new_by(&target, PathKind::File, &seen.host),
    };
    let attrs = inst.attrs.changes(&base, seen.host.umask);
    let mut result = ModuleResult::new(false);
    // ansible-core's action answers a content change in check mode by itself (`changed` and
    // the diff only); otherwise its module (or the file module) reports the path.
    if !content_changed || matches!(seen.source, SourceSeen::Remote(_)) {
        result.insert("dest", target.as_str());
        result.insert("checksum", new.checksum);
        path_info(&predicted(&base, &attrs, new.size), &mut result.extra);
    }
    if !content_changed && attrs.is_empty() {
        return Ok(Plan::nothing(result));
    }
    let d = diffs(inst, seen, &target, &st, content_changed, &attrs);
    if !d.is_empty() {
        result.diff = Diff::Many(d);
    }
    let step = if let Some(msg) = missing_parent {
        let checksum = new.checksum.to_string();
        Step::Fail { msg, checksum }
    } else if content_changed {
        Step::Write(Box::new(Write {
            target,
            source: inst.source.clone(),
            checksum: new.checksum.to_string(),
            md5: new.md5.map(str::to_string),
            attrs,
            validate: inst.validate.clone(),
            backup: inst.backup,
            create_parent,
        }))
    } else {
        Step::Attrs { target, attrs }
    };
    Ok(Plan::change(step, result))
}

/// The new content's digests and size.
struct NewContent<'a> {
    checksum: &'a str,
    md5: Option<&'a str>,
    size: Option<u64>,
}

impl<'a> NewContent<'a> {
    /// From the source as seen; a remote source must be a readable regular file.
    fn of(seen: &'a Seen) -> Result<Self, ModuleError> {
        match &seen.source {
            SourceSeen::Controller {
                checksum,
                md5,
                size,
                ..
            } => Ok(NewContent {
                checksum,
                md5: Some(md5),
                size: Some(*size),
            }),
            SourceSeen::Remote(st) => match (st.kind, &st.checksum) {
                (PathKind::File, Some(c)) => Ok(NewContent {
                    checksum: c,
                    md5: None,
                    size: Some(st.size),
                }),
                (PathKind::Absent, _) => {
                    Err(ModuleError::new(format!("Source {} not found", st.path)))
                }
                _ => Err(ModuleError::new(format!(
                    "Source {} is not a readable regular file",
                    st.path
                ))),
            },
        }
    }
}

/// The file actually written.
struct Target {
    path: String,
    stat: PathStat,
    /// `dest/` into a missing directory: create it (with this mode when given).
    create_parent: Option<Option<u32>>,
    /// The parent is missing: the run fails with this (check mode predicts a change).
    missing_parent: Option<String>,
}

/// `dest/` or an existing directory means "inside it"; a followed link means its target.
fn target(inst: &Install, seen: &Seen) -> Result<Target, ModuleError> {
    let dir_syntax = inst.dest.ends_with('/');
    let mut t = Target {
        path: inst.dest.clone(),
        stat: seen.dest.clone(),
        create_parent: None,
        missing_parent: None,
    };
    if dir_syntax || seen.dest.kind == PathKind::Directory {
        let (Some(j), Some(jst)) = (inst.joined(), seen.joined.clone()) else {
            return Err(ModuleError::new("can not use content with a dir as dest"));
        };
        if seen.dest.kind != PathKind::Directory {
            let umask = seen.host.umask;
            t.create_parent = Some(
                inst.directory_mode
                    .as_ref()
                    .map(|m| m.resolve(0o777 & !umask, true, umask)),
            );
        }
        t.path = j;
        t.stat = jst;
    } else if inst.needs_parent && seen.parent.kind != PathKind::Directory {
        let msg = format!(
            "Destination directory {} does not exist",
            remote_dirname(&inst.dest)
        );
        // With a remote source ansible-core's module runs even in check mode, and fails.
        if matches!(seen.source, SourceSeen::Remote(_)) {
            return Err(ModuleError::new(msg));
        }
        t.missing_parent = Some(msg);
    }
    if inst.follow {
        if let Some(real) = t
            .stat
            .link_source
            .clone()
            .filter(|_| t.stat.link_target.is_some())
        {
            t.path = real;
            t.stat.path = t.path.clone();
        }
    }
    Ok(t)
}

/// Ansible's diff entries: the content (when it changes and both sides are known) and the
/// attributes.
fn diffs(
    inst: &Install,
    seen: &Seen,
    target: &str,
    st: &PathStat,
    content_changed: bool,
    attrs: &AttrChanges,
) -> Vec<kplay_engine::value::Map> {
    let mut out = Vec::new();
    let after = match (&inst.source, &seen.source) {
        (super::Source::Data(d), _) => Some(d.as_slice()),
        (_, SourceSeen::Controller { head: Some(h), .. }) => Some(h.as_slice()),
        _ => None,
    };
    if let (true, true, Some(after)) = (content_changed, seen.content_read, after) {
        let before = match (&st.content, st.exists()) {
            (_, false) => Before::Absent,
            (Some(c), true) => Before::Content(c),
            (None, true) => Before::TooLarge,
        };
        out.push(content_diff(target, before, after, &inst.after_header));
    }
    if !attrs.is_empty() {
        out.push(state_diff(target, None, None, attrs));
    }
    out
}

/// The destination as it will be once the changes are made.
fn predicted(base: &PathStat, ch: &AttrChanges, size: Option<u64>) -> PathStat {
    let mut st = base.clone();
    st.kind = PathKind::File;
    if let Some(s) = size {
        st.size = s;
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
