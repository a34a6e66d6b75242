//! Issue [7] end to end with `kplay deploy --lab --to 02` (the HA base: Kubernetes, steps 03-05,
//! is tests/k8s_e2e.rs' part), in one 5-host lab (1 bootstrap, 3 control-plane/etcd, 1 worker;
//! air-gapped Debian 12 with systemd) that the deploy brings up itself, with the bundle it builds
//! once (or reuses from /var/cache/kplay/lab-bundle):
//!
//! - bad input is refused before any host changes, each saying what to fix: a missing bundle, a
//!   VIP already in use, a duplicate hostname (both by 00-preflight, which runs before the
//!   bootstrap node gets anything), no etcd hosts, an even etcd member count;
//! - the deploy installs everything from the bootstrap node and prints how to reach the cluster;
//!   `etcdctl.sh endpoint health --cluster` reports 3 healthy members over TLS on every member;
//!   the VIP answers on the frontend port and moves within 10 s when keepalived stops on its
//!   holder; with one etcd member stopped the cluster stays writable; containerd pulls the smoke
//!   image from the bootstrap registry over TLS;
//! - a second deploy skips every step in seconds, `--force` changes nothing anywhere, a changed
//!   etcd variable re-runs 02 only, a deploy killed during 02 resumes at 02;
//! - `kplay reset --lab` leaves no service, data, certificate or package behind, and a deploy
//!   after it works again.
//!
//! Every phase's time is printed (`[phase] …`), and a summary at the end (README's numbers).

mod common;
#[path = "deploy_lab/harness.rs"]
mod harness;

use harness::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LAB: &str = "deploy-e2e";
const STEPS: [&str; 4] = [
    "00-preflight",
    "bootstrap-node",
    "01-cluster-bootstrap-os",
    "02-cluster-etcd",
];
/// A value of a variable 02 uses, other than group_vars' (250).
const HEARTBEAT: &str = "etcd_heartbeat_interval=300";

fn lab_dir() -> PathBuf {
    Path::new("/var/lib/kplay/lab").join(LAB)
}

/// `kplay deploy --lab LAB --to 02 extra…` from the repository root.
fn deploy_lab(extra: &[&str]) -> common::Run {
    let mut args = vec!["deploy", "--lab", LAB, "--to", "02"];
    args.extend_from_slice(extra);
    let run = common::kplay_timeout(&root(), &args, DEPLOY_TIMEOUT);
    run.assert_no_panic();
    run
}

fn summary_word<'a>(run: &'a common::Run, step: &str) -> &'a str {
    summary_line(run, step)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
}

/// Timed like `phase`, and kept for the summary at the end.
fn timed<T>(times: &mut Vec<String>, what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let r = f();
    let line = format!("{what}: {:.1} s", t.elapsed().as_secs_f64());
    eprintln!("[phase] {line}");
    times.push(line);
    r
}

/// Refused by 00-preflight: failed there, nothing after it ran, nothing changed anywhere, and the
/// output says `want`.
fn refused_by_preflight(run: &common::Run, want: &str, lab: &DeployLab) {
    assert_eq!(run.code, Some(2), "{}", run.dump());
    assert!(run.stdout.contains(want), "want {want:?}\n{}", run.dump());
    assert_eq!(
        summary_word(run, "00-preflight"),
        "FAILED",
        "{}",
        run.dump()
    );
    assert_eq!(changed_of(run, "00-preflight"), 0, "{}", run.dump());
    assert!(
        summary_line(run, "bootstrap-node").contains("not run"),
        "{}",
        run.dump()
    );
    let (touched, _) = lab.ssh(0, "test -e /var/lib/kplay/bundle");
    assert!(!touched, "a refused deploy changed the bootstrap node");
}

/// The hosts (by index) that hold the VIP.
fn vip_holders(lab: &DeployLab, vip: &str) -> Vec<usize> {
    (1..4)
        .filter(|n| {
            lab.ssh_ok(*n, "ip -o -4 addr show")
                .contains(&format!(" {vip}/"))
        })
        .collect()
}

fn assert_healthy(lab: &DeployLab, n: usize) {
    let h = lab.ssh_ok(n, "etcdctl.sh endpoint health --cluster");
    assert_eq!(h.matches("is healthy").count(), 3, "{h}");
    assert_eq!(h.matches("https://").count(), 3, "{h}");
}

/// Waits (up to 60 s) until every member reports 3 healthy members again.
fn wait_healthy(lab: &DeployLab) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ok, h) = lab.ssh(1, "etcdctl.sh endpoint health --cluster");
        if ok && h.matches("is healthy").count() == 3 {
            return;
        }
        assert!(Instant::now() < deadline, "etcd not healthy again: {h}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn deploy_an_ha_base_into_the_lab_resume_and_reset() {
    if !common::root_or_skip("deploy_an_ha_base_into_the_lab_resume_and_reset") {
        return;
    }
    let _machine = common::lab_lock();
    let mut times = Vec::new();
    // A lab of this name left by a killed run is not reused by accident.
    let _ = Command::new(kplay_bin())
        .args(["lab", "down", "--name", LAB])
        .output();

    // --list brings nothing up and builds nothing.
    let listed = deploy_lab(&["--list"]);
    assert_eq!(listed.code, Some(0), "{}", listed.dump());
    assert!(listed.stderr.contains("not up"), "{}", listed.dump());
    assert!(!lab_dir().exists(), "--list brought the lab up");

    // Bad input 1: a missing bundle, refused once the lab is up and before any host is contacted.
    let no_bundle = timed(&mut times, "lab up (kplay deploy --lab)", || {
        deploy_lab(&["--bundle", "/nonexistent/kplay-bundle"])
    });
    let lab = DeployLab::adopt(LAB, &lab_dir().join("inventory.ini"));
    assert_eq!(no_bundle.code, Some(5), "{}", no_bundle.dump());
    assert!(
        no_bundle.stderr.contains("does not exist")
            && no_bundle.stderr.contains("kplay bundle build"),
        "{}",
        no_bundle.dump()
    );
    assert_eq!(lab.hosts.len(), 5);

    // Each lab host is its own machine: machine-id and (where the machine has DMI) product_uuid.
    let ids: Vec<String> = (0..5)
        .map(|n| {
            lab.ssh_ok(
                n,
                "cat /etc/machine-id; cat /sys/class/dmi/id/product_uuid 2>/dev/null || true",
            )
        })
        .collect();
    for (i, a) in ids.iter().enumerate() {
        for b in &ids[i + 1..] {
            for (x, y) in a.lines().zip(b.lines()) {
                assert_ne!(x, y, "two lab hosts share an identity:\n{a}\n{b}");
            }
        }
    }

    // Bad input 2: a VIP that answers already (the bootstrap node's address). This run also
    // builds (or reuses) the bundle.
    let in_use = format!(
        "{{\"loadbalancer_apiserver\": {{\"address\": \"{}\", \"port\": 8443}}}}",
        lab.ip(0)
    );
    let r = timed(&mut times, "bundle (built or reused) + refused VIP", || {
        deploy_lab(&["-e", &in_use])
    });
    refused_by_preflight(&r, "already answers on the network", &lab);
    assert!(
        r.stdout
            .contains("pick a free address for loadbalancer_apiserver.address"),
        "{}",
        r.dump()
    );
    let bundle = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("bundle: "))
        .flat_map(str::split_whitespace)
        .find(|w| w.starts_with("/var/cache/kplay/lab-bundle/"))
        .map(|w| PathBuf::from(w.trim_end_matches(':')))
        .unwrap_or_else(|| panic!("no bundle path\n{}", r.dump()));

    // Bad input 3: two nodes with one hostname.
    let (name1, name2) = (lab.name(1).to_string(), lab.name(2).to_string());
    lab.ssh_ok(2, &format!("hostname {name1}"));
    let r = deploy_lab(&[]);
    lab.ssh_ok(2, &format!("hostname {name2}"));
    refused_by_preflight(&r, &format!("hostname {name1} is on 2 nodes"), &lab);
    assert!(r.stdout.contains("need a new hostname"), "{}", r.dump());

    // Bad input 4 and 5: no etcd hosts, an even member count (refused before any host).
    let members: &[usize] = &[1, 2, 3];
    let no_etcd = lab.inventory(
        "no-etcd",
        &[("bootstrap", &[0]), ("kube_control_plane", members)],
    );
    let r = lab.deploy(&no_etcd, &bundle, &[]);
    assert_eq!(r.code, Some(5), "{}", r.dump());
    assert!(
        r.stderr.contains("no etcd hosts") && r.stderr.contains("add an [etcd] group"),
        "{}",
        r.dump()
    );
    let even = lab.inventory(
        "even",
        &[
            ("bootstrap", &[0]),
            ("kube_control_plane", members),
            ("etcd", &[1, 2]),
        ],
    );
    let r = lab.deploy(&even, &bundle, &[]);
    assert_eq!(r.code, Some(5), "{}", r.dump());
    assert!(
        r.stderr.contains("2 etcd hosts") && r.stderr.contains("odd number"),
        "{}",
        r.dump()
    );
    let (touched, _) = lab.ssh(0, "test -e /var/lib/kplay/bundle");
    assert!(!touched, "a refused deploy changed the bootstrap node");

    // The deploy, and how to reach what it made.
    let first = timed(&mut times, "deploy (5 hosts, steps 00-02)", || {
        deploy_lab(&[])
    });
    assert_eq!(first.code, Some(0), "{}", first.dump());
    for s in STEPS {
        assert_eq!(summary_word(&first, s), "done", "{}", first.dump());
    }
    let inv = lab_dir().join("deploy/hosts.ini");
    let vip = format!("{}.250", &lab.ip(0)[..lab.ip(0).rfind('.').unwrap_or(0)]);
    for want in [
        format!("inventory  {}", inv.display()),
        format!("root@{}", lab.ip(1)),
        format!("{vip}:8443"),
        "etcdctl.sh endpoint health --cluster".to_string(),
    ] {
        assert!(first.stdout.contains(&want), "{want}\n{}", first.dump());
    }
    let state = lab_dir().join("deploy/.kplay/deploy-state.json");
    assert!(state.is_file());

    // etcd: 3 healthy members over TLS, seen from every member; member keys owner-only.
    for n in 1..4 {
        assert_healthy(&lab, n);
    }
    assert_eq!(
        lab.ssh_ok(
            1,
            &format!("stat -c %a /etc/ssl/etcd/ssl/member-{name1}-key.pem")
        ),
        "600"
    );

    // The VIP answers on the frontend port, and moves within 10 s when keepalived stops.
    let vip_answers = format!("timeout 3 bash -c 'exec 3<>/dev/tcp/{vip}/8443'");
    lab.ssh_ok(0, &vip_answers);
    let holders = vip_holders(&lab, &vip);
    assert_eq!(holders.len(), 1, "exactly one VIP holder: {holders:?}");
    let holder = holders[0];
    lab.ssh_ok(holder, "systemctl stop keepalived");
    let t = Instant::now();
    let mut moved = None;
    while t.elapsed() < Duration::from_secs(10) {
        let h = vip_holders(&lab, &vip);
        if h.len() == 1 && h[0] != holder {
            moved = Some(t.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let moved = moved.expect("the VIP did not move within 10 s");
    eprintln!("[phase] VIP failover: {:.1} s", moved.as_secs_f64());
    times.push(format!(
        "VIP moved after keepalived stopped on its holder: {:.1} s",
        moved.as_secs_f64()
    ));
    lab.ssh_ok(0, &vip_answers);
    lab.ssh_ok(holder, "systemctl start keepalived");

    // One member down: the cluster stays writable; back up, it is healthy again.
    lab.ssh_ok(3, "systemctl stop etcd");
    lab.ssh_ok(1, "etcdctl.sh put /kplay/e2e written");
    assert!(lab
        .ssh_ok(2, "etcdctl.sh get /kplay/e2e")
        .contains("written"));
    lab.ssh_ok(3, "systemctl start etcd");
    wait_healthy(&lab);
    assert!(lab
        .ssh_ok(3, "etcdctl.sh get /kplay/e2e")
        .contains("written"));

    // containerd on a node pulls the smoke image from the bootstrap registry over TLS.
    let pulled = lab.ssh_ok(
        2,
        "ctr -n k8s.io images pull --hosts-dir /etc/containerd/certs.d registry.kplay.local:5000/kplay/smoke:1.35.0",
    );
    assert!(pulled.contains("done"), "{pulled}");

    // A second deploy skips every finished step, in seconds.
    let t = Instant::now();
    let second = deploy_lab(&[]);
    let took = t.elapsed();
    eprintln!("[phase] second deploy: {:.1} s", took.as_secs_f64());
    times.push(format!(
        "second deploy (every step skipped): {:.1} s",
        took.as_secs_f64()
    ));
    assert_eq!(second.code, Some(0), "{}", second.dump());
    for s in STEPS {
        assert_eq!(summary_word(&second, s), "skipped", "{}", second.dump());
    }
    assert!(
        took < Duration::from_secs(30),
        "second deploy took {took:?}"
    );

    // --force runs every step again and changes nothing on any host.
    let forced = timed(&mut times, "deploy --force (changed=0)", || {
        deploy_lab(&["--force"])
    });
    assert_eq!(forced.code, Some(0), "{}", forced.dump());
    for s in STEPS {
        assert_eq!(changed_of(&forced, s), 0, "{s}\n{}", forced.dump());
    }

    // A variable that 02 uses re-runs 02 and nothing else.
    let changed = timed(
        &mut times,
        "deploy with a changed etcd variable (02 only)",
        || deploy_lab(&["-e", HEARTBEAT]),
    );
    assert_eq!(changed.code, Some(0), "{}", changed.dump());
    for s in &STEPS[..3] {
        assert_eq!(summary_word(&changed, s), "skipped", "{}", changed.dump());
    }
    assert_eq!(summary_word(&changed, "02-cluster-etcd"), "done");
    let conf = lab.ssh_ok(1, "cat /etc/etcd.env");
    assert!(conf.contains("ETCD_HEARTBEAT_INTERVAL=300"), "{conf}");

    // Killed during 02, the next deploy resumes at 02.
    let mut child = Command::new(kplay_bin())
        .args([
            "deploy", "--lab", LAB, "-e", HEARTBEAT, "--from", "02", "--to", "02",
        ])
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kplay deploy");
    let stdout = child.stdout.take().expect("piped stdout");
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
    child.kill().expect("killing kplay");
    child.wait().expect("waiting for kplay");
    let recorded = std::fs::read_to_string(&state).expect("state");
    assert!(
        recorded.contains("\"running\"") && recorded.contains("\"step\": \"02-cluster-etcd\""),
        "{recorded}"
    );
    let resumed = timed(&mut times, "deploy after a kill during 02", || {
        deploy_lab(&["-e", HEARTBEAT])
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
    wait_healthy(&lab);

    // reset leaves no service, data, certificate, configuration or package behind.
    let reset = timed(&mut times, "reset", || {
        let run = common::kplay_timeout(
            &root(),
            &["reset", "--lab", LAB, "-e", HEARTBEAT, "--yes"],
            DEPLOY_TIMEOUT,
        );
        run.assert_no_panic();
        run
    });
    assert_eq!(reset.code, Some(0), "{}", reset.dump());
    assert!(!state.exists());
    for n in 1..5 {
        let (_, active) = lab.ssh(n, "systemctl is-active etcd haproxy keepalived containerd");
        assert!(active.lines().all(|l| l.trim() != "active"), "{active}");
        let (_, left) = lab.ssh(
            n,
            "ls -d /var/lib/etcd /etc/ssl/etcd /etc/etcd.env /usr/local/bin/etcdctl.sh /etc/containerd \
             /etc/apt/sources.list.d/kplay.list 2>/dev/null; \
             dpkg-query -W etcd-server haproxy keepalived containerd 2>/dev/null",
        );
        assert!(left.trim().is_empty(), "left after reset: {left}");
        let hosts = lab.ssh_ok(n, "cat /etc/hosts");
        assert!(
            !hosts.contains("kplay cluster nodes") && !hosts.contains("registry.kplay.local"),
            "{hosts}"
        );
        assert!(
            !lab.ssh_ok(n, "ip -o -4 addr show")
                .contains(&format!(" {vip}/")),
            "the VIP stayed"
        );
    }

    // And a deploy works again from scratch.
    let again = timed(&mut times, "deploy after reset", || {
        deploy_lab(&["-e", HEARTBEAT])
    });
    assert_eq!(again.code, Some(0), "{}", again.dump());
    for s in STEPS {
        assert_eq!(summary_word(&again, s), "done", "{}", again.dump());
    }
    assert_healthy(&lab, 1);
    eprintln!("deploy_e2e times:\n  {}", times.join("\n  "));
    drop(lab);
}
