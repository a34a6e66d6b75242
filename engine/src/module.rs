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

/// Builder for a result dict in Ansible's shape.
#[derive(Debug, Clone, Default)]
pub struct ModuleResult(pub Map);

impl ModuleResult {
    pub fn new(changed: bool) -> Self {
        let mut m = Map::new();
        m.insert("changed".into(), Value::Bool(changed));
        ModuleResult(m)
    }
    pub fn set(mut self, k: &str, v: impl Into<Value>) -> Self {
        self.0.insert(k.to_string(), v.into());
        self
    }
    pub fn insert(&mut self, k: &str, v: impl Into<Value>) {
        self.0.insert(k.to_string(), v.into());
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
        self.0
            .insert("diff".into(), Value::Array(vec![Value::Object(d)]));
        self
    }
    pub fn into_map(self) -> Map {
        self.0
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
    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<Map, ModuleError>;
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
