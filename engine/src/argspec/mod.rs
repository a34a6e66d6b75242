//! Argument specs (ansible-core's `ArgumentSpecValidator`): a role's `meta/argument_specs.yml`
//! entry points and the `validate_argument_spec` action check the variables a role is given
//! against `type`, `required`, `default`, `choices`, `elements`, `aliases` and nested `options`
//! (with their `mutually_exclusive`, `required_together`, `required_one_of`, `required_if` and
//! `required_by`), in
//! ansible-core's order and with its messages, so users see the errors they know.
//!
//! As in ansible-core, a spec's `default` takes part in the check only (a default of the
//! wrong type is an error even when the option is not given); the value the role sees still
//! comes from its `defaults/` and the other variable layers.

pub mod action;
pub mod role;
pub mod types;

use crate::value::{Map, Value};
use types::{convert, py_str, py_type, type_name};

/// What one validation found: the parameters after conversion and defaults, and the errors
/// in ansible-core's order.
#[derive(Debug, Default)]
pub struct Validation {
    pub params: Map,
    pub errors: Vec<String>,
}

/// Options not in the spec, with the supported names where they were found.
#[derive(Default)]
struct Unsupported {
    names: Vec<String>,
    supported: Vec<String>,
    /// The aliases of the level where they were found (listed in parentheses).
    aliases: Vec<String>,
}

/// Validates `params` against `spec` (the `options` mapping of an entry point).
pub fn validate(spec: &Map, params: &Map) -> Validation {
    let mut params = params.clone();
    let mut errors = Vec::new();
    let mut unsupported = Unsupported::default();
    apply_aliases(spec, &mut params, &mut errors);
    check_level(spec, &mut params, &[], &mut errors, &mut unsupported);
    sub_specs(
        spec,
        &mut params,
        "",
        &mut vec![],
        &mut errors,
        &mut unsupported,
    );
    if !unsupported.names.is_empty() {
        unsupported.names.sort();
        unsupported.supported.sort();
        unsupported.aliases.sort();
        let mut supported = unsupported.supported.join(", ");
        if !unsupported.aliases.is_empty() {
            supported += &format!(" ({})", unsupported.aliases.join(", "));
        }
        errors.push(format!(
            "{}. Supported parameters include: {supported}.",
            unsupported.names.join(", ")
        ));
    }
    Validation { params, errors }
}

/// One option's settings, or an empty mapping when the spec gave something else.
fn option_spec(v: &Value) -> Map {
    v.as_object().cloned().unwrap_or_default()
}

/// Each option's `aliases` as (alias, option) pairs, in the spec's order.
fn alias_names(spec: &Map) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in spec {
        if let Some(Value::Array(aliases)) = option_spec(v).get("aliases") {
            out.extend(aliases.iter().map(|a| (py_str(a), k.clone())));
        }
    }
    out
}

/// ansible-core's `_handle_aliases`: an alias given sets its option (the alias stays too);
/// `aliases` must be a list, and an option cannot be both `required` and have a `default`.
fn apply_aliases(spec: &Map, params: &mut Map, errors: &mut Vec<String>) {
    for (k, v) in spec {
        let o = option_spec(v);
        let required = o.get("required").and_then(crate::value::ansible_bool) == Some(true);
        if required && o.get("default").is_some_and(|d| !d.is_null()) {
            errors.push(format!(
                "internal error: required and default are mutually exclusive for {k}"
            ));
            return;
        }
        match o.get("aliases") {
            None | Some(Value::Null) => {}
            Some(Value::Array(_)) => {}
            Some(_) => {
                errors.push("internal error: aliases must be a list or tuple".into());
                return;
            }
        }
    }
    for (alias, option) in alias_names(spec) {
        if let Some(v) = params.get(&alias).cloned() {
            params.insert(option, v);
        }
    }
}

/// `msg` plus ` found in a -> b` when inside nested options.
fn in_context(msg: String, ctx: &[String]) -> String {
    if ctx.is_empty() {
        msg
    } else {
        format!("{msg} found in {}", ctx.join(" -> "))
    }
}

/// The checks of one level: unsupported names, defaults, required, types, choices and the
/// option's own `mutually_exclusive`/`required_*` lists (`rules`, nested levels only).
fn check_level(
    spec: &Map,
    params: &mut Map,
    ctx: &[String],
    errors: &mut Vec<String>,
    unsupported: &mut Unsupported,
) {
    let aliases = alias_names(spec);
    for k in params.keys() {
        if !spec.contains_key(k) && !aliases.iter().any(|(a, _)| a == k) {
            let mut path = ctx.to_vec();
            path.push(k.clone());
            unsupported.names.push(path.join("."));
            unsupported.supported = spec.keys().cloned().collect();
            unsupported.aliases = aliases.iter().map(|(a, _)| a.clone()).collect();
        }
    }
    set_defaults(spec, params, false);
    let mut missing: Vec<&String> = spec
        .iter()
        .filter(|(k, v)| {
            option_spec(v)
                .get("required")
                .and_then(crate::value::ansible_bool)
                == Some(true)
                && !params.contains_key(*k)
        })
        .map(|(k, _)| k)
        .collect();
    if !missing.is_empty() {
        missing.sort();
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        errors.push(in_context(
            format!("missing required arguments: {}", names.join(", ")),
            ctx,
        ));
    }
    check_types(spec, params, ctx, errors);
    check_choices(spec, params, ctx, errors);
}

/// Sets each absent option to its `default`; on the first pass (`all` false) only options
/// with a non-null default, so `required` still sees them missing.
fn set_defaults(spec: &Map, params: &mut Map, all: bool) {
    for (k, v) in spec {
        let default = option_spec(v)
            .get("default")
            .cloned()
            .unwrap_or(Value::Null);
        if !params.contains_key(k) && (all || !default.is_null()) {
            params.insert(k.clone(), default);
        }
    }
}

fn check_types(spec: &Map, params: &mut Map, ctx: &[String], errors: &mut Vec<String>) {
    for (k, v) in spec {
        let o = option_spec(v);
        let Some(value) = params.get(k).cloned() else {
            continue;
        };
        let required = o.get("required").and_then(crate::value::ansible_bool) == Some(true);
        if value.is_null() && !required && o.get("default").is_none_or(Value::is_null) {
            continue;
        }
        let converted = type_name(o.get("type")).and_then(|t| convert(t, &value).map(|c| (t, c)));
        match converted {
            Ok((wanted, c)) => {
                let c = match o.get("elements") {
                    Some(el) => check_elements(k, wanted, el, c, ctx, errors),
                    None => c,
                };
                params.insert(k.clone(), c);
            }
            Err(e) => {
                let mut msg = format!("argument '{k}' is of type {}", py_type(&value));
                if !ctx.is_empty() {
                    msg += &format!(" found in '{}'.", ctx.join(" -> "));
                }
                let wanted = type_name(o.get("type")).unwrap_or("str");
                errors.push(format!(
                    "{msg} and we were unable to convert to {wanted}: {e}"
                ));
            }
        }
    }
}

/// `elements:` of a list option: each element converted, each failure reported.
fn check_elements(
    name: &str,
    wanted: &str,
    elements: &Value,
    value: Value,
    ctx: &[String],
    errors: &mut Vec<String>,
) -> Value {
    let items = match (&value, wanted) {
        (Value::Array(items), "list") => items.clone(),
        _ => {
            let mut msg = format!("Invalid type {wanted} for option '{}'", py_str(&value));
            if !ctx.is_empty() {
                msg += &format!(" found in '{}'.", ctx.join(" -> "));
            }
            errors.push(format!(
                "{msg}, elements value check is supported only with 'list' type"
            ));
            return value;
        }
    };
    let el_type = match type_name(Some(elements)) {
        Ok(t) => t,
        Err(e) => {
            errors.push(e);
            return value;
        }
    };
    let mut out = Vec::new();
    for item in items {
        match convert(el_type, &item) {
            Ok(c) => out.push(c),
            Err(e) => {
                let mut msg = format!("Elements value for option '{name}'");
                if !ctx.is_empty() {
                    msg += &format!(" found in '{}'", ctx.join(" -> "));
                }
                errors.push(format!(
                    "{msg} is of type {} and we were unable to convert to {el_type}: {e}",
                    py_type(&item)
                ));
            }
        }
    }
    Value::Array(out)
}

/// `choices:`: one of them, or for a list every element one of them.
fn check_choices(spec: &Map, params: &mut Map, ctx: &[String], errors: &mut Vec<String>) {
    for (k, v) in spec {
        let o = option_spec(v);
        let Some(choices) = o.get("choices") else {
            continue;
        };
        let Value::Array(choices) = choices else {
            errors.push(in_context(
                format!(
                    "internal error: choices for argument {k} are not iterable: {}",
                    py_str(choices)
                ),
                ctx,
            ));
            continue;
        };
        let Some(value) = params.get(k).cloned() else {
            continue;
        };
        let listed: Vec<String> = choices.iter().map(py_str).collect();
        if let Value::Array(items) = &value {
            let bad: Vec<String> = items
                .iter()
                .filter(|i| !choices.contains(i))
                .map(py_str)
                .collect();
            if !bad.is_empty() {
                errors.push(in_context(
                    format!(
                        "value of {k} must be one or more of: {}. Got no match for: {}",
                        listed.join(", "),
                        bad.join(", ")
                    ),
                    ctx,
                ));
            }
        } else if !choices.contains(&value) {
            errors.push(in_context(
                format!(
                    "value of {k} must be one of: {}, got: {}",
                    listed.join(", "),
                    py_str(&value)
                ),
                ctx,
            ));
        }
    }
}

/// Nested `options` of `dict` options and of `list` options with `elements: dict`, after
/// the outer level is done (ansible-core's `_validate_sub_spec`).
fn sub_specs(
    spec: &Map,
    params: &mut Map,
    prefix: &str,
    ctx: &mut Vec<String>,
    errors: &mut Vec<String>,
    unsupported: &mut Unsupported,
) {
    set_defaults(spec, params, true);
    for (k, v) in spec {
        let o = option_spec(v);
        let wanted = o.get("type").and_then(Value::as_str).unwrap_or("str");
        let is_list = wanted == "list" && o.get("elements").and_then(Value::as_str) == Some("dict");
        let Some(Value::Object(sub)) = o.get("options") else {
            continue;
        };
        if !(wanted == "dict" || is_list) {
            continue;
        }
        if o.get("apply_defaults").and_then(crate::value::ansible_bool) == Some(true)
            && params.get(k).is_none_or(Value::is_null)
        {
            params.insert(k.clone(), Value::Object(Map::new()));
        }
        let Some(value) = params.get_mut(k).filter(|v| !v.is_null()) else {
            continue;
        };
        ctx.push(k.clone());
        let mut one = |idx: Option<usize>, item: &mut Value, errors: &mut Vec<String>| {
            let Value::Object(m) = item else {
                errors.push(format!(
                    "value of '{k}' must be of type dict or list of dicts"
                ));
                return;
            };
            let new_prefix = match idx {
                Some(i) => format!("{prefix}{k}[{i}]."),
                None => format!("{prefix}{k}."),
            };
            apply_aliases(sub, m, errors);
            exclusive(&o, m, ctx, errors);
            check_level(sub, m, ctx, errors, unsupported);
            rules(&o, m, ctx, errors);
            sub_specs(sub, m, &new_prefix, &mut ctx.clone(), errors, unsupported);
        };
        match value {
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    one(is_list.then_some(i), item, errors);
                }
            }
            item => one(None, item, errors),
        }
        ctx.pop();
    }
}

/// Groups of option names under `key` of an option's settings (`[[a, b], …]`).
fn groups(option: &Map, key: &str) -> Vec<Vec<String>> {
    option
        .get(key)
        .and_then(Value::as_array)
        .map(|gs| {
            gs.iter()
                .filter_map(Value::as_array)
                .map(|g| g.iter().map(py_str).collect())
                .collect()
        })
        .unwrap_or_default()
}

fn count(group: &[String], params: &Map) -> usize {
    group.iter().filter(|n| params.contains_key(*n)).count()
}

/// An option's `mutually_exclusive` lists, checked first on its nested parameters.
fn exclusive(option: &Map, params: &Map, ctx: &[String], errors: &mut Vec<String>) {
    let found: Vec<String> = groups(option, "mutually_exclusive")
        .iter()
        .filter(|g| count(g, params) > 1)
        .map(|g| g.join("|"))
        .collect();
    if !found.is_empty() {
        errors.push(in_context(
            format!("parameters are mutually exclusive: {}", found.join(", ")),
            ctx,
        ));
    }
}

/// An option's `required_together`, `required_one_of`, `required_if` and `required_by`,
/// checked after the types in that order; each reports its first failing rule.
fn rules(option: &Map, params: &Map, ctx: &[String], errors: &mut Vec<String>) {
    if let Some(g) = groups(option, "required_together")
        .iter()
        .find(|g| (1..g.len()).contains(&count(g, params)))
    {
        errors.push(in_context(
            format!("parameters are required together: {}", g.join(", ")),
            ctx,
        ));
    }
    if let Some(g) = groups(option, "required_one_of")
        .iter()
        .find(|g| count(g, params) == 0)
    {
        errors.push(in_context(
            format!("one of the following is required: {}", g.join(", ")),
            ctx,
        ));
    }
    if let Some(msg) = required_if(option.get("required_if"), params) {
        errors.push(in_context(msg, ctx));
    }
    if let Some(msg) = required_by(option.get("required_by"), params) {
        errors.push(in_context(msg, ctx));
    }
}

/// `required_if: [[key, value, [names], is_one_of?], …]`: when `key` equals `value`, all of
/// the names (or, with `is_one_of`, at least one) must be given.
fn required_if(rules: Option<&Value>, params: &Map) -> Option<String> {
    for rule in rules.and_then(Value::as_array)? {
        let Some([key, value, Value::Array(names), rest @ ..]) = rule.as_array().map(Vec::as_slice)
        else {
            continue;
        };
        let key = py_str(key);
        let one_of = rest
            .first()
            .and_then(crate::value::ansible_bool)
            .unwrap_or(false);
        if params.get(&key) != Some(value) {
            continue;
        }
        let names: Vec<String> = names.iter().map(py_str).collect();
        let missing: Vec<&str> = names
            .iter()
            .filter(|n| !params.contains_key(*n))
            .map(String::as_str)
            .collect();
        let max_missing = if one_of { names.len() } else { 0 };
        if !missing.is_empty() && missing.len() >= max_missing {
            return Some(format!(
                "{key} is {} but {} of the following are missing: {}",
                py_str(value),
                if one_of { "any" } else { "all" },
                missing.join(", ")
            ));
        }
    }
    None
}

/// `required_by: {key: [names] or name}`: a given (non-null) `key` needs every name given
/// and non-null.
fn required_by(rules: Option<&Value>, params: &Map) -> Option<String> {
    let given = |n: &str| params.get(n).is_some_and(|v| !v.is_null());
    for (key, names) in rules.and_then(Value::as_object)? {
        if !given(key) {
            continue;
        }
        let names: Vec<String> = match names {
            Value::Array(ns) => ns.iter().map(py_str).collect(),
            n => vec![py_str(n)],
        };
        let missing: Vec<&str> = names
            .iter()
            .filter(|n| !given(n))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Some(format!(
                "missing parameter(s) required by '{key}': {}",
                missing.join(", ")
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests;
