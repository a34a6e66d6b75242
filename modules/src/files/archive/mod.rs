//! `archive` (community.general.archive): pack `path`s on the host into `dest` with the host's
//! tar and gzip/bzip2/xz/zstd (or zip), or compress a single file. `query` expands the paths
//! (globs included) and stats `dest`; `plan` decides as Ansible's `Archive` does
//! ([`layout`]); `apply` builds the archive reproducibly (names sorted, no gzip time stamp)
//! into a temp file beside `dest` and only replaces it when its bytes differ, so a rerun over
//! unchanged sources reports no change. Paths are stored relative to their common directory
//! (`arcroot`); `exclude_path` drops paths from the list, `exclusion_patterns` members from
//! the archive, `remove` deletes the sources afterwards. Check mode, as Ansible's: building
//! an archive is a change, compressing one file is one when `dest` is missing.

pub mod layout;
mod script;
#[cfg(test)]
mod tests;

use crate::common::args::{p, Param, Spec, FILE_COMMON};
use crate::common::attrs::AttrSpec;
use crate::common::probe::{probe, PathKind, PathStat, ProbeRequest};
use crate::common::reads::failure;
use crate::common::run_sh;
use crate::common::write::set_attrs;
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};
use layout::{is_archive, layout, Format, Layout};
use std::collections::BTreeMap;

const PARAMS: &[Param] = &[
    p("path", &[])
        .list()
        .required()
        .doc("Files or directories to pack; `*` and `?` are expanded on the host."),
    p("dest", &[])
        .path()
        .doc("The archive; default for a single file: that path plus `.FORMAT`."),
    p("format", &[])
        .choices(Format::NAMES)
        .default_str("gz")
        .doc("Compression / archive format."),
    p("exclude_path", &[])
        .list()
        .doc("Paths (or globs) taken out of the `path` list."),
    p("exclusion_patterns", &[])
        .list()
        .doc("Glob patterns of archive members to leave out."),
    p("force_archive", &[])
        .flag(false)
        .doc("Make an archive even for a single file."),
    p("remove", &[])
        .flag(false)
        .doc("Remove the sources after archiving."),
];

/// `archive`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "archive",
    "Creates a compressed archive of one or more files or trees",
    &[PARAMS, FILE_COMMON],
);

/// Checked arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveArgs {
    pub paths: Vec<String>,
    pub dest: Option<String>,
    pub format: Format,
    pub exclude_path: Vec<String>,
    pub exclusion_patterns: Vec<String>,
    pub force_archive: bool,
    pub remove: bool,
    pub attrs: AttrSpec,
}

impl ArchiveArgs {
    pub fn parse(args: Map) -> Result<ArchiveArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let trim = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .map(|p| match p.trim_end_matches('/') {
                    "" if p.starts_with('/') => "/".to_string(),
                    t => t.to_string(),
                })
                .filter(|p| !p.is_empty())
                .collect()
        };
        Ok(ArchiveArgs {
            paths: trim(a.list("path")),
            dest: a.str("dest")?,
            format: Format::parse(&a.required_str("format")?),
            exclude_path: trim(a.list("exclude_path")),
            exclusion_patterns: a.list("exclusion_patterns"),
            force_archive: a.flag("force_archive"),
            remove: a.flag("remove"),
            attrs: AttrSpec::from_args(&a, false)?,
        })
    }
}

/// A path as `query` found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    Other,
    Missing,
}

/// What `query` found.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// `path` after glob expansion, in order.
    pub expanded: Vec<String>,
    /// `exclude_path` after glob expansion.
    pub excluded: Vec<String>,
    /// Some `path` had wildcards.
    pub globby: bool,
    pub kinds: BTreeMap<String, Kind>,
    /// `dest` (when the layout names one) and the host's umask.
    pub dest: Option<PathStat>,
    pub umask: u32,
}

impl Seen {
    fn kind(&self, p: &str) -> Kind {
        self.kinds.get(p).copied().unwrap_or(Kind::Missing)
    }

    fn layout(&self, a: &ArchiveArgs) -> Result<Layout, ModuleError> {
        let is_dir = |p: &str| self.kind(p) == Kind::Dir;
        layout(&self.expanded, &self.excluded, self.globby, is_dir, a)
    }
}

/// What `apply` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// Build `dest` from the existing paths (and remove them after, with `remove`).
    Build {
        layout: Layout,
        targets: Vec<String>,
        missing: bool,
    },
    /// Only `mode`/`owner`/`group` of the existing `dest`.
    Attrs { dest: String },
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().cloned().map(Value::String).collect())
}

/// Ansible's result keys before anything is built.
fn base_result(seen: &Seen, l: &Layout, missing: &[String]) -> ModuleResult {
    ModuleResult::new(false)
        .set("archived", Value::Array(vec![]))
        .set("dest", l.dest.clone())
        .set("dest_state", "absent")
        .set("arcroot", l.root.clone())
        .set("missing", strings(missing))
        .set("expanded_paths", strings(&seen.expanded))
        .set("expanded_exclude_paths", strings(&seen.excluded))
}

/// `community.general.archive`.
pub struct ArchiveModule;

#[async_trait]
impl QueryPlanApply for ArchiveModule {
    type Args = ArchiveArgs;
    type Seen = Seen;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "archive"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["community.general"]
    }

    fn parse(&self, args: Map) -> Result<ArchiveArgs, ModuleError> {
        ArchiveArgs::parse(args)
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &ArchiveArgs) -> Result<Seen, ModuleError> {
        let out = run_sh(ctx, script::expand(&a.paths, &a.exclude_path), None).await?;
        let mut seen = script::parse_expansion(&out.stdout);
        seen.globby = a.paths.iter().any(|p| p.contains(['*', '?']));
        if let Ok(l) = seen.layout(a) {
            let pr = probe(
                ctx,
                &[ProbeRequest::new(&l.dest).follow(true).checksum(None)],
            )
            .await?;
            seen.umask = pr.host.umask;
            seen.dest = pr.paths.into_iter().next().filter(PathStat::exists);
        }
        Ok(seen)
    }

    fn plan(a: &ArchiveArgs, seen: &Seen) -> Result<Plan<Changes>, ModuleError> {
        let l = seen.layout(a).map_err(|e| no_paths_error(e, a, seen))?;
        if a.remove {
            let inside = |p: &String| {
                seen.kind(p) == Kind::Dir
                    && l.dest.starts_with(&format!("{}/", p.trim_end_matches('/')))
            };
            if l.paths.iter().any(inside) {
                return Err(ModuleError::new(
                    "Error, created archive can not be contained in source paths when remove=true",
                ));
            }
        }
        let (targets, missing): (Vec<String>, Vec<String>) = l
            .paths
            .iter()
            .cloned()
            .partition(|p| seen.kind(p) != Kind::Missing);
        let mut result = base_result(seen, &l, &missing);
        let attrs_differ = seen
            .dest
            .as_ref()
            .is_some_and(|st| !a.attrs.changes(st, seen.umask).is_empty());
        if targets.is_empty() {
            if seen.dest.is_some() {
                let state = if is_archive(&l.dest) {
                    "archive"
                } else {
                    "compress"
                };
                result.insert("dest_state", state);
            }
            let dest = l.dest.clone();
            return Ok(match attrs_differ {
                true => Plan::change(Changes::Attrs { dest }, result),
                false => Plan::nothing(result),
            });
        }
        // What check mode reports: an archive is always rebuilt, a compressed file when missing.
        result.changed = l.must_archive || seen.dest.is_none() || attrs_differ;
        let missing = !missing.is_empty();
        Ok(Plan {
            changes: Some(Changes::Build {
                layout: l,
                targets,
                missing,
            }),
            result,
        })
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &ArchiveArgs,
        c: Changes,
        mut result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let dest = match c {
            Changes::Attrs { dest } => dest,
            Changes::Build {
                layout,
                targets,
                missing,
            } => {
                let built = script::build(ctx, a, &layout, &targets).await?;
                result.changed = built.changed;
                result.insert("archived", strings(&built.archived));
                let state = match (layout.must_archive, a.format.compresses_alone()) {
                    (true, _) if missing => "incomplete",
                    (false, true) => "compress",
                    _ => "archive",
                };
                result.insert("dest_state", state);
                if a.remove {
                    script::remove(ctx, &targets).await?;
                    result.changed = true;
                }
                layout.dest
            }
        };
        result.changed |= fix_attrs(ctx, a, &dest).await?;
        Ok(result)
    }
}

/// Ansible's failure when nothing is left to archive, with its result keys.
fn no_paths_error(e: ModuleError, a: &ArchiveArgs, seen: &Seen) -> ModuleError {
    if e.msg != "Error, no source paths were found" {
        return e;
    }
    let r = ModuleResult::new(false)
        .set("path", a.paths.join(", "))
        .set("expanded_paths", seen.expanded.join(", "))
        .set("expanded_exclude_paths", seen.excluded.join(", "));
    ModuleError::with_result(e.msg, r.into_map())
}

/// `mode`/`owner`/`group` on the archive as it now is; whether anything changed.
async fn fix_attrs(
    ctx: &ModuleContext<'_>,
    a: &ArchiveArgs,
    dest: &str,
) -> Result<bool, ModuleError> {
    if a.attrs == AttrSpec::default() {
        return Ok(false);
    }
    let pr = probe(ctx, &[ProbeRequest::new(dest).follow(true).checksum(None)]).await?;
    let Some(st) = pr.paths.first().filter(|s| s.kind != PathKind::Absent) else {
        return Ok(false);
    };
    let ch = a.attrs.changes(st, pr.host.umask);
    if ch.is_empty() {
        return Ok(false);
    }
    set_attrs(ctx, dest, &ch, false).await?;
    Ok(true)
}

/// A failed host step, with the script's output in the result.
fn step_failed(msg: String, out: &kplay_engine::transport::ExecOutput) -> ModuleError {
    failure(msg, out.rc, &out.stdout_str(), &out.stderr_str())
}
