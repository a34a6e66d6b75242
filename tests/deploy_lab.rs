//! The bootstrap node end to end in a 2-host lab (air-gapped Debian 12 with systemd): a bundle
//! from `kplay bundle build`, `kplay deploy --only bootstrap-node` pushes it to host 0 and sets
//! it up; then host 1 installs a package from the repository host 0 serves, fetches the bundle's
//! files over HTTP from it, and reaches the registry over TLS with the kplay CA the deploy
//! installed (and not without it), finding the bundle's smoke image there. A second deploy with
//! `--force` changes nothing. Harness: tests/deploy_lab/harness.rs.

mod common;
#[path = "deploy_lab/harness.rs"]
mod harness;

use harness::*;

const LAB: &str = "deploy-bn";

/// Python on the lab host (the base has python3): GET `url`, with `cafile` when given; prints
/// the body, or `ERROR <reason>` and exits 1.
fn fetch_script(url: &str, cafile: Option<&str>) -> String {
    let ctx = match cafile {
        Some(c) => format!("ssl.create_default_context(cafile='{c}')"),
        None => "ssl.create_default_context()".to_string(),
    };
    format!(
        "python3 -c \"\nimport sys, ssl, urllib.request\ntry:\n    r = urllib.request.urlopen('{url}', context={ctx}, timeout=10)\n    sys.stdout.write(r.read().decode())\nexcept Exception as e:\n    print('ERROR', e); sys.exit(1)\n\""
    )
}

#[test]
fn bootstrap_node_serves_the_bundle_packages_and_images() {
    if !common::root_or_skip("bootstrap_node_serves_the_bundle_packages_and_images") {
        return;
    }
    let _machine = common::lab_lock();
    let lab = phase("lab up", || DeployLab::up(LAB, 2));
    let bundle = phase("bundle build", || lab.bundle());
    let inv = lab.inventory(
        "cluster",
        &[
            ("bootstrap", &[0]),
            ("kube_control_plane", &[1]),
            ("etcd", &[1]),
            ("kube_node", &[1]),
        ],
    );

    let first = phase("deploy bootstrap-node", || {
        lab.deploy(&inv, &bundle, &["--only", "bootstrap-node"])
    });
    assert_eq!(first.code, Some(0), "first deploy\n{}", first.dump());
    assert!(changed_of(&first, "bootstrap-node") > 0, "{}", first.dump());
    let state = std::fs::read_to_string(inv.parent().unwrap().join(".kplay/deploy-state.json"))
        .expect("state file beside the inventory");
    assert!(state.contains("\"bootstrap-node\""), "{state}");

    // The bootstrap node runs the file server and the registry; the CA key is owner-only.
    assert_eq!(
        lab.ssh_ok(0, "systemctl is-active nginx docker-registry"),
        "active\nactive"
    );
    assert_eq!(lab.ssh_ok(0, "stat -c %a /etc/kplay/pki/ca.key"), "600");

    // HTTP from the bootstrap node, as another node sees it: the bundle's own manifest.
    let manifest = std::fs::read_to_string(bundle.join("manifest.json")).unwrap();
    let served = lab.ssh_ok(
        1,
        &fetch_script(&format!("http://{}:8080/manifest.json", lab.ip(0)), None),
    );
    assert_eq!(served.trim(), manifest.trim());

    // A package from the served repository on another (air-gapped) node: the repository's key
    // from the bootstrap node, its source line as offline.yml writes it, apt from it alone.
    let offline = root().join("group_vars/all/offline.yml");
    let apt = lab.play(
        &root().join("tests/deploy_lab/apt-from-bootstrap.yml"),
        &inv,
        &["-e", &format!("@{}", offline.display())],
    );
    assert_eq!(
        apt.code,
        Some(0),
        "apt from the served repo\n{}",
        apt.dump()
    );
    assert_eq!(
        lab.ssh_ok(1, "dpkg-query -W -f='${Status}' socat"),
        "install ok installed"
    );
    let policy = lab.ssh_ok(1, "apt-cache policy socat");
    assert!(
        policy.contains(&format!("http://{}:8080/debian kplay/main", lab.ip(0))),
        "{policy}"
    );

    // The registry over TLS: trusted with the CA the deploy put on the node, refused without.
    let tags = format!("https://{}:5000/v2/kplay/smoke/tags/list", lab.ip(0));
    let ca = "/usr/local/share/ca-certificates/kplay-ca.crt";
    let listed = lab.ssh_ok(1, &fetch_script(&tags, Some(ca)));
    assert!(listed.contains("\"1.35.0\""), "{listed}");
    let (ok, untrusted) = lab.ssh(1, &fetch_script(&tags, None));
    assert!(
        !ok && untrusted.contains("CERTIFICATE_VERIFY_FAILED"),
        "the registry answered a client without the kplay CA: {untrusted}"
    );

    // Idempotent: a forced second run changes nothing; the recorded step is unchanged after it.
    let again = phase("deploy bootstrap-node --force", || {
        lab.deploy(&inv, &bundle, &["--only", "bootstrap-node", "--force"])
    });
    assert_eq!(again.code, Some(0), "{}", again.dump());
    assert_eq!(changed_of(&again, "bootstrap-node"), 0, "{}", again.dump());
    let listed = lab.deploy(&inv, &bundle, &["--list"]);
    assert_eq!(listed.code, Some(0), "{}", listed.dump());
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.contains("bootstrap-node") && l.contains("unchanged")),
        "{}",
        listed.dump()
    );

    // kplay serve instead of nginx (a bundle without nginx, or the operator's choice).
    let kplay_served = phase("deploy bootstrap-node with kplay serve", || {
        lab.deploy(
            &inv,
            &bundle,
            &[
                "--only",
                "bootstrap-node",
                "-e",
                "bootstrap_http_server=kplay",
            ],
        )
    });
    assert_eq!(kplay_served.code, Some(0), "{}", kplay_served.dump());
    assert_eq!(lab.ssh_ok(0, "systemctl is-active kplay-serve"), "active");
    lab.ssh_ok(0, "test ! -e /etc/nginx/sites-enabled/kplay-bundle.conf");
    let served = lab.ssh_ok(
        1,
        &fetch_script(&format!("http://{}:8080/manifest.json", lab.ip(0)), None),
    );
    assert_eq!(served.trim(), manifest.trim());
    let kplay_again = lab.deploy(
        &inv,
        &bundle,
        &[
            "--only",
            "bootstrap-node",
            "-e",
            "bootstrap_http_server=kplay",
        ],
    );
    assert_eq!(
        changed_of(&kplay_again, "bootstrap-node"),
        0,
        "{}",
        kplay_again.dump()
    );

    // reset removes what bootstrap-node set up and clears the state; a deploy works again.
    let reset = phase("reset", || {
        let run = common::kplay_timeout(
            &root(),
            &["reset", "-i", &inv.to_string_lossy(), "--yes"],
            DEPLOY_TIMEOUT,
        );
        run.assert_no_panic();
        run
    });
    assert_eq!(reset.code, Some(0), "{}", reset.dump());
    assert!(!inv
        .parent()
        .unwrap()
        .join(".kplay/deploy-state.json")
        .exists());
    for unit in ["docker-registry", "nginx", "kplay-serve"] {
        let (active, _) = lab.ssh(0, &format!("systemctl is-active --quiet {unit}"));
        assert!(!active, "{unit} still active after reset");
    }
    lab.ssh_ok(
        0,
        "test ! -e /etc/kplay/pki && test ! -e /var/lib/docker-registry",
    );
    lab.ssh_ok(1, &format!("test ! -e {ca}"));
    let redeploy = phase("deploy bootstrap-node after reset", || {
        lab.deploy(&inv, &bundle, &["--only", "bootstrap-node"])
    });
    assert_eq!(redeploy.code, Some(0), "{}", redeploy.dump());
    let listed = lab.ssh_ok(1, &fetch_script(&tags, Some(ca)));
    assert!(listed.contains("\"1.35.0\""), "{listed}");
}
