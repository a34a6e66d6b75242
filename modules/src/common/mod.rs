//! Helpers shared by modules: declared arguments and their checking, `mode` parsing, the one-round-trip remote
//! probe, owner/group/mode enforcement, atomic writes with backup and `validate`, and diffs.

pub mod args;
pub mod attrs;
pub mod diff;
pub mod install;
pub mod mode;
pub mod pgp;
pub mod probe;
#[cfg(test)]
pub(crate) mod snapshot;
pub mod spec;
pub mod upload;
pub mod validate;
pub mod write;

use kplay_engine::module::{ModuleContext, ModuleError};
use kplay_engine::transport::{ExecOutput, ExecRequest};
use kplay_engine::value::{Map, Value};

/// A module failure carrying Ansible's `rc` key (256 "no command given" or "is a directory",
/// 257 "does not exist").
pub fn fail_rc(msg: impl Into<String>, rc: i64) -> ModuleError {
    let mut m = Map::new();
    m.insert("rc".into(), Value::from(rc));
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
