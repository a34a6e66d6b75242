//! The contract between the engine and a module. The engine knows no module by name: the binary
//! registers them into a [`ModuleRegistry`].

use crate::transport::{Become, Transport};
use crate::value::{Map, Value};
use async_trait::async_trait;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a module looks for a controller-side file named by a relative path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `copy src=`, `script`, `unarchive src=`: role `files/`, then the playbook dir.
    Files,
    /// `template src=`: role `templates/`, then the playbook dir.
    Templates,
    /// `include_vars`: role `vars/`, then the playbook dir.
    Vars,
}

/// What a module may ask of the engine while it runs: templating with the host's variables and
/// finding files on the controller. Implemented by the executor per host and task.
pub trait TaskEnv: Send + Sync {
    /// Render a whole template file's text as the `template` module does (trim_blocks on,
    /// trailing newline kept, `ansible_managed`, `template_*` vars defined).
    fn render_template_text(&self, text: &str, src: &std::path::Path) -> Result<String, String>;
    /// Evaluate a bare Jinja expression (`assert.that`, `debug.var`) with the host's variables.
    fn eval_expr(&self, expr: &str) -> Result<Value, String>;
    /// Evaluate a condition with Ansible's `when:` rules.
    fn eval_condition(&self, expr: &str) -> Result<bool, String>;
    /// Resolve a controller-side relative path the way Ansible's search path does.
    fn find_file(&self, kind: FileKind, name: &str) -> Option<PathBuf>;
}

/// Everything a module needs for one run on one host.
pub struct ModuleContext<'a> {
    pub host: &'a str,
    pub transport: &'a dyn Transport,
    pub check_mode: bool,
    pub diff: bool,
    pub become_: Option<Become>,
    /// Task/play `environment:` for commands the module runs.
    pub environment: Vec<(String, String)>,
    pub env: &'a dyn TaskEnv,
    /// Set when the task has `delegate_to` and the module asked for it
    /// ([`Module::wants_delegation_target`]): `transport` above then reaches the delegate,
    /// and this the inventory host the task is for.
    pub delegation: Option<Delegation<'a>>,
}

/// The inventory host of a delegated task, for a module that works between two hosts
/// (ansible.posix.synchronize: rsync from the delegate to the inventory host).
#[derive(Clone)]
pub struct Delegation<'a> {
    /// The delegate's name (`delegate_to`, rendered).
    pub delegate: String,
    /// The connection to the inventory host (`host` of the context); the delegate's own
    /// when the task is delegated to its own host.
    pub target: &'a dyn Transport,
    /// Privilege escalation on the inventory host.
    pub become_: Option<Become>,
}

/// A module's failure: the task fails with `msg`; `result` carries extra keys (rc, stdout …).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{msg}")]
pub struct ModuleError {
    pub msg: String,
    pub result: Map,
    /// The host could not be reached (recap counts it as unreachable, not failed).
    pub unreachable: bool,
}

impl ModuleError {
    pub fn new(msg: impl Into<String>) -> Self {
        ModuleError {
            msg: msg.into(),
            result: Map::new(),
            unreachable: false,
        }
    }
    pub fn with_result(msg: impl Into<String>, result: Map) -> Self {
        ModuleError {
            msg: msg.into(),
            result,
            unreachable: false,
        }
    }
}

impl From<crate::transport::TransportError> for ModuleError {
    fn from(e: crate::transport::TransportError) -> Self {
        match e {
            crate::transport::TransportError::Unreachable(m) => ModuleError {
                msg: m,
                result: Map::new(),
                unreachable: true,
            },
            crate::transport::TransportError::Failed(m) => ModuleError::new(m),
        }
    }
}

/// A module's `diff`: what `--diff` prints and what `register` sees under `diff`.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Diff {
    /// No diff.
    #[default]
    None,
    /// One `{before, after, before_header, after_header}` dict, as most Ansible modules return.
    One(Map),
    /// A list of them, as Ansible's action plugins (copy, template, file) return.
    Many(Vec<Map>),
}

impl Diff {
    pub fn is_none(&self) -> bool {
        matches!(self, Diff::None)
    }

    /// Ansible's shape of it (`None` when there is no diff).
    pub fn to_value(&self) -> Option<Value> {
        match self {
            Diff::None => None,
            Diff::One(m) => Some(Value::Object(m.clone())),
            Diff::Many(v) => Some(Value::Array(v.iter().cloned().map(Value::Object).collect())),
        }
    }

    /// Read Ansible's shape back; anything else is not a diff (`Err` hands it back).
    pub fn from_value(v: Value) -> Result<Diff, Value> {
        match v {
            Value::Object(m) => Ok(Diff::One(m)),
            Value::Array(a) if a.iter().all(Value::is_object) => Ok(Diff::Many(
                a.into_iter()
                    .filter_map(|v| match v {
                        Value::Object(m) => Some(m),
                        _ => None,
                    })
                    .collect(),
            )),
            other => Err(other),
        }
    }
}

/// What a module reports: the keys the engine acts on are typed fields, everything else
/// (`rc`, `stdout`, `path` …) is in `extra`. [`ModuleResult::into_map`] is the one place it
/// becomes Ansible's result dictionary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleResult {
    pub changed: bool,
    /// The module ran but reports failure in its result (rather than as a [`ModuleError`]).
    pub failed: bool,
    /// The module decided not to act (`creates=` exists, nothing to probe …).
    pub skipped: bool,
    pub diff: Diff,
    /// `ansible_facts`: set on the host once the task is done.
    pub facts: Option<Map>,
    pub warnings: Vec<String>,
    /// The result is shown only with at least this many `-v` (`debug: verbosity: N`); below
    /// it the task counts as skipped.
    pub min_verbosity: u8,
    /// Every other key of the result.
    pub extra: Map,
}

impl ModuleResult {
    pub fn new(changed: bool) -> Self {
        ModuleResult {
            changed,
            ..Default::default()
        }
    }

    /// Builder form of [`ModuleResult::insert`].
    pub fn set(mut self, k: &str, v: impl Into<Value>) -> Self {
        self.insert(k, v);
        self
    }

    /// Set one key of the result; the keys with a typed field (`changed`, `failed`,
    /// `skipped`, `diff`, `ansible_facts`, `warnings`) go to it.
    pub fn insert(&mut self, k: &str, v: impl Into<Value>) {
        let v = v.into();
        match (k, v) {
            ("changed", v) => self.changed = crate::value::truthy(&v),
            ("failed", v) => self.failed = crate::value::truthy(&v),
            ("skipped", v) => self.skipped = crate::value::truthy(&v),
            ("diff", v) => match Diff::from_value(v) {
                Ok(d) => self.diff = d,
                Err(v) => {
                    self.extra.insert(k.into(), v);
                }
            },
            ("ansible_facts", Value::Object(m)) => self.facts = Some(m),
            ("warnings", Value::Array(a)) if a.iter().all(Value::is_string) => {
                self.warnings = a
                    .into_iter()
                    .filter_map(|w| w.as_str().map(str::to_string))
                    .collect()
            }
            (k, v) => {
                self.extra.insert(k.into(), v);
            }
        }
    }

    /// A unified diff as Ansible's `diff` key: before/after with their headers.
    pub fn with_diff(
        mut self,
        before_header: &str,
        after_header: &str,
        before: &str,
        after: &str,
    ) -> Self {
        let mut d = Map::new();
        d.insert("before_header".into(), Value::String(before_header.into()));
        d.insert("after_header".into(), Value::String(after_header.into()));
        d.insert("before".into(), Value::String(before.into()));
        d.insert("after".into(), Value::String(after.into()));
        self.diff = Diff::Many(vec![d]);
        self
    }

    /// Ansible's result dictionary: `changed` always, `failed`/`skipped` only when true,
    /// `diff`, `ansible_facts`, `warnings` when there are any.
    pub fn into_map(self) -> Map {
        let mut m = Map::new();
        m.insert("changed".into(), Value::Bool(self.changed));
        if self.failed {
            m.insert("failed".into(), Value::Bool(true));
        }
        if self.skipped {
            m.insert("skipped".into(), Value::Bool(true));
        }
        m.extend(self.extra);
        if let Some(d) = self.diff.to_value() {
            m.insert("diff".into(), d);
        }
        if let Some(f) = self.facts {
            m.insert("ansible_facts".into(), Value::Object(f));
        }
        if !self.warnings.is_empty() {
            let w = self.warnings.into_iter().map(Value::String).collect();
            m.insert("warnings".into(), Value::Array(w));
        }
        m
    }
}

/// Read a result dictionary (a module that builds its result as a map, or a job's stored
/// result): the one-line port of such a module is `Ok(map.into())`.
impl From<Map> for ModuleResult {
    fn from(m: Map) -> Self {
        let mut r = ModuleResult::default();
        for (k, v) in m {
            r.insert(&k, v);
        }
        r
    }
}

#[async_trait]
pub trait Module: Send + Sync {
    /// Short name (`copy`); the registry also answers to `ansible.builtin.copy` and `ansible.legacy.copy`.
    fn name(&self) -> &'static str;

    /// Other short names (`systemd_service` for `systemd`, …).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// Collections besides `ansible.builtin`/`ansible.legacy` whose module of this name kplay's
    /// stands in for (`ansible.posix.sysctl`), so those fully qualified names resolve too.
    fn collections(&self) -> &'static [&'static str] {
        &[]
    }

    /// Modules taking a free-form string (`command: ls -l chdir=/tmp`) get it as `_raw_params`.
    fn free_form(&self) -> bool {
        false
    }

    /// Whether the module runs in check mode itself (reporting what it would do). Modules that
    /// return false are skipped in check mode, as Ansible does for command/shell.
    fn supports_check_mode(&self) -> bool {
        true
    }

    /// Whether the module runs entirely on the controller (debug, set_fact, assert …): such a
    /// task needs no connection to the host.
    fn controller_only(&self) -> bool {
        false
    }

    /// Validate args and do the work. Args are already templated; booleans may still be strings
    /// (`"yes"`) and must go through [`crate::value::ansible_bool`].
    /// Whether a delegated task should also get a connection to its inventory host
    /// ([`ModuleContext::delegation`]); most modules only ever talk to one host.
    fn wants_delegation_target(&self) -> bool {
        false
    }
    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError>;
}

/// All modules the binary knows, by every name they answer to.
#[derive(Default, Clone)]
pub struct ModuleRegistry {
    by_name: HashMap<String, Arc<dyn Module>>,
}

impl ModuleRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, m: Arc<dyn Module>) {
        let mut names: Vec<&str> = vec![m.name()];
        names.extend(m.aliases().iter().copied());
        let mut collections = vec!["ansible.builtin", "ansible.legacy"];
        collections.extend(m.collections().iter().copied());
        for n in names {
            self.by_name.insert(n.to_string(), m.clone());
            for c in &collections {
                self.by_name.insert(format!("{c}.{n}"), m.clone());
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Module>> {
        self.by_name.get(name).cloned()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Short names, sorted (for `--help` and the README table).
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_name
            .keys()
            .filter(|k| !k.contains('.'))
            .cloned()
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: serde_json::Value) -> Map {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn typed_keys_are_lifted_out_of_a_result_map_and_put_back() {
        let m = map(json!({
            "changed": true, "rc": 0, "skipped": true,
            "diff": {"before": "a", "after": "b"},
            "ansible_facts": {"x": 1}, "warnings": ["careful"]
        }));
        let r = ModuleResult::from(m.clone());
        assert!(r.changed && r.skipped && !r.failed);
        assert_eq!(r.diff, Diff::One(map(json!({"before": "a", "after": "b"}))));
        assert_eq!(r.facts, Some(map(json!({"x": 1}))));
        assert_eq!(r.warnings, vec!["careful".to_string()]);
        assert_eq!(r.extra, map(json!({"rc": 0})));
        assert_eq!(r.into_map(), m);
    }

    #[test]
    fn dictionary_has_changed_always_and_the_rest_only_when_set() {
        assert_eq!(
            ModuleResult::new(false).into_map(),
            map(json!({"changed": false}))
        );
        let r = ModuleResult {
            failed: true,
            min_verbosity: 2,
            ..ModuleResult::new(true)
        }
        .with_diff("h", "h", "a", "b");
        let m = r.into_map();
        assert_eq!(m["failed"], json!(true));
        assert_eq!(m["diff"][0]["after"], json!("b"));
        assert!(!m.contains_key("skipped") && !m.contains_key("min_verbosity"));
    }

    #[test]
    fn odd_shapes_of_typed_keys_stay_as_they_were() {
        let m =
            map(json!({"changed": false, "diff": "text", "warnings": "one", "ansible_facts": 3}));
        let r = ModuleResult::from(m.clone());
        assert!(r.diff.is_none() && r.warnings.is_empty() && r.facts.is_none());
        assert_eq!(r.into_map(), m);
    }
}
