//! Where a deploy keeps its things, beside the inventory (or config.yaml) it deploys, so every
//! cluster's directory carries its own state and hooks:
//!
//! ```text
//! inventory/mycluster/hosts.ini          # -i inventory/mycluster/hosts.ini  (or config.yaml)
//! inventory/mycluster/.kplay/deploy-state.json   # finished steps (kplay writes it)
//! inventory/mycluster/hooks/pre-install/*.yml     # operator hooks, run in name order
//! inventory/mycluster/hooks/post-cluster-ready/*.yml
//! inventory/mycluster/hooks/post-install/*.yml
//! ```
//!
//! With a directory as inventory the directory itself is the deploy directory (`.kplay/` is
//! hidden, so the inventory loader skips it); hooks then belong outside it (`--hooks DIR`), since
//! an inventory directory's files are all read as inventory, as Ansible does.

use std::path::{Path, PathBuf};

/// Name of the directory kplay writes beside the inventory.
pub const KPLAY_DIR: &str = ".kplay";
pub const STATE_FILE: &str = "deploy-state.json";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The directory holding the inventory file, inventory directory or config.yaml.
    pub deploy_dir: PathBuf,
    pub state: PathBuf,
    pub hooks: PathBuf,
}

impl Layout {
    fn in_dir(deploy_dir: PathBuf) -> Layout {
        Layout {
            state: deploy_dir.join(KPLAY_DIR).join(STATE_FILE),
            hooks: deploy_dir.join("hooks"),
            deploy_dir,
        }
    }

    /// For `-i SOURCE…`: the first source that is a path (a file's directory, or the directory);
    /// a host list (`-i h1,h2,`) keeps things in the working directory.
    pub fn for_inventory(sources: &[String], cwd: &Path) -> Layout {
        let dir = sources
            .iter()
            .map(|s| cwd.join(s))
            .find(|p| p.exists())
            .map(|p| {
                if p.is_dir() {
                    p
                } else {
                    p.parent().map(Path::to_path_buf).unwrap_or_default()
                }
            })
            .unwrap_or_else(|| cwd.to_path_buf());
        Layout::in_dir(absolute(&dir))
    }

    /// For `-c config.yaml`: the config file's directory.
    pub fn for_config(config: &Path, cwd: &Path) -> Layout {
        let p = cwd.join(config);
        let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
        Layout::in_dir(absolute(&dir))
    }

    /// Where `-c config.yaml` writes the inventory it generates.
    pub fn generated_inventory(&self) -> PathBuf {
        self.deploy_dir.join(KPLAY_DIR).join("inventory.yml")
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_hooks_sit_beside_the_inventory_file() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("inv/prod")).unwrap();
        std::fs::write(root.join("inv/prod/hosts.ini"), "").unwrap();
        let l = Layout::for_inventory(&["inv/prod/hosts.ini".into()], &root);
        assert_eq!(l.deploy_dir, root.join("inv/prod"));
        assert_eq!(l.state, root.join("inv/prod/.kplay/deploy-state.json"));
        assert_eq!(l.hooks, root.join("inv/prod/hooks"));
    }

    #[test]
    fn a_directory_inventory_is_its_own_deploy_dir_and_a_host_list_uses_cwd() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("inv")).unwrap();
        let l = Layout::for_inventory(&["inv".into()], &root);
        assert_eq!(l.deploy_dir, root.join("inv"));
        let l = Layout::for_inventory(&["h1,h2,".into()], &root);
        assert_eq!(l.deploy_dir, root);
    }

    #[test]
    fn a_config_file_keeps_state_and_generated_inventory_beside_it() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        let l = Layout::for_config(Path::new("config.yaml"), &root);
        assert_eq!(l.state, root.join(".kplay/deploy-state.json"));
        assert_eq!(l.generated_inventory(), root.join(".kplay/inventory.yml"));
    }
}
