//! Planning one state of the path itself (links are in `links.rs`): what changes, the
//! attribute part of it (for the diff), and the sh and agent forms of the change.

use super::args::{fail, FileArgs, Stamp};
use crate::common::attrs::AttrChanges;
use crate::common::probe::{PathKind, PathStat};
use kplay_engine::agent::Request;
use kplay_engine::module::ModuleError;
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;

/// What one state's planning decided for the path.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub changed: bool,
    /// The attribute changes on the path (shown in the diff).
    pub attrs: AttrChanges,
    /// sh carrying the change out.
    pub script: String,
    /// The `src` a link result reports (a link's current target when none was given).
    pub src: Option<String>,
    /// The same change as one agent request, where the agent can make it.
    pub agent: Option<Request>,
}

impl Step {
    pub fn new(changed: bool, attrs: AttrChanges, script: String) -> Step {
        Step {
            changed,
            attrs,
            script,
            src: None,
            agent: None,
        }
    }
}

/// What planning a state needs besides the arguments.
pub struct Here<'a> {
    /// The path acted on.
    pub path: &'a str,
    /// The path as the state sees it (followed through a symlink unless it acts on the link).
    pub prev: &'a PathStat,
    /// Ansible's word for what `prev` is.
    pub prev_state: &'static str,
    pub umask: u32,
}

/// `state=absent`: remove whatever is there.
pub fn plan_absent(h: &Here<'_>) -> Step {
    let mut step = Step::new(
        h.prev.exists(),
        AttrChanges::default(),
        format!("rm -rf -- {}\n", sh_quote(h.path)),
    );
    step.agent = Some(Request::Remove {
        path: h.path.to_string(),
    });
    step
}

/// `state=file`: only attributes of an existing regular file.
pub fn plan_file(a: &FileArgs, h: &Here<'_>) -> Result<Step, ModuleError> {
    let path = h.path;
    if !h.prev.exists() {
        let mut m = Map::new();
        m.insert("path".into(), path.into());
        m.insert("state".into(), "absent".into());
        return Err(ModuleError::with_result(
            format!("file ({path}) is absent, cannot continue"),
            m,
        ));
    }
    if h.prev.kind != PathKind::File {
        return Err(fail(
            format!("file ({path}) is {}, cannot continue", h.prev_state),
            path,
        ));
    }
    let ch = a.attrs.changes(h.prev, h.umask);
    let script = ch.shell(path, false);
    let mut step = Step::new(!ch.is_empty(), ch, script);
    step.agent = Some(set_attrs(path, &step.attrs));
    Ok(step)
}

fn set_attrs(path: &str, ch: &AttrChanges) -> Request {
    Request::SetAttrs {
        path: path.to_string(),
        attrs: ch.to_agent(),
        no_deref: false,
    }
}

/// `state=directory`: attributes of an existing directory, or the directory and its missing
/// parents made, each with the requested attributes (as Ansible does).
pub fn plan_directory(a: &FileArgs, h: &Here<'_>) -> Result<Step, ModuleError> {
    let path = h.path;
    match h.prev.kind {
        PathKind::Directory => {
            let ch = a.attrs.changes(h.prev, h.umask);
            let script = ch.shell(path, false);
            let mut step = Step::new(!ch.is_empty(), ch, script);
            step.agent = Some(set_attrs(path, &step.attrs));
            Ok(step)
        }
        PathKind::Absent => Ok(make_directory(a, h)),
        _ => Err(fail(
            format!("{path} already exists as a {}", h.prev_state),
            path,
        )),
    }
}

fn make_directory(a: &FileArgs, h: &Here<'_>) -> Step {
    let base = PathStat {
        kind: PathKind::Directory,
        mode: 0o777 & !h.umask,
        ..h.prev.clone()
    };
    let ch = a.attrs.changes(&base, h.umask);
    // The mode is given to mkdir itself and owner/group never follow a link: between
    // creating a component and fixing it by name, another user who can write to the
    // parent could swap in a link to a file of their choosing (issue [10]).
    let owner_group = AttrChanges {
        mode: None,
        ..ch.clone()
    };
    let mkdir = match ch.mode {
        Some((_, m)) => format!("mkdir -m {m:o} --"),
        None => "mkdir --".to_string(),
    };
    let mut s = String::new();
    for c in components(h.path) {
        let cq = sh_quote(&c);
        let fix = owner_group.shell(&c, true).replace('\n', "; ");
        s.push_str(&format!("if [ ! -d {cq} ]; then {mkdir} {cq}; {fix}fi\n"));
    }
    let mut step = Step::new(true, ch, s);
    step.agent = Some(Request::Mkdir {
        path: h.path.to_string(),
        attrs: step.attrs.to_agent(),
    });
    step
}

/// `/a/b/c` → `/a`, `/a/b`, `/a/b/c`.
pub fn components(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    if path.starts_with('/') {
        cur.push('/');
    }
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if !cur.is_empty() && !cur.ends_with('/') {
            cur.push('/');
        }
        cur.push_str(part);
        out.push(cur.clone());
    }
    out
}

/// `state=touch`: create an empty file if missing, then the attributes (the times are
/// [`stamps`]'s, as for every state). ansible-core touches any existing kind; only a dangling
/// symlink cannot have its times set.
pub fn plan_touch(a: &FileArgs, h: &Here<'_>) -> Result<Step, ModuleError> {
    let (path, prev) = (h.path, h.prev);
    if prev.kind == PathKind::Link && a.follow {
        return Err(fail(
            format!("Error while updating modification or access time: [Errno 2] No such file or directory: '{path}'"),
            path,
        ));
    }
    let base = if prev.exists() {
        prev.clone()
    } else {
        PathStat {
            kind: PathKind::File,
            mode: 0o666 & !h.umask,
            ..prev.clone()
        }
    };
    let ch = a.attrs.changes(&base, h.umask);
    let mut s = if prev.exists() {
        String::new()
    } else {
        format!(": >> {}\n", sh_quote(path))
    };
    s.push_str(&ch.shell(path, false));
    Ok(Step::new(!prev.exists() || !ch.is_empty(), ch, s))
}

/// `modification_time`/`access_time` (ansible-core's `update_timestamp_for_file`, for every
/// state but absent): sh setting them on `path` (through a symlink) and whether that changes
/// `current`. `now` always does; a given time (`at`: its epoch on the host) when it differs.
pub fn stamps(
    a: &FileArgs,
    path: &str,
    current: &PathStat,
    at: (Option<f64>, Option<f64>),
) -> (bool, String) {
    let q = sh_quote(path);
    let mut s = String::new();
    let mut changed = false;
    let asked = [
        ("-m", &a.mtime, at.0, current.mtime),
        ("-a", &a.atime, at.1, current.atime),
    ];
    for (flag, stamp, epoch, now) in asked {
        match stamp {
            Stamp::Preserve => {}
            Stamp::Now => {
                changed = true;
                s.push_str(&format!("touch {flag} -c -- {q}\n"));
            }
            Stamp::At(t) => {
                if !current.exists() || epoch != Some(now) {
                    changed = true;
                    s.push_str(&format!("touch {flag} -c -t {t} -- {q}\n"));
                }
            }
        }
    }
    (changed, s)
}
