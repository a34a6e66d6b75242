//! Fetching Debian packages with the build machine's own apt, under a private configuration and
//! state, so the machine's apt (its sources, lists, dpkg status, locks) is never touched.
//!
//! The private root lives in `/var/cache/kplay/apt/<hash of sources and architecture>/`, the
//! downloaded `.deb`s in `/var/cache/kplay/debs/<release>-<arch>/` (shared by every build of that
//! release). Dependencies are resolved against an EMPTY dpkg status: apt's answer is then the
//! whole closure a bare system of the release needs (see offline.yml for why).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// Errors from preparing apt or fetching packages.
#[derive(Debug, thiserror::Error)]
pub enum AptError {
    #[error(transparent)]
    Io(#[from] crate::IoFailure),
    #[error("cannot run {program}: {source} (the bundle is built with the machine's apt; install apt and dpkg)")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed:\n{output}")]
    Failed { command: String, output: String },
    #[error("Debian {release} ({arch}) has no package {package:?} (listed in {listed_in}); check the name with `apt-cache search` on a {release} machine")]
    UnknownPackage {
        package: String,
        release: String,
        arch: String,
        listed_in: String,
    },
    #[error("apt source {source_name} is for {found}, not {release}: set offline_debian_sources to {release} mirrors, or build on a {release} machine")]
    WrongRelease {
        source_name: String,
        found: String,
        release: String,
    },
    #[error(
        "no apt sources: the machine has none in /etc/apt and offline_debian_sources is empty"
    )]
    NoSources,
    #[error("apt planned {name} {version} but {path} is missing after the download")]
    NotDownloaded {
        name: String,
        version: String,
        path: PathBuf,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> AptError {
    crate::io_error(action, path)
}

/// One downloaded package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deb {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// The `.deb` in the download cache.
    pub path: PathBuf,
}

impl Deb {
    /// The file name Debian gives it (`name_version_arch.deb`, epoch colon kept as apt stores it).
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// The private apt of one build.
pub struct Apt {
    root: PathBuf,
    archives: PathBuf,
    release: String,
    arch: String,
}

/// How long downloaded package lists are reused before `apt-get update` runs again.
pub const LISTS_MAX_AGE: Duration = Duration::from_secs(6 * 3600);

impl Apt {
    /// Prepares the private apt root under `cache` for `release`/`arch`, with `sources` (one-line
    /// format) or, when empty, copies of the machine's own source files.
    pub fn new(
        cache: &Path,
        release: &str,
        arch: &str,
        sources: &[String],
    ) -> Result<Apt, AptError> {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        if sources.is_empty() {
            let main = Path::new("/etc/apt/sources.list");
            if let Ok(data) = fs::read(main) {
                files.push(("sources.list.d/machine.list".into(), data));
            }
            let dir = Path::new("/etc/apt/sources.list.d");
            if let Ok(rd) = fs::read_dir(dir) {
                let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                names.sort();
                for p in names {
                    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
                    if ext == "list" || ext == "sources" {
                        let data = fs::read(&p).map_err(io("reading", &p))?;
                        let name = p
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        files.push((format!("sources.list.d/{name}"), data));
                    }
                }
            }
            let has_entries = files.iter().any(|(_, d)| {
                String::from_utf8_lossy(d).lines().any(|l| {
                    let l = l.trim_start();
                    l.starts_with("deb ") || l.starts_with("Types:")
                })
            });
            if !has_entries {
                return Err(AptError::NoSources);
            }
        } else {
            files.push((
                "sources.list.d/kplay.list".into(),
                (sources.join("\n") + "\n").into_bytes(),
            ));
        }
        let mut h = Sha256::new();
        h.update(format!("{release}\0{arch}\0").as_bytes());
        for (n, d) in &files {
            h.update(n.as_bytes());
            h.update([0]);
            h.update(d);
            h.update([0]);
        }
        let key = hex::encode(&h.finalize()[..8]);
        let root = cache.join("apt").join(format!("{release}-{arch}-{key}"));
        let etc = root.join("etc/apt");
        for d in [
            etc.join("sources.list.d"),
            etc.join("apt.conf.d"),
            etc.join("preferences.d"),
            root.join("var/lib/apt/lists/partial"),
            root.join("var/lib/dpkg"),
            root.join("var/cache/apt"),
            root.join("var/log/apt"),
        ] {
            fs::create_dir_all(&d).map_err(io("creating", &d))?;
        }
        // Files are rewritten only when they differ: apt keeps its binary cache (pkgcache.bin)
        // only while their mtimes stay, which makes a cached build seconds faster.
        let listd = etc.join("sources.list.d");
        let wanted: Vec<PathBuf> = files.iter().map(|(n, _)| etc.join(n)).collect();
        for e in fs::read_dir(&listd)
            .map_err(io("reading", &listd))?
            .flatten()
        {
            if !wanted.contains(&e.path()) {
                let _ = fs::remove_file(e.path());
            }
        }
        for (name, data) in &files {
            let p = etc.join(name);
            if fs::read(&p).ok().as_ref() != Some(data) {
                fs::write(&p, data).map_err(io("writing", &p))?;
            }
        }
        let status = root.join("var/lib/dpkg/status");
        if fs::metadata(&status).map(|m| m.len() != 0).unwrap_or(true) {
            fs::write(&status, b"").map_err(io("writing", &status))?;
        }
        let conf = root.join("kplay-apt.conf");
        let conf_text = format!("Dir \"{}/\";\n", root.display());
        if fs::read_to_string(&conf).ok().as_deref() != Some(conf_text.as_str()) {
            fs::write(&conf, &conf_text).map_err(io("writing", &conf))?;
        }
        let archives = cache.join("debs").join(format!("{release}-{arch}"));
        let partial = archives.join("partial");
        fs::create_dir_all(&partial).map_err(io("creating", &partial))?;
        Ok(Apt {
            root,
            archives,
            release: release.to_string(),
            arch: arch.to_string(),
        })
    }

    /// Serializes apt runs on this private root and download cache: concurrent `apt-get update`s
    /// in one root delete each other's lists (apt's own locking is off here, see `command`).
    fn lock(&self) -> Result<crate::lock::Lock, AptError> {
        let p = self.root.join(".kplay-lock");
        crate::lock::exclusive(&p).map_err(io("locking", &p))
    }

    /// The private root (for messages and tests).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn command(&self) -> Command {
        let r = self.root.display();
        let mut c = Command::new("apt-get");
        for o in [
            format!("Dir={r}"),
            format!("Dir::State::status={r}/var/lib/dpkg/status"),
            format!("Dir::Cache={r}/var/cache/apt"),
            // Docker-style images blank these; without them apt rebuilds its cache every run.
            "Dir::Cache::pkgcache=pkgcache.bin".to_string(),
            "Dir::Cache::srcpkgcache=srcpkgcache.bin".to_string(),
            format!("Dir::Cache::archives={}", self.archives.display()),
            format!("Dir::Log={r}/var/log/apt"),
            // Keys the machine trusts (sources usually name theirs with signed-by anyway).
            "Dir::Etc::TrustedParts=/etc/apt/trusted.gpg.d".to_string(),
            "Dir::Etc::Trusted=/etc/apt/trusted.gpg".to_string(),
            format!("APT::Architecture={}", self.arch),
            format!("APT::Architectures={}", self.arch),
            "APT::Install-Recommends=false".to_string(),
            "APT::Get::Assume-Yes=true".to_string(),
            "Debug::NoLocking=true".to_string(),
            "Acquire::Languages=none".to_string(),
        ] {
            c.arg("-o").arg(o);
        }
        // apt reads APT_CONFIG before any apt.conf.d: pointing Dir at the private root there
        // keeps the machine's apt.conf.d out (its hooks, e.g. Docker images' docker-clean, would
        // otherwise run on the machine's own cache during our update).
        c.env("APT_CONFIG", self.root.join("kplay-apt.conf"))
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("LC_ALL", "C");
        c
    }

    fn run(&self, args: &[&str]) -> Result<String, AptError> {
        self.run_with(args, &|_| {})
    }

    /// Runs apt-get, handing each stdout line to `line` as it comes (download progress).
    fn run_with(&self, args: &[&str], line: &dyn Fn(&str)) -> Result<String, AptError> {
        use std::io::BufRead;
        let mut c = self.command();
        c.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let spawn = |source| AptError::Spawn {
            program: "apt-get".into(),
            source,
        };
        let mut child = c.spawn().map_err(spawn)?;
        let stderr = child.stderr.take();
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut e) = stderr {
                let _ = std::io::Read::read_to_string(&mut e, &mut s);
            }
            s
        });
        let mut stdout = String::new();
        if let Some(out) = child.stdout.take() {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                line(&l);
                stdout.push_str(&l);
                stdout.push('\n');
            }
        }
        let status = child.wait().map_err(spawn)?;
        let text = format!("{stdout}{}", err_reader.join().unwrap_or_default());
        if !status.success() {
            return Err(AptError::Failed {
                command: format!("apt-get {}", args.join(" ")),
                output: text,
            });
        }
        Ok(text)
    }

    /// Downloads the package lists unless fresh ones (younger than [`LISTS_MAX_AGE`]) are there
    /// or `force`; then checks every source is of the wanted release. Returns whether it updated.
    pub fn update(&self, force: bool) -> Result<bool, AptError> {
        let _lock = self.lock()?;
        let stamp = self.root.join("var/lib/apt/lists/.kplay-updated");
        let fresh = fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < LISTS_MAX_AGE);
        // A stamp without lists (an update that was interrupted or raced) is not fresh.
        let fresh = fresh && self.release_files()?.next().is_some();
        let updated = if force || !fresh {
            self.run(&["update"])?;
            fs::write(&stamp, b"").map_err(io("writing", &stamp))?;
            true
        } else {
            false
        };
        self.check_release()?;
        Ok(updated)
    }

    /// The Release files of the downloaded package lists.
    fn release_files(&self) -> Result<impl Iterator<Item = fs::DirEntry>, AptError> {
        let lists = self.root.join("var/lib/apt/lists");
        Ok(fs::read_dir(&lists)
            .map_err(io("reading", &lists))?
            .flatten()
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.ends_with("_InRelease") || name.ends_with("_Release")
            }))
    }

    /// Every Release file apt fetched must be of our release (`bookworm`, `bookworm-updates`,
    /// `bookworm-security` …): a trixie machine's sources would give trixie packages.
    fn check_release(&self) -> Result<(), AptError> {
        let mut seen = 0;
        for e in self.release_files()? {
            let name = e.file_name().to_string_lossy().into_owned();
            seen += 1;
            let text = fs::read_to_string(e.path()).map_err(io("reading", &e.path()))?;
            let codename = text
                .lines()
                .find_map(|l| l.strip_prefix("Codename:"))
                .map(|c| c.trim().to_string())
                .unwrap_or_default();
            let base = codename.split(['-', '/']).next().unwrap_or("");
            if base != self.release {
                return Err(AptError::WrongRelease {
                    source_name: name,
                    found: if codename.is_empty() {
                        "an unknown release".into()
                    } else {
                        codename
                    },
                    release: self.release.clone(),
                });
            }
        }
        if seen == 0 {
            return Err(AptError::NoSources);
        }
        Ok(())
    }

    /// Resolves `packages` with their dependency closure on an empty system and downloads what
    /// the cache lacks. `listed_in` names where a package was listed, for the error when Debian
    /// has no such package.
    pub fn fetch(
        &self,
        packages: &[String],
        listed_in: &dyn Fn(&str) -> String,
        progress: &dyn Fn(&str),
    ) -> Result<Vec<Deb>, AptError> {
        if packages.is_empty() {
            return Ok(Vec::new());
        }
        let _lock = self.lock()?;
        let mut args = vec!["install", "--simulate"];
        args.extend(packages.iter().map(String::as_str));
        let plan = match self.run(&args) {
            Ok(t) => t,
            Err(AptError::Failed { output, command }) => {
                return Err(self
                    .explain(&output, listed_in)
                    .unwrap_or(AptError::Failed { command, output }))
            }
            Err(e) => return Err(e),
        };
        let debs = self.parse_plan(&plan);
        let missing = debs.iter().filter(|d| !d.path.is_file()).count();
        if missing > 0 {
            progress(&format!(
                "      downloading {missing} of {} packages",
                debs.len()
            ));
            let mut args = vec!["install", "--download-only"];
            args.extend(packages.iter().map(String::as_str));
            self.run_with(&args, &|l| {
                // apt's `Get:N URI SUITE/COMPONENT ARCH NAME ARCH VERSION [SIZE]` lines (cut at 80
                // columns when not on a terminal, so the size is left out).
                if let Some(rest) = l.strip_prefix("Get:") {
                    let words: Vec<&str> = rest.split_whitespace().collect();
                    if words.len() >= 7 {
                        progress(&format!(
                            "      get {} {} {}",
                            words[4],
                            words[6],
                            words.get(7).copied().unwrap_or("")
                        ));
                    }
                }
            })?;
        }
        for d in &debs {
            if !d.path.is_file() {
                return Err(AptError::NotDownloaded {
                    name: d.name.clone(),
                    version: d.version.clone(),
                    path: d.path.clone(),
                });
            }
        }
        Ok(debs)
    }

    /// `Inst NAME (VERSION RELEASES [ARCH])` lines of a simulation, as cache paths.
    fn parse_plan(&self, plan: &str) -> Vec<Deb> {
        let mut out = BTreeSet::new();
        for line in plan.lines() {
            let Some(rest) = line.strip_prefix("Inst ") else {
                continue;
            };
            let Some((name, rest)) = rest.split_once(" (") else {
                continue;
            };
            let Some((version, _)) = rest.split_once(' ') else {
                continue;
            };
            // `(VERSION RELEASES [ARCH])`, sometimes followed by ` [BROKEN-DEPS]`.
            let inner = rest.split_once(')').map_or(rest, |(i, _)| i);
            let arch = inner
                .rsplit_once('[')
                .and_then(|(_, a)| a.split_once(']'))
                .map(|(a, _)| a.to_string())
                .unwrap_or_else(|| self.arch.clone());
            let file = format!("{name}_{}_{arch}.deb", version.replace(':', "%3a"));
            out.insert(Deb {
                name: name.to_string(),
                version: version.to_string(),
                arch,
                path: self.archives.join(file),
            });
        }
        out.into_iter().collect()
    }

    fn explain(&self, output: &str, listed_in: &dyn Fn(&str) -> String) -> Option<AptError> {
        for line in output.lines() {
            let pkg = line
                .strip_prefix("E: Unable to locate package ")
                .map(str::trim)
                .or_else(|| {
                    line.strip_prefix("E: Package '")
                        .and_then(|r| r.split_once('\''))
                        .map(|(p, _)| p)
                });
            if let Some(p) = pkg {
                return Some(AptError::UnknownPackage {
                    package: p.to_string(),
                    release: self.release.clone(),
                    arch: self.arch.clone(),
                    listed_in: listed_in(p),
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulation_lines_become_cache_paths() {
        let apt = Apt {
            root: PathBuf::from("/r"),
            archives: PathBuf::from("/c"),
            release: "bookworm".into(),
            arch: "amd64".into(),
        };
        let plan = "NOTE: simulation\nInst libc6 (2.36-9+deb12u10 Debian:12.11/stable, Debian-Security:12/stable-security [amd64])\n\
Inst tzdata (2025b-0+deb12u1 Debian:12.11/stable [all])\nInst libgcc-s1 (12.2.0-14+deb12u1 Debian:12.11/stable [amd64]) []\nInst busybox-static (1:1.35.0-4+b3 Debian:12.11/stable [amd64])\nConf libc6 (2.36)\n";
        let debs = apt.parse_plan(plan);
        let files: Vec<String> = debs.iter().map(Deb::file_name).collect();
        assert_eq!(
            files,
            vec![
                "busybox-static_1%3a1.35.0-4+b3_amd64.deb",
                "libc6_2.36-9+deb12u10_amd64.deb",
                "libgcc-s1_12.2.0-14+deb12u1_amd64.deb",
                "tzdata_2025b-0+deb12u1_all.deb"
            ]
        );
        assert_eq!(debs[0].version, "1:1.35.0-4+b3");
    }

    #[test]
    fn unknown_packages_are_named_with_where_they_are_listed() {
        let apt = Apt {
            root: PathBuf::from("/r"),
            archives: PathBuf::from("/c"),
            release: "bookworm".into(),
            arch: "amd64".into(),
        };
        let e = apt
            .explain(
                "Reading package lists...\nE: Unable to locate package chronyy\n",
                &|p| format!("offline_packages.os ({p})"),
            )
            .unwrap()
            .to_string();
        assert!(
            e.contains("\"chronyy\"")
                && e.contains("offline_packages.os")
                && e.contains("bookworm"),
            "{e}"
        );
        let e = apt
            .explain(
                "E: Package 'docker' has no installation candidate\n",
                &|_| "x".into(),
            )
            .unwrap()
            .to_string();
        assert!(e.contains("\"docker\""), "{e}");
    }
}
