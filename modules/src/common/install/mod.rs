//! Putting one file in place, shared by `copy`, `template` and `assemble`, in query → plan →
//! apply shape: [`query`] probes the destination (and the "destination is a directory"
//! candidate, its parent, a remote source) for any number of files in one round trip and
//! hashes the controller-side source; [`plan`] is the pure decision — which file is the real
//! target, whether content or attributes differ, Ansible's result keys and diff; [`apply`]
//! does at most one atomic write or one attribute change. Check mode stops after the plan.

mod apply;
mod plan;
mod query;
#[cfg(test)]
mod tests;

pub use apply::apply;
pub use plan::plan;
pub use query::query;

use super::attrs::{AttrChanges, AttrSpec};
use super::mode::ModeSpec;
use super::probe::{HostInfo, PathStat};
use kplay_engine::module::ModuleError;
use sha1::{Digest, Sha1};
use std::path::{Path, PathBuf};

/// Where the new content comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Bytes from the controller (rendered template, `content`, assembled fragments).
    Data(Vec<u8>),
    /// A controller file, hashed and sent in fixed-size chunks (never whole in memory).
    File(PathBuf),
    /// A file already on the host (`remote_src`).
    Remote(String),
}

/// One file to install, as the module asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Install {
    pub dest: String,
    pub source: Source,
    /// Name used inside `dest` when `dest` is a directory (or ends with `/`); `None` refuses that.
    pub basename: Option<String>,
    /// Requested attributes, `mode: preserve` already replaced by the source's mode.
    pub attrs: AttrSpec,
    pub force: bool,
    pub backup: bool,
    pub validate: Option<String>,
    /// Write through a symlinked destination to its target.
    pub follow: bool,
    /// Diff header of the new content (the source path, or the destination for `content`).
    pub after_header: String,
    /// Mode of parent directories created for a `dest` ending in `/` (copy's `directory_mode`).
    pub directory_mode: Option<ModeSpec>,
    /// A missing parent directory is an error (false: the caller creates it first, as copy
    /// does for the directories of a tree).
    pub needs_parent: bool,
}

impl Install {
    /// A file at `dest` from `source`, everything else at its default (force, no backup,
    /// no validate, parent must exist).
    pub fn new(dest: impl Into<String>, source: Source) -> Install {
        let dest = dest.into();
        Install {
            after_header: dest.clone(),
            dest,
            source,
            basename: None,
            attrs: AttrSpec::default(),
            force: true,
            backup: false,
            validate: None,
            follow: false,
            directory_mode: None,
            needs_parent: true,
        }
    }

    /// `dest/basename`, probed in case `dest` turns out to be a directory.
    pub(crate) fn joined(&self) -> Option<String> {
        self.basename
            .as_ref()
            .map(|b| super::join_remote(&self.dest, b))
    }
}

/// What the source is, as [`query`] learnt it.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSeen {
    /// Controller content: its SHA-1 and MD5 (Ansible's `checksum` and `md5sum`), size, and
    /// under `--diff` the first bytes of a controller file (enough to show it, or to say it
    /// is too large to).
    Controller {
        checksum: String,
        md5: String,
        size: u64,
        head: Option<Vec<u8>>,
    },
    /// A `remote_src` path as the probe saw it (followed, with its SHA-1).
    Remote(Box<PathStat>),
}

/// What [`query`] found for one [`Install`].
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The writing user and umask: what a new file will look like.
    pub host: HostInfo,
    pub dest: PathStat,
    pub parent: PathStat,
    /// `dest/basename`, when a basename was given.
    pub joined: Option<PathStat>,
    pub source: SourceSeen,
    /// The destination's content was read (under `--diff`), so a content diff can be shown.
    pub content_read: bool,
}

/// An [`Install`] with what [`query`] found for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Queried {
    pub install: Install,
    pub seen: Seen,
}

/// One atomic write, self-contained so [`apply`] needs nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub target: String,
    pub source: Source,
    pub checksum: String,
    pub md5: Option<String>,
    /// Owner/group/mode to give the new file (the "after" sides are used).
    pub attrs: AttrChanges,
    pub validate: Option<String>,
    pub backup: bool,
    /// Create the missing parent first (`dest/` syntax), with this mode when given.
    pub create_parent: Option<Option<u32>>,
}

/// What [`apply`] does for one file.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Write(Box<Write>),
    /// The content is right; only owner/group/mode change.
    Attrs {
        target: String,
        attrs: AttrChanges,
    },
    /// Fail with this message: ansible-core's action predicts `changed` without looking at
    /// the destination's directory (check mode reports it), its module then fails.
    Fail {
        msg: String,
        checksum: String,
    },
}

/// SHA-1 of bytes as hex, what `sha1sum` prints and Ansible's `checksum` is.
pub fn sha1_hex(data: &[u8]) -> String {
    hex::encode(Sha1::digest(data))
}

/// MD5 of bytes as hex (Ansible's backward-compatible `md5sum`).
pub fn md5_hex(data: &[u8]) -> String {
    format!("{:x}", md5::compute(data))
}

/// SHA-1 and MD5 (hex) and size of a controller file, read in fixed-size chunks on a blocking
/// thread.
pub async fn digest_file(path: &Path) -> Result<(String, String, u64), ModuleError> {
    let p = path.to_path_buf();
    let hashed = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
        use std::io::{Read, Write as _};
        let mut f = std::fs::File::open(&p)?;
        let (mut sha, mut md) = (Sha1::new(), md5::Context::new());
        let mut buf = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            sha.update(&buf[..n]);
            md.write_all(&buf[..n])?;
            size += n as u64;
        }
        Ok((
            hex::encode(sha.finalize()),
            format!("{:x}", md.finalize()),
            size,
        ))
    })
    .await
    .map_err(|e| ModuleError::new(e.to_string()))?;
    hashed.map_err(|e| ModuleError::new(format!("could not read {}: {e}", path.display())))
}

/// [`sha1_hex`] of a controller file, read in fixed-size chunks.
pub async fn sha1_file(path: &Path) -> Result<String, ModuleError> {
    digest_file(path).await.map(|(sha1, _, _)| sha1)
}
