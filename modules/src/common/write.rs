//! Writing a file on the host in one round trip: temp file beside the destination, content from
//! stdin, mode/owner/group on the temp file, `validate`, backup of the old file, rename, and a
//! final stat of the result. Readers see the old or the new file, never a half-written one, and a
//! failed validation leaves the destination untouched and no temp file behind.
//!
//! This is an `exec` with stdin rather than `Transport::put` because `put` cannot chown,
//! validate or back up before the rename, and each of those would cost another round trip.

use super::attrs::{agent_attr_failure, attr_failure, AttrChanges, RC_CHMOD};
use super::install::{sha1_file, sha1_hex};
use super::probe::{parse_reply, PathStat, PROBE_FN};
use super::validate;
use super::{agent_call, run_sh, run_sh_file, unexpected_reply};
use super::{basename, join_remote, remote_dirname};
use kplay_engine::agent::{Attrs, FailedStep, Reply, Request, WriteSpec};
use kplay_engine::module::{ModuleContext, ModuleError};
use kplay_engine::transport::sh_quote;
use std::path::Path;

/// Controller files up to this size travel whole (one agent message, or stdin of the persistent
/// shell); bigger ones are streamed.
const INLINE_LIMIT: u64 = 4 * 1024 * 1024;

/// Exit codes of the write script's own steps.
const RC_TEMP: i32 = 75;
const RC_WRITE: i32 = 76;
const RC_BACKUP: i32 = 77;
const RC_RENAME: i32 = 78;

use kplay_engine::agent::fsops::temp_file_name;
pub use kplay_engine::agent::fsops::TEMP_PREFIX;

/// One file to write.
#[derive(Debug, Clone, Default)]
pub struct WriteRequest<'a> {
    pub dest: &'a str,
    pub data: &'a [u8],
    /// Permission bits of the new file; `None` keeps the existing file's mode, or `0666 & ~umask`.
    pub mode: Option<u32>,
    pub owner: Option<&'a str>,
    pub group: Option<&'a str>,
    /// Command run on the temp file (`%s`) before it replaces `dest`.
    pub validate: Option<&'a str>,
    /// Copy the old file to Ansible's backup name first.
    pub backup: bool,
    /// Name the backup after this path instead of `dest` (the task's path when `dest` is
    /// the file a symlink resolves to).
    pub backup_as: Option<&'a str>,
    /// Read the content from this file on the host instead of `data` (`remote_src`).
    pub from_remote: Option<&'a str>,
    /// The content is this controller file instead of `data`: read whole when small, else
    /// streamed to the host through a fixed-size buffer (never held in memory).
    pub data_file: Option<&'a Path>,
    /// SHA-1 of the new content when the caller has it (saves hashing it again).
    pub checksum: Option<&'a str>,
    /// Create missing parent directories first (`mkdir -p`), with this mode when given.
    pub create_parent: Option<Option<u32>>,
}

/// What the write left behind.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The backup's path, when one was made (the old file existed and `backup` was asked).
    pub backup_file: Option<String>,
    /// The destination after the write.
    pub stat: PathStat,
}

/// Ansible's backup name: `path.PID.YYYY-MM-DD@HH:MM:SS~` in the host's local time.
/// The write script builds the same name with `$$` and `date`; this is the reference form.
pub fn backup_name(path: &str, pid: u32, time: &chrono::NaiveDateTime) -> String {
    format!("{path}.{pid}.{}", time.format("%Y-%m-%d@%H:%M:%S~"))
}

/// sh lines that copy `$path_var`'s file to its backup name and print `B <name>`.
pub fn backup_shell(path_var: &str) -> String {
    format!(
        "if [ -e \"{v}\" ]; then kb=\"{v}.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"{v}\" \"$kb\" || exit {RC_BACKUP}; printf 'B %s\\n' \"$kb\"; fi\n",
        v = path_var
    )
}

/// A temp file name in `dest`'s directory that no other run will pick.
fn temp_path(dest: &str) -> String {
    join_remote(&remote_dirname(dest), &temp_file_name(&basename(dest)))
}

/// The whole write script for `req`, using temp file `tmp`.
///
/// The temp file is created owner-only (`umask 077`, `set -C`: never an existing name or a
/// link), so another user cannot open it while it holds the new content; content arriving on
/// stdin is checked against its SHA-1 before anything else happens; owner and group come
/// before the final mode (chown clears set-id bits); fsync, rename, fsync of the directory.
fn write_script(req: &WriteRequest<'_>, tmp: &str) -> String {
    let mut s = String::from(PROBE_FN);
    s.push_str(&format!("f={}; t={}\n", sh_quote(req.dest), sh_quote(tmp)));
    let dir = sh_quote(&remote_dirname(req.dest));
    if let Some(dir_mode) = req.create_parent {
        let d = &dir;
        match dir_mode {
            Some(m) => s.push_str(&format!(
                "[ -d {d} ] || {{ mkdir -p {d} && chmod {m:o} {d}; }} || exit {RC_TEMP}\n"
            )),
            None => s.push_str(&format!("mkdir -p {d} || exit {RC_TEMP}\n")),
        }
    }
    s.push_str(&format!(
        "( umask 077; set -C; : > \"$t\" ) || exit {RC_TEMP}\ntrap 'rm -f \"$t\"' EXIT\n"
    ));
    match req.from_remote {
        Some(src) => s.push_str(&format!(
            "cat -- {} > \"$t\" || exit {RC_WRITE}\n",
            sh_quote(src)
        )),
        None => {
            let sum = match req.checksum {
                Some(c) => c.to_string(),
                None => sha1_hex(req.data),
            };
            s.push_str(&format!("cat > \"$t\" || exit {RC_WRITE}\n"));
            s.push_str(&format!(
                "[ \"$(sha1sum < \"$t\")\" = '{sum}  -' ] || {{ echo 'the new content arrived incomplete' >&2; exit {RC_WRITE}; }}\n"
            ));
        }
    }
    s.push_str(&install_shell(req, tmp));
    s.push_str("kp \"$f\" 0 - -1 0\n");
    s
}

/// sh lines that put the filled temp file `$t` (= `tmp`) in place of `$f` (= `req.dest`):
/// owner and mode of a replaced file kept, `req`'s owner/group/mode, `validate`, backup,
/// fsync, rename, fsync of the directory. Also used for a download already on the host.
pub(crate) fn install_shell(req: &WriteRequest<'_>, tmp: &str) -> String {
    let mut s = String::new();
    let dir = sh_quote(&remote_dirname(req.dest));
    // Like Ansible's atomic_move: a replaced file keeps its mode and (if we may) its owner; a
    // new one gets `0666 & ~umask`. One `stat` reads both (every program started on the host
    // costs, see bench/RESULTS.md).
    let mode = match req.mode {
        Some(m) => format!("{m:o}"),
        None => "$m".to_string(),
    };
    s.push_str("if [ -e \"$f\" ]; then\n  set -- $(stat -L -c '%a %u:%g' -- \"$f\")\n  m=$1\n");
    s.push_str(
        "  chown \"$2\" \"$t\" 2>/dev/null\nelse\n  m=$(printf %o $((0666 & ~0$(umask))))\nfi\n",
    );
    let changes = AttrChanges {
        owner: req.owner.map(|o| (String::new(), o.to_string())),
        group: req.group.map(|g| (String::new(), g.to_string())),
        mode: None,
    };
    s.push_str(&changes.shell(tmp, false));
    s.push_str(&format!("chmod {mode} \"$t\" || exit {RC_CHMOD}\n"));
    if let Some(v) = req.validate {
        s.push_str(&validate::shell(v, tmp));
    }
    if req.backup {
        match req.backup_as {
            Some(b) => s.push_str(&format!("b={}\n{}", sh_quote(b), backup_shell("$b"))),
            None => s.push_str(&backup_shell("$f")),
        }
    }
    // After the rename there is no temp file left to remove: drop the trap (it would start
    // an `rm` for nothing).
    s.push_str(&format!(
        "sync -- \"$t\" 2>/dev/null\nmv -f -- \"$t\" \"$f\" || exit {RC_RENAME}\ntrap - EXIT\nsync -- {dir} 2>/dev/null\n"
    ));
    s
}

/// Write `req.data` to `req.dest` atomically (one round trip) and report the result.
pub async fn write_file(
    ctx: &ModuleContext<'_>,
    req: &WriteRequest<'_>,
) -> Result<WriteOutcome, ModuleError> {
    if let Some(v) = req.validate {
        validate::check(v)?;
    }
    // A small controller file is read and sent like any other content.
    let inline;
    let mut small = req.clone();
    let req = match req.data_file {
        Some(p) if file_len(p)? <= INLINE_LIMIT => {
            inline = std::fs::read(p)
                .map_err(|e| ModuleError::new(format!("could not read {}: {e}", p.display())))?;
            small.data = &inline;
            small.data_file = None;
            &small
        }
        _ => req,
    };
    if let Some(out) = write_by_agent(ctx, req).await? {
        return Ok(out);
    }
    let tmp = temp_path(req.dest);
    let out = match (req.data_file, req.from_remote) {
        (Some(p), _) => {
            let sum = match req.checksum {
                Some(c) => c.to_string(),
                None => sha1_file(p).await?,
            };
            let streamed = WriteRequest {
                checksum: Some(&sum),
                ..req.clone()
            };
            run_sh_file(ctx, write_script(&streamed, &tmp), p).await?
        }
        (None, Some(_)) => run_sh(ctx, write_script(req, &tmp), None).await?,
        (None, None) => run_sh(ctx, write_script(req, &tmp), Some(req.data.to_vec())).await?,
    };
    let stderr = out.stderr_str();
    if out.rc != 0 {
        return Err(match out.rc {
            validate::RC_VALIDATE => validate::failure(&out.stdout, &stderr),
            RC_TEMP => ModuleError::new(format!(
                "could not create a temporary file beside {}: {}",
                req.dest,
                stderr.trim()
            )),
            RC_BACKUP => ModuleError::new(format!(
                "Could not make backup of {}: {}",
                req.dest,
                stderr.trim()
            )),
            RC_WRITE | RC_RENAME => {
                ModuleError::new(format!("failed to write {}: {}", req.dest, stderr.trim()))
            }
            rc => ModuleError::new(attr_failure(rc, &stderr).unwrap_or_else(|| {
                format!("writing {} failed (rc={rc}): {}", req.dest, stderr.trim())
            })),
        });
    }
    let (backup_file, rest) = split_backup_line(&out.stdout);
    let (_, mut stats) =
        parse_reply(rest, &[req.dest]).map_err(|e| ModuleError::new(e.to_string()))?;
    let stat = stats
        .pop()
        .ok_or_else(|| ModuleError::new(format!("no stat of {} after writing it", req.dest)))?;
    Ok(WriteOutcome { backup_file, stat })
}

/// The write through the agent; `None` when there is none, or for `validate` and `backup`
/// (their commands run in the sh script).
async fn write_by_agent(
    ctx: &ModuleContext<'_>,
    req: &WriteRequest<'_>,
) -> Result<Option<WriteOutcome>, ModuleError> {
    // A large controller file is more than one message may carry.
    if req.validate.is_some() || req.backup || req.data_file.is_some() {
        return Ok(None);
    }
    let spec = WriteSpec {
        dest: req.dest.to_string(),
        data: if req.from_remote.is_some() {
            Vec::new()
        } else {
            req.data.to_vec()
        },
        from_remote: req.from_remote.map(str::to_string),
        keep_owner: true,
        attrs: Attrs {
            owner: req.owner.map(str::to_string),
            group: req.group.map(str::to_string),
            mode: req.mode,
        },
        create_parent: req.create_parent.is_some(),
        parent_mode: req.create_parent.flatten(),
    };
    match agent_call(ctx, &Request::Write(spec)).await? {
        None => Ok(None),
        Some(Reply::Stat(stat)) => Ok(Some(WriteOutcome {
            backup_file: None,
            stat,
        })),
        Some(Reply::Failed { step, message }) => Err(ModuleError::new(
            agent_attr_failure(step, &message).unwrap_or_else(|| match step {
                FailedStep::Temp => format!(
                    "could not create a temporary file beside {}: {message}",
                    req.dest
                ),
                _ => format!("failed to write {}: {message}", req.dest),
            }),
        )),
        Some(other) => Err(unexpected_reply("a write", &other)),
    }
}

fn file_len(p: &Path) -> Result<u64, ModuleError> {
    std::fs::metadata(p)
        .map(|m| m.len())
        .map_err(|e| ModuleError::new(format!("could not read {}: {e}", p.display())))
}

/// Split a leading `B <backup path>` record (printed by [`backup_shell`]) off a script's stdout.
pub fn split_backup_line(out: &[u8]) -> (Option<String>, &[u8]) {
    if let Some(rest) = out.strip_prefix(b"B ") {
        if let Some(i) = rest.iter().position(|&b| b == b'\n') {
            return (
                Some(String::from_utf8_lossy(&rest[..i]).into_owned()),
                &rest[i + 1..],
            );
        }
    }
    (None, out)
}

/// Apply attribute changes to an existing path (one round trip) and return its new stat.
pub async fn set_attrs(
    ctx: &ModuleContext<'_>,
    path: &str,
    changes: &AttrChanges,
    no_deref: bool,
) -> Result<PathStat, ModuleError> {
    let req = Request::SetAttrs {
        path: path.to_string(),
        attrs: changes.to_agent(),
        no_deref,
    };
    match agent_call(ctx, &req).await? {
        None => {}
        Some(Reply::Stat(st)) => return Ok(st),
        Some(Reply::Failed { step, message }) => {
            return Err(ModuleError::new(
                agent_attr_failure(step, &message)
                    .unwrap_or_else(|| format!("changing attributes of {path} failed: {message}")),
            ))
        }
        Some(other) => return Err(unexpected_reply("an attribute change", &other)),
    }
    let script = format!(
        "{PROBE_FN}{}kp {} 0 - -1 0\n",
        changes.shell(path, no_deref),
        sh_quote(path)
    );
    let out = run_sh(ctx, script, None).await?;
    if out.rc != 0 {
        let stderr = out.stderr_str();
        return Err(ModuleError::new(
            attr_failure(out.rc, &stderr).unwrap_or_else(|| {
                format!("changing attributes of {path} failed: {}", stderr.trim())
            }),
        ));
    }
    let (_, mut stats) =
        parse_reply(&out.stdout, &[path]).map_err(|e| ModuleError::new(e.to_string()))?;
    stats
        .pop()
        .ok_or_else(|| ModuleError::new(format!("no stat of {path}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::probe::PathKind;
    use crate::testutil::{ctx, TestEnv};
    use std::os::unix::fs::PermissionsExt;

    /// A temp dir with `f` holding `old` (when given): the dir, `f`'s path, as text, the env.
    fn fixture(old: Option<&[u8]>) -> (tempfile::TempDir, std::path::PathBuf, String, TestEnv) {
        let d = tempfile::tempdir().unwrap();
        let destp = d.path().join("f");
        if let Some(old) = old {
            std::fs::write(&destp, old).unwrap();
        }
        let dest = destp.to_string_lossy().into_owned();
        let env = TestEnv::new(d.path());
        (d, destp, dest, env)
    }

    fn leftovers(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(TEMP_PREFIX))
            .collect()
    }

    #[test]
    fn backup_name_matches_ansible_format() {
        let t = chrono::NaiveDate::from_ymd_opt(2024, 3, 5)
            .and_then(|d| d.and_hms_opt(7, 8, 9))
            .unwrap();
        assert_eq!(
            backup_name("/etc/motd", 4242, &t),
            "/etc/motd.4242.2024-03-05@07:08:09~"
        );
    }

    #[test]
    fn temp_file_is_created_owner_only_before_any_content_and_moved_last() {
        let req = WriteRequest {
            dest: "/etc/ssl/k.pem",
            data: b"key",
            mode: Some(0o600),
            owner: Some("root"),
            backup: true,
            ..Default::default()
        };
        let s = write_script(&req, "/etc/ssl/.kplay-tmp");
        let at = |what: &str| s.find(what).unwrap_or_else(|| panic!("{what} in {s}"));
        let create = at("( umask 077; set -C; : > \"$t\" )");
        assert!(create < at("cat > \"$t\""), "{s}");
        assert!(at("chown root /etc/ssl/.kplay-tmp") < at("chmod 600 \"$t\""));
        assert!(at("chmod 600 \"$t\"") < at("mv -f --"));
        assert!(at("cp -p --") < at("mv -f --"), "backup before the rename");
    }

    crate::testutil::both_paths! {
    async fn write_creates_file_with_mode_and_reports_stat() {
        let (d, _, dest, env) = fixture(None);
        let c = ctx(&env, false, false);
        let o = write_file(
            &c,
            &WriteRequest {
                dest: &dest,
                data: b"a\0b",
                mode: Some(0o600),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"a\0b");
        assert_eq!(
            (o.stat.kind, o.stat.mode, o.stat.size),
            (PathKind::File, 0o600, 3)
        );
        assert!(leftovers(d.path()).is_empty());
    }
    }

    crate::testutil::both_paths! {
    async fn write_keeps_existing_mode_and_makes_backup() {
        let (_d, destp, dest, env) = fixture(Some(b"old"));
        std::fs::set_permissions(&destp, std::fs::Permissions::from_mode(0o640)).unwrap();
        let c = ctx(&env, false, false);
        let o = write_file(
            &c,
            &WriteRequest {
                dest: &dest,
                data: b"new",
                backup: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(o.stat.mode, 0o640);
        let b = o.backup_file.unwrap();
        let re = regex::Regex::new(r"\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$").unwrap();
        assert!(re.is_match(&b), "{b}");
        assert_eq!(std::fs::read(&b).unwrap(), b"old");
        assert_eq!(std::fs::read(&destp).unwrap(), b"new");
    }
    }

    crate::testutil::both_paths! {
    async fn failed_validation_leaves_destination_and_no_temp_file() {
        let (d, destp, dest, env) = fixture(Some(b"old"));
        let c = ctx(&env, false, false);
        let req = WriteRequest {
            dest: &dest,
            data: b"bad",
            validate: Some("grep -q good %s"),
            ..Default::default()
        };
        let e = write_file(&c, &req).await.unwrap_err();
        assert_eq!(e.msg, "failed to validate");
        assert_eq!(e.result["exit_status"], 1);
        assert_eq!(std::fs::read(&destp).unwrap(), b"old");
        assert!(leftovers(d.path()).is_empty());
    }
    }

    crate::testutil::both_paths! {
    async fn passing_validation_sees_the_new_content() {
        let (_d, _, dest, env) = fixture(None);
        let c = ctx(&env, false, false);
        let req = WriteRequest {
            dest: &dest,
            data: b"good",
            validate: Some("grep -q good %s"),
            ..Default::default()
        };
        write_file(&c, &req).await.unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"good");
    }
    }

    crate::testutil::both_paths! {
    async fn set_attrs_changes_mode() {
        let (_d, _, dest, env) = fixture(Some(b"x"));
        let c = ctx(&env, false, false);
        let st = set_attrs(
            &c,
            &dest,
            &AttrChanges {
                mode: Some((0o644, 0o751)),
                ..Default::default()
            },
            false,
        )
        .await
        .unwrap();
        assert_eq!(st.mode, 0o751);
    }
    }
}
