//! What a running lab is, for tools that build on it (`kplay deploy --lab`): its hosts and
//! addresses, the SSH key and known_hosts that reach them, and whether it is up as asked, so a
//! caller can reuse a lab instead of bringing a new one up.

use std::path::PathBuf;
use std::time::Duration;

use crate::{names, ready, state, LabError};

/// A lab that is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabInfo {
    pub name: String,
    /// `(hostname, address)` in order: `NAME-1`, `NAME-2`, …
    pub hosts: Vec<(String, String)>,
    /// The INI inventory `up` wrote.
    pub inventory: PathBuf,
    /// Root's login key and the hosts' known_hosts file.
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    /// The lab's directory (removed by `down` and by the next `up` of the same name).
    pub dir: PathBuf,
    /// The first three octets of the lab's /24 (`10.137.42`).
    pub subnet: String,
}

/// The lab `name` when it is up with exactly `hosts` systemd hosts, every one answering SSH;
/// None when it is not (absent, another size, `--init none`, or a host down).
pub fn reusable(name: &str, hosts: usize) -> Result<Option<LabInfo>, LabError> {
    names::validate(name)?;
    let Some(s) = state::load(name)? else {
        return Ok(None);
    };
    let dir = state::lab_dir(name);
    let info = LabInfo {
        name: name.to_string(),
        hosts: (1..=s.hosts)
            .map(|i| (names::host_name(name, i), names::host_ip(s.id, i)))
            .collect(),
        inventory: dir.join("inventory.ini"),
        key: dir.join("id_ed25519"),
        known_hosts: dir.join("known_hosts"),
        subnet: names::subnet_prefix(s.id),
        dir,
    };
    let fit = s.hosts == hosts
        && s.init == state::InitKind::Systemd
        && info.inventory.is_file()
        && info
            .hosts
            .iter()
            .all(|(_, ip)| ready::sshd_answers(ip, Duration::from_secs(2)));
    Ok(fit.then_some(info))
}

/// What the lab `name` was brought up as: its host count and whether its hosts run systemd;
/// None when there is no such lab.
pub fn recorded(name: &str) -> Result<Option<(usize, bool)>, LabError> {
    names::validate(name)?;
    Ok(state::load(name)?.map(|s| (s.hosts, s.init == state::InitKind::Systemd)))
}

/// The lab's directory (where `up` keeps its files; gone after `down`).
pub fn lab_dir(name: &str) -> PathBuf {
    state::lab_dir(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lab_that_was_never_up_is_not_reusable() {
        assert_eq!(reusable("kplay-never-up-here", 4).ok(), Some(None));
        assert_eq!(recorded("kplay-never-up-here").ok(), Some(None));
        assert!(reusable("Bad_Name", 4).is_err());
    }
}
