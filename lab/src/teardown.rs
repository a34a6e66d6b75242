//! Removing a lab, or whatever a killed run of it left: processes and cgroups first (so nothing holds
//! the namespaces), then namespaces, interfaces and the firewall table, then its files.

use std::path::Path;
use std::time::Duration;

use crate::{cgroup, cmd, names, net, state, volume, LabError};

/// Removes everything of lab `name` that exists; reports what it did through `progress`.
pub fn run(name: &str, progress: &mut dyn FnMut(&str)) -> Result<(), LabError> {
    let recorded = state::load(name).ok().flatten();
    let dir = state::lab_dir(name);
    let pids = cgroup::pids(name).len();
    let netns_left = netns_count(name);
    if recorded.is_none()
        && pids == 0
        && netns_left == 0
        && !dir.exists()
        && volume::loops_under(&dir).is_empty()
    {
        return Ok(());
    }
    progress(&format!(
        "taking lab {name:?} down ({pids} processes, {netns_left} network namespaces)"
    ));
    cgroup::destroy(name, Duration::from_secs(20))?;
    // The hosts' data volumes were mounted only in their namespaces, now gone with their processes.
    volume::release(&dir, Duration::from_secs(20))?;
    let ids: Vec<u32> = recorded.iter().map(|s| s.id).collect();
    net::destroy(name, &ids)?;
    unmount_under(&dir)?;
    release_netns_dir();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| LabError::io("removing", &dir, e))?;
    }
    progress(&format!("lab {name:?} is down"));
    Ok(())
}

fn netns_count(name: &str) -> usize {
    let prefix = names::netns_prefix(name);
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .count()
        })
        .unwrap_or(0)
}

/// `ip netns add` bind-mounts /run/netns on first use; once no namespace is left in it, undo that so a
/// lab leaves no mount behind (the next `ip netns add` recreates it).
fn release_netns_dir() {
    let dir = Path::new("/run/netns");
    let empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/run/netns"));
    if empty && mounted {
        // Best effort: if something else holds it busy, leaving it mounted is harmless.
        let _ = cmd::run("umount", &["/run/netns"]);
    }
}

/// Host mounts live in the hosts' private mount namespaces and vanish with them; this only catches
/// mounts someone made on the controller under the lab directory (deepest first).
fn unmount_under(dir: &Path) -> Result<(), LabError> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = format!("{}/", dir.display());
    let mut points: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    points.sort_unstable_by_key(|m| std::cmp::Reverse(m.len()));
    for m in points {
        cmd::run("umount", &["-l", m])?;
    }
    Ok(())
}
