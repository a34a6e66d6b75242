//! One round trip that tells an editing module everything it needs about its file: whether it is
//! a directory, where a symlink really points, its mode and ownership, who writes it (uid, gid,
//! umask) and its whole content.

use kplay_engine::module::{ModuleContext, ModuleError};
use kplay_engine::transport::{sh_quote, ExecRequest};

/// Mode and ownership of an existing file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub owner: String,
    pub group: String,
}

/// What the path is on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathKind {
    Missing,
    Directory,
    File { stat: FileStat, content: String },
}

/// The result of [`probe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub kind: PathKind,
    /// The path with symlinks resolved: editing modules write the real file, never replace a link.
    pub real_path: String,
    /// The writing user's uid/gid and umask: what a newly written file will get.
    pub writer_uid: u32,
    pub writer_gid: u32,
    pub umask: u32,
}

impl Probe {
    /// The current content, if the file exists.
    pub fn content(&self) -> Option<&str> {
        match &self.kind {
            PathKind::File { content, .. } => Some(content),
            _ => None,
        }
    }

    pub fn exists(&self) -> bool {
        matches!(self.kind, PathKind::File { .. })
    }

    pub fn stat(&self) -> Option<&FileStat> {
        match &self.kind {
            PathKind::File { stat, .. } => Some(stat),
            _ => None,
        }
    }
}

/// The shell snippet behind [`probe`]. Output: a header line, the real path ended by NUL, then
/// the raw content.
fn probe_script(path: &str) -> String {
    format!(
        "p={q}\n\
         if [ -d \"$p\" ]; then printf 'D\\n'; exit 0; fi\n\
         r=$(readlink -f -- \"$p\" 2>/dev/null); [ -n \"$r\" ] || r=$p\n\
         w=\"$(id -u) $(id -g) $(umask)\"\n\
         if [ -e \"$p\" ]; then\n\
           s=$(stat -L -c '%a %u %g %U %G' -- \"$p\") || exit 5\n\
           printf 'F %s %s\\n%s\\000' \"$w\" \"$s\" \"$r\"\n\
           exec cat -- \"$p\"\n\
         fi\n\
         printf 'M %s\\n%s\\000' \"$w\" \"$r\"\n",
        q = sh_quote(path)
    )
}

/// Read everything about `path` in one command on the host.
pub async fn probe(ctx: &ModuleContext<'_>, path: &str) -> Result<Probe, ModuleError> {
    if let Some(p) = probe_by_agent(ctx, path).await? {
        return Ok(p);
    }
    let req = ExecRequest::sh(probe_script(path)).with_become(ctx.become_.clone());
    let out = ctx.transport.exec(req).await?;
    if out.rc != 0 {
        return Err(ModuleError::new(format!(
            "reading {path} failed: {}",
            out.stderr_str().trim()
        )));
    }
    parse_probe(path, &out.stdout)
}

/// The same answer from the agent; `None` when there is none, or when the path exists but its
/// content cannot be read as a regular file (the sh path reports that error).
async fn probe_by_agent(ctx: &ModuleContext<'_>, path: &str) -> Result<Option<Probe>, ModuleError> {
    use kplay_engine::agent::{PathKind as Kind, ProbeSpec, Reply, Request};
    let req = Request::Probe {
        paths: vec![ProbeSpec {
            path: path.to_string(),
            follow: true,
            checksum: None,
            content_limit: Some(u64::MAX),
            real_path: true,
            mime: false,
        }],
        host: true,
    };
    let (host, st) = match crate::common::agent_call(ctx, &req).await? {
        None => return Ok(None),
        Some(Reply::Probe {
            host: Some(host),
            mut paths,
        }) if paths.len() == 1 => (host, paths.remove(0)),
        Some(other) => return Err(crate::common::unexpected_reply("a probe", &other)),
    };
    let real_path = st
        .real_path
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| path.to_string());
    let kind = match (st.kind, st.content) {
        (Kind::Directory, _) => PathKind::Directory,
        (Kind::Absent, _) => PathKind::Missing,
        (_, Some(bytes)) => {
            let content = String::from_utf8(bytes).map_err(|_| {
                ModuleError::new(format!(
                    "{path} is not valid UTF-8 text; kplay edits text files only"
                ))
            })?;
            PathKind::File {
                stat: FileStat {
                    mode: st.mode,
                    uid: st.uid,
                    gid: st.gid,
                    owner: st.owner,
                    group: st.group,
                },
                content,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(Probe {
        kind,
        real_path,
        writer_uid: host.uid,
        writer_gid: host.gid,
        umask: host.umask,
    }))
}

/// Parse [`probe_script`]'s output.
fn parse_probe(path: &str, out: &[u8]) -> Result<Probe, ModuleError> {
    let bad = || ModuleError::new(format!("reading {path} failed: unexpected probe output"));
    let nl = out.iter().position(|&b| b == b'\n').ok_or_else(bad)?;
    let header = std::str::from_utf8(&out[..nl]).map_err(|_| bad())?;
    let fields: Vec<&str> = header.split_whitespace().collect();
    if fields.first() == Some(&"D") {
        return Ok(Probe {
            kind: PathKind::Directory,
            real_path: path.to_string(),
            writer_uid: 0,
            writer_gid: 0,
            umask: 0o022,
        });
    }
    let rest = &out[nl + 1..];
    let nul = rest.iter().position(|&b| b == 0).ok_or_else(bad)?;
    let real_path = String::from_utf8_lossy(&rest[..nul]).into_owned();
    let body = &rest[nul + 1..];
    let num = |i: usize| {
        fields
            .get(i)
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or_else(bad)
    };
    let oct = |i: usize| {
        fields
            .get(i)
            .and_then(|s| u32::from_str_radix(s, 8).ok())
            .ok_or_else(bad)
    };
    let (writer_uid, writer_gid, umask) = (num(1)?, num(2)?, oct(3)?);
    let kind = match fields.first() {
        Some(&"M") => PathKind::Missing,
        Some(&"F") => {
            let stat = FileStat {
                mode: oct(4)?,
                uid: num(5)?,
                gid: num(6)?,
                owner: fields.get(7).ok_or_else(bad)?.to_string(),
                group: fields.get(8).ok_or_else(bad)?.to_string(),
            };
            let content = String::from_utf8(body.to_vec()).map_err(|_| {
                ModuleError::new(format!(
                    "{path} is not valid UTF-8 text; kplay edits text files only"
                ))
            })?;
            PathKind::File { stat, content }
        }
        _ => return Err(bad()),
    };
    Ok(Probe {
        kind,
        real_path,
        writer_uid,
        writer_gid,
        umask,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ctx, TestEnv};

    #[tokio::test]
    async fn probe_reads_content_and_mode_of_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("f");
        std::fs::write(&f, "a\nb").expect("write");
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .expect("chmod");
        let env = TestEnv::new(dir.path());
        let p = probe(&ctx(&env, false, false), &f.to_string_lossy())
            .await
            .expect("probe");
        assert_eq!(p.content(), Some("a\nb"));
        assert_eq!(p.stat().map(|s| s.mode), Some(0o640));
    }

    #[tokio::test]
    async fn probe_reports_missing_file_and_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = TestEnv::new(dir.path());
        let c = ctx(&env, false, false);
        let missing = probe(&c, &dir.path().join("nope").to_string_lossy())
            .await
            .expect("probe");
        assert_eq!(missing.kind, PathKind::Missing);
        let d = probe(&c, &dir.path().to_string_lossy())
            .await
            .expect("probe");
        assert_eq!(d.kind, PathKind::Directory);
    }

    #[tokio::test]
    async fn probe_resolves_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        std::fs::write(&target, "x\n").expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let env = TestEnv::new(dir.path());
        let p = probe(&ctx(&env, false, false), &link.to_string_lossy())
            .await
            .expect("probe");
        let real = std::fs::canonicalize(&target).expect("canon");
        assert_eq!(p.real_path, real.to_string_lossy());
    }
}
