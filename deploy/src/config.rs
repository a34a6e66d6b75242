//! `kplay deploy -c config.yaml`: one file holding the hosts and the settings, in the shape
//! kubeplay's config.yaml has (seed 002), turned into an inventory and extra variables:
//!
//! - `compose:` the bootstrap node (kubeplay's "compose" node): `internal_ip` →
//!   `bootstrap_address` (and the `bootstrap` group when the inventory has none),
//!   `nginx_http_port` → `bootstrap_http_port`, `registry_domain`;
//! - `kubespray:` cluster settings: any group_vars variable by its (kubespray) name;
//! - `inventory:` an Ansible YAML inventory, as is;
//! - `default:` settings rarely changed: variables too;
//! - `bundle:` the bundle directory (`--bundle` wins).
//!
//! Settings become extra variables, so they win over the embedded group_vars defaults (which sit
//! beside the playbooks and would beat inventory variables). Every error names file:line.

use crate::error::DeployError;
use kplay_engine::span::Span;
use kplay_engine::value::{Map, Value};
use kplay_engine::yaml::{Node, NodeKind};
use std::path::{Path, PathBuf};

const SECTIONS: [&str; 5] = ["bundle", "compose", "kubespray", "inventory", "default"];
const COMPOSE_KEYS: [&str; 3] = ["internal_ip", "nginx_http_port", "registry_domain"];

/// What a config file says.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The inventory to write (Ansible's YAML inventory shape).
    pub inventory: Value,
    /// Settings, as extra variables.
    pub vars: Map,
    /// `bundle:`, relative to the config file's directory.
    pub bundle: Option<PathBuf>,
}

fn err(span: &Span, msg: impl std::fmt::Display) -> DeployError {
    DeployError::Refused(format!("{span}: {msg}"))
}

fn mapping<'a>(node: &'a Node, what: &str) -> Result<&'a [(Node, Node)], DeployError> {
    match &node.kind {
        NodeKind::Map(p) => Ok(p),
        NodeKind::Null => Ok(&[]),
        _ => Err(err(
            &node.span,
            format!("{what} must be a mapping, not a {}", node.type_name()),
        )),
    }
}

/// Reads a config file.
pub fn load(path: &Path) -> Result<Config, DeployError> {
    let text = std::fs::read_to_string(path).map_err(|e| DeployError::io("reading", path, e))?;
    parse(&text, &path.display().to_string(), path.parent())
}

/// Parses config text; `file` names it in errors, `base` resolves a relative `bundle:`.
pub fn parse(text: &str, file: &str, base: Option<&Path>) -> Result<Config, DeployError> {
    let doc = kplay_engine::yaml::load_one(text, file)
        .map_err(|e| DeployError::Refused(e.to_string()))?
        .ok_or_else(|| DeployError::Refused(format!("{file}: the file is empty")))?;
    let top = mapping(&doc, "the config")?;
    let mut vars = Map::new();
    let mut inventory = None;
    let mut bundle = None;
    let mut internal_ip = None;
    for (k, v) in top {
        let key = k.key_string();
        match key.as_str() {
            "bundle" => {
                let s = v
                    .as_str()
                    .ok_or_else(|| err(&v.span, "bundle must be a directory path"))?;
                let p = PathBuf::from(s);
                bundle = Some(match base {
                    Some(b) if p.is_relative() => b.join(p),
                    _ => p,
                });
            }
            "compose" => {
                for (ck, cv) in mapping(v, "compose")? {
                    let name = ck.key_string();
                    match name.as_str() {
                        "internal_ip" => {
                            let ip = cv.as_str().filter(|s| s.parse::<std::net::IpAddr>().is_ok());
                            let ip = ip.ok_or_else(|| {
                                err(&cv.span, "compose.internal_ip must be an IP address (the bootstrap node's, as the other nodes reach it)")
                            })?;
                            internal_ip = Some(ip.to_string());
                            vars.insert("bootstrap_address".into(), ip.into());
                        }
                        "nginx_http_port" => {
                            let port = match cv.kind {
                                NodeKind::Int(p) if (1..=65535).contains(&p) => p,
                                _ => {
                                    return Err(err(
                                        &cv.span,
                                        "compose.nginx_http_port must be a port number (1-65535)",
                                    ))
                                }
                            };
                            vars.insert("bootstrap_http_port".into(), port.into());
                        }
                        "registry_domain" => {
                            let d = cv.as_str().filter(|s| !s.is_empty()).ok_or_else(|| {
                                err(&cv.span, "compose.registry_domain must be a host name")
                            })?;
                            vars.insert("registry_domain".into(), d.into());
                        }
                        _ => {
                            return Err(err(
                                &ck.span,
                                format!(
                                    "unknown key compose.{name} (known: {}); cluster settings go under kubespray:",
                                    COMPOSE_KEYS.join(", ")
                                ),
                            ))
                        }
                    }
                }
            }
            "kubespray" | "default" => {
                for (vk, vv) in mapping(v, &key)? {
                    let name = vk.key_string();
                    if !is_var_name(&name) {
                        return Err(err(
                            &vk.span,
                            format!("{key}.{name}: not a valid variable name"),
                        ));
                    }
                    vars.insert(name, vv.to_value());
                }
            }
            "inventory" => {
                let groups = mapping(v, "inventory")?;
                if groups.is_empty() {
                    return Err(err(
                        &v.span,
                        "the inventory has no groups; list the hosts under inventory: all: hosts:",
                    ));
                }
                inventory = Some(v.to_value());
            }
            _ => {
                return Err(err(
                    &k.span,
                    format!(
                        "unknown section '{key}' (the sections are: {})",
                        SECTIONS.join(", ")
                    ),
                ))
            }
        }
    }
    let mut inventory = inventory.ok_or_else(|| {
        err(
            &doc.span,
            "no inventory: section: add the hosts as an Ansible YAML inventory under inventory:",
        )
    })?;
    if let Some(ip) = internal_ip {
        add_bootstrap(&mut inventory, &ip);
    }
    Ok(Config {
        inventory,
        vars,
        bundle,
    })
}

fn is_var_name(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Every host entry (name → vars) anywhere in a YAML inventory.
fn hosts_in(group: &Value, out: &mut Vec<(String, Value)>) {
    if let Some(hosts) = group.get("hosts").and_then(Value::as_object) {
        for (h, v) in hosts {
            out.push((h.clone(), v.clone()));
        }
    }
    if let Some(children) = group.get("children").and_then(Value::as_object) {
        for child in children.values() {
            hosts_in(child, out);
        }
    }
}

/// The `bootstrap` group for `compose.internal_ip` when the inventory has none: the host whose
/// `ansible_host` is that address, else a new host `bootstrap` at it.
fn add_bootstrap(inventory: &mut Value, ip: &str) {
    let Some(top) = inventory.as_object_mut() else {
        return;
    };
    let mut hosts = Vec::new();
    for g in top.values() {
        hosts_in(g, &mut hosts);
    }
    let has_group = |v: &Value| -> bool {
        fn find(v: &Value) -> bool {
            v.get("children")
                .and_then(Value::as_object)
                .is_some_and(|c| c.contains_key("bootstrap") || c.values().any(find))
        }
        find(v)
    };
    if top.contains_key("bootstrap") || top.values().any(has_group) {
        return;
    }
    let (name, vars) = hosts
        .iter()
        .find(|(_, v)| v.get("ansible_host").and_then(Value::as_str) == Some(ip))
        .map(|(h, _)| (h.clone(), Value::Null))
        .unwrap_or_else(|| {
            (
                "bootstrap".to_string(),
                serde_json::json!({ "ansible_host": ip }),
            )
        });
    let mut group_hosts = Map::new();
    group_hosts.insert(name, vars);
    let mut group = Map::new();
    group.insert("hosts".into(), Value::Object(group_hosts));
    top.insert("bootstrap".into(), Value::Object(group));
}

/// Writes the inventory a config describes to `path` (atomically), for the engine to load.
pub fn write_inventory(cfg: &Config, config_path: &Path, path: &Path) -> Result<(), DeployError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| DeployError::io("creating", dir, e))?;
    let body = kplay_engine::yaml::to_yaml_string(&cfg.inventory)
        .map_err(|e| DeployError::Refused(format!("{}: inventory: {e}", config_path.display())))?;
    let text = format!(
        "# Written by kplay from {} (its inventory: section); edit that file, not this one.\n{body}",
        config_path.display()
    );
    let mut tmp = tempfile::Builder::new()
        .prefix(".inventory-")
        .tempfile_in(dir)
        .map_err(|e| DeployError::io("creating a temp file in", dir, e))?;
    use std::io::Write;
    tmp.write_all(text.as_bytes())
        .map_err(|e| DeployError::io("writing", tmp.path().to_path_buf(), e))?;
    tmp.persist(path)
        .map_err(|e| DeployError::io("renaming into", path, e.error))?;
    Ok(())
}

/// The commented config `kplay config init` writes. Valid as it stands (a sample cluster), so it
/// can be edited a value at a time.
pub const SAMPLE: &str = r#"# kplay deploy -c config.yaml: the hosts and the settings of one cluster in one file
# (kubeplay's config.yaml shape). Edit the values, then:
#
#   kplay deploy -c config.yaml --bundle /path/to/bundle
#
# kplay keeps its state beside this file (.kplay/deploy-state.json) and runs hook playbooks from
# hooks/pre-install/, hooks/post-cluster-ready/ and hooks/post-install/ beside it.

# The offline bundle made by `kplay bundle build --output DIR` (relative to this file;
# --bundle on the command line wins).
# bundle: ./bundle

# The bootstrap node: serves the bundle over HTTP and runs the image registry.
compose:
  # Its address as the other nodes reach it. Without a `bootstrap` group in the inventory
  # below, the host with this ansible_host (or a new host "bootstrap") becomes the bootstrap node.
  internal_ip: 172.20.0.25
  # HTTP port for packages and files (bootstrap_http_port).
  nginx_http_port: 8080
  # The registry's name; every node gets it in /etc/hosts.
  registry_domain: registry.kplay.local

# Cluster settings: any variable of group_vars/all/*.yml, by its kubespray name.
kubespray:
  # How the API server is reached: keepalived (a VIP on the control plane) or local-proxy.
  apiserver_ha_mode: keepalived
  # The VIP and its port for apiserver_ha_mode: keepalived.
  loadbalancer_apiserver:
    address: 172.20.0.100
    port: 8443

# The nodes: an Ansible YAML inventory. Groups as kubespray: etcd (1, 3 or 5 hosts),
# kube_control_plane, kube_node, and k8s_cluster holding both.
inventory:
  all:
    vars:
      ansible_user: root
      # ansible_ssh_private_key_file: ~/.ssh/id_ed25519
    hosts:
      node1:
        ansible_host: 172.20.0.21
      node2:
        ansible_host: 172.20.0.22
      node3:
        ansible_host: 172.20.0.23
      node4:
        ansible_host: 172.20.0.24
    children:
      kube_control_plane:
        hosts:
          node1:
          node2:
          node3:
      etcd:
        hosts:
          node1:
          node2:
          node3:
      kube_node:
        hosts:
          node4:
      k8s_cluster:
        children:
          kube_control_plane:
          kube_node:

# Settings rarely changed (variables too).
default:
  registry_port: 5000
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_str(text: &str) -> Result<Config, DeployError> {
        parse(text, "config.yaml", Some(Path::new("/site")))
    }

    #[test]
    fn the_sample_parses_into_an_inventory_with_a_bootstrap_node_and_variables() {
        let c = parse_str(SAMPLE).unwrap();
        assert_eq!(c.vars["bootstrap_address"], json!("172.20.0.25"));
        assert_eq!(c.vars["bootstrap_http_port"], json!(8080));
        assert_eq!(c.vars["registry_domain"], json!("registry.kplay.local"));
        assert_eq!(c.vars["apiserver_ha_mode"], json!("keepalived"));
        assert_eq!(c.vars["loadbalancer_apiserver"]["port"], json!(8443));
        assert_eq!(c.vars["registry_port"], json!(5000));
        assert_eq!(
            c.inventory["bootstrap"]["hosts"]["bootstrap"]["ansible_host"],
            json!("172.20.0.25")
        );
        assert!(c.bundle.is_none());
    }

    #[test]
    fn the_written_inventory_loads_with_every_group() {
        let d = tempfile::tempdir().unwrap();
        let c = parse_str(SAMPLE).unwrap();
        let inv_path = d.path().join(".kplay/inventory.yml");
        write_inventory(&c, Path::new("config.yaml"), &inv_path).unwrap();
        let inv =
            kplay_engine::inventory::Inventory::load(&[inv_path.display().to_string()]).unwrap();
        let g = inv.groups_map();
        assert_eq!(g["etcd"], ["node1", "node2", "node3"]);
        assert_eq!(g["bootstrap"], ["bootstrap"]);
        assert_eq!(g["k8s_cluster"].len(), 4);
    }

    #[test]
    fn a_host_at_the_internal_ip_becomes_the_bootstrap_node() {
        let c = parse_str(
            "compose: {internal_ip: 10.0.0.1}\ninventory:\n  all:\n    hosts:\n      n1: {ansible_host: 10.0.0.1}\n      n2: {ansible_host: 10.0.0.2}\n",
        )
        .unwrap();
        assert_eq!(c.inventory["bootstrap"], json!({"hosts": {"n1": null}}));
    }

    #[test]
    fn an_existing_bootstrap_group_is_kept() {
        let c = parse_str(
            "compose: {internal_ip: 10.0.0.9}\ninventory:\n  all:\n    hosts: {n1: }\n    children:\n      bootstrap: {hosts: {n1: }}\n",
        )
        .unwrap();
        assert!(c.inventory.get("bootstrap").is_none());
    }

    #[test]
    fn a_relative_bundle_is_beside_the_config() {
        let c = parse_str("bundle: b\ninventory: {all: {hosts: {n1: }}}\n").unwrap();
        assert_eq!(c.bundle, Some(PathBuf::from("/site/b")));
    }

    #[test]
    fn errors_name_the_file_and_line_and_what_to_fix() {
        let cases = [
            (
                "inventory: {all: {}}\nclusters: {}\n",
                "config.yaml:2:1: unknown section 'clusters'",
            ),
            (
                "compose:\n  internal_ip: not-an-ip\ninventory: {all: {}}\n",
                "config.yaml:2:16: compose.internal_ip must be an IP address",
            ),
            (
                "compose:\n  nginx_http_port: 99999\ninventory: {all: {}}\n",
                "config.yaml:2:20: compose.nginx_http_port must be a port number",
            ),
            (
                "compose:\n  internal_ipp: 1.2.3.4\ninventory: {all: {}}\n",
                "config.yaml:2:3: unknown key compose.internal_ipp",
            ),
            (
                "kubespray:\n  - a\ninventory: {all: {}}\n",
                "config.yaml:2:3: kubespray must be a mapping",
            ),
            (
                "kubespray:\n  bad-name: 1\ninventory: {all: {}}\n",
                "config.yaml:2:3: kubespray.bad-name: not a valid variable name",
            ),
            ("compose: {}\n", "config.yaml:1:1: no inventory: section"),
            (
                "inventory: {}\n",
                "config.yaml:1:12: the inventory has no groups",
            ),
            ("inventory: [\n", "config.yaml:"),
        ];
        for (text, want) in cases {
            let e = parse_str(text).unwrap_err().to_string();
            assert!(e.starts_with(want) || e.contains(want), "{text:?}: {e}");
        }
    }
}
