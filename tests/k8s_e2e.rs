//! Issue [8] end to end with the user's command, `kplay deploy --lab`: a real HA Kubernetes
//! cluster in a 5-host air-gapped lab (1 bootstrap, 3 control-plane/etcd, 1 worker; the lab is
//! brought up with a sixth host, which `--lab` leaves out and `10-scale-nodes.yml` joins later),
//! from the default lab bundle (group_vars' offline_images carry the Kubernetes images, built from
//! Debian 12's source package; cached under /var/cache/kplay, shared with tests/deploy_e2e.rs).
//!
//! `kplay deploy --lab` runs bootstrap-node and steps 00-05; then: every node Ready, every kube-system
//! pod Running, `/healthz` through the VIP answers `ok`, the cluster check (05) passed and, kept,
//! its NodePort answers from the bootstrap node; `kubectl logs`/`exec` work; `05 --tags addons`
//! reruns with changed=0 and `03 --check --diff` reports changed=0; the VIP holder's apiserver
//! and keepalived stopped → kubectl through the VIP works again within 30 s; `kplay reset` leaves
//! no kubelet, container, /etc/kubernetes or /var/lib/kubelet.
//!
//!     sudo cargo test -j 2 --test k8s_e2e -- --nocapture

mod common;
#[path = "deploy_lab/harness.rs"]
mod harness;

use harness::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LAB: &str = "k8s-e2e";
const STEPS: [&str; 7] = [
    "bootstrap-node",
    "00-preflight",
    "01-cluster-bootstrap-os",
    "02-cluster-etcd",
    "03-cluster-kubernetes",
    "04-cluster-network",
    "05-cluster-apps",
];
/// A cold Kubernetes build takes 10-30 minutes on 2 cores.
const BUNDLE_TIMEOUT: Duration = Duration::from_secs(3600);
const CP: [usize; 3] = [1, 2, 3];
const WORKER: usize = 4;
/// Joins with 10-scale-nodes.yml, then leaves with remove-node.yml.
const NEW: usize = 5;

fn lab_dir() -> PathBuf {
    Path::new("/var/lib/kplay/lab").join(LAB)
}

/// `kplay deploy --lab LAB extra…` from the repository root.
fn deploy_lab(extra: &[&str]) -> common::Run {
    let mut args = vec!["deploy", "--lab", LAB];
    args.extend_from_slice(extra);
    let run = common::kplay_timeout(&root(), &args, BUNDLE_TIMEOUT);
    run.assert_no_panic();
    run
}

fn summary_word<'a>(run: &'a common::Run, step: &str) -> &'a str {
    summary_line(run, step)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
}

fn total_changed(run: &common::Run) -> u32 {
    let recap = run.recap();
    assert!(!recap.is_empty(), "no PLAY RECAP\n{}", run.dump());
    recap.values().map(|c| c.changed + c.failed).sum()
}

/// Polls `cmd` on host `n` until it succeeds (returns its output) or `limit` passes.
fn until_ok(lab: &DeployLab, n: usize, cmd: &str, limit: Duration) -> Option<String> {
    let t = Instant::now();
    while t.elapsed() < limit {
        let (ok, out) = lab.ssh(n, cmd);
        if ok {
            return Some(out);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    None
}

#[test]
fn deploy_an_ha_kubernetes_cluster_check_it_fail_over_and_reset() {
    if !common::root_or_skip("deploy_an_ha_kubernetes_cluster_check_it_fail_over_and_reset") {
        return;
    }
    let _machine = common::lab_lock();
    let total = Instant::now();
    let lab = phase("lab up (6 hosts; the 6th joins later)", || {
        DeployLab::up(LAB, 6)
    });
    let ip = lab.ip(0).to_string();
    let vip = format!("{}.250", &ip[..ip.rfind('.').unwrap_or(0)]);

    // The deploy: the bundle (built once per group_vars, or reused) and every step.
    let first = phase("kplay deploy --lab (bundle + 5 hosts)", || deploy_lab(&[]));
    assert_eq!(first.code, Some(0), "{}", first.dump());
    for l in first.stderr.lines().filter(|l| l.starts_with("bundle: ")) {
        eprintln!("[phase] {l}");
    }
    for s in STEPS {
        assert_eq!(summary_word(&first, s), "done", "{s}\n{}", first.dump());
        eprintln!("[phase]   {}", summary_line(&first, s).trim());
    }
    assert!(
        first.stdout.contains("kubectl get nodes"),
        "{}",
        first.dump()
    );
    let inv = lab_dir().join("deploy/hosts.ini");
    assert!(
        !common::read(&inv).contains(lab.name(NEW)),
        "--lab put the sixth host in its inventory"
    );

    // scripts/demo.sh's last command: kubectl get nodes through kplay adhoc.
    let shown = common::kplay(
        &root(),
        &[
            "adhoc",
            "kube_control_plane[0]",
            "-i",
            &inv.to_string_lossy(),
            "-m",
            "command",
            "-a",
            "kubectl get nodes -o wide",
        ],
    );
    assert_eq!(shown.code, Some(0), "{}", shown.dump());
    eprintln!("{}", shown.stdout);
    assert_eq!(
        shown
            .stdout
            .lines()
            .filter(|l| l.contains(" Ready "))
            .count(),
        4,
        "{}",
        shown.dump()
    );

    // Every node Ready, every kube-system pod Running.
    let nodes = lab.ssh_ok(1, "kubectl get nodes --no-headers");
    assert_eq!(nodes.lines().count(), 4, "{nodes}");
    assert!(
        nodes
            .lines()
            .all(|l| l.split_whitespace().nth(1) == Some("Ready")),
        "{nodes}"
    );
    let pods = until_ok(
        &lab,
        1,
        "out=$(kubectl get pods -n kube-system --no-headers); echo \"$out\"; \
         ! echo \"$out\" | awk '$3 != \"Running\"' | grep -q .",
        Duration::from_secs(60),
    )
    .unwrap_or_else(|| lab.ssh(1, "kubectl get pods -n kube-system -o wide").1);
    assert!(
        pods.lines()
            .filter(|l| l.contains("kube-apiserver-"))
            .count()
            == 3
            && pods.lines().filter(|l| l.contains("kube-proxy-")).count() == 4,
        "{pods}"
    );
    assert!(
        pods.lines()
            .all(|l| l.split_whitespace().nth(2) == Some("Running")),
        "kube-system pods not all Running:\n{pods}"
    );
    // kubectl logs works (kube-proxy's, on the worker).
    let logs = lab.ssh_ok(
        1,
        "kubectl -n kube-system logs $(kubectl -n kube-system get pods -o name --field-selector spec.nodeName=$(kubectl get nodes -o name | sed -n 4p | cut -d/ -f2) | grep kube-proxy) | head -5",
    );
    assert!(!logs.is_empty(), "kube-proxy logs are empty");

    // /healthz through the VIP.
    let healthz = lab.ssh_ok(
        WORKER,
        &format!("curl -sk --max-time 5 https://{vip}:8443/healthz"),
    );
    assert_eq!(healthz, "ok");

    // The cluster check passed in the deploy (05); kept, its NodePort answers from the
    // bootstrap node.
    let pb = |f: &str| root().join("playbooks").join(f);
    let keep = phase("05 with cluster_check_keep=true", || {
        lab.play(
            &pb("05-cluster-apps.yml"),
            &inv,
            &["-e", "cluster_check_keep=true"],
        )
    });
    assert_eq!(keep.code, Some(0), "{}", keep.dump());
    for n in 1..=WORKER {
        let answer = lab.ssh_ok(
            0,
            &format!(
                "python3 -c 'import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().strip())' http://{}:30080/index.html",
                lab.ip(n)
            ),
        );
        assert!(answer.starts_with("kplay-check-"), "{answer}");
    }
    let spread = lab.ssh_ok(
        1,
        "kubectl -n kplay-check get pods -o jsonpath='{range .items[*]}{.spec.nodeName}{\"\\n\"}{end}' | sort -u | wc -l",
    );
    assert_eq!(spread, "2", "the check's pods are not on two nodes");

    // No-change reruns.
    let addons = phase("05 --tags addons rerun", || {
        lab.play(&pb("05-cluster-apps.yml"), &inv, &["--tags", "addons"])
    });
    assert_eq!(addons.code, Some(0), "{}", addons.dump());
    assert_eq!(total_changed(&addons), 0, "{}", addons.dump());
    assert!(
        addons
            .stdout
            .contains("coredns: skipped: image not in bundle"),
        "{}",
        addons.dump()
    );
    let check = phase("03 --check --diff", || {
        lab.play(
            &pb("03-cluster-kubernetes.yml"),
            &inv,
            &["--check", "--diff"],
        )
    });
    assert_eq!(check.code, Some(0), "{}", check.dump());
    assert_eq!(total_changed(&check), 0, "{}", check.dump());
    // A second deploy skips every finished step. --force runs them all again and changes
    // nothing on any host, 05 included: its cluster check makes its Deployment and Services and
    // removes them again, a probe that leaves the cluster as it was (reported changed only when
    // cluster_check_keep keeps them).
    let skipped = phase("second kplay deploy --lab (every step skipped)", || {
        deploy_lab(&[])
    });
    assert_eq!(skipped.code, Some(0), "{}", skipped.dump());
    for s in STEPS {
        assert_eq!(
            summary_word(&skipped, s),
            "skipped",
            "{s}\n{}",
            skipped.dump()
        );
    }
    let forced = phase("kplay deploy --lab --force (changed=0)", || {
        deploy_lab(&["--force"])
    });
    assert_eq!(forced.code, Some(0), "{}", forced.dump());
    for s in STEPS {
        assert_eq!(changed_of(&forced, s), 0, "{s}\n{}", forced.dump());
        eprintln!("[phase]   {}", summary_line(&forced, s).trim());
    }

    // Business apps (tag apps): a manifest from apps/ beside the inventory is applied and runs;
    // a chart is skipped (no helm in the lab bundle); a rerun changes nothing.
    let apps = inv.with_file_name("apps");
    std::fs::create_dir_all(apps.join("hello-chart")).expect("apps dir");
    std::fs::write(
        apps.join("hello-chart/Chart.yaml"),
        "apiVersion: v2\nname: hello-chart\nversion: 0.1.0\n",
    )
    .expect("chart");
    std::fs::write(
        apps.join("hello.yml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: kplay-app}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: hello, namespace: kplay-app}\n\
         spec:\n  replicas: 1\n  selector: {matchLabels: {app: hello}}\n  template:\n    \
         metadata: {labels: {app: hello}}\n    spec:\n      containers:\n        - name: web\n          \
         image: registry.kplay.local:5000/kplay/smoke:1.35.0\n",
    )
    .expect("app manifest");
    let app_run = phase("05 --tags apps (one manifest, one chart)", || {
        lab.play(&pb("05-cluster-apps.yml"), &inv, &["--tags", "apps"])
    });
    assert_eq!(app_run.code, Some(0), "{}", app_run.dump());
    assert!(
        app_run
            .stdout
            .contains("hello-chart: skipped: helm not in the bundle"),
        "{}",
        app_run.dump()
    );
    lab.ssh_ok(
        1,
        "kubectl -n kplay-app rollout status deploy/hello --timeout=90s",
    );
    let app_again = lab.play(&pb("05-cluster-apps.yml"), &inv, &["--tags", "apps"]);
    assert_eq!(app_again.code, Some(0), "{}", app_again.dump());
    assert_eq!(total_changed(&app_again), 0, "{}", app_again.dump());
    lab.ssh_ok(1, "kubectl delete namespace kplay-app --wait=false");

    // The manifests kplay has for images this bundle lacks (metrics-server, ingress-nginx,
    // local-path provisioner, CoreDNS; calico, flannel, cilium) pass a server dry run.
    let dry = phase("server dry run of the add-on and network manifests", || {
        lab.play(
            &root().join("tests/deploy_lab/dry-run-manifests.yml"),
            &inv,
            &[],
        )
    });
    assert_eq!(dry.code, Some(0), "{}", dry.dump());
    for m in [
        "coredns",
        "metrics-server",
        "ingress-nginx",
        "local-path-provisioner",
        "network-calico-crds",
        "network-calico",
        "network-flannel",
        "network-cilium",
    ] {
        assert!(
            dry.stdout.contains(&format!("\"{m}.yml.j2: rc=0 ")),
            "{m}\n{}",
            dry.dump()
        );
    }

    // Certificates: the expiry report (every kubeadm and etcd certificate, ~365 days left), a
    // threshold above that fails, and a renewal that leaves the cluster answering.
    let report = phase("certs-check", || {
        lab.play(&pb("certs-check.yml"), &inv, &[])
    });
    assert_eq!(report.code, Some(0), "{}", report.dump());
    assert_eq!(total_changed(&report), 0, "{}", report.dump());
    let days_left = |run: &common::Run, cert: &str| -> Vec<i64> {
        run.stdout
            .lines()
            .filter(|l| {
                l.contains(&format!("): {cert}\"")) || l.trim_end().ends_with(&format!("): {cert}"))
            })
            .filter_map(|l| {
                l.trim()
                    .trim_start_matches('"')
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()
            })
            .collect()
    };
    let apiserver = days_left(&report, "/etc/kubernetes/pki/apiserver.crt");
    assert_eq!(
        apiserver.len(),
        3,
        "one per control plane\n{}",
        report.dump()
    );
    assert!(
        apiserver.iter().all(|d| (364..=365).contains(d)),
        "{apiserver:?}\n{}",
        report.dump()
    );
    assert!(
        report.stdout.contains("/etc/ssl/etcd/ssl/")
            && report.stdout.contains("/etc/kubernetes/admin.conf"),
        "{}",
        report.dump()
    );
    let short = lab.play(
        &pb("certs-check.yml"),
        &inv,
        &["-e", "certs_check_fail_days=400"],
    );
    assert_eq!(short.code, Some(2), "{}", short.dump());
    assert!(
        short.stdout.contains("fewer than 400") && short.stdout.contains("certs-renew.yml"),
        "{}",
        short.dump()
    );
    // kubeadm gives renewed certificates the CA's notBefore: the serial and notAfter change.
    let cert = "openssl x509 -noout -serial -enddate -in /etc/kubernetes/pki/apiserver.crt";
    let before = lab.ssh_ok(1, cert);
    std::thread::sleep(Duration::from_secs(1));
    // On the first control plane node only: the playbook takes one node at a time, about 100 s
    // each on this loaded machine (kubelet's restart back-off for the static pods), and the
    // other nodes would only repeat it.
    let first_cp = lab.name(CP[0]).to_string();
    let renew = phase("certs-renew -l the first control plane node", || {
        lab.play(&pb("certs-renew.yml"), &inv, &["-l", &first_cp])
    });
    assert_eq!(renew.code, Some(0), "{}", renew.dump());
    let after = lab.ssh_ok(1, cert);
    let field = |s: &str, k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .map(str::to_string)
            .unwrap_or_default()
    };
    assert_ne!(
        field(&before, "serial="),
        field(&after, "serial="),
        "{before}\n{after}"
    );
    assert_ne!(
        field(&before, "notAfter="),
        field(&after, "notAfter="),
        "{before}\n{after}"
    );
    let served = lab.ssh_ok(
        1,
        &format!(
            "echo | openssl s_client -connect {vip}:8443 2>/dev/null | openssl x509 -noout -serial"
        ),
    );
    assert!(
        CP.iter()
            .any(|&n| lab.ssh_ok(n, cert).lines().next() == Some(served.trim())),
        "the VIP serves no renewed certificate: {served}"
    );
    assert!(
        until_ok(&lab, 1, "kubectl get nodes", Duration::from_secs(30)).is_some(),
        "kubectl fails after the renewal"
    );

    // HA: the VIP holder loses its apiserver and keepalived.
    let holder = CP
        .into_iter()
        .find(|&n| lab.ssh(n, &format!("ip -o -4 addr | grep -qw {vip}")).0)
        .expect("a control plane node holds the VIP");
    let other = CP.into_iter().find(|&n| n != holder).unwrap_or(1);
    let t = Instant::now();
    lab.ssh_ok(
        holder,
        "mv /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/kube-apiserver.yaml.stopped && systemctl stop keepalived",
    );
    let back = until_ok(
        &lab,
        other,
        "kubectl get --raw /healthz",
        Duration::from_secs(30),
    );
    let failover = t.elapsed();
    eprintln!(
        "[phase] failover: kubectl through the VIP answered {:.1} s after the holder's apiserver and keepalived stopped",
        failover.as_secs_f64()
    );
    assert_eq!(
        back.as_deref().map(str::trim),
        Some("ok"),
        "kubectl through the VIP did not answer within 30 s"
    );
    let gone = until_ok(
        &lab,
        holder,
        "! curl -sk --max-time 2 https://127.0.0.1:6443/healthz",
        Duration::from_secs(60),
    );
    assert!(gone.is_some(), "the holder's apiserver never stopped");
    let (moved, _) = lab.ssh(holder, &format!("ip -o -4 addr | grep -qw {vip}"));
    assert!(!moved, "the VIP stayed on the stopped node");
    assert!(
        until_ok(&lab, other, "kubectl get nodes", Duration::from_secs(30)).is_some(),
        "kubectl through the VIP fails after the failover"
    );
    lab.ssh_ok(
        holder,
        "mv /etc/kubernetes/kube-apiserver.yaml.stopped /etc/kubernetes/manifests/kube-apiserver.yaml && systemctl start keepalived",
    );

    // A sixth host joins as a worker (10-scale-nodes.yml -l), then leaves (remove-node.yml).
    // The lab's own inventory with the sixth host added as a worker (beside it, so the lab's
    // group_vars apply).
    let new = lab.name(NEW).to_string();
    let worker = lab.name(WORKER).to_string();
    let mut text = String::new();
    for l in common::read(&inv).lines() {
        text.push_str(l);
        text.push('\n');
        if l.starts_with(&format!("{worker} ansible_host=")) {
            text.push_str(&format!("{new} ansible_host={}\n", lab.ip(NEW)));
        } else if l == worker {
            text.push_str(&format!("{new}\n"));
        }
    }
    let scaled = inv.with_file_name("scaled.ini");
    std::fs::write(&scaled, text).expect("scaled inventory");
    let scale = phase("10-scale-nodes -l NEW", || {
        lab.play(&pb("10-scale-nodes.yml"), &scaled, &["-l", &new])
    });
    assert_eq!(scale.code, Some(0), "{}", scale.dump());
    let ready = until_ok(
        &lab,
        1,
        &format!("kubectl get node {new} --no-headers | awk '$2 == \"Ready\"' | grep ."),
        Duration::from_secs(120),
    );
    assert!(ready.is_some(), "{new} never became Ready");
    let remove = phase("remove-node -e node=NEW", || {
        lab.play(
            &pb("remove-node.yml"),
            &scaled,
            &["-e", &format!("node={new}")],
        )
    });
    assert_eq!(remove.code, Some(0), "{}", remove.dump());
    let nodes = lab.ssh_ok(1, "kubectl get nodes -o name");
    assert!(!nodes.contains(&new), "{nodes}");
    lab.ssh_ok(
        NEW,
        "test ! -e /etc/kubernetes && test ! -e /var/lib/kubelet && ! pgrep -x kubelet && ! pgrep -f 'containerd-shi[m]'",
    );

    // Reset leaves nothing of Kubernetes.
    let reset = phase("reset", || {
        common::kplay_timeout(&root(), &["reset", "--lab", LAB, "--yes"], DEPLOY_TIMEOUT)
    });
    reset.assert_no_panic();
    assert_eq!(reset.code, Some(0), "{}", reset.dump());
    for n in 1..=WORKER {
        let (_, active) = lab.ssh(n, "systemctl is-active kubelet containerd etcd keepalived");
        assert!(
            !active.contains("active\n") || active.lines().all(|l| l != "active"),
            "{active}"
        );
        lab.ssh_ok(
            n,
            "test ! -e /etc/kubernetes && test ! -e /var/lib/kubelet && test ! -e /usr/local/bin/kubelet \
             && ! pgrep -x kubelet && ! pgrep -f 'containerd-shi[m]' && ! pgrep -x kube-apiserver \
             && ! ip link show cni0 2>/dev/null && ! iptables-save 2>/dev/null | grep -q KUBE-",
        );
    }
    eprintln!("[phase] total: {:.1} s", total.elapsed().as_secs_f64());
}
