//! Scenario 11: kplay's agent. File tasks over SSH are served by the agent kplay copies to the
//! host; the files, modes, owners and stat reports must be exactly those of the sh path
//! (`KPLAY_NO_AGENT=1`), the agent must be cached in `~/.cache/kplay/`, and a host where it cannot
//! be installed must still converge through the sh path.

use crate::harness::*;
use crate::modules::all_hosts;

/// Everything observable about a variant's tree on one host: type, mode, owner, size, content hash.
fn tree(lab: &Lab, ip: &str, variant: &str) -> String {
    lab.ssh_ok(
        ip,
        &format!(
            "cd /opt/kagent/{variant} && find . -printf '%P %y %m %u %g %s %l\\n' | sort && \
             find . -type f -exec md5sum {{}} + | sort -k2"
        ),
    )
}

/// The agent's name on hosts (`agent-<first 16 hex of its SHA-256>`) and its full SHA-256, as
/// the kplay binary under test describes the agent it carries (`kplay __agent-info`).
fn agent_name_and_hash() -> (String, String) {
    let out = std::process::Command::new(kplay_bin())
        .arg("__agent-info")
        .output()
        .expect("running kplay __agent-info");
    let info: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("kplay __agent-info prints JSON");
    let sum = info["sha256"]
        .as_str()
        .expect("this kplay carries an agent (see build/agent.rs's cargo warnings)")
        .to_string();
    (format!("agent-{}", &sum[..16]), sum)
}

pub fn agent_matches_sh_path(lab: &Lab) {
    let hosts = all_hosts(lab);
    let (agent, sum) = agent_name_and_hash();
    lab.each_host(|_, _, ip| {
        // An agent of another kplay build, which the copy of this one must replace, and a copy
        // of this one cut short (3 MB, executable, under the right name), as a lost connection
        // used to leave it: it must be found out by its hash and replaced, never run.
        lab.ssh_ok(
            ip,
            &format!(
                "rm -rf /opt/kagent ~/.cache/kplay && mkdir -p ~/.cache/kplay && touch ~/.cache/kplay/agent-stale && \
                 head -c 3000000 /dev/urandom > ~/.cache/kplay/{agent} && chmod 700 ~/.cache/kplay/{agent}"
            ),
        );
        make_trees_to_remove(lab, ip, &["agent", "sh", "fallback"]);
    });
    lab.twice("agent.yml", json!({"variant": "agent"}), &hosts, true);
    lab.each_host(|_, name, ip| {
        let cached = lab.ssh_ok(ip, "stat -c '%a %n' ~/.cache/kplay ~/.cache/kplay/agent-*");
        let lines: Vec<&str> = cached.lines().collect();
        assert!(
            lines.len() == 2 && lines[0].starts_with("700 ") && lines[1].starts_with("700 "),
            "{name}: the agent must be cached, private and alone in ~/.cache/kplay: {cached}"
        );
        let on_host = lab.ssh_ok(ip, &format!("sha256sum < ~/.cache/kplay/{agent}"));
        assert_eq!(
            on_host.split_whitespace().next(),
            Some(sum.as_str()),
            "{name}: the truncated agent was kept instead of being replaced"
        );
    });

    // The same playbook through the sh path.
    let env = [("KPLAY_NO_AGENT", "1")];
    let vars = json!({"variant": "sh"});
    let run = lab.play_env(&lab.inventory, "agent.yml", vars.clone(), &env);
    assert_succeeded(&run, &hosts, "sh path");
    let again = lab.play_env(&lab.inventory, "agent.yml", vars, &env);
    assert_succeeded(&again, &hosts, "sh path rerun");
    for (host, c) in again.recap() {
        assert_eq!(
            c.changed,
            0,
            "sh path rerun changed {host}\n{}",
            again.dump()
        );
    }

    // A host where the agent cannot be installed (its cache directory is a file) falls back,
    // and `-v` says so once for that host, with the reason; the others report an active agent.
    lab.ssh_ok(lab.ip(3), "rm -rf ~/.cache/kplay && touch ~/.cache/kplay");
    let fallback = play_verbose(lab, json!({"variant": "fallback"}));
    assert_succeeded(&fallback, &hosts, "host 3 without an agent");
    for (n, host) in hosts.iter().enumerate() {
        let said: Vec<&str> = fallback
            .stdout
            .lines()
            .filter(|l| l.starts_with(&format!("<{host}> kplay_agent: ")))
            .collect();
        let want = if n + 1 == 3 {
            "kplay_agent: fallback (Linux x86_64, glibc 2."
        } else {
            "kplay_agent: active (Linux x86_64, glibc 2."
        };
        assert!(
            said.len() == 1 && said[0].contains(want),
            "{host}: expected one `{want}…` line at -v, got {said:?}\n{}",
            fallback.dump()
        );
    }
    lab.ssh_ok(lab.ip(3), "test -f ~/.cache/kplay && rm -f ~/.cache/kplay");

    lab.each_host(|n, name, ip| {
        let agent = tree(lab, ip, "agent");
        assert!(
            agent.contains("sub/new/li.conf f 600")
                && agent.contains("copy.txt f 640 nobody nogroup")
                && agent.contains("sub/t.conf f 744"),
            "{name}: unexpected tree\n{agent}"
        );
        assert_eq!(
            agent,
            tree(lab, ip, "sh"),
            "{name}: agent and sh path differ"
        );
        if n == 3 {
            assert_eq!(agent, tree(lab, ip, "fallback"), "{name}: fallback differs");
        }
        let leftovers = lab.ssh_ok(ip, "find /opt/kagent -name '.kplay-tmp*' | wc -l");
        assert_eq!(leftovers, "0", "{name}: temp files left behind");
        assert_trees_removed(lab, name, ip);
    });
}

/// The agent playbook on the lab inventory with `-v`.
fn play_verbose(lab: &Lab, vars: Value) -> Run {
    let pb = fixtures().join("agent.yml").to_string_lossy().into_owned();
    let inv = lab.inventory.to_string_lossy().into_owned();
    let vars = lab.vars(vars).to_string();
    let run = kplay_timeout_env(
        &lab.work,
        &["run", &pb, "-i", &inv, "-e", &vars, "-v"],
        RUN_TIMEOUT,
        &[],
    );
    run.assert_no_panic();
    run
}

/// `/opt/kagent/<variant>-gone`: a small tree with a symlink to /etc/hostname, which the
/// playbook's `state: absent` task removes (the link, never its target).
fn make_trees_to_remove(lab: &Lab, ip: &str, variants: &[&str]) {
    for v in variants {
        lab.ssh_ok(
            ip,
            &format!(
                "mkdir -p /opt/kagent/{v}-gone/a/b && touch /opt/kagent/{v}-gone/a/b/f && \
                 ln -s /etc/hostname /opt/kagent/{v}-gone/a/link"
            ),
        );
    }
}

fn assert_trees_removed(lab: &Lab, name: &str, ip: &str) {
    let left = lab.ssh_ok(
        ip,
        "ls -d /opt/kagent/*-gone 2>/dev/null | wc -l; test -s /etc/hostname && echo target-kept",
    );
    assert_eq!(
        left, "0\ntarget-kept",
        "{name}: trees to remove left, or a link target removed"
    );
}

/// The usual production shape: a non-root login with password-less sudo, `become: true` on some
/// tasks. The connecting user's agent serves the plain tasks, a second agent started through sudo
/// serves the become ones; the result matches the sh path exactly.
pub fn agent_for_sudo_user(lab: &Lab) {
    let hosts = all_hosts(lab);
    lab.each_host(|_, _, ip| {
        lab.ssh_ok(
            ip,
            "id kpsudo >/dev/null 2>&1 || useradd -m -s /bin/sh kpsudo; \
             echo 'kpsudo ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/kpsudo && chmod 440 /etc/sudoers.d/kpsudo; \
             install -d -o kpsudo -m 700 ~kpsudo/.ssh && install -o kpsudo -m 600 ~/.ssh/authorized_keys ~kpsudo/.ssh/; \
             rm -rf ~kpsudo/.cache /opt/kagent/user-agent /opt/kagent/user-sh; \
             install -d -m 755 /opt/kagent && install -d -o kpsudo /opt/kagent/user-agent /opt/kagent/user-sh",
        );
    });
    lab.each_host(|_, _, ip| make_trees_to_remove(lab, ip, &["user-agent", "user-sh"]));
    let lines: Vec<String> = (1..=3)
        .map(|n| {
            format!(
                "{} ansible_host={} ansible_user=kpsudo",
                lab.name(n),
                lab.ip(n)
            )
        })
        .collect();
    let inv = lab.inventory_variant("sudo-user.ini", &lines, &lab.common_args.join(" "));
    lab.twice_with(
        &inv,
        "agent.yml",
        json!({"variant": "user-agent"}),
        &hosts,
        true,
    );
    let env = [("KPLAY_NO_AGENT", "1")];
    let run = lab.play_env(&inv, "agent.yml", json!({"variant": "user-sh"}), &env);
    assert_succeeded(&run, &hosts, "sudo user, sh path");
    lab.each_host(|_, name, ip| {
        let agent = tree(lab, ip, "user-agent");
        assert!(
            agent.contains("copy.txt f 640 nobody nogroup")
                && agent.contains("sub/t.conf f 744 kpsudo"),
            "{name}: unexpected tree\n{agent}"
        );
        assert_eq!(
            agent,
            tree(lab, ip, "user-sh"),
            "{name}: agent and sh path differ"
        );
        let cached = lab.ssh_ok(ip, "ls ~kpsudo/.cache/kplay/ | grep -c '^agent-'");
        assert_eq!(
            cached, "1",
            "{name}: the agent must be in the login user's cache"
        );
        assert_trees_removed(lab, name, ip);
    });
}
