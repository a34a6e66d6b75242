//! OpenSSH `known_hosts` files: look a host key up, and append one (trust on first use).
//!
//! Supported entry forms: plain names and patterns (`web*`, `!bad`), `[host]:port` for
//! non-standard ports, hashed names (`|1|salt|hmac`, HMAC-SHA1 as `HashKnownHosts` writes them),
//! `@revoked` markers. `@cert-authority` lines are skipped (host certificates are not used).

use russh::keys::{HashAlg, PublicKey};
use sha1::{Digest, Sha1};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The outcome of looking a host key up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// A matching entry has this very key.
    Known,
    /// No entry for this host at all.
    Unknown,
    /// The host is known with a different key of the same kind: the first such entry.
    Changed { file: PathBuf, line: usize },
    /// The key is listed as `@revoked`.
    Revoked { file: PathBuf, line: usize },
}

/// How a host appears in known_hosts: `host` on port 22, `[host]:port` otherwise.
pub fn host_entry_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Look `key` up for `host:port` in `files` (missing files count as empty).
pub fn check(files: &[PathBuf], host: &str, port: u16, key: &PublicKey) -> HostKeyStatus {
    let name = host_entry_name(host, port);
    let mut changed: Option<(PathBuf, usize)> = None;
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (idx, line) in text.lines().enumerate() {
            let Some(entry) = parse_line(line) else {
                continue;
            };
            if !entry.matches(&name) {
                continue;
            }
            let same = entry.key.key_data() == key.key_data();
            match entry.marker {
                Marker::Revoked if same => {
                    return HostKeyStatus::Revoked {
                        file: file.clone(),
                        line: idx + 1,
                    }
                }
                Marker::Revoked | Marker::CertAuthority => {}
                Marker::None if same => return HostKeyStatus::Known,
                Marker::None => {
                    // Only a key of the same kind counts as "changed": a server offering a
                    // second kind of key we never saw is new, not different.
                    if changed.is_none() && key_family(&entry.key) == key_family(key) {
                        changed = Some((file.clone(), idx + 1));
                    }
                }
            }
        }
    }
    match changed {
        Some((file, line)) => HostKeyStatus::Changed { file, line },
        None => HostKeyStatus::Unknown,
    }
}

/// The kinds of keys on record for `host:port`, so the connection can ask the server for a
/// key kind it is known by (as OpenSSH orders its host key algorithms).
pub fn known_families(files: &[PathBuf], host: &str, port: u16) -> Vec<String> {
    let name = host_entry_name(host, port);
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines() {
            if let Some(e) = parse_line(line) {
                if e.marker == Marker::None && e.matches(&name) {
                    let f = key_family(&e.key);
                    if !out.contains(&f) {
                        out.push(f);
                    }
                }
            }
        }
    }
    out
}

/// The key algorithm with RSA's signature hash variants folded together.
pub fn key_family(key: &PublicKey) -> String {
    let alg = key.algorithm();
    if matches!(alg, russh::keys::Algorithm::Rsa { .. }) {
        "ssh-rsa".to_string()
    } else {
        alg.as_str().to_string()
    }
}

/// Append `host:port key` to `file`, creating the file and its directory (0700) if needed.
pub fn learn(file: &Path, host: &str, port: u16, key: &PublicKey) -> Result<(), String> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    let mut key_text = key.clone();
    key_text.set_comment("");
    let line = key_text
        .to_openssh()
        .map_err(|e| format!("cannot encode host key: {e}"))?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
    // Start on a fresh line even if the file's last line lacks its newline.
    let needs_nl = std::fs::read(file)
        .map(|d| !d.is_empty() && !d.ends_with(b"\n"))
        .unwrap_or(false);
    let text = format!(
        "{}{} {}\n",
        if needs_nl { "\n" } else { "" },
        host_entry_name(host, port),
        line.trim()
    );
    f.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// `SHA256:...`, as OpenSSH prints fingerprints.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

struct Entry {
    marker: Marker,
    hosts: String,
    key: PublicKey,
}

impl Entry {
    fn matches(&self, name: &str) -> bool {
        if let Some(hashed) = self.hosts.strip_prefix("|1|") {
            return hashed_matches(hashed, name);
        }
        super::options::host_matches(&self.hosts, name)
    }
}

fn parse_line(line: &str) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = fields.next()?;
    }
    let alg = fields.next()?;
    let b64 = fields.next()?;
    let key = PublicKey::from_openssh(&format!("{alg} {b64}")).ok()?;
    Some(Entry {
        marker,
        hosts: first.to_string(),
        key,
    })
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
fn hashed_matches(hashed: &str, name: &str) -> bool {
    use base64::Engine;
    let Some((salt, mac)) = hashed.split_once('|') else {
        return false;
    };
    let engine = base64::engine::general_purpose::STANDARD;
    let (Ok(salt), Ok(mac)) = (engine.decode(salt), engine.decode(mac)) else {
        return false;
    };
    hmac_sha1(&salt, name.as_bytes()) == mac.as_slice()
}

/// HMAC (RFC 2104) over SHA-1, the only hash `HashKnownHosts` uses.
fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let inner = inner.finalize();
    let mut outer = Sha1::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA7mxcA5UnvI2nZ2JnH0TbZx4cRnDEmF64tcYXjBUiCy";
    const KEY_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILAlAj8K/sJL/Wg6fCZBj3kq0eRuNmJ39+GA1Cbv9MoJ";
    /// `ssh-keygen -H` output for `[127.0.0.1]:2222` with KEY_A.
    const HASHED: &str = "|1|DRMcxUMFeaSeVMzp0GcT0svhRpY=|4Uv21fMDufJMfdyZM9D6Vmvs1rE=";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn file_with(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("known_hosts");
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        (dir, p)
    }

    #[test]
    fn plain_entry_is_known() {
        let (_d, p) = file_with(&format!("node1 {KEY_A}\n"));
        assert_eq!(check(&[p], "node1", 22, &key(KEY_A)), HostKeyStatus::Known);
    }

    #[test]
    fn non_standard_port_uses_bracket_form() {
        let (_d, p) = file_with(&format!("[node1]:2222 {KEY_A}\n"));
        assert_eq!(
            check(std::slice::from_ref(&p), "node1", 2222, &key(KEY_A)),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&[p], "node1", 22, &key(KEY_A)),
            HostKeyStatus::Unknown
        );
    }

    #[test]
    fn different_key_reports_file_and_line() {
        let (_d, p) = file_with(&format!(
            "# comment\nother {KEY_A}\nnode1,10.0.0.1 {KEY_B}\n"
        ));
        assert_eq!(
            check(std::slice::from_ref(&p), "node1", 22, &key(KEY_A)),
            HostKeyStatus::Changed { file: p, line: 3 }
        );
    }

    #[test]
    fn hashed_entry_matches_its_host_only() {
        let (_d, p) = file_with(&format!("{HASHED} {KEY_A}\n"));
        assert_eq!(
            check(std::slice::from_ref(&p), "127.0.0.1", 2222, &key(KEY_A)),
            HostKeyStatus::Known
        );
        assert_eq!(
            check(&[p], "127.0.0.1", 2223, &key(KEY_A)),
            HostKeyStatus::Unknown
        );
    }

    #[test]
    fn revoked_key_is_reported() {
        let (_d, p) = file_with(&format!("@revoked * {KEY_A}\n"));
        assert!(matches!(
            check(&[p], "any", 22, &key(KEY_A)),
            HostKeyStatus::Revoked { .. }
        ));
    }

    #[test]
    fn missing_file_means_unknown() {
        assert_eq!(
            check(&[PathBuf::from("/nonexistent/kh")], "h", 22, &key(KEY_A)),
            HostKeyStatus::Unknown
        );
    }

    #[test]
    fn learned_key_is_found_again() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("sub").join("known_hosts");
        learn(&p, "10.0.0.9", 2200, &key(KEY_A)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            check(&[p], "10.0.0.9", 2200, &key(KEY_A)),
            HostKeyStatus::Known
        );
    }

    #[test]
    fn known_families_lists_key_kinds() {
        let (_d, p) = file_with(&format!("h {KEY_A}\n"));
        assert_eq!(
            known_families(&[p], "h", 22),
            vec!["ssh-ed25519".to_string()]
        );
    }

    #[test]
    fn hmac_sha1_matches_rfc2202_vector() {
        let mac = hmac_sha1(b"key", b"The quick brown fox jumps over the lazy dog");
        assert_eq!(hex::encode(mac), "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9");
    }
}
