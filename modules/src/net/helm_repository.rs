//! `helm_repository` (kubernetes.core.helm_repository): a chart repository is known to the
//! target's `helm` under `name` with `repo_url` (present) or not (absent). `helm repo list -o
//! json` is read first; `helm repo add` runs only when the name is missing or points elsewhere
//! (with `--force-update` then), `helm repo remove` only when it is there. Credentials go to
//! helm on stdin-free flags and are never put in the result. Check mode only reads.

use crate::common::args::{p, Param, Spec};
use crate::common::reads::{ensure_ok, read_all, Read};
use crate::common::run_sh;
use crate::planned::{Plan, Presence, QueryPlanApply};
use async_trait::async_trait;
use kplay_engine::module::{ModuleContext, ModuleError, ModuleResult};
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

/// Checked arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoArgs {
    pub name: String,
    pub url: Option<String>,
    pub state: Presence,
    pub username: Option<String>,
    /// Goes to helm on stdin, never into a command line or a result.
    pub password: Option<String>,
    pub pass_credentials: bool,
    pub force_update: bool,
    /// `helm` (or `binary_path`), sh-quoted.
    pub helm: String,
}

/// The `helm repo add`/`remove` command line.
pub type Changes = String;

#[async_trait]
impl QueryPlanApply for HelmRepositoryModule {
    type Args = RepoArgs;
    /// The URL helm has for the repository, `None` when it has none of that name.
    type Seen = Option<String>;
    type Changes = Changes;

    fn name(&self) -> &'static str {
        "helm_repository"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["kubernetes.core"]
    }

    fn parse(&self, args: Map) -> Result<RepoArgs, ModuleError> {
        let a = SPEC.parse(args)?;
        let state = Presence::from_arg(&a, "repo_state")?;
        let url = a.str("repo_url")?;
        if state == Presence::Present && url.is_none() {
            return Err(ModuleError::new(
                "state is present but all of the following are missing: repo_url",
            ));
        }
        Ok(RepoArgs {
            name: a.required_str("repo_name")?,
            url,
            state,
            username: a.str("repo_username")?,
            password: a.str("repo_password")?,
            pass_credentials: a.flag("pass_credentials"),
            force_update: a.flag("force_update"),
            helm: sh_quote(&a.str("binary_path")?.unwrap_or_else(|| "helm".into())),
        })
    }

    async fn query(
        &self,
        ctx: &ModuleContext<'_>,
        a: &RepoArgs,
    ) -> Result<Option<String>, ModuleError> {
        let helm = &a.helm;
        let r = read_all(
            ctx,
            &[Read::new("list", format!("{helm} repo list -o json")).merged()],
        )
        .await?;
        let list = r.get("list");
        // helm exits 1 with "no repositories to show" when none are configured.
        if list.ok() {
            Ok(current_url(&list.out, &a.name))
        } else if list.out.contains("no repositories") {
            Ok(None)
        } else {
            Err(ModuleError::new(format!(
                "{helm} repo list failed: {}",
                list.out.trim()
            )))
        }
    }

    fn plan(a: &RepoArgs, current: &Option<String>) -> Result<Plan<String>, ModuleError> {
        let (helm, q) = (&a.helm, sh_quote(&a.name));
        let script = match (a.state, current) {
            (Presence::Present, Some(u)) if Some(u) == a.url.as_ref() && !a.force_update => None,
            (Presence::Present, cur) => {
                let mut cmd = format!(
                    "{helm} repo add {q} {}",
                    sh_quote(a.url.as_deref().unwrap_or_default())
                );
                if let Some(u) = &a.username {
                    cmd.push_str(&format!(" --username {}", sh_quote(u)));
                }
                // On stdin, never in argv: a command line is readable by every user in `ps`.
                if a.password.is_some() {
                    cmd.push_str(" --password-stdin");
                }
                if a.pass_credentials {
                    cmd.push_str(" --pass-credentials");
                }
                if cur.is_some() {
                    cmd.push_str(" --force-update");
                }
                Some(cmd)
            }
            (Presence::Absent, Some(_)) => Some(format!("{helm} repo remove {q}")),
            (Presence::Absent, None) => None,
        };
        let result = ModuleResult::new(false)
            .set("repo_name", a.name.as_str())
            .set("repo_url", a.url.clone().unwrap_or_default());
        Ok(Plan::maybe(script, result))
    }

    async fn apply(
        &self,
        ctx: &ModuleContext<'_>,
        a: &RepoArgs,
        script: String,
        result: ModuleResult,
    ) -> Result<ModuleResult, ModuleError> {
        let stdin = a.password.as_ref().map(|p| format!("{p}\n").into_bytes());
        let out = run_sh(ctx, script, stdin).await?;
        ensure_ok(&out, |_, e| format!("helm repo failed: {}", e.trim()))?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ra(v: serde_json::Value) -> RepoArgs {
        HelmRepositoryModule
            .parse(v.as_object().cloned().unwrap_or_default())
            .unwrap()
    }

    #[test]
    fn plan_adds_a_missing_or_moved_repository_with_the_password_on_stdin() {
        let a = ra(
            serde_json::json!({"name": "stable", "url": "https://c/s", "username": "u", "password": "s3cret"}),
        );
        let p = HelmRepositoryModule::plan(&a, &None).unwrap();
        let cmd = p.changes.unwrap();
        assert_eq!(
            cmd,
            "helm repo add stable https://c/s --username u --password-stdin"
        );
        assert!(!cmd.contains("s3cret") && !format!("{:?}", p.result).contains("s3cret"));
        let moved = HelmRepositoryModule::plan(&a, &Some("https://old".into())).unwrap();
        assert!(moved.changes.unwrap().ends_with(" --force-update"));
        let same = HelmRepositoryModule::plan(&a, &Some("https://c/s".into())).unwrap();
        assert!(same.changes.is_none() && !same.result.changed);
    }

    #[test]
    fn plan_removes_only_a_known_repository() {
        let a = ra(serde_json::json!({"name": "x", "state": "absent", "binary_path": "/opt/helm"}));
        let p = HelmRepositoryModule::plan(&a, &Some("u".into())).unwrap();
        assert_eq!(p.changes.as_deref(), Some("/opt/helm repo remove x"));
        assert!(HelmRepositoryModule::plan(&a, &None)
            .unwrap()
            .changes
            .is_none());
    }

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
