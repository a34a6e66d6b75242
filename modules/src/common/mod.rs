//! Helpers shared by modules: declared arguments and their checking, diffs, and the one family
//! of file helpers. Each file helper serves a task through the host's agent when there is one and
//! through a sh script otherwise, with the same result, so no module branches on that itself:
//!
//! - stat: [`probe::probe`] (many paths, one round trip: kind, attributes, real path, checksum,
//!   content, the writing user and umask);
//! - read a text file through its links: [`text::read`];
//! - write: [`write::write_file`] (temp file owner-only from its creation, owner/group/mode,
//!   `validate`, backup, atomic rename), and for an edited text file [`text::commit`] on top of it
//!   (Ansible's `write_changes` + `check_file_attrs`, check-mode verdict included);
//! - a module that edits one text file is only its argument spec and a pure edit:
//!   [`text_edit::TextEditor`] gives it query → plan → apply on top of `read` and `commit`;
//! - set attributes: [`write::set_attrs`], from the [`attrs::AttrSpec`] / [`mode::ModeSpec`] a
//!   task asks for;
//! - several sh reads framed in one round trip for the system modules: [`reads::read_all`].

pub mod args;
pub mod attrs;
pub mod diff;
pub mod install;
pub mod mode;
pub mod pgp;
pub mod probe;
pub mod pyre;
pub mod reads;
#[cfg(test)]
pub(crate) mod snapshot;
pub mod spec;
pub mod text;
pub mod text_edit;
pub mod upload;
pub mod validate;
pub mod write;

use kplay_engine::module::{ModuleContext, ModuleError};
use kplay_engine::transport::{ExecOutput, ExecRequest};
use kplay_engine::value::{Map, Value};

/// A module failure carrying Ansible's `rc` key (256 "no command given" or "is a directory",
/// 257 "does not exist").
pub fn fail_rc(msg: impl Into<String>, rc: i64) -> ModuleError {
    fail_with(msg, [("rc", Value::from(rc))])
}

/// A failed command's result keys, as Ansible's `fail_json(<status_key>=…, stdout=…, stderr=…)`.
pub fn fail_output(
    msg: impl Into<String>,
    (status_key, status): (&str, i64),
    stdout: &str,
    stderr: &str,
) -> ModuleError {
    fail_with(
        msg,
        [
            (status_key, Value::from(status)),
            ("stdout", Value::from(stdout)),
            ("stderr", Value::from(stderr)),
        ],
    )
}

/// A module failure carrying more of Ansible's result keys (`rc`, `stdout`, `stderr` …).
pub fn fail_with<'k>(
    msg: impl Into<String>,
    keys: impl IntoIterator<Item = (&'k str, Value)>,
) -> ModuleError {
    let m: Map = keys.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    ModuleError::with_result(msg, m)
}

/// Run a sh snippet on the host with the task's `become` and `environment`.
pub async fn run_sh(
    ctx: &ModuleContext<'_>,
    script: String,
    stdin: Option<Vec<u8>>,
) -> Result<ExecOutput, ModuleError> {
    let mut req = ExecRequest::sh(script).with_become(ctx.become_.clone());
    req.stdin = stdin;
    req.env = ctx.environment.clone();
    Ok(ctx.transport.exec(req).await?)
}

/// [`run_sh`] with the controller file `stdin` streamed to the snippet's stdin.
pub async fn run_sh_file(
    ctx: &ModuleContext<'_>,
    script: String,
    stdin: &std::path::Path,
) -> Result<ExecOutput, ModuleError> {
    let mut req = ExecRequest::sh(script).with_become(ctx.become_.clone());
    req.env = ctx.environment.clone();
    Ok(ctx.transport.exec_stdin_file(req, stdin).await?)
}

/// Ask kplay's agent on the host (or, for `local`, the engine in-process) to do a file
/// operation with the task's `become`. `Ok(None)`: no agent serves this task; the caller runs
/// its sh script instead, which gives the same result.
pub async fn agent_call(
    ctx: &ModuleContext<'_>,
    req: &kplay_engine::agent::Request,
) -> Result<Option<kplay_engine::agent::Reply>, ModuleError> {
    Ok(ctx.transport.agent(req, ctx.become_.as_ref()).await?)
}

/// An agent reply that is not the kind a request expects (a bug, or a mismatched agent).
pub fn unexpected_reply(what: &str, reply: &kplay_engine::agent::Reply) -> ModuleError {
    ModuleError::new(format!(
        "unexpected answer from the host's agent to {what}: {reply:?}"
    ))
}

/// The next `\n`-ended line of a host's reply from `pos` on (moving `pos` past it), for the
/// record formats that also carry raw byte blocks (so the reply is not split up front).
pub(crate) fn next_line(out: &[u8], pos: &mut usize) -> Option<String> {
    let rest = out.get(*pos..).filter(|r| !r.is_empty())?;
    let len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    *pos += len + 1;
    Some(String::from_utf8_lossy(&rest[..len]).into_owned())
}

/// The directory part of a remote path (`/a/b` → `/a`, `b` → `.`, `/a` → `/`).
pub fn remote_dirname(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => trimmed[..i].to_string(),
        None => ".".to_string(),
    }
}

/// The last component of a path (`/a/b/` → `b`).
pub fn basename(path: &str) -> String {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string()
}

/// Join a remote directory and a name without doubling slashes.
pub fn join_remote(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirname_and_basename_follow_posix() {
        assert_eq!(remote_dirname("/a/b"), "/a");
        assert_eq!(remote_dirname("/a"), "/");
        assert_eq!(remote_dirname("b"), ".");
        assert_eq!(basename("/a/b/"), "b");
        assert_eq!(join_remote("/a/", "b"), "/a/b");
        assert_eq!(join_remote("/a", "b"), "/a/b");
    }
}
