//! A registry v2 client (the OCI distribution spec) to push the bundle's images to the bootstrap
//! node's registry without docker, and to pull them back (tests, checks).
//!
//! Push per image: each blob is checked with `HEAD` first (nothing is sent twice); a blob already
//! pushed to another repository in this session is mounted (`?mount=&from=`), never re-sent;
//! otherwise it is uploaded in one `PUT` when small, or in `PATCH` chunks then `PUT`. The
//! manifest goes last, so a tag never points at missing blobs. TLS is checked against a CA file
//! (the kplay CA), never switched off.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crate::oci::{
    Descriptor, Digest, Manifest, OciDir, OciError, ANNOTATION_CONTAINERD_NAME,
    ANNOTATION_REF_NAME, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST,
};

/// Blobs up to this size go up in one request; larger ones in chunks of this size.
pub const CHUNK: u64 = 8 * 1024 * 1024;

/// Errors talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{registry}: {method} {url}: {message}")]
    Http {
        registry: String,
        method: &'static str,
        url: String,
        message: String,
    },
    #[error("reading the CA certificate {path}: {message}")]
    Ca { path: PathBuf, message: String },
    #[error("image reference {0:?} is not REPOSITORY:TAG")]
    BadReference(String),
    #[error("{registry}: {what} {digest} came back as {actual}")]
    DigestMismatch {
        registry: String,
        what: &'static str,
        digest: String,
        actual: String,
    },
    #[error("{0}")]
    Oci(#[from] OciError),
    #[error(transparent)]
    Io(#[from] crate::IoFailure),
}

/// `registry.kplay.local:5000/kplay/smoke:1.35.0` split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry host (with port) when the reference names one.
    pub registry: Option<String>,
    pub repository: String,
    pub tag: String,
}

impl Reference {
    /// Parses `[REGISTRY/]REPOSITORY:TAG` (the first part is a registry when it has a `.` or
    /// `:` or is `localhost`, as docker reads it).
    pub fn parse(text: &str) -> Result<Reference, RegistryError> {
        let bad = || RegistryError::BadReference(text.to_string());
        let (name, tag) = match text.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') && !t.is_empty() => (n, t),
            _ => return Err(bad()),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first.to_string()), rest)
            }
            _ => (None, name),
        };
        let ok = |s: &str| {
            !s.is_empty()
                && s.split('/').all(|p| {
                    !p.is_empty()
                        && p.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                        })
                })
        };
        if !ok(repository) {
            return Err(bad());
        }
        Ok(Reference {
            registry,
            repository: repository.to_string(),
            tag: tag.to_string(),
        })
    }
}

/// What pushing one image did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub reference: String,
    pub repository: String,
    pub tag: String,
    pub digest: Digest,
    /// Blobs sent, mounted, and already present.
    pub uploaded: usize,
    pub mounted: usize,
    pub existing: usize,
    /// False when the tag already pointed at this manifest (nothing changed).
    pub changed: bool,
}

/// A client for one registry.
pub struct Registry {
    host: String,
    base: String,
    agent: ureq::Agent,
    /// digest → a repository that has it (for cross-repository mounts).
    seen: Mutex<HashMap<Digest, String>>,
}

impl Registry {
    /// A client for `host` (`HOST:PORT`) over HTTPS, trusting `ca_cert` (PEM) when given, else
    /// the public roots. `plain_http` is for tests against a registry without TLS.
    pub fn new(
        host: &str,
        ca_cert: Option<&Path>,
        plain_http: bool,
    ) -> Result<Registry, RegistryError> {
        let mut cfg = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_global(Some(Duration::from_secs(1800)))
            .max_redirects(0);
        if let Some(path) = ca_cert {
            let pem = fs::read(path).map_err(|e| RegistryError::Ca {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                    Ok(_) => {}
                    Err(e) => {
                        return Err(RegistryError::Ca {
                            path: path.to_path_buf(),
                            message: e.to_string(),
                        })
                    }
                }
            }
            if certs.is_empty() {
                return Err(RegistryError::Ca {
                    path: path.to_path_buf(),
                    message: "no PEM certificate in it".into(),
                });
            }
            cfg = cfg.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                    .build(),
            );
        }
        Ok(Registry {
            host: host.to_string(),
            base: format!("{}://{host}", if plain_http { "http" } else { "https" }),
            agent: cfg.build().into(),
            seen: Mutex::new(HashMap::new()),
        })
    }

    fn err(&self, method: &'static str, url: &str, message: impl Into<String>) -> RegistryError {
        RegistryError::Http {
            registry: self.host.clone(),
            method,
            url: url.to_string(),
            message: message.into(),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// The body of an error response (registries explain themselves in JSON).
    fn explain(status: u16, resp: &mut ureq::http::Response<ureq::Body>) -> String {
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        format!(
            "HTTP {status}: {}",
            body.trim().chars().take(500).collect::<String>()
        )
    }

    /// Checks the registry answers the v2 API.
    pub fn ping(&self) -> Result<(), RegistryError> {
        let url = self.url("/v2/");
        let mut resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| self.err("GET", &url, e.to_string()))?;
        match resp.status().as_u16() {
            200 => Ok(()),
            s => Err(self.err("GET", &url, Self::explain(s, &mut resp))),
        }
    }

    /// Whether the repository has the blob.
    pub fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<bool, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let mut resp = self
            .agent
            .head(&url)
            .call()
            .map_err(|e| self.err("HEAD", &url, e.to_string()))?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            s => Err(self.err("HEAD", &url, Self::explain(s, &mut resp))),
        }
    }

    /// The digest the tag points at, if it exists.
    pub fn manifest_digest(&self, repo: &str, tag: &str) -> Result<Option<Digest>, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{tag}"));
        let mut resp = self
            .agent
            .head(&url)
            .header(
                "Accept",
                format!("{MEDIA_TYPE_MANIFEST}, {MEDIA_TYPE_DOCKER_MANIFEST}, {MEDIA_TYPE_INDEX}"),
            )
            .call()
            .map_err(|e| self.err("HEAD", &url, e.to_string()))?;
        match resp.status().as_u16() {
            200 => {
                let d = resp
                    .headers()
                    .get("Docker-Content-Digest")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| self.err("HEAD", &url, "no Docker-Content-Digest header"))?;
                Ok(Some(Digest::parse(d)?))
            }
            404 => Ok(None),
            s => Err(self.err("HEAD", &url, Self::explain(s, &mut resp))),
        }
    }

    fn location(
        &self,
        method: &'static str,
        url: &str,
        resp: &ureq::http::Response<ureq::Body>,
    ) -> Result<String, RegistryError> {
        resp.headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .map(|l| self.url(l))
            .ok_or_else(|| self.err(method, url, "no Location header in the upload response"))
    }

    /// Uploads the blob at `path` unless present; returns how: "existing", "mounted", "uploaded".
    pub fn push_blob(
        &self,
        repo: &str,
        digest: &Digest,
        path: &Path,
    ) -> Result<&'static str, RegistryError> {
        if self.blob_exists(repo, digest)? {
            self.remember(digest, repo);
            return Ok("existing");
        }
        let from = self.seen.lock().ok().and_then(|s| s.get(digest).cloned());
        let url = match &from {
            Some(from) => self.url(&format!(
                "/v2/{repo}/blobs/uploads/?mount={digest}&from={from}"
            )),
            None => self.url(&format!("/v2/{repo}/blobs/uploads/")),
        };
        let mut resp = self
            .agent
            .post(&url)
            .send_empty()
            .map_err(|e| self.err("POST", &url, e.to_string()))?;
        match resp.status().as_u16() {
            201 if from.is_some() => {
                self.remember(digest, repo);
                return Ok("mounted");
            }
            202 => {}
            s => return Err(self.err("POST", &url, Self::explain(s, &mut resp))),
        }
        let mut location = self.location("POST", &url, &resp)?;
        let mut file =
            fs::File::open(path).map_err(crate::io_error::<RegistryError>("reading", path))?;
        let size = file
            .metadata()
            .map_err(crate::io_error::<RegistryError>("reading", path))?
            .len();
        let read_chunk = |file: &mut fs::File, n: u64| -> Result<Vec<u8>, RegistryError> {
            let mut buf = Vec::with_capacity(n as usize);
            file.take(n)
                .read_to_end(&mut buf)
                .map_err(crate::io_error::<RegistryError>("reading", path))?;
            Ok(buf)
        };
        let mut final_body = Vec::new();
        if size <= CHUNK {
            final_body = read_chunk(&mut file, size)?;
        } else {
            let mut offset = 0u64;
            while offset < size {
                let chunk = read_chunk(&mut file, CHUNK.min(size - offset))?;
                let end = offset + chunk.len() as u64 - 1;
                let mut resp = self
                    .agent
                    .patch(&location)
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", format!("{offset}-{end}"))
                    .send(&chunk[..])
                    .map_err(|e| self.err("PATCH", &location, e.to_string()))?;
                match resp.status().as_u16() {
                    202 => {}
                    s => return Err(self.err("PATCH", &location, Self::explain(s, &mut resp))),
                }
                location = self.location("PATCH", &location, &resp)?;
                offset = end + 1;
            }
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        let mut resp = self
            .agent
            .put(&put)
            .header("Content-Type", "application/octet-stream")
            .send(&final_body[..])
            .map_err(|e| self.err("PUT", &put, e.to_string()))?;
        match resp.status().as_u16() {
            201 => {}
            s => return Err(self.err("PUT", &put, Self::explain(s, &mut resp))),
        }
        self.remember(digest, repo);
        Ok("uploaded")
    }

    fn remember(&self, digest: &Digest, repo: &str) {
        if let Ok(mut s) = self.seen.lock() {
            s.entry(digest.clone()).or_insert_with(|| repo.to_string());
        }
    }

    /// Pushes the image named `reference` in `dir` to this registry, under the reference's
    /// repository and tag (its registry part, if any, is replaced by this registry).
    pub fn push_image(&self, dir: &OciDir, reference: &str) -> Result<Pushed, RegistryError> {
        let r = Reference::parse(reference)?;
        let desc = dir.find(reference)?;
        let manifest_bytes = dir.read_blob(&desc.digest)?;
        let manifest: Manifest =
            serde_json::from_slice(&manifest_bytes).map_err(|source| OciError::Json {
                path: dir.blob_path(&desc.digest),
                source,
            })?;
        let before = self.manifest_digest(&r.repository, &r.tag)?;
        let mut counts = (0, 0, 0);
        for blob in manifest
            .layers
            .iter()
            .chain(std::iter::once(&manifest.config))
        {
            let path = dir.blob_path(&blob.digest);
            match self.push_blob(&r.repository, &blob.digest, &path)? {
                "uploaded" => counts.0 += 1,
                "mounted" => counts.1 += 1,
                _ => counts.2 += 1,
            }
        }
        let url = self.url(&format!("/v2/{}/manifests/{}", r.repository, r.tag));
        let media = manifest
            .media_type
            .clone()
            .unwrap_or_else(|| MEDIA_TYPE_MANIFEST.to_string());
        let changed = before.as_ref() != Some(&desc.digest);
        if changed {
            let mut resp = self
                .agent
                .put(&url)
                .header("Content-Type", media)
                .send(&manifest_bytes[..])
                .map_err(|e| self.err("PUT", &url, e.to_string()))?;
            match resp.status().as_u16() {
                201 => {}
                s => return Err(self.err("PUT", &url, Self::explain(s, &mut resp))),
            }
            if let Some(d) = resp
                .headers()
                .get("Docker-Content-Digest")
                .and_then(|v| v.to_str().ok())
            {
                if d != desc.digest.as_str() {
                    return Err(RegistryError::DigestMismatch {
                        registry: self.host.clone(),
                        what: "manifest",
                        digest: desc.digest.to_string(),
                        actual: d.to_string(),
                    });
                }
            }
        }
        Ok(Pushed {
            reference: reference.to_string(),
            repository: r.repository,
            tag: r.tag,
            digest: desc.digest,
            uploaded: counts.0,
            mounted: counts.1,
            existing: counts.2,
            changed,
        })
    }

    fn get_verified(
        &self,
        url: &str,
        digest: &Digest,
        what: &'static str,
        accept: Option<&str>,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut req = self.agent.get(url);
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        let mut resp = req
            .call()
            .map_err(|e| self.err("GET", url, e.to_string()))?;
        match resp.status().as_u16() {
            200 => {}
            s => return Err(self.err("GET", url, Self::explain(s, &mut resp))),
        }
        let data = resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(|e| self.err("GET", url, e.to_string()))?;
        let actual = Digest::of(&data);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                registry: self.host.clone(),
                what,
                digest: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(data)
    }

    /// Pulls `repository:tag` into `dir` under `name`, checking every digest; returns the
    /// manifest digest. (What containerd does, for checks and tests.)
    pub fn pull_image(
        &self,
        repository: &str,
        tag: &str,
        dir: &OciDir,
        name: &str,
    ) -> Result<Digest, RegistryError> {
        let digest = self.manifest_digest(repository, tag)?.ok_or_else(|| {
            self.err(
                "HEAD",
                &format!("/v2/{repository}/manifests/{tag}"),
                "no such tag",
            )
        })?;
        let url = self.url(&format!("/v2/{repository}/manifests/{digest}"));
        let accept = format!("{MEDIA_TYPE_MANIFEST}, {MEDIA_TYPE_DOCKER_MANIFEST}");
        let bytes = self.get_verified(&url, &digest, "manifest", Some(&accept))?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|source| OciError::Json {
                path: PathBuf::from(&url),
                source,
            })?;
        for blob in manifest
            .layers
            .iter()
            .chain(std::iter::once(&manifest.config))
        {
            if dir.has_blob(&blob.digest) {
                continue;
            }
            let url = self.url(&format!("/v2/{repository}/blobs/{}", blob.digest));
            let data = self.get_verified(&url, &blob.digest, "blob", None)?;
            dir.write_blob(&data)?;
        }
        dir.write_blob(&bytes)?;
        let mut index = dir.index()?;
        index
            .manifests
            .retain(|d| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) != Some(name));
        let mut annotations = std::collections::BTreeMap::new();
        annotations.insert(ANNOTATION_REF_NAME.to_string(), name.to_string());
        annotations.insert(ANNOTATION_CONTAINERD_NAME.to_string(), name.to_string());
        index.manifests.push(Descriptor {
            media_type: manifest
                .media_type
                .clone()
                .unwrap_or_else(|| MEDIA_TYPE_MANIFEST.into()),
            digest: digest.clone(),
            size: bytes.len() as u64,
            platform: None,
            annotations,
        });
        let path = dir.root().join("index.json");
        let json = serde_json::to_vec(&index).map_err(|source| OciError::Json {
            path: path.clone(),
            source,
        })?;
        crate::repo::write_atomic(&path, &json).map_err(|e| {
            RegistryError::Io(crate::IoFailure {
                action: "writing",
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            })
        })?;
        Ok(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_like_docker() {
        let r = Reference::parse("registry.kplay.local:5000/kplay/smoke:1.35.0").unwrap();
        assert_eq!(r.registry.as_deref(), Some("registry.kplay.local:5000"));
        assert_eq!(r.repository, "kplay/smoke");
        assert_eq!(r.tag, "1.35.0");
        let r = Reference::parse("kplay/smoke:1").unwrap();
        assert_eq!(r.registry, None);
        assert_eq!(r.repository, "kplay/smoke");
        let r = Reference::parse("localhost/x:y").unwrap();
        assert_eq!(r.registry.as_deref(), Some("localhost"));
        for bad in ["nosuchtag", "reg:5000/x", "Upper/x:1", "a//b:1", "x:"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
