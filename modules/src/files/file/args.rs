//! `file`'s declared arguments and their checks: the SPEC, the `state` enum, timestamps, and
//! ansible-core's option checks that depend on the (given or inferred) state.

use crate::common::args::{p, Param, Spec, FILE_COMMON};
use crate::common::attrs::AttrSpec;
use kplay_engine::module::ModuleError;
use kplay_engine::value::{Map, Value};

const STATES: &[&str] = &["absent", "directory", "file", "hard", "link", "touch"];

const PARAMS: &[Param] = &[
    p("path", &["dest", "name"])
        .path()
        .required()
        .doc("Path to the file being managed."),
    p("state", &[])
        .choices(STATES)
        .doc("What `path` should be; without it, the current kind (or `file`) is kept."),
    p("src", &[])
        .path()
        .doc("Target of the link, for state=link or state=hard."),
    p("recurse", &[])
        .flag(false)
        .doc("Apply owner/group/mode to everything below a directory."),
    p("force", &[])
        .flag(false)
        .doc("Replace an existing file with a link, or link to a missing target."),
    p("follow", &[])
        .flag(true)
        .doc("Act on the target of a symbolic link."),
    p("modification_time", &[])
        .str()
        .doc("`now`, `preserve` or a time in `modification_time_format`."),
    p("modification_time_format", &[])
        .default_str("%Y%m%d%H%M.%S")
        .doc("strftime format of `modification_time`."),
    p("access_time", &[])
        .str()
        .doc("`now`, `preserve` or a time in `access_time_format`."),
    p("access_time_format", &[])
        .default_str("%Y%m%d%H%M.%S")
        .doc("strftime format of `access_time`."),
    p("_original_basename", &[])
        .str()
        .doc("Internal: the source's name, set by copy/template."),
    p("_diff_peek", &[]).doc("Internal: accepted and ignored."),
];

/// `file`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "file",
    "Manage files and file properties",
    &[PARAMS, FILE_COMMON],
);

/// What `path` is to be (ansible-core's `state`), or what it is now (`get_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Absent,
    Directory,
    File,
    Hard,
    Link,
    Touch,
}

impl State {
    fn parse(s: &str) -> Option<State> {
        Some(match s {
            "absent" => State::Absent,
            "directory" => State::Directory,
            "file" => State::File,
            "hard" => State::Hard,
            "link" => State::Link,
            "touch" => State::Touch,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Absent => "absent",
            State::Directory => "directory",
            State::File => "file",
            State::Hard => "hard",
            State::Link => "link",
            State::Touch => "touch",
        }
    }

    /// Links, hard links and removal act on the path itself; the others through a symlink.
    pub fn acts_on_link(self) -> bool {
        matches!(self, State::Link | State::Hard | State::Absent)
    }
}

/// A `modification_time`/`access_time` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stamp {
    Now,
    Preserve,
    /// `touch -t` format `CCYYMMDDhhmm.SS`.
    At(String),
}

/// Checked `file` arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct FileArgs {
    pub path: String,
    pub state: Option<State>,
    pub src: Option<String>,
    pub recurse: bool,
    pub force: bool,
    pub follow: bool,
    pub attrs: AttrSpec,
    pub mtime: Stamp,
    pub atime: Stamp,
    /// `_original_basename` (set by copy/template when they hand a directory `dest` over).
    pub original_basename: Option<String>,
}

impl FileArgs {
    pub fn parse(args: Map) -> Result<FileArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let state = a.choice("state", STATES)?.as_deref().and_then(State::parse);
        let src = a.str("src")?;
        let recurse = a.flag("recurse");
        let path = a.str("path")?.unwrap_or_default();
        // With no `state` the checks wait until the state is inferred from the host.
        if let Some(st) = state {
            check_state_options(st, src.is_some(), recurse, &path)?;
        }
        let default_stamp = if state == Some(State::Touch) {
            Stamp::Now
        } else {
            Stamp::Preserve
        };
        let format = |k: &str| -> Result<String, ModuleError> {
            Ok(a.str(k)?.unwrap_or_else(|| "%Y%m%d%H%M.%S".into()))
        };
        let (mfmt, afmt) = (
            format("modification_time_format")?,
            format("access_time_format")?,
        );
        Ok(FileArgs {
            path,
            state,
            src,
            recurse,
            force: a.flag("force"),
            follow: a.flag("follow"),
            attrs: AttrSpec::from_args(&a, false)?,
            mtime: stamp(a.str("modification_time")?, &mfmt, default_stamp.clone())?,
            atime: stamp(a.str("access_time")?, &afmt, default_stamp)?,
            original_basename: a.str("_original_basename")?,
        })
    }
}

/// Ansible's option checks that depend on the (given or inferred) state, in its order.
pub fn check_state_options(
    state: State,
    has_src: bool,
    recurse: bool,
    path: &str,
) -> Result<(), ModuleError> {
    if recurse && state != State::Directory {
        return Err(fail(
            "recurse option requires state to be 'directory'".into(),
            path,
        ));
    }
    if has_src && !matches!(state, State::Link | State::Hard) {
        return Err(fail(
            "src option requires state to be 'link' or 'hard'".into(),
            path,
        ));
    }
    Ok(())
}

/// Ansible's `fail_json(path=…)`: the path goes into the failed result.
pub fn fail(msg: String, path: &str) -> ModuleError {
    let mut m = Map::new();
    m.insert("path".into(), Value::String(path.to_string()));
    ModuleError::with_result(msg, m)
}

fn stamp(v: Option<String>, fmt: &str, default: Stamp) -> Result<Stamp, ModuleError> {
    match v.as_deref() {
        None => Ok(default),
        Some("now") => Ok(Stamp::Now),
        Some("preserve") => Ok(Stamp::Preserve),
        Some(s) => chrono::NaiveDateTime::parse_from_str(s, fmt)
            .map(|t| Stamp::At(t.format("%Y%m%d%H%M.%S").to_string()))
            .map_err(|_| {
                ModuleError::new(format!(
                    "Error while obtaining timestamp for time {s} using format {fmt}"
                ))
            }),
    }
}
