//! The read-only half of installing files: one probe for all of them (destination, its
//! parent, the `dest/basename` candidate, a remote source), and the controller source's
//! digests.

use super::{digest_file, md5_hex, sha1_hex, Install, Queried, Seen, Source, SourceSeen};
use crate::common::diff::MAX_DIFF_SIZE;
use crate::common::probe::{probe, PathStat, ProbeRequest};
use crate::common::remote_dirname;
use kplay_engine::module::{ModuleContext, ModuleError};
use std::path::Path;

/// Probe every install's paths in one round trip (the destinations' content too under
/// `--diff`) and digest their controller sources. Changes nothing anywhere.
pub async fn query(
    ctx: &ModuleContext<'_>,
    installs: Vec<Install>,
) -> Result<Vec<Queried>, ModuleError> {
    if installs.is_empty() {
        return Ok(Vec::new());
    }
    let limit = ctx.diff.then_some(MAX_DIFF_SIZE);
    let mut reqs = Vec::new();
    for inst in &installs {
        reqs.push(
            ProbeRequest::new(&inst.dest)
                .follow(inst.follow)
                .content_up_to(limit),
        );
        reqs.push(ProbeRequest::new(&remote_dirname(&inst.dest)).checksum(None));
        if let Some(j) = inst.joined() {
            reqs.push(
                ProbeRequest::new(&j)
                    .follow(inst.follow)
                    .content_up_to(limit),
            );
        }
        if let Source::Remote(src) = &inst.source {
            reqs.push(ProbeRequest::new(src).follow(true));
        }
    }
    let pr = probe(ctx, &reqs).await?;
    let mut stats = pr.paths.into_iter();
    let mut out = Vec::with_capacity(installs.len());
    for inst in installs {
        let mut next = |path: &str| stats.next().unwrap_or_else(|| PathStat::absent(path));
        let dest = next(&inst.dest);
        let parent = next(&remote_dirname(&inst.dest));
        let joined = inst.joined().map(|j| next(&j));
        let source = match &inst.source {
            Source::Remote(src) => SourceSeen::Remote(Box::new(next(src))),
            Source::Data(d) => SourceSeen::Controller {
                checksum: sha1_hex(d),
                md5: md5_hex(d),
                size: d.len() as u64,
                head: None,
            },
            Source::File(p) => {
                let (checksum, md5, size) = digest_file(p).await?;
                let head = match ctx.diff {
                    true => Some(file_head(p, MAX_DIFF_SIZE + 1)?),
                    false => None,
                };
                SourceSeen::Controller {
                    checksum,
                    md5,
                    size,
                    head,
                }
            }
        };
        let seen = Seen {
            host: pr.host.clone(),
            dest,
            parent,
            joined,
            source,
            content_read: ctx.diff,
        };
        out.push(Queried {
            install: inst,
            seen,
        });
    }
    Ok(out)
}

/// At most the first `limit` bytes of a controller file.
fn file_head(path: &Path, limit: u64) -> Result<Vec<u8>, ModuleError> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit).read_to_end(&mut out))
        .map_err(|e| ModuleError::new(format!("could not read {}: {e}", path.display())))?;
    Ok(out)
}
