//! Steps 00-02, the apiserver HA endpoint and reset, end to end in a 4-host lab (1 bootstrap +
//! 3 control-plane/etcd nodes, air-gapped Debian 12 with systemd): everything installs from the
//! bootstrap node, etcd answers `etcdctl.sh endpoint health --cluster` with 3 healthy members over
//! TLS, the VIP answers and moves within 10 s when keepalived stops on its holder, the cluster stays
//! writable with one member down, a second run changes nothing, bad inventories are refused before
//! anything changes, and reset leaves no service, data or certificate behind.
//!
//! The bootstrap node is played by a stand-in (tests/roles_lab/standin-bootstrap.yml: a repo served
//! by python3's http.server, a CA made with x509_cert) until bootstrap-node.yml is merged; the
//! repository is a temporary one (tests/roles_lab/testrepo.sh, cached) until `kplay bundle build` is.

mod common;

use common::{kplay_timeout, root_or_skip, Run};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LAB: &str = "roles-e2e";
const RUN: Duration = Duration::from_secs(900);

fn kplay_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kplay")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Lab {
    dir: PathBuf,
    hosts: Vec<(String, String)>,
    key: String,
    known: String,
}

struct Down;
impl Drop for Down {
    fn drop(&mut self) {
        let _ = Command::new(kplay_bin())
            .args(["lab", "down", "--name", LAB])
            .stdin(Stdio::null())
            .output();
    }
}

impl Lab {
    fn ssh(&self, n: usize, cmd: &str) -> (bool, String) {
        let out = Command::new("ssh")
            .args([
                "-i",
                &self.key,
                "-o",
                &format!("UserKnownHostsFile={}", self.known),
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                &format!("root@{}", self.hosts[n].1),
                cmd,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("ssh");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn ssh_ok(&self, n: usize, cmd: &str) -> String {
        let (ok, out) = self.ssh(n, cmd);
        assert!(ok, "on {}: {cmd}\n{out}", self.hosts[n].0);
        out
    }

    /// `kplay run` from the repository root (its playbooks, roles and group_vars) with the lab
    /// inventory and the test's variables.
    fn run(&self, inventory: &str, playbook: &str, extra: &[&str]) -> Run {
        let inv = self.dir.join(inventory).display().to_string();
        let vars = format!("@{}", self.dir.join("vars.yml").display());
        let mut args = vec!["run", "-i", &inv, playbook, "-e", &vars];
        args.extend_from_slice(extra);
        kplay_timeout(&root(), &args, RUN)
    }

    fn inventory(&self, name: &str, etcd: &[usize]) {
        let h = |n: usize| format!("{} ansible_host={}", self.hosts[n].0, self.hosts[n].1);
        let etcd: Vec<String> = etcd.iter().map(|n| self.hosts[*n].0.clone()).collect();
        let text = format!(
            "[bootstrap]\n{}\n\n[kube_control_plane]\n{}\n{}\n{}\n\n[etcd]\n{}\n\n[kube_node:children]\nkube_control_plane\n\n[k8s_cluster:children]\nkube_control_plane\nkube_node\n\n[all:vars]\nansible_user=root\nansible_ssh_private_key_file={}\nansible_ssh_common_args='-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes'\n",
            h(0),
            h(1),
            h(2),
            h(3),
            etcd.join("\n"),
            self.key,
            self.known
        );
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    fn vip_holders(&self) -> Vec<usize> {
        (1..=3)
            .filter(|n| {
                self.ssh_ok(*n, "ip -o -4 addr show")
                    .contains(&format!(" {}/", vip(self)))
            })
            .collect()
    }
}

fn vip(lab: &Lab) -> String {
    let ip = &lab.hosts[0].1;
    format!("{}.250", &ip[..ip.rfind('.').unwrap()])
}

fn changed_on_every_host(r: &Run) -> Vec<(String, u32)> {
    r.recap()
        .into_iter()
        .filter(|(_, c)| c.changed > 0 || c.failed > 0)
        .map(|(h, c)| (h, c.changed))
        .collect()
}

fn timed(label: &str, times: &mut Vec<String>, f: impl FnOnce() -> Run) -> Run {
    let t = Instant::now();
    let r = f();
    let line = format!("{label}: {:.1} s", t.elapsed().as_secs_f64());
    eprintln!("{line}");
    times.push(line);
    r
}

fn offline_packages() -> String {
    let text = std::fs::read_to_string(root().join("group_vars/all/offline.yml")).unwrap();
    let v: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let mut pkgs = Vec::new();
    for f in ["os", "containerd", "etcd", "apiserver_ha"] {
        for p in v["offline_packages"][f].as_sequence().unwrap() {
            pkgs.push(p.as_str().unwrap().to_string());
        }
    }
    pkgs.join(" ")
}

fn push_repo(lab: &Lab, repo: &Path) {
    let cmd = format!(
        "tar -C {} -cf - . | ssh -i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes root@{} 'mkdir -p /srv/kplay/debian && tar -C /srv/kplay/debian -xf -'",
        repo.display(),
        lab.key,
        lab.known,
        lab.hosts[0].1
    );
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "pushing the repository to the bootstrap node");
}

#[test]
fn steps_00_to_02_ha_endpoint_and_reset_in_the_lab() {
    if !root_or_skip("roles_lab") {
        return;
    }
    let _machine = common::lab_lock();
    let mut times = Vec::new();
    let t0 = Instant::now();
    let repo = Command::new("bash")
        .arg(root().join("tests/roles_lab/testrepo.sh"))
        .args(offline_packages().split(' '))
        .output()
        .unwrap();
    assert!(
        repo.status.success(),
        "{}",
        String::from_utf8_lossy(&repo.stderr)
    );
    let repo = PathBuf::from(String::from_utf8_lossy(&repo.stdout).trim().to_string());
    times.push(format!(
        "temporary repository: {:.1} s",
        t0.elapsed().as_secs_f64()
    ));

    let _ = Command::new(kplay_bin())
        .args(["lab", "down", "--name", LAB])
        .output();
    let _down = Down;
    let up = Command::new(kplay_bin())
        .args(["lab", "up", "--hosts", "4", "--name", LAB])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let up_out = String::from_utf8_lossy(&up.stdout).into_owned();
    assert!(
        up.status.success(),
        "{up_out}{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let inv = std::fs::read_to_string(up_out.lines().last().unwrap()).unwrap();
    let dir = tempfile::Builder::new()
        .prefix("kplay-roles-lab-")
        .tempdir()
        .unwrap();
    let mut lab = Lab {
        dir: dir.path().to_path_buf(),
        hosts: Vec::new(),
        key: String::new(),
        known: String::new(),
    };
    for line in inv.lines() {
        if let Some((name, rest)) = line.split_once(" ansible_host=") {
            lab.hosts.push((name.to_string(), rest.trim().to_string()));
        } else if let Some(k) = line.strip_prefix("ansible_ssh_private_key_file=") {
            lab.key = k.to_string();
        } else if let Some(a) = line.strip_prefix("ansible_ssh_common_args=") {
            lab.known = a
                .split_whitespace()
                .find_map(|w| w.strip_prefix("UserKnownHostsFile="))
                .unwrap_or_default()
                .to_string();
        }
    }
    assert_eq!(lab.hosts.len(), 4, "{inv}");
    lab.inventory("hosts.ini", &[1, 2, 3]);
    std::fs::write(
        lab.dir.join("vars.yml"),
        format!(
            "apiserver_ha_mode: keepalived\nloadbalancer_apiserver: {{address: {}, port: 8443}}\n# The temporary repository is unsigned (the bundle's is signed).\ndebian_repo_source: \"deb [trusted=yes] {{{{ debian_repo_url }}}} {{{{ debian_repo_suite }}}} main\"\n",
            vip(&lab)
        ),
    )
    .unwrap();
    push_repo(&lab, &repo);
    let standin = root()
        .join("tests/roles_lab/standin-bootstrap.yml")
        .display()
        .to_string();
    lab.run("hosts.ini", &standin, &[]).assert_exit(0);

    // Bad input is refused by step 00 before any host changes.
    let refused = |r: &Run, want: &str| {
        assert_ne!(r.code, Some(0), "{}", r.dump());
        assert!(r.stdout.contains(want), "want {want:?}\n{}", r.dump());
        assert!(
            changed_on_every_host(r).iter().all(|(_, c)| *c == 0),
            "{}",
            r.dump()
        );
    };
    let bootstrap_ip = lab.hosts[0].1.clone();
    let in_use = format!(
        "{{\"loadbalancer_apiserver\": {{\"address\": \"{bootstrap_ip}\", \"port\": 8443}}}}"
    );
    refused(
        &lab.run("hosts.ini", "playbooks/00-preflight.yml", &["-e", &in_use]),
        "already answers on the network",
    );
    lab.inventory("even.ini", &[1, 2]);
    refused(
        &lab.run("even.ini", "playbooks/00-preflight.yml", &[]),
        "even number of members",
    );
    lab.inventory("noetcd.ini", &[]);
    refused(
        &lab.run("noetcd.ini", "playbooks/00-preflight.yml", &[]),
        "no [etcd] group",
    );
    refused(
        &lab.run(
            "hosts.ini",
            "playbooks/00-preflight.yml",
            &["-e", "bootstrap_http_port=9"],
        ),
        "is not reachable from",
    );
    let name2 = lab.hosts[1].0.clone();
    let name3 = lab.hosts[2].0.clone();
    lab.ssh_ok(2, &format!("hostname {name2}"));
    refused(
        &lab.run("hosts.ini", "playbooks/00-preflight.yml", &[]),
        "hostname",
    );
    lab.ssh_ok(2, &format!("hostname {name3}"));

    // The steps, then again: nothing changes the second time.
    let r = timed("00-preflight", &mut times, || {
        lab.run("hosts.ini", "playbooks/00-preflight.yml", &[])
    });
    r.assert_exit(0);
    let r = timed("01-cluster-bootstrap-os first run", &mut times, || {
        lab.run("hosts.ini", "playbooks/01-cluster-bootstrap-os.yml", &[])
    });
    r.assert_exit(0);
    let r = timed("02-cluster-etcd first run", &mut times, || {
        lab.run("hosts.ini", "playbooks/02-cluster-etcd.yml", &[])
    });
    r.assert_exit(0);
    for (step, pb) in [
        (
            "01-cluster-bootstrap-os rerun",
            "playbooks/01-cluster-bootstrap-os.yml",
        ),
        ("02-cluster-etcd rerun", "playbooks/02-cluster-etcd.yml"),
    ] {
        let r = timed(step, &mut times, || lab.run("hosts.ini", pb, &[]));
        r.assert_exit(0);
        assert!(changed_on_every_host(&r).is_empty(), "{step}: {}", r.dump());
        assert_eq!(r.recap().len(), if pb.contains("01") { 4 } else { 3 });
    }

    // etcd: 3 healthy members over TLS, from every member.
    for n in 1..=3 {
        let h = lab.ssh_ok(n, "etcdctl.sh endpoint health --cluster");
        assert_eq!(h.matches("is healthy").count(), 3, "{h}");
        assert_eq!(h.matches("https://").count(), 3, "{h}");
    }
    let certs = lab.ssh_ok(1, "ls /etc/ssl/etcd/ssl");
    for f in [
        "ca.pem",
        "ca-key.pem",
        &format!("member-{name2}.pem"),
        &format!("admin-{name2}-key.pem"),
    ] {
        assert!(certs.lines().any(|l| l == f), "{f} missing: {certs}");
    }
    assert_eq!(
        lab.ssh_ok(
            1,
            &format!("stat -c %a /etc/ssl/etcd/ssl/member-{name2}-key.pem")
        )
        .trim(),
        "600"
    );

    // The VIP answers on the frontend port, and moves within 10 s when keepalived stops.
    let vip = vip(&lab);
    lab.ssh_ok(
        0,
        &format!("timeout 3 bash -c 'exec 3<>/dev/tcp/{vip}/8443'"),
    );
    let holders = lab.vip_holders();
    assert_eq!(holders.len(), 1, "exactly one VIP holder: {holders:?}");
    let holder = holders[0];
    lab.ssh_ok(holder, "systemctl stop keepalived");
    let t = Instant::now();
    let mut moved = None;
    while t.elapsed() < Duration::from_secs(10) {
        let h = lab.vip_holders();
        if h.len() == 1 && h[0] != holder {
            moved = Some(t.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let moved = moved.expect("the VIP did not move within 10 s");
    times.push(format!("VIP moved in {:.1} s", moved.as_secs_f64()));
    lab.ssh_ok(
        0,
        &format!("timeout 3 bash -c 'exec 3<>/dev/tcp/{vip}/8443'"),
    );
    lab.ssh_ok(holder, "systemctl start keepalived");

    // One member down: the cluster stays writable.
    lab.ssh_ok(3, "systemctl stop etcd");
    lab.ssh_ok(1, "etcdctl.sh put /kplay/roles-lab written");
    assert!(lab
        .ssh_ok(2, "etcdctl.sh get /kplay/roles-lab")
        .contains("written"));
    lab.ssh_ok(3, "systemctl start etcd");

    // Reset leaves nothing behind.
    let r = timed("reset", &mut times, || {
        lab.run("hosts.ini", "playbooks/reset.yml", &[])
    });
    r.assert_exit(0);
    for n in 1..=3 {
        let (_, active) = lab.ssh(n, "systemctl is-active etcd haproxy keepalived containerd");
        assert!(!active.lines().any(|l| l.trim() == "active"), "{active}");
        let (_, left) = lab.ssh(n, "ls -d /var/lib/etcd /etc/ssl/etcd /etc/etcd.env /usr/local/bin/etcdctl.sh /etc/containerd /etc/apt/sources.list.d/kplay.list 2>/dev/null; dpkg-query -W etcd-server haproxy keepalived containerd 2>/dev/null");
        assert!(left.trim().is_empty(), "left after reset: {left}");
        assert!(!lab.ssh_ok(n, "cat /etc/hosts").contains("kplay"));
    }
    eprintln!("roles_lab times:\n  {}", times.join("\n  "));
}
