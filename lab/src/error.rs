//! The lab's error type: every message says what failed and, where there is one, how to fix it.

use std::path::PathBuf;

/// Everything that can go wrong while managing a lab.
#[derive(thiserror::Error, Debug)]
pub enum LabError {
    #[error("the lab must run as root (it creates namespaces, mounts and network devices); re-run with sudo")]
    NotRoot,
    #[error("invalid lab name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("invalid host count {0}: a lab has between 1 and {max} hosts", max = crate::names::MAX_HOSTS)]
    InvalidHostCount(usize),
    #[error("`{tool}` was not found; install it with `apt-get install {package}` (or run tests/install-deps.sh)")]
    MissingTool {
        tool: &'static str,
        package: &'static str,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("could not run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d; add one so debootstrap can build the lab's base")]
    NoMirror,
    #[error("no free lab subnet in 10.100.0.0-10.199.255.0/24 (every candidate is used by another lab or a route of this machine)")]
    NoSubnet,
    #[error("no lab named {0:?} is up; start one with `kplay lab up --name {0}`")]
    NotUp(String),
    #[error("the lab state file {path} is unreadable ({reason}); run `kplay lab down --name {name}` and bring the lab up again")]
    BadState {
        name: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "sshd did not answer within {secs} s on: {hosts}; see the console.log files under {dir}"
    )]
    NotReady {
        hosts: String,
        secs: u64,
        dir: PathBuf,
    },
    #[error("invalid data volume size {0} bytes: use 0 (no volume) or at least 512 MiB")]
    InvalidDataSize(u64),
    #[error("could not clean up lab {name:?}: {what}")]
    Leftover { name: String, what: String },
}

impl LabError {
    /// Wraps an I/O error with the action and path it concerns.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        LabError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
