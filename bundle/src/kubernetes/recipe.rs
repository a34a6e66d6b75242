//! How Kubernetes is built from Debian's source package, as data: the binaries, build tags, the
//! package replaced in `vendor/`, the version stamped into the binaries, and the cache key those
//! inputs hash to. Changing anything here changes the key, so a stale build is never reused.

use sha2::{Digest, Sha256};

/// Bumped whenever the build steps change in a way the fields below do not show.
pub const RECIPE_VERSION: u32 = 1;
/// Debian's source package.
pub const SOURCE_PACKAGE: &str = "kubernetes";
/// The seven binaries, each `k8s.io/kubernetes/cmd/NAME`.
pub const BINARIES: [&str; 7] = [
    "kubeadm",
    "kubelet",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
];
/// Upstream's release tags: SELinux support in the volume code, test-only code left out.
pub const TAGS: &str = "selinux,notest";
/// Debian's reflect2 replaces the vendored 1.0.1, which with Go 1.18+ makes `kubeadm init` panic
/// at kubelet-start (1.0.1 reads runtime internals that changed).
pub const REFLECT2_PACKAGE: &str = "golang-github-modern-go-reflect2-dev";
/// Where that package keeps the sources, and where they go in the tree.
pub const REFLECT2_SOURCE: &str = "usr/share/gocode/src/github.com/modern-go/reflect2";
pub const REFLECT2_VENDOR: &str = "vendor/github.com/modern-go/reflect2";
/// The pod sandbox program (`pause`), built with the binaries into the images' pause image.
pub const PAUSE_GO: &str = include_str!("pause.go");
/// Its Go package in the GOPATH, and the tag kubeadm 1.20 expects of the pause image.
pub const PAUSE_PACKAGE: &str = "kplay.local/pause";
/// kplay's crictl subset (Debian 12 has no cri-tools; kubeadm needs crictl): built inside the tree
/// because it uses kubelet's CRI client and the vendored gRPC.
pub const CRICTL_GO: &str = include_str!("crictl.go");
pub const CRICTL_PACKAGE: &str = "k8s.io/kubernetes/kplay/crictl";
/// What the build makes besides the seven Kubernetes binaries.
pub const EXTRAS: [&str; 2] = ["pause", "crictl"];
pub const PAUSE_TAG: &str = "3.2";
/// The Go import path of the tree (GOPATH mode, as upstream 1.20 builds).
pub const GO_PACKAGE: &str = "k8s.io/kubernetes";
/// The two packages whose variables carry the version (`kubectl version`, `kubeadm version`).
const VERSION_PACKAGES: [&str; 2] = [
    "k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version",
    "k8s.io/kubernetes/vendor/k8s.io/component-base/version",
];

/// The upstream version of a Debian source version: epoch and Debian revision dropped, and
/// Debian's `+really` convention (a version number kept higher than the content) resolved:
/// `1.20.5+really1.20.2-1.1+deb12u1` is upstream `1.20.2`.
pub fn upstream_version(debian: &str) -> String {
    let no_epoch = debian.split_once(':').map_or(debian, |(_, v)| v);
    let upstream = no_epoch.rsplit_once('-').map_or(no_epoch, |(u, _)| u);
    let real = upstream.rsplit_once("+really").map_or(upstream, |(_, r)| r);
    real.split(['+', '~']).next().unwrap_or(real).to_string()
}

/// The version of a `NAME_VERSION.dsc` or `NAME_VERSION_ARCH.deb` file name (URL escapes such as
/// `%2b` are not expected: apt prints decoded names).
pub fn version_of_file(name: &str) -> Option<String> {
    let stem = name
        .strip_suffix(".dsc")
        .or_else(|| name.strip_suffix(".deb"))?;
    let mut parts = stem.split('_');
    let _pkg = parts.next()?;
    parts.next().map(str::to_string)
}

/// The `-ldflags` value: strip symbols, and stamp the version as upstream's `hack/lib/version.sh`
/// does. `build_date` is the changelog's date (reproducible); the git commit is unknown in a
/// source package and left empty, the tree state says `archive`.
pub fn ldflags(version: &str, build_date: &str) -> String {
    let v = version.trim_start_matches('v');
    let mut nums = v.split('.');
    let major = nums.next().unwrap_or("0");
    let minor = nums.next().unwrap_or("0");
    let mut flags = String::from("-s -w");
    let vars = [
        ("gitVersion", format!("v{v}")),
        ("gitMajor", major.to_string()),
        ("gitMinor", minor.to_string()),
        ("gitTreeState", "archive".to_string()),
        ("buildDate", build_date.to_string()),
    ];
    for (key, value) in &vars {
        for pkg in VERSION_PACKAGES {
            flags.push_str(&format!(" -X {pkg}.{key}={value}"));
        }
    }
    flags
}

/// Everything the binaries depend on, hashed into the cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// `kubernetes_VERSION.dsc`.
    pub source_dsc: String,
    /// `golang-github-modern-go-reflect2-dev_VERSION_all.deb`.
    pub reflect2_deb: String,
    /// `go1.19.8` (`go env GOVERSION`).
    pub go_version: String,
    pub goarch: String,
}

impl Inputs {
    /// The cache directory name: the upstream version (for people) and 16 hex digits of the hash.
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        let text = format!(
            "recipe {RECIPE_VERSION}\nsource {}\nreflect2 {}\ngo {}\narch {}\ntags {TAGS}\nbinaries {}\ncgo 0\ntrimpath\nopenapi-gen first\npause {}\ncrictl {}\n",
            self.source_dsc,
            self.reflect2_deb,
            self.go_version,
            self.goarch,
            BINARIES.join(","),
            hex::encode(Sha256::digest(PAUSE_GO.as_bytes())),
            hex::encode(Sha256::digest(CRICTL_GO.as_bytes()))
        );
        h.update(text.as_bytes());
        let hash = hex::encode(h.finalize());
        let version = version_of_file(&self.source_dsc)
            .map(|v| upstream_version(&v))
            .unwrap_or_else(|| "unknown".to_string());
        format!("v{version}-{}", &hash[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_versions_give_upstream_ones() {
        assert_eq!(
            upstream_version("1.20.5+really1.20.2-1.1+deb12u1"),
            "1.20.2"
        );
        assert_eq!(upstream_version("1:1.28.4-2"), "1.28.4");
        assert_eq!(upstream_version("1.20.2+dfsg-1~bpo11+1"), "1.20.2");
        assert_eq!(upstream_version("1.20.2"), "1.20.2");
    }

    #[test]
    fn file_names_give_versions() {
        assert_eq!(
            version_of_file("kubernetes_1.20.5+really1.20.2-1.1+deb12u1.dsc").as_deref(),
            Some("1.20.5+really1.20.2-1.1+deb12u1")
        );
        assert_eq!(
            version_of_file("golang-github-modern-go-reflect2-dev_1.0.2-2_all.deb").as_deref(),
            Some("1.0.2-2")
        );
        assert_eq!(version_of_file("x.tar.gz"), None);
    }

    #[test]
    fn ldflags_stamp_both_version_packages() {
        let f = ldflags("1.20.2", "2025-07-08T22:00:00Z");
        assert!(f.starts_with("-s -w "));
        assert!(f.contains(
            "-X k8s.io/kubernetes/vendor/k8s.io/component-base/version.gitVersion=v1.20.2"
        ));
        assert!(f.contains("-X k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version.gitMinor=20"));
        assert!(f.contains("version.buildDate=2025-07-08T22:00:00Z"));
    }

    #[test]
    fn the_key_changes_with_every_input() {
        let a = Inputs {
            source_dsc: "kubernetes_1.20.5+really1.20.2-1.1+deb12u1.dsc".into(),
            reflect2_deb: "golang-github-modern-go-reflect2-dev_1.0.2-2_all.deb".into(),
            go_version: "go1.19.8".into(),
            goarch: "amd64".into(),
        };
        assert!(a.key().starts_with("v1.20.2-"));
        assert_eq!(a.key(), a.clone().key());
        let mut b = a.clone();
        b.go_version = "go1.19.9".into();
        assert_ne!(a.key(), b.key());
        let mut c = a.clone();
        c.source_dsc = "kubernetes_1.20.5+really1.20.2-1.1+deb12u2.dsc".into();
        assert_ne!(a.key(), c.key());
    }
}
