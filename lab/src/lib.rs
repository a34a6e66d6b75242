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
mod info;
mod inventory;
mod keys;
mod launch;
mod mirror;
mod names;
mod net;
mod ready;
mod rootfs;
mod shield;
mod state;
mod status;
mod teardown;
mod volume;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use error::LabError;
pub use info::{lab_dir, recorded, reusable, LabInfo};
pub use shield::SHADOWED as SHADOWED_SYSCTLS;
pub use status::status;
pub use volume::{parse_size as parse_data_size, DEFAULT_SIZE as DEFAULT_DATA_SIZE};

/// What runs as PID 1 on each host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Init {
    /// Full systemd: services, `systemctl`, journald (the default). These hosts can also run
    /// kubelet and a container runtime: every cgroup controller mounted, `/dev/kmsg`, `/` shared, and
    /// `/var` on a data volume of its own (see [`UpOptions::data_size`]).
    #[default]
    Systemd,
    /// sshd alone: light hosts for scale runs of 100 and more, without the Kubernetes features
    /// (no data volume, no extra mounts), so a hundred of them still come up in seconds.
    None,
}

/// Options of `kplay lab up`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpOptions {
    pub hosts: usize,
    /// Lab name (default "lab"); labs with different names coexist on different subnets.
    pub name: String,
    pub init: Init,
    /// Size in bytes of each systemd host's `/var` volume (a sparse ext4 image: only what the host
    /// writes uses disk); 0 keeps `/var` on the overlay root, where container runtimes cannot work.
    pub data_size: u64,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            hosts: 3,
            name: "lab".to_string(),
            init: Init::Systemd,
            data_size: volume::DEFAULT_SIZE,
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
    let kube_ready = opts.init == Init::Systemd;
    let with_volume = kube_ready && opts.data_size > 0;
    if with_volume {
        if opts.data_size < volume::MIN_SIZE {
            return Err(LabError::InvalidDataSize(opts.data_size));
        }
        cmd::require(&[("mkfs.ext4", "e2fsprogs"), ("losetup", "mount")])?;
    }
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
    let all_hierarchies = cgroup::hierarchies();
    let v1_systemd = all_hierarchies.iter().any(|h| h.named_systemd);
    let v1_controllers: Vec<cgroup::Hierarchy> = all_hierarchies
        .into_iter()
        .filter(cgroup::Hierarchy::is_v1_controller)
        .collect();
    if with_volume {
        let t = Instant::now();
        let images: Vec<PathBuf> = (1..=opts.hosts)
            .map(|i| {
                let dirs = rootfs::HostDirs::new(&lab_dir, &names::host_name(name, i));
                std::fs::create_dir_all(&dirs.dir)
                    .map_err(|e| LabError::io("creating", &dirs.dir, e))?;
                Ok(volume::image(&dirs.dir))
            })
            .collect::<Result<_, LabError>>()?;
        volume::create_all(&images, opts.data_size, &base)?;
        progress(&format!(
            "{} data volumes of {} MiB (sparse ext4 on /var) made in {:.1} s",
            images.len(),
            opts.data_size >> 20,
            t.elapsed().as_secs_f64()
        ));
    }
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
        let shadows = shield::prepare(&dirs.dir)?;
        let image = volume::image(&dirs.dir);
        let netns = names::netns(name, i);
        let spec = launch::HostSpec {
            host: &host,
            netns: &netns,
            base: &base,
            dirs: &dirs,
            cgroup_procs: &procs,
            pid1,
            v1_systemd,
            kube_ready,
            v1_controllers: &v1_controllers,
            data_image: with_volume.then_some(image.as_path()),
            shadows: &shadows,
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
