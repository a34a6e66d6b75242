//! SSH material: the lab's root login keypair, one host key per host (made at `up`, so every lab run has
//! fresh identities), and the `known_hosts` file that pins them.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{cmd, LabError};

/// Generates an ed25519 keypair at `path` (and `path.pub`) without passphrase, replacing any old one.
pub fn generate(path: &Path, comment: &str) -> Result<(), LabError> {
    for p in [path.to_path_buf(), pub_path(path)] {
        if p.exists() {
            fs::remove_file(&p).map_err(|e| LabError::io("removing", &p, e))?;
        }
    }
    let target = path.to_string_lossy().into_owned();
    cmd::run(
        "ssh-keygen",
        &[
            "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", &target,
        ],
    )
    .map(|_| ())
}

/// `key` → `key.pub`.
pub fn pub_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Reads a public key file as `TYPE BASE64` (the comment dropped).
pub fn read_public(path: &Path) -> Result<String, LabError> {
    let text = fs::read_to_string(path).map_err(|e| LabError::io("reading", path, e))?;
    Ok(text
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" "))
}

/// One known_hosts line pinning `key` for both the host's address and its name.
pub fn known_hosts_line(ip: &str, name: &str, key: &str) -> String {
    format!("{ip},{name} {key}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_line_names_address_and_host() {
        assert_eq!(
            known_hosts_line("10.1.2.3", "lab-1", "ssh-ed25519 AAAA"),
            "10.1.2.3,lab-1 ssh-ed25519 AAAA\n"
        );
    }

    #[test]
    fn pub_path_appends_suffix() {
        assert_eq!(
            pub_path(Path::new("/x/id_ed25519")),
            PathBuf::from("/x/id_ed25519.pub")
        );
    }
}
