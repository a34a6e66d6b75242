//! Declared module arguments: every module states its parameters once, in a [`Spec`] (name,
//! aliases, type, default, choices, required, the relations between parameters and a line of
//! documentation each), and [`Spec::parse`] checks a call against it with ansible-core's rules
//! and wording before the module touches the host. `kplay doc` prints the same spec, so the
//! documentation cannot drift from what the module accepts.

use kplay_engine::module::ModuleError;
use kplay_engine::value::{ansible_bool, to_display_string, Map, Value};

/// The type a parameter's value is converted to (ansible-core's `type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// Taken as given (`type='raw'`, or a module that reads several shapes itself).
    Raw,
    /// Scalars become their Python `str()`; a list or dict is refused.
    Str,
    /// A path: a string, as `Str`.
    Path,
    /// `yes/no/on/off/true/false/1/0`.
    Bool,
    /// An integer, or a string holding one.
    Int,
    /// A list, or a comma-separated string; items become trimmed, non-empty strings.
    List,
    /// A mapping.
    Dict,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::Raw => "raw",
            Type::Str => "str",
            Type::Path => "path",
            Type::Bool => "bool",
            Type::Int => "int",
            Type::List => "list",
            Type::Dict => "dict",
        }
    }
}

/// A parameter's default, used by the typed getters and shown by `kplay doc`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    None,
    Bool(bool),
    Str(&'static str),
    Int(i64),
}

impl DefaultValue {
    fn value(self) -> Option<Value> {
        match self {
            DefaultValue::None => None,
            DefaultValue::Bool(b) => Some(Value::Bool(b)),
            DefaultValue::Str(s) => Some(Value::String(s.to_string())),
            DefaultValue::Int(i) => Some(Value::from(i)),
        }
    }
}

/// One parameter of a module's argument spec. Built with the `const` methods below:
/// `p("force", &["thirsty"]).bool().default_bool(true).doc("…")`.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub ty: Type,
    pub default: DefaultValue,
    pub choices: &'static [&'static str],
    pub required: bool,
    pub doc: &'static str,
}

/// A parameter of type `raw` with its aliases; refine it with the builder methods.
pub const fn p(name: &'static str, aliases: &'static [&'static str]) -> Param {
    Param {
        name,
        aliases,
        ty: Type::Raw,
        default: DefaultValue::None,
        choices: &[],
        required: false,
        doc: "",
    }
}

impl Param {
    pub const fn str(mut self) -> Param {
        self.ty = Type::Str;
        self
    }
    pub const fn path(mut self) -> Param {
        self.ty = Type::Path;
        self
    }
    pub const fn bool(mut self) -> Param {
        self.ty = Type::Bool;
        self
    }
    pub const fn int(mut self) -> Param {
        self.ty = Type::Int;
        self
    }
    pub const fn list(mut self) -> Param {
        self.ty = Type::List;
        self
    }
    pub const fn dict(mut self) -> Param {
        self.ty = Type::Dict;
        self
    }
    /// A `bool` parameter with its default.
    pub const fn flag(mut self, default: bool) -> Param {
        self.ty = Type::Bool;
        self.default = DefaultValue::Bool(default);
        self
    }
    /// A default for a `str` parameter (makes it `str` when it was `raw`).
    pub const fn default_str(mut self, default: &'static str) -> Param {
        if matches!(self.ty, Type::Raw) {
            self.ty = Type::Str;
        }
        self.default = DefaultValue::Str(default);
        self
    }
    pub const fn default_int(mut self, default: i64) -> Param {
        self.default = DefaultValue::Int(default);
        self
    }
    /// The values a `str` parameter may take (makes it `str` when it was `raw`).
    pub const fn choices(mut self, choices: &'static [&'static str]) -> Param {
        if matches!(self.ty, Type::Raw) {
            self.ty = Type::Str;
        }
        self.choices = choices;
        self
    }
    pub const fn required(mut self) -> Param {
        self.required = true;
        self
    }
    pub const fn doc(mut self, doc: &'static str) -> Param {
        self.doc = doc;
        self
    }
}

/// The common file attribute parameters every file-writing Ansible module accepts
/// (`add_file_common_args=True`). SELinux and `unsafe_writes` are accepted and ignored.
pub const FILE_COMMON: &[Param] = &[
    p("mode", &[])
        .doc("Permissions of the file or directory: octal (`0644`) or symbolic (`u=rw,g=r`)."),
    p("owner", &[])
        .str()
        .doc("Name (or uid) of the user that should own the file."),
    p("group", &[])
        .str()
        .doc("Name (or gid) of the group that should own the file."),
    p("seuser", &[])
        .str()
        .doc("SELinux user (accepted, not enforced)."),
    p("serole", &[])
        .str()
        .doc("SELinux role (accepted, not enforced)."),
    p("setype", &[])
        .str()
        .doc("SELinux type (accepted, not enforced)."),
    p("selevel", &[])
        .str()
        .doc("SELinux level (accepted, not enforced)."),
    p("unsafe_writes", &[])
        .flag(false)
        .doc("Accepted for compatibility; writes are always atomic."),
    p("attributes", &["attr"])
        .str()
        .doc("Filesystem attributes (accepted, not enforced)."),
];

/// `required_if`: when `param` equals `value`, the `requires` must be given (all of them,
/// or at least one when `any`).
#[derive(Debug, Clone, Copy)]
pub struct RequiredIf {
    pub param: &'static str,
    pub value: &'static str,
    pub requires: &'static [&'static str],
    pub any: bool,
}

/// A module's whole argument spec: its parameters (groups, e.g. its own plus [`FILE_COMMON`])
/// and the rules between them, checked in ansible-core's order.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub module: &'static str,
    /// One line: what the module does (`kplay doc --list`).
    pub doc: &'static str,
    pub params: &'static [&'static [Param]],
    pub mutually_exclusive: &'static [&'static [&'static str]],
    pub required_together: &'static [&'static [&'static str]],
    pub required_one_of: &'static [&'static [&'static str]],
    pub required_if: &'static [RequiredIf],
}

impl Spec {
    pub const fn new(
        module: &'static str,
        doc: &'static str,
        params: &'static [&'static [Param]],
    ) -> Spec {
        Spec {
            module,
            doc,
            params,
            mutually_exclusive: &[],
            required_together: &[],
            required_one_of: &[],
            required_if: &[],
        }
    }
    pub const fn mutually_exclusive(mut self, groups: &'static [&'static [&'static str]]) -> Spec {
        self.mutually_exclusive = groups;
        self
    }
    pub const fn required_together(mut self, groups: &'static [&'static [&'static str]]) -> Spec {
        self.required_together = groups;
        self
    }
    pub const fn required_one_of(mut self, groups: &'static [&'static [&'static str]]) -> Spec {
        self.required_one_of = groups;
        self
    }
    pub const fn required_if(mut self, rules: &'static [RequiredIf]) -> Spec {
        self.required_if = rules;
        self
    }

    /// Every parameter, in declaration order.
    pub fn all(&self) -> impl Iterator<Item = &'static Param> {
        self.params.iter().flat_map(|g| g.iter())
    }

    /// The parameter named `name` (canonical name, not alias).
    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.all().find(|p| p.name == name)
    }

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

/// ansible-doc's text for one module, generated from its spec; `collection` is the one the
/// module's fully qualified name is shown in (`ansible.builtin`, `community.general` …).
pub fn render_doc(spec: &Spec, collection: &str) -> String {
    let mut out = format!(
        "> {}.{}    (kplay built-in)\n\n  {}\n\nOPTIONS (= is mandatory):\n",
        collection.to_ascii_uppercase(),
        spec.module.to_ascii_uppercase(),
        spec.doc
    );
    let mut params: Vec<&Param> = spec.all().collect();
    params.sort_by_key(|p| p.name);
    for p in params {
        out.push_str(&format!(
            "\n{} {}\n",
            if p.required { "=" } else { "-" },
            p.name
        ));
        if !p.doc.is_empty() {
            out.push_str(&format!("        {}\n", p.doc));
        }
        if !p.aliases.is_empty() {
            out.push_str(&format!("        aliases: [{}]\n", p.aliases.join(", ")));
        }
        if !p.choices.is_empty() {
            out.push_str(&format!("        choices: [{}]\n", p.choices.join(", ")));
        }
        match p.default {
            DefaultValue::None => {}
            DefaultValue::Bool(b) => out.push_str(&format!("        default: {b}\n")),
            DefaultValue::Str(s) => out.push_str(&format!("        default: {s}\n")),
            DefaultValue::Int(i) => out.push_str(&format!("        default: {i}\n")),
        }
        out.push_str(&format!("        type: {}\n", p.ty.name()));
    }
    out
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
