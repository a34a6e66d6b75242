//! The deploy state file: which steps finished, with the hash of the inputs they finished with,
//! and which step was running when a deploy stopped. kubeplay's "install steps file", keyed by
//! inputs so a changed variable or role re-runs exactly the steps that use it.
//!
//! Where: `<deploy dir>/.kplay/deploy-state.json`, beside the inventory (or config.yaml), so each
//! cluster's inventory carries its own state (see [`crate::layout`]). Written atomically (temp
//! file, fsync, rename, fsync of the directory): a deploy killed at any moment leaves the old or
//! the new state, never half of one. Owner-only (0600): it holds hashes of variable values.
//! A lock file beside it (`deploy-state.lock`, flock) keeps two deploys of one cluster apart.

use crate::error::DeployError;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// The format version; a newer file is refused rather than misread.
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Random, per state file: variable values are hashed with it, so the file does not let
    /// anyone test guesses of a secret variable against a plain hash.
    #[serde(default)]
    pub salt: String,
    /// Finished steps, by step name, in the order they finished.
    #[serde(default)]
    pub steps: IndexMap<String, StepRecord>,
    /// The step a deploy was running when this file was last written; still set after a deploy
    /// was killed, so the next one can say where it resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<Running>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The hash of everything the step's outcome depends on (see [`crate::inputs`]).
    pub hash: String,
    /// RFC 3339, UTC.
    pub finished: String,
    pub seconds: f64,
    /// The parts of the hash, to tell the operator what changed since.
    #[serde(default)]
    pub inputs: InputsSummary,
}

/// A step's inputs, each part hashed on its own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputsSummary {
    /// Playbook and role files (paths relative to their root, and contents).
    pub content: String,
    /// Hosts, groups and connection variables.
    pub inventory: String,
    /// Each variable the step's content refers to, by name.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Other inputs by name (the bundle's identity for `bootstrap-node`).
    #[serde(default)]
    pub other: BTreeMap<String, String>,
}

impl InputsSummary {
    /// What differs from `before`, in words (`role and playbook files`, `variable etcd_version`).
    pub fn changes_since(&self, before: &InputsSummary) -> Vec<String> {
        let mut out = Vec::new();
        if self.content != before.content {
            out.push("playbook or role files".to_string());
        }
        if self.inventory != before.inventory {
            out.push("inventory hosts, groups or connection settings".to_string());
        }
        let names: std::collections::BTreeSet<&String> =
            self.vars.keys().chain(before.vars.keys()).collect();
        for name in names {
            if self.vars.get(name) != before.vars.get(name) {
                out.push(format!("variable {name}"));
            }
        }
        let others: std::collections::BTreeSet<&String> =
            self.other.keys().chain(before.other.keys()).collect();
        for name in others {
            if self.other.get(name) != before.other.get(name) {
                out.push(name.clone());
            }
        }
        out
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Running {
    pub step: String,
    pub started: String,
    pub pid: u32,
}

/// Now, as the state file writes times.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The state file of one cluster, held locked while a deploy or reset runs.
pub struct StateFile {
    path: PathBuf,
    lock_path: PathBuf,
    _lock: std::fs::File,
}

impl StateFile {
    /// Opens (creating its directory) and locks the state at `path`. Fails at once with
    /// [`DeployError::Locked`] when another deploy holds it.
    pub fn lock(path: &Path) -> Result<StateFile, DeployError> {
        let dir = parent_of(path);
        std::fs::create_dir_all(&dir).map_err(|e| DeployError::io("creating", &dir, e))?;
        let lock_path = path.with_extension("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| DeployError::io("opening", &lock_path, e))?;
        // SAFETY: flock on a descriptor owned by `lock`, which lives as long as the StateFile.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(DeployError::Locked {
                    state: path.to_path_buf(),
                    lock: lock_path,
                });
            }
            return Err(DeployError::io("locking", &lock_path, err));
        }
        Ok(StateFile {
            path: path.to_path_buf(),
            lock_path,
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recorded state, or a fresh one when there is no file yet.
    pub fn load(&self) -> Result<State, DeployError> {
        read(&self.path)
    }

    /// Replaces the file atomically with `state`.
    pub fn save(&self, state: &State) -> Result<(), DeployError> {
        write_atomic(&self.path, state)
    }

    /// Removes the state (after a reset): the next deploy starts from the first step.
    pub fn clear(&self) -> Result<(), DeployError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => sync_dir(&parent_of(&self.path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DeployError::io("removing", &self.path, e)),
        }
    }

    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }
}

fn parent_of(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Reads a state file without locking it (`kplay deploy --list` while a deploy runs).
pub fn read(path: &Path) -> Result<State, DeployError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(fresh()),
        Err(e) => return Err(DeployError::io("reading", path, e)),
    };
    let state: State = serde_json::from_str(&text).map_err(|e| DeployError::StateCorrupt {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })?;
    if state.version == 0 || state.version > VERSION {
        return Err(DeployError::StateCorrupt {
            path: path.to_path_buf(),
            msg: format!(
                "format version {} (this kplay reads up to {VERSION})",
                state.version
            ),
        });
    }
    Ok(state)
}

/// An empty state with a new salt.
pub fn fresh() -> State {
    State {
        version: VERSION,
        salt: random_hex(16),
        steps: IndexMap::new(),
        running: None,
    }
}

fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok();
    if !ok {
        // No /dev/urandom: the time and pid still make the salt unique to this file.
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        use sha2::Digest;
        buf = sha2::Sha256::digest(seed.as_bytes())[..bytes.min(32)].to_vec();
    }
    hex::encode(buf)
}

fn write_atomic(path: &Path, state: &State) -> Result<(), DeployError> {
    let dir = parent_of(path);
    let mut text = serde_json::to_string_pretty(state).map_err(|e| DeployError::StateCorrupt {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })?;
    text.push('\n');
    // tempfile creates the file 0600 in the same directory, so the rename is atomic.
    let mut tmp = tempfile::Builder::new()
        .prefix(".deploy-state-")
        .tempfile_in(&dir)
        .map_err(|e| DeployError::io("creating a temp file in", &dir, e))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| DeployError::io("writing", tmp.path().to_path_buf(), e))?;
    tmp.persist(path)
        .map_err(|e| DeployError::io("renaming into", path, e.error))?;
    sync_dir(&dir)
}

fn sync_dir(dir: &Path) -> Result<(), DeployError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| DeployError::io("syncing", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn record(hash: &str) -> StepRecord {
        StepRecord {
            hash: hash.into(),
            finished: now_rfc3339(),
            seconds: 1.5,
            inputs: InputsSummary::default(),
        }
    }

    #[test]
    fn a_missing_file_is_a_fresh_state_with_a_salt() {
        let dir = tempfile::tempdir().unwrap();
        let sf = StateFile::lock(&dir.path().join(".kplay/deploy-state.json")).unwrap();
        let s = sf.load().unwrap();
        assert!(s.steps.is_empty() && s.running.is_none());
        assert_eq!(s.salt.len(), 32);
        assert_ne!(s.salt, fresh().salt);
    }

    #[test]
    fn saved_state_reads_back_owner_only_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy-state.json");
        let sf = StateFile::lock(&path).unwrap();
        let mut s = fresh();
        s.steps.insert("00-preflight".into(), record("abc"));
        s.running = Some(Running {
            step: "01-cluster-bootstrap-os".into(),
            started: now_rfc3339(),
            pid: 42,
        });
        sf.save(&s).unwrap();
        assert_eq!(sf.load().unwrap(), s);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with(".deploy-state-")),
            "{names:?}"
        );
    }

    #[test]
    fn a_second_lock_on_the_same_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy-state.json");
        let _first = StateFile::lock(&path).unwrap();
        let second = StateFile::lock(&path);
        assert!(matches!(second, Err(DeployError::Locked { .. })));
    }

    #[test]
    fn a_garbled_or_newer_file_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy-state.json");
        std::fs::write(&path, "{not json").unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(
            e.contains("deploy-state.json") && e.contains("move it away"),
            "{e}"
        );
        std::fs::write(&path, r#"{"version": 99}"#).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("format version 99"), "{e}");
    }

    #[test]
    fn clear_removes_the_file_and_tolerates_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deploy-state.json");
        let sf = StateFile::lock(&path).unwrap();
        sf.save(&fresh()).unwrap();
        sf.clear().unwrap();
        assert!(!path.exists());
        sf.clear().unwrap();
    }

    #[test]
    fn changes_name_the_variables_and_parts_that_differ() {
        let mut a = InputsSummary {
            content: "c1".into(),
            inventory: "i1".into(),
            ..Default::default()
        };
        a.vars.insert("etcd_version".into(), "v1".into());
        a.vars.insert("same".into(), "s".into());
        let mut b = a.clone();
        assert!(b.changes_since(&a).is_empty());
        b.vars.insert("etcd_version".into(), "v2".into());
        b.vars.insert("new_var".into(), "n".into());
        b.content = "c2".into();
        assert_eq!(
            b.changes_since(&a),
            [
                "playbook or role files",
                "variable etcd_version",
                "variable new_var"
            ]
        );
    }
}
