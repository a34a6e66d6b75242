//! The control-plane images kubeadm runs, made without any registry on the internet: each a
//! root filesystem from Debian packages where a program needs one (kube-proxy's iptables and
//! conntrack, etcd's libc) plus the binaries built from the source package, written with the OCI
//! image writer under the names kubeadm expects for an `imageRepository`:
//!
//! | image | content |
//! |---|---|
//! | `kube-apiserver`, `kube-controller-manager`, `kube-scheduler` `:v1.20.2` | the static binary in /usr/local/bin, /tmp |
//! | `kube-proxy:v1.20.2` | the binary + iptables (nft backend, as Debian 12 hosts use), conntrack and their libraries |
//! | `etcd:<Debian etcd version>-0` | Debian's etcd-server binary + libc (set `etcd.local.imageTag` to [`ControlPlaneImages::etcd_tag`]) |
//! | `pause:3.2` | kplay's static pause program |
//!
//! CoreDNS is not in Debian 12, so there is no `coredns` image: kubeadm's CoreDNS add-on needs an
//! image from elsewhere, or is skipped (`--skip-phases=addon/coredns`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::oci::{Image, Layer, OciDir, WrittenImage};

use super::{apt, recipe, remove_dir, run, Build, KubernetesError, Options};

/// What was written, and the tags a kubeadm configuration must name.
#[derive(Debug, Clone)]
pub struct ControlPlaneImages {
    pub images: Vec<WrittenImage>,
    /// `v1.20.2`: `kubernetesVersion`, and the tag of the four Kubernetes images.
    pub kubernetes_version: String,
    /// `3.4.23-0`: `etcd.local.imageTag` (kubeadm's default names etcd 3.4.13-0).
    pub etcd_tag: String,
    /// `3.2`: the pause tag kubeadm 1.20 expects, and containerd's `sandbox_image` tag.
    pub pause_tag: String,
}

/// iptables' programs managed by update-alternatives, pointed at the nft backend (the packages'
/// maintainer scripts, which would do that, do not run when a deb is unpacked into an image).
const IPTABLES_ALTERNATIVES: [(&str, &str); 6] = [
    ("iptables", "iptables-nft"),
    ("iptables-save", "iptables-nft-save"),
    ("iptables-restore", "iptables-nft-restore"),
    ("ip6tables", "ip6tables-nft"),
    ("ip6tables-save", "ip6tables-nft-save"),
    ("ip6tables-restore", "ip6tables-nft-restore"),
];

/// The control-plane images of one build, ready to write. Their layers read files from a work
/// directory under the cache, removed when this is dropped.
pub struct PreparedImages {
    work: PathBuf,
    images: Vec<(String, String, Image)>,
    pub kubernetes_version: String,
    pub etcd_tag: String,
}

impl PreparedImages {
    /// `(name, tag)` of every image: `kube-apiserver`, …, `etcd`, `pause`.
    pub fn names(&self) -> Vec<(String, String)> {
        self.images
            .iter()
            .map(|(n, t, _)| (n.clone(), t.clone()))
            .collect()
    }

    /// Writes image `name` into `out` as `reference`.
    pub fn write(
        &self,
        name: &str,
        reference: &str,
        out: &OciDir,
    ) -> Result<WrittenImage, KubernetesError> {
        let (_, _, image) = self
            .images
            .iter()
            .find(|(n, _, _)| n == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.images.iter().map(|(n, _, _)| n.as_str()).collect();
                KubernetesError::Unexpected(format!(
                    "no image {name:?} is made from the Kubernetes build (it makes: {})",
                    known.join(", ")
                ))
            })?;
        Ok(out.write_image(image, reference)?)
    }
}

impl Drop for PreparedImages {
    fn drop(&mut self) {
        let _ = remove_dir(&self.work);
    }
}

/// Prepares the control-plane images of `build`: root filesystems from Debian packages (through the
/// same private apt configuration as the source package) and the layers that hold the binaries.
pub fn prepare_control_plane_images(
    build: &Build,
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<PreparedImages, KubernetesError> {
    let root = &opts.cache_root;
    let sources = super::sources_of(opts);
    let apt = apt::Apt::new(&root.join("apt"), &sources)?;
    let work = root.join("images.partial");
    remove_dir(&work)?;

    let started = std::time::Instant::now();
    let netfilter = unpack_closure(&apt, &["iptables", "conntrack"], &work.join("netfilter"))?;
    for (name, target) in IPTABLES_ALTERNATIVES {
        let link = netfilter.join("usr/sbin").join(name);
        if fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(target, &link)
                .map_err(|e| KubernetesError::io("linking", &link, e))?;
        }
    }
    let libc = unpack_closure(&apt, &["libc6"], &work.join("libc"))?;
    let etcd_debs = work.join("etcd-debs");
    apt.download_deb("etcd-server", &etcd_debs)?;
    let etcd_deb = only_deb(&etcd_debs)?;
    let etcd_root = work.join("etcd");
    unpack(&etcd_deb, &etcd_root)?;
    let etcd_version = etcd_deb
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(recipe::version_of_file)
        .map(|v| recipe::upstream_version(&v))
        .ok_or_else(|| {
            KubernetesError::Unexpected(format!("no version in {}", etcd_deb.display()))
        })?;
    progress(&format!(
        "kubernetes: image root filesystems from Debian packages: {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    let version = build.version.clone();
    let etcd_tag = format!("{etcd_version}-0");
    let bin = |name: &str| {
        build
            .binary(name)
            .map(Path::to_path_buf)
            .ok_or_else(|| KubernetesError::Unexpected(format!("{name} is not in the build")))
    };
    let mut images = Vec::new();
    for name in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        let mut layer = Layer::new().with_comment(format!(
            "{name} {version} built from Debian's kubernetes source"
        ));
        layer.dir("/tmp", 0o1777)?;
        layer.file(&format!("/usr/local/bin/{name}"), &bin(name)?, 0o755)?;
        images.push((
            name.to_string(),
            version.clone(),
            one_program(name, vec![layer]),
        ));
    }
    let mut base = Layer::new().with_comment("iptables (nft), conntrack: Debian 12 packages");
    base.tree("/", &netfilter)?;
    base.dir("/tmp", 0o1777)?;
    let mut proxy = Layer::new().with_comment(format!("kube-proxy {version}"));
    proxy.file("/usr/local/bin/kube-proxy", &bin("kube-proxy")?, 0o755)?;
    images.push((
        "kube-proxy".into(),
        version.clone(),
        one_program("kube-proxy", vec![base, proxy]),
    ));

    let mut base = Layer::new().with_comment("libc6: Debian 12 packages");
    base.tree("/", &libc)?;
    base.dir("/tmp", 0o1777)?;
    base.dir("/var/lib/etcd", 0o700)?;
    let mut etcd =
        Layer::new().with_comment(format!("etcd {etcd_version} from Debian's etcd-server"));
    etcd.file(
        "/usr/local/bin/etcd",
        &etcd_root.join("usr/bin/etcd"),
        0o755,
    )?;
    images.push((
        "etcd".into(),
        etcd_tag.clone(),
        one_program("etcd", vec![base, etcd]),
    ));

    let mut pause = Layer::new().with_comment("kplay's pause");
    pause.file("/pause", &bin("pause")?, 0o755)?;
    let mut image = Image::new();
    image.entrypoint = vec!["/pause".into()];
    image.layers.push(pause);
    images.push(("pause".into(), recipe::PAUSE_TAG.into(), image));
    Ok(PreparedImages {
        work,
        images,
        kubernetes_version: version,
        etcd_tag,
    })
}

/// Writes every control-plane image of `build` into `out` as `{repository}/NAME:TAG`
/// (`repository` is kubeadm's `imageRepository`, e.g. `registry.kplay.local:5000`).
pub fn write_control_plane_images(
    build: &Build,
    opts: &Options,
    repository: &str,
    out: &OciDir,
    progress: &mut dyn FnMut(&str),
) -> Result<ControlPlaneImages, KubernetesError> {
    let prepared = prepare_control_plane_images(build, opts, progress)?;
    let started = std::time::Instant::now();
    let mut written = Vec::new();
    for (name, tag) in prepared.names() {
        written.push(prepared.write(&name, &format!("{repository}/{name}:{tag}"), out)?);
    }
    progress(&format!(
        "kubernetes: {} control-plane images written to {}: {:.1} s",
        written.len(),
        out.root().display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(ControlPlaneImages {
        images: written,
        kubernetes_version: prepared.kubernetes_version.clone(),
        etcd_tag: prepared.etcd_tag.clone(),
        pause_tag: recipe::PAUSE_TAG.into(),
    })
}

/// An image whose entrypoint is `/usr/local/bin/NAME` (kubeadm's static pods name the program in
/// `command`, which replaces the entrypoint; PATH finds it there).
fn one_program(name: &str, layers: Vec<Layer>) -> Image {
    let mut image = Image::new();
    image.entrypoint = vec![format!("/usr/local/bin/{name}")];
    image.layers = layers;
    image
}

/// Downloads the closure of `packages` and unpacks every package into `dir/root`.
fn unpack_closure(
    apt: &apt::Apt,
    packages: &[&str],
    dir: &Path,
) -> Result<PathBuf, KubernetesError> {
    let debs = apt.download_closure(packages, &dir.join("debs"))?;
    let root = dir.join("root");
    for deb in &debs {
        unpack(deb, &root)?;
    }
    Ok(root)
}

fn unpack(deb: &Path, root: &Path) -> Result<(), KubernetesError> {
    fs::create_dir_all(root).map_err(|e| KubernetesError::io("creating", root, e))?;
    let mut c = Command::new("dpkg-deb");
    c.arg("-x").arg(deb).arg(root);
    run(c, &format!("dpkg-deb -x {}", deb.display())).map(drop)
}

fn only_deb(dir: &Path) -> Result<PathBuf, KubernetesError> {
    fs::read_dir(dir)
        .map_err(|e| KubernetesError::io("reading", dir, e))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| {
            KubernetesError::Unexpected(format!("no .deb downloaded into {}", dir.display()))
        })
}
