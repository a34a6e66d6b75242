//! `kube` (kubespray's kubectl wrapper, same arguments): Kubernetes objects from manifest files
//! or named by `resource`/`name`/`label`, made `present`, `latest`, `reloaded`, `absent` or
//! `stopped` (scaled to 0) with the node's `kubectl`.
//!
//! Unlike kubespray's module (which always reports `changed: false`), the result says what
//! kubectl did: `kubectl apply` prints one line per object and `unchanged` for those it left
//! alone; a delete or scale happens only when there is something to delete or scale. In check
//! mode nothing is written: `present` asks whether the objects exist, `latest`/`reloaded` run
//! `kubectl diff` (its output is the task's diff), `absent`/`stopped` look first.

use crate::common::args::{p, Param, Spec};
use crate::common::reads::failure;
use crate::common::run_sh;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::{Map, Value};

const PARAMS: &[Param] = &[
    p("name", &[]).str().doc("Name of the object (with `resource`); for manifests, only informative."),
    p("filename", &["files", "file", "filenames"]).doc("Manifest file(s) or directories on the node: a path, a comma-separated string or a list."),
    p("namespace", &[]).str().doc("Namespace of the objects (`kubectl -n`)."),
    p("resource", &[]).str().doc("Resource type of the object named by `name` or selected by `label` (e.g. `deploy`)."),
    p("label", &[]).str().doc("Label selector for the objects (`kubectl -l`)."),
    p("server", &[]).str().doc("API server address (`kubectl --server`)."),
    p("kubeconfig", &[]).path().doc("Kubeconfig file kubectl uses."),
    p("kubectl", &[]).path().doc("Path of the kubectl binary (default: `kubectl` from PATH)."),
    p("force", &[]).flag(false).doc("Force deletion or replacement (`--force`)."),
    p("wait", &[]).flag(false).doc("Wait for a deletion to finish (`--wait`)."),
    p("all", &[]).flag(false).doc("Every object of `resource` (`--all`)."),
    p("log_level", &[]).int().doc("kubectl's verbosity (`--v`)."),
    p("state", &[]).choices(STATES).default_str("present").doc("present: apply when missing; latest: apply; reloaded: apply or replace; absent: delete; stopped: scale to 0; exists: only check."),
    p("recursive", &[]).flag(false).doc("Process directories given in `filename` recursively."),
];

/// `kube`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "kube",
    "Manage Kubernetes objects with kubectl (kubespray's kube module)",
    &[PARAMS],
);

const STATES: &[&str] = &[
    "present", "absent", "latest", "reloaded", "stopped", "exists",
];

/// `kube`.
///
/// Not query → plan → apply ([`crate::planned`]): kubectl decides (`apply` reports what changed; check mode asks `kubectl diff`), so there is no plan of kplay's to show.
pub struct KubeModule;

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeArgs {
    pub name: Option<String>,
    pub filenames: Vec<String>,
    pub namespace: Option<String>,
    pub resource: Option<String>,
    pub label: Option<String>,
    pub server: Option<String>,
    pub kubeconfig: Option<String>,
    pub kubectl: String,
    pub force: bool,
    pub wait: bool,
    pub all: bool,
    pub log_level: u32,
    pub state: String,
    pub recursive: bool,
}

impl KubeArgs {
    pub fn parse(args: Map) -> Result<KubeArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let filenames = match a.raw("filename") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.trim().to_string()),
                    _ => Err(ModuleError::new(
                        "argument 'filename' must be a string or a list of strings",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(Value::String(s)) => s.split(',').map(|f| f.trim().to_string()).collect(),
            Some(_) => {
                return Err(ModuleError::new(
                    "argument 'filename' must be a string or a list of strings",
                ))
            }
        };
        let filenames: Vec<String> = filenames.into_iter().filter(|f| !f.is_empty()).collect();
        let log_level = a.u32("log_level")?.unwrap_or(0);
        let k = KubeArgs {
            name: a.str("name")?.filter(|s| !s.is_empty()),
            filenames,
            namespace: a.str("namespace")?.filter(|s| !s.is_empty()),
            resource: a.str("resource")?.filter(|s| !s.is_empty()),
            label: a.str("label")?.filter(|s| !s.is_empty()),
            server: a.str("server")?.filter(|s| !s.is_empty()),
            kubeconfig: a.str("kubeconfig")?.filter(|s| !s.is_empty()),
            kubectl: a
                .str("kubectl")?
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "kubectl".into()),
            force: a.flag("force"),
            wait: a.flag("wait"),
            all: a.flag("all"),
            log_level,
            state: a
                .choice("state", STATES)?
                .unwrap_or_else(|| "present".into()),
            recursive: a.flag("recursive"),
        };
        let needs_file = matches!(k.state.as_str(), "present" | "latest" | "reloaded");
        if needs_file && k.filenames.is_empty() && k.resource.is_none() {
            return Err(ModuleError::new(format!(
                "state={} needs filename (the manifests to apply) or resource (to check it exists)",
                k.state
            )));
        }
        if !needs_file && k.filenames.is_empty() && k.resource.is_none() {
            return Err(ModuleError::new(format!(
                "state={} needs filename or resource",
                k.state
            )));
        }
        Ok(k)
    }

    /// `kubectl` with the connection options, quoted for sh.
    pub fn base(&self) -> String {
        let mut c = vec![sh_quote(&self.kubectl)];
        if let Some(s) = &self.server {
            c.push(sh_quote(&format!("--server={s}")));
        }
        if let Some(k) = &self.kubeconfig {
            c.push(sh_quote(&format!("--kubeconfig={k}")));
        }
        if self.log_level > 0 {
            c.push(format!("--v={}", self.log_level));
        }
        if let Some(n) = &self.namespace {
            c.push(sh_quote(&format!("--namespace={n}")));
        }
        c.join(" ")
    }

    /// What the command acts on: the files, or resource [name] with a selector / --all.
    fn target(&self, all_means_namespaces: bool) -> String {
        let mut c = Vec::new();
        if !self.filenames.is_empty() {
            c.push(sh_quote(&format!(
                "--filename={}",
                self.filenames.join(",")
            )));
            if self.recursive {
                c.push("--recursive".to_string());
            }
            return c.join(" ");
        }
        if let Some(r) = &self.resource {
            c.push(sh_quote(r));
        }
        if let Some(n) = &self.name {
            c.push(sh_quote(n));
        }
        if let Some(l) = &self.label {
            c.push(sh_quote(&format!("--selector={l}")));
        }
        if self.all {
            c.push(if all_means_namespaces {
                "--all-namespaces".to_string()
            } else {
                "--all".to_string()
            });
        }
        c.join(" ")
    }

    /// Lists the objects that exist (one `kind/name` a line; nothing when none).
    pub fn get_script(&self) -> String {
        format!(
            "{} get {} -o name --ignore-not-found",
            self.base(),
            self.target(true)
        )
    }

    pub fn apply_script(&self) -> String {
        let mut c = vec![format!("{} apply", self.base())];
        if self.force || self.state == "reloaded" {
            c.push("--force".into());
        }
        if self.wait {
            c.push("--wait".into());
        }
        c.push(self.target(false));
        c.join(" ")
    }

    /// `kubectl diff`: exit 0 no difference, 1 differences (printed), >1 an error.
    pub fn diff_script(&self) -> String {
        format!("{} diff {}", self.base(), self.target(false))
    }

    pub fn delete_script(&self) -> String {
        let mut c = vec![format!("{} delete", self.base())];
        c.push(self.target(false));
        c.push("--ignore-not-found".into());
        if self.wait {
            c.push("--wait".into());
        }
        if self.force {
            c.push("--force --grace-period=0".into());
        }
        c.join(" ")
    }

    /// The replica counts of what `stopped` scales (`kind/name=N`, one a line).
    pub fn replicas_script(&self) -> String {
        format!(
            "{} get {} --ignore-not-found -o go-template={}",
            self.base(),
            self.target(false),
            sh_quote(
                "{{if .items}}{{range .items}}{{.kind}}/{{.metadata.name}}={{.spec.replicas}}{{\"\\n\"}}{{end}}{{else}}{{.kind}}/{{.metadata.name}}={{.spec.replicas}}{{\"\\n\"}}{{end}}"
            )
        )
    }

    pub fn scale_script(&self) -> String {
        format!("{} scale --replicas=0 {}", self.base(), self.target(false))
    }
}

/// Whether `kubectl apply`'s output reports a change: every object line ends in `unchanged`
/// when nothing changed.
pub fn apply_changed(stdout: &str) -> bool {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Warning:"))
        .any(|l| !l.ends_with(" unchanged"))
}

/// Objects `stopped` would scale: those listed with a replica count other than 0.
pub fn running(replicas: &str) -> Vec<String> {
    replicas
        .lines()
        .filter_map(|l| l.trim().rsplit_once('='))
        .filter(|(_, n)| !n.is_empty() && *n != "0" && *n != "<no value>")
        .map(|(o, _)| o.to_string())
        .collect()
}

async fn kubectl(
    ctx: &ModuleContext<'_>,
    script: String,
    ok_rcs: &[i32],
) -> Result<(i32, String, String), ModuleError> {
    let out = run_sh(ctx, script.clone(), None).await?;
    let (o, e) = (out.stdout_str(), out.stderr_str());
    if !ok_rcs.contains(&out.rc) {
        return Err(failure(
            format!(
                "error running kubectl ({script}) command (rc={}): {}",
                out.rc,
                e.trim()
            ),
            out.rc,
            &o,
            &e,
        ));
    }
    Ok((out.rc, o, e))
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[async_trait]
impl Module for KubeModule {
    fn name(&self) -> &'static str {
        "kube"
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let k = KubeArgs::parse(args)?;
        let result = |changed: bool, msg: String, stdout: &str| report(&k, changed, msg, stdout);
        match k.state.as_str() {
            "exists" => {
                let (_, o, _) = kubectl(ctx, k.get_script(), &[0]).await?;
                let exists = !o.trim().is_empty();
                Ok(result(false, exists.to_string(), &o).set("exists", exists))
            }
            "present" | "latest" | "reloaded" if k.filenames.is_empty() => {
                // No manifest: the named objects must exist.
                let (_, o, _) = kubectl(ctx, k.get_script(), &[0]).await?;
                if o.trim().is_empty() {
                    return Err(ModuleError::new(format!(
                        "{} not found (give filename to create it)",
                        k.target(false)
                    )));
                }
                Ok(success(&k, false, &o))
            }
            "present" => {
                // Creates what is missing; objects that exist are left as they are.
                let (_, o, _) = kubectl(ctx, k.get_script(), &[0, 1]).await?;
                let listed = lines(&o).len();
                let (_, wanted, _) = kubectl(
                    ctx,
                    format!(
                        "{} create --dry-run=client -o name {}",
                        k.base(),
                        k.target(false)
                    ),
                    &[0],
                )
                .await?;
                if listed >= lines(&wanted).len() && listed > 0 {
                    return Ok(success(&k, false, &o));
                }
                if ctx.check_mode {
                    return Ok(result(true, "would create".into(), ""));
                }
                apply(ctx, &k).await
            }
            "latest" | "reloaded" => {
                if ctx.check_mode || ctx.diff {
                    let (rc, d, _) = kubectl(ctx, k.diff_script(), &[0, 1]).await?;
                    if ctx.check_mode {
                        let mut r = result(rc == 1, "check mode: kubectl diff".into(), "");
                        if ctx.diff && rc == 1 {
                            r.insert("diff", Value::Array(vec![diff_value(&d)]));
                        }
                        return Ok(r);
                    }
                    let mut r = apply(ctx, &k).await?;
                    if r.changed && rc == 1 {
                        r.insert("diff", Value::Array(vec![diff_value(&d)]));
                    }
                    return Ok(r);
                }
                apply(ctx, &k).await
            }
            "absent" => {
                let (_, o, _) = kubectl(ctx, k.get_script(), &[0]).await?;
                if o.trim().is_empty() {
                    return Ok(result(false, "success: nothing to delete".into(), ""));
                }
                if ctx.check_mode {
                    return Ok(result(
                        true,
                        format!("would delete {}", lines(&o).join(" ")),
                        "",
                    ));
                }
                let (_, d, _) = kubectl(ctx, k.delete_script(), &[0]).await?;
                let changed = lines(&d).iter().any(|l| l.contains("deleted"));
                Ok(success(&k, changed, &d))
            }
            _ => {
                // stopped: scaled to 0 replicas.
                let (_, o, _) = kubectl(ctx, k.replicas_script(), &[0]).await?;
                let up = running(&o);
                if up.is_empty() {
                    return Ok(result(false, "success: nothing running".into(), ""));
                }
                if ctx.check_mode {
                    return Ok(result(
                        true,
                        format!("would scale to 0: {}", up.join(" ")),
                        "",
                    ));
                }
                let (_, s, _) = kubectl(ctx, k.scale_script(), &[0]).await?;
                Ok(success(&k, true, &s))
            }
        }
    }
}

/// The task's result: `msg`, `state`, and kubectl's `stdout` with its lines.
fn report(k: &KubeArgs, changed: bool, msg: String, stdout: &str) -> ModuleResult {
    ModuleResult::new(changed)
        .set("msg", msg)
        .set("state", k.state.as_str())
        .set("stdout", stdout)
        .set(
            "stdout_lines",
            lines(stdout)
                .into_iter()
                .map(Value::String)
                .collect::<Vec<_>>(),
        )
}

/// The result of a kubectl command that did its work: `success:` and the objects it printed.
fn success(k: &KubeArgs, changed: bool, stdout: &str) -> ModuleResult {
    report(k, changed, format!("success: {}", lines(stdout).join(" ")), stdout)
}

/// `kubectl apply` the manifests; changed when its output names an object it changed.
async fn apply(ctx: &ModuleContext<'_>, k: &KubeArgs) -> Result<ModuleResult, ModuleError> {
    let (_, o, _) = kubectl(ctx, k.apply_script(), &[0]).await?;
    Ok(success(k, apply_changed(&o), &o))
}

/// `kubectl diff`'s unified diff as the task's diff (shown as is).
fn diff_value(d: &str) -> Value {
    let mut m = Map::new();
    m.insert("prepared".into(), Value::String(d.to_string()));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::args;
    use serde_json::json;

    fn ka(v: serde_json::Value) -> KubeArgs {
        KubeArgs::parse(args(v)).unwrap()
    }

    #[test]
    fn kubesprays_arguments_and_aliases_are_accepted() {
        let k = ka(json!({
            "name": "kplay-check", "namespace": "kplay-check", "resource": "deploy",
            "kubectl": "/usr/local/bin/kubectl", "state": "absent", "force": "yes",
            "all": false, "wait": true, "log_level": 2, "server": "https://10.0.0.1:6443"
        }));
        assert_eq!(k.state, "absent");
        assert!(k.force && k.wait && !k.all);
        assert_eq!(
            k.base(),
            "/usr/local/bin/kubectl --server=https://10.0.0.1:6443 --v=2 --namespace=kplay-check"
        );
        let f = ka(json!({"files": ["/a.yml", " /b.yml"]}));
        assert_eq!(f.filenames, ["/a.yml", "/b.yml"]);
        assert_eq!(f.state, "present");
        let f = ka(json!({"filename": "/a.yml,/b.yml"}));
        assert_eq!(f.filenames, ["/a.yml", "/b.yml"]);
        assert_eq!(f.apply_script(), "kubectl apply --filename=/a.yml,/b.yml");
    }

    #[test]
    fn bad_arguments_are_refused_before_anything_runs() {
        let e = KubeArgs::parse(args(json!({"state": "present"}))).unwrap_err();
        assert!(e.msg.contains("needs filename"), "{}", e.msg);
        let e = KubeArgs::parse(args(json!({"resource": "po", "state": "gone"}))).unwrap_err();
        assert!(
            e.msg.starts_with("value of state must be one of"),
            "{}",
            e.msg
        );
        let e = KubeArgs::parse(args(json!({"resource": "po", "bogus": 1}))).unwrap_err();
        assert!(
            e.msg
                .contains("Unsupported parameters for (kube) module: bogus"),
            "{}",
            e.msg
        );
        let e = KubeArgs::parse(args(json!({"resource": "po", "log_level": "x"}))).unwrap_err();
        assert!(e.msg.contains("log_level"), "{}", e.msg);
    }

    #[test]
    fn resource_targets_and_scripts() {
        let k = ka(json!({"resource": "svc", "name": "web", "namespace": "ns", "state": "absent"}));
        assert_eq!(
            k.get_script(),
            "kubectl --namespace=ns get svc web -o name --ignore-not-found"
        );
        assert_eq!(
            k.delete_script(),
            "kubectl --namespace=ns delete svc web --ignore-not-found"
        );
        let all = ka(json!({"resource": "po", "label": "app=x", "all": true, "state": "absent"}));
        assert_eq!(
            all.get_script(),
            "kubectl get po --selector=app=x --all-namespaces -o name --ignore-not-found"
        );
        assert!(all.delete_script().contains(" --all "));
    }

    #[test]
    fn apply_output_decides_changed() {
        assert!(!apply_changed(
            "namespace/kplay-check unchanged\ndeployment.apps/kplay-check unchanged\n"
        ));
        assert!(apply_changed(
            "namespace/kplay-check unchanged\ndeployment.apps/kplay-check configured\n"
        ));
        assert!(apply_changed("service/kplay-check created\n"));
        assert!(!apply_changed(
            "Warning: resource x is missing the last-applied annotation\nsvc/x unchanged\n"
        ));
    }

    #[test]
    fn stopped_scales_only_what_runs() {
        assert_eq!(
            running("Deployment/a=2\nDeployment/b=0\nStatefulSet/c=<no value>\n"),
            ["Deployment/a"]
        );
        assert!(running("").is_empty());
    }
}
