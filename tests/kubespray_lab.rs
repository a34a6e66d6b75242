//! kubespray's `cluster.yml --check` on 3 real lab hosts: the must-show of issue [6]. kubespray
//! is read in place from an unmodified tree (`$KPLAY_KUBESPRAY`, else `../shared/corpus/kubespray`
//! beside the workspace or its worktree directory; without it the test prints why and skips), run
//! from its root so its own `ansible.cfg` applies, with its sample inventory's `group_vars` used
//! in place: `-i inventory/sample/inventory.ini` (whose groups are empty) then a generated hosts
//! file in the sample's shape naming the 3 lab hosts in kube_control_plane/etcd/kube_node.
//!
//! The air-gapped lab cannot download anything, so the run must get through
//! kubernetes/preinstall and the container-engine roles' checks, then stop at the first download,
//! `container-engine/runc : Download_file | Download item`, on every host, with the failed
//! request naming the URL (exit 2 and a PLAY RECAP, no crash).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const LAB: &str = "c6-kubespray";

/// The task where the air gap shows first.
const FIRST_DOWNLOAD: &str = "container-engine/runc : Download_file | Download item";

/// Brings the lab up and returns the inventory `kplay lab up` wrote.
fn lab_up() -> PathBuf {
    let up = Command::new(common::kplay_bin())
        .args(["lab", "up", "--name", LAB, "--hosts", "3"])
        .stdin(Stdio::null())
        .output()
        .expect("kplay lab up");
    let text = String::from_utf8_lossy(&up.stdout).into_owned();
    assert!(
        up.status.success(),
        "lab up: {text}{}",
        String::from_utf8_lossy(&up.stderr)
    );
    PathBuf::from(text.lines().last().unwrap_or_default().trim())
}

/// kubespray's sample inventory shape (`inventory/sample/inventory.ini`) for the lab's hosts:
/// node1..3 with `ansible_host`/`ip`/`etcd_member_name`, all three control plane, etcd (as
/// children of kube_control_plane) and nodes; the lab's SSH settings from its own inventory.
fn kubespray_hosts(lab_inventory: &str) -> String {
    let mut hosts = Vec::new();
    let mut all_vars = String::new();
    let mut section = "";
    for line in lab_inventory.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = if line == "[all:vars]" {
                "vars"
            } else {
                "hosts"
            };
        } else if line.is_empty() || line.starts_with('#') {
        } else if section == "vars" {
            all_vars.push_str(line);
            all_vars.push('\n');
        } else if let Some(ip) = line.split_once("ansible_host=").map(|(_, ip)| ip.trim()) {
            hosts.push(ip.to_string());
        }
    }
    assert_eq!(hosts.len(), 3, "3 lab hosts in:\n{lab_inventory}");
    let mut s = String::from("[kube_control_plane]\n");
    for (i, ip) in hosts.iter().enumerate() {
        let n = i + 1;
        s.push_str(&format!(
            "node{n} ansible_host={ip} ip={ip} etcd_member_name=etcd{n}\n"
        ));
    }
    s.push_str("\n[etcd:children]\nkube_control_plane\n\n[kube_node]\n");
    for n in 1..=hosts.len() {
        s.push_str(&format!("node{n}\n"));
    }
    s.push_str("\n[all:vars]\n");
    s.push_str(&all_vars);
    s
}

/// What the lab's fresh hosts lack that kubespray's check run needs from any host, prepared with
/// a real (not check) kplay run:
/// - a `nameserver` line in /etc/resolv.conf: kubespray asserts one
///   (`roles/kubernetes/preinstall/tasks/0040-verify-settings.yml`, "Stop if /etc/resolv.conf has
///   no configured nameservers", reading the host's file), whoever runs it. 127.0.0.1 answers
///   nothing, so name lookups fail at once, as on an air-gapped host.
/// - /etc/kubernetes/ssl: preinstall makes it, then links /etc/kubernetes/pki to it; in check mode
///   the directory is never made and ansible-core's `file` refuses the link to a missing source
///   (`tests/differential/check_link_to_planned_dir` shows ansible-core and kplay agree on that).
fn prepare_hosts(dir: &Path, lab_inventory: &Path) {
    let pb = r#"
- hosts: all
  gather_facts: false
  tasks:
    - lineinfile: {path: /etc/resolv.conf, line: nameserver 127.0.0.1, create: true, mode: "0644"}
    - file: {path: /etc/kubernetes/ssl, state: directory, mode: "0755"}
"#;
    common::write(dir, "prepare.yml", pb);
    let inv = lab_inventory.display().to_string();
    common::kplay(dir, &["run", "prepare.yml", "-i", &inv])
        .assert_no_panic()
        .assert_exit(0);
}

/// Lines of the text output naming a task of roles under `prefix`.
fn tasks_of(stdout: &str, prefix: &str) -> usize {
    stdout
        .lines()
        .filter(|l| l.starts_with(&format!("TASK [{prefix}")))
        .count()
}

#[test]
fn cluster_check_on_three_lab_hosts_stops_at_the_first_download() {
    let Some(tree) = common::kubespray_tree() else {
        eprintln!(
            "SKIP: no kubespray tree (set KPLAY_KUBESPRAY or put it at ../shared/corpus/kubespray)"
        );
        return;
    };
    if !common::root_or_skip("kubespray_lab") {
        return;
    }
    let _machine = common::lab_lock();
    let _down = common::LabDown(LAB);
    let lab_inventory = lab_up();
    let t = common::tempdir();
    prepare_hosts(t.path(), &lab_inventory);
    let hosts = common::write(
        t.path(),
        "hosts.ini",
        &kubespray_hosts(&common::read(&lab_inventory)),
    );
    let hosts = hosts.display().to_string();
    // kubespray's ansible.cfg caches facts in /tmp for a day; this run's hosts are new.
    let cache = t.path().join("facts").display().to_string();
    let cfg = tree.join("ansible.cfg").display().to_string();
    let run = common::kplay_timeout_env(
        &tree,
        &[
            "run",
            "cluster.yml",
            "-i",
            "inventory/sample/inventory.ini",
            "-i",
            &hosts,
            "--check",
            // kubespray hides get_url's result (it may hold credentials) unless asked.
            "-e",
            "unsafe_show_logs=true",
        ],
        Duration::from_secs(600),
        &[
            ("ANSIBLE_CONFIG", &cfg),
            ("ANSIBLE_CACHE_PLUGIN_CONNECTION", &cache),
        ],
    );
    eprintln!("cluster.yml --check on 3 lab hosts: {:?}", run.elapsed);
    run.assert_no_panic().assert_exit(2);
    let out = &run.stdout;
    let preinstall = tasks_of(out, "kubernetes/preinstall");
    let engines = tasks_of(out, "container-engine");
    eprintln!("{preinstall} kubernetes/preinstall tasks, {engines} container-engine tasks");
    assert!(
        preinstall >= 60,
        "preinstall tasks: {preinstall}\n{}",
        run.dump()
    );
    assert!(
        engines >= 20,
        "container-engine tasks: {engines}\n{}",
        run.dump()
    );
    let last_task = out
        .lines()
        .rfind(|l| l.starts_with("TASK ["))
        .unwrap_or_default();
    assert!(
        last_task.starts_with(&format!("TASK [{FIRST_DOWNLOAD}]")),
        "the run must stop at the first download, stopped at {last_task}\n{}",
        run.dump()
    );
    let fatal: Vec<&str> = out.lines().filter(|l| l.starts_with("fatal: [")).collect();
    assert_eq!(fatal.len(), 3, "one failure per host\n{}", run.dump());
    eprintln!("{}", fatal[0]);
    for line in &fatal {
        assert!(
            line.contains("Request failed")
                && line.contains("https://github.com/opencontainers/runc/releases/download/"),
            "the failure must name the request and its URL: {line}"
        );
    }
    let recap = run.recap();
    for n in 1..=3 {
        let c = run.host(&format!("node{n}"));
        assert_eq!((c.failed, c.unreachable), (1, 0), "node{n}: {recap:?}");
        assert!(c.ok > 80, "node{n}: {recap:?}");
    }
}
