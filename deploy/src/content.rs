//! Which files a step runs: its playbook, what the playbook imports or includes by file name, and
//! every file of every role it uses (roles the engine loaded, plus `include_role` targets found
//! by reading the task files, with their `meta` dependencies). Roles resolve in the engine's order
//! (the playbook's `roles/`, `roles_path`, then kplay's embedded roles), so on-site edits on
//! disk are what gets hashed when they are what runs.

use crate::inputs::StepFiles;
use kplay_engine::playbook::Playbook;
use kplay_engine::yaml::{Node, NodeKind};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Keys whose value names a file relative to the playbook directory.
const FILE_KEYS: [&str; 5] = [
    "include_tasks",
    "import_tasks",
    "import_playbook",
    "vars_files",
    "include_vars",
];

fn action_is(key: &str, name: &str) -> bool {
    key == name || key.strip_prefix("ansible.builtin.") == Some(name)
}

/// Where role names are looked up, in the engine's order.
struct RoleSearch {
    base_dir: PathBuf,
    roles_path: Vec<PathBuf>,
}

impl RoleSearch {
    fn dirs(&self) -> Vec<PathBuf> {
        let mut v = vec![self.base_dir.join("roles")];
        v.extend(self.roles_path.iter().cloned());
        v
    }

    fn is_role(dir: &Path) -> bool {
        ["tasks", "meta", "defaults", "handlers"]
            .iter()
            .any(|d| dir.join(d).is_dir())
    }

    fn find(&self, name: &str) -> Option<PathBuf> {
        let p = Path::new(name);
        if p.is_absolute() {
            return p.is_dir().then(|| p.to_path_buf());
        }
        let short = name.rsplit('.').next().unwrap_or(name);
        let mut candidates: Vec<PathBuf> = self.dirs().iter().map(|d| d.join(name)).collect();
        candidates.push(self.base_dir.join(name));
        candidates.extend(self.dirs().iter().map(|d| d.join(short)));
        candidates.into_iter().find(|c| Self::is_role(c))
    }

    /// Every role in the search path (a templated role name could be any of them).
    fn all(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for d in self.dirs() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if Self::is_role(&e.path()) {
                    out.push(e.path());
                }
            }
        }
        out
    }
}

fn str_values(node: &Node) -> Vec<String> {
    match &node.kind {
        NodeKind::Str(s) => vec![s.clone()],
        NodeKind::Seq(items) => items.iter().flat_map(str_values).collect(),
        NodeKind::Map(pairs) => pairs
            .iter()
            .filter(|(k, _)| matches!(k.key_string().as_str(), "file" | "_raw_params"))
            .flat_map(|(_, v)| str_values(v))
            .collect(),
        _ => vec![],
    }
}

/// Role names and relative file names a YAML document refers to.
#[derive(Default)]
struct Refs {
    roles: Vec<String>,
    files: Vec<String>,
}

fn scan(node: &Node, refs: &mut Refs) {
    match &node.kind {
        NodeKind::Seq(items) => items.iter().for_each(|n| scan(n, refs)),
        NodeKind::Map(pairs) => {
            for (k, v) in pairs {
                let key = k.key_string();
                if action_is(&key, "include_role") || action_is(&key, "import_role") {
                    match v.get("name").and_then(Node::as_str) {
                        Some(n) => refs.roles.push(n.to_string()),
                        None => refs.roles.push("{{ unknown }}".into()),
                    }
                } else if FILE_KEYS.iter().any(|f| action_is(&key, f)) {
                    refs.files.extend(str_values(v));
                } else if key == "dependencies" {
                    for d in v.as_seq().unwrap_or_default() {
                        let name = d
                            .as_str()
                            .map(str::to_string)
                            .or_else(|| d.get("role").and_then(Node::as_str).map(str::to_string))
                            .or_else(|| d.get("name").and_then(Node::as_str).map(str::to_string));
                        if let Some(n) = name {
                            refs.roles.push(n);
                        }
                    }
                }
                scan(v, refs);
            }
        }
        _ => {}
    }
}

fn scan_file(path: &Path) -> Refs {
    let mut refs = Refs::default();
    if let Ok(docs) = kplay_engine::yaml::load_file(path) {
        for d in &docs {
            scan(d, &mut refs);
        }
    }
    refs
}

fn is_yaml(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml" | "json")
    )
}

/// The files of one playbook run: `label_root` prefixes the playbook's own files
/// (`playbooks`, `hooks/pre-install`).
pub fn step_files(
    playbook: &Path,
    loaded: &Playbook,
    roles_path: &[PathBuf],
    label_root: &str,
) -> StepFiles {
    let base_dir = playbook
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let search = RoleSearch {
        base_dir: base_dir.clone(),
        roles_path: roles_path.to_vec(),
    };
    let mut out = StepFiles::default();
    let mut roles: BTreeSet<PathBuf> = BTreeSet::new();
    for play in &loaded.plays {
        roles.extend(play.role_instances.iter().map(|r| r.path.clone()));
        roles.extend(play.role_seen.iter().map(|r| r.0.clone()));
    }
    // Files the playbook names, followed transitively.
    let mut pending = vec![playbook.to_path_buf()];
    let mut seen_files: BTreeSet<PathBuf> = BTreeSet::new();
    let mut role_names: Vec<String> = Vec::new();
    while let Some(f) = pending.pop() {
        let canon = f.canonicalize().unwrap_or_else(|_| f.clone());
        if !seen_files.insert(canon) {
            continue;
        }
        let rel = f
            .strip_prefix(&base_dir)
            .unwrap_or(&f)
            .display()
            .to_string();
        out.add_file(format!("{label_root}/{rel}"), f.clone());
        let refs = scan_file(&f);
        role_names.extend(refs.roles);
        for name in refs.files {
            if name.contains("{{") || name.contains("{%") {
                continue;
            }
            let p = base_dir.join(&name);
            if p.is_file() && is_yaml(&p) {
                pending.push(p);
            }
        }
    }
    // Roles: those loaded, plus include_role targets and meta dependencies, transitively.
    let mut queue: Vec<PathBuf> = roles.iter().cloned().collect();
    let resolve = |name: &str, queue: &mut Vec<PathBuf>, roles: &mut BTreeSet<PathBuf>| {
        let found = if name.contains("{{") || name.contains("{%") {
            search.all()
        } else {
            search.find(name).into_iter().collect()
        };
        for r in found {
            if roles.insert(r.clone()) {
                queue.push(r);
            }
        }
    };
    for name in &role_names {
        resolve(name, &mut queue, &mut roles);
    }
    while let Some(role) = queue.pop() {
        let mut files = StepFiles::default();
        files.add_tree("", &role);
        for path in files.files.values() {
            if is_yaml(path) {
                for name in scan_file(path).roles {
                    resolve(&name, &mut queue, &mut roles);
                }
            }
        }
    }
    for role in &roles {
        let name = role
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.add_tree(&format!("roles/{name}"), role);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn labels(files: &StepFiles) -> Vec<String> {
        files.files.keys().cloned().collect()
    }

    #[test]
    fn included_roles_their_dependencies_and_task_files_are_part_of_the_step() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write(
            root,
            "pb/site.yml",
            "- hosts: all\n  tasks:\n    - include_tasks: extra.yml\n    - include_role:\n        name: web\n",
        );
        write(root, "pb/extra.yml", "- ping:\n");
        write(root, "pb/unused.yml", "- ping:\n");
        write(
            root,
            "roles/web/meta/main.yml",
            "dependencies:\n  - role: base\n",
        );
        write(root, "roles/web/tasks/main.yml", "- ping:\n");
        write(root, "roles/base/tasks/main.yml", "- ping:\n");
        write(root, "roles/base/templates/x.j2", "{{ x }}\n");
        write(root, "roles/other/tasks/main.yml", "- ping:\n");
        let pb = Playbook {
            path: root.join("pb/site.yml"),
            plays: vec![],
        };
        let files = step_files(&pb.path, &pb, &[root.join("roles")], "playbooks");
        assert_eq!(
            labels(&files),
            [
                "playbooks/extra.yml",
                "playbooks/site.yml",
                "roles/base/tasks/main.yml",
                "roles/base/templates/x.j2",
                "roles/web/meta/main.yml",
                "roles/web/tasks/main.yml",
            ]
        );
    }

    #[test]
    fn a_templated_role_name_brings_in_every_role() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write(
            root,
            "pb/site.yml",
            "- hosts: all\n  tasks:\n    - include_role:\n        name: \"{{ which }}\"\n",
        );
        write(root, "pb/roles/a/tasks/main.yml", "- ping:\n");
        write(root, "roles/b/tasks/main.yml", "- ping:\n");
        let pb = Playbook {
            path: root.join("pb/site.yml"),
            plays: vec![],
        };
        let files = step_files(&pb.path, &pb, &[root.join("roles")], "playbooks");
        assert_eq!(
            labels(&files),
            [
                "playbooks/site.yml",
                "roles/a/tasks/main.yml",
                "roles/b/tasks/main.yml"
            ]
        );
    }

    #[test]
    fn the_playbooks_own_roles_dir_wins_over_roles_path() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        write(
            root,
            "pb/site.yml",
            "- hosts: all\n  tasks:\n    - import_role:\n        name: r\n",
        );
        write(root, "pb/roles/r/tasks/main.yml", "- debug: msg=disk\n");
        write(root, "embedded/r/tasks/main.yml", "- debug: msg=embedded\n");
        let pb = Playbook {
            path: root.join("pb/site.yml"),
            plays: vec![],
        };
        let files = step_files(&pb.path, &pb, &[root.join("embedded")], "playbooks");
        assert_eq!(
            files.files["roles/r/tasks/main.yml"],
            root.join("pb/roles/r/tasks/main.yml")
        );
    }
}
