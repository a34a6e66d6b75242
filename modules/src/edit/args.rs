//! Argument checking in Ansible's words: unknown parameters, aliases, `type='bool'`/`'str'`,
//! `choices`, required and mutually exclusive parameters — all before the host is touched.

use kplay_engine::value::{ansible_bool, to_display_string, Map, Value};

/// One parameter of a module's argument spec.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
}

/// A parameter without aliases.
pub const fn p(name: &'static str) -> Param {
    Param { name, aliases: &[] }
}

/// A parameter with aliases.
pub const fn pa(name: &'static str, aliases: &'static [&'static str]) -> Param {
    Param { name, aliases }
}

/// `add_file_common_args=True`: accepted by every editing module. SELinux and `attributes`
/// are accepted and not enforced (kplay targets do not use them).
pub const FILE_COMMON: &[Param] = &[
    p("mode"),
    p("owner"),
    p("group"),
    p("seuser"),
    p("serole"),
    p("setype"),
    p("selevel"),
    p("unsafe_writes"),
    pa("attributes", &["attr"]),
];

/// Module arguments with aliases folded into their canonical names.
#[derive(Debug)]
pub struct Args {
    module: &'static str,
    values: Map,
}

impl Args {
    /// Check `raw` against `spec` (plus [`FILE_COMMON`]): unknown names fail with Ansible's
    /// message, aliases are renamed, `null` counts as not given.
    pub fn parse(module: &'static str, spec: &[Param], raw: Map) -> Result<Args, String> {
        let all: Vec<&Param> = spec.iter().chain(FILE_COMMON.iter()).collect();
        let mut values = Map::new();
        let mut unknown = Vec::new();
        for (k, v) in raw {
            if k.starts_with("_ansible_") {
                continue;
            }
            let Some(param) = all
                .iter()
                .find(|p| p.name == k || p.aliases.contains(&k.as_str()))
            else {
                unknown.push(k);
                continue;
            };
            if v.is_null() {
                continue;
            }
            values.insert(param.name.to_string(), v);
        }
        if !unknown.is_empty() {
            unknown.sort();
            let mut supported: Vec<String> = all
                .iter()
                .map(|p| {
                    if p.aliases.is_empty() {
                        p.name.to_string()
                    } else {
                        format!("{} ({})", p.name, p.aliases.join(", "))
                    }
                })
                .collect();
            supported.sort();
            return Err(format!(
                "Unsupported parameters for ({module}) module: {}. Supported parameters include: {}.",
                unknown.join(", "),
                supported.join(", ")
            ));
        }
        Ok(Args { module, values })
    }

    /// The module's short name, for messages.
    pub fn module(&self) -> &'static str {
        self.module
    }

    /// Whether the parameter was given (and not null).
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A `type='str'` parameter: scalars are converted as Python's `str()` would.
    pub fn str(&self, name: &str) -> Result<Option<String>, String> {
        match self.values.get(name) {
            None => Ok(None),
            Some(Value::Array(_)) | Some(Value::Object(_)) => Err(format!(
                "argument '{name}' is of type {} and we were unable to convert to str",
                type_name(&self.values[name])
            )),
            Some(v) => Ok(Some(to_display_string(v))),
        }
    }

    /// A raw parameter value (for `mode`, which may be a number or a string).
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// A `type='bool'` parameter with its default.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.values.get(name) {
            None => Ok(default),
            Some(v) => ansible_bool(v).ok_or_else(|| {
                format!(
                    "argument '{name}' is of type {} and we were unable to convert to bool: The value '{}' is not a valid boolean.  Valid booleans include: 'yes', 'on', '1', 'true', 'no', 'off', '0', 'false'",
                    type_name(v),
                    to_display_string(v)
                )
            }),
        }
    }

    /// A `choices=[…]` string parameter with its default.
    pub fn choice(&self, name: &str, choices: &[&str], default: &str) -> Result<String, String> {
        let v = self.str(name)?.unwrap_or_else(|| default.to_string());
        if choices.contains(&v.as_str()) {
            Ok(v)
        } else {
            Err(format!(
                "value of {name} must be one of: {}, got: {v}",
                choices.join(", ")
            ))
        }
    }

    /// A required `type='path'` parameter.
    pub fn required_str(&self, name: &str) -> Result<String, String> {
        self.str(name)?
            .ok_or_else(|| format!("missing required arguments: {name}"))
    }

    /// Fail when more than one of `names` is given.
    pub fn mutually_exclusive(&self, names: &[&str]) -> Result<(), String> {
        if names.iter().filter(|n| self.has(n)).count() > 1 {
            return Err(format!(
                "parameters are mutually exclusive: {}",
                names.join("|")
            ));
        }
        Ok(())
    }
}

/// Python's type name of a JSON value, for conversion errors.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<class 'NoneType'>",
        Value::Bool(_) => "<class 'bool'>",
        Value::Number(n) if n.is_f64() => "<class 'float'>",
        Value::Number(_) => "<class 'int'>",
        Value::String(_) => "<class 'str'>",
        Value::Array(_) => "<class 'list'>",
        Value::Object(_) => "<class 'dict'>",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC: &[Param] = &[pa("path", &["dest", "name"]), p("create")];

    fn map(v: serde_json::Value) -> Map {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn unknown_parameter_fails_with_ansible_message() {
        let e = Args::parse("lineinfile", SPEC, map(json!({"path": "/x", "bogus": 1})))
            .expect_err("must fail");
        assert!(
            e.starts_with("Unsupported parameters for (lineinfile) module: bogus. Supported parameters include: "),
            "{e}"
        );
        assert!(e.contains("path (dest, name)"), "{e}");
    }

    #[test]
    fn alias_is_folded_into_canonical_name() {
        let a = Args::parse("lineinfile", SPEC, map(json!({"dest": "/x"}))).expect("ok");
        assert_eq!(a.str("path").expect("str"), Some("/x".into()));
    }

    #[test]
    fn yes_string_is_true() {
        let a = Args::parse("lineinfile", SPEC, map(json!({"create": "yes"}))).expect("ok");
        assert!(a.bool("create", false).expect("bool"));
    }

    #[test]
    fn invalid_boolean_is_an_error() {
        let a = Args::parse("lineinfile", SPEC, map(json!({"create": "maybe"}))).expect("ok");
        assert!(a.bool("create", false).is_err());
    }

    #[test]
    fn number_given_for_string_becomes_its_text() {
        let a = Args::parse("lineinfile", SPEC, map(json!({"path": 5}))).expect("ok");
        assert_eq!(a.str("path").expect("str"), Some("5".into()));
    }

    #[test]
    fn choice_outside_list_is_rejected() {
        let a =
            Args::parse("lineinfile", &[p("state")], map(json!({"state": "gone"}))).expect("ok");
        assert_eq!(
            a.choice("state", &["absent", "present"], "present")
                .expect_err("bad"),
            "value of state must be one of: absent, present, got: gone"
        );
    }
}
