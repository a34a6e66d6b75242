//! A host's inventory variables: those written in inventory files plus `group_vars/` and
//! `host_vars/` beside each inventory source and in the playbook directory, merged in Ansible's
//! precedence (low → high, later replaces earlier, dicts are replaced not merged):
//!
//! 1. inventory-file group vars: `all`, then the host's groups by (depth, ansible_group_priority, name)
//! 2. inventory group_vars/all, 3. playbook group_vars/all
//! 4. inventory group_vars/<group> (same group order), 5. playbook group_vars/<group>
//! 6. inventory-file host vars, 7. inventory host_vars/<host>, 8. playbook host_vars/<host>

use super::Inventory;
use crate::error::LoadError;
use crate::value::{Map, Value};
use std::path::{Path, PathBuf};

/// Extensions a group_vars/host_vars file may have (`""`: no extension), in the order Ansible tries.
const VARS_EXTENSIONS: [&str; 4] = ["", ".yml", ".yaml", ".json"];

pub(crate) fn host_vars(
    inv: &Inventory,
    host: &str,
    playbook_dir: Option<&Path>,
) -> Result<Map, LoadError> {
    let Some(h) = inv.host(host) else {
        return Err(LoadError::Other(format!(
            "host {host} is not in the inventory"
        )));
    };
    let groups = sorted_groups(inv, host);
    let inv_dirs: Vec<&Path> = inv.var_dirs().iter().map(PathBuf::as_path).collect();
    let pb_dirs: Vec<&Path> = playbook_dir.into_iter().collect();

    let mut out = Map::new();
    if let Some(all) = inv.group("all") {
        merge(&mut out, &all.vars);
    }
    for g in &groups {
        if let Some(group) = inv.group(g) {
            merge(&mut out, &group.vars);
        }
    }
    for dirs in [&inv_dirs, &pb_dirs] {
        for dir in dirs.iter() {
            merge(&mut out, &entity_vars(inv, dir, "group_vars", "all")?);
        }
    }
    for dirs in [&inv_dirs, &pb_dirs] {
        for dir in dirs.iter() {
            for g in &groups {
                merge(&mut out, &entity_vars(inv, dir, "group_vars", g)?);
            }
        }
    }
    merge(&mut out, &h.vars);
    for dirs in [&inv_dirs, &pb_dirs] {
        for dir in dirs.iter() {
            merge(&mut out, &entity_vars(inv, dir, "host_vars", host)?);
        }
    }
    Ok(out)
}

fn merge(into: &mut Map, from: &Map) {
    for (k, v) in from {
        into.insert(k.clone(), v.clone());
    }
}

/// The host's groups except `all`, in Ansible's variable order: shallow groups first, then by
/// `ansible_group_priority` (default 1), then by name.
fn sorted_groups(inv: &Inventory, host: &str) -> Vec<String> {
    let mut groups: Vec<(usize, i64, String)> = inv
        .host_groups(host)
        .into_iter()
        .filter(|g| g != "all")
        .map(|g| {
            let priority = inv
                .group(&g)
                .and_then(|gr| gr.vars.get("ansible_group_priority"))
                .and_then(priority_of)
                .unwrap_or(1);
            (inv.depth(&g), priority, g)
        })
        .collect();
    groups.sort();
    groups.into_iter().map(|(_, _, g)| g).collect()
}

fn priority_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// All variables for one group or host from `<dir>/<subdir>/`: the files `NAME`, `NAME.yml`,
/// `NAME.yaml`, `NAME.json` and, for a directory `NAME/`, every vars file inside it (sorted,
/// recursively), merged in that order.
fn entity_vars(inv: &Inventory, dir: &Path, subdir: &str, name: &str) -> Result<Map, LoadError> {
    let base = dir.join(subdir);
    let mut out = Map::new();
    if !base.is_dir() || name.contains('/') {
        return Ok(out);
    }
    for ext in VARS_EXTENSIONS {
        let p = base.join(format!("{name}{ext}"));
        if p.is_dir() {
            for f in dir_vars_files(&p)? {
                merge(&mut out, &file_vars(inv, &f)?);
            }
        } else if p.is_file() {
            merge(&mut out, &file_vars(inv, &p)?);
        }
    }
    Ok(out)
}

/// Files of a vars directory, sorted, recursing into extension-less subdirectories, skipping
/// hidden files, `~` backups and files whose extension is not a vars extension.
fn dir_vars_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for (p, fname) in super::sorted_dir(dir, "vars")? {
        if fname.starts_with('.') || fname.ends_with('~') {
            continue;
        }
        let ext = p
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        if p.is_dir() && ext.is_empty() {
            out.extend(dir_vars_files(&p)?);
        } else if p.is_file() && VARS_EXTENSIONS.contains(&ext.as_str()) {
            out.push(p);
        }
    }
    Ok(out)
}

/// One vars file as a mapping (empty file: no variables), parsed once per inventory.
fn file_vars(inv: &Inventory, path: &Path) -> Result<Map, LoadError> {
    if let Some(m) = inv
        .vars_cache()
        .lock()
        .ok()
        .and_then(|c| c.get(path).cloned())
    {
        return Ok(m);
    }
    let docs = crate::yaml::load_file(path)?;
    let map = match docs.into_iter().next() {
        None => Map::new(),
        Some(doc) if doc.is_null() => Map::new(),
        Some(doc) => match doc.to_value() {
            Value::Object(m) => m,
            _ => {
                return Err(LoadError::at(
                    &doc.span,
                    format!(
                        "vars file must contain a mapping of variables, got a {}",
                        doc.type_name()
                    ),
                ))
            }
        },
    };
    if let Ok(mut c) = inv.vars_cache().lock() {
        c.insert(path.to_path_buf(), map.clone());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::write_tree;
    use super::super::Inventory;
    use serde_json::json;

    /// Inventory `inv/hosts` (child group `web` of `prod`, host `w1`) plus extra files; the playbook
    /// directory is `pb/`.
    fn setup(extra: &[(&str, &str)]) -> (tempfile::TempDir, Inventory) {
        let dir = tempfile::tempdir().unwrap();
        let mut files = vec![("inv/hosts", "[web]\nw1\n[prod:children]\nweb\n")];
        files.extend_from_slice(extra);
        write_tree(dir.path(), &files);
        std::fs::create_dir_all(dir.path().join("pb")).unwrap();
        let inv = Inventory::load(&[dir.path().join("inv/hosts").display().to_string()]).unwrap();
        (dir, inv)
    }

    fn x_of(extra: &[(&str, &str)]) -> serde_json::Value {
        let (dir, inv) = setup(extra);
        let vars = inv.host_vars("w1", Some(&dir.path().join("pb"))).unwrap();
        vars.get("x").cloned().unwrap_or(json!(null))
    }

    #[test]
    fn inventory_file_child_group_beats_parent_and_all() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &[("hosts", "[web]\nw1\n[prod:children]\nweb\n[web:vars]\nx=2\n[prod:vars]\nx=1\n[all:vars]\nx=0\n")]);
        let inv = Inventory::load(&[dir.path().join("hosts").display().to_string()]).unwrap();
        assert_eq!(inv.host_vars("w1", None).unwrap()["x"], json!(2));
    }

    #[test]
    fn same_depth_groups_tie_break_by_name() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(
            dir.path(),
            &[("hosts", "[b]\nh\n[a]\nh\n[a:vars]\nx=1\n[b:vars]\nx=2\n")],
        );
        let inv = Inventory::load(&[dir.path().join("hosts").display().to_string()]).unwrap();
        assert_eq!(inv.host_vars("h", None).unwrap()["x"], json!(2));
    }

    #[test]
    fn group_priority_beats_name_order() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(
            dir.path(),
            &[(
                "hosts",
                "[b]\nh\n[a]\nh\n[a:vars]\nx=1\nansible_group_priority=5\n[b:vars]\nx=2\n",
            )],
        );
        let inv = Inventory::load(&[dir.path().join("hosts").display().to_string()]).unwrap();
        assert_eq!(inv.host_vars("h", None).unwrap()["x"], json!(1));
    }

    #[test]
    fn inventory_group_vars_all_beats_inventory_file_group_vars() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(
            dir.path(),
            &[
                ("hosts", "[web]\nw1\n[web:vars]\nx=1\n"),
                ("group_vars/all.yml", "x: 2\n"),
            ],
        );
        let inv = Inventory::load(&[dir.path().join("hosts").display().to_string()]).unwrap();
        assert_eq!(inv.host_vars("w1", None).unwrap()["x"], json!(2));
    }

    #[test]
    fn playbook_group_vars_all_beats_inventory_group_vars_all() {
        assert_eq!(
            x_of(&[
                ("inv/group_vars/all.yml", "x: 1\n"),
                ("pb/group_vars/all.yml", "x: 2\n")
            ]),
            json!(2)
        );
    }

    #[test]
    fn inventory_group_vars_group_beats_playbook_group_vars_all() {
        assert_eq!(
            x_of(&[
                ("pb/group_vars/all.yml", "x: 1\n"),
                ("inv/group_vars/web.yml", "x: 2\n")
            ]),
            json!(2)
        );
    }

    #[test]
    fn group_vars_files_follow_group_depth() {
        assert_eq!(
            x_of(&[
                ("inv/group_vars/web.yml", "x: child\n"),
                ("inv/group_vars/prod.yml", "x: parent\n")
            ]),
            json!("child")
        );
    }

    #[test]
    fn playbook_group_vars_group_beats_inventory_group_vars_group() {
        assert_eq!(
            x_of(&[
                ("inv/group_vars/web.yml", "x: 1\n"),
                ("pb/group_vars/web.yml", "x: 2\n")
            ]),
            json!(2)
        );
    }

    #[test]
    fn inventory_file_host_var_beats_playbook_group_vars() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(
            dir.path(),
            &[
                ("hosts", "[web]\nw1 x=3\n"),
                ("pb/group_vars/web.yml", "x: 2\n"),
            ],
        );
        let inv = Inventory::load(&[dir.path().join("hosts").display().to_string()]).unwrap();
        assert_eq!(
            inv.host_vars("w1", Some(&dir.path().join("pb"))).unwrap()["x"],
            json!(3)
        );
    }

    #[test]
    fn inventory_host_vars_beats_inventory_file_host_var() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(
            dir.path(),
            &[("hosts", "[web]\nw1 x=3\n"), ("host_vars/w1.yml", "x: 4\n")],
        );
        let inv = Inventory::load(&[dir.path().join("hosts").display().to_string()]).unwrap();
        assert_eq!(inv.host_vars("w1", None).unwrap()["x"], json!(4));
    }

    #[test]
    fn playbook_host_vars_beats_inventory_host_vars() {
        assert_eq!(
            x_of(&[
                ("inv/host_vars/w1", "x: 4\n"),
                ("pb/host_vars/w1.yaml", "x: 5\n")
            ]),
            json!(5)
        );
    }

    #[test]
    fn group_vars_directory_files_merge_sorted_and_recursive() {
        let v = {
            let (dir, inv) = setup(&[
                ("inv/group_vars/web/a.yml", "x: 1\ny: a\n"),
                ("inv/group_vars/web/b.yml", "x: 2\n"),
                ("inv/group_vars/web/sub/c.json", "{\"z\": true}"),
                ("inv/group_vars/web/.hidden.yml", "x: hidden\n"),
                ("inv/group_vars/web/notes.txt", "x: txt\n"),
            ]);
            inv.host_vars("w1", Some(&dir.path().join("pb"))).unwrap()
        };
        assert_eq!(v["x"], json!(2));
        assert_eq!(v["y"], json!("a"));
        assert_eq!(v["z"], json!(true));
    }

    #[test]
    fn dicts_are_replaced_not_merged() {
        assert_eq!(
            x_of(&[
                ("inv/group_vars/all.yml", "x: {a: 1, b: 2}\n"),
                ("inv/group_vars/web.yml", "x: {a: 3}\n")
            ]),
            json!({"a": 3})
        );
    }

    #[test]
    fn directory_source_uses_group_vars_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(
            dir.path(),
            &[
                ("inv/hosts", "[web]\nw1\n"),
                ("inv/group_vars/web", "x: 7\n"),
            ],
        );
        let inv = Inventory::load(&[dir.path().join("inv").display().to_string()]).unwrap();
        assert_eq!(inv.host_vars("w1", None).unwrap()["x"], json!(7));
    }

    #[test]
    fn non_mapping_vars_file_is_an_error_naming_the_file() {
        let (dir, inv) = setup(&[("inv/group_vars/web.yml", "- a\n- b\n")]);
        let e = inv
            .host_vars("w1", Some(&dir.path().join("pb")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("web.yml") && e.contains("mapping"), "{e}");
    }

    #[test]
    fn implicit_localhost_gets_all_group_vars_and_local_connection() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &[("hosts", "[web]\nw1\n[all:vars]\nx=1\n")]);
        let inv = Inventory::load(&[dir.path().join("hosts").display().to_string()]).unwrap();
        let v = inv.host_vars("localhost", None).unwrap();
        assert_eq!(v["x"], json!(1));
        assert_eq!(v["ansible_connection"], json!("local"));
    }

    #[test]
    fn unknown_host_is_an_error() {
        assert!(Inventory::empty().host_vars("nope", None).is_err());
    }
}
