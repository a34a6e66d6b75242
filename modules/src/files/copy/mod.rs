//! `copy`: put `content` or a controller file (or a whole directory, see [`tree`]) at `dest`,
//! or copy a file already on the host (`remote_src`). `query` finds the source and probes the
//! host once; `plan` is [`install::plan`] per file; `apply` writes at most once per file.

mod tree;

use crate::common::args::{p, Param, Spec, FILE_COMMON};
use crate::common::attrs::AttrSpec;
use crate::common::install::{self, Install, Queried, Source, SourceSeen, Step};
use crate::common::mode::ModeSpec;
use crate::common::{basename, fail_with, validate};
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{FileKind, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};
use std::path::PathBuf;

#[cfg(test)]
use crate::planned::Planned;

const PARAMS: &[Param] = &[
    p("src", &[]).path().doc("Controller file or directory to copy (a trailing `/` copies the directory's contents); with `remote_src`, a path on the host."),
    p("content", &[]).doc("Text to write to `dest` instead of a file (a structure is written as JSON)."),
    p("dest", &[]).path().required().doc("Remote path to copy to; a directory when it ends with `/`."),
    p("backup", &[]).flag(false).doc("Keep a timestamped copy of the file being replaced."),
    p("force", &["thirsty"]).flag(true).doc("Replace a file whose content differs; false only creates missing files."),
    p("directory_mode", &[]).doc("Mode of directories created when copying a directory."),
    p("remote_src", &[]).flag(false).doc("`src` is on the host, not on the controller."),
    p("validate", &[]).str().doc("Command run on the temp file (`%s`) before it replaces `dest`."),
    p("follow", &[]).flag(false).doc("Follow a `dest` that is a symbolic link."),
    p("local_follow", &[]).flag(true).doc("Follow symbolic links in `src` on the controller."),
    p("decrypt", &[]).flag(true).doc("Decrypt vaulted source files (kplay always does)."),
    p("checksum", &[]).str().doc("SHA1 the copied file must have."),
    p("_original_basename", &[]).str().doc("Internal: the source's name, set by the action."),
];

/// `copy`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "copy",
    "Copy files to remote locations",
    &[PARAMS, FILE_COMMON],
)
.mutually_exclusive(&[&["content", "src"]]);

/// Where `copy` takes its content from.
#[derive(Debug, Clone, PartialEq)]
pub enum CopySource {
    Content(Vec<u8>),
    /// A controller file or directory, by the name given (found in `query`).
    Local(String),
    Remote(String),
}

/// Checked `copy` arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyArgs {
    pub dest: String,
    pub source: CopySource,
    pub attrs: AttrSpec,
    pub backup: bool,
    pub force: bool,
    pub follow: bool,
    pub validate: Option<String>,
    pub directory_mode: Option<ModeSpec>,
    pub checksum: Option<String>,
}

impl CopyArgs {
    /// One file of this task: `dest` from `source`, with the task's other arguments.
    fn install(&self, dest: &str, source: Source, attrs: AttrSpec, header: String) -> Install {
        Install {
            attrs,
            force: self.force,
            backup: self.backup,
            validate: self.validate.clone(),
            follow: self.follow,
            after_header: header,
            directory_mode: self.directory_mode.clone(),
            ..Install::new(dest, source)
        }
    }
}

/// `content` is text; a structure is written as JSON, as Ansible does.
fn content_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.clone().into_bytes(),
        Value::Array(_) | Value::Object(_) => v.to_string().into_bytes(),
        other => kplay_engine::value::to_display_string(other).into_bytes(),
    }
}

/// What `query` found.
#[derive(Debug, Clone, PartialEq)]
pub enum CopySeen {
    /// One file; `src` is reported in the result.
    One {
        file: Box<Queried>,
        src: Option<String>,
    },
    Tree(tree::TreeSeen),
}

/// What `apply` does.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyChanges {
    /// The file's step and the `src` its result names.
    One(Step, Option<String>),
    Tree(tree::TreeChanges),
}

/// ansible-core's failure when the copied content's SHA-1 is not the `checksum` asked for.
fn checksum_mismatch(a: &CopyArgs, have: &str) -> Result<(), ModuleError> {
    match &a.checksum {
        Some(want) if want != have => Err(fail_with(
            "Copied file does not match the expected checksum. Transfer failed.",
            [
                ("checksum", Value::from(have)),
                ("expected_checksum", Value::from(want.as_str())),
            ],
        )),
        _ => Ok(()),
    }
}

/// Before a controller file is written: ansible-core's module checks `checksum` only on
/// content it is sent (so not in check mode, nor when the destination is already right).
fn check_written(a: &CopyArgs, step: &Step) -> Result<(), ModuleError> {
    match step {
        Step::Write(w) if !matches!(w.source, Source::Remote(_)) => {
            checksum_mismatch(a, &w.checksum)
        }
        _ => Ok(()),
    }
}

pub struct CopyModule;

#[async_trait]
impl QueryPlanApply for CopyModule {
    type Args = CopyArgs;
    type Seen = CopySeen;
    type Changes = CopyChanges;

    fn name(&self) -> &'static str {
        "copy"
    }

    fn parse(&self, args: Map) -> Result<CopyArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let dest = a.str("dest")?.unwrap_or_default();
        let source = if let Some(c) = a.raw("content") {
            if dest.ends_with('/') {
                return Err(ModuleError::new("can not use content with a dir as dest"));
            }
            CopySource::Content(content_bytes(c))
        } else if let Some(src) = a.str("src")? {
            match a.flag("remote_src") {
                true => CopySource::Remote(src),
                false => CopySource::Local(src),
            }
        } else {
            return Err(ModuleError::new("src (or content) is required"));
        };
        let validate = validate::from_args(&a)?;
        let directory_mode = match a.raw("directory_mode") {
            Some(v) => {
                Some(ModeSpec::parse(v, false).map_err(|e| ModuleError::new(e.to_string()))?)
            }
            None => None,
        };
        let mut attrs = AttrSpec::from_args(&a, true)?;
        if attrs.mode == Some(ModeSpec::Preserve) && !matches!(source, CopySource::Local(_)) {
            attrs.mode = None;
        }
        Ok(CopyArgs {
            dest,
            source,
            attrs,
            backup: a.flag("backup"),
            force: a.flag("force"),
            follow: a.flag("follow"),
            validate,
            directory_mode,
            checksum: a.str("checksum")?,
        })
    }

    async fn query(&self, ctx: &ModuleContext<'_>, a: &CopyArgs) -> Result<CopySeen, ModuleError> {
        let (inst, src) = match &a.source {
            CopySource::Content(d) => {
                let source = Source::Data(d.clone());
                (
                    a.install(&a.dest, source, a.attrs.clone(), a.dest.clone()),
                    None,
                )
            }
            CopySource::Remote(src) => {
                let source = Source::Remote(src.clone());
                let mut inst = a.install(&a.dest, source, a.attrs.clone(), src.clone());
                inst.basename = Some(basename(src));
                (inst, Some(src.clone()))
            }
            CopySource::Local(name) => {
                let path = find_local(ctx, name)?;
                if path.is_dir() {
                    return Ok(CopySeen::Tree(tree::query(ctx, a, path, name).await?));
                }
                let mut attrs = a.attrs.clone();
                attrs.resolve_preserve(&path)?;
                let shown = path.display().to_string();
                let mut inst = a.install(&a.dest, Source::File(path), attrs, shown.clone());
                inst.basename = Some(basename(name));
                (inst, Some(shown))
            }
        };
        let file = install::query(ctx, vec![inst])
            .await?
            .pop()
            .ok_or_else(|| ModuleError::new("the host reported nothing about dest"))?;
        Ok(CopySeen::One {
            file: Box::new(file),
            src,
        })
    }

    fn plan(a: &CopyArgs, seen: &CopySeen) -> Result<Plan<CopyChanges>, ModuleError> {
        match seen {
            CopySeen::One { file, src } => {
                // A remote source is checked by ansible-core's module on every run.
                if let SourceSeen::Remote(st) = &file.seen.source {
                    if let Some(have) = &st.checksum {
                        checksum_mismatch(a, have)?;
                    }
                }
                let p = install::plan(file)?;
                let mut result = p.result;
                if let Some(s) = src.as_ref().filter(|_| result.extra.contains_key("dest")) {
                    result.insert("src", s.as_str());
                }
                Ok(Plan {
                    changes: p.changes.map(|s| CopyChanges::One(s, src.clone())),
                    result,
                })
            }
            CopySeen::Tree(t) => tree::plan(a, t),
        }
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &CopyArgs,
        changes: CopyChanges,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        match changes {
            CopyChanges::One(step, src) => {
                check_written(a, &step)?;
                let mut r = install::apply(ctx, step, result).await?;
                if let Some(s) = src {
                    r.insert("src", s);
                }
                Ok(r)
            }
            CopyChanges::Tree(t) => tree::apply(ctx, a, t, result).await,
        }
    }
}

/// The controller file or directory `name` (role `files/`, then the playbook's directory).
fn find_local(ctx: &ModuleContext<'_>, name: &str) -> Result<PathBuf, ModuleError> {
    ctx.env.find_file(FileKind::Files, name).ok_or_else(|| {
        ModuleError::new(format!(
            "Could not find or access '{name}' on the Ansible Controller.\nIf you are using a module and expect the file to exist on the remote, see the remote_src option"
        ))
    })
}

#[cfg(test)]
mod tests;
