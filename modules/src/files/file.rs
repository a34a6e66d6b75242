//! `file`: make a path be a file (attributes only), directory, symlink, hard link, touched file,
//! or absent. One probe, then (unless nothing changes or in check mode) one script that does the
//! work and reports the final stat.

use crate::common::args::{p, Param, Spec, FILE_COMMON};
use crate::common::attrs::{agent_attr_failure, attr_failure, state_name, AttrChanges, AttrSpec};
use crate::common::diff::state_diff;
use crate::common::mode::{format_mode, ModeSpec};
use crate::common::probe::{parse_reply, probe, PathKind, PathStat, ProbeRequest, PROBE_FN};
use crate::common::{agent_call, join_remote, remote_dirname, run_sh};
use async_trait::async_trait;
use kplay_engine::agent::{Reply, Request};
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

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

const STATES: &[&str] = &["absent", "directory", "file", "hard", "link", "touch"];

/// A `modification_time`/`access_time` request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stamp {
    Now,
    Preserve,
    /// `touch -t` format `CCYYMMDDhhmm.SS`.
    At(String),
}

/// Checked `file` arguments.
#[derive(Debug, Clone)]
struct FileArgs {
    path: String,
    state: Option<String>,
    src: Option<String>,
    recurse: bool,
    force: bool,
    follow: bool,
    attrs: AttrSpec,
    mtime: Stamp,
    atime: Stamp,
    /// `_original_basename` (set by copy/template when they hand a directory `dest` over).
    original_basename: Option<String>,
}

impl FileArgs {
    fn parse(args: Map) -> Result<FileArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let state = a.choice("state", STATES)?;
        let src = a.str("src")?;
        let recurse = a.flag("recurse");
        let st = state.as_deref();
        let path = a.str("path")?.unwrap_or_default();
        // With no `state` the checks wait until the state is inferred from the host.
        if let Some(st) = st {
            check_state_options(st, src.is_some(), recurse, &path)?;
        }
        let default_stamp = if st == Some("touch") {
            Stamp::Now
        } else {
            Stamp::Preserve
        };
        let mfmt = a
            .str("modification_time_format")?
            .unwrap_or_else(|| "%Y%m%d%H%M.%S".into());
        let afmt = a
            .str("access_time_format")?
            .unwrap_or_else(|| "%Y%m%d%H%M.%S".into());
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
fn check_state_options(
    state: &str,
    has_src: bool,
    recurse: bool,
    path: &str,
) -> Result<(), ModuleError> {
    if recurse && state != "directory" {
        return Err(fail(
            "recurse option requires state to be 'directory'".into(),
            path,
        ));
    }
    if has_src && !matches!(state, "link" | "hard") {
        return Err(fail(
            "src option requires state to be 'link' or 'hard'".into(),
            path,
        ));
    }
    Ok(())
}

/// Ansible's `get_state`: the kind of `path` itself (a symlink is `link`, a regular file with
/// a second name is `hard`).
fn current_state(own: &PathStat) -> &'static str {
    if own.kind == PathKind::File && own.nlink > 1 {
        "hard"
    } else {
        state_name(own.kind)
    }
}

/// Ansible's `add_path_info`: nothing when the path (followed) does not exist; otherwise owner,
/// mode and size of the path itself and its current state.
fn add_path_info(own: &PathStat, followed: &PathStat, result: &mut Map) {
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

pub struct FileModule;

#[async_trait]
impl Module for FileModule {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let mut a = FileArgs::parse(args)?;
        let mut seen = Probed::take(ctx, &a).await?;
        // Ansible puts a file/hard link given a directory `path` inside that directory.
        if !matches!(a.state.as_deref(), Some("link" | "absent"))
            && seen.followed.kind == PathKind::Directory
        {
            let base = a
                .original_basename
                .clone()
                .or_else(|| a.src.as_deref().map(basename).filter(|b| !b.is_empty()));
            if let Some(base) = base {
                a.path = join_remote(&a.path, &base);
                seen = Probed::take(ctx, &a).await?;
            }
        }
        let Probed {
            umask,
            own,
            followed,
            src: src_st,
            link_src,
        } = seen;
        let prev_state = current_state(&own);
        let state = match a.state.clone() {
            Some(s) => s,
            None if own.exists() => prev_state.to_string(),
            None if a.recurse => "directory".into(),
            None => "file".into(),
        };
        // Ansible's fail_json adds the path's current info to a failure that names it.
        let with_info = |mut e: ModuleError| {
            if e.result.contains_key("path") || e.result.contains_key("dest") {
                add_path_info(&own, &followed, &mut e.result);
            }
            e
        };
        check_state_options(&state, a.src.is_some(), a.recurse, &a.path).map_err(with_info)?;
        // Links, hard links and removal act on the path itself; the rest through a symlink.
        let acts_on_link = matches!(state.as_str(), "link" | "hard" | "absent");
        let prev = if !acts_on_link && own.kind == PathKind::Link && a.follow && followed.exists() {
            followed.clone()
        } else {
            own.clone()
        };
        let prev_state = if acts_on_link {
            prev_state
        } else {
            current_state(&prev)
        };
        let plan = plan(
            &a,
            &state,
            &prev,
            prev_state,
            &Targets {
                followed: &followed,
                src: src_st.as_ref(),
                link_src: link_src.as_deref(),
            },
            umask,
        )
        .map_err(with_info)?;
        // The tree below an existing directory is checked (and fixed) by its own script.
        let tree_changed =
            a.recurse && prev.kind == PathKind::Directory && recurse(ctx, &a).await?;
        let changed = plan.changed || tree_changed;
        let mut result = ModuleResult::new(changed);
        if matches!(state.as_str(), "link" | "hard") {
            // ensure_symlink/ensure_hardlink answer with `dest` and `src` (null when not given).
            result.insert("dest", a.path.as_str());
            result.insert(
                "src",
                plan.src.clone().map(Value::String).unwrap_or(Value::Null),
            );
        } else {
            result.insert("path", a.path.as_str());
        }
        if ctx.diff {
            result.insert(
                "diff",
                Value::Object(state_diff(
                    &a.path,
                    Some(prev_state),
                    Some(&state),
                    &plan.attrs,
                )),
            );
        }
        if state == "absent" {
            if changed && !ctx.check_mode {
                let req = Request::Remove {
                    path: a.path.clone(),
                };
                match agent_call(ctx, &req).await? {
                    Some(Reply::Failed { message, .. }) => return Err(ModuleError::new(message)),
                    Some(_) => {}
                    None => {
                        let out = run_sh(ctx, plan.script.clone(), None).await?;
                        if out.rc != 0 {
                            return Err(ModuleError::new(out.stderr_str().trim().to_string()));
                        }
                    }
                }
            }
            result.insert("state", "absent");
            return Ok(result);
        }
        if !changed || ctx.check_mode {
            add_path_info(&own, &followed, &mut result.extra);
            return Ok(result);
        }
        if let Some(req) = &plan.agent {
            match agent_call(ctx, req).await? {
                None => {}
                Some(Reply::Failed { step, message }) => {
                    return Err(ModuleError::new(
                        agent_attr_failure(step, &message).unwrap_or(message),
                    ))
                }
                Some(_) => {
                    let reqs = [
                        ProbeRequest::new(&a.path).checksum(None),
                        ProbeRequest::new(&a.path).follow(true).checksum(None),
                    ];
                    if let [own, followed] = probe(ctx, &reqs).await?.paths.as_slice() {
                        add_path_info(own, followed, &mut result.extra);
                    }
                    return Ok(result);
                }
            }
        }
        let q = sh_quote(&a.path);
        let script = format!(
            "{PROBE_FN}set -e\n{}set +e\nkp {q} 0 - -1 0\nkp {q} 1 - -1 0\n",
            plan.script,
        );
        let out = run_sh(ctx, script, None).await?;
        if out.rc != 0 {
            let stderr = out.stderr_str();
            return Err(ModuleError::new(
                attr_failure(out.rc, &stderr).unwrap_or_else(|| stderr.trim().to_string()),
            ));
        }
        let (_, stats) = parse_reply(&out.stdout, &[&a.path, &a.path])
            .map_err(|e| ModuleError::new(e.to_string()))?;
        if let [own, followed] = stats.as_slice() {
            add_path_info(own, followed, &mut result.extra);
        }
        Ok(result)
    }
}

/// The last path component (Python's `os.path.basename`: empty for a trailing slash).
fn basename(path: &str) -> String {
    path.rsplit('/').next().unwrap_or_default().to_string()
}

/// What one probe says about the path (itself and followed) and a link's `src`.
struct Probed {
    umask: u32,
    own: PathStat,
    followed: PathStat,
    src: Option<PathStat>,
    /// `src` made absolute against the path's directory.
    link_src: Option<String>,
}

impl Probed {
    async fn take(ctx: &ModuleContext<'_>, a: &FileArgs) -> Result<Probed, ModuleError> {
        let link_src = a.src.as_ref().map(|s| {
            if s.starts_with('/') {
                s.clone()
            } else {
                join_remote(&remote_dirname(&a.path), s)
            }
        });
        let mut reqs = vec![
            ProbeRequest::new(&a.path).checksum(None),
            ProbeRequest::new(&a.path).follow(true).checksum(None),
        ];
        if let Some(s) = &link_src {
            reqs.push(ProbeRequest::new(s).follow(true).checksum(None));
        }
        let pr = probe(ctx, &reqs).await?;
        let mut it = pr.paths.into_iter();
        Ok(Probed {
            umask: pr.host.umask,
            own: it.next().unwrap_or_else(|| PathStat::absent(&a.path)),
            followed: it.next().unwrap_or_else(|| PathStat::absent(&a.path)),
            src: it.next(),
            link_src,
        })
    }
}

/// What a link or hard link points at: the path followed, and `src` (followed) when given.
struct Targets<'a> {
    followed: &'a PathStat,
    src: Option<&'a PathStat>,
    link_src: Option<&'a str>,
}

/// What to do: whether anything changes, the attribute part (for the diff), the sh to run.
struct Plan {
    changed: bool,
    attrs: AttrChanges,
    script: String,
    /// The `src` a link result reports (a link's current target when none was given).
    src: Option<String>,
    /// The same change as one agent request, where the agent can make it.
    agent: Option<Request>,
}

impl Plan {
    fn new(changed: bool, attrs: AttrChanges, script: String) -> Plan {
        Plan {
            changed,
            attrs,
            script,
            src: None,
            agent: None,
        }
    }
}

fn fail(msg: String, path: &str) -> ModuleError {
    let mut m = Map::new();
    m.insert("path".into(), Value::String(path.to_string()));
    ModuleError::with_result(msg, m)
}

fn plan(
    a: &FileArgs,
    state: &str,
    prev: &PathStat,
    prev_state: &str,
    targets: &Targets<'_>,
    umask: u32,
) -> Result<Plan, ModuleError> {
    let q = sh_quote(&a.path);
    let path = a.path.as_str();
    let attrs_on = |st: &PathStat| a.attrs.changes(st, umask);
    match state {
        "absent" => Ok(Plan::new(
            prev.exists(),
            AttrChanges::default(),
            format!("rm -rf -- {q}\n"),
        )),
        "file" => {
            if !prev.exists() {
                let mut m = Map::new();
                m.insert("path".into(), path.into());
                m.insert("state".into(), "absent".into());
                return Err(ModuleError::with_result(
                    format!("file ({path}) is absent, cannot continue"),
                    m,
                ));
            }
            if !matches!(prev.kind, PathKind::File) {
                return Err(fail(
                    format!("file ({path}) is {prev_state}, cannot continue"),
                    path,
                ));
            }
            let ch = attrs_on(prev);
            {
                let script = ch.shell(path, false);
                Ok(Plan::new(!ch.is_empty(), ch, script))
            }
        }
        "directory" => plan_directory(a, prev, prev_state, umask),
        "touch" => {
            if prev.exists() && !matches!(prev.kind, PathKind::File | PathKind::Directory) {
                return Err(fail(
                    format!("Cannot touch other than files, directories, and hardlinks ({path} is {prev_state})"),
                    path,
                ));
            }
            let base = if prev.exists() {
                prev.clone()
            } else {
                PathStat {
                    kind: PathKind::File,
                    mode: 0o666 & !umask,
                    ..prev.clone()
                }
            };
            let ch = attrs_on(&base);
            let mut s = if prev.exists() {
                String::new()
            } else {
                format!(": >> {q}\n")
            };
            for (flag, st) in [("-m", &a.mtime), ("-a", &a.atime)] {
                match st {
                    Stamp::Now => s.push_str(&format!("touch {flag} -c -- {q}\n")),
                    Stamp::At(t) => s.push_str(&format!("touch {flag} -c -t {t} -- {q}\n")),
                    Stamp::Preserve => {}
                }
            }
            s.push_str(&ch.shell(path, false));
            let changed = !prev.exists()
                || !ch.is_empty()
                || a.mtime != Stamp::Preserve
                || a.atime != Stamp::Preserve;
            Ok(Plan::new(changed, ch, s))
        }
        "link" => plan_link(a, prev, prev_state, targets, umask),
        _ => plan_hard(a, prev, prev_state, targets, umask),
    }
}

fn plan_directory(
    a: &FileArgs,
    prev: &PathStat,
    prev_state: &str,
    umask: u32,
) -> Result<Plan, ModuleError> {
    let path = a.path.as_str();
    match prev.kind {
        PathKind::Directory => {
            let ch = a.attrs.changes(prev, umask);
            let script = ch.shell(path, false);
            let mut plan = Plan::new(!ch.is_empty(), ch, script);
            plan.agent = Some(Request::SetAttrs {
                path: path.to_string(),
                attrs: plan.attrs.to_agent(),
                no_deref: false,
            });
            Ok(plan)
        }
        PathKind::Absent => {
            // Every created component gets the requested attributes, as Ansible does.
            let base = PathStat {
                kind: PathKind::Directory,
                mode: 0o777 & !umask,
                ..prev.clone()
            };
            let ch = a.attrs.changes(&base, umask);
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
            for c in components(path) {
                let cq = sh_quote(&c);
                let fix = owner_group.shell(&c, true).replace('\n', "; ");
                s.push_str(&format!("if [ ! -d {cq} ]; then {mkdir} {cq}; {fix}fi\n"));
            }
            if a.recurse {
                s.push_str(&recurse_shell(a, path, true));
                return Ok(Plan::new(true, ch, s));
            }
            let mut plan = Plan::new(true, ch, s);
            plan.agent = Some(Request::Mkdir {
                path: path.to_string(),
                attrs: plan.attrs.to_agent(),
            });
            Ok(plan)
        }
        _ => Err(fail(
            format!("{path} already exists as a {prev_state}"),
            path,
        )),
    }
}

/// `recurse=yes`: sh that applies owner/group/mode below `path` (unless `apply` is false) and
/// prints `CHG` when something was (or would be) different, found with `find` predicates so an
/// already-correct tree is not reported as changed.
fn recurse_shell(a: &FileArgs, path: &str, apply: bool) -> String {
    let q = sh_quote(path);
    let mut s = String::new();
    let mut check = |pred: String, fix: String| {
        let fix = if apply {
            format!(" {fix};")
        } else {
            String::new()
        };
        s.push_str(&format!(
            "if [ -n \"$(find {q} {pred} -print | head -n 1)\" ]; then echo CHG;{fix} fi\n"
        ));
    };
    if let Some(o) = &a.attrs.owner {
        check(
            format!("! -user {}", sh_quote(o)),
            format!("chown -R {} {q}", sh_quote(o)),
        );
    }
    if let Some(g) = &a.attrs.group {
        check(
            format!("! -group {}", sh_quote(g)),
            format!("chgrp -R {} {q}", sh_quote(g)),
        );
    }
    match &a.attrs.mode {
        Some(ModeSpec::Octal(m)) => check(
            format!("! -type l ! -perm {m:04o}"),
            format!("find {q} ! -type l -exec chmod {m:o} {{}} +"),
        ),
        Some(spec @ ModeSpec::Symbolic(_)) if apply => {
            // chmod's symbolic syntax is the same; compare the tree's modes before and after.
            let sym = symbolic_text(spec);
            s.push_str(&format!(
                "kb=$(find {q} ! -type l -exec stat -c %a {{}} + | cksum); find {q} ! -type l -exec chmod {} {{}} +; [ \"$kb\" = \"$(find {q} ! -type l -exec stat -c %a {{}} + | cksum)\" ] || echo CHG\n",
                sh_quote(&sym)
            ));
        }
        _ => {}
    }
    s
}

/// The original text of a symbolic mode (kept by the args for `chmod`).
fn symbolic_text(spec: &ModeSpec) -> String {
    match spec {
        ModeSpec::Symbolic(c) => c
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(","),
        ModeSpec::Octal(m) => format!("{m:o}"),
        ModeSpec::Preserve => String::new(),
    }
}

/// Run the recursive part of `state=directory recurse=yes`; true when the tree changed (or
/// would change, in check mode).
async fn recurse(ctx: &ModuleContext<'_>, a: &FileArgs) -> Result<bool, ModuleError> {
    let script = recurse_shell(a, &a.path, !ctx.check_mode);
    if script.is_empty() {
        return Ok(false);
    }
    let out = run_sh(ctx, script, None).await?;
    if out.rc != 0 {
        return Err(ModuleError::new(out.stderr_str().trim().to_string()));
    }
    Ok(out.stdout_str().contains("CHG"))
}

/// `/a/b/c` → `/a`, `/a/b`, `/a/b/c`.
fn components(path: &str) -> Vec<String> {
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

/// `state=link` as Ansible's `ensure_symlink`: with no `src`, an existing link keeps its
/// target; with `follow` the attributes go to what the link points at.
fn plan_link(
    a: &FileArgs,
    prev: &PathStat,
    prev_state: &str,
    t: &Targets<'_>,
    umask: u32,
) -> Result<Plan, ModuleError> {
    let path = a.path.as_str();
    let q = sh_quote(path);
    let target = match a.src.clone() {
        Some(s) => Some(s),
        None if a.follow && t.followed.exists() => prev.link_target.clone(),
        None => None,
    };
    if let Some(src) = a.src.as_deref() {
        if !a.force && !t.src.map(PathStat::exists).unwrap_or(false) {
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
    let mut s = String::new();
    match (prev.kind, target.as_deref()) {
        _ if same => {}
        (_, None) => {
            return Err(ModuleError::new(
                "src is required for creating new symlinks",
            ));
        }
        (PathKind::Absent | PathKind::Link, Some(to)) => {
            s.push_str(&format!("ln -sfn -- {} {q}\n", sh_quote(to)))
        }
        (PathKind::Directory, Some(to)) if a.force => {
            s.push_str(&format!("rmdir -- {q}\nln -s -- {} {q}\n", sh_quote(to)))
        }
        (_, Some(to)) if a.force => {
            s.push_str(&format!("rm -f -- {q}\nln -s -- {} {q}\n", sh_quote(to)))
        }
        _ => {
            return Err(fail(
                format!("refusing to convert from {prev_state} to symlink for {path}"),
                path,
            ))
        }
    }
    // What the link will point at once it is in place (Ansible then sets attributes through it).
    let pointee = if same { Some(t.followed) } else { t.src };
    let ch = match pointee.filter(|p| a.follow && p.exists()) {
        Some(p) => a.attrs.changes(p, umask),
        None if same => a.attrs.changes(prev, umask),
        None => owner_group_only(&a.attrs),
    };
    let deref = a.follow && pointee.map(PathStat::exists).unwrap_or(false);
    s.push_str(&ch.shell(path, !deref));
    let mut plan = Plan::new(!same || !ch.is_empty(), ch, s);
    plan.src = target;
    Ok(plan)
}

/// `state=hard` as Ansible's `ensure_hardlink`: `src` is only needed to create a new hard link;
/// without it an existing hard link just gets its attributes.
fn plan_hard(
    a: &FileArgs,
    prev: &PathStat,
    prev_state: &str,
    t: &Targets<'_>,
    umask: u32,
) -> Result<Plan, ModuleError> {
    let path = a.path.as_str();
    let q = sh_quote(path);
    if prev_state != "hard" && a.src.is_none() {
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
    let same_inode = |st: &PathStat| st.inode == prev.inode && st.dev == prev.dev;
    let link_error = |msg: &str| {
        let mut m = Map::new();
        m.insert("dest".into(), path.into());
        m.insert(
            "src".into(),
            a.src.clone().map(Value::String).unwrap_or(Value::Null),
        );
        ModuleError::with_result(msg.to_string(), m)
    };
    let from = sh_quote(t.link_src.unwrap_or_default());
    // `ln -f -n` swaps the name for the new link (a symlink to a directory is replaced, not
    // entered), as Ansible's link-to-temp-and-rename does.
    let replace = format!("ln -f -n -- {from} {q}\n");
    let mut s = String::new();
    match prev_state {
        "absent" => s.push_str(&format!("ln -- {from} {q}\n")),
        "link" => {
            if prev.link_target.as_deref() != a.src.as_deref() {
                s.push_str(&replace);
            }
        }
        "hard" => {
            if src_st.is_some_and(|st| !same_inode(st)) {
                if !a.force {
                    return Err(link_error(
                        "Cannot link, different hard link exists at destination",
                    ));
                }
                s.push_str(&replace);
            }
        }
        "directory" => {
            if src_st.is_some_and(same_inode) {
                return Ok(Plan::new(false, AttrChanges::default(), String::new()));
            }
            if !a.force {
                return Err(link_error(
                    "Cannot link: different hard link exists at destination",
                ));
            }
            return Err(fail(
                format!("Error while replacing: [Errno 21] Is a directory: '{path}'"),
                path,
            ));
        }
        _ => {
            if !a.force {
                return Err(link_error(&format!(
                    "Cannot link, {prev_state} exists at destination"
                )));
            }
            s.push_str(&replace);
        }
    }
    let linked = !s.is_empty();
    // After linking, the path is src's inode; otherwise it is what is there now.
    let base = if linked { src_st.unwrap_or(prev) } else { prev };
    let ch = a.attrs.changes(base, umask);
    s.push_str(&ch.shell(path, false));
    let mut plan = Plan::new(linked || !ch.is_empty(), ch, s);
    plan.src = a.src.clone();
    Ok(plan)
}

/// A new symlink gets the requested owner/group (mode does not apply to links).
fn owner_group_only(spec: &AttrSpec) -> AttrChanges {
    AttrChanges {
        owner: spec.owner.as_ref().map(|o| (String::new(), o.clone())),
        group: spec.group.as_ref().map(|g| (String::new(), g.clone())),
        mode: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::snapshot::snapshot;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;

    struct Fx {
        dir: tempfile::TempDir,
        env: TestEnv,
    }

    impl Fx {
        fn new() -> Fx {
            let dir = tempfile::tempdir().unwrap();
            let env = TestEnv::new(dir.path());
            Fx { dir, env }
        }
        fn p(&self, rel: &str) -> String {
            self.dir.path().join(rel).to_string_lossy().into_owned()
        }
        async fn run(&self, check: bool, diff: bool, a: Value) -> Result<Map, ModuleError> {
            FileModule
                .run(&ctx(&self.env, check, diff), args(a))
                .await
                .map(ModuleResult::into_map)
        }
        fn mode(&self, rel: &str) -> u32 {
            std::fs::metadata(self.p(rel)).unwrap().permissions().mode() & 0o7777
        }
    }

    crate::testutil::both_paths! {
    async fn directory_is_created_with_mode_then_idempotent() {
        let fx = Fx::new();
        let a = json!({"path": fx.p("a/b"), "state": "directory", "mode": "0750"});
        let r = fx.run(false, true, a.clone()).await.unwrap();
        assert_eq!(r["changed"], true);
        assert_eq!(r["state"], "directory");
        assert_eq!(r["mode"], "0750");
        assert_eq!(r["diff"]["before"]["state"], "absent");
        assert_eq!(r["diff"]["after"]["state"], "directory");
        assert_eq!((fx.mode("a"), fx.mode("a/b")), (0o750, 0o750));
        assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn check_mode_changes_nothing_but_reports_change() {
        let fx = Fx::new();
        std::fs::write(fx.p("f"), "x").unwrap();
        let before = snapshot(fx.dir.path());
        for a in [
            json!({"path": fx.p("d"), "state": "directory"}),
            json!({"path": fx.p("f"), "mode": "0600"}),
            json!({"path": fx.p("f"), "state": "absent"}),
            json!({"path": fx.p("l"), "state": "link", "src": "f"}),
            json!({"path": fx.p("t"), "state": "touch"}),
        ] {
            let r = fx.run(true, false, a.clone()).await.unwrap();
            assert_eq!(r["changed"], true, "{a}");
        }
        assert_eq!(snapshot(fx.dir.path()), before);
    }
    }

    crate::testutil::both_paths! {
    async fn file_state_on_missing_path_fails_like_ansible() {
        let fx = Fx::new();
        let e = fx
            .run(false, false, json!({"path": fx.p("nope")}))
            .await
            .unwrap_err();
        assert_eq!(
            e.msg,
            format!("file ({}) is absent, cannot continue", fx.p("nope"))
        );
        assert_eq!(e.result["state"], "absent");
    }
    }

    crate::testutil::both_paths! {
    async fn mode_on_existing_file_changes_once() {
        let fx = Fx::new();
        std::fs::write(fx.p("f"), "x").unwrap();
        let a = json!({"path": fx.p("f"), "mode": "u=rw,go="});
        assert_eq!(
            fx.run(false, false, a.clone()).await.unwrap()["changed"],
            true
        );
        assert_eq!(fx.mode("f"), 0o600);
        assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn absent_removes_trees_and_is_idempotent() {
        let fx = Fx::new();
        std::fs::create_dir_all(fx.p("d/e")).unwrap();
        let a = json!({"path": fx.p("d"), "state": "absent"});
        let r = fx.run(false, false, a.clone()).await.unwrap();
        assert_eq!(
            (r["changed"].clone(), r["state"].clone()),
            (json!(true), json!("absent"))
        );
        assert!(!fx.dir.path().join("d").exists());
        assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn symlink_is_created_retargeted_and_idempotent() {
        let fx = Fx::new();
        std::fs::write(fx.p("a"), "A").unwrap();
        std::fs::write(fx.p("b"), "B").unwrap();
        let r = fx
            .run(
                false,
                false,
                json!({"path": fx.p("l"), "state": "link", "src": "a"}),
            )
            .await
            .unwrap();
        assert_eq!(
            (r["changed"].clone(), r["state"].clone()),
            (json!(true), json!("link"))
        );
        assert_eq!(
            std::fs::read_link(fx.p("l")).unwrap().to_string_lossy(),
            "a"
        );
        assert_eq!(
            fx.run(
                false,
                false,
                json!({"path": fx.p("l"), "state": "link", "src": "a"})
            )
            .await
            .unwrap()["changed"],
            false
        );
        fx.run(
            false,
            false,
            json!({"path": fx.p("l"), "state": "link", "src": "b"}),
        )
        .await
        .unwrap();
        assert_eq!(
            std::fs::read_link(fx.p("l")).unwrap().to_string_lossy(),
            "b"
        );
    }
    }

    crate::testutil::both_paths! {
    async fn symlink_to_missing_src_needs_force() {
        let fx = Fx::new();
        let e = fx
            .run(
                false,
                false,
                json!({"path": fx.p("l"), "state": "link", "src": "nope"}),
            )
            .await
            .unwrap_err();
        assert!(e.msg.starts_with("src file does not exist"));
        fx.run(
            false,
            false,
            json!({"path": fx.p("l"), "state": "link", "src": "nope", "force": true}),
        )
        .await
        .unwrap();
        assert!(std::fs::symlink_metadata(fx.p("l")).is_ok());
    }
    }

    crate::testutil::both_paths! {
    async fn symlink_over_a_file_is_refused_without_force() {
        let fx = Fx::new();
        std::fs::write(fx.p("a"), "A").unwrap();
        std::fs::write(fx.p("f"), "F").unwrap();
        let e = fx
            .run(
                false,
                false,
                json!({"path": fx.p("f"), "state": "link", "src": "a"}),
            )
            .await
            .unwrap_err();
        assert_eq!(
            e.msg,
            format!("refusing to convert from file to symlink for {}", fx.p("f"))
        );
    }
    }

    crate::testutil::both_paths! {
    async fn hard_link_shares_the_inode_and_is_idempotent() {
        let fx = Fx::new();
        std::fs::write(fx.p("a"), "A").unwrap();
        let a = json!({"path": fx.p("h"), "state": "hard", "src": fx.p("a")});
        assert_eq!(
            fx.run(false, false, a.clone()).await.unwrap()["changed"],
            true
        );
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            std::fs::metadata(fx.p("h")).unwrap().ino(),
            std::fs::metadata(fx.p("a")).unwrap().ino()
        );
        assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn touch_creates_then_always_reports_changed() {
        let fx = Fx::new();
        let a = json!({"path": fx.p("t"), "state": "touch", "mode": "0640"});
        assert_eq!(
            fx.run(false, false, a.clone()).await.unwrap()["changed"],
            true
        );
        assert_eq!(fx.mode("t"), 0o640);
        assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], true);
        let keep = json!({"path": fx.p("t"), "state": "touch", "modification_time": "preserve", "access_time": "preserve"});
        assert_eq!(fx.run(false, false, keep).await.unwrap()["changed"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn touch_with_explicit_timestamp_sets_mtime() {
        let fx = Fx::new();
        fx.run(
            false,
            false,
            json!({"path": fx.p("t"), "state": "touch", "modification_time": "202001020304.05"}),
        )
        .await
        .unwrap();
        let m = std::fs::metadata(fx.p("t")).unwrap().modified().unwrap();
        let secs = m.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let want = chrono::NaiveDate::from_ymd_opt(2020, 1, 2)
            .unwrap()
            .and_hms_opt(3, 4, 5)
            .unwrap();
        // Local time on the host: allow any timezone offset.
        assert!((secs - want.and_utc().timestamp()).abs() <= 14 * 3600);
    }
    }

    crate::testutil::both_paths! {
    async fn recurse_applies_octal_mode_to_the_tree() {
        let fx = Fx::new();
        std::fs::create_dir_all(fx.p("d/e")).unwrap();
        std::fs::write(fx.p("d/e/f"), "x").unwrap();
        let a = json!({"path": fx.p("d"), "state": "directory", "mode": "0700", "recurse": true});
        let before = snapshot(fx.dir.path());
        assert_eq!(
            fx.run(true, false, a.clone()).await.unwrap()["changed"],
            true
        );
        assert_eq!(snapshot(fx.dir.path()), before);
        assert_eq!(
            fx.run(false, false, a.clone()).await.unwrap()["changed"],
            true
        );
        assert_eq!((fx.mode("d/e"), fx.mode("d/e/f")), (0o700, 0o700));
        assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn bad_arguments_are_rejected_before_touching_the_host() {
        let fx = Fx::new();
        let before = snapshot(fx.dir.path());
        let cases = [
            (
                json!({"path": fx.p("x"), "bogus": 1}),
                "Unsupported parameters for (file) module: bogus.",
            ),
            (
                json!({"state": "directory"}),
                "missing required arguments: path",
            ),
            (
                json!({"path": fx.p("x"), "state": "weird"}),
                "value of state must be one of",
            ),
            (
                json!({"path": fx.p("x"), "state": "file", "src": "y"}),
                "src option requires state to be 'link' or 'hard'",
            ),
            (
                json!({"path": fx.p("x"), "state": "directory", "mode": "zz"}),
                "bad symbolic permission",
            ),
            (
                json!({"path": fx.p("x"), "state": "touch", "modification_time": "yesterday"}),
                "Error while obtaining timestamp",
            ),
        ];
        for (a, want) in cases {
            let e = fx.run(false, false, a).await.unwrap_err();
            assert!(e.msg.starts_with(want), "{} vs {want}", e.msg);
        }
        assert_eq!(snapshot(fx.dir.path()), before);
    }
    }

    /// `a` with a second name `h`.
    fn hard_linked(fx: &Fx) {
        std::fs::write(fx.p("a"), "A").unwrap();
        std::fs::hard_link(fx.p("a"), fx.p("h")).unwrap();
    }

    crate::testutil::both_paths! {
    async fn no_state_on_a_hard_linked_file_only_applies_attributes() {
        let fx = Fx::new();
        hard_linked(&fx);
        let a = json!({"path": fx.p("a"), "mode": "0600"});
        let r = fx.run(false, false, a.clone()).await.unwrap();
        assert_eq!(
            (
                &r["changed"],
                &r["state"],
                &r["dest"],
                &r["src"],
                &r["mode"]
            ),
            (
                &json!(true),
                &json!("hard"),
                &json!(fx.p("a")),
                &Value::Null,
                &json!("0600")
            )
        );
        assert!(r.get("path").is_none());
        assert_eq!(fx.mode("h"), 0o600);
        assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn src_without_state_is_accepted_when_the_path_is_a_hard_link() {
        let fx = Fx::new();
        hard_linked(&fx);
        let r = fx
            .run(false, false, json!({"path": fx.p("h"), "src": fx.p("a")}))
            .await
            .unwrap();
        assert_eq!(
            (&r["changed"], &r["state"]),
            (&json!(false), &json!("hard"))
        );
    }
    }

    crate::testutil::both_paths! {
    async fn hard_without_src_on_a_plain_file_requires_src() {
        let fx = Fx::new();
        std::fs::write(fx.p("f"), "F").unwrap();
        let e = fx
            .run(false, false, json!({"path": fx.p("f"), "state": "hard"}))
            .await
            .unwrap_err();
        assert_eq!(e.msg, "src is required for creating new hardlinks");
    }
    }

    crate::testutil::both_paths! {
    async fn hard_link_to_another_inode_needs_force() {
        let fx = Fx::new();
        hard_linked(&fx);
        std::fs::write(fx.p("other"), "O").unwrap();
        let a = json!({"path": fx.p("h"), "state": "hard", "src": fx.p("other")});
        let e = fx.run(false, false, a).await.unwrap_err();
        assert_eq!(
            e.msg,
            "Cannot link, different hard link exists at destination"
        );
        assert_eq!(e.result["src"], json!(fx.p("other")));
        let forced =
            json!({"path": fx.p("h"), "state": "hard", "src": fx.p("other"), "force": true});
        assert_eq!(fx.run(false, false, forced).await.unwrap()["changed"], true);
        assert_eq!(std::fs::read_to_string(fx.p("h")).unwrap(), "O");
    }
    }

    crate::testutil::both_paths! {
    async fn hard_link_with_missing_src_fails_naming_dest_and_src() {
        let fx = Fx::new();
        hard_linked(&fx);
        let a = json!({"path": fx.p("h"), "state": "hard", "src": fx.p("nope")});
        let e = fx.run(false, false, a).await.unwrap_err();
        assert_eq!(e.msg, "src does not exist");
        assert_eq!(
            (&e.result["dest"], &e.result["src"]),
            (&json!(fx.p("h")), &json!(fx.p("nope")))
        );
    }
    }

    crate::testutil::both_paths! {
    async fn hard_link_given_a_directory_path_is_made_inside_it() {
        let fx = Fx::new();
        std::fs::write(fx.p("a"), "A").unwrap();
        std::fs::create_dir(fx.p("d")).unwrap();
        let r = fx
            .run(
                false,
                false,
                json!({"path": fx.p("d"), "state": "hard", "src": fx.p("a")}),
            )
            .await
            .unwrap();
        assert_eq!(r["dest"], json!(fx.p("d/a")));
        assert_eq!(std::fs::read_to_string(fx.p("d/a")).unwrap(), "A");
    }
    }

    crate::testutil::both_paths! {
    async fn no_state_on_a_symlink_keeps_the_link_and_sets_the_target_mode() {
        let fx = Fx::new();
        std::fs::write(fx.p("t"), "T").unwrap();
        std::os::unix::fs::symlink("t", fx.p("l")).unwrap();
        let a = json!({"path": fx.p("l"), "mode": "0600"});
        let r = fx.run(false, false, a.clone()).await.unwrap();
        assert_eq!(
            (&r["changed"], &r["state"], &r["src"], &r["mode"]),
            (&json!(true), &json!("link"), &json!("t"), &json!("0777"))
        );
        assert_eq!(fx.mode("t"), 0o600);
        assert_eq!(
            std::fs::read_link(fx.p("l")).unwrap().to_string_lossy(),
            "t"
        );
        assert_eq!(fx.run(false, false, a).await.unwrap()["changed"], false);
    }
    }

    crate::testutil::both_paths! {
    async fn check_mode_on_a_missing_path_reports_no_path_info() {
        let fx = Fx::new();
        let r = fx
            .run(
                true,
                false,
                json!({"path": fx.p("d"), "state": "directory"}),
            )
            .await
            .unwrap();
        assert_eq!(
            Value::Object(r),
            json!({"changed": true, "path": fx.p("d")})
        );
    }
    }

    #[test]
    fn components_lists_each_prefix() {
        assert_eq!(components("/a/b"), vec!["/a", "/a/b"]);
        assert_eq!(components("a/b/"), vec!["a", "a/b"]);
    }
}
