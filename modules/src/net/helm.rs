//! `helm` (kubernetes.core.helm): a Helm release is installed from `chart_ref` with
//! `release_values` (present) or uninstalled (absent), through the target's `helm`. Like
//! kubernetes.core, the release is read first (`helm list`, `helm get values`) and upgraded
//! only when it is missing, not `deployed`, on another chart version, or its user values
//! differ; `update_repo_cache` runs `helm repo update` first and is not a change by itself.
//! Values go to helm in an owner-only temp file removed on exit. `query` reads, `plan` builds
//! the one command, `apply` runs it.

use crate::common::args::{p, Args, Param, Spec};
use crate::common::reads::{ensure_ok, read_all, Read};
use crate::common::run_sh;
use crate::planned::{Plan, Presence, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("release_name", &["name"])
        .str()
        .required()
        .doc("Release name."),
    p("release_namespace", &["namespace"])
        .str()
        .required()
        .doc("Namespace of the release."),
    p("release_state", &["state"])
        .choices(&["present", "absent"])
        .default_str("present")
        .doc("Whether the release should be installed."),
    p("chart_ref", &[])
        .str()
        .doc("Chart (`repo/chart`, a path or a URL); required for present."),
    p("chart_version", &[])
        .str()
        .doc("Chart version (`--version`)."),
    p("chart_repo_url", &[])
        .str()
        .doc("Chart repository URL (`--repo`)."),
    p("release_values", &["values"]).doc("Values for the release (a mapping)."),
    p("values_files", &[])
        .list()
        .doc("Value files on the target, passed before `release_values`."),
    p("update_repo_cache", &[])
        .flag(false)
        .doc("Run `helm repo update` first."),
    p("create_namespace", &[])
        .flag(false)
        .doc("Create the namespace when missing."),
    p("wait", &[])
        .flag(false)
        .doc("Wait until the release's resources are ready."),
    p("wait_timeout", &[])
        .str()
        .doc("How long to wait (`--timeout`)."),
    p("timeout", &[])
        .str()
        .doc("`--timeout` for helm operations."),
    p("atomic", &[])
        .flag(false)
        .doc("Roll back a failed install or upgrade."),
    p("force", &[]).flag(false).doc("Force resource updates."),
    p("skip_crds", &[]).flag(false).doc("Do not install CRDs."),
    p("disable_hook", &[])
        .flag(false)
        .doc("Skip the chart's hooks."),
    p("reset_values", &[])
        .flag(true)
        .doc("Reset values to the chart's on upgrade."),
    p("reuse_values", &[])
        .flag(false)
        .doc("Reuse the last release's values on upgrade."),
    p("dependency_update", &["dep_up"])
        .flag(false)
        .doc("Update chart dependencies first."),
    p("history_max", &[])
        .int()
        .doc("Revisions kept per release."),
    p("purge", &[])
        .flag(true)
        .doc("Accepted (helm 3 always purges on uninstall)."),
    p("binary_path", &[])
        .path()
        .doc("Path of the helm binary (default `helm` on PATH)."),
    p("kubeconfig", &["kubeconfig_path"])
        .path()
        .doc("Kubeconfig file."),
    p("context", &["kube_context"])
        .str()
        .doc("Kubeconfig context."),
];

/// `helm`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "helm",
    "Manages Kubernetes packages with the Helm package manager",
    &[PARAMS],
);

/// `kubernetes.core.helm`.
pub struct HelmModule;

/// The release `helm list -o json` shows for `name`: (chart `name-version`, status).
pub fn release(json: &str, name: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    v.as_array()?.iter().find_map(|r| {
        (r.get("name")?.as_str()? == name).then(|| {
            let s = |k: &str| r.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
            (s("chart"), s("status"))
        })
    })
}

/// Whether the installed release differs from what the task asks.
pub fn needs_upgrade(
    current: Option<&(String, String)>,
    chart_ref: &str,
    version: Option<&str>,
    want_values: &Value,
    have_values: &Value,
) -> bool {
    let Some((chart, status)) = current else {
        return true;
    };
    let chart_name = chart_ref.rsplit('/').next().unwrap_or(chart_ref);
    let version_differs = version.is_some_and(|v| {
        let v = v.trim_start_matches('v');
        *chart != format!("{chart_name}-{v}") && !chart.ends_with(&format!("-{v}"))
    });
    let norm = |v: &Value| match v {
        Value::Null => Value::Object(Map::new()),
        v => v.clone(),
    };
    status != "deployed" || version_differs || norm(want_values) != norm(have_values)
}

fn globals(a: &Args) -> Result<String, ModuleError> {
    let mut g = String::new();
    if let Some(k) = a.str("kubeconfig")? {
        g.push_str(&format!(" --kubeconfig {}", sh_quote(&k)));
    }
    if let Some(c) = a.str("context")? {
        g.push_str(&format!(" --kube-context {}", sh_quote(&c)));
    }
    Ok(g)
}

/// Checked arguments; the upgrade's many flags are read from `args` when the command is built.
#[derive(Debug, Clone)]
pub struct HelmArgs {
    pub args: Args,
    pub name: String,
    pub namespace: String,
    pub state: Presence,
    pub chart_ref: Option<String>,
    /// `release_values` (a mapping, or null).
    pub values: Value,
    /// `helm` (or `binary_path`) with `--kubeconfig`/`--kube-context`.
    pub helm: String,
}

/// What `query` found: the release `(chart, status)` and its user values.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub release: Option<(String, String)>,
    pub values: Value,
}

/// `helm upgrade -i …` with the values in an owner-only temp file.
fn upgrade_script(h: &HelmArgs, chart: &str, version: Option<&str>) -> String {
    let a = &h.args;
    let (helm, qn, qns) = (&h.helm, sh_quote(&h.name), sh_quote(&h.namespace));
    let mut cmd = format!("{helm} upgrade -i {qn} {} -n {qns}", sh_quote(chart));
    if let Some(v) = version {
        cmd.push_str(&format!(" --version {}", sh_quote(v)));
    }
    if let Some(u) = a.str("chart_repo_url").ok().flatten() {
        cmd.push_str(&format!(" --repo {}", sh_quote(&u)));
    }
    for (flag, opt) in [
        ("create_namespace", " --create-namespace"),
        ("wait", " --wait"),
        ("atomic", " --atomic"),
        ("force", " --force"),
        ("skip_crds", " --skip-crds"),
        ("disable_hook", " --no-hooks"),
        ("reuse_values", " --reuse-values"),
        ("dependency_update", " --dependency-update"),
    ] {
        if a.flag(flag) {
            cmd.push_str(opt);
        }
    }
    if a.flag("reset_values") && !a.flag("reuse_values") {
        cmd.push_str(" --reset-values");
    }
    if let Some(t) = a
        .str("wait_timeout")
        .ok()
        .flatten()
        .or(a.str("timeout").ok().flatten())
    {
        cmd.push_str(&format!(" --timeout {}", sh_quote(&t)));
    }
    if let Some(hm) = a.int("history_max") {
        cmd.push_str(&format!(" --history-max {hm}"));
    }
    for f in a.list("values_files") {
        cmd.push_str(&format!(" -f {}", sh_quote(&f)));
    }
    // JSON is YAML: helm reads the values file as given.
    format!(
        "umask 077; t=$(mktemp) || exit 1; trap 'rm -f \"$t\"' EXIT; printf '%s' {} > \"$t\" && {cmd} -f \"$t\"",
        sh_quote(&serde_json::to_string(&h.values).unwrap_or_else(|_| "{}".into()))
    )
}

#[async_trait]
impl QueryPlanApply for HelmModule {
    type Args = HelmArgs;
    type Seen = Seen;
    /// The sh that upgrades or uninstalls the release.
    type Changes = String;

    fn name(&self) -> &'static str {
        "helm"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["kubernetes.core"]
    }

    fn parse(&self, args: Map) -> Result<HelmArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let state = Presence::from_arg(&a, "release_state")?;
        let chart_ref = a.str("chart_ref")?;
        if state == Presence::Present && chart_ref.is_none() {
            return Err(ModuleError::new(
                "release_state is present but all of the following are missing: chart_ref",
            ));
        }
        let values = a.raw("release_values").cloned().unwrap_or(Value::Null);
        if !matches!(values, Value::Object(_) | Value::Null) {
            return Err(ModuleError::new("release_values must be a mapping"));
        }
        let helm = format!(
            "{}{}",
            sh_quote(&a.str("binary_path")?.unwrap_or_else(|| "helm".into())),
            globals(&a)?
        );
        // Read now so that a wrong type fails before the host is touched.
        a.str("chart_version")?;
        Ok(HelmArgs {
            name: a.required_str("release_name")?,
            namespace: a.required_str("release_namespace")?,
            state,
            chart_ref,
            values,
            helm,
            args: a,
        })
    }

    /// `update_repo_cache` runs `helm repo update` first (not in check mode), as
    /// kubernetes.core does before it reads.
    async fn query(&self, ctx: &ModuleContext<'_>, h: &HelmArgs) -> Result<Seen, ModuleError> {
        let helm = &h.helm;
        if h.args.flag("update_repo_cache") && !ctx.check_mode {
            let out = run_sh(ctx, format!("{helm} repo update"), None).await?;
            ensure_ok(&out, |_, e| format!("helm repo update failed: {}", e.trim()))?;
        }
        let (qn, qns) = (sh_quote(&h.name), sh_quote(&h.namespace));
        let r = read_all(
            ctx,
            &[
                Read::new(
                    "list",
                    format!(
                        "{helm} list -n {qns} --all -o json --filter {}",
                        sh_quote(&format!("^{}$", regex::escape(&h.name)))
                    ),
                )
                .merged(),
                Read::new("values", format!("{helm} get values {qn} -n {qns} -o json")),
            ],
        )
        .await?;
        let list = r.get("list");
        if !list.ok() {
            return Err(ModuleError::new(format!(
                "helm list failed: {}",
                list.out.trim()
            )));
        }
        Ok(Seen {
            release: release(&list.out, &h.name),
            values: serde_json::from_str(r.get("values").out.trim()).unwrap_or(Value::Null),
        })
    }

    fn plan(h: &HelmArgs, seen: &Seen) -> Result<Plan<String>, ModuleError> {
        let current = seen.release.as_ref();
        let script = match h.state {
            Presence::Present => {
                let chart = h.chart_ref.clone().unwrap_or_default();
                let version = h.args.str("chart_version")?;
                needs_upgrade(current, &chart, version.as_deref(), &h.values, &seen.values)
                    .then(|| upgrade_script(h, &chart, version.as_deref()))
            }
            Presence::Absent => current.is_some().then(|| {
                format!(
                    "{} uninstall {} -n {}",
                    h.helm,
                    sh_quote(&h.name),
                    sh_quote(&h.namespace)
                )
            }),
        };
        let mut result = ModuleResult::new(false);
        if let Some((chart, status)) = current {
            result.insert("status", serde_json::json!({"name": h.name, "namespace": h.namespace, "chart": chart, "status": status}));
        }
        Ok(Plan::maybe(script, result))
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        _h: &HelmArgs,
        script: String,
        mut result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let out = run_sh(ctx, script, None).await?;
        ensure_ok(&out, |_, e| format!("Failure when executing Helm command: {}", e.trim()))?;
        result.insert("stdout", out.stdout_str());
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ha(v: serde_json::Value) -> HelmArgs {
        HelmModule
            .parse(v.as_object().cloned().unwrap_or_default())
            .unwrap()
    }

    #[test]
    fn plan_installs_a_missing_release_with_values_in_a_private_file() {
        let h = ha(
            json!({"name": "web", "namespace": "apps", "chart_ref": "repo/nginx",
            "chart_version": "1.2.3", "release_values": {"replicas": 2}, "wait": true, "kubeconfig": "/k"}),
        );
        let seen = Seen {
            release: None,
            values: Value::Null,
        };
        let p = HelmModule::plan(&h, &seen).unwrap();
        let sh = p.changes.unwrap();
        assert!(sh.starts_with("umask 077; t=$(mktemp)"), "{sh}");
        assert!(sh.contains("helm --kubeconfig /k upgrade -i web repo/nginx -n apps --version 1.2.3 --wait --reset-values -f \"$t\""), "{sh}");
        assert!(sh.contains(r#"'{"replicas":2}'"#), "{sh}");
        assert!(p.result.changed && !p.result.extra.contains_key("status"));
    }

    #[test]
    fn plan_keeps_a_matching_release_and_uninstalls_for_absent() {
        let seen = Seen {
            release: Some(("nginx-1.2.3".into(), "deployed".into())),
            values: json!({"replicas": 2}),
        };
        let h = ha(
            json!({"name": "web", "namespace": "apps", "chart_ref": "repo/nginx",
            "chart_version": "1.2.3", "release_values": {"replicas": 2}}),
        );
        let p = HelmModule::plan(&h, &seen).unwrap();
        assert!(p.changes.is_none());
        assert_eq!(p.result.into_map()["status"]["status"], json!("deployed"));
        let gone = ha(json!({"name": "web", "namespace": "apps", "state": "absent"}));
        let p = HelmModule::plan(&gone, &seen).unwrap();
        assert_eq!(p.changes.as_deref(), Some("helm uninstall web -n apps"));
        let none = Seen {
            release: None,
            values: Value::Null,
        };
        assert!(HelmModule::plan(&gone, &none).unwrap().changes.is_none());
    }

    #[test]
    fn release_is_upgraded_only_when_it_differs() {
        let list = r#"[{"name":"ingress","namespace":"kube-system","chart":"ingress-nginx-4.10.0","status":"deployed"}]"#;
        let cur = release(list, "ingress");
        assert_eq!(
            cur,
            Some(("ingress-nginx-4.10.0".into(), "deployed".into()))
        );
        let vals = json!({"a": 1});
        assert!(!needs_upgrade(
            cur.as_ref(),
            "repo/ingress-nginx",
            Some("4.10.0"),
            &vals,
            &vals
        ));
        assert!(needs_upgrade(
            cur.as_ref(),
            "repo/ingress-nginx",
            Some("4.11.0"),
            &vals,
            &vals
        ));
        assert!(needs_upgrade(
            cur.as_ref(),
            "repo/ingress-nginx",
            None,
            &json!({"a": 2}),
            &vals
        ));
        assert!(!needs_upgrade(
            cur.as_ref(),
            "repo/ingress-nginx",
            None,
            &Value::Null,
            &Value::Null
        ));
        assert!(needs_upgrade(None, "x", None, &Value::Null, &Value::Null));
        let failed = Some(("ingress-nginx-4.10.0".to_string(), "failed".to_string()));
        assert!(needs_upgrade(
            failed.as_ref(),
            "repo/ingress-nginx",
            None,
            &vals,
            &vals
        ));
    }
}
