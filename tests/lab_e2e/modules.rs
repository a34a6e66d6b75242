//! Scenario 10: the other system modules, each run twice (second run `changed=0`).

use crate::harness::*;

pub fn all_hosts(lab: &Lab) -> [&str; 3] {
    [lab.name(1), lab.name(2), lab.name(3)]
}

/// A module built into host 1's kernel: from `modules.builtin` when the kernel has module support,
/// else (a kernel without it, like the lab's: everything is built in) one of a few common modules that
/// `/sys/module` lists without an `initstate` (only loadable modules have one).
pub fn builtin_module(lab: &Lab) -> String {
    let probe = "f=/lib/modules/$(uname -r)/modules.builtin; \
                 if [ -r \"$f\" ]; then head -n1 \"$f\" | sed 's|.*/||; s|\\.ko.*||'; exit; fi; \
                 for m in overlay bridge nf_conntrack vxlan loop; do \
                   if [ -d /sys/module/$m ] && [ ! -e /sys/module/$m/initstate ]; then echo $m; exit; fi; \
                 done; exit 1";
    let name = lab.ssh_ok(lab.ip(1), probe);
    assert!(
        !name.is_empty(),
        "no built-in module found on {}",
        lab.name(1)
    );
    name
}

pub fn modprobe(lab: &Lab) {
    let builtin = builtin_module(lab);
    eprintln!("modprobe: built-in module {builtin}");
    lab.twice(
        "modprobe.yml",
        json!({"module_name": builtin}),
        &all_hosts(lab),
        false,
    );
    // Negative control: a module that exists nowhere fails every host (so "ok" above means something).
    let bogus = "kplay_e2e_no_such_module";
    let run = lab.play("modprobe.yml", json!({"module_name": bogus}));
    assert_eq!(
        run.code,
        Some(2),
        "modprobe of a missing module must fail\n{}",
        run.dump()
    );
    for host in all_hosts(lab) {
        let c = run.host(host);
        assert!(
            c.failed == 1 && c.unreachable == 0,
            "{host}: {c:?}\n{}",
            run.dump()
        );
    }
    assert!(
        run.stdout.contains(bogus) || run.stdout.contains("modprobe"),
        "the failure must name the module or modprobe\n{}",
        run.dump()
    );
}

/// Puts the lab's hostnames back with plain ssh when dropped, so a failing hostname scenario cannot
/// break the later ones (they check that each host answers to its inventory name).
pub struct HostnamesRestored<'a>(&'a Lab);

impl Drop for HostnamesRestored<'_> {
    fn drop(&mut self) {
        for (name, ip) in &self.0.hosts {
            let _ = self.0.ssh_as(
                "root",
                ip,
                &format!("hostname {name} && echo {name} > /etc/hostname"),
            );
        }
    }
}

pub fn hostname(lab: &Lab) {
    let _restore = HostnamesRestored(lab);
    lab.twice(
        "hostname.yml",
        json!({"new_name_prefix": "kpe2e-renamed-"}),
        &all_hosts(lab),
        true,
    );
    lab.each_host(|n, name, ip| {
        let want = format!("kpe2e-renamed-{n}");
        assert_eq!(lab.ssh_ok(ip, "hostname"), want, "{name}");
        assert_eq!(lab.ssh_ok(ip, "cat /etc/hostname"), want, "{name}");
    });
    let prefix = lab.name(1).trim_end_matches('1');
    lab.twice(
        "hostname.yml",
        json!({"new_name_prefix": prefix}),
        &all_hosts(lab),
        true,
    );
    lab.each_host(|_, name, ip| {
        assert_eq!(lab.ssh_ok(ip, "hostname"), name);
        assert_eq!(lab.ssh_ok(ip, "cat /etc/hostname"), name);
    });
}

pub fn mount_tmpfs(lab: &Lab) {
    lab.twice("mount.yml", json!({}), &all_hosts(lab), true);
    lab.each_host(|_, name, ip| {
        assert_eq!(
            lab.ssh_ok(ip, "findmnt -n -o FSTYPE /mnt/kplay-e2e"),
            "tmpfs",
            "{name}"
        );
        let fstab = lab.ssh_ok(
            ip,
            "grep -E '^tmpfs[[:space:]]+/mnt/kplay-e2e[[:space:]]' /etc/fstab",
        );
        assert!(fstab.contains("size=8m"), "{name}: fstab line {fstab:?}");
    });
}

pub fn user_and_group(lab: &Lab) {
    lab.twice("usergroup.yml", json!({}), &all_hosts(lab), true);
    lab.each_host(|_, name, ip| {
        assert_eq!(
            lab.ssh_ok(ip, "getent group kpgroup | cut -d: -f1,3"),
            "kpgroup:2345",
            "{name}"
        );
        assert_eq!(
            lab.ssh_ok(ip, "id kpuser"),
            "uid=2345(kpuser) gid=2345(kpgroup) groups=2345(kpgroup),100(users)",
            "{name}"
        );
        assert_eq!(
            lab.ssh_ok(ip, "getent passwd kpuser | cut -d: -f5,7"),
            "kplay e2e user:/bin/bash",
            "{name}"
        );
    });
}

pub fn authorized_key(lab: &Lab) {
    let pubkey =
        std::fs::read_to_string(lab.key.with_extension("pub")).expect("the lab's public key");
    lab.twice(
        "authorized_key.yml",
        json!({"pubkey": pubkey.trim()}),
        &all_hosts(lab),
        true,
    );
    lab.each_host(|_, name, ip| {
        let out = lab.ssh_as("kpkey", ip, "id -un");
        assert!(
            out.status.success(),
            "{name}: login as kpkey failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "kpkey");
    });
}

pub fn unarchive(lab: &Lab) {
    let tree = lab.work.join("tar-tree");
    std::fs::create_dir_all(tree.join("site").join("conf")).expect("tar tree");
    std::fs::write(tree.join("site").join("index.html"), "<h1>kplay e2e</h1>\n").expect("index");
    std::fs::write(
        tree.join("site").join("conf").join("app.conf"),
        "answer = 42\n",
    )
    .expect("conf");
    let tarball = lab.work.join("site.tar.gz");
    sh_ok(
        "tar",
        &[
            "-czf",
            &tarball.to_string_lossy(),
            "-C",
            &tree.to_string_lossy(),
            "site",
        ],
        &lab.work,
    );
    lab.twice(
        "unarchive.yml",
        json!({"tarball": tarball}),
        &all_hosts(lab),
        true,
    );
    lab.each_host(|_, name, ip| {
        assert_eq!(
            lab.ssh_ok(ip, "cat /opt/kplay-e2e/site/index.html"),
            "<h1>kplay e2e</h1>",
            "{name}"
        );
        assert_eq!(
            lab.ssh_ok(ip, "cat /opt/kplay-e2e/site/conf/app.conf"),
            "answer = 42",
            "{name}"
        );
    });
}

pub fn fetch(lab: &Lab) {
    lab.twice("fetch.yml", json!({}), &all_hosts(lab), true);
    lab.each_host(|_, name, ip| {
        let local = lab
            .work
            .join("fetched")
            .join(name)
            .join("etc")
            .join("os-release");
        let got =
            std::fs::read_to_string(&local).unwrap_or_else(|e| panic!("{}: {e}", local.display()));
        assert_eq!(got.trim(), lab.ssh_ok(ip, "cat /etc/os-release"), "{name}");
    });
}

/// `synchronize` with `delegate_to` between real hosts: host 1's tree lands on every host
/// (mode and content), every host's hostname on host 1; the rerun changes nothing.
pub fn synchronize(lab: &Lab) {
    let vars = json!({"src_host": lab.name(1)});
    lab.twice("synchronize.yml", vars, &all_hosts(lab), true);
    lab.each_host(|n, name, ip| {
        let got = lab.ssh_ok(
            ip,
            "cat /srv/kplay-sync/dst/a.txt /srv/kplay-sync/dst/sub/b.txt; stat -c %a /srv/kplay-sync/dst/sub/b.txt",
        );
        assert_eq!(got, "alpha\nbeta\n640", "{name} (host {n})");
        let pulled = lab.ssh_ok(lab.ip(1), &format!("cat /srv/kplay-sync/pulled/{name}"));
        assert_eq!(pulled, lab.ssh_ok(ip, "cat /etc/hostname"), "{name}");
    });
}

pub fn slurp(lab: &Lab) {
    lab.twice("slurp.yml", json!({}), &all_hosts(lab), false);
}

pub fn script(lab: &Lab) {
    let (_, second) = lab.twice("script.yml", json!({}), &all_hosts(lab), true);
    for host in all_hosts(lab) {
        // ansible-core 2.18's script action raises AnsibleActionSkip when `creates` exists.
        let c = second.host(host);
        assert_eq!(
            c.skipped,
            1,
            "{host}: the rerun must skip the script\n{}",
            second.dump()
        );
    }
    lab.each_host(|_, name, ip| {
        assert_eq!(
            lab.ssh_ok(ip, "cat /root/kplay-e2e-script"),
            format!("ran on {name} with arg-one")
        );
    });
}

pub fn wait_for(lab: &Lab) {
    let (first, _) = lab.twice(
        "wait_for.yml",
        json!({}),
        &[lab.name(2), lab.name(3)],
        false,
    );
    assert!(
        first.elapsed < Duration::from_secs(30),
        "wait_for took {:?}\n{}",
        first.elapsed,
        first.dump()
    );
    // Negative control: a port nobody listens on fails after the timeout (so "ok" above means something).
    let closed = lab.play("wait_for_closed.yml", json!({}));
    assert_eq!(
        closed.code,
        Some(2),
        "waiting for a closed port must fail\n{}",
        closed.dump()
    );
    assert_eq!(closed.host(lab.name(2)).failed, 1, "{}", closed.dump());
    assert!(
        closed.elapsed >= Duration::from_secs(2),
        "failed before its 2 s timeout\n{}",
        closed.dump()
    );
}

pub fn wait_for_connection(lab: &Lab) {
    lab.twice("wait_for_connection.yml", json!({}), &all_hosts(lab), false);
}
