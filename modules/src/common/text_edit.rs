//! The one query → plan → apply pipeline of the modules that edit a text file in place
//! (lineinfile, blockinfile, replace, ini_file). Each of them is only its argument spec and a
//! pure [`TextEditor::edit`] from the file as read to the new text; this file does the rest for
//! all of them, the way Ansible's `write_changes` + `check_file_attrs` do:
//!
//! - query: [`read`] the file once (through its links, content and attributes);
//! - plan: the module's edit, the attribute verdict ([`attr_changes`]) and Ansible's message
//!   suffix for it; check mode reports this;
//! - apply: [`commit`], the one atomic write (backup, `validate`, `mode`/`owner`/`group`), or
//!   only the attributes when the text is as asked.

use super::args::{p, Args, Param, Spec};
use super::text::{attr_changes, attrs_message, commit, read, TextFile, WriteOpts};
use crate::planned::{Plan, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::Map;

/// `path` as lineinfile, blockinfile and replace declare it (Ansible's aliases included).
pub const EDITED_PATH: Param = p("path", &["dest", "destfile", "name"])
    .path()
    .required()
    .doc("The file to modify.");

/// `backup` of the text editors: the copy is of the file as it was before the edit.
pub const BACKUP_ORIGINAL: Param = p("backup", &[])
    .flag(false)
    .doc("Keep a timestamped copy of the original file.");

/// `validate` of the text editors, checked by [`crate::common::validate`].
pub const VALIDATE_EDITED: Param = p("validate", &[])
    .str()
    .doc("Command run on the new file (`%s`) before it replaces the original.");

/// A text editor's checked arguments: the file, how it is written, and the module's own.
#[derive(Debug, Clone)]
pub struct EditArgs<E> {
    /// The task's path (messages, diff headers, backup name); the real file is written.
    pub path: String,
    pub opts: WriteOpts,
    pub edit: E,
}

impl<E> EditArgs<E> {
    /// Check `args` against `spec`: `path` first, then the module's own arguments (`edit`),
    /// then how the file is written, so a bad argument is reported in that order.
    pub fn parse(
        spec: &'static Spec,
        args: Map,
        edit: impl FnOnce(&Args) -> Result<E, ModuleError>,
    ) -> Result<Self, ModuleError> {
        let a = spec.parse(args)?;
        let path = a.required_str("path")?;
        let edit = edit(&a)?;
        Ok(EditArgs {
            path,
            opts: WriteOpts::from_args(&a)?,
            edit,
        })
    }
}

/// What an editor makes of the file as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Edited {
    /// Leave the file and its attributes alone and report this result (Ansible exits early:
    /// `file not present`, a section that did not match).
    Stop(ModuleResult),
    /// The edit proper.
    Text(TextChange),
}

/// The outcome of an edit on the file's text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextChange {
    /// The new text; `None` when the file already says what was asked.
    pub after: Option<String>,
    /// Ansible's `msg` for the text change (`""` when none); an attribute change is added to it.
    pub msg: String,
    /// The rest of the result: the module's own keys and its diff.
    pub result: ModuleResult,
}

impl TextChange {
    /// `after` when it differs from `before`, else nothing to write.
    pub fn new(before: &str, after: String, msg: &str, result: ModuleResult) -> TextChange {
        TextChange {
            after: (after != before).then_some(after),
            msg: msg.to_string(),
            result,
        }
    }
}

/// A module that edits one text file: its arguments and its pure edit.
pub trait TextEditor: Send + Sync + 'static {
    /// The module's own checked arguments.
    type Edit: Send + Sync;
    /// The result key naming the backup made (lineinfile says `backup`).
    const BACKUP_KEY: &'static str = "backup_file";

    fn name(&self) -> &'static str;
    fn collections(&self) -> &'static [&'static str] {
        &[]
    }
    /// Check the task's arguments (through the module's `SPEC`).
    fn parse(&self, args: Map) -> Result<EditArgs<Self::Edit>, ModuleError>;
    /// The edit: from the file as read (missing, a directory, or its text) to the new text.
    /// Pure, so it is unit-tested without a host.
    fn edit(e: &Self::Edit, path: &str, file: &TextFile) -> Result<Edited, ModuleError>;
}

/// What apply writes: the file as read, the new text (or only its attributes), the message.
#[derive(Debug, Clone)]
pub struct Write {
    file: TextFile,
    after: Option<String>,
    msg: String,
}

/// The plan of every text editor: its edit, then whether the attributes differ. A file that
/// does not exist yet reports no attribute change in check mode (Ansible stops before
/// `check_file_attrs` there); apply learns the real verdict.
pub fn plan_edit<T: TextEditor>(
    args: &EditArgs<T::Edit>,
    file: &TextFile,
) -> Result<Plan<Write>, ModuleError> {
    let change = match T::edit(&args.edit, &args.path, file)? {
        Edited::Stop(r) => return Ok(Plan::nothing(r)),
        Edited::Text(c) => c,
    };
    let attrs = file.exists() && !attr_changes(file, &args.opts).0.is_empty();
    let result = change.result.set("msg", attrs_message(&change.msg, attrs));
    if change.after.is_none() && !attrs {
        return Ok(Plan::nothing(result));
    }
    let w = Write {
        file: file.clone(),
        after: change.after,
        msg: change.msg,
    };
    Ok(Plan::change(w, result))
}

#[async_trait]
impl<T: TextEditor> QueryPlanApply for T {
    type Args = EditArgs<T::Edit>;
    type Seen = TextFile;
    type Changes = Write;

    fn name(&self) -> &'static str {
        TextEditor::name(self)
    }
    fn collections(&self) -> &'static [&'static str] {
        TextEditor::collections(self)
    }
    fn parse(&self, args: Map) -> Result<Self::Args, ModuleError> {
        TextEditor::parse(self, args)
    }

    async fn query(
        &self,
        ctx: &ModuleContext<'_>,
        args: &Self::Args,
    ) -> Result<TextFile, ModuleError> {
        read(ctx, &args.path).await
    }

    fn plan(args: &Self::Args, seen: &TextFile) -> Result<Plan<Write>, ModuleError> {
        plan_edit::<T>(args, seen)
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        args: &Self::Args,
        w: Write,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let done = commit(ctx, &args.path, &w.file, w.after.as_deref(), &args.opts).await?;
        let mut r = result.set("msg", attrs_message(&w.msg, done.attrs_changed));
        if let Some(b) = done.backup_file {
            r.insert(T::BACKUP_KEY, b);
        }
        Ok(r)
    }
}

/// `result` with Ansible's content diff (`PATH (content)` as both headers).
pub fn content_diff(result: ModuleResult, path: &str, before: &str, after: &str) -> ModuleResult {
    let header = format!("{path} (content)");
    result.with_diff(&header, &header, before, after)
}

/// The file as a test's `query` would have read it: `content` (mode 0644, owned by root), or
/// missing; for the pure plans' unit tests.
#[cfg(test)]
pub fn seen_text(path: &str, content: Option<&str>) -> TextFile {
    use super::probe::{HostInfo, PathKind, PathStat};
    use super::text::Found;
    let host = HostInfo {
        user: "root".into(),
        group: "root".into(),
        umask: 0o022,
        ..Default::default()
    };
    let found = match content {
        Some(c) => Found::File {
            stat: Box::new(PathStat::new_by(path, PathKind::File, &host)),
            content: c.to_string(),
        },
        None => Found::Missing,
    };
    TextFile {
        found,
        real_path: path.to_string(),
        host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::args::{p, Param, Spec, FILE_COMMON};
    use crate::common::text::Found;
    use serde_json::json;

    const PARAMS: &[Param] = &[p("path", &[]).path().required(), p("suffix", &[]).str()];
    static SPEC: Spec = Spec::new("append", "test editor", &[PARAMS, FILE_COMMON]);

    /// Appends `suffix` to the file; stops on a missing one.
    struct Append;

    impl TextEditor for Append {
        type Edit = String;
        fn name(&self) -> &'static str {
            "append"
        }
        fn parse(&self, args: Map) -> Result<EditArgs<String>, ModuleError> {
            let a = SPEC.parse(args)?;
            Ok(EditArgs {
                path: a.required_str("path")?,
                opts: WriteOpts::from_args(&a)?,
                edit: a.str("suffix")?.unwrap_or_default(),
            })
        }
        fn edit(e: &String, _: &str, file: &TextFile) -> Result<Edited, ModuleError> {
            Ok(match &file.found {
                Found::File { content, .. } => Edited::Text(TextChange::new(
                    content,
                    format!("{content}{e}"),
                    if e.is_empty() { "" } else { "appended" },
                    ModuleResult::new(false),
                )),
                _ => Edited::Stop(ModuleResult::new(false).set("msg", "nothing")),
            })
        }
    }

    #[test]
    fn edit_args_check_path_then_the_edit_then_the_write_options() {
        const VPARAMS: &[Param] = &[
            p("path", &[]).path().required(),
            p("validate", &[]).str(),
            p("suffix", &[]).str(),
            p("backup", &[]).bool(),
        ];
        static VSPEC: Spec = Spec::new("v", "test editor", &[VPARAMS, FILE_COMMON]);
        let parse = |v: serde_json::Value, fail: bool| {
            EditArgs::parse(&VSPEC, crate::testutil::args(v), |a| match fail {
                true => Err(ModuleError::new("bad edit")),
                false => Ok(a.str("suffix")?.unwrap_or_default()),
            })
        };
        let ok = parse(json!({"path": "/f", "suffix": "x", "backup": true}), false).unwrap();
        assert_eq!((ok.path.as_str(), ok.edit.as_str()), ("/f", "x"));
        assert!(ok.opts.backup);
        let bad = json!({"path": "/f", "validate": "true"});
        assert_eq!(parse(bad.clone(), true).unwrap_err().msg, "bad edit");
        assert_eq!(
            parse(bad, false).unwrap_err().msg,
            "validate must contain %s: true"
        );
        assert!(parse(json!({}), true).unwrap_err().msg.contains("path"));
    }

    fn args(v: serde_json::Value) -> EditArgs<String> {
        TextEditor::parse(&Append, crate::testutil::args(v)).expect("arguments")
    }

    #[test]
    fn text_change_plans_the_write_and_same_text_plans_nothing() {
        let seen = seen_text("/f", Some("a\n"));
        let p = plan_edit::<Append>(&args(json!({"path": "/f", "suffix": "b\n"})), &seen)
            .expect("plan");
        assert!(p.result.changed);
        assert_eq!(p.result.extra["msg"], "appended");
        assert_eq!(p.changes.and_then(|w| w.after).as_deref(), Some("a\nb\n"));
        let p = plan_edit::<Append>(&args(json!({"path": "/f"})), &seen).expect("plan");
        assert!(!p.result.changed && p.changes.is_none());
    }

    #[test]
    fn attribute_change_alone_is_planned_with_ansibles_message() {
        let seen = seen_text("/f", Some("a\n"));
        let p =
            plan_edit::<Append>(&args(json!({"path": "/f", "mode": "0600"})), &seen).expect("plan");
        assert!(p.result.changed);
        assert_eq!(
            p.result.extra["msg"],
            "ownership, perms or SE linux context changed"
        );
        let w = p.changes.expect("changes");
        assert!(w.after.is_none());
        let same =
            plan_edit::<Append>(&args(json!({"path": "/f", "mode": "0644"})), &seen).expect("plan");
        assert!(!same.result.changed);
    }

    #[test]
    fn stop_reports_its_result_and_plans_nothing() {
        let seen = seen_text("/f", None);
        let p =
            plan_edit::<Append>(&args(json!({"path": "/f", "mode": "0600"})), &seen).expect("plan");
        assert!(!p.result.changed && p.changes.is_none());
        assert_eq!(p.result.extra["msg"], "nothing");
    }
}
