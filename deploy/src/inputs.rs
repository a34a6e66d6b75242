//! What a step's outcome depends on, hashed: the playbook and role files it runs (whichever
//! wins, on disk or embedded), the inventory's hosts, groups and connection settings, and the
//! values of exactly the variables its content refers to (followed through the variables those
//! refer to). So changing `etcd_*` re-runs the etcd step and no other, while adding a host or
//! editing a role re-runs every step that uses it.
//!
//! Finding the variables is deliberately generous: every identifier written anywhere in the
//! step's files (templates, `when:`, `hostvars[h]['name']`, `lookup('vars', 'name')`, even
//! comments) that names a defined variable counts. A false match costs one unneeded re-run; a
//! missed one would skip a step whose input changed, so the scan errs on the first side.

use crate::state::InputsSummary;
use kplay_engine::inventory::Inventory;
use kplay_engine::value::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files larger than this are hashed but not scanned for variable names (binaries, archives).
const SCAN_LIMIT: u64 = 1 << 20;

/// The files one step runs: `(label, path)`; labels are paths relative to the content root
/// (`playbooks/02-cluster-etcd.yml`, `roles/etcd/tasks/main.yml`), so the same content hashes the
/// same wherever it was extracted.
#[derive(Clone, Debug, Default)]
pub struct StepFiles {
    pub files: BTreeMap<String, PathBuf>,
}

impl StepFiles {
    pub fn add_file(&mut self, label: String, path: PathBuf) {
        self.files.insert(label, path);
    }

    /// Every regular file under `dir`, labelled `prefix/relative path`.
    pub fn add_tree(&mut self, prefix: &str, dir: &Path) {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in rd.flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.is_file() {
                    let rel = p.strip_prefix(dir).unwrap_or(&p).display().to_string();
                    self.files.insert(format!("{prefix}/{rel}"), p);
                }
            }
        }
    }
}

/// The variables every host of a run sees before facts: inventory (with group_vars/host_vars
/// beside it and beside the playbook) and extra vars on top.
pub struct VarView {
    pub per_host: BTreeMap<String, Map>,
    pub groups: BTreeMap<String, Vec<String>>,
}

impl VarView {
    pub fn new(
        inventory: &Inventory,
        playbook_dir: &Path,
        extra_vars: &Map,
    ) -> Result<VarView, kplay_engine::error::LoadError> {
        let mut per_host = BTreeMap::new();
        for h in inventory.hosts() {
            let mut vars = inventory.host_vars(&h.name, Some(playbook_dir))?;
            for (k, v) in extra_vars {
                vars.insert(k.clone(), v.clone());
            }
            per_host.insert(h.name.clone(), vars);
        }
        let groups = inventory
            .groups_map()
            .into_iter()
            .map(|(g, mut hosts)| {
                hosts.sort();
                (g, hosts)
            })
            .collect();
        Ok(VarView { per_host, groups })
    }

    fn defined(&self) -> BTreeSet<&str> {
        self.per_host
            .values()
            .flat_map(|m| m.keys().map(String::as_str))
            .collect()
    }
}

/// Names that decide where and how a step runs on each host: part of the inventory hash.
fn is_connection_var(name: &str) -> bool {
    name.starts_with("ansible_") || name == "kplay_agent"
}

/// Identifier-shaped words in `text` (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        })
}

fn value_words<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.extend(words(s)),
        Value::Array(a) => a.iter().for_each(|x| value_words(x, out)),
        Value::Object(m) => {
            for (k, x) in m {
                out.extend(words(k));
                value_words(x, out);
            }
        }
        _ => {}
    }
}

/// The defined variables the files refer to, closed over what those variables' values refer to.
pub fn referenced_vars(files: &StepFiles, view: &VarView) -> BTreeSet<String> {
    let defined = view.defined();
    let mut found: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<String> = Vec::new();
    let note = |w: &str, found: &mut BTreeSet<String>, queue: &mut Vec<String>| {
        if defined.contains(w) && !is_connection_var(w) && found.insert(w.to_string()) {
            queue.push(w.to_string());
        }
    };
    for path in files.files.values() {
        let small = std::fs::metadata(path).is_ok_and(|m| m.len() <= SCAN_LIMIT);
        if let (true, Ok(text)) = (small, std::fs::read_to_string(path)) {
            for w in words(&text) {
                note(w, &mut found, &mut queue);
            }
        }
    }
    while let Some(name) = queue.pop() {
        let mut ws = Vec::new();
        for vars in view.per_host.values() {
            if let Some(v) = vars.get(&name) {
                value_words(v, &mut ws);
            }
        }
        let ws: Vec<String> = ws.into_iter().map(str::to_string).collect();
        for w in ws {
            note(&w, &mut found, &mut queue);
        }
    }
    found
}

fn sha_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

fn short(full: String) -> String {
    full[..16].to_string()
}

/// Hash of every file's label and content.
pub fn content_hash(files: &StepFiles) -> Result<String, crate::error::DeployError> {
    let mut h = Sha256::new();
    for (label, path) in &files.files {
        let data =
            std::fs::read(path).map_err(|e| crate::error::DeployError::io("reading", path, e))?;
        h.update(sha_hex(&[label.as_bytes(), &data]).as_bytes());
    }
    Ok(hex::encode(h.finalize()))
}

/// Hosts, their groups and connection variables.
pub fn inventory_hash(view: &VarView, salt: &str) -> String {
    let mut doc = serde_json::Map::new();
    let mut hosts = serde_json::Map::new();
    for (host, vars) in &view.per_host {
        let conn: serde_json::Map<String, Value> = vars
            .iter()
            .filter(|(k, _)| is_connection_var(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        hosts.insert(host.clone(), sorted(&Value::Object(conn)));
    }
    doc.insert("hosts".into(), Value::Object(hosts));
    doc.insert(
        "groups".into(),
        serde_json::to_value(&view.groups).unwrap_or_default(),
    );
    sha_hex(&[salt.as_bytes(), Value::Object(doc).to_string().as_bytes()])
}

/// A JSON value with object keys sorted, so equal values always serialise the same.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// One variable's values on every host that defines it.
fn var_hash(name: &str, view: &VarView, salt: &str) -> String {
    let per_host: Vec<Value> = view
        .per_host
        .iter()
        .filter_map(|(h, vars)| {
            vars.get(name)
                .map(|v| Value::Array(vec![Value::String(h.clone()), sorted(v)]))
        })
        .collect();
    short(sha_hex(&[
        salt.as_bytes(),
        name.as_bytes(),
        Value::Array(per_host).to_string().as_bytes(),
    ]))
}

/// A step's inputs: the summary kept in the state and the one hash that decides a re-run.
pub fn compute(
    files: &StepFiles,
    view: &VarView,
    other: &BTreeMap<String, String>,
    salt: &str,
) -> Result<(String, InputsSummary), crate::error::DeployError> {
    let content = content_hash(files)?;
    let inventory = inventory_hash(view, salt);
    let vars: BTreeMap<String, String> = referenced_vars(files, view)
        .into_iter()
        .map(|n| {
            let h = var_hash(&n, view, salt);
            (n, h)
        })
        .collect();
    let summary = InputsSummary {
        content: short(content),
        inventory: short(inventory),
        vars,
        other: other.clone(),
    };
    let text = serde_json::to_string(&summary).unwrap_or_default();
    Ok((short(sha_hex(&[text.as_bytes()])), summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(hosts: &[(&str, Value)]) -> VarView {
        VarView {
            per_host: hosts
                .iter()
                .map(|(h, v)| (h.to_string(), v.as_object().cloned().unwrap_or_default()))
                .collect(),
            groups: BTreeMap::from([("etcd".into(), vec!["n1".into()])]),
        }
    }

    fn files_with(dir: &Path, content: &[(&str, &str)]) -> StepFiles {
        let mut f = StepFiles::default();
        for (name, text) in content {
            let p = dir.join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            f.add_file(name.to_string(), p);
        }
        f
    }

    #[test]
    fn words_are_identifiers_in_any_text() {
        let w: Vec<&str> = words("{{ hostvars[h]['etcd_ip'] | default(x1) }} 9lives _u").collect();
        assert_eq!(w, ["hostvars", "h", "etcd_ip", "default", "x1", "_u"]);
    }

    #[test]
    fn referenced_vars_follow_definitions_through_templates() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_with(
            dir.path(),
            &[(
                "roles/etcd/tasks/main.yml",
                "- get_url: url={{ etcd_url }}\n  when: etcd_enabled\n",
            )],
        );
        let v = view(&[(
            "n1",
            json!({
                "etcd_url": "{{ files_repo }}/etcd-{{ etcd_version }}.tgz",
                "files_repo": "http://{{ bootstrap_address }}/files",
                "bootstrap_address": "10.0.0.1",
                "etcd_version": "3.5",
                "etcd_enabled": true,
                "kube_version": "1.30",
                "ansible_host": "10.0.0.2",
            }),
        )]);
        let got: Vec<String> = referenced_vars(&files, &v).into_iter().collect();
        assert_eq!(
            got,
            [
                "bootstrap_address",
                "etcd_enabled",
                "etcd_url",
                "etcd_version",
                "files_repo"
            ]
        );
    }

    #[test]
    fn changing_an_unreferenced_variable_keeps_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_with(dir.path(), &[("pb.yml", "- debug: var=etcd_version\n")]);
        let a = view(&[("n1", json!({"etcd_version": "1", "kube_version": "1"}))]);
        let b = view(&[("n1", json!({"etcd_version": "1", "kube_version": "2"}))]);
        let c = view(&[("n1", json!({"etcd_version": "2", "kube_version": "1"}))]);
        let none = BTreeMap::new();
        let (ha, sa) = compute(&files, &a, &none, "salt").unwrap();
        let (hb, _) = compute(&files, &b, &none, "salt").unwrap();
        let (hc, sc) = compute(&files, &c, &none, "salt").unwrap();
        assert_eq!(ha, hb);
        assert_ne!(ha, hc);
        assert_eq!(sc.changes_since(&sa), ["variable etcd_version"]);
    }

    #[test]
    fn file_content_hosts_connection_vars_and_other_inputs_change_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let files = files_with(dir.path(), &[("pb.yml", "- ping:\n")]);
        let base = view(&[("n1", json!({"ansible_host": "10.0.0.2"}))]);
        let none = BTreeMap::new();
        let (h0, _) = compute(&files, &base, &none, "s").unwrap();
        // Same inputs, same hash.
        assert_eq!(h0, compute(&files, &base, &none, "s").unwrap().0);
        let moved = view(&[("n1", json!({"ansible_host": "10.0.0.3"}))]);
        assert_ne!(h0, compute(&files, &moved, &none, "s").unwrap().0);
        let more = view(&[
            ("n1", json!({"ansible_host": "10.0.0.2"})),
            ("n2", json!({})),
        ]);
        assert_ne!(h0, compute(&files, &more, &none, "s").unwrap().0);
        let bundle = BTreeMap::from([("bundle".to_string(), "abc".to_string())]);
        assert_ne!(h0, compute(&files, &base, &bundle, "s").unwrap().0);
        std::fs::write(dir.path().join("pb.yml"), "- ping: {}\n").unwrap();
        assert_ne!(h0, compute(&files, &base, &none, "s").unwrap().0);
    }

    #[test]
    fn the_same_content_in_another_place_hashes_the_same() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let fa = files_with(a.path(), &[("roles/x/tasks/main.yml", "- ping:\n")]);
        let fb = files_with(b.path(), &[("roles/x/tasks/main.yml", "- ping:\n")]);
        assert_eq!(content_hash(&fa).unwrap(), content_hash(&fb).unwrap());
    }

    #[test]
    fn variable_hashes_depend_on_the_salt() {
        let v = view(&[("n1", json!({"secret_token": "hunter2"}))]);
        assert_ne!(
            var_hash("secret_token", &v, "a"),
            var_hash("secret_token", &v, "b")
        );
    }
}
