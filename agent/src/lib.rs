//! kplay's agent: a small program the controller copies to each host (`kplay-agent`), doing
//! file operations with system calls where the sh path starts `stat`, `sha1sum`, `cat`, `mv`,
//! `chmod`. A file task then costs one request and no process on the host. The engine's
//! `local` transport runs the same operations in-process.
//!
//! This crate holds only the protocol and the file operations: no CLI, no templating, no SSH.
//! It is built on its own, size-optimised and against an old C library baseline (see
//! `build/agent.rs` in the workspace root), and travels compressed inside the `kplay` binary.

pub mod fsops;
mod ids;
pub mod proto;
pub mod serve;

pub use proto::{
    Attrs, Checksum, FailedStep, HostInfo, PathKind, PathStat, ProbeSpec, Reply, Request, WriteSpec,
};
