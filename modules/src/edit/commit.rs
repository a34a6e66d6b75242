//! Writing an edited file back the way Ansible's `write_changes` + `check_file_attrs` do:
//! optional backup, optional `validate` on a temp copy, one atomic put, then `mode`/`owner`/
//! `group` — and in check mode, only the verdict.

use super::attrs::{AttrSpec, ModeSpec};
use super::probe::Probe;
use crate::common::args::Args;
use crate::common::validate;
use crate::common::write::{backup_shell, split_backup_line};
use kplay_engine::module::{ModuleContext, ModuleError};
use kplay_engine::transport::{sh_quote, ExecOutput, ExecRequest};

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
        let validate = a.str("validate")?;
        validate.as_deref().map_or(Ok(()), validate::check)?;
        let attrs = AttrSpec {
            mode: match a.raw("mode") {
                Some(v) => Some(ModeSpec::parse(v).map_err(ModuleError::new)?),
                None => None,
            },
            owner: a.str("owner")?,
            group: a.str("group")?,
        };
        Ok(WriteOpts {
            backup: a.bool("backup", false)?,
            validate,
            attrs,
        })
    }
}

/// What to write and how.
pub struct Commit<'a> {
    /// The path as the task gave it (messages, backup name).
    pub path: &'a str,
    pub probe: &'a Probe,
    /// The new content, when it differs from the current one.
    pub new_content: Option<&'a str>,
    pub opts: &'a WriteOpts,
}

/// What [`commit`] did (or, in check mode, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Committed {
    pub backup_file: Option<String>,
    pub attrs_changed: bool,
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

/// The attribute state before the edit: the file's own, or what a new file would get.
struct Before {
    mode: u32,
    uid: u32,
    gid: u32,
    owner: Option<String>,
    group: Option<String>,
}

fn before(probe: &Probe) -> Before {
    match probe.stat() {
        Some(s) => Before {
            mode: s.mode,
            uid: s.uid,
            gid: s.gid,
            owner: Some(s.owner.clone()),
            group: Some(s.group.clone()),
        },
        None => Before {
            mode: 0o666 & !probe.umask,
            uid: probe.writer_uid,
            gid: probe.writer_gid,
            owner: None,
            group: None,
        },
    }
}

/// Whether a desired owner/group (name or number) differs from the current one.
fn differs(want: &str, id: u32, name: Option<&str>) -> bool {
    match want.parse::<u32>() {
        Ok(n) => n != id,
        Err(_) => name != Some(want),
    }
}

/// Back up, write (validated), and enforce attributes; in check mode only compute the verdict.
pub async fn commit(ctx: &ModuleContext<'_>, c: Commit<'_>) -> Result<Committed, ModuleError> {
    let exists = c.probe.exists();
    let b = before(c.probe);
    let desired_mode = match &c.opts.attrs.mode {
        Some(m) => Some(m.resolve(b.mode, false).map_err(ModuleError::new)?),
        None => None,
    };
    let mode_changed = desired_mode.is_some_and(|m| m != b.mode);
    let owner_changed = c
        .opts
        .attrs
        .owner
        .as_deref()
        .is_some_and(|o| differs(o, b.uid, b.owner.as_deref()));
    let group_changed = c
        .opts
        .attrs
        .group
        .as_deref()
        .is_some_and(|g| differs(g, b.gid, b.group.as_deref()));
    let attrs_changed = mode_changed || owner_changed || group_changed;

    if ctx.check_mode {
        // Ansible leaves attributes alone for a file that check mode did not create.
        return Ok(Committed {
            backup_file: None,
            attrs_changed: attrs_changed && exists,
        });
    }

    let mut out = Committed {
        backup_file: None,
        attrs_changed,
    };
    if !(c.opts.backup && exists) && c.opts.validate.is_none() {
        let attrs = kplay_engine::agent::Attrs {
            owner: c.opts.attrs.owner.clone().filter(|_| owner_changed),
            group: c.opts.attrs.group.clone().filter(|_| group_changed),
            // chown may clear set-id bits: the mode is applied after it, as below.
            mode: desired_mode.filter(|_| mode_changed || owner_changed || group_changed),
        };
        if commit_by_agent(ctx, &c, attrs, desired_mode).await? {
            return Ok(out);
        }
    }
    if let Some(content) = c.new_content {
        out.backup_file = prepare(ctx, c.path, c.probe, c.opts.backup && exists).await?;
        let put_mode = desired_mode.or(c.probe.stat().map(|s| s.mode));
        match c.opts.validate.as_deref() {
            Some(v) => write_validated(ctx, c.probe, content, put_mode, v).await?,
            None => {
                ctx.transport
                    .put(
                        content.as_bytes(),
                        &c.probe.real_path,
                        put_mode,
                        ctx.become_.as_ref(),
                    )
                    .await?
            }
        }
    }

    let mut script = Vec::new();
    let real = sh_quote(&c.probe.real_path);
    if c.new_content.is_some()
        && exists
        && (b.uid != c.probe.writer_uid || b.gid != c.probe.writer_gid)
    {
        // The put replaced the file with one owned by the writer; give it back to its owner
        // (a non-root writer cannot, which Ansible tolerates too).
        script.push(format!(
            "chown {}:{} {real} 2>/dev/null || true",
            b.uid, b.gid
        ));
    }
    if owner_changed {
        if let Some(o) = &c.opts.attrs.owner {
            script.push(format!("chown {} {real} || exit 1", sh_quote(o)));
        }
    }
    if group_changed {
        if let Some(g) = &c.opts.attrs.group {
            script.push(format!("chgrp {} {real} || exit 1", sh_quote(g)));
        }
    }
    if let Some(m) = desired_mode {
        // chown may clear set-id bits, and an unchanged file was not put: apply the mode last.
        if mode_changed || !script.is_empty() {
            script.push(format!("chmod {m:o} {real} || exit 1"));
        }
    }
    if !script.is_empty() {
        run_steps(ctx, &script, &format!("setting attributes of {}", c.path)).await?;
    }
    Ok(out)
}

/// Write and set attributes through the agent in one request (the replaced file's owner
/// given back, missing parents made); `false` when there is no agent for this task.
async fn commit_by_agent(
    ctx: &ModuleContext<'_>,
    c: &Commit<'_>,
    attrs: kplay_engine::agent::Attrs,
    desired_mode: Option<u32>,
) -> Result<bool, ModuleError> {
    use kplay_engine::agent::{Reply, Request, WriteSpec};
    let real = &c.probe.real_path;
    let req = match c.new_content {
        Some(content) => Request::Write(WriteSpec {
            dest: real.clone(),
            data: content.as_bytes().to_vec(),
            from_remote: None,
            keep_owner: true,
            attrs: kplay_engine::agent::Attrs {
                mode: desired_mode.or(c.probe.stat().map(|s| s.mode)),
                ..attrs
            },
            create_parent: !c.probe.exists(),
            parent_mode: None,
        }),
        None if attrs == kplay_engine::agent::Attrs::default() => return Ok(true),
        None => Request::SetAttrs {
            path: real.clone(),
            attrs,
            no_deref: false,
        },
    };
    match crate::common::agent_call(ctx, &req).await? {
        None => Ok(false),
        Some(Reply::Stat(_)) => Ok(true),
        Some(Reply::Failed { step, message }) => Err(ModuleError::new(
            match crate::common::attrs::agent_attr_failure(step, &message) {
                Some(_) => format!("setting attributes of {} failed: {message}", c.path),
                None => format!("writing {real} failed: {message}"),
            },
        )),
        Some(other) => Err(crate::common::unexpected_reply("a write", &other)),
    }
}

/// Run sh `steps` (each `|| exit 1`) as the task's become user, without the task environment;
/// a failure is `<what> failed: <stderr>`.
async fn run_steps(
    ctx: &ModuleContext<'_>,
    steps: &[String],
    what: &str,
) -> Result<ExecOutput, ModuleError> {
    let res = ctx
        .transport
        .exec(ExecRequest::sh(steps.join("\n")).with_become(ctx.become_.clone()))
        .await?;
    if res.rc != 0 {
        return Err(ModuleError::new(format!(
            "{what} failed: {}",
            res.stderr_str().trim()
        )));
    }
    Ok(res)
}

/// Create missing parent directories and take the backup (common's [`backup_shell`]: Ansible's
/// `<path>.<pid>.<YYYY-MM-DD@HH:MM:SS>~` naming), in one command; returns the backup path.
async fn prepare(
    ctx: &ModuleContext<'_>,
    path: &str,
    probe: &Probe,
    backup: bool,
) -> Result<Option<String>, ModuleError> {
    let mut script = Vec::new();
    if !probe.exists() {
        if let Some((dir, _)) = probe.real_path.rsplit_once('/') {
            if !dir.is_empty() {
                script.push(format!("mkdir -p {} || exit 1", sh_quote(dir)));
            }
        }
    }
    if backup {
        script.push(format!("f={}\n{}", sh_quote(path), backup_shell("$f")));
    }
    if script.is_empty() {
        return Ok(None);
    }
    let res = run_steps(ctx, &script, &format!("preparing {path}")).await?;
    Ok(split_backup_line(&res.stdout).0)
}

/// Put the content beside the file, run `validate` on it, and move it into place only if the
/// command succeeds (Ansible: `failed to validate: rc:N error:…`).
async fn write_validated(
    ctx: &ModuleContext<'_>,
    probe: &Probe,
    content: &str,
    mode: Option<u32>,
    validate: &str,
) -> Result<(), ModuleError> {
    let (dir, base) = match probe.real_path.rsplit_once('/') {
        Some((d, b)) => (if d.is_empty() { "/" } else { d }, b),
        None => (".", probe.real_path.as_str()),
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = format!(
        "{}/.{base}.kplay-validate.{}.{stamp}",
        dir.trim_end_matches('/'),
        std::process::id()
    );
    ctx.transport
        .put(content.as_bytes(), &tmp, mode, ctx.become_.as_ref())
        .await?;
    let cmd = validate.replace("%s", &sh_quote(&tmp));
    let script = format!(
        "( {cmd} ); rc=$?\nif [ $rc -ne 0 ]; then rm -f {t}; exit $rc; fi\nmv -f {t} {real} || {{ rm -f {t}; echo 'moving the validated file into place failed' >&2; exit 255; }}",
        t = sh_quote(&tmp),
        real = sh_quote(&probe.real_path)
    );
    let mut req = ExecRequest::sh(script).with_become(ctx.become_.clone());
    req.env = ctx.environment.clone();
    let res = ctx.transport.exec(req).await?;
    if res.rc != 0 {
        return Err(ModuleError::new(format!(
            "failed to validate: rc:{} error:{}",
            res.rc,
            res.stderr_str()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::probe::probe;
    use crate::testutil::{ctx, TestEnv};
    use std::os::unix::fs::PermissionsExt;

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
        let p = probe(&c, &path).await.expect("probe");
        let done = commit(
            &c,
            Commit {
                path: &path,
                probe: &p,
                new_content,
                opts: &opts,
            },
        )
        .await;
        (dir, f, done)
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
}
