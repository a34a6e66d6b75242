//! Running the system tools the lab is built from (`ip`, `nft`, `ssh-keygen`, `debootstrap`, …).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::LabError;

/// Runs `program args…`, feeding `stdin` if given, and returns its stdout; a non-zero exit is an error
/// that carries the command line and its stderr so the user sees why it failed.
pub fn run_input(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, LabError> {
    let line = command_line(program, args);
    let mut child = Command::new(resolve(program).unwrap_or_else(|| program.into()))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LabError::Spawn {
            command: line.clone(),
            source,
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|source| LabError::Spawn {
                command: line.clone(),
                source,
            })?;
    }
    let out = child.wait_with_output().map_err(|source| LabError::Spawn {
        command: line.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: line,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `program args…` without input; see [`run_input`].
pub fn run(program: &str, args: &[&str]) -> Result<String, LabError> {
    run_input(program, args, None)
}

/// Directories searched after PATH: sudo or a service manager may start kplay with a PATH lacking sbin,
/// where `ip`, `nft` and `pivot_root` live.
pub const SYSTEM_DIRS: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Full path of `program` from PATH, then the system directories.
pub fn resolve(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(std::env::split_paths(SYSTEM_DIRS))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Whether `program` can be found (checked up front so a missing tool gets an install hint).
pub fn exists(program: &str) -> bool {
    resolve(program).is_some()
}

/// Fails with an install hint naming the Debian package when a needed tool is missing.
pub fn require(tools: &[(&'static str, &'static str)]) -> Result<(), LabError> {
    for &(tool, package) in tools {
        if !exists(tool) {
            return Err(LabError::MissingTool { tool, package });
        }
    }
    Ok(())
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
}
