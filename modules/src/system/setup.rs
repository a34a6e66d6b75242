//! `setup`: gather facts about the host (see [`crate::facts`]). Facts come back prefixed
//! (`ansible_hostname`) inside `ansible_facts`, as Ansible's module returns them; the engine
//! makes them visible both as `ansible_facts.hostname` and as top-level variables.

use crate::common::args::{p, Param, Spec};
use crate::facts::{self, subset};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("gather_subset", &["subset"])
        .list()
        .doc("Fact subsets to gather (`all`, `min`, `network`, `!hardware` …)."),
    p("filter", &[])
        .list()
        .doc("Only return facts whose name matches these globs."),
    p("gather_timeout", &[]).doc("Seconds allowed for each fact collection."),
    p("fact_path", &[]).doc("Directory of local facts (`*.fact`) on the host."),
];

/// `setup`'s declared arguments.
pub static SPEC: Spec = Spec::new("setup", "Gathers facts about remote hosts", &[PARAMS]);

/// `ansible.builtin.setup`.
///
/// Not query → plan → apply ([`crate::planned`]): Only reads the host (facts): nothing to plan or change.
pub struct SetupModule;

#[async_trait]
impl Module for SetupModule {
    fn name(&self) -> &'static str {
        "setup"
    }

    /// ansible-core's `gather_facts` action runs `setup` for a host; so does kplay's.
    fn aliases(&self) -> &'static [&'static str] {
        &["gather_facts"]
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let mut tokens = a.list("gather_subset");
        if tokens.is_empty() {
            tokens.push("all".into());
        }
        let filters: Vec<String> = a.list("filter").into_iter().filter(|f| f != "*").collect();
        let subsets = subset::resolve(&tokens).map_err(ModuleError::new)?;
        let fact_path = a.str("fact_path")?;
        let gathered = facts::gather(ctx, &subsets, fact_path.as_deref()).await?;
        let mut out: Map = gathered
            .into_iter()
            .filter(|(k, _)| subset::keep(&filters, k))
            .collect();
        out.insert(
            "gather_subset".into(),
            Value::Array(tokens.into_iter().map(Value::String).collect()),
        );
        out.insert("module_setup".into(), Value::Bool(true));
        let mut m = Map::new();
        m.insert("ansible_facts".into(), Value::Object(out));
        m.insert("changed".into(), Value::Bool(false));
        // As ansible-core's setup: `-v` does not dump the facts (the callback honours this).
        m.insert("_ansible_verbose_override".into(), Value::Bool(true));
        Ok(m.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    async fn run(a: serde_json::Value) -> Map {
        let e = TestEnv::new(std::path::Path::new("/nonexistent"));
        let r = SetupModule
            .run(&ctx(&e, false, false), args(a))
            .await
            .unwrap()
            .into_map();
        match r.get("ansible_facts") {
            Some(Value::Object(f)) => f.clone(),
            _ => panic!("no ansible_facts in {r:?}"),
        }
    }

    fn sh(cmd: &str) -> String {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[tokio::test]
    async fn hostname_matches_the_hostname_command() {
        let f = run(json!({})).await;
        let expected = sh("hostname").split('.').next().unwrap_or("").to_string();
        assert_eq!(f["ansible_hostname"], json!(expected));
        assert_eq!(f["module_setup"], json!(true));
        assert_eq!(f["gather_subset"], json!(["all"]));
    }

    #[tokio::test]
    async fn memory_and_cpus_are_positive() {
        let f = run(json!({})).await;
        assert!(f["ansible_memtotal_mb"].as_u64().unwrap() > 0);
        assert!(f["ansible_processor_vcpus"].as_u64().unwrap() > 0);
    }

    #[tokio::test]
    async fn user_and_kernel_match_the_machine() {
        let f = run(json!({"gather_subset": "min"})).await;
        assert_eq!(f["ansible_user_id"], json!(sh("id -un")));
        assert_eq!(f["ansible_kernel"], json!(sh("uname -r")));
        assert_eq!(f["ansible_system"], json!("Linux"));
        assert!(f["ansible_env"].get("PATH").is_some());
        assert!(
            f["ansible_date_time"]["epoch"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 1_600_000_000
        );
    }

    #[tokio::test]
    async fn default_ipv4_has_ansible_shape_when_a_route_exists() {
        let f = run(json!({"gather_subset": ["!all", "network"]})).await;
        if sh("ip -4 route get 8.8.8.8 2>/dev/null").is_empty() {
            assert_eq!(f["ansible_default_ipv4"], json!({}));
            return;
        }
        let d = &f["ansible_default_ipv4"];
        for k in [
            "address",
            "interface",
            "netmask",
            "network",
            "prefix",
            "mtu",
            "type",
        ] {
            assert!(d.get(k).is_some(), "default_ipv4 lacks {k}: {d}");
        }
        let iface = d["interface"].as_str().unwrap();
        assert!(f["ansible_interfaces"]
            .as_array()
            .unwrap()
            .contains(&json!(iface)));
        assert!(f.contains_key(&crate::facts::network::iface_fact_name(iface)));
    }

    #[tokio::test]
    async fn min_subset_skips_hardware_and_network() {
        let f = run(json!({"gather_subset": ["min"]})).await;
        assert!(f.contains_key("ansible_distribution"));
        assert!(!f.contains_key("ansible_memtotal_mb"));
        assert!(!f.contains_key("ansible_default_ipv4"));
        assert_eq!(f["gather_subset"], json!(["min"]));
    }

    #[tokio::test]
    async fn filter_keeps_matching_facts_only() {
        let f =
            run(json!({"filter": ["ansible_*_mb"], "gather_subset": ["!all", "hardware"]})).await;
        assert!(f.contains_key("ansible_memtotal_mb"));
        assert!(!f.contains_key("ansible_hostname"));
        assert!(!f.contains_key("ansible_mounts"));
    }

    #[tokio::test]
    async fn bad_subset_is_rejected() {
        let e = TestEnv::new(std::path::Path::new("/nonexistent"));
        let err = SetupModule
            .run(
                &ctx(&e, false, false),
                args(json!({"gather_subset": "nonsense"})),
            )
            .await
            .unwrap_err();
        assert!(err.msg.starts_with("Bad subset 'nonsense'"));
    }
}
