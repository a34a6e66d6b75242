//! `rhsm_repository` (community.general): enabling Red Hat CDN repositories through
//! subscription-manager needs a registered host and Red Hat's servers; refused offline with the
//! same clear message as `redhat_subscription`, after the arguments are checked.

use crate::common::args::{p, Param, Spec};
use crate::redhat_subscription::offline_refusal;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[
    p("name", &[])
        .list()
        .required()
        .doc("Repository IDs (globs allowed)."),
    p("state", &[])
        .choices(&["absent", "disabled", "enabled", "present"])
        .default_str("enabled")
        .doc("Whether the repositories should be enabled."),
    p("purge", &[])
        .flag(false)
        .doc("Disable every repository not named."),
];

/// `rhsm_repository`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "rhsm_repository",
    "Manage RHSM repositories using the subscription-manager command (refused: needs the Internet)",
    &[PARAMS],
);

pub struct RhsmRepositoryModule;

#[async_trait]
impl Module for RhsmRepositoryModule {
    fn name(&self) -> &'static str {
        "rhsm_repository"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["community.general"]
    }

    async fn run(&self, _ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        SPEC.parse(args)?;
        Err(offline_refusal("rhsm_repository"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    crate::testutil::both_paths! {
    async fn refuses_clearly_after_checking_arguments() {
        let env = TestEnv::new(std::path::Path::new("/"));
        let e = RhsmRepositoryModule
            .run(&ctx(&env, false, false), args(json!({"name": ["rhel-9-for-x86_64-baseos-rpms"]})))
            .await.map(|r| r.into_map())
            .unwrap_err();
        assert!(e.msg.starts_with("rhsm_repository: Red Hat Subscription Management is not supported offline"), "{}", e.msg);
        let e = RhsmRepositoryModule
            .run(&ctx(&env, false, false), args(json!({"state": "enabled"})))
            .await.map(|r| r.into_map())
            .unwrap_err();
        assert_eq!(e.msg, "missing required arguments: name");
    }
    }
}
