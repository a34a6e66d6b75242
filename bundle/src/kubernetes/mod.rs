//! `kplay bundle build --kubernetes-from debian-source`: Kubernetes binaries and control-plane
//! images built from Debian 12's source package. Owned by the `k8s` branch; this is the hook the
//! build calls.
//!
//! Contract with [`crate::build`]: `build` receives the images whose `build.type` is
//! `kubernetes` and the places to write to; it adds its images to `ctx.images` (an
//! [`crate::oci::OciDir`], named by each spec's reference) and its binaries under
//! `ctx.files_dir` (HOST/PATH of their `offline_files` URL), caching its expensive work under
//! `ctx.cache`, and returns one line per thing made, for the manifest.

use std::path::Path;

use crate::oci::OciDir;
use crate::vars::ImageSpec;

/// Where the Kubernetes build writes and caches.
pub struct KubernetesContext<'a> {
    /// `/var/cache/kplay` (use a `kubernetes/<hash of inputs>` directory below it).
    pub cache: &'a Path,
    pub images: &'a OciDir,
    pub files_dir: &'a Path,
    /// Progress lines for the user.
    pub progress: &'a dyn Fn(&str),
}

/// Builds `specs` (may be empty: then only binaries). Until the `k8s` branch lands this says so.
pub fn build(
    source: &str,
    _ctx: &KubernetesContext<'_>,
    specs: &[&ImageSpec],
) -> Result<Vec<String>, String> {
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    Err(format!(
        "--kubernetes-from {source}: not available in this build yet (images: {})",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    ))
}
