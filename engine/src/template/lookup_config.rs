//! `lookup('config', NAME, on_missing=error|warn|skip)`: an ansible-core setting by its
//! `ansible-config` name (`DEFAULT_BECOME_USER`, `DEFAULT_ROLES_PATH` …), resolved from
//! ansible.cfg and the environment as kplay read them, with ansible-core's defaults for what
//! was not set. Only the settings kplay reads are known; others are "not found".
//!
//! The settings are the run's: [`set_settings`] is called whenever a [`Config`] is loaded,
//! since templates render far from where the configuration was read.

use super::op_err;
use super::{from_json_value, native::python_str};
use crate::config::Config;
use crate::value::{Map, Value};
use minijinja::value::{Kwargs, Value as MjValue};
use minijinja::Error;
use serde_json::json;
use std::sync::RwLock;

static SETTINGS: RwLock<Option<Map>> = RwLock::new(None);

/// Makes `cfg` the settings the `config` lookup answers from.
pub fn set_settings(cfg: &Config) {
    if let Ok(mut s) = SETTINGS.write() {
        *s = Some(settings(cfg));
    }
}

fn or<T: Into<Value> + Clone>(v: &Option<T>, default: Value) -> Value {
    v.clone().map(Into::into).unwrap_or(default)
}

fn list(v: &[String]) -> Value {
    Value::Array(v.iter().cloned().map(Value::String).collect())
}

/// ansible-core's default role path, `~` expanded as ansible-core's `pathspec` does.
fn default_roles_path() -> Value {
    let home = std::env::var("HOME").unwrap_or_else(|_| "~".into());
    json!([
        format!("{home}/.ansible/roles"),
        "/usr/share/ansible/roles",
        "/etc/ansible/roles"
    ])
}

/// The settings kplay knows, by ansible-core name, each as ansible-core types it.
fn settings(c: &Config) -> Map {
    let inventory = if c.inventory.is_empty() {
        json!(["/etc/ansible/hosts"])
    } else {
        list(&c.inventory)
    };
    let roles = if c.roles_path.is_empty() {
        default_roles_path()
    } else {
        Value::Array(
            c.roles_path
                .iter()
                .map(|p| Value::String(p.display().to_string()))
                .collect(),
        )
    };
    let ignore_exts = match &c.inventory_ignore_extensions {
        Some(v) => list(v),
        None => list(&crate::inventory::DEFAULT_IGNORE_EXTENSIONS.map(String::from)),
    };
    let pairs = [
        ("DEFAULT_HOST_LIST", inventory),
        ("DEFAULT_FORKS", or(&c.forks.map(|f| f as u64), json!(5))),
        ("DEFAULT_ROLES_PATH", roles),
        ("HOST_KEY_CHECKING", or(&c.host_key_checking, json!(true))),
        ("DEFAULT_REMOTE_USER", or(&c.remote_user, Value::Null)),
        (
            "DEFAULT_PRIVATE_KEY_FILE",
            or(&c.private_key_file, Value::Null),
        ),
        ("DEFAULT_TIMEOUT", or(&c.timeout, json!(10))),
        ("DEFAULT_BECOME", or(&c.become_, json!(false))),
        ("DEFAULT_BECOME_USER", or(&c.become_user, json!("root"))),
        ("DEFAULT_BECOME_METHOD", or(&c.become_method, json!("sudo"))),
        ("DEFAULT_GATHERING", or(&c.gathering, json!("implicit"))),
        ("CACHE_PLUGIN", or(&c.fact_caching, json!("memory"))),
        (
            "CACHE_PLUGIN_CONNECTION",
            or(&c.fact_caching_connection, Value::Null),
        ),
        (
            "CACHE_PLUGIN_PREFIX",
            or(&c.fact_caching_prefix, json!("ansible_facts")),
        ),
        (
            "CACHE_PLUGIN_TIMEOUT",
            or(&c.fact_caching_timeout, json!(86400)),
        ),
        ("DEFAULT_STRATEGY", or(&c.strategy, json!("linear"))),
        ("SHOW_CUSTOM_STATS", json!(c.show_custom_stats)),
        ("CALLBACKS_ENABLED", list(&c.callbacks)),
        (
            "DEFAULT_VAULT_PASSWORD_FILE",
            or(&c.vault_password_file, Value::Null),
        ),
        ("DEFAULT_VAULT_IDENTITY_LIST", list(&c.vault_identity_list)),
        (
            "DEFAULT_VAULT_ENCRYPT_IDENTITY",
            or(&c.vault_encrypt_identity, Value::Null),
        ),
        ("INVENTORY_IGNORE_EXTS", ignore_exts),
        (
            "INVENTORY_IGNORE_PATTERNS",
            list(&c.inventory_ignore_patterns),
        ),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Runs the lookup over its terms.
pub fn run(terms: &[MjValue], kwargs: &Kwargs) -> Result<Vec<MjValue>, Error> {
    let missing = kwargs
        .get::<Option<MjValue>>("on_missing")?
        .map(|v| python_str(&v))
        .unwrap_or_else(|| "error".into());
    if !matches!(missing.as_str(), "error" | "warn" | "skip") {
        return Err(op_err(format!(
            "\"on_missing\" must be a string and one of \"error\", \"warn\" or \"skip\", not {missing}"
        )));
    }
    let ptype = kwargs.get::<Option<String>>("plugin_type")?;
    let pname = kwargs.get::<Option<String>>("plugin_name")?;
    let _ = kwargs.get::<Option<bool>>("show_origin")?;
    if ptype.is_some() != pname.is_some() {
        return Err(op_err(
            "Both plugin_type and plugin_name are required, cannot use one without the other",
        ));
    }
    let known = SETTINGS
        .read()
        .ok()
        .and_then(|s| s.clone())
        .unwrap_or_else(|| settings(&Config::default()));
    let mut out = Vec::new();
    for t in terms {
        let Some(name) = t.as_str() else {
            return Err(op_err(format!(
                "Invalid setting identifier, \"{}\" is not a string, its a {}",
                python_str(t),
                crate::argspec::types::py_type(&super::to_json_value(t))
            )));
        };
        // Plugin options are not settings kplay keeps: always "not found".
        match known.get(name).filter(|_| pname.is_none()) {
            Some(v) => out.push(from_json_value(v)),
            None if missing == "error" => {
                return Err(op_err(format!("Unable to find setting {name}")))
            }
            None if missing == "warn" => crate::output::sink::err_line(&format!(
                "[WARNING]: Skipping, did not find setting {name}"
            )),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_carry_ansible_core_defaults_and_the_configured_values() {
        let mut c = Config::default();
        let s = settings(&c);
        assert_eq!(s["DEFAULT_BECOME_USER"], json!("root"));
        assert_eq!(s["DEFAULT_FORKS"], json!(5));
        assert_eq!(s["DEFAULT_REMOTE_USER"], Value::Null);
        c.forks = Some(12);
        c.become_user = Some("admin".into());
        let s = settings(&c);
        assert_eq!(s["DEFAULT_FORKS"], json!(12));
        assert_eq!(s["DEFAULT_BECOME_USER"], json!("admin"));
    }

    fn render(src: &str) -> Result<String, String> {
        crate::template::Templar::new()
            .render_str(src, &MjValue::from(()))
            .map(|v| crate::value::to_display_string(&v))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_lookup_answers_known_settings_and_handles_missing_ones() {
        let c = Config {
            become_user: Some("deploy".into()),
            ..Config::default()
        };
        set_settings(&c);
        assert_eq!(
            render("{{ lookup('config', 'DEFAULT_BECOME_USER') }}").unwrap(),
            "deploy"
        );
        assert_eq!(
            render("{{ query('config', 'DEFAULT_GATHERING', 'NO_SUCH', on_missing='skip') | join(',') }}")
                .unwrap(),
            "implicit"
        );
        let err = render("{{ lookup('config', 'NO_SUCH') }}").unwrap_err();
        assert!(err.contains("Unable to find setting NO_SUCH"), "{err}");
        let err = render("{{ lookup('config', 'X', on_missing='loud') }}").unwrap_err();
        assert!(
            err.contains("\"on_missing\" must be a string and one of"),
            "{err}"
        );
    }
}
