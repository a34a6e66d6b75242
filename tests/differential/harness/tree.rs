//! The file tree a playbook run leaves in its out dir, and how two such trees differ.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Stands for the run's own out dir in file contents, so the two runs' contents compare equal.
pub const OUT_MARK: &str = "<OUT>";

/// Relative path → entry.
pub type Tree = BTreeMap<String, Entry>;

/// One file-tree entry: kind, mode bits and content (symlink target for links).
#[derive(Debug, PartialEq)]
pub struct Entry {
    pub kind: &'static str,
    pub mode: u32,
    pub content: Vec<u8>,
}

pub fn tree(dir: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mark = base.to_string_lossy().into_owned();
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = path
            .strip_prefix(base)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o7777;
        let ft = meta.file_type();
        let (kind, content) = if ft.is_symlink() {
            let target = fs::read_link(&path)
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            ("link", target.replace(&mark, OUT_MARK).into_bytes())
        } else if ft.is_dir() {
            walk(base, &path, out);
            ("dir", Vec::new())
        } else {
            let bytes = fs::read(&path).unwrap_or_default();
            let content = match String::from_utf8(bytes) {
                Ok(s) => s.replace(&mark, OUT_MARK).into_bytes(),
                Err(e) => e.into_bytes(),
            };
            ("file", content)
        };
        // A link's own mode is meaningless on Linux.
        let mode = if kind == "link" { 0 } else { mode };
        out.insert(
            rel,
            Entry {
                kind,
                mode,
                content,
            },
        );
    }
}

/// The first lines where two contents differ, for a short report.
fn first_difference(a: &[u8], k: &[u8]) -> String {
    let a = String::from_utf8_lossy(a);
    let k = String::from_utf8_lossy(k);
    let a_lines: Vec<&str> = a.split_inclusive('\n').collect();
    let k_lines: Vec<&str> = k.split_inclusive('\n').collect();
    let mut shown = Vec::new();
    for i in 0..a_lines.len().max(k_lines.len()) {
        let (x, y) = (a_lines.get(i), k_lines.get(i));
        if x != y {
            shown.push(format!(
                "line {}\n          ansible: {}\n          kplay:   {}",
                i + 1,
                x.map_or("(none)".to_string(), |l| format!("{l:?}")),
                y.map_or("(none)".to_string(), |l| format!("{l:?}"))
            ));
            if shown.len() == 4 {
                break;
            }
        }
    }
    shown.join("\n        ")
}

/// What comparing one case found: real differences, and the ones `expect.yml` declares deliberate.
#[derive(Debug, Default)]
pub struct Outcome {
    pub diffs: Vec<String>,
    pub deliberate: Vec<String>,
}

/// Records how two file trees differ, one line per path; content differences of `ignore`d paths
/// go to `deliberate`.
pub fn diff_trees(
    a: &BTreeMap<String, Entry>,
    k: &BTreeMap<String, Entry>,
    ignore: &[String],
    outcome: &mut Outcome,
) {
    let mut paths: Vec<&String> = a.keys().chain(k.keys()).collect();
    paths.sort();
    paths.dedup();
    for p in paths {
        match (a.get(p), k.get(p)) {
            (Some(_), None) => outcome
                .diffs
                .push(format!("{p}: written by ansible, missing from kplay")),
            (None, Some(_)) => outcome
                .diffs
                .push(format!("{p}: written by kplay, not by ansible")),
            (Some(x), Some(y)) => {
                if x.kind != y.kind {
                    outcome.diffs.push(format!(
                        "{p}: ansible made a {}, kplay a {}",
                        x.kind, y.kind
                    ));
                } else if x.mode != y.mode {
                    outcome.diffs.push(format!(
                        "{p}: mode ansible {:04o}, kplay {:04o}",
                        x.mode, y.mode
                    ));
                }
                if x.content != y.content {
                    let line = format!(
                        "{p}: content differs at\n        {}",
                        first_difference(&x.content, &y.content)
                    );
                    if ignore.contains(p) {
                        outcome.deliberate.push(line);
                    } else {
                        outcome.diffs.push(line);
                    }
                }
            }
            (None, None) => {}
        }
    }
}

/// The tree as JSON (contents as byte arrays), for the reference cache.
pub fn to_json(t: &Tree) -> Value {
    let map = t
        .iter()
        .map(|(p, e)| {
            (
                p.clone(),
                serde_json::json!({"kind": e.kind, "mode": e.mode, "content": e.content}),
            )
        })
        .collect();
    Value::Object(map)
}

pub fn from_json(v: &Value) -> Option<Tree> {
    let mut t = BTreeMap::new();
    for (p, e) in v.as_object()? {
        let kind = match e.get("kind")?.as_str()? {
            "file" => "file",
            "dir" => "dir",
            "link" => "link",
            _ => return None,
        };
        let mode = u32::try_from(e.get("mode")?.as_u64()?).ok()?;
        let content = e
            .get("content")?
            .as_array()?
            .iter()
            .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
            .collect::<Option<Vec<u8>>>()?;
        t.insert(
            p.clone(),
            Entry {
                kind,
                mode,
                content,
            },
        );
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(mode: u32, content: &str) -> Entry {
        Entry {
            kind: "file",
            mode,
            content: content.as_bytes().to_vec(),
        }
    }

    #[test]
    fn trees_differing_in_mode_content_and_paths_are_reported() {
        let a = BTreeMap::from([
            ("same".to_string(), entry(0o644, "x\n")),
            ("mode".to_string(), entry(0o600, "x\n")),
            ("text".to_string(), entry(0o644, "a\nb\n")),
            ("only_ansible".to_string(), entry(0o644, "")),
        ]);
        let k = BTreeMap::from([
            ("same".to_string(), entry(0o644, "x\n")),
            ("mode".to_string(), entry(0o644, "x\n")),
            ("text".to_string(), entry(0o644, "a\nc\n")),
            ("only_kplay".to_string(), entry(0o644, "")),
        ]);
        let mut o = Outcome::default();
        diff_trees(&a, &k, &[], &mut o);
        assert_eq!(o.diffs.len(), 4, "{:?}", o.diffs);
        assert!(o
            .diffs
            .iter()
            .any(|d| d.contains("mode ansible 0600, kplay 0644")));
        assert!(o.diffs.iter().any(|d| d.contains("line 2")));
    }

    #[test]
    fn ignored_paths_are_reported_as_deliberate_not_as_mismatches() {
        let a = BTreeMap::from([("f".to_string(), entry(0o644, "python=3\n"))]);
        let k = BTreeMap::from([("f".to_string(), entry(0o644, "python=none\n"))]);
        let mut o = Outcome::default();
        diff_trees(&a, &k, &["f".to_string()], &mut o);
        assert!(o.diffs.is_empty());
        assert_eq!(o.deliberate.len(), 1);
    }

    #[test]
    fn the_out_dir_is_masked_in_contents_and_the_tree_survives_json() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().display().to_string();
        std::fs::write(dir.path().join("f"), format!("at {out}/x\n")).expect("write");
        std::os::unix::fs::symlink("f", dir.path().join("l")).expect("symlink");
        let t = tree(dir.path());
        assert_eq!(t["f"].content, b"at <OUT>/x\n");
        assert_eq!(t["l"].kind, "link");
        assert_eq!(from_json(&to_json(&t)), Some(t));
    }
}
