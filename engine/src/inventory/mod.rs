//! The inventory: hosts, groups, and the variables written in inventory sources.
//!
//! Sources are parsed by format (`ini`, `yaml`), patterns are resolved by `pattern`, variable files
//! beside sources by `vars_dirs`, and `ansible-inventory`'s outputs are built by `listing`. This file
//! holds the data model and the rules Ansible applies after every change ("reconcile"): every group
//! without a parent is a child of `all`, and `ungrouped` holds exactly the hosts in no other group.

mod ini;
mod listing;
mod pattern;
pub use pattern::glob_to_regex;
mod range;
mod shlex;
mod vars_dirs;
mod yaml;

use crate::error::LoadError;
use crate::span::Span;
use crate::value::Map;
use indexmap::{IndexMap, IndexSet};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use pattern::PatternError;

/// Names that resolve to Ansible's implicit localhost when the inventory does not define them.
pub(crate) const LOCALHOST_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// One host and the variables written for it in inventory files.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    pub name: String,
    pub vars: Map,
}

/// One group: its own variables, child groups and directly listed hosts (not those of children).
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub name: String,
    pub vars: Map,
    pub children: Vec<String>,
    pub hosts: Vec<String>,
}

impl Group {
    fn new(name: &str) -> Group {
        Group {
            name: name.to_string(),
            vars: Map::new(),
            children: Vec::new(),
            hosts: Vec::new(),
        }
    }
}

/// Parsed group_vars/host_vars files, shared by clones: host_vars() is called once per host and the
/// same group_vars/all file would otherwise be read and parsed once per host.
type VarsCache = Arc<Mutex<HashMap<PathBuf, Map>>>;

#[derive(Clone, Debug)]
pub struct Inventory {
    hosts: IndexMap<String, Host>,
    groups: IndexMap<String, Group>,
    /// Directories whose `group_vars/` and `host_vars/` belong to the inventory, one per source.
    var_dirs: Vec<PathBuf>,
    warnings: Vec<String>,
    implicit_localhosts: Vec<Host>,
    vars_cache: VarsCache,
    /// The source file each host was first found in (`inventory_file`/`inventory_dir`).
    host_sources: HashMap<String, PathBuf>,
    /// The file being parsed, while loading.
    current_source: Option<PathBuf>,
    /// Which entries of an inventory directory are skipped.
    ignore: IgnoreRules,
}

/// `inventory_ignore_extensions` and `inventory_ignore_patterns` (ansible.cfg): entries of an
/// inventory directory that are not inventory. Ansible builds one regex from hidden files,
/// `group_vars`/`host_vars`/`vars_plugins`, the patterns and `<ext>$` per extension, and skips
/// any entry name it matches anywhere.
#[derive(Clone, Debug)]
pub struct IgnoreRules {
    re: regex::Regex,
}

impl Default for IgnoreRules {
    fn default() -> Self {
        IgnoreRules::new(&DEFAULT_IGNORE_EXTENSIONS.map(String::from), &[])
            .expect("the default ignore rules are valid")
    }
}

/// ansible-core 2.18's INVENTORY_IGNORE_EXTS default, `REJECT_EXTS + ('.orig', '.ini', '.cfg',
/// '.retry')` (`ansible-config list`): an `.ini` file inside an inventory directory is skipped
/// (name the file itself with `-i` to read it).
pub const DEFAULT_IGNORE_EXTENSIONS: [&str; 13] = [
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".ini", ".cfg",
    ".retry",
];

impl IgnoreRules {
    /// `extensions` replace the default list (as setting the key does in Ansible); `patterns`
    /// are regular expressions searched in each name.
    pub fn new(extensions: &[String], patterns: &[String]) -> Result<IgnoreRules, String> {
        let mut parts: Vec<String> = vec![
            r"^\.".into(),
            "^host_vars$".into(),
            "^group_vars$".into(),
            "^vars_plugins$".into(),
        ];
        parts.extend(patterns.iter().cloned());
        parts.extend(extensions.iter().map(|e| format!("{}$", regex::escape(e))));
        let re = regex::Regex::new(&parts.join("|"))
            .map_err(|e| format!("inventory_ignore_patterns: invalid regular expression: {e}"))?;
        Ok(IgnoreRules { re })
    }

    pub fn ignores(&self, name: &str) -> bool {
        self.re.is_match(name)
    }
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory::empty()
    }
}

impl Inventory {
    /// An inventory with only `all` and `ungrouped` (plus the implicit localhost outside `all`).
    pub fn empty() -> Inventory {
        let mut groups = IndexMap::new();
        let mut all = Group::new("all");
        all.children.push("ungrouped".to_string());
        groups.insert("all".to_string(), all);
        groups.insert("ungrouped".to_string(), Group::new("ungrouped"));
        let implicit_localhosts = LOCALHOST_NAMES
            .iter()
            .map(|n| {
                let mut vars = Map::new();
                vars.insert("ansible_connection".into(), "local".into());
                Host {
                    name: n.to_string(),
                    vars,
                }
            })
            .collect();
        Inventory {
            hosts: IndexMap::new(),
            groups,
            var_dirs: Vec::new(),
            warnings: Vec::new(),
            implicit_localhosts,
            vars_cache: Arc::default(),
            host_sources: HashMap::new(),
            current_source: None,
            ignore: IgnoreRules::default(),
        }
    }

    /// The inventory a play's `groups` variable describes (group → hosts): enough to evaluate
    /// host patterns from templates (`lookup('inventory_hostnames', …)`).
    pub fn from_groups(groups: &IndexMap<String, Vec<String>>) -> Inventory {
        let mut inv = Inventory::empty();
        for (group, hosts) in groups {
            inv.ensure_group(group);
            for host in hosts {
                inv.ensure_host(host);
                if group != "all" {
                    inv.add_host_to_group(host, group);
                }
            }
        }
        inv
    }

    /// Load and merge inventory sources: files (INI, YAML or JSON), directories of such files, or a
    /// comma-separated host list such as `"h1,h2,"`.
    pub fn load(sources: &[String]) -> Result<Inventory, LoadError> {
        Inventory::load_with(sources, IgnoreRules::default())
    }

    /// [`load`](Self::load) skipping the directory entries `ignore` names (ansible.cfg's
    /// `inventory_ignore_extensions` / `inventory_ignore_patterns`).
    pub fn load_with(sources: &[String], ignore: IgnoreRules) -> Result<Inventory, LoadError> {
        let mut inv = Inventory::empty();
        inv.ignore = ignore;
        for source in sources {
            inv.load_source(source)?;
            // Ansible reconciles after each source: a group top-level in one source stays a
            // child of `all` even when a later source gives it a parent.
            inv.reconcile();
        }
        inv.reconcile();
        Ok(inv)
    }

    fn load_source(&mut self, source: &str) -> Result<(), LoadError> {
        let path = Path::new(source);
        if !path.exists() {
            if source.contains(',') {
                self.load_host_list(source);
                return Ok(());
            }
            return Err(LoadError::Other(format!(
                "inventory source {source} does not exist"
            )));
        }
        if path.is_dir() {
            self.var_dirs.push(path.to_path_buf());
            self.load_dir(path)
        } else {
            self.var_dirs
                .push(path.parent().map(Path::to_path_buf).unwrap_or_default());
            self.load_file(path)
        }
    }

    /// `-i "h1,h2,"`: every non-empty name is an ungrouped host (`name:port` sets ansible_port).
    fn load_host_list(&mut self, list: &str) {
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, port) = range::split_port(item);
            self.add_host_to_group(&name, "ungrouped");
            if let Some(port) = port {
                self.set_host_var(&name, "ansible_port", port.into());
            }
        }
    }

    /// Every inventory file in a directory, sorted by name, recursing into subdirectories.
    fn load_dir(&mut self, dir: &Path) -> Result<(), LoadError> {
        for (path, name) in sorted_dir(dir, "inventory")? {
            if self.ignore.ignores(&name) {
                continue;
            }
            if path.is_dir() {
                self.load_dir(&path)?;
            } else {
                self.load_file(&path)?;
            }
        }
        Ok(())
    }

    fn load_file(&mut self, path: &Path) -> Result<(), LoadError> {
        self.current_source = Some(path.to_path_buf());
        let result = self.parse_file(path);
        self.current_source = None;
        result
    }

    fn parse_file(&mut self, path: &Path) -> Result<(), LoadError> {
        let shown = path.display().to_string();
        let span = Span::file_only(shown.as_str());
        let bytes = std::fs::read(path)
            .map_err(|e| LoadError::at(&span, format!("cannot read inventory: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| LoadError::at(&span, "inventory is not UTF-8 text"))?;
        let text = if crate::vault::is_encrypted(&text) {
            crate::yaml::decrypt_file_text(&text, &shown)?.to_string()
        } else {
            text
        };
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "yml" | "yaml" | "json" => yaml::parse(self, &text, &shown),
            // Ansible tries its YAML plugin on extension-less files before the INI one.
            "" => match yaml::sniff(&text, &shown) {
                Some(doc) => yaml::populate(self, &doc),
                None => ini::parse(self, &text, &shown),
            },
            _ => ini::parse(self, &text, &shown),
        }
    }

    /// The inventory file a host was first found in (Ansible's `inventory_file`; its directory is
    /// `inventory_dir`). None for hosts from a host list or added at run time.
    pub fn host_source(&self, host: &str) -> Option<&Path> {
        self.host_sources.get(host).map(PathBuf::as_path)
    }

    /// Warnings found while loading (unexpected keys, …), for the caller to show.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub(crate) fn warn(&mut self, msg: String) {
        self.warnings.push(msg);
    }

    /// Inventory hosts in the order they were first defined (the implicit localhost is not one).
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }

    /// A host by name; `localhost`, `127.0.0.1` and `::1` resolve to the implicit localhost
    /// (ansible_connection=local) when the inventory does not define them.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts
            .get(name)
            .or_else(|| self.implicit_localhost(name))
    }

    pub(crate) fn implicit_localhost(&self, name: &str) -> Option<&Host> {
        if self.hosts.contains_key(name) {
            return None;
        }
        self.implicit_localhosts.iter().find(|h| h.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
    }

    /// Every group, in creation order (`all` and `ungrouped` first).
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// Directories whose group_vars/ and host_vars/ apply to this inventory.
    pub fn var_dirs(&self) -> &[PathBuf] {
        &self.var_dirs
    }

    /// Resolve an Ansible host pattern to host names (see `pattern`).
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, PatternError> {
        pattern::select(self, pattern)
    }

    /// The `groups` magic variable: every group → its hosts including those of descendant groups.
    pub fn groups_map(&self) -> IndexMap<String, Vec<String>> {
        self.groups
            .keys()
            .map(|g| (g.clone(), self.group_hosts(g)))
            .collect()
    }

    /// The `group_names` magic variable: the host's groups and their ancestors, sorted, without
    /// `all` (`ungrouped` is listed for a host in no other group, as ansible-core does).
    pub fn group_names(&self, host: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .host_groups(host)
            .into_iter()
            .filter(|g| g != "all")
            .collect();
        names.sort();
        names
    }

    /// The host's variables from inventory files and group_vars/host_vars directories, merged in
    /// Ansible's precedence (see `vars_dirs::host_vars`).
    pub fn host_vars(&self, host: &str, playbook_dir: Option<&Path>) -> Result<Map, LoadError> {
        vars_dirs::host_vars(self, host, playbook_dir)
    }

    /// Add a host at run time (`add_host`, `group_by`): created if new, added to each group
    /// (groups are created as needed), `vars` merged over its existing variables.
    pub fn add_host(&mut self, name: &str, groups: &[String], vars: Map) {
        if !self.hosts.contains_key(name) {
            self.add_host_to_group(name, "all");
        }
        for g in groups {
            self.add_host_to_group(name, g);
        }
        for (k, v) in vars {
            self.set_host_var(name, &k, v);
        }
        self.reconcile();
    }

    /// `ansible-inventory --list` output (keys sorted as Ansible prints them).
    pub fn to_list_json(&self) -> Result<crate::value::Value, LoadError> {
        listing::to_list_json(self)
    }

    /// `ansible-inventory --graph` output, without a trailing newline.
    pub fn to_graph(&self) -> String {
        listing::to_graph(self)
    }

    /// `--graph --vars`: the graph with variables.
    pub fn to_graph_vars(&self) -> String {
        listing::to_graph_vars(self)
    }

    // ---- building blocks used by the parsers -------------------------------------------------

    pub(crate) fn ensure_group(&mut self, name: &str) {
        if !self.groups.contains_key(name) {
            self.groups.insert(name.to_string(), Group::new(name));
        }
    }

    pub(crate) fn ensure_host(&mut self, name: &str) {
        if !self.hosts.contains_key(name) {
            self.hosts.insert(
                name.to_string(),
                Host {
                    name: name.to_string(),
                    vars: Map::new(),
                },
            );
            if let Some(src) = &self.current_source {
                self.host_sources.insert(name.to_string(), src.clone());
            }
        }
    }

    pub(crate) fn add_host_to_group(&mut self, host: &str, group: &str) {
        self.ensure_host(host);
        self.ensure_group(group);
        if let Some(g) = self.groups.get_mut(group) {
            if !g.hosts.iter().any(|h| h == host) {
                g.hosts.push(host.to_string());
            }
        }
    }

    /// Make `child` a child group of `parent`; refuses a relation that would make a cycle.
    pub(crate) fn add_child(&mut self, parent: &str, child: &str) -> Result<(), String> {
        if parent == child || self.descendants(child).iter().any(|g| g == parent) {
            return Err(format!(
                "adding group {child} as child to {parent} creates a recursive dependency loop"
            ));
        }
        self.ensure_group(parent);
        self.ensure_group(child);
        if let Some(g) = self.groups.get_mut(parent) {
            if !g.children.iter().any(|c| c == child) {
                g.children.push(child.to_string());
            }
        }
        Ok(())
    }

    pub(crate) fn set_host_var(&mut self, host: &str, key: &str, value: crate::value::Value) {
        self.ensure_host(host);
        if let Some(h) = self.hosts.get_mut(host) {
            h.vars.insert(key.to_string(), value);
        }
    }

    pub(crate) fn set_group_var(&mut self, group: &str, key: &str, value: crate::value::Value) {
        self.ensure_group(group);
        if let Some(g) = self.groups.get_mut(group) {
            g.vars.insert(key.to_string(), value);
        }
    }

    /// Ansible's rules after every change: parentless groups become children of `all`;
    /// `ungrouped` holds exactly the hosts that are in no group besides `all`/`ungrouped`.
    pub(crate) fn reconcile(&mut self) {
        let parented: IndexSet<String> = self
            .groups
            .values()
            .flat_map(|g| g.children.iter().cloned())
            .collect();
        let orphans: Vec<String> = self
            .groups
            .keys()
            .filter(|g| *g != "all" && !parented.contains(*g))
            .cloned()
            .collect();
        for g in orphans {
            // `all` cannot be a descendant of a non-`all` group, so this never cycles.
            let _ = self.add_child("all", &g);
        }
        let mut in_real_group: IndexSet<String> = IndexSet::new();
        for g in self
            .groups
            .values()
            .filter(|g| g.name != "all" && g.name != "ungrouped")
        {
            in_real_group.extend(g.hosts.iter().cloned());
        }
        let hosts: Vec<String> = self.hosts.keys().cloned().collect();
        if let Some(ungrouped) = self.groups.get_mut("ungrouped") {
            ungrouped.hosts.retain(|h| !in_real_group.contains(h));
            for h in hosts {
                if !in_real_group.contains(&h) && !ungrouped.hosts.contains(&h) {
                    ungrouped.hosts.push(h);
                }
            }
        }
    }

    // ---- graph queries -----------------------------------------------------------------------

    /// The group and its descendants, breadth first, each once (Ansible's ordering for a group's hosts).
    pub(crate) fn descendants_with_self(&self, group: &str) -> Vec<String> {
        let mut out = vec![group.to_string()];
        let mut i = 0;
        while i < out.len() {
            if let Some(g) = self.groups.get(&out[i]) {
                for c in &g.children {
                    if !out.contains(c) {
                        out.push(c.clone());
                    }
                }
            }
            i += 1;
        }
        out
    }

    fn descendants(&self, group: &str) -> Vec<String> {
        let mut d = self.descendants_with_self(group);
        d.remove(0);
        d
    }

    /// Hosts of a group including descendants' hosts, each once.
    pub(crate) fn group_hosts(&self, group: &str) -> Vec<String> {
        let mut seen: IndexSet<String> = IndexSet::new();
        for g in self.descendants_with_self(group) {
            if let Some(g) = self.groups.get(&g) {
                seen.extend(g.hosts.iter().cloned());
            }
        }
        seen.into_iter().collect()
    }

    /// Parent groups of a group, in creation order.
    pub(crate) fn parents(&self, group: &str) -> Vec<String> {
        self.groups
            .values()
            .filter(|g| g.children.iter().any(|c| c == group))
            .map(|g| g.name.clone())
            .collect()
    }

    /// The groups a host is in, directly or through ancestry, in creation order.
    pub(crate) fn host_groups(&self, host: &str) -> Vec<String> {
        let mut out: IndexSet<String> = IndexSet::new();
        let mut queue: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.hosts.iter().any(|h| h == host))
            .map(|g| g.name.clone())
            .collect();
        while let Some(g) = queue.pop() {
            if out.insert(g.clone()) {
                queue.extend(self.parents(&g));
            }
        }
        let mut ordered: Vec<String> = out.into_iter().collect();
        ordered.sort_by_key(|g| self.groups.get_index_of(g));
        ordered
    }

    /// Ansible's group depth: `all` is 0, every other group one deeper than its deepest parent.
    pub(crate) fn depth(&self, group: &str) -> usize {
        let mut memo = HashMap::new();
        self.depth_memo(group, &mut memo)
    }

    fn depth_memo(&self, group: &str, memo: &mut HashMap<String, usize>) -> usize {
        if let Some(d) = memo.get(group) {
            return *d;
        }
        // Parent links are acyclic (add_child refuses cycles), so the recursion ends.
        let d = self
            .parents(group)
            .iter()
            .map(|p| self.depth_memo(p, memo) + 1)
            .max()
            .unwrap_or(0);
        memo.insert(group.to_string(), d);
        d
    }

    pub(crate) fn vars_cache(&self) -> &VarsCache {
        &self.vars_cache
    }
}

/// The entries of `dir` (a `what` directory, for the error) with their file names, sorted by
/// path: inventory and vars directories are read in this order, as Ansible does.
fn sorted_dir(dir: &Path, what: &str) -> Result<Vec<(PathBuf, String)>, LoadError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| LoadError::in_file(dir, format!("cannot read {what} directory: {e}")))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (p, name)
        })
        .collect())
}

#[cfg(test)]
pub(crate) mod test_util {
    use std::path::Path;

    /// Write `files` (relative path → content) under `dir`, creating parent directories.
    pub fn write_tree(dir: &Path, files: &[(&str, &str)]) {
        for (rel, content) in files {
            let p = dir.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(p, content).unwrap();
        }
    }

    pub fn load_one(dir: &Path, rel: &str) -> super::Inventory {
        super::Inventory::load(&[dir.join(rel).display().to_string()]).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    fn ini(text: &str) -> Inventory {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &[("hosts", text)]);
        load_one(dir.path(), "hosts")
    }

    #[test]
    fn comma_host_list_makes_ungrouped_hosts() {
        let inv = Inventory::load(&["a,b:2222,".to_string()]).unwrap();
        assert_eq!(
            inv.hosts().map(|h| h.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(inv.group("ungrouped").unwrap().hosts, ["a", "b"]);
        assert_eq!(inv.host("b").unwrap().vars["ansible_port"], 2222);
    }

    #[test]
    fn missing_source_without_comma_is_an_error() {
        let err = Inventory::load(&["/nonexistent/inv".to_string()]).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/inv"));
    }

    #[test]
    fn directory_source_reads_files_sorted_and_skips_ignored_entries() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(
            dir.path(),
            &[
                ("b", "[web]\nw2\n"),
                ("a.yml", "web:\n  hosts:\n    w1:\n"),
                ("skipped.ini", "[web]\nnot-loaded\n"),
                ("notes.md", "this is not inventory [\n"),
                ("old.retry", "x\n"),
                ("hosts~", "junk [\n"),
                ("group_vars/all.yml", "x: 1\n"),
                ("sub/c", "[db]\nd1\n"),
            ],
        );
        let inv = Inventory::load(&[dir.path().display().to_string()]).unwrap();
        assert_eq!(
            inv.hosts().map(|h| h.name.as_str()).collect::<Vec<_>>(),
            ["w1", "w2", "d1"]
        );
    }

    #[test]
    fn multiple_sources_merge_groups() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(
            dir.path(),
            &[("one", "[web]\nw1\n"), ("two", "[web]\nw2\n[db]\nd1\n")],
        );
        let inv = Inventory::load(&[
            dir.path().join("one").display().to_string(),
            dir.path().join("two").display().to_string(),
        ])
        .unwrap();
        assert_eq!(inv.group("web").unwrap().hosts, ["w1", "w2"]);
        assert_eq!(
            inv.group("all").unwrap().children,
            ["ungrouped", "web", "db"]
        );
    }

    #[test]
    fn groups_map_includes_child_group_hosts_and_all() {
        let inv = ini("u1\n[web]\nw1\n[db]\nd1\n[prod:children]\nweb\ndb\n");
        let m = inv.groups_map();
        assert_eq!(m["prod"], ["w1", "d1"]);
        assert_eq!(m["all"], ["u1", "w1", "d1"]);
        assert_eq!(m["ungrouped"], ["u1"]);
        assert_eq!(m.keys().take(2).collect::<Vec<_>>(), ["all", "ungrouped"]);
    }

    #[test]
    fn group_names_are_sorted_with_ancestors_and_without_all() {
        let inv = ini("[web]\nw1\n[zeta]\nw1\n[prod:children]\nweb\n");
        assert_eq!(inv.group_names("w1"), ["prod", "web", "zeta"]);
    }

    #[test]
    fn ungrouped_host_has_only_ungrouped_in_group_names() {
        let inv = ini("u1\n");
        assert_eq!(inv.group_names("u1"), vec!["ungrouped".to_string()]);
    }

    #[test]
    fn host_listed_in_a_group_later_leaves_ungrouped() {
        let inv = ini("h1\n[web]\nh1\n");
        assert!(inv.group("ungrouped").unwrap().hosts.is_empty());
    }

    #[test]
    fn add_host_creates_groups_and_merges_vars() {
        let mut inv = ini("[web]\nw1 a=1\n");
        let mut vars = Map::new();
        vars.insert("b".into(), 2.into());
        inv.add_host("w1", &["new".to_string()], vars);
        inv.add_host("n1", &[], Map::new());
        assert_eq!(inv.group("new").unwrap().hosts, ["w1"]);
        assert_eq!(inv.host("w1").unwrap().vars.len(), 2);
        assert_eq!(inv.group("ungrouped").unwrap().hosts, ["n1"]);
        assert!(inv
            .group("all")
            .unwrap()
            .children
            .contains(&"new".to_string()));
    }

    #[test]
    fn implicit_localhost_is_local_and_not_in_all() {
        let inv = Inventory::empty();
        assert_eq!(
            inv.host("localhost").unwrap().vars["ansible_connection"],
            "local"
        );
        assert!(inv.hosts().next().is_none());
        assert!(inv.groups_map()["all"].is_empty());
    }

    #[test]
    fn host_source_is_the_first_file_naming_the_host() {
        let dir = tempfile::tempdir().unwrap();
        write_tree(dir.path(), &[("a", "[web]\nw1\n"), ("b", "[db]\nw1\nd1\n")]);
        let inv = Inventory::load(&[dir.path().display().to_string()]).unwrap();
        assert_eq!(inv.host_source("w1"), Some(dir.path().join("a").as_path()));
        assert_eq!(inv.host_source("d1"), Some(dir.path().join("b").as_path()));
    }

    #[test]
    fn depth_counts_from_all() {
        let inv = ini("[a:children]\nb\n[b]\nh\n[c]\nh\n");
        assert_eq!(inv.depth("all"), 0);
        assert_eq!(inv.depth("a"), 1);
        assert_eq!(inv.depth("b"), 2);
        assert_eq!(inv.depth("c"), 1);
    }
}
