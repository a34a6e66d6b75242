//! Module argument checking with ansible-core's rules and wording: one parser ([`Spec::parse`])
//! for every module's declared [`Spec`] folds aliases, refuses unknown names, converts types,
//! checks choices and the rules between parameters, all before the module touches the host;
//! [`Args`] then hands out typed values (declared defaults included).

pub use super::spec::{p, render_doc, DefaultValue, Param, RequiredIf, Spec, Type, FILE_COMMON};
use kplay_engine::module::ModuleError;
use kplay_engine::value::{ansible_bool, to_display_string, Map, Value};

impl Spec {
    /// Check a call's arguments: fold aliases (a canonical name wins over an alias; `null`
    /// means "not given"), then in ansible-core's order refuse unknown names, mutually
    /// exclusive ones, missing required ones, values of the wrong type, values outside
    /// `choices`, and broken `required_together` / `required_one_of` / `required_if` rules.
    pub fn parse(&'static self, args: Map) -> Result<Args, ModuleError> {
        let mut values = Map::new();
        let mut unsupported: Vec<String> = Vec::new();
        for (k, v) in args {
            if k.starts_with("_ansible_") {
                continue;
            }
            match self
                .all()
                .find(|p| p.name == k || p.aliases.contains(&k.as_str()))
            {
                Some(p) => {
                    if v.is_null() || (values.contains_key(p.name) && k != p.name) {
                        continue;
                    }
                    values.insert(p.name.to_string(), v);
                }
                None => unsupported.push(k),
            }
        }
        if !unsupported.is_empty() {
            return Err(ModuleError::new(self.unsupported_message(unsupported)));
        }
        let args = Args { spec: self, values };
        for group in self.mutually_exclusive {
            args.mutually_exclusive(group)?;
        }
        let mut missing: Vec<&str> = self
            .all()
            .filter(|p| p.required && !args.has(p.name))
            .map(|p| p.name)
            .collect();
        if !missing.is_empty() {
            missing.sort_unstable();
            return Err(missing_error(&missing));
        }
        let mut args = args;
        for p in self.all() {
            if let Some(v) = args.values.get_mut(p.name) {
                *v = convert(p, v)?;
            }
        }
        for p in self.all().filter(|p| !p.choices.is_empty()) {
            if let Some(v) = args.values.get(p.name) {
                let s = to_display_string(v);
                if !p.choices.contains(&s.as_str()) {
                    return Err(choice_error(p.name, p.choices, &s));
                }
            }
        }
        for group in self.required_together {
            let given = group.iter().filter(|n| args.has(n)).count();
            if given > 0 && given < group.len() {
                return Err(ModuleError::new(format!(
                    "parameters are required together: {}",
                    group.join(", ")
                )));
            }
        }
        for group in self.required_one_of {
            if !group.iter().any(|n| args.has(n)) {
                return Err(ModuleError::new(format!(
                    "one of the following is required: {}",
                    group.join(", ")
                )));
            }
        }
        for rule in self.required_if {
            if args
                .effective(rule.param)
                .map(|v| to_display_string(&v))
                .as_deref()
                != Some(rule.value)
            {
                continue;
            }
            let missing: Vec<&str> = rule
                .requires
                .iter()
                .copied()
                .filter(|n| !args.has(n))
                .collect();
            let broken = if rule.any {
                missing.len() == rule.requires.len()
            } else {
                !missing.is_empty()
            };
            if broken {
                return Err(ModuleError::new(format!(
                    "{} is {} but {} of the following are missing: {}",
                    rule.param,
                    rule.value,
                    if rule.any { "any" } else { "all" },
                    missing.join(", ")
                )));
            }
        }
        Ok(args)
    }

    /// `Unsupported parameters for (copy) module: foo. Supported parameters include: a, b (alias).`
    fn unsupported_message(&self, mut unsupported: Vec<String>) -> String {
        unsupported.sort();
        let mut names: Vec<&str> = self.all().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        let mut aliases: Vec<&str> = self.all().flat_map(|p| p.aliases.iter().copied()).collect();
        aliases.sort_unstable();
        aliases.dedup();
        let mut supported = names.join(", ");
        if !aliases.is_empty() {
            supported.push_str(&format!(" ({})", aliases.join(", ")));
        }
        format!(
            "Unsupported parameters for ({}) module: {}. Supported parameters include: {supported}.",
            self.module,
            unsupported.join(", ")
        )
    }
}

/// Convert a given value to its parameter's declared type, with ansible-core's message when it
/// cannot be.
fn convert(p: &Param, v: &Value) -> Result<Value, ModuleError> {
    match p.ty {
        Type::Raw => Ok(v.clone()),
        Type::Str | Type::Path => match v {
            Value::Array(_) | Value::Object(_) => Err(type_error(p.name, v, "str")),
            other => Ok(Value::String(to_display_string(other))),
        },
        Type::Bool => bool_value(p.name, v).map(Value::Bool),
        Type::Int => match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(v.clone()),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| type_error(p.name, v, "int")),
            _ => Err(type_error(p.name, v, "int")),
        },
        Type::List => match v {
            Value::Object(_) => Err(type_error(p.name, v, "list")),
            other => Ok(Value::Array(
                list_items(other).into_iter().map(Value::String).collect(),
            )),
        },
        Type::Dict => match v {
            Value::Object(_) => Ok(v.clone()),
            _ => Err(type_error(p.name, v, "dict")),
        },
    }
}

/// A boolean with Ansible's coercion and its message when the value is not one.
fn bool_value(name: &str, v: &Value) -> Result<bool, ModuleError> {
    ansible_bool(v).ok_or_else(|| {
        ModuleError::new(format!(
            "argument '{name}' is of type {} and we were unable to convert to bool: The value '{}' is not a valid boolean.  Valid booleans include: 'yes', 'on', 'true', '1', 'no', 'off', 'false', '0'",
            python_type(v),
            to_display_string(v)
        ))
    })
}

/// A list parameter's items: a list (nested lists flattened; a string item is one item, as
/// Ansible keeps it) or a comma-separated string; every item trimmed, empty ones dropped,
/// scalars as Python's `str()`.
fn list_items(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .flat_map(|i| match i {
                Value::String(s) => Some(s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .into_iter()
                    .collect(),
                other => list_items(other),
            })
            .collect(),
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Value::Null => Vec::new(),
        other => vec![to_display_string(other)],
    }
}

/// Checked arguments of one module call, keyed by canonical parameter name.
#[derive(Debug, Clone)]
pub struct Args {
    spec: &'static Spec,
    values: Map,
}

impl Args {
    /// The module name these arguments belong to (for messages).
    pub fn module(&self) -> &'static str {
        self.spec.module
    }

    /// Whether a parameter was given (and not null).
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The raw value of a parameter as given (after its type's conversion).
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// The value given, else the spec's default.
    fn effective(&self, name: &str) -> Option<Value> {
        self.values
            .get(name)
            .cloned()
            .or_else(|| self.spec.param(name).and_then(|p| p.default.value()))
    }

    /// A string parameter (given, else its declared default); numbers and booleans are
    /// converted as Python's `str()` would.
    pub fn str(&self, name: &str) -> Result<Option<String>, ModuleError> {
        match self.effective(name) {
            None => Ok(None),
            Some(Value::Array(_)) | Some(Value::Object(_)) => {
                Err(type_error(name, &self.values[name], "str"))
            }
            Some(v) => Ok(Some(to_display_string(&v))),
        }
    }

    /// A string parameter that must be present (`missing required arguments: name`).
    pub fn required_str(&self, name: &str) -> Result<String, ModuleError> {
        self.str(name)?.ok_or_else(|| missing_error(&[name]))
    }

    /// A boolean parameter with Ansible's coercion; the declared default, else `default`.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ModuleError> {
        match self.effective(name) {
            None => Ok(default),
            Some(v) => bool_value(name, &v),
        }
    }

    /// A declared `bool` parameter: its value, else its default, else false.
    pub fn flag(&self, name: &str) -> bool {
        self.effective(name)
            .and_then(|v| ansible_bool(&v))
            .unwrap_or(false)
    }

    /// A declared `list` parameter's items (empty when not given).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.values.get(name).map(list_items).unwrap_or_default()
    }

    /// A declared `int` parameter: its value, else its default.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.effective(name).and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
    }

    /// A declared `int` parameter that must fit a `u32` (ids, sizes, days).
    pub fn u32(&self, name: &str) -> Result<Option<u32>, ModuleError> {
        match self.int(name) {
            None => Ok(None),
            Some(i) => u32::try_from(i).map(Some).map_err(|_| {
                ModuleError::new(format!(
                    "argument '{name}' must be between 0 and {}, got {i}",
                    u32::MAX
                ))
            }),
        }
    }

    /// A string parameter restricted to `choices`, with Ansible's message when it is not one.
    pub fn choice(&self, name: &str, choices: &[&str]) -> Result<Option<String>, ModuleError> {
        match self.str(name)? {
            None => Ok(None),
            Some(s) if choices.contains(&s.as_str()) => Ok(Some(s)),
            Some(s) => Err(choice_error(name, choices, &s)),
        }
    }

    /// Fail with `missing required arguments: a, b` when any of `names` is absent.
    pub fn require(&self, names: &[&str]) -> Result<(), ModuleError> {
        let missing: Vec<&str> = names.iter().copied().filter(|n| !self.has(n)).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing_error(&missing))
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

fn missing_error(names: &[&str]) -> ModuleError {
    ModuleError::new(format!("missing required arguments: {}", names.join(", ")))
}

fn choice_error(name: &str, choices: &[&str], got: &str) -> ModuleError {
    ModuleError::new(format!(
        "value of {name} must be one of: {}, got: {got}",
        choices.join(", ")
    ))
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

/// ansible-core's conversion failure: `argument 'x' is of type <class 'str'> and we were
/// unable to convert to int: <class 'str'> cannot be converted to an int`.
fn type_error(name: &str, v: &Value, want: &str) -> ModuleError {
    let t = python_type(v);
    let why = match want {
        "int" => format!(": {t} cannot be converted to an int"),
        "list" => format!(": {t} cannot be converted to a list"),
        "dict" => ": dictionary requested, could not parse JSON or key=value".to_string(),
        _ => String::new(),
    };
    ModuleError::new(format!(
        "argument '{name}' is of type {t} and we were unable to convert to {want}{why}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PARAMS: &[Param] = &[
        p("dest", &["path"])
            .path()
            .required()
            .doc("Where to write."),
        p("force", &[]).flag(true),
        p("content", &[]),
        p("src", &[]).str(),
        p("state", &[])
            .choices(&["absent", "present"])
            .default_str("present"),
        p("names", &[]).list(),
        p("count", &[]).int(),
        p("owner", &[]).str(),
        p("group", &[]).str(),
    ];
    static SPEC: Spec = Spec::new("copy", "Copy things.", &[PARAMS])
        .mutually_exclusive(&[&["content", "src"]])
        .required_together(&[&["owner", "group"]])
        .required_if(&[RequiredIf {
            param: "state",
            value: "absent",
            requires: &["names", "count"],
            any: true,
        }]);

    fn parse(v: Value) -> Result<Args, String> {
        match v {
            Value::Object(m) => SPEC.parse(m).map_err(|e| e.msg),
            _ => Err("not a map".into()),
        }
    }

    #[test]
    fn unknown_parameter_is_rejected_with_ansible_wording() {
        assert_eq!(
            parse(json!({"dest": "/x", "foo": 1})).unwrap_err(),
            "Unsupported parameters for (copy) module: foo. Supported parameters include: content, count, dest, force, group, names, owner, src, state (path)."
        );
    }

    #[test]
    fn alias_folds_into_canonical_name_and_null_is_not_given() {
        let a = parse(json!({"path": "/x", "src": null})).unwrap();
        assert_eq!(a.str("dest").unwrap().as_deref(), Some("/x"));
        assert!(!a.has("src"));
    }

    #[test]
    fn missing_required_and_exclusive_use_ansible_wording() {
        assert_eq!(
            parse(json!({})).unwrap_err(),
            "missing required arguments: dest"
        );
        assert_eq!(
            parse(json!({"dest": "/x", "content": "a", "src": "b"})).unwrap_err(),
            "parameters are mutually exclusive: content|src"
        );
        assert_eq!(
            parse(json!({"dest": "/x", "owner": "a"})).unwrap_err(),
            "parameters are required together: owner, group"
        );
        assert_eq!(
            parse(json!({"dest": "/x", "state": "absent"})).unwrap_err(),
            "state is absent but any of the following are missing: names, count"
        );
    }

    #[test]
    fn types_are_converted_with_ansible_messages() {
        let a = parse(json!({"dest": 5, "force": "no", "count": "7", "names": "a, b,,c"})).unwrap();
        assert_eq!(a.str("dest").unwrap().as_deref(), Some("5"));
        assert!(!a.flag("force"));
        assert_eq!(a.int("count"), Some(7));
        assert_eq!(a.list("names"), vec!["a", "b", "c"]);
        assert!(parse(json!({"dest": "/x", "force": "maybe"}))
            .unwrap_err()
            .contains("unable to convert to bool"));
        assert_eq!(
            parse(json!({"dest": "/x", "count": "many"})).unwrap_err(),
            "argument 'count' is of type <class 'str'> and we were unable to convert to int: <class 'str'> cannot be converted to an int"
        );
        assert_eq!(
            parse(json!({"dest": "/x", "names": {"a": 1}})).unwrap_err(),
            "argument 'names' is of type <class 'dict'> and we were unable to convert to list: <class 'dict'> cannot be converted to a list"
        );
    }

    #[test]
    fn defaults_and_choices() {
        let a = parse(json!({"dest": "/x"})).unwrap();
        assert!(a.flag("force"));
        assert_eq!(a.str("state").unwrap().as_deref(), Some("present"));
        assert!(!a.has("state"));
        assert_eq!(
            parse(json!({"dest": "/x", "state": "gone"})).unwrap_err(),
            "value of state must be one of: absent, present, got: gone"
        );
    }

    #[test]
    fn doc_lists_every_option_with_its_facts() {
        let d = render_doc(&SPEC, "ansible.builtin");
        assert!(d.starts_with("> ANSIBLE.BUILTIN.COPY"), "{d}");
        assert!(
            d.contains(
                "= dest\n        Where to write.\n        aliases: [path]\n        type: path\n"
            ),
            "{d}"
        );
        assert!(d.contains("- state\n        choices: [absent, present]\n        default: present\n        type: str\n"), "{d}");
    }
}
