//! `redhat_subscription` (community.general): registering a host with Red Hat Subscription
//! Management needs Red Hat's servers on the Internet, which an air-gapped kplay install never
//! has. The module is known (playbooks load, arguments are checked) and fails with a clear
//! "not supported offline" message instead of an unknown-action error. Only its arguments live
//! here; the module is [`crate::packages::offline_refused::OfflineRefused`] over this `SPEC`.

use crate::common::args::{p, Param, Spec};

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
