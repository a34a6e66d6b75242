//! Keeping a host's hands off the real machine's kernel settings.
//!
//! Lab hosts share the machine's kernel. Most of what a node tunes is per network namespace
//! (`/proc/sys/net`, the host's own), but some sysctls are global: kubelet sets `vm.overcommit_memory`,
//! `kernel.panic`, `kernel.panic_on_oops`, `vm.panic_on_oom` and the root key quotas at start, and
//! roles commonly raise inotify and map-count limits. Written from a host they would change the
//! machine's values (`kernel.panic_on_oops=1` on a shared machine turns any oops into a reboot).
//!
//! So every host sees `/proc/sys` read-only except `/proc/sys/net`, and each sysctl listed in
//! [`SHADOWED`] is a per-host file bind-mounted over its `/proc/sys` entry: it starts with the
//! machine's value and takes writes as the kernel would, but only that host sees them. A write to any
//! other global sysctl fails loudly (read-only file system) instead of reaching the machine; add it
//! here when a role needs it. `/proc/sysrq-trigger` is read-only too. A process inside a host that
//! mounts a fresh procfs of its own (a privileged container) is not covered: hosts are not user
//! namespaces.

use std::path::{Path, PathBuf};

use crate::LabError;

/// Global sysctls (paths under /proc/sys) every host gets its own writable copy of.
pub const SHADOWED: &[&str] = &[
    // kubelet's kernel tunables (setupKernelTunables), written at every kubelet start.
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    // What node-preparation roles commonly tune (kubespray and the like).
    "fs/inotify/max_user_watches",
    "fs/inotify/max_user_instances",
    "fs/file-max",
    "vm/max_map_count",
    "vm/swappiness",
    "kernel/pid_max",
];

/// One shadowed sysctl: the host's file and the /proc/sys entry it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Shadow {
    /// Path under /proc/sys, e.g. `vm/overcommit_memory`.
    pub key: &'static str,
    pub file: PathBuf,
}

/// Writes the host's shadow files (in `host_dir/sysctl/`) with the machine's current values; sysctls
/// this kernel lacks are skipped.
pub fn prepare(host_dir: &Path) -> Result<Vec<Shadow>, LabError> {
    let dir = host_dir.join("sysctl");
    std::fs::create_dir_all(&dir).map_err(|e| LabError::io("creating", &dir, e))?;
    let mut out = Vec::new();
    for key in SHADOWED {
        let Ok(value) = std::fs::read_to_string(Path::new("/proc/sys").join(key)) else {
            continue;
        };
        let file = dir.join(key.replace('/', "."));
        std::fs::write(&file, value).map_err(|e| LabError::io("writing", &file, e))?;
        out.push(Shadow { key, file });
    }
    Ok(out)
}

/// The launcher lines that protect `/proc` under `$R` (the host's root, procfs already mounted).
pub fn script(shadows: &[Shadow], quote: impl Fn(&Path) -> String) -> String {
    let mut s = String::new();
    s.push_str("mount --bind \"$R/proc/sys\" \"$R/proc/sys\"\n");
    s.push_str("mount -o remount,bind,ro \"$R/proc/sys\"\n");
    // The host's own network namespace: its sysctls are its own, and roles set them (ip_forward …).
    s.push_str("mount --bind \"$R/proc/sys/net\" \"$R/proc/sys/net\"\n");
    s.push_str("mount -o remount,bind,rw \"$R/proc/sys/net\"\n");
    for sh in shadows {
        s.push_str(&format!(
            "mount --bind {} \"$R/proc/sys/{}\"\n",
            quote(&sh.file),
            sh.key
        ));
    }
    // Absent when the kernel has no magic SysRq.
    s.push_str("if [ -e \"$R/proc/sysrq-trigger\" ]; then\n");
    s.push_str("  mount --bind \"$R/proc/sysrq-trigger\" \"$R/proc/sysrq-trigger\"\n");
    s.push_str("  mount -o remount,bind,ro \"$R/proc/sysrq-trigger\"\nfi\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelets_globals_are_shadowed() {
        for key in [
            "vm/overcommit_memory",
            "kernel/panic",
            "kernel/panic_on_oops",
        ] {
            assert!(SHADOWED.contains(&key), "{key}");
        }
    }

    #[test]
    fn script_makes_sys_read_only_before_the_writable_parts() {
        let shadows = [Shadow {
            key: "vm/overcommit_memory",
            file: PathBuf::from("/l/h/sysctl/vm.overcommit_memory"),
        }];
        let s = script(&shadows, |p| format!("'{}'", p.display()));
        let ro = s
            .find("remount,bind,ro \"$R/proc/sys\"")
            .unwrap_or(usize::MAX);
        let net = s.find("remount,bind,rw \"$R/proc/sys/net\"").unwrap_or(0);
        let shadow = s
            .find("mount --bind '/l/h/sysctl/vm.overcommit_memory' \"$R/proc/sys/vm/overcommit_memory\"")
            .unwrap_or(0);
        assert!(ro < net && net < shadow, "{s}");
        assert!(s.contains("remount,bind,ro \"$R/proc/sysrq-trigger\""));
    }
}
