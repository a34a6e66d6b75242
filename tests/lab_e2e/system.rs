//! Scenarios 1-5: a package from a repo served in the lab, a systemd unit, net.* sysctls, get_url and
//! uri from the targets' point of view, become to a non-root user.

use crate::harness::*;

/// Builds kplay-test-pkg from tests/lab_e2e/fixtures/deb-root and a flat apt repository around it.
pub fn build_repo(lab: &Lab) -> (PathBuf, String) {
    let tree = lab.work.join("deb-root");
    sh_ok(
        "cp",
        &[
            "-a",
            &fixtures().join("deb-root").to_string_lossy(),
            &tree.to_string_lossy(),
        ],
        &lab.work,
    );
    sh_ok(
        "chmod",
        &["-R", "u=rwX,go=rX", &tree.to_string_lossy()],
        &lab.work,
    );
    let repo = lab.work.join("repo");
    std::fs::create_dir_all(&repo).expect("repo dir");
    let deb = "kplay-test-pkg_1.0_all.deb";
    sh_ok(
        "dpkg-deb",
        &[
            "--root-owner-group",
            "--build",
            &tree.to_string_lossy(),
            deb,
        ],
        &repo,
    );
    let packages = sh_ok(
        "dpkg-scanpackages",
        &["--multiversion", ".", "/dev/null"],
        &repo,
    );
    assert!(
        packages.contains("Package: kplay-test-pkg"),
        "dpkg-scanpackages output:\n{packages}"
    );
    std::fs::write(repo.join("Packages"), &packages).expect("Packages");
    sh_ok("gzip", &["-9knf", "Packages"], &repo);
    (repo, deb.to_string())
}

pub fn apt_from_lab_repo(lab: &Lab) {
    let (repo, deb) = build_repo(lab);
    lab.twice(
        "apt.yml",
        json!({"repo_dir": repo, "deb_name": deb}),
        &[lab.name(1), lab.name(2), lab.name(3)],
        true,
    );
    for n in [2, 3] {
        let status = lab.ssh_ok(
            lab.ip(n),
            "dpkg-query -W -f='${Status} ${Version}' kplay-test-pkg",
        );
        assert_eq!(status, "install ok installed 1.0", "on {}", lab.name(n));
        lab.ssh_ok(lab.ip(n), "test -f /usr/share/kplay-test-pkg/README");
    }
    let on_1 = lab.ssh_as("root", lab.ip(1), "dpkg-query -W kplay-test-pkg");
    assert!(
        !on_1.status.success(),
        "host 1 only serves the repository, it must not have the package"
    );
}

pub fn systemd_unit(lab: &Lab) {
    let all = [lab.name(1), lab.name(2), lab.name(3)];
    lab.twice("systemd.yml", json!({"unit_rev": "1"}), &all, true);
    let show = |ip: &str, prop: &str| {
        lab.ssh_ok(
            ip,
            &format!("systemctl show -p {prop} --value kplay-e2e-svc"),
        )
    };
    let mut invocations = Vec::new();
    lab.each_host(|_, name, ip| {
        assert_eq!(
            lab.ssh_ok(ip, "systemctl is-active kplay-e2e-svc"),
            "active",
            "{name}"
        );
        assert_eq!(
            lab.ssh_ok(ip, "systemctl is-enabled kplay-e2e-svc"),
            "enabled",
            "{name}"
        );
        assert_eq!(show(ip, "Environment"), "KPLAY_REV=1", "{name}");
    });
    for (_, ip) in &lab.hosts {
        invocations.push(show(ip, "InvocationID"));
    }
    // A new unit revision: the copy notifies the handler, which reloads and restarts the service.
    let third = lab.play("systemd.yml", json!({"unit_rev": "2"}));
    assert_succeeded(&third, &all, "run with a changed unit");
    for (i, (name, ip)) in lab.hosts.iter().enumerate() {
        assert!(
            third.host(name).changed > 0,
            "changing the unit changed nothing on {name}\n{}",
            third.dump()
        );
        assert_eq!(
            show(ip, "Environment"),
            "KPLAY_REV=2",
            "{name} runs the old unit revision"
        );
        assert_ne!(
            show(ip, "InvocationID"),
            invocations[i],
            "{name}: the handler did not restart the service"
        );
        assert_eq!(
            lab.ssh_ok(ip, "systemctl is-active kplay-e2e-svc"),
            "active",
            "{name}"
        );
    }
}

pub fn read_sysctl_here(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

pub fn sysctl_per_netns(lab: &Lab) {
    let somaxconn = "/proc/sys/net/core/somaxconn";
    let forwarding = "/proc/sys/net/ipv4/conf/all/forwarding";
    let before = (read_sysctl_here(somaxconn), read_sysctl_here(forwarding));
    lab.twice(
        "sysctl.yml",
        json!({}),
        &[lab.name(1), lab.name(2), lab.name(3)],
        true,
    );
    lab.each_host(|n, name, ip| {
        let want = (1000 + n).to_string();
        assert_eq!(
            lab.ssh_ok(ip, "sysctl -n net.core.somaxconn"),
            want,
            "{name}"
        );
        assert_eq!(
            lab.ssh_ok(ip, "sysctl -n net.ipv4.conf.all.forwarding"),
            "1",
            "{name}"
        );
        let file = lab.ssh_ok(ip, "cat /etc/sysctl.d/90-kplay-e2e.conf");
        assert!(
            file.lines()
                .any(|l| l.replace(' ', "") == format!("net.core.somaxconn={want}"))
                && file
                    .lines()
                    .any(|l| l.replace(' ', "") == "net.ipv4.conf.all.forwarding=1"),
            "{name}: sysctl_file content:\n{file}"
        );
    });
    let after = (read_sysctl_here(somaxconn), read_sysctl_here(forwarding));
    assert_eq!(
        before, after,
        "the controller's own net sysctls changed: they must be per namespace"
    );
}

pub fn http_from_targets(lab: &Lab) {
    let sha = sha256_hex(crate::server::payload().as_bytes());
    lab.twice(
        "http.yml",
        json!({"payload_sha256": sha}),
        &[lab.name(2), lab.name(3)],
        true,
    );
    for n in [2, 3] {
        let got = lab.ssh_ok(
            lab.ip(n),
            "sha256sum /root/payload.txt; stat -c %a /root/payload.txt",
        );
        assert_eq!(
            got,
            format!("{sha}  /root/payload.txt\n640"),
            "on {}",
            lab.name(n)
        );
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("kplay-e2e-sha-{}", std::process::id()));
    std::fs::write(&path, data).expect("temp file");
    let out = sh_ok("sha256sum", &[&path.to_string_lossy()], Path::new("/"));
    let _ = std::fs::remove_file(&path);
    out.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

pub fn become_non_root(lab: &Lab) {
    lab.twice(
        "become.yml",
        json!({}),
        &[lab.name(1), lab.name(2), lab.name(3)],
        true,
    );
    lab.each_host(|_, name, ip| {
        assert!(
            lab.ssh_ok(ip, "getent passwd kpbecome")
                .starts_with("kpbecome:"),
            "{name}"
        );
    });
}
