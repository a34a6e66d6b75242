//! Module argument checking with Ansible's rules and wording: aliases fold into the canonical
//! name, unknown names are rejected with the list of supported ones, `null` counts as "not given",
//! booleans accept `yes/no/on/off/1/0`. Everything here runs before a module touches the host.

use kplay_engine::module::ModuleError;
use kplay_engine::value::{ansible_bool, Map, Value};

/// One supported parameter: its canonical name and the other names it answers to.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
}

/// Shorthand for building a [`Param`] table.
pub const fn p(name: &'static str, aliases: &'static [&'static str]) -> Param {
    Param { name, aliases }
}

/// The common file attribute parameters every file-writing Ansible module accepts
/// (`add_file_common_args=True`). SELinux and `unsafe_writes` are accepted and ignored.
pub const FILE_COMMON: &[Param] = &[
    p("mode", &[]),
    p("owner", &[]),
    p("group", &[]),
    p("seuser", &[]),
    p("serole", &[]),
    p("setype", &[]),
    p("selevel", &[]),
    p("unsafe_writes", &[]),
    p("attributes", &["attr"]),
];

/// Checked arguments of one module call, keyed by canonical parameter name.
#[derive(Debug, Clone)]
pub struct Args {
    module: &'static str,
    values: Map,
}

impl Args {
    /// Fold aliases into canonical names and reject anything not in `params` with Ansible's
    /// message: `Unsupported parameters for (copy) module: foo. Supported parameters include: …`.
    pub fn parse(
        module: &'static str,
        args: Map,
        params: &[&[Param]],
    ) -> Result<Args, ModuleError> {
        let all: Vec<&Param> = params.iter().flat_map(|ps| ps.iter()).collect();
        let mut values = Map::new();
        let mut unsupported: Vec<String> = Vec::new();
        for (k, v) in args {
            match all
                .iter()
                .find(|p| p.name == k || p.aliases.contains(&k.as_str()))
            {
                Some(p) => {
                    // `null` means "not given" in Ansible; a canonical name wins over an alias.
                    if v.is_null() || (values.contains_key(p.name) && k != p.name) {
                        continue;
                    }
                    values.insert(p.name.to_string(), v);
                }
                None => unsupported.push(k),
            }
        }
        if !unsupported.is_empty() {
            unsupported.sort();
            let mut names: Vec<&str> = all.iter().map(|p| p.name).collect();
            names.sort_unstable();
            names.dedup();
            let mut aliases: Vec<&str> =
                all.iter().flat_map(|p| p.aliases.iter().copied()).collect();
            aliases.sort_unstable();
            aliases.dedup();
            let mut supported = names.join(", ");
            if !aliases.is_empty() {
                supported.push_str(&format!(" ({})", aliases.join(", ")));
            }
            return Err(ModuleError::new(format!(
                "Unsupported parameters for ({module}) module: {}. Supported parameters include: {supported}.",
                unsupported.join(", ")
            )));
        }
        Ok(Args { module, values })
    }

    /// The module name these arguments belong to (for messages).
    pub fn module(&self) -> &'static str {
        self.module
    }

    /// Whether a parameter was given (and not null).
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The raw value of a parameter.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// A string parameter; numbers and booleans are converted as Python's `str()` would.
    pub fn str(&self, name: &str) -> Result<Option<String>, ModuleError> {
        match self.values.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(if *b { "True" } else { "False" }.to_string())),
            Some(other) => Err(type_error(name, other, "str")),
        }
    }

    /// A boolean parameter with Ansible's coercion; `default` when not given.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ModuleError> {
        match self.values.get(name) {
            None => Ok(default),
            Some(v) => ansible_bool(v).ok_or_else(|| {
                ModuleError::new(format!(
                    "argument '{name}' is of type {} and we were unable to convert to bool: The value '{}' is not a valid boolean.  Valid booleans include: 'yes', 'on', 'true', '1', 'no', 'off', 'false', '0'",
                    python_type(v),
                    kplay_engine::value::to_display_string(v)
                ))
            }),
        }
    }

    /// A string parameter restricted to `choices`, with Ansible's message when it is not one.
    pub fn choice(&self, name: &str, choices: &[&str]) -> Result<Option<String>, ModuleError> {
        match self.str(name)? {
            None => Ok(None),
            Some(s) if choices.contains(&s.as_str()) => Ok(Some(s)),
            Some(s) => Err(ModuleError::new(format!(
                "value of {name} must be one of: {}, got: {s}",
                choices.join(", ")
            ))),
        }
    }

    /// Fail with `missing required arguments: a, b` when any of `names` is absent.
    pub fn require(&self, names: &[&str]) -> Result<(), ModuleError> {
        let missing: Vec<&str> = names.iter().copied().filter(|n| !self.has(n)).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ModuleError::new(format!(
                "missing required arguments: {}",
                missing.join(", ")
            )))
        }
    }

    /// Fail with `parameters are mutually exclusive: a|b` when more than one of `names` is given.
    pub fn mutually_exclusive(&self, names: &[&str]) -> Result<(), ModuleError> {
        if names.iter().filter(|n| self.has(n)).count() > 1 {
            Err(ModuleError::new(format!(
                "parameters are mutually exclusive: {}",
                names.join("|")
            )))
        } else {
            Ok(())
        }
    }
}

/// Python's type name of a JSON value, as Ansible's conversion errors print it.
fn python_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "<class 'str'>",
        Value::Number(n) if n.is_f64() => "<class 'float'>",
        Value::Number(_) => "<class 'int'>",
        Value::Bool(_) => "<class 'bool'>",
        Value::Array(_) => "<class 'list'>",
        Value::Object(_) => "<class 'dict'>",
        Value::Null => "<class 'NoneType'>",
    }
}

fn type_error(name: &str, v: &Value, want: &str) -> ModuleError {
    ModuleError::new(format!(
        "argument '{name}' is of type {} and we were unable to convert to {want}",
        python_type(v)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC: &[Param] = &[
        p("dest", &["path"]),
        p("force", &[]),
        p("content", &[]),
        p("src", &[]),
    ];

    fn map(v: Value) -> Map {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn unknown_parameter_is_rejected_with_ansible_wording() {
        let e = Args::parse("copy", map(json!({"dest": "/x", "foo": 1})), &[SPEC]).unwrap_err();
        assert_eq!(
            e.msg,
            "Unsupported parameters for (copy) module: foo. Supported parameters include: content, dest, force, src (path)."
        );
    }

    #[test]
    fn alias_folds_into_canonical_name() {
        let a = Args::parse("copy", map(json!({"path": "/x"})), &[SPEC]).unwrap();
        assert_eq!(a.str("dest").unwrap().as_deref(), Some("/x"));
    }

    #[test]
    fn null_value_counts_as_not_given() {
        let a = Args::parse("copy", map(json!({"dest": null})), &[SPEC]).unwrap();
        assert!(!a.has("dest"));
    }

    #[test]
    fn bool_accepts_yes_and_rejects_nonsense() {
        let a = Args::parse("copy", map(json!({"force": "yes"})), &[SPEC]).unwrap();
        assert!(a.bool("force", false).unwrap());
        let b = Args::parse("copy", map(json!({"force": "maybe"})), &[SPEC]).unwrap();
        assert!(b
            .bool("force", false)
            .unwrap_err()
            .msg
            .contains("unable to convert to bool"));
    }

    #[test]
    fn mutually_exclusive_names_both_parameters() {
        let a = Args::parse("copy", map(json!({"content": "a", "src": "b"})), &[SPEC]).unwrap();
        assert_eq!(
            a.mutually_exclusive(&["content", "src"]).unwrap_err().msg,
            "parameters are mutually exclusive: content|src"
        );
    }

    #[test]
    fn require_lists_missing_arguments() {
        let a = Args::parse("copy", Map::new(), &[SPEC]).unwrap();
        assert_eq!(
            a.require(&["dest"]).unwrap_err().msg,
            "missing required arguments: dest"
        );
    }

    #[test]
    fn choice_rejects_values_outside_the_list() {
        let a = Args::parse("copy", map(json!({"src": "x"})), &[SPEC]).unwrap();
        assert!(a
            .choice("src", &["a", "b"])
            .unwrap_err()
            .msg
            .contains("must be one of: a, b, got: x"));
    }
}
