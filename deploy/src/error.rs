//! Why a deploy or reset stopped before (or between) steps. Failures inside a step are the
//! playbook's own (failed/unreachable hosts), reported by the engine's output and recap.

use std::path::PathBuf;

/// The exit code for input refused before any host was contacted (ansible-playbook's code for
/// bad options).
pub const EXIT_REFUSED: i32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("unknown step '{word}'; the steps are: {known}")]
    UnknownStep { word: String, known: String },
    /// Bad input, found before any host changed. The message says what to fix.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Load(#[from] kplay_engine::error::LoadError),
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a kplay deploy state file ({msg}); move it away to start over", path.display())]
    StateCorrupt { path: PathBuf, msg: String },
    #[error("another kplay deploy or reset is running with the state {} (lock {} is held); wait for it to finish", state.display(), lock.display())]
    Locked { state: PathBuf, lock: PathBuf },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl DeployError {
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DeployError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// The process exit code this error ends `kplay deploy` with.
    pub fn exit_code(&self) -> i32 {
        match self {
            DeployError::UnknownStep { .. } | DeployError::Refused(_) => EXIT_REFUSED,
            // A playbook that does not parse: ansible-playbook's parser error code.
            DeployError::Load(_) => 4,
            _ => 1,
        }
    }
}
