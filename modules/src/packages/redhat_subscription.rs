//! `redhat_subscription` (community.general): registering a host with Red Hat Subscription
//! Management needs Red Hat's servers on the Internet, which an air-gapped kplay install never
//! has. The module is known (playbooks load, arguments are checked) and fails with a clear
//! "not supported offline" message instead of an unknown-action error.

use crate::common::args::{p, Param, Spec};
use async_trait::async_trait;
use kplay_engine::module::{Module, ModuleContext, ModuleError, ModuleResult};
use kplay_engine::value::Map;

const PARAMS: &[Param] = &[
    p("state", &[])
        .choices(&["absent", "present"])
        .default_str("present")
        .doc("Register (present) or unregister (absent)."),
    p("username", &[]).str().doc("Red Hat account user."),
    p("password", &[])
        .str()
        .doc("Red Hat account password (never logged)."),
    p("token", &[])
        .str()
        .doc("Offline token for the Red Hat API."),
    p("activationkey", &[]).str().doc("Activation key."),
    p("org_id", &[]).str().doc("Organisation ID."),
    p("environment", &[]).str().doc("Content environment."),
    p("pool_ids", &[]).list().doc("Pools to attach."),
    p("auto_attach", &[])
        .bool()
        .doc("Attach compatible subscriptions automatically."),
    p("force_register", &[])
        .flag(false)
        .doc("Register even when already registered."),
    p("release", &[]).str().doc("Release version to set."),
    p("syspurpose", &[])
        .dict()
        .doc("System purpose attributes."),
    p("consumer_type", &[]).str().doc("Consumer type."),
    p("consumer_name", &[]).str().doc("Consumer name."),
    p("consumer_id", &[]).str().doc("Existing consumer ID."),
    p("server_hostname", &[]).str().doc("Subscription server."),
    p("server_insecure", &[])
        .str()
        .doc("Skip TLS checks of the server."),
    p("server_prefix", &[]).str().doc("Server path prefix."),
    p("server_port", &[]).str().doc("Server port."),
    p("server_proxy_hostname", &[]).str().doc("Proxy host."),
    p("server_proxy_scheme", &[]).str().doc("Proxy scheme."),
    p("server_proxy_port", &[]).str().doc("Proxy port."),
    p("server_proxy_user", &[]).str().doc("Proxy user."),
    p("server_proxy_password", &[])
        .str()
        .doc("Proxy password (never logged)."),
    p("rhsm_baseurl", &[]).str().doc("Content delivery URL."),
    p("rhsm_repo_ca_cert", &[])
        .str()
        .doc("CA certificate for content."),
];

/// `redhat_subscription`'s declared arguments.
pub static SPEC: Spec = Spec::new(
    "redhat_subscription",
    "Manage registration and subscriptions to RHSM (refused: needs the Internet)",
    &[PARAMS],
);

/// The failure both subscription-manager modules give.
pub fn offline_refusal(module: &str) -> ModuleError {
    ModuleError::new(format!(
        "{module}: Red Hat Subscription Management is not supported offline: it needs Red Hat's \
         servers, which an air-gapped kplay install cannot reach. Serve the packages from a local \
         repository instead (kplay's bundle, or yum_repository pointing at a mirror)."
    ))
}

pub struct RedhatSubscriptionModule;

#[async_trait]
impl Module for RedhatSubscriptionModule {
    fn name(&self) -> &'static str {
        "redhat_subscription"
    }

    fn collections(&self) -> &'static [&'static str] {
        &["community.general"]
    }

    async fn run(&self, _ctx: &ModuleContext<'_>, args: Map) -> Result<ModuleResult, ModuleError> {
        SPEC.parse(args)?;
        Err(offline_refusal("redhat_subscription"))
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
        let e = RedhatSubscriptionModule
            .run(&ctx(&env, false, false), args(json!({"username": "u", "password": "p", "auto_attach": true})))
            .await.map(|r| r.into_map())
            .unwrap_err();
        assert!(e.msg.contains("not supported offline"), "{}", e.msg);
        assert!(!e.msg.contains("p,") && !e.msg.contains("\"p\""));
        let e = RedhatSubscriptionModule
            .run(&ctx(&env, false, false), args(json!({"nope": 1})))
            .await.map(|r| r.into_map())
            .unwrap_err();
        assert!(e.msg.starts_with("Unsupported parameters for (redhat_subscription) module: nope"), "{}", e.msg);
    }
    }
}
