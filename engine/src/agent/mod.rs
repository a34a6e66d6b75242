//! kplay's agent on the controller's side. The agent itself (protocol and file operations) is
//! the `kplay-agent` crate: a small binary of its own that the `kplay` binary carries compressed
//! and copies to each host, where it does file operations with system calls instead of starting
//! `stat`, `sha1sum`, `cat`, `mv`, `chmod` (one request per file task, no process on the host).
//! The `local` transport runs the same operations in-process. Hosts where no agent can run
//! (a CPU architecture or C library it was not built for, no exec permission in the home
//! directory, a become that needs a password) keep the sh path, which gives the same results.

pub mod client;

pub use kplay_agent::{fsops, proto, serve};
pub use kplay_agent::{
    Attrs, Checksum, FailedStep, HostInfo, PathKind, PathStat, ProbeSpec, Reply, Request, WriteSpec,
};

use std::sync::OnceLock;

/// An agent binary the controller can install: for which hosts, and what it must be there.
#[derive(Debug)]
pub struct AgentBinary {
    /// `uname -m` of the hosts it runs on (`x86_64`); the system is always Linux.
    pub arch: &'static str,
    /// The binary gzip-compressed, as it travels (the host unpacks it with `gzip -dc`).
    pub gz: &'static [u8],
    /// The unpacked binary's length and SHA-256: checked on the host after every upload and
    /// before every reuse.
    pub expect: crate::transport::Expect,
    /// A short prefix of the SHA-256: the file name on hosts, so a changed kplay never talks
    /// to an old agent.
    pub id: String,
    /// The oldest glibc it runs on (the newest `GLIBC_x.y` symbol version it needs).
    pub glibc: (u32, u32),
    /// How it was built, for `-v` (`zig 0.15.2, cargo-zigbuild 0.24.1, glibc 2.17 baseline`).
    pub built: &'static str,
}

impl AgentBinary {
    pub fn new(
        arch: &'static str,
        gz: &'static [u8],
        len: u64,
        sha256: &str,
        glibc: (u32, u32),
        built: &'static str,
    ) -> AgentBinary {
        AgentBinary {
            arch,
            gz,
            id: sha256[..16.min(sha256.len())].to_string(),
            expect: crate::transport::Expect {
                len,
                sha256: sha256.to_string(),
            },
            glibc,
            built,
        }
    }
}

/// The agents this controller carries, registered by the `kplay` binary (which embeds them); a
/// library user such as a test binary registers none, and its hosts keep the sh path.
static AGENTS: OnceLock<Vec<AgentBinary>> = OnceLock::new();

/// Offer `agents` (at most one per architecture) for remote hosts.
pub fn register(agents: Vec<AgentBinary>) {
    let _ = AGENTS.set(agents);
}

/// The registered agents (empty: none).
pub fn agents() -> &'static [AgentBinary] {
    AGENTS.get().map(Vec::as_slice).unwrap_or(&[])
}
