//! `files/`: every `offline_files` entry fetched from upstream, checked against its sha256, and
//! placed at `files/HOST/PATH` (kubespray's offline layout), so a node downloads
//! `{{ files_repo }}/HOST/PATH` from the bootstrap node.
//!
//! Downloads are cached by sha256 in `/var/cache/kplay/files/`; a file whose content does not
//! match is never kept, in the cache or in the bundle.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::vars::FileSpec;

/// Errors fetching a file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Io(#[from] crate::IoFailure),
    #[error("offline_files.{name}: downloading {url}: {message}")]
    Download {
        name: String,
        url: String,
        message: String,
    },
    #[error("offline_files.{name}: {url} has sha256 {actual}, but group_vars says {expected}; fix offline_files.{name}.sha256 (or the URL)")]
    Mismatch {
        name: String,
        url: String,
        expected: String,
        actual: String,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FileError {
    crate::io_error(action, path)
}

/// One file as placed in the bundle.
#[derive(Debug, Clone)]
pub struct PlacedFile {
    pub name: String,
    /// Path under `files/` (HOST/PATH).
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub version: Option<String>,
    pub upstream: String,
    /// True when it came from the cache, not the network.
    pub cached: bool,
}

/// Fetches `spec` (or takes it from `cache`) and places it under `files_dir`.
pub fn fetch(spec: &FileSpec, cache: &Path, files_dir: &Path) -> Result<PlacedFile, FileError> {
    fs::create_dir_all(cache).map_err(io("creating", cache))?;
    let cached_path = cache.join(&spec.sha256);
    let cached = cached_path.is_file() && sha256_of(&cached_path)? == spec.sha256;
    if !cached {
        download(spec, cache, &cached_path)?;
    }
    let dest = files_dir.join(&spec.url_path);
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(io("creating", dir))?;
    }
    let _ = fs::remove_file(&dest);
    if fs::hard_link(&cached_path, &dest).is_err() {
        let tmp = dest.with_extension("partial");
        fs::copy(&cached_path, &tmp).map_err(io("copying into", &tmp))?;
        fs::rename(&tmp, &dest).map_err(io("renaming into place", &dest))?;
    }
    let size = fs::metadata(&dest).map_err(io("reading", &dest))?.len();
    Ok(PlacedFile {
        name: spec.name.clone(),
        path: spec.url_path.clone(),
        size,
        sha256: spec.sha256.clone(),
        version: spec.version.clone(),
        upstream: spec.upstream.clone(),
        cached,
    })
}

fn download(spec: &FileSpec, cache: &Path, dest: &Path) -> Result<(), FileError> {
    let fail = |message: String| FileError::Download {
        name: spec.name.clone(),
        url: spec.upstream.clone(),
        message,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(std::time::Duration::from_secs(30)))
        .timeout_recv_body(Some(std::time::Duration::from_secs(600)))
        .build()
        .into();
    let mut resp = agent
        .get(&spec.upstream)
        .call()
        .map_err(|e| fail(e.to_string()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempfile_in(cache)
        .map_err(io("creating a temp file in", cache))?;
    let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(io("writing", tmp.path()))?;
    }
    let actual = hex::encode(hasher.finalize());
    if actual != spec.sha256 {
        return Err(FileError::Mismatch {
            name: spec.name.clone(),
            url: spec.upstream.clone(),
            expected: spec.sha256.clone(),
            actual,
        });
    }
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
        .map_err(io("chmod", tmp.path()))?;
    tmp.persist(dest)
        .map_err(|e| io("renaming into place", dest)(e.error))?;
    Ok(())
}

fn sha256_of(path: &Path) -> Result<String, FileError> {
    let mut f = fs::File::open(path).map_err(io("reading", path))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(io("reading", path))?;
    Ok(hex::encode(h.finalize()))
}
