//! Issue [7] end to end with `kplay deploy`, in a 4-host lab (1 bootstrap, 3 control-plane/etcd;
//! air-gapped Debian 12 with systemd): `kplay bundle build`, then `kplay deploy` installs
//! everything from the bootstrap node (etcd healthy with 3 members over TLS, the VIP answers,
//! containerd pulls the smoke image from the bootstrap registry over TLS); a second deploy skips
//! every step in seconds, `--force` changes nothing anywhere, a changed etcd variable re-runs 02
//! only, a deploy killed during 02 resumes at 02, reset leaves no etcd/haproxy/keepalived running
//! and no /var/lib/etcd, and a deploy after it works again. Bad input is refused first.
//!
//! (The VIP failover and a stopped etcd member are proven by tests/roles_lab.rs on the same roles.)

mod common;
#[path = "deploy_lab/harness.rs"]
mod harness;

use harness::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LAB: &str = "deploy-e2e";
const STEPS: [&str; 4] = [
    "bootstrap-node",
    "00-preflight",
    "01-cluster-bootstrap-os",
    "02-cluster-etcd",
];

fn vars(lab: &DeployLab, heartbeat: u32) -> std::path::PathBuf {
    let ip = lab.ip(0);
    let vip = format!("{}.250", &ip[..ip.rfind('.').unwrap_or(0)]);
    let p = lab.work.path().join("vars.yml");
    std::fs::write(
        &p,
        format!(
            "apiserver_ha_mode: keepalived\nloadbalancer_apiserver: {{address: {vip}, port: 8443}}\netcd_heartbeat_interval: {heartbeat}\n"
        ),
    )
    .unwrap();
    p
}

fn summary_word<'a>(run: &'a common::Run, step: &str) -> &'a str {
    summary_line(run, step)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
}

#[test]
fn deploy_an_ha_base_from_the_bootstrap_node_resume_and_reset() {
    if !common::root_or_skip("deploy_an_ha_base_from_the_bootstrap_node_resume_and_reset") {
        return;
    }
    let _machine = common::lab_lock();
    let lab = phase("lab up", || DeployLab::up(LAB, 4));
    // Lab hosts are clones of one base; real machines each have their own machine-id, which
    // preflight checks.
    for n in 0..4 {
        lab.ssh_ok(
            n,
            "id=$(python3 -c 'import uuid; print(uuid.uuid4().hex)'); \
             echo $id > /etc/machine-id; if [ -e /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then echo $id > /var/lib/dbus/machine-id; fi",
        );
    }
    let bundle = phase("bundle build", || lab.bundle());
    let members: &[usize] = &[1, 2, 3];
    let inv = lab.inventory(
        "cluster",
        &[
            ("bootstrap", &[0]),
            ("kube_control_plane", members),
            ("etcd", members),
            ("kube_node", members),
        ],
    );
    let vars_file = vars(&lab, 250);
    let e = format!("@{}", vars_file.display());
    let state = inv.parent().unwrap().join(".kplay/deploy-state.json");

    // Bad input: refused before any host is contacted.
    let no_bundle = lab.deploy(&inv, &lab.work.path().join("missing"), &["-e", &e]);
    assert_eq!(no_bundle.code, Some(5), "{}", no_bundle.dump());
    assert!(
        no_bundle.stderr.contains("does not exist"),
        "{}",
        no_bundle.dump()
    );
    let no_etcd = lab.inventory(
        "no-etcd",
        &[("bootstrap", &[0]), ("kube_control_plane", members)],
    );
    let r = lab.deploy(&no_etcd, &bundle, &["-e", &e]);
    assert_eq!(r.code, Some(5), "{}", r.dump());
    assert!(r.stderr.contains("no etcd hosts"), "{}", r.dump());
    let even = lab.inventory(
        "even",
        &[
            ("bootstrap", &[0]),
            ("kube_control_plane", members),
            ("etcd", &[1, 2]),
        ],
    );
    let r = lab.deploy(&even, &bundle, &["-e", &e]);
    assert_eq!(r.code, Some(5), "{}", r.dump());
    assert!(r.stderr.contains("2 etcd hosts"), "{}", r.dump());
    let (touched, _) = lab.ssh(0, "test -e /var/lib/kplay/bundle");
    assert!(!touched, "a refused deploy changed the bootstrap node");

    // The deploy.
    let first = phase("deploy", || lab.deploy(&inv, &bundle, &["-e", &e]));
    assert_eq!(first.code, Some(0), "{}", first.dump());
    for s in STEPS {
        assert_eq!(summary_word(&first, s), "done", "{}", first.dump());
    }
    let health = lab.ssh_ok(1, "etcdctl.sh endpoint health --cluster");
    assert_eq!(
        health.lines().filter(|l| l.contains("is healthy")).count(),
        3,
        "{health}"
    );
    let vip = vars_file_vip(&vars_file);
    lab.ssh_ok(
        0,
        &format!("python3 -c \"import socket; socket.create_connection(('{vip}', 8443), 5)\""),
    );
    let pulled = lab.ssh_ok(
        2,
        "ctr -n k8s.io images pull --hosts-dir /etc/containerd/certs.d registry.kplay.local:5000/kplay/smoke:1.35.0",
    );
    assert!(pulled.contains("done"), "{pulled}");

    // A second deploy skips every finished step, in seconds.
    let t = Instant::now();
    let second = lab.deploy(&inv, &bundle, &["-e", &e]);
    let took = t.elapsed();
    eprintln!(
        "[phase] second deploy (all skipped): {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(second.code, Some(0), "{}", second.dump());
    for s in STEPS {
        assert_eq!(summary_word(&second, s), "skipped", "{}", second.dump());
    }
    assert!(
        took < Duration::from_secs(30),
        "second deploy took {took:?}"
    );

    // --force runs every step again and changes nothing on any host.
    let forced = phase("deploy --force", || {
        lab.deploy(&inv, &bundle, &["-e", &e, "--force"])
    });
    assert_eq!(forced.code, Some(0), "{}", forced.dump());
    for s in STEPS {
        assert_eq!(changed_of(&forced, s), 0, "{s}\n{}", forced.dump());
    }

    // A variable that 02 uses re-runs 02 and nothing else.
    vars(&lab, 300);
    let changed = phase("deploy with a changed etcd variable", || {
        lab.deploy(&inv, &bundle, &["-e", &e])
    });
    assert_eq!(changed.code, Some(0), "{}", changed.dump());
    for s in &STEPS[..3] {
        assert_eq!(summary_word(&changed, s), "skipped", "{}", changed.dump());
    }
    assert_eq!(summary_word(&changed, "02-cluster-etcd"), "done");
    let conf = lab.ssh_ok(1, "cat /etc/etcd.env");
    assert!(conf.contains("300"), "{conf}");

    // Killed during 02, the next deploy resumes at 02.
    let mut child = Command::new(kplay_bin())
        .args([
            "deploy",
            "-i",
            &inv.to_string_lossy(),
            "--bundle",
            &bundle.to_string_lossy(),
            "-e",
            &e,
            "--from",
            "02",
        ])
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kplay deploy");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Killed at its first task's banner after the step started: 02 is under way.
    let mut in_02 = false;
    loop {
        assert!(Instant::now() < deadline, "02 never started");
        match lines.next() {
            Some(Ok(l)) if l.contains("] 02-cluster-etcd:") => in_02 = true,
            Some(Ok(l)) if in_02 && l.starts_with("TASK [") => break,
            Some(_) => {}
            None => panic!("kplay ended before 02 started"),
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let recorded = std::fs::read_to_string(&state).unwrap();
    assert!(
        recorded.contains("\"running\"") && recorded.contains("\"step\": \"02-cluster-etcd\""),
        "{recorded}"
    );
    let resumed = phase("deploy after a kill", || {
        lab.deploy(&inv, &bundle, &["-e", &e])
    });
    assert_eq!(resumed.code, Some(0), "{}", resumed.dump());
    assert!(
        resumed.stderr.contains("stopped during 02-cluster-etcd"),
        "{}",
        resumed.dump()
    );
    for s in &STEPS[..3] {
        assert_eq!(summary_word(&resumed, s), "skipped", "{}", resumed.dump());
    }
    assert_eq!(summary_word(&resumed, "02-cluster-etcd"), "done");

    // reset leaves nothing running and no etcd data; the state starts over.
    let reset = phase("reset", || {
        let run = common::kplay_timeout(
            &root(),
            &["reset", "-i", &inv.to_string_lossy(), "-e", &e, "--yes"],
            DEPLOY_TIMEOUT,
        );
        run.assert_no_panic();
        run
    });
    assert_eq!(reset.code, Some(0), "{}", reset.dump());
    assert!(!state.exists());
    for n in 1..4 {
        let (_, active) = lab.ssh(n, "systemctl is-active etcd haproxy keepalived");
        assert!(active.lines().all(|l| l.trim() != "active"), "{active}");
        lab.ssh_ok(n, "test ! -e /var/lib/etcd");
    }

    // And a deploy works again from scratch.
    let again = phase("deploy after reset", || {
        lab.deploy(&inv, &bundle, &["-e", &e])
    });
    assert_eq!(again.code, Some(0), "{}", again.dump());
    let health = lab.ssh_ok(1, "etcdctl.sh endpoint health --cluster");
    assert_eq!(
        health.lines().filter(|l| l.contains("is healthy")).count(),
        3,
        "{health}"
    );
}

fn vars_file_vip(p: &std::path::Path) -> String {
    let text = std::fs::read_to_string(p).unwrap();
    text.split("address: ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .unwrap_or_default()
        .to_string()
}
