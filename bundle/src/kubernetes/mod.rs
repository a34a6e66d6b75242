//! Kubernetes binaries built from the distribution's own source package (Debian 12's `kubernetes`,
//! 1.20.5+really1.20.2), for bundles that must not carry upstream release downloads
//! (`kplay bundle build --kubernetes-from debian-source`).
//!
//! The recipe (see `recipe`): fetch the source package with a private apt configuration (`deb-src`
//! lines the machine does not have), unpack it into a GOPATH as upstream 1.20 builds
//! (`GO111MODULE=off`, tree at `$GOPATH/src/k8s.io/kubernetes`), replace the vendored reflect2 1.0.1
//! with Debian's 1.0.2, generate `pkg/generated/openapi` with the vendored `openapi-gen`, then build
//! the seven binaries with the machine's `golang-go`, `CGO_ENABLED=0`, tags `selinux,notest`, and the
//! version stamped so `kubeadm version` says v1.20.2. Two small programs written for kplay are
//! built with them: `pause` (the pod sandbox) and a `crictl` subset (Debian 12 has no cri-tools,
//! and kubeadm 1.20 cannot pull-check images, or reset pods, without a crictl).
//!
//! Cache layout under `/var/cache/kplay/kubernetes/`:
//! - `<version>-<hash>/`: `bin/` and `build.json`, one per hash of the inputs (source package,
//!   reflect2 and Go versions, architecture, recipe); reused when its binaries still match;
//! - `gocache/`: Go's build cache, kept warm (builds use `-trimpath`, so entries do not depend on
//!   where the tree is): a rebuild after a recipe change takes about a minute, not ten;
//! - `tree/<source>/`: the unpacked source tree of the current source version;
//! - `apt/`, `sources/`, `debs/`: the private apt state, the source package, reflect2's .deb.
//!
//! [`images`] makes the control-plane images from a build; [`hook`] is what the bundle build calls.

mod apt;
pub mod hook;
pub mod images;
mod openapi;
pub mod recipe;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use apt::Source as AptSource;
pub use hook::{build, node_files, KubernetesContext};
pub use images::{
    prepare_control_plane_images, write_control_plane_images, ControlPlaneImages, PreparedImages,
};
pub use recipe::BINARIES;

/// Where builds are cached unless [`Options::cache_root`] says otherwise.
pub const DEFAULT_CACHE: &str = "/var/cache/kplay/kubernetes";

/// Errors of the Kubernetes build; each names what failed and how to fix it where there is a fix.
#[derive(Debug, thiserror::Error)]
pub enum KubernetesError {
    #[error(transparent)]
    Io(#[from] crate::IoFailure),
    #[error("`{tool}` was not found; install it with `apt-get install {package}`")]
    MissingTool {
        tool: &'static str,
        package: &'static str,
    },
    #[error("could not run {what}: {source}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed ({status}):\n{output}")]
    Command {
        what: String,
        status: String,
        output: String,
    },
    #[error("no apt `deb` source found (in /etc/apt/sources.list, /etc/apt/sources.list.d or the given sources) to fetch the source package from")]
    NoSources,
    #[error("apt knows no {what}: is a Debian 12 (bookworm) source configured?")]
    NotInApt { what: String },
    #[error("writing an image: {0}")]
    Oci(#[from] crate::oci::OciError),
    #[error("{0}")]
    Unexpected(String),
}

impl KubernetesError {
    fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        KubernetesError::Io(crate::IoFailure {
            action,
            path: path.into(),
            source,
        })
    }
}

/// How to build.
#[derive(Debug, Clone)]
pub struct Options {
    /// Cache directory (default [`DEFAULT_CACHE`]).
    pub cache_root: PathBuf,
    /// apt sources to fetch from, one-line `deb …` format; empty: the machine's own.
    pub sources: Vec<String>,
    /// Parallel Go build jobs (`go build -p`); `None`: one per CPU.
    pub jobs: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cache_root: PathBuf::from(DEFAULT_CACHE),
            sources: Vec::new(),
            jobs: None,
        }
    }
}

/// One built binary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binary {
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// A timed step of the build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub seconds: f64,
}

/// The result: where the binaries are and what they are. Stored as `build.json` next to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Build {
    /// Kubernetes version the binaries report (`v1.20.2`).
    pub version: String,
    /// Debian source package version (`1.20.5+really1.20.2-1.1+deb12u1`).
    pub source_version: String,
    /// Go toolchain (`go1.19.8`) and the reflect2 package version used.
    pub go_version: String,
    /// Go's name of the target architecture (`amd64`), as in download URLs.
    #[serde(default)]
    pub goarch: String,
    pub reflect2_version: String,
    /// Cache key (the directory name under the cache root).
    pub key: String,
    /// Directory holding the binaries.
    pub dir: PathBuf,
    pub binaries: Vec<Binary>,
    /// The phases of the build that made the binaries, with their times.
    pub phases: Vec<Phase>,
    /// Largest resident set of one build process (the Go compiler or linker), in MiB.
    pub peak_rss_mib: u64,
    /// True when this call reused the cache instead of building.
    #[serde(skip)]
    pub reused: bool,
}

impl Build {
    /// The architecture, when the build recorded it.
    pub fn go_arch(&self) -> Option<&str> {
        (!self.goarch.is_empty()).then_some(self.goarch.as_str())
    }

    /// Path of one binary by name (`kubeadm`).
    pub fn binary(&self, name: &str) -> Option<&Path> {
        self.binaries
            .iter()
            .find(|b| b.name == name)
            .map(|b| b.path.as_path())
    }
}

const TOOLS: &[(&str, &str)] = &[
    ("go", "golang-go"),
    ("apt-get", "apt"),
    ("dpkg-source", "dpkg-dev"),
    ("dpkg-parsechangelog", "dpkg-dev"),
    ("dpkg-deb", "dpkg"),
];

/// Builds (or reuses) the seven Kubernetes binaries from Debian's source package, reporting each
/// phase and its time through `progress`.
pub fn build_from_debian_source(
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Build, KubernetesError> {
    for &(tool, package) in TOOLS {
        if which(tool).is_none() {
            return Err(KubernetesError::MissingTool { tool, package });
        }
    }
    let root = &opts.cache_root;
    fs::create_dir_all(root).map_err(|e| KubernetesError::io("creating", root, e))?;
    let _lock = lock(&root.join(".lock"))?;
    let mut phases = Vec::new();
    let mut timed = |name: &str, progress: &mut dyn FnMut(&str), started: Instant| {
        let seconds = started.elapsed().as_secs_f64();
        progress(&format!("kubernetes: {name}: {seconds:.1} s"));
        phases.push(Phase {
            name: name.to_string(),
            seconds,
        });
    };

    let t = Instant::now();
    let sources = sources_of(opts);
    let apt = apt::Apt::new(&root.join("apt"), &sources)?;
    if let Err(e) = apt.update() {
        // Offline rebuilds of a cached version still work from the last lists.
        let lists = fs::read_dir(root.join("apt/lists"))
            .map(|d| d.flatten().any(|e| e.path().is_file()))
            .unwrap_or(false);
        if !lists {
            return Err(e);
        }
        progress(&format!(
            "kubernetes: warning: {e}\nkubernetes: using the source lists of the last update"
        ));
    }
    let dsc = apt.source_dsc(recipe::SOURCE_PACKAGE)?;
    let reflect2_deb = apt.deb_name(recipe::REFLECT2_PACKAGE)?;
    let go = GoEnv::detect()?;
    let inputs = recipe::Inputs {
        source_dsc: dsc.clone(),
        reflect2_deb: reflect2_deb.clone(),
        go_version: go.version.clone(),
        goarch: go.goarch.clone(),
    };
    let key = inputs.key();
    let source_version = recipe::version_of_file(&dsc).unwrap_or_default();
    let version = format!("v{}", recipe::upstream_version(&source_version));
    timed("resolve inputs", progress, t);
    progress(&format!(
        "kubernetes: {version} from Debian source {source_version}, {}, reflect2 {}; cache key {key}",
        go.version,
        recipe::version_of_file(&reflect2_deb).unwrap_or_default()
    ));

    let dir = root.join(&key);
    if let Some(mut cached) = load_cached(&dir)? {
        cached.reused = true;
        progress(&format!(
            "kubernetes: reusing {} (built earlier, binaries verified)",
            cached.dir.display()
        ));
        return Ok(cached);
    }

    let t = Instant::now();
    let stem = dsc.trim_end_matches(".dsc");
    let src_dir = root.join("sources").join(stem);
    if !src_dir.join(&dsc).is_file() {
        apt.download_source(recipe::SOURCE_PACKAGE, &src_dir)?;
    }
    let debs = root.join("debs");
    if !debs.join(&reflect2_deb).is_file() {
        apt.download_deb(recipe::REFLECT2_PACKAGE, &debs)?;
    }
    timed("fetch source package", progress, t);

    let t = Instant::now();
    let work = root.join(format!("{key}.partial"));
    remove_dir(&work)?;
    fs::create_dir_all(&work).map_err(|e| KubernetesError::io("creating", &work, e))?;
    let gopath = unpacked_tree(root, stem, &src_dir.join(&dsc), &debs.join(&reflect2_deb))?;
    let tree = gopath.join("src").join(recipe::GO_PACKAGE);
    for (package, text) in [
        (recipe::PAUSE_PACKAGE, recipe::PAUSE_GO),
        (recipe::CRICTL_PACKAGE, recipe::CRICTL_GO),
    ] {
        let dir = gopath.join("src").join(package);
        fs::create_dir_all(&dir).map_err(|e| KubernetesError::io("creating", &dir, e))?;
        let file = dir.join("main.go");
        fs::write(&file, text).map_err(|e| KubernetesError::io("writing", &file, e))?;
    }
    let build_date = changelog_date(&tree)?;
    timed("unpack", progress, t);

    let t = Instant::now();
    let env = go.env(&gopath, &root.join("gocache"), &work);
    let tools = work.join("tools");
    let mut c = env.command(&tree);
    c.args([
        "install",
        "k8s.io/kubernetes/vendor/k8s.io/kube-openapi/cmd/openapi-gen",
    ])
    .env("GOBIN", &tools);
    run(c, "go install openapi-gen")?;
    let inputs_pkgs = openapi::input_packages(&tree)?;
    let mut c = Command::new(tools.join("openapi-gen"));
    env.apply(&mut c, &tree);
    c.args(["--logtostderr", "-i", &inputs_pkgs.join(",")])
        .args(["-p", "k8s.io/kubernetes/pkg/generated/openapi"])
        .args(["-O", "zz_generated.openapi"])
        .args(["-h", "vendor/k8s.io/code-generator/hack/boilerplate.go.txt"])
        .arg("-r")
        .arg(work.join("api-violations.report"));
    run(c, "openapi-gen")?;
    timed(
        &format!("openapi-gen ({} packages)", inputs_pkgs.len()),
        progress,
        t,
    );

    let t = Instant::now();
    progress(&format!(
        "kubernetes: go build of {} binaries, {} (minutes on two cores when Go's cache is cold)",
        BINARIES.len(),
        recipe::EXTRAS.join(" and ")
    ));
    let out = work.join("bin");
    let mut c = env.command(&tree);
    c.args(["build", "-tags", recipe::TAGS, "-ldflags"])
        .arg(recipe::ldflags(&version, &build_date))
        .arg("-o")
        .arg(format!("{}/", out.display()));
    if let Some(j) = opts.jobs {
        c.args(["-p", &j.max(1).to_string()]);
    }
    c.args(
        BINARIES
            .iter()
            .map(|b| format!("k8s.io/kubernetes/cmd/{b}")),
    )
    .args([recipe::PAUSE_PACKAGE, recipe::CRICTL_PACKAGE]);
    run(c, "go build")?;
    let peak_rss_mib = children_peak_rss_mib();
    timed("go build", progress, t);

    let t = Instant::now();
    let mut c = Command::new(out.join("kubeadm"));
    c.args(["version", "-o", "short"]);
    let said = run(c, "kubeadm version")?;
    if said.trim() != version {
        return Err(KubernetesError::Unexpected(format!(
            "the built kubeadm says {:?}, expected {version:?}",
            said.trim()
        )));
    }
    timed("check", progress, t);

    let t = Instant::now();
    let bin_dir = dir.join("bin");
    remove_dir(&dir)?;
    fs::create_dir_all(&dir).map_err(|e| KubernetesError::io("creating", &dir, e))?;
    fs::rename(&out, &bin_dir)
        .map_err(|e| KubernetesError::io("moving binaries to", &bin_dir, e))?;
    let binaries = describe(&bin_dir)?;
    remove_dir(&work)?;
    timed("install", progress, t);
    let build = Build {
        version,
        source_version,
        go_version: go.version,
        goarch: go.goarch,
        reflect2_version: recipe::version_of_file(&reflect2_deb).unwrap_or_default(),
        key,
        dir: bin_dir,
        binaries,
        phases,
        peak_rss_mib,
        reused: false,
    };
    let json = dir.join("build.json");
    let text = serde_json::to_string_pretty(&build)
        .map_err(|e| KubernetesError::Unexpected(format!("serializing build.json: {e}")))?;
    // Written last and atomically: its presence marks a complete build.
    let tmp = dir.join(".build.json.tmp");
    fs::write(&tmp, text).map_err(|e| KubernetesError::io("writing", &tmp, e))?;
    fs::rename(&tmp, &json).map_err(|e| KubernetesError::io("renaming", &json, e))?;
    progress(&format!(
        "kubernetes: {} binaries in {} (peak {} MiB in one build process)",
        build.binaries.len(),
        build.dir.display(),
        build.peak_rss_mib
    ));
    Ok(build)
}

/// The source package unpacked into a GOPATH (`root/tree/STEM/gopath`) with Debian's reflect2 in
/// `vendor/`, made once per source version and kept: a rebuild with another recipe unpacks and
/// deletes nothing (tens of thousands of files). Trees of other source versions are removed.
/// The build writes only generated files into it, which each build regenerates.
fn unpacked_tree(
    root: &Path,
    stem: &str,
    dsc: &Path,
    reflect2_deb: &Path,
) -> Result<PathBuf, KubernetesError> {
    let trees = root.join("tree");
    let dir = trees.join(stem);
    let gopath = dir.join("gopath");
    let done = dir.join(".unpacked");
    if done.is_file() {
        return Ok(gopath);
    }
    remove_dir(&dir)?;
    if let Ok(entries) = fs::read_dir(&trees) {
        for e in entries.flatten() {
            remove_dir(&e.path())?;
        }
    }
    let tree = gopath.join("src").join(recipe::GO_PACKAGE);
    fs::create_dir_all(tree.parent().unwrap_or(&gopath))
        .map_err(|e| KubernetesError::io("creating", &gopath, e))?;
    let mut c = Command::new("dpkg-source");
    c.arg("-x").arg(dsc).arg(&tree);
    run(c, "dpkg-source -x (unpacking the source package)")?;
    let r2 = dir.join("reflect2");
    let mut c = Command::new("dpkg-deb");
    c.arg("-x").arg(reflect2_deb).arg(&r2);
    run(c, "dpkg-deb -x (unpacking reflect2)")?;
    let vendored = tree.join(recipe::REFLECT2_VENDOR);
    remove_dir(&vendored)?;
    fs::rename(r2.join(recipe::REFLECT2_SOURCE), &vendored)
        .map_err(|e| KubernetesError::io("moving reflect2 into", &vendored, e))?;
    remove_dir(&r2)?;
    fs::write(&done, "").map_err(|e| KubernetesError::io("writing", &done, e))?;
    Ok(gopath)
}

/// The apt sources to use: the given ones, or the machine's.
fn sources_of(opts: &Options) -> Vec<apt::Source> {
    if opts.sources.is_empty() {
        apt::machine_sources()
    } else {
        opts.sources
            .iter()
            .flat_map(|l| apt::parse_one_line(l))
            .collect()
    }
}

/// The cached build in `dir` when it is complete and its binaries still match their hashes.
fn load_cached(dir: &Path) -> Result<Option<Build>, KubernetesError> {
    let json = dir.join("build.json");
    let Ok(text) = fs::read_to_string(&json) else {
        return Ok(None);
    };
    let Ok(build) = serde_json::from_str::<Build>(&text) else {
        return Ok(None);
    };
    for b in &build.binaries {
        match sha256_file(&b.path) {
            Ok(sum) if sum == b.sha256 => {}
            _ => return Ok(None),
        }
    }
    let complete = products().all(|n| build.binary(n).is_some()) && build.go_arch().is_some();
    Ok(complete.then_some(build))
}

/// Every program a build makes: the Kubernetes binaries and kplay's extras.
fn products() -> impl Iterator<Item = &'static str> {
    BINARIES.iter().chain(recipe::EXTRAS.iter()).copied()
}

fn describe(bin_dir: &Path) -> Result<Vec<Binary>, KubernetesError> {
    products()
        .map(|name| {
            let path = bin_dir.join(name);
            let size = fs::metadata(&path)
                .map_err(|e| KubernetesError::io("reading", &path, e))?
                .len();
            Ok(Binary {
                name: name.to_string(),
                sha256: sha256_file(&path)?,
                path,
                size,
            })
        })
        .collect()
}

fn sha256_file(path: &Path) -> Result<String, KubernetesError> {
    let mut f = fs::File::open(path).map_err(|e| KubernetesError::io("opening", path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| KubernetesError::io("reading", path, e))?;
    Ok(hex::encode(h.finalize()))
}

/// The changelog's date as RFC 3339 UTC: a build date that does not change between rebuilds.
fn changelog_date(tree: &Path) -> Result<String, KubernetesError> {
    let mut c = Command::new("dpkg-parsechangelog");
    c.arg("-l")
        .arg(tree.join("debian/changelog"))
        .args(["-S", "Timestamp"]);
    let out = run(c, "dpkg-parsechangelog")?;
    let secs: i64 = out.trim().parse().map_err(|_| {
        KubernetesError::Unexpected(format!("dpkg-parsechangelog gave no timestamp: {out:?}"))
    })?;
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .ok_or_else(|| KubernetesError::Unexpected(format!("bad changelog timestamp {secs}")))
}

/// The machine's Go toolchain and the environment every Go step runs in.
struct GoEnv {
    version: String,
    goarch: String,
    goroot: String,
}

impl GoEnv {
    fn detect() -> Result<GoEnv, KubernetesError> {
        let mut c = Command::new("go");
        c.args(["env", "GOVERSION", "GOARCH", "GOROOT"])
            .env("GOENV", "off")
            .env("GOTOOLCHAIN", "local");
        let out = run(c, "go env")?;
        let mut l = out.lines().map(str::trim);
        let (Some(version), Some(goarch), Some(goroot)) = (l.next(), l.next(), l.next()) else {
            return Err(KubernetesError::Unexpected(format!(
                "`go env` printed {out:?}"
            )));
        };
        Ok(GoEnv {
            version: version.to_string(),
            goarch: goarch.to_string(),
            goroot: goroot.to_string(),
        })
    }

    fn env(&self, gopath: &Path, gocache: &Path, home: &Path) -> GoVars {
        GoVars {
            vars: vec![
                ("GOPATH".into(), gopath.display().to_string()),
                // openapi-gen, built with -trimpath, knows no GOROOT of its own and would not find
                // the standard library without it.
                ("GOROOT".into(), self.goroot.clone()),
                ("GO111MODULE".into(), "off".into()),
                ("CGO_ENABLED".into(), "0".into()),
                ("GOCACHE".into(), gocache.display().to_string()),
                ("GOFLAGS".into(), "-trimpath".into()),
                ("GOPROXY".into(), "off".into()),
                ("GOENV".into(), "off".into()),
                ("GOTOOLCHAIN".into(), "local".into()),
                ("HOME".into(), home.display().to_string()),
                ("LC_ALL".into(), "C".into()),
            ],
        }
    }
}

struct GoVars {
    vars: Vec<(String, String)>,
}

impl GoVars {
    fn apply(&self, c: &mut Command, dir: &Path) {
        c.current_dir(dir);
        for (k, v) in &self.vars {
            c.env(k, v);
        }
    }

    fn command(&self, dir: &Path) -> Command {
        let mut c = Command::new("go");
        self.apply(&mut c, dir);
        c
    }
}

/// Runs a command, returning its stdout; a failure carries the end of its output.
pub(crate) fn run(mut c: Command, what: &str) -> Result<String, KubernetesError> {
    let out = c.output().map_err(|source| KubernetesError::Spawn {
        what: what.to_string(),
        source,
    })?;
    if !out.status.success() {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        return Err(KubernetesError::Command {
            what: what.to_string(),
            status: out.status.to_string(),
            output: tail,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(std::env::split_paths("/usr/sbin:/usr/bin:/sbin:/bin"))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

fn remove_dir(dir: &Path) -> Result<(), KubernetesError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(KubernetesError::io("removing", dir, e)),
    }
}

/// Largest resident set of any finished child process so far, in MiB.
fn children_peak_rss_mib() -> u64 {
    // SAFETY: getrusage fills the struct we pass; zeroed is a valid initial value for it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_CHILDREN with a valid pointer has no other precondition.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return 0;
    }
    u64::try_from(usage.ru_maxrss).unwrap_or(0) / 1024
}

/// Holds an exclusive lock on `path`, so two builders never share a work directory.
fn lock(path: &Path) -> Result<crate::lock::Lock, KubernetesError> {
    crate::lock::exclusive(path).map_err(|e| KubernetesError::io("locking", path, e))
}
