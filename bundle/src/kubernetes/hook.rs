//! What `kplay bundle build --kubernetes-from debian-source` calls (the contract with
//! [`crate::build`], whose `kubernetes` hook calls [`build`]): `build` receives the `offline_images` whose `build.type` is `kubernetes`,
//! writes them into the bundle's image layout under each spec's reference, puts the node
//! binaries under `files/` where the roles download them, caches under `ctx.cache/kubernetes`, and
//! returns one line per thing made, for the manifest.
//!
//! Node binaries go where kubespray's download URLs point (`files_repo` + `/HOST/PATH`):
//! `dl.k8s.io/release/VERSION/bin/linux/ARCH/{kubeadm,kubelet,kubectl}`, and kplay's crictl subset
//! at `kplay.local/kubernetes/VERSION/linux/ARCH/crictl` (no upstream URL: it is not cri-tools).
//! Images a spec can name: `kube-apiserver`, `kube-controller-manager`, `kube-scheduler`,
//! `kube-proxy` (tag: the Kubernetes version), `etcd` (Debian's etcd version + `-0`), `pause` (3.2).

use std::fs;
use std::path::Path;

pub use crate::build::KubernetesContext;
use crate::vars::ImageSpec;

use super::{build_from_debian_source, prepare_control_plane_images, Build, Options};

/// Binaries a node downloads from the bundle, and the `files/` path of each.
pub fn node_files(build: &Build, arch: &str) -> Vec<(String, String)> {
    let v = &build.version;
    let mut out: Vec<(String, String)> = ["kubeadm", "kubelet", "kubectl"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                format!("dl.k8s.io/release/{v}/bin/linux/{arch}/{n}"),
            )
        })
        .collect();
    out.push((
        "crictl".into(),
        format!("kplay.local/kubernetes/{v}/linux/{arch}/crictl"),
    ));
    out
}

/// Builds (or reuses) the binaries, writes the images `specs` ask for and the node binaries.
pub fn build(
    source: &str,
    ctx: &KubernetesContext<'_>,
    specs: &[&ImageSpec],
) -> Result<Vec<String>, String> {
    if source != "debian-source" {
        return Err(format!(
            "--kubernetes-from {source}: unknown source (known: debian-source)"
        ));
    }
    let opts = Options {
        cache_root: ctx.cache.join("kubernetes"),
        ..Options::default()
    };
    let mut progress = |l: &str| (ctx.progress)(l);
    let built = build_from_debian_source(&opts, &mut progress).map_err(|e| e.to_string())?;
    let mut lines = Vec::new();
    let arch = built
        .go_arch()
        .ok_or("the build records no architecture")?
        .to_string();
    for (name, rel) in node_files(&built, &arch) {
        let src = built
            .binary(&name)
            .ok_or_else(|| format!("{name} is missing from the Kubernetes build"))?;
        let dest = ctx.files_dir.join(&rel);
        copy(src, &dest)?;
        lines.push(format!("files/{rel} ({name} {})", built.version));
    }
    if specs.is_empty() {
        return Ok(lines);
    }
    let prepared =
        prepare_control_plane_images(&built, &opts, &mut progress).map_err(|e| e.to_string())?;
    let made = prepared.names();
    for spec in specs {
        let Some((_, tag)) = made.iter().find(|(n, _)| *n == spec.name) else {
            let known: Vec<&str> = made.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!(
                "offline_images.{}: the Kubernetes build makes no such image (it makes: {})",
                spec.name,
                known.join(", ")
            ));
        };
        if *tag != spec.tag {
            return Err(format!(
                "offline_images.{}: tag {:?} asked, but the Debian source build makes {tag:?}; set tag: {tag:?}",
                spec.name, spec.tag
            ));
        }
        let w = prepared
            .write(&spec.name, &spec.reference(), ctx.images)
            .map_err(|e| e.to_string())?;
        lines.push(format!("{} {}", w.reference, w.manifest.digest));
    }
    Ok(lines)
}

/// Copies a binary into the bundle (temp file, then rename: never half-written).
fn copy(src: &Path, dest: &Path) -> Result<(), String> {
    let dir = dest.parent().ok_or("bad destination")?;
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        dest.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("binary")
    ));
    fs::copy(src, &tmp).map_err(|e| format!("copying {}: {e}", src.display()))?;
    fs::rename(&tmp, dest).map_err(|e| format!("renaming to {}: {e}", dest.display()))
}
