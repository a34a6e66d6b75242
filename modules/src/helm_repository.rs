//! `helm_repository` (kubernetes.core.helm_repository): a chart repository is known to the
//! target's `helm` under `name` with `repo_url` (present) or not (absent). `helm repo list -o
//! json` is read first; `helm repo add` runs only when the name is missing or points elsewhere
//! (with `--force-update` then), `helm repo remove` only when it is there. Credentials go to
//! helm on stdin-free flags and are never put in the result. Check mode only reads.

use crate::common::args::{p, Param, Spec};
use crate::common::run_sh;
use crate::sysprobe::{failure, read_all, Read};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::transport::sh_quote;
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[
    p("repo_name", &["name"])
        .str()
        .required()
        .doc("Name of the chart repository."),
    p("repo_url", &["url"])
        .str()
        .doc("URL of the chart repository (required for present)."),
    p("repo_state", &["state"])
        .choices(&["present", "absent"])
        .default_str("present")
        .doc("Whether the repository should be known."),
    p("repo_username", &["username"])
        .str()
        .doc("Repository user."),
    p("repo_password", &["password"])
        .str()
        .doc("Repository password (never logged)."),
    p("pass_credentials", &[])
        .flag(false)
        .doc("Pass the credentials to every domain."),
    p("force_update", &["force"])
        .flag(false)
        .doc("Replace an existing repository of that name."),
    p("binary_path", &[])
        .path()
        .doc("Path of the helm binary (default `helm` on PATH)."),
];

/// `helm_repository`'s declared arguments.
pub static SPEC: Spec = Spec::new("helm_repository", "Manage Helm repositories", &[PARAMS]);

/// `kubernetes.core.helm_repository`.
pub struct HelmRepositoryModule;

/// The URL `helm repo list -o json` gives for `name`, `None` when it has no such repository.
pub fn current_url(json: &str, name: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    v.as_array()?.iter().find_map(|r| {
        (r.get("name")?.as_str()? == name).then(|| {
            r.get("url")
                .and_then(|u| u.as_str())
                .unwrap_or("")
                .to_string()
        })
    })
}

#[async_trait]
impl Module for HelmRepositoryModule {
    fn name(&self) -> &'static str {
        "helm_repository"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["kubernetes.core"]
    }

    async fn run(&self, ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        let a = SPEC.parse(args)?;
        let name = a.required_str("repo_name")?;
        let present = a.required_str("repo_state")? == "present";
        let url = a.str("repo_url")?;
        if present && url.is_none() {
            return Err(ModuleError::new(
                "state is present but all of the following are missing: repo_url",
            ));
        }
        let helm = sh_quote(&a.str("binary_path")?.unwrap_or_else(|| "helm".into()));
        let r = read_all(
            ctx,
            &[Read::new("list", format!("{helm} repo list -o json")).merged()],
        )
        .await?;
        let list = r.get("list");
        // helm exits 1 with "no repositories to show" when none are configured.
        let current = if list.ok() {
            current_url(&list.out, &name)
        } else if list.out.contains("no repositories") {
            None
        } else {
            return Err(ModuleError::new(format!(
                "{helm} repo list failed: {}",
                list.out.trim()
            )));
        };
        let q = sh_quote(&name);
        let password = a.str("repo_password")?;
        let script = match (present, &current) {
            (true, Some(u)) if Some(u) == url.as_ref() && !a.flag("force_update") => None,
            (true, cur) => {
                let mut cmd = format!(
                    "{helm} repo add {q} {}",
                    sh_quote(url.as_deref().unwrap_or_default())
                );
                if let Some(u) = a.str("repo_username")? {
                    cmd.push_str(&format!(" --username {}", sh_quote(&u)));
                }
                // On stdin, never in argv: a command line is readable by every user in `ps`.
                if password.is_some() {
                    cmd.push_str(" --password-stdin");
                }
                if a.flag("pass_credentials") {
                    cmd.push_str(" --pass-credentials");
                }
                if cur.is_some() {
                    cmd.push_str(" --force-update");
                }
                Some(cmd)
            }
            (false, Some(_)) => Some(format!("{helm} repo remove {q}")),
            (false, None) => None,
        };
        let result = ModuleResult::new(script.is_some())
            .set("repo_name", name.as_str())
            .set("repo_url", url.clone().unwrap_or_default());
        let Some(script) = script.filter(|_| !ctx.check_mode) else {
            return Ok(result);
        };
        let out = run_sh(ctx, script, password.map(|p| format!("{p}\n").into_bytes())).await?;
        if out.rc != 0 {
            let (o, e) = (out.stdout_str(), out.stderr_str());
            return Err(failure(
                format!("helm repo failed: {}", e.trim()),
                out.rc,
                &o,
                &e,
            ));
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_url_is_read_from_helm_json() {
        let j =
            r#"[{"name":"stable","url":"https://charts.example/stable"},{"name":"x","url":"u"}]"#;
        assert_eq!(
            current_url(j, "stable").as_deref(),
            Some("https://charts.example/stable")
        );
        assert_eq!(current_url(j, "nope"), None);
        assert_eq!(current_url("garbage", "x"), None);
    }
}
