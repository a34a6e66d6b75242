//! A module that only refuses: what it does needs servers on the Internet, which an air-gapped
//! kplay install never reaches. It is still a known module (playbooks load, `kplay doc` shows
//! it, its arguments are checked against its `SPEC` with ansible-core's wording) and fails with
//! a clear "not supported offline" message instead of an unknown-action error. One value of
//! this type per refused module, so each is one registration line and a `SPEC`.
//!
//! Not query→plan→apply: there is no state to reach, the refusal is the whole behaviour.

use crate::common::args::Spec;
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::Map;

/// Why the Red Hat Subscription Management modules are refused, after `MODULE: `.
const RHSM: &str = "Red Hat Subscription Management is not supported offline: it needs Red \
                    Hat's servers, which an air-gapped kplay install cannot reach. Serve the \
                    packages from a local repository instead (kplay's bundle, or yum_repository \
                    pointing at a mirror).";

/// The refused module declared by `spec` (its name is the spec's).
pub struct OfflineRefused {
    spec: &'static Spec,
    collections: &'static [&'static str],
    why: &'static str,
}

impl OfflineRefused {
    /// A community.general module driving subscription-manager (`redhat_subscription`,
    /// `rhsm_repository`).
    pub const fn rhsm(spec: &'static Spec) -> Self {
        OfflineRefused {
            spec,
            collections: &["community.general"],
            why: RHSM,
        }
    }

    /// The failure every run ends with once the arguments are accepted.
    fn refusal(&self) -> ModuleError {
        ModuleError::new(format!("{}: {}", self.spec.module, self.why))
    }
}

#[async_trait]
impl Module for OfflineRefused {
    fn name(&self) -> &'static str {
        self.spec.module
    }

    fn collections(&self) -> &'static [&'static str] {
        self.collections
    }

    async fn run(&self, _ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        self.spec.parse(args)?;
        Err(self.refusal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::{redhat_subscription, rhsm_repository};
    use crate::testutil::{args, ctx, TestEnv};
    use serde_json::json;

    #[test]
    fn the_refusal_is_the_exact_text_users_have_seen() {
        let m = OfflineRefused::rhsm(&redhat_subscription::SPEC);
        assert_eq!(
            m.refusal().msg,
            "redhat_subscription: Red Hat Subscription Management is not supported offline: it \
             needs Red Hat's servers, which an air-gapped kplay install cannot reach. Serve the \
             packages from a local repository instead (kplay's bundle, or yum_repository \
             pointing at a mirror)."
        );
        assert_eq!(
            (m.name(), m.collections()),
            ("redhat_subscription", &["community.general"][..])
        );
        let m = OfflineRefused::rhsm(&rhsm_repository::SPEC);
        assert_eq!(
            (m.name(), m.collections()),
            ("rhsm_repository", &["community.general"][..])
        );
    }

    crate::testutil::both_paths! {
    async fn redhat_subscription_refuses_clearly_after_checking_arguments() {
        let env = TestEnv::new(std::path::Path::new("/"));
        let m = OfflineRefused::rhsm(&redhat_subscription::SPEC);
        let e = m
            .run(&ctx(&env, false, false), args(json!({"username": "u", "password": "p", "auto_attach": true})))
            .await.map(|r| r.into_map())
            .unwrap_err();
        assert!(e.msg.contains("not supported offline"), "{}", e.msg);
        assert!(!e.msg.contains("p,") && !e.msg.contains("\"p\""));
        let e = m
            .run(&ctx(&env, false, false), args(json!({"nope": 1})))
            .await.map(|r| r.into_map())
            .unwrap_err();
        assert!(e.msg.starts_with("Unsupported parameters for (redhat_subscription) module: nope"), "{}", e.msg);
    }

    async fn rhsm_repository_refuses_clearly_after_checking_arguments() {
        let env = TestEnv::new(std::path::Path::new("/"));
        let m = OfflineRefused::rhsm(&rhsm_repository::SPEC);
        let e = m
            .run(&ctx(&env, false, false), args(json!({"name": ["rhel-9-for-x86_64-baseos-rpms"]})))
            .await.map(|r| r.into_map())
            .unwrap_err();
        assert!(e.msg.starts_with("rhsm_repository: Red Hat Subscription Management is not supported offline"), "{}", e.msg);
        let e = m
            .run(&ctx(&env, false, false), args(json!({"state": "enabled"})))
            .await.map(|r| r.into_map())
            .unwrap_err();
        assert_eq!(e.msg, "missing required arguments: name");
    }
    }
}
