//! kplay lab: air-gapped Debian 12 test hosts on this machine.
//!
//! Each host is a set of namespaces (network, PID, mount, UTS, IPC, cgroup) over its own overlay root on a
//! shared, cached debootstrap base, with systemd (or only sshd) as PID 1, reachable from the controller over
//! a private bridge and from nowhere else. `up` returns an INI inventory that kplay, ansible-core and plain
//! OpenSSH can all use; `down` removes every namespace, interface, process and cgroup of the lab.

mod base;
mod cgroup;
mod cmd;
mod error;
mod inventory;
mod keys;
mod launch;
mod mirror;
mod names;
mod net;
mod ready;
mod rootfs;
mod state;
mod status;
mod teardown;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use error::LabError;
pub use status::status;

/// What runs as PID 1 on each host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Init {
    /// Full systemd: services, `systemctl`, journald (the default).
    #[default]
    Systemd,
    /// sshd alone: light hosts for scale runs of 100 and more.
    None,
}

/// Options of `kplay lab up`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpOptions {
    pub hosts: usize,
    /// Lab name (default "lab"); labs with different names coexist on different subnets.
    pub name: String,
    pub init: Init,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            hosts: 3,
            name: "lab".to_string(),
            init: Init::Systemd,
        }
    }
}

/// Tools the lab shells out to, with the Debian package that provides each.
const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("nft", "nftables"),
    ("unshare", "util-linux"),
    ("pivot_root", "util-linux"),
    ("mount", "mount"),
    ("ssh-keygen", "openssh-client"),
];

fn require_root() -> Result<(), LabError> {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LabError::NotRoot);
    }
    Ok(())
}

/// Brings the lab up (first cleaning whatever an earlier or killed run of the same name left), reports
/// progress through `progress`, and returns the absolute path of the INI inventory. The hosts keep
/// running after this returns, detached from the calling process.
pub fn up(opts: &UpOptions, progress: &mut dyn FnMut(&str)) -> Result<PathBuf, LabError> {
    require_root()?;
    names::validate(&opts.name)?;
    if opts.hosts == 0 || opts.hosts > names::MAX_HOSTS {
        return Err(LabError::InvalidHostCount(opts.hosts));
    }
    cmd::require(TOOLS)?;
    let started = Instant::now();
    let base = base::ensure(progress)?;
    teardown::run(&opts.name, progress)?;

    let name = opts.name.as_str();
    let id = choose_id(name)?;
    let init = state::InitKind::from(&opts.init);
    // Recorded before anything exists, so a killed `up` can always be cleaned.
    state::save(&state::LabState {
        name: name.to_string(),
        id,
        init,
        hosts: opts.hosts,
    })?;
    let lab_dir = state::lab_dir(name);
    let subnet = names::subnet_prefix(id);
    progress(&format!(
        "creating lab {name:?}: {} hosts on {subnet}.0/24",
        opts.hosts
    ));
    net::create_bridge(id)?;
    net::create_firewall(id)?;
    net::create_hosts(name, id, opts.hosts)?;

    let key = lab_dir.join("id_ed25519");
    keys::generate(&key, &format!("kplay-lab-{name}"))?;
    let login_key = keys::read_public(&keys::pub_path(&key))?;
    let v1_systemd = cgroup::hierarchies().iter().any(|h| h.named_systemd);
    let pid1 = match opts.init {
        Init::Systemd => launch::Pid1::Systemd,
        Init::None => launch::Pid1::Sshd,
    };
    let mut known_hosts = String::new();
    let mut hosts = Vec::new();
    for i in 1..=opts.hosts {
        let host = names::host_name(name, i);
        let ip = names::host_ip(id, i);
        let dirs = rootfs::HostDirs::new(&lab_dir, &host);
        let host_key = rootfs::prepare(&dirs, &host, &ip, &login_key)?;
        known_hosts.push_str(&keys::known_hosts_line(&ip, &host, &host_key));
        let procs = cgroup::create(name, &host)?;
        let netns = names::netns(name, i);
        let spec = launch::HostSpec {
            host: &host,
            netns: &netns,
            base: &base,
            dirs: &dirs,
            cgroup_procs: &procs,
            pid1,
            v1_systemd,
        };
        launch::start(&spec)?;
        hosts.push((host, ip));
    }
    let known = lab_dir.join("known_hosts");
    std::fs::write(&known, known_hosts).map_err(|e| LabError::io("writing", &known, e))?;

    progress(&format!("waiting for sshd on {} hosts", hosts.len()));
    let ips: Vec<String> = hosts.iter().map(|(_, ip)| ip.clone()).collect();
    // systemd needs a few seconds per host on two cores; scale the bound with the lab's size.
    let limit = Duration::from_secs(60 + opts.hosts as u64 / 2);
    let pending = ready::wait_all(&ips, limit);
    if !pending.is_empty() {
        return Err(LabError::NotReady {
            hosts: pending.join(", "),
            secs: limit.as_secs(),
            dir: lab_dir.join("hosts"),
        });
    }
    let inv_path = lab_dir.join("inventory.ini");
    let inv = inventory::render(name, &hosts, &key, &known, &names::unused_ip(id));
    std::fs::write(&inv_path, inv).map_err(|e| LabError::io("writing", &inv_path, e))?;
    progress(&format!(
        "lab {name:?} is up: {} hosts on {subnet}.0/24 in {:.1} s",
        hosts.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(inv_path)
}

/// The lab's id: the name's preferred one, or the next one not used by another lab or a route here.
fn choose_id(name: &str) -> Result<u32, LabError> {
    let used = state::ids_in_use(name);
    let first = names::preferred_id(name);
    for step in 0..names::ID_SPACE {
        let id = (first + step) % names::ID_SPACE;
        if !used.contains(&id) && !net::subnet_taken(id)? {
            return Ok(id);
        }
    }
    Err(LabError::NoSubnet)
}

/// Takes the lab down: kills its processes, removes its cgroups, namespaces, interfaces, firewall table
/// and files. Succeeds (doing nothing) when the lab is not up.
pub fn down(name: &str, progress: &mut dyn FnMut(&str)) -> Result<(), LabError> {
    require_root()?;
    names::validate(name)?;
    teardown::run(name, progress)
}
