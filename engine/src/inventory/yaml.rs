//! YAML and JSON inventories, in the two shapes Ansible reads:
//!
//! * the YAML plugin's: `group: {hosts: {name: {vars}}, vars: {..}, children: {group: {..}}}`
//!   (JSON files in this shape too);
//! * the script/`ansible-inventory --list` shape: `group: {hosts: [..], vars: {..}, children: [..]}`
//!   or `group: [hosts]`, with `_meta: {hostvars: {host: {vars}}}`.
//!
//! The second is recognised by a `_meta` key or by lists where the first has mappings.

use super::range;
use super::Inventory;
use crate::error::LoadError;
use crate::span::Span;
use crate::yaml::{load_str, Node, NodeKind};

/// Parse a file already known (by extension) to be YAML or JSON.
pub(crate) fn parse(inv: &mut Inventory, text: &str, file: &str) -> Result<(), LoadError> {
    let docs = load_str(text, file)?;
    let Some(doc) = docs.into_iter().next().filter(|d| !d.is_null()) else {
        return Err(LoadError::at(
            &Span::file_only(file),
            "Parsed empty YAML file",
        ));
    };
    if doc.as_map().is_none() {
        return Err(LoadError::at(
            &doc.span,
            format!(
                "YAML inventory has invalid structure, it should be a dictionary, got a {}",
                doc.type_name()
            ),
        ));
    }
    populate(inv, &doc)
}

/// For a file without extension: its YAML document when it reads as a non-empty mapping (then it
/// is a YAML inventory), `None` when the INI parser should have it.
pub(crate) fn sniff(text: &str, file: &str) -> Option<Node> {
    let doc = load_str(text, file).ok()?.into_iter().next()?;
    match doc.as_map() {
        Some(pairs) if !pairs.is_empty() => Some(doc),
        _ => None,
    }
}

/// Fill the inventory from a top-level mapping of groups.
pub(crate) fn populate(inv: &mut Inventory, doc: &Node) -> Result<(), LoadError> {
    let pairs = doc.as_map().unwrap_or(&[]);
    if is_list_shape(pairs) {
        populate_list_shape(inv, pairs)
    } else {
        for (k, v) in pairs {
            parse_group(inv, &k.key_string(), v, k)?;
        }
        Ok(())
    }
}

fn is_list_shape(pairs: &[(Node, Node)]) -> bool {
    pairs.iter().any(|(k, v)| {
        k.key_string() == "_meta"
            || v.as_seq().is_some()
            || ["hosts", "children"]
                .iter()
                .any(|s| v.get(s).and_then(Node::as_seq).is_some())
    })
}

fn parse_group(inv: &mut Inventory, name: &str, data: &Node, key: &Node) -> Result<(), LoadError> {
    let pairs = match &data.kind {
        NodeKind::Null => {
            inv.ensure_group(name);
            return Ok(());
        }
        NodeKind::Map(p) => p,
        _ => {
            inv.warn(format!(
                "{}: Skipping '{name}' as this is not a valid group definition",
                key.span
            ));
            return Ok(());
        }
    };
    inv.ensure_group(name);
    for (k, v) in pairs {
        let section = k.key_string();
        let known = matches!(section.as_str(), "vars" | "children" | "hosts");
        // Ansible accepts a bare string as a one-entry mapping (`hosts: web1`).
        let single;
        let entries: &[(Node, Node)] = match &v.kind {
            NodeKind::Map(p) => p,
            NodeKind::Null => continue,
            NodeKind::Str(_) if known => {
                single = [(
                    v.clone(),
                    Node {
                        kind: NodeKind::Null,
                        span: v.span.clone(),
                    },
                )];
                &single
            }
            _ if known => {
                return Err(LoadError::at(&v.span, format!("Invalid \"{section}\" entry for \"{name}\" group, requires a dictionary, found \"{}\" instead.", v.type_name())));
            }
            _ => {
                inv.warn(format!("{}: Skipping key ({section}) in group ({name}) as it is not a mapping, it is a {}", k.span, v.type_name()));
                continue;
            }
        };
        match section.as_str() {
            "vars" => {
                for (vk, vv) in entries {
                    inv.set_group_var(name, &vk.key_string(), vv.to_value());
                }
            }
            "children" => {
                for (ck, cv) in entries {
                    let child = ck.key_string();
                    parse_group(inv, &child, cv, ck)?;
                    inv.add_child(name, &child).map_err(|m| LoadError::at(&ck.span, m))?;
                }
            }
            "hosts" => {
                for (hk, hv) in entries {
                    add_hosts(inv, name, hk, hv)?;
                }
            }
            _ => inv.warn(format!("{}: Skipping unexpected key ({section}) in group ({name}), only \"vars\", \"children\" and \"hosts\" are valid", k.span)),
        }
    }
    Ok(())
}

/// One `hosts:` entry: a name, pattern (`web[1:3]`) or `name:port`, with a mapping of vars or null.
fn add_hosts(inv: &mut Inventory, group: &str, key: &Node, vars: &Node) -> Result<(), LoadError> {
    let entry = key.key_string();
    let (pattern, port) = range::split_port(&entry);
    let names = range::expand(&pattern)
        .map_err(|e| LoadError::at(&key.span, format!("{e} in host '{entry}'")))?;
    let var_pairs = vars_pairs(vars, format_args!("variables of host '{entry}'"))?;
    for name in names {
        inv.add_host_to_group(&name, group);
        if let Some(p) = port {
            inv.set_host_var(&name, "ansible_port", p.into());
        }
        for (k, v) in var_pairs {
            inv.set_host_var(&name, &k.key_string(), v.to_value());
        }
    }
    Ok(())
}

fn populate_list_shape(inv: &mut Inventory, pairs: &[(Node, Node)]) -> Result<(), LoadError> {
    let mut hostvars: Option<&Node> = None;
    let mut listed: Vec<String> = Vec::new();
    for (k, v) in pairs {
        let name = k.key_string();
        if name == "_meta" {
            hostvars = v.get("hostvars");
            continue;
        }
        inv.ensure_group(&name);
        let (hosts, vars, children) = match &v.kind {
            NodeKind::Seq(_) => (Some(v), None, None),
            NodeKind::Map(_) => (v.get("hosts"), v.get("vars"), v.get("children")),
            NodeKind::Null => (None, None, None),
            _ => {
                return Err(LoadError::at(
                    &v.span,
                    format!(
                        "group '{name}' must be a list of hosts or a mapping, got a {}",
                        v.type_name()
                    ),
                ))
            }
        };
        for h in names_in(hosts, "hosts", &name)? {
            inv.add_host_to_group(&h, &name);
            listed.push(h);
        }
        if let Some(vars) = vars {
            for (vk, vv) in vars_pairs(vars, format_args!("vars of group '{name}'"))? {
                inv.set_group_var(&name, &vk.key_string(), vv.to_value());
            }
        }
        for c in names_in(children, "children", &name)? {
            inv.add_child(&name, &c)
                .map_err(|m| LoadError::at(&v.span, m))?;
        }
    }
    if let Some(hv) = hostvars.filter(|n| !n.is_null()) {
        let Some(hp) = hv.as_map() else {
            return Err(LoadError::at(&hv.span, "_meta.hostvars must be a mapping"));
        };
        for (hk, vars) in hp {
            let host = hk.key_string();
            // Like Ansible's script plugin: hostvars only apply to hosts some group lists.
            if !listed.contains(&host) {
                continue;
            }
            for (vk, vv) in vars_pairs(vars, format_args!("hostvars of '{host}'"))? {
                inv.set_host_var(&host, &vk.key_string(), vv.to_value());
            }
        }
    }
    Ok(())
}

/// The pairs of a mapping of variables, none for null; `what` names it in the error.
fn vars_pairs<'a>(
    vars: &'a Node,
    what: std::fmt::Arguments<'_>,
) -> Result<&'a [(Node, Node)], LoadError> {
    match &vars.kind {
        NodeKind::Map(p) => Ok(p),
        NodeKind::Null => Ok(&[]),
        _ => Err(LoadError::at(
            &vars.span,
            format!("{what} must be a mapping, got a {}", vars.type_name()),
        )),
    }
}

/// A list of names (`hosts: [..]`, `children: [..]`); null means none.
fn names_in(node: Option<&Node>, what: &str, group: &str) -> Result<Vec<String>, LoadError> {
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(items) = node.as_seq() else {
        return Err(LoadError::at(
            &node.span,
            format!(
                "{what} of group '{group}' must be a list, got a {}",
                node.type_name()
            ),
        ));
    };
    items
        .iter()
        .map(|i| match &i.kind {
            NodeKind::Str(_) | NodeKind::Int(_) => Ok(i.key_string()),
            _ => Err(LoadError::at(
                &i.span,
                format!(
                    "{what} of group '{group}' must be names, got a {}",
                    i.type_name()
                ),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(text: &str) -> Inventory {
        let mut inv = Inventory::empty();
        parse(&mut inv, text, "inv.yml").unwrap();
        inv.reconcile();
        inv
    }

    #[test]
    fn yaml_shape_hosts_vars_children() {
        let inv = load(
            "all:\n  vars: {a: 1}\n  hosts:\n    loose:\n  children:\n    web:\n      hosts:\n        w1: {port: 80, enabled: true}\n      vars:\n        x: [1, 2]\n",
        );
        assert_eq!(inv.group("all").unwrap().vars["a"], json!(1));
        assert_eq!(inv.group("web").unwrap().hosts, ["w1"]);
        assert_eq!(inv.host("w1").unwrap().vars["port"], json!(80));
        assert_eq!(inv.host("w1").unwrap().vars["enabled"], json!(true));
        assert_eq!(inv.group("web").unwrap().vars["x"], json!([1, 2]));
        assert_eq!(inv.group("ungrouped").unwrap().hosts, ["loose"]);
        assert_eq!(inv.group("all").unwrap().children, ["ungrouped", "web"]);
    }

    #[test]
    fn yaml_top_level_group_other_than_all() {
        let inv = load("db:\n  hosts:\n    d1:\n");
        assert_eq!(inv.group("db").unwrap().hosts, ["d1"]);
        assert!(inv
            .group("all")
            .unwrap()
            .children
            .contains(&"db".to_string()));
    }

    #[test]
    fn yaml_host_patterns_and_ports_expand() {
        let inv = load("web:\n  hosts:\n    w[1:2]:2222:\n");
        assert_eq!(inv.group("web").unwrap().hosts, ["w1", "w2"]);
        assert_eq!(inv.host("w2").unwrap().vars["ansible_port"], json!(2222));
    }

    #[test]
    fn yaml_nested_children_link_parents() {
        let inv = load("all:\n  children:\n    prod:\n      children:\n        web:\n          hosts: {w1: }\n");
        assert_eq!(inv.group("prod").unwrap().children, ["web"]);
        assert_eq!(inv.group_names("w1"), ["prod", "web"]);
    }

    #[test]
    fn yaml_unknown_group_key_warns() {
        let inv = load("web:\n  hostz:\n    w1:\n");
        assert!(
            inv.warnings()[0].contains("Skipping unexpected key (hostz) in group (web)"),
            "{:?}",
            inv.warnings()
        );
    }

    #[test]
    fn yaml_hosts_as_list_in_plugin_shape_is_read_as_list_shape() {
        let inv = load("web:\n  hosts: [w1, w2]\n");
        assert_eq!(inv.group("web").unwrap().hosts, ["w1", "w2"]);
    }

    #[test]
    fn yaml_hosts_with_wrong_type_is_an_error() {
        let mut inv = Inventory::empty();
        let e = parse(&mut inv, "web:\n  hosts: 5\n", "inv.yml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("inv.yml") && e.contains("Invalid \"hosts\" entry for \"web\" group"),
            "{e}"
        );
    }

    #[test]
    fn yaml_non_mapping_document_is_an_error() {
        let mut inv = Inventory::empty();
        let e = parse(&mut inv, "- a\n- b\n", "inv.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("should be a dictionary"), "{e}");
    }

    #[test]
    fn yaml_empty_file_is_an_error() {
        let mut inv = Inventory::empty();
        assert!(parse(&mut inv, "", "inv.yml")
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }

    #[test]
    fn json_in_yaml_plugin_shape() {
        let inv = load(r#"{"web": {"hosts": {"w1": {"a": 1}}, "vars": {"v": "x"}}}"#);
        assert_eq!(inv.host("w1").unwrap().vars["a"], json!(1));
        assert_eq!(inv.group("web").unwrap().vars["v"], json!("x"));
    }

    #[test]
    fn json_in_list_shape_with_meta_hostvars() {
        let inv = load(
            r#"{"_meta": {"hostvars": {"w1": {"a": 1}, "ghost": {"b": 2}}},
                "all": {"children": ["ungrouped", "web"]},
                "web": {"hosts": ["w1"], "vars": {"v": true}, "children": ["inner"]},
                "inner": ["i1"]}"#,
        );
        assert_eq!(inv.host("w1").unwrap().vars["a"], json!(1));
        assert!(inv.host("ghost").is_none());
        assert_eq!(inv.group("web").unwrap().vars["v"], json!(true));
        assert_eq!(inv.group("web").unwrap().children, ["inner"]);
        assert_eq!(inv.groups_map()["web"], ["w1", "i1"]);
    }

    #[test]
    fn sniff_accepts_mappings_and_rejects_ini_text() {
        assert!(sniff("all:\n  hosts:\n    a:\n", "f").is_some());
        assert!(sniff("[web]\nw1\n", "f").is_none());
        assert!(sniff("host1\nhost2 a=1\n", "f").is_none());
    }
}
