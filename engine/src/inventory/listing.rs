//! `ansible-inventory --list` and `--graph`, in ansible-core's layout.

use super::Inventory;
use crate::error::LoadError;
use crate::value::{Map, Value};
use std::collections::{BTreeMap, HashSet};

/// `--list`: one entry per non-empty group (`hosts`: direct hosts, `children`: child groups;
/// `all` lists no hosts), plus `_meta.hostvars` with each host's merged inventory variables
/// (hosts without variables left out). Keys are sorted at every level, as ansible-inventory
/// prints with `sort_keys=True`.
pub(crate) fn to_list_json(inv: &Inventory) -> Result<Value, LoadError> {
    let mut top: BTreeMap<String, Value> = BTreeMap::new();
    let mut seen = HashSet::new();
    seen.insert("all".to_string());
    format_group(inv, "all", &mut seen, &mut top);

    let mut hostvars = Map::new();
    for host in inv.group_hosts("all") {
        let vars = inv.host_vars(&host, None)?;
        if !vars.is_empty() {
            hostvars.insert(host, Value::Object(vars));
        }
    }
    let mut meta = Map::new();
    meta.insert("hostvars".into(), Value::Object(hostvars));
    top.insert("_meta".into(), Value::Object(meta));
    Ok(sort_keys(Value::Object(top.into_iter().collect())))
}

fn format_group(
    inv: &Inventory,
    name: &str,
    seen: &mut HashSet<String>,
    out: &mut BTreeMap<String, Value>,
) {
    let Some(group) = inv.group(name) else {
        return;
    };
    let mut entry = Map::new();
    if name != "all" && !group.hosts.is_empty() {
        entry.insert(
            "hosts".into(),
            group.hosts.iter().cloned().map(Value::String).collect(),
        );
    }
    if !group.children.is_empty() {
        entry.insert(
            "children".into(),
            group.children.iter().cloned().map(Value::String).collect(),
        );
    }
    for child in &group.children {
        if seen.insert(child.clone()) {
            format_group(inv, child, seen, out);
        }
    }
    if !entry.is_empty() {
        out.insert(name.to_string(), Value::Object(entry));
    }
}

fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<String, Value> =
                m.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// `--graph`: `@group:` lines indented by `  |` per level with `--` before each name; child
/// groups first, then the group's own hosts (none shown under `all`), in definition order.
pub(crate) fn to_graph(inv: &Inventory) -> String {
    let mut lines = Vec::new();
    graph_group(inv, "all", 0, false, &mut lines);
    lines.join("\n")
}

/// `--graph --vars`: as [`to_graph`], with each host's merged variables under it and each
/// group's own variables after its members, one `{name = value}` line each, sorted by name.
pub(crate) fn to_graph_vars(inv: &Inventory) -> String {
    let mut lines = Vec::new();
    graph_group(inv, "all", 0, true, &mut lines);
    lines.join("\n")
}

fn var_lines(vars: &Map, depth: usize, lines: &mut Vec<String>) {
    let sorted: BTreeMap<&String, &Value> = vars.iter().collect();
    for (k, v) in sorted {
        let shown = match v {
            Value::String(s) => s.clone(),
            other => crate::template::python_repr(&crate::template::from_json_value(other)),
        };
        lines.push(graph_name(&format!("{{{k} = {shown}}}"), depth));
    }
}

fn graph_name(name: &str, depth: usize) -> String {
    if depth == 0 {
        name.to_string()
    } else {
        format!("{}--{name}", "  |".repeat(depth))
    }
}

fn graph_group(inv: &Inventory, name: &str, depth: usize, vars: bool, lines: &mut Vec<String>) {
    lines.push(graph_name(&format!("@{name}:"), depth));
    let Some(group) = inv.group(name) else {
        return;
    };
    for child in &group.children {
        graph_group(inv, child, depth + 1, vars, lines);
    }
    if name != "all" {
        for h in &group.hosts {
            lines.push(graph_name(h, depth + 1));
            if vars {
                if let Ok(v) = inv.host_vars(h, None) {
                    var_lines(&v, depth + 2, lines);
                }
            }
        }
    }
    if vars {
        var_lines(&group.vars, depth + 1, lines);
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::write_tree;
    use super::*;
    use serde_json::json;

    fn inv(text: &str) -> (tempfile::TempDir, Inventory) {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &[("hosts", text)]);
        let inv = Inventory::load(&[dir.path().join("hosts").display().to_string()]).unwrap();
        (dir, inv)
    }

    #[test]
    fn graph_with_vars_matches_ansible_inventory() {
        let (_d, inv) = inv("[web]\nh1 a=1\nh2\n[web:vars]\ngv=x\n[db]\nh3\n");
        assert_eq!(
            inv.to_graph_vars(),
            "@all:\n  |--@ungrouped:\n  |--@web:\n  |  |--h1\n  |  |  |--{a = 1}\n  |  |  |--{gv = x}\n  |  |--h2\n  |  |  |--{gv = x}\n  |  |--{gv = x}\n  |--@db:\n  |  |--h3"
        );
    }

    #[test]
    fn list_json_has_ansible_inventory_shape() {
        let (_d, inv) =
            inv("u1\n[web]\nw2 b=1 a=2\nw1\n[prod:children]\nweb\n[prod:vars]\nenv=prod\n");
        let j = inv.to_list_json().unwrap();
        assert_eq!(
            j,
            json!({
                "_meta": {"hostvars": {
                    "w1": {"env": "prod"},
                    "w2": {"a": 2, "b": 1, "env": "prod"}
                }},
                "all": {"children": ["ungrouped", "prod"]},
                "prod": {"children": ["web"]},
                "ungrouped": {"hosts": ["u1"]},
                "web": {"hosts": ["w2", "w1"]}
            })
        );
        let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["_meta", "all", "prod", "ungrouped", "web"]);
        let w2_keys: Vec<&String> = j["_meta"]["hostvars"]["w2"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(w2_keys, ["a", "b", "env"]);
    }

    #[test]
    fn list_json_omits_empty_ungrouped_but_all_names_it() {
        let (_d, inv) = inv("[web]\nw1\n");
        let j = inv.to_list_json().unwrap();
        assert!(j.get("ungrouped").is_none());
        assert_eq!(j["all"]["children"], json!(["ungrouped", "web"]));
        assert_eq!(j["_meta"]["hostvars"], json!({}));
    }

    #[test]
    fn graph_matches_ansible_layout() {
        let (_d, inv) = inv("u1\n[web]\nw1\nw2\n[prod:children]\nweb\n[db]\nd1\n");
        assert_eq!(
            inv.to_graph(),
            "@all:\n  |--@ungrouped:\n  |  |--u1\n  |--@prod:\n  |  |--@web:\n  |  |  |--w1\n  |  |  |--w2\n  |--@db:\n  |  |--d1"
        );
    }

    #[test]
    fn graph_of_empty_inventory_shows_all_and_ungrouped() {
        assert_eq!(Inventory::empty().to_graph(), "@all:\n  |--@ungrouped:");
    }
}
