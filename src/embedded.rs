//! The deployment content (`playbooks/ roles/ group_vars/ inventory/` at the workspace top level)
//! compiled into the binary, so one file is enough to install a cluster offline.
//!
//! Files on disk always win: a playbook argument that exists on disk runs from disk; only one that
//! does not (e.g. `playbooks/00-preflight.yml` from any directory, or just `00-preflight.yml`) is
//! looked up in the embedded `playbooks/`. Embedded content is run from a versioned cache directory
//! (`~/.kplay/content/<version>-<hash>/`) written once, atomically, and reused; its `roles/` is the
//! last entry of the role search path, after the playbook's own `roles/` and `roles_path`.
//! `kplay content extract DIR` writes the same tree somewhere editable for on-site changes.

use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

static PLAYBOOKS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/playbooks");
static ROLES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/roles");
static GROUP_VARS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/group_vars");
static INVENTORY: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/inventory");

/// The embedded top-level directories, by name.
const TREES: [(&str, &Dir<'static>); 4] = [
    ("playbooks", &PLAYBOOKS),
    ("roles", &ROLES),
    ("group_vars", &GROUP_VARS),
    ("inventory", &INVENTORY),
];

/// Symlinks in the source tree (`playbooks/roles -> ../roles`, …). They make the top-level `roles/`
/// and `group_vars/` the playbooks' own, as Ansible looks for them beside the playbook. include_dir
/// follows symlinks, so their targets are embedded twice; extraction skips the copies and recreates
/// the links, so an edit to `roles/` takes effect. A unit test keeps this list equal to the tree.
const LINKS: [(&str, &str); 2] = [
    ("playbooks/roles", "../roles"),
    ("playbooks/group_vars", "../group_vars"),
];

/// Why embedded content could not be found or written.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("cannot find a home directory for the content cache (set HOME)")]
    NoHome,
    #[error("cannot write the embedded content to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} already exists and is not empty; extract into a new or empty directory")]
    NotEmpty(PathBuf),
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> ContentError + '_ {
    move |source| ContentError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Where a playbook argument is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybookSource {
    /// A file on disk (or a missing one, left for the loader to report).
    Disk(PathBuf),
    /// A playbook in the embedded `playbooks/`, by its path inside that directory.
    Embedded(String),
}

/// Decides where a playbook argument comes from. A file on disk wins; a missing relative path is
/// looked up in the embedded `playbooks/` with any leading `./` and `playbooks/` removed.
pub fn resolve_playbook(arg: &str, exists_on_disk: impl Fn(&Path) -> bool) -> PlaybookSource {
    resolve_in(arg, &exists_on_disk, &|key| {
        PLAYBOOKS.get_file(key).is_some()
    })
}

fn resolve_in(
    arg: &str,
    on_disk: &dyn Fn(&Path) -> bool,
    embedded: &dyn Fn(&str) -> bool,
) -> PlaybookSource {
    let path = Path::new(arg);
    if on_disk(path) || path.is_absolute() {
        return PlaybookSource::Disk(path.to_path_buf());
    }
    let mut key = arg;
    while let Some(rest) = key.strip_prefix("./") {
        key = rest;
    }
    let key = key.strip_prefix("playbooks/").unwrap_or(key);
    if !key.is_empty() && embedded(key) {
        PlaybookSource::Embedded(key.to_string())
    } else {
        PlaybookSource::Disk(path.to_path_buf())
    }
}

/// Every embedded file as (path relative to the content root, contents), sorted by path, without
/// the copies behind [`LINKS`].
pub fn files() -> Vec<(String, &'static [u8])> {
    let mut out = Vec::new();
    for (name, dir) in TREES {
        collect(name, dir, &mut out);
    }
    out.retain(|(p, _)| {
        !LINKS
            .iter()
            .any(|(link, _)| p.starts_with(&format!("{link}/")))
    });
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn collect(prefix: &str, dir: &'static Dir<'static>, out: &mut Vec<(String, &'static [u8])>) {
    for f in dir.files() {
        out.push((format!("{prefix}/{}", f.path().display()), f.contents()));
    }
    for d in dir.dirs() {
        collect(prefix, d, out);
    }
}

/// A short digest of the embedded content, so a rebuilt binary with other content gets its own cache.
pub fn content_hash() -> String {
    let mut h = Sha256::new();
    for (path, data) in files() {
        h.update((path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        h.update((data.len() as u64).to_le_bytes());
        h.update(data);
    }
    hex::encode(&h.finalize()[..8])
}

/// Writes the embedded tree (files and [`LINKS`]) under `root`, which must exist.
fn write_tree(root: &Path) -> Result<(), ContentError> {
    for (rel, data) in files() {
        let path = root.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_err(parent))?;
        }
        std::fs::write(&path, data).map_err(write_err(&path))?;
    }
    for (link, target) in LINKS {
        let path = root.join(link);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_err(parent))?;
        }
        std::os::unix::fs::symlink(target, &path).map_err(write_err(&path))?;
    }
    Ok(())
}

/// The cache directory of this binary's content: `<cache_root>/<version>-<hash>`.
pub fn cache_dir(cache_root: &Path) -> PathBuf {
    cache_root.join(format!("{}-{}", env!("CARGO_PKG_VERSION"), content_hash()))
}

/// `~/.kplay/content`, where embedded content is extracted to run.
pub fn default_cache_root() -> Result<PathBuf, ContentError> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or(ContentError::NoHome)?;
    Ok(PathBuf::from(home).join(".kplay").join("content"))
}

/// The extracted content root under `cache_root`, writing it first if absent. The tree is written
/// into a temporary sibling and renamed into place, so a present directory is always complete and
/// concurrent runs never see half a tree.
pub fn ensure_extracted(cache_root: &Path) -> Result<PathBuf, ContentError> {
    let dest = cache_dir(cache_root);
    if dest.is_dir() {
        return Ok(dest);
    }
    std::fs::create_dir_all(cache_root).map_err(write_err(cache_root))?;
    let tmp = tempfile::Builder::new()
        .prefix(".extract-")
        .tempdir_in(cache_root)
        .map_err(write_err(cache_root))?;
    write_tree(tmp.path())?;
    match std::fs::rename(tmp.path(), &dest) {
        Ok(()) => {
            // Renamed away: nothing left for the guard to delete.
            let _ = tmp.keep();
            Ok(dest)
        }
        // Another run won the race; its tree is identical (same version and hash).
        Err(_) if dest.is_dir() => Ok(dest),
        Err(e) => Err(ContentError::Write {
            path: dest,
            source: e,
        }),
    }
}

/// Writes the embedded tree into `dir` (created if missing; an existing one must be empty), for
/// field engineers to edit and run from disk.
pub fn extract_to(dir: &Path) -> Result<(), ContentError> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(write_err(dir))?;
        if entries.next().is_some() {
            return Err(ContentError::NotEmpty(dir.to_path_buf()));
        }
    }
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    write_tree(dir)
}

/// Playbook paths to load, and the role search path, for the given playbook arguments: embedded
/// playbooks are replaced by their path in the extracted cache, and the extracted `roles/` is
/// appended last to `roles_path` (the playbook's own `roles/` and `roles_path` come first). When no
/// playbook is embedded, a cache that cannot be written only loses the embedded roles fallback.
pub fn resolve_run(
    args: &[String],
    roles_path: &mut Vec<PathBuf>,
) -> Result<Vec<PathBuf>, ContentError> {
    resolve_run_in(args, roles_path, default_cache_root())
}

fn resolve_run_in(
    args: &[String],
    roles_path: &mut Vec<PathBuf>,
    cache_root: Result<PathBuf, ContentError>,
) -> Result<Vec<PathBuf>, ContentError> {
    let sources: Vec<PlaybookSource> = args
        .iter()
        .map(|a| resolve_playbook(a, Path::is_file))
        .collect();
    let needed = sources
        .iter()
        .any(|s| matches!(s, PlaybookSource::Embedded(_)));
    let root = match cache_root.and_then(|r| ensure_extracted(&r)) {
        Ok(root) => Some(root),
        Err(e) if needed => return Err(e),
        Err(_) => None,
    };
    if let Some(root) = &root {
        roles_path.push(root.join("roles"));
    }
    Ok(sources
        .into_iter()
        .map(|s| match (s, &root) {
            (PlaybookSource::Embedded(key), Some(root)) => root.join("playbooks").join(key),
            (PlaybookSource::Embedded(key), None) => PathBuf::from(key),
            (PlaybookSource::Disk(p), _) => p,
        })
        .collect())
}

/// `kplay content list`: the embedded files, one per line.
pub fn list() -> u8 {
    for (path, _) in files() {
        kplay_engine::output::sink::line(&path);
    }
    for (link, target) in LINKS {
        kplay_engine::output::sink::line(&format!("{link} -> {target}"));
    }
    0
}

/// `kplay content extract DIR`.
pub fn extract(dir: &Path) -> u8 {
    match extract_to(dir) {
        Ok(()) => {
            println!("extracted the embedded content to {}", dir.display());
            0
        }
        Err(e) => {
            eprintln!("ERROR! {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: &Path) -> bool {
        false
    }

    #[test]
    fn a_playbook_on_disk_wins_over_the_embedded_one() {
        let r = resolve_in("playbooks/00-preflight.yml", &|_| true, &|_| true);
        assert_eq!(
            r,
            PlaybookSource::Disk(PathBuf::from("playbooks/00-preflight.yml"))
        );
    }

    #[test]
    fn a_missing_playbook_is_taken_from_the_embedded_playbooks() {
        let r = resolve_in("playbooks/00-preflight.yml", &never, &|k| {
            k == "00-preflight.yml"
        });
        assert_eq!(r, PlaybookSource::Embedded("00-preflight.yml".into()));
    }

    #[test]
    fn a_bare_playbook_name_is_looked_up_in_the_embedded_playbooks() {
        let r = resolve_in("./00-preflight.yml", &never, &|k| k == "00-preflight.yml");
        assert_eq!(r, PlaybookSource::Embedded("00-preflight.yml".into()));
    }

    #[test]
    fn a_playbook_missing_everywhere_stays_on_disk_for_the_loader_to_report() {
        let r = resolve_in("nope.yml", &never, &|_| false);
        assert_eq!(r, PlaybookSource::Disk(PathBuf::from("nope.yml")));
    }

    #[test]
    fn an_absolute_path_is_never_taken_from_the_embedded_content() {
        let r = resolve_in("/x/playbooks/00-preflight.yml", &never, &|_| true);
        assert_eq!(
            r,
            PlaybookSource::Disk(PathBuf::from("/x/playbooks/00-preflight.yml"))
        );
    }

    #[test]
    fn the_real_preflight_playbook_is_embedded() {
        assert_eq!(
            resolve_playbook("00-preflight.yml", never),
            PlaybookSource::Embedded("00-preflight.yml".into())
        );
        assert!(files()
            .iter()
            .any(|(p, _)| p == "roles/preflight/tasks/main.yml"));
    }

    #[test]
    fn the_link_list_matches_the_symlinks_in_the_source_tree() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut found = Vec::new();
        for (name, _) in TREES {
            let mut stack = vec![root.join(name)];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let p = entry.path();
                    if let Ok(target) = std::fs::read_link(&p) {
                        let rel = p
                            .strip_prefix(root)
                            .map(|r| r.display().to_string())
                            .unwrap_or_default();
                        found.push((rel, target.display().to_string()));
                    } else if p.is_dir() {
                        stack.push(p);
                    }
                }
            }
        }
        found.sort();
        let mut want: Vec<(String, String)> = LINKS
            .iter()
            .map(|(l, t)| (l.to_string(), t.to_string()))
            .collect();
        want.sort();
        assert_eq!(found, want);
    }

    #[test]
    fn extraction_writes_once_and_reuses_the_versioned_dir() {
        let cache = tempfile::tempdir().unwrap();
        let first = ensure_extracted(cache.path()).unwrap();
        let marker = first.join("marker");
        std::fs::write(&marker, "kept").unwrap();
        let second = ensure_extracted(cache.path()).unwrap();
        assert_eq!(first, second);
        assert!(
            marker.is_file(),
            "an existing cache dir must be reused, not rewritten"
        );
        assert!(first
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(env!("CARGO_PKG_VERSION")));
        let leftovers: Vec<_> = std::fs::read_dir(cache.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".extract-"))
            .collect();
        assert!(leftovers.is_empty(), "no temporary dir may be left behind");
    }

    #[test]
    fn extracted_playbooks_see_the_top_level_roles_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        extract_to(dir.path()).unwrap();
        assert!(dir.path().join("playbooks/00-preflight.yml").is_file());
        assert_eq!(
            std::fs::read_link(dir.path().join("playbooks/roles")).unwrap(),
            PathBuf::from("../roles")
        );
        assert!(dir
            .path()
            .join("playbooks/roles/preflight/tasks/main.yml")
            .is_file());
    }

    #[test]
    fn extracting_into_a_non_empty_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine"), "x").unwrap();
        assert!(matches!(
            extract_to(dir.path()),
            Err(ContentError::NotEmpty(_))
        ));
    }

    #[test]
    fn a_disk_playbook_runs_even_when_the_cache_cannot_be_written() {
        let mut roles_path = vec![];
        let paths = resolve_run_in(
            &["site.yml".into()],
            &mut roles_path,
            Err(ContentError::NoHome),
        )
        .unwrap();
        assert_eq!(paths, [PathBuf::from("site.yml")]);
        assert!(roles_path.is_empty());
    }

    #[test]
    fn an_embedded_playbook_needs_the_cache() {
        let mut roles_path = vec![];
        assert!(matches!(
            resolve_run_in(
                &["00-preflight.yml".into()],
                &mut roles_path,
                Err(ContentError::NoHome)
            ),
            Err(ContentError::NoHome)
        ));
    }

    #[test]
    fn embedded_roles_come_last_in_the_role_search_path() {
        let home = tempfile::tempdir().unwrap();
        let mut roles_path = vec![PathBuf::from("/site/roles")];
        let paths = resolve_run_in(
            &["00-preflight.yml".into()],
            &mut roles_path,
            Ok(home.path().to_path_buf()),
        )
        .unwrap();
        assert_eq!(roles_path.len(), 2);
        assert_eq!(roles_path[0], PathBuf::from("/site/roles"));
        assert!(roles_path[1].starts_with(home.path()) && roles_path[1].ends_with("roles"));
        assert!(paths[0].is_file() && paths[0].starts_with(home.path()));
    }
}
