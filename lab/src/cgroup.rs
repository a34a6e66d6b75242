//! Per-host cgroups. Each host's launcher is moved into `<hierarchy>/kplay-lab/LAB/HOST` in every cgroup
//! hierarchy of the controller before it unshares its cgroup namespace, so everything the host's systemd
//! creates lands in that subtree. `down` then kills every process found there and removes the subtree,
//! which is how it guarantees no process or cgroup of the lab survives.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{names, LabError};

/// One mounted cgroup hierarchy of the controller.
#[derive(Debug, Clone, PartialEq)]
pub struct Hierarchy {
    pub mount: PathBuf,
    /// v1 cpuset needs cpus/mems copied into new cgroups before a process may join them.
    pub cpuset: bool,
    /// The v1 `name=systemd` hierarchy: when present, hosts get their own view of it.
    pub named_systemd: bool,
    pub v2: bool,
    /// What identifies a v1 hierarchy when mounting it again (`cpu`, `cpu,cpuacct`, `name=systemd`);
    /// empty for v2.
    pub options: String,
}

impl Hierarchy {
    /// The v1 controller hierarchies a host mounts itself so kubelet and runc find every controller
    /// (`name=systemd` and v2 are mounted separately).
    pub fn is_v1_controller(&self) -> bool {
        !self.v2 && !self.named_systemd && !self.options.starts_with("name=")
    }

    /// Directory name under /sys/fs/cgroup, as the controller mounts it (`cpu`, `cpu,cpuacct`).
    pub fn dir_name(&self) -> String {
        match self.mount.parent() {
            Some(p) if p == Path::new("/sys/fs/cgroup") => self
                .mount
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| self.options.clone()),
            _ => self.options.clone(),
        }
    }
}

/// The controller's cgroup hierarchies, each once (a hierarchy mounted twice is listed once).
pub fn hierarchies() -> Vec<Hierarchy> {
    parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// Parses /proc/self/mountinfo text; see proc(5) for the format.
pub fn parse_mountinfo(text: &str) -> Vec<Hierarchy> {
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount) = left.split(' ').nth(4) else {
            continue;
        };
        let mut r = right.split(' ');
        let (Some(fstype), _, Some(opts)) = (r.next(), r.next(), r.next()) else {
            continue;
        };
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let ident = hierarchy_key(opts);
        let key = format!("{fstype} {ident}");
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let opts: Vec<&str> = opts.split(',').collect();
        let v2 = fstype == "cgroup2";
        out.push(Hierarchy {
            mount: PathBuf::from(mount.replace("\\040", " ")),
            cpuset: opts.contains(&"cpuset"),
            named_systemd: opts.contains(&"name=systemd"),
            v2,
            options: if v2 { String::new() } else { ident },
        });
    }
    out
}

/// The options that identify a v1 hierarchy (its controllers and name), without mount flags.
fn hierarchy_key(opts: &str) -> String {
    let flags = [
        "rw",
        "ro",
        "relatime",
        "nosuid",
        "nodev",
        "noexec",
        "xattr",
        "clone_children",
        "noprefix",
        "none",
        "cpuset_v2_mode",
        "nsdelegate",
        "favordynmods",
        "memory_localevents",
        "memory_recursiveprot",
        "memory_hugetlb_accounting",
    ];
    // `name=` names a hierarchy; any other `key=value` (release_agent=…) is a setting, not identity.
    let mut keep: Vec<&str> = opts
        .split(',')
        .filter(|o| !flags.contains(o) && (!o.contains('=') || o.starts_with("name=")))
        .collect();
    keep.sort_unstable();
    keep.join(",")
}

/// Creates the host's cgroup in every hierarchy and returns the `cgroup.procs` files the launcher
/// writes its pid into.
pub fn create(lab: &str, host: &str) -> Result<Vec<PathBuf>, LabError> {
    let mut procs = Vec::new();
    for h in hierarchies() {
        let mut dir = h.mount.clone();
        for part in names::cgroup_dir(lab)
            .split('/')
            .chain(std::iter::once(host))
        {
            let parent = dir.clone();
            dir.push(part);
            if !dir.is_dir() {
                fs::create_dir(&dir).map_err(|e| LabError::io("creating cgroup", &dir, e))?;
            }
            if h.v2 && part != host {
                delegate(&dir);
            }
            if h.cpuset {
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    let value = fs::read_to_string(parent.join(file)).unwrap_or_default();
                    let target = dir.join(file);
                    if fs::read_to_string(&target)
                        .unwrap_or_default()
                        .trim()
                        .is_empty()
                    {
                        fs::write(&target, value.trim())
                            .map_err(|e| LabError::io("writing", &target, e))?;
                    }
                }
            }
        }
        procs.push(dir.join("cgroup.procs"));
    }
    Ok(procs)
}

/// On cgroup v2 a host only gets the controllers its parent enables for its children: enable in
/// `kplay-lab` and `kplay-lab/LAB` (which hold no processes) every controller they have, so the host's
/// systemd, kubelet and runc can use cpu, memory, pids and io as on a real machine. The machine's
/// root is never changed: a controller it does not delegate stays unavailable.
fn delegate(dir: &Path) {
    let available = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let control = dir.join("cgroup.subtree_control");
    for c in available.split_whitespace() {
        // One at a time: a controller the kernel refuses here (threaded-only ones) must not keep the
        // others from being enabled.
        let _ = fs::write(&control, format!("+{c}"));
    }
}

/// Every cgroup directory of the lab, deepest first.
fn lab_dirs(lab: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for h in hierarchies() {
        collect(&h.mount.join(names::cgroup_dir(lab)), &mut dirs);
    }
    dirs
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect(&e.path(), out);
        }
    }
    out.push(dir.to_path_buf());
}

/// Pids of every process in the lab's cgroups.
pub fn pids(lab: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = lab_dirs(lab)
        .iter()
        .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|t| {
            t.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Pids in one host's cgroup subtree (in the first hierarchy), to tell whether the host runs.
pub fn host_pids(lab: &str, host: &str) -> usize {
    let Some(h) = hierarchies().into_iter().next() else {
        return 0;
    };
    let mut dirs = Vec::new();
    collect(&h.mount.join(names::cgroup_dir(lab)).join(host), &mut dirs);
    dirs.iter()
        .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
        .map(|t| t.lines().count())
        .sum()
}

/// Kills every process of the lab (SIGKILL, repeated until none is left, at most `limit`), then removes
/// the lab's cgroups. Killing a host's PID 1 takes its whole PID namespace with it.
pub fn destroy(lab: &str, limit: Duration) -> Result<(), LabError> {
    let start = Instant::now();
    loop {
        let pids = pids(lab);
        if pids.is_empty() {
            break;
        }
        if start.elapsed() > limit {
            return Err(LabError::Leftover {
                name: lab.to_string(),
                what: format!(
                    "processes {pids:?} survived SIGKILL for {} s",
                    limit.as_secs()
                ),
            });
        }
        for pid in pids {
            // SAFETY: plain kill(2) on a pid read from the lab's own cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // A cgroup whose last process just died may stay busy for a moment; retry briefly.
    let start = Instant::now();
    loop {
        let left: Vec<PathBuf> = lab_dirs(lab)
            .into_iter()
            .filter(|d| fs::remove_dir(d).is_err())
            .collect();
        if left.is_empty() {
            break;
        }
        if start.elapsed() > limit {
            return Err(LabError::Leftover {
                name: lab.to_string(),
                what: format!("cgroups {left:?} stay busy"),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The shared parent goes too once the last lab is down.
    for h in hierarchies() {
        let _ = fs::remove_dir(h.mount.join("kplay-lab"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpuset rw,nosuid - cgroup cgroup rw,cpuset
34 30 0:29 / /mnt/cpuset-again rw - cgroup cgroup rw,relatime,cpuset
";

    #[test]
    fn hierarchies_are_found_once_each() {
        let h = parse_mountinfo(HYBRID);
        let mounts: Vec<_> = h
            .iter()
            .map(|h| h.mount.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            mounts,
            [
                "/sys/fs/cgroup/unified",
                "/sys/fs/cgroup/systemd",
                "/sys/fs/cgroup/cpuset"
            ]
        );
    }

    #[test]
    fn hierarchy_kinds_are_recognised() {
        let h = parse_mountinfo(HYBRID);
        assert!(h[0].v2 && !h[0].named_systemd);
        assert!(h[1].named_systemd && !h[1].v2);
        assert!(h[2].cpuset);
    }
}
