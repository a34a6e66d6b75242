//! The lab's record on disk (`/var/lib/kplay/lab/NAME/state.json`): written before anything is created so
//! that `down`, or the next `up`, can find and remove everything even after a killed run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{names, Init, LabError};

/// Root of all labs' state.
pub const ROOT: &str = "/var/lib/kplay/lab";

/// What a lab consists of.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LabState {
    pub name: String,
    /// Picks the subnet and the controller-side interface names (see `names`).
    pub id: u32,
    pub init: InitKind,
    pub hosts: usize,
}

/// Serializable twin of [`Init`].
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum InitKind {
    Systemd,
    None,
}

impl From<&Init> for InitKind {
    fn from(i: &Init) -> Self {
        match i {
            Init::Systemd => InitKind::Systemd,
            Init::None => InitKind::None,
        }
    }
}

/// Directory of lab `name`.
pub fn lab_dir(name: &str) -> PathBuf {
    Path::new(ROOT).join(name)
}

fn state_file(name: &str) -> PathBuf {
    lab_dir(name).join("state.json")
}

/// The recorded state of lab `name`, `None` when there is none.
pub fn load(name: &str) -> Result<Option<LabState>, LabError> {
    let path = state_file(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LabError::io("reading", path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| LabError::BadState {
            name: name.to_string(),
            path,
            reason: e.to_string(),
        })
}

/// Writes the state (creating the lab directory).
pub fn save(state: &LabState) -> Result<(), LabError> {
    let dir = lab_dir(&state.name);
    std::fs::create_dir_all(&dir).map_err(|e| LabError::io("creating", &dir, e))?;
    let path = state_file(&state.name);
    let text = serde_json::to_string_pretty(state).map_err(|e| LabError::BadState {
        name: state.name.clone(),
        path: path.clone(),
        reason: e.to_string(),
    })?;
    std::fs::write(&path, text).map_err(|e| LabError::io("writing", path, e))
}

/// Ids recorded by every other lab on this machine, so a new lab never shares a subnet with them.
pub fn ids_in_use(except: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(ROOT) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != except && names::validate(n).is_ok())
        .filter_map(|n| load(&n).ok().flatten())
        .map(|s| s.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_json() {
        let s = LabState {
            name: "lab".into(),
            id: 7,
            init: InitKind::None,
            hosts: 3,
        };
        let text = serde_json::to_string(&s).unwrap_or_default();
        assert!(text.contains("\"none\""));
        let back: Option<LabState> = serde_json::from_str(&text).ok();
        assert_eq!(back, Some(s));
    }
}
