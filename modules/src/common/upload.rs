//! A controller file a module needs on the host (a `.deb` to install, an archive to unpack) goes
//! into a fresh private directory (`mktemp -d`: 0700, made by the task's user), never to a name
//! in a shared `/tmp` that another local user could take first (a directory of that name got
//! root's upload moved into it, and a package of theirs installed).

use super::{basename, join_remote, run_sh};
use kplay_engine::module::{ModuleContext, ModuleError};
use kplay_engine::transport::sh_quote;
use std::path::Path;

/// A private directory on the host and the path of the file in it.
#[derive(Debug, Clone)]
pub struct Upload {
    pub dir: String,
    pub path: String,
}

/// Make a private directory on the host for a file called `name` (not yet written).
pub async fn private_dir(ctx: &ModuleContext<'_>, name: &str) -> Result<Upload, ModuleError> {
    let out = run_sh(
        ctx,
        "umask 077; mktemp -d \"${TMPDIR:-/tmp}/.kplay-up.XXXXXX\"".into(),
        None,
    )
    .await?;
    let dir = out.stdout_str().trim().to_string();
    if out.rc != 0 || !dir.starts_with('/') {
        return Err(ModuleError::new(format!(
            "could not create a private temp directory: {}",
            out.stderr_str().trim()
        )));
    }
    let mut file = basename(name);
    if file.is_empty() || file == "." || file == ".." {
        file = "upload".into();
    }
    let path = join_remote(&dir, &file);
    Ok(Upload { dir, path })
}

/// Copy the controller file `local` into a new private directory on the host.
pub async fn upload(
    ctx: &ModuleContext<'_>,
    local: &Path,
    name: &str,
) -> Result<Upload, ModuleError> {
    let up = private_dir(ctx, name).await?;
    let sent = ctx
        .transport
        .put_file(local, &up.path, Some(0o600), ctx.become_.as_ref())
        .await;
    if let Err(e) = sent {
        remove(ctx, &up).await;
        return Err(e.into());
    }
    Ok(up)
}

/// Remove the private directory and what is in it (best effort: the module's result stands).
pub async fn remove(ctx: &ModuleContext<'_>, up: &Upload) {
    let _ = run_sh(ctx, format!("rm -rf -- {}", sh_quote(&up.dir)), None).await;
}
