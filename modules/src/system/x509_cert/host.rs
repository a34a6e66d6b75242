//! The host side of `x509_cert`: one probe that reads the key, the certificate and the CA files,
//! and a write that creates its temp file under `umask 077`, so a private key is never readable
//! by others, not even for the moment between creating and `chmod`. Content travels on stdin,
//! never in a command line.

use crate::common::attrs::AttrChanges;
use crate::common::probe::{probe, PathKind, PathStat, Probe, ProbeRequest};
use crate::common::remote_dirname;
use crate::common::write::{write_file, WriteRequest};
use kplay_engine::module::{ModuleContext, ModuleError};

/// Largest key or certificate file read back (a PEM chain is a few KiB).
const READ_LIMIT: u64 = 1 << 20;

/// One file as the probe found it.
#[derive(Debug, Clone)]
pub struct Found {
    pub stat: PathStat,
    pub content: Option<Vec<u8>>,
}

impl Found {
    pub fn exists(&self) -> bool {
        self.stat.kind != PathKind::Absent
    }
}

/// Stat and read `files` (following links) and stat their parent directories, in one round trip.
/// Returns the files in order, whether each parent is a directory, and the host's umask.
pub async fn read_files(
    ctx: &ModuleContext<'_>,
    files: &[&str],
) -> Result<(Vec<Found>, Vec<bool>, u32), ModuleError> {
    let mut reqs: Vec<ProbeRequest> = files
        .iter()
        .map(|f| {
            ProbeRequest::new(f)
                .follow(true)
                .checksum(None)
                .content_up_to(Some(READ_LIMIT))
        })
        .collect();
    for f in files {
        reqs.push(
            ProbeRequest::new(&remote_dirname(f))
                .follow(true)
                .checksum(None),
        );
    }
    let Probe { host, paths } = probe(ctx, &reqs).await?;
    let mut found = Vec::new();
    let mut parents = Vec::new();
    for (i, st) in paths.into_iter().enumerate() {
        if i < files.len() {
            if st.kind != PathKind::Absent && st.kind != PathKind::File {
                return Err(ModuleError::new(format!(
                    "{} exists and is not a regular file",
                    files[i]
                )));
            }
            if st.kind == PathKind::File && st.content.is_none() {
                return Err(ModuleError::new(format!(
                    "{} is not readable or larger than {READ_LIMIT} bytes",
                    files[i]
                )));
            }
            let content = st.content.clone();
            found.push(Found { stat: st, content });
        } else {
            parents.push(st.kind == PathKind::Directory);
        }
    }
    Ok((found, parents, host.umask))
}

/// Write `data` to `dest` atomically with `attrs` (the one write: temp file owner-only from
/// its creation); returns the backup file's name when one was made.
pub async fn write_secret_safe(
    ctx: &ModuleContext<'_>,
    dest: &str,
    data: &[u8],
    attrs: &AttrChanges,
    backup: bool,
) -> Result<Option<String>, ModuleError> {
    let req = WriteRequest {
        dest,
        data,
        mode: attrs.mode.map(|(_, m)| m),
        owner: attrs.owner.as_ref().map(|(_, o)| o.as_str()),
        group: attrs.group.as_ref().map(|(_, g)| g.as_str()),
        backup,
        ..Default::default()
    };
    Ok(write_file(ctx, &req).await?.backup_file)
}
