//! Starting a host: a launcher script joins the host's cgroups and network namespace, unshares PID,
//! mount, UTS, IPC and cgroup namespaces, builds the host's mounts privately (so they vanish with the
//! host and none is left on the controller), pivots into the overlay root and execs systemd (or sshd).
//! The launcher is detached from kplay (own session, no inherited stdio) so `up` can return.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cgroup::Hierarchy;
use crate::rootfs::HostDirs;
use crate::shield::{self, Shadow};
use crate::{base, volume, LabError};

/// What one host runs as PID 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pid1 {
    Systemd,
    Sshd,
}

/// Everything the launcher scripts need to know about one host.
pub struct HostSpec<'a> {
    pub host: &'a str,
    pub netns: &'a str,
    pub base: &'a Path,
    pub dirs: &'a HostDirs,
    pub cgroup_procs: &'a [PathBuf],
    pub pid1: Pid1,
    /// The controller has a v1 `name=systemd` hierarchy (hybrid/legacy) rather than cgroup v2 only.
    pub v1_systemd: bool,
    /// What a host needs to run kubelet and a container runtime as on a real machine (systemd hosts):
    /// every v1 controller hierarchy mounted, `/dev/kmsg`, `/` shared.
    pub kube_ready: bool,
    /// The controller's v1 controller hierarchies (mounted in the host when `kube_ready`).
    pub v1_controllers: &'a [Hierarchy],
    /// The host's data volume image, loop-mounted on /var.
    pub data_image: Option<&'a Path>,
    /// Per-host copies of global sysctls (see `shield`).
    pub shadows: &'a [Shadow],
}

/// Single-quotes `s` for sh.
fn q(s: impl AsRef<str>) -> String {
    format!("'{}'", s.as_ref().replace('\'', "'\\''"))
}

fn p(path: &Path) -> String {
    q(path.to_string_lossy())
}

/// The outer script, run on the controller: joins the cgroups, then the namespaces.
pub fn outer_script(spec: &HostSpec, inner: &Path) -> String {
    let mut s = String::from("#!/bin/sh\n# Written by kplay lab up: starts this host.\nset -e\n");
    s.push_str(&format!("PATH={}\nexport PATH\n", crate::cmd::SYSTEM_DIRS));
    for procs in spec.cgroup_procs {
        s.push_str(&format!("echo $$ > {}\n", p(procs)));
    }
    s.push_str(&format!(
        "exec ip netns exec {} unshare --pid --fork --kill-child --mount --propagation private --uts --ipc --cgroup sh {}\n",
        q(spec.netns),
        p(inner)
    ));
    s
}

/// The inner script, PID 1 of the new PID namespace until it execs the host's init.
pub fn inner_script(spec: &HostSpec) -> String {
    let d = spec.dirs;
    let r = p(&d.root);
    let mut s = String::from(
        "#!/bin/sh\n# Written by kplay lab up: PID 1 of the host until init takes over.\nset -e\n",
    );
    s.push_str(&format!("R={r}\n"));
    s.push_str(&format!(
        "mount -t overlay overlay -o lowerdir={},upperdir={},workdir={} \"$R\"\n",
        d_esc(spec.base),
        d_esc(&d.upper),
        d_esc(&d.work)
    ));
    if let Some(img) = spec.data_image {
        // Only in this namespace: the loop device (autoclear) goes away with the host.
        s.push_str(&format!(
            "mount -t ext4 -o loop,discard {} \"$R{}\"\n",
            p(img),
            volume::MOUNT_POINT
        ));
    }
    // D-Bus's copy of the machine id (a file in the base on some releases) is the host's own.
    s.push_str("if [ -f \"$R/var/lib/dbus/machine-id\" ] && [ ! -L \"$R/var/lib/dbus/machine-id\" ]; then ln -sf /etc/machine-id \"$R/var/lib/dbus/machine-id\"; fi\n");
    s.push_str("mount -t proc -o nosuid,nodev,noexec proc \"$R/proc\"\n");
    s.push_str(&shield::script(spec.shadows, p));
    s.push_str("mount -t sysfs -o ro,nosuid,nodev,noexec sysfs \"$R/sys\"\n");
    // DMI is the machine's: each host shows its own product_uuid instead (machines differ by it).
    s.push_str(&format!(
        "if [ -e \"$R/sys/class/dmi/id/product_uuid\" ]; then mount --bind {} \"$R/sys/class/dmi/id/product_uuid\"; fi\n",
        p(&d.product_uuid)
    ));
    if spec.v1_systemd {
        s.push_str("mount -t tmpfs -o mode=755,nosuid,nodev,noexec cgroup \"$R/sys/fs/cgroup\"\n");
        s.push_str("mkdir \"$R/sys/fs/cgroup/systemd\"\n");
        s.push_str("mount -t cgroup -o none,name=systemd cgroup \"$R/sys/fs/cgroup/systemd\"\n");
        if spec.kube_ready {
            s.push_str(&v1_controller_mounts(spec.v1_controllers));
        }
    } else {
        s.push_str("mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 \"$R/sys/fs/cgroup\"\n");
    }
    // A private /dev with only harmless device nodes; the host sees none of the controller's disks.
    s.push_str("mount -t tmpfs -o mode=755,nosuid dev \"$R/dev\"\n");
    s.push_str("for n in null zero full random urandom tty; do touch \"$R/dev/$n\"; mount --bind \"/dev/$n\" \"$R/dev/$n\"; done\n");
    s.push_str("mkdir \"$R/dev/pts\" \"$R/dev/shm\"\n");
    s.push_str(
        "mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts \"$R/dev/pts\"\n",
    );
    s.push_str("ln -s pts/ptmx \"$R/dev/ptmx\"\n");
    if spec.kube_ready {
        // kubelet's OOM watcher reads the kernel log; the host sees the machine's, as a VM sees its own.
        s.push_str("touch \"$R/dev/kmsg\"\nmount --bind /dev/kmsg \"$R/dev/kmsg\"\n");
    }
    s.push_str("mount -t tmpfs -o mode=1777,nosuid,nodev shm \"$R/dev/shm\"\n");
    s.push_str("ln -s /proc/self/fd \"$R/dev/fd\"\nln -s /proc/self/fd/0 \"$R/dev/stdin\"\n");
    s.push_str(
        "ln -s /proc/self/fd/1 \"$R/dev/stdout\"\nln -s /proc/self/fd/2 \"$R/dev/stderr\"\n",
    );
    s.push_str("mount -t tmpfs -o mode=755,nosuid,nodev run \"$R/run\"\n");
    s.push_str("mount -t tmpfs -o mode=1777,nosuid,nodev tmp \"$R/tmp\"\n");
    s.push_str(&format!("hostname {}\n", q(spec.host)));
    s.push_str(&format!(
        "cd \"$R\"\npivot_root . {old}\numount -l /{old}\ncd /\n",
        old = base::OLDROOT
    ));
    if spec.kube_ready {
        // systemd shares / at boot only when the kernel starts it; in a namespace it leaves that to
        // whoever made the namespace. kubelet and runc need shared mounts (mount propagation), and the
        // peer groups made here exist only in this host's namespace (it was made private first).
        s.push_str("mount --make-rshared /\n");
    }
    match spec.pid1 {
        Pid1::Systemd => s.push_str("exec /usr/bin/env -i container=kplay /lib/systemd/systemd\n"),
        Pid1::Sshd => {
            s.push_str("mkdir -p /run/sshd && chmod 755 /run/sshd\n");
            s.push_str(
                "exec /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/sbin/sshd -D -e\n",
            );
        }
    }
    s
}

/// Mounts every v1 controller hierarchy of the controller at the same place as on the controller
/// (inside the host's cgroup namespace each shows the host's own subtree), plus a symlink per
/// controller of a co-mounted hierarchy (`cpu` -> `cpu,cpuacct`), as systemd makes on a real host.
/// systemd in a namespace mounts what it can itself but cannot mount a combination the kernel already
/// has differently (here `cpu` and `cpuacct` apart), which left kubelet without them.
fn v1_controller_mounts(hierarchies: &[Hierarchy]) -> String {
    let mut s = String::new();
    let dirs: Vec<String> = hierarchies.iter().map(Hierarchy::dir_name).collect();
    for (h, dir) in hierarchies.iter().zip(&dirs) {
        s.push_str(&format!(
            "mkdir -p {d}\nmount -t cgroup -o nosuid,nodev,noexec,{o} cgroup {d}\n",
            d = format!("\"$R/sys/fs/cgroup/\"{}", q(dir)),
            o = h.options
        ));
    }
    for (h, dir) in hierarchies.iter().zip(&dirs) {
        for c in h.options.split(',') {
            if c != dir && !c.contains('=') && !dirs.iter().any(|d| d == c) {
                s.push_str(&format!("ln -s {} \"$R/sys/fs/cgroup/\"{}\n", q(dir), q(c)));
            }
        }
    }
    s
}

/// Overlay options separate paths with ',' and ':'; lab paths never contain them (names are validated),
/// so quoting for sh is all that is needed.
fn d_esc(path: &Path) -> String {
    p(path)
}

/// Writes the scripts and starts the host detached; its console output goes to `console.log`.
pub fn start(spec: &HostSpec) -> Result<(), LabError> {
    let dir = &spec.dirs.dir;
    let inner = dir.join("init.sh");
    let outer = dir.join("start.sh");
    fs::write(&inner, inner_script(spec)).map_err(|e| LabError::io("writing", &inner, e))?;
    fs::write(&outer, outer_script(spec, &inner))
        .map_err(|e| LabError::io("writing", &outer, e))?;
    let log_path = dir.join("console.log");
    let log = fs::File::create(&log_path).map_err(|e| LabError::io("creating", &log_path, e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| LabError::io("opening", &log_path, e))?;
    let mut command = Command::new("sh");
    command
        .arg(&outer)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .current_dir("/");
    // SAFETY: setsid(2) and close_range(2) are async-signal-safe system calls; they detach the host
    // from kplay's session, terminal and open files.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Descriptors kplay inherited without close-on-exec (a caller's pipes) must not be held
            // open by hosts that outlive it, or whoever reads those pipes waits forever.
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    command.spawn().map(drop).map_err(|source| LabError::Spawn {
        command: format!("sh {}", outer.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(dirs: &'a HostDirs, procs: &'a [PathBuf], pid1: Pid1) -> HostSpec<'a> {
        HostSpec {
            host: "lab-1",
            netns: "kplay_lab_1",
            base: Path::new("/var/cache/kplay/lab/base-v1"),
            dirs,
            cgroup_procs: procs,
            pid1,
            v1_systemd: true,
            kube_ready: false,
            v1_controllers: &[],
            data_image: None,
            shadows: &[],
        }
    }

    fn hierarchy(mount: &str, options: &str) -> Hierarchy {
        Hierarchy {
            mount: PathBuf::from(mount),
            cpuset: options == "cpuset",
            named_systemd: false,
            v2: false,
            options: options.to_string(),
        }
    }

    #[test]
    fn kube_ready_hosts_get_controllers_kmsg_volume_and_shared_root() {
        let dirs = HostDirs::new(Path::new("/var/lib/kplay/lab/lab"), "lab-1");
        let ctl = [
            hierarchy("/sys/fs/cgroup/cpu", "cpu"),
            hierarchy("/sys/fs/cgroup/cpuacct", "cpuacct"),
            hierarchy("/sys/fs/cgroup/net_cls,net_prio", "net_cls,net_prio"),
        ];
        let img = dirs.dir.join("var.img");
        let mut sp = spec(&dirs, &[], Pid1::Systemd);
        sp.kube_ready = true;
        sp.v1_controllers = &ctl;
        sp.data_image = Some(&img);
        let s = inner_script(&sp);
        assert!(
            s.contains(
                "mount -t cgroup -o nosuid,nodev,noexec,cpu cgroup \"$R/sys/fs/cgroup/\"'cpu'\n"
            ),
            "{s}"
        );
        assert!(s.contains("-o nosuid,nodev,noexec,cpuacct cgroup"), "{s}");
        // Separate hierarchies need no symlinks; a co-mounted one gets one per controller.
        assert!(!s.contains("ln -s 'cpu'"), "{s}");
        assert!(
            s.contains("ln -s 'net_cls,net_prio' \"$R/sys/fs/cgroup/\"'net_prio'"),
            "{s}"
        );
        assert!(s.contains("mount --bind /dev/kmsg \"$R/dev/kmsg\""));
        assert!(s.contains(
            "mount -t ext4 -o loop,discard '/var/lib/kplay/lab/lab/hosts/lab-1/var.img' \"$R/var\""
        ));
        let shared = s.find("mount --make-rshared /").unwrap_or(0);
        let pivot = s.find("pivot_root").unwrap_or(usize::MAX);
        assert!(pivot < shared, "{s}");
    }

    #[test]
    fn light_hosts_get_none_of_the_kube_features_but_keep_the_sysctl_shield() {
        let dirs = HostDirs::new(Path::new("/var/lib/kplay/lab/lab"), "lab-1");
        let s = inner_script(&spec(&dirs, &[], Pid1::Sshd));
        for absent in ["kmsg", "rshared", "loop", "cpuacct"] {
            assert!(!s.contains(absent), "{absent} in {s}");
        }
        assert!(s.contains("remount,bind,ro \"$R/proc/sys\""), "{s}");
        // Every host has its own identity, light or not.
        assert!(
            s.contains("mount --bind '/var/lib/kplay/lab/lab/hosts/lab-1/product_uuid' \"$R/sys/class/dmi/id/product_uuid\""),
            "{s}"
        );
        assert!(
            s.contains("ln -sf /etc/machine-id \"$R/var/lib/dbus/machine-id\""),
            "{s}"
        );
    }

    #[test]
    fn outer_script_joins_cgroups_before_namespaces() {
        let dirs = HostDirs::new(Path::new("/var/lib/kplay/lab/lab"), "lab-1");
        let procs = [PathBuf::from(
            "/sys/fs/cgroup/systemd/kplay-lab/lab/lab-1/cgroup.procs",
        )];
        let s = outer_script(&spec(&dirs, &procs, Pid1::Systemd), Path::new("/x/init.sh"));
        let join = s.find("cgroup.procs").unwrap_or(usize::MAX);
        let ns = s.find("ip netns exec 'kplay_lab_1' unshare").unwrap_or(0);
        assert!(join < ns, "{s}");
        assert!(s.contains("--cgroup"));
    }

    #[test]
    fn inner_script_execs_the_chosen_init() {
        let dirs = HostDirs::new(Path::new("/var/lib/kplay/lab/lab"), "lab-1");
        let sysd = inner_script(&spec(&dirs, &[], Pid1::Systemd));
        assert!(sysd.trim_end().ends_with("/lib/systemd/systemd"));
        assert!(sysd.contains("name=systemd"));
        let sshd = inner_script(&spec(&dirs, &[], Pid1::Sshd));
        assert!(sshd.trim_end().ends_with("/usr/sbin/sshd -D -e"));
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(q("a'b"), "'a'\\''b'");
    }
}
