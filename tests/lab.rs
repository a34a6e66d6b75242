//! `kplay lab` end to end, through the real binary, as root: a 3-host systemd lab checked from the
//! controller with plain OpenSSH (identity, isolation, air gap, clean `down`), and a 100-host `--init none`
//! lab brought up and down with its times printed.
//!
//! Without root these tests print why and skip; under `CI=true` a non-root run fails instead, so CI can
//! never pass without having exercised the lab.

mod common;

use common::root_or_skip;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Labs share the base cache and the machine's two cores: one lab test at a time.
static LAB_LOCK: Mutex<()> = Mutex::new(());

fn kplay() -> &'static str {
    env!("CARGO_BIN_EXE_kplay")
}

/// Runs `kplay args…` with stderr merged into stdout (so "last line of output" can be checked).
fn run_kplay(args: &[&str]) -> (bool, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" \"$@\" 2>&1")
        .arg(kplay())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running kplay");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `kplay lab up`; returns the inventory path, checking it is the last line of all output.
fn lab_up(args: &[&str]) -> PathBuf {
    let mut all = vec!["lab", "up"];
    all.extend_from_slice(args);
    let (ok, out) = run_kplay(&all);
    assert!(ok, "kplay lab up failed:\n{out}");
    assert!(
        out.ends_with('\n'),
        "output does not end with a newline:\n{out}"
    );
    let last = out.lines().last().unwrap_or_default();
    let path = PathBuf::from(last);
    assert!(
        path.is_absolute() && path.is_file(),
        "last line is not the inventory path:\n{out}"
    );
    path
}

fn lab_down(name: &str) {
    let (ok, out) = run_kplay(&["lab", "down", "--name", name]);
    assert!(ok, "kplay lab down failed:\n{out}");
}

/// What the INI inventory says about the lab.
struct Inventory {
    hosts: Vec<(String, String)>,
    key: PathBuf,
    common_args: Vec<String>,
    unused_ip: String,
}

fn read_inventory(path: &Path) -> Inventory {
    let text = std::fs::read_to_string(path).expect("reading the inventory");
    let mut inv = Inventory {
        hosts: Vec::new(),
        key: PathBuf::new(),
        common_args: Vec::new(),
        unused_ip: String::new(),
    };
    let mut section = String::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if line.starts_with('[') {
            section = line.to_string();
        } else if section == "[lab]" {
            let mut words = line.split_whitespace();
            let name = words.next().unwrap_or_default().to_string();
            let ip = words
                .find_map(|w| w.strip_prefix("ansible_host="))
                .unwrap_or_default()
                .to_string();
            inv.hosts.push((name, ip));
        } else if let Some(v) = line.strip_prefix("ansible_ssh_private_key_file=") {
            inv.key = PathBuf::from(v);
        } else if let Some(v) = line.strip_prefix("ansible_ssh_common_args=") {
            inv.common_args = v
                .trim_matches('\'')
                .split_whitespace()
                .map(str::to_string)
                .collect();
        } else if let Some(v) = line.strip_prefix("kplay_lab_unused_ip=") {
            inv.unused_ip = v.to_string();
        }
    }
    assert!(
        text.contains("ansible_user=root"),
        "inventory lacks ansible_user=root:\n{text}"
    );
    assert!(
        inv.key.is_absolute() && inv.key.is_file(),
        "private key is not an absolute existing file:\n{text}"
    );
    assert!(
        inv.common_args
            .iter()
            .any(|a| a.starts_with("UserKnownHostsFile=/")),
        "ssh args lack UserKnownHostsFile:\n{text}"
    );
    inv
}

/// Plain OpenSSH to `ip` with the inventory's key and arguments.
fn ssh(inv: &Inventory, ip: &str, command: &str) -> Output {
    Command::new("ssh")
        .arg("-i")
        .arg(&inv.key)
        .args(&inv.common_args)
        .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"])
        .arg(format!("root@{ip}"))
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .expect("running ssh")
}

fn ssh_ok(inv: &Inventory, ip: &str, command: &str) -> String {
    let out = ssh(inv, ip, command);
    assert!(
        out.status.success(),
        "ssh {ip} {command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn lines_of(program: &str, args: &[&str]) -> BTreeSet<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .expect("running a snapshot command");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Everything a lab could leave behind on the controller.
#[derive(Debug, PartialEq)]
struct Snapshot {
    netns: BTreeSet<String>,
    links: BTreeSet<String>,
    mounts: BTreeSet<String>,
    cgroups: BTreeSet<String>,
    nft_tables: BTreeSet<String>,
    /// Loop devices and their backing files (hosts' data volumes).
    loops: BTreeSet<String>,
    /// Processes living in another network namespace than ours (every lab process does).
    foreign_net_procs: BTreeSet<String>,
}

fn snapshot() -> Snapshot {
    let links = lines_of("ip", &["-o", "link", "show"])
        .iter()
        .filter_map(|l| {
            l.split(": ")
                .nth(1)
                .map(|n| n.split('@').next().unwrap_or(n).to_string())
        })
        .collect();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect();
    let mut cgroups = BTreeSet::new();
    walk_dirs(Path::new("/sys/fs/cgroup"), 0, &mut cgroups);
    // Other jobs on the machine create and remove cgroups all the time; what a lab could leak is its
    // own subtree or cgroups its hosts' systemd made (units).
    cgroups.retain(|c| {
        let leaf = c.rsplit('/').next().unwrap_or_default();
        c.contains("kplay")
            || [".slice", ".scope", ".service", ".mount"]
                .iter()
                .any(|s| leaf.ends_with(s))
    });
    let our_net = std::fs::read_link("/proc/self/ns/net").ok();
    let foreign_net_procs = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| {
            let ns = std::fs::read_link(e.path().join("ns/net")).ok();
            ns.is_some() && ns != our_net
        })
        .map(|e| {
            let cmd = std::fs::read_to_string(e.path().join("cmdline"))
                .unwrap_or_default()
                .replace('\0', " ");
            format!("{} {cmd}", e.file_name().to_string_lossy())
        })
        .collect();
    let loops = std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let backing = std::fs::read_to_string(e.path().join("loop/backing_file")).ok()?;
            Some(format!(
                "{} {}",
                e.file_name().to_string_lossy(),
                backing.trim()
            ))
        })
        .collect();
    Snapshot {
        netns: lines_of("ip", &["netns", "list"]),
        loops,
        links,
        mounts,
        cgroups,
        nft_tables: lines_of("nft", &["list", "tables"]),
        foreign_net_procs,
    }
}

/// Cgroup directories a few levels deep (a lab's live 3-5 levels under /sys/fs/cgroup).
fn walk_dirs(dir: &Path, depth: usize, out: &mut BTreeSet<String>) {
    if depth > 5 {
        return;
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.insert(e.path().to_string_lossy().into_owned());
            walk_dirs(&e.path(), depth + 1, out);
        }
    }
}

/// Asserts nothing in `after` is new compared to `before` (things may have gone away meanwhile).
fn assert_nothing_left(before: &Snapshot, after: &Snapshot) {
    let new =
        |a: &BTreeSet<String>, b: &BTreeSet<String>| b.difference(a).cloned().collect::<Vec<_>>();
    let leftovers = [
        ("network namespaces", new(&before.netns, &after.netns)),
        ("links", new(&before.links, &after.links)),
        ("mounts", new(&before.mounts, &after.mounts)),
        ("cgroups", new(&before.cgroups, &after.cgroups)),
        ("nft tables", new(&before.nft_tables, &after.nft_tables)),
        ("loop devices", new(&before.loops, &after.loops)),
        (
            "processes",
            new(&before.foreign_net_procs, &after.foreign_net_procs),
        ),
    ];
    for (what, left) in leftovers {
        assert!(left.is_empty(), "lab down left {what} behind: {left:?}");
    }
}

/// The controller's IPv4 addresses outside the lab (what hosts must not reach).
fn controller_addresses_outside(lab_prefix: &str) -> Vec<String> {
    lines_of("ip", &["-4", "-o", "addr", "show"])
        .iter()
        .filter_map(|l| {
            l.split_whitespace()
                .nth(3)
                .and_then(|a| a.split('/').next())
                .map(str::to_string)
        })
        .filter(|a| !a.starts_with("127.") && !a.starts_with(lab_prefix))
        .collect()
}

#[test]
fn three_systemd_hosts_are_isolated_reachable_and_leave_nothing_behind() {
    if !root_or_skip("three_systemd_hosts") {
        return;
    }
    let _guard = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let _machine = common::lab_lock();
    let name = "kpt3";
    lab_down(name);
    let before = snapshot();

    let started = Instant::now();
    let inv_path = lab_up(&["--hosts", "3", "--name", name]);
    eprintln!(
        "3-host systemd lab up in {:.1} s (includes the base build on first use)",
        started.elapsed().as_secs_f64()
    );
    let inv = read_inventory(&inv_path);
    assert_eq!(inv.hosts.len(), 3);
    let ips: BTreeSet<&String> = inv.hosts.iter().map(|(_, ip)| ip).collect();
    assert_eq!(
        ips.len(),
        3,
        "hosts must have distinct addresses: {:?}",
        inv.hosts
    );

    // Each host answers on its own address with its own hostname.
    for (host, ip) in &inv.hosts {
        assert_eq!(ssh_ok(&inv, ip, "hostname"), *host);
    }

    // systemd reaches `running` (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(60);
    for (host, ip) in &inv.hosts {
        loop {
            let out = ssh(&inv, ip, "systemctl is-system-running");
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if state == "running" {
                break;
            }
            if Instant::now() > deadline || state == "degraded" {
                let failed = ssh(&inv, ip, "systemctl --failed --no-legend");
                panic!(
                    "{host}: system is {state:?}; failed units: {}",
                    String::from_utf8_lossy(&failed.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    // A file written on one host is absent on the others.
    let (first, rest) = inv.hosts.split_first().expect("three hosts");
    ssh_ok(&inv, &first.1, "echo kplay > /root/kplay-lab-marker");
    assert_eq!(
        ssh_ok(&inv, &first.1, "cat /root/kplay-lab-marker"),
        "kplay"
    );
    for (host, ip) in rest {
        let out = ssh(&inv, ip, "test -e /root/kplay-lab-marker");
        assert_eq!(
            out.status.code(),
            Some(1),
            "{host} sees the file written on {}",
            first.0
        );
    }

    // Air gap: the controller's lab address is reachable from a host (positive control), none of its
    // other addresses is, and the lab's unused address answers nothing. Only our own addresses are used.
    let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("binding a probe listener");
    let port = listener.local_addr().expect("listener address").port();
    let prefix = first
        .1
        .rsplit_once('.')
        .map(|(p, _)| format!("{p}."))
        .expect("host address");
    let gateway = format!("{prefix}1");
    let probe = |target: &str| format!("timeout 3 bash -c 'echo > /dev/tcp/{target}/{port}'");
    ssh_ok(&inv, &first.1, &probe(&gateway));
    let outside = controller_addresses_outside(&prefix);
    assert!(
        !outside.is_empty(),
        "the controller has no address outside the lab to test against"
    );
    for addr in &outside {
        let out = ssh(&inv, &first.1, &probe(addr));
        assert!(
            !out.status.success(),
            "host reached controller address {addr} outside the lab"
        );
    }
    let out = ssh(
        &inv,
        &first.1,
        &format!("timeout 3 bash -c 'echo > /dev/tcp/{}/22'", inv.unused_ip),
    );
    assert!(
        !out.status.success(),
        "the lab's unused address {} answered",
        inv.unused_ip
    );
    drop(listener);

    // status reports every host running.
    let (ok, status) = run_kplay(&["lab", "status", "--name", name]);
    assert!(ok, "status failed:\n{status}");
    for (host, ip) in &inv.hosts {
        let line = status
            .lines()
            .find(|l| l.starts_with(host.as_str()))
            .unwrap_or_default();
        assert!(
            line.contains(ip.as_str()) && line.contains("running"),
            "status line for {host}: {line:?}\n{status}"
        );
    }

    // `up` again replaces the running lab (idempotent) with fresh host keys.
    let kh = inv
        .common_args
        .iter()
        .find_map(|a| a.strip_prefix("UserKnownHostsFile="))
        .map(PathBuf::from);
    let old_keys = kh
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let inv2 = read_inventory(&lab_up(&["--hosts", "3", "--name", name]));
    let new_keys = kh
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    assert_ne!(
        old_keys, new_keys,
        "a second `up` must regenerate host keys"
    );
    for (host, ip) in &inv2.hosts {
        assert_eq!(ssh_ok(&inv2, ip, "hostname"), *host);
        let out = ssh(&inv2, ip, "test -e /root/kplay-lab-marker");
        assert_eq!(out.status.code(), Some(1), "{host} kept state across `up`");
    }

    lab_down(name);
    assert_nothing_left(&before, &snapshot());
    assert!(!inv_path.exists(), "down must remove the lab's files");
}

#[test]
fn a_hundred_sshd_only_hosts_come_up_and_down() {
    if !root_or_skip("hundred_hosts") {
        return;
    }
    let _guard = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let _machine = common::lab_lock();
    let name = "kpt100";
    lab_down(name);
    let before = snapshot();

    let started = Instant::now();
    let inv = read_inventory(&lab_up(&[
        "--hosts", "100", "--name", name, "--init", "none",
    ]));
    let up_secs = started.elapsed().as_secs_f64();
    assert_eq!(inv.hosts.len(), 100);
    for (host, ip) in [&inv.hosts[0], &inv.hosts[49], &inv.hosts[99]] {
        assert_eq!(ssh_ok(&inv, ip, "hostname"), *host);
    }

    let started = Instant::now();
    lab_down(name);
    let down_secs = started.elapsed().as_secs_f64();
    eprintln!("100-host --init none lab: up {up_secs:.1} s, down {down_secs:.1} s");
    assert_nothing_left(&before, &snapshot());
}

#[test]
fn a_second_lab_gets_its_own_subnet_and_down_of_a_missing_lab_succeeds() {
    if !root_or_skip("second_lab") {
        return;
    }
    let _guard = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let _machine = common::lab_lock();
    let (a, b) = ("kpta", "kptb");
    let inv_a = read_inventory(&lab_up(&["--hosts", "1", "--name", a, "--init", "none"]));
    let inv_b = read_inventory(&lab_up(&["--hosts", "1", "--name", b, "--init", "none"]));
    let net = |inv: &Inventory| {
        inv.hosts[0]
            .1
            .rsplit_once('.')
            .map(|(p, _)| p.to_string())
            .unwrap_or_default()
    };
    assert_ne!(net(&inv_a), net(&inv_b), "two labs share a subnet");
    // Both answer at once: they coexist.
    assert_eq!(
        ssh_ok(&inv_a, &inv_a.hosts[0].1, "hostname"),
        inv_a.hosts[0].0
    );
    assert_eq!(
        ssh_ok(&inv_b, &inv_b.hosts[0].1, "hostname"),
        inv_b.hosts[0].0
    );
    lab_down(a);
    // Taking one down leaves the other running.
    assert_eq!(
        ssh_ok(&inv_b, &inv_b.hosts[0].1, "hostname"),
        inv_b.hosts[0].0
    );
    lab_down(b);
    lab_down(b);
    let (ok, out) = run_kplay(&["lab", "status", "--name", b]);
    assert!(
        !ok && out.contains("kplay lab up"),
        "status of a missing lab must fail with a hint:\n{out}"
    );
}

/// The machine's value of a sysctl (path under /proc/sys).
fn machine_sysctl(key: &str) -> String {
    std::fs::read_to_string(Path::new("/proc/sys").join(key))
        .unwrap_or_else(|e| panic!("reading /proc/sys/{key}: {e}"))
        .trim()
        .to_string()
}

/// v1 controllers this kernel has in a hierarchy (not bound to v2), from /proc/cgroups; none on a
/// cgroup v2 only machine.
fn v1_controllers() -> Vec<String> {
    let has_v1 = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains(" - cgroup "));
    if !has_v1 {
        return Vec::new();
    }
    std::fs::read_to_string("/proc/cgroups")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && f[1] != "0" && f[3] == "1").then(|| f[0].to_string())
        })
        .collect()
}

#[test]
fn systemd_hosts_can_run_kubelet_and_containers_without_touching_the_machine() {
    if !root_or_skip("kube_ready_hosts") {
        return;
    }
    let _guard = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let _machine = common::lab_lock();
    let name = "kpkube";
    lab_down(name);
    let before = snapshot();
    let globals = [
        "vm/overcommit_memory",
        "kernel/panic",
        "kernel/panic_on_oops",
        "vm/panic_on_oom",
        "kernel/keys/root_maxkeys",
    ];
    let machine_before: Vec<String> = globals.iter().map(|k| machine_sysctl(k)).collect();
    let unshadowed = "kernel/core_uses_pid";
    let unshadowed_before = machine_sysctl(unshadowed);

    let started = Instant::now();
    let inv_path = lab_up(&["--hosts", "2", "--name", name, "--data-size", "1G"]);
    eprintln!(
        "2-host Kubernetes-ready lab up in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let inv = read_inventory(&inv_path);
    let (first, second) = (&inv.hosts[0], &inv.hosts[1]);
    let lab_dir = inv_path.parent().expect("lab dir").to_path_buf();

    for (host, ip) in &inv.hosts {
        // /var is its own ext4 filesystem of the requested size; / is shared for mount propagation.
        assert_eq!(
            ssh_ok(&inv, ip, "findmnt -no FSTYPE /var"),
            "ext4",
            "{host}"
        );
        let size: u64 = ssh_ok(&inv, ip, "df -B1 --output=size /var | tail -n1")
            .trim()
            .parse()
            .unwrap_or(0);
        assert!(
            (800 << 20..=1 << 30).contains(&size),
            "{host}: /var is {size} bytes, asked for 1 GiB"
        );
        assert_eq!(
            ssh_ok(&inv, ip, "findmnt -no PROPAGATION /"),
            "shared",
            "{host}"
        );
        // A container runtime's overlay mount works under /var/lib, and fails on the overlay root
        // (the positive control: that is why the volume exists).
        ssh_ok(
            &inv,
            ip,
            "for d in /var/lib/ovl /ovl; do mkdir -p $d/l $d/u $d/w $d/m; done; \
             mount -t overlay o -o lowerdir=/var/lib/ovl/l,upperdir=/var/lib/ovl/u,workdir=/var/lib/ovl/w /var/lib/ovl/m \
             && touch /var/lib/ovl/m/f && umount /var/lib/ovl/m && rm -rf /var/lib/ovl",
        );
        let out = ssh(
            &inv,
            ip,
            "mount -t overlay o -o lowerdir=/ovl/l,upperdir=/ovl/u,workdir=/ovl/w /ovl/m",
        );
        assert!(
            !out.status.success(),
            "{host}: overlay on the overlay root unexpectedly worked"
        );
        // Every v1 controller of the kernel is mounted, and a cgroup with limits can be made in the
        // ones kubelet sets (what the host's systemd alone did not give: cpu and cpuacct).
        let mounts = ssh_ok(&inv, ip, "findmnt -rn -t cgroup -o OPTIONS");
        for c in v1_controllers() {
            assert!(
                mounts.lines().any(|l| l.split(',').any(|o| o == c)),
                "{host}: controller {c} not mounted:\n{mounts}"
            );
        }
        if v1_controllers().iter().any(|c| c == "cpu") {
            ssh_ok(
                &inv,
                ip,
                "for c in cpu memory pids; do d=$(findmnt -rn -t cgroup -O $c -o TARGET | head -n1)/kplay-t; \
                 mkdir $d && echo $$ > $d/cgroup.procs; done; \
                 echo 512 > $(findmnt -rn -t cgroup -O cpu -o TARGET | head -n1)/kplay-t/cpu.shares",
            );
        }
        // kubelet's OOM watcher can open /dev/kmsg.
        ssh_ok(
            &inv,
            ip,
            "test -c /dev/kmsg && dd if=/dev/kmsg bs=8192 count=1 iflag=nonblock status=none | grep -q .",
        );
    }

    // kubelet's global sysctls: written on the first host, seen there, not on the second host, not
    // on the machine. A global sysctl nobody shadows cannot be written at all; the host's network
    // sysctls are its own.
    ssh_ok(
        &inv,
        &first.1,
        "sysctl -w vm.overcommit_memory=1 kernel.panic=10 kernel.panic_on_oops=1 vm.panic_on_oom=0 kernel.keys.root_maxkeys=1000001",
    );
    assert_eq!(
        ssh_ok(&inv, &first.1, "sysctl -n vm.overcommit_memory kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys"),
        "1\n10\n1\n1000001"
    );
    let second_sees = ssh_ok(
        &inv,
        &second.1,
        "cat /proc/sys/vm/overcommit_memory /proc/sys/kernel/panic /proc/sys/kernel/panic_on_oops /proc/sys/vm/panic_on_oom /proc/sys/kernel/keys/root_maxkeys",
    );
    assert_eq!(
        second_sees.lines().collect::<Vec<_>>(),
        machine_before,
        "the second host must see the machine's values"
    );
    let out = ssh(&inv, &first.1, "sysctl -w kernel.core_uses_pid=1");
    assert!(
        !out.status.success(),
        "an unshadowed global sysctl was writable"
    );
    assert_eq!(
        ssh_ok(
            &inv,
            &first.1,
            "sysctl -w net.ipv4.ip_forward=1 >/dev/null && sysctl -n net.ipv4.ip_forward"
        ),
        "1"
    );
    let after: Vec<String> = globals.iter().map(|k| machine_sysctl(k)).collect();
    assert_eq!(
        after, machine_before,
        "a host changed the machine's sysctls"
    );
    assert_eq!(machine_sysctl(unshadowed), unshadowed_before);

    // The image is sparse: 1 GiB apparent, far less on disk.
    let img = lab_dir.join("hosts").join(&first.0).join("var.img");
    let meta = std::fs::metadata(&img).expect("stat the data image");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(meta.len(), 1 << 30);
    assert!(
        meta.blocks() * 512 < 512 << 20,
        "the image is not sparse: {} bytes used",
        meta.blocks() * 512
    );

    lab_down(name);
    assert_nothing_left(&before, &snapshot());
    assert!(!lab_dir.exists(), "down must remove the lab's files");
}
