//! Scenarios 7-9: connections: a jump host, an unreachable host, a host whose key changed.

use crate::harness::*;

/// Blocks the controller's route to one address while alive.
pub struct BlockedRoute(String);

impl BlockedRoute {
    fn new(ip: &str) -> BlockedRoute {
        sh_ok(
            "ip",
            &["route", "add", "prohibit", &format!("{ip}/32")],
            Path::new("/"),
        );
        BlockedRoute(ip.to_string())
    }
}

impl Drop for BlockedRoute {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["route", "del", "prohibit", &format!("{}/32", self.0)])
            .status();
    }
}

pub fn jump_host(lab: &Lab) {
    let (h2, h3) = (lab.ip(2), lab.ip(3));
    let name3 = lab.name(3);
    {
        let _blocked = BlockedRoute::new(h3);
        let direct = lab.ssh_as("root", h3, "true");
        assert!(
            !direct.status.success(),
            "plain ssh reached {h3} despite the prohibit route"
        );
        let run = lab.play_with(
            &lab.inventory_variant(
                "direct.ini",
                &[format!("{name3} ansible_host={h3}")],
                &lab.common_args.join(" "),
            ),
            "reach.yml",
            json!({"marker": "direct"}),
        );
        assert_eq!(
            run.code,
            Some(4),
            "a direct kplay connection must be unreachable\n{}",
            run.dump()
        );
        assert_eq!(run.host(name3).unreachable, 1, "{}", run.dump());

        let args = format!("{} -o ProxyJump=root@{h2}", lab.common_args.join(" "));
        let inv = lab.inventory_variant("jump.ini", &[format!("{name3} ansible_host={h3}")], &args);
        lab.twice_with(
            &inv,
            "reach.yml",
            json!({"marker": "jumped"}),
            &[name3],
            true,
        );
    }
    assert_eq!(lab.ssh_ok(h3, "cat /root/kplay-e2e-jumped"), "jumped");
    let direct = lab.ssh_as("root", h3, "test -e /root/kplay-e2e-direct");
    assert_eq!(
        direct.status.code(),
        Some(1),
        "the blocked direct run must not have reached {name3}"
    );
}

pub fn unreachable_host(lab: &Lab) {
    let lines = [
        format!("{} ansible_host={}", lab.name(1), lab.ip(1)),
        format!("{} ansible_host={}", lab.name(2), lab.ip(2)),
        format!("e2e-ghost ansible_host={}", lab.unused_ip),
    ];
    let inv = lab.inventory_variant("unreachable.ini", &lines, &lab.common_args.join(" "));
    let run = lab.play_with(&inv, "reach.yml", json!({"marker": "others"}));
    assert_eq!(
        run.code,
        Some(4),
        "an unreachable host means exit 4\n{}",
        run.dump()
    );
    let ghost = run.host("e2e-ghost");
    assert!(
        ghost.unreachable == 1 && ghost.failed == 0 && ghost.ok == 0,
        "e2e-ghost: {ghost:?}\n{}",
        run.dump()
    );
    for n in [1, 2] {
        let c = run.host(lab.name(n));
        assert!(
            c.ok == 3 && c.failed == 0 && c.unreachable == 0,
            "{}: {c:?}\n{}",
            lab.name(n),
            run.dump()
        );
        assert_eq!(
            lab.ssh_ok(lab.ip(n), "cat /root/kplay-e2e-others"),
            "others"
        );
    }
    assert!(
        run.elapsed < Duration::from_secs(60),
        "the unreachable host held the run for {:?}",
        run.elapsed
    );
}

pub fn changed_host_key(lab: &Lab) {
    let (name1, ip1) = (lab.name(1), lab.ip(1));
    let other = lab.work.join("other_host_key");
    sh_ok(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            &other.to_string_lossy(),
        ],
        &lab.work,
    );
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).expect("generated key");
    let other_key: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    let original = std::fs::read_to_string(&lab.known_hosts).expect("lab known_hosts");
    let mut replaced = 0;
    let changed: String = original
        .lines()
        .map(|l| {
            let hosts = l.split_whitespace().next().unwrap_or_default();
            if hosts.split(',').any(|h| h == ip1 || h == name1) {
                replaced += 1;
                format!("{hosts} {}\n", other_key.join(" "))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_eq!(
        replaced,
        1,
        "host 1 not found in {}:\n{original}",
        lab.known_hosts.display()
    );
    let kh = lab.work.join("known_hosts_changed");
    std::fs::write(&kh, &changed).expect("writing the changed known_hosts");
    let args = lab.common_args.iter().map(|a| {
        if a.starts_with("UserKnownHostsFile=") {
            format!("UserKnownHostsFile={}", kh.display())
        } else {
            a.clone()
        }
    });
    let args: Vec<String> = args.collect();
    let lines = [
        format!("{name1} ansible_host={ip1}"),
        format!("{} ansible_host={}", lab.name(2), lab.ip(2)),
    ];
    let inv = lab.inventory_variant("changed_key.ini", &lines, &args.join(" "));
    let run = lab.play_with(&inv, "reach.yml", json!({"marker": "keycheck"}));
    assert_eq!(
        run.code,
        Some(4),
        "a changed host key makes the host unreachable (exit 4)\n{}",
        run.dump()
    );
    assert_eq!(run.host(name1).unreachable, 1, "{}", run.dump());
    let other_host = run.host(lab.name(2));
    assert!(
        other_host.ok == 3 && other_host.unreachable == 0,
        "{other_host:?}\n{}",
        run.dump()
    );
    let all = format!("{}\n{}", run.stdout, run.stderr).to_lowercase();
    let clear = all.contains("host key")
        && ["changed", "mismatch", "does not match", "identification"]
            .iter()
            .any(|w| all.contains(w));
    assert!(
        clear,
        "the refusal must say the host key changed\n{}",
        run.dump()
    );
    let marker = lab.ssh_as("root", ip1, "test -e /root/kplay-e2e-keycheck");
    assert_eq!(
        marker.status.code(),
        Some(1),
        "the play ran on {name1} despite the changed key"
    );
    assert_eq!(
        std::fs::read_to_string(&kh).unwrap_or_default(),
        changed,
        "kplay rewrote the user's known_hosts"
    );
}
