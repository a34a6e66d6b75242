//! Variables: Ansible's precedence as an ordered chain of layers, looked up lazily.
//!
//! Nothing is merged per task: a [`Scope`] is a list of `Arc<Map>` layers (highest precedence
//! first) plus the magic variables; a lookup walks the chain and renders the value it finds
//! with the same scope, detecting cycles. Dicts replace rather than merge, which is exactly what
//! "first layer that has the key wins" gives.

pub mod extra;
pub mod scope;

pub use scope::{HostVarsObject, Scope};

use crate::inventory::Inventory;
use crate::template::Templar;
use crate::value::Map;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// What a host has accumulated during the run: facts, `include_vars`, `set_fact`/`register`.
#[derive(Clone, Debug, Default)]
pub struct HostVarsState {
    /// `ansible_*` facts from setup (keys with the `ansible_` prefix, as setup returns them).
    pub facts: Arc<Map>,
    pub include_vars: Arc<Map>,
    /// `set_fact` and `register` results (same precedence level in Ansible).
    pub set_facts: Arc<Map>,
    /// Names in `set_facts` that hold registered results: data, never templated again (what
    /// ansible-core's "unsafe" marking of module results does).
    pub unsafe_names: Arc<std::collections::HashSet<String>>,
    /// The play's `vars_files` as loaded for this host.
    pub vars_files: Arc<Map>,
}

/// Layers that belong to the play (the same for every host of the play).
#[derive(Clone, Debug, Default)]
pub struct PlayLayers {
    pub name: String,
    /// All roles' defaults in the play, later roles first.
    pub role_defaults: Vec<Arc<Map>>,
    /// All roles' vars in the play, later roles first.
    pub role_vars: Vec<Arc<Map>>,
    pub play_vars: Arc<Map>,
    pub play_hosts: Vec<String>,
    /// The hosts of the current `serial` batch (all play hosts without `serial`).
    pub batch_hosts: Vec<String>,
    pub check_mode: bool,
    pub diff: bool,
}

/// Facts about the run itself that templates can read (`ansible_verbosity`, `ansible_run_tags` …).
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    pub verbosity: u8,
    pub run_tags: Vec<String>,
    pub skip_tags: Vec<String>,
    /// `-c`: the connection when no variable or keyword names one.
    pub default_connection: Option<String>,
}

/// Variables shared by the whole run.
pub struct RunVars {
    pub info: RunInfo,
    /// Hosts that failed or became unreachable in the current play (they leave `ansible_play_hosts`).
    pub failed_in_play: RwLock<std::collections::HashSet<String>>,
    pub inventory: RwLock<Inventory>,
    pub extra: Arc<Map>,
    pub templar: Arc<Templar>,
    pub playbook_dir: PathBuf,
    pub hosts: RwLock<HashMap<String, HostVarsState>>,
    /// Inventory-level variables of each host, merged once (levels 3–10 of Ansible's list).
    pub inventory_vars: RwLock<HashMap<String, Arc<Map>>>,
    pub play: RwLock<Arc<PlayLayers>>,
    /// `groups` as a template value, rebuilt when the inventory changes.
    pub groups: RwLock<minijinja::Value>,
}

/// The placeholder Ansible uses for `omit`: an argument rendered to it is dropped.
pub const OMIT: &str = "__omit_place_holder__kplay";

impl RunVars {
    pub fn new(
        inventory: Inventory,
        extra: Map,
        templar: Arc<Templar>,
        playbook_dir: PathBuf,
        info: RunInfo,
    ) -> Arc<RunVars> {
        let groups = crate::template::from_json_value(
            &serde_json::to_value(inventory.groups_map()).unwrap_or_default(),
        );
        Arc::new(RunVars {
            info,
            failed_in_play: RwLock::new(Default::default()),
            inventory: RwLock::new(inventory),
            extra: Arc::new(extra),
            templar,
            playbook_dir,
            hosts: RwLock::new(HashMap::new()),
            inventory_vars: RwLock::new(HashMap::new()),
            play: RwLock::new(Arc::new(PlayLayers::default())),
            groups: RwLock::new(minijinja::Value::UNDEFINED),
        })
        .with_groups(groups)
    }

    /// Recompute `groups` after the inventory changed (`add_host`, `group_by`).
    pub fn refresh_groups(&self) {
        let g = match self.inventory.read() {
            Ok(inv) => crate::template::from_json_value(
                &serde_json::to_value(inv.groups_map()).unwrap_or_default(),
            ),
            Err(_) => return,
        };
        if let Ok(mut w) = self.groups.write() {
            *w = g;
        }
    }

    /// Inventory variables of `host`, loaded once and cached.
    pub fn inventory_vars(&self, host: &str) -> Result<Arc<Map>, crate::error::LoadError> {
        if let Some(v) = self
            .inventory_vars
            .read()
            .ok()
            .and_then(|m| m.get(host).cloned())
        {
            return Ok(v);
        }
        let vars = {
            let inv = self
                .inventory
                .read()
                .map_err(|_| crate::error::LoadError::Other("inventory lock poisoned".into()))?;
            Arc::new(inv.host_vars(host, Some(&self.playbook_dir))?)
        };
        if let Ok(mut w) = self.inventory_vars.write() {
            w.insert(host.to_string(), vars.clone());
        }
        Ok(vars)
    }

    pub fn host_state(&self, host: &str) -> HostVarsState {
        self.hosts
            .read()
            .ok()
            .and_then(|m| m.get(host).cloned())
            .unwrap_or_default()
    }

    /// Change one host's accumulated state.
    pub fn update_host(&self, host: &str, f: impl FnOnce(&mut HostVarsState)) {
        if let Ok(mut m) = self.hosts.write() {
            f(m.entry(host.to_string()).or_default());
        }
    }

    pub fn current_play(&self) -> Arc<PlayLayers> {
        self.play.read().map(|p| p.clone()).unwrap_or_default()
    }

    pub fn set_play(&self, p: PlayLayers) {
        if let Ok(mut w) = self.play.write() {
            *w = Arc::new(p);
        }
    }
}

trait WithGroups {
    fn with_groups(self, g: minijinja::Value) -> Self;
}

impl WithGroups for Arc<RunVars> {
    fn with_groups(self, g: minijinja::Value) -> Self {
        if let Ok(mut w) = self.groups.write() {
            *w = g;
        }
        self
    }
}

#[cfg(test)]
mod tests;
