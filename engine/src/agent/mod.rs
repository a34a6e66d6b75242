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

/// The registered agent binary and a short hash of its content (its name on hosts, so a
/// changed kplay never talks to an old agent). `None`: none registered or unreadable.
pub fn binary() -> Option<&'static (PathBuf, String)> {
    static HASHED: OnceLock<Option<(PathBuf, String)>> = OnceLock::new();
    HASHED
        .get_or_init(|| {
            let exe = BINARY.get()?;
            let mut f = std::fs::File::open(exe).ok()?;
            let mut h = <sha1::Sha1 as sha1::Digest>::new();
            std::io::copy(&mut f, &mut h).ok()?;
            let digest = hex::encode(sha1::Digest::finalize(h));
            Some((exe.clone(), digest[..16].to_string()))
        })
        .as_ref()
}

/// The argument that makes the `kplay` binary serve as the agent.
pub const AGENT_ARG: &str = "__agent";
