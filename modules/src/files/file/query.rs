//! What `file` reads from the host before planning: the path itself and followed, a link's
//! `src`, the umask, and for `recurse` the attributes found below the directory.

use crate::common::reads::ensure_status;
use super::args::{FileArgs, Stamp, State};
use super::tree::{listing_script, parse_listing, TreeEntry};
use crate::common::probe::{probe, PathKind, PathStat, ProbeRequest};
use crate::common::{join_remote, remote_dirname, run_sh};
use kplay_engine::module::{ModuleContext, ModuleError};

/// What was seen on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The path acted on: `path`, or a name inside it when `path` is a directory and a file
    /// or hard link is asked for (ansible-core puts it there).
    pub path: String,
    pub umask: u32,
    /// `path` itself (a symlink is a link).
    pub own: PathStat,
    /// `path` with symlinks followed.
    pub followed: PathStat,
    /// `src` (followed), when given.
    pub src: Option<PathStat>,
    /// `src` made absolute against the path's directory.
    pub link_src: Option<String>,
    /// For `recurse`: the distinct attributes below the directory (`None`: not looked at).
    pub tree: Option<Vec<TreeEntry>>,
    /// The directory the tree was listed under (a symlink's resolved target when followed).
    pub tree_root: String,
    /// The epochs, in the host's local time, of a given `modification_time`/`access_time`.
    pub stamps: (Option<f64>, Option<f64>),
}

/// One probe of the path (and `src`); a second when the file goes inside a directory `path`;
/// a listing of the tree for `recurse`.
pub async fn query(ctx: &ModuleContext<'_>, a: &FileArgs) -> Result<Seen, ModuleError> {
    let mut seen = take(ctx, a, &a.path).await?;
    // Ansible puts a file/hard link given a directory `path` inside that directory.
    if !matches!(a.state, Some(State::Link | State::Absent))
        && seen.followed.kind == PathKind::Directory
    {
        let base = a
            .original_basename
            .clone()
            .or_else(|| a.src.as_deref().map(basename).filter(|b| !b.is_empty()));
        if let Some(base) = base {
            seen = take(ctx, a, &join_remote(&a.path, &base)).await?;
        }
    }
    seen.stamps = (epoch(ctx, &a.mtime).await?, epoch(ctx, &a.atime).await?);
    if a.recurse {
        if let Some(root) = tree_root(a, &seen) {
            let out = run_sh(ctx, listing_script(&root), None).await?;
            ensure_status(&out, str::to_string)?;
            seen.tree = Some(parse_listing(&out.stdout_str())?);
            seen.tree_root = root;
        }
    }
    Ok(seen)
}

/// The epoch of a given time as the host's `touch -t` reads it (local time there).
async fn epoch(ctx: &ModuleContext<'_>, stamp: &Stamp) -> Result<Option<f64>, ModuleError> {
    let Stamp::At(t) = stamp else {
        return Ok(None);
    };
    let when = chrono::NaiveDateTime::parse_from_str(t, "%Y%m%d%H%M.%S")
        .map_err(|e| ModuleError::new(format!("bad timestamp {t}: {e}")))?;
    let script = format!("date -d '{}' +%s\n", when.format("%Y-%m-%d %H:%M:%S"));
    let out = run_sh(ctx, script, None).await?;
    ensure_status(&out, |e| format!("Error while obtaining timestamp for time {t}: {e}"))?;
    Ok(out.stdout_str().trim().parse::<f64>().ok())
}

/// The directory whose tree `recurse` acts on: the path, or the directory a followed symlink
/// resolves to (ansible-core's `realpath`); `None` when there is no such directory yet.
fn tree_root(a: &FileArgs, seen: &Seen) -> Option<String> {
    match seen.own.kind {
        PathKind::Directory => Some(seen.path.clone()),
        PathKind::Link if a.follow && seen.followed.kind == PathKind::Directory => seen
            .own
            .link_source
            .clone()
            .or_else(|| Some(seen.path.clone())),
        _ => None,
    }
}

async fn take(ctx: &ModuleContext<'_>, a: &FileArgs, path: &str) -> Result<Seen, ModuleError> {
    let link_src = a.src.as_ref().map(|s| {
        if s.starts_with('/') {
            s.clone()
        } else {
            join_remote(&remote_dirname(path), s)
        }
    });
    let mut reqs = vec![
        ProbeRequest::new(path).checksum(None),
        ProbeRequest::new(path).follow(true).checksum(None),
    ];
    if let Some(s) = &link_src {
        reqs.push(ProbeRequest::new(s).follow(true).checksum(None));
    }
    let pr = probe(ctx, &reqs).await?;
    let mut it = pr.paths.into_iter();
    Ok(Seen {
        path: path.to_string(),
        umask: pr.host.umask,
        own: it.next().unwrap_or_else(|| PathStat::absent(path)),
        followed: it.next().unwrap_or_else(|| PathStat::absent(path)),
        src: it.next(),
        link_src,
        tree: None,
        tree_root: path.to_string(),
        stamps: (None, None),
    })
}

/// The last path component (Python's `os.path.basename`: empty for a trailing slash).
fn basename(path: &str) -> String {
    path.rsplit('/').next().unwrap_or_default().to_string()
}
