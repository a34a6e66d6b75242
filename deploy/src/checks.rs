//! What `kplay deploy` can refuse before contacting any host: a bundle that is not there, an
//! inventory without the groups the steps need, an etcd member count that cannot keep quorum.
//! The preflight step checks the hosts themselves (OS, ports, clock, duplicates) once connected.

use crate::error::DeployError;
use kplay_engine::inventory::Inventory;
use std::path::Path;

/// The file that makes a directory a kplay bundle (written last by `kplay bundle build`).
pub const BUNDLE_MANIFEST: &str = "manifest.json";

fn hosts_of(inv: &Inventory, group: &str) -> Vec<String> {
    inv.groups_map().get(group).cloned().unwrap_or_default()
}

/// The etcd group: present, non-empty, odd.
pub fn etcd_members(inv: &Inventory) -> Result<(), DeployError> {
    let etcd = hosts_of(inv, "etcd");
    if etcd.is_empty() {
        return Err(DeployError::Refused(
            "the inventory has no etcd hosts: add an [etcd] group with 1, 3 or 5 hosts \
             (usually the kube_control_plane hosts)"
                .into(),
        ));
    }
    if etcd.len().is_multiple_of(2) {
        return Err(DeployError::Refused(format!(
            "the inventory has {} etcd hosts ({}): etcd needs an odd number of members (1, 3 or 5) \
             to keep a quorum when one fails; add or remove one in the [etcd] group",
            etcd.len(),
            etcd.join(", ")
        )));
    }
    Ok(())
}

/// Why 03-05 are left out when the bundle has no Kubernetes.
pub const NO_KUBERNETES: &str = "the bundle carries no Kubernetes images (list them in \
     offline_images as group_vars/all/offline.yml does and build it again: `kplay bundle build` \
     makes them with --kubernetes-from debian-source, see docs/kubernetes-in-the-lab.md)";

/// Whether the bundle in `dir` carries Kubernetes (images made by its Kubernetes build). An
/// unreadable manifest counts as "yes": the steps then run and say what is missing themselves.
pub fn bundle_has_kubernetes(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join(BUNDLE_MANIFEST)) else {
        return true;
    };
    let Ok(m) = serde_json::from_str::<serde_json::Value>(&text) else {
        return true;
    };
    m.get("images")
        .and_then(|i| i.as_array())
        .is_some_and(|images| {
            images.iter().any(|i| {
                i.get("build")
                    .and_then(|b| b.as_str())
                    .is_some_and(|b| b.starts_with("kubernetes"))
            })
        })
}

/// The bootstrap group: exactly one host, which serves the bundle and the registry.
pub fn bootstrap_node(inv: &Inventory) -> Result<String, DeployError> {
    let hosts = hosts_of(inv, "bootstrap");
    match hosts.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(DeployError::Refused(
            "the inventory has no bootstrap node: add a [bootstrap] group with the one host that \
             serves the bundle (HTTP and image registry) to the others"
                .into(),
        )),
        many => Err(DeployError::Refused(format!(
            "the [bootstrap] group has {} hosts ({}): it must hold exactly one",
            many.len(),
            many.join(", ")
        ))),
    }
}

/// The bundle directory: present and made by `kplay bundle build`. Returns its identity (the
/// manifest's sha256), which decides whether the bootstrap node needs it again.
pub fn bundle(dir: &Path) -> Result<String, DeployError> {
    let how =
        "build one with `kplay bundle build --output DIR` on a machine that has the sources, \
               copy DIR here, and pass --bundle DIR";
    if !dir.exists() {
        return Err(DeployError::Refused(format!(
            "the bundle {} does not exist: {how}",
            dir.display()
        )));
    }
    if !dir.is_dir() {
        return Err(DeployError::Refused(format!(
            "the bundle {} is not a directory: {how}",
            dir.display()
        )));
    }
    let manifest = dir.join(BUNDLE_MANIFEST);
    let data = std::fs::read(&manifest).map_err(|_| {
        DeployError::Refused(format!(
            "{} is not a kplay bundle (no {BUNDLE_MANIFEST}; an interrupted build leaves none): {how}",
            dir.display()
        ))
    })?;
    use sha2::Digest;
    Ok(hex::encode(sha2::Sha256::digest(&data))[..16].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(text: &str) -> Inventory {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("hosts.ini");
        std::fs::write(&p, text).unwrap();
        Inventory::load(&[p.display().to_string()]).unwrap()
    }

    #[test]
    fn an_inventory_without_etcd_hosts_is_refused_saying_what_to_add() {
        let e = etcd_members(&inv("[kube_control_plane]\nn1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no etcd hosts") && e.contains("[etcd]"), "{e}");
        let e = etcd_members(&inv("[etcd]\n")).unwrap_err().to_string();
        assert!(e.contains("no etcd hosts"), "{e}");
    }

    #[test]
    fn an_even_etcd_member_count_is_refused_and_odd_ones_pass() {
        let e = etcd_members(&inv("[etcd]\nn1\nn2\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("2 etcd hosts (n1, n2)") && e.contains("odd"),
            "{e}"
        );
        etcd_members(&inv("[etcd]\nn1\n")).unwrap();
        etcd_members(&inv("[etcd]\nn[1:3]\n")).unwrap();
        // Members through child groups count too.
        let e = etcd_members(&inv("[a]\nn1\n[b]\nn2\n[etcd:children]\na\nb\n")).unwrap_err();
        assert!(e.to_string().contains("2 etcd hosts"));
    }

    #[test]
    fn the_bootstrap_group_must_hold_exactly_one_host() {
        assert_eq!(bootstrap_node(&inv("[bootstrap]\nb1\n")).unwrap(), "b1");
        let e = bootstrap_node(&inv("[etcd]\nn1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no bootstrap node"), "{e}");
        let e = bootstrap_node(&inv("[bootstrap]\nb1\nb2\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 hosts (b1, b2)"), "{e}");
    }

    #[test]
    fn a_missing_or_unfinished_bundle_is_refused_saying_how_to_make_one() {
        let d = tempfile::tempdir().unwrap();
        let e = bundle(&d.path().join("nope")).unwrap_err().to_string();
        assert!(
            e.contains("does not exist") && e.contains("kplay bundle build"),
            "{e}"
        );
        let e = bundle(d.path()).unwrap_err().to_string();
        assert!(e.contains("not a kplay bundle"), "{e}");
        std::fs::write(d.path().join(BUNDLE_MANIFEST), "{}").unwrap();
        let id = bundle(d.path()).unwrap();
        std::fs::write(d.path().join(BUNDLE_MANIFEST), "{\"v\":2}").unwrap();
        assert_ne!(bundle(d.path()).unwrap(), id);
    }
}
