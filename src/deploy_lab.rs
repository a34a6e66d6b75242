//! `kplay deploy --lab [NAME]` (and `kplay reset --lab [NAME]`): the embedded default, no inventory.
//! Brings up the lab NAME on this machine (or reuses it when it is up with the right hosts): host 1
//! is the bootstrap node, hosts 2-4 the control plane and etcd members behind a keepalived VIP on
//! the lab subnet's `.250`, host 5 a Kubernetes worker (a lab brought up with more hosts is
//! reused: the hosts after the fifth stay out of the deploy, spare for `10-scale-nodes.yml`). Builds the bundle once per set of inputs into
//! `/var/cache/kplay/lab-bundle/<hash>` (reused after that), writes an ordinary inventory for the
//! lab (`<lab dir>/deploy/hosts.ini` with `group_vars/kplay_lab.yml` beside it, so `-i` with it is
//! the same deploy, and its state goes away with the lab), deploys, and prints how to reach it.

use kplay_lab::LabInfo;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bootstrap node + 3 control-plane/etcd hosts + 1 worker.
pub const LAB_HOSTS: usize = 5;
/// Hosts 2-4 (after the bootstrap node) are the control plane and etcd.
const CONTROL_PLANE: usize = 3;
/// The VIP's last octet in the lab's /24 (hosts take .2 upwards, .254 is the lab's unused address).
pub const VIP_HOST: u8 = 250;
pub const VIP_PORT: u16 = 8443;
/// The inventory group holding every lab host; `group_vars/<it>.yml` holds the lab's settings.
pub const LAB_GROUP: &str = "kplay_lab";
/// Where `--lab` keeps the bundles it builds, one per hash of their inputs.
pub const BUNDLE_CACHE: &str = "/var/cache/kplay/lab-bundle";
/// The cache of `kplay bundle build` (apt state, .debs, files).
const BUILD_CACHE: &str = "/var/cache/kplay";

/// A lab ready to deploy into.
pub struct LabTarget {
    pub info: LabInfo,
    /// `<lab dir>/deploy/hosts.ini`.
    pub inventory: PathBuf,
    pub vip: String,
}

/// The deploy's inventory for the lab: host 1 the bootstrap node, hosts 2-4 control plane and
/// etcd, the rest workers; connection settings as `kplay lab up` wrote them.
pub fn inventory_text(info: &LabInfo) -> String {
    let mut s = format!(
        "# kplay deploy --lab {}: this lab's hosts in the deploy's groups (kplay writes this file\n\
         # and group_vars/kplay_lab.yml; `kplay lab down --name {}` removes them with the lab).\n[all]\n",
        info.name, info.name
    );
    for (name, ip) in &info.hosts {
        s.push_str(&format!("{name} ansible_host={ip}\n"));
    }
    s.push_str("\n[bootstrap]\n");
    if let Some((first, _)) = info.hosts.first() {
        s.push_str(&format!("{first}\n"));
    }
    s.push_str("\n[kube_control_plane]\n");
    for (name, _) in info.hosts.iter().skip(1).take(CONTROL_PLANE) {
        s.push_str(&format!("{name}\n"));
    }
    s.push_str("\n[kube_node]\n");
    for (name, _) in info.hosts.iter().skip(1 + CONTROL_PLANE) {
        s.push_str(&format!("{name}\n"));
    }
    s.push_str(
        "\n[etcd:children]\nkube_control_plane\n\n\
         [k8s_cluster:children]\nkube_control_plane\nkube_node\n\n",
    );
    // Every host in one group whose group_vars carry the lab's settings: an inventory's
    // group_vars/all loses to the content's group_vars/all (Ansible's precedence), another
    // group's wins over it.
    s.push_str(&format!(
        "[{LAB_GROUP}:children]\nbootstrap\nk8s_cluster\netcd\n\n[all:vars]\nansible_user=root\n"
    ));
    s.push_str(&format!(
        "ansible_ssh_private_key_file={}\nansible_ssh_common_args='-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes'\n",
        info.key.display(),
        info.known_hosts.display()
    ));
    s
}

/// The lab's VIP: a free address of its subnet.
pub fn vip_of(info: &LabInfo) -> String {
    format!("{}.{VIP_HOST}", info.subnet)
}

/// `group_vars/kplay_lab.yml` beside the lab inventory: the HA endpoint.
pub fn group_vars_text(vip: &str) -> String {
    format!(
        "# kplay deploy --lab: the apiserver endpoint is a keepalived VIP on a free lab address.\n\
         apiserver_ha_mode: keepalived\nloadbalancer_apiserver: {{address: {vip}, port: {VIP_PORT}}}\n"
    )
}

/// Writes a file only when its content differs (a rerun leaves it untouched).
fn write_if_changed(path: &Path, text: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Writes the lab's deploy inventory and its group_vars.
fn write_inventory(info: &LabInfo) -> Result<LabTarget, String> {
    let dir = info.dir.join("deploy");
    let inventory = dir.join("hosts.ini");
    let vip = vip_of(info);
    write_if_changed(&inventory, &inventory_text(info))?;
    write_if_changed(
        &dir.join(format!("group_vars/{LAB_GROUP}.yml")),
        &group_vars_text(&vip),
    )?;
    Ok(LabTarget {
        info: info.clone(),
        inventory,
        vip,
    })
}

/// The lab when it is up as `--lab` needs it: its first [`LAB_HOSTS`] hosts (more may be up).
pub fn existing(name: &str) -> Result<Option<LabTarget>, String> {
    let hosts = match kplay_lab::recorded(name).map_err(|e| e.to_string())? {
        Some((n, true)) if n >= LAB_HOSTS => n,
        _ => return Ok(None),
    };
    match kplay_lab::reusable(name, hosts).map_err(|e| e.to_string())? {
        Some(mut info) => {
            info.hosts.truncate(LAB_HOSTS);
            write_inventory(&info).map(Some)
        }
        None => Ok(None),
    }
}

/// The lab, reused when it is up with its 5 hosts (or more), else brought up afresh (which also starts its
/// deploy state over: it lives in the lab's directory).
pub fn up(name: &str) -> Result<LabTarget, String> {
    if let Some(t) = existing(name)? {
        eprintln!(
            "lab {name:?}: reusing its {LAB_HOSTS} hosts on {}.0/24",
            t.info.subnet
        );
        return Ok(t);
    }
    // A lab of this name made for something else is not replaced behind its owner's back.
    let mut hosts = LAB_HOSTS;
    match kplay_lab::recorded(name).map_err(|e| e.to_string())? {
        Some((n, true)) if n >= LAB_HOSTS => {
            eprintln!("lab {name:?}: a host does not answer; bringing the lab up again");
            hosts = n;
        }
        Some((n, systemd)) => {
            return Err(format!(
                "lab {name:?} exists with {n} {} hosts, not the {LAB_HOSTS} (or more) systemd hosts a \
                 deploy needs: take it down (kplay lab down --name {name}) or pick another name (--lab NAME)",
                if systemd { "systemd" } else { "--init none" }
            ))
        }
        None => {}
    }
    let opts = kplay_lab::UpOptions {
        hosts,
        name: name.to_string(),
        ..Default::default()
    };
    let mut progress = |line: &str| eprintln!("{line}");
    kplay_lab::up(&opts, &mut progress).map_err(|e| format!("lab {name:?}: {e}"))?;
    match existing(name)? {
        Some(t) => Ok(t),
        None => Err(format!(
            "lab {name:?} came up but its hosts do not answer SSH; see `kplay lab status --name {name}`"
        )),
    }
}

/// The hash of what a lab bundle is made from: this kplay's version and every group_vars file of
/// the content the bundle reads (the package, file and image lists all derive from group_vars).
pub fn bundle_key(playbook_dir: &Path) -> Result<String, String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(format!("kplay {}\n", env!("CARGO_PKG_VERSION")));
    let root = playbook_dir.join("group_vars");
    let mut files = Vec::new();
    collect_files(&root, &root, &mut files)?;
    files.sort();
    for (rel, path) in files {
        let data = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        h.update(format!("{rel}\0{}\0", data.len()));
        h.update(&data);
    }
    Ok(hex::encode(h.finalize())[..16].to_string())
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("reading {}: {e}", dir.display())),
    };
    for entry in entries {
        let path = entry
            .map_err(|e| format!("reading {}: {e}", dir.display()))?
            .path();
        // Follows symlinks (playbooks/group_vars is one in a checkout).
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else if path.is_file() {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            out.push((rel, path));
        }
    }
    Ok(())
}

/// Where the lab bundle for `key` lives.
pub fn bundle_dir(key: &str) -> PathBuf {
    Path::new(BUNDLE_CACHE).join(key)
}

/// Whether a directory holds a finished bundle (its manifest is written last).
pub fn bundle_done(dir: &Path) -> bool {
    dir.join(kplay_deploy::checks::BUNDLE_MANIFEST).is_file()
}

/// Holds an exclusive flock for as long as it lives (two `--lab` deploys never build one bundle
/// at once).
struct Lock(#[allow(dead_code)] std::fs::File);

fn lock(path: &Path) -> Result<Lock, String> {
    use std::os::fd::AsRawFd;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    // SAFETY: flock on a descriptor owned by `f`, which the returned Lock keeps open.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(format!(
            "locking {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(Lock(f))
}

/// The lab bundle for the content's current inputs: reused when built before, else built (with
/// `kplay bundle build`'s own cache of packages and files).
pub fn bundle(content: Option<&Path>) -> Result<PathBuf, String> {
    let playbook_dir = crate::bundle_cmd::playbook_dir(content)?;
    let key = bundle_key(&playbook_dir)?;
    let dir = bundle_dir(&key);
    let _lock = lock(&Path::new(BUNDLE_CACHE).join(format!("{key}.lock")))?;
    if bundle_done(&dir) {
        eprintln!("bundle: reusing {} (same inputs)", dir.display());
        return Ok(dir);
    }
    let vars = kplay_bundle::vars::VarsSource {
        playbook_dir,
        inventory: Vec::new(),
        extra_vars: Vec::new(),
    };
    let opts = kplay_bundle::build::BuildOptions {
        output: dir.clone(),
        vars,
        cache: PathBuf::from(BUILD_CACHE),
        signing_key: PathBuf::from(kplay_bundle::sign::DEFAULT_KEY_PATH),
        refresh: false,
        // Kubernetes images listed in group_vars are built from Debian's source (the default).
        kubernetes_from: None,
    };
    eprintln!("bundle: building {} (once for these inputs)", dir.display());
    let t = std::time::Instant::now();
    let progress = |line: &str| eprintln!("{line}");
    kplay_bundle::build::build(&opts, &progress).map_err(|e| format!("bundle build: {e}"))?;
    eprintln!(
        "bundle: built in {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(dir)
}

/// The lab bundle for the content's current inputs when it is built already.
pub fn cached_bundle(content: Option<&Path>) -> Option<PathBuf> {
    let key = bundle_key(&crate::bundle_cmd::playbook_dir(content).ok()?).ok()?;
    Some(bundle_dir(&key)).filter(|d| bundle_done(d))
}

/// What `--lab --list` says without bringing anything up.
pub fn describe(name: &str, content: Option<&Path>) -> Result<String, String> {
    let mut s = String::new();
    match existing(name)? {
        Some(t) => s.push_str(&format!(
            "lab {name:?}: up, {LAB_HOSTS} hosts on {}.0/24 (reused); inventory {}\n",
            t.info.subnet,
            t.inventory.display()
        )),
        None => s.push_str(&format!(
            "lab {name:?}: not up; kplay deploy --lab {name} brings up {LAB_HOSTS} hosts (1 bootstrap, 3 control plane/etcd, 1 worker)\n"
        )),
    }
    let key = bundle_key(&crate::bundle_cmd::playbook_dir(content)?)?;
    let dir = bundle_dir(&key);
    s.push_str(&format!(
        "bundle: {} ({})\n",
        dir.display(),
        if bundle_done(&dir) {
            "built, reused"
        } else {
            "to build"
        }
    ));
    Ok(s)
}

/// How to reach the deployed lab.
pub fn reach(t: &LabTarget) -> String {
    let ssh = |ip: &str| {
        format!(
            "ssh -i {} -o UserKnownHostsFile={} root@{ip}",
            t.info.key.display(),
            t.info.known_hosts.display()
        )
    };
    let name = &t.info.name;
    let (boot, boot_ip) = t.info.hosts.first().cloned().unwrap_or_default();
    let (_, cp_ip) = t.info.hosts.get(1).cloned().unwrap_or_default();
    let inv = t.inventory.display();
    let list = |hosts: &mut dyn Iterator<Item = &(String, String)>| {
        hosts
            .map(|(n, ip)| format!("{n} ({ip})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "\nlab {name:?} deployed: bootstrap node {boot} ({boot_ip}), control plane and etcd {}, worker {}\n\
         \x20 inventory  {inv}\n\
         \x20 ssh        {}\n\
         \x20 VIP        {}:{VIP_PORT} (keepalived + haproxy on the control plane)\n\
         \x20 kubectl    {} kubectl get nodes\n\
         \x20 etcd       {} etcdctl.sh endpoint health --cluster\n\
         \x20 run        kplay run -i {inv} playbooks/03-cluster-kubernetes.yml --check --diff\n\
         \x20 again      kplay deploy --lab {name}   (skips finished steps)\n\
         \x20 remove     kplay reset --lab {name} --yes; kplay lab down --name {name}\n",
        list(&mut t.info.hosts.iter().skip(1).take(CONTROL_PLANE)),
        list(&mut t.info.hosts.iter().skip(1 + CONTROL_PLANE)),
        ssh(&cp_ip),
        t.vip,
        ssh(&cp_ip),
        ssh(&cp_ip),
    )
}

/// Prints `text` on stdout, flushed (it follows the deploy's own output).
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> LabInfo {
        LabInfo {
            name: "kplay".into(),
            hosts: (1..=5)
                .map(|i| (format!("kplay-{i}"), format!("10.1.2.{}", i + 1)))
                .collect(),
            inventory: "/l/inventory.ini".into(),
            key: "/l/id_ed25519".into(),
            known_hosts: "/l/known_hosts".into(),
            dir: "/l".into(),
            subnet: "10.1.2".into(),
        }
    }

    #[test]
    fn the_lab_inventory_has_one_bootstrap_node_three_etcd_members_and_a_worker() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts.ini");
        std::fs::write(&p, inventory_text(&info())).unwrap();
        let inv = kplay_engine::inventory::Inventory::load(&[p.display().to_string()]).unwrap();
        let groups = inv.groups_map();
        assert_eq!(groups["bootstrap"], ["kplay-1"]);
        for g in ["kube_control_plane", "etcd"] {
            assert_eq!(groups[g], ["kplay-2", "kplay-3", "kplay-4"], "{g}");
        }
        assert_eq!(groups["kube_node"], ["kplay-5"]);
        assert_eq!(groups["k8s_cluster"].len(), 4);
        assert_eq!(groups[LAB_GROUP].len(), 5);
        kplay_deploy::checks::etcd_members(&inv).unwrap();
        assert_eq!(
            kplay_deploy::checks::bootstrap_node(&inv).unwrap(),
            "kplay-1"
        );
        assert_eq!(vip_of(&info()), "10.1.2.250");
        assert!(group_vars_text("10.1.2.250")
            .contains("loadbalancer_apiserver: {address: 10.1.2.250, port: 8443}"));
    }

    #[test]
    fn the_bundle_key_follows_group_vars() {
        let dir = tempfile::tempdir().unwrap();
        let gv = dir.path().join("group_vars/all");
        std::fs::create_dir_all(&gv).unwrap();
        std::fs::write(gv.join("offline.yml"), "a: 1\n").unwrap();
        let k1 = bundle_key(dir.path()).unwrap();
        assert_eq!(k1, bundle_key(dir.path()).unwrap());
        std::fs::write(gv.join("offline.yml"), "a: 2\n").unwrap();
        assert_ne!(k1, bundle_key(dir.path()).unwrap());
    }

    #[test]
    fn reach_names_the_inventory_ssh_vip_and_etcdctl() {
        let t = LabTarget {
            info: info(),
            inventory: "/l/deploy/hosts.ini".into(),
            vip: "10.1.2.250".into(),
        };
        let r = reach(&t);
        for want in [
            "inventory  /l/deploy/hosts.ini",
            "ssh -i /l/id_ed25519 -o UserKnownHostsFile=/l/known_hosts root@10.1.2.3",
            "10.1.2.250:8443",
            "etcdctl.sh endpoint health --cluster",
            "root@10.1.2.3 kubectl get nodes",
            "worker kplay-5 (10.1.2.6)",
            "kplay reset --lab kplay --yes",
        ] {
            assert!(r.contains(want), "{want}\n{r}");
        }
    }
}
