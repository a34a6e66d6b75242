//! Text files edited in place (lineinfile, blockinfile, replace, ini_file, selinux,
//! yum_repository, apt_repository): [`read`] the file once (following links, with its content),
//! compute the new text in Rust, [`commit`] it once — the way Ansible's `write_changes` +
//! `check_file_attrs` do: optional backup, optional `validate`, one atomic write, then
//! `mode`/`owner`/`group`; in check mode only the verdict. Both steps go through the one
//! probe and the one write of [`super::probe`] and [`super::write`], so the agent and the sh
//! path behave alike by construction.

use super::args::Args;
use super::attrs::{AttrChanges, AttrSpec};
use super::probe::{probe, HostInfo, PathKind, PathStat, ProbeRequest};
use super::validate;
use super::write::{set_attrs, write_file, WriteRequest};
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};

/// What the path is on the host.
#[derive(Debug, Clone)]
pub enum Found {
    Missing,
    Directory,
    File {
        stat: Box<PathStat>,
        content: String,
    },
}

/// The result of [`read`].
#[derive(Debug, Clone)]
pub struct TextFile {
    pub found: Found,
    /// The path with symlinks resolved: editing modules write the real file, never replace a link.
    pub real_path: String,
    /// The writing user and umask: what a newly written file will get.
    pub host: HostInfo,
}

impl TextFile {
    /// The current content, if the file exists.
    pub fn content(&self) -> Option<&str> {
        match &self.found {
            Found::File { content, .. } => Some(content),
            _ => None,
        }
    }

    pub fn exists(&self) -> bool {
        matches!(self.found, Found::File { .. })
    }

    pub fn stat(&self) -> Option<&PathStat> {
        match &self.found {
            Found::File { stat, .. } => Some(stat),
            _ => None,
        }
    }
}

/// Read everything about `path` in one round trip: kind, attributes, real path, whole content.
pub async fn read(ctx: &ModuleContext<'_>, path: &str) -> Result<TextFile, ModuleError> {
    let req = ProbeRequest::new(path)
        .follow(true)
        .checksum(None)
        .content_up_to(Some(u64::MAX))
        .real_path(true);
    let pr = probe(ctx, &[req]).await?;
    let mut st = pr
        .paths
        .into_iter()
        .next()
        .unwrap_or_else(|| PathStat::absent(path));
    let real_path = st
        .real_path
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| path.to_string());
    let found = match st.kind {
        PathKind::Directory => Found::Directory,
        PathKind::Absent => Found::Missing,
        _ => {
            let bytes = st.content.take().ok_or_else(|| {
                ModuleError::new(format!(
                    "reading {path} failed: {}",
                    if st.readable {
                        "not a regular file"
                    } else {
                        "Permission denied"
                    }
                ))
            })?;
            let content = String::from_utf8(bytes).map_err(|_| {
                ModuleError::new(format!(
                    "{path} is not valid UTF-8 text; kplay edits text files only"
                ))
            })?;
            Found::File {
                stat: Box::new(st),
                content,
            }
        }
    };
    Ok(TextFile {
        found,
        real_path,
        host: pr.host,
    })
}

/// How every editing module writes: its `backup`, `validate` and `mode`/`owner`/`group`
/// arguments, checked before the host is touched.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    pub backup: bool,
    /// A command containing `%s`, run on the temp copy before it replaces the file.
    pub validate: Option<String>,
    pub attrs: AttrSpec,
}

impl WriteOpts {
    /// Read and check `validate`, `mode`/`owner`/`group` and `backup`, in that order.
    pub fn from_args(a: &Args) -> Result<WriteOpts, ModuleError> {
        let validate = validate::from_args(a)?;
        let attrs = AttrSpec::from_args(a, false)?;
        Ok(WriteOpts {
            backup: a.bool("backup", false)?,
            validate,
            attrs,
        })
    }
}

/// What [`commit`] did (or, in check mode, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Committed {
    pub backup_file: Option<String>,
    pub attrs_changed: bool,
}

impl Committed {
    /// The result after an edit: changed when the content or the attributes changed, and
    /// Ansible's `msg` naming an attribute change.
    pub fn result(&self, content_changed: bool, msg: &str) -> ModuleResult {
        ModuleResult::new(content_changed || self.attrs_changed)
            .set("msg", attrs_message(msg, self.attrs_changed))
    }
}

/// The message suffix Ansible adds when attributes changed.
pub fn attrs_message(msg: &str, changed: bool) -> String {
    if changed {
        if msg.is_empty() {
            "ownership, perms or SE linux context changed".to_string()
        } else {
            format!("{msg} and ownership, perms or SE linux context changed")
        }
    } else {
        msg.to_string()
    }
}

/// The attribute changes `opts` asks of `f` (as read; a missing file is compared with what a
/// new one gets) and the mode it is to have. Pure: plans and [`commit`] share it.
pub fn attr_changes(f: &TextFile, opts: &WriteOpts) -> (AttrChanges, Option<u32>) {
    let before = match f.stat() {
        Some(st) => st.clone(),
        None => PathStat::new_by(&f.real_path, PathKind::File, &f.host),
    };
    let mut changes = opts.attrs.changes(&before, f.host.umask);
    let desired_mode = opts
        .attrs
        .mode
        .as_ref()
        .map(|m| m.resolve(before.mode, false, f.host.umask));
    if changes.owner.is_some() || changes.group.is_some() {
        // chown may clear set-id bits: a requested mode is applied again after it.
        changes.mode = changes.mode.or(desired_mode.map(|m| (before.mode, m)));
    }
    (changes, desired_mode)
}

/// Back up, write `new_content` (when it differs from the current one; validated), and enforce
/// attributes on `file` as read; in check mode only compute the verdict. `path` is the task's
/// (messages, backup name).
pub async fn commit(
    ctx: &ModuleContext<'_>,
    path: &str,
    f: &TextFile,
    new_content: Option<&str>,
    opts: &WriteOpts,
) -> Result<Committed, ModuleError> {
    let exists = f.exists();
    let (changes, desired_mode) = attr_changes(f, opts);
    let attrs_changed = !changes.is_empty();
    if ctx.check_mode {
        // Ansible leaves attributes alone for a file that check mode did not create.
        return Ok(Committed {
            backup_file: None,
            attrs_changed: attrs_changed && exists,
        });
    }
    let backup_file = match new_content {
        Some(content) => {
            let req = WriteRequest {
                dest: &f.real_path,
                data: content.as_bytes(),
                mode: desired_mode,
                owner: changes.owner.as_ref().map(|(_, o)| o.as_str()),
                group: changes.group.as_ref().map(|(_, g)| g.as_str()),
                validate: opts.validate.as_deref(),
                backup: opts.backup && exists,
                backup_as: Some(path),
                create_parent: (!exists).then_some(None),
                ..Default::default()
            };
            let out = write_file(ctx, &req).await.map_err(edit_wording)?;
            out.backup_file
        }
        None if attrs_changed => {
            set_attrs(ctx, &f.real_path, &changes, false).await?;
            None
        }
        None => None,
    };
    Ok(Committed {
        backup_file,
        attrs_changed,
    })
}

/// The editing modules' wording of a failed `validate` (Ansible's `write_changes`:
/// `failed to validate: rc:N error:…`), where copy/template say only `failed to validate`.
pub(crate) fn edit_wording(e: ModuleError) -> ModuleError {
    if e.msg != validate::FAILED {
        return e;
    }
    let field = |k: &str| e.result.get(k).map(|v| v.to_string()).unwrap_or_default();
    let stderr = e
        .result
        .get("stderr")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    ModuleError::new(format!(
        "failed to validate: rc:{} error:{stderr}",
        field("exit_status")
    ))
}

/// Python's `bytes.readlines()`: split after each `\n`, keeping it.
pub fn split_lines_lf(s: &str) -> Vec<String> {
    s.split_inclusive('\n').map(str::to_string).collect()
}

/// Python's `bytes.splitlines(True)`: split after `\n`, `\r\n` or `\r`, keeping them.
pub fn split_lines_universal(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let end = match bytes[i] {
            b'\n' => Some(i + 1),
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => Some(i + 2),
            b'\r' => Some(i + 1),
            _ => None,
        };
        if let Some(e) = end {
            out.push(s[start..e].to_string());
            start = e;
            i = e;
        } else {
            i += 1;
        }
    }
    if start < s.len() {
        out.push(s[start..].to_string());
    }
    out
}

/// `line.rstrip('\r\n')`.
pub fn strip_eol(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Add the content diff when `--diff` is on.
pub fn with_diff(
    ctx: &ModuleContext<'_>,
    r: ModuleResult,
    header: &str,
    before: &str,
    after: &str,
) -> ModuleResult {
    if ctx.diff {
        r.with_diff(header, header, before, after)
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::mode::ModeSpec;
    use crate::testutil::{ctx, TestEnv};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn readlines_keeps_newlines_and_unterminated_last_line() {
        assert_eq!(split_lines_lf("a\nb\r\nc"), vec!["a\n", "b\r\n", "c"]);
        assert!(split_lines_lf("").is_empty());
    }

    #[test]
    fn splitlines_true_splits_on_carriage_returns_too() {
        assert_eq!(
            split_lines_universal("a\rb\r\nc\n"),
            vec!["a\r", "b\r\n", "c\n"]
        );
    }

    #[test]
    fn attrs_message_joins_with_and() {
        assert_eq!(
            attrs_message("line added", true),
            "line added and ownership, perms or SE linux context changed"
        );
        assert_eq!(
            attrs_message("", true),
            "ownership, perms or SE linux context changed"
        );
        assert_eq!(attrs_message("line added", false), "line added");
    }

    crate::testutil::both_paths! {
    async fn read_gets_content_and_mode_of_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("f");
        std::fs::write(&f, "a\nb").expect("write");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let env = TestEnv::new(dir.path());
        let t = read(&ctx(&env, false, false), &f.to_string_lossy())
            .await
            .expect("read");
        assert_eq!(t.content(), Some("a\nb"));
        assert_eq!(t.stat().map(|s| s.mode), Some(0o640));
    }
    }

    crate::testutil::both_paths! {
    async fn read_reports_missing_file_and_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = TestEnv::new(dir.path());
        let c = ctx(&env, false, false);
        let missing = read(&c, &dir.path().join("nope").to_string_lossy())
            .await
            .expect("read");
        assert!(matches!(missing.found, Found::Missing));
        let d = read(&c, &dir.path().to_string_lossy()).await.expect("read");
        assert!(matches!(d.found, Found::Directory));
    }
    }

    /// `target` holding `content` and `link` pointing at it, in a new temp dir.
    fn target_and_link(
        content: &str,
    ) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        std::fs::write(&target, content).expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        (dir, target, link)
    }

    crate::testutil::both_paths! {
    async fn read_resolves_symlinks_even_dangling_ones() {
        let (dir, _, link) = target_and_link("x\n");
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("new"), &dangling).expect("symlink");
        let env = TestEnv::new(dir.path());
        let c = ctx(&env, false, false);
        let t = read(&c, &link.to_string_lossy()).await.expect("read");
        let real = std::fs::canonicalize(dir.path()).expect("canon");
        assert_eq!(t.real_path, real.join("target").to_string_lossy());
        assert_eq!(t.content(), Some("x\n"));
        let d = read(&c, &dangling.to_string_lossy()).await.expect("read");
        assert!(matches!(d.found, Found::Missing));
        assert_eq!(d.real_path, real.join("new").to_string_lossy());
    }
    }

    /// A file `f` holding `old` (mode `mode`) in a temp dir, committed with `new_content` and
    /// `opts`; the dir stays alive for inspection.
    async fn commit_file(
        old: &str,
        mode: u32,
        new_content: Option<&str>,
        opts: WriteOpts,
    ) -> (
        tempfile::TempDir,
        std::path::PathBuf,
        Result<Committed, ModuleError>,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("f");
        std::fs::write(&f, old).expect("write");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let env = TestEnv::new(dir.path());
        let c = ctx(&env, false, false);
        let path = f.to_string_lossy().into_owned();
        let file = read(&c, &path).await.expect("read");
        let done = commit(&c, &path, &file, new_content, &opts).await;
        (dir, f, done)
    }

    crate::testutil::both_paths! {
    async fn failed_validation_leaves_file_untouched() {
        let opts = WriteOpts {
            validate: Some("grep -q nothing %s".into()),
            ..Default::default()
        };
        let (dir, f, done) = commit_file("old\n", 0o644, Some("new\n"), opts).await;
        let err = done.expect_err("validation must fail");
        assert!(
            err.msg.starts_with("failed to validate: rc:1"),
            "{}",
            err.msg
        );
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "old\n");
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "temp file removed"
        );
    }
    }

    crate::testutil::both_paths! {
    async fn successful_validation_writes_file() {
        let opts = WriteOpts {
            validate: Some("grep -q new %s".into()),
            ..Default::default()
        };
        let (_dir, f, done) = commit_file("old\n", 0o644, Some("new\n"), opts).await;
        done.expect("commit");
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "new\n");
    }
    }

    crate::testutil::both_paths! {
    async fn mode_is_enforced_on_unchanged_content() {
        let opts = WriteOpts {
            attrs: AttrSpec {
                mode: Some(ModeSpec::Octal(0o600)),
                ..Default::default()
            },
            ..Default::default()
        };
        let (_dir, f, done) = commit_file("x\n", 0o644, None, opts).await;
        assert!(done.expect("commit").attrs_changed);
        assert_eq!(
            std::fs::metadata(&f).expect("stat").permissions().mode() & 0o7777,
            0o600
        );
    }
    }

    crate::testutil::both_paths! {
    async fn backup_copies_the_old_content() {
        let opts = WriteOpts {
            backup: true,
            ..Default::default()
        };
        let (_dir, f, done) = commit_file("old\n", 0o644, Some("new\n"), opts).await;
        let b = done.expect("commit").backup_file.expect("backup path");
        assert!(
            b.starts_with(&*f.to_string_lossy()) && b.ends_with('~'),
            "{b}"
        );
        assert_eq!(std::fs::read_to_string(&b).expect("read backup"), "old\n");
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "new\n");
    }
    }

    crate::testutil::both_paths! {
    async fn backup_through_a_link_is_named_after_the_link() {
        let (dir, target, link) = target_and_link("old\n");
        let env = TestEnv::new(dir.path());
        let c = ctx(&env, false, false);
        let path = link.to_string_lossy().into_owned();
        let file = read(&c, &path).await.expect("read");
        let opts = WriteOpts {
            backup: true,
            ..Default::default()
        };
        let done = commit(&c, &path, &file, Some("new\n"), &opts).await;
        let b = done.expect("commit").backup_file.expect("backup");
        assert!(b.starts_with(&path), "{b}");
        assert_eq!(std::fs::read_to_string(&b).expect("read backup"), "old\n");
        assert!(link.is_symlink(), "the link is kept");
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "new\n");
    }
    }
}
