//! `helm` (kubernetes.core.helm): a Helm release is installed from `chart_ref` with
//! `release_values` (present) or uninstalled (absent), through the target's `helm`. Like
//! kubernetes.core, the release is read first (`helm list`, `helm get values`) and upgraded
//! only when it is missing, not `deployed`, on another chart version, or its user values
//! differ; `update_repo_cache` runs `helm repo update` first and is not a change by itself.
//! Values go to helm in an owner-only temp file removed on exit. Check mode only reads.

use crate::common::args::{p, Args, Param, Spec};
use crate::common::run_sh;
use crate::sysprobe::{failure, read_all, Read};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
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

#[async_trait]
impl Module for HelmModule {
    fn name(&self) -> &'static str {
        "helm"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["kubernetes.core"]
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let name = a.required_str("release_name")?;
        let ns = a.required_str("release_namespace")?;
        let present = a.required_str("release_state")? == "present";
        let chart_ref = a.str("chart_ref")?;
        if present && chart_ref.is_none() {
            return Err(ModuleError::new(
                "release_state is present but all of the following are missing: chart_ref",
            ));
        }
        let want_values = a.raw("release_values").cloned().unwrap_or(Value::Null);
        if !matches!(want_values, Value::Object(_) | Value::Null) {
            return Err(ModuleError::new("release_values must be a mapping"));
        }
        let helm = format!(
            "{}{}",
            sh_quote(&a.str("binary_path")?.unwrap_or_else(|| "helm".into())),
            globals(&a)?
        );
        let (qn, qns) = (sh_quote(&name), sh_quote(&ns));
        if a.flag("update_repo_cache") && !ctx.check_mode {
            let out = run_sh(ctx, format!("{helm} repo update"), None).await?;
            if out.rc != 0 {
                let (o, e) = (out.stdout_str(), out.stderr_str());
                return Err(failure(
                    format!("helm repo update failed: {}", e.trim()),
                    out.rc,
                    &o,
                    &e,
                ));
            }
        }
        let r = read_all(
            ctx,
            &[
                Read::new(
                    "list",
                    format!(
                        "{helm} list -n {qns} --all -o json --filter {}",
                        sh_quote(&format!("^{}$", regex::escape(&name)))
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
        let current = release(&list.out, &name);
        let have_values: Value =
            serde_json::from_str(r.get("values").out.trim()).unwrap_or(Value::Null);
        let script = if present {
            let chart = chart_ref.clone().unwrap_or_default();
            let version = a.str("chart_version")?;
            needs_upgrade(current.as_ref(), &chart, version.as_deref(), &want_values, &have_values).then(|| {
                let mut cmd = format!("{helm} upgrade -i {qn} {} -n {qns}", sh_quote(&chart));
                if let Some(v) = &version {
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
                if let Some(t) = a.str("wait_timeout").ok().flatten().or(a.str("timeout").ok().flatten()) {
                    cmd.push_str(&format!(" --timeout {}", sh_quote(&t)));
                }
                if let Some(h) = a.int("history_max") {
                    cmd.push_str(&format!(" --history-max {h}"));
                }
                for f in a.list("values_files") {
                    cmd.push_str(&format!(" -f {}", sh_quote(&f)));
                }
                // JSON is YAML: helm reads the values file as given.
                format!(
                    "umask 077; t=$(mktemp) || exit 1; trap 'rm -f \"$t\"' EXIT; printf '%s' {} > \"$t\" && {cmd} -f \"$t\"",
                    sh_quote(&serde_json::to_string(&want_values).unwrap_or_else(|_| "{}".into()))
                )
            })
        } else {
            current
                .is_some()
                .then(|| format!("{helm} uninstall {qn} -n {qns}"))
        };
        let mut result = ModuleResult::new(script.is_some());
        if let Some((chart, status)) = &current {
            result.insert("status", serde_json::json!({"name": name, "namespace": ns, "chart": chart, "status": status}));
        }
        let Some(script) = script.filter(|_| !ctx.check_mode) else {
            return Ok(result);
        };
        let out = run_sh(ctx, script, None).await?;
        if out.rc != 0 {
            let (o, e) = (out.stdout_str(), out.stderr_str());
            return Err(failure(
                format!("Failure when executing Helm command: {}", e.trim()),
                out.rc,
                &o,
                &e,
            ));
        }
        result.insert("stdout", out.stdout_str());
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
