//! The repository modules' one file pipeline (apt_repository, yum_repository,
//! deb822_repository): a file whose whole content is rendered from the task's arguments.
//! [`query_file`] reads it through `common::text`, [`plan_file`] decides without the host
//! (write, remove, attributes only, or nothing) and [`apply_file`] carries that out through
//! common's atomic commit, so the three modules share one way to read, decide and write.

use crate::common::attrs::AttrSpec;
use crate::common::reads::ensure_ok;
use crate::common::run_sh;
use crate::common::text::{commit, read, Found, TextFile, WriteOpts};
use kplay_engine::module::{ModuleContext, ModuleError};
use kplay_engine::transport::sh_quote;

/// What a rendered file needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// Write this content (and the attributes asked).
    Write(String),
    /// The content is right; only mode/owner/group differ.
    Attrs,
    /// Delete the file.
    Remove,
}

/// [`plan_file`]'s verdict: the change (`None`: nothing to do) and the content before and
/// after, for the diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePlan {
    pub change: Option<FileChange>,
    pub before: String,
    pub after: String,
}

/// Read `path` (content, attributes, the real path behind a link); a directory there is an
/// error, a missing file is [`Found::Missing`].
pub async fn query_file(ctx: &ModuleContext<'_>, path: &str) -> Result<TextFile, ModuleError> {
    let f = read(ctx, path).await?;
    if matches!(f.found, Found::Directory) {
        return Err(ModuleError::new(format!("{path} is a directory")));
    }
    Ok(f)
}

/// Whether `attrs` would change the existing file. A file that is still to be written gets
/// them with the write, so only an existing one can need them alone.
pub fn attrs_differ(seen: &TextFile, attrs: &AttrSpec) -> bool {
    seen.stat()
        .is_some_and(|st| !attrs.changes(st, seen.host.umask).is_empty())
}

/// Decide what the file needs so that it holds `want` (`None`: that it does not exist), with
/// `attrs` on it when it exists.
pub fn plan_file(seen: &TextFile, want: Option<&str>, attrs: &AttrSpec) -> FilePlan {
    let before = seen.content().unwrap_or_default().to_string();
    let change = match want {
        None if seen.exists() => Some(FileChange::Remove),
        None => None,
        Some(text) if seen.content() != Some(text) => Some(FileChange::Write(text.to_string())),
        Some(_) if attrs_differ(seen, attrs) => Some(FileChange::Attrs),
        Some(_) => None,
    };
    FilePlan {
        change,
        before,
        after: want.unwrap_or_default().to_string(),
    }
}

impl FileChange {
    /// This change to `path`, as `seen` read it, ready for `apply`.
    pub fn on(self, path: &str, seen: &TextFile) -> FileEdit {
        FileEdit {
            path: path.to_string(),
            seen: seen.clone(),
            change: self,
        }
    }
}

/// One file's change with what `query` saw of it: what `apply` needs to carry it out.
#[derive(Debug, Clone)]
pub struct FileEdit {
    pub path: String,
    pub seen: TextFile,
    pub change: FileChange,
}

impl FileEdit {
    /// Carry the change out (never in check mode: `Planned` stops before apply).
    pub async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        opts: &WriteOpts,
    ) -> Result<(), ModuleError> {
        let (path, seen) = (self.path.as_str(), &self.seen);
        match &self.change {
            FileChange::Write(text) => commit(ctx, path, seen, Some(text.as_str()), opts)
                .await
                .map(drop),
            FileChange::Attrs => commit(ctx, path, seen, None, opts).await.map(drop),
            FileChange::Remove => remove_file(ctx, path).await,
        }
    }
}

/// `rm -f` one file; its stderr is the failure message.
pub async fn remove_file(ctx: &ModuleContext<'_>, path: &str) -> Result<(), ModuleError> {
    let out = run_sh(ctx, format!("rm -f -- {}", sh_quote(path)), None).await?;
    ensure_ok(&out, |_, e| e.trim().to_string())?;
    Ok(())
}

/// A [`TextFile`] as `query_file` would return it, for the modules' pure plan tests.
#[cfg(test)]
pub fn seen_file(path: &str, content: Option<&str>, mode: u32) -> TextFile {
    let mut t = crate::common::text_edit::seen_text(path, content);
    if let crate::common::text::Found::File { stat, .. } = &mut t.found {
        stat.mode = mode;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::mode::ModeSpec;

    fn mode(m: u32) -> AttrSpec {
        AttrSpec {
            mode: Some(ModeSpec::Octal(m)),
            ..Default::default()
        }
    }

    #[test]
    fn a_missing_file_is_written_and_a_wanted_absence_is_nothing() {
        let seen = seen_file("/r", None, 0);
        let p = plan_file(&seen, Some("x\n"), &mode(0o644));
        assert_eq!(p.change, Some(FileChange::Write("x\n".into())));
        assert_eq!((p.before.as_str(), p.after.as_str()), ("", "x\n"));
        assert_eq!(plan_file(&seen, None, &AttrSpec::default()).change, None);
    }

    #[test]
    fn an_existing_file_is_rewritten_removed_or_only_chmodded() {
        let seen = seen_file("/r", Some("x\n"), 0o600);
        assert_eq!(
            plan_file(&seen, Some("y\n"), &AttrSpec::default()).change,
            Some(FileChange::Write("y\n".into()))
        );
        let p = plan_file(&seen, None, &AttrSpec::default());
        assert_eq!(p.change, Some(FileChange::Remove));
        assert_eq!((p.before.as_str(), p.after.as_str()), ("x\n", ""));
        assert_eq!(
            plan_file(&seen, Some("x\n"), &mode(0o644)).change,
            Some(FileChange::Attrs)
        );
        assert_eq!(plan_file(&seen, Some("x\n"), &mode(0o600)).change, None);
        assert!(!attrs_differ(&seen_file("/r", None, 0), &mode(0o644)));
    }
}
