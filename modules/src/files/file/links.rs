//! Planning `state=link` and `state=hard`, as ansible-core's `ensure_symlink` and
//! `ensure_hardlink`.

use super::args::{fail, FileArgs};
use super::states::{Here, Step};
use crate::common::attrs::{AttrChanges, AttrSpec};
use crate::common::probe::{PathKind, PathStat};
use kplay_engine::module::ModuleError;
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

/// What a link or hard link points at: the path followed, and `src` (followed) when given.
pub struct Targets<'a> {
    pub followed: &'a PathStat,
    pub src: Option<&'a PathStat>,
    /// `src` made absolute against the path's directory.
    pub link_src: Option<&'a str>,
}

/// `state=link`: with no `src`, an existing link keeps its target; with `follow` the
/// attributes go to what the link points at.
pub fn plan_link(a: &FileArgs, h: &Here<'_>, t: &Targets<'_>) -> Result<Step, ModuleError> {
    let (path, prev) = (h.path, h.prev);
    let target = match a.src.clone() {
        Some(s) => Some(s),
        None if a.follow && t.followed.exists() => prev.link_target.clone(),
        None => None,
    };
    if let Some(src) = a.src.as_deref() {
        if !a.force && !t.src.is_some_and(PathStat::exists) {
            return Err(fail(
                format!(
                    "src file does not exist, use \"force=yes\" if you really want to create the link: {}",
                    t.link_src.unwrap_or(src)
                ),
                path,
            ));
        }
    }
    let same = prev.kind == PathKind::Link
        && (target.is_none() || prev.link_target.as_deref() == target.as_deref());
    let mut s = if same {
        String::new()
    } else {
        link_script(a, h, target.as_deref())?
    };
    // What the link will point at once it is in place (Ansible then sets attributes through it).
    let pointee = if same { Some(t.followed) } else { t.src };
    let ch = match pointee.filter(|p| a.follow && p.exists()) {
        Some(p) => a.attrs.changes(p, h.umask),
        None if same => a.attrs.changes(prev, h.umask),
        None => owner_group_only(&a.attrs),
    };
    let deref = a.follow && pointee.is_some_and(PathStat::exists);
    s.push_str(&ch.shell(path, !deref));
    let mut step = Step::new(!same || !ch.is_empty(), ch, s);
    step.src = target;
    Ok(step)
}

/// sh that puts a symlink to `target` at the path, replacing what is there only with `force`.
fn link_script(a: &FileArgs, h: &Here<'_>, target: Option<&str>) -> Result<String, ModuleError> {
    let q = sh_quote(h.path);
    let Some(to) = target.map(sh_quote) else {
        return Err(ModuleError::new(
            "src is required for creating new symlinks",
        ));
    };
    match h.prev.kind {
        PathKind::Absent | PathKind::Link => Ok(format!("ln -sfn -- {to} {q}\n")),
        PathKind::Directory if a.force => Ok(format!("rmdir -- {q}\nln -s -- {to} {q}\n")),
        _ if a.force => Ok(format!("rm -f -- {q}\nln -s -- {to} {q}\n")),
        _ => Err(fail(
            format!(
                "refusing to convert from {} to symlink for {}",
                h.prev_state, h.path
            ),
            h.path,
        )),
    }
}

/// A new symlink gets the requested owner/group (mode does not apply to links).
fn owner_group_only(spec: &AttrSpec) -> AttrChanges {
    AttrChanges {
        owner: spec.owner.as_ref().map(|o| (String::new(), o.clone())),
        group: spec.group.as_ref().map(|g| (String::new(), g.clone())),
        mode: None,
    }
}

/// `state=hard`: `src` is only needed to create a new hard link; without it an existing hard
/// link just gets its attributes.
pub fn plan_hard(a: &FileArgs, h: &Here<'_>, t: &Targets<'_>) -> Result<Step, ModuleError> {
    let (path, prev) = (h.path, h.prev);
    if h.prev_state != "hard" && a.src.is_none() {
        return Err(ModuleError::new(
            "src is required for creating new hardlinks",
        ));
    }
    let src_st = match &a.src {
        Some(src) => Some(t.src.filter(|s| s.exists()).ok_or_else(|| {
            let mut m = Map::new();
            m.insert("dest".into(), path.into());
            m.insert("src".into(), src.as_str().into());
            ModuleError::with_result("src does not exist", m)
        })?),
        None => None,
    };
    if h.prev_state == "directory" {
        return hard_over_directory(a, h, src_st);
    }
    let mut s = hard_script(a, h, t, src_st)?;
    let linked = !s.is_empty();
    // After linking, the path is src's inode; otherwise it is what is there now.
    let base = if linked { src_st.unwrap_or(prev) } else { prev };
    let ch = a.attrs.changes(base, h.umask);
    s.push_str(&ch.shell(path, false));
    let mut step = Step::new(linked || !ch.is_empty(), ch, s);
    step.src = a.src.clone();
    Ok(step)
}

/// sh linking `src` at the path, empty when it already is that inode.
fn hard_script(
    a: &FileArgs,
    h: &Here<'_>,
    t: &Targets<'_>,
    src_st: Option<&PathStat>,
) -> Result<String, ModuleError> {
    let (q, prev) = (sh_quote(h.path), h.prev);
    let from = sh_quote(t.link_src.unwrap_or_default());
    // `ln -f -n` swaps the name for the new link (a symlink to a directory is replaced, not
    // entered), as Ansible's link-to-temp-and-rename does.
    let replace = format!("ln -f -n -- {from} {q}\n");
    Ok(match h.prev_state {
        "absent" => format!("ln -- {from} {q}\n"),
        "link" if prev.link_target.as_deref() != a.src.as_deref() => replace,
        "link" => String::new(),
        "hard" if src_st.is_some_and(|st| !same_inode(st, prev)) => {
            if !a.force {
                return Err(link_error(
                    a,
                    h.path,
                    "Cannot link, different hard link exists at destination",
                ));
            }
            replace
        }
        "hard" => String::new(),
        other if !a.force => {
            return Err(link_error(
                a,
                h.path,
                &format!("Cannot link, {other} exists at destination"),
            ))
        }
        _ => replace,
    })
}

/// A hard link asked for where a directory is: nothing when it is `src` itself, else refused.
fn hard_over_directory(
    a: &FileArgs,
    h: &Here<'_>,
    src_st: Option<&PathStat>,
) -> Result<Step, ModuleError> {
    if src_st.is_some_and(|st| same_inode(st, h.prev)) {
        return Ok(Step::new(false, AttrChanges::default(), String::new()));
    }
    if !a.force {
        return Err(link_error(
            a,
            h.path,
            "Cannot link: different hard link exists at destination",
        ));
    }
    Err(fail(
        format!(
            "Error while replacing: [Errno 21] Is a directory: '{}'",
            h.path
        ),
        h.path,
    ))
}

fn same_inode(a: &PathStat, b: &PathStat) -> bool {
    a.inode == b.inode && a.dev == b.dev
}

/// ansible-core's hard link failures name `dest` and `src` (null when not given).
fn link_error(a: &FileArgs, path: &str, msg: &str) -> ModuleError {
    let mut m = Map::new();
    m.insert("dest".into(), path.into());
    m.insert(
        "src".into(),
        a.src.clone().map(Value::String).unwrap_or(Value::Null),
    );
    ModuleError::with_result(msg.to_string(), m)
}
