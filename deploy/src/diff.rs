//! `kplay diff-embedded DIR`: what a field engineer changed in content written by `kplay init
//! DIR`, against the content compiled into this kplay: a unified diff per edited file, and the
//! files added or deleted. Only the content trees are compared (`playbooks/`, `roles/`,
//! `group_vars/`, `inventory/`); the engineer's own inventories elsewhere, config.yaml, hooks and
//! kplay's state are not content. Symlinks (`playbooks/roles -> ../roles`) are not followed.

use similar::TextDiff;
use std::collections::BTreeMap;
use std::path::Path;

/// The compared top-level directories.
pub const TREES: [&str; 4] = ["playbooks", "roles", "group_vars", "inventory"];

/// The comparison's result.
#[derive(Debug, Default)]
pub struct Report {
    /// The unified diffs and add/delete lines, ready to print.
    pub text: String,
    pub modified: usize,
    pub added: usize,
    pub deleted: usize,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        self.modified + self.added + self.deleted == 0
    }
}

fn walk(root: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(rd) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    for entry in rd.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = format!("{rel}/{name}");
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            walk(root, &child, out);
        } else if ft.is_file() {
            if let Ok(data) = std::fs::read(entry.path()) {
                out.insert(child, data);
            }
        }
    }
}

/// Compares `dir` with the embedded `files` (path relative to the content root, contents).
pub fn compare(embedded: &[(String, &[u8])], dir: &Path) -> Report {
    let mut on_disk = BTreeMap::new();
    for t in TREES {
        walk(dir, t, &mut on_disk);
    }
    let embedded: BTreeMap<&str, &[u8]> = embedded
        .iter()
        .filter(|(p, _)| TREES.iter().any(|t| p.starts_with(&format!("{t}/"))))
        .map(|(p, d)| (p.as_str(), *d))
        .collect();
    let mut r = Report::default();
    for (path, old) in &embedded {
        match on_disk.get(*path) {
            None => {
                r.deleted += 1;
                r.text.push_str(&format!("deleted: {path}\n"));
            }
            Some(new) if new.as_slice() != *old => {
                r.modified += 1;
                match (std::str::from_utf8(old), std::str::from_utf8(new)) {
                    (Ok(a), Ok(b)) => {
                        let diff = TextDiff::from_lines(a, b);
                        r.text.push_str(
                            &diff
                                .unified_diff()
                                .context_radius(3)
                                .header(
                                    &format!("embedded/{path}"),
                                    &format!("{}/{path}", dir.display()),
                                )
                                .to_string(),
                        );
                    }
                    _ => r.text.push_str(&format!(
                        "Binary files embedded/{path} and {}/{path} differ\n",
                        dir.display()
                    )),
                }
            }
            Some(_) => {}
        }
    }
    for path in on_disk.keys() {
        if !embedded.contains_key(path.as_str()) {
            r.added += 1;
            r.text.push_str(&format!("added: {path}\n"));
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, t) in files {
            let path = d.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, t).unwrap();
        }
        d
    }

    #[test]
    fn an_unchanged_tree_reports_nothing_and_other_files_are_ignored() {
        let emb: Vec<(String, &[u8])> = vec![("roles/r/tasks/main.yml".into(), b"- ping:\n")];
        let d = tree(&[
            ("roles/r/tasks/main.yml", "- ping:\n"),
            ("config.yaml", "x"),
            ("hooks/pre-install/a.yml", "x"),
        ]);
        let r = compare(&emb, d.path());
        assert!(r.is_empty(), "{}", r.text);
    }

    #[test]
    fn edits_are_unified_diffs_and_additions_and_deletions_are_listed() {
        let emb: Vec<(String, &[u8])> = vec![
            ("group_vars/all/all.yml".into(), b"a: 1\nb: 2\nc: 3\n"),
            ("roles/gone/tasks/main.yml".into(), b"- ping:\n"),
        ];
        let d = tree(&[
            ("group_vars/all/all.yml", "a: 1\nb: 20\nc: 3\n"),
            ("roles/new/tasks/main.yml", "- ping:\n"),
        ]);
        let r = compare(&emb, d.path());
        assert_eq!((r.modified, r.added, r.deleted), (1, 1, 1));
        assert!(
            r.text.contains("--- embedded/group_vars/all/all.yml"),
            "{}",
            r.text
        );
        assert!(r.text.contains("-b: 2\n+b: 20\n"), "{}", r.text);
        assert!(r.text.contains("@@ -1,3 +1,3 @@"), "{}", r.text);
        assert!(r.text.contains("deleted: roles/gone/tasks/main.yml"));
        assert!(r.text.contains("added: roles/new/tasks/main.yml"));
    }

    #[test]
    fn symlinks_are_not_followed() {
        let emb: Vec<(String, &[u8])> = vec![("roles/r/tasks/main.yml".into(), b"x\n")];
        let d = tree(&[("roles/r/tasks/main.yml", "x\n")]);
        std::fs::create_dir_all(d.path().join("playbooks")).unwrap();
        std::os::unix::fs::symlink("../roles", d.path().join("playbooks/roles")).unwrap();
        assert!(compare(&emb, d.path()).is_empty());
    }
}
