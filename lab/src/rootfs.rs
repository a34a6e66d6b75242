//! A host's own files, written into its overlay upper directory before the host starts: identity
//! (hostname, machine id, ssh host key, a DMI product_uuid of its own), name resolution (/etc/hosts,
//! an empty resolver) and the lab's login key for root. The shared base is never written to.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::{keys, LabError};

/// Paths of one host's directory.
pub struct HostDirs {
    pub dir: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub root: PathBuf,
    /// The host's own DMI product_uuid, bind-mounted over the machine's (every host would
    /// otherwise report the one machine's, and kubeadm and preflight tell nodes apart by it).
    pub product_uuid: PathBuf,
}

impl HostDirs {
    pub fn new(lab_dir: &Path, host: &str) -> Self {
        let dir = lab_dir.join("hosts").join(host);
        HostDirs {
            upper: dir.join("upper"),
            work: dir.join("work"),
            root: dir.join("root"),
            product_uuid: dir.join("product_uuid"),
            dir,
        }
    }
}

/// Creates the host's directories and files; returns its public host key (`TYPE BASE64`).
pub fn prepare(
    d: &HostDirs,
    host: &str,
    ip: &str,
    authorized_key: &str,
) -> Result<String, LabError> {
    for p in [&d.upper, &d.work, &d.root] {
        fs::create_dir_all(p).map_err(|e| LabError::io("creating", p, e))?;
    }
    let u = &d.upper;
    write(&u.join("etc/hostname"), &format!("{host}\n"), 0o644)?;
    write(&u.join("etc/hosts"), &hosts_file(host, ip), 0o644)?;
    // Empty on purpose: the hosts are air-gapped and must not try to resolve through anything.
    write(&u.join("etc/resolv.conf"), "", 0o644)?;
    write(
        &u.join("etc/machine-id"),
        &format!("{}\n", machine_id()?),
        0o444,
    )?;
    let id = random_hex()?;
    write(&d.product_uuid, &format!("{}\n", uuid_of(&id)), 0o400)?;
    write(
        &u.join("root/.ssh/authorized_keys"),
        &format!("{authorized_key}\n"),
        0o600,
    )?;
    set_mode(&u.join("root/.ssh"), 0o700)?;
    // The upper directory's attributes win in the merged view: keep root's home private as in the base.
    set_mode(&u.join("root"), 0o700)?;
    let ssh_dir = u.join("etc/ssh");
    fs::create_dir_all(&ssh_dir).map_err(|e| LabError::io("creating", &ssh_dir, e))?;
    let key = ssh_dir.join("ssh_host_ed25519_key");
    keys::generate(&key, &format!("root@{host}"))?;
    keys::read_public(&keys::pub_path(&key))
}

/// /etc/hosts with localhost and the host's own name.
pub fn hosts_file(host: &str, ip: &str) -> String {
    format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{ip}\t{host}\n")
}

/// 128 random bits in hex, as systemd expects in /etc/machine-id.
fn machine_id() -> Result<String, LabError> {
    random_hex()
}

/// 32 hex digits as DMI shows a UUID (`8-4-4-4-12`).
fn uuid_of(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// 128 random bits in hex.
fn random_hex() -> Result<String, LabError> {
    let mut buf = [0u8; 16];
    let path = "/dev/urandom";
    let mut f = fs::File::open(path).map_err(|e| LabError::io("opening", path, e))?;
    std::io::Read::read_exact(&mut f, &mut buf).map_err(|e| LabError::io("reading", path, e))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), LabError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| LabError::io("creating", dir, e))?;
    }
    fs::write(path, text).map_err(|e| LabError::io("writing", path, e))?;
    set_mode(path, mode)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), LabError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| LabError::io("chmod", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_has_localhost_and_own_name() {
        let t = hosts_file("lab-2", "10.100.1.3");
        assert!(t.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(t.contains("10.100.1.3\tlab-2\n"));
    }

    #[test]
    fn machine_ids_are_32_hex_and_distinct() {
        let (a, b) = (
            machine_id().unwrap_or_default(),
            machine_id().unwrap_or_default(),
        );
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        let u = uuid_of(&a);
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        assert_eq!(u.replace('-', ""), a);
    }
}
