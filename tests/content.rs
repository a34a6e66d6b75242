//! The deployment content compiled into kplay (`playbooks/ roles/ group_vars/ inventory/`), through
//! the real binary: embedded playbooks run from any directory, files on disk win over embedded ones,
//! `kplay content extract` writes an editable copy, and step 00 (`00-preflight.yml`) passes twice
//! against a 3-host lab, the second time changing nothing.
//!
//! The lab test needs root: without it it prints why and skips; under `CI=true` it fails instead.

mod common;

use common::{parse_recap, root_or_skip, Run};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const LAB: &str = "content";

/// Runs kplay in `cwd` with `HOME` set to `home` (so the content cache lands in a temp dir) and no
/// ambient Ansible configuration.
fn kplay_home(cwd: &Path, home: &Path, args: &[&str]) -> Run {
    let start = Instant::now();
    let mut child = Command::new(common::kplay_bin())
        .args(args)
        .current_dir(cwd)
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env("ANSIBLE_CONFIG", cwd.join("no-such-ansible.cfg"))
        .env_remove("ANSIBLE_INVENTORY")
        .env_remove("ANSIBLE_ROLES_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning kplay");
    let mut stdout = String::new();
    let mut stderr = String::new();
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let _ = child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut stdout);
    let status = child.wait().expect("waiting for kplay");
    stderr.push_str(&err_reader.join().unwrap_or_default());
    Run {
        code: status.code(),
        stdout,
        stderr,
        elapsed: start.elapsed(),
        timed_out: false,
    }
}

/// A one-host local inventory whose host is in the cluster groups the preflight play targets.
fn local_cluster_inventory(dir: &Path) -> String {
    let inv = "[kube_control_plane]\nlocalhost ansible_connection=local\n\n[k8s_cluster:children]\nkube_control_plane\n";
    common::write(dir, "cluster.ini", inv).display().to_string()
}

#[test]
fn the_embedded_preflight_playbook_passes_syntax_check_from_any_directory() {
    let (cwd, home) = (common::tempdir(), common::tempdir());
    let run = kplay_home(
        cwd.path(),
        home.path(),
        &["run", "00-preflight.yml", "--syntax-check"],
    );
    run.assert_exit(0);
    let cache = home.path().join(".kplay").join("content");
    assert!(
        run.stdout
            .contains(&format!("playbook: {}", cache.display())),
        "{}",
        run.dump()
    );
    let versions: Vec<_> = std::fs::read_dir(&cache)
        .expect("the content cache exists")
        .flatten()
        .collect();
    assert_eq!(versions.len(), 1, "one versioned cache dir");
    assert!(versions[0]
        .path()
        .join("roles/preflight/tasks/main.yml")
        .is_file());
}

#[test]
fn the_embedded_preflight_playbook_lists_its_role_tasks() {
    let (cwd, home) = (common::tempdir(), common::tempdir());
    let inv = local_cluster_inventory(cwd.path());
    let run = kplay_home(
        cwd.path(),
        home.path(),
        &[
            "run",
            "playbooks/00-preflight.yml",
            "--list-tasks",
            "-i",
            &inv,
        ],
    );
    run.assert_exit(0);
    for task in [
        "preflight : The distribution and its version are supported",
        "preflight : Set network kernel parameters",
        "preflight : Write every cluster node into /etc/hosts",
    ] {
        assert!(
            run.stdout.contains(task),
            "missing task {task}\n{}",
            run.dump()
        );
    }
}

#[test]
fn a_playbook_on_disk_wins_over_the_embedded_one() {
    let (cwd, home) = (common::tempdir(), common::tempdir());
    common::write(
        cwd.path(),
        "playbooks/00-preflight.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=from-the-disk-playbook\n",
    );
    let run = kplay_home(
        cwd.path(),
        home.path(),
        &[
            "run",
            "playbooks/00-preflight.yml",
            "-i",
            "localhost,",
            "-c",
            "local",
        ],
    );
    run.assert_exit(0);
    assert!(
        run.stdout.contains("from-the-disk-playbook"),
        "{}",
        run.dump()
    );
}

#[test]
fn a_role_beside_the_playbook_wins_over_the_embedded_role() {
    let (cwd, home) = (common::tempdir(), common::tempdir());
    common::write(
        cwd.path(),
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  roles: [preflight]\n",
    );
    common::write(
        cwd.path(),
        "roles/preflight/tasks/main.yml",
        "- debug: msg=from-the-disk-role\n",
    );
    let run = kplay_home(
        cwd.path(),
        home.path(),
        &["run", "site.yml", "-i", "localhost,", "-c", "local"],
    );
    run.assert_exit(0);
    assert!(run.stdout.contains("from-the-disk-role"), "{}", run.dump());
}

#[test]
fn a_disk_playbook_falls_back_to_the_embedded_role() {
    let (cwd, home) = (common::tempdir(), common::tempdir());
    common::write(
        cwd.path(),
        "site.yml",
        "- hosts: all\n  gather_facts: false\n  roles: [preflight]\n",
    );
    let run = kplay_home(
        cwd.path(),
        home.path(),
        &["run", "site.yml", "--list-tasks", "-i", "localhost,"],
    );
    run.assert_exit(0);
    assert!(
        run.stdout
            .contains("preflight : Set network kernel parameters"),
        "{}",
        run.dump()
    );
}

#[test]
fn extracted_content_runs_from_disk_and_its_edits_take_effect() {
    let (cwd, home) = (common::tempdir(), common::tempdir());
    let dest = cwd.path().join("site");
    let run = kplay_home(cwd.path(), home.path(), &["content", "extract", "site"]);
    run.assert_exit(0);
    assert!(
        dest.join("inventory/sample/hosts.ini").is_file()
            && dest.join("group_vars/all/preflight.yml").is_file()
    );
    // An on-site edit of the top-level role is what the extracted playbook runs.
    common::write(
        &dest,
        "roles/preflight/tasks/main.yml",
        "- debug: msg=edited-on-site\n",
    );
    let inv = local_cluster_inventory(cwd.path());
    let run = kplay_home(
        cwd.path(),
        home.path(),
        &["run", "site/playbooks/00-preflight.yml", "-i", &inv],
    );
    run.assert_exit(0);
    assert!(run.stdout.contains("edited-on-site"), "{}", run.dump());
    let again = kplay_home(cwd.path(), home.path(), &["content", "extract", "site"]);
    assert_ne!(
        again.code,
        Some(0),
        "extracting over a non-empty dir must fail\n{}",
        again.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// Lab: step 00 against three air-gapped Debian 12 hosts.

/// Takes the lab down when the test ends, passed or not.
struct LabGuard;

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = Command::new(common::kplay_bin())
            .args(["lab", "down", "--name", LAB])
            .stdin(Stdio::null())
            .output();
    }
}

/// Host names of the lab inventory's `[lab]` group, in order.
fn lab_hosts(inventory: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(inventory).expect("reading the lab inventory");
    let mut in_lab = false;
    let mut hosts = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_lab = line == "[lab]";
        } else if in_lab && !line.is_empty() && !line.starts_with('#') {
            hosts.extend(line.split_whitespace().next().map(str::to_string));
        }
    }
    hosts
}

/// The cluster layout over the lab: h1 control plane, h2 and h3 workers, all three etcd members.
fn cluster_groups(hosts: &[String]) -> String {
    format!(
        "[kube_control_plane]\n{h1}\n\n[kube_node]\n{h2}\n{h3}\n\n[etcd]\n{h1}\n{h2}\n{h3}\n\n[k8s_cluster:children]\nkube_control_plane\nkube_node\n",
        h1 = hosts[0],
        h2 = hosts[1],
        h3 = hosts[2]
    )
}

fn etc_hosts(cwd: &Path, home: &Path, lab_inv: &Path, host: &str) -> String {
    let lab = lab_inv.display().to_string();
    let run = kplay_home(
        cwd,
        home,
        &[
            "adhoc",
            host,
            "-i",
            &lab,
            "-m",
            "command",
            "-a",
            "cat /etc/hosts",
        ],
    );
    run.assert_exit(0);
    run.stdout
}

#[test]
fn preflight_passes_on_the_lab_and_a_second_run_changes_nothing() {
    if !root_or_skip("preflight_passes_on_the_lab_and_a_second_run_changes_nothing") {
        return;
    }
    let (cwd, home) = (common::tempdir(), common::tempdir());
    let _machine = common::lab_lock();
    let _guard = LabGuard;
    let up = Command::new(common::kplay_bin())
        .args(["lab", "up", "--hosts", "3", "--name", LAB])
        .stdin(Stdio::null())
        .output()
        .expect("running kplay lab up");
    let up_out = String::from_utf8_lossy(&up.stdout).into_owned();
    assert!(
        up.status.success(),
        "kplay lab up failed:\n{up_out}\n{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let lab_inv = PathBuf::from(up_out.lines().last().unwrap_or_default());
    let hosts = lab_hosts(&lab_inv);
    assert_eq!(hosts.len(), 3, "three lab hosts in {}", lab_inv.display());
    let groups = common::write(cwd.path(), "cluster.ini", &cluster_groups(&hosts));
    let (lab, groups) = (lab_inv.display().to_string(), groups.display().to_string());
    let args = [
        "run",
        "00-preflight.yml",
        "-i",
        lab.as_str(),
        "-i",
        groups.as_str(),
    ];

    let mut check_args = args.to_vec();
    check_args.push("--check");
    let check = kplay_home(cwd.path(), home.path(), &check_args);
    check.assert_exit(0);
    assert!(
        !etc_hosts(cwd.path(), home.path(), &lab_inv, &hosts[1]).contains("kplay cluster nodes"),
        "--check wrote /etc/hosts"
    );

    let first = kplay_home(cwd.path(), home.path(), &args);
    first.assert_exit(0);
    let recap = parse_recap(&first.stdout);
    assert_eq!(recap.len(), 3, "{}", first.dump());
    assert!(
        recap.values().all(|c| c.changed > 0 && c.failed == 0),
        "first run prepares every node\n{}",
        first.dump()
    );

    let second = kplay_home(cwd.path(), home.path(), &args);
    second.assert_exit(0);
    let recap = parse_recap(&second.stdout);
    assert_eq!(recap.len(), 3, "{}", second.dump());
    assert!(
        recap.values().all(|c| c.changed == 0 && c.failed == 0),
        "second run must change nothing\n{}",
        second.dump()
    );

    let hosts_file = etc_hosts(cwd.path(), home.path(), &lab_inv, &hosts[1]);
    for h in &hosts {
        assert!(
            hosts_file
                .lines()
                .any(|l| l.ends_with(&format!(" {h}")) && !l.starts_with("127.")),
            "{h} missing from /etc/hosts:\n{hosts_file}"
        );
    }
    eprintln!(
        "00-preflight on 3 lab hosts: --check {:?}, first run {:?}, second run {:?}",
        check.elapsed, first.elapsed, second.elapsed
    );
}
