//! `kplay serve DIR`: a static HTTP file server for a bootstrap node without nginx.
//!
//! tower-http's `ServeDir` does the HTTP work (Range requests, `If-Modified-Since`, content
//! types, refusing `..`); on top, every request is resolved on disk and refused unless the real
//! path stays inside DIR, so a symlink inside the bundle cannot expose the rest of the machine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::services::ServeDir;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The router serving `root` (canonical path).
pub fn router(root: PathBuf) -> axum::Router {
    let guard_root = root.clone();
    axum::Router::new()
        .fallback_service(ServeDir::new(&root).append_index_html_on_directories(true))
        .layer(axum::middleware::from_fn(
            move |req: Request<Body>, next: Next| {
                let root = guard_root.clone();
                async move {
                    if !inside(&root, req.uri().path()) {
                        return StatusCode::NOT_FOUND.into_response();
                    }
                    let method = req.method().clone();
                    let path = req.uri().path().to_string();
                    let resp: Response = next.run(req).await;
                    eprintln!("{method} {path} {}", resp.status().as_u16());
                    resp
                }
            },
        ))
}

/// True unless the URL path resolves (following symlinks) outside `root`. Paths that do not
/// exist are left to ServeDir (a 404).
fn inside(root: &Path, url_path: &str) -> bool {
    let decoded = percent_decode(url_path);
    let mut p = root.to_path_buf();
    for part in decoded.split('/') {
        match part {
            "" | "." => {}
            ".." => return false,
            s => p.push(s),
        }
    }
    match p.canonicalize() {
        Ok(real) => real.starts_with(root),
        Err(_) => true,
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serves `dir` on `addr` until the process ends; `ready` gets the bound address (port 0 picks
/// a free one).
pub async fn serve(
    dir: &Path,
    addr: SocketAddr,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let root = dir.canonicalize().map_err(|source| ServeError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    if !root.is_dir() {
        return Err(ServeError::Dir {
            path: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a directory"),
        });
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServeError::Listen { addr, source })?;
    ready(bound);
    axum::serve(listener, router(root))
        .await
        .map_err(|source| ServeError::Listen {
            addr: bound,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_root_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a"), "a").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc-link")).unwrap();
        std::os::unix::fs::symlink("sub/a", root.join("inner-link")).unwrap();
        let root = root.canonicalize().unwrap();
        assert!(inside(&root, "/sub/a"));
        assert!(inside(&root, "/inner-link"));
        assert!(inside(&root, "/missing"));
        assert!(!inside(&root, "/etc-link/passwd"));
        assert!(!inside(&root, "/sub/../../x"));
        assert!(!inside(&root, "/sub/%2e%2e/%2e%2e/x"));
        assert_eq!(percent_decode("/a%20b%2"), "/a b%2");
    }
}
