//! `manifest.json` at the bundle's top: what is in it, with versions and sha256, written last
//! (a bundle without one is incomplete) and printed by `kplay bundle list`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the manifest in the bundle directory.
pub const MANIFEST: &str = "manifest.json";
/// Bumped when the layout changes incompatibly.
pub const FORMAT: u32 = 1;

/// Errors reading a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{dir}: not a kplay bundle (no {MANIFEST}; build one with `kplay bundle build --output DIR`, or the build was interrupted): {source}")]
    Missing {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid manifest: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: bundle format {found}, this kplay reads format {FORMAT}")]
    Format { path: PathBuf, found: u32 },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub kplay_version: String,
    /// RFC 3339 time of the build.
    pub created: String,
    pub debian: DebianRepo,
    pub files: Vec<FileEntry>,
    pub images: Vec<ImageEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DebianRepo {
    pub release: String,
    pub architecture: String,
    pub suite: String,
    pub component: String,
    /// Fingerprint of the key that signed Release/InRelease.
    pub signing_key: String,
    pub keyring: String,
    /// feature → packages listed in group_vars (what the roles install).
    pub requested: BTreeMap<String, Vec<String>>,
    /// Every package in the pool (the requested ones and their dependencies).
    pub packages: Vec<PackageEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PackageEntry {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// Path under `debian/`.
    pub filename: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub name: String,
    /// Path under `files/` (HOST/PATH).
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub size: u64,
    pub sha256: String,
    pub upstream: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageEntry {
    pub name: String,
    /// `repo:tag` as in `images/index.json` and the registry.
    pub reference: String,
    /// Manifest digest (what `crictl images --digests` shows after a pull).
    pub digest: String,
    /// Config plus compressed layers, bytes.
    pub size: u64,
    /// `build.type` and what it was made from.
    pub build: String,
}

impl Manifest {
    /// Reads `DIR/manifest.json`.
    pub fn read(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join(MANIFEST);
        let data = std::fs::read(&path).map_err(|source| ManifestError::Missing {
            dir: dir.to_path_buf(),
            source,
        })?;
        let m: Manifest =
            serde_json::from_slice(&data).map_err(|source| ManifestError::Invalid {
                path: path.clone(),
                source,
            })?;
        if m.format != FORMAT {
            return Err(ManifestError::Format {
                path,
                found: m.format,
            });
        }
        Ok(m)
    }

    /// The JSON text written to `manifest.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Total bytes of packages, files and images.
    pub fn total_size(&self) -> u64 {
        self.debian.packages.iter().map(|p| p.size).sum::<u64>()
            + self.files.iter().map(|f| f.size).sum::<u64>()
            + self.images.iter().map(|i| i.size).sum::<u64>()
    }

    /// The listing `kplay bundle list` prints: requested packages first (by feature, with the
    /// version in the bundle), then counts, files and images.
    pub fn render(&self, all_packages: bool) -> String {
        let mut s = String::new();
        let d = &self.debian;
        let _ = writeln!(
            s,
            "kplay bundle (format {}, kplay {}, built {})",
            self.format, self.kplay_version, self.created
        );
        let pkg_size: u64 = d.packages.iter().map(|p| p.size).sum();
        let _ = writeln!(
            s,
            "\nDEBIAN {} {} (debian/, suite {}, signed by {}): {} packages, {}",
            d.release,
            d.architecture,
            d.suite,
            d.signing_key,
            d.packages.len(),
            human(pkg_size)
        );
        let by_name: BTreeMap<&str, &PackageEntry> =
            d.packages.iter().map(|p| (p.name.as_str(), p)).collect();
        for (feature, pkgs) in &d.requested {
            let _ = writeln!(s, "  {feature}:");
            for p in pkgs {
                match by_name.get(p.as_str()) {
                    Some(e) => {
                        let _ = writeln!(s, "    {:<32} {}", p, e.version);
                    }
                    None => {
                        let _ = writeln!(s, "    {p:<32} MISSING");
                    }
                }
            }
        }
        if all_packages {
            let _ = writeln!(s, "  all packages:");
            for p in &d.packages {
                let _ = writeln!(
                    s,
                    "    {:<32} {:<28} {:>10}  sha256:{}",
                    p.name,
                    p.version,
                    human(p.size),
                    p.sha256
                );
            }
        }
        let _ = writeln!(s, "\nFILES (files/): {}", self.files.len());
        for f in &self.files {
            let _ = writeln!(
                s,
                "  {:<20} {:<12} {:>10}  {}  sha256:{}",
                f.name,
                f.version.as_deref().unwrap_or("-"),
                human(f.size),
                f.path,
                f.sha256
            );
        }
        let _ = writeln!(s, "\nIMAGES (images/): {}", self.images.len());
        for i in &self.images {
            let _ = writeln!(
                s,
                "  {:<20} {:<56} {:>10}  {}",
                i.name,
                i.reference,
                human(i.size),
                i.digest
            );
        }
        let _ = writeln!(s, "\nTOTAL {}", human(self.total_size()));
        s
    }
}

/// Sizes as people read them (1024-based, one decimal).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(100 * 1024 * 1024), "100.0 MiB");
    }

    #[test]
    fn missing_and_foreign_manifests_are_explained() {
        let tmp = tempfile::tempdir().unwrap();
        let e = Manifest::read(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("not a kplay bundle"), "{e}");
        std::fs::write(tmp.path().join(MANIFEST), "{\"format\": 1}").unwrap();
        let e = Manifest::read(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("invalid manifest"), "{e}");
    }
}
