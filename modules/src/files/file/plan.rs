//! `file`'s pure plan: infer the state, check the options against it, plan that state and the
//! tree below a directory, and build the result (ansible-core's keys and diff) without the host.

use super::args::{check_state_options, FileArgs, State};
use super::links::{plan_hard, plan_link, Targets};
use super::query::Seen;
use super::states::{plan_absent, plan_directory, plan_file, plan_touch, stamps, Here, Step};
use super::tree::{fix_script, plan_tree};
use crate::common::attrs::state_name;
use crate::common::diff::state_diff;
use crate::common::mode::format_mode;
use crate::common::probe::{PathKind, PathStat};
use crate::planned::Plan;
use kplay_engine::agent::Request;
use kplay_engine::module::{ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};

/// What `apply` is to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    /// The path acted on.
    pub path: String,
    /// sh for the change of the path itself (empty when only the tree changes).
    pub script: String,
    /// The same change as one agent request, where the agent can make it.
    pub agent: Option<Request>,
    /// sh fixing the tree below a directory (`recurse`), empty when it is as asked.
    pub tree_fix: String,
    /// `state=absent`: the result reports no path info afterwards.
    pub removes: bool,
}

/// The state asked for, or (without `state`) the current kind, `directory` for a missing
/// path with `recurse`, else `file` (ansible-core's default).
pub fn effective_state(a: &FileArgs, own: &PathStat) -> State {
    match a.state {
        Some(s) => s,
        None if own.exists() => match current_state(own) {
            "hard" => State::Hard,
            "link" => State::Link,
            "directory" => State::Directory,
            _ => State::File,
        },
        None if a.recurse => State::Directory,
        None => State::File,
    }
}

/// Ansible's `get_state`: the kind of `path` itself (a symlink is `link`, a regular file with
/// a second name is `hard`).
pub fn current_state(own: &PathStat) -> &'static str {
    if own.kind == PathKind::File && own.nlink > 1 {
        "hard"
    } else {
        state_name(own.kind)
    }
}

/// Plan `file` for what was seen.
pub fn plan(a: &FileArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
    let state = effective_state(a, &seen.own);
    let resolved = resolve_link(a, state, seen);
    let seen = resolved.as_ref().unwrap_or(seen);
    let path = seen.path.as_str();
    // Ansible's fail_json adds the path's current info to a failure that names it.
    let with_info = |mut e: ModuleError| {
        if e.result.contains_key("path") || e.result.contains_key("dest") {
            add_path_info(&seen.own, &seen.followed, &mut e.result);
        }
        e
    };
    check_state_options(state, a.src.is_some(), a.recurse, path).map_err(with_info)?;
    // Through a symlink (followed) unless the state acts on the link itself.
    let through = !state.acts_on_link()
        && seen.own.kind == PathKind::Link
        && a.follow
        && seen.followed.exists();
    let prev = if through { &seen.followed } else { &seen.own };
    let here = Here {
        path,
        prev,
        prev_state: if state.acts_on_link() {
            current_state(&seen.own)
        } else {
            current_state(prev)
        },
        umask: seen.umask,
    };
    let mut step = plan_state(a, state, &here, seen).map_err(with_info)?;
    if state != State::Absent {
        let current = if state.acts_on_link() {
            &seen.followed
        } else {
            prev
        };
        let (changed, script) = stamps(a, path, current, seen.stamps);
        if !script.is_empty() {
            // The agent sets no times: the whole change goes by sh.
            step.agent = None;
            step.script.push_str(&script);
        }
        step.changed |= changed;
    }
    let tree_fix = tree_fix(a, state, prev, seen);
    let result = result(state, &here, &step, seen, !tree_fix.is_empty());
    if !result.changed {
        return Ok(Plan::nothing(result));
    }
    let changes = Changes {
        path: path.to_string(),
        script: if step.changed {
            step.script
        } else {
            String::new()
        },
        agent: step.agent.filter(|_| step.changed),
        tree_fix,
        removes: state == State::Absent,
    };
    Ok(Plan::change(changes, result))
}

/// ansible-core's `file` and `directory` states act on the `realpath` of a followed symlink
/// (a dangling one included) and report that path: the link's resolved target as the path.
fn resolve_link(a: &FileArgs, state: State, seen: &Seen) -> Option<Seen> {
    if !(matches!(state, State::File | State::Directory)
        && a.follow
        && seen.own.kind == PathKind::Link)
    {
        return None;
    }
    let real = seen.own.link_source.clone()?;
    Some(Seen {
        own: PathStat {
            path: real.clone(),
            ..seen.followed.clone()
        },
        followed: PathStat {
            path: real.clone(),
            ..seen.followed.clone()
        },
        path: real,
        ..seen.clone()
    })
}

/// sh fixing the tree below an existing directory (`recurse`), empty when it is as asked.
fn tree_fix(a: &FileArgs, state: State, prev: &PathStat, seen: &Seen) -> String {
    match &seen.tree {
        Some(entries) if state == State::Directory && prev.kind == PathKind::Directory => {
            fix_script(
                &a.attrs,
                &plan_tree(&a.attrs, entries, seen.umask),
                &seen.tree_root,
            )
        }
        _ => String::new(),
    }
}

fn plan_state(
    a: &FileArgs,
    state: State,
    here: &Here<'_>,
    seen: &Seen,
) -> Result<Step, ModuleError> {
    let targets = Targets {
        followed: &seen.followed,
        src: seen.src.as_ref(),
        link_src: seen.link_src.as_deref(),
    };
    match state {
        State::Absent => Ok(plan_absent(here)),
        State::File => plan_file(a, here),
        State::Directory => plan_directory(a, here),
        State::Touch => plan_touch(a, here),
        State::Link => plan_link(a, here, &targets),
        State::Hard => plan_hard(a, here, &targets),
    }
}

/// The task's result as check mode reports it; `apply` replaces the path info with what it
/// finds afterwards.
fn result(
    state: State,
    here: &Here<'_>,
    step: &Step,
    seen: &Seen,
    tree_changed: bool,
) -> ModuleResult {
    let mut result = ModuleResult::new(step.changed || tree_changed);
    if matches!(state, State::Link | State::Hard) {
        // ensure_symlink/ensure_hardlink answer with `dest` and `src` (null when not given).
        result.insert("dest", here.path);
        result.insert(
            "src",
            step.src.clone().map(Value::String).unwrap_or(Value::Null),
        );
    } else if state == State::Touch {
        // execute_touch answers with `dest` alone.
        result.insert("dest", here.path);
    } else {
        result.insert("path", here.path);
    }
    let diff = state_diff(
        here.path,
        Some(here.prev_state),
        Some(state.as_str()),
        &step.attrs,
    );
    result.insert("diff", Value::Object(diff));
    if state == State::Absent {
        result.insert("state", "absent");
    } else {
        add_path_info(&seen.own, &seen.followed, &mut result.extra);
    }
    result
}

/// The keys [`add_path_info`] may set, so `apply` can replace them.
pub const PATH_INFO_KEYS: &[&str] = &["uid", "gid", "owner", "group", "mode", "state", "size"];

/// Ansible's `add_path_info`: nothing when the path (followed) does not exist; otherwise owner,
/// mode and size of the path itself and its current state.
pub fn add_path_info(own: &PathStat, followed: &PathStat, result: &mut Map) {
    if !followed.exists() {
        return;
    }
    result.insert("uid".into(), own.uid.into());
    result.insert("gid".into(), own.gid.into());
    result.insert("owner".into(), Value::String(own.owner.clone()));
    result.insert("group".into(), Value::String(own.group.clone()));
    result.insert("mode".into(), Value::String(format_mode(own.mode)));
    let state = match (own.kind, followed.kind) {
        (PathKind::Link, _) => "link",
        (_, PathKind::Directory) => "directory",
        _ if followed.nlink > 1 => "hard",
        _ => "file",
    };
    result.insert("state".into(), Value::String(state.into()));
    result.insert("size".into(), own.size.into());
}
