//! A module's declared arguments: its parameters (name, aliases, type, default, choices,
//! required, one line of documentation each) and the rules between them. Every module states
//! them once, [`super::args`] checks each call against them and `kplay doc` prints them
//! ([`render_doc`]), so what a module accepts and what its documentation says cannot drift.

use kplay_engine::value::Value;

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
    pub fn name(self) -> &'static str {
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
    pub fn value(self) -> Option<Value> {
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
