//! `kplay lab status`: each host, its address, whether its processes run, whether sshd answers and,
//! with systemd, what `systemctl is-system-running` says.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{cgroup, names, ready, state, LabError};

/// A human-readable report on lab `name`.
pub fn status(name: &str) -> Result<String, LabError> {
    names::validate(name)?;
    let s = state::load(name)?.ok_or_else(|| LabError::NotUp(name.to_string()))?;
    let dir = state::lab_dir(name);
    let key = dir.join("id_ed25519");
    let known = dir.join("known_hosts");
    let init = match s.init {
        state::InitKind::Systemd => "systemd",
        state::InitKind::None => "none",
    };
    let mut out = format!(
        "lab {name:?}: {} hosts on {}.0/24, init {init}, inventory {}\n",
        s.hosts,
        names::subnet_prefix(s.id),
        dir.join("inventory.ini").display()
    );
    out.push_str(&format!(
        "{:<28} {:<16} {:>9}  {:<5} {}\n",
        "HOST", "ADDRESS", "PROCESSES", "SSHD", "SYSTEM"
    ));
    for i in 1..=s.hosts {
        let host = names::host_name(name, i);
        let ip = names::host_ip(s.id, i);
        let procs = cgroup::host_pids(name, &host);
        let sshd = ready::sshd_answers(&ip, Duration::from_secs(1));
        let system = match (s.init, sshd) {
            (state::InitKind::Systemd, true) => system_state(&ip, &key, &known),
            (state::InitKind::Systemd, false) => "-".to_string(),
            (state::InitKind::None, _) => "(no systemd)".to_string(),
        };
        let sshd = if sshd { "up" } else { "down" };
        out.push_str(&format!(
            "{host:<28} {ip:<16} {procs:>9}  {sshd:<5} {system}\n"
        ));
    }
    Ok(out)
}

/// `systemctl is-system-running` on the host, over plain OpenSSH with the lab's key and known_hosts.
fn system_state(ip: &str, key: &std::path::Path, known: &std::path::Path) -> String {
    let out = Command::new("ssh")
        .arg("-i")
        .arg(key)
        .arg(format!("-oUserKnownHostsFile={}", known.display()))
        .args([
            "-oStrictHostKeyChecking=yes",
            "-oBatchMode=yes",
            "-oConnectTimeout=3",
        ])
        .arg(format!("root@{ip}"))
        .args(["systemctl", "is-system-running"])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if text.is_empty() {
                format!("ssh failed: {}", String::from_utf8_lossy(&o.stderr).trim())
            } else {
                text
            }
        }
        Err(e) => format!("cannot run ssh: {e}"),
    }
}
