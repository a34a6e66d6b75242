//! [`Scope`]: the variables one task sees on one host, as a lazy minijinja object.

use super::{RunVars, OMIT};
use crate::playbook::RoleInstance;
use crate::template::from_json_value;
use crate::value::{Map, Value};
use minijinja::value::{Enumerator, Object, ObjectRepr, Value as MjValue};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Task-level layers, on top of what the play and host provide.
#[derive(Clone, Debug, Default)]
pub struct TaskLayers {
    /// Task vars then enclosing blocks' vars, innermost first.
    pub task_vars: Vec<Arc<Map>>,
    pub role: Option<Arc<RoleInstance>>,
    /// `include_tasks`/`include_role` params (`vars:` on the include).
    pub include_params: Vec<Arc<Map>>,
    /// Loop variables (`item`, `ansible_loop`, the `index_var` …).
    pub loop_vars: Option<Arc<Map>>,
    /// Where lookups search for files (role dir, then playbook dir).
    pub search_path: Vec<String>,
}

/// The variables of one host for one task. Looked up lazily; rendered values are cached for
/// the life of the scope (one task evaluation).
pub struct Scope {
    run: Arc<RunVars>,
    host: String,
    /// Highest precedence first.
    layers: Vec<Arc<Map>>,
    magic: Map,
    /// Looked up after every layer: defaults that any variable overrides (`ansible_connection`).
    fallback: Map,
    role_path: Option<String>,
    cache: Mutex<HashMap<String, MjValue>>,
    /// Variables being rendered right now (cycle detection).
    stack: Mutex<Vec<String>>,
    /// The first error met while rendering a variable, reported instead of "undefined".
    error: Mutex<Option<String>>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<vars of {}>", self.host)
    }
}

impl Scope {
    /// Play- and host-level variables only (what `hostvars[host]` shows).
    pub fn for_host(run: &Arc<RunVars>, host: &str) -> Arc<Scope> {
        Self::build(run, host, &TaskLayers::default())
    }

    /// The full chain for one task on one host.
    pub fn for_task(run: &Arc<RunVars>, host: &str, tl: &TaskLayers) -> Arc<Scope> {
        Self::build(run, host, tl)
    }

    fn build(run: &Arc<RunVars>, host: &str, tl: &TaskLayers) -> Arc<Scope> {
        let play = run.current_play();
        let state = run.host_state(host);
        let inv = run.inventory_vars(host).unwrap_or_default();
        let mut layers: Vec<Arc<Map>> = Vec::with_capacity(16);
        layers.push(run.extra.clone());
        if let Some(l) = &tl.loop_vars {
            layers.push(l.clone());
        }
        layers.extend(tl.include_params.iter().cloned());
        if let Some(r) = &tl.role {
            layers.push(r.params.clone());
        }
        layers.push(state.set_facts.clone());
        layers.push(state.include_vars.clone());
        layers.extend(tl.task_vars.iter().cloned());
        if let Some(r) = &tl.role {
            layers.push(r.vars.clone());
        }
        layers.extend(play.role_vars.iter().cloned());
        layers.push(state.vars_files.clone());
        layers.push(play.play_vars.clone());
        layers.push(state.facts.clone());
        layers.push(inv);
        if let Some(r) = &tl.role {
            layers.push(r.defaults.clone());
        }
        layers.extend(play.role_defaults.iter().cloned());

        let mut magic = Map::new();
        magic.insert("inventory_hostname".into(), Value::String(host.to_string()));
        magic.insert("inventory_hostname_short".into(), Value::String(host.split('.').next().unwrap_or(host).to_string()));
        let group_names = run.inventory.read().map(|i| i.group_names(host)).unwrap_or_default();
        magic.insert("group_names".into(), Value::from(group_names));
        magic.insert("omit".into(), Value::String(OMIT.to_string()));
        magic.insert("playbook_dir".into(), Value::String(run.playbook_dir.display().to_string()));
        let all_hosts = Value::from(play.play_hosts.clone());
        let failed = run.failed_in_play.read().map(|f| f.clone()).unwrap_or_default();
        let active: Vec<String> = play.play_hosts.iter().filter(|h| !failed.contains(*h)).cloned().collect();
        let active = Value::from(active);
        magic.insert("ansible_play_hosts".into(), active.clone());
        magic.insert("ansible_play_hosts_all".into(), all_hosts);
        magic.insert("ansible_play_batch".into(), Value::from(play.batch_hosts.iter().filter(|h| !failed.contains(*h)).cloned().collect::<Vec<_>>()));
        magic.insert("play_hosts".into(), active);
        magic.insert("ansible_verbosity".into(), Value::from(run.info.verbosity));
        let run_tags = if run.info.run_tags.is_empty() { vec!["all".to_string()] } else { run.info.run_tags.clone() };
        magic.insert("ansible_run_tags".into(), Value::from(run_tags));
        magic.insert("ansible_skip_tags".into(), Value::from(run.info.skip_tags.clone()));
        let source = run.inventory.read().ok().and_then(|i| i.host_source(host).map(|p| p.to_path_buf()));
        match source {
            Some(p) => {
                magic.insert("inventory_file".into(), Value::String(p.display().to_string()));
                magic.insert("inventory_dir".into(), Value::String(p.parent().map(|d| d.display().to_string()).unwrap_or_default()));
            }
            None => {
                magic.insert("inventory_file".into(), Value::Null);
                magic.insert("inventory_dir".into(), Value::Null);
            }
        }
        let mut fallback = Map::new();
        let conn = run.info.default_connection.clone().unwrap_or_else(|| if host == "localhost" || host == "127.0.0.1" { "local".into() } else { "ssh".into() });
        fallback.insert("ansible_connection".into(), Value::String(conn));
        magic.insert("ansible_play_name".into(), Value::String(play.name.clone()));
        magic.insert("ansible_check_mode".into(), Value::Bool(play.check_mode));
        magic.insert("ansible_diff_mode".into(), Value::Bool(play.diff));
        magic.insert("ansible_version".into(), serde_json::json!({"full": "2.18.0", "major": 2, "minor": 18, "revision": 0, "string": "2.18.0"}));
        magic.insert("ansible_search_path".into(), Value::from(tl.search_path.clone()));
        let role_path = tl.role.as_ref().map(|r| r.path.display().to_string());
        if let Some(r) = &tl.role {
            magic.insert("role_name".into(), Value::String(r.name.clone()));
            magic.insert("role_path".into(), Value::String(r.path.display().to_string()));
        }
        let mut facts = Map::new();
        for (k, v) in state.facts.iter() {
            facts.insert(k.strip_prefix("ansible_").unwrap_or(k).to_string(), v.clone());
        }
        magic.insert("ansible_facts".into(), Value::Object(facts));
        Arc::new(Scope {
            run: run.clone(),
            host: host.to_string(),
            layers,
            magic,
            fallback,
            role_path,
            cache: Mutex::new(HashMap::new()),
            stack: Mutex::new(Vec::new()),
            error: Mutex::new(None),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn role_path(&self) -> Option<&str> {
        self.role_path.as_deref()
    }

    /// This scope as the context value templates render with.
    pub fn ctx(self: &Arc<Self>) -> MjValue {
        MjValue::from_dyn_object(self.clone())
    }

    /// The raw (unrendered) value of a variable, highest layer first.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.magic.get(name).or_else(|| self.layers.iter().find_map(|l| l.get(name)))
    }

    /// A rendered variable as JSON (used by the executor, e.g. connection variables).
    pub fn get_json(self: &Arc<Self>, name: &str) -> Option<Value> {
        self.lookup(name).map(|v| crate::template::to_json_value(&v))
    }

    /// Take the error met while rendering a variable, if any (it explains an "undefined").
    pub fn take_error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    fn record_error(&self, msg: String) {
        if let Ok(mut e) = self.error.lock() {
            if e.is_none() {
                *e = Some(msg);
            }
        }
    }

    fn lookup(self: &Arc<Self>, name: &str) -> Option<MjValue> {
        if let Some(v) = self.cache.lock().ok().and_then(|c| c.get(name).cloned()) {
            return Some(v);
        }
        let v = match name {
            "hostvars" => Some(MjValue::from_object(HostVarsObject { run: self.run.clone() })),
            "groups" => self.run.groups.read().ok().map(|g| g.clone()),
            "vars" => Some(self.ctx()),
            _ => {
                let raw = self.magic.get(name).or_else(|| self.layers.iter().find_map(|l| l.get(name))).or_else(|| self.fallback.get(name))?;
                self.render_raw(name, raw)
            }
        }?;
        if let Ok(mut c) = self.cache.lock() {
            c.insert(name.to_string(), v.clone());
        }
        Some(v)
    }

    fn render_raw(self: &Arc<Self>, name: &str, raw: &Value) -> Option<MjValue> {
        if !needs_render(raw) {
            return Some(from_json_value(raw));
        }
        {
            let mut st = self.stack.lock().ok()?;
            if st.iter().any(|n| n == name) {
                let chain = st.join(" -> ");
                drop(st);
                self.record_error(format!("recursive loop detected in template: '{name}' refers to itself ({chain} -> {name})"));
                return None;
            }
            st.push(name.to_string());
        }
        let result = self.run.templar.render_value(raw, &self.ctx());
        if let Ok(mut st) = self.stack.lock() {
            st.pop();
        }
        match result {
            Ok(v) => Some(from_json_value(&v)),
            Err(e) => {
                self.record_error(format!("error while rendering variable '{name}': {e}"));
                None
            }
        }
    }

    /// Every variable name visible (for `vars` iteration and debugging).
    fn names(&self) -> Vec<String> {
        let mut set: BTreeSet<String> = self.magic.keys().cloned().collect();
        set.extend(self.fallback.keys().cloned());
        for l in &self.layers {
            set.extend(l.keys().cloned());
        }
        set.insert("hostvars".into());
        set.insert("groups".into());
        set.into_iter().collect()
    }
}

fn needs_render(v: &Value) -> bool {
    match v {
        Value::String(s) => crate::template::Templar::is_template(s),
        Value::Array(a) => a.iter().any(needs_render),
        Value::Object(o) => o.iter().any(|(k, v)| crate::template::Templar::is_template(k) || needs_render(v)),
        _ => false,
    }
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        let name = key.as_str()?;
        self.lookup(name)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.names().into_iter().map(MjValue::from).collect())
    }
}

/// `hostvars`: every inventory host's play-level variables, looked up on demand.
pub struct HostVarsObject {
    run: Arc<RunVars>,
}

impl std::fmt::Debug for HostVarsObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hostvars>")
    }
}

impl Object for HostVarsObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        let host = key.as_str()?;
        let known = self.run.inventory.read().ok()?.host(host).is_some() || host == "localhost";
        if !known {
            return None;
        }
        Some(Scope::for_host(&self.run, host).ctx())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let names: Vec<MjValue> = self.run.inventory.read().map(|i| i.hosts().map(|h| MjValue::from(h.name.clone())).collect()).unwrap_or_default();
        Enumerator::Values(names)
    }
}
