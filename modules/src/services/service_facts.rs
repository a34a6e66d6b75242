//! `service_facts` (ansible.builtin.service_facts): every systemd service unit as
//! `ansible_facts.services["NAME.service"] = {name, state, status, source}`, as Ansible
//! reports it: `state` from the unit's sub-state (running, stopped, …), `status` from its
//! unit-file state (enabled, disabled, static, …). One round trip runs both `systemctl`
//! listings; nothing on the host changes, so check mode runs it too.

use crate::common::args::{Param, Spec};
use crate::common::reads::{read_all, Read};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};
use serde_json::json;

const PARAMS: &[Param] = &[];

/// `service_facts`' declared arguments (none).
pub static SPEC: Spec = Spec::new(
    "service_facts",
    "Return service state information as fact data",
    &[PARAMS],
);

/// `ansible.builtin.service_facts`.
///
/// Not query → plan → apply ([`crate::planned`]): Only reads the host (facts): nothing to plan or change.
pub struct ServiceFactsModule;

/// Ansible's `state` for a systemd sub-state.
fn state_of(sub: &str) -> &str {
    match sub {
        "running" => "running",
        "exited" | "dead" | "failed" => "stopped",
        "" => "unknown",
        other => other,
    }
}

/// `services` from `systemctl list-units` (unit load active sub …) and
/// `systemctl list-unit-files` (unit state …) output.
pub fn services(units: &str, files: &str) -> Map {
    let mut out = Map::new();
    let mut status: std::collections::HashMap<&str, &str> = Default::default();
    for l in files.lines() {
        let mut f = l.split_whitespace();
        if let (Some(u), Some(s)) = (f.next(), f.next()) {
            if u.ends_with(".service") {
                status.insert(u, s);
            }
        }
    }
    for l in units.lines() {
        let l = l.trim_start_matches(['●', '*', ' ']);
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 4 || !f[0].ends_with(".service") || f[1] == "not-found" {
            continue;
        }
        let name = f[0];
        out.insert(
            name.to_string(),
            json!({
                "name": name,
                "state": state_of(f[3]),
                "status": status.get(name).copied().unwrap_or("unknown"),
                "source": "systemd",
            }),
        );
    }
    // Installed but never loaded units (disabled services) are listed too, stopped.
    for (u, s) in status {
        if u.contains('@') || out.contains_key(u) {
            continue;
        }
        out.insert(
            u.to_string(),
            json!({"name": u, "state": "stopped", "status": s, "source": "systemd"}),
        );
    }
    out
}

#[async_trait]
impl Module for ServiceFactsModule {
    fn name(&self) -> &'static str {
        "service_facts"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        SPEC.parse(args)?;
        let r = read_all(
            ctx,
            &[
                Read::new(
                    "units",
                    "systemctl list-units --no-pager --type service --all --plain --no-legend",
                ),
                Read::new(
                    "files",
                    "systemctl list-unit-files --no-pager --type service --plain --no-legend",
                ),
            ],
        )
        .await?;
        let (units, files) = (r.get("units"), r.get("files"));
        // No systemd to ask: Ansible reports the task skipped with this message, not failed.
        if !units.ok() {
            let mut r = ModuleResult::new(false).into_map();
            r.insert("skipped".into(), true.into());
            r.insert(
                "msg".into(),
                "Failed to find any services. This can be due to privileges or some other configuration issue.".into(),
            );
            return Ok(r.into());
        }
        let mut facts = Map::new();
        facts.insert(
            "services".into(),
            Value::Object(services(&units.out, &files.out)),
        );
        let mut r = ModuleResult::new(false).into_map();
        r.insert("ansible_facts".into(), Value::Object(facts));
        Ok(r.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_unit_files_make_ansible_shaped_services() {
        let units = "ssh.service loaded active running OpenBSD Secure Shell server\n\
                     ● kubelet.service loaded failed failed kubelet\n\
                     gone.service not-found inactive dead gone.service\n";
        let files = "ssh.service enabled enabled\nkubelet.service enabled enabled\n\
                     etcd.service disabled enabled\ngetty@.service enabled enabled\n";
        let s = services(units, files);
        assert_eq!(
            s["ssh.service"],
            json!({"name": "ssh.service", "state": "running", "status": "enabled", "source": "systemd"})
        );
        assert_eq!(s["kubelet.service"]["state"], json!("stopped"));
        assert_eq!(s["etcd.service"]["status"], json!("disabled"));
        assert!(!s.contains_key("gone.service") && !s.contains_key("getty@.service"));
    }
}
