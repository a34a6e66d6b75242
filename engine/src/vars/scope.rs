//! [`Scope`]: the variables one task sees on one host, as a lazy minijinja object.

use super::{RunVars, OMIT};
use crate::playbook::RoleInstance;
use crate::template::from_json_value;
use crate::value::{Map, Value};
use minijinja::value::{Enumerator, Object, ObjectRepr, Value as MjValue};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// Names [`Scope::magic`] answers (for `vars` listing).
const MAGIC_NAMES: &[&str] = &[
    "inventory_hostname",
    "inventory_hostname_short",
    "group_names",
    "omit",
    "playbook_dir",
    "ansible_play_hosts",
    "play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_batch",
    "ansible_verbosity",
    "ansible_run_tags",
    "ansible_skip_tags",
    "inventory_file",
    "inventory_dir",
    "ansible_play_name",
    "ansible_check_mode",
    "ansible_diff_mode",
    "ansible_version",
    "ansible_search_path",
    "ansible_facts",
];

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
    /// The task's own result under its registered name, while `changed_when`/`failed_when`/
    /// `until` look at it (with the loop variables' precedence; data, never templated).
    pub registered: Option<Arc<Map>>,
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
    /// Where module results sit in `layers`: their values are data, never templated again.
    data: DataLayers,
    play: Arc<super::PlayLayers>,
    facts: Arc<Map>,
    search_path: Vec<String>,
    role: Option<Arc<RoleInstance>>,
    role_path: Option<String>,
    /// Rendered values, and whether each holds module results (data).
    cache: Mutex<HashMap<String, (MjValue, bool)>>,
    /// A value holding module results was read since [`Scope::take_data_used`]: what is
    /// rendered from it is data too (ansible-core's unsafe marking carries over).
    data_used: std::sync::atomic::AtomicBool,
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
        let mut data = DataLayers::default();
        if let Some(r) = &tl.registered {
            data.whole.push(layers.len());
            layers.push(r.clone());
        }
        if let Some(l) = &tl.loop_vars {
            layers.push(l.clone());
        }
        layers.extend(tl.include_params.iter().cloned());
        if let Some(r) = &tl.role {
            layers.push(r.params.clone());
        }
        data.set_facts = Some(layers.len());
        data.unsafe_names = state.unsafe_names.clone();
        layers.push(state.set_facts.clone());
        layers.push(state.include_vars.clone());
        layers.extend(tl.task_vars.iter().cloned());
        if let Some(r) = &tl.role {
            layers.push(r.vars.clone());
        }
        layers.extend(play.role_vars.iter().cloned());
        layers.push(state.vars_files.clone());
        layers.push(play.play_vars.clone());
        data.whole.push(layers.len());
        layers.push(state.facts.clone());
        layers.push(inv);
        if let Some(r) = &tl.role {
            layers.push(r.defaults.clone());
        }
        layers.extend(play.role_defaults.iter().cloned());

        Arc::new(Scope {
            run: run.clone(),
            host: host.to_string(),
            layers,
            data,
            play,
            facts: state.facts.clone(),
            search_path: tl.search_path.clone(),
            role: tl.role.clone(),
            role_path: tl.role.as_ref().map(|r| r.path.display().to_string()),
            cache: Mutex::new(HashMap::new()),
            data_used: std::sync::atomic::AtomicBool::new(false),
            stack: Mutex::new(Vec::new()),
            error: Mutex::new(None),
        })
    }

    /// Magic variables, computed only when a template asks for one: a skipped task must not
    /// pay for building `ansible_facts` or `group_names`.
    fn magic(&self, name: &str) -> Option<Value> {
        let run = &self.run;
        let play = &self.play;
        let host = self.host.as_str();
        // `ansible_play_hosts` and `ansible_play_batch` leave out the hosts failed in this play.
        let active = |hosts: &[String]| {
            let failed = run
                .failed_in_play
                .read()
                .map(|f| f.clone())
                .unwrap_or_default();
            Value::from(
                hosts
                    .iter()
                    .filter(|h| !failed.contains(*h))
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        };
        let inv_source = || {
            run.inventory
                .read()
                .ok()
                .and_then(|i| i.host_source(host).map(|p| p.to_path_buf()))
        };
        Some(match name {
            "inventory_hostname" => Value::String(host.to_string()),
            "inventory_hostname_short" => {
                Value::String(host.split('.').next().unwrap_or(host).to_string())
            }
            "group_names" => Value::from(
                run.inventory
                    .read()
                    .map(|i| i.group_names(host))
                    .unwrap_or_default(),
            ),
            "omit" => Value::String(OMIT.to_string()),
            "playbook_dir" => Value::String(run.playbook_dir.display().to_string()),
            "ansible_play_hosts" | "play_hosts" => active(&play.play_hosts),
            "ansible_play_hosts_all" => Value::from(play.play_hosts.clone()),
            "ansible_play_batch" => active(&play.batch_hosts),
            "ansible_verbosity" => Value::from(run.info.verbosity),
            "ansible_run_tags" => Value::from(if run.info.run_tags.is_empty() {
                vec!["all".to_string()]
            } else {
                run.info.run_tags.clone()
            }),
            "ansible_skip_tags" => Value::from(run.info.skip_tags.clone()),
            "inventory_file" => inv_source()
                .map(|p| Value::String(p.display().to_string()))
                .unwrap_or(Value::Null),
            // A host with no inventory file (a `h1,h2,` list): ansible-core 2.18 gives the
            // string "None" here, not a null.
            "inventory_dir" => inv_source()
                .and_then(|p| p.parent().map(|d| Value::String(d.display().to_string())))
                .unwrap_or_else(|| Value::String("None".into())),
            "ansible_play_name" => Value::String(play.name.clone()),
            "ansible_check_mode" => Value::Bool(play.check_mode),
            "ansible_diff_mode" => Value::Bool(play.diff),
            "ansible_version" => {
                serde_json::json!({"full": "2.18.0", "major": 2, "minor": 18, "revision": 0, "string": "2.18.0"})
            }
            "ansible_search_path" => Value::from(self.search_path.clone()),
            "role_name" => Value::String(self.role.as_ref()?.name.clone()),
            "role_path" => Value::String(self.role.as_ref()?.path.display().to_string()),
            "ansible_facts" => {
                let mut facts = Map::new();
                for (k, v) in self.facts.iter() {
                    facts.insert(
                        k.strip_prefix("ansible_").unwrap_or(k).to_string(),
                        v.clone(),
                    );
                }
                Value::Object(facts)
            }
            _ => return None,
        })
    }

    /// Defaults that any variable overrides.
    fn fallback(&self, name: &str) -> Option<Value> {
        match name {
            "ansible_connection" => Some(Value::String(
                self.run.info.default_connection.clone().unwrap_or_else(|| {
                    if self.host == "localhost" || self.host == "127.0.0.1" {
                        "local".into()
                    } else {
                        "ssh".into()
                    }
                }),
            )),
            _ => None,
        }
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
    pub fn raw(&self, name: &str) -> Option<Value> {
        self.magic(name)
            .or_else(|| self.layers.iter().find_map(|l| l.get(name)).cloned())
            .or_else(|| self.fallback(name))
    }

    /// The raw value with the index of the layer it came from (`None`: magic or fallback).
    fn raw_layered(&self, name: &str) -> Option<(Value, Option<usize>)> {
        if let Some(v) = self.magic(name) {
            return Some((v, None));
        }
        let found = self
            .layers
            .iter()
            .enumerate()
            .find_map(|(i, l)| l.get(name).map(|v| (v.clone(), Some(i))));
        found.or_else(|| self.fallback(name).map(|v| (v, None)))
    }

    /// A rendered variable as JSON (used by the executor, e.g. connection variables).
    pub fn get_json(self: &Arc<Self>, name: &str) -> Option<Value> {
        self.lookup(name)
            .map(|v| crate::template::to_json_value(&v))
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

    /// Whether a value holding module results was read since the last call.
    pub fn take_data_used(&self) -> bool {
        self.data_used.swap(false, Ordering::SeqCst)
    }

    fn lookup(self: &Arc<Self>, name: &str) -> Option<MjValue> {
        if let Some((v, data)) = self.cache.lock().ok().and_then(|c| c.get(name).cloned()) {
            if data {
                self.data_used.store(true, Ordering::SeqCst);
            }
            return Some(v);
        }
        let before = self.take_data_used();
        let v = match name {
            "hostvars" => Some(MjValue::from_object(HostVarsObject {
                run: self.run.clone(),
            })),
            "groups" => self.run.groups.read().ok().map(|g| g.clone()),
            "vars" => Some(self.ctx()),
            _ => match self.raw_layered(name)? {
                (raw, Some(i)) if self.data.holds(i, name) => {
                    self.data_used.store(true, Ordering::SeqCst);
                    Some(from_json_value(&raw))
                }
                (raw, _) => self.render_raw(name, &raw),
            },
        };
        let data = self.data_used.load(Ordering::SeqCst);
        if before {
            self.data_used.store(true, Ordering::SeqCst);
        }
        let v = v?;
        if let Ok(mut c) = self.cache.lock() {
            c.insert(name.to_string(), (v.clone(), data));
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
        let mut set: BTreeSet<String> = MAGIC_NAMES.iter().map(|s| s.to_string()).collect();
        set.insert("ansible_connection".into());
        for l in &self.layers {
            set.extend(l.keys().cloned());
        }
        set.insert("hostvars".into());
        set.insert("groups".into());
        set.into_iter().collect()
    }
}

/// Which layers hold module results (facts, registered values): data, not templates.
#[derive(Default)]
struct DataLayers {
    /// Layers whose every value is data.
    whole: Vec<usize>,
    /// The `set_fact`/`register` layer, where only `unsafe_names` are data.
    set_facts: Option<usize>,
    unsafe_names: Arc<std::collections::HashSet<String>>,
}

impl DataLayers {
    fn holds(&self, layer: usize, name: &str) -> bool {
        self.whole.contains(&layer)
            || self.set_facts == Some(layer) && self.unsafe_names.contains(name)
    }
}

fn needs_render(v: &Value) -> bool {
    match v {
        Value::String(s) => crate::template::Templar::is_template(s),
        Value::Array(a) => a.iter().any(needs_render),
        Value::Object(o) => o
            .iter()
            .any(|(k, v)| crate::template::Templar::is_template(k) || needs_render(v)),
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
        let names: Vec<MjValue> = self
            .run
            .inventory
            .read()
            .map(|i| i.hosts().map(|h| MjValue::from(h.name.clone())).collect())
            .unwrap_or_default();
        Enumerator::Values(names)
    }
}
