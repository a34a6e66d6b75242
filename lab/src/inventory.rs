//! The INI inventory `up` hands back: usable as is by kplay, ansible-core and (through the recorded
//! key and known_hosts) plain OpenSSH.

use std::path::Path;

/// Renders the inventory. `hosts` are (name, address) pairs; every host is in group `lab`.
pub fn render(
    lab: &str,
    hosts: &[(String, String)],
    key: &Path,
    known_hosts: &Path,
    unused_ip: &str,
) -> String {
    let mut s = format!(
        "# kplay lab {lab:?}: written by `kplay lab up`, removed by `kplay lab down`.\n[lab]\n"
    );
    for (name, ip) in hosts {
        s.push_str(&format!("{name} ansible_host={ip}\n"));
    }
    s.push_str("\n[all:vars]\nansible_user=root\n");
    s.push_str(&format!("ansible_ssh_private_key_file={}\n", key.display()));
    s.push_str(&format!(
        "ansible_ssh_common_args='-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes'\n",
        known_hosts.display()
    ));
    // An address inside the lab subnet that no host has: the lab's "unreachable host".
    s.push_str(&format!("kplay_lab_unused_ip={unused_ip}\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_names_hosts_and_ssh_settings() {
        let hosts = vec![("lab-1".to_string(), "10.100.1.2".to_string())];
        let t = render(
            "lab",
            &hosts,
            Path::new("/l/id_ed25519"),
            Path::new("/l/known_hosts"),
            "10.100.1.254",
        );
        assert!(t.contains("[lab]\nlab-1 ansible_host=10.100.1.2\n"));
        assert!(t.contains("ansible_user=root\n"));
        assert!(t.contains("ansible_ssh_private_key_file=/l/id_ed25519\n"));
        assert!(t.contains("ansible_ssh_common_args='-o UserKnownHostsFile=/l/known_hosts -o StrictHostKeyChecking=yes'"));
    }
}
