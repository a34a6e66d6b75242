//! Test helper: a comparable picture of a directory tree (paths, kinds, modes, contents), to
//! prove check mode and idempotent runs leave the host untouched.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// One entry: relative path, `mode` with type bits, content (files) or link target.
pub type Entry = (String, u32, Vec<u8>);

/// Every path under `root`, sorted, including temp leftovers.
pub fn snapshot(root: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<Entry>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let rel = p
            .strip_prefix(root)
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_default();
        let data = if md.file_type().is_symlink() {
            std::fs::read_link(&p)
                .map(|t| t.to_string_lossy().into_owned().into_bytes())
                .unwrap_or_default()
        } else if md.is_file() {
            std::fs::read(&p).unwrap_or_default()
        } else {
            Vec::new()
        };
        out.push((rel, md.mode(), data));
        if md.is_dir() {
            walk(root, &p, out);
        }
    }
}

/// Names of temp files left behind anywhere under `root`.
pub fn temp_leftovers(root: &Path) -> Vec<String> {
    snapshot(root)
        .into_iter()
        .map(|e| e.0)
        .filter(|n| {
            n.rsplit('/')
                .next()
                .unwrap_or("")
                .starts_with(super::write::TEMP_PREFIX)
        })
        .collect()
}
