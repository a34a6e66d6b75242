//! Running one playbook command with a deadline, its output kept in a log file.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one playbook run may take before it counts as hung.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs `cmd` and returns its exit code and combined output. Output goes to `log` rather than a
/// pipe, so a chatty process cannot block on a full pipe while we wait for it.
pub fn run_logged(mut cmd: Command, log: &Path) -> Result<(Option<i32>, String), String> {
    let file = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(s) => break s,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {RUN_TIMEOUT:?}"));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let text = fs::read_to_string(log).unwrap_or_default();
    Ok((status.code(), text))
}

/// The last lines of a tool's output, for an error message.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
