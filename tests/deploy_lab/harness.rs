//! The harness of the deployment lab tests: a lab (up once, down on drop), its hosts placed in
//! inventory groups, a bundle built by `kplay bundle build` (its packages cached by the bundle
//! builder under /var/cache/kplay), `kplay deploy` runs with their summary parsed, and plain
//! OpenSSH to the hosts for checking what the deploy left there.
//!
//! Used by tests/deploy_lab.rs (the bootstrap node), tests/deploy_e2e.rs (issue [7] on 5 hosts,
//! through `kplay deploy --lab --to 02`, its lab then adopted with `DeployLab::adopt`) and
//! tests/k8s_e2e.rs (issue [8], `kplay deploy --lab` in a lab brought up here); the pieces:
//! `DeployLab::up(name, n)`, `lab.inventory(dir, &[("bootstrap", &[0]), ("etcd", &[1, 2, 3]), …])`,
//! `lab.bundle()`, `lab.deploy(&inv, &bundle, &[…])` with `summary_line`/`changed_of`, then
//! checks over `lab.ssh_ok`.
#![allow(dead_code)] // Each test file uses its own part of the harness.

use crate::common::{kplay_timeout, Run};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Upper bound for one deploy in the lab.
pub const DEPLOY_TIMEOUT: Duration = Duration::from_secs(1200);

pub fn kplay_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kplay")
}

/// The repository root: its playbooks, roles and group_vars are what a deploy runs (on disk wins).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A lab brought up for one test and taken down when dropped.
pub struct DeployLab {
    pub name: String,
    /// (inventory name, address), in order.
    pub hosts: Vec<(String, String)>,
    pub key: String,
    pub known_hosts: String,
    pub work: tempfile::TempDir,
}

impl Drop for DeployLab {
    fn drop(&mut self) {
        // KPLAY_KEEP_FAILED_LAB=1 keeps a failed test's lab up to look at (take it down with
        // `kplay lab down --name NAME`).
        if std::thread::panicking()
            && std::env::var("KPLAY_KEEP_FAILED_LAB").is_ok_and(|v| v == "1")
        {
            eprintln!("lab {} kept (KPLAY_KEEP_FAILED_LAB=1)", self.name);
            return;
        }
        let out = Command::new(kplay_bin())
            .args(["lab", "down", "--name", &self.name])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => eprintln!("lab {} down", self.name),
            Ok(o) => eprintln!(
                "kplay lab down --name {} failed: {}",
                self.name,
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("kplay lab down could not run: {e}"),
        }
    }
}

/// Prints how long a phase took (tests print each phase's time).
pub fn phase<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    eprintln!("[phase] {what}: {:.1} s", t.elapsed().as_secs_f64());
    r
}

impl DeployLab {
    /// Brings up `n` hosts (a leftover lab of the same name is taken down first).
    pub fn up(name: &str, n: usize) -> DeployLab {
        let _ = Command::new(kplay_bin())
            .args(["lab", "down", "--name", name])
            .output();
        let out = Command::new(kplay_bin())
            .args(["lab", "up", "--hosts", &n.to_string(), "--name", name])
            .stdin(Stdio::null())
            .output()
            .expect("running kplay lab up");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kplay lab up failed:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lab = DeployLab::adopt(name, Path::new(stdout.lines().last().unwrap_or_default()));
        assert_eq!(lab.hosts.len(), n);
        lab
    }

    /// The lab `name` as its inventory (written by `kplay lab up`) describes it; taken down when
    /// dropped like one brought up here (`kplay deploy --lab` brings labs up itself).
    pub fn adopt(name: &str, inv: &Path) -> DeployLab {
        let text = std::fs::read_to_string(inv).expect("lab inventory");
        let mut hosts = Vec::new();
        let mut key = String::new();
        let mut known_hosts = String::new();
        for line in text.lines().map(str::trim) {
            if let Some(v) = line.strip_prefix("ansible_ssh_private_key_file=") {
                key = v.to_string();
            } else if let Some(v) = line.strip_prefix("ansible_ssh_common_args=") {
                known_hosts = v
                    .trim_matches('\'')
                    .split_whitespace()
                    .find_map(|a| a.strip_prefix("UserKnownHostsFile="))
                    .unwrap_or_default()
                    .to_string();
            } else if let Some(ip) = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("ansible_host="))
            {
                let name = line.split_whitespace().next().unwrap_or_default();
                hosts.push((name.to_string(), ip.to_string()));
            }
        }
        assert!(!hosts.is_empty(), "lab inventory:\n{text}");
        let work = tempfile::Builder::new()
            .prefix(&format!("kplay-{name}-"))
            .tempdir()
            .expect("work dir");
        DeployLab {
            name: name.to_string(),
            hosts,
            key,
            known_hosts,
            work,
        }
    }

    pub fn name(&self, n: usize) -> &str {
        &self.hosts[n].0
    }

    pub fn ip(&self, n: usize) -> &str {
        &self.hosts[n].1
    }

    /// An INI inventory in its own directory of the work dir (the deploy keeps its state and
    /// looks for hooks beside it), with the hosts (by index) in the given groups and
    /// `k8s_cluster` made of `kube_control_plane` and `kube_node`.
    pub fn inventory(&self, dir: &str, groups: &[(&str, &[usize])]) -> PathBuf {
        let mut text = String::from("[all]\n");
        for (name, ip) in &self.hosts {
            text.push_str(&format!("{name} ansible_host={ip}\n"));
        }
        for (g, members) in groups {
            text.push_str(&format!("\n[{g}]\n"));
            for &m in *members {
                text.push_str(&format!("{}\n", self.hosts[m].0));
            }
        }
        // k8s_cluster's children exist even when a test leaves them empty.
        for g in ["kube_control_plane", "kube_node"] {
            if !groups.iter().any(|(name, _)| *name == g) {
                text.push_str(&format!("\n[{g}]\n"));
            }
        }
        text.push_str(&format!(
            "\n[k8s_cluster:children]\nkube_control_plane\nkube_node\n\n[all:vars]\nansible_user=root\n\
             ansible_ssh_private_key_file={}\nansible_ssh_common_args='-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes'\n",
            self.key, self.known_hosts
        ));
        let d = self.work.path().join(dir);
        std::fs::create_dir_all(&d).expect("inventory dir");
        let p = d.join("hosts.ini");
        std::fs::write(&p, text).expect("writing the inventory");
        p
    }

    /// `kplay bundle build` into the work dir (packages come from the builder's cache after the
    /// first build on a machine).
    pub fn bundle(&self) -> PathBuf {
        let out = self.work.path().join("bundle");
        let run = kplay_timeout(
            &root(),
            &["bundle", "build", "--output", &out.to_string_lossy()],
            DEPLOY_TIMEOUT,
        );
        run.assert_no_panic();
        assert_eq!(run.code, Some(0), "kplay bundle build\n{}", run.dump());
        out
    }

    /// `kplay deploy -i INV --bundle DIR extra…` from the repository root.
    pub fn deploy(&self, inventory: &Path, bundle: &Path, extra: &[&str]) -> Run {
        let inv = inventory.to_string_lossy().into_owned();
        let b = bundle.to_string_lossy().into_owned();
        let mut args = vec!["deploy", "-i", &inv, "--bundle", &b];
        args.extend_from_slice(extra);
        let run = kplay_timeout(&root(), &args, DEPLOY_TIMEOUT);
        run.assert_no_panic();
        run
    }

    /// `kplay run PLAYBOOK -i INV extra…` from the repository root.
    pub fn play(&self, playbook: &Path, inventory: &Path, extra: &[&str]) -> Run {
        let pb = playbook.to_string_lossy().into_owned();
        let inv = inventory.to_string_lossy().into_owned();
        let mut args = vec!["run", &pb, "-i", &inv];
        args.extend_from_slice(extra);
        let run = kplay_timeout(&root(), &args, DEPLOY_TIMEOUT);
        run.assert_no_panic();
        run
    }

    /// Plain OpenSSH as root to host `n`: (success, stdout and stderr).
    pub fn ssh(&self, n: usize, cmd: &str) -> (bool, String) {
        let out = Command::new("ssh")
            .args([
                "-i",
                &self.key,
                "-o",
                &format!("UserKnownHostsFile={}", self.known_hosts),
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=5",
                &format!("root@{}", self.ip(n)),
                cmd,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("running ssh");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    pub fn ssh_ok(&self, n: usize, cmd: &str) -> String {
        let (ok, out) = self.ssh(n, cmd);
        assert!(ok, "on {}: {cmd}\n{out}", self.name(n));
        out.trim().to_string()
    }
}

/// The `DEPLOY SUMMARY` line of a step.
pub fn summary_line<'a>(run: &'a Run, step: &str) -> &'a str {
    let pos = run
        .stdout
        .rfind("DEPLOY SUMMARY")
        .unwrap_or_else(|| panic!("no DEPLOY SUMMARY\n{}", run.dump()));
    run.stdout[pos..]
        .lines()
        .find(|l| l.split_whitespace().next() == Some(step))
        .unwrap_or_else(|| panic!("{step} not in the summary\n{}", run.dump()))
}

/// A step's `changed=` total from the summary.
pub fn changed_of(run: &Run, step: &str) -> u32 {
    summary_line(run, step)
        .split_whitespace()
        .find_map(|w| w.strip_prefix("changed="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{step} did not run\n{}", run.dump()))
}
