//! `rhsm_repository` (community.general): enabling Red Hat CDN repositories through
//! subscription-manager needs a registered host and Red Hat's servers; refused offline with the
//! same clear message as `redhat_subscription`, after the arguments are checked. Only its
//! arguments live here; the module is [`crate::packages::offline_refused::OfflineRefused`] over
//! this `SPEC`.

use crate::common::args::{p, Param, Spec};

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
