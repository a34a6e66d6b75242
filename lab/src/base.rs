//! The Debian 12 base every host's overlay root sits on: built once with debootstrap, prepared for
//! running inside namespaces, and cached; hosts never write to it (their changes go to their upper dir).

use std::fs;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::{cmd, mirror, LabError};

/// Where bases are cached. The version suffix changes whenever the preparation below changes, so an
/// old cache is never used with new expectations.
const CACHE: &str = "/var/cache/kplay/lab";
const VERSION: &str = "base-v1";
/// Packages on top of minbase: systemd as init, sshd for access, python3/python3-apt only so
/// ansible-core can be run against the same hosts for comparison.
const INCLUDE: &str =
    "systemd,systemd-sysv,dbus,openssh-server,python3,python3-apt,iproute2,procps,sudo,ca-certificates";
/// Units that cannot work in a container (no ttys, no block devices) and would leave systemd
/// `degraded`, or timers that would try to reach the network from an air-gapped host.
const MASKED: &[&str] = &[
    "console-getty.service",
    "getty@tty1.service",
    "e2scrub_reap.service",
    "e2scrub_all.timer",
    "fstrim.timer",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
];
/// Empty directory the launcher pivots the old root onto before detaching it.
pub const OLDROOT: &str = ".kplay-oldroot";
/// sshd settings shared by every host: only the per-host ed25519 key, keys only, no DNS lookups.
const SSHD_CONF: &str =
    "# Written by kplay lab: host keys are generated per host at `kplay lab up`.\n\
HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
PermitRootLogin prohibit-password\nUseDNS no\nMaxStartups 100:30:200\n";

/// Returns the cached base, building it first when it is missing (about a minute, once per machine).
pub fn ensure(progress: &mut dyn FnMut(&str)) -> Result<PathBuf, LabError> {
    let cache = Path::new(CACHE);
    let base = cache.join(VERSION);
    fs::create_dir_all(cache).map_err(|e| LabError::io("creating", cache, e))?;
    // Two labs brought up at once must not both debootstrap into the same directory.
    let lock_path = cache.join(".lock");
    let lock = fs::File::create(&lock_path).map_err(|e| LabError::io("creating", &lock_path, e))?;
    // SAFETY: flock on a file descriptor we own; the lock is released when `lock` is dropped.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(LabError::io(
            "locking",
            &lock_path,
            std::io::Error::last_os_error(),
        ));
    }
    if base.join(OLDROOT).is_dir() {
        return Ok(base);
    }
    cmd::require(&[("debootstrap", "debootstrap")])?;
    let mirror = mirror::find().ok_or(LabError::NoMirror)?;
    let partial = cache.join(format!("{VERSION}.partial"));
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(|e| LabError::io("removing", &partial, e))?;
    }
    progress(&format!(
        "building the Debian 12 base with debootstrap from {mirror} (once; about a minute)"
    ));
    let target = partial.to_string_lossy().into_owned();
    let include = format!("--include={INCLUDE}");
    cmd::run(
        "debootstrap",
        &["--variant=minbase", &include, "bookworm", &target, &mirror],
    )?;
    prepare(&partial)?;
    fs::rename(&partial, &base).map_err(|e| LabError::io("renaming into place", &base, e))?;
    progress(&format!("base ready at {}", base.display()));
    Ok(base)
}

/// Turns a fresh debootstrap tree into a base fit for many containers at once.
fn prepare(root: &Path) -> Result<(), LabError> {
    let ssh = root.join("etc/ssh");
    for entry in fs::read_dir(&ssh).map_err(|e| LabError::io("reading", &ssh, e))? {
        let path = entry.map_err(|e| LabError::io("reading", &ssh, e))?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("ssh_host_"))
        {
            fs::remove_file(&path).map_err(|e| LabError::io("removing", &path, e))?;
        }
    }
    write(&ssh.join("sshd_config.d/kplay.conf"), SSHD_CONF)?;
    let units = root.join("etc/systemd/system");
    for unit in MASKED {
        let link = units.join(unit);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink("/dev/null", &link)
            .map_err(|e| LabError::io("masking", &link, e))?;
        for wants in [
            "getty.target.wants",
            "multi-user.target.wants",
            "timers.target.wants",
        ] {
            let _ = fs::remove_file(units.join(wants).join(unit));
        }
    }
    // Every host writes its own machine id; an empty file here makes a forgotten one obvious.
    write(&root.join("etc/machine-id"), "")?;
    let oldroot = root.join(OLDROOT);
    fs::create_dir_all(&oldroot).map_err(|e| LabError::io("creating", &oldroot, e))
}

fn write(path: &Path, text: &str) -> Result<(), LabError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| LabError::io("creating", dir, e))?;
    }
    fs::write(path, text).map_err(|e| LabError::io("writing", path, e))
}
