//! Writing the bundle's signed apt repository (a flat `pool/`, one suite, one component):
//!
//! ```text
//! debian/kplay-archive-keyring.gpg
//! debian/pool/main/<name>_<version>_<arch>.deb
//! debian/dists/<suite>/{Release,InRelease,Release.gpg}
//! debian/dists/<suite>/<component>/binary-<arch>/{Packages,Packages.gz}
//! ```
//!
//! Package stanzas are each `.deb`'s own control file (read with `dpkg-deb`) plus `Filename`,
//! `Size`, `MD5sum` and `SHA256` computed here; `Release` lists the indexes' hashes.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest as _;

use crate::apt::Deb;
use crate::sign::{ArchiveKey, SignError, KEYRING_NAME};

/// Errors from writing the repository.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Io(#[from] crate::IoFailure),
    #[error("{path}: not a Debian package ({message})")]
    BadDeb { path: PathBuf, message: String },
    #[error(transparent)]
    Sign(#[from] SignError),
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RepoError {
    crate::io_error(action, path)
}

/// What the repository holds, for the manifest.
#[derive(Debug, Clone)]
pub struct RepoPackage {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// Path inside `debian/`.
    pub filename: String,
    pub size: u64,
    pub sha256: String,
}

/// Where and how the repository is written.
pub struct RepoLayout<'a> {
    /// The `debian/` directory of the bundle.
    pub dir: &'a Path,
    pub suite: &'a str,
    pub component: &'a str,
    pub arch: &'a str,
    /// The release the packages come from, recorded in `Release`'s description.
    pub release: &'a str,
}

/// Writes the repository for `debs`, signed with `key`. Existing pool files are reused when
/// their size matches (names carry the version, so same name means same package).
pub fn write(
    layout: &RepoLayout<'_>,
    debs: &[Deb],
    key: &ArchiveKey,
) -> Result<Vec<RepoPackage>, RepoError> {
    let pool = layout.dir.join("pool").join(layout.component);
    fs::create_dir_all(&pool).map_err(io("creating", &pool))?;
    let mut debs: Vec<&Deb> = debs.iter().collect();
    debs.sort_by(|a, b| (&a.name, &a.version, &a.arch).cmp(&(&b.name, &b.version, &b.arch)));
    debs.dedup_by(|a, b| a.path == b.path);

    let mut packages = String::new();
    let mut out = Vec::new();
    for deb in debs {
        let file = deb.file_name();
        let dest = pool.join(&file);
        place(&deb.path, &dest)?;
        let (control, size, md5, sha256) = metadata(&deb.path, &dest)?;
        let filename = format!("pool/{}/{file}", layout.component);
        packages.push_str(control.trim_end());
        packages.push_str(&format!(
            "\nFilename: {filename}\nSize: {size}\nMD5sum: {md5}\nSHA256: {sha256}\n\n"
        ));
        out.push(RepoPackage {
            name: deb.name.clone(),
            version: deb.version.clone(),
            arch: deb.arch.clone(),
            filename,
            size,
            sha256,
        });
    }

    // Remove pool files of older builds into the same directory: the pool is exactly the list.
    let keep: std::collections::BTreeSet<String> = out
        .iter()
        .filter_map(|p| p.filename.rsplit('/').next().map(str::to_string))
        .collect();
    for e in fs::read_dir(&pool).map_err(io("reading", &pool))?.flatten() {
        if !keep.contains(&e.file_name().to_string_lossy().into_owned()) {
            let _ = fs::remove_file(e.path());
        }
    }

    let dists = layout.dir.join("dists").join(layout.suite);
    let bin_rel = format!("{}/binary-{}", layout.component, layout.arch);
    let bin = dists.join(&bin_rel);
    fs::create_dir_all(&bin).map_err(io("creating", &bin))?;
    let gz = gzip(packages.as_bytes());
    write_atomic(&bin.join("Packages"), packages.as_bytes())?;
    write_atomic(&bin.join("Packages.gz"), &gz)?;

    let indexes = [
        (format!("{bin_rel}/Packages"), packages.as_bytes()),
        (format!("{bin_rel}/Packages.gz"), gz.as_slice()),
    ];
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S UTC");
    let mut release = format!(
        "Origin: kplay\nLabel: kplay offline bundle\nSuite: {suite}\nCodename: {suite}\nDate: {date}\n\
Architectures: {arch}\nComponents: {component}\nDescription: kplay offline bundle: Debian {rel} packages and their dependencies\n",
        suite = layout.suite,
        arch = layout.arch,
        component = layout.component,
        rel = layout.release,
    );
    release.push_str("MD5Sum:\n");
    for (name, data) in &indexes {
        release.push_str(&format!(
            " {:x} {} {name}\n",
            md5::compute(data),
            data.len()
        ));
    }
    release.push_str("SHA256:\n");
    for (name, data) in &indexes {
        release.push_str(&format!(
            " {} {} {name}\n",
            hex::encode(sha2::Sha256::digest(data)),
            data.len()
        ));
    }
    write_atomic(&dists.join("Release"), release.as_bytes())?;
    write_atomic(
        &dists.join("Release.gpg"),
        key.detached(release.as_bytes())?.as_bytes(),
    )?;
    write_atomic(
        &dists.join("InRelease"),
        key.clearsign(&release)?.as_bytes(),
    )?;
    write_atomic(&layout.dir.join(KEYRING_NAME), &key.public_keyring()?)?;
    Ok(out)
}

/// Control file and hashes of a `.deb`, remembered beside the download cache
/// (`<cache>/.kplay-meta/<file>`, keyed by size and mtime) so a rebuild reads no package twice.
fn metadata(cached: &Path, pooled: &Path) -> Result<(String, u64, String, String), RepoError> {
    use std::os::unix::fs::MetadataExt;
    let meta_dir = cached
        .parent()
        .unwrap_or(Path::new("."))
        .join(".kplay-meta");
    let name = cached
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sidecar = meta_dir.join(&name);
    let st = fs::metadata(pooled).map_err(io("reading", pooled))?;
    let key = format!("{} {}.{}", st.len(), st.mtime(), st.mtime_nsec());
    if let Ok(text) = fs::read_to_string(&sidecar) {
        let mut parts = text.splitn(4, '\n');
        if let (Some(k), Some(md5), Some(sha), Some(control)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            if k == key && control.starts_with("Package:") {
                return Ok((
                    control.to_string(),
                    st.len(),
                    md5.to_string(),
                    sha.to_string(),
                ));
            }
        }
    }
    let control = control_of(pooled)?;
    let (size, md5, sha256) = hashes(pooled)?;
    if fs::create_dir_all(&meta_dir).is_ok() {
        // A cache only: failing to write it costs time on the next build, nothing else.
        let _ = write_atomic(
            &sidecar,
            format!("{key}\n{md5}\n{sha256}\n{control}").as_bytes(),
        );
    }
    Ok((control, size, md5, sha256))
}

/// Hard-links the cached `.deb` into the pool (copies across file systems).
fn place(src: &Path, dest: &Path) -> Result<(), RepoError> {
    if let (Ok(a), Ok(b)) = (fs::metadata(src), fs::metadata(dest)) {
        if a.len() == b.len() {
            return Ok(());
        }
    }
    let _ = fs::remove_file(dest);
    if fs::hard_link(src, dest).is_ok() {
        return Ok(());
    }
    let tmp = dest.with_extension("deb.partial");
    fs::copy(src, &tmp).map_err(io("copying into", &tmp))?;
    fs::rename(&tmp, dest).map_err(io("renaming into place", dest))
}

/// The control file of a `.deb`, as `dpkg-deb --field` prints it.
fn control_of(deb: &Path) -> Result<String, RepoError> {
    let out = Command::new("dpkg-deb")
        .arg("--field")
        .arg(deb)
        .output()
        .map_err(io("running dpkg-deb on", deb))?;
    if !out.status.success() {
        return Err(RepoError::BadDeb {
            path: deb.to_path_buf(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !text.starts_with("Package:") {
        return Err(RepoError::BadDeb {
            path: deb.to_path_buf(),
            message: "control file does not start with Package:".into(),
        });
    }
    Ok(text)
}

/// (size, md5 hex, sha256 hex) of a file, read once.
pub fn hashes(path: &Path) -> Result<(u64, String, String), RepoError> {
    let mut f = fs::File::open(path).map_err(io("reading", path))?;
    let mut md5 = md5::Context::new();
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io("reading", path))?;
        if n == 0 {
            break;
        }
        md5.consume(&buf[..n]);
        sha.update(&buf[..n]);
        size += n as u64;
    }
    Ok((
        size,
        format!("{:x}", md5.finalize()),
        hex::encode(sha.finalize()),
    ))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// Temp file beside the target, then rename: a half-written index is never served.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), RepoError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(io("creating a temp file in", dir))?;
    tmp.write_all(data).map_err(io("writing", path))?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
        .map_err(io("chmod", path))?;
    tmp.persist(path)
        .map_err(|e| io("renaming into place", path)(e.error))?;
    Ok(())
}
