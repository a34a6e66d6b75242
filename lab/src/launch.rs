//! Starting a host: a launcher script joins the host's cgroups and network namespace, unshares PID,
//! mount, UTS, IPC and cgroup namespaces, builds the host's mounts privately (so they vanish with the
//! host and none is left on the controller), pivots into the overlay root and execs systemd (or sshd).
//! The launcher is detached from kplay (own session, no inherited stdio) so `up` can return.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::rootfs::HostDirs;
use crate::{base, LabError};

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
    s.push_str("mount -t proc -o nosuid,nodev,noexec proc \"$R/proc\"\n");
    s.push_str("mount -t sysfs -o ro,nosuid,nodev,noexec sysfs \"$R/sys\"\n");
    if spec.v1_systemd {
        s.push_str("mount -t tmpfs -o mode=755,nosuid,nodev,noexec cgroup \"$R/sys/fs/cgroup\"\n");
        s.push_str("mkdir \"$R/sys/fs/cgroup/systemd\"\n");
        s.push_str("mount -t cgroup -o none,name=systemd cgroup \"$R/sys/fs/cgroup/systemd\"\n");
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
        }
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
