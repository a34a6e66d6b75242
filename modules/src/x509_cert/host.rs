//! The host side of `x509_cert`: one probe that reads the key, the certificate and the CA files,
//! and a write that creates its temp file under `umask 077`, so a private key is never readable
//! by others, not even for the moment between creating and `chmod`. Content travels on stdin,
//! never in a command line.

use crate::common::attrs::{attr_failure, AttrChanges};
use crate::common::probe::{probe, PathKind, PathStat, Probe, ProbeRequest};
use crate::common::write::{backup_shell, split_backup_line};
use crate::common::{basename, join_remote, remote_dirname, run_sh};
use kplay_engine::agent::fsops::temp_file_name;
use kplay_engine::module::{ModuleContext, ModuleError};
use kplay_engine::transport::sh_quote;

/// Largest key or certificate file read back (a PEM chain is a few KiB).
const READ_LIMIT: u64 = 1 << 20;

const RC_TEMP: i32 = 75;
const RC_WRITE: i32 = 76;
const RC_BACKUP: i32 = 77;
const RC_RENAME: i32 = 78;

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

/// The write script: temp file made under `umask 077` beside `dest`, content from stdin,
/// attributes, optional backup, rename.
pub fn write_script(dest: &str, attrs: &AttrChanges, backup: bool) -> String {
    let tmp = join_remote(&remote_dirname(dest), &temp_file_name(&basename(dest)));
    let mut s = format!(
        "umask 077\nf={}; t={}\n( set -C; : > \"$t\" ) || exit {RC_TEMP}\ntrap 'rm -f \"$t\"' EXIT\ncat > \"$t\" || exit {RC_WRITE}\n",
        sh_quote(dest),
        sh_quote(&tmp)
    );
    s.push_str(&attrs.shell(&tmp, false));
    if backup {
        // backup_shell exits with write.rs's backup code, which is RC_BACKUP here too.
        s.push_str(&backup_shell("$f"));
    }
    s.push_str(&format!(
        "mv -f -- \"$t\" \"$f\" || exit {RC_RENAME}\ntrap - EXIT\n"
    ));
    s
}

/// Write `data` to `dest` atomically with `attrs`; returns the backup file's name when one was made.
pub async fn write_secret_safe(
    ctx: &ModuleContext<'_>,
    dest: &str,
    data: &[u8],
    attrs: &AttrChanges,
    backup: bool,
) -> Result<Option<String>, ModuleError> {
    let out = run_sh(ctx, write_script(dest, attrs, backup), Some(data.to_vec())).await?;
    if out.rc != 0 {
        let stderr = out.stderr_str();
        return Err(ModuleError::new(match out.rc {
            RC_TEMP => format!(
                "could not create a temporary file beside {dest}: {}",
                stderr.trim()
            ),
            RC_BACKUP => format!("Could not make backup of {dest}: {}", stderr.trim()),
            RC_WRITE | RC_RENAME => format!("failed to write {dest}: {}", stderr.trim()),
            rc => attr_failure(rc, &stderr)
                .unwrap_or_else(|| format!("writing {dest} failed (rc={rc}): {}", stderr.trim())),
        }));
    }
    Ok(split_backup_line(&out.stdout).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_is_created_after_umask_077_and_before_any_content() {
        let s = write_script(
            "/etc/ssl/k.pem",
            &AttrChanges {
                mode: Some((0, 0o600)),
                ..Default::default()
            },
            false,
        );
        let umask = s.find("umask 077").unwrap();
        let create = s.find("set -C").unwrap();
        let fill = s.find("cat > \"$t\"").unwrap();
        assert!(umask < create && create < fill, "{s}");
        assert!(s.contains("chmod 600"));
        assert!(s.find("mv -f").unwrap() > s.find("chmod 600").unwrap());
    }
}
