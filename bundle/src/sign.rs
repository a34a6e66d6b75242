//! The OpenPGP key that signs the bundle's apt repository, so nodes verify every package list
//! (`signed-by=`) instead of trusting the bootstrap node blindly (`trusted=yes`).
//!
//! The secret key stays on the build machine (default `/var/lib/kplay/archive-signing-key.asc`,
//! owner-only); bundles carry only the public key, `kplay-archive-keyring.gpg`, in the binary
//! form apt's `signed-by=` reads. Keeping one key per build machine means nodes that trust an
//! older bundle trust a newer one too. Ed25519 (v4, "legacy" EdDSA) is what GnuPG 2.2 in Debian
//! 11/12 and Ubuntu 20.04+ verify.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use pgp::composed::{
    CleartextSignedMessage, Deserializable, DetachedSignature, EncryptionCaps, KeyType,
    SecretKeyParamsBuilder, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, Password};

/// Errors from loading, creating or using the archive key.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Io(#[from] crate::IoFailure),
    #[error("{path}: not an OpenPGP secret key: {message}")]
    BadKey { path: PathBuf, message: String },
    #[error("OpenPGP: {0}")]
    Pgp(String),
}

fn pgp_err(e: impl std::fmt::Display) -> SignError {
    SignError::Pgp(e.to_string())
}

/// The repository signing key.
pub struct ArchiveKey {
    secret: SignedSecretKey,
}

/// Where the build machine keeps its signing key unless told otherwise.
pub const DEFAULT_KEY_PATH: &str = "/var/lib/kplay/archive-signing-key.asc";
/// File name of the public key in the bundle (and on nodes under /etc/apt/keyrings/).
pub const KEYRING_NAME: &str = "kplay-archive-keyring.gpg";

impl ArchiveKey {
    /// Loads the armored secret key at `path`, or makes a new one there (mode 0600, written
    /// through a temp file) when the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<ArchiveKey, SignError> {
        match fs::read(path) {
            Ok(data) => Self::from_armor(&data).map_err(|e| SignError::BadKey {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                key.save(path)?;
                Ok(key)
            }
            Err(source) => Err(SignError::Io(crate::IoFailure {
                action: "reading",
                path: path.to_path_buf(),
                source,
            })),
        }
    }

    /// A fresh key whose primary key signs (no subkeys: nothing else is asked of it).
    pub fn generate() -> Result<ArchiveKey, SignError> {
        let params = SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .can_encrypt(EncryptionCaps::None)
            .primary_user_id("kplay offline archive signing key".into())
            .build()
            .map_err(pgp_err)?;
        let secret = params.generate(rand::thread_rng()).map_err(pgp_err)?;
        Ok(ArchiveKey { secret })
    }

    fn from_armor(data: &[u8]) -> Result<ArchiveKey, SignError> {
        let (secret, _) = SignedSecretKey::from_armor_single(data).map_err(pgp_err)?;
        secret.verify_bindings().map_err(pgp_err)?;
        Ok(ArchiveKey { secret })
    }

    fn save(&self, path: &Path) -> Result<(), SignError> {
        let io = |action, source| {
            SignError::Io(crate::IoFailure {
                action,
                path: path.to_path_buf(),
                source,
            })
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| io("creating the directory of", e))?;
        let armored = self
            .secret
            .to_armored_bytes(Default::default())
            .map_err(pgp_err)?;
        // Owner-only from creation: the temp file is 0600 before any byte is written.
        let tmp = tempfile::Builder::new()
            .prefix(".archive-key-")
            .tempfile_in(dir)
            .map_err(|e| io("creating a temp file beside", e))?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .mode(0o600)
            .open(tmp.path())
            .map_err(|e| io("writing", e))?;
        f.write_all(&armored).map_err(|e| io("writing", e))?;
        f.sync_all().map_err(|e| io("writing", e))?;
        tmp.persist(path)
            .map_err(|e| io("renaming into place", e.error))?;
        Ok(())
    }

    /// The key's fingerprint in upper-case hex, as `gpg --list-keys` shows it.
    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.secret.fingerprint().as_bytes())
    }

    /// The public key in binary OpenPGP form (what `signed-by=` and `gpgv --keyring` read).
    pub fn public_keyring(&self) -> Result<Vec<u8>, SignError> {
        self.secret.to_public_key().to_bytes().map_err(pgp_err)
    }

    /// A cleartext-signed copy of `text`: the `InRelease` file.
    pub fn clearsign(&self, text: &str) -> Result<String, SignError> {
        let msg = CleartextSignedMessage::sign(
            rand::thread_rng(),
            text,
            &self.secret.primary_key,
            &Password::empty(),
        )
        .map_err(pgp_err)?;
        msg.to_armored_string(Default::default()).map_err(pgp_err)
    }

    /// An armored detached signature of `data`: the `Release.gpg` file.
    pub fn detached(&self, data: &[u8]) -> Result<String, SignError> {
        let sig = DetachedSignature::sign_binary_data(
            rand::thread_rng(),
            &self.secret.primary_key,
            &Password::empty(),
            HashAlgorithm::Sha512,
            data,
        )
        .map_err(pgp_err)?;
        sig.to_armored_string(Default::default()).map_err(pgp_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    #[test]
    fn key_is_created_owner_only_and_reloaded() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sub/key.asc");
        let a = ArchiveKey::load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = ArchiveKey::load_or_create(&path).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 40);
        fs::write(&path, "garbage").unwrap();
        let err = ArchiveKey::load_or_create(&path).err().unwrap().to_string();
        assert!(err.contains("not an OpenPGP secret key"), "{err}");
    }

    /// gpgv is what apt runs to check Release files; it must accept both signature forms and
    /// refuse a changed text.
    #[test]
    fn gpgv_verifies_inrelease_and_release_gpg() {
        if Command::new("gpgv").arg("--version").output().is_err() {
            panic!("gpgv is missing (package gpgv); apt itself needs it");
        }
        let tmp = tempfile::tempdir().unwrap();
        let key = ArchiveKey::generate().unwrap();
        let ring = tmp.path().join(KEYRING_NAME);
        fs::write(&ring, key.public_keyring().unwrap()).unwrap();
        let text = "Origin: kplay\nSuite: kplay\n-dash line\n";
        fs::write(tmp.path().join("InRelease"), key.clearsign(text).unwrap()).unwrap();
        fs::write(tmp.path().join("Release"), text).unwrap();
        fs::write(
            tmp.path().join("Release.gpg"),
            key.detached(text.as_bytes()).unwrap(),
        )
        .unwrap();
        let gpgv = |args: &[&str]| {
            Command::new("gpgv")
                .arg("--keyring")
                .arg(&ring)
                .args(args)
                .current_dir(tmp.path())
                .output()
                .unwrap()
        };
        let out = gpgv(&["InRelease"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = gpgv(&["Release.gpg", "Release"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::write(tmp.path().join("Release"), "Origin: evil\n").unwrap();
        assert!(!gpgv(&["Release.gpg", "Release"]).status.success());
        let other = ArchiveKey::generate().unwrap();
        fs::write(&ring, other.public_keyring().unwrap()).unwrap();
        assert!(!gpgv(&["InRelease"]).status.success());
    }
}
