//! Writing OCI images without docker: an [image layout] directory (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) and the `oci-archive` tar of one (what `ctr images import` and
//! `skopeo copy oci-archive:…` read).
//!
//! Images are reproducible: every layer entry is owned by root (unless [`Layer::chown`] says
//! otherwise), carries one fixed mtime, is written in path order, and the gzip header has no
//! time or name; JSON maps are ordered. The same inputs therefore give the same digests, so a
//! rebuilt bundle pushes nothing new and a cache keyed by inputs stays valid.
//!
//! ```no_run
//! use kplay_bundle::oci::{Image, Layer, OciDir};
//! # fn main() -> Result<(), kplay_bundle::oci::OciError> {
//! let mut layer = Layer::new();
//! layer.file("/bin/busybox", "/bin/busybox".as_ref(), 0o755)?;
//! layer.symlink("/bin/sh", "busybox")?;
//! let mut image = Image::new();
//! image.entrypoint = vec!["/bin/busybox".into()];
//! image.cmd = vec!["httpd".into(), "-f".into(), "-p".into(), "8080".into()];
//! image.layers.push(layer);
//! let dir = OciDir::create("out/images".as_ref())?;
//! let written = dir.write_image(&image, "registry.kplay.local:5000/smoke:1.0")?;
//! println!("{} {}", written.reference, written.manifest.digest);
//! dir.export_archive(&["registry.kplay.local:5000/smoke:1.0"], "smoke.tar".as_ref())?;
//! # Ok(()) }
//! ```
//!
//! [image layout]: https://github.com/opencontainers/image-spec/blob/main/image-layout.md

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Media type of an image manifest.
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an image index (`index.json`, multi-platform lists).
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an image configuration.
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of a gzip-compressed layer (what this module writes).
pub const MEDIA_TYPE_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker's manifest media type, which registries may still serve for pulled images.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Annotation holding the reference (`registry/repo:tag`) of an image in `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation for the full image name; `ctr images import` names the image from it.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The mtime every layer entry gets unless [`Layer::with_mtime`] says otherwise
/// (2000-01-01T00:00:00Z: after the epoch, so no tool takes it for "unset").
pub const DEFAULT_MTIME: u64 = 946_684_800;

/// Errors from writing or reading an image layout.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error(transparent)]
    Io(#[from] crate::IoFailure),
    #[error("layer path {path:?}: {reason}")]
    BadPath { path: String, reason: &'static str },
    #[error("{path}: not an OCI image layout ({reason})")]
    NotLayout { path: PathBuf, reason: String },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("no image {reference:?} in {layout} (it has: {available})")]
    NoSuchImage {
        reference: String,
        layout: PathBuf,
        available: String,
    },
    #[error("invalid digest {0:?} (expected sha256:<64 hex digits>)")]
    BadDigest(String),
    #[error("blob {digest} in {path}: content hashes to {actual}")]
    DigestMismatch {
        digest: Digest,
        actual: Digest,
        path: PathBuf,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> OciError {
    crate::io_error(action, path)
}

/// A content digest, always sha256 (`sha256:<64 lowercase hex>`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// Parses `sha256:<hex>`; other algorithms are refused (nothing here writes them).
    pub fn parse(text: &str) -> Result<Digest, OciError> {
        match text.strip_prefix("sha256:") {
            Some(h)
                if h.len() == 64
                    && h.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                Ok(Digest(text.to_string()))
            }
            _ => Err(OciError::BadDigest(text.to_string())),
        }
    }

    /// The hex part, which is also the blob's file name under `blobs/sha256/`.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The full `sha256:<hex>` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_hasher(h: Sha256) -> Digest {
        Digest(format!("sha256:{}", hex::encode(h.finalize())))
    }
}

impl TryFrom<String> for Digest {
    type Error = OciError;
    fn try_from(s: String) -> Result<Self, OciError> {
        Digest::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// The platform an image runs on (GOOS/GOARCH names, as the OCI spec asks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform of the machine running kplay (images are built from its own files).
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            architecture: architecture.to_string(),
            os: "linux".to_string(),
            variant: None,
        }
    }
}

/// A reference to a blob: what manifests and indexes are made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image manifest (OCI, or Docker's v2 schema 2 which has the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index: `index.json` of a layout, or a multi-platform list in a registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The execution part of an image configuration (field names as the spec spells them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// The layers' uncompressed digests, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

/// One entry of an image's history (one per layer here, saying what made it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// An image configuration blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: RunConfig,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

/// What goes into one layer: paths in the image (absolute, normalised) and where their content
/// comes from. Content is read from disk only when the image is written.
#[derive(Debug, Clone)]
pub struct Layer {
    entries: BTreeMap<String, Entry>,
    mtime: u64,
    comment: Option<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    kind: EntryKind,
    mode: u32,
    uid: u64,
    gid: u64,
    /// Made only because a deeper path needed it; an explicit `dir` replaces it.
    implicit: bool,
}

#[derive(Debug, Clone)]
enum EntryKind {
    Dir,
    File(PathBuf),
    Bytes(Vec<u8>),
    Symlink(String),
}

impl Default for Layer {
    fn default() -> Self {
        Layer::new()
    }
}

impl Layer {
    /// An empty layer with [`DEFAULT_MTIME`].
    pub fn new() -> Layer {
        Layer {
            entries: BTreeMap::new(),
            mtime: DEFAULT_MTIME,
            comment: None,
        }
    }

    /// Uses `mtime` (seconds since the epoch) for every entry, e.g. a package's release date.
    pub fn with_mtime(mut self, mtime: u64) -> Layer {
        self.mtime = mtime;
        self
    }

    /// Says what made this layer; recorded in the image history (`created_by`).
    pub fn with_comment(mut self, comment: impl Into<String>) -> Layer {
        self.comment = Some(comment.into());
        self
    }

    /// A directory at `path` with `mode`.
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<&mut Layer, OciError> {
        let key = self.insert(path, EntryKind::Dir, mode)?;
        if let Some(e) = self.entries.get_mut(&key) {
            e.implicit = false;
        }
        Ok(self)
    }

    /// A regular file at `path` whose content is the file `source` on disk, with `mode`.
    /// Following a symlink at `source` is deliberate: the image gets the content.
    pub fn file(&mut self, path: &str, source: &Path, mode: u32) -> Result<&mut Layer, OciError> {
        let meta = fs::metadata(source).map_err(io_err("reading", source))?;
        if !meta.is_file() {
            return Err(OciError::Io(crate::IoFailure {
                action: "adding to a layer",
                path: source.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            }));
        }
        self.insert(path, EntryKind::File(source.to_path_buf()), mode)?;
        Ok(self)
    }

    /// A regular file at `path` holding `data`, with `mode` (generated configuration, scripts).
    pub fn bytes(
        &mut self,
        path: &str,
        data: impl Into<Vec<u8>>,
        mode: u32,
    ) -> Result<&mut Layer, OciError> {
        self.insert(path, EntryKind::Bytes(data.into()), mode)?;
        Ok(self)
    }

    /// A symbolic link at `path` pointing to `target` (kept as written, relative or absolute).
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<&mut Layer, OciError> {
        self.insert(path, EntryKind::Symlink(target.to_string()), 0o777)?;
        Ok(self)
    }

    /// Everything under the directory `source` placed under `path` (e.g. a tree unpacked from
    /// Debian packages with `dpkg-deb -x`). Modes come from disk, symlinks stay symlinks,
    /// owners and mtimes do not (root and the layer's mtime, for reproducibility). Other file
    /// types (devices, sockets, fifos) are refused.
    pub fn tree(&mut self, path: &str, source: &Path) -> Result<&mut Layer, OciError> {
        let base = normalise(path)?;
        let meta = fs::symlink_metadata(source).map_err(io_err("reading", source))?;
        if !meta.is_dir() {
            return Err(OciError::Io(crate::IoFailure {
                action: "adding to a layer",
                path: source.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a directory"),
            }));
        }
        if !base.is_empty() {
            self.dir(&base, meta.permissions().mode() & 0o7777)?;
        }
        self.add_tree(&base, source)?;
        Ok(self)
    }

    fn add_tree(&mut self, base: &str, dir: &Path) -> Result<(), OciError> {
        let rd = fs::read_dir(dir).map_err(io_err("reading", dir))?;
        for entry in rd {
            let entry = entry.map_err(io_err("reading", dir))?;
            let source = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(OciError::BadPath {
                    path: source.display().to_string(),
                    reason: "file name is not UTF-8",
                });
            };
            let dest = if base.is_empty() {
                name.to_string()
            } else {
                format!("{base}/{name}")
            };
            let meta = fs::symlink_metadata(&source).map_err(io_err("reading", &source))?;
            let mode = meta.permissions().mode() & 0o7777;
            let ft = meta.file_type();
            if ft.is_symlink() {
                let target = fs::read_link(&source).map_err(io_err("reading", &source))?;
                let Some(target) = target.to_str() else {
                    return Err(OciError::BadPath {
                        path: source.display().to_string(),
                        reason: "link target is not UTF-8",
                    });
                };
                self.symlink(&dest, target)?;
            } else if ft.is_dir() {
                self.dir(&dest, mode)?;
                self.add_tree(&dest, &source)?;
            } else if ft.is_file() {
                self.insert(&dest, EntryKind::File(source.clone()), mode)?;
            } else {
                return Err(OciError::Io(crate::IoFailure {
                    action: "adding to a layer",
                    path: source,
                    source: io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "only files, directories and symlinks go into a layer",
                    ),
                }));
            }
        }
        Ok(())
    }

    /// Sets the owner of an entry already added (everything is root's by default).
    pub fn chown(&mut self, path: &str, uid: u64, gid: u64) -> Result<&mut Layer, OciError> {
        let key = normalise(path)?;
        let entry = self.entries.get_mut(&key).ok_or(OciError::BadPath {
            path: path.to_string(),
            reason: "not in the layer",
        })?;
        entry.uid = uid;
        entry.gid = gid;
        Ok(self)
    }

    /// The paths in this layer (relative to the image root, parents included), in tar order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn insert(&mut self, path: &str, kind: EntryKind, mode: u32) -> Result<String, OciError> {
        let key = normalise(path)?;
        if key.is_empty() {
            return Err(OciError::BadPath {
                path: path.to_string(),
                reason: "the image root itself cannot be an entry",
            });
        }
        // Every parent must be a directory: as an implicit 0755 one, or as one already added.
        let mut parent = String::new();
        for part in key
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map_or(&[][..], |(_, p)| p)
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            match self.entries.get(&parent) {
                Some(e) if matches!(e.kind, EntryKind::Dir) => {}
                Some(_) => {
                    return Err(OciError::BadPath {
                        path: path.to_string(),
                        reason: "a parent is already a file or symlink in this layer",
                    })
                }
                None => {
                    self.entries.insert(
                        parent.clone(),
                        Entry {
                            kind: EntryKind::Dir,
                            mode: 0o755,
                            uid: 0,
                            gid: 0,
                            implicit: true,
                        },
                    );
                }
            }
        }
        if let Some(old) = self.entries.get(&key) {
            let both_dirs = matches!(old.kind, EntryKind::Dir) && matches!(kind, EntryKind::Dir);
            if !both_dirs && !old.implicit {
                return Err(OciError::BadPath {
                    path: path.to_string(),
                    reason: "added twice to the same layer",
                });
            }
            if !matches!(kind, EntryKind::Dir) && self.has_children(&key) {
                return Err(OciError::BadPath {
                    path: path.to_string(),
                    reason: "already a directory with entries in this layer",
                });
            }
        }
        self.entries.insert(
            key.clone(),
            Entry {
                kind,
                mode: mode & 0o7777,
                uid: 0,
                gid: 0,
                implicit: false,
            },
        );
        Ok(key)
    }

    fn has_children(&self, key: &str) -> bool {
        let prefix = format!("{key}/");
        self.entries
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// Writes the layer as a gzip'd tar to `out`, returning (compressed digest, size, diff_id).
    fn write_to<W: Write>(&self, out: W) -> Result<(Digest, u64, Digest, W), OciError> {
        let compressed = HashWriter::new(out);
        let gz = flate2::GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(compressed, flate2::Compression::default());
        let mut tar = tar::Builder::new(HashWriter::new(gz));
        tar.mode(tar::HeaderMode::Deterministic);
        tar.follow_symlinks(false);
        let tar_err = |path: &str| {
            let path = PathBuf::from(path);
            move |source| {
                OciError::Io(crate::IoFailure {
                    action: "writing the layer entry",
                    path,
                    source,
                })
            }
        };
        for (path, e) in &self.entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(self.mtime);
            h.set_uid(e.uid);
            h.set_gid(e.gid);
            h.set_mode(e.mode);
            match &e.kind {
                EntryKind::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    tar.append_data(&mut h, format!("{path}/"), io::empty())
                        .map_err(tar_err(path))?;
                }
                EntryKind::Bytes(data) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    tar.append_data(&mut h, path, data.as_slice())
                        .map_err(tar_err(path))?;
                }
                EntryKind::File(source) => {
                    let f = fs::File::open(source).map_err(io_err("reading", source))?;
                    let size = f.metadata().map_err(io_err("reading", source))?.size();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(size);
                    let mut reader = ExactReader {
                        inner: f.take(size),
                        left: size,
                    };
                    tar.append_data(&mut h, path, &mut reader).map_err(|e| {
                        OciError::Io(crate::IoFailure {
                            action: "adding to a layer (did it change while read?)",
                            path: source.clone(),
                            source: e,
                        })
                    })?;
                }
                EntryKind::Symlink(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    tar.append_link(&mut h, path, target)
                        .map_err(tar_err(path))?;
                }
            }
        }
        let w = |source| {
            OciError::Io(crate::IoFailure {
                action: "writing",
                path: PathBuf::from("layer"),
                source,
            })
        };
        let diff = tar.into_inner().map_err(w)?;
        let diff_id = Digest::from_hasher(diff.hasher);
        let compressed = diff.inner.finish().map_err(w)?;
        let size = compressed.count;
        Ok((
            Digest::from_hasher(compressed.hasher),
            size,
            diff_id,
            compressed.inner,
        ))
    }
}

/// Refuses a file that grew or shrank between `stat` and read, which would corrupt the tar.
struct ExactReader<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while it was read",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Paths in a layer: relative to the image root, no `.`/`..`, no empty parts.
fn normalise(path: &str) -> Result<String, OciError> {
    let bad = |reason| OciError::BadPath {
        path: path.to_string(),
        reason,
    };
    let mut parts = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => parts.push(p.to_str().ok_or_else(|| bad("not UTF-8"))?),
            Component::ParentDir => return Err(bad("`..` is not allowed")),
            Component::Prefix(_) => return Err(bad("not a Unix path")),
        }
    }
    Ok(parts.join("/"))
}

/// A writer that hashes and counts what passes through.
struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W> HashWriter<W> {
    fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// An image to write: its run configuration and its layers (bottom first).
#[derive(Debug, Clone)]
pub struct Image {
    pub platform: Platform,
    /// `ENTRYPOINT`: the program and its fixed arguments.
    pub entrypoint: Vec<String>,
    /// `CMD`: default arguments, replaced by a pod's `args`.
    pub cmd: Vec<String>,
    /// `NAME=value` pairs.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    /// `uid`, `uid:gid` or a user name from the image's /etc/passwd.
    pub user: Option<String>,
    /// Ports such as `8080/tcp` (documentation for tools; nothing is opened by it).
    pub exposed_ports: Vec<String>,
    /// Config labels (`org.opencontainers.image.version` …).
    pub labels: BTreeMap<String, String>,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339 creation time. None by default: a time would make rebuilds differ.
    pub created: Option<String>,
    pub layers: Vec<Layer>,
}

impl Default for Image {
    fn default() -> Self {
        Image::new()
    }
}

impl Image {
    /// An empty image for the host's platform.
    pub fn new() -> Image {
        Image {
            platform: Platform::host(),
            entrypoint: Vec::new(),
            cmd: Vec::new(),
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            working_dir: None,
            user: None,
            exposed_ports: Vec::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            created: None,
            layers: Vec::new(),
        }
    }
}

/// What [`OciDir::write_image`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenImage {
    pub reference: String,
    /// The manifest's descriptor as recorded in `index.json` (its digest is the image's).
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

impl WrittenImage {
    /// Bytes of the image's blobs (config and compressed layers, not the manifest).
    pub fn size(&self) -> u64 {
        self.config.size + self.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

/// An OCI image layout directory that holds many images, each named in `index.json` by its full
/// reference (`registry.kplay.local:5000/smoke:1.36`). Blobs are shared between images.
#[derive(Debug, Clone)]
pub struct OciDir {
    root: PathBuf,
}

const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_JSON: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";

impl OciDir {
    /// Opens the layout at `root`, creating it (and `root`) when missing.
    pub fn create(root: &Path) -> Result<OciDir, OciError> {
        let blobs = root.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(io_err("creating", &blobs))?;
        let dir = OciDir {
            root: root.to_path_buf(),
        };
        let layout = root.join(LAYOUT_FILE);
        if !layout.exists() {
            write_atomic(&layout, LAYOUT_JSON.as_bytes())?;
        }
        if !root.join("index.json").exists() {
            dir.write_index(&Index {
                schema_version: 2,
                media_type: Some(MEDIA_TYPE_INDEX.into()),
                manifests: Vec::new(),
                annotations: BTreeMap::new(),
            })?;
        }
        Ok(dir)
    }

    /// Opens an existing layout, refusing a directory that is not one.
    pub fn open(root: &Path) -> Result<OciDir, OciError> {
        let layout = root.join(LAYOUT_FILE);
        let text = fs::read_to_string(&layout).map_err(|e| OciError::NotLayout {
            path: root.to_path_buf(),
            reason: format!("reading {LAYOUT_FILE}: {e}"),
        })?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| OciError::Json {
                path: layout.clone(),
                source,
            })?;
        if v.get("imageLayoutVersion").and_then(|v| v.as_str()) != Some("1.0.0") {
            return Err(OciError::NotLayout {
                path: root.to_path_buf(),
                reason: format!("{LAYOUT_FILE} says {text:?}, expected imageLayoutVersion 1.0.0"),
            });
        }
        Ok(OciDir {
            root: root.to_path_buf(),
        })
    }

    /// The layout's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// True when the layout holds the blob.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a blob whole and checks it against its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, OciError> {
        let path = self.blob_path(digest);
        let data = fs::read(&path).map_err(io_err("reading", &path))?;
        let actual = Digest::of(&data);
        if &actual != digest {
            return Err(OciError::DigestMismatch {
                digest: digest.clone(),
                actual,
                path,
            });
        }
        Ok(data)
    }

    /// Stores `data` as a blob (no-op when present) and returns its digest.
    pub fn write_blob(&self, data: &[u8]) -> Result<Digest, OciError> {
        let digest = Digest::of(data);
        let path = self.blob_path(&digest);
        if !path.is_file() {
            write_atomic(&path, data)?;
        }
        Ok(digest)
    }

    /// The layout's `index.json`.
    pub fn index(&self) -> Result<Index, OciError> {
        let path = self.root.join("index.json");
        let data = fs::read(&path).map_err(io_err("reading", &path))?;
        serde_json::from_slice(&data).map_err(|source| OciError::Json { path, source })
    }

    /// The images in the layout: (reference, manifest descriptor), sorted by reference.
    pub fn images(&self) -> Result<Vec<(String, Descriptor)>, OciError> {
        Ok(self
            .index()?
            .manifests
            .into_iter()
            .filter_map(|d| Some((d.annotations.get(ANNOTATION_REF_NAME)?.clone(), d)))
            .collect())
    }

    /// The manifest descriptor of the image named `reference`.
    pub fn find(&self, reference: &str) -> Result<Descriptor, OciError> {
        let images = self.images()?;
        if let Some((_, d)) = images.iter().find(|(r, _)| r == reference) {
            return Ok(d.clone());
        }
        Err(OciError::NoSuchImage {
            reference: reference.to_string(),
            layout: self.root.clone(),
            available: if images.is_empty() {
                "no images".into()
            } else {
                images
                    .iter()
                    .map(|(r, _)| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
    }

    /// Reads and parses the manifest blob `digest`.
    pub fn manifest(&self, digest: &Digest) -> Result<Manifest, OciError> {
        let data = self.read_blob(digest)?;
        serde_json::from_slice(&data).map_err(|source| OciError::Json {
            path: self.blob_path(digest),
            source,
        })
    }

    /// Reads and parses the configuration blob `digest`.
    pub fn config(&self, digest: &Digest) -> Result<ImageConfig, OciError> {
        let data = self.read_blob(digest)?;
        serde_json::from_slice(&data).map_err(|source| OciError::Json {
            path: self.blob_path(digest),
            source,
        })
    }

    /// Builds `image` into the layout and names it `reference` in `index.json`, replacing an
    /// image of the same name. Layers are streamed to disk (a Kubernetes binary is never held
    /// in memory) and hashed on the way.
    pub fn write_image(&self, image: &Image, reference: &str) -> Result<WrittenImage, OciError> {
        let mut layers = Vec::with_capacity(image.layers.len());
        let mut diff_ids = Vec::with_capacity(image.layers.len());
        let mut history = Vec::with_capacity(image.layers.len());
        let blobs = self.root.join("blobs/sha256");
        for layer in &image.layers {
            let tmp = tempfile::Builder::new()
                .prefix(".layer-")
                .tempfile_in(&blobs)
                .map_err(io_err("creating a temp file in", &blobs))?;
            let (digest, size, diff_id, out) = layer.write_to(BufWriter::new(tmp))?;
            let tmp = out.into_inner().map_err(|e| {
                OciError::Io(crate::IoFailure {
                    action: "writing",
                    path: blobs.clone(),
                    source: e.into_error(),
                })
            })?;
            let path = self.blob_path(&digest);
            if !path.is_file() {
                tmp.as_file().sync_all().map_err(io_err("syncing", &path))?;
                set_blob_mode(tmp.path())?;
                tmp.persist(&path).map_err(|e| {
                    OciError::Io(crate::IoFailure {
                        action: "renaming into place",
                        path: path.clone(),
                        source: e.error,
                    })
                })?;
            }
            layers.push(Descriptor {
                media_type: MEDIA_TYPE_LAYER_GZIP.into(),
                digest,
                size,
                platform: None,
                annotations: BTreeMap::new(),
            });
            diff_ids.push(diff_id);
            history.push(History {
                created: image.created.clone(),
                created_by: Some(
                    layer
                        .comment
                        .clone()
                        .unwrap_or_else(|| "kplay bundle".to_string()),
                ),
                comment: None,
            });
        }
        let config = ImageConfig {
            created: image.created.clone(),
            architecture: image.platform.architecture.clone(),
            os: image.platform.os.clone(),
            variant: image.platform.variant.clone(),
            config: RunConfig {
                user: image.user.clone(),
                exposed_ports: image
                    .exposed_ports
                    .iter()
                    .map(|p| (p.clone(), serde_json::Map::new()))
                    .collect(),
                env: image.env.clone(),
                entrypoint: image.entrypoint.clone(),
                cmd: image.cmd.clone(),
                working_dir: image.working_dir.clone(),
                labels: image.labels.clone(),
                stop_signal: None,
            },
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids,
            },
            history,
        };
        let config_json = to_json(&config)?;
        let config_desc = Descriptor {
            media_type: MEDIA_TYPE_CONFIG.into(),
            digest: self.write_blob(&config_json)?,
            size: config_json.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
        };
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_MANIFEST.into()),
            config: config_desc.clone(),
            layers: layers.clone(),
            annotations: image.annotations.clone(),
        };
        let manifest_json = to_json(&manifest)?;
        let mut annotations = BTreeMap::new();
        annotations.insert(ANNOTATION_REF_NAME.to_string(), reference.to_string());
        annotations.insert(
            ANNOTATION_CONTAINERD_NAME.to_string(),
            reference.to_string(),
        );
        let manifest_desc = Descriptor {
            media_type: MEDIA_TYPE_MANIFEST.into(),
            digest: self.write_blob(&manifest_json)?,
            size: manifest_json.len() as u64,
            platform: Some(image.platform.clone()),
            annotations,
        };
        let mut index = self.index()?;
        index.manifests.retain(|d| {
            d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) != Some(reference)
        });
        index.manifests.push(manifest_desc.clone());
        index.manifests.sort_by(|a, b| {
            a.annotations
                .get(ANNOTATION_REF_NAME)
                .cmp(&b.annotations.get(ANNOTATION_REF_NAME))
        });
        self.write_index(&index)?;
        Ok(WrittenImage {
            reference: reference.to_string(),
            manifest: manifest_desc,
            config: config_desc,
            layers,
        })
    }

    /// Writes an `oci-archive`: a plain tar of a layout holding only the images named in
    /// `references` (all images when empty), for `ctr images import` or `skopeo`. Every blob
    /// is checked against its digest on the way.
    pub fn export_archive(&self, references: &[&str], out: &Path) -> Result<(), OciError> {
        let mut index = self.index()?;
        if !references.is_empty() {
            for r in references {
                self.find(r)?;
            }
            index.manifests.retain(|d| {
                d.annotations
                    .get(ANNOTATION_REF_NAME)
                    .is_some_and(|r| references.contains(&r.as_str()))
            });
        }
        let mut blobs = std::collections::BTreeSet::new();
        for d in &index.manifests {
            blobs.insert(d.digest.clone());
            let m = self.manifest(&d.digest)?;
            blobs.insert(m.config.digest.clone());
            blobs.extend(m.layers.iter().map(|l| l.digest.clone()));
        }
        let dir = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".oci-archive-")
            .tempfile_in(dir)
            .map_err(io_err("creating a temp file in", dir))?;
        let werr = io_err("writing", out);
        let mut tar = tar::Builder::new(BufWriter::new(tmp));
        tar.mode(tar::HeaderMode::Deterministic);
        let put = |tar: &mut tar::Builder<_>, name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(DEFAULT_MTIME);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut h, name, data)
        };
        let index_json = to_json(&index)?;
        (|| -> io::Result<()> {
            put(&mut tar, LAYOUT_FILE, LAYOUT_JSON.as_bytes())?;
            put(&mut tar, "index.json", &index_json)?;
            for name in ["blobs/", "blobs/sha256/"] {
                let mut h = tar::Header::new_gnu();
                h.set_mtime(DEFAULT_MTIME);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_entry_type(tar::EntryType::Directory);
                tar.append_data(&mut h, name, io::empty())?;
            }
            Ok(())
        })()
        .map_err(io_err("writing", out))?;
        for digest in &blobs {
            let path = self.blob_path(digest);
            let f = fs::File::open(&path).map_err(io_err("reading", &path))?;
            let size = f.metadata().map_err(io_err("reading", &path))?.size();
            let mut reader = HashReader {
                inner: f.take(size),
                hasher: Sha256::new(),
            };
            let mut h = tar::Header::new_gnu();
            h.set_mtime(DEFAULT_MTIME);
            h.set_mode(0o644);
            h.set_size(size);
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(
                &mut h,
                format!("blobs/sha256/{}", digest.hex()),
                &mut reader,
            )
            .map_err(io_err("writing", out))?;
            let actual = Digest::from_hasher(reader.hasher);
            if &actual != digest {
                return Err(OciError::DigestMismatch {
                    digest: digest.clone(),
                    actual,
                    path,
                });
            }
        }
        let tmp = tar.into_inner().map_err(werr)?.into_inner().map_err(|e| {
            OciError::Io(crate::IoFailure {
                action: "writing",
                path: out.to_path_buf(),
                source: e.into_error(),
            })
        })?;
        tmp.persist(out).map_err(|e| {
            OciError::Io(crate::IoFailure {
                action: "renaming into place",
                path: out.to_path_buf(),
                source: e.error,
            })
        })?;
        Ok(())
    }

    fn write_index(&self, index: &Index) -> Result<(), OciError> {
        write_atomic(&self.root.join("index.json"), &to_json(index)?)
    }
}

struct HashReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, OciError> {
    serde_json::to_vec(value).map_err(|source| OciError::Json {
        path: PathBuf::from("<generated>"),
        source,
    })
}

/// Blobs are world-readable like any registry content (a temp file starts owner-only).
fn set_blob_mode(path: &Path) -> Result<(), OciError> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).map_err(io_err("chmod", path))
}

/// Writes through a temp file in the same directory and renames, so readers never see half a file.
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), OciError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(io_err("creating a temp file in", dir))?;
    tmp.write_all(data).map_err(io_err("writing", path))?;
    set_blob_mode(tmp.path())?;
    tmp.persist(path).map_err(|e| {
        OciError::Io(crate::IoFailure {
            action: "renaming into place",
            path: path.to_path_buf(),
            source: e.error,
        })
    })?;
    Ok(())
}

#[cfg(test)]
mod tests;
