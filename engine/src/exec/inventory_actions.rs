//! `add_host` and `group_by`: actions the engine carries out on the run's inventory.

use super::args::first_arg;
use super::play::PlayRun;
use crate::value::{to_display_string, Map, Value};

impl PlayRun {
    pub(super) fn add_host(&self, args: &Map) -> Result<Map, String> {
        let Some(name) = first_arg(args, &["name", "hostname", "host"]).map(to_display_string)
        else {
            return Err("add_host needs 'name'".into());
        };
        let groups: Vec<String> = match first_arg(args, &["groups", "group", "groupname"]) {
            Some(Value::Array(a)) => a.iter().map(to_display_string).collect(),
            Some(v) => to_display_string(v)
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            None => vec![],
        };
        let vars: Map = args
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "name" | "hostname" | "host" | "groups" | "group" | "groupname"
                )
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Ok(mut inv) = self.runner.vars.inventory.write() {
            inv.add_host(&name, &groups, vars);
        }
        if let Ok(mut c) = self.runner.vars.inventory_vars.write() {
            c.remove(&name);
        }
        self.runner.vars.refresh_groups();
        let mut m = Map::new();
        m.insert("changed".into(), Value::Bool(false));
        m.insert(
            "add_host".into(),
            serde_json::json!({"host_name": name, "groups": groups}),
        );
        Ok(m)
    }

    pub(super) fn group_by(&self, host: &str, args: &Map) -> Result<Map, String> {
        let Some(key) = first_arg(args, &["key", "_raw_params"]).map(to_display_string) else {
            return Err("group_by needs 'key'".into());
        };
        let key = key.trim().replace(['-', ' ', '.'], "_");
        if let Ok(mut inv) = self.runner.vars.inventory.write() {
            inv.add_host(host, std::slice::from_ref(&key), Map::new());
        }
        self.runner.vars.refresh_groups();
        let mut m = Map::new();
        m.insert("changed".into(), Value::Bool(false));
        m.insert("add_group".into(), Value::String(key));
        Ok(m)
    }
}
