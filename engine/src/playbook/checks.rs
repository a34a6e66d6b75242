//! Keywords kplay accepts but must check at load time: anything it does not support is refused
//! here with file:line and what to do instead, never silently ignored at run time.

use super::action::Action;
use super::VarsPrompt;
use crate::error::LoadError;
use crate::template::Templar;
use crate::value::{ansible_bool, Value};
use crate::yaml::{Node, NodeKind};

/// `meta` actions kplay carries out.
pub const META_ACTIONS: &[&str] = &[
    "flush_handlers",
    "end_play",
    "end_host",
    "end_batch",
    "noop",
    "clear_host_errors",
    "clear_facts",
    "reset_connection",
];

fn refuse(node: &Node, msg: impl Into<String>) -> LoadError {
    LoadError::at(&node.span, msg)
}

/// A keyword the plan needs before any host runs: a literal boolean, not a template.
fn literal_bool(node: &Node, key: &str) -> Result<(), LoadError> {
    let Some(v) = node.get(key) else {
        return Ok(());
    };
    if ansible_bool(&v.to_value()).is_some() || v.is_null() {
        return Ok(());
    }
    Err(refuse(
        v,
        format!("'{key}' must be a literal boolean (yes/no, true/false) in kplay: the plan places its barrier before any host runs, so it cannot depend on host variables"),
    ))
}

/// A whole number of seconds (or a template giving one).
fn seconds(node: &Node, key: &str) -> Result<(), LoadError> {
    let Some(v) = node.get(key) else {
        return Ok(());
    };
    match &v.kind {
        NodeKind::Int(i) if *i >= 0 => Ok(()),
        NodeKind::Str(s) if Templar::is_template(s) || s.trim().parse::<u64>().is_ok() => Ok(()),
        NodeKind::Null => Ok(()),
        _ => Err(refuse(
            v,
            format!(
                "'{key}' must be a whole number of seconds, got '{}'",
                v.key_string()
            ),
        )),
    }
}

fn debugger(node: &Node) -> Result<(), LoadError> {
    match node.get("debugger") {
        Some(v) if v.key_string() != "never" => Err(refuse(
            v,
            "'debugger' is not supported by kplay (only 'debugger: never'); use -v/-vvv and `debug` tasks",
        )),
        _ => Ok(()),
    }
}

/// `module_defaults`: a mapping (or list of mappings) of module name to arguments; action
/// groups (`group/…`) are not known to kplay.
fn module_defaults(node: &Node) -> Result<(), LoadError> {
    let Some(md) = node.get("module_defaults") else {
        return Ok(());
    };
    let maps: Vec<&Node> = match &md.kind {
        NodeKind::Null => return Ok(()),
        NodeKind::Map(_) => vec![md],
        NodeKind::Seq(items) => items.iter().collect(),
        _ => {
            return Err(refuse(
                md,
                "module_defaults must be a mapping of module names to arguments",
            ))
        }
    };
    for m in maps {
        let Some(entries) = m.as_map() else {
            return Err(refuse(m, "module_defaults entries must be mappings"));
        };
        for (k, v) in entries {
            let name = k.key_string();
            if name.starts_with("group/") {
                return Err(refuse(
                    k,
                    format!("module_defaults '{name}': action groups are not supported by kplay; name each module"),
                ));
            }
            if !matches!(v.kind, NodeKind::Map(_) | NodeKind::Null) {
                return Err(refuse(
                    v,
                    format!("module_defaults '{name}' must be a mapping of arguments"),
                ));
            }
        }
    }
    Ok(())
}

/// Checks shared by plays, blocks and tasks.
fn common(node: &Node) -> Result<(), LoadError> {
    debugger(node)?;
    module_defaults(node)?;
    // `run_once` and `any_errors_fatal` may be templates (kubespray: `"{{ download_run_once }}"`,
    // `"{{ any_errors_fatal | default(true) }}"`). The plan renders `run_once` with play-level
    // variables; for `any_errors_fatal` it places its barrier after every task it covers, and
    // each host's failure renders the keyword with that host's variables.
    for key in ["run_once", "any_errors_fatal"] {
        let templated = node
            .get(key)
            .is_some_and(|v| matches!(&v.kind, NodeKind::Str(s) if Templar::is_template(s)));
        if !templated {
            literal_bool(node, key)?;
        }
    }
    seconds(node, "timeout")?;
    if let Some(t) = node.get("throttle") {
        let templated = matches!(&t.kind, NodeKind::Str(s) if Templar::is_template(s));
        if !matches!(&t.kind, NodeKind::Int(i) if *i >= 0) && !t.is_null() && !templated {
            return Err(refuse(
                t,
                format!("'throttle' must be a whole number (or a template of play-level variables) in kplay: the plan needs it before any host runs, got '{}'", t.key_string()),
            ));
        }
    }
    Ok(())
}

pub fn check_block(node: &Node) -> Result<(), LoadError> {
    common(node)
}

/// Task keywords and engine actions that need checking once the action is known.
pub fn check_task(node: &Node, action: &str, args: &crate::value::Map) -> Result<(), LoadError> {
    common(node)?;
    seconds(node, "async")?;
    seconds(node, "poll")?;
    if node.get("poll").is_some() && node.get("async").is_none() {
        if let Some(p) = node.get("poll") {
            return Err(refuse(
                p,
                "'poll' without 'async' does nothing; add 'async: SECONDS' (the most the task may run)",
            ));
        }
    }
    match Action::resolve(action) {
        Action::Meta => {
            let what = args
                .get("_raw_params")
                .map(crate::value::to_display_string)
                .unwrap_or_default();
            let what = what.trim();
            if what == "refresh_inventory" {
                return Err(refuse(
                    node,
                    "meta: refresh_inventory is not supported by kplay (inventories are read once, at start); use add_host or a second run",
                ));
            }
            if !Templar::is_template(what) && !META_ACTIONS.contains(&what) {
                return Err(refuse(
                    node,
                    format!(
                        "invalid meta action requested: {what} (kplay knows: {})",
                        META_ACTIONS.join(", ")
                    ),
                ));
            }
        }
        Action::Pause => {
            for k in args.keys() {
                if !matches!(k.as_str(), "seconds" | "minutes" | "prompt" | "echo") {
                    return Err(refuse(
                        node,
                        format!("Unsupported parameters for (pause) module: {k}. Supported parameters include: echo, minutes, prompt, seconds"),
                    ));
                }
            }
            if args.contains_key("seconds") && args.contains_key("minutes") {
                return Err(refuse(
                    node,
                    "parameters are mutually exclusive: minutes|seconds",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Play keywords: strategy and order values, `vars_prompt`, and what kplay refuses.
pub fn check_play(node: &Node) -> Result<(), LoadError> {
    common(node)?;
    seconds(node, "gather_timeout")?;
    if let Some(s) = node.get("strategy") {
        crate::config::parse_strategy(&s.key_string(), &s.span)?;
    }
    if let Some(o) = node.get("order") {
        let v = o.key_string();
        if !matches!(
            v.as_str(),
            "inventory" | "reverse_inventory" | "sorted" | "reverse_sorted" | "shuffle"
        ) {
            return Err(refuse(
                o,
                format!("invalid order '{v}' (inventory, reverse_inventory, sorted, reverse_sorted, shuffle)"),
            ));
        }
    }
    if let Some(m) = node.get("max_fail_percentage") {
        let ok = match &m.kind {
            NodeKind::Int(_) | NodeKind::Float(_) => true,
            NodeKind::Str(s) => s.trim().trim_end_matches('%').parse::<f64>().is_ok(),
            _ => false,
        };
        if !ok {
            return Err(refuse(
                m,
                format!(
                    "'max_fail_percentage' must be a number, got '{}'",
                    m.key_string()
                ),
            ));
        }
    }
    Ok(())
}

/// `vars_prompt:` entries (name, prompt, default, private, confirm); encryption is refused.
pub fn parse_vars_prompt(node: Option<&Node>) -> Result<Vec<VarsPrompt>, LoadError> {
    let Some(node) = node else {
        return Ok(vec![]);
    };
    let items = match &node.kind {
        NodeKind::Null => return Ok(vec![]),
        NodeKind::Seq(items) => items.as_slice(),
        _ => return Err(refuse(node, "vars_prompt must be a list")),
    };
    let mut out = Vec::new();
    for item in items {
        if item.as_map().is_none() {
            return Err(refuse(item, "a vars_prompt entry must be a mapping"));
        }
        for (k, _) in item.as_map().unwrap_or(&[]) {
            let key = k.key_string();
            match key.as_str() {
                "name" | "prompt" | "default" | "private" | "confirm" | "unsafe" => {}
                "encrypt" | "salt" | "salt_size" => {
                    return Err(refuse(
                        k,
                        format!("vars_prompt '{key}' is not supported by kplay (no password hashing); hash the value with the password_hash filter instead"),
                    ))
                }
                other => {
                    return Err(refuse(
                        k,
                        format!("'{other}' is not a valid attribute for a vars_prompt entry"),
                    ))
                }
            }
        }
        let Some(name) = item.get("name").map(Node::key_string) else {
            return Err(refuse(item, "a vars_prompt entry needs 'name'"));
        };
        let flag = |k: &str, default: bool| {
            item.get(k)
                .and_then(|v| ansible_bool(&v.to_value()))
                .unwrap_or(default)
        };
        out.push(VarsPrompt {
            prompt: item
                .get("prompt")
                .map(Node::key_string)
                .unwrap_or_else(|| name.clone()),
            name,
            default: item
                .get("default")
                .map(Node::to_value)
                .filter(|v| !matches!(v, Value::Null)),
            private: flag("private", true),
            confirm: flag("confirm", false),
            span: item.span.clone(),
        });
    }
    Ok(out)
}
