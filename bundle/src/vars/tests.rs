use super::*;
use std::fs;

/// A content dir whose playbooks/group_vars/all holds the repository's own offline.yml plus
/// `extra` (a second file, later in name order, as a site would add).
fn content(extra: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("playbooks/group_vars/all");
    fs::create_dir_all(&all).unwrap();
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("../group_vars/all/offline.yml");
    fs::copy(ours, all.join("offline.yml")).unwrap();
    fs::write(all.join("zz-site.yml"), extra).unwrap();
    tmp
}

fn src(dir: &Path) -> VarsSource {
    VarsSource {
        playbook_dir: dir.join("playbooks"),
        ..Default::default()
    }
}

#[test]
fn the_shipped_offline_yml_loads() {
    let tmp = content("---\n{}\n");
    let v = load(&src(tmp.path())).unwrap();
    assert!(v.packages["os"].contains(&"chrony".to_string()));
    assert_eq!(v.packages["etcd"], vec!["etcd-server", "etcd-client"]);
    let all = v.all_packages();
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    assert_eq!(
        v.features_of("haproxy"),
        vec!["offline_packages.apiserver_ha"]
    );
    assert_eq!(v.release, "bookworm");
    assert_eq!(v.architecture, "amd64");
    assert_eq!(v.suite, "kplay");
    assert_eq!(v.registry_host, "registry.kplay.local:5000");
    let smoke = v.images.iter().find(|i| i.name == "smoke").unwrap();
    assert_eq!(
        smoke.reference(),
        "registry.kplay.local:5000/kplay/smoke:1.35.0"
    );
    assert_eq!(smoke.build_type(), "debs");
    assert!(v.files.is_empty());
}

#[test]
fn values_follow_precedence_and_templates() {
    let tmp = content(
        "---\nregistry_domain: reg.example\noffline_files:\n  etcd:\n    version: v3.5.16\n    url: \"{{ files_repo }}/github.com/etcd-io/etcd/releases/download/{{ offline_files_etcd_version }}/etcd.tar.gz\"\n    sha256: B414B27A5AD05F7CB01395C447C85D3227E3FB1C176E51757A283B817F645CCC\noffline_files_etcd_version: v3.5.16\n",
    );
    let mut s = src(tmp.path());
    s.extra_vars = vec!["registry_port=5443".into()];
    let v = load(&s).unwrap();
    assert_eq!(v.registry_host, "reg.example:5443");
    assert_eq!(v.images[0].repo, "reg.example:5443/kplay/smoke");
    let f = &v.files[0];
    assert_eq!(
        f.url_path,
        "github.com/etcd-io/etcd/releases/download/v3.5.16/etcd.tar.gz"
    );
    assert_eq!(
        f.upstream,
        "https://github.com/etcd-io/etcd/releases/download/v3.5.16/etcd.tar.gz"
    );
    assert_eq!(
        f.sha256,
        "b414b27a5ad05f7cb01395c447c85d3227e3fb1c176e51757a283b817f645ccc"
    );
    assert_eq!(f.version.as_deref(), Some("v3.5.16"));
}

#[test]
fn the_bootstrap_host_of_an_inventory_is_used() {
    let tmp = content("---\n{}\n");
    let inv = tmp.path().join("hosts.ini");
    fs::write(
        &inv,
        "[bootstrap]\nboot ansible_host=10.0.0.5\n[etcd]\ne1\n",
    )
    .unwrap();
    fs::create_dir_all(tmp.path().join("host_vars")).unwrap();
    fs::write(
        tmp.path().join("host_vars/boot.yml"),
        "offline_debian_architecture: arm64\n",
    )
    .unwrap();
    let mut s = src(tmp.path());
    s.inventory = vec![inv.display().to_string()];
    let v = load(&s).unwrap();
    assert_eq!(v.architecture, "arm64");
}

#[test]
fn bad_input_names_the_variable() {
    let err = |extra: &str| load(&src(content(extra).path())).unwrap_err().to_string();
    // A group_vars file without the bundle's variables at all.
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join("playbooks/group_vars/all")).unwrap();
    fs::write(tmp.path().join("playbooks/group_vars/all/x.yml"), "a: 1\n").unwrap();
    let e = load(&src(tmp.path())).unwrap_err().to_string();
    assert!(
        e.contains("`offline_packages` is not defined") && e.contains("group_vars"),
        "{e}"
    );

    let e = err("offline_packages: {os: chrony}\n");
    assert!(
        e.contains("offline_packages.os") && e.contains("list"),
        "{e}"
    );
    let e = err("offline_packages: {os: [Chrony]}\n");
    assert!(
        e.contains("offline_packages.os") && e.contains("\"Chrony\""),
        "{e}"
    );
    let e = err("offline_files: {x: {url: \"https://example.com/a\", sha256: \"00\"}}\n");
    assert!(
        e.contains("offline_files.x.url") && e.contains("files_repo"),
        "{e}"
    );
    let e = err("offline_files: {x: {url: \"{{ files_repo }}/example.com/a\", sha256: \"00\"}}\n");
    assert!(
        e.contains("offline_files.x.sha256") && e.contains("64 hex"),
        "{e}"
    );
    let e = err("offline_files: {x: {url: \"{{ files_repo }}/example.com/a\"}}\n");
    assert!(e.contains("offline_files.x") && e.contains("sha256"), "{e}");
    let e = err("offline_images: {smoke: {repo: r, tag: \"a b\", build: {}}}\n");
    assert!(e.contains("offline_images.smoke.tag"), "{e}");
    let e = err("offline_images: {smoke: {repo: r, tag: t}}\n");
    assert!(
        e.contains("offline_images.smoke") && e.contains("build"),
        "{e}"
    );
    let e = err("offline_debian_release: \"{{ nope }}\"\n");
    assert!(
        e.contains("offline_debian_release") && e.contains("nope"),
        "{e}"
    );
    let e = err("offline_debian_sources: [\"http://x bookworm main\"]\n");
    assert!(
        e.contains("offline_debian_sources") && e.contains("apt source line"),
        "{e}"
    );
}
