//! The russh client callbacks: here only the server host key check, which decides between
//! known, trust-on-first-use, refused-unknown and refused-changed.

use super::known_hosts::{self, HostKeyStatus};
use super::target::{HostKeyPolicy, SshTarget};
use russh::keys::{PublicKey, PublicKeyOrCertificate};
use std::path::PathBuf;

/// Errors a connection attempt can end with inside russh.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("{0}")]
    Ssh(#[from] russh::Error),
    /// The host key was refused: never retried, reported as is.
    #[error("{0}")]
    HostKey(String),
}

/// Checks the server's host key for one target.
#[derive(Clone, Debug)]
pub struct HostKeyVerifier {
    host: String,
    port: u16,
    /// The files looked in: the target's known_hosts, the global ones, then kplay's own.
    files: Vec<PathBuf>,
    own_file: PathBuf,
    policy: HostKeyPolicy,
}

impl HostKeyVerifier {
    pub fn for_target(t: &SshTarget) -> Self {
        let mut files = t.known_hosts.clone();
        files.extend(t.global_known_hosts.iter().cloned());
        files.retain(|f| f.as_os_str() != "/dev/null");
        if !files.contains(&t.kplay_known_hosts) {
            files.push(t.kplay_known_hosts.clone());
        }
        HostKeyVerifier {
            host: t.host.clone(),
            port: t.port,
            files,
            own_file: t.kplay_known_hosts.clone(),
            policy: t.host_key_policy,
        }
    }

    /// Key kinds on record for this host, to ask the server for one of those first.
    pub fn known_families(&self) -> Vec<String> {
        if self.policy == HostKeyPolicy::Off {
            return Vec::new();
        }
        known_hosts::known_families(&self.files, &self.host, self.port)
    }

    /// Accept (`Ok`) or refuse (`Err` with the message for the user) the server's key.
    pub fn verify(&self, key: &PublicKey) -> Result<(), String> {
        if self.policy == HostKeyPolicy::Off {
            return Ok(());
        }
        let name = known_hosts::host_entry_name(&self.host, self.port);
        let fp = known_hosts::fingerprint(key);
        let kind = key.algorithm().as_str().to_string();
        match known_hosts::check(&self.files, &self.host, self.port, key) {
            HostKeyStatus::Known => Ok(()),
            HostKeyStatus::Changed { file, line } => Err(format!(
                "host key verification failed for {name}: REMOTE HOST IDENTIFICATION HAS CHANGED. The server now presents {kind} key {fp}, \
                 but {}:{line} holds a different key for it. Someone could be intercepting the connection, or the host was reinstalled; \
                 if the change is expected, remove line {line} from {} and connect again",
                file.display(),
                file.display()
            )),
            HostKeyStatus::Revoked { file, line } => {
                Err(format!("host key verification failed for {name}: the {kind} key {fp} is marked @revoked in {}:{line}", file.display()))
            }
            HostKeyStatus::Unknown if self.policy == HostKeyPolicy::Strict => Err(format!(
                "host key verification failed for {name}: its {kind} key {fp} is not in any known_hosts file ({}) and strict host key \
                 checking refuses unknown keys; add the key (e.g. with ssh-keyscan, to ~/.ssh/known_hosts or /etc/ssh/ssh_known_hosts), \
                 or trust it on first use (no --strict-host-keys, host_key_checking not set to True)",
                self.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
            )),
            HostKeyStatus::Unknown => known_hosts::learn(&self.own_file, &self.host, self.port, key)
                .map_err(|e| format!("cannot record the host key of {name} (trust on first use): {e}")),
        }
    }
}

/// russh's per-connection handler.
pub struct ClientHandler {
    verifier: HostKeyVerifier,
}

impl ClientHandler {
    pub fn new(verifier: HostKeyVerifier) -> Self {
        ClientHandler { verifier }
    }
}

impl russh::client::Handler for ClientHandler {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        self.verifier
            .verify(&server_public_key.public_key())
            .map_err(HandlerError::HostKey)?;
        Ok(true)
    }
}
