//! Hook stages (the seed's tkestack hooks): playbooks the operator drops into
//! `hooks/pre-install/`, `hooks/post-cluster-ready/` and `hooks/post-install/` run at those
//! points of a deploy, in name order (`10-disks.yml` before `20-monitoring.yml`), with the same
//! inventory and variables as the steps. A stage is a step of its own in the state file, so a
//! finished stage is skipped like any step until its playbooks or their inputs change.

use std::path::{Path, PathBuf};

/// The playbooks of one stage, sorted by file name; empty when the directory does not exist.
pub fn playbooks(hooks_dir: &Path, stage: &str) -> Vec<PathBuf> {
    let dir = hooks_dir.join(stage);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                && matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_playbooks_are_yaml_files_in_name_order() {
        let d = tempfile::tempdir().unwrap();
        let stage = d.path().join("pre-install");
        std::fs::create_dir_all(stage.join("roles")).unwrap();
        for f in [
            "20-b.yml",
            "10-a.yaml",
            "README.md",
            ".hidden.yml",
            "30-c.yml~",
        ] {
            std::fs::write(stage.join(f), "").unwrap();
        }
        let names: Vec<String> = playbooks(d.path(), "pre-install")
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["10-a.yaml", "20-b.yml"]);
        assert!(playbooks(d.path(), "post-install").is_empty());
    }
}
