//! `kplay bundle build`: the phases, each timed and reported as it goes.
//!
//! ```text
//! DIR/manifest.json                 what is in it (written last)
//! DIR/debian/                       signed apt repository (+ kplay-archive-keyring.gpg)
//! DIR/files/HOST/PATH               offline_files
//! DIR/images/                       OCI image layout (index.json names repo:tag)
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::apt::{Apt, AptError, Deb};
use crate::files::{self, FileError};
use crate::images::{self, ImageError};
use crate::manifest::{self, DebianRepo, FileEntry, ImageEntry, Manifest, PackageEntry};
use crate::oci::{OciDir, OciError};
use crate::repo::{self, RepoError, RepoLayout};
use crate::sign::{ArchiveKey, SignError};
use crate::vars::{self, BundleVars, VarsError, VarsSource};

/// Errors of a build; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Vars(#[from] VarsError),
    #[error(transparent)]
    Apt(#[from] AptError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Oci(#[from] OciError),
    #[error("offline_images.{image}: build.type {kind:?} is unknown (known: debs, kubernetes)")]
    UnknownBuild { image: String, kind: String },
    #[error("{0}")]
    Kubernetes(String),
    #[error(transparent)]
    Io(#[from] crate::IoFailure),
}

/// Where `--kubernetes-from` writes and caches (see [`kubernetes`]).
pub struct KubernetesContext<'a> {
    /// `/var/cache/kplay` (the Kubernetes build keeps its work in `kubernetes/<hash of inputs>`).
    pub cache: &'a Path,
    /// The bundle's image layout: images are added under each spec's `reference()`.
    pub images: &'a OciDir,
    /// The bundle's `files/`: binaries go to the HOST/PATH of their `offline_files` URL.
    pub files_dir: &'a Path,
    /// Progress lines for the user.
    pub progress: &'a dyn Fn(&str),
}

/// `kplay bundle build --kubernetes-from debian-source`: Kubernetes built from Debian 12's source
/// package by [`crate::kubernetes`]. It receives the `offline_images` entries of `build.type:
/// kubernetes`, writes them into `ctx.images` named by `spec.reference()` (the build lists them
/// in the manifest from there) and the node binaries into `ctx.files_dir`.
fn kubernetes(
    source: &str,
    ctx: &KubernetesContext<'_>,
    specs: &[&vars::ImageSpec],
) -> Result<(), BuildError> {
    crate::kubernetes::build(source, ctx, specs)
        .map(|lines| {
            for l in lines {
                (ctx.progress)(&format!("      {l}"));
            }
        })
        .map_err(BuildError::Kubernetes)
}

/// What a build is asked to do.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub output: PathBuf,
    pub vars: VarsSource,
    /// `/var/cache/kplay`: apt state, .debs, downloaded files.
    pub cache: PathBuf,
    /// The repository signing key (created when missing).
    pub signing_key: PathBuf,
    /// Download the package lists again even when fresh.
    pub refresh: bool,
    /// `--kubernetes-from SOURCE`. None: `debian-source` when offline_images lists images of
    /// build type `kubernetes` (the only way kplay makes them), else no Kubernetes.
    pub kubernetes_from: Option<String>,
}

/// Where Kubernetes comes from when offline_images lists its images and no source is named.
pub const DEFAULT_KUBERNETES_FROM: &str = "debian-source";

/// One finished phase.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: &'static str,
    pub elapsed: Duration,
    pub summary: String,
}

/// Builds the bundle. `progress` gets a line whenever something starts or finishes.
pub fn build(
    opts: &BuildOptions,
    progress: &dyn Fn(&str),
) -> Result<(Manifest, Vec<Phase>), BuildError> {
    let mut phases = Vec::new();
    let total = 6;
    let mut n = 0;
    let mut phase = |name: &'static str, progress: &dyn Fn(&str)| {
        n += 1;
        progress(&format!("[{n}/{total}] {name} ..."));
        (name, Instant::now())
    };
    let done = |phases: &mut Vec<Phase>,
                (name, start): (&'static str, Instant),
                summary: String,
                progress: &dyn Fn(&str)| {
        let elapsed = start.elapsed();
        progress(&format!(
            "      {name}: {summary} ({:.1} s)",
            elapsed.as_secs_f64()
        ));
        phases.push(Phase {
            name,
            elapsed,
            summary,
        });
    };
    let io = |action: &'static str, path: &Path| crate::io_error::<BuildError>(action, path);

    let p = phase("variables", progress);
    let v: BundleVars = vars::load(&opts.vars)?;
    for img in &v.images {
        match img.build_type() {
            "debs" | "kubernetes" => {}
            other => {
                return Err(BuildError::UnknownBuild {
                    image: img.name.clone(),
                    kind: other.to_string(),
                })
            }
        }
    }
    let image_pkgs: Vec<String> = v
        .images
        .iter()
        .filter(|i| i.build_type() == "debs")
        .map(images::packages_of)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();
    done(
        &mut phases,
        p,
        format!(
            "{} packages in {} features, {} files, {} images, Debian {} {}",
            v.all_packages().len(),
            v.packages.len(),
            v.files.len(),
            v.images.len(),
            v.release,
            v.architecture
        ),
        progress,
    );

    std::fs::create_dir_all(&opts.output).map_err(io("creating", &opts.output))?;
    // A manifest says "complete"; until this build writes a new one there is none.
    let manifest_path = opts.output.join(manifest::MANIFEST);
    if manifest_path.exists() {
        std::fs::remove_file(&manifest_path).map_err(io("removing", &manifest_path))?;
    }

    let p = phase("package lists", progress);
    let apt = Apt::new(&opts.cache, &v.release, &v.architecture, &v.sources)?;
    let updated = apt.update(opts.refresh)?;
    done(
        &mut phases,
        p,
        if updated {
            "downloaded".into()
        } else {
            "reused (younger than 6 h; --refresh to update)".into()
        },
        progress,
    );

    let p = phase("packages", progress);
    let listed_in = |pkg: &str| {
        let f = v.features_of(pkg);
        if f.is_empty() {
            "offline_images".to_string()
        } else {
            f.join(", ")
        }
    };
    let requested = v.all_packages();
    let debs = apt.fetch(&requested, &listed_in, progress)?;
    let img_debs: Vec<Deb> = if image_pkgs.is_empty() {
        Vec::new()
    } else {
        apt.fetch(&image_pkgs, &listed_in, progress)?
    };
    let key = ArchiveKey::load_or_create(&opts.signing_key)?;
    let debian_dir = opts.output.join("debian");
    let pkgs = repo::write(
        &RepoLayout {
            dir: &debian_dir,
            suite: &v.suite,
            component: &v.component,
            arch: &v.architecture,
            release: &v.release,
        },
        &debs,
        &key,
    )?;
    let pkg_size: u64 = pkgs.iter().map(|p| p.size).sum();
    done(
        &mut phases,
        p,
        format!(
            "{} requested, {} with dependencies, {}, signed by {}",
            requested.len(),
            pkgs.len(),
            manifest::human(pkg_size),
            key.fingerprint()
        ),
        progress,
    );

    let p = phase("files", progress);
    let files_dir = opts.output.join("files");
    std::fs::create_dir_all(&files_dir).map_err(io("creating", &files_dir))?;
    let mut file_entries = Vec::new();
    for spec in &v.files {
        progress(&format!(
            "      fetching {} from {}",
            spec.name, spec.upstream
        ));
        let placed = files::fetch(spec, &opts.cache.join("files"), &files_dir)?;
        file_entries.push(FileEntry {
            name: placed.name,
            path: placed.path,
            version: placed.version,
            size: placed.size,
            sha256: placed.sha256,
            upstream: placed.upstream,
        });
    }
    let files_size: u64 = file_entries.iter().map(|f| f.size).sum();
    done(
        &mut phases,
        p,
        format!(
            "{} files, {}",
            file_entries.len(),
            manifest::human(files_size)
        ),
        progress,
    );

    let p = phase("images", progress);
    let images_dir = opts.output.join("images");
    // Rebuilt from scratch each time: the layout then holds exactly the listed images.
    if images_dir.exists() {
        std::fs::remove_dir_all(&images_dir).map_err(io("removing", &images_dir))?;
    }
    let oci = OciDir::create(&images_dir)?;
    let scratch = tempfile::Builder::new()
        .prefix(".kplay-bundle-")
        .tempdir_in(&opts.output)
        .map_err(io("creating a temp dir in", &opts.output))?;
    let mut image_entries = Vec::new();
    for spec in v.images.iter().filter(|i| i.build_type() == "debs") {
        progress(&format!("      building {}", spec.reference()));
        let w = images::build_debs_image(spec, &img_debs, &oci, scratch.path())?;
        image_entries.push(ImageEntry {
            name: spec.name.clone(),
            reference: w.reference.clone(),
            digest: w.manifest.digest.to_string(),
            size: w.size(),
            build: format!("debs: {}", images::packages_of(spec)?.join(" ")),
        });
    }
    let kubernetes_from = opts.kubernetes_from.clone().or_else(|| {
        v.images
            .iter()
            .any(|i| i.build_type() == "kubernetes")
            .then(|| DEFAULT_KUBERNETES_FROM.to_string())
    });
    if let Some(source) = &kubernetes_from {
        let specs: Vec<&vars::ImageSpec> = v
            .images
            .iter()
            .filter(|i| i.build_type() == "kubernetes")
            .collect();
        let ctx = KubernetesContext {
            cache: &opts.cache,
            images: &oci,
            files_dir: &files_dir,
            progress,
        };
        kubernetes(source, &ctx, &specs)?;
        for (reference, d) in oci.images()? {
            if let Some(spec) = specs.iter().find(|s| s.reference() == reference) {
                let m = oci.manifest(&d.digest)?;
                image_entries.push(ImageEntry {
                    name: spec.name.clone(),
                    reference,
                    digest: d.digest.to_string(),
                    size: m.config.size + m.layers.iter().map(|l| l.size).sum::<u64>(),
                    build: format!("kubernetes: {source}"),
                });
            }
        }
    }
    let img_size: u64 = image_entries.iter().map(|i| i.size).sum();
    done(
        &mut phases,
        p,
        format!(
            "{} images, {}",
            image_entries.len(),
            manifest::human(img_size)
        ),
        progress,
    );

    let p = phase("manifest", progress);
    let m = Manifest {
        format: manifest::FORMAT,
        kplay_version: env!("CARGO_PKG_VERSION").to_string(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        debian: DebianRepo {
            release: v.release.clone(),
            architecture: v.architecture.clone(),
            suite: v.suite.clone(),
            component: v.component.clone(),
            signing_key: key.fingerprint(),
            keyring: format!("debian/{}", crate::sign::KEYRING_NAME),
            requested: v.packages.clone(),
            packages: pkgs
                .into_iter()
                .map(|p| PackageEntry {
                    name: p.name,
                    version: p.version,
                    architecture: p.arch,
                    filename: p.filename,
                    size: p.size,
                    sha256: p.sha256,
                })
                .collect(),
        },
        files: file_entries,
        images: image_entries,
    };
    repo::write_atomic(&manifest_path, m.to_json().as_bytes())?;
    done(
        &mut phases,
        p,
        format!("{}", manifest_path.display()),
        progress,
    );
    Ok((m, phases))
}
