//! Ansible's INI inventory format.
//!
//! `[group]` lists hosts (with inline `key=value` vars), `[group:vars]` sets group variables,
//! `[group:children]` lists child groups; lines before any section are ungrouped hosts. Values
//! are read as Python literals (`ast.literal_eval`), falling back to strings — ansible-core does
//! this both inline and in `:vars` sections, so `x=5` is an int and `x=yes` the string "yes".

use super::range;
use super::shlex::shlex_split;
use super::Inventory;
use crate::error::LoadError;
use crate::span::Span;
use crate::template::literal::python_value as parse_value;
use indexmap::IndexMap;

#[derive(Clone, Copy, PartialEq)]
enum State {
    Hosts,
    Vars,
    Children,
}

/// A group referenced before (or without) being declared, kept to report at the end of the file.
enum Pending {
    /// `[g:vars]` for a group that no `[g]`/`[g:children]` section declares (yet).
    Vars { line: usize },
    /// `g` listed under `[parent:children]` but not declared (yet).
    Child { line: usize, parents: Vec<String> },
}

pub(crate) fn parse(inv: &mut Inventory, text: &str, file: &str) -> Result<(), LoadError> {
    let err = |line: usize, msg: String| LoadError::at(&Span::new(file, line, 0), msg);
    let mut group = "ungrouped".to_string();
    let mut state = State::Hosts;
    let mut pending: IndexMap<String, Pending> = IndexMap::new();

    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        // `[web` alone is a section header missing its `]`, not a host named `[web` (a host in
        // brackets, `[2001:db8::1]:2222`, has its `]`).
        if line.starts_with('[') && !line.contains(']') {
            return Err(err(
                lineno,
                format!("Invalid section entry: '{line}'. The section header has no closing ']'"),
            ));
        }
        if line.starts_with('[') && (line.ends_with(']') || section_with_comment(line)) {
            let (name, kind) = parse_section(line).ok_or_else(|| {
                err(lineno, format!("Invalid section entry: '{line}'. Please make sure that there are no spaces in the section entry, and that there are no other invalid characters"))
            })?;
            state = match kind.as_deref() {
                None | Some("hosts") => State::Hosts,
                Some("vars") => State::Vars,
                Some("children") => State::Children,
                Some(other) => {
                    return Err(err(
                        lineno,
                        format!("Section [{name}:{other}] has unknown type: {other}"),
                    ))
                }
            };
            if inv.group(&name).is_none() {
                if state == State::Vars && !pending.contains_key(&name) {
                    pending.insert(name.clone(), Pending::Vars { line: lineno });
                }
                inv.ensure_group(&name);
            }
            if state != State::Vars {
                match pending.shift_remove(&name) {
                    Some(Pending::Child { parents, line }) => {
                        for p in parents {
                            inv.add_child(&p, &name).map_err(|m| err(line, m))?;
                        }
                    }
                    Some(Pending::Vars { .. }) | None => {}
                }
            }
            group = name;
            continue;
        }
        match state {
            State::Hosts => parse_host_line(inv, line, &group).map_err(|m| err(lineno, m))?,
            State::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(err(lineno, format!("Expected key=value, got: {line}")));
                };
                inv.set_group_var(&group, k.trim(), parse_value(v.trim()));
            }
            State::Children => {
                let child = parse_group_name(line)
                    .ok_or_else(|| err(lineno, format!("Expected group name, got: {line}")))?;
                if inv.group(&child).is_some() {
                    inv.add_child(&group, &child).map_err(|m| err(lineno, m))?;
                } else {
                    match pending.entry(child) {
                        indexmap::map::Entry::Occupied(mut e) => {
                            if let Pending::Child { parents, .. } = e.get_mut() {
                                parents.push(group.clone());
                            }
                        }
                        indexmap::map::Entry::Vacant(e) => {
                            e.insert(Pending::Child {
                                line: lineno,
                                parents: vec![group.clone()],
                            });
                        }
                    }
                }
            }
        }
    }

    if let Some((name, decl)) = pending.into_iter().next() {
        return Err(match decl {
            Pending::Vars { line } => err(
                line,
                format!("Section [{name}:vars] not valid for undefined group: {name}"),
            ),
            Pending::Child { line, parents } => {
                let parent = parents.last().cloned().unwrap_or_default();
                err(
                    line,
                    format!("Section [{parent}:children] includes undefined group: {name}"),
                )
            }
        });
    }
    Ok(())
}

/// `[name]  # comment` counts as a section line too.
fn section_with_comment(line: &str) -> bool {
    match line.find(']') {
        Some(i) => line[i + 1..].trim_start().starts_with('#'),
        None => false,
    }
}

/// `[name]` or `[name:kind]`, optionally followed by whitespace and a `#` comment.
fn parse_section(line: &str) -> Option<(String, Option<String>)> {
    let inner_end = line.find(']')?;
    let rest = line[inner_end + 1..].trim_start();
    if !rest.is_empty() && !rest.starts_with('#') {
        return None;
    }
    let inner = &line[1..inner_end];
    let (name, kind) = match inner.split_once(':') {
        Some((n, k)) => (n, Some(k)),
        None => (inner, None),
    };
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '[') {
        return None;
    }
    if let Some(k) = kind {
        if k.is_empty() || !k.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return None;
        }
    }
    Some((name.to_string(), kind.map(str::to_string)))
}

/// A child group line: one name (no whitespace, `:` or `]`), optionally followed by a comment.
fn parse_group_name(line: &str) -> Option<String> {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '#')
        .unwrap_or(line.len());
    let name = &line[..end];
    let rest = line[end..].trim_start();
    if name.is_empty() || name.contains([':', ']']) || !(rest.is_empty() || rest.starts_with('#')) {
        return None;
    }
    Some(name.to_string())
}

/// `host[range][:port] key=value …` → hosts added to `group` with their variables.
fn parse_host_line(inv: &mut Inventory, line: &str, group: &str) -> Result<(), String> {
    let tokens =
        shlex_split(line).map_err(|e| format!("Error parsing host definition '{line}': {e}"))?;
    let Some(first) = tokens.first() else {
        return Ok(());
    };
    let (pattern, port) = range::split_port(first);
    let names = range::expand(&pattern).map_err(|e| format!("{e} in host definition '{line}'"))?;
    let mut vars = Vec::new();
    for t in &tokens[1..] {
        let Some((k, v)) = t.split_once('=') else {
            return Err(format!(
                "Expected key=value host variable assignment, got: {t}"
            ));
        };
        vars.push((k.to_string(), parse_value(v)));
    }
    for name in names {
        inv.add_host_to_group(&name, group);
        if let Some(p) = port {
            inv.set_host_var(&name, "ansible_port", p.into());
        }
        for (k, v) in &vars {
            inv.set_host_var(&name, k, v.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[web` alone is a section header missing its `]`: refused naming the line, never read
    /// as a host called `[web`.
    #[test]
    fn unterminated_section_header_is_refused_with_its_line() {
        let mut inv = Inventory::empty();
        let e = parse(&mut inv, "a1\n[web\nw1\n", "inv.ini")
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        let msg = e.to_string();
        assert!(msg.contains("inv.ini") && msg.contains(":2"), "{msg}");
        assert!(msg.contains("[web"), "{msg}");
        let mut inv = Inventory::empty();
        assert!(parse(&mut inv, "[2001:db8::1]:2222 ansible_user=x\n", "inv.ini").is_ok());
    }
    use serde_json::json;

    fn load(text: &str) -> Inventory {
        let mut inv = Inventory::empty();
        parse(&mut inv, text, "inv.ini").unwrap();
        inv.reconcile();
        inv
    }

    fn load_err(text: &str) -> String {
        let mut inv = Inventory::empty();
        parse(&mut inv, text, "inv.ini").unwrap_err().to_string()
    }

    #[test]
    fn group_section_lists_hosts() {
        let inv = load("[web]\nw1\nw2\n");
        assert_eq!(inv.group("web").unwrap().hosts, ["w1", "w2"]);
    }

    #[test]
    fn hosts_before_any_section_are_ungrouped() {
        let inv = load("a\nb\n[web]\nw1\n");
        assert_eq!(inv.group("ungrouped").unwrap().hosts, ["a", "b"]);
        assert!(inv
            .group("ungrouped")
            .unwrap()
            .hosts
            .iter()
            .all(|h| h != "w1"));
    }

    #[test]
    fn inline_vars_are_python_literals() {
        let inv = load(
            "[web]\nw1 port=80 ratio=0.5 on=True name='x y' list=[1,2] raw=yes quoted=\"a b\"\n",
        );
        let v = &inv.host("w1").unwrap().vars;
        assert_eq!(v["port"], json!(80));
        assert_eq!(v["ratio"], json!(0.5));
        assert_eq!(v["on"], json!(true));
        assert_eq!(v["name"], json!("x y"));
        assert_eq!(v["list"], json!([1, 2]));
        assert_eq!(v["raw"], json!("yes"));
        assert_eq!(v["quoted"], json!("a b"));
    }

    #[test]
    fn group_vars_section_values_use_literal_eval_like_ansible_core() {
        let inv = load("[web]\nw1\n[web:vars]\nn = 5\nflag=FALSE\ntext=hello world\n");
        let v = &inv.group("web").unwrap().vars;
        assert_eq!(v["n"], json!(5));
        assert_eq!(v["flag"], json!("FALSE"));
        assert_eq!(v["text"], json!("hello world"));
    }

    #[test]
    fn children_section_nests_groups_declared_later() {
        let inv = load("[prod:children]\nweb\n[web]\nw1\n");
        assert_eq!(inv.group("prod").unwrap().children, ["web"]);
        assert_eq!(inv.group("all").unwrap().children, ["ungrouped", "prod"]);
    }

    #[test]
    fn children_section_alone_declares_the_parent() {
        let inv = load("[web]\nw1\n[prod:children]\nweb\n");
        assert!(inv.group("prod").is_some());
    }

    #[test]
    fn undefined_child_group_is_an_error_naming_the_line() {
        let e = load_err("[prod:children]\nweb\n");
        assert_eq!(
            e,
            "inv.ini:2: Section [prod:children] includes undefined group: web"
        );
    }

    #[test]
    fn vars_for_undeclared_group_is_an_error() {
        let e = load_err("[web:vars]\nx=1\n");
        assert_eq!(
            e,
            "inv.ini:1: Section [web:vars] not valid for undefined group: web"
        );
    }

    #[test]
    fn host_ranges_expand() {
        let inv = load("[n]\nnode[01:03]\ndb-[a:c]\ns[1:10:4]\n");
        assert_eq!(
            inv.group("n").unwrap().hosts,
            ["node01", "node02", "node03", "db-a", "db-b", "db-c", "s1", "s5", "s9"]
        );
    }

    #[test]
    fn port_suffix_sets_ansible_port() {
        let inv = load("[web]\nw1:2222 x=1\n");
        assert_eq!(inv.host("w1").unwrap().vars["ansible_port"], json!(2222));
    }

    #[test]
    fn comments_with_hash_and_semicolon_are_skipped() {
        let inv = load("# c\n; c\n[web] # trailing\nw1 # note\n  ; indented\n");
        assert_eq!(inv.group("web").unwrap().hosts, ["w1"]);
        assert!(inv.host("w1").unwrap().vars.is_empty());
    }

    #[test]
    fn unknown_section_kind_is_an_error() {
        assert_eq!(
            load_err("[web:badkind]\n"),
            "inv.ini:1: Section [web:badkind] has unknown type: badkind"
        );
    }

    #[test]
    fn section_with_spaces_is_an_error() {
        assert!(load_err("\n[web servers]\n")
            .starts_with("inv.ini:2: Invalid section entry: '[web servers]'"));
    }

    #[test]
    fn bad_range_is_an_error_naming_the_line() {
        let e = load_err("[n]\nnode[01:100]\n");
        assert!(e.starts_with("inv.ini:2:"), "{e}");
        assert!(e.contains("node[01:100]"), "{e}");
    }

    #[test]
    fn broken_quoting_is_an_error() {
        let e = load_err("[web]\nw1 a=\"open\n");
        assert_eq!(
            e,
            "inv.ini:2: Error parsing host definition 'w1 a=\"open': No closing quotation"
        );
    }

    #[test]
    fn host_token_without_equals_is_an_error() {
        assert_eq!(
            load_err("w1 oops\n"),
            "inv.ini:1: Expected key=value host variable assignment, got: oops"
        );
    }

    #[test]
    fn vars_line_without_equals_is_an_error() {
        assert_eq!(
            load_err("[web]\nw\n[web:vars]\nnope\n"),
            "inv.ini:4: Expected key=value, got: nope"
        );
    }

    #[test]
    fn child_cycle_is_an_error() {
        let e = load_err("[a:children]\nb\n[b:children]\na\n");
        assert!(
            e.starts_with("inv.ini:4:") && e.contains("recursive"),
            "{e}"
        );
    }

    #[test]
    fn bracketed_ipv6_host_line_is_a_host() {
        let inv = load("[v6]\n[fe80::1]:2200\n");
        assert_eq!(
            inv.host("fe80::1").unwrap().vars["ansible_port"],
            json!(2200)
        );
    }
}
