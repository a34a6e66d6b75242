//! kplay's agent: the same binary, started on the host (`kplay __agent`), doing file operations
//! with system calls where the sh path starts `stat`, `sha1sum`, `cat`, `mv`, `chmod`. A file
//! task then costs one request and no process on the host. The `local` transport runs the same
//! operations in-process. Hosts where the agent cannot run (another CPU architecture, no exec
//! permission in the home directory, a become that needs a password) keep the sh path, which
//! gives the same results.

pub mod client;
pub mod fsops;
mod ids;
pub mod proto;
pub mod serve;

pub use proto::{
    Attrs, Checksum, FailedStep, HostInfo, PathKind, PathStat, ProbeSpec, Reply, Request, WriteSpec,
};

use std::path::PathBuf;
use std::sync::OnceLock;

/// The binary to start on hosts, registered by the `kplay` binary itself (which knows it
/// answers `__agent`); a library user such as a test binary registers nothing, and its hosts
/// keep the sh path.
static BINARY: OnceLock<PathBuf> = OnceLock::new();

/// Offer `exe` as the agent for remote hosts.
pub fn register_binary(exe: PathBuf) {
    let _ = BINARY.set(exe);
}

/// The agent binary as the controller knows it: where it is, what it must be on a host (length
/// and SHA-256, checked after every upload and before every reuse), and its name there.
#[derive(Debug)]
pub struct AgentBinary {
    pub path: PathBuf,
    /// A short prefix of the SHA-256: the file name on hosts, so a changed kplay never talks
    /// to an old agent.
    pub id: String,
    pub expect: crate::transport::Expect,
}

/// The registered agent binary, hashed once per run. `None`: none registered or unreadable.
/// Nothing here assumes the agent is kplay's own binary: whatever file is registered is the
/// one uploaded and verified.
pub fn binary() -> Option<&'static AgentBinary> {
    static HASHED: OnceLock<Option<AgentBinary>> = OnceLock::new();
    HASHED
        .get_or_init(|| {
            let exe = BINARY.get()?;
            let mut f = std::fs::File::open(exe).ok()?;
            let mut h = <sha2::Sha256 as sha2::Digest>::new();
            let len = std::io::copy(&mut f, &mut h).ok()?;
            let sha256 = hex::encode(sha2::Digest::finalize(h));
            Some(AgentBinary {
                path: exe.clone(),
                id: sha256[..16].to_string(),
                expect: crate::transport::Expect { len, sha256 },
            })
        })
        .as_ref()
}

/// The argument that makes the `kplay` binary serve as the agent.
pub const AGENT_ARG: &str = "__agent";
